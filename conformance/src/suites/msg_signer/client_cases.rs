//! Client-mode cases: we are the broker and the signing server; the client under test connects.
//!
//! Each case is a [`Scenario`] (config values, inputs, fault plans for the broker and the
//! signing server, TLS and broker layout) and a verdict over what was [`Observed`]: the
//! broker journal (what was sent, how often, which links were left attached), the requests the
//! signing server got, and the client's JSON output and exit code. Cases tagged with a
//! departure number (`notes/msg-signer-wire.md`, "Where the reference client departs") are
//! the ones that catch that defect of the deployed client.

use std::sync::Arc;

use serde_json::Value;
use sigharness_report::{CaseMeta, Level, SpecRef};

use super::env::{Brokers, ClientCtx, Observed, Scenario, Tls, judge};
use crate::runner::{Case, meta};

type Verdict = super::env::Judged;

fn fail(
    summary: impl Into<String>,
    expected: impl Into<String>,
    observed: impl Into<String>,
) -> Verdict {
    Err((summary.into(), expected.into(), observed.into()))
}

struct Def {
    id: &'static str,
    section: &'static str,
    level: Level,
    description: &'static str,
    requirement: &'static str,
    scenario: fn() -> Scenario,
    verdict: fn(&Observed) -> Verdict,
}

const SPEC: &str = "msg-signer";
const WIRE: &str = "msg-signer-wire";

fn ok_all(o: &Observed) -> Verdict {
    if o.hung {
        return fail(
            "the client did not finish",
            format!("a result within {:?}", o.bound),
            "still running",
        );
    }
    if !o.ok() {
        return fail(
            "the run did not succeed",
            "exit 0 and status ok",
            format!(
                "exit {} status {:?}: {}",
                o.exit_code,
                o.status(),
                o.error_message()
            ),
        );
    }
    Ok("signed as required".into())
}

fn err_exit(o: &Observed) -> Verdict {
    if o.hung {
        return fail(
            "the client hung",
            format!("an error result within {:?}", o.bound),
            "no result (killed by the suite)",
        );
    }
    if o.exit_code != 1 || o.status() != Some("error") {
        return fail(
            "a failed run must be reported as an error",
            "exit 1 and signer_result.status \"error\" with a message",
            format!("exit {} status {:?}", o.exit_code, o.status()),
        );
    }
    if o.error_message().trim().is_empty() {
        return fail(
            "an error without a message",
            "a non-empty error_message",
            "empty",
        );
    }
    Ok("reported as an error".into())
}

fn sent_counts(o: &Observed) -> Vec<usize> {
    o.transmissions().into_iter().map(|(_, n)| n).collect()
}

fn expect_counts(o: &Observed, want: &[usize], what: &str) -> Verdict {
    let got = sent_counts(o);
    if got != want {
        return fail(
            what.to_string(),
            format!("transmissions per request {want:?}"),
            format!("{got:?}"),
        );
    }
    Ok(format!("transmissions per request {got:?}"))
}

fn both(a: Verdict, b: Verdict) -> Verdict {
    let a = a?;
    let b = b?;
    Ok(format!("{a}; {b}"))
}

fn plan(s: &str) -> String {
    s.to_string()
}

fn defs() -> Vec<Def> {
    vec![
        // ---- the retry diagram ------------------------------------------------------------
        Def {
            id: "retry/all-answered-one-window",
            section: "Messaging signer workflow (send-receive cycle)",
            level: Level::Must,
            description: "three requests, every reply at once",
            requirement: "Client sends all signing requests, listens on topic_listen_to and collects the signed requests",
            scenario: || Scenario {
                inputs: 3,
                ..Default::default()
            },
            verdict: |o| {
                both(
                    ok_all(o),
                    expect_counts(o, &[1, 1, 1], "each request must be sent once"),
                )?;
                // (Receiver links are seen in the embedded broker's journal only; the summary
                // says when they were not checked.)
                if o.has_journal() && o.reply_receivers().len() != 1 {
                    return fail(
                        "one receive window suffices",
                        "1 receiver on the reply address",
                        format!("{}", o.reply_receivers().len()),
                    );
                }
                if o.signed_values() != 3 {
                    return fail(
                        "every result must be returned",
                        "3 signed results",
                        format!("{}", o.signed_values()),
                    );
                }
                Ok(if o.has_journal() {
                    "3 requests, 3 signed results, 1 window".into()
                } else {
                    "3 requests, 3 signed results (receive windows not counted: no broker journal)"
                        .into()
                })
            },
        },
        Def {
            id: "retry/timeout-resets-on-expected-reply",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "replies 6 s apart with timeout 10 s: each expected reply resets the timeout",
            requirement: "If an expected signing request is received, `timeout` is reset",
            scenario: || Scenario {
                inputs: 3,
                retries: 1,
                send_retries: 2,
                server_plan: plan(
                    "rules: [{match: {nth: 1}, action: {delay: 6s}}, {match: {nth: 2}, action: {delay: 12s}}, {match: {nth: 3}, action: {delay: 18s}}]",
                ),
                ..Default::default()
            },
            verdict: |o| {
                both(
                    ok_all(o),
                    expect_counts(
                        o,
                        &[1, 1, 1],
                        "no request may be re-sent: the window stays open while replies keep coming",
                    ),
                )
            },
        },
        Def {
            id: "retry/window-ends-after-timeout",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "no reply at all, retries 1, send_retries 1",
            requirement: "Otherwise, it fails with error: the receive window ends `timeout` after the last expected reply",
            scenario: || Scenario {
                retries: 1,
                send_retries: 1,
                server_plan: plan("rules: [{action: drop}]"),
                ..Default::default()
            },
            verdict: |o| {
                err_exit(o)?;
                let t = o.elapsed.as_secs_f64();
                if !(10.0..=16.0).contains(&t) {
                    return fail(
                        "the window must end after `timeout` (10 s)",
                        "between 10 s and 15 s",
                        format!("{t:.1} s"),
                    );
                }
                Ok(format!("error after {t:.1} s"))
            },
        },
        Def {
            id: "retry/receive-cycles-bounded-by-retries",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "no reply, retries 3, send_retries 1",
            requirement: "Receive cycle repeats maximally `retries` times",
            scenario: || Scenario {
                retries: 3,
                send_retries: 1,
                server_plan: plan("rules: [{action: drop}]"),
                ..Default::default()
            },
            verdict: |o| {
                err_exit(o)?;
                expect_counts(o, &[1], "one send cycle sends once")?;
                let n = o.reply_receivers().len();
                let t = o.elapsed.as_secs_f64();
                if n == 3 || (n == 1 && (30.0..=46.0).contains(&t)) {
                    Ok(format!("{n} receiver(s), {t:.0} s: 3 windows of 10 s"))
                } else {
                    fail(
                        "3 receive windows of `timeout` each",
                        "3 windows (about 30 s)",
                        format!("{n} receivers, {t:.1} s"),
                    )
                }
            },
        },
        Def {
            id: "retry/send-cycles-bounded-by-send-retries",
            section: "Messaging signer workflow (send-receive cycle)",
            level: Level::Must,
            description: "no reply, retries 1, send_retries 3",
            requirement: "Send-receive cycle repeats maximally `send_retries` times",
            scenario: || Scenario {
                retries: 1,
                send_retries: 3,
                server_plan: plan("rules: [{action: drop}]"),
                ..Default::default()
            },
            verdict: |o| {
                both(
                    err_exit(o),
                    expect_counts(o, &[3], "the request must be sent send_retries times"),
                )
            },
        },
        Def {
            id: "retry/resend-only-unanswered",
            section: "Messaging signer workflow (send-receive cycle)",
            level: Level::Must,
            description: "three requests, the first transmission of the second is lost",
            requirement: "Every iteration of send cycle works only with unreceived signing requests",
            scenario: || Scenario {
                inputs: 3,
                retries: 1,
                send_retries: 2,
                server_plan: plan("rules: [{match: {nth: 2}, action: drop, times: 1}]"),
                ..Default::default()
            },
            verdict: |o| {
                both(
                    ok_all(o),
                    expect_counts(o, &[1, 2, 1], "only the unanswered request may be re-sent"),
                )
            },
        },
        Def {
            id: "retry/late-reply-in-next-receive-window",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "the reply comes after the first window closed; retries 2 (departure 1)",
            requirement: "A new receive cycle listens for the unreceived requests; a reply arriving then is received",
            scenario: || Scenario {
                retries: 2,
                send_retries: 1,
                server_plan: plan("rules: [{action: reply_after_window}]"),
                ..Default::default()
            },
            verdict: |o| both(ok_all(o), expect_counts(o, &[1], "no re-send is needed")),
        },
        Def {
            id: "retry/stray-reply-does-not-reset-timeout",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "a stray reply (unknown id) at 6 s, the real one at 14 s; timeout 10 s, retries 1",
            requirement: "Only expected signing requests reset `timeout`",
            scenario: || Scenario {
                retries: 1,
                send_retries: 2,
                server_plan: plan(
                    "rules: [{match: {nth: 1}, action: {script: [{after: 6s, send: unknown_id}, {after: 14s, send: reply}]}}]",
                ),
                ..Default::default()
            },
            verdict: |o| {
                both(
                    ok_all(o),
                    expect_counts(
                        o,
                        &[2],
                        "the window must end at 10 s (the stray did not extend it), so the request is re-sent",
                    ),
                )
            },
        },
        Def {
            id: "retry/duplicate-reply-does-not-reset-timeout",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "request 1 answered at once and again at 6 s; request 2 answered at 14 s; timeout 10 s",
            requirement: "Only unreceived signing requests are expected; a duplicate is not expected and does not reset `timeout`",
            scenario: || Scenario {
                inputs: 2,
                retries: 1,
                send_retries: 2,
                server_plan: plan(
                    "rules: [{match: {nth: 1}, action: {script: [{send: reply}, {after: 6s, send: reply}]}}, {match: {nth: 2}, action: {delay: 14s}}]",
                ),
                ..Default::default()
            },
            verdict: |o| {
                both(
                    ok_all(o),
                    expect_counts(
                        o,
                        &[1, 2],
                        "request 2 must be re-sent after the window ended at 10 s",
                    ),
                )
            },
        },
        Def {
            id: "retry/duplicate-reply-ignored",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "every reply is sent twice",
            requirement: "A duplicate reply is ignored after the first; one result per request",
            scenario: || Scenario {
                inputs: 2,
                server_plan: plan("rules: [{action: duplicate}]"),
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                let n = o
                    .output
                    .as_ref()
                    .and_then(|v| v.get("operation_results"))
                    .and_then(Value::as_array)
                    .map(Vec::len)
                    .unwrap_or(0);
                if n != 2 {
                    return fail(
                        "one result per request",
                        "2 operation_results",
                        format!("{n}"),
                    );
                }
                Ok("duplicates ignored".into())
            },
        },
        Def {
            id: "retry/answered-requests-not-resent",
            section: "Messaging signer workflow (send-receive cycle)",
            level: Level::Must,
            description: "retries 1, send_retries 2, request 2's first transmission lost (departure 2)",
            requirement: "Every iteration of send cycle works only with unreceived signing requests: answered ones are neither re-sent nor failed",
            scenario: || Scenario {
                inputs: 2,
                retries: 1,
                send_retries: 2,
                server_plan: plan("rules: [{match: {nth: 2}, action: drop, times: 1}]"),
                ..Default::default()
            },
            verdict: |o| {
                both(
                    expect_counts(
                        o,
                        &[1, 2],
                        "request 1 was answered and must not be sent again",
                    ),
                    ok_all(o),
                )
            },
        },
        Def {
            id: "retry/receivers-detached-when-window-ends",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "three windows (no reply until the third transmission); every receiver must be detached when its window ends (departure 1)",
            requirement: "Receiver links are detached when their window ends: a dead receiver would take replies meant for a later window",
            scenario: || Scenario {
                retries: 1,
                send_retries: 3,
                server_plan: plan(
                    "rules: [{match: {nth: 1}, action: drop}, {match: {nth: 2}, action: drop}]",
                ),
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                let r = o.reply_receivers();
                if r.is_empty() {
                    return fail("no receiver seen", "receivers on the reply address", "none");
                }
                for (i, (link, _, d)) in r.iter().enumerate() {
                    match (d, r.get(i + 1)) {
                        (None, _) => {
                            return fail(
                                "a receiver was left attached",
                                "every receiver detached when its window ends",
                                format!("{link} never detached"),
                            );
                        }
                        (Some(d), Some((next, a, _))) if d > a => {
                            return fail(
                                "a window's receiver outlived it",
                                "detach before the next window's attach",
                                format!("{link} detached after {next} attached"),
                            );
                        }
                        _ => {}
                    }
                }
                Ok(format!("{} receivers, each detached in time", r.len()))
            },
        },
        Def {
            id: "retry/partial-results-kept",
            section: "Messaging signer workflow",
            level: Level::Must,
            description: "request 2 of 2 gets an error reply (departure 7)",
            requirement: "Partial results are kept when the overall status is error",
            scenario: || Scenario {
                inputs: 2,
                server_plan: plan("rules: [{match: {nth: 2}, action: error_reply}]"),
                ..Default::default()
            },
            verdict: |o| {
                err_exit(o)?;
                if o.signed_values() != 1 {
                    return fail(
                        "the signed result of request 1 was dropped",
                        "1 signed result in operation_results",
                        format!("{}", o.signed_values()),
                    );
                }
                Ok("error reported, the other result kept".into())
            },
        },
        // ---- faults -------------------------------------------------------------------------
        Def {
            id: "fault/rejected-send-fails-within-timeout",
            section: "Messaging signer workflow",
            level: Level::Must,
            description: "the broker rejects every request (departure 5)",
            requirement: "A rejected send fails the request within the timeout; the client must not hang",
            scenario: || Scenario {
                retries: 1,
                send_retries: 1,
                broker_plan: plan("rules: [{match: {address: \"topic://*\"}, action: reject}]"),
                ..Default::default()
            },
            verdict: err_exit,
        },
        Def {
            id: "fault/never-settled-send-fails-within-timeout",
            section: "Messaging signer workflow",
            level: Level::Must,
            description: "the broker never settles the requests (departure 5)",
            requirement: "A never-settled send fails the request within the timeout; the client must not hang",
            scenario: || Scenario {
                retries: 1,
                send_retries: 1,
                broker_plan: plan(
                    "rules: [{match: {address: \"topic://*\"}, action: never_settle}]",
                ),
                ..Default::default()
            },
            verdict: err_exit,
        },
        Def {
            id: "fault/denied-consumer-reported-promptly",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "the broker refuses every receiver attach on topic_listen_to with amqp:unauthorized-access (departure 4)",
            requirement: "An error on the receiving link ends the receive cycle at once and is reported as that error, not as a timeout",
            scenario: || Scenario {
                broker_plan: plan(
                    "rules: [{match: {address: \"queue://Consumer.*\"}, action: refuse_attach}]",
                ),
                ..Default::default()
            },
            verdict: denied_consumer,
        },
        Def {
            id: "fault/malformed-json-reply-reported",
            section: "Reply",
            level: Level::Must,
            description: "the reply body is not JSON (departure 6)",
            requirement: "A malformed reply is reported, never a silent success",
            scenario: || Scenario {
                retries: 1,
                send_retries: 1,
                server_plan: plan("rules: [{action: malformed_json}]"),
                ..Default::default()
            },
            verdict: err_exit,
        },
        Def {
            id: "fault/reply-without-msg-reported",
            section: "Reply",
            level: Level::Must,
            description: "the reply envelope has no `msg` (departure 6)",
            requirement: "A malformed reply is reported, never a silent success",
            scenario: || Scenario {
                retries: 1,
                send_retries: 1,
                server_plan: plan("rules: [{action: missing_msg}]"),
                ..Default::default()
            },
            verdict: err_exit,
        },
        Def {
            id: "fault/reply-without-id-reported",
            section: "Reply",
            level: Level::Must,
            description: "the reply's `msg` lacks `message_id_key` (departure 6)",
            requirement: "A malformed reply is reported, never a silent success",
            scenario: || Scenario {
                retries: 1,
                send_retries: 1,
                server_plan: plan("rules: [{action: missing_id}]"),
                ..Default::default()
            },
            verdict: err_exit,
        },
        Def {
            id: "fault/error-reply-reported",
            section: "Reply",
            level: Level::Must,
            description: "the signing server answers with `errors` and a failure status",
            requirement: "`errors` non-empty = that item failed: status error, the server's message surfaced",
            scenario: || Scenario {
                server_plan: plan("rules: [{action: error_reply}]"),
                ..Default::default()
            },
            verdict: |o| {
                err_exit(o)?;
                if !o.error_message().contains("injected error") {
                    return fail(
                        "the server's error text must reach the user",
                        "error_message containing the server's `errors`",
                        o.error_message(),
                    );
                }
                expect_counts(o, &[1], "an error reply is an answer: no re-send")
            },
        },
        Def {
            id: "fault/stray-reply-ignored",
            section: "Reply",
            level: Level::Must,
            description: "a reply with an unknown id arrives before the real one",
            requirement: "Stray replies (unknown id) are ignored",
            scenario: || Scenario {
                server_plan: plan(
                    "rules: [{action: {script: [{send: unknown_id}, {after: 1s, send: reply}]}}]",
                ),
                ..Default::default()
            },
            verdict: |o| both(ok_all(o), expect_counts(o, &[1], "no re-send")),
        },
        Def {
            id: "fault/wrong-id-not-taken-as-answer",
            section: "Correlation",
            level: Level::Must,
            description: "request 2's reply carries request 1's id",
            requirement: "Correlation by msg[message_id_key]: a reply for another id does not answer this request",
            scenario: || Scenario {
                inputs: 2,
                retries: 1,
                send_retries: 2,
                server_plan: plan("rules: [{match: {nth: 2}, action: wrong_id, times: 1}]"),
                ..Default::default()
            },
            verdict: |o| {
                both(
                    ok_all(o),
                    expect_counts(
                        o,
                        &[1, 2],
                        "request 2 is still unanswered and must be re-sent",
                    ),
                )
            },
        },
        Def {
            id: "fault/reply-on-wrong-address-not-received",
            section: "topic_listen_to",
            level: Level::Must,
            description: "every reply goes to another address",
            requirement: "The client listens on topic_listen_to only; with no reply the run fails",
            scenario: || Scenario {
                retries: 1,
                send_retries: 1,
                server_plan: plan("rules: [{action: wrong_address}]"),
                ..Default::default()
            },
            verdict: err_exit,
        },
        Def {
            id: "fault/broker-drops-request",
            section: "Messaging signer workflow (send-receive cycle)",
            level: Level::Must,
            description: "the broker accepts and loses the first request",
            requirement: "An unanswered request is re-sent in the next send cycle",
            scenario: || Scenario {
                retries: 1,
                send_retries: 2,
                broker_plan: plan(
                    "rules: [{match: {address: \"topic://*\", nth: 1}, action: drop}]",
                ),
                ..Default::default()
            },
            verdict: |o| both(ok_all(o), expect_counts(o, &[2], "re-sent once")),
        },
        Def {
            id: "fault/broker-delays-request",
            section: "Messaging signer workflow (receive cycle)",
            level: Level::Must,
            description: "the broker holds each request 4 s (timeout 10 s)",
            requirement: "A reply within `timeout` is received",
            scenario: || Scenario {
                broker_plan: plan(
                    "rules: [{match: {address: \"topic://*\"}, action: {delay: 4s}}]",
                ),
                ..Default::default()
            },
            verdict: |o| both(ok_all(o), expect_counts(o, &[1], "no re-send")),
        },
        Def {
            id: "fault/broker-duplicates-request",
            section: "Reply",
            level: Level::Must,
            description: "the broker routes each request twice (two replies per request)",
            requirement: "Duplicate replies are ignored after the first",
            scenario: || Scenario {
                inputs: 2,
                broker_plan: plan("rules: [{match: {address: \"topic://*\"}, action: duplicate}]"),
                ..Default::default()
            },
            verdict: ok_all,
        },
        Def {
            id: "fault/connection-cut-after-send",
            section: "messaging_brokers",
            level: Level::Should,
            description: "the broker cuts the client's connection after its first request",
            requirement: "The client reconnects and completes, or fails with a clear error; it never hangs",
            scenario: || Scenario {
                retries: 1,
                send_retries: 2,
                broker_plan: plan(
                    "rules: [{match: {address: \"topic://*\", nth: 1}, action: {disconnect_after: 1}}]",
                ),
                ..Default::default()
            },
            verdict: ok_all,
        },
        // ---- failover -----------------------------------------------------------------------
        Def {
            id: "failover/first-broker-port-closed",
            section: "messaging_brokers",
            level: Level::Must,
            description: "the first broker URL has nothing listening (departure 3)",
            requirement: "List of messaging brokers to connect to: the next one is tried",
            scenario: || Scenario {
                brokers: Brokers::DeadFirst,
                ..Default::default()
            },
            verdict: ok_all,
        },
        Def {
            id: "failover/first-broker-refuses",
            section: "messaging_brokers",
            level: Level::Must,
            description: "the first broker accepts TCP and cuts it at once (departure 3)",
            requirement: "List of messaging brokers to connect to: the next one is tried",
            scenario: || Scenario {
                brokers: Brokers::RefusingFirst,
                ..Default::default()
            },
            verdict: ok_all,
        },
        // ---- TLS and identity ---------------------------------------------------------------
        Def {
            id: "tls/client-certificate-presented",
            section: "messaging_cert_key",
            level: Level::Must,
            description: "amqps broker requiring a client certificate",
            requirement: "The certificate and key of messaging_cert_key authenticate the client",
            scenario: || Scenario {
                tls: Tls::Mutual,
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                let cn = o
                    .journal()
                    .iter()
                    .find(|e| e.is_inbound_transfer())
                    .and_then(|e| e.peer.cert_cn.clone());
                if cn.as_deref() != Some("sigharness-client") {
                    return fail(
                        "the client certificate was not presented",
                        "peer CN sigharness-client",
                        format!("{cn:?}"),
                    );
                }
                Ok("signed over mutual TLS".into())
            },
        },
        Def {
            id: "tls/broker-certificate-verified",
            section: "messaging_ca_cert",
            level: Level::Must,
            description: "messaging_ca_cert names a CA that did not issue the broker's certificate",
            requirement: "CA certificate used for verifying the messaging broker's certificate: an unverifiable broker is refused",
            scenario: || Scenario {
                tls: Tls::WrongCa,
                retries: 1,
                send_retries: 1,
                ..Default::default()
            },
            verdict: |o| {
                if !o.requests().is_empty() {
                    return fail(
                        "requests were sent to an unverified broker",
                        "no request sent",
                        format!("{} sent", o.requests().len()),
                    );
                }
                err_exit(o)
            },
        },
        Def {
            id: "identity/creator-from-certificate",
            section: "topic_listen_to",
            level: Level::Must,
            description: "no --requester; certificate CN alice-cn",
            requirement: "The creator is the UID or CN fetched from the client certificate",
            scenario: || Scenario {
                tls: Tls::Mutual,
                requester: None,
                cert_cn: Some("alice-cn".into()),
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                check_creator(o, &["alice-cn"])
            },
        },
        Def {
            id: "identity/creator-uid-or-cn",
            section: "topic_listen_to",
            level: Level::Must,
            description: "certificate with CN bob-cn and UID bob-uid, no --requester",
            requirement: "The creator is the UID or CN of the client certificate (either; which one is documented)",
            scenario: || Scenario {
                tls: Tls::Mutual,
                requester: None,
                cert_cn: Some("bob-cn".into()),
                cert_uid: Some("bob-uid".into()),
                ..Default::default()
            },
            verdict: |o| {
                if o.hung || o.requests().is_empty() {
                    return fail(
                        "no request sent",
                        "a request with a creator",
                        format!("exit {}", o.exit_code),
                    );
                }
                check_creator(o, &["bob-cn", "bob-uid"])
            },
        },
        Def {
            id: "identity/requester-overrides-creator",
            section: "topic_listen_to",
            level: Level::Must,
            description: "--requester carol over a certificate with CN alice-cn",
            requirement: "The creator is ... provided on the input by the user",
            scenario: || Scenario {
                tls: Tls::Mutual,
                requester: Some("carol".into()),
                cert_cn: Some("alice-cn".into()),
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                check_creator(o, &["carol"])
            },
        },
        // ---- templating ---------------------------------------------------------------------
        Def {
            id: "templating/listen-address-expanded",
            section: "topic_listen_to",
            level: Level::Must,
            description: "topic_listen_to with {creator} and {task_id} (twice)",
            requirement: "This field supports templating attributes {creator} and {task_id}",
            scenario: || Scenario {
                listen_to: "queue://Consumer.{creator}.{task_id}.sign.{task_id}".into(),
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                // Through an external broker (no journal) the replies, which exist only on the
                // expanded queue, reaching the client show where it listened.
                if o.has_journal() && o.reply_receivers().is_empty() {
                    return fail(
                        "no receiver on the expanded address",
                        o.reply_address.clone(),
                        "none",
                    );
                }
                Ok(format!("listened on {}", o.reply_address))
            },
        },
        Def {
            id: "templating/send-address-expanded",
            section: "topic_send_to",
            level: Level::Must,
            description: "topic_send_to with {creator}",
            requirement: "Templates ({creator}, {task_id}) are expanded in both topics",
            scenario: || Scenario {
                send_to: "topic://Sign.{creator}.requests".into(),
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                if o.requests().is_empty() {
                    return fail(
                        "no request on the expanded address",
                        o.send_address.clone(),
                        "none",
                    );
                }
                Ok(format!("sent to {}", o.send_address))
            },
        },
        // ---- wire format --------------------------------------------------------------------
        Def {
            id: "wire/null-target-sender-routes-by-to",
            section: "Request",
            level: Level::Must,
            description: "how requests are addressed",
            requirement: "The sender link has a null target; each message carries properties.to = topic_send_to",
            scenario: || Scenario {
                needs_anonymous_relay: true,
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                let client_conn = o
                    .journal()
                    .iter()
                    .find(|e| {
                        e.is_inbound_transfer() && e.address() == Some(o.send_address.as_str())
                    })
                    .map(|e| e.peer.conn);
                let attach = o.journal().iter().find_map(|e| match &e.event {
                    mock_broker::Event::Attach {
                        direction: mock_broker::LinkDirection::PeerSends,
                        address,
                        ..
                    } if Some(e.peer.conn) == client_conn => Some(address.clone()),
                    _ => None,
                });
                if attach != Some(None) {
                    return fail(
                        "the sender link must have a null target",
                        "target address null",
                        format!("{attach:?}"),
                    );
                }
                let to = o
                    .journal()
                    .iter()
                    .find(|e| e.is_inbound_transfer())
                    .and_then(|e| e.message())
                    .and_then(|m| m.to.clone());
                if to.as_deref() != Some(o.send_address.as_str()) {
                    return fail(
                        "properties.to must be topic_send_to",
                        o.send_address.clone(),
                        format!("{to:?}"),
                    );
                }
                Ok("null target, to set".into())
            },
        },
        Def {
            id: "wire/body-is-amqp-value-json-string",
            section: "Request",
            level: Level::Must,
            description: "the request body section",
            requirement: "Body: an AMQP amqp-value section holding a string of JSON text",
            scenario: Scenario::default,
            verdict: |o| {
                let Some(m) = o.request_messages().into_iter().next() else {
                    return fail("no request", "one request", "none");
                };
                let json = m
                    .body_text
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok());
                if m.body_kind != "amqp-value" || !json.as_ref().is_some_and(Value::is_object) {
                    return fail(
                        "wrong body",
                        "amqp-value string of a JSON object",
                        format!("{} {:?}", m.body_kind, m.body_text),
                    );
                }
                Ok("amqp-value JSON string".into())
            },
        },
        Def {
            id: "wire/ttl-is-timeout-times-retries",
            section: "Request",
            level: Level::Should,
            description: "timeout 10, retries 2",
            requirement: "header.ttl = timeout * retries seconds",
            scenario: Scenario::default,
            verdict: |o| {
                let ttl = o
                    .request_messages()
                    .into_iter()
                    .next()
                    .and_then(|m| m.ttl_ms);
                if ttl != Some(20_000) {
                    return fail("wrong TTL", "20000 ms", format!("{ttl:?}"));
                }
                Ok("ttl 20000 ms".into())
            },
        },
        Def {
            id: "wire/application-properties",
            section: "Request",
            level: Level::Must,
            description: "the request's application properties",
            requirement: "service, environment, owner_id (= creator), mtype, source = metadata, pub_task_id (+ manifest_digest for containers)",
            scenario: Scenario::default,
            verdict: |o| {
                let Some(m) = o.request_messages().into_iter().next() else {
                    return fail("no request", "one request", "none");
                };
                let p = &m.application_properties;
                let want = [
                    ("service", "sigharness-conformance"),
                    ("environment", "conformance"),
                    ("owner_id", o.creator.as_str()),
                    ("mtype", "container_signature"),
                    ("source", "metadata"),
                    ("pub_task_id", o.task_id.as_str()),
                ];
                for (k, v) in want {
                    if p.get(k).and_then(Value::as_str) != Some(v) {
                        return fail(
                            format!("application property {k}"),
                            v.to_string(),
                            format!("{:?}", p.get(k)),
                        );
                    }
                }
                if p.get("manifest_digest").is_none() {
                    return fail(
                        "application property manifest_digest",
                        "present for containers",
                        "absent",
                    );
                }
                Ok("all properties present".into())
            },
        },
        Def {
            id: "wire/request-body-keys",
            section: "Request",
            level: Level::Must,
            description: "the request body",
            requirement: "sig_key_id (last 8 of the alias-resolved key), claim_file, request_id, created (ISO-8601 Z), requested_by, repo",
            scenario: Scenario::default,
            verdict: |o| {
                let Some((_, b)) = o.requests().into_iter().next() else {
                    return fail("no request", "one request", "none");
                };
                let short = &o.key_id[8..];
                if b["sig_key_id"] != short {
                    return fail(
                        "sig_key_id must be the last 8 characters of the real key",
                        short.to_string(),
                        b["sig_key_id"].to_string(),
                    );
                }
                if b["repo"] != "ns/image0" {
                    return fail(
                        "repo is the reference without registry and tag",
                        "ns/image0",
                        b["repo"].to_string(),
                    );
                }
                if b["requested_by"] != o.creator.as_str() {
                    return fail(
                        "requested_by is the creator",
                        o.creator.clone(),
                        b["requested_by"].to_string(),
                    );
                }
                if !b["created"].as_str().is_some_and(|c| c.ends_with('Z'))
                    || b["claim_file"].as_str().is_none()
                {
                    return fail(
                        "created/claim_file",
                        "ISO-8601 with Z; base64 claim",
                        b.to_string(),
                    );
                }
                Ok("body keys as deployed".into())
            },
        },
        Def {
            id: "wire/one-request-per-input-and-key",
            section: "Request",
            level: Level::Must,
            description: "2 images x 2 keys (an alias and the real id)",
            requirement: "One AMQP message per (input x signing key), input-major order",
            scenario: || Scenario {
                inputs: 2,
                keys: vec!["prod".into(), "__REAL__".into()],
                ..Default::default()
            },
            verdict: |o| {
                let r = o.requests();
                if r.len() != 4 {
                    return fail(
                        "one message per input and key",
                        "4 requests",
                        format!("{}", r.len()),
                    );
                }
                let order: Vec<String> = r
                    .iter()
                    .map(|(_, b)| b["repo"].as_str().unwrap_or("").to_string())
                    .collect();
                if order != ["ns/image0", "ns/image0", "ns/image1", "ns/image1"] {
                    return fail(
                        "input-major order",
                        "image0, image0, image1, image1",
                        format!("{order:?}"),
                    );
                }
                Ok("4 requests, input-major".into())
            },
        },
        Def {
            id: "correlation/replies-out-of-order",
            section: "Correlation",
            level: Level::Must,
            description: "the first request's reply comes last",
            requirement: "The client matches body[msg][message_id_key] against the ids it sent",
            scenario: || Scenario {
                inputs: 3,
                server_plan: plan("rules: [{match: {nth: 1}, action: {delay: 3s}}]"),
                ..Default::default()
            },
            verdict: |o| {
                ok_all(o)?;
                let ids: Vec<String> = o.transmissions().into_iter().map(|(i, _)| i).collect();
                let got: Vec<String> = o
                    .output
                    .as_ref()
                    .and_then(|v| v.get("operation_results"))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|e| {
                                e.pointer("/msg/request_id")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if got != ids {
                    return fail(
                        "results must follow the requests, matched by id",
                        format!("{ids:?}"),
                        format!("{got:?}"),
                    );
                }
                Ok("results matched by id".into())
            },
        },
        // ---- configuration ------------------------------------------------------------------
        Def {
            id: "config/unknown-key-rejected",
            section: "Configuration",
            level: Level::Must,
            description: "an unknown key `retires` in msg_signer",
            requirement: "Unknown keys are errors naming the key; nothing is sent",
            scenario: || Scenario {
                config_edit: Some(|t| t.replace("  retries:", "  retires: 3\n  retries:")),
                ..Default::default()
            },
            verdict: |o| config_error(o, "retires"),
        },
        Def {
            id: "config/missing-key-rejected",
            section: "Configuration",
            level: Level::Must,
            description: "msg_signer without `send_retries`",
            requirement: "Required fields must be present; a missing key is an error naming it",
            scenario: || Scenario {
                config_edit: Some(|t| {
                    t.lines()
                        .filter(|l| !l.trim_start().starts_with("send_retries"))
                        .collect::<Vec<_>>()
                        .join("\n")
                }),
                ..Default::default()
            },
            verdict: |o| config_error(o, "send_retries"),
        },
        Def {
            id: "config/bad-broker-url-rejected",
            section: "messaging_brokers",
            level: Level::Must,
            description: "messaging_brokers holds an http:// URL",
            requirement: "Brokers are required to be written in fully specified url like amqps://<your-broker>:5671",
            scenario: || Scenario {
                config_edit: Some(|t| {
                    t.replacen(
                        "messaging_brokers: [",
                        "messaging_brokers: [\"http://127.0.0.1:1\", ",
                        1,
                    )
                }),
                ..Default::default()
            },
            verdict: |o| config_error(o, "messaging_brokers"),
        },
        Def {
            id: "config/bad-timeout-rejected",
            section: "timeout",
            level: Level::Must,
            description: "timeout: ten",
            requirement: "The timeout in seconds: a non-number is an error naming the key",
            scenario: || Scenario {
                config_edit: Some(|t| t.replace("timeout: 10", "timeout: ten")),
                ..Default::default()
            },
            verdict: |o| config_error(o, "timeout"),
        },
        Def {
            id: "cli/output-shape",
            section: "CLI shape of the reference client",
            level: Level::Should,
            description: "the JSON printed by the client",
            requirement: "{signer_result: {status, error_message}, operation_results, operation, signing_keys}",
            scenario: Scenario::default,
            verdict: |o| {
                let Some(v) = &o.output else {
                    return fail("no JSON output", "one JSON document", "none");
                };
                for p in [
                    "/signer_result/status",
                    "/signer_result/error_message",
                    "/operation_results",
                    "/operation",
                    "/signing_keys",
                ] {
                    if v.pointer(p).is_none() {
                        return fail(
                            format!("{p} missing"),
                            "the deployed output shape",
                            v.to_string(),
                        );
                    }
                }
                Ok("output shape as deployed".into())
            },
        },
    ]
}

/// Departure 4: a denied consumer must surface as its link error, promptly.
fn denied_consumer(o: &Observed) -> Verdict {
    use mock_broker::Event;
    let refused = o
        .journal()
        .iter()
        .filter(|e| matches!(&e.event, Event::Fault { action, .. } if action == "refuse_attach"))
        .count();
    if refused == 0 {
        return fail(
            "the client never attached a receiver on the reply address",
            format!("a receiver on {}", o.reply_address),
            "no refused attach in the broker journal",
        );
    }
    err_exit(o)?;
    // Scenario: timeout 10 s, retries 2; a client that ignores the link error waits out every
    // window (20 s per send cycle). "Promptly": before a single `timeout` has passed.
    let t = o.elapsed.as_secs_f64();
    if t >= 10.0 {
        return fail(
            "the receiver error must end the run at once, not surface as a timeout",
            "an error result before one `timeout` (10 s); timeout x retries is 20 s",
            format!("{t:.1} s"),
        );
    }
    let msg = o.error_message();
    let lower = msg.to_lowercase();
    if !(lower.contains("unauthorized") || lower.contains("denied by fault plan")) {
        return fail(
            "the error must name the link error",
            "an error_message naming amqp:unauthorized-access / \"denied by fault plan\"",
            msg,
        );
    }
    Ok(format!(
        "{refused} refused attach(es); error after {t:.1} s naming the link error"
    ))
}

fn check_creator(o: &Observed, allowed: &[&str]) -> Verdict {
    let Some((_, b)) = o.requests().into_iter().next() else {
        return fail("no request", "a request", "none");
    };
    let who = b["requested_by"].as_str().unwrap_or("").to_string();
    if !allowed.contains(&who.as_str()) {
        return fail("wrong creator", format!("one of {allowed:?}"), who);
    }
    if !o.reply_address.contains(&who) && o.reply_receivers().is_empty() {
        return fail(
            "the reply address must use the creator",
            o.reply_address.clone(),
            "no receiver there",
        );
    }
    Ok(format!("creator {who}"))
}

fn config_error(o: &Observed, key: &str) -> Verdict {
    if !o.requests().is_empty() {
        return fail(
            "a bad config must stop the client before sending",
            "no request sent",
            format!("{} sent", o.requests().len()),
        );
    }
    if o.exit_code == 0 || o.hung {
        return fail(
            "a bad config must fail",
            "a non-zero exit",
            format!("exit {}", o.exit_code),
        );
    }
    let text = format!("{} {}", o.error_message(), o.stderr);
    if !text.contains(key) {
        return fail(
            "the error must name the key",
            format!("a message naming `{key}`"),
            text,
        );
    }
    Ok(format!("rejected, naming `{key}`"))
}

/// Client-mode case metadata and runners.
pub fn cases(suite: &str) -> Vec<Case<ClientCtx>> {
    defs()
        .into_iter()
        .map(|d| {
            let doc = if d.section.starts_with("Request")
                || d.section.starts_with("Reply")
                || d.section.starts_with("Correlation")
                || d.section.starts_with("CLI")
            {
                WIRE
            } else {
                SPEC
            };
            let mut m: CaseMeta = meta(
                suite,
                format!("{suite}/client/{}", d.id),
                SpecRef::new(doc, d.section),
                d.level,
                d.description,
                d.requirement,
            );
            m.profiles = vec!["client".into()];
            let (scenario, verdict) = (d.scenario, d.verdict);
            Case::new(m, move |ctx: Arc<ClientCtx>| async move {
                let s = scenario();
                judge(ctx, s, verdict).await
            })
        })
        .collect()
}
