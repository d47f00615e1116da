//! `msg-signer/server/invalid/*`: an invalid request gets an error reply, never silence
//! (`Reply` of `notes/msg-signer-wire.md`).

use serde_json::json;
use sigharness_report::Level;

use super::probe::Requests;
use super::{ServerCase, error_reply, first_msg};
use crate::runner::check::{fail, pass};
use crate::suites::msg_signer::wire;

pub(super) const CASES: &[ServerCase] = &[
    ServerCase {
        id: "invalid/unknown-signing-key",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "sig_key_id no key matches",
        requirement: "An invalid request gets an error reply (errors, failure signing_status), not silence",
        requests: || Requests {
            corrupt: Some(|_, b| {
                b["sig_key_id"] = json!("00000000");
                None
            }),
            ..Default::default()
        },
        check: |x| error_reply(x),
    },
    ServerCase {
        id: "invalid/claim-not-base64",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "claim_file is not base64",
        requirement: "An invalid request gets an error reply",
        requests: || Requests {
            corrupt: Some(|_, b| {
                b["claim_file"] = json!("%%% not base64");
                None
            }),
            ..Default::default()
        },
        check: |x| error_reply(x),
    },
    ServerCase {
        id: "invalid/unknown-mtype",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "mtype `frobnicate`",
        requirement: "An invalid request gets an error reply",
        requests: || Requests {
            corrupt: Some(|p, _| {
                p.insert("mtype".into(), "frobnicate".into());
                None
            }),
            ..Default::default()
        },
        check: |x| error_reply(x),
    },
    ServerCase {
        id: "invalid/missing-created",
        spec: wire("Reply"),
        level: Level::Should,
        stimulus: "no `created` in the body",
        requirement: "An invalid request gets an error reply",
        requests: || Requests {
            corrupt: Some(|_, b| {
                if let Some(o) = b.as_object_mut() {
                    o.remove("created");
                }
                None
            }),
            ..Default::default()
        },
        check: |x| error_reply(x),
    },
    ServerCase {
        id: "invalid/body-not-json",
        spec: wire("Reply"),
        level: Level::Should,
        stimulus: "the body string is not JSON",
        requirement: "An invalid request gets an error reply (it cannot carry an id)",
        requests: || Requests {
            corrupt: Some(|_, _| Some("this is not JSON".into())),
            ..Default::default()
        },
        check: |x| {
            let m = first_msg(x)?;
            if m["errors"].as_array().is_none_or(|a| a.is_empty()) {
                return Err(fail("no error listed", "errors non-empty", m.to_string()));
            }
            pass("error reply")
        },
    },
];
