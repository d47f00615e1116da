//! `cargo xtask`: the project's task runner (the cargo-xtask pattern).
//!
//! - `cargo xtask conformance [ARGS]`: build and run `sigharness conformance [ARGS]`.
//! - `cargo xtask coverage`: RFC 9421 normative coverage (`sigharness coverage`).
//! - `cargo xtask bench [GROUP]`: run the criterion benchmarks and print ratios.
//! - `cargo xtask ci`: what CI runs (`.ci/run`: format, tests, clippy, conformance, interop), locally.
//!
//! Hygiene rules are `#[test]`s in `tidy.rs`, so `cargo test` enforces them.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod rabbitmq;
#[cfg(test)]
mod tidy;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

fn status(mut c: Command) -> ExitCode {
    match c.status() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(2).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xtask: cannot run {c:?}: {e}");
            ExitCode::from(2)
        }
    }
}

const HELP: &str = "cargo xtask <TASK>

Tasks:
  conformance [ARGS]   build and run `sigharness conformance [ARGS]` (try --help, --list)
  coverage             RFC 9421 normative coverage per section (`sigharness coverage`);
                       exit 1 when a testable MUST statement has no case
  bench GROUP [ARGS]   run a benchmark group and print its ratios from one run:
                       http-sig (criterion times, then instructions under callgrind when
                       valgrind is installed), broker (embedded vs a bare fe2o3 router),
                       msg-signer (round trips vs one-way ceiling, RabbitMQ when installed),
                       mq-hub (load vs the axum ceiling and a bare redb loop)
  ci                   run what CI runs (.ci/run): format, tests, clippy -D warnings,
                       conformance, interop
  fuzz [TARGET|all] [SECONDS]
                       cargo-fuzz targets (fuzz/): seeds, build, run each SECONDS (default 20)
  broker rabbitmq start|stop|status [--dir DIR]
                       a real RabbitMQ (Debian package) on loopback with generated certificates
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    };
    let rest = &args[1..];
    match task.as_str() {
        "conformance" => {
            let mut c = cargo();
            c.args([
                "run",
                "--quiet",
                "--package",
                "sigharness",
                "--bin",
                "sigharness",
                "--",
                "conformance",
            ]);
            c.args(rest);
            status(c)
        }
        "coverage" => {
            let mut c = cargo();
            c.args([
                "run",
                "--quiet",
                "--package",
                "sigharness",
                "--bin",
                "sigharness",
                "--",
                "coverage",
            ]);
            c.args(rest);
            status(c)
        }
        "broker" => match rest.first().map(String::as_str) {
            Some("rabbitmq") => match rabbitmq::main(&rest[1..], &workspace_root()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("xtask broker rabbitmq: {e}");
                    ExitCode::from(2)
                }
            },
            _ => {
                eprintln!("usage: cargo xtask broker rabbitmq start|stop|status [--dir DIR]");
                ExitCode::from(2)
            }
        },
        // msg-signer arm (kept separate from other bench groups to keep merges easy).
        "bench" if rest.first().map(String::as_str) == Some("msg-signer") => {
            // The bench also goes through RabbitMQ: start it for the run when it is installed
            // and not running, and stop it afterwards.
            let dir = workspace_root().join("target/rabbitmq");
            let running = std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], 5671)),
                std::time::Duration::from_secs(1),
            )
            .is_ok()
                && dir.join("broker.env").exists();
            let started = if running {
                false
            } else {
                match rabbitmq::start(&dir) {
                    Ok(()) => true,
                    Err(e) => {
                        eprintln!(
                            "xtask bench msg-signer: RabbitMQ not started ({e}); embedded broker only"
                        );
                        // A node may be half up (started, then `wait` gave up): stop it.
                        let _ = rabbitmq::stop(&dir);
                        false
                    }
                }
            };
            let mut c = cargo();
            c.args([
                "bench",
                "--package",
                "sigharness-benches",
                "--bench",
                "msg_signer",
            ]);
            let status = c.status();
            if started && let Err(e) = rabbitmq::stop(&dir) {
                eprintln!("xtask bench msg-signer: stopping RabbitMQ: {e}");
            }
            match status {
                Ok(s) if s.success() => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            }
        }
        "bench" if rest.first().map(String::as_str) == Some("http-sig") => {
            bench_http_sig(&rest[1..])
        }
        "bench" => {
            let Some(group) = rest.first() else {
                eprintln!("xtask bench: name a group (mq-hub, ...)\n\n{HELP}");
                return ExitCode::from(2);
            };
            let bench = group.replace('-', "_");
            let mut c = cargo();
            c.args(["bench", "-p", "sigharness-benches", "--bench", &bench]);
            if rest.len() > 1 {
                c.arg("--");
                c.args(&rest[1..]);
            }
            status(c)
        }
        "fuzz" => fuzz(rest),
        "ci" => {
            let mut c = Command::new(workspace_root().join(".ci/run"));
            c.current_dir(workspace_root());
            status(c)
        }
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("xtask: unknown task {other:?}\n\n{HELP}");
            ExitCode::from(2)
        }
    }
}

/// `cargo xtask fuzz [TARGET|all] [SECONDS]`: `fuzz/run.sh` (installs the pinned cargo-fuzz if
/// missing, writes the seed corpora, builds the targets, runs each for SECONDS).
fn fuzz(rest: &[String]) -> ExitCode {
    let mut c = Command::new("bash");
    c.current_dir(workspace_root())
        .arg("fuzz/run.sh")
        .args(rest);
    status(c)
}

/// `cargo xtask bench http-sig [CRITERION ARGS]`: run the `http_sig` criterion bench, then print
/// the ratios of `ours` and `httpsig_crate` to `raw` (the aws-lc-rs primitive on the same
/// signature base) from criterion's `estimates.json` files of this run.
fn bench_http_sig(extra: &[String]) -> ExitCode {
    let mut c = cargo();
    c.args([
        "bench",
        "-p",
        "sigharness-benches",
        "--bench",
        "http_sig",
        "--",
    ]);
    c.args(extra);
    let code = status(c);
    if code != ExitCode::SUCCESS {
        return code;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    print!("{}", http_sig_ratio_table(&target.join("criterion")));
    // Instruction counts: the stable figure on a shared machine (issue 14 item 3).
    let have_valgrind = Command::new("valgrind")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_valgrind {
        println!("(valgrind not installed: no instruction counts)");
        return ExitCode::SUCCESS;
    }
    let mut c = cargo();
    c.args(["bench", "-p", "sigharness-benches", "--bench", "http_sig"])
        .env("SIGHARNESS_BENCH_IR", "20");
    status(c)
}

/// The mean point estimate (ns) in a criterion `estimates.json`, read without a JSON parser:
/// the file's shape is `{"mean":{"confidence_interval":{...},"point_estimate":X,...},...}`.
fn mean_ns(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let after = &text[text.find("\"mean\"")?..];
    let v = &after[after.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = v.find([',', '}'])?;
    v[..end].trim().parse().ok()
}

fn http_sig_ratio_table(criterion_dir: &Path) -> String {
    const ALGS: [&str; 4] = [
        "ed25519",
        "ecdsa-p256-sha256",
        "ecdsa-p384-sha384",
        "hmac-sha256",
    ];
    let mut out = String::from(
        "\nhttp-sig: mean time per operation and ratio to raw (aws-lc-rs on the same base)\n",
    );
    out.push_str(&format!(
        "{:<16} {:<18} {:>10} {:>10} {:>12} {:>10} {:>12}\n",
        "group", "algorithm", "raw us", "ours us", "ours/raw", "httpsig us", "httpsig/raw"
    ));
    for group in ["http_sig_sign", "http_sig_verify"] {
        for alg in ALGS {
            let est = |f: &str| {
                mean_ns(
                    &criterion_dir
                        .join(group)
                        .join(f)
                        .join(alg)
                        .join("new/estimates.json"),
                )
            };
            let (raw, ours, hs) = (est("raw"), est("ours"), est("httpsig_crate"));
            let us = |v: Option<f64>| v.map_or("-".to_string(), |n| format!("{:.2}", n / 1000.0));
            let ratio = |v: Option<f64>| match (v, raw) {
                (Some(a), Some(r)) if r > 0.0 => format!("{:.2}x", a / r),
                _ => "-".to_string(),
            };
            out.push_str(&format!(
                "{:<16} {:<18} {:>10} {:>10} {:>12} {:>10} {:>12}\n",
                group,
                alg,
                us(raw),
                us(ours),
                ratio(ours),
                us(hs),
                ratio(hs)
            ));
        }
    }
    out.push_str("targets: ours/raw <= 1.10x for ed25519 and both ECDSA curves; hmac sign <= 4x\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_mean() {
        let dir = std::env::temp_dir().join(format!("xtask-est-{}", std::process::id()));
        let p = dir.join("http_sig_sign/raw/ed25519/new");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("estimates.json"),
            r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2000.0,"standard_error":0.1},"median":{"point_estimate":9.0}}"#,
        )
        .unwrap();
        assert_eq!(mean_ns(&p.join("estimates.json")), Some(2000.0));
        let table = http_sig_ratio_table(&dir);
        assert!(table.contains("2.00"), "{table}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
