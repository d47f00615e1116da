//! The load engine: drives a [`Workload`] on an open-loop [`Schedule`] with a bounded number of
//! requests in flight, and records every outcome ([`Recorder`]).
//!
//! Coordinated omission: every arrival is timed from its *intended* send time. When the
//! in-flight cap is full (a slow or stalled target), the arrival waits for a slot and the wait is
//! part of its latency; the arrival is counted as backlogged. Nothing is dropped silently: an
//! arrival that never got a slot by the drain deadline (end of the schedule + the request
//! timeout) is counted as unsent, and a request that outlives its timeout is an error of kind
//! `timeout`.
//!
//! Time comes from `tokio::time`, so the engine runs in virtual time under
//! `tokio::time::pause` (the tests drive stalled and slow targets that way).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use sigharness_report::load::{KindTotals, Latency, Second, Totals, WrongReply};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::schedule::Schedule;
use crate::runner::BoxFuture;

/// How one request ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The reply is what the spec requires.
    Right,
    /// The reply contradicts the spec: `summary` says how; `detail` (request, reply,
    /// expectation) is built only when the engine asks for evidence (`want_detail`).
    Wrong {
        summary: String,
        detail: Vec<String>,
    },
    /// No judgeable reply: `kind` is a short stable name (`timeout`, `connect`, `HTTP 503`, ...).
    Error { kind: String },
}

/// What a load sends and how it judges the replies.
pub trait Workload: Send + Sync + 'static {
    /// The kinds of request of the mix, with the requirement each reply is judged by.
    fn kinds(&self) -> Vec<(String, String)>;
    /// The kind of arrival `seq` (an index into [`Workload::kinds`]).
    fn kind_of(&self, seq: u64) -> usize;
    /// Build, send and judge arrival `seq`. `want_detail`: the engine still keeps evidence of
    /// this kind's wrong replies, so a wrong reply should carry its detail.
    fn call(&self, seq: u64, want_detail: bool) -> BoxFuture<'_, Outcome>;
    /// After every arrival ended: what the workload found wrong that no single reply showed
    /// (a message delivered twice, an acknowledged message never delivered), as
    /// `(kind, seq, summary)`. Default: nothing.
    fn after_drain(&self) -> BoxFuture<'_, Vec<(usize, u64, String)>> {
        Box::pin(async { Vec::new() })
    }
    /// After [`Workload::after_drain`]: observations that do not fail the run, with counts.
    fn notes(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// Wrong replies kept as evidence per kind.
pub const EVIDENCE_PER_KIND: usize = 3;

/// Per-second latency histograms: 1 µs .. 1 h, 2 significant digits (1 % error), closed into a
/// [`Second`] once the second is over so memory does not grow with the run's length.
fn second_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("static histogram bounds are valid")
}

/// The whole run's histogram: 3 significant digits (0.1 % error).
fn run_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

/// One second still open.
struct OpenSecond {
    s: Second,
    hist: Histogram<u32>,
}

impl OpenSecond {
    fn new(t: u64) -> Self {
        OpenSecond {
            s: Second {
                t,
                ..Second::default()
            },
            hist: second_histogram(),
        }
    }

    fn close(mut self) -> Second {
        if !self.hist.is_empty() {
            self.s.p50_us = self.hist.value_at_quantile(0.50);
            self.s.p90_us = self.hist.value_at_quantile(0.90);
            self.s.p99_us = self.hist.value_at_quantile(0.99);
            self.s.max_us = self.hist.max();
        }
        self.s
    }
}

/// Everything the run observed.
pub struct Recorder {
    start: Instant,
    closed: Vec<Second>,
    /// Seconds not yet closed, oldest first (at most a few: replies arrive in time order).
    open: std::collections::VecDeque<OpenSecond>,
    all: Histogram<u64>,
    /// Send lateness of arrivals that did not wait for the cap (the generator's own delay).
    lateness: Histogram<u64>,
    totals: Totals,
    kinds: Vec<KindTotals>,
    wrong: Vec<WrongReply>,
    last_reply: Option<Instant>,
}

impl Recorder {
    pub fn new(start: Instant, kinds: &[(String, String)]) -> Self {
        Recorder {
            start,
            closed: Vec::new(),
            open: std::collections::VecDeque::new(),
            all: run_histogram(),
            lateness: run_histogram(),
            totals: Totals::default(),
            kinds: kinds
                .iter()
                .map(|(k, e)| KindTotals {
                    kind: k.clone(),
                    expect: e.clone(),
                    ..KindTotals::default()
                })
                .collect(),
            wrong: Vec::new(),
            last_reply: None,
        }
    }

    fn second_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_secs()
    }

    /// The open second `t`, opening it (and any gap before it) when needed; seconds before the
    /// oldest open one are already closed, and a late event lands in the oldest open second.
    fn at(&mut self, t: u64) -> &mut OpenSecond {
        let first = self
            .open
            .front()
            .map(|o| o.s.t)
            .unwrap_or(self.closed.len() as u64);
        let t = t.max(first);
        let mut next = self.open.back().map(|o| o.s.t + 1).unwrap_or(first);
        while next <= t {
            self.open.push_back(OpenSecond::new(next));
            next += 1;
        }
        let idx = (t - first) as usize;
        &mut self.open[idx]
    }

    /// Close every second that ended before `now` (the replies of a second arrive within it).
    pub fn tick(&mut self, now: Instant) {
        let current = self.second_of(now);
        self.at(current);
        while self.open.front().is_some_and(|o| o.s.t < current) {
            if let Some(o) = self.open.pop_front() {
                self.closed.push(o.close());
            }
        }
    }

    /// An arrival was due (counted in the totals; the per-second counts come from the
    /// schedule itself, [`Recording::with_schedule`], since an arrival the generator reaches
    /// late can no longer be put into a second already closed).
    pub fn scheduled(&mut self, _due: Instant) {
        self.totals.scheduled += 1;
    }

    pub fn backlogged(&mut self, due: Instant) {
        self.totals.backlogged += 1;
        let t = self.second_of(due);
        self.at(t).s.backlogged += 1;
    }

    /// A request leaves at `sent` (due at `due`; `waited`: it found the cap full).
    pub fn sent(&mut self, kind: usize, due: Instant, sent: Instant, waited: bool) {
        self.totals.sent += 1;
        if let Some(k) = self.kinds.get_mut(kind) {
            k.sent += 1;
        }
        if !waited {
            let _ = self
                .lateness
                .record(micros(sent.saturating_duration_since(due)));
        }
        let t = self.second_of(sent);
        self.at(t).s.sent += 1;
    }

    pub fn unsent(&mut self, n: u64) {
        self.totals.unsent += n;
    }

    /// Whether a wrong reply of `kind` would still be kept as evidence.
    pub fn wants_detail(&self, kind: usize) -> bool {
        let name = self.kinds.get(kind).map(|k| k.kind.as_str());
        self.wrong
            .iter()
            .filter(|w| Some(w.kind.as_str()) == name)
            .count()
            < EVIDENCE_PER_KIND
    }

    /// Arrival `seq` of `kind`, due at `due`, ended at `done` with `outcome`.
    pub fn outcome(
        &mut self,
        seq: u64,
        kind: usize,
        due: Instant,
        done: Instant,
        outcome: Outcome,
    ) {
        let latency = micros(done.saturating_duration_since(due));
        let _ = self.all.record(latency);
        self.last_reply = Some(self.last_reply.map_or(done, |l| l.max(done)));
        let keep = self.wants_detail(kind);
        let t = self.second_of(done);
        let name = self
            .kinds
            .get(kind)
            .map(|k| k.kind.clone())
            .unwrap_or_default();
        let (ok, wrong, errors) = match &outcome {
            Outcome::Right => (1, 0, 0),
            Outcome::Wrong { .. } => (0, 1, 0),
            Outcome::Error { .. } => (0, 0, 1),
        };
        {
            let o = self.at(t);
            let _ = o.hist.record(latency);
            o.s.ok += ok;
            o.s.wrong += wrong;
            o.s.errors += errors;
        }
        self.totals.ok += ok;
        self.totals.wrong += wrong;
        self.totals.errors += errors;
        if let Some(k) = self.kinds.get_mut(kind) {
            k.ok += ok;
            k.wrong += wrong;
            k.errors += errors;
        }
        match outcome {
            Outcome::Right => {}
            Outcome::Wrong { summary, detail } => {
                if keep {
                    self.wrong.push(WrongReply {
                        kind: name,
                        seq,
                        summary,
                        detail,
                    });
                }
            }
            Outcome::Error { kind: e } => {
                *self.totals.errors_by_kind.entry(e).or_default() += 1;
            }
        }
    }

    /// A request that ended without an outcome (its task panicked): an error of the harness,
    /// counted so that sent = right + wrong + errors still holds.
    pub fn harness_error(&mut self, kind: &str) {
        self.totals.errors += 1;
        *self
            .totals
            .errors_by_kind
            .entry(kind.to_string())
            .or_default() += 1;
    }

    /// A wrong outcome found after the fact (no reply of its own, so no latency).
    pub fn finding(&mut self, kind: usize, seq: u64, summary: String) {
        let keep = self.wants_detail(kind);
        self.totals.findings += 1;
        let name = match self.kinds.get_mut(kind) {
            Some(k) => {
                k.wrong += 1;
                k.kind.clone()
            }
            None => String::new(),
        };
        if keep {
            self.wrong.push(WrongReply {
                kind: name,
                seq,
                summary,
                detail: Vec::new(),
            });
        }
    }

    /// The seconds closed so far (for live progress).
    pub fn closed(&self) -> &[Second] {
        &self.closed
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// p-quantile of every reply so far, microseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.all.is_empty() {
            0
        } else {
            self.all.value_at_quantile(q)
        }
    }

    /// Close every second and return what the run observed.
    pub fn finish(mut self) -> Recording {
        while let Some(o) = self.open.pop_front() {
            self.closed.push(o.close());
        }
        // Trailing seconds with nothing in them are the drain's idle tail: not part of the run.
        while self
            .closed
            .last()
            .is_some_and(|s| s.scheduled + s.sent + s.ok + s.wrong + s.errors + s.backlogged == 0)
        {
            self.closed.pop();
        }
        let elapsed = self
            .last_reply
            .map(|l| l.saturating_duration_since(self.start))
            .unwrap_or_default();
        let replies = self.totals.ok + self.totals.wrong + self.totals.errors;
        self.totals.elapsed_s = elapsed.as_secs_f64();
        self.totals.achieved_per_s = if elapsed.is_zero() {
            0.0
        } else {
            replies as f64 / elapsed.as_secs_f64()
        };
        let latency = summarize(&self.all);
        Recording {
            totals: self.totals,
            latency,
            lateness_p99_us: if self.lateness.is_empty() {
                0
            } else {
                self.lateness.value_at_quantile(0.99)
            },
            kinds: self.kinds,
            seconds: self.closed,
            wrong: self.wrong,
        }
    }
}

fn summarize(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        count: h.len(),
        min: h.min(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
    }
}

/// What a finished run observed.
#[derive(Clone, Debug)]
pub struct Recording {
    pub totals: Totals,
    pub latency: Latency,
    pub lateness_p99_us: u64,
    pub kinds: Vec<KindTotals>,
    pub seconds: Vec<Second>,
    pub wrong: Vec<WrongReply>,
}

impl Recording {
    /// Each second's `scheduled` from the schedule (seconds the run did not reach are added).
    pub fn with_schedule(mut self, schedule: &Schedule) -> Recording {
        let span = schedule.duration().as_secs_f64().ceil() as u64;
        while (self.seconds.len() as u64) < span {
            let t = self.seconds.len() as u64;
            self.seconds.push(Second {
                t,
                ..Second::default()
            });
        }
        let counts = schedule.per_second(self.seconds.len() as u64);
        for (sec, n) in self.seconds.iter_mut().zip(counts) {
            sec.scheduled = n;
        }
        self
    }
}

/// How to drive a workload.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub schedule: Schedule,
    pub concurrency: usize,
    /// Bound on one request from its actual send.
    pub timeout: Duration,
}

/// Called once a second with the recorder (live progress).
pub type Progress = Box<dyn Fn(&Recorder) + Send + Sync>;

/// Run `workload` on `plan`'s schedule and record every outcome.
pub async fn drive<W: Workload>(
    plan: Plan,
    workload: Arc<W>,
    progress: Option<Progress>,
) -> Recording {
    let start = Instant::now();
    let kinds = workload.kinds();
    let rec = Arc::new(Mutex::new(Recorder::new(start, &kinds)));
    let slots = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let drain_deadline = start + plan.schedule.duration() + plan.timeout;
    let ticker = {
        let rec = rec.clone();
        tokio::spawn(async move {
            let mut next = start + Duration::from_secs(1);
            loop {
                tokio::time::sleep_until(next).await;
                let r = &mut *lock(&rec);
                r.tick(Instant::now());
                if let Some(p) = &progress {
                    p(r);
                }
                next += Duration::from_secs(1);
            }
        })
    };
    let mut tasks = JoinSet::new();
    let total = plan.schedule.len();
    let mut seq = 0u64;
    let mut caught_up = start;
    while let Some(offset) = plan.schedule.due(seq) {
        let due = start + offset;
        tokio::time::sleep_until(due).await;
        let kind = workload.kind_of(seq);
        lock(&rec).scheduled(due);
        // An arrival due while the loop was still waiting for a slot for an earlier one was due
        // while the cap was full: backlogged, though a slot may be free by the time it is seen.
        let behind = due < caught_up;
        let (permit, waited) = match slots.clone().try_acquire_owned() {
            Ok(p) if behind => {
                lock(&rec).backlogged(due);
                (p, true)
            }
            Ok(p) => (p, false),
            Err(_) => {
                lock(&rec).backlogged(due);
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => {
                            caught_up = Instant::now();
                            (p, true)
                        }
                        Err(_) => break, // never closed
                    },
                    _ = tokio::time::sleep_until(drain_deadline) => {
                        // This arrival and every later one were never sent.
                        let r = &mut *lock(&rec);
                        r.unsent(total.saturating_sub(seq));
                        r.totals.scheduled += total.saturating_sub(seq + 1);
                        break;
                    }
                }
            }
        };
        let sent = Instant::now();
        let want_detail = {
            let r = &mut *lock(&rec);
            r.sent(kind, due, sent, waited);
            r.wants_detail(kind)
        };
        let (w, rec2, timeout) = (workload.clone(), rec.clone(), plan.timeout);
        tasks.spawn(async move {
            use futures_util::FutureExt as _;
            let call = std::panic::AssertUnwindSafe(w.call(seq, want_detail)).catch_unwind();
            let out = match tokio::time::timeout(timeout, call).await {
                Ok(Ok(o)) => o,
                // A bug of the workload: an outcome of its own, not a lost arrival.
                Ok(Err(_)) => Outcome::Error {
                    kind: "harness: a request task panicked".into(),
                },
                Err(_) => Outcome::Error {
                    kind: "timeout".into(),
                },
            };
            lock(&rec2).outcome(seq, kind, due, Instant::now(), out);
            drop(permit);
        });
        while let Some(r) = tasks.try_join_next() {
            if r.is_err() {
                lock(&rec).harness_error("harness: a request task failed");
            }
        }
        seq += 1;
    }
    // Drain: every request in flight ends by its own timeout.
    while let Some(r) = tasks.join_next().await {
        if r.is_err() {
            lock(&rec).harness_error("harness: a request task failed");
        }
    }
    for (kind, seq, summary) in workload.after_drain().await {
        lock(&rec).finding(kind, seq, summary);
    }
    lock(&rec).totals.notes = workload.notes();
    ticker.abort();
    let _ = ticker.await;
    let rec = Arc::try_unwrap(rec)
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_else(|_| unreachable!("every task holding the recorder has ended"));
    rec.finish().with_schedule(&plan.schedule)
}

fn lock(m: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    // A panic inside a recorder call cannot leave it half-updated in a way that matters more
    // than losing the run: keep going with what it holds.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Closed loop at full speed: `concurrency` callers back to back for `window` (the generator's
/// ceiling against a trivial target). Returns replies per second and how many were not right.
pub async fn closed_loop<W: Workload>(
    concurrency: usize,
    window: Duration,
    workload: Arc<W>,
) -> (f64, u64) {
    let start = Instant::now();
    let end = start + window;
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency.max(1) as u64 {
        let w = workload.clone();
        tasks.spawn(async move {
            let (mut done, mut bad, mut seq) = (0u64, 0u64, worker);
            while Instant::now() < end {
                match tokio::time::timeout_at(end + Duration::from_secs(1), w.call(seq, false))
                    .await
                {
                    Ok(Outcome::Right) => done += 1,
                    _ => bad += 1,
                }
                seq += concurrency as u64;
            }
            (done, bad)
        });
    }
    let (mut done, mut bad) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        if let Ok((d, b)) = r {
            done += d;
            bad += b;
        }
    }
    let secs = Instant::now()
        .saturating_duration_since(start)
        .as_secs_f64();
    (if secs > 0.0 { done as f64 / secs } else { 0.0 }, bad)
}

/// Counts of a mix: kind name -> weight, in the order of [`Workload::kinds`].
pub fn mix_map(kinds: &[(String, String)], weights: &[u32]) -> BTreeMap<String, u32> {
    kinds
        .iter()
        .zip(weights)
        .map(|((k, _), w)| (k.clone(), *w))
        .collect()
}

/// A deterministic weighted round robin: arrival `seq` gets `wheel[seq % wheel.len()]`, with the
/// kinds interleaved (smooth weighted round robin) rather than in runs.
pub fn wheel(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += i64::from(*w);
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, -(*i as i64)))
            .expect("weights is not empty when total > 0");
        current[best] -= total;
        out.push(best);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A target that answers after `delay`, and from arrival `stall_from` on holds every reply
    /// until `stall_until` (virtual time) — a stall.
    struct Fake {
        delay: Duration,
        stall: Option<(u64, Instant)>,
        wrong_every: Option<u64>,
        panic_at: Option<u64>,
        calls: AtomicU64,
    }

    impl Workload for Fake {
        fn kinds(&self) -> Vec<(String, String)> {
            vec![("k".into(), "right".into())]
        }
        fn kind_of(&self, _: u64) -> usize {
            0
        }
        fn call(&self, seq: u64, want_detail: bool) -> BoxFuture<'_, Outcome> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::Relaxed);
                assert_ne!(Some(seq), self.panic_at, "a workload bug");
                if let Some((from, until)) = self.stall
                    && seq >= from
                {
                    tokio::time::sleep_until(until).await;
                }
                tokio::time::sleep(self.delay).await;
                match self.wrong_every {
                    Some(n) if seq % n == n - 1 => Outcome::Wrong {
                        summary: format!("wrong {seq}"),
                        detail: if want_detail {
                            vec!["d".into()]
                        } else {
                            vec![]
                        },
                    },
                    _ => Outcome::Right,
                }
            })
        }
    }

    fn fake(delay_ms: u64) -> Fake {
        Fake {
            delay: Duration::from_millis(delay_ms),
            stall: None,
            wrong_every: None,
            panic_at: None,
            calls: AtomicU64::new(0),
        }
    }

    fn plan(rate: f64, secs: u64, concurrency: usize) -> Plan {
        Plan {
            schedule: Schedule::new(rate, Duration::from_secs(secs), Duration::ZERO).unwrap(),
            concurrency,
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_target_gets_every_arrival_on_time() {
        let r = drive(plan(100.0, 3, 16), Arc::new(fake(2)), None).await;
        assert_eq!(r.totals.scheduled, 300);
        assert_eq!(r.totals.sent, 300);
        assert_eq!(r.totals.ok, 300);
        assert_eq!(r.totals.backlogged, 0);
        // virtual time: the latency is the target's 2 ms exactly
        assert_eq!(r.latency.p50, 2000);
        assert_eq!(r.latency.max, 2000);
        assert_eq!(r.seconds.len(), 3);
        assert!(
            r.seconds.iter().all(|s| s.sent == 100 && s.ok == 100),
            "{:?}",
            r.seconds
        );
    }

    /// Coordinated omission: with the cap full during a 1 s stall, the arrivals behind it are
    /// timed from when they were due, so their latency shows the stall; they are counted as
    /// backlogged, none is lost.
    #[tokio::test(start_paused = true)]
    async fn a_stall_shows_in_the_latency_of_the_arrivals_queued_behind_it() {
        let start = Instant::now();
        let mut f = fake(1);
        // from arrival 100 (t = 1 s) every call is held until t = 2 s
        f.stall = Some((100, start + Duration::from_secs(2)));
        let r = drive(plan(100.0, 3, 4), Arc::new(f), None).await;
        assert_eq!(r.totals.scheduled, 300);
        assert_eq!(r.totals.sent, 300);
        assert_eq!(r.totals.ok, 300);
        assert_eq!(r.totals.unsent, 0);
        // 4 in flight are held; the ~96 due during the stall found the cap full
        assert!(r.totals.backlogged >= 95, "{:?}", r.totals);
        // the first held arrival was due at 1.00 s and answered at 2.001 s
        assert!(r.latency.max >= 1_000_000, "{:?}", r.latency);
        // a closed-loop generator would report 1 ms for all but the 4 held requests; timed
        // from their due time, the ~100 arrivals due in the stall show it (p99 ~ 1 s)
        assert!(r.latency.p99 >= 900_000, "{:?}", r.latency);
        assert_eq!(r.latency.min, 1000);
        // the schedule stays visible per second (it once showed the late send times instead)
        let scheduled: Vec<u64> = r.seconds.iter().map(|s| s.scheduled).collect();
        assert_eq!(scheduled, [100, 100, 100]);
        assert!(r.seconds[1].sent < 10, "{:?}", r.seconds[1]);
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_that_never_get_a_slot_are_counted_unsent_and_requests_time_out() {
        let start = Instant::now();
        let mut f = fake(1);
        f.stall = Some((10, start + Duration::from_secs(3600)));
        let mut p = plan(10.0, 2, 2);
        p.timeout = Duration::from_secs(1);
        let r = drive(p, Arc::new(f), None).await;
        assert_eq!(r.totals.scheduled, 20);
        // arrivals 0..10 answered; each held one times out after 1 s, freeing its slot
        assert_eq!(r.totals.ok, 10);
        assert!(r.totals.errors_by_kind["timeout"] >= 2, "{:?}", r.totals);
        assert_eq!(
            r.totals.sent + r.totals.unsent,
            20,
            "nothing lost: {:?}",
            r.totals
        );
        assert_eq!(
            r.totals.ok + r.totals.wrong + r.totals.errors,
            r.totals.sent
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wrong_replies_are_counted_and_the_first_few_kept_with_detail() {
        let mut f = fake(1);
        f.wrong_every = Some(10);
        let r = drive(plan(100.0, 1, 8), Arc::new(f), None).await;
        assert_eq!(r.totals.wrong, 10);
        assert_eq!(r.totals.ok, 90);
        assert_eq!(r.wrong.len(), EVIDENCE_PER_KIND);
        assert!(r.wrong.iter().all(|w| w.detail == ["d"]), "{:?}", r.wrong);
        assert_eq!(r.kinds[0].wrong, 10);
    }

    /// A request task that panics still ends as an outcome (an error of the harness).
    #[tokio::test(start_paused = true)]
    async fn a_panicking_request_is_counted_not_lost() {
        let mut f = fake(1);
        f.panic_at = Some(5);
        let r = drive(plan(100.0, 1, 8), Arc::new(f), None).await;
        assert_eq!(r.totals.sent, 100);
        assert_eq!(r.totals.ok, 99);
        assert_eq!(
            r.totals.errors_by_kind["harness: a request task panicked"],
            1
        );
        assert_eq!(
            r.totals.ok + r.totals.wrong + r.totals.errors,
            r.totals.sent
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_ramp_sends_fewer_arrivals_early() {
        let p = Plan {
            schedule: Schedule::new(100.0, Duration::from_secs(4), Duration::from_secs(2)).unwrap(),
            concurrency: 8,
            timeout: Duration::from_secs(5),
        };
        let r = drive(p, Arc::new(fake(1)), None).await;
        assert_eq!(r.totals.sent, 300);
        let sent: Vec<u64> = r.seconds.iter().map(|s| s.sent).collect();
        assert_eq!(sent, [25, 75, 100, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_is_called_once_a_second_with_closed_seconds() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let progress: Progress = Box::new(move |r: &Recorder| {
            s2.lock().unwrap().push(r.closed().len());
        });
        drive(plan(10.0, 3, 2), Arc::new(fake(1)), Some(progress)).await;
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_measures_the_ceiling() {
        let (rate, bad) = closed_loop(4, Duration::from_secs(1), Arc::new(fake(1))).await;
        assert_eq!(bad, 0);
        // 4 callers, 1 ms each: 4000/s in virtual time
        assert!((rate - 4000.0).abs() < 50.0, "{rate}");
    }

    #[test]
    fn the_wheel_interleaves_kinds_by_weight() {
        assert_eq!(wheel(&[2, 1]), [0, 1, 0]);
        let w = wheel(&[5, 1, 1, 1]);
        assert_eq!(w.len(), 8);
        assert_eq!(w.iter().filter(|k| **k == 0).count(), 5);
        assert_ne!(w[..5], [0, 0, 0, 0, 0], "interleaved, not a run");
        assert_eq!(wheel(&[0, 3]), [1, 1, 1]);
    }
}
