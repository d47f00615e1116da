//! The case registry and runner.
//!
//! A [`Suite`] owns its cases and its target (the implementation under test). The runner selects
//! cases (`--suite`, `--case GLOB`), asks each suite to run them, and turns the resulting
//! [`Event`] stream into every output at once (terminal, `report.json`, `junit.xml`,
//! `summary.md`), as cargo-nextest does: one event stream, several consumers.
//!
//! Most suites hold a list of [`Case<C>`] over a context `C` (the prepared target) and delegate to
//! [`run_cases`], which bounds each case in time and turns a panicking case (or a panicking
//! implementation under test) into a failure with evidence instead of a crashed run.

pub mod options;
pub mod report;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};
use sigharness_report::{CaseMeta, CaseReport, Evidence, Verdict};
use tokio::sync::mpsc;

pub use options::SuiteOptions;
pub use sigharness_report::{Level, SpecRef};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The outcome of running one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass(Evidence),
    Fail(Evidence),
    Skip(String),
}

impl Outcome {
    pub fn pass() -> Self {
        Outcome::Pass(Evidence::new("as required"))
    }
    pub fn pass_with(evidence: Evidence) -> Self {
        Outcome::Pass(evidence)
    }
    pub fn fail(evidence: Evidence) -> Self {
        Outcome::Fail(evidence)
    }
    pub fn skip(reason: impl Into<String>) -> Self {
        Outcome::Skip(reason.into())
    }
    pub fn verdict(&self) -> Verdict {
        match self {
            Outcome::Pass(_) => Verdict::Pass,
            Outcome::Fail(_) => Verdict::Fail,
            Outcome::Skip(_) => Verdict::Skip,
        }
    }
    pub fn into_parts(self) -> (Verdict, Evidence) {
        match self {
            Outcome::Pass(e) => (Verdict::Pass, e),
            Outcome::Fail(e) => (Verdict::Fail, e),
            Outcome::Skip(r) => (Verdict::Skip, Evidence::new(r)),
        }
    }
}

/// Why a run could not proceed (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

impl SetupError {
    pub fn new(msg: impl Into<String>) -> Self {
        SetupError(msg.into())
    }
}

/// Events of a run, in order. Every reporter consumes the same stream.
#[derive(Clone, Debug)]
pub enum Event {
    SuiteStarted {
        suite: String,
        target: String,
        cases: usize,
    },
    CaseStarted(CaseMeta),
    CaseFinished(CaseReport),
    SuiteFinished {
        suite: String,
    },
}

/// Where suites send their events.
#[derive(Clone)]
pub struct Events(mpsc::UnboundedSender<Event>);

impl Events {
    pub fn channel() -> (Events, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Events(tx), rx)
    }
    pub fn send(&self, event: Event) {
        // The receiver lives for the whole run; if it is gone the run is being torn down.
        let _ = self.0.send(event);
    }
    /// Report a case that was not run (e.g. not applicable to this target).
    pub fn skipped(&self, meta: &CaseMeta, reason: impl Into<String>) {
        self.send(Event::CaseStarted(meta.clone()));
        self.send(Event::CaseFinished(CaseReport::new(
            meta,
            Verdict::Skip,
            Evidence::new(reason),
            0.0,
        )));
    }
}

/// Which cases to run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    globs: Option<GlobSet>,
}

impl Selection {
    /// Cases whose id matches any of `patterns` (shell globs: `*` also crosses `/`).
    /// An empty list selects everything.
    pub fn new(patterns: &[String]) -> Result<Self, SetupError> {
        if patterns.is_empty() {
            return Ok(Selection { globs: None });
        }
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let g = Glob::new(p)
                .map_err(|e| SetupError::new(format!("--case {p:?} is not a valid glob: {e}")))?;
            b.add(g);
        }
        let set = b
            .build()
            .map_err(|e| SetupError::new(format!("--case globs: {e}")))?;
        Ok(Selection { globs: Some(set) })
    }

    pub fn includes(&self, id: &str) -> bool {
        self.globs.as_ref().is_none_or(|g| g.is_match(id))
    }
}

/// A conformance suite: a named list of cases and a way to run them against a target.
pub trait Suite: Send + Sync {
    /// Suite name, as given to `--suite` (`http-sig`, `mq-hub`, ...).
    fn name(&self) -> &'static str;
    /// One line for `--list` and help.
    fn about(&self) -> &'static str;
    /// Target names this suite knows; the first is the default.
    fn targets(&self) -> Vec<&'static str>;
    /// Every case of the suite, without contacting any target.
    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>, SetupError>;
    /// Prepare the target named in `opts` and run the selected cases, sending one
    /// `SuiteStarted`, then `CaseStarted`/`CaseFinished` per selected case, then `SuiteFinished`.
    /// Returns `Err` only when the run cannot proceed at all (exit code 2).
    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), SetupError>>;
}

type CaseFn<C> = dyn Fn(Arc<C>) -> BoxFuture<'static, Outcome> + Send + Sync;

/// One case over a suite context `C`.
pub struct Case<C> {
    pub meta: CaseMeta,
    run: Arc<CaseFn<C>>,
}

impl<C> Clone for Case<C> {
    fn clone(&self) -> Self {
        Case {
            meta: self.meta.clone(),
            run: self.run.clone(),
        }
    }
}

impl<C: Send + Sync + 'static> Case<C> {
    /// An asynchronous case.
    pub fn new<F, Fut>(meta: CaseMeta, f: F) -> Self
    where
        F: Fn(Arc<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        Case {
            meta,
            run: Arc::new(move |c| Box::pin(f(c))),
        }
    }

    /// A synchronous case (runs on a blocking thread so that a slow implementation cannot stall
    /// the runtime).
    pub fn sync<F>(meta: CaseMeta, f: F) -> Self
    where
        F: Fn(&C) -> Outcome + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        Case {
            meta,
            run: Arc::new(move |c| {
                let f = f.clone();
                Box::pin(async move {
                    match tokio::task::spawn_blocking(move || f(&c)).await {
                        Ok(o) => o,
                        Err(e) => panic_outcome(e),
                    }
                })
            }),
        }
    }
}

/// Builder shorthand for [`CaseMeta`].
pub fn meta(
    suite: &str,
    id: impl Into<String>,
    spec: SpecRef,
    level: Level,
    description: impl Into<String>,
    requirement: impl Into<String>,
) -> CaseMeta {
    CaseMeta {
        id: id.into(),
        suite: suite.to_string(),
        spec,
        level,
        profiles: Vec::new(),
        description: description.into(),
        requirement: requirement.into(),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

fn panic_outcome(e: tokio::task::JoinError) -> Outcome {
    if e.is_panic() {
        let msg = panic_message(&*e.into_panic());
        Outcome::fail(
            Evidence::new("the implementation under test (or the case) panicked")
                .expected("a result or a typed error")
                .observed(format!("panic: {msg}")),
        )
    } else {
        Outcome::fail(Evidence::new("the case was cancelled"))
    }
}

/// Run `cases` (those the selection includes, in order) against `ctx`, each bounded by
/// `per_case_timeout`, sending events. A case that times out or panics fails with evidence.
pub async fn run_cases<C: Send + Sync + 'static>(
    ctx: Arc<C>,
    cases: &[Case<C>],
    selection: &Selection,
    events: &Events,
    per_case_timeout: Duration,
) {
    run_cases_concurrently(ctx, cases, selection, events, per_case_timeout, 1).await
}

/// [`run_cases`] with up to `jobs` cases in flight at once, for cases that are independent
/// of each other and spend their time waiting (e.g. real-time retry windows through an
/// external broker). Each case keeps its own time bound, measured from its own start; events
/// are still reported in case order (a case's start and finish together, once it is done).
pub async fn run_cases_concurrently<C: Send + Sync + 'static>(
    ctx: Arc<C>,
    cases: &[Case<C>],
    selection: &Selection,
    events: &Events,
    per_case_timeout: Duration,
    jobs: usize,
) {
    let jobs = jobs.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut running = Vec::new();
    for case in cases.iter().filter(|c| selection.includes(&c.meta.id)) {
        if jobs == 1 {
            events.send(Event::CaseStarted(case.meta.clone()));
        }
        let fut = (case.run)(ctx.clone());
        let permits = permits.clone();
        let handle = tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let started = Instant::now();
            let mut task = tokio::spawn(fut);
            let outcome = match tokio::time::timeout(per_case_timeout, &mut task).await {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => panic_outcome(e),
                Err(_) => {
                    task.abort();
                    Outcome::fail(
                        Evidence::new(format!(
                            "no outcome within {per_case_timeout:?}: the target did not answer"
                        ))
                        .expected("an outcome within the case's time bound"),
                    )
                }
            };
            (outcome, started.elapsed())
        });
        if jobs == 1 {
            let done = handle.await;
            finish(events, &case.meta, done);
        } else {
            running.push((case, handle));
        }
    }
    for (case, handle) in running {
        events.send(Event::CaseStarted(case.meta.clone()));
        let done = handle.await;
        finish(events, &case.meta, done);
    }
}

fn finish(
    events: &Events,
    meta: &CaseMeta,
    done: Result<(Outcome, Duration), tokio::task::JoinError>,
) {
    let (outcome, took) = match done {
        Ok(d) => d,
        Err(e) => (panic_outcome(e), Duration::ZERO),
    };
    let (verdict, evidence) = outcome.into_parts();
    let ms = took.as_secs_f64() * 1000.0;
    events.send(Event::CaseFinished(CaseReport::new(
        meta, verdict, evidence, ms,
    )));
}

/// Check that case ids are unique and well-formed; suites call this in their tests.
pub fn check_ids(cases: &[CaseMeta]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for c in cases {
        if !c.id.starts_with(&format!("{}/", c.suite)) {
            return Err(format!("case id {:?} must start with its suite name", c.id));
        }
        if c.id.chars().any(|ch| ch.is_whitespace()) {
            return Err(format!("case id {:?} contains whitespace", c.id));
        }
        if !seen.insert(c.id.as_str()) {
            return Err(format!("duplicate case id {:?}", c.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str) -> CaseMeta {
        meta(
            "t",
            format!("t/{id}"),
            SpecRef::new("X", "1"),
            Level::Must,
            "d",
            "r",
        )
    }

    async fn verdicts(cases: Vec<Case<()>>, timeout: Duration) -> Vec<(Verdict, Option<String>)> {
        let (ev, mut rx) = Events::channel();
        run_cases(Arc::new(()), &cases, &Selection::default(), &ev, timeout).await;
        drop(ev);
        let mut out = vec![];
        while let Some(e) = rx.recv().await {
            if let Event::CaseFinished(r) = e {
                out.push((r.verdict, r.evidence.observed));
            }
        }
        out
    }

    #[tokio::test]
    async fn panics_become_failures_and_skips_stay_skips() {
        let cases: Vec<Case<()>> = vec![
            Case::sync(m("ok"), |_| Outcome::pass()),
            Case::sync(m("panics"), |_| panic!("boom")),
            Case::new(m("panics-async"), |_| async { panic!("async boom") }),
            Case::sync(m("skipped"), |_| Outcome::skip("n/a")),
        ];
        // A generous bound: this test is about panics, not time.
        let v = verdicts(cases, Duration::from_secs(60)).await;
        assert_eq!(v[0].0, Verdict::Pass);
        assert_eq!(v[1], (Verdict::Fail, Some("panic: boom".into())));
        assert_eq!(v[2], (Verdict::Fail, Some("panic: async boom".into())));
        assert_eq!(v[3].0, Verdict::Skip);
    }

    #[tokio::test(start_paused = true)]
    async fn a_case_that_never_ends_fails_at_its_bound() {
        // Virtual time: the 30 s bound elapses instantly once the runtime is idle.
        let cases: Vec<Case<()>> = vec![Case::new(m("hangs"), |_| async {
            std::future::pending::<()>().await;
            Outcome::pass()
        })];
        let started = tokio::time::Instant::now();
        let v = verdicts(cases, Duration::from_secs(30)).await;
        assert_eq!(v[0].0, Verdict::Fail);
        assert!(started.elapsed() >= Duration::from_secs(30));
    }

    /// Concurrent cases overlap in (virtual) time, keep their own bounds, and are reported in
    /// case order with each start right before its finish.
    #[tokio::test(start_paused = true)]
    async fn concurrent_cases_overlap_and_report_in_order() {
        let sleeper = |secs: u64| {
            move |_| async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                Outcome::pass()
            }
        };
        let cases: Vec<Case<()>> = vec![
            Case::new(m("slow"), sleeper(20)),
            Case::new(m("fast"), sleeper(5)),
            Case::new(m("hangs"), |_| async {
                std::future::pending::<()>().await;
                Outcome::pass()
            }),
            Case::new(m("queued"), sleeper(10)),
        ];
        let (ev, mut rx) = Events::channel();
        let started = tokio::time::Instant::now();
        run_cases_concurrently(
            Arc::new(()),
            &cases,
            &Selection::default(),
            &ev,
            Duration::from_secs(30),
            3,
        )
        .await;
        // 3 at once: slow, fast and hangs start at 0; queued takes fast's place at 5 and ends
        // at 15; hangs fails at its own bound (30), which ends the run (one after the other:
        // 65 s).
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        drop(ev);
        let mut seen = vec![];
        while let Some(e) = rx.recv().await {
            match e {
                Event::CaseStarted(m) => seen.push(format!("start {}", m.id)),
                // (Durations are wall-clock, ~0 here: the clock is virtual.)
                Event::CaseFinished(r) => seen.push(format!("end {} {:?}", r.id, r.verdict)),
                _ => {}
            }
        }
        assert_eq!(
            seen,
            [
                "start t/slow",
                "end t/slow Pass",
                "start t/fast",
                "end t/fast Pass",
                "start t/hangs",
                "end t/hangs Fail",
                "start t/queued",
                "end t/queued Pass",
            ]
        );
    }

    #[test]
    fn selection_globs_cross_slashes() {
        let s = Selection::new(&["http-sig/rfc9421/*".into()]).unwrap();
        assert!(s.includes("http-sig/rfc9421/2.2.1/x"));
        assert!(!s.includes("mq-hub/x"));
        assert!(Selection::new(&["[".into()]).is_err());
    }

    #[test]
    fn duplicate_ids_are_caught() {
        assert!(check_ids(&[m("a"), m("b")]).is_ok());
        assert!(check_ids(&[m("a"), m("a")]).is_err());
    }
}
