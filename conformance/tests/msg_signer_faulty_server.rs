//! The server-mode suite against our mock signing server with each fault of a faulty signing
//! server switched on alone (fault plans of `mock_signing_server::fault`): with none, every
//! case passes; with exactly one, exactly the cases that isolate that fault fail (the test
//! pins the set), signatures verified with the mock's public key.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mock_signing_server::fault::plan_from_str;
use sigharness::runner::{Event, Events, Selection, run_cases};
use sigharness::suites::msg_signer::server::{self, ServerCtx};
use sigharness_report::Verdict;

/// Every server-mode case against the mock with `plan`; the ids that did not pass.
async fn not_passing(plan: &str) -> BTreeSet<String> {
    let plan = plan_from_str(plan, "fault plan").expect("plan parses");
    let ctx = ServerCtx::embedded(plan).await.expect("embedded target");
    let cases = server::cases("msg-signer");
    let (events, mut rx) = Events::channel();
    let sel = Selection::new(&[]).unwrap();
    let run = run_cases(
        Arc::new(ctx),
        &cases,
        &sel,
        &events,
        Duration::from_secs(60),
    );
    tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("bounded");
    drop(events);
    let mut got = BTreeSet::new();
    let mut n = 0;
    while let Some(e) = rx.recv().await {
        if let Event::CaseFinished(r) = e {
            n += 1;
            if r.verdict != Verdict::Pass {
                got.insert(format!(
                    "{} {}",
                    r.id.trim_start_matches("msg-signer/server/"),
                    r.verdict
                ));
            }
        }
    }
    assert_eq!(n, cases.len(), "every case finished");
    got
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|i| format!("{i} fail")).collect()
}

/// Each fault alone, and the exact set of cases it fails; no fault passes every case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_alone_fails_exactly_its_cases() {
    let table: Vec<(&str, &str, BTreeSet<String>)> = vec![
        ("no fault", "rules: []", set(&[])),
        (
            "wrong key",
            "rules: [{action: wrong_key}]",
            set(&[
                "signature/claim-signed-by-key",
                "signature/clearsign-signed-by-key",
                "signature/detached-signed-by-key-over-artifact",
                "signature/batch-claims-signed-by-key",
                "fields/large-artifact-1mib",
            ]),
        ),
        (
            "stale claim",
            "rules: [{action: stale_claim}]",
            set(&[
                "signature/claim-names-digest-and-reference",
                "fields/non-ascii-reference",
            ]),
        ),
        (
            "duplicate signed twice differently",
            "rules: [{action: resign_duplicates}]",
            set(&["duplicates/redelivery-signed-consistently"]),
        ),
        (
            // A server that mixes up addresses when several requesters are served at once: the
            // replies of one of them go to another's address.
            "reply to another requester's address",
            "rules: [{action: other_requester_address, match: {app_properties: {owner_id: srv-crowd-2}}}]",
            set(&[
                "templating/many-requesters-answered-at-once",
                "templating/no-reply-on-another-requesters-address",
            ]),
        ),
        (
            "drops under burst",
            "rules: [{action: {drop_under_burst: 60}}]",
            set(&["concurrency/200-in-flight", "burst/after-pause"]),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, plan, want) in table {
        let got = not_passing(plan).await;
        if got != want {
            wrong.push(format!("{name}: not passing {got:#?}, expected {want:#?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
