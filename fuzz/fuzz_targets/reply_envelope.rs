//! msg-signer reply envelopes (`wire::parse_reply`). No silent success: a reply judged `Signed`
//! has no errors, a success (or absent) status and a non-empty result field, checked here again
//! from the JSON itself; a correlated reply carries the id found at `msg[message_id_key]`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msg_signer::wire::{IncomingReply, ReplyVerdict, parse_reply};
use serde_json::Value;

const KEYS: [&str; 3] = ["request_id", "id", "msg_id"];
const RESULTS: [Option<&str>; 4] = [
    Some("signed_claim"),
    Some("signed_data"),
    Some("signed_payload"),
    None,
];

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(rest) else {
        return;
    };
    let key = KEYS[usize::from(sel % 3)];
    let result = RESULTS[usize::from((sel / 3) % 4)];
    match parse_reply(body, key, |_| result) {
        IncomingReply::Uncorrelated { reason } => assert!(!reason.is_empty()),
        IncomingReply::Correlated(reply) => {
            let parsed: Value = serde_json::from_str(body).expect("correlated means JSON");
            assert_eq!(parsed, reply.envelope, "envelope differs from the body");
            let msg = parsed["msg"]
                .as_object()
                .expect("correlated means a msg object");
            match &msg[key] {
                Value::String(s) => assert_eq!(&reply.id, s),
                Value::Number(n) => assert_eq!(reply.id, n.to_string()),
                other => panic!("correlated by a non-id {other}"),
            }
            if reply.verdict == ReplyVerdict::Signed {
                let no_errors = match msg.get("errors") {
                    None | Some(Value::Null) => true,
                    Some(Value::Array(a)) => a.is_empty(),
                    _ => false,
                };
                assert!(no_errors, "Signed although errors are present: {body}");
                let status = msg.get("signing_status");
                assert!(
                    status.is_none() || status == Some(&Value::String("success".into())),
                    "Signed with signing_status {status:?}"
                );
                if let Some(f) = result {
                    assert!(
                        matches!(msg.get(f), Some(Value::String(s)) if !s.is_empty()),
                        "Signed without a non-empty {f}: {body}"
                    );
                }
            }
        }
    }
});
