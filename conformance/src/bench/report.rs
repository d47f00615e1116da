//! The results of `sigharness bench http-sig` as a terminal table, `bench.json`, `bench.md` and
//! `bench.svg` (a bar chart of calls per second, log scale, drawn by hand: a few rectangles and
//! labels need no plotting crate).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::http_sig::{Row, Stats};

/// Where the run happened and on what.
#[derive(Debug, Clone)]
pub struct Context {
    pub cpu: String,
    pub cores: usize,
    pub version: &'static str,
    /// What was signed: the message and profile, in words.
    pub input: String,
    pub base_bytes: usize,
    pub budget_ms: u128,
}

impl Context {
    /// The machine's CPU model (Linux `/proc/cpuinfo`) and core count.
    pub fn detect(input: String, base_bytes: usize, budget_ms: u128) -> Context {
        let (cpu, cores) = machine();
        Context {
            cpu,
            cores,
            version: env!("CARGO_PKG_VERSION"),
            input,
            base_bytes,
            budget_ms,
        }
    }
}

/// The machine's CPU model (Linux `/proc/cpuinfo`, else the architecture) and core count.
pub(crate) fn machine() -> (String, usize) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (cpu, cores)
}

fn stats_json(s: &Stats) -> Value {
    json!({"calls": s.ops, "ops_per_sec": s.ops_per_sec, "p50_us": s.p50_us, "p99_us": s.p99_us})
}

/// `bench.json`.
pub fn json(ctx: &Context, rows: &[Row]) -> Value {
    json!({
        "tool": format!("sigharness {}", ctx.version),
        "cpu": ctx.cpu,
        "cores": ctx.cores,
        "input": ctx.input,
        "signature_base_bytes": ctx.base_bytes,
        "budget_ms_per_measurement": ctx.budget_ms,
        "rows": rows.iter().map(|r| json!({
            "algorithm": r.alg,
            "operation": r.op,
            "signature_bytes": r.signature_bytes,
            "ours": stats_json(&r.ours),
            "raw": stats_json(&r.raw),
            "httpsig": match &r.httpsig {
                Ok(s) => stats_json(s),
                Err(why) => json!({"unavailable": why}),
            },
            "ours_time_over_raw": r.ours_over_raw(),
            "httpsig_time_over_raw": r.httpsig_over_raw(),
        })).collect::<Vec<_>>(),
    })
}

/// `1.2k`, `3.40M`: a rate for a label.
pub(crate) fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The table (terminal and Markdown share it).
pub fn table(rows: &[Row]) -> Vec<[String; 9]> {
    let mut out = vec![[
        "algorithm".to_string(),
        "op".into(),
        "ours/s".into(),
        "ours p50 µs".into(),
        "ours p99 µs".into(),
        "raw/s".into(),
        "httpsig/s".into(),
        "ours ÷ raw".into(),
        "sig bytes".into(),
    ]];
    for r in rows {
        out.push([
            r.alg.to_string(),
            r.op.to_string(),
            rate(r.ours.ops_per_sec),
            format!("{:.1}", r.ours.p50_us),
            format!("{:.1}", r.ours.p99_us),
            rate(r.raw.ops_per_sec),
            match &r.httpsig {
                Ok(s) => rate(s.ops_per_sec),
                Err(_) => "n/a".into(),
            },
            format!("{:.2}x", r.ours_over_raw()),
            r.signature_bytes.to_string(),
        ]);
    }
    out
}

/// The table for a terminal (columns padded).
pub fn text(ctx: &Context, rows: &[Row]) -> String {
    let t = table(rows);
    let widths: Vec<usize> = (0..9)
        .map(|c| t.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = format!(
        "sigharness {} bench http-sig on {} ({} cores); {}; signature base {} bytes\n",
        ctx.version, ctx.cpu, ctx.cores, ctx.input, ctx.base_bytes
    );
    for row in &t {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
    }
    s.push_str("ours ÷ raw: time per call of ours over the bare primitive on the same base (1.00x = no cost beyond it)\n");
    for r in rows {
        if let Err(why) = &r.httpsig {
            let _ = writeln!(s, "httpsig n/a for {} {}: {why}", r.alg, r.op);
        }
    }
    s
}

/// `bench.md`.
pub fn markdown(ctx: &Context, rows: &[Row]) -> String {
    let t = table(rows);
    let mut s = format!(
        "# RFC 9421 signing and verification on this machine\n\n\
         sigharness {}, {} ({} cores). Input: {}; signature base {} bytes. Each figure: calls timed one \
         by one for {} ms after a warm-up. `ours` = sigharness's http-sig (component values, base, \
         signature, fields); `raw` = aws-lc-rs on the base bytes alone; `httpsig` = the httpsig crate \
         0.0.26 on the same components.\n\n![calls per second](bench.svg)\n\n",
        ctx.version, ctx.cpu, ctx.cores, ctx.input, ctx.base_bytes, ctx.budget_ms
    );
    for (i, row) in t.iter().enumerate() {
        let _ = writeln!(s, "| {} |", row.join(" | "));
        if i == 0 {
            let _ = writeln!(s, "|{}", "---|".repeat(9));
        }
    }
    s
}

/// Text escaped for SVG/XML.
pub(crate) fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `bench.svg`: one group of three bars (ours, raw, httpsig) per algorithm and operation,
/// calls per second on a log scale.
pub fn svg(ctx: &Context, rows: &[Row]) -> String {
    const LABEL_W: f64 = 200.0;
    const BAR_H: f64 = 9.0;
    const GROUP_H: f64 = 36.0;
    const PLOT_W: f64 = 560.0;
    const TOP: f64 = 50.0;
    let colors = [
        ("ours", "#1f77b4"),
        ("raw", "#7f7f7f"),
        ("httpsig", "#ff7f0e"),
    ];
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|r| {
            [
                Some(r.ours.ops_per_sec),
                Some(r.raw.ops_per_sec),
                r.httpsig.as_ref().ok().map(|h| h.ops_per_sec),
            ]
        })
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    let lo = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let hi = values.iter().copied().fold(1.0, f64::max);
    let (lo_exp, hi_exp) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let x = |v: f64| LABEL_W + (v.max(1.0).log10() - lo_exp) / (hi_exp - lo_exp) * PLOT_W;
    let bottom = TOP + rows.len() as f64 * GROUP_H;
    let height = bottom + 44.0;
    let width = LABEL_W + PLOT_W + 90.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"18\" font-size=\"13\">RFC 9421 calls per second (log scale), {}</text>\n\
         <text x=\"10\" y=\"34\" fill=\"#555\">{} cores; {}</text>\n",
        esc(&ctx.cpu),
        ctx.cores,
        esc(&ctx.input)
    );
    let mut e = lo_exp;
    while e <= hi_exp {
        let gx = x(10f64.powf(e));
        let _ = writeln!(
            s,
            "<line x1=\"{gx:.1}\" y1=\"{TOP}\" x2=\"{gx:.1}\" y2=\"{bottom:.1}\" stroke=\"#ddd\"/><text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            bottom + 14.0,
            rate(10f64.powf(e))
        );
        e += 1.0;
    }
    for (i, r) in rows.iter().enumerate() {
        let y0 = TOP + i as f64 * GROUP_H + 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} {}</text>",
            LABEL_W - 8.0,
            y0 + 1.5 * BAR_H,
            esc(r.alg),
            r.op
        );
        let bars = [
            Some(r.ours.ops_per_sec),
            Some(r.raw.ops_per_sec),
            r.httpsig.as_ref().ok().map(|h| h.ops_per_sec),
        ];
        for (j, (v, (_, color))) in bars.iter().zip(colors).enumerate() {
            let y = y0 + j as f64 * BAR_H;
            if let Some(v) = v {
                let w = (x(*v) - LABEL_W).max(1.0);
                let _ = writeln!(
                    s,
                    "<rect x=\"{LABEL_W}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\">{}</text>",
                    BAR_H - 1.0,
                    LABEL_W + w + 4.0,
                    y + BAR_H - 1.5,
                    rate(*v)
                );
            } else {
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"#999\">n/a</text>",
                    LABEL_W + 4.0,
                    y + BAR_H - 1.5
                );
            }
        }
    }
    for (j, (name, color)) in colors.iter().enumerate() {
        let lx = LABEL_W + j as f64 * 90.0;
        let _ = writeln!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
            bottom + 24.0,
            lx + 14.0,
            bottom + 33.0
        );
    }
    s.push_str("</svg>\n");
    s
}
