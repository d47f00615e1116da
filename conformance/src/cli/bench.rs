//! `sigharness bench http-sig`: RFC 9421 sign and verify per algorithm on this machine (see
//! `crate::bench::http_sig`), printed as a table and written as bench.json, bench.md and
//! bench.svg.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use crate::bench::http_sig::{self, ALGORITHMS, REQUEST, Setup};
use crate::bench::report::{self, Context};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// RFC 9421: sign and verify with each algorithm, beside the bare primitive and the httpsig crate.
    HttpSig(HttpSigBenchArgs),
}

#[derive(clap::Args, Debug)]
pub struct HttpSigBenchArgs {
    /// A signing profile (TOML or YAML, as for `http-sig sign --profile`): its covered
    /// components and parameters are used; its key is not (each algorithm gets a fresh key).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// The message to sign (HTTP/1.1 text); default: an API request with 10 header fields.
    #[arg(long, value_name = "FILE")]
    pub message: Option<PathBuf>,
    /// Only these algorithms (comma-separated); default: all six of RFC 9421 section 3.3.
    #[arg(long, value_delimiter = ',', value_name = "ALG,...")]
    pub algorithms: Vec<String>,
    /// Time per measurement (one contender, one operation, one algorithm), in milliseconds.
    #[arg(long, default_value_t = 400, value_name = "MS")]
    pub budget_ms: u64,
    /// Directory for bench.json, bench.md and bench.svg.
    #[arg(long, default_value = "sigharness-bench", value_name = "DIR")]
    pub out: PathBuf,
}

/// Exit 0 with the results, 2 when the inputs are wrong or the run could not proceed.
pub fn run(cmd: BenchCommand) -> u8 {
    let BenchCommand::HttpSig(a) = cmd;
    match http_sig_bench(&a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sigharness bench http-sig: {e}");
            2
        }
    }
}

fn http_sig_bench(a: &HttpSigBenchArgs) -> Result<(), String> {
    if a.budget_ms == 0 || a.budget_ms > 60_000 {
        return Err(format!(
            "--budget-ms {}: give 1 to 60000 milliseconds",
            a.budget_ms
        ));
    }
    let algs: Vec<&'static str> = if a.algorithms.is_empty() {
        ALGORITHMS.to_vec()
    } else {
        a.algorithms
            .iter()
            .map(|x| {
                ALGORITHMS
                    .iter()
                    .copied()
                    .find(|k| *k == x.trim())
                    .ok_or_else(|| {
                        format!(
                            "--algorithms: unknown {x:?}; known: {}",
                            ALGORITHMS.join(", ")
                        )
                    })
            })
            .collect::<Result<_, _>>()?
    };
    let (msg, what_msg) = match &a.message {
        Some(p) => (
            super::http_sig::read_message_file(p, "https")?,
            format!("message {}", p.display()),
        ),
        None => (
            ::http_sig::HttpMessage::parse(REQUEST.as_bytes())
                .map_err(|e| format!("the built-in request: {e}"))?,
            "the built-in API request (10 header fields)".to_string(),
        ),
    };
    let (params, what_profile) = match &a.profile {
        Some(p) => {
            let profile = ::http_sig::SigningProfile::from_file(p).map_err(|e| e.to_string())?;
            let params = profile
                .params_for(&msg, http_sig::CREATED)
                .map_err(|e| format!("profile {}: {e}", p.display()))?;
            (params, format!("profile {}", p.display()))
        }
        None => (
            http_sig::default_params(),
            format!("components {}", http_sig::COMPONENTS.join(" ")),
        ),
    };
    let base = ::http_sig::signature_base(&msg, None, &params)
        .map_err(|e| format!("{what_msg} with the {what_profile}: {e}"))?;
    let setup = Setup {
        msg,
        params,
        budget: Duration::from_millis(a.budget_ms),
    };
    let ctx = Context::detect(
        format!("{what_msg}, {what_profile}"),
        base.len(),
        u128::from(a.budget_ms),
    );
    let mut rows = Vec::new();
    for alg in algs {
        eprintln!("measuring {alg} ...");
        rows.extend(http_sig::run_alg(&setup, alg)?);
    }
    print!("{}", report::text(&ctx, &rows));
    std::fs::create_dir_all(&a.out).map_err(|e| format!("--out {}: {e}", a.out.display()))?;
    let write = |name: &str, body: String| {
        let p = a.out.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))
    };
    write(
        "bench.json",
        serde_json::to_string_pretty(&report::json(&ctx, &rows)).unwrap_or_default(),
    )?;
    write("bench.md", report::markdown(&ctx, &rows))?;
    write("bench.svg", report::svg(&ctx, &rows))?;
    println!("wrote {}/bench.json, bench.md, bench.svg", a.out.display());
    Ok(())
}
