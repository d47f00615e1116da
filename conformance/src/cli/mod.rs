//! The `sigharness` command line. One module per command family; each exposes an `Args` type
//! (clap) and a `run` function returning the process exit code.

pub mod bench;
pub mod http_sig;
pub mod key_directory;
pub mod load;
pub mod mq_hub;
pub mod msg_signer;
pub mod nonce_file;
pub mod serve;
pub mod serve_http_sig;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sigharness_report::exit_code;

use crate::conformance::RunRequest;
use crate::runner::SuiteOptions;

#[derive(Parser, Debug)]
#[command(
    name = "sigharness",
    version,
    about = "Conformance harness for signing protocols: RFC 9421 HTTP Message Signatures, the AMQP messaging signer, the MQ Hub (RFC-130)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size difference between variants does not matter.
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing buys nothing
pub enum Command {
    /// Run conformance suites against a target (default: every suite, embedded reference targets).
    Conformance(ConformanceArgs),
    /// The reference messaging-signer client (container-sign, clear-sign, blob-sign).
    MsgSigner(msg_signer::Args),
    /// RFC 9421 HTTP Message Signatures: sign, verify, print signature bases.
    HttpSig(http_sig::Args),
    /// Run a mock (broker, ...) on its own until Ctrl-C.
    #[command(subcommand)]
    Serve(serve::ServeCommand),
    /// MQ Hub (RFC-130) client: keygen, token, put, get, take, delete.
    MqHub(mq_hub::MqHubArgs),
    /// Measure on this machine (RFC 9421 algorithms: `bench http-sig`).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Sustained open-loop load against a target with every reply judged (load.json, load.md,
    /// load.svg).
    #[command(subcommand)]
    Load(load::LoadCommand),
    /// RFC 9421 normative coverage: the statements of vectors/data/rfc9421_statements.tsv
    /// against the cases of the http-sig suites; exit 1 when a testable MUST has no case.
    Coverage,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ConformanceArgs {
    /// Run only this suite (repeatable).
    #[arg(long = "suite", value_name = "NAME")]
    pub suites: Vec<String>,
    /// Run only cases whose id matches this glob (repeatable), e.g. 'http-sig/rfc9421/2.2*'.
    #[arg(long = "case", value_name = "GLOB")]
    pub cases: Vec<String>,
    /// List the selected cases (id, level, spec section) and exit.
    #[arg(long)]
    pub list: bool,
    /// Print the `--set` keys of the selected suites (type and help) and exit.
    #[arg(long)]
    pub help_settings: bool,
    /// The implementation to judge (each suite's default is `ours`).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Judge the run against expected verdicts (tab-separated `case-id verdict reason` lines):
    /// exit 1 when any verdict differs from the file (listed first), else 0. Cases the file
    /// does not list are expected to pass.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Write report.json, junit.xml and summary.md into this directory.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Protocol profile (e.g. MQ Hub: rfc130 | opendsu).
    #[arg(long)]
    pub profile: Option<String>,
    /// Directory holding the test vectors (default: the built-in copy of vectors/).
    #[arg(long, value_name = "DIR")]
    pub vectors: Option<PathBuf>,
    /// Upper bound on one case, in seconds.
    #[arg(long, default_value_t = 30)]
    pub case_timeout: u64,
    /// MQ Hub deployment to judge instead of the embedded server.
    #[arg(long, value_name = "URL")]
    pub mq_hub_url: Option<String>,
    /// External AMQP broker URL.
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
    /// CA certificate (PEM) to verify an external broker or server.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate and private key (one PEM file) for an external broker.
    #[arg(long, value_name = "FILE")]
    pub cert_key: Option<PathBuf>,
    /// Address mapping for an external broker: none | rabbitmq.
    #[arg(long, value_name = "MAP")]
    pub address_map: Option<String>,
    /// Direction for suites that judge both sides: client | server.
    #[arg(long)]
    pub mode: Option<String>,
    /// External client under test, e.g. 'pubtools-sign-msg-container-sign --config-file {config} ...'.
    #[arg(long, value_name = "CMD")]
    pub client_cmd: Option<String>,
    /// External signing server under test (server mode), started by the suite and attached to
    /// its own broker: '{broker_url}' in CMD (and $SIGHARNESS_BROKER_URL) is that broker.
    #[arg(long, value_name = "CMD")]
    pub server_cmd: Option<String>,
    /// HTTP service that verifies signatures (http-sig-verifier suite).
    #[arg(long, value_name = "URL")]
    pub verifier_url: Option<String>,
    /// Upstream options for the signer-under-test suite (http-sig-signer).
    #[arg(long, value_name = "SPEC")]
    pub upstream: Option<String>,
    /// Command that makes the signer under test send its scripted requests.
    #[arg(long, value_name = "CMD")]
    pub signer_cmd: Option<String>,
    /// External RFC 9421 implementation driven through a JSON-lines shim (http-sig suite;
    /// protocol: conformance/interop/README.md), e.g. 'node shim.mjs'.
    #[arg(long, value_name = "CMD")]
    pub target_cmd: Option<String>,
    /// Suite-specific setting KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// No progress and no summary on the terminal (exit code and report files only).
    #[arg(long, short)]
    pub quiet: bool,
}

impl ConformanceArgs {
    pub fn to_request(&self) -> crate::Result<RunRequest> {
        let settings = parse_settings(&self.settings)?;
        if self.case_timeout == 0 {
            return Err(crate::Error::setup(
                "--case-timeout must be at least 1 second",
            ));
        }
        Ok(RunRequest {
            suites: self.suites.clone(),
            cases: self.cases.clone(),
            list: self.list,
            help_settings: self.help_settings,
            report_dir: self.report_dir.clone(),
            quiet: self.quiet,
            expect: self.expect.clone(),
            options: SuiteOptions {
                target: self.target.clone(),
                profile: self.profile.clone(),
                vectors_dir: self.vectors.clone(),
                case_timeout: Duration::from_secs(self.case_timeout),
                mq_hub_url: self.mq_hub_url.clone(),
                broker: self.broker.clone(),
                ca: self.ca.clone(),
                cert_key: self.cert_key.clone(),
                address_map: self.address_map.clone(),
                mode: self.mode.clone(),
                client_cmd: self.client_cmd.clone(),
                server_cmd: self.server_cmd.clone(),
                verifier_url: self.verifier_url.clone(),
                upstream: self.upstream.clone(),
                signer_cmd: self.signer_cmd.clone(),
                target_cmd: self.target_cmd.clone(),
                settings,
            },
        })
    }
}

/// `--set KEY=VALUE` arguments as a map (the last of a repeated key wins).
pub(crate) fn parse_settings(given: &[String]) -> crate::Result<BTreeMap<String, String>> {
    let mut settings = BTreeMap::new();
    for s in given {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| crate::Error::setup(format!("--set {s:?}: expected KEY=VALUE")))?;
        settings.insert(k.trim().to_string(), v.to_string());
    }
    Ok(settings)
}

/// Build the tokio runtime every command uses.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

pub(crate) fn code(c: i32) -> ExitCode {
    ExitCode::from(c.clamp(0, 255) as u8)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sigharness: cannot start the async runtime: {e}");
            return code(exit_code::COULD_NOT_RUN);
        }
    };
    match cli.command {
        Command::Conformance(args) => {
            let req = match args.to_request() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("sigharness: cannot run: {e}");
                    return code(exit_code::COULD_NOT_RUN);
                }
            };
            let c = rt.block_on(crate::conformance::main(crate::suites::all(), req));
            // A case abandoned at its time bound may still hold a blocking thread (a scenario
            // waiting on a peer): do not wait for it forever.
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
            code(c)
        }
        Command::MsgSigner(args) => code(rt.block_on(msg_signer::run(args))),
        Command::HttpSig(args) => code(http_sig::run(&rt, args)),
        Command::Serve(cmd) => serve::run(&rt, cmd),
        Command::MqHub(args) => code(rt.block_on(mq_hub::run(args))),
        Command::Bench(cmd) => ExitCode::from(bench::run(cmd)),
        Command::Load(cmd) => {
            let c = rt.block_on(load::run(cmd));
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
            code(c)
        }
        Command::Coverage => code(crate::coverage::main(&SuiteOptions::default())),
    }
}
