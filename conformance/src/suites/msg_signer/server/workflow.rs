//! `msg-signer/server/{batch,templating,duplicates,concurrency}/*`: a batch request (`Batch` of
//! `notes/msg-signer-wire.md`), the reply address
//! (`topic_listen_to`), a re-sent request, and 200 requests in flight (the workflow of
//! `specs/msg-signer.md`); what the broker does to a server: redelivery, many requesters at
//! once on their own addresses, a burst after a pause, a dropped server connection (ours
//! only), an expired request; and the time a reply takes.

use std::collections::BTreeSet;
use std::time::Duration;

use sigharness_report::{Evidence, Level};

use super::probe::{Exchange, Requests, percentile};
use super::{ServerCase, first_msg};
use crate::runner::check::{Check, Stop, fail, pass, truncate};
use crate::suites::msg_signer::{spec, wire};

/// Requesters at once in the `templating/many-requesters-*` cases, and requests each.
pub const CROWD: (usize, usize) = (6, 4);
/// The burst of `burst/after-pause`, and the pause before it.
pub const BURST: (usize, Duration) = (100, Duration::from_secs(1));
/// The bound of `time/replies-within-bound`, and how many requests are in flight at once.
pub const REPLY_BOUND: (Duration, usize) = (Duration::from_secs(5), 40);

fn ids(v: &[Result<serde_json::Value, String>]) -> Vec<String> {
    v.iter()
        .filter_map(|r| {
            r.as_ref()
                .ok()?
                .pointer("/msg/request_id")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

fn sent_ids(x: &Exchange) -> BTreeSet<String> {
    x.sent
        .iter()
        .filter_map(|s| s["request_id"].as_str().map(str::to_string))
        .collect()
}

/// Every request answered, correlated by id (duplicates allowed, none missing).
fn all_answered(x: &Exchange) -> Check {
    let got: BTreeSet<String> = ids(&x.replies).into_iter().collect();
    let sent = sent_ids(x);
    let missing = sent.difference(&got).count();
    if missing > 0 {
        return Err(fail(
            "not every request answered",
            format!("{} distinct ids answered", sent.len()),
            format!(
                "{missing} unanswered; {} replies for {} ids",
                x.replies.len(),
                got.len()
            ),
        ));
    }
    pass(format!("{} requests answered", sent.len()))
}

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
    ServerCase {
        id: "duplicates/redelivery-signed-consistently",
        spec: wire("The retry algorithm as pubtools-sign implements it"),
        level: Level::Should,
        stimulus: "the same container request (same request_id, same body) delivered twice",
        requirement: "\"Duplicate replies overwrite the earlier one (last wins)\": a redelivered request is answered with the same signed_claim, never signed twice differently (SHOULD: the contract is silent on redelivery; two different signatures for one request leave to chance which one the client keeps)",
        requests: || Requests {
            repeat: 2,
            expect: 2,
            ..Default::default()
        },
        check: |x| {
            let claims: Vec<String> = x
                .replies
                .iter()
                .filter_map(|r| {
                    r.as_ref()
                        .ok()?
                        .pointer("/msg/signed_claim")?
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
            if claims.len() != 2 {
                return Err(fail(
                    "each delivery needs a signed reply",
                    "2 replies with signed_claim",
                    format!("{} of {} replies", claims.len(), x.replies.len()),
                ));
            }
            if claims[0] != claims[1] {
                return Err(fail(
                    "one request signed twice, differently",
                    "the same signed_claim in both replies",
                    format!(
                        "{}... vs {}...",
                        &claims[0][..claims[0].len().min(60)],
                        &claims[1][..claims[1].len().min(60)]
                    ),
                ));
            }
            pass("both deliveries answered with the same signature")
        },
    },
    ServerCase {
        id: "templating/many-requesters-answered-at-once",
        spec: spec("topic_listen_to"),
        level: Level::Must,
        stimulus: "6 requesters at once (creators srv-crowd-1..6, a task id each), 4 requests each",
        requirement: "\"This field supports templating attributes `{creator}` and `{task_id}`\": each requester gets the replies to all its requests on its own address, while the others are served",
        requests: || Requests {
            creator: "srv-crowd",
            requesters: CROWD.0,
            count: CROWD.1,
            expect: CROWD.1,
            ..Default::default()
        },
        check: |x| {
            for (i, c) in x.crowd.iter().enumerate() {
                let got: BTreeSet<String> = ids(&c.replies).into_iter().collect();
                let missing = sent_ids(c).difference(&got).count();
                if missing > 0 {
                    return Err(fail(
                        format!(
                            "requester srv-crowd-{} was not answered on its address",
                            i + 1
                        ),
                        format!("{} replies on {}", c.sent.len(), c.reply_address),
                        format!("{missing} missing"),
                    ));
                }
            }
            pass(format!(
                "{} requesters each answered on its own address",
                x.crowd.len()
            ))
        },
    },
    ServerCase {
        id: "templating/no-reply-on-another-requesters-address",
        spec: spec("topic_listen_to"),
        level: Level::Must,
        stimulus: "6 requesters at once, 4 requests each; what arrives on each address",
        requirement: "\"The topic or queue where the signing server sends signed requests ... templating attributes `{creator}` and `{task_id}`\": a reply goes to its own requester's address, never to another requester's",
        requests: || Requests {
            creator: "srv-crowd",
            requesters: CROWD.0,
            count: CROWD.1,
            expect: CROWD.1,
            ..Default::default()
        },
        check: |x| {
            for (i, c) in x.crowd.iter().enumerate() {
                let own = sent_ids(c);
                if let Some(foreign) = ids(&c.replies).into_iter().find(|id| !own.contains(id)) {
                    return Err(fail(
                        format!(
                            "a reply for another requester arrived on srv-crowd-{}'s address",
                            i + 1
                        ),
                        format!("only replies to its own requests on {}", c.reply_address),
                        format!("request_id {foreign}"),
                    ));
                }
            }
            pass("no reply on another requester's address")
        },
    },
    ServerCase {
        id: "burst/after-pause",
        spec: spec("Messaging signer workflow of send and retries"),
        level: Level::Must,
        stimulus: "one request, a 1 s pause, then 100 requests back to back",
        requirement: "\"Client->>Signing server: Send all signing requests\" then \"Signing server-->>Client: Reply with a signed request\": every request of a burst after an idle pause is answered",
        requests: || Requests {
            pause_then_burst: Some((BURST.1, BURST.0)),
            expect: BURST.0 + 1,
            ..Default::default()
        },
        check: all_answered,
    },
    ServerCase {
        id: "time/replies-within-bound",
        spec: spec("timeout"),
        level: Level::Should,
        stimulus: "40 requests in flight at once; each reply's time from its send",
        requirement: "\"timeout: The timeout in seconds for receiving messages\": with 40 requests in flight every reply comes within 5 s of its request (SHOULD: the contract states no latency; 5 s is under any practical client timeout; p50/p90/p99 are the evidence figures)",
        requests: || Requests {
            count: REPLY_BOUND.1,
            expect: REPLY_BOUND.1,
            ..Default::default()
        },
        check: |x| {
            all_answered(x)?;
            let bound = REPLY_BOUND.0.as_secs_f64() * 1000.0;
            let worst = x.latencies_ms.last().copied().unwrap_or(0.0);
            let figures = format!(
                "p50 {:.1} ms, p99 {:.1} ms, max {worst:.1} ms",
                percentile(&x.latencies_ms, 50.0),
                percentile(&x.latencies_ms, 99.0)
            );
            if worst > bound {
                return Err(fail(
                    "a reply took longer than the bound",
                    format!("every reply within {bound} ms"),
                    figures,
                ));
            }
            pass(format!(
                "{} replies within {bound} ms: {figures}",
                x.latencies_ms.len()
            ))
        },
    },
    ServerCase {
        id: "ttl/expired-request-not-signed",
        spec: wire("Request"),
        level: Level::Should,
        stimulus: "a container request that expired before it arrived (creation-time 61 s ago, absolute-expiry-time 60 s ago, header.ttl 1 s), then a fresh one",
        requirement: "\"header.ttl = timeout * retries\": once it elapses the client has stopped listening; AMQP 1.0 part 3.2.4: past its absolute-expiry-time a message \"is considered to be expired\": an expired request is not signed (an error reply, or none); the fresh one is answered (SHOULD: the contract does not say the server looks at expiry)",
        requests: || Requests {
            count: 2,
            expect: 2,
            expired_first: true,
            ..Default::default()
        },
        check: |x| {
            let (Some(old), Some(fresh)) = (
                x.sent.first().and_then(|s| s["request_id"].as_str()),
                x.sent.get(1).and_then(|s| s["request_id"].as_str()),
            ) else {
                return Err(fail("two requests sent", "2 requests", "fewer"));
            };
            let reply_for = |id: &str| {
                x.replies
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .find(|r| r.pointer("/msg/request_id").and_then(|v| v.as_str()) == Some(id))
            };
            if reply_for(fresh).is_none() {
                return Err(fail(
                    "the fresh request after the expired one was not answered",
                    format!("a reply for {fresh}"),
                    format!("{} replies", x.replies.len()),
                ));
            }
            match reply_for(old) {
                Some(r)
                    if r.pointer("/msg/signing_status").and_then(|v| v.as_str())
                        == Some("success") =>
                {
                    Err(fail(
                        "an expired request was signed",
                        "no signature for a request past its absolute-expiry-time",
                        truncate(&r.to_string(), 300),
                    ))
                }
                Some(r) => pass(format!(
                    "expired request answered with an error: {}",
                    truncate(
                        &r.pointer("/msg/errors")
                            .map(|e| e.to_string())
                            .unwrap_or_default(),
                        200
                    )
                )),
                None => pass("expired request not answered; the fresh one answered"),
            }
        },
    },
    // Last of all: it disrupts the server under test (a server that does not come back fails
    // this case alone).
    ServerCase {
        id: "reconnect/serves-after-connection-drop",
        spec: spec("Messaging signer workflow of send and retries"),
        level: Level::Should,
        stimulus: "the broker (ours) drops the server's connection (TCP close, no AMQP close) as it delivers a request; once the server has re-attached its request receiver (within 15 s), a second request",
        requirement: "\"Client->>Signing server: Send all signing requests\" then \"Signing server-->>Client: Reply with a signed request\": after its broker connection drops, the server reconnects and answers the next request; a request it was handed on a queue (not a topic) comes back unsettled and is answered too (SHOULD: the contract is silent on reconnecting; a server that stays away leaves every later client to time out. A topic copy in flight at the drop is not redelivered, AMQP topic semantics: the client's resend covers it)",
        requests: || Requests {
            count: 2,
            expect: 1,
            cut_server_connection: true,
            ..Default::default()
        },
        check: |x| {
            let got: BTreeSet<String> = ids(&x.replies).into_iter().collect();
            let (Some(first), Some(second)) = (
                x.sent.first().and_then(|s| s["request_id"].as_str()),
                x.sent.get(1).and_then(|s| s["request_id"].as_str()),
            ) else {
                return Err(fail("two requests sent", "2 requests", "fewer"));
            };
            if !got.contains(second) {
                return Err(fail(
                    "the request sent after the reconnect was not answered",
                    format!("a reply for {second}"),
                    format!("replies for {got:?}"),
                ));
            }
            let queue = !mock_broker::is_topic(&x.send_to);
            if queue && !got.contains(first) {
                return Err(fail(
                    "the request handed to the server when its connection dropped was not answered after the reconnect (on a queue it comes back unsettled)",
                    format!("a reply for {first}"),
                    format!("replies for {got:?}"),
                ));
            }
            pass(if queue {
                "reconnected; both the redelivered and the next request answered".to_string()
            } else {
                format!(
                    "reconnected and answered the next request ({} the topic copy in flight at the drop)",
                    if got.contains(first) {
                        "and also"
                    } else {
                        "not"
                    }
                )
            })
        },
    },
];
