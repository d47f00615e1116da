//! The http-sig suite's `cmd` target (`--target-cmd`): an external implementation behind the
//! JSON-lines shim protocol of conformance/interop/README.md.
//!
//! The shim is `tests/http_sig_cmd/oracle_shim.py` (python3), which answers `base` and `verify`
//! from the vector files themselves, in one of several modes: all right, one kind of answer
//! wrong, `unsupported`, hanging, crashing, answering another id, writing garbage, or never
//! starting. Every run is bounded by the target's own per-answer bound (`cmd_timeout`); the
//! tests wait for no event other than the run's end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sigharness::runner::{Event, Events, Selection, Suite, SuiteOptions};
use sigharness::suites::http_sig::HttpSigSuite;
use sigharness_report::Verdict;
use sigharness_vectors::{TestResult, VectorSet};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shim(mode: &str) -> String {
    let r = root();
    format!(
        "python3 {} {mode} {}",
        r.join("conformance/tests/http_sig_cmd/oracle_shim.py")
            .display(),
        r.join("vectors").display()
    )
}

/// Case id -> (verdict, evidence summary + observed).
type Verdicts = BTreeMap<String, (Verdict, String)>;

fn run(mode: &str, settings: &[(&str, &str)], cases: &[&str]) -> Result<Verdicts, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = SuiteOptions {
            target_cmd: Some(shim(mode)),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..SuiteOptions::default()
        };
        let patterns: Vec<String> = cases.iter().map(|c| c.to_string()).collect();
        let selection = Selection::new(&patterns).map_err(|e| e.to_string())?;
        let (events, mut rx) = Events::channel();
        let res = HttpSigSuite.run(&opts, &selection, &events).await;
        drop(events);
        res.map_err(|e| e.to_string())?;
        let mut out = BTreeMap::new();
        while let Some(e) = rx.recv().await {
            if let Event::CaseFinished(r) = e {
                let text = format!(
                    "{} {}",
                    r.evidence.summary,
                    r.evidence.observed.clone().unwrap_or_default()
                );
                out.insert(r.id, (r.verdict, text));
            }
        }
        Ok(out)
    })
}

fn ids_with(v: &Verdicts, verdict: Verdict) -> Vec<&str> {
    v.iter()
        .filter(|(_, (x, _))| *x == verdict)
        .map(|(id, _)| id.as_str())
        .collect()
}

fn stem(name: &str) -> &str {
    name.strip_suffix(".json").unwrap_or(name)
}

#[test]
fn correct_answers_pass_and_unoffered_ops_are_unsupported() {
    let v = run("oracle", &[], &[]).unwrap();
    assert!(v.len() > 380, "{} cases", v.len());
    assert_eq!(ids_with(&v, Verdict::Fail), Vec::<&str>::new());
    let set = VectorSet::builtin().unwrap();
    // Every base and verify vector passes, but those whose policy gives the verifier a key set:
    // the cmd target answers them unsupported itself (not in the shim protocol).
    let key_set: Vec<String> = set
        .verify_tests()
        .filter(|(_, _, t)| t.policy.key_set.is_some())
        .map(|(f, g, t)| format!("http-sig/{}/{}-{}", stem(&f.name), t.tc_id, g.rule))
        .collect();
    assert_eq!(key_set.len(), 9);
    for id in &key_set {
        let (verdict, why) = &v[id];
        assert_eq!(*verdict, Verdict::Unsupported, "{id}");
        assert!(why.contains("key set"), "{id}: {why}");
    }
    let n_base_verify = set.base_tests().count() + set.verify_tests().count() - key_set.len();
    assert_eq!(ids_with(&v, Verdict::Pass).len(), n_base_verify);
    // `sign` is not in the shim's hello: every sign vector is unsupported without a request.
    for (f, g, t) in set.sign_tests() {
        let id = format!("http-sig/{}/{}-{}", stem(&f.name), t.tc_id, g.rule);
        let (verdict, why) = &v[&id];
        assert_eq!(*verdict, Verdict::Unsupported, "{id}");
        assert!(why.contains("does not offer sign"), "{id}: {why}");
    }
}

#[test]
fn a_wrong_base_fails_exactly_those_cases() {
    let v = run("wrong-query", &[], &["http-sig/*base_test/*"]).unwrap();
    let set = VectorSet::builtin().unwrap();
    let mut want: Vec<String> = set
        .base_tests()
        .filter(|(_, _, t)| {
            t.result == TestResult::Valid && t.signature_params.contains("\"@query\"")
        })
        .map(|(f, g, t)| format!("http-sig/{}/{}-{}", stem(&f.name), t.tc_id, g.rule))
        .collect();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(ids_with(&v, Verdict::Fail), want);
    for id in &want {
        assert!(
            v[id].1.contains("signature base differs"),
            "{id}: {}",
            v[id].1
        );
    }
}

#[test]
fn an_unsupported_answer_is_the_unsupported_verdict() {
    let v = run("unsup-verify", &[], &["http-sig/rfc9421_verify_test/*"]).unwrap();
    assert!(v.len() >= 20);
    for (id, (verdict, why)) in &v {
        assert_eq!(*verdict, Verdict::Unsupported, "{id}");
        assert!(why.contains("oracle cannot verify today"), "{id}: {why}");
    }
}

#[test]
fn a_hanging_shim_times_out_within_the_bound_and_the_rest_fail_with_the_reason() {
    let t0 = Instant::now();
    let v = run(
        "hang-verify",
        &[("cmd_timeout", "1"), ("cmd_restarts", "1")],
        &["http-sig/rfc9421_verify_test/*"],
    )
    .unwrap();
    // Two answers waited for (the first shim, one restart), each 1 s, plus the group's end.
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    let failed = ids_with(&v, Verdict::Fail);
    assert_eq!(failed.len(), v.len(), "every verify case fails");
    let timed_out = v
        .values()
        .filter(|(_, w)| w.contains("within 1000 ms (cmd_timeout)"))
        .count();
    assert_eq!(timed_out, 2, "{v:#?}");
    assert!(
        v.values()
            .all(|(_, w)| w.contains("cmd_timeout")
                || w.contains("1 restarts (cmd_restarts) used up")),
        "{v:#?}"
    );
}

#[test]
fn a_crashing_shim_yields_failures_naming_the_exit_status() {
    let v = run(
        "crash-verify",
        &[("cmd_restarts", "2")],
        &[
            "http-sig/rfc9421_verify_test/*",
            "http-sig/rfc9421_base_test/*",
        ],
    )
    .unwrap();
    // Base cases come first and are answered; the verify cases crash the shim three times.
    let crashed: Vec<&String> = v
        .iter()
        .filter(|(_, (_, w))| w.contains("shim ended: exit status 3"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(crashed.len(), 3, "{v:#?}");
    assert!(
        v.values()
            .any(|(_, w)| w.contains("oracle: crashing at a verify request")),
        "stderr is evidence"
    );
    for (id, (verdict, why)) in &v {
        if id.contains("verify_test") {
            assert_eq!(*verdict, Verdict::Fail, "{id}");
        } else {
            assert_eq!(*verdict, Verdict::Pass, "{id}: {why}");
        }
    }
}

#[test]
fn garbage_and_wrong_ids_are_failures_of_their_case() {
    let v = run("wrong-id", &[], &["http-sig/rfc9421_verify_test/*"]).unwrap();
    let (verdict, why) = v.values().next().unwrap();
    assert_eq!(*verdict, Verdict::Fail);
    assert!(why.contains("answer names id"), "{why}");
    let v = run(
        "garbage-base",
        &[("cmd_restarts", "0")],
        &["http-sig/rfc9421_base_test/*"],
    )
    .unwrap();
    let whys: Vec<&str> = v.values().map(|(_, w)| w.as_str()).collect();
    assert!(whys[0].contains("is not JSON"), "{}", whys[0]);
    assert!(whys[1..].iter().all(|w| w.contains("used up")), "{whys:?}");
    assert_eq!(ids_with(&v, Verdict::Fail).len(), v.len());
}

#[test]
fn a_shim_that_does_not_shake_hands_stops_the_run() {
    let e = run("no-hello", &[], &[]).unwrap_err();
    assert!(e.contains("no hello answer"), "{e}");
    assert!(e.contains("exit status 1"), "{e}");
    assert!(e.contains("oracle: refusing to start"), "{e}");
}
