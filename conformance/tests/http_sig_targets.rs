//! The http-sig suite against its two built-in targets: exactly which cases fail, and which the
//! target cannot express at all (`unsupported`, kept apart from "wrong" since issue 10).
//!
//! `httpsig-crate`: every known deviation of the `httpsig` crate (see
//! shared/notes/rfc9421-landscape.md) must appear as a failure or as unsupported; the snapshots
//! pin both full lists so that a hole in the suite (a deviation no longer caught) or a new
//! failure shows up in review. `ours`: the reference implementation fails no case and, since
//! `;tr` (RFC 9421 §2.1.4, MUST) is implemented (issue 17), has no unsupported case either.

use sigharness::runner::{Event, Events, Selection, Suite, SuiteOptions};
use sigharness::suites::http_sig::HttpSigSuite;
use sigharness_report::Verdict;

/// (failing ids, unsupported ids), each sorted.
fn verdicts(target: &str) -> (Vec<String>, Vec<String>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = SuiteOptions {
            target: Some(target.to_string()),
            ..SuiteOptions::default()
        };
        let (events, mut rx) = Events::channel();
        let suite = HttpSigSuite;
        suite
            .run(&opts, &Selection::default(), &events)
            .await
            .expect("suite runs");
        drop(events);
        let (mut failed, mut unsupported) = (Vec::new(), Vec::new());
        let mut finished = 0;
        while let Some(e) = rx.recv().await {
            if let Event::CaseFinished(r) = e {
                finished += 1;
                assert!(
                    r.verdict == Verdict::Pass || !r.evidence.summary.is_empty(),
                    "{} is {:?} without evidence",
                    r.id,
                    r.verdict
                );
                match r.verdict {
                    Verdict::Fail => failed.push(r.id),
                    Verdict::Unsupported => unsupported.push(r.id),
                    _ => {}
                }
            }
        }
        assert!(finished >= 300, "only {finished} cases ran");
        failed.sort();
        unsupported.sort();
        (failed, unsupported)
    })
}

#[test]
fn httpsig_crate_fails_exactly_its_known_deviations() {
    let (failed, unsupported) = verdicts("httpsig-crate");
    // One case per deviation listed in the notes, asserted by name besides the snapshots.
    for must_fail in [
        "http-sig/rfc9421_verify_test/5-appendix-b2", // B.2.1 fails to verify (param order)
        "http-sig/own_verify_test/83-verify-params-tamper", // param order on verify
        "http-sig/own_sign_test/9-sign-params-order", // param order on sign
        "http-sig/own_sign_test/10-sign-params-order", // unknown parameter dropped
        "http-sig/own_base_test/2-absent-field",      // absent header signed as empty
        "http-sig/rfc9421_base_test/1-field-canonicalization", // values not trimmed
        "http-sig/own_base_test/28-field-obs-fold",   // obs-fold kept
        "http-sig/rfc9421_base_test/25-derived-query-param", // no decode/re-encode
        "http-sig/own_base_test/120-derived-query-param", // repeated parameter signed
        "http-sig/own_sign_test/11-sign-params-order", // nonce quote not escaped
        "http-sig/rules/3.3.6/ed25519-deterministic", // randomized Ed25519
    ] {
        assert!(
            failed.iter().any(|f| f == must_fail),
            "{must_fail} should fail for httpsig-crate"
        );
    }
    for must_be_unsupported in [
        "http-sig/rfc9421_base_test/8-field-bs", // `bs` not implemented
        "http-sig/own_sign_test/29-sign-key-encodings", // SEC1 key not loadable
        "http-sig/own_sign_test/32-sign-key-encodings", // JWK key not loadable
        "http-sig/own_sign_test/26-sign-key-encodings", // PKCS#1 key not loadable
        "http-sig/own_verify_test/8-verify-policy-time", // no max age
        "http-sig/own_verify_test/13-verify-policy-nonce", // no replay check
    ] {
        assert!(
            unsupported.iter().any(|f| f == must_be_unsupported),
            "{must_be_unsupported} should be unsupported for httpsig-crate"
        );
    }
    insta::assert_snapshot!("httpsig_crate_failures", failed.join("\n"));
    insta::assert_snapshot!("httpsig_crate_unsupported", unsupported.join("\n"));
}

#[test]
fn ours_fails_only_its_known_gaps() {
    let (failed, unsupported) = verdicts("ours");
    insta::assert_snapshot!("ours_failures", failed.join("\n"));
    insta::assert_snapshot!("ours_unsupported", unsupported.join("\n"));
}
