//! Our Web Bot Auth verifier judged against vectors/data/web-bot-auth/web_bot_auth_test.json
//! (generated independently by vectors/tools/web_bot_auth.py; issue 15). The file sits in a
//! subdirectory, so the vectors crate does not embed it and the `http-sig` suite does not run
//! it with the generic RFC 9421 verifier; this test is its judge, and lints it (count, unique
//! tcIds, every flag noted, `error` on invalid tests).

use std::collections::{BTreeMap, HashSet};

use http_sig::HttpMessage;
use http_sig::web_bot_auth::{KeyDirectory, WebBotAuthPolicy};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vectors/data/web-bot-auth/web_bot_auth_test.json"
);

#[test]
fn ours_passes_every_web_bot_auth_vector() {
    let text = std::fs::read_to_string(FILE).expect("the vector file");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(v["numberOfTests"].as_u64().unwrap() as usize, tests.len());
    let notes = v["notes"].as_object().unwrap();
    let dir = KeyDirectory::parse(v["directory"].to_string().as_bytes()).unwrap();
    assert_eq!(dir.len(), 1);
    let policy = WebBotAuthPolicy {
        max_validity: Some(v["judge"]["maxValidity"].as_u64().unwrap()),
        accept_legacy_signature_agent: v["judge"]["acceptLegacySignatureAgent"].as_bool().unwrap(),
        ..WebBotAuthPolicy::default()
    };
    let mut ids = HashSet::new();
    let mut acceptable = BTreeMap::new();
    for t in tests {
        let id = t["tcId"].as_u64().unwrap();
        assert!(ids.insert(id), "tcId {id} repeated");
        for f in t["flags"].as_array().unwrap() {
            assert!(
                notes.contains_key(f.as_str().unwrap()),
                "tcId {id}: flag {f} has no note"
            );
        }
        let msg = HttpMessage::parse(t["message"].as_str().unwrap().as_bytes()).unwrap();
        let got = policy
            .verify(&msg, None, &dir, t["now"].as_u64().unwrap())
            .map(|_| "valid".to_string())
            .map_err(|e| e.kind().to_string());
        let error = t["error"].as_str();
        match t["result"].as_str().unwrap() {
            "valid" => assert_eq!(got, Ok("valid".into()), "tcId {id}: {}", t["comment"]),
            "invalid" => {
                let want = error.unwrap_or_else(|| panic!("tcId {id}: invalid without error"));
                assert_eq!(got, Err(want.to_string()), "tcId {id}: {}", t["comment"]);
            }
            "acceptable" => {
                if let Err(k) = &got {
                    assert_eq!(
                        Some(k.as_str()),
                        error,
                        "tcId {id}: refused for another reason"
                    );
                }
                acceptable.insert(id, got.unwrap_or_else(|e| e));
            }
            other => panic!("tcId {id}: result {other}"),
        }
    }
    // Ours on the cases the draft leaves to the verifier (pinned): the legacy form, no
    // Signature-Agent and a member keyed otherwise than the label are accepted; a window over
    // the 24 h RECOMMENDATION is refused (the draft's own vector included).
    let pinned: BTreeMap<u64, String> = [
        (2, "valid"),
        (5, "valid"),
        (13, "validity_window"),
        (19, "valid"),
        (22, "validity_window"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    assert_eq!(acceptable, pinned);
}
