//! `msg-signer/client/correlation/*`: replies matched to requests by `msg[message_id_key]`
//! (`Correlation` of `notes/msg-signer-wire.md`).

use serde_json::Value;
use sigharness_report::Level;

use super::ClientCase;
use super::checks::ok_all;
use crate::runner::check::{fail, pass};
use crate::suites::msg_signer::env::{Scenario, fault_plan};
use crate::suites::msg_signer::wire;

pub(super) const CASES: &[ClientCase] = &[ClientCase {
    id: "correlation/replies-out-of-order",
    spec: wire("Correlation"),
    level: Level::Must,
    stimulus: "the first request's reply comes last",
    requirement: "The client matches body[msg][message_id_key] against the ids it sent (judged: exit 0 and status ok, and operation_results follow the request order, each entry's msg.request_id being its request's; entries read as [envelope, properties] pairs or bare envelopes)",
    scenario: || Scenario {
        inputs: 3,
        server_plan: Some(fault_plan!("correlation/replies-out-of-order.server.yaml")),
        ..Default::default()
    },
    verdict: |o| {
        ok_all(o)?;
        let ids: Vec<String> = o.transmissions().into_iter().map(|(i, _)| i).collect();
        let got: Vec<String> = o
            .result_msgs()
            .into_iter()
            .map(|m| {
                m.and_then(|m| m.get("request_id"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        if got != ids {
            return Err(fail(
                "results must follow the requests, matched by id",
                format!("{ids:?}"),
                format!("{got:?}"),
            ));
        }
        pass("results matched by id")
    },
}];
