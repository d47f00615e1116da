//! The `load.json` schema written by `sigharness load`: a sustained, open-loop load against one
//! target with every reply judged.
//!
//! Versioned by [`LOAD_SCHEMA_VERSION`] (independent of `report.json`'s). Times are microseconds
//! unless a field's name says otherwise; latencies are measured from each request's *intended*
//! send time (the open-loop schedule), so a target that stalls shows its stall in the latencies
//! of the requests queued behind it (coordinated omission corrected).
//!
//! ```json
//! {"schema_version": 1, "tool": "sigharness 0.1.0", "protocol": "http-sig-verifier",
//!  "target": "ours", "plan": {"rate": 2000.0, "duration_s": 10.0, ...},
//!  "calibration": {"ceiling_per_s": 9100.0, ...}, "generator_limited": false,
//!  "totals": {"scheduled": 20000, "sent": 20000, "ok": 20000, "wrong": 0, ...},
//!  "latency_us": {"p50": 410, "p90": 800, "p99": 2100, "p999": 4000, "max": 9000, ...},
//!  "kinds": [{"kind": "valid-accepted", "sent": 10000, "ok": 10000, ...}],
//!  "seconds": [{"t": 0, "sent": 2000, "ok": 1998, "p50_us": 400, ...}],
//!  "wrong": [{"kind": "expired-rejected", "summary": "...", "detail": ["..."]}],
//!  "passed": true, "verdict": "every reply right; no errors"}
//! ```
//!
//! # Schema versions
//! - **1** (current): the first version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the `load.json` schema written by this crate.
pub const LOAD_SCHEMA_VERSION: u32 = 1;

/// What the run was asked to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadPlan {
    /// Arrivals per second after the ramp.
    pub rate: f64,
    /// Length of the schedule (ramp included), seconds.
    pub duration_s: f64,
    /// Seconds over which the arrival rate rises linearly from 0 to `rate` (0: none).
    pub ramp_s: f64,
    /// Requests in flight at most; an arrival that finds the cap full waits, and its latency
    /// still counts from its intended send time.
    pub concurrency: u64,
    /// Bound on one request, from its actual send, in milliseconds.
    pub timeout_ms: u64,
    /// The request mix, kind -> weight.
    pub mix: BTreeMap<String, u32>,
}

/// The load generator's own ceiling: the same workload (request building, signing, sending)
/// against a trivial loopback target that answers at once, closed loop at the same concurrency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Requests completed per second against the trivial target.
    pub ceiling_per_s: f64,
    /// The calibration window, seconds.
    pub window_s: f64,
    /// What the trivial target was.
    pub target: String,
}

/// Latency distribution of one set of replies, microseconds from the intended send time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// Counts over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Arrivals the schedule held.
    pub scheduled: u64,
    /// Requests actually sent.
    pub sent: u64,
    /// Replies judged right.
    pub ok: u64,
    /// Replies judged wrong (the run fails when this is not 0).
    pub wrong: u64,
    /// Departures found after the fact, apart from the arrivals (a message taken twice, an
    /// acknowledged message lost, a reply nobody asked for): the run fails when this is not 0.
    /// Arrivals satisfy sent = ok + wrong + errors; findings are counted beside them.
    #[serde(default)]
    pub findings: u64,
    /// Requests without a judgeable reply (timeouts, refused connections, overload statuses).
    pub errors: u64,
    /// Errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Observations that do not fail the run (where the spec tolerates them), with counts.
    #[serde(default)]
    pub notes: BTreeMap<String, u64>,
    /// Arrivals that found the in-flight cap full and waited (the backlog).
    pub backlogged: u64,
    /// Arrivals never sent: in process, the cap stayed full until the drain deadline; replayed
    /// by an external engine, no record of it came back.
    pub unsent: u64,
    /// Replies per second over the measured span (first intended send to last reply).
    pub achieved_per_s: f64,
    /// Wall time from the first intended send to the last reply, seconds.
    pub elapsed_s: f64,
}

/// One kind of request of the mix.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KindTotals {
    pub kind: String,
    /// What a right reply is, in words (the spec's requirement).
    pub expect: String,
    pub sent: u64,
    pub ok: u64,
    pub wrong: u64,
    pub errors: u64,
}

/// One second of the run (by the time replies arrived; `scheduled` and `sent` by the time
/// requests were due and sent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the first intended send.
    pub t: u64,
    pub scheduled: u64,
    pub sent: u64,
    pub ok: u64,
    pub wrong: u64,
    pub errors: u64,
    /// Arrivals in this second that found the in-flight cap full.
    pub backlogged: u64,
    /// Latency of the replies that arrived in this second (0 when none).
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// A wrong reply kept as evidence (the first few of each kind).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WrongReply {
    pub kind: String,
    /// Sequence number of the request in the schedule.
    pub seq: u64,
    pub summary: String,
    /// The request sent, the reply, and what was expected, line by line.
    pub detail: Vec<String>,
}

/// `load.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub schema_version: u32,
    /// `sigharness <version>`.
    pub tool: String,
    /// `msg-signer`, `mq-hub` or `http-sig-verifier`.
    pub protocol: String,
    /// `ours` (the in-process reference) or the URL / broker judged.
    pub target: String,
    pub cpu: String,
    pub cores: u64,
    pub plan: LoadPlan,
    pub calibration: Option<Calibration>,
    /// The generator, not the target, may have been the limit: the requested or achieved rate
    /// came within 10 % of the calibrated ceiling, or arrivals were sent late while the cap was
    /// not full.
    pub generator_limited: bool,
    /// Why `generator_limited` is what it is, in words.
    pub generator_note: String,
    /// p99 of (actual send - intended send) for arrivals that did not wait for the cap: the
    /// generator's own lateness, microseconds.
    pub generator_lateness_p99_us: u64,
    pub totals: Totals,
    /// Every reply (right, wrong, or error), from its intended send time.
    pub latency_us: Latency,
    pub kinds: Vec<KindTotals>,
    pub seconds: Vec<Second>,
    pub wrong: Vec<WrongReply>,
    /// Replies all right and errors within the allowance.
    pub passed: bool,
    /// The verdict in words.
    pub verdict: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let r = LoadReport {
            schema_version: LOAD_SCHEMA_VERSION,
            tool: "sigharness 0".into(),
            protocol: "http-sig-verifier".into(),
            target: "ours".into(),
            cpu: "cpu".into(),
            cores: 2,
            plan: LoadPlan {
                rate: 10.0,
                duration_s: 1.0,
                ramp_s: 0.0,
                concurrency: 4,
                timeout_ms: 1000,
                mix: BTreeMap::from([("valid".into(), 1)]),
            },
            calibration: Some(Calibration {
                ceiling_per_s: 100.0,
                window_s: 1.0,
                target: "trivial".into(),
            }),
            generator_limited: false,
            generator_note: String::new(),
            generator_lateness_p99_us: 3,
            totals: Totals {
                errors_by_kind: BTreeMap::from([("timeout".into(), 1)]),
                ..Totals::default()
            },
            latency_us: Latency::default(),
            kinds: vec![KindTotals::default()],
            seconds: vec![Second::default()],
            wrong: vec![WrongReply {
                kind: "k".into(),
                seq: 1,
                summary: "s".into(),
                detail: vec!["d".into()],
            }],
            passed: false,
            verdict: "v".into(),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.starts_with("{\"schema_version\":1,"), "{text}");
        let back: LoadReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}
