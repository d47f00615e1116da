//! Expected verdicts (`sigharness conformance --expect FILE`), BoGo style: a file kept in the
//! repository of the implementation under test says which verdict each case is expected to
//! get, and why; the run is then judged against the file instead of against the spec alone, so
//! CI can gate on "nothing new broke" while known departures stay listed.
//!
//! Format: UTF-8 text, one case a line, tab-separated `case-id  verdict  reason`; `verdict` is
//! `pass`, `fail`, `skip` or `unsupported`; `reason` (optional for `pass`, required otherwise)
//! says what the verdict shows, e.g. the documented departure. Blank lines and lines starting
//! with `#` are comments. A case of the run that the file does not list is expected to pass.
//!
//! A difference is: a case whose verdict is not the expected one (either direction: a known
//! failure that now passes must be taken out of the file), or a listed case that is not in the
//! run at all while the run selected every case (a renamed or removed case). With `--case`
//! globs, listed cases outside the selection are not differences.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sigharness_report::{Report, Verdict};

use super::Error;

/// Largest expected-verdicts file read (the file is read whole).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// One line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub verdict: Verdict,
    pub reason: String,
    /// 1-based line number in the file.
    pub line: usize,
}

/// A parsed expected-verdicts file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectations {
    pub path: PathBuf,
    pub cases: BTreeMap<String, Expected>,
}

/// One difference between the run and the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub id: String,
    /// The expected verdict and the file's reason (`pass` and "" when the file does not list it).
    pub expected: Verdict,
    pub reason: String,
    /// `None`: the case is not in the run.
    pub got: Option<Verdict>,
    /// The evidence summary of the case in this run.
    pub summary: String,
}

fn parse_verdict(s: &str) -> Option<Verdict> {
    Some(match s {
        "pass" => Verdict::Pass,
        "fail" => Verdict::Fail,
        "skip" => Verdict::Skip,
        "unsupported" => Verdict::Unsupported,
        _ => return None,
    })
}

impl Expectations {
    /// Read and parse `path`; errors name the file and the line.
    pub fn load(path: &Path) -> Result<Expectations, Error> {
        let err = |m: String| Error::setup(format!("--expect {}: {m}", path.display()));
        let len = std::fs::metadata(path)
            .map_err(|e| err(format!("cannot read: {e}")))?
            .len();
        if len > MAX_FILE_BYTES {
            return Err(err(format!(
                "{len} bytes; an expected-verdicts file is at most {MAX_FILE_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Self::parse(&text, path).map_err(err)
    }

    /// Parse the text of a file (`path` is recorded for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Expectations, String> {
        let mut cases = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim_end_matches('\r');
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            let mut parts = l.splitn(3, '\t');
            let id = parts.next().unwrap_or("").trim();
            let verdict = parts.next().map(str::trim).unwrap_or("");
            let reason = parts.next().map(str::trim).unwrap_or("").to_string();
            if id.is_empty() || verdict.is_empty() {
                return Err(format!(
                    "line {line}: expected `case-id<TAB>verdict<TAB>reason`, got {raw:?}"
                ));
            }
            let Some(v) = parse_verdict(verdict) else {
                return Err(format!(
                    "line {line}: verdict {verdict:?} of {id}: expected pass, fail, skip or unsupported"
                ));
            };
            if v != Verdict::Pass && reason.is_empty() {
                return Err(format!(
                    "line {line}: {id} is expected to {verdict} without a reason: say what it shows (third column)"
                ));
            }
            if let Some(prev) = cases.insert(
                id.to_string(),
                Expected {
                    verdict: v,
                    reason,
                    line,
                },
            ) {
                return Err(format!(
                    "line {line}: {id} is listed twice (first on line {})",
                    prev.line
                ));
            }
        }
        Ok(Expectations {
            path: path.to_path_buf(),
            cases,
        })
    }

    /// The differences between `report` and the file. `all_selected`: the run selected every
    /// case of its suites (no `--case`), so a listed case missing from it is a difference.
    pub fn differences(&self, report: &Report, all_selected: bool) -> Vec<Difference> {
        let mut out = Vec::new();
        for c in &report.cases {
            let (expected, reason) = match self.cases.get(&c.id) {
                Some(e) => (e.verdict, e.reason.clone()),
                None => (Verdict::Pass, String::new()),
            };
            if c.verdict != expected {
                out.push(Difference {
                    id: c.id.clone(),
                    expected,
                    reason,
                    got: Some(c.verdict),
                    summary: c.evidence.summary.clone(),
                });
            }
        }
        if all_selected {
            for (id, e) in &self.cases {
                if !report.cases.iter().any(|c| &c.id == id) {
                    out.push(Difference {
                        id: id.clone(),
                        expected: e.verdict,
                        reason: e.reason.clone(),
                        got: None,
                        summary: String::new(),
                    });
                }
            }
        }
        out
    }
}

/// The differences as text for the terminal and `expect.txt`: a header, then one block per
/// difference.
pub fn render(exp: &Expectations, diffs: &[Difference]) -> String {
    let mut s = String::new();
    if diffs.is_empty() {
        let _ = writeln!(
            s,
            "expected verdicts ({}): every verdict as expected ({} listed)",
            exp.path.display(),
            exp.cases.len()
        );
        return s;
    }
    let _ = writeln!(
        s,
        "expected verdicts ({}): {} difference{}",
        exp.path.display(),
        diffs.len(),
        if diffs.len() == 1 { "" } else { "s" }
    );
    for d in diffs {
        match d.got {
            Some(got) => {
                let _ = writeln!(s, "  {}: expected {}, got {got}", d.id, d.expected);
            }
            None => {
                let _ = writeln!(
                    s,
                    "  {}: expected {}, but the run has no such case (renamed or removed? update the file)",
                    d.id, d.expected
                );
            }
        }
        if !d.reason.is_empty() {
            let _ = writeln!(s, "      the file says: {}", d.reason);
        }
        if !d.summary.is_empty() {
            let _ = writeln!(s, "      this run: {}", d.summary);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigharness_report::{CaseReport, Evidence, Level, SpecRef, Summary, Tool};

    fn report(cases: &[(&str, Verdict)]) -> Report {
        let cases: Vec<CaseReport> = cases
            .iter()
            .map(|(id, v)| CaseReport {
                id: id.to_string(),
                suite: "s".into(),
                level: Level::Must,
                spec: "doc 1".into(),
                spec_ref: SpecRef::new("doc", "1"),
                description: String::new(),
                requirement: String::new(),
                profiles: vec![],
                verdict: *v,
                duration_ms: 0.0,
                evidence: Evidence::new(format!("{id} was {v}")),
            })
            .collect();
        Report {
            schema_version: sigharness_report::SCHEMA_VERSION,
            tool: Tool {
                name: "t".into(),
                version: "0".into(),
            },
            target: "x".into(),
            suite_targets: vec![],
            started_at_unix: 0,
            duration_ms: 0.0,
            summary: Summary::of(&cases),
            cases,
        }
    }

    const FILE: &str = "# comment\n\ns/a\tfail\tdeparture 1: receivers never detached\ns/b\tpass\n";

    #[test]
    fn as_expected_is_no_difference() {
        let e = Expectations::parse(FILE, Path::new("x.tsv")).unwrap();
        let r = report(&[
            ("s/a", Verdict::Fail),
            ("s/b", Verdict::Pass),
            ("s/c", Verdict::Pass),
        ]);
        assert_eq!(e.differences(&r, true), vec![]);
    }

    #[test]
    fn differences_in_both_directions_and_missing_cases() {
        let e = Expectations::parse(FILE, Path::new("x.tsv")).unwrap();
        // a known failure now passes; an unlisted case fails; s/b is gone.
        let r = report(&[("s/a", Verdict::Pass), ("s/c", Verdict::Fail)]);
        let d = e.differences(&r, true);
        let got: Vec<(&str, Verdict, Option<Verdict>)> = d
            .iter()
            .map(|d| (d.id.as_str(), d.expected, d.got))
            .collect();
        assert_eq!(
            got,
            vec![
                ("s/a", Verdict::Fail, Some(Verdict::Pass)),
                ("s/c", Verdict::Pass, Some(Verdict::Fail)),
                ("s/b", Verdict::Pass, None),
            ]
        );
        // With --case globs a listed case outside the selection is not a difference.
        assert_eq!(e.differences(&r, false).len(), 2);
        let text = render(&e, &d);
        assert!(
            text.starts_with("expected verdicts (x.tsv): 3 differences"),
            "{text}"
        );
        assert!(text.contains("s/a: expected fail, got pass"), "{text}");
        assert!(text.contains("the file says: departure 1"), "{text}");
    }

    #[test]
    fn bad_files_are_errors_naming_the_line() {
        let p = Path::new("x.tsv");
        let e = Expectations::parse("s/a\tbroken\tx\n", p).unwrap_err();
        assert!(e.contains("line 1") && e.contains("broken"), "{e}");
        let e = Expectations::parse("s/a\tfail\n", p).unwrap_err();
        assert!(e.contains("without a reason"), "{e}");
        let e = Expectations::parse("s/a\tpass\ns/a\tpass\n", p).unwrap_err();
        assert!(e.contains("line 2") && e.contains("twice"), "{e}");
        let e = Expectations::parse("just-an-id\n", p).unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }
}
