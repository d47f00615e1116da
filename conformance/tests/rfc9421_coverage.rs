//! RFC 9421 normative coverage (issue 17 item 6) under `cargo test`: the same check as
//! `sigharness coverage` / `cargo xtask coverage`. Fails when a testable MUST statement of the
//! traceability matrix has no case, when a case names a statement the matrix lacks or calls
//! untestable, or when a case's level is not its statements' keyword.

use sigharness::coverage::{self, Status};
use sigharness::runner::SuiteOptions;
use sigharness_report::{CaseMeta, Level, SpecRef};
use sigharness_vectors::statements;

#[test]
fn every_testable_must_of_rfc9421_has_a_case_at_its_level() {
    let cases = coverage::rfc9421_cases(&SuiteOptions::default()).expect("cases list");
    let cov = coverage::compute(&cases, statements::rfc9421());
    let table = cov.render();
    println!("{table}");
    assert!(cov.ok(), "{table}");
    // The three suites all name statements.
    for suite in ["http-sig/", "http-sig-signer/", "http-sig-verifier/"] {
        assert!(
            cases
                .iter()
                .any(|c| c.id.starts_with(suite) && !c.statements.is_empty()),
            "no case of {suite} names a statement"
        );
    }
    // RFC 9421 §2.1.4 is judged at MUST now that `;tr` is implemented.
    let tr = cov
        .rows
        .iter()
        .find(|r| r.statement.id == "S2.1.4-1")
        .unwrap();
    assert_eq!(tr.status, Status::Covered, "{:?}", tr.cases);
}

#[test]
fn the_check_fails_on_a_missing_case_a_wrong_level_and_an_unknown_statement() {
    let m = |id: &str, level: Level, st: &[&str]| CaseMeta {
        id: id.into(),
        suite: "http-sig".into(),
        spec: SpecRef::new("RFC 9421", "2.1"),
        level,
        profiles: vec![],
        description: "d".into(),
        requirement: "r".into(),
        statements: st.iter().map(|s| s.to_string()).collect(),
    };
    // No cases at all: every testable MUST is uncovered.
    let cov = coverage::compute(&[], statements::rfc9421());
    assert!(!cov.ok());
    assert!(
        cov.uncovered_musts()
            .iter()
            .any(|r| r.statement.id == "S2.1-5")
    );
    // A SHOULD case naming a MUST statement is a level problem, and does not cover it.
    let cov = coverage::compute(
        &[m("x/1", Level::Should, &["S2.1-5"])],
        statements::rfc9421(),
    );
    assert!(
        cov.problems
            .iter()
            .any(|p| p.contains("x/1") && p.contains("level SHOULD")),
        "{:?}",
        cov.problems
    );
    assert!(
        cov.uncovered_musts()
            .iter()
            .any(|r| r.statement.id == "S2.1-5")
    );
    // An acceptable (MAY) vector naming a MUST is no problem, but covers nothing.
    let cov = coverage::compute(&[m("x/2", Level::May, &["S2.1-5"])], statements::rfc9421());
    assert!(cov.problems.is_empty(), "{:?}", cov.problems);
    assert!(
        cov.uncovered_musts()
            .iter()
            .any(|r| r.statement.id == "S2.1-5")
    );
    // Unknown and untestable statements are named.
    let cov = coverage::compute(
        &[
            m("x/3", Level::Must, &["S9-9"]),
            m("x/4", Level::Must, &["S1.4-1"]),
        ],
        statements::rfc9421(),
    );
    assert!(
        cov.problems.iter().any(|p| p.contains("S9-9")),
        "{:?}",
        cov.problems
    );
    assert!(
        cov.problems
            .iter()
            .any(|p| p.contains("S1.4-1") && p.contains("not testable")),
        "{:?}",
        cov.problems
    );
}
