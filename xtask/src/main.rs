//! `cargo xtask`: the project's task runner (the cargo-xtask pattern).
//!
//! - `cargo xtask conformance [ARGS]`: build and run `sigharness conformance [ARGS]`.
//! - `cargo xtask bench [GROUP]`: run the criterion benchmarks and print ratios.
//! - `cargo xtask ci`: what CI runs (tests, conformance, interop), locally.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod rabbitmq;

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
  bench [GROUP]        run criterion benchmarks (groups: http-sig) and print ratios
  ci                   run what CI runs: tests, conformance, interop
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
                "--release",
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
            let mut c = cargo();
            c.args([
                "bench",
                "--package",
                "sigharness-benches",
                "--bench",
                "msg_signer",
            ]);
            match c.status() {
                Ok(s) if s.success() => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            }
        }
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
