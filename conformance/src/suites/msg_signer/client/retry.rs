//! `msg-signer/client/retry/*`: the retry diagram of `specs/msg-signer.md` ("Messaging signer
//! workflow of send and retries": the send-receive cycle bounded by `send_retries`, the receive
//! cycle bounded by `retries`, `timeout` reset by each expected reply), and which requests a
//! new cycle sends again.

use serde_json::Value;
use sigharness_report::Level;

use super::ClientCase;
use super::checks::{err_exit, expect_counts, observed_with_requests, ok_all};
use crate::runner::check::{Check, both, fail, pass, skip};
use crate::suites::msg_signer::env::{Observed, Scenario, fault_plan, is_signed};
use crate::suites::msg_signer::{spec, wire};

/// The `timeout` of the default scenario, in seconds.
const TIMEOUT: f64 = 10.0;

/// How long after the next window's receiver is attached the previous one may still be
/// attached (journal order of two broker tasks; real time with an external client).
const DETACH_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(1);

pub(super) const CASES: &[ClientCase] = &[
    ClientCase {
        id: "retry/all-answered-one-window",
        spec: spec("Messaging signer workflow (send-receive cycle)"),
        level: Level::Must,
        stimulus: "three requests, every reply at once",
        requirement: "Client sends all signing requests, listens on topic_listen_to and collects the signed requests (judged: exit 0 and status ok, each request sent once, one receiver on the reply address, 3 signed results in operation_results, in any shape the deployed contract has)",
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
        requirement: "Otherwise, it fails with error: the receive window ends `timeout` after it began (judged: exit 1 with status error and a message, after 10 s to 16 s of client run time; the exact window length is judged by retry/window-ends-timeout-after-last-reply)",
        scenario: || Scenario {
            retries: 1,
            send_retries: 1,
            server_plan: Some(fault_plan!("retry/window-ends-after-timeout.server.yaml")),
            ..Default::default()
        },
        verdict: |o| {
            err_exit(o)?;
            let t = o.elapsed.as_secs_f64();
            if !(TIMEOUT..=TIMEOUT + 6.0).contains(&t) {
                return Err(fail(
                    "the window must end after `timeout` (10 s)",
                    "between 10 s and 16 s",
                    format!("{t:.1} s"),
                ));
            }
            pass(format!("error after {t:.1} s"))
        },
    },
    ClientCase {
        id: "retry/window-ends-timeout-after-last-reply",
        spec: spec("timeout"),
        level: Level::Must,
        stimulus: "two requests, timeout 10 s, retries 1, send_retries 1: request 1 answered 1.5 s after it arrived, request 2 never (the 1x-1.5x window granularity)",
        requirement: "If an expected signing request is received, `timeout` is reset: the window ends `timeout` after the last expected reply (judged from the broker journal: from the reply reaching the reply address to the client's receiver there detaching, or its connection closing, 10 s within -0.5 s / +1 s; a window that ends only at the next timeout/2 tick lasts up to 15 s)",
        scenario: || Scenario {
            inputs: 2,
            retries: 1,
            send_retries: 1,
            server_plan: Some(fault_plan!(
                "retry/window-ends-timeout-after-last-reply.server.yaml"
            )),
            ..Default::default()
        },
        verdict: |o| {
            let (lo, hi) = (TIMEOUT - 0.5, TIMEOUT + 1.0);
            let Some(t) = o.window_after_last_reply_seconds() else {
                return Err(fail(
                    "no reply followed by the end of a receive window",
                    "a reply on the reply address, then the receiver's detach or its connection's end",
                    observed_with_requests(o),
                ));
            };
            if !(lo..=hi).contains(&t) {
                return Err(fail(
                    "the receive window must end `timeout` (10 s) after the last expected reply",
                    format!("{lo:.1} s to {hi:.1} s after the reply"),
                    format!("{t:.2} s"),
                ));
            }
            pass(format!(
                "the window ended {t:.2} s after the last expected reply"
            ))
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
        requirement: "Every iteration of send cycle works only with unreceived signing requests (judged from the broker journal alone: transmissions per request [1, 2, 1]; the run's result is judged by other cases)",
        scenario: || Scenario {
            inputs: 3,
            retries: 1,
            send_retries: 2,
            server_plan: Some(fault_plan!("retry/resend-only-unanswered.server.yaml")),
            ..Default::default()
        },
        verdict: |o| expect_counts(o, &[1, 2, 1], "only the unanswered request may be re-sent"),
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
        stimulus: "a stray reply (unknown id) at 9 s, the real one at 17 s; timeout 10 s, retries 1",
        requirement: "Only expected signing requests reset `timeout` (judged from the broker journal alone: the request is sent twice, since the window ended before the real reply at 17 s; a window that the stray extended lasts until 19 s or later, while one that ends at the next timeout/2 tick, up to 15 s, still ends before 17 s)",
        scenario: || Scenario {
            retries: 1,
            send_retries: 2,
            server_plan: Some(fault_plan!(
                "retry/stray-reply-does-not-reset-timeout.server.yaml"
            )),
            ..Default::default()
        },
        verdict: |o| {
            expect_counts(
                o,
                &[2],
                "the window must end 10 s after it began, before 17 s (the stray does not extend it), so the request is re-sent",
            )
        },
    },
    ClientCase {
        id: "retry/duplicate-reply-does-not-reset-timeout",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "request 1 answered at once and again at 9 s; request 2's first transmission answered at 17 s; timeout 10 s",
        requirement: "Only unreceived signing requests are expected; a duplicate is not expected and does not reset `timeout` (judged from the broker journal alone: request 2 is sent twice, since the window ended before its reply at 17 s; one that the duplicate at 9 s extended lasts until 19 s or later, one that ends at the next timeout/2 tick, up to 15 s, still ends before 17 s)",
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
            super::checks::expect_count_of(
                o,
                1,
                2,
                "request 2 must be re-sent: the window ends 10 s after the last expected reply, before 17 s",
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
        requirement: "Every iteration of send cycle works only with unreceived signing requests: an answered one is not sent again (judged from the broker journal alone: request 1, answered in the first window, reaches the broker once)",
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
            super::checks::expect_count_of(
                o,
                0,
                1,
                "request 1 was answered and must not be sent again",
            )
        },
    },
    ClientCase {
        id: "retry/receivers-detached-when-window-ends",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "three windows (no reply until the third transmission); every receiver must be detached when its window ends (departure 1)",
        requirement: "Receiver links are detached when their window ends: a dead receiver would take replies meant for a later window (judged from the broker journal alone, whatever the run's result: every receiver on the reply address but the last is detached at most 1 s after the next one is attached; with fewer than two windows seen the case is skipped, not judged)",
        scenario: || Scenario {
            retries: 1,
            send_retries: 3,
            server_plan: Some(fault_plan!(
                "retry/receivers-detached-when-window-ends.server.yaml"
            )),
            ..Default::default()
        },
        verdict: |o| {
            let r = o.reply_receivers();
            if r.is_empty() {
                return Err(fail(
                    "no receiver seen",
                    "receivers on the reply address",
                    "none",
                ));
            }
            // The harm the requirement names is a dead receiver taking a reply meant for a
            // later window; judged by time: each window's receiver is detached no later than
            // DETACH_TOLERANCE after the next window's receiver was attached. (The client's
            // detach and its next attach go out back to back, and two broker tasks write them
            // to the journal in either order: the tolerance absorbs that, not a lazy client.)
            let r = o.reply_receiver_times();
            for pair in r.windows(2) {
                let ((link, _, d), (next, a, _)) = (&pair[0], &pair[1]);
                match d {
                    Some(d) if *d <= *a + DETACH_TOLERANCE => {}
                    Some(d) => {
                        return Err(fail(
                            "a window's receiver outlived it",
                            format!(
                                "detached by {:.1} s after the next window's receiver was attached",
                                DETACH_TOLERANCE.as_secs_f64()
                            ),
                            format!(
                                "{link} detached {:.1} s after {next} was attached",
                                (*d - *a).as_secs_f64()
                            ),
                        ));
                    }
                    None => {
                        return Err(fail(
                            "a receiver was left attached",
                            "every receiver detached when its window ends",
                            format!("{link} never detached, though {next} was attached after it"),
                        ));
                    }
                }
            }
            if r.len() < 2 {
                // Not a verdict on detaching: other cases judge the number of windows.
                return Err(skip(format!(
                    "only {} receive window seen: detaching between windows cannot be judged",
                    r.len()
                )));
            }
            pass(format!("{} receivers, each detached in time", r.len()))
        },
    },
    ClientCase {
        id: "retry/partial-results-kept",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "request 2 of 2 gets an error reply (departure 7)",
        requirement: "`errors` non-empty = that item failed, and only that item: the signed result of request 1 is kept in operation_results, and request 2's failure reaches the user (its `errors` in its operation_results entry, or status error with an error_message); the overall status is not judged",
        scenario: || Scenario {
            inputs: 2,
            server_plan: Some(fault_plan!("retry/partial-results-kept.server.yaml")),
            ..Default::default()
        },
        verdict: |o| {
            both(
                kept_result_of_first(o),
                super::fault::error_reached_user(o, 1),
            )
        },
    },
    ClientCase {
        id: "retry/partial-results-kept-when-unanswered",
        spec: wire("Where the reference client departs"),
        level: Level::Must,
        stimulus: "request 2 of 2 is never answered, retries exhausted (retries 1, send_retries 1); request 1 is answered (departure 7)",
        requirement: "Partial results are kept when the overall status is error (departure 7: judged: request 1's signed result is in operation_results; the run's own status is judged by other cases)",
        scenario: || Scenario {
            inputs: 2,
            retries: 1,
            send_retries: 1,
            server_plan: Some(fault_plan!(
                "retry/partial-results-kept-when-unanswered.server.yaml"
            )),
            ..Default::default()
        },
        verdict: kept_result_of_first,
    },
];

/// The first request's signed result is in `operation_results`.
fn kept_result_of_first(o: &Observed) -> Check {
    let Some((first, _)) = o.transmissions().into_iter().next() else {
        return Err(fail("no request sent", "2 requests", "none"));
    };
    match o.result_for(&first) {
        Some(m) if is_signed(m) => {
            pass(format!("the signed result of request 1 ({first}) is kept"))
        }
        _ => Err(fail(
            "the signed result of request 1 was not kept",
            format!("request 1 ({first}) signed in operation_results"),
            observed_with_requests(o),
        )),
    }
}
