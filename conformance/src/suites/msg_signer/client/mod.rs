//! Client-mode cases: we are the broker and the signing server; the client under test connects.
//!
//! Each case is one [`ClientCase`]: its data (id, document + section, level, stimulus, quoted
//! requirement), the [`Scenario`] it sets up (config values, inputs, the fault plans of the
//! broker and the signing server from `faults/`, TLS and broker layout) and its verdict over
//! what was [`Observed`]: the broker journal (what was sent, how often, which links were left
//! attached), the requests the signing server got, and the client's JSON output and exit code.
//! Cases tagged with a departure number (`notes/msg-signer-wire.md`, "Where the reference
//! client departs") are the ones that catch that defect of the deployed client.
//!
//! One file per topic, in report order: [`retry`] (the retry diagram), [`fault`] (broker and
//! signing-server faults), [`failover`], [`tls`] (TLS and the creator's identity),
//! [`templating`], [`wire`] (the request), [`correlation`], [`config`] (configuration file and
//! CLI output), [`batch`] (batch signing); [`checks`] holds the verdict pieces they share.

mod batch;
mod checks;
mod config;
mod correlation;
mod failover;
mod fault;
mod retry;
mod templating;
mod tls;
mod wire;

use std::sync::Arc;

use sigharness_report::Level;

use super::Spec;
use super::env::{ClientCtx, Observed, Scenario, judge};
use crate::runner::{Case, Check, meta};

/// One client-mode case, self-contained.
pub struct ClientCase {
    /// The id after `msg-signer/client/`, e.g. `retry/resend-only-unanswered`.
    pub id: &'static str,
    /// The document and section the case enforces.
    pub spec: Spec,
    pub level: Level,
    /// What the case does to the client.
    pub stimulus: &'static str,
    /// What the spec requires, quoted or paraphrased.
    pub requirement: &'static str,
    /// What the case sets up; its fault plans are `faults/<id>.server.yaml` / `.broker.yaml`.
    pub scenario: fn() -> Scenario,
    /// The verdict over what was observed.
    pub verdict: fn(&Observed) -> Check,
}

impl ClientCase {
    /// The runnable case (id `<suite>/client/<id>`, profile `client`).
    pub fn case(&'static self, suite: &str) -> Case<ClientCtx> {
        let m = meta(
            suite,
            format!("{suite}/client/{}", self.id),
            self.spec.spec_ref(),
            self.level,
            self.stimulus,
            self.requirement,
        );
        Case::new(m, move |ctx: Arc<ClientCtx>| {
            judge(ctx, (self.scenario)(), self.verdict)
        })
        .profiles(["client"])
    }
}

/// Every client-mode case definition, in report order.
pub fn definitions() -> impl Iterator<Item = &'static ClientCase> {
    [
        retry::CASES,
        fault::CASES,
        failover::CASES,
        tls::CASES,
        templating::CASES,
        wire::CASES,
        correlation::CASES,
        config::CASES,
        batch::CASES,
    ]
    .into_iter()
    .flatten()
}

/// The client-mode cases of `suite`.
pub fn cases(suite: &str) -> Vec<Case<ClientCtx>> {
    definitions().map(|d| d.case(suite)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use mock_broker::BrokerAction;
    use mock_signing_server::ServerAction;

    use super::*;
    use crate::suites::msg_signer::env::REFUSING_BROKER;

    /// Every fault plan of every case parses with the parser that will read it (the mock
    /// signing server's and the embedded broker's `FaultPlan`), so a broken plan fails
    /// `cargo test`, not a conformance run. Each file is named after its case, and every
    /// file under `faults/` is some case's.
    #[test]
    fn every_fault_plan_parses_and_belongs_to_its_case() {
        let mut used = BTreeSet::new();
        for d in definitions() {
            let s = (d.scenario)();
            if let Some(p) = s.server_plan {
                let plan = p.parse::<ServerAction>().unwrap_or_else(|e| panic!("{e}"));
                assert!(!plan.rules.is_empty(), "{}: no rules", p.path);
                assert_eq!(p.path, format!("{}.server.yaml", d.id));
                used.insert(p.path.to_string());
            }
            if let Some(p) = s.broker_plan {
                let plan = p.parse::<BrokerAction>().unwrap_or_else(|e| panic!("{e}"));
                assert!(!plan.rules.is_empty(), "{}: no rules", p.path);
                assert_eq!(p.path, format!("{}.broker.yaml", d.id));
                used.insert(p.path.to_string());
            }
        }
        REFUSING_BROKER.parse::<BrokerAction>().unwrap();
        used.insert(REFUSING_BROKER.path.to_string());

        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/suites/msg_signer/faults");
        let mut on_disk = BTreeSet::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    on_disk.insert(
                        p.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        assert_eq!(
            on_disk, used,
            "files under faults/ that no case uses, or missing"
        );
    }

    /// A plan with a typo fails its parse, naming the file.
    #[test]
    fn a_broken_plan_is_an_error_naming_its_file() {
        let p = crate::suites::msg_signer::env::PlanFile {
            path: "retry/x.server.yaml",
            yaml: "rules: [{action: dorp}]",
        };
        let e = p.parse::<ServerAction>().unwrap_err().to_string();
        assert!(e.contains("faults/retry/x.server.yaml"), "{e}");
    }

    #[test]
    fn ids_are_unique_and_sections_explicit() {
        let mut ids = BTreeSet::new();
        for d in definitions() {
            assert!(ids.insert(d.id), "duplicate {}", d.id);
            assert!(!d.spec.section.is_empty(), "{}", d.id);
        }
        assert_eq!(ids.len(), 51);
    }
}
