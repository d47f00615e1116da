//! `msg-signer/client/fault/*`: faults of the broker (reject, never settle, refused consumer,
//! drop, delay, duplicate, a cut connection) and of the signing server (malformed, stray,
//! misaddressed and error replies), from `faults/fault/*.yaml`. Sections: the workflow of
//! `specs/msg-signer.md`, `Reply` and `Correlation` of `notes/msg-signer-wire.md`.

use sigharness_report::Level;

use super::ClientCase;
use super::checks::{err_exit, expect_counts, observed_with_requests, ok_all};
use crate::runner::check::{Check, both, fail, pass};
use crate::suites::msg_signer::env::{Observed, Scenario, fault_plan};
use crate::suites::msg_signer::{spec, wire};

pub(super) const CASES: &[ClientCase] = &[
    ClientCase {
        id: "fault/rejected-send-fails-within-timeout",
        spec: spec("Messaging signer workflow"),
        level: Level::Must,
        stimulus: "the broker rejects every request (departure 5)",
        requirement: "A rejected send fails the request within the timeout; the client must not hang",
        scenario: || Scenario {
            retries: 1,
            send_retries: 1,
            broker_plan: Some(fault_plan!(
                "fault/rejected-send-fails-within-timeout.broker.yaml"
            )),
            ..Default::default()
        },
        verdict: err_exit,
    },
    ClientCase {
        id: "fault/never-settled-send-fails-within-timeout",
        spec: spec("Messaging signer workflow"),
        level: Level::Must,
        stimulus: "the broker never settles the requests (departure 5)",
        requirement: "A never-settled send fails the request within the timeout; the client must not hang",
        scenario: || Scenario {
            retries: 1,
            send_retries: 1,
            broker_plan: Some(fault_plan!(
                "fault/never-settled-send-fails-within-timeout.broker.yaml"
            )),
            ..Default::default()
        },
        verdict: err_exit,
    },
    ClientCase {
        id: "fault/denied-consumer-reported-promptly",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "the broker refuses every receiver attach on topic_listen_to with amqp:unauthorized-access (departure 4)",
        requirement: "An error on the receiving link ends the receive cycle at once and is reported, not waited out as a timeout (judged: an error result before one `timeout`, 10 s, has passed; whether the message names amqp:unauthorized-access is reported, not judged)",
        scenario: || Scenario {
            broker_plan: Some(fault_plan!(
                "fault/denied-consumer-reported-promptly.broker.yaml"
            )),
            ..Default::default()
        },
        verdict: denied_consumer,
    },
    ClientCase {
        id: "fault/malformed-json-reply-reported",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "the reply body is not JSON (departure 6)",
        requirement: "A malformed reply is reported, never a silent success",
        scenario: || Scenario {
            retries: 1,
            send_retries: 1,
            server_plan: Some(fault_plan!(
                "fault/malformed-json-reply-reported.server.yaml"
            )),
            ..Default::default()
        },
        verdict: err_exit,
    },
    ClientCase {
        id: "fault/reply-without-msg-reported",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "the reply envelope has no `msg` (departure 6)",
        requirement: "A malformed reply is reported, never a silent success",
        scenario: || Scenario {
            retries: 1,
            send_retries: 1,
            server_plan: Some(fault_plan!("fault/reply-without-msg-reported.server.yaml")),
            ..Default::default()
        },
        verdict: err_exit,
    },
    ClientCase {
        id: "fault/reply-without-id-reported",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "the reply's `msg` lacks `message_id_key` (departure 6)",
        requirement: "A malformed reply is reported, never a silent success",
        scenario: || Scenario {
            retries: 1,
            send_retries: 1,
            server_plan: Some(fault_plan!("fault/reply-without-id-reported.server.yaml")),
            ..Default::default()
        },
        verdict: err_exit,
    },
    ClientCase {
        id: "fault/error-reply-reported",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "the signing server answers with `errors` and a failure status",
        requirement: "`errors` non-empty = that item failed: the failure reaches the user as a per-request error, never as a silent success (judged: the request's operation_results entry carries non-empty `errors`, or signer_result.status is error with an error_message), and the error reply is an answer (sent once); the overall status and the wording are reported, not judged",
        scenario: || Scenario {
            server_plan: Some(fault_plan!("fault/error-reply-reported.server.yaml")),
            ..Default::default()
        },
        verdict: |o| {
            both(
                error_reached_user(o, 0),
                expect_counts(o, &[1], "an error reply is an answer: no re-send"),
            )
        },
    },
    ClientCase {
        id: "fault/stray-reply-ignored",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "a reply with an unknown id arrives before the real one",
        requirement: "Stray replies (unknown id) are ignored",
        scenario: || Scenario {
            server_plan: Some(fault_plan!("fault/stray-reply-ignored.server.yaml")),
            ..Default::default()
        },
        verdict: |o| both(ok_all(o), expect_counts(o, &[1], "no re-send")),
    },
    ClientCase {
        id: "fault/wrong-id-not-taken-as-answer",
        spec: wire("Correlation"),
        level: Level::Must,
        stimulus: "request 2's reply carries request 1's id",
        requirement: "Correlation by msg[message_id_key]: a reply for another id does not answer this request (judged from the broker journal alone: request 2 is sent again, twice in all; request 1's count is judged by retry/answered-requests-not-resent)",
        scenario: || Scenario {
            inputs: 2,
            retries: 1,
            send_retries: 2,
            server_plan: Some(fault_plan!(
                "fault/wrong-id-not-taken-as-answer.server.yaml"
            )),
            ..Default::default()
        },
        verdict: |o| {
            super::checks::expect_count_of(
                o,
                1,
                2,
                "request 2 is still unanswered and must be re-sent",
            )
        },
    },
    ClientCase {
        id: "fault/reply-on-wrong-address-not-received",
        spec: spec("topic_listen_to"),
        level: Level::Must,
        stimulus: "every reply goes to another address",
        requirement: "The client listens on topic_listen_to only; with no reply the run fails",
        scenario: || Scenario {
            retries: 1,
            send_retries: 1,
            server_plan: Some(fault_plan!(
                "fault/reply-on-wrong-address-not-received.server.yaml"
            )),
            ..Default::default()
        },
        verdict: err_exit,
    },
    ClientCase {
        id: "fault/broker-drops-request",
        spec: spec("Messaging signer workflow (send-receive cycle)"),
        level: Level::Must,
        stimulus: "the broker accepts and loses the first request",
        requirement: "An unanswered request is re-sent in the next send cycle (judged from the broker journal alone: the request reaches the broker twice; whether the re-sent request's reply reaches the client is judged by other cases)",
        scenario: || Scenario {
            retries: 1,
            send_retries: 2,
            broker_plan: Some(fault_plan!("fault/broker-drops-request.broker.yaml")),
            ..Default::default()
        },
        verdict: |o| expect_counts(o, &[2], "re-sent once"),
    },
    ClientCase {
        id: "fault/broker-delays-request",
        spec: spec("Messaging signer workflow (receive cycle)"),
        level: Level::Must,
        stimulus: "the broker holds each request 4 s (timeout 10 s)",
        requirement: "A reply within `timeout` is received",
        scenario: || Scenario {
            broker_plan: Some(fault_plan!("fault/broker-delays-request.broker.yaml")),
            ..Default::default()
        },
        verdict: |o| both(ok_all(o), expect_counts(o, &[1], "no re-send")),
    },
    ClientCase {
        id: "fault/broker-duplicates-request",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "the broker routes each request twice (two replies per request)",
        requirement: "Duplicate replies are ignored after the first",
        scenario: || Scenario {
            inputs: 2,
            broker_plan: Some(fault_plan!("fault/broker-duplicates-request.broker.yaml")),
            ..Default::default()
        },
        verdict: ok_all,
    },
    ClientCase {
        id: "fault/connection-cut-after-send",
        spec: spec("messaging_brokers"),
        level: Level::Should,
        stimulus: "the broker cuts the client's connection after its first request",
        requirement: "The client reconnects and completes, or fails with a clear error; it never hangs (judged: exit 0 with status ok, or exit 1 with status error and a non-empty error_message, within the suite's bound)",
        scenario: || Scenario {
            retries: 1,
            send_retries: 2,
            broker_plan: Some(fault_plan!("fault/connection-cut-after-send.broker.yaml")),
            ..Default::default()
        },
        verdict: |o| {
            if o.ok() {
                return pass("reconnected and completed");
            }
            err_exit(o).map(|_| {
                sigharness_report::Evidence::new(format!(
                    "failed with a clear error: {}",
                    o.outcome()
                ))
            })
        },
    },
];

// Departure 4: a denied consumer must surface as its link error, promptly.
fn denied_consumer(o: &Observed) -> Check {
    use mock_broker::Event;
    let refused = o
        .journal()
        .iter()
        .filter(|e| matches!(&e.event, Event::Fault { action, .. } if action == "refuse_attach"))
        .count();
    if refused == 0 {
        return Err(fail(
            "the client never attached a receiver on the reply address",
            format!("a receiver on {}", o.reply_address),
            "no refused attach in the broker journal",
        ));
    }
    err_exit(o)?;
    // Scenario: timeout 10 s, retries 2; a client that ignores the link error waits out every
    // window (20 s per send cycle). "Promptly": before a single `timeout` has passed.
    let t = o.elapsed.as_secs_f64();
    if t >= 10.0 {
        return Err(fail(
            "the receiver error must end the run at once, not surface as a timeout",
            "an error result before one `timeout` (10 s); timeout x retries is 20 s",
            format!("{t:.1} s"),
        ));
    }
    let msg = o.error_message();
    let lower = msg.to_lowercase();
    let named = lower.contains("unauthorized") || lower.contains("denied by fault plan");
    pass(format!(
        "{refused} refused attach(es); error after {t:.1} s; the message {} the link error (informational)",
        if named { "names" } else { "does not name" }
    ))
}

/// The failure of request `index` (0-based, in first-sent order), answered with an error
/// reply, reaches the user: its `operation_results` entry carries non-empty `errors`, or the
/// run reports status error with a message. Whether the server's text is there is reported.
pub(super) fn error_reached_user(o: &Observed, index: usize) -> Check {
    if o.hung {
        return Err(fail(
            "the client hung",
            format!("a result within {} s", o.bound.as_secs()),
            observed_with_requests(o),
        ));
    }
    let Some((id, _)) = o.transmissions().into_iter().nth(index) else {
        return Err(fail(
            "the request was not sent",
            format!("request {}", index + 1),
            observed_with_requests(o),
        ));
    };
    let entry_errors = o
        .result_for(&id)
        .and_then(|m| m.get("errors"))
        .and_then(serde_json::Value::as_array)
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::Value::Array(e.clone()).to_string());
    let reported = o.status() == Some("error") && !o.error_message().trim().is_empty();
    let server_text = entry_errors
        .as_deref()
        .unwrap_or("")
        .contains("injected error")
        || o.error_message().contains("injected error");
    let how = match (&entry_errors, reported) {
        (Some(e), _) => format!("its operation_results entry carries errors {e}"),
        (None, true) => format!("status error: {}", o.error_message()),
        (None, false) => {
            return Err(fail(
                format!(
                    "the error reply to request {} was lost: a silent success",
                    index + 1
                ),
                "the request's entry with non-empty `errors`, or status error with a message",
                observed_with_requests(o),
            ));
        }
    };
    pass(format!(
        "request {} failed visibly: {how}; the server's text {} there (informational); {}",
        index + 1,
        if server_text { "is" } else { "is not" },
        o.outcome()
    ))
}
