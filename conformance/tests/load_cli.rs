//! `sigharness load` end to end: the built binary against our reference targets (every reply
//! must be right) and against a deliberately wrong one (the run must fail, naming exactly the
//! kinds the target gets wrong). Short schedules (1 s), loopback only.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use sigharness::load::trivial::Trivial;
use sigharness_report::load::{LOAD_SCHEMA_VERSION, LoadReport};

async fn run(args: Vec<String>) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .arg("load")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run sigharness")
}

fn args(list: &[&str], out: &Path) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.extend(["--out".into(), out.display().to_string(), "--quiet".into()]);
    v
}

fn report(out: &Path) -> LoadReport {
    let text = std::fs::read_to_string(out.join("load.json")).expect("load.json written");
    serde_json::from_str(&text).expect("load.json parses as LoadReport")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sig_verifier_load_against_ours_judges_every_reply_right() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(args(
        &[
            "http-sig-verifier",
            "--rate",
            "300",
            "--duration",
            "1s",
            "--calibrate",
            "300ms",
        ],
        dir.path(),
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = report(dir.path());
    assert_eq!(r.schema_version, LOAD_SCHEMA_VERSION);
    assert_eq!(r.protocol, "http-sig-verifier");
    assert_eq!(r.target, "ours");
    assert_eq!(r.totals.scheduled, 300);
    assert_eq!(r.totals.sent, 300);
    assert_eq!(r.totals.ok, 300, "{:?}", r.totals);
    assert_eq!(r.totals.wrong + r.totals.errors + r.totals.unsent, 0);
    assert!(r.passed, "{}", r.verdict);
    // every live row of the suite is in the mix (ours declares its required component)
    assert_eq!(r.kinds.len(), 12, "{:?}", r.kinds);
    assert!(r.kinds.iter().all(|k| k.sent > 0 && k.ok == k.sent));
    assert!(
        r.calibration
            .as_ref()
            .is_some_and(|c| c.ceiling_per_s > 0.0)
    );
    assert!(r.latency_us.p50 > 0 && r.latency_us.p99 >= r.latency_us.p50);
    let md = std::fs::read_to_string(dir.path().join("load.md")).unwrap();
    assert!(md.contains("| valid-accepted | is accepted |"), "{md}");
    let svg = std::fs::read_to_string(dir.path().join("load.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
}

/// A "verifier" that accepts everything (the trivial target answers 200 to any request): every
/// kind that must be rejected is wrong, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_that_accepts_everything_fails_exactly_the_rejected_kinds() {
    let yes_man = Trivial::start(16).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../harness/http-sig/tests/data/test-key-ed25519.pem"
    );
    let o = run(args(
        &[
            "http-sig-verifier",
            "--verifier-url",
            yes_man.url(),
            "--set",
            &format!("signing_key={key}"),
            "--rate",
            "200",
            "--duration",
            "1s",
            "--calibrate",
            "0s",
        ],
        dir.path(),
    ))
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // without --set required_components the row that needs them is left out, and said so
    assert!(
        stderr(&o).contains("left out of the mix: live/missing-required-component-rejected"),
        "{}",
        stderr(&o)
    );
    let r = report(dir.path());
    assert!(!r.passed);
    let wrong: BTreeSet<&str> = r
        .kinds
        .iter()
        .filter(|k| k.wrong > 0)
        .map(|k| k.kind.as_str())
        .collect();
    let must_reject: BTreeSet<&str> = r
        .kinds
        .iter()
        .filter(|k| k.kind != "valid-accepted" && k.kind != "body-with-content-digest-accepted")
        .map(|k| k.kind.as_str())
        .collect();
    assert_eq!(wrong, must_reject);
    // every arrival of those kinds is wrong; the accepted kinds are right
    for k in &r.kinds {
        if must_reject.contains(k.kind.as_str()) {
            assert_eq!(k.wrong, k.sent, "{k:?}");
        } else {
            assert_eq!(k.ok, k.sent, "{k:?}");
        }
    }
    assert!(r.verdict.contains("wrong replies"), "{}", r.verdict);
    // evidence: the first few of each wrong kind, with the request and the section
    let expired = r
        .wrong
        .iter()
        .find(|w| w.kind == "expired-rejected")
        .expect("evidence kept for expired-rejected");
    assert!(
        expired
            .summary
            .contains("HTTP 200 (Accepted); RFC 9421 §3.2.1 requires rejected"),
        "{}",
        expired.summary
    );
    assert!(
        expired
            .detail
            .iter()
            .any(|l| l.starts_with("request sent:")),
        "{:?}",
        expired.detail
    );
    assert!(r.calibration.is_none());
    assert!(r.generator_note.starts_with("not calibrated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plans_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, want) in [
        (vec!["--rate", "0"], "--rate 0"),
        (vec!["--concurrency", "0"], "--concurrency 0"),
        (
            vec!["--ramp", "20s"],
            "--ramp 20s is longer than --duration 10s",
        ),
        (vec!["--mix", "nope=1"], "--mix: unknown kind \"nope\""),
        (vec!["--set", "nope=1"], "unknown --set key \"nope\""),
    ] {
        let mut a = vec!["http-sig-verifier", "--calibrate", "0s"];
        a.extend(extra);
        let o = run(args(&a, dir.path())).await;
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{a:?}: {}", stderr(&o));
    }
}
