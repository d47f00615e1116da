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
    not_passing_in(ctx, &[]).await
}

/// The cases `globs` select (all if none) against `ctx`; the ids that did not pass, with
/// their verdicts.
async fn not_passing_in(ctx: ServerCtx, globs: &[&str]) -> BTreeSet<String> {
    let cases = server::cases("msg-signer");
    let (events, mut rx) = Events::channel();
    let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
    let sel = Selection::new(&globs).unwrap();
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
    if globs.is_empty() {
        assert_eq!(n, cases.len(), "every case finished");
    }
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
            "clear-sign and blob signatures over other bytes",
            "rules: [{action: sign_other_bytes}]",
            set(&[
                "signature/clearsign-covers-exact-data",
                "signature/clearsign-non-ascii-text",
                "signature/detached-signed-by-key-over-artifact",
                "fields/large-artifact-1mib",
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
        (
            "signs expired requests",
            "rules: [{action: sign_expired}]",
            set(&["ttl/expired-request-not-signed"]),
        ),
        (
            // Its case runs last, so nothing after it depends on the server.
            "stays disconnected after the broker drops its connection",
            "rules: [{action: stay_disconnected}]",
            set(&["reconnect/serves-after-connection-drop"]),
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

/// An external signing server without `--set signing_pubkey`: the cases that verify a
/// signature skip saying what to give (the content cases still run); given another server's
/// public key (binary, as `gpg --export` writes it), exactly those cases fail, naming the key
/// ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_cases_skip_without_the_key_and_fail_with_another() {
    let by_key = [
        "signature/claim-signed-by-key",
        "signature/clearsign-signed-by-key",
        "signature/detached-signed-by-key-over-artifact",
        "signature/batch-claims-signed-by-key",
    ];
    let globs = [
        "msg-signer/server/signature/*",
        "msg-signer/server/fields/large-*",
    ];

    let mut ctx = ServerCtx::embedded(Default::default()).await.unwrap();
    ctx.pubkeys = None;
    let got = not_passing_in(ctx, &globs).await;
    let want: BTreeSet<String> = by_key.iter().map(|i| format!("{i} skip")).collect();
    assert_eq!(got, want);

    let other = mock_signing_server::SigningKey::generate("other <o@localhost>").unwrap();
    let (pk, _) = <pgp::composed::SignedPublicKey as pgp::composed::Deserializable>::from_string(
        &other.public_armored().unwrap(),
    )
    .unwrap();
    let binary = pgp::ser::Serialize::to_bytes(&pk).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("other.gpg");
    std::fs::write(&file, &binary).unwrap();
    let keys = server::verify::PublicKeys::from_file(file.to_str().unwrap()).unwrap();
    assert_eq!(keys.key_ids(), vec![other.key_id().to_string()]);
    let mut ctx = ServerCtx::embedded(Default::default()).await.unwrap();
    ctx.pubkeys = Some(Arc::new(keys));
    let got = not_passing_in(ctx, &globs).await;
    let want: BTreeSet<String> = by_key
        .iter()
        .chain(&["fields/large-artifact-1mib"])
        .map(|i| format!("{i} fail"))
        .collect();
    assert_eq!(got, want);

    let e = server::verify::PublicKeys::from_file("/nonexistent/key.asc").unwrap_err();
    assert!(e.contains("signing_pubkey=/nonexistent/key.asc"), "{e}");
}
