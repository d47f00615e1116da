//! The runner and its reporters, proven on a fixture suite whose target is deliberately broken in
//! known ways (the nextest approach: a fixture with declared outcomes proves the reporting).

use std::sync::Arc;

use sigharness::conformance::{RunRequest, execute};
use sigharness::runner::{
    BoxFuture, Case, Error, Event, Events, Level, Outcome, Selection, SpecRef, Suite, SuiteOptions,
    meta, run_cases,
};
use sigharness_report::{CaseMeta, Evidence, Report, Verdict, exit_code};

/// A "doubler" implementation under test: `broken` doubles wrongly for odd numbers.
struct Doubler {
    broken: bool,
}

impl Doubler {
    fn double(&self, x: u32) -> u32 {
        if self.broken && x % 2 == 1 {
            x * 2 + 1
        } else {
            x * 2
        }
    }
}

struct FixtureSuite;

fn cases() -> Vec<Case<Doubler>> {
    let mk = |id: &str, level: Level, input: u32| {
        Case::sync(
            meta(
                "fixture",
                format!("fixture/double/{id}"),
                SpecRef::new("FIXTURE", "1.1"),
                level,
                format!("double {input}"),
                "the result MUST be twice the input",
            ),
            move |t: &Doubler| {
                let got = t.double(input);
                if got == input * 2 {
                    Outcome::pass()
                } else {
                    Outcome::fail(
                        Evidence::new("wrong result")
                            .expected((input * 2).to_string())
                            .observed(got.to_string()),
                    )
                }
            },
        )
    };
    vec![
        mk("even", Level::Must, 2),
        mk("odd", Level::Must, 3),
        mk("odd-should", Level::Should, 5),
        Case::sync(
            meta(
                "fixture",
                "fixture/double/not-applicable",
                SpecRef::new("FIXTURE", "1.2"),
                Level::Must,
                "needs a feature the target lacks",
                "n/a",
            ),
            |_| Outcome::skip("the target has no such feature"),
        ),
    ]
}

impl Suite for FixtureSuite {
    fn name(&self) -> &'static str {
        "fixture"
    }
    fn about(&self) -> &'static str {
        "fixture"
    }
    fn targets(&self) -> Vec<&'static str> {
        vec!["good", "broken"]
    }
    fn cases(&self, _: &SuiteOptions) -> Result<Vec<CaseMeta>, Error> {
        Ok(cases().into_iter().map(|c| c.meta).collect())
    }
    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let target = opts.target_or(&self.targets())?;
            let cases = cases();
            events.send(Event::SuiteStarted {
                suite: "fixture".into(),
                target: target.into(),
                cases: cases.len(),
            });
            let ctx = Arc::new(Doubler {
                broken: target == "broken",
            });
            run_cases(ctx, &cases, selection, events, opts.case_timeout).await;
            events.send(Event::SuiteFinished {
                suite: "fixture".into(),
            });
            Ok(())
        })
    }
}

fn request(target: &str, dir: Option<&std::path::Path>) -> RunRequest {
    RunRequest {
        quiet: true,
        report_dir: dir.map(|d| d.to_path_buf()),
        options: SuiteOptions {
            target: Some(target.into()),
            ..SuiteOptions::default()
        },
        ..RunRequest::default()
    }
}

async fn run(req: &RunRequest) -> Result<Option<Report>, Error> {
    execute(vec![Box::new(FixtureSuite)], req).await
}

#[tokio::test]
async fn good_target_passes_and_broken_target_fails_exactly_the_declared_cases() {
    let good = run(&request("good", None)).await.unwrap().unwrap();
    assert_eq!(good.exit_code(), exit_code::ALL_MUST_PASSED);
    assert_eq!((good.summary.pass, good.summary.skip), (3, 1));

    let bad = run(&request("broken", None)).await.unwrap().unwrap();
    assert_eq!(bad.exit_code(), exit_code::MUST_FAILED);
    let verdicts: Vec<(&str, Verdict)> = bad
        .cases
        .iter()
        .map(|c| (c.id.as_str(), c.verdict))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("fixture/double/even", Verdict::Pass),
            ("fixture/double/odd", Verdict::Fail),
            ("fixture/double/odd-should", Verdict::Fail),
            ("fixture/double/not-applicable", Verdict::Skip),
        ]
    );
    assert_eq!(bad.summary.must_failed, 1);
    let odd = &bad.cases[1];
    assert_eq!(odd.evidence.expected.as_deref(), Some("6"));
    assert_eq!(odd.evidence.observed.as_deref(), Some("7"));
}

#[tokio::test]
async fn only_should_failures_keep_exit_code_zero() {
    let mut req = request("broken", None);
    req.cases = vec![
        "fixture/double/odd-should".into(),
        "fixture/double/even".into(),
    ];
    let r = run(&req).await.unwrap().unwrap();
    assert_eq!(r.summary.fail, 1);
    assert_eq!(r.exit_code(), exit_code::ALL_MUST_PASSED);
}

#[tokio::test]
async fn setup_errors_name_what_is_wrong() {
    let e = run(&request("nonesuch", None)).await.unwrap_err();
    assert!(
        e.to_string().contains("unknown --target \"nonesuch\""),
        "{e}"
    );
    let mut req = request("good", None);
    req.suites = vec!["nope".into()];
    let e = run(&req).await.unwrap_err();
    assert!(e.to_string().contains("unknown --suite \"nope\""), "{e}");
    let mut req = request("good", None);
    req.cases = vec!["zzz/*".into()];
    let e = run(&req).await.unwrap_err();
    assert!(e.to_string().contains("no case matches"), "{e}");
}

#[tokio::test]
async fn report_dir_holds_the_three_formats() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&request("broken", Some(dir.path())))
        .await
        .unwrap()
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["target"], "broken");
    assert_eq!(json["cases"].as_array().unwrap().len(), 4);
    for key in ["id", "suite", "spec", "level", "verdict", "evidence"] {
        assert!(
            json["cases"][1].get(key).is_some(),
            "report.json case lacks {key}"
        );
    }
    assert_eq!(json["cases"][1]["verdict"], "fail");

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="fixture" tests="4""#),
        "{junit}"
    );
    assert!(junit.contains("failures=\"2\""), "{junit}");
    assert!(junit.contains("expected: 6"), "{junit}");
    assert!(junit.contains("<skipped"), "{junit}");

    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    // Durations vary: snapshot everything but the first two lines (which carry the timing).
    let stable: String = md.lines().skip(3).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!("summary_md_broken", stable);
    assert!(md.starts_with("# sigharness conformance: FAIL"));
    assert_eq!(r.summary.must_failed, 1);
}
