//! `msg-signer/server/{correlation,envelope,echo,sign}/*`: a valid request's reply
//! (`Correlation` and `Reply` of `notes/msg-signer-wire.md`): the id echoed, the deployed
//! envelope, the echoed fields, and a real signature per kind of request.

use sigharness_report::{Evidence, Level};

use super::probe::Requests;
use super::{ServerCase, first_msg, signed};
use crate::runner::check::{Stop, fail, pass};
use crate::suites::msg_signer::wire;

pub(super) const CASES: &[ServerCase] = &[
    ServerCase {
        id: "correlation/reply-carries-request-id",
        spec: wire("Correlation"),
        level: Level::Must,
        stimulus: "one valid container request",
        requirement: "The reply's msg[message_id_key] is the request's id",
        requests: Requests::default,
        check: |x| {
            let m = first_msg(x)?;
            if m.get("request_id") != x.sent[0].get("request_id") {
                return Err(fail(
                    "wrong id",
                    x.sent[0]["request_id"].to_string(),
                    m["request_id"].to_string(),
                ));
            }
            pass("id echoed")
        },
    },
    ServerCase {
        id: "envelope/deployed-shape",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "the reply envelope",
        requirement: "{\"i\", \"msg_id\", \"timestamp\", \"topic\", \"username\", \"msg\"}",
        requests: Requests::default,
        check: |x| {
            first_msg(x)?;
            let Some(Ok(v)) = x.replies.first() else {
                return Err(Stop::Fail(Evidence::new("no reply")));
            };
            for k in ["i", "msg_id", "timestamp", "topic", "username", "msg"] {
                if v.get(k).is_none() {
                    return Err(fail("envelope key missing", k, v.to_string()));
                }
            }
            pass("envelope as deployed")
        },
    },
    ServerCase {
        id: "echo/request-fields",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "fields the reply echoes",
        requirement: "msg echoes request_id, sig_key_id, sig_keyname, manifest_digest, repo, pub_task_id, requested_by",
        requests: Requests::default,
        check: |x| {
            let m = first_msg(x)?;
            for k in [
                "request_id",
                "sig_key_id",
                "sig_keyname",
                "manifest_digest",
                "repo",
                "pub_task_id",
                "requested_by",
            ] {
                if m.get(k) != x.sent[0].get(k) {
                    return Err(fail(
                        "field not echoed",
                        format!("{k} = {}", x.sent[0][k]),
                        format!("{:?}", m.get(k)),
                    ));
                }
            }
            pass("all fields echoed")
        },
    },
    ServerCase {
        id: "sign/container-claim",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "a container claim",
        requirement: "signed_claim (base64 OpenPGP message), signing_status success, errors []",
        requests: Requests::default,
        check: |x| signed(x, "signed_claim"),
    },
    ServerCase {
        id: "sign/clearsign",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "clear-sign data",
        requirement: "signed_data, signing_status success",
        requests: || Requests {
            kind: "clear",
            ..Default::default()
        },
        check: |x| signed(x, "signed_data"),
    },
    ServerCase {
        id: "sign/blob",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "a blob",
        requirement: "signed_payload, signing_status success",
        requests: || Requests {
            kind: "blob",
            ..Default::default()
        },
        check: |x| signed(x, "signed_payload"),
    },
];
