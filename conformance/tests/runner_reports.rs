//! The runner and its reporters, proven on a fixture suite whose target is deliberately broken in
//! known ways (the nextest approach: a fixture with declared outcomes proves the reporting).

use std::sync::Arc;

use sigharness::conformance::{RunRequest, execute};
use sigharness::runner::check::{self, Check, fail, pass, unsupported};
use sigharness::runner::{
    BoxFuture, Case, Error, Events, Kind, Level, Selection, Setting, SpecRef, Suite, SuiteOptions,
    SuiteRun, meta,
};
use sigharness_report::{CaseMeta, Report, Verdict, exit_code};

/// A "doubler" implementation under test: `broken` doubles wrongly for odd numbers and does not
/// implement halving at all.
struct Doubler {
    broken: bool,
    /// `--set offset=N`: added to every input (a typed setting of the fixture suite).
    offset: u32,
}

impl Doubler {
    fn double(&self, x: u32) -> u32 {
        if self.broken && x % 2 == 1 {
            x * 2 + 1
        } else {
            x * 2
        }
    }
    fn halve(&self, x: u32) -> Option<u32> {
        (!self.broken).then_some(x / 2)
    }
}

fn halving(t: &Doubler, input: u32) -> Check {
    match t.halve(input) {
        None => Err(unsupported("the target does not implement halving")),
        Some(h) if h * 2 == input => pass("halved"),
        Some(h) => Err(fail("wrong half", (input / 2).to_string(), h.to_string())),
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
                let input = input + t.offset;
                let got = t.double(input);
                check::ensure(got == input * 2, || {
                    fail("wrong result", (input * 2).to_string(), got.to_string())
                })?;
                pass("doubled")
            },
        )
    };
    let half = |id: &str, level: Level| {
        Case::sync(
            meta(
                "fixture",
                format!("fixture/halve/{id}"),
                SpecRef::new("FIXTURE", "1.3"),
                level,
                "halve 8",
                "the result MUST be half the input",
            ),
            |t: &Doubler| halving(t, 8),
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
            |_| Err(check::skip("the target has no such feature")),
        ),
        half("must", Level::Must),
        half("should", Level::Should),
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
    fn settings(&self) -> &'static [Setting] {
        const S: &[Setting] = &[Setting::new(
            "offset",
            Kind::Count,
            "added to every input (default 0)",
        )];
        S
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
            let run = SuiteRun::start(
                "fixture",
                target,
                SuiteRun::count(selection, &cases),
                opts,
                selection,
                events,
            );
            let ctx = Arc::new(Doubler {
                broken: target == "broken",
                offset: opts.setting_count("offset")?.unwrap_or(0) as u32,
            });
            run.run(ctx, &cases).await;
            run.finish();
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
    assert_eq!((good.summary.pass, good.summary.skip), (5, 1));

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
            ("fixture/halve/must", Verdict::Unsupported),
            ("fixture/halve/should", Verdict::Unsupported),
        ]
    );
    // The wrong MUST result and the unsupported MUST case; "missing" stays apart from "wrong".
    assert_eq!(bad.summary.must_failed, 2);
    assert_eq!((bad.summary.fail, bad.summary.unsupported), (2, 2));
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
        "fixture/halve/should".into(),
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

/// `--set` keys are typed and declared: a misspelt key or a bad value stops the run before any
/// case (exit code 2) with the valid keys, instead of being ignored.
#[tokio::test]
async fn settings_are_checked_before_the_run() {
    let mut req = request("good", None);
    req.options.settings.insert("ofset".into(), "1".into());
    let e = run(&req).await.unwrap_err().to_string();
    assert!(e.contains("unknown --set key \"ofset\""), "{e}");
    assert!(e.contains("suite fixture takes offset"), "{e}");

    let mut req = request("good", None);
    req.options.settings.insert("offset".into(), "-1".into());
    let e = run(&req).await.unwrap_err().to_string();
    assert!(
        e.contains("--set offset=-1: expected a non-negative integer"),
        "{e}"
    );

    // A declared, well-typed key reaches the suite: with an offset of 1 the even input becomes
    // odd, which the broken doubler gets wrong.
    let mut req = request("broken", None);
    req.cases = vec!["fixture/double/even".into()];
    req.options.settings.insert("offset".into(), "1".into());
    let r = run(&req).await.unwrap().unwrap();
    assert_eq!(r.cases[0].verdict, Verdict::Fail);
}

/// Every case's start is reported before its finish, and each suite is bracketed once.
#[tokio::test]
async fn events_bracket_every_case() {
    use sigharness::runner::Event;
    let (events, mut rx) = Events::channel();
    FixtureSuite
        .run(
            &request("good", None).options,
            &Selection::default(),
            &events,
        )
        .await
        .unwrap();
    drop(events);
    let mut open = None;
    let (mut suites, mut finished) = (0, 0);
    while let Some(e) = rx.recv().await {
        match e {
            Event::SuiteStarted { cases, .. } => {
                suites += 1;
                assert_eq!(cases, 6);
            }
            Event::CaseStarted(m) => open = Some(m.id),
            Event::CaseFinished(r) => {
                assert_eq!(open.take().as_deref(), Some(r.id.as_str()));
                finished += 1;
            }
            Event::SuiteFinished { .. } => suites += 1,
        }
    }
    assert_eq!((suites, finished), (2, 6));
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
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["cases"].as_array().unwrap().len(), 6);
    assert_eq!(json["cases"][4]["verdict"], "unsupported");
    assert_eq!(json["summary"]["unsupported"], 2);
    for key in ["id", "suite", "spec", "level", "verdict", "evidence"] {
        assert!(
            json["cases"][1].get(key).is_some(),
            "report.json case lacks {key}"
        );
    }
    assert_eq!(json["cases"][1]["verdict"], "fail");

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="fixture" tests="6""#),
        "{junit}"
    );
    // Two wrong results and the unsupported MUST case fail; the unsupported SHOULD case skips.
    assert!(junit.contains("failures=\"3\""), "{junit}");
    assert!(junit.contains("type=\"UNSUPPORTED\""), "{junit}");
    assert!(
        junit.contains("unsupported: the target does not implement halving"),
        "{junit}"
    );
    assert!(junit.contains("expected: 6"), "{junit}");
    assert!(junit.contains("<skipped"), "{junit}");

    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    // Durations vary: snapshot everything but the first two lines (which carry the timing).
    let stable: String = md.lines().skip(3).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!("summary_md_broken", stable);
    assert!(md.starts_with("# sigharness conformance: FAIL"));
    assert_eq!(r.summary.must_failed, 2);
}
