//! The conformance report model of `sigharness`: case metadata, verdicts, the `report.json`
//! schema and the process exit codes.
//!
//! This crate is deliberately small and stable (in the manner of `nextest-metadata`): tools that
//! consume our reports (CI dashboards, vendors' scripts) can depend on it without pulling in the
//! harness. The schema is versioned by [`SCHEMA_VERSION`].
//!
//! ```json
//! {"schema_version": 2, "tool": {...}, "target": "ours",
//!  "cases": [{"id": "...", "suite": "http-sig", "spec": "RFC 9421 §2.1", "level": "MUST",
//!             "verdict": "pass", "evidence": {...}}],
//!  "summary": {...}}
//! ```
//!
//! # Schema versions
//!
//! - **2** (current): a verdict can also be `"unsupported"`: the implementation under test does
//!   not implement what the case needs (BoGo's "unimplemented", Autobahn's `UNIMPLEMENTED`), so a
//!   report tells *missing* from *wrong*. `summary` gains `"unsupported"` (a count). An
//!   unsupported MUST case still fails the run (it is counted in `must_failed` and gives exit
//!   code 1); an unsupported SHOULD/MAY case does not.
//! - **1**: verdicts `pass | fail | skip`; "unsupported" was folded into `fail` (MUST) or `skip`
//!   (SHOULD/MAY).
//!
//! Migrating a reader from 1 to 2: accept `"unsupported"` wherever a verdict is read (treat it
//! as `fail` for a MUST case and as `skip` otherwise to keep version-1 semantics), and read
//! `summary.unsupported` with a default of 0. Every other field is unchanged. [`Report`]
//! deserializes both versions (`summary.unsupported` defaults to 0 in a version-1 file).
//! [`Verdict`] is `#[non_exhaustive]`: match it with a wildcard arm.

use std::collections::BTreeMap;
use std::fmt;

pub mod load;

use serde::{Deserialize, Serialize};

/// Version of the `report.json` schema written by this crate.
pub const SCHEMA_VERSION: u32 = 2;

/// Documented process exit codes of `sigharness conformance`.
pub mod exit_code {
    /// Every selected MUST case passed (SHOULD/MAY failures and skips do not change this).
    pub const ALL_MUST_PASSED: i32 = 0;
    /// At least one MUST case failed.
    pub const MUST_FAILED: i32 = 1;
    /// The run could not proceed (bad arguments or configuration, target unreachable, ...).
    /// A one-line reason is printed on stderr.
    pub const COULD_NOT_RUN: i32 = 2;
}

/// Requirement level of a case, as in RFC 2119.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "MAY")]
    May,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        })
    }
}

/// The spec paragraph a case enforces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecRef {
    /// Document, e.g. `RFC 9421`, `RFC-130`, `msg-signer`.
    pub document: String,
    /// Section, e.g. `2.2.8` or `B.2.6`.
    pub section: String,
}

impl SpecRef {
    pub fn new(document: impl Into<String>, section: impl Into<String>) -> Self {
        SpecRef {
            document: document.into(),
            section: section.into(),
        }
    }
}

impl fmt::Display for SpecRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.section.is_empty() {
            write!(f, "{}", self.document)
        } else {
            write!(f, "{} §{}", self.document, self.section)
        }
    }
}

/// Static description of one case: what is stimulated and what the spec requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseMeta {
    /// Stable slug, unique across all suites: `http-sig/rfc9421/2.2.1/method-uppercase-preserved`.
    pub id: String,
    /// Suite name (`http-sig`, `mq-hub`, ...).
    pub suite: String,
    pub spec: SpecRef,
    pub level: Level,
    /// Profiles the case applies to; empty = every profile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// The stimulus, in one line.
    pub description: String,
    /// The normative outcome, quoted or paraphrased from the spec.
    pub requirement: String,
    /// Ids of the spec's normative statements the case tests (RFC 9421: the traceability matrix
    /// `vectors/data/rfc9421_statements.tsv`, `S<section>-<ordinal>`); empty where a suite keeps
    /// no matrix. Optional in the serialized form; not copied into `report.json`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<String>,
}

impl CaseMeta {
    /// The same metadata naming `statements`.
    pub fn with_statements<S: Into<String>>(
        mut self,
        statements: impl IntoIterator<Item = S>,
    ) -> Self {
        self.statements = statements.into_iter().map(Into::into).collect();
        self
    }
}

/// Outcome of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Verdict {
    /// The requirement is met.
    Pass,
    /// The requirement is not met: the evidence says expected against observed.
    Fail,
    /// The case was not run (not applicable to this target or configuration): the reason.
    Skip,
    /// The implementation under test does not implement what the case needs (schema 2).
    Unsupported,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
            Verdict::Unsupported => "unsupported",
        })
    }
}

/// What was seen: for a failure, what was expected against what was observed, and the messages
/// exchanged; for a skip, the reason; for a pass, optional notes (e.g. latency figures).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// One line: why the verdict is what it is.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// The wire log or other supporting lines, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// Measured figures (e.g. `p50_ms`), keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub figures: BTreeMap<String, f64>,
}

impl Evidence {
    pub fn new(summary: impl Into<String>) -> Self {
        Evidence {
            summary: summary.into(),
            ..Evidence::default()
        }
    }
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }
    pub fn observed(mut self, observed: impl Into<String>) -> Self {
        self.observed = Some(observed.into());
        self
    }
    pub fn log_line(mut self, line: impl Into<String>) -> Self {
        self.log.push(line.into());
        self
    }
    pub fn figure(mut self, name: impl Into<String>, value: f64) -> Self {
        self.figures.insert(name.into(), value);
        self
    }
}

/// One case's entry in `report.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseReport {
    pub id: String,
    pub suite: String,
    /// `RFC 9421 §2.2.1`: document and section as one string, for readers.
    pub spec: String,
    /// The same, structured.
    pub spec_ref: SpecRef,
    pub level: Level,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    pub description: String,
    pub requirement: String,
    pub verdict: Verdict,
    pub evidence: Evidence,
    pub duration_ms: f64,
}

impl CaseReport {
    pub fn new(meta: &CaseMeta, verdict: Verdict, evidence: Evidence, duration_ms: f64) -> Self {
        CaseReport {
            id: meta.id.clone(),
            suite: meta.suite.clone(),
            spec: meta.spec.to_string(),
            spec_ref: meta.spec.clone(),
            level: meta.level,
            profiles: meta.profiles.clone(),
            description: meta.description.clone(),
            requirement: meta.requirement.clone(),
            verdict,
            evidence,
            duration_ms,
        }
    }

    /// A failed or unsupported MUST case makes the run fail.
    pub fn is_must_failure(&self) -> bool {
        self.level == Level::Must && matches!(self.verdict, Verdict::Fail | Verdict::Unsupported)
    }
}

/// Counts over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    /// Cases whose implementation lacks what they need (schema 2; 0 when read from schema 1).
    #[serde(default)]
    pub unsupported: usize,
    /// MUST cases that failed or are unsupported.
    pub must_failed: usize,
}

impl Summary {
    pub fn of(cases: &[CaseReport]) -> Self {
        let mut s = Summary {
            total: cases.len(),
            ..Summary::default()
        };
        for c in cases {
            match c.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Skip => s.skip += 1,
                Verdict::Unsupported => s.unsupported += 1,
            }
            if c.is_must_failure() {
                s.must_failed += 1;
            }
        }
        s
    }

    /// The exit code this summary calls for (see [`exit_code`]).
    pub fn exit_code(&self) -> i32 {
        if self.must_failed > 0 {
            exit_code::MUST_FAILED
        } else {
            exit_code::ALL_MUST_PASSED
        }
    }
}

/// The tool that wrote the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// A target as reported: which implementation each suite judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteTarget {
    pub suite: String,
    pub target: String,
}

/// The whole `report.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// The target named on the command line (or the default, `ours`).
    pub target: String,
    /// Which implementation each suite actually ran against (a suite may describe its target
    /// more precisely, e.g. `ours (embedded, 127.0.0.1:41234)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suite_targets: Vec<SuiteTarget>,
    /// Seconds since the Unix epoch at which the run started.
    pub started_at_unix: u64,
    pub duration_ms: f64,
    pub cases: Vec<CaseReport>,
    pub summary: Summary,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        self.summary.exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(level: Level) -> CaseMeta {
        CaseMeta {
            id: "s/x".into(),
            suite: "s".into(),
            spec: SpecRef::new("RFC 9421", "2.1"),
            level,
            profiles: vec![],
            description: "d".into(),
            requirement: "r".into(),
            statements: vec![],
        }
    }

    #[test]
    fn only_must_failures_fail_the_run() {
        let cases = vec![
            CaseReport::new(&meta(Level::Should), Verdict::Fail, Evidence::new("x"), 1.0),
            CaseReport::new(&meta(Level::Must), Verdict::Skip, Evidence::new("x"), 1.0),
        ];
        assert_eq!(Summary::of(&cases).exit_code(), exit_code::ALL_MUST_PASSED);
        let mut cases = cases;
        cases.push(CaseReport::new(
            &meta(Level::Must),
            Verdict::Fail,
            Evidence::new("x"),
            1.0,
        ));
        let s = Summary::of(&cases);
        assert_eq!((s.fail, s.skip, s.must_failed), (2, 1, 1));
        assert_eq!(s.exit_code(), exit_code::MUST_FAILED);
    }

    #[test]
    fn unsupported_is_its_own_verdict_and_fails_only_must() {
        let cases = vec![
            CaseReport::new(
                &meta(Level::Should),
                Verdict::Unsupported,
                Evidence::new("x"),
                1.0,
            ),
            CaseReport::new(&meta(Level::Must), Verdict::Pass, Evidence::new("x"), 1.0),
        ];
        let s = Summary::of(&cases);
        assert_eq!((s.unsupported, s.fail, s.skip, s.must_failed), (1, 0, 0, 0));
        assert_eq!(s.exit_code(), exit_code::ALL_MUST_PASSED);
        let must = CaseReport::new(
            &meta(Level::Must),
            Verdict::Unsupported,
            Evidence::new("x"),
            1.0,
        );
        assert!(must.is_must_failure());
        assert_eq!(
            serde_json::to_value(&must).unwrap()["verdict"],
            "unsupported"
        );
    }

    #[test]
    fn a_version_1_summary_still_reads() {
        let v1 = r#"{"total":2,"pass":1,"fail":1,"skip":0,"must_failed":1}"#;
        let s: Summary = serde_json::from_str(v1).unwrap();
        assert_eq!((s.total, s.unsupported, s.must_failed), (2, 0, 1));
    }

    #[test]
    fn json_shape_is_stable() {
        let c = CaseReport::new(&meta(Level::Must), Verdict::Pass, Evidence::new("ok"), 0.5);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["level"], "MUST");
        assert_eq!(v["verdict"], "pass");
        assert_eq!(v["spec"], "RFC 9421 §2.1");
        assert_eq!(v["evidence"]["summary"], "ok");
        let back: CaseReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }
}
