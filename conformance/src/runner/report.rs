//! Reporters: everything a run outputs is derived from the one [`Event`] stream.
//!
//! - the terminal: a progress bar while running (on a TTY; one line per failure otherwise),
//!   then a table per suite and every failure with its evidence;
//! - with `--report-dir DIR`: `report.json` (schema in `sigharness-report`), `junit.xml`
//!   (suite = conformance suite, testcase = case id, properties = spec anchor and level) and
//!   `summary.md` (for CI job summaries).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sigharness_report::{CaseReport, Level, Report, SuiteTarget, Summary, Verdict};

use super::Event;

/// Consumes events, shows progress, and accumulates the report.
pub struct Collector {
    pub cases: Vec<CaseReport>,
    pub suite_targets: Vec<SuiteTarget>,
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Collector {
    /// `quiet`: no progress output at all (used by `--format json` style callers and tests).
    pub fn new(total: usize, quiet: bool) -> Self {
        let bar = if !quiet && std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            None
        };
        Collector {
            cases: Vec::new(),
            suite_targets: Vec::new(),
            bar,
            quiet,
        }
    }

    fn say(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn handle(&mut self, event: Event) {
        match event {
            Event::SuiteStarted {
                suite,
                target,
                cases,
            } => {
                self.say(&format!("suite {suite}: {cases} cases against {target}"));
                self.suite_targets.push(SuiteTarget { suite, target });
            }
            Event::CaseStarted(meta) => {
                if let Some(bar) = &self.bar {
                    bar.set_message(meta.id);
                }
            }
            Event::CaseFinished(r) => {
                if r.verdict == Verdict::Fail {
                    self.say(&format!(
                        "  FAIL [{}] {}: {}",
                        r.level, r.id, r.evidence.summary
                    ));
                } else if r.is_must_failure() {
                    self.say(&format!(
                        "  UNSUPPORTED [{}] {}: {}",
                        r.level, r.id, r.evidence.summary
                    ));
                }
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.cases.push(r);
            }
            Event::SuiteFinished { .. } => {}
        }
    }

    pub fn finish(self) -> (Vec<CaseReport>, Vec<SuiteTarget>) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        (self.cases, self.suite_targets)
    }
}

/// Counts per suite, in first-seen order.
fn per_suite(cases: &[CaseReport]) -> Vec<(String, Summary)> {
    let mut order: Vec<String> = Vec::new();
    for c in cases {
        if !order.contains(&c.suite) {
            order.push(c.suite.clone());
        }
    }
    order
        .into_iter()
        .map(|s| {
            let mine: Vec<CaseReport> = cases.iter().filter(|c| c.suite == s).cloned().collect();
            let sum = Summary::of(&mine);
            (s, sum)
        })
        .collect()
}

/// The end-of-run text: failures with evidence, then the table.
pub fn terminal_summary(report: &Report) -> String {
    let mut out = String::new();
    let failures: Vec<&CaseReport> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Fail || c.is_must_failure())
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\nFailures:");
        for c in &failures {
            let what = if c.verdict == Verdict::Fail {
                ""
            } else {
                " UNSUPPORTED"
            };
            let _ = writeln!(out, "\n--- {}{what} [{}] ({})", c.id, c.level, c.spec);
            let _ = writeln!(out, "    requirement: {}", c.requirement);
            let _ = writeln!(out, "    why: {}", c.evidence.summary);
            if let Some(e) = &c.evidence.expected {
                let _ = writeln!(out, "    expected: {}", indent(e));
            }
            if let Some(o) = &c.evidence.observed {
                let _ = writeln!(out, "    observed: {}", indent(o));
            }
            for l in c.evidence.log.iter().take(20) {
                let _ = writeln!(out, "    | {l}");
            }
            if c.evidence.log.len() > 20 {
                let _ = writeln!(out, "    | ... {} more lines", c.evidence.log.len() - 20);
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{:<20} {:>6} {:>6} {:>6} {:>6} {:>6} {:>12}  target",
        "suite", "cases", "pass", "fail", "skip", "unsup", "MUST failed"
    );
    for (suite, s) in per_suite(&report.cases) {
        let target = report
            .suite_targets
            .iter()
            .find(|t| t.suite == suite)
            .map(|t| t.target.as_str())
            .unwrap_or(&report.target);
        let _ = writeln!(
            out,
            "{:<20} {:>6} {:>6} {:>6} {:>6} {:>6} {:>12}  {}",
            suite, s.total, s.pass, s.fail, s.skip, s.unsupported, s.must_failed, target
        );
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{:<20} {:>6} {:>6} {:>6} {:>6} {:>6} {:>12}",
        "total", s.total, s.pass, s.fail, s.skip, s.unsupported, s.must_failed
    );
    let _ = writeln!(
        out,
        "\n{} in {:.1}s",
        if s.must_failed == 0 {
            "PASS: every MUST case passed"
        } else {
            "FAIL: a MUST case failed or is unsupported"
        },
        report.duration_ms / 1000.0
    );
    out
}

fn indent(s: &str) -> String {
    s.replace('\n', "\n              ")
}

/// `summary.md`: a Markdown summary for CI job pages.
pub fn markdown_summary(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "# sigharness conformance: {}\n",
        if s.must_failed == 0 { "PASS" } else { "FAIL" }
    );
    let _ = writeln!(
        out,
        "Target `{}`, {} cases: {} pass, {} fail, {} skip, {} unsupported ({} MUST failed), {:.1}s.\n",
        report.target,
        s.total,
        s.pass,
        s.fail,
        s.skip,
        s.unsupported,
        s.must_failed,
        report.duration_ms / 1000.0
    );
    let _ = writeln!(
        out,
        "| suite | target | cases | pass | fail | skip | unsupported | MUST failed |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for (suite, ss) in per_suite(&report.cases) {
        let target = report
            .suite_targets
            .iter()
            .find(|t| t.suite == suite)
            .map(|t| t.target.as_str())
            .unwrap_or(&report.target);
        let _ = writeln!(
            out,
            "| {suite} | {} | {} | {} | {} | {} | {} | {} |",
            md_escape(target),
            ss.total,
            ss.pass,
            ss.fail,
            ss.skip,
            ss.unsupported,
            ss.must_failed
        );
    }
    let failures: Vec<&CaseReport> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Fail || c.is_must_failure())
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        let _ = writeln!(out, "| case | verdict | level | spec | why |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for c in failures {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                c.id,
                c.verdict,
                c.level,
                md_escape(&c.spec),
                md_escape(&c.evidence.summary)
            );
        }
    }
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `junit.xml`: one `<testsuite>` per conformance suite, one `<testcase>` per case.
pub fn junit_xml(report: &Report) -> crate::Result<String> {
    use quick_junit::{
        NonSuccessKind, Property, Report as JReport, TestCase, TestCaseStatus, TestSuite,
    };
    let mut jr = JReport::new(format!("sigharness conformance ({})", report.target));
    jr.set_time(Duration::from_secs_f64(report.duration_ms / 1000.0));
    for (suite, _) in per_suite(&report.cases) {
        let mut ts = TestSuite::new(suite.clone());
        for c in report.cases.iter().filter(|c| c.suite == suite) {
            let status = match c.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Skip => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(c.evidence.summary.clone());
                    st
                }
                // An unsupported SHOULD/MAY case is reported as skipped (it does not fail the
                // run), with the verdict in the message.
                Verdict::Unsupported if c.level != Level::Must => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(format!("unsupported: {}", c.evidence.summary));
                    st
                }
                _ => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(format!("{} [{}]: {}", c.spec, c.level, c.requirement));
                    st.set_type(match (c.verdict, c.level) {
                        (Verdict::Unsupported, _) => "UNSUPPORTED",
                        (_, Level::Must) => "MUST",
                        _ => "non-MUST",
                    });
                    let mut body = format!("why: {}\n", c.evidence.summary);
                    if let Some(e) = &c.evidence.expected {
                        let _ = writeln!(body, "expected: {e}");
                    }
                    if let Some(o) = &c.evidence.observed {
                        let _ = writeln!(body, "observed: {o}");
                    }
                    for l in &c.evidence.log {
                        let _ = writeln!(body, "| {l}");
                    }
                    st.set_description(body);
                    st
                }
            };
            let mut tc = TestCase::new(c.id.clone(), status);
            tc.set_classname(suite.clone());
            tc.set_time(Duration::from_secs_f64(c.duration_ms / 1000.0));
            tc.add_property(Property::new("spec", c.spec.clone()));
            tc.add_property(Property::new("level", c.level.to_string()));
            ts.add_test_case(tc);
        }
        jr.add_test_suite(ts);
    }
    jr.to_string()
        .map_err(|e| crate::Error::setup(format!("cannot write junit.xml: {e}")))
}

/// Write `report.json`, `junit.xml` and `summary.md` into `dir` (created if needed).
pub fn write_report_dir(dir: &Path, report: &Report) -> crate::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::Io {
        what: "cannot create --report-dir",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let write = |name: &str, body: &[u8]| -> crate::Result<()> {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).map_err(|e| crate::Error::write(&p, e))?;
        f.write_all(body).map_err(|e| crate::Error::write(&p, e))
    };
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| crate::Error::setup(format!("cannot encode report.json: {e}")))?;
    write("report.json", &json)?;
    write("junit.xml", junit_xml(report)?.as_bytes())?;
    write("summary.md", markdown_summary(report).as_bytes())?;
    Ok(())
}
