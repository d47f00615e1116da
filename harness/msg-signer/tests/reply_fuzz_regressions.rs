//! Regressions found by the `reply_envelope` fuzz target (fuzz/fuzz_targets/reply_envelope.rs).

use msg_signer::wire::{IncomingReply, ReplyVerdict, parse_reply};

fn verdict(body: &str) -> ReplyVerdict {
    match parse_reply(body, "request_id", |_| Some("signed_claim")) {
        IncomingReply::Correlated(r) => r.verdict,
        other => panic!("not correlated: {other:?}"),
    }
}

/// A `signing_status` that is not a string was ignored, so the reply was judged `Signed` (a
/// silent success): fuzz input `{"msg":{"request_id":"a","signing_status":5,"signed_claim":"x"}}`.
#[test]
fn non_string_signing_status_is_malformed_not_signed() {
    for status in [
        "5",
        "true",
        "false",
        "{}",
        "[]",
        "[\"success\"]",
        "{\"s\":\"success\"}",
    ] {
        let body = format!(
            r#"{{"msg":{{"request_id":"a","signing_status":{status},"signed_claim":"x"}}}}"#
        );
        match verdict(&body) {
            ReplyVerdict::Malformed(m) => {
                assert!(m.contains("signing_status"), "{status}: {m}");
                assert!(
                    m.contains(status),
                    "the message quotes the value {status}: {m}"
                );
            }
            other => panic!("signing_status {status}: {other:?}, expected Malformed"),
        }
    }
}

/// What stays as it was: a null or absent status with a result is signed, "success" is signed,
/// any other string is a failure.
#[test]
fn string_absent_and_null_statuses_unchanged() {
    let body = |s: &str| format!(r#"{{"msg":{{"request_id":"a",{s}"signed_claim":"x"}}}}"#);
    assert_eq!(verdict(&body("")), ReplyVerdict::Signed);
    assert_eq!(
        verdict(&body(r#""signing_status":null,"#)),
        ReplyVerdict::Signed
    );
    assert_eq!(
        verdict(&body(r#""signing_status":"success","#)),
        ReplyVerdict::Signed
    );
    assert!(matches!(
        verdict(&body(r#""signing_status":"failed","#)),
        ReplyVerdict::Failed(_)
    ));
}
