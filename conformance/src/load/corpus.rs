//! Past one machine (issue 16 item 4): `sigharness load prepare` writes the requests of a run as
//! a corpus, an existing load engine (Locust: `conformance/load/locustfile.py`, a master and
//! any number of workers) replays it and records each reply, and `sigharness load judge`
//! judges every recorded reply exactly as `sigharness load` does in process, merging the
//! workers' records into one HDR histogram and one `load.json` / `load.md` / `load.svg`.
//!
//! Protocol: `http-sig-verifier` (the requests are signed at prepare time; the suite's rows stay
//! valid or invalid for the replay: `created` now, no `expires` on the valid rows, a fresh
//! nonce per request, so each corpus entry must be sent once — the locustfile gives each
//! worker the entries `seq % workers == index`).
//!
//! Files (all JSON, written by prepare, read by the locustfile and by judge):
//! - `plan.json`: [`CorpusPlan`] (schema version, target, rate, duration, status mapping, kinds);
//! - `corpus.jsonl`: one [`Entry`] per arrival, in schedule order (`due_us` = intended send time
//!   from the start of the run);
//! - results (written by the locustfile, one file per worker, `results-*.jsonl`): one
//!   [`Record`] per arrival sent: the statuses of its steps (or the error), and when it was due,
//!   sent and answered, in microseconds from that worker's start.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sigharness_report::load::{LOAD_SCHEMA_VERSION, LoadPlan, LoadReport};
use tokio::time::Instant;

use super::engine::{Outcome, Recorder};
use super::http_sig_verifier::Want;
use super::schedule::Schedule;
use crate::suites::http_sig_verifier::{Decision, StatusMapping};

/// Version of `plan.json` / `corpus.jsonl` / the results records.
pub const CORPUS_SCHEMA_VERSION: u32 = 1;
/// Most entries a corpus may hold (a corpus is read whole by the judge).
pub const MAX_ENTRIES: u64 = 2_000_000;

/// `plan.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusPlan {
    pub schema_version: u32,
    pub protocol: String,
    /// The base URL the requests are for (`--host` of the locust master).
    pub target: String,
    pub rate: f64,
    pub duration_s: f64,
    pub ramp_s: f64,
    pub entries: u64,
    /// `--set accept=` / `--set reject=` as given (the judge parses them again).
    pub accept: String,
    pub reject: String,
    /// (kind, requirement), in the order `Entry::kind` indexes.
    pub kinds: Vec<(String, String)>,
    pub mix: BTreeMap<String, u32>,
    /// When the signatures were made (UNIX seconds): `judge` refuses a replay that started
    /// more than `--max-corpus-age` after it (the rows are time-dependent).
    pub signed_at: u64,
    /// A random id of this corpus; every record echoes it, so records of another corpus (a
    /// stale results directory) are refused.
    pub run_id: String,
}

/// One HTTP request of an entry, as it is sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub method: String,
    /// Origin-form target (`/path?query`).
    pub target: String,
    /// Header fields in order (names unique within a request).
    pub headers: Vec<(String, String)>,
    /// The body, base64.
    pub body_b64: String,
    /// The decision the reply must show: `accepted`, `rejected` or `either` (the spec leaves it
    /// to the verifier).
    pub expect: String,
}

/// One arrival.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub kind: usize,
    pub due_us: u64,
    pub steps: Vec<Step>,
}

/// What a worker recorded for one entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// One status per step sent (fewer when a step failed: see `error`).
    #[serde(default)]
    pub statuses: Vec<u16>,
    /// Why a step got no status (connection refused, timeout, ...).
    #[serde(default)]
    pub error: Option<String>,
    pub due_us: u64,
    pub sent_us: u64,
    pub done_us: u64,
    /// Which worker (for the report).
    #[serde(default)]
    pub worker: Option<String>,
    /// The corpus's `run_id`, echoed.
    #[serde(default)]
    pub run_id: String,
    /// When the worker started its replay (UNIX seconds, fractional).
    #[serde(default)]
    pub wall_start: f64,
}

fn step_of(msg: &http_sig::HttpMessage, expect: &str) -> Result<Step, String> {
    let rl = msg
        .request_line()
        .ok_or_else(|| "not a request".to_string())?;
    let mut names = std::collections::HashSet::new();
    for (n, _) in &msg.headers {
        if !names.insert(n.to_ascii_lowercase()) {
            return Err(format!(
                "header {n} appears twice (the replay sends a name once)"
            ));
        }
    }
    Ok(Step {
        method: rl.method.clone(),
        target: rl.target.clone(),
        headers: msg.headers.clone(),
        body_b64: base64::engine::general_purpose::STANDARD.encode(&msg.body),
        expect: expect.into(),
    })
}

/// The steps of a row's request: one, or two for the replay row (the first accepted, the same
/// request again rejected).
pub fn steps(want: Want, msg: &http_sig::HttpMessage) -> Result<Vec<Step>, String> {
    want.steps().iter().map(|e| step_of(msg, e)).collect()
}

/// Write `plan.json` and `corpus.jsonl` for `schedule`, each entry built by `build(seq)`.
pub fn write(
    dir: &Path,
    plan: &CorpusPlan,
    schedule: &Schedule,
    mut build: impl FnMut(u64) -> Result<Entry, String>,
) -> Result<u64, String> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
    let n = schedule.len();
    if n > MAX_ENTRIES {
        return Err(format!(
            "the schedule holds {n} arrivals; a corpus holds at most {MAX_ENTRIES} (lower --rate or --duration)"
        ));
    }
    let path = dir.join("corpus.jsonl");
    let f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    for seq in 0..n {
        let mut e = build(seq)?;
        e.due_us = schedule
            .due(seq)
            .map(|d| d.as_micros() as u64)
            .unwrap_or_default();
        serde_json::to_writer(&mut w, &e).map_err(|e| format!("{}: {e}", path.display()))?;
        w.write_all(b"\n")
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    w.flush().map_err(|e| format!("{}: {e}", path.display()))?;
    let mut plan = plan.clone();
    plan.entries = n;
    let p = dir.join("plan.json");
    std::fs::write(
        &p,
        serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(n)
}

/// Longest line of a corpus or results file (a corpus entry holds at most two requests).
pub const MAX_LINE: u64 = 1 << 20;

/// Read a JSON-lines file, one `T` per line, naming the file and line of a bad one; lines are
/// bounded by [`MAX_LINE`] and the records by twice [`MAX_ENTRIES`].
fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path, out: &mut Vec<T>) -> Result<(), String> {
    use std::io::{BufRead as _, Read as _};
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = std::io::BufReader::new(f);
    let mut line = String::new();
    for i in 1.. {
        line.clear();
        let n = (&mut r)
            .take(MAX_LINE + 1)
            .read_line(&mut line)
            .map_err(|e| format!("{} line {i}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        if n as u64 > MAX_LINE {
            return Err(format!(
                "{} line {i}: longer than {MAX_LINE} bytes",
                path.display()
            ));
        }
        if line.trim().is_empty() {
            continue;
        }
        if out.len() as u64 >= MAX_ENTRIES * 2 {
            return Err(format!(
                "{}: more than {} records",
                path.display(),
                MAX_ENTRIES * 2
            ));
        }
        out.push(
            serde_json::from_str(line.trim_end())
                .map_err(|e| format!("{} line {i}: {e}", path.display()))?,
        );
    }
    Ok(())
}

/// Slack past the end of the schedule a record's times may reach (a reply after the run).
pub const RECORD_SLACK: Duration = Duration::from_secs(3600);

/// Seconds kept open behind the latest reply while records are merged (a request sent this long
/// before its reply still lands in its own second; older ones in the oldest open second).
const MERGE_WINDOW_US: u64 = 120_000_000;

/// Judge the records in `results` (files `results-*.jsonl`) against the corpus in
/// `corpus_dir`; `max_age`: how long after `signed_at` a replay may start.
pub fn judge(
    corpus_dir: &Path,
    results: &Path,
    max_error_rate: f64,
    max_age: Duration,
) -> Result<LoadReport, String> {
    let plan_path = corpus_dir.join("plan.json");
    let text =
        std::fs::read_to_string(&plan_path).map_err(|e| format!("{}: {e}", plan_path.display()))?;
    if text.len() > 1 << 20 {
        return Err(format!("{}: larger than 1 MiB", plan_path.display()));
    }
    let plan: CorpusPlan =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", plan_path.display()))?;
    if plan.schema_version != CORPUS_SCHEMA_VERSION {
        return Err(format!(
            "{}: schema_version {} (this sigharness reads {CORPUS_SCHEMA_VERSION})",
            plan_path.display(),
            plan.schema_version
        ));
    }
    let secs = |v: f64, what: &str| {
        Duration::try_from_secs_f64(v)
            .map_err(|e| format!("{}: {what} {v}: {e}", plan_path.display()))
    };
    let schedule = Schedule::new(
        plan.rate,
        secs(plan.duration_s, "duration_s")?,
        secs(plan.ramp_s, "ramp_s")?,
    )
    .map_err(|e| format!("{}: {e}", plan_path.display()))?;
    let mapping = StatusMapping::parse(&plan.accept, &plan.reject).map_err(|e| e.to_string())?;
    let corpus_path = corpus_dir.join("corpus.jsonl");
    let mut corpus: Vec<Entry> = Vec::new();
    read_lines(&corpus_path, &mut corpus)?;
    if corpus.len() as u64 != plan.entries {
        return Err(format!(
            "{}: {} entries, plan.json says {} (truncated or replaced?)",
            corpus_path.display(),
            corpus.len(),
            plan.entries
        ));
    }
    for (i, e) in corpus.iter().enumerate() {
        if e.seq != i as u64 || e.kind >= plan.kinds.len() || e.steps.is_empty() {
            return Err(format!(
                "{} line {}: entry seq {} kind {} ({} steps) does not fit plan.json",
                corpus_path.display(),
                i + 1,
                e.seq,
                e.kind,
                e.steps.len()
            ));
        }
    }
    let mut files: Vec<_> = std::fs::read_dir(results)
        .map_err(|e| format!("--results {}: {e}", results.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("results-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "--results {}: no results-*.jsonl file (did the workers run?)",
            results.display()
        ));
    }
    let horizon = (schedule.duration() + RECORD_SLACK).as_micros() as u64;
    let mut records: Vec<Record> = Vec::new();
    for p in &files {
        let before = records.len();
        read_lines(p, &mut records)?;
        for (i, r) in records[before..].iter().enumerate() {
            let bad = if r.run_id != plan.run_id {
                Some(format!(
                    "a record of another corpus (run_id {:?}; this corpus is {:?})",
                    r.run_id, plan.run_id
                ))
            } else if r.sent_us > horizon || r.done_us > horizon || r.done_us < r.sent_us {
                Some(format!(
                    "times out of range (sent_us {}, done_us {}; the schedule ends at {} us)",
                    r.sent_us,
                    r.done_us,
                    schedule.duration().as_micros()
                ))
            } else {
                None
            };
            if let Some(why) = bad {
                return Err(format!("{} record {}: {why}", p.display(), i + 1));
            }
        }
    }
    let started = records
        .iter()
        .map(|r| r.wall_start)
        .filter(|w| *w > 0.0)
        .fold(f64::INFINITY, f64::min);
    if started.is_finite() && started - plan.signed_at as f64 > max_age.as_secs_f64() {
        return Err(format!(
            "the replay started {:.0} s after the corpus was signed (more than --max-corpus-age {} s): \
             its rows are time-dependent (created, expires), so they no longer mean what the corpus says; \
             prepare it again",
            started - plan.signed_at as f64,
            max_age.as_secs()
        ));
    }
    let mut by_seq: BTreeMap<u64, Vec<Record>> = BTreeMap::new();
    for r in records {
        by_seq.entry(r.seq).or_default().push(r);
    }
    let start = Instant::now();
    let mut kinds = plan.kinds.clone();
    let stray = kinds.len();
    kinds.push((
        "stray-record".into(),
        "every record names an arrival of the corpus".into(),
    ));
    let mut rec = Recorder::new(start, &kinds);
    let mut workers = std::collections::BTreeSet::new();
    let at = |us: u64| start + Duration::from_micros(us);
    // Merge in the order replies came, closing the seconds left behind.
    let mut matched: Vec<(&Entry, Vec<Record>)> = Vec::new();
    let mut unsent = 0;
    for e in &corpus {
        rec.scheduled(at(e.due_us));
        match by_seq.remove(&e.seq) {
            Some(rs) => matched.push((e, rs)),
            None => unsent += 1,
        }
    }
    matched.sort_by_key(|(_, rs)| rs[0].done_us);
    for (e, rs) in &matched {
        let r = &rs[0];
        rec.tick(at(r.done_us.saturating_sub(MERGE_WINDOW_US)));
        if let Some(w) = &r.worker {
            workers.insert(w.clone());
        }
        // Due from the corpus, not from the record: a replayer cannot move it.
        let due = e.due_us;
        rec.sent(e.kind, at(due), at(r.sent_us.max(due)), false);
        let mut outcome = judge_record(&mapping, e, r);
        if rs.len() > 1 {
            outcome = Outcome::Error {
                kind: "replayed by more than one worker (a corpus entry is sent once)".into(),
            };
        }
        if let (Outcome::Wrong { .. }, true) = (&outcome, rec.wants_detail(e.kind)) {
            outcome = with_detail(outcome, e);
        }
        rec.outcome(e.seq, e.kind, at(due), at(r.done_us.max(due)), outcome);
    }
    rec.unsent(unsent);
    for (seq, _) in by_seq {
        rec.finding(
            stray,
            seq,
            format!("a record for arrival {seq}, which the corpus does not hold"),
        );
    }
    let recording = rec.finish().with_schedule(&schedule);
    let (limited, note) = super::generator_verdict(
        plan.rate,
        recording.totals.achieved_per_s,
        recording.lateness_p99_us,
        None,
    );
    // The replayer's lateness includes waiting for a free user: say so.
    let note = note.replace(
        "while slots were free: the generator could not keep the schedule",
        "(the replayer had no free user, or could not keep the schedule: add users or workers)",
    );
    let note = format!(
        "replayed by {} worker(s) ({} result files); {note}",
        workers.len().max(1),
        files.len()
    );
    let (passed, verdict) = super::verdict(&recording, max_error_rate);
    let (cpu, cores) = crate::bench::report::machine();
    Ok(LoadReport {
        schema_version: LOAD_SCHEMA_VERSION,
        tool: format!("sigharness {}", env!("CARGO_PKG_VERSION")),
        protocol: plan.protocol.clone(),
        target: plan.target.clone(),
        cpu,
        cores: cores as u64,
        plan: LoadPlan {
            rate: plan.rate,
            duration_s: plan.duration_s,
            ramp_s: plan.ramp_s,
            concurrency: 0,
            timeout_ms: 0,
            mix: plan.mix.clone(),
        },
        calibration: None,
        generator_limited: limited,
        generator_note: note,
        generator_lateness_p99_us: recording.lateness_p99_us,
        totals: recording.totals,
        latency_us: recording.latency,
        kinds: recording.kinds,
        seconds: recording.seconds,
        wrong: recording.wrong,
        passed,
        verdict,
    })
}

fn judge_record(mapping: &StatusMapping, e: &Entry, r: &Record) -> Outcome {
    for (i, step) in e.steps.iter().enumerate() {
        let Some(&status) = r.statuses.get(i) else {
            return Outcome::Error {
                kind: r
                    .error
                    .as_deref()
                    .map(short_error)
                    .unwrap_or_else(|| "no status recorded".into()),
            };
        };
        let got = mapping.decide(status);
        let right = match step.expect.as_str() {
            "accepted" => got == Decision::Accepted,
            "either" => got != Decision::Unclear,
            _ => got == Decision::Rejected,
        };
        if right {
            continue;
        }
        if got == Decision::Unclear && (status >= 500 || status == 429) {
            return Outcome::Error {
                kind: format!("HTTP {status}"),
            };
        }
        return Outcome::Wrong {
            summary: format!(
                "step {} of {}: HTTP {status} ({got:?}); required {}",
                i + 1,
                e.steps.len(),
                step.expect
            ),
            detail: vec![],
        };
    }
    Outcome::Right
}

fn with_detail(o: Outcome, e: &Entry) -> Outcome {
    let Outcome::Wrong { summary, .. } = o else {
        return o;
    };
    let detail = e
        .steps
        .iter()
        .map(|s| {
            let mut t = format!("{} {} HTTP/1.1\n", s.method, s.target);
            for (n, v) in &s.headers {
                t.push_str(&format!("{n}: {v}\n"));
            }
            format!("request sent ({}):\n{t}", s.expect)
        })
        .collect();
    Outcome::Wrong { summary, detail }
}

/// The kind of a worker's error text: its first words (a Locust/requests exception name).
fn short_error(e: &str) -> String {
    let head: String = e.chars().take(60).collect();
    head.split(':').next().unwrap_or(&head).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> CorpusPlan {
        CorpusPlan {
            schema_version: CORPUS_SCHEMA_VERSION,
            protocol: "http-sig-verifier".into(),
            target: "http://127.0.0.1:1".into(),
            rate: 10.0,
            duration_s: 1.0,
            ramp_s: 0.0,
            entries: 0,
            accept: "2xx".into(),
            reject: "401,403".into(),
            kinds: vec![
                ("valid-accepted".into(), "is accepted".into()),
                ("expired-rejected".into(), "is rejected".into()),
            ],
            mix: BTreeMap::new(),
            signed_at: 0,
            run_id: "r1".into(),
        }
    }

    fn step(expect: &str) -> Step {
        Step {
            method: "GET".into(),
            target: "/".into(),
            headers: vec![],
            body_b64: String::new(),
            expect: expect.into(),
        }
    }

    fn rec(seq: u64, statuses: &[u16]) -> Record {
        Record {
            seq,
            statuses: statuses.to_vec(),
            error: None,
            due_us: seq * 100_000,
            sent_us: seq * 100_000 + 50,
            done_us: seq * 100_000 + 1_000,
            worker: Some(format!("w{}", seq % 2)),
            run_id: "r1".into(),
            wall_start: 0.0,
        }
    }

    /// The judge reads the corpus and two workers' records: right, wrong, missing, duplicated.
    #[tokio::test]
    async fn judge_merges_workers_and_judges_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let sched = Schedule::new(10.0, Duration::from_secs(1), Duration::ZERO).unwrap();
        let n = write(dir.path(), &plan(), &sched, |seq| {
            Ok(Entry {
                seq,
                kind: (seq % 2) as usize,
                due_us: 0,
                steps: vec![step(if seq % 2 == 0 { "accepted" } else { "rejected" })],
            })
        })
        .unwrap();
        assert_eq!(n, 10);
        let res = dir.path().join("results");
        std::fs::create_dir_all(&res).unwrap();
        let line = |r: &Record| serde_json::to_string(r).unwrap() + "\n";
        // worker 0: even seqs, all right; worker 1: odd seqs, seq 3 accepted (wrong), seq 9 missing
        let w0: String = (0..10).step_by(2).map(|s| line(&rec(s, &[200]))).collect();
        let w1: String = [1u64, 3, 5, 7]
            .iter()
            .map(|s| line(&rec(*s, &[if *s == 3 { 200 } else { 401 }])))
            .collect();
        std::fs::write(res.join("results-w0.jsonl"), w0).unwrap();
        std::fs::write(res.join("results-w1.jsonl"), w1).unwrap();
        let r = judge(dir.path(), &res, 0.0, Duration::from_secs(600)).unwrap();
        assert_eq!(r.totals.scheduled, 10);
        assert_eq!(r.totals.sent, 9);
        assert_eq!(r.totals.unsent, 1);
        assert_eq!(r.totals.ok, 8);
        assert_eq!(r.totals.wrong, 1);
        assert_eq!(r.kinds[1].wrong, 1);
        assert_eq!(r.latency_us.count, 9);
        assert_eq!(r.latency_us.max, 1000);
        assert!(!r.passed);
        assert!(
            r.wrong[0]
                .summary
                .contains("HTTP 200 (Accepted); required rejected")
        );
        assert!(
            r.generator_note.contains("2 worker(s)"),
            "{}",
            r.generator_note
        );
        // a record of another corpus is refused, naming the file and record
        let mut other = rec(1, &[401]);
        other.run_id = "stale".into();
        std::fs::write(res.join("results-w2.jsonl"), line(&other)).unwrap();
        let e = judge(dir.path(), &res, 0.0, Duration::from_secs(600)).unwrap_err();
        assert!(
            e.contains("results-w2.jsonl record 1: a record of another corpus"),
            "{e}"
        );
        // a replay long after signing is refused
        let mut late = rec(1, &[401]);
        late.wall_start = 10_000.0;
        std::fs::write(res.join("results-w2.jsonl"), line(&late)).unwrap();
        let e = judge(dir.path(), &res, 0.0, Duration::from_secs(600)).unwrap_err();
        assert!(
            e.contains("started 10000 s after the corpus was signed"),
            "{e}"
        );
        // times out of range
        let mut far = rec(1, &[401]);
        far.done_us = u64::MAX;
        std::fs::write(res.join("results-w2.jsonl"), line(&far)).unwrap();
        let e = judge(dir.path(), &res, 0.0, Duration::from_secs(600)).unwrap_err();
        assert!(e.contains("times out of range"), "{e}");
    }

    #[test]
    fn a_bad_record_is_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(
            &p,
            "{\"seq\": 1, \"due_us\": 0, \"sent_us\": 0, \"done_us\": 0}\nnot json\n",
        )
        .unwrap();
        let mut out: Vec<Record> = Vec::new();
        let e = read_lines(&p, &mut out).unwrap_err();
        assert!(
            e.ends_with(&format!(
                "{} line 2: expected ident at line 1 column 2",
                p.display()
            )),
            "{e}"
        );
        let long = dir.path().join("long.jsonl");
        std::fs::write(&long, vec![b'x'; MAX_LINE as usize + 10]).unwrap();
        let e = read_lines::<Record>(&long, &mut Vec::new()).unwrap_err();
        assert!(e.ends_with("line 1: longer than 1048576 bytes"), "{e}");
    }
}
