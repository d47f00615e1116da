//! `msg-signer/client/retry/*`: the retry diagram of `specs/msg-signer.md` ("Messaging signer
//! workflow of send and retries": the send-receive cycle bounded by `send_retries`, the receive
//! cycle bounded by `retries`, `timeout` reset by each expected reply), and which requests a
//! new cycle sends again.

use serde_json::Value;
use sigharness_report::Level;

use super::ClientCase;
use super::checks::{err_exit, expect_counts, ok_all};
use crate::runner::check::{both, fail, pass};
use crate::suites::msg_signer::env::{Scenario, fault_plan};
use crate::suites::msg_signer::spec;

pub(super) const CASES: &[ClientCase] = &[
    ClientCase {
        id: "retry/all-answered-one-window",
        spec: spec("Messaging signer workflow (send-receive cycle)"),
        level: Level::Must,
        stimulus: "three requests, every reply at once",
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
                return Err(fail(
                    "one receive window suffices",
                    "1 receiver on the reply address",
                    format!("{}", o.reply_receivers().len()),
                ));
            }
            if o.signed_values() != 3 {
                return Err(fail(
                    "every result must be returned",
                    "3 signed results",
                    format!("{}", o.signed_values()),
                ));
            }
            pass(if o.has_journal() {
                "3 requests, 3 signed results, 1 window"
            } else {
                "3 requests, 3 signed results (receive windows not counted: no broker journal)"
            })
        },
    },
    ClientCase {
        id: "retry/timeout-resets-on-expected-reply",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "replies 6 s apart with timeout 10 s: each expected reply resets the timeout",
        requirement: "If an expected signing request is received, `timeout` is reset",
        scenario: || Scenario {
            inputs: 3,
            retries: 1,
            send_retries: 2,
            server_plan: Some(fault_plan!(
                "retry/timeout-resets-on-expected-reply.server.yaml"
            )),
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
    ClientCase {
        id: "retry/window-ends-after-timeout",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "no reply at all, retries 1, send_retries 1",
        requirement: "Otherwise, it fails with error: the receive window ends `timeout` after the last expected reply",
        scenario: || Scenario {
            retries: 1,
            send_retries: 1,
            server_plan: Some(fault_plan!("retry/window-ends-after-timeout.server.yaml")),
            ..Default::default()
        },
        verdict: |o| {
            err_exit(o)?;
            let t = o.elapsed.as_secs_f64();
            if !(10.0..=16.0).contains(&t) {
                return Err(fail(
                    "the window must end after `timeout` (10 s)",
                    "between 10 s and 15 s",
                    format!("{t:.1} s"),
                ));
            }
            pass(format!("error after {t:.1} s"))
        },
    },
    ClientCase {
        id: "retry/receive-cycles-bounded-by-retries",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "no reply, retries 3, send_retries 1",
        requirement: "Receive cycle repeats maximally `retries` times",
        scenario: || Scenario {
            retries: 3,
            send_retries: 1,
            server_plan: Some(fault_plan!(
                "retry/receive-cycles-bounded-by-retries.server.yaml"
            )),
            ..Default::default()
        },
        verdict: |o| {
            err_exit(o)?;
            expect_counts(o, &[1], "one send cycle sends once")?;
            let n = o.reply_receivers().len();
            let t = o.elapsed.as_secs_f64();
            if n == 3 || (n == 1 && (30.0..=46.0).contains(&t)) {
                pass(format!("{n} receiver(s), {t:.0} s: 3 windows of 10 s"))
            } else {
                Err(fail(
                    "3 receive windows of `timeout` each",
                    "3 windows (about 30 s)",
                    format!("{n} receivers, {t:.1} s"),
                ))
            }
        },
    },
    ClientCase {
        id: "retry/send-cycles-bounded-by-send-retries",
        spec: spec("Messaging signer workflow (send-receive cycle)"),
        level: Level::Must,
        stimulus: "no reply, retries 1, send_retries 3",
        requirement: "Send-receive cycle repeats maximally `send_retries` times",
        scenario: || Scenario {
            retries: 1,
            send_retries: 3,
            server_plan: Some(fault_plan!(
                "retry/send-cycles-bounded-by-send-retries.server.yaml"
            )),
            ..Default::default()
        },
        verdict: |o| {
            both(
                err_exit(o),
                expect_counts(o, &[3], "the request must be sent send_retries times"),
            )
        },
    },
    ClientCase {
        id: "retry/resend-only-unanswered",
        spec: spec("Messaging signer workflow (send-receive cycle)"),
        level: Level::Must,
        stimulus: "three requests, the first transmission of the second is lost",
        requirement: "Every iteration of send cycle works only with unreceived signing requests",
        scenario: || Scenario {
            inputs: 3,
            retries: 1,
            send_retries: 2,
            server_plan: Some(fault_plan!("retry/resend-only-unanswered.server.yaml")),
            ..Default::default()
        },
        verdict: |o| {
            both(
                ok_all(o),
                expect_counts(o, &[1, 2, 1], "only the unanswered request may be re-sent"),
            )
        },
    },
    ClientCase {
        id: "retry/late-reply-in-next-receive-window",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "the reply comes after the first window closed; retries 2 (departure 1)",
        requirement: "A new receive cycle listens for the unreceived requests; a reply arriving then is received",
        scenario: || Scenario {
            retries: 2,
            send_retries: 1,
            server_plan: Some(fault_plan!(
                "retry/late-reply-in-next-receive-window.server.yaml"
            )),
            ..Default::default()
        },
        verdict: |o| both(ok_all(o), expect_counts(o, &[1], "no re-send is needed")),
    },
    ClientCase {
        id: "retry/stray-reply-does-not-reset-timeout",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "a stray reply (unknown id) at 6 s, the real one at 14 s; timeout 10 s, retries 1",
        requirement: "Only expected signing requests reset `timeout`",
        scenario: || Scenario {
            retries: 1,
            send_retries: 2,
            server_plan: Some(fault_plan!(
                "retry/stray-reply-does-not-reset-timeout.server.yaml"
            )),
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
    ClientCase {
        id: "retry/duplicate-reply-does-not-reset-timeout",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "request 1 answered at once and again at 6 s; request 2 answered at 14 s; timeout 10 s",
        requirement: "Only unreceived signing requests are expected; a duplicate is not expected and does not reset `timeout`",
        scenario: || Scenario {
            inputs: 2,
            retries: 1,
            send_retries: 2,
            server_plan: Some(fault_plan!(
                "retry/duplicate-reply-does-not-reset-timeout.server.yaml"
            )),
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
    ClientCase {
        id: "retry/duplicate-reply-ignored",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "every reply is sent twice",
        requirement: "A duplicate reply is ignored after the first; one result per request",
        scenario: || Scenario {
            inputs: 2,
            server_plan: Some(fault_plan!("retry/duplicate-reply-ignored.server.yaml")),
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
                return Err(fail(
                    "one result per request",
                    "2 operation_results",
                    format!("{n}"),
                ));
            }
            pass("duplicates ignored")
        },
    },
    ClientCase {
        id: "retry/answered-requests-not-resent",
        spec: spec("Messaging signer workflow (send-receive cycle)"),
        level: Level::Must,
        stimulus: "retries 1, send_retries 2, request 2's first transmission lost (departure 2)",
        requirement: "Every iteration of send cycle works only with unreceived signing requests: answered ones are neither re-sent nor failed",
        scenario: || Scenario {
            inputs: 2,
            retries: 1,
            send_retries: 2,
            server_plan: Some(fault_plan!(
                "retry/answered-requests-not-resent.server.yaml"
            )),
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
    ClientCase {
        id: "retry/receivers-detached-when-window-ends",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "three windows (no reply until the third transmission); every receiver must be detached when its window ends (departure 1)",
        requirement: "Receiver links are detached when their window ends: a dead receiver would take replies meant for a later window (judged: detached before a reply for a later window reaches the reply address)",
        scenario: || Scenario {
            retries: 1,
            send_retries: 3,
            server_plan: Some(fault_plan!(
                "retry/receivers-detached-when-window-ends.server.yaml"
            )),
            ..Default::default()
        },
        verdict: |o| {
            ok_all(o)?;
            let r = o.reply_receivers();
            if r.is_empty() {
                return Err(fail(
                    "no receiver seen",
                    "receivers on the reply address",
                    "none",
                ));
            }
            // The harm the requirement names is a dead receiver taking a reply meant for a
            // later window: so a window's receiver must be detached before any reply reaches
            // the reply address after the next window's receiver is attached. (Comparing the
            // detach with the next attach itself would judge the order in which two broker
            // tasks write the journal, not the client: the client's detach and its next attach
            // go out back to back.)
            let arrivals = o.reply_arrivals();
            for (i, (link, _, d)) in r.iter().enumerate() {
                let Some(d) = d else {
                    return Err(fail(
                        "a receiver was left attached",
                        "every receiver detached when its window ends",
                        format!("{link} never detached"),
                    ));
                };
                if let Some((next, a, _)) = r.get(i + 1)
                    && let Some(reply) = arrivals.iter().find(|s| *s > a)
                    && d > reply
                {
                    return Err(fail(
                        "a window's receiver outlived it",
                        "detached before a reply for a later window arrives",
                        format!(
                            "{link} detached (journal #{d}) after {next} attached (#{a}) and a reply arrived (#{reply})"
                        ),
                    ));
                }
            }
            pass(format!("{} receivers, each detached in time", r.len()))
        },
    },
    ClientCase {
        id: "retry/partial-results-kept",
        spec: spec("Messaging signer workflow"),
        level: Level::Must,
        stimulus: "request 2 of 2 gets an error reply (departure 7)",
        requirement: "Partial results are kept when the overall status is error",
        scenario: || Scenario {
            inputs: 2,
            server_plan: Some(fault_plan!("retry/partial-results-kept.server.yaml")),
            ..Default::default()
        },
        verdict: |o| {
            err_exit(o)?;
            if o.signed_values() != 1 {
                return Err(fail(
                    "the signed result of request 1 was dropped",
                    "1 signed result in operation_results",
                    format!("{}", o.signed_values()),
                ));
            }
            pass("error reported, the other result kept")
        },
    },
];
