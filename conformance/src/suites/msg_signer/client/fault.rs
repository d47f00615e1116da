//! `msg-signer/client/fault/*`: faults of the broker (reject, never settle, refused consumer,
//! drop, delay, duplicate, a cut connection) and of the signing server (malformed, stray,
//! misaddressed and error replies), from `faults/fault/*.yaml`. Sections: the workflow of
//! `specs/msg-signer.md`, `Reply` and `Correlation` of `notes/msg-signer-wire.md`.

use sigharness_report::Level;

use super::ClientCase;
use super::checks::{err_exit, expect_counts, ok_all};
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
        requirement: "An error on the receiving link ends the receive cycle at once and is reported as that error, not as a timeout",
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
        requirement: "`errors` non-empty = that item failed: status error, the server's message surfaced",
        scenario: || Scenario {
            server_plan: Some(fault_plan!("fault/error-reply-reported.server.yaml")),
            ..Default::default()
        },
        verdict: |o| {
            err_exit(o)?;
            if !o.error_message().contains("injected error") {
                return Err(fail(
                    "the server's error text must reach the user",
                    "error_message containing the server's `errors`",
                    o.error_message(),
                ));
            }
            expect_counts(o, &[1], "an error reply is an answer: no re-send")
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
        requirement: "Correlation by msg[message_id_key]: a reply for another id does not answer this request",
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
        requirement: "An unanswered request is re-sent in the next send cycle",
        scenario: || Scenario {
            retries: 1,
            send_retries: 2,
            broker_plan: Some(fault_plan!("fault/broker-drops-request.broker.yaml")),
            ..Default::default()
        },
        verdict: |o| both(ok_all(o), expect_counts(o, &[2], "re-sent once")),
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
        requirement: "The client reconnects and completes, or fails with a clear error; it never hangs",
        scenario: || Scenario {
            retries: 1,
            send_retries: 2,
            broker_plan: Some(fault_plan!("fault/connection-cut-after-send.broker.yaml")),
            ..Default::default()
        },
        verdict: ok_all,
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
    if !(lower.contains("unauthorized") || lower.contains("denied by fault plan")) {
        return Err(fail(
            "the error must name the link error",
            "an error_message naming amqp:unauthorized-access / \"denied by fault plan\"",
            msg,
        ));
    }
    pass(format!(
        "{refused} refused attach(es); error after {t:.1} s naming the link error"
    ))
}
