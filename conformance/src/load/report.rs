//! `load.md` and `load.svg` from a [`LoadReport`] (`load.json` is the report serialized).
//!
//! The chart is drawn by hand like `bench.svg` (two panels of polylines need no plotting
//! crate): replies per second over time (right replies, the schedule's rate, wrong replies and
//! errors), and the p50 / p99 latency of each second on a log scale.

use std::fmt::Write as _;

use sigharness_report::load::{Latency, LoadReport, Second};

use crate::bench::report::{esc, rate};

/// `12.3 ms`, `450 µs`, `2.1 s`.
pub fn us(v: u64) -> String {
    if v >= 1_000_000 {
        format!("{:.2} s", v as f64 / 1e6)
    } else if v >= 1_000 {
        format!("{:.1} ms", v as f64 / 1e3)
    } else {
        format!("{v} µs")
    }
}

fn latency_row(l: &Latency) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        l.count,
        us(l.min),
        us(l.p50),
        us(l.p90),
        us(l.p99),
        us(l.p999),
        us(l.max)
    )
}

/// Text for a Markdown table cell.
fn cell(t: &str) -> String {
    t.replace('|', "\\|").replace('\n', " ")
}

/// `concurrency N`, or what set it when an external engine replayed the run.
fn concurrency(r: &LoadReport) -> String {
    if r.plan.concurrency == 0 {
        "concurrency set by the external engine".into()
    } else {
        format!("concurrency {}", r.plan.concurrency)
    }
}

/// The few lines printed at the end of a run (and at the top of load.md).
pub fn summary(r: &LoadReport) -> String {
    let t = &r.totals;
    let mut s = format!(
        "{} load on {}: {} scheduled at {}/s{} for {:.0} s, {}\n\
         sent {}  right {}  wrong {}  errors {}  backlogged {}  unsent {}{}\n\
         achieved {:.0} replies/s; latency from intended send: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
        r.protocol,
        r.target,
        t.scheduled,
        r.plan.rate,
        if r.plan.ramp_s > 0.0 {
            format!(" (ramp {:.0} s)", r.plan.ramp_s)
        } else {
            String::new()
        },
        r.plan.duration_s,
        concurrency(r),
        t.sent,
        t.ok,
        t.wrong,
        t.errors,
        t.backlogged,
        t.unsent,
        if t.findings > 0 {
            format!("  findings {}", t.findings)
        } else {
            String::new()
        },
        t.achieved_per_s,
        us(r.latency_us.p50),
        us(r.latency_us.p90),
        us(r.latency_us.p99),
        us(r.latency_us.p999),
        us(r.latency_us.max),
    );
    if !t.errors_by_kind.is_empty() {
        let kinds: Vec<String> = t
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let _ = writeln!(s, "errors by kind: {}", kinds.join(", "));
    }
    for (what, n) in &t.notes {
        let _ = writeln!(s, "note: {what}: {n}");
    }
    let _ = writeln!(s, "generator: {}", r.generator_note);
    let _ = writeln!(
        s,
        "{}: {}",
        if r.passed { "PASS" } else { "FAIL" },
        r.verdict
    );
    s
}

/// `load.md`.
pub fn markdown(r: &LoadReport) -> String {
    let mut s = format!(
        "# Load: {} against {}\n\n{}, {} ({} cores).\n\n```\n{}```\n\n![throughput and latency](load.svg)\n\n",
        r.protocol,
        r.target,
        r.tool,
        r.cpu,
        r.cores,
        summary(r)
    );
    s.push_str("## Latency (from the intended send time: coordinated omission corrected)\n\n");
    s.push_str(
        "| replies | min | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n",
    );
    s.push_str(&latency_row(&r.latency_us));
    s.push_str("\n\n## Generator\n\n");
    match &r.calibration {
        Some(c) => {
            let _ = writeln!(
                s,
                "Ceiling {:.0} requests/s: the same requests (built and signed as in the run) \
                 against {} for {:.1} s, closed loop at concurrency {}. Own send lateness p99 \
                 {}.\n\n{}\n",
                c.ceiling_per_s,
                c.target,
                c.window_s,
                r.plan.concurrency,
                us(r.generator_lateness_p99_us),
                r.generator_note
            );
        }
        None => {
            let _ = writeln!(
                s,
                "No calibration run. Own send lateness p99 {}.\n\n{}\n",
                us(r.generator_lateness_p99_us),
                r.generator_note
            );
        }
    }
    s.push_str("## By kind\n\n| kind | a right reply | sent | right | wrong | errors |\n|---|---|---|---|---|---|\n");
    for k in &r.kinds {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&k.kind),
            cell(&k.expect),
            k.sent,
            k.ok,
            k.wrong,
            k.errors
        );
    }
    if !r.wrong.is_empty() {
        s.push_str("\n## Wrong replies (the first few of each kind)\n\n");
        for w in &r.wrong {
            let _ = writeln!(s, "### {} (arrival {})\n\n{}\n", w.kind, w.seq, w.summary);
            if !w.detail.is_empty() {
                // Four backticks: a reply's own ``` cannot end the block.
                let _ = writeln!(
                    s,
                    "````\n{}\n````\n",
                    w.detail.join("\n").replace("````", "` ` ` `")
                );
            }
        }
    }
    s.push_str("\n## Each second\n\n| s | scheduled | sent | right | wrong | errors | backlogged | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for x in &r.seconds {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            x.t,
            x.scheduled,
            x.sent,
            x.ok,
            x.wrong,
            x.errors,
            x.backlogged,
            us(x.p50_us),
            us(x.p90_us),
            us(x.p99_us),
            us(x.max_us)
        );
    }
    s
}

/// `load.svg`: replies per second (top) and p50 / p99 latency per second, log scale (bottom).
pub fn svg(r: &LoadReport) -> String {
    const LEFT: f64 = 70.0;
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const TOP1: f64 = 56.0;
    const TOP2: f64 = TOP1 + H + 50.0;
    let n = r.seconds.len().max(1) as f64;
    let x = |t: f64| LEFT + t / n * W;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"18\" font-size=\"13\">{} load against {}: {} at {}/s, {}</text>\n\
         <text x=\"10\" y=\"34\" fill=\"#555\">{} ({} cores); {}</text>\n",
        LEFT + W + 150.0,
        TOP2 + H + 50.0,
        esc(&r.protocol),
        esc(&r.target),
        if r.passed { "PASS" } else { "FAIL" },
        r.plan.rate,
        concurrency(r),
        esc(&r.cpu),
        r.cores,
        esc(&r.generator_note)
    );
    // Top: replies per second, linear scale.
    let peak = r
        .seconds
        .iter()
        .map(|x| (x.ok + x.wrong + x.errors).max(x.scheduled))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y1 = |v: f64| TOP1 + H - v / peak * H;
    axes(&mut s, TOP1, "replies/s", x, n);
    for frac in [0.0, 0.5, 1.0] {
        let y = y1(peak * frac);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            LEFT + W,
            LEFT - 6.0,
            y + 4.0,
            rate(peak * frac)
        );
    }
    type Pick = fn(&Second) -> f64;
    let series1: [(&str, &str, Pick); 3] = [
        ("scheduled", "#999", |x| x.scheduled as f64),
        ("right", "#2ca02c", |x| x.ok as f64),
        ("wrong + errors", "#d62728", |x| (x.wrong + x.errors) as f64),
    ];
    for (i, (name, color, f)) in series1.iter().enumerate() {
        let pts: Vec<String> = r
            .seconds
            .iter()
            .map(|sec| format!("{:.1},{:.1}", x(sec.t as f64 + 0.5), y1(f(sec))))
            .collect();
        let dash = if i == 0 {
            " stroke-dasharray=\"4 3\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"{dash} points=\"{}\"/>",
            pts.join(" ")
        );
        legend(
            &mut s,
            LEFT + W + 12.0,
            TOP1 + 14.0 + i as f64 * 16.0,
            color,
            name,
        );
    }
    // Bottom: latency per second, log scale.
    let lat: Vec<u64> = r
        .seconds
        .iter()
        .flat_map(|x| [x.p50_us, x.p99_us])
        .filter(|v| *v > 0)
        .collect();
    let lo = (lat.iter().copied().min().unwrap_or(100) as f64)
        .log10()
        .floor();
    let hi = (lat.iter().copied().max().unwrap_or(1000) as f64)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let y2 = |v: f64| TOP2 + H - (v.max(1.0).log10() - lo) / (hi - lo) * H;
    axes(&mut s, TOP2, "latency", x, n);
    let mut e = lo;
    while e <= hi {
        let y = y2(10f64.powf(e));
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            LEFT + W,
            LEFT - 6.0,
            y + 4.0,
            us(10f64.powf(e) as u64)
        );
        e += 1.0;
    }
    for (i, (name, color, pick)) in [("p50", "#1f77b4", 0usize), ("p99", "#ff7f0e", 1usize)]
        .iter()
        .enumerate()
    {
        let pts: Vec<String> = r
            .seconds
            .iter()
            .filter_map(|sec| {
                let v = if *pick == 0 { sec.p50_us } else { sec.p99_us };
                (v > 0).then(|| format!("{:.1},{:.1}", x(sec.t as f64 + 0.5), y2(v as f64)))
            })
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            pts.join(" ")
        );
        legend(
            &mut s,
            LEFT + W + 12.0,
            TOP2 + 14.0 + i as f64 * 16.0,
            color,
            name,
        );
    }
    s.push_str("</svg>\n");
    s
}

fn axes(s: &mut String, top: f64, label: &str, x: impl Fn(f64) -> f64, n: f64) {
    let (left, bottom) = (x(0.0), top + 180.0);
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\" stroke=\"#333\"/><line x1=\"{left}\" y1=\"{bottom}\" x2=\"{:.1}\" y2=\"{bottom}\" stroke=\"#333\"/><text x=\"{left}\" y=\"{:.1}\" fill=\"#333\">{label}</text>",
        x(n),
        top - 6.0
    );
    let step = (n / 10.0).ceil().max(1.0);
    let mut t = 0.0;
    while t <= n {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{t:.0}s</text>",
            x(t),
            bottom + 14.0
        );
        t += step;
    }
}

fn legend(s: &mut String, x: f64, y: f64, color: &str, name: &str) {
    let _ = writeln!(
        s,
        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
        y - 9.0,
        x + 14.0,
        esc(name)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(us(450), "450 µs");
        assert_eq!(us(12_345), "12.3 ms");
        assert_eq!(us(2_100_000), "2.10 s");
    }
}
