//! The case registry and runner.
//!
//! A [`Suite`] owns its cases and its target (the implementation under test). The runner selects
//! cases (`--suite`, `--case GLOB`), asks each suite to run them, and turns the resulting
//! [`Event`] stream into every output at once (terminal, `report.json`, `junit.xml`,
//! `summary.md`), as cargo-nextest does: one event stream, several consumers.
//!
//! Every suite holds lists of [`Case<C>`] over a context `C` (the prepared target): a case's data
//! ([`CaseMeta`]) beside one `run` returning a [`Check`]. A [`SuiteRun`] brackets the suite's
//! events and runs the cases, bounding each in time and turning a panicking case (or a panicking
//! implementation under test) into a failure with evidence instead of a crashed run.

pub mod check;
pub mod expect;
pub mod options;
pub mod report;
pub mod settings;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};
use sigharness_report::{CaseMeta, CaseReport, Evidence, Verdict};
use tokio::sync::mpsc;

pub use crate::Error;
pub use check::{Check, Stop};
pub use options::SuiteOptions;
pub use settings::{Kind, Setting};
pub use sigharness_report::{Level, SpecRef};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    pub fn new(patterns: &[String]) -> Result<Self, Error> {
        if patterns.is_empty() {
            return Ok(Selection { globs: None });
        }
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let g = Glob::new(p)
                .map_err(|e| Error::setup(format!("--case {p:?} is not a valid glob: {e}")))?;
            b.add(g);
        }
        let set = b
            .build()
            .map_err(|e| Error::setup(format!("--case globs: {e}")))?;
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
    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>, Error>;
    /// The `--set` keys this suite reads (checked before any suite runs).
    fn settings(&self) -> &'static [Setting] {
        &[]
    }
    /// Prepare the target named in `opts` and run the selected cases, sending one
    /// `SuiteStarted`, then `CaseStarted`/`CaseFinished` per selected case, then `SuiteFinished`
    /// (a [`SuiteRun`] does all three).
    /// Returns `Err` only when the run cannot proceed at all (exit code 2).
    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), Error>>;
}

type CaseFn<C> = dyn Fn(Arc<C>) -> BoxFuture<'static, Check> + Send + Sync;

/// One case over a suite context `C` (the prepared target): its data ([`CaseMeta`]: id, spec
/// document and section, level, profiles, stimulus, quoted requirement) beside the one `run`
/// that judges it and returns a [`Check`].
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
        Fut: Future<Output = Check> + Send + 'static,
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
        F: Fn(&C) -> Check + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        Case {
            meta,
            run: Arc::new(move |c| {
                let f = f.clone();
                Box::pin(async move {
                    match tokio::task::spawn_blocking(move || f(&c)).await {
                        Ok(o) => o,
                        Err(e) => panic_check(e),
                    }
                })
            }),
        }
    }

    /// The profiles this case applies to (empty = every profile).
    pub fn profiles<I, S>(mut self, profiles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.meta.profiles = profiles.into_iter().map(Into::into).collect();
        self
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
        statements: Vec::new(),
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

fn panic_check(e: tokio::task::JoinError) -> Check {
    if e.is_panic() {
        let msg = panic_message(&*e.into_panic());
        Err(Stop::Fail(
            Evidence::new("the implementation under test (or the case) panicked")
                .expected("a result or a typed error")
                .observed(format!("panic: {msg}")),
        ))
    } else {
        Err(Stop::Fail(Evidence::new("the case was cancelled")))
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
/// external broker). Each case keeps its own time bound, measured from its own start.
/// `CaseStarted` is sent when a case really starts; `CaseFinished` events come in case order, so
/// the report's order does not depend on timing.
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
        let fut = (case.run)(ctx.clone());
        let permits = permits.clone();
        let started_event = events.clone();
        let meta = case.meta.clone();
        let handle = tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            started_event.send(Event::CaseStarted(meta));
            let started = Instant::now();
            let mut task = tokio::spawn(fut);
            let check = match tokio::time::timeout(per_case_timeout, &mut task).await {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => panic_check(e),
                Err(_) => {
                    task.abort();
                    Err(Stop::Fail(
                        Evidence::new(format!(
                            "no outcome within {per_case_timeout:?}: the target did not answer"
                        ))
                        .expected("an outcome within the case's time bound"),
                    ))
                }
            };
            (check, started.elapsed())
        });
        if jobs == 1 {
            let done = handle.await;
            finish(events, &case.meta, done);
        } else {
            running.push((case, handle));
        }
    }
    for (case, handle) in running {
        let done = handle.await;
        finish(events, &case.meta, done);
    }
}

fn finish(
    events: &Events,
    meta: &CaseMeta,
    done: Result<(Check, Duration), tokio::task::JoinError>,
) {
    let (check, took) = match done {
        Ok(d) => d,
        Err(e) => (panic_check(e), Duration::ZERO),
    };
    let (verdict, evidence) = check::into_parts(check);
    let ms = took.as_secs_f64() * 1000.0;
    events.send(Event::CaseFinished(CaseReport::new(
        meta, verdict, evidence, ms,
    )));
}

/// One suite's run: sends `SuiteStarted` (with the number of selected cases) when made and
/// `SuiteFinished` exactly once (by [`SuiteRun::finish`], or when dropped on an early return),
/// and runs or skips lists of cases in between. Every suite's `Suite::run` is built on it.
/// Run every case of `suite` under `opts` in-process and return the reports, within `bound`
/// (for tests and embedders that want the verdicts rather than a report file).
pub async fn run_and_collect(
    suite: &dyn Suite,
    opts: &SuiteOptions,
    bound: Duration,
) -> crate::Result<Vec<CaseReport>> {
    let (events, mut rx) = Events::channel();
    let selection = Selection::default();
    let run = async {
        let r = suite.run(opts, &selection, &events).await;
        drop(events);
        r
    };
    let collect = async {
        let mut out = Vec::new();
        while let Some(e) = rx.recv().await {
            if let Event::CaseFinished(r) = e {
                out.push(r);
            }
        }
        out
    };
    let (r, out) = tokio::time::timeout(bound, async { tokio::join!(run, collect) })
        .await
        .map_err(|_| {
            Error::setup(format!(
                "suite {} did not finish within {bound:?}",
                suite.name()
            ))
        })?;
    r.map(|()| out)
}

pub struct SuiteRun<'a> {
    suite: &'static str,
    events: &'a Events,
    selection: &'a Selection,
    case_timeout: Duration,
    finished: bool,
}

impl<'a> SuiteRun<'a> {
    /// Start the run of `suite` against `target` (as the report should name it); `selected` is
    /// the number of cases that will be reported (see [`SuiteRun::count`]).
    pub fn start(
        suite: &'static str,
        target: impl Into<String>,
        selected: usize,
        opts: &SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> Self {
        events.send(Event::SuiteStarted {
            suite: suite.into(),
            target: target.into(),
            cases: selected,
        });
        SuiteRun {
            suite,
            events,
            selection,
            case_timeout: opts.case_timeout,
            finished: false,
        }
    }

    /// The whole run of a suite whose cases share one context: start, run the selected `cases`
    /// against `ctx` one after the other, finish.
    pub async fn run_whole<C: Send + Sync + 'static>(
        suite: &'static str,
        target: impl Into<String>,
        ctx: Arc<C>,
        cases: &[Case<C>],
        opts: &SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) {
        let run = Self::start(
            suite,
            target,
            Self::count(selection, cases),
            opts,
            selection,
            events,
        );
        run.run(ctx, cases).await;
        run.finish();
    }

    /// How many of `cases` the selection includes.
    pub fn count<C>(selection: &Selection, cases: &[Case<C>]) -> usize {
        cases
            .iter()
            .filter(|c| selection.includes(&c.meta.id))
            .count()
    }

    /// Whether any of `cases` is selected (so that a target need not be prepared for none).
    pub fn any<C>(&self, cases: &[Case<C>]) -> bool {
        cases.iter().any(|c| self.selection.includes(&c.meta.id))
    }

    pub fn selection(&self) -> &Selection {
        self.selection
    }

    pub fn events(&self) -> &Events {
        self.events
    }

    /// Run the selected `cases` against `ctx`, one after the other.
    pub async fn run<C: Send + Sync + 'static>(&self, ctx: Arc<C>, cases: &[Case<C>]) {
        self.run_concurrently(ctx, cases, 1).await
    }

    /// Run the selected `cases` against `ctx`, up to `jobs` at once.
    pub async fn run_concurrently<C: Send + Sync + 'static>(
        &self,
        ctx: Arc<C>,
        cases: &[Case<C>],
        jobs: usize,
    ) {
        self.run_concurrently_bounded(ctx, cases, jobs, self.case_timeout)
            .await
    }

    /// [`SuiteRun::run_concurrently`] with another per-case bound than `--case-timeout`, for
    /// cases that need longer (e.g. retry windows that pass in real time).
    pub async fn run_concurrently_bounded<C: Send + Sync + 'static>(
        &self,
        ctx: Arc<C>,
        cases: &[Case<C>],
        jobs: usize,
        case_timeout: Duration,
    ) {
        run_cases_concurrently(ctx, cases, self.selection, self.events, case_timeout, jobs).await
    }

    /// Report every selected case of `cases` as skipped with `reason` (not run).
    pub fn skip<C>(&self, cases: &[Case<C>], reason: &str) {
        for c in cases.iter().filter(|c| self.selection.includes(&c.meta.id)) {
            self.events.skipped(&c.meta, reason);
        }
    }

    /// Send `SuiteFinished`.
    pub fn finish(mut self) {
        self.send_finished();
    }

    fn send_finished(&mut self) {
        if !self.finished {
            self.finished = true;
            self.events.send(Event::SuiteFinished {
                suite: self.suite.into(),
            });
        }
    }
}

impl Drop for SuiteRun<'_> {
    fn drop(&mut self) {
        self.send_finished();
    }
}

/// Before judging an external target at `url` (given as `option`, e.g. `--mq-hub-url`): can a
/// TCP connection be opened to it (5 s bound)? An unreachable target is a setup error (exit 2,
/// one line), not dozens of failed cases that would blame the implementation.
pub async fn ensure_reachable(option: &str, url: &str) -> Result<(), Error> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::setup(format!("{option} {url}: not a URL ({e})")))?;
    // AMQP's IANA ports (OASIS AMQP 1.0 part 2 §2.2: 5672, and 5671 for amqps) are not known
    // to the URL crate.
    let port = parsed.port_or_known_default().or(match parsed.scheme() {
        "amqp" => Some(5672),
        "amqps" => Some(5671),
        _ => None,
    });
    let (Some(host), Some(port)) = (parsed.host_str(), port) else {
        return Err(Error::setup(format!(
            "{option} {url}: needs a host and a port"
        )));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let bound = Duration::from_secs(5);
    match tokio::time::timeout(bound, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::setup(format!(
            "{option} {url}: cannot connect ({e}): is the target running?"
        ))),
        Err(_) => Err(Error::setup(format!(
            "{option} {url}: no TCP connection within {bound:?}: is the target running?"
        ))),
    }
}

/// Check that case ids are unique and well-formed; suites call this in their tests.
pub fn check_ids(cases: &[CaseMeta]) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for c in cases {
        if !c.id.starts_with(&format!("{}/", c.suite)) {
            return Err(Error::setup(format!(
                "case id {:?} must start with its suite name",
                c.id
            )));
        }
        if c.id.chars().any(|ch| ch.is_whitespace()) {
            return Err(Error::setup(format!(
                "case id {:?} contains whitespace",
                c.id
            )));
        }
        if !seen.insert(c.id.as_str()) {
            return Err(Error::setup(format!("duplicate case id {:?}", c.id)));
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

    fn async_boom() -> Check {
        panic!("async boom")
    }

    #[tokio::test]
    async fn panics_become_failures_and_skips_stay_skips() {
        let cases: Vec<Case<()>> = vec![
            Case::sync(m("ok"), |_| check::pass("ok")),
            Case::sync(m("panics"), |_| -> Check { panic!("boom") }),
            Case::new(m("panics-async"), |_| async { async_boom() }),
            Case::sync(m("skipped"), |_| Err(check::skip("n/a"))),
            Case::sync(m("unsupported"), |_| Err(check::unsupported("no ;tr"))),
        ];
        // A generous bound: this test is about panics, not time.
        let v = verdicts(cases, Duration::from_secs(60)).await;
        assert_eq!(v[0].0, Verdict::Pass);
        assert_eq!(v[1], (Verdict::Fail, Some("panic: boom".into())));
        assert_eq!(v[2], (Verdict::Fail, Some("panic: async boom".into())));
        assert_eq!(v[3].0, Verdict::Skip);
        assert_eq!(v[4].0, Verdict::Unsupported);
    }

    #[tokio::test(start_paused = true)]
    async fn a_case_that_never_ends_fails_at_its_bound() {
        // Virtual time: the 30 s bound elapses instantly once the runtime is idle.
        let cases: Vec<Case<()>> = vec![Case::new(m("hangs"), |_| async {
            std::future::pending::<()>().await;
            check::pass("ok")
        })];
        let started = tokio::time::Instant::now();
        let v = verdicts(cases, Duration::from_secs(30)).await;
        assert_eq!(v[0].0, Verdict::Fail);
        assert!(started.elapsed() >= Duration::from_secs(30));
    }

    /// Concurrent cases overlap in (virtual) time and keep their own bounds; each start is
    /// reported when the case starts, and the finishes come in case order.
    #[tokio::test(start_paused = true)]
    async fn concurrent_cases_overlap_and_report_in_order() {
        let sleeper = |secs: u64| {
            move |_| async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                check::pass("ok")
            }
        };
        let cases: Vec<Case<()>> = vec![
            Case::new(m("slow"), sleeper(20)),
            Case::new(m("fast"), sleeper(5)),
            Case::new(m("hangs"), |_| async {
                std::future::pending::<()>().await;
                check::pass("ok")
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
                "start t/fast",
                "start t/hangs",
                "start t/queued",
                "end t/slow Pass",
                "end t/fast Pass",
                "end t/hangs Fail",
                "end t/queued Pass",
            ]
        );
    }

    /// A suite run sends `SuiteStarted` once and `SuiteFinished` once, also on an early return.
    #[tokio::test]
    async fn a_suite_run_brackets_its_cases_once() {
        let (ev, mut rx) = Events::channel();
        let sel = Selection::new(&["t/a".into()]).unwrap();
        let cases: Vec<Case<()>> = vec![
            Case::sync(m("a"), |_| check::pass("ok")),
            Case::sync(m("b"), |_| check::pass("ok")),
        ];
        {
            let opts = SuiteOptions::default();
            let run = SuiteRun::start("t", "ours", SuiteRun::count(&sel, &cases), &opts, &sel, &ev);
            run.run(Arc::new(()), &cases).await;
            run.skip(&cases, "again");
            // dropped without finish(): as on an early `?` return
        }
        drop(ev);
        let mut seen = vec![];
        while let Some(e) = rx.recv().await {
            seen.push(match e {
                Event::SuiteStarted { cases, .. } => format!("suite {cases}"),
                Event::CaseStarted(m) => format!("start {}", m.id),
                Event::CaseFinished(r) => format!("end {} {}", r.id, r.verdict),
                Event::SuiteFinished { .. } => "finished".into(),
            });
        }
        assert_eq!(
            seen,
            [
                "suite 1",
                "start t/a",
                "end t/a pass",
                "start t/a",
                "end t/a skip",
                "finished"
            ]
        );
    }

    #[tokio::test]
    async fn an_unreachable_target_is_a_setup_error() {
        // A port that was just bound and released: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let e = ensure_reachable("--mq-hub-url", &url)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("--mq-hub-url {url}: cannot connect")),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", live.local_addr().unwrap());
        ensure_reachable("--verifier-url", &url).await.unwrap();
        assert!(
            ensure_reachable("--verifier-url", "nonsense")
                .await
                .is_err()
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
