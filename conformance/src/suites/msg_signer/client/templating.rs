//! `msg-signer/client/templating/*`: the `{creator}` and `{task_id}` templates of
//! `topic_send_to` and `topic_listen_to` (`specs/msg-signer.md`).

use sigharness_report::Level;

use super::ClientCase;
use super::checks::ok_all;
use crate::runner::check::{fail, pass};
use crate::suites::msg_signer::env::Scenario;
use crate::suites::msg_signer::spec;

pub(super) const CASES: &[ClientCase] = &[
    ClientCase {
        id: "templating/listen-address-expanded",
        spec: spec("topic_listen_to"),
        level: Level::Must,
        stimulus: "topic_listen_to with {creator} and {task_id} (twice)",
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
                return Err(fail(
                    "no receiver on the expanded address",
                    o.reply_address.clone(),
                    "none",
                ));
            }
            pass(format!("listened on {}", o.reply_address))
        },
    },
    ClientCase {
        id: "templating/send-address-expanded",
        spec: spec("topic_send_to"),
        level: Level::Must,
        stimulus: "topic_send_to with {creator}",
        requirement: "Templates ({creator}, {task_id}) are expanded in both topics",
        scenario: || Scenario {
            send_to: "topic://Sign.{creator}.requests".into(),
            ..Default::default()
        },
        verdict: |o| {
            ok_all(o)?;
            if o.requests().is_empty() {
                return Err(fail(
                    "no request on the expanded address",
                    o.send_address.clone(),
                    "none",
                ));
            }
            pass(format!("sent to {}", o.send_address))
        },
    },
];
