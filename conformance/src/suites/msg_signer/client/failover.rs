//! `msg-signer/client/failover/*`: `messaging_brokers` of `specs/msg-signer.md`, a list of
//! brokers (the next one is tried when one cannot be reached).

use sigharness_report::Level;

use super::ClientCase;
use super::checks::ok_all;
use crate::suites::msg_signer::env::{Brokers, Scenario};
use crate::suites::msg_signer::spec;

pub(super) const CASES: &[ClientCase] = &[
    ClientCase {
        id: "failover/first-broker-port-closed",
        spec: spec("messaging_brokers"),
        level: Level::Must,
        stimulus: "the first broker URL has nothing listening (departure 3)",
        requirement: "List of messaging brokers to connect to: the next one is tried",
        scenario: || Scenario {
            brokers: Brokers::DeadFirst,
            ..Default::default()
        },
        verdict: ok_all,
    },
    ClientCase {
        id: "failover/first-broker-refuses",
        spec: spec("messaging_brokers"),
        level: Level::Must,
        stimulus: "the first broker accepts TCP and cuts it at once (departure 3)",
        requirement: "List of messaging brokers to connect to: the next one is tried",
        scenario: || Scenario {
            brokers: Brokers::RefusingFirst,
            ..Default::default()
        },
        verdict: ok_all,
    },
];
