//! `sigharness load`: sustained open-loop load against a target, with every reply judged
//! (issue 16).
//!
//! - [`schedule`]: when each arrival is due (rate, duration, linear ramp), sans-IO;
//! - [`engine`]: drives a [`engine::Workload`] on the schedule with a bounded number of requests
//!   in flight, latency from the intended send time (coordinated omission corrected), per-second
//!   buckets and HDR histograms (`hdrhistogram`), wrong replies kept as evidence;
//! - [`trivial`]: the calibration's trivial target (answers 200 at once);
//! - [`report`]: `load.md` and `load.svg` (`load.json` is [`sigharness_report::load::LoadReport`]);
//! - one module per protocol: [`http_sig_verifier`], [`mq_hub`], [`msg_signer`].
//!
//! A run: calibration first (the same workload, closed loop, against the trivial target: the
//! generator's own ceiling on this machine), then the schedule against the target, then the
//! verdict: the run fails when any reply is wrong, or when errors and unsent arrivals exceed
//! `--max-error-rate` of the schedule.

pub mod corpus;
pub mod engine;
pub mod http_sig_verifier;
pub mod mq_hub;
pub mod msg_signer;
pub mod report;
pub mod schedule;
pub mod trivial;

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sigharness_report::load::{Calibration, LOAD_SCHEMA_VERSION, LoadPlan, LoadReport};

use engine::{Plan, Progress, Recorder, Recording, Workload};

/// Within this fraction of the calibrated ceiling, the generator may have been the limit.
pub const GENERATOR_MARGIN: f64 = 0.9;
/// Own send lateness (p99, arrivals that did not wait for the cap) beyond which the generator
/// did not keep its schedule.
pub const LATENESS_LIMIT_US: u64 = 10_000;

/// How a run is judged and reported.
#[derive(Clone, Debug)]
pub struct Options {
    pub plan: Plan,
    /// Errors + unsent arrivals allowed, as a fraction of the schedule (0: none).
    pub max_error_rate: f64,
    /// The calibration window (zero: no calibration).
    pub calibrate: Duration,
    pub quiet: bool,
}

/// The calibration's measure: the generator's ceiling against the trivial target.
pub struct CalibrationRun<W> {
    pub workload: Arc<W>,
    /// What the trivial target is, in words.
    pub target: String,
}

/// Calibrate (when asked), run the schedule against `workload`, judge.
pub async fn execute<W: Workload, C: Workload>(
    protocol: &str,
    target: &str,
    workload: Arc<W>,
    calibration: Option<CalibrationRun<C>>,
    weights: &[u32],
    opts: &Options,
) -> LoadReport {
    let kinds = workload.kinds();
    let calibration = match calibration {
        Some(c) if !opts.calibrate.is_zero() => {
            let window = opts.calibrate;
            if !opts.quiet {
                eprintln!(
                    "calibrating: the same requests against {} for {:.1} s ...",
                    c.target,
                    window.as_secs_f64()
                );
            }
            let (ceiling, _) =
                engine::closed_loop(opts.plan.concurrency, window, c.workload.clone()).await;
            Some(Calibration {
                ceiling_per_s: ceiling,
                window_s: window.as_secs_f64(),
                target: c.target,
            })
        }
        _ => None,
    };
    if !opts.quiet {
        eprintln!(
            "load: {protocol} on {target}, {}/s for {:.0} s, concurrency {} ...",
            opts.plan.schedule.rate(),
            opts.plan.schedule.duration().as_secs_f64(),
            opts.plan.concurrency
        );
    }
    let progress = (!opts.quiet).then(|| progress_printer(std::io::stderr().is_terminal()));
    let rec = engine::drive(opts.plan, workload, progress).await;
    build_report(
        protocol,
        target,
        opts,
        engine::mix_map(&kinds, weights),
        calibration,
        rec,
    )
}

/// A progress line every second on a terminal, every 10 s otherwise (CI logs).
fn progress_printer(tty: bool) -> Progress {
    let every = if tty { 1 } else { 10 };
    Box::new(move |r: &Recorder| {
        let Some(last) = r.closed().last() else {
            return;
        };
        if (last.t + 1) % every != 0 {
            return;
        }
        let t = r.totals();
        eprintln!(
            "{:>5}s  sent {:>8}  right {:>8}  wrong {:>5}  errors {:>5}  backlogged {:>6}  this second: {}/s p50 {} p99 {}",
            last.t + 1,
            t.sent,
            t.ok,
            t.wrong,
            t.errors,
            t.backlogged,
            last.ok + last.wrong + last.errors,
            report::us(last.p50_us),
            report::us(last.p99_us),
        );
    })
}

/// Whether the generator, not the target, may have set the figures, and why (in words).
pub fn generator_verdict(
    requested: f64,
    achieved: f64,
    lateness_p99_us: u64,
    calibration: Option<&Calibration>,
) -> (bool, String) {
    let mut reasons = Vec::new();
    if lateness_p99_us > LATENESS_LIMIT_US {
        reasons.push(format!(
            "arrivals left late (p99 {}) while slots were free: the generator could not keep the schedule",
            report::us(lateness_p99_us)
        ));
    }
    let Some(c) = calibration else {
        let note = if reasons.is_empty() {
            "not calibrated: whether the generator was the limit is unknown".to_string()
        } else {
            reasons.join("; ")
        };
        return (!reasons.is_empty(), note);
    };
    let ceiling = c.ceiling_per_s;
    if ceiling <= 0.0 {
        reasons.push("the calibration completed no request".into());
    } else {
        if requested >= GENERATOR_MARGIN * ceiling {
            reasons.push(format!(
                "the requested {requested:.0}/s is {:.0} % of the generator's ceiling ({ceiling:.0}/s)",
                100.0 * requested / ceiling
            ));
        }
        if achieved >= GENERATOR_MARGIN * ceiling {
            reasons.push(format!(
                "the achieved {achieved:.0}/s is {:.0} % of the generator's ceiling ({ceiling:.0}/s)",
                100.0 * achieved / ceiling
            ));
        }
    }
    if reasons.is_empty() {
        (
            false,
            format!(
                "the target set the figures: the generator's ceiling is {ceiling:.0}/s and the run \
                 asked {requested:.0}/s ({:.0} %), achieved {achieved:.0}/s",
                100.0 * requested / ceiling
            ),
        )
    } else {
        (true, format!("generator-limited: {}", reasons.join("; ")))
    }
}

/// The run's verdict: (passed, in words).
pub fn verdict(rec: &Recording, max_error_rate: f64) -> (bool, String) {
    let t = &rec.totals;
    let failed_kinds: Vec<String> = rec
        .kinds
        .iter()
        .filter(|k| k.wrong > 0)
        .map(|k| format!("{} ({} wrong)", k.kind, k.wrong))
        .collect();
    let lost = t.errors + t.unsent;
    let allowed = (max_error_rate * t.scheduled as f64).floor() as u64;
    let mut why = Vec::new();
    if t.wrong + t.findings > 0 {
        let what = match (t.wrong, t.findings) {
            (w, 0) => format!("{w} wrong replies"),
            (0, f) => format!("{f} findings"),
            (w, f) => format!("{w} wrong replies and {f} findings"),
        };
        why.push(format!("{what}: {}", failed_kinds.join(", ")));
    }
    if lost > allowed {
        why.push(format!(
            "{} errors and {} unsent of {} arrivals, more than --max-error-rate allows ({allowed})",
            t.errors, t.unsent, t.scheduled
        ));
    }
    if t.scheduled == 0 {
        why.push("nothing was scheduled".into());
    }
    if why.is_empty() {
        (
            true,
            if lost == 0 {
                format!("all {} replies right; no errors", t.ok)
            } else {
                format!(
                    "all {} replies right; {lost} errors/unsent within --max-error-rate ({allowed})",
                    t.ok
                )
            },
        )
    } else {
        (false, why.join("; "))
    }
}

fn build_report(
    protocol: &str,
    target: &str,
    opts: &Options,
    mix: BTreeMap<String, u32>,
    calibration: Option<Calibration>,
    rec: Recording,
) -> LoadReport {
    let (cpu, cores) = crate::bench::report::machine();
    let (limited, note) = generator_verdict(
        opts.plan.schedule.rate(),
        rec.totals.achieved_per_s,
        rec.lateness_p99_us,
        calibration.as_ref(),
    );
    let (passed, verdict) = verdict(&rec, opts.max_error_rate);
    LoadReport {
        schema_version: LOAD_SCHEMA_VERSION,
        tool: format!("sigharness {}", env!("CARGO_PKG_VERSION")),
        protocol: protocol.into(),
        target: target.into(),
        cpu,
        cores: cores as u64,
        plan: LoadPlan {
            rate: opts.plan.schedule.rate(),
            duration_s: opts.plan.schedule.duration().as_secs_f64(),
            ramp_s: opts.plan.schedule.ramp().as_secs_f64(),
            concurrency: opts.plan.concurrency as u64,
            timeout_ms: opts.plan.timeout.as_millis() as u64,
            mix,
        },
        calibration,
        generator_limited: limited,
        generator_note: note,
        generator_lateness_p99_us: rec.lateness_p99_us,
        totals: rec.totals,
        latency_us: rec.latency,
        kinds: rec.kinds,
        seconds: rec.seconds,
        wrong: rec.wrong,
        passed,
        verdict,
    }
}

/// Write load.json, load.md and load.svg into `dir`.
pub fn write(dir: &Path, r: &LoadReport) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
    let put = |name: &str, body: String| {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))
    };
    put(
        "load.json",
        serde_json::to_string_pretty(r).map_err(|e| format!("load.json: {e}"))?,
    )?;
    put("load.md", report::markdown(r))?;
    put("load.svg", report::svg(r))?;
    Ok(())
}

/// Parse `--mix kind=W,kind=W` against the workload's kinds: weights parallel to `kinds`;
/// kinds not named keep `defaults`; an unknown kind is an error naming the known ones.
pub fn parse_mix(spec: &str, kinds: &[String], defaults: &[u32]) -> Result<Vec<u32>, String> {
    let mut w = defaults.to_vec();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("--mix {part:?}: expected KIND=WEIGHT"))?;
        let idx = kinds.iter().position(|x| x == k.trim()).ok_or_else(|| {
            format!(
                "--mix: unknown kind {:?}; known: {}",
                k.trim(),
                kinds.join(", ")
            )
        })?;
        w[idx] = v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 10_000)
            .ok_or_else(|| format!("--mix {part:?}: the weight must be 0 to 10000"))?;
    }
    if w.iter().all(|x| *x == 0) {
        return Err("--mix: every weight is 0".into());
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigharness_report::load::{KindTotals, Latency, Totals};

    fn rec(ok: u64, wrong: u64, errors: u64, unsent: u64) -> Recording {
        Recording {
            totals: Totals {
                scheduled: ok + wrong + errors + unsent,
                sent: ok + wrong + errors,
                ok,
                wrong,
                errors,
                unsent,
                ..Totals::default()
            },
            latency: Latency::default(),
            lateness_p99_us: 0,
            kinds: vec![KindTotals {
                kind: "expired-rejected".into(),
                wrong,
                ..KindTotals::default()
            }],
            seconds: vec![],
            wrong: vec![],
        }
    }

    #[test]
    fn any_wrong_reply_fails_the_run() {
        assert_eq!(
            verdict(&rec(100, 0, 0, 0), 0.0),
            (true, "all 100 replies right; no errors".into())
        );
        let (ok, why) = verdict(&rec(99, 1, 0, 0), 0.5);
        assert!(!ok);
        assert_eq!(why, "1 wrong replies: expired-rejected (1 wrong)");
    }

    #[test]
    fn errors_fail_beyond_the_allowance() {
        assert!(!verdict(&rec(99, 0, 1, 0), 0.0).0);
        assert!(verdict(&rec(98, 0, 1, 1), 0.02).0);
        let (ok, why) = verdict(&rec(97, 0, 2, 1), 0.02);
        assert!(!ok);
        assert!(why.contains("2 errors and 1 unsent of 100"), "{why}");
    }

    #[test]
    fn the_generator_is_flagged_near_its_ceiling_or_when_late() {
        let c = Calibration {
            ceiling_per_s: 1000.0,
            window_s: 1.0,
            target: "t".into(),
        };
        let (lim, note) = generator_verdict(500.0, 480.0, 100, Some(&c));
        assert!(!lim, "{note}");
        assert!(note.starts_with("the target set the figures"), "{note}");
        let (lim, note) = generator_verdict(950.0, 600.0, 100, Some(&c));
        assert!(lim);
        assert!(note.contains("requested 950/s is 95 %"), "{note}");
        let (lim, note) = generator_verdict(2000.0, 920.0, 100, Some(&c));
        assert!(lim);
        assert!(note.contains("achieved 920/s is 92 %"), "{note}");
        let (lim, note) = generator_verdict(100.0, 100.0, 50_000, Some(&c));
        assert!(lim);
        assert!(note.contains("arrivals left late (p99 50.0 ms)"), "{note}");
        let (lim, note) = generator_verdict(100.0, 100.0, 10, None);
        assert!(!lim);
        assert!(note.starts_with("not calibrated"), "{note}");
    }

    #[test]
    fn mix_names_known_kinds_only() {
        let kinds = vec!["a".to_string(), "b".into()];
        assert_eq!(parse_mix("b=5", &kinds, &[1, 1]).unwrap(), [1, 5]);
        assert_eq!(parse_mix("", &kinds, &[1, 1]).unwrap(), [1, 1]);
        let e = parse_mix("c=1", &kinds, &[1, 1]).unwrap_err();
        assert_eq!(e, "--mix: unknown kind \"c\"; known: a, b");
        assert!(parse_mix("a=0,b=0", &kinds, &[1, 1]).is_err());
        assert!(parse_mix("a=x", &kinds, &[1, 1]).is_err());
        assert!(parse_mix("a", &kinds, &[1, 1]).is_err());
    }
}
