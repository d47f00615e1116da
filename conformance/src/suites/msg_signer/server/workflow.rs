//! `msg-signer/server/{batch,templating,duplicates,concurrency}/*`: a batch request (`Batch` of
//! `notes/msg-signer-wire.md`), the reply address
//! (`topic_listen_to`), a re-sent request, and 200 requests in flight (the workflow of
//! `specs/msg-signer.md`).

use sigharness_report::{Evidence, Level};

use super::probe::Requests;
use super::{ServerCase, first_msg};
use crate::runner::check::{Stop, fail, pass};
use crate::suites::msg_signer::{spec, wire};

pub(super) const CASES: &[ServerCase] = &[
    ServerCase {
        id: "batch/batch-request-answered",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "one batch request (mtype batch, pipeline_run_id, claims of 2 images, sig_key_ids)",
        requirement: "Batch (config section msg_batch_signer + chunk_size): body claims = list of {claim_file, sig_keynames[], sig_key_ids[], manifest_digest, repo} (judged: a reply correlated by msg.request_id with empty `errors` on the reply address of its requested_by and pipeline_run_id; the result's shape is reported, not judged: the notes give none)",
        requests: || Requests {
            kind: "batch",
            ..Default::default()
        },
        check: |x| {
            let m = first_msg(x)?;
            if m["request_id"] != x.sent[0]["request_id"] {
                return Err(fail(
                    "the reply is not correlated to the batch request",
                    format!("msg.request_id {}", x.sent[0]["request_id"]),
                    m["request_id"].to_string(),
                ));
            }
            let errors = m["errors"].as_array().cloned().unwrap_or_default();
            if !errors.is_empty() || !m["errors"].is_array() {
                return Err(fail(
                    "the batch request was refused",
                    "`errors` an empty list",
                    m["errors"].to_string(),
                ));
            }
            let signed = m["signed_claims"].as_array().map(Vec::len);
            pass(format!(
                "batch answered on {}; {} (informational)",
                x.reply_address,
                match signed {
                    Some(n) => format!("{n} signed_claims for 2 claims"),
                    None => "no signed_claims list (our mock's shape)".into(),
                }
            ))
        },
    },
    ServerCase {
        id: "templating/reply-address",
        spec: spec("topic_listen_to"),
        level: Level::Must,
        stimulus: "creator srv-dave, a fresh task id",
        requirement: "The reply goes to topic_listen_to with {creator} and {task_id} of the request",
        requests: || Requests {
            creator: "srv-dave",
            ..Default::default()
        },
        check: |x| {
            let m = first_msg(x)?;
            pass(format!(
                "reply received on {} for {}",
                x.reply_address, m["requested_by"]
            ))
        },
    },
    ServerCase {
        id: "duplicates/resent-request-answered-again",
        spec: spec("Messaging signer workflow (send-receive cycle)"),
        level: Level::Must,
        stimulus: "the same request (same request_id) sent twice",
        requirement: "A re-sent request (send cycle) is answered again, with the same id",
        requests: || Requests {
            repeat: 2,
            expect: 2,
            ..Default::default()
        },
        check: |x| {
            if x.replies.len() != 2 {
                return Err(fail(
                    "each transmission needs a reply",
                    "2 replies",
                    format!("{}", x.replies.len()),
                ));
            }
            for r in &x.replies {
                let m = r
                    .as_ref()
                    .map_err(|e| Stop::Fail(Evidence::new(e.clone())))?
                    .get("msg")
                    .cloned()
                    .unwrap_or_default();
                if m["request_id"] != x.sent[0]["request_id"] || m["signing_status"] != "success" {
                    return Err(fail(
                        "bad answer to the re-send",
                        "success with the same id",
                        m.to_string(),
                    ));
                }
            }
            pass("both transmissions answered")
        },
    },
    ServerCase {
        id: "concurrency/200-in-flight",
        spec: spec("Messaging signer workflow"),
        level: Level::Must,
        stimulus: "200 requests sent back to back",
        requirement: "Every request is answered exactly once, correlated by id",
        requests: || Requests {
            count: 200,
            expect: 200,
            ..Default::default()
        },
        check: |x| {
            let mut ids: Vec<String> = x
                .replies
                .iter()
                .filter_map(|r| {
                    r.as_ref()
                        .ok()?
                        .pointer("/msg/request_id")?
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
            ids.sort();
            ids.dedup();
            let mut sent: Vec<String> = x
                .sent
                .iter()
                .filter_map(|s| s["request_id"].as_str().map(str::to_string))
                .collect();
            sent.sort();
            if ids != sent {
                return Err(fail(
                    "not every request answered once",
                    "200 distinct ids",
                    format!("{} distinct of {} replies", ids.len(), x.replies.len()),
                ));
            }
            pass("200 answered")
        },
    },
];
