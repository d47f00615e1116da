//! Normative coverage of RFC 9421 (issue 17 item 6): the traceability matrix
//! (`vectors/data/rfc9421_statements.tsv`, [`sigharness_vectors::statements`]) against the
//! statements the cases of the `http-sig`, `http-sig-signer` and `http-sig-verifier` suites name
//! (`CaseMeta::statements`).
//!
//! A statement is *not testable* when the matrix says so (with the reason), *covered* when a case
//! at its level or stronger names it, *partly* covered when such a case exists but the matrix
//! records a gap, else *uncovered*. A case covers nothing above its own level: an `acceptable`
//! vector (MAY, either outcome passes) cannot cover a MUST. The check fails when a testable MUST
//! is uncovered, when a case names a statement the matrix lacks or calls untestable, or when a
//! case's level is not the strongest level of the statements it names (MAY cases excepted:
//! `acceptable` vectors). `sigharness coverage` and `cargo xtask coverage` print it;
//! `conformance/tests/rfc9421_coverage.rs` keeps it true under `cargo test`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sigharness_report::{CaseMeta, Level};
use sigharness_vectors::statements::{self, Statement};

use crate::runner::SuiteOptions;
use crate::{Error, Result};

/// How far one statement is tested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Covered,
    Partly,
    Uncovered,
    NotTestable,
}

/// One statement and the cases that name it.
#[derive(Clone, Debug)]
pub struct Row {
    pub statement: &'static Statement,
    pub status: Status,
    /// Ids of the cases that name it (any level).
    pub cases: Vec<String>,
}

/// The whole picture.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    pub rows: Vec<Row>,
    /// Problems that fail the check besides uncovered MUSTs: unknown or untestable statements
    /// named by a case, levels that disagree with the statements.
    pub problems: Vec<String>,
    /// Cases of sections 1-5 that name no statement (informational).
    pub unnamed: Vec<String>,
}

fn rank(l: sigharness_vectors::Level) -> Level {
    match l {
        sigharness_vectors::Level::Must => Level::Must,
        sigharness_vectors::Level::Should => Level::Should,
        sigharness_vectors::Level::May => Level::May,
    }
}

/// `Must < Should < May` by strength.
fn strength(l: Level) -> u8 {
    match l {
        Level::Must => 0,
        Level::Should => 1,
        Level::May => 2,
    }
}

/// Every case of the three RFC 9421 suites, with default options (the built-in vectors).
pub fn rfc9421_cases(opts: &SuiteOptions) -> Result<Vec<CaseMeta>> {
    let mut out = Vec::new();
    for suite in crate::suites::all() {
        if matches!(
            suite.name(),
            "http-sig" | "http-sig-signer" | "http-sig-verifier"
        ) {
            out.extend(suite.cases(opts)?);
        }
    }
    if out.is_empty() {
        return Err(Error::setup("no RFC 9421 suite in this build"));
    }
    Ok(out)
}

/// Compute the coverage of `matrix` by `cases`.
pub fn compute(cases: &[CaseMeta], matrix: &'static [Statement]) -> Coverage {
    let by_id: BTreeMap<&str, &'static Statement> =
        matrix.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut named: BTreeMap<&str, Vec<&CaseMeta>> = BTreeMap::new();
    let mut cov = Coverage::default();
    for c in cases {
        if c.statements.is_empty() {
            let top = c.spec.section.split(['.', ' ', '-']).next().unwrap_or("");
            if c.spec.document == "RFC 9421" && matches!(top, "1" | "2" | "3" | "4" | "5") {
                cov.unnamed.push(c.id.clone());
            }
            continue;
        }
        let mut strongest: Option<Level> = None;
        for id in &c.statements {
            match by_id.get(id.as_str()) {
                None => cov
                    .problems
                    .push(format!("{}: names {id}, which is not in the matrix", c.id)),
                Some(s) => {
                    if let Some(why) = &s.not_testable {
                        cov.problems.push(format!(
                            "{}: names {id}, which the matrix says is not testable ({why})",
                            c.id
                        ));
                    }
                    let l = rank(s.level);
                    if strongest.is_none_or(|x| strength(l) < strength(x)) {
                        strongest = Some(l);
                    }
                    named
                        .entry(by_id[id.as_str()].id.as_str())
                        .or_default()
                        .push(c);
                }
            }
        }
        if let Some(want) = strongest
            && c.level != want
            && c.level != Level::May
        {
            cov.problems.push(format!(
                "{}: level {} but its statements {:?} are {}",
                c.id, c.level, c.statements, want
            ));
        }
    }
    for s in matrix {
        let cases = named.get(s.id.as_str()).cloned().unwrap_or_default();
        let at_level = cases
            .iter()
            .any(|c| strength(c.level) <= strength(rank(s.level)));
        let status = if s.not_testable.is_some() {
            Status::NotTestable
        } else if !at_level {
            Status::Uncovered
        } else if !s.gap.is_empty() {
            Status::Partly
        } else {
            Status::Covered
        };
        cov.rows.push(Row {
            statement: s,
            status,
            cases: cases.iter().map(|c| c.id.clone()).collect(),
        });
    }
    cov
}

impl Coverage {
    /// Testable MUST statements no case covers.
    pub fn uncovered_musts(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| {
                r.status == Status::Uncovered
                    && r.statement.level == sigharness_vectors::Level::Must
            })
            .collect()
    }

    /// True when the check passes.
    pub fn ok(&self) -> bool {
        self.uncovered_musts().is_empty() && self.problems.is_empty()
    }

    /// The table: per section, statements by status; then what is uncovered or partly covered,
    /// and the problems.
    pub fn render(&self) -> String {
        let mut per: BTreeMap<Vec<u32>, (String, [usize; 4], usize)> = BTreeMap::new();
        for r in &self.rows {
            let key: Vec<u32> = r
                .statement
                .section
                .split('.')
                .map(|n| n.parse().unwrap_or(0))
                .collect();
            let e = per
                .entry(key)
                .or_insert_with(|| (r.statement.section.clone(), [0; 4], 0));
            e.1[r.status as usize] += 1;
            if r.statement.level == sigharness_vectors::Level::Must {
                e.2 += 1;
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "RFC 9421 normative coverage (vectors/data/rfc9421_statements.tsv)\n{:<8} {:>5} {:>5} {:>8} {:>6} {:>10} {:>10}",
            "section", "stmts", "MUST", "covered", "partly", "uncovered", "untestable"
        );
        let mut tot = ([0usize; 4], 0usize, 0usize);
        for (sec, c, musts) in per.values() {
            let n: usize = c.iter().sum();
            let _ = writeln!(
                out,
                "{:<8} {:>5} {:>5} {:>8} {:>6} {:>10} {:>10}",
                sec, n, musts, c[0], c[1], c[2], c[3]
            );
            for (t, n) in tot.0.iter_mut().zip(c) {
                *t += n;
            }
            tot.1 += n;
            tot.2 += musts;
        }
        let _ = writeln!(
            out,
            "{:<8} {:>5} {:>5} {:>8} {:>6} {:>10} {:>10}",
            "total", tot.1, tot.2, tot.0[0], tot.0[1], tot.0[2], tot.0[3]
        );
        let musts: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.statement.level == sigharness_vectors::Level::Must)
            .collect();
        let testable = musts
            .iter()
            .filter(|r| r.status != Status::NotTestable)
            .count();
        let with_case = musts
            .iter()
            .filter(|r| matches!(r.status, Status::Covered | Status::Partly))
            .count();
        let _ = writeln!(
            out,
            "MUST-level: {} statements, {testable} testable, {with_case} with a case",
            musts.len()
        );
        for (title, status) in [
            ("uncovered (testable)", Status::Uncovered),
            ("partly covered", Status::Partly),
        ] {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.status == status).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title}:");
            for r in rows {
                let s = r.statement;
                let _ = writeln!(
                    out,
                    "  {} [{}] {}",
                    s.id,
                    s.keywords,
                    crate::coverage::cut(&s.sentence, 110)
                );
                if !s.gap.is_empty() {
                    let _ = writeln!(out, "      gap: {}", s.gap);
                }
            }
        }
        if !self.problems.is_empty() {
            let _ = writeln!(out, "\nproblems:");
            for p in &self.problems {
                let _ = writeln!(out, "  {p}");
            }
        }
        if !self.unnamed.is_empty() {
            let _ = writeln!(
                out,
                "\n{} case(s) of sections 1-5 name no statement: {}",
                self.unnamed.len(),
                self.unnamed.join(", ")
            );
        }
        out
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

/// `sigharness coverage`: print the table; 0 when the check passes, 1 when not, 2 when the cases
/// cannot be listed.
pub fn main(opts: &SuiteOptions) -> i32 {
    let cases = match rfc9421_cases(opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sigharness coverage: {e}");
            return 2;
        }
    };
    let cov = compute(&cases, statements::rfc9421());
    print!("{}", cov.render());
    if cov.ok() {
        0
    } else {
        let u = cov.uncovered_musts();
        eprintln!(
            "sigharness coverage: {} testable MUST statement(s) without a case{}, {} problem(s)",
            u.len(),
            if u.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    u.iter()
                        .map(|r| r.statement.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            cov.problems.len()
        );
        1
    }
}
