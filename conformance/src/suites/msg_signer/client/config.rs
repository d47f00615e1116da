//! `msg-signer/client/config/*` and `cli/*`: the configuration file (`Configuration` and the
//! keys of `specs/msg-signer.md`: bad files are errors naming the key, before anything is
//! sent) and the reference client's JSON output (`notes/msg-signer-wire.md`).

use sigharness_report::Level;

use super::ClientCase;
use crate::runner::check::{Check, fail, pass};
use crate::suites::msg_signer::env::{Observed, Scenario};
use crate::suites::msg_signer::{spec, wire};

pub(super) const CASES: &[ClientCase] = &[
    ClientCase {
        id: "config/unknown-key-rejected",
        spec: spec("Configuration"),
        level: Level::Must,
        stimulus: "an unknown key `retires` in msg_signer",
        requirement: "Unknown keys are errors naming the key; nothing is sent",
        scenario: || Scenario {
            config_edit: Some(|t| t.replace("  retries:", "  retires: 3\n  retries:")),
            ..Default::default()
        },
        verdict: |o| config_error(o, "retires"),
    },
    ClientCase {
        id: "config/missing-key-rejected",
        spec: spec("Configuration"),
        level: Level::Must,
        stimulus: "msg_signer without `send_retries`",
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
    ClientCase {
        id: "config/bad-broker-url-rejected",
        spec: spec("messaging_brokers"),
        level: Level::Must,
        stimulus: "messaging_brokers holds an http:// URL",
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
    ClientCase {
        id: "config/bad-timeout-rejected",
        spec: spec("timeout"),
        level: Level::Must,
        stimulus: "timeout: ten",
        requirement: "The timeout in seconds: a non-number is an error naming the key",
        scenario: || Scenario {
            config_edit: Some(|t| t.replace("timeout: 10", "timeout: ten")),
            ..Default::default()
        },
        verdict: |o| config_error(o, "timeout"),
    },
    ClientCase {
        id: "cli/output-shape",
        spec: wire("CLI shape of the reference client"),
        level: Level::Should,
        stimulus: "the JSON printed by the client",
        requirement: "{signer_result: {status, error_message}, operation_results, operation, signing_keys}",
        scenario: Scenario::default,
        verdict: |o| {
            let Some(v) = &o.output else {
                return Err(fail("no JSON output", "one JSON document", "none"));
            };
            for p in [
                "/signer_result/status",
                "/signer_result/error_message",
                "/operation_results",
                "/operation",
                "/signing_keys",
            ] {
                if v.pointer(p).is_none() {
                    return Err(fail(
                        format!("{p} missing"),
                        "the deployed output shape",
                        v.to_string(),
                    ));
                }
            }
            pass("output shape as deployed")
        },
    },
];

fn config_error(o: &Observed, key: &str) -> Check {
    if !o.requests().is_empty() {
        return Err(fail(
            "a bad config must stop the client before sending",
            "no request sent",
            format!("{} sent", o.requests().len()),
        ));
    }
    if o.exit_code == 0 || o.hung {
        return Err(fail(
            "a bad config must fail",
            "a non-zero exit",
            format!("exit {}", o.exit_code),
        ));
    }
    let text = format!("{} {}", o.error_message(), o.stderr);
    if !text.contains(key) {
        return Err(fail(
            "the error must name the key",
            format!("a message naming `{key}`"),
            text,
        ));
    }
    pass(format!("rejected, naming `{key}`"))
}
