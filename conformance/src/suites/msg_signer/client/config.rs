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
        requirement: "Config file: a `msg_signer:` section holding exactly the keys of the spec; unknown keys are rejected (judged: a non-zero exit and nothing sent; whether the message names `retires` is reported, not judged)",
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
        requirement: "Messaging signer requires following configuration fields to be present (judged: a non-zero exit and nothing sent; whether the message names `send_retries` is reported, not judged)",
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
        requirement: "It can be a list of AMQP or AMQPS. Brokers are required to be written in fully specified url like amqps://<your-broker>:5671 (judged: an http:// entry makes the run fail, a non-zero exit, with nothing sent; whether the message names `messaging_brokers` is reported, not judged)",
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
        requirement: "The timeout in seconds: a non-number is refused (judged: a non-zero exit and nothing sent; whether the message names `timeout` is reported, not judged)",
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
        requirement: "{signer_result: {status, error_message}, operation_results, operation, signing_keys}; each entry of operation_results is a two-element array [envelope, properties] (or \"\" for a request without a reply)",
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
            let bad: Vec<String> = o
                .result_entries()
                .iter()
                .filter(|e| {
                    !(e.as_str() == Some("")
                        || e.as_array().is_some_and(|a| {
                            a.len() == 2 && a[0].is_object() && (a[1].is_object() || a[1].is_null())
                        }))
                })
                .map(|e| crate::suites::msg_signer::env::clip(&e.to_string(), 120))
                .collect();
            if !bad.is_empty() {
                return Err(fail(
                    "operation_results entries not in the deployed shape",
                    "[envelope, properties] pairs (or \"\" without a reply)",
                    bad.join("; "),
                ));
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
            o.outcome(),
        ));
    }
    let text = format!("{} {}", o.error_message(), o.stderr);
    pass(format!(
        "rejected before sending ({}); the message {} `{key}` (informational)",
        o.outcome(),
        if text.contains(key) {
            "names"
        } else {
            "does not name"
        }
    ))
}
