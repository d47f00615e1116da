//! `sigharness load <protocol>`: sustained open-loop load with every reply judged (see
//! `crate::load`). Exit 0 when every reply was right and errors stayed within
//! `--max-error-rate`, 1 when not, 2 when the run could not start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use sigharness_report::exit_code;

use crate::load::engine::{Plan, Workload};
use crate::load::http_sig_verifier::{
    Endpoint, Row, VerifierLoad, default_weights, rfc9421_rows, web_bot_auth_rows,
};
use crate::load::schedule::Schedule;
use crate::load::trivial::Trivial;
use crate::load::{self, CalibrationRun, Options};
use crate::runner::SuiteOptions;
use crate::runner::settings;

#[derive(Subcommand, Debug)]
pub enum LoadCommand {
    /// An RFC 9421 verifier: the http-sig-verifier suite's live/* requests as a weighted mix,
    /// each built and signed at its send time, each reply judged by the decision its row
    /// requires. Target: --verifier-url URL (loopback) with --set signing_key=FILE, else ours.
    HttpSigVerifier(VerifierArgs),
    /// An MQ Hub (RFC-130): puts on the schedule into --queues queues, a long-polling taker per
    /// queue; every acknowledged put must be taken exactly once, from its queue, with its body.
    /// Target: --mq-hub-url URL --profile rfc130|opendsu (the mq-hub suite's --set keys), else
    /// ours (in memory, or --durable).
    MqHub(HubArgs),
    /// A signing server behind a broker: the msg-signer suite's single-request server cases
    /// (container, clear, blob, batch) as the mix, every reply correlated by request_id and
    /// judged by those cases' checks (OpenPGP signatures verified with --set signing_pubkey).
    /// Target: --broker URL --set sig_key_id=... [--set signing_pubkey=FILE], or --server-cmd,
    /// else ours (embedded broker + mock signing server).
    MsgSigner(SignerArgs),
    /// Past one machine: write the requests of a run as a corpus (plan.json, corpus.jsonl) for
    /// an external load engine (Locust: conformance/load/locustfile.py) to replay.
    #[command(subcommand)]
    Prepare(PrepareCommand),
    /// Judge the replies an external load engine recorded (results-*.jsonl) against the corpus,
    /// merging every worker's records: load.json, load.md, load.svg; exit as `load`.
    Judge(JudgeArgs),
}

#[derive(Subcommand, Debug)]
pub enum PrepareCommand {
    /// The http-sig-verifier mix, signed now, for the verifier at --verifier-url.
    HttpSigVerifier(PrepareVerifierArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct PrepareVerifierArgs {
    /// The verifier the corpus is for (loopback): its authority is signed into the requests.
    #[arg(long, value_name = "URL")]
    pub verifier_url: String,
    /// rfc9421 (default) | web-bot-auth: the suite profile whose rows are the corpus.
    #[arg(long)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// Directory for plan.json and corpus.jsonl.
    #[arg(long, default_value = "sigharness-corpus", value_name = "DIR")]
    pub out: PathBuf,
}

/// The schedule and the mix of a load (in process, or prepared for an external engine).
#[derive(clap::Args, Debug, Clone)]
pub struct ScheduleArgs {
    /// Arrivals per second (after the ramp).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Length of the schedule, ramp included (e.g. 30s, 5m).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Rise linearly from 0 to --rate over this long (0s: no ramp).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub ramp: Duration,
    /// Weights of the request kinds, KIND=W,... (kinds not named keep their default; the
    /// kinds are listed in load.md and by an unknown name's error).
    #[arg(long, default_value = "")]
    pub mix: String,
}

impl ScheduleArgs {
    fn schedule(&self) -> Result<Schedule, String> {
        Schedule::new(self.rate, self.duration, self.ramp)
    }
}

/// What configures the target, as for the protocol's suite.
#[derive(clap::Args, Debug, Clone)]
pub struct SuiteArgs {
    /// Suite-specific setting KEY=VALUE (repeatable): the keys of the protocol's suite.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Directory holding the test vectors (default: the built-in copy).
    #[arg(long, value_name = "DIR")]
    pub vectors: Option<PathBuf>,
}

impl SuiteArgs {
    /// The suite options a protocol's `prepare` takes, the `--set` keys checked against the
    /// suite's.
    fn options(
        &self,
        suite: &str,
        declared: &'static [crate::runner::Setting],
    ) -> Result<SuiteOptions, String> {
        let given = super::parse_settings(&self.settings).map_err(|e| e.to_string())?;
        settings::validate(&given, &[(suite, declared)]).map_err(|e| e.to_string())?;
        Ok(SuiteOptions {
            vectors_dir: self.vectors.clone(),
            settings: given,
            ..SuiteOptions::default()
        })
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct JudgeArgs {
    /// The corpus directory (plan.json, corpus.jsonl).
    #[arg(long, value_name = "DIR")]
    pub corpus: PathBuf,
    /// The directory of the workers' results-*.jsonl files.
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,
    /// Errors and unsent arrivals allowed, as a fraction of the schedule.
    #[arg(long, default_value_t = 0.0)]
    pub max_error_rate: f64,
    /// Refuse a replay that started longer than this after the corpus was signed (its rows are
    /// time-dependent: created, expires, a verifier's max age).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_corpus_age: Duration,
    /// Directory for load.json, load.md and load.svg.
    #[arg(long, default_value = "sigharness-load", value_name = "DIR")]
    pub out: PathBuf,
}

/// What every protocol's load takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Requests in flight at most; an arrival that finds them all busy waits, and its latency
    /// still counts from when it was due.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Bound on one request from its send.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Errors and unsent arrivals allowed, as a fraction of the schedule (wrong replies are
    /// never allowed).
    #[arg(long, default_value_t = 0.0)]
    pub max_error_rate: f64,
    /// Measure the generator's own ceiling first, for this long, against a trivial loopback
    /// target (0s: skip; the report then cannot say whether the generator was the limit).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub calibrate: Duration,
    /// Directory for load.json, load.md and load.svg.
    #[arg(long, default_value = "sigharness-load", value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// No progress on the terminal (the summary and the files only).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct VerifierArgs {
    #[command(flatten)]
    pub common: Common,
    /// The verifier under test (http://127.0.0.1:PORT; loopback only). Default: ours.
    #[arg(long, value_name = "URL")]
    pub verifier_url: Option<String>,
    /// rfc9421 (default) | web-bot-auth: the suite profile whose rows are the mix.
    #[arg(long)]
    pub profile: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct HubArgs {
    #[command(flatten)]
    pub common: Common,
    /// The hub under test. Default: ours, started in-process.
    #[arg(long, value_name = "URL")]
    pub mq_hub_url: Option<String>,
    /// rfc130 | opendsu (required with --mq-hub-url; ours: default rfc130).
    #[arg(long)]
    pub profile: Option<String>,
    /// Queues (one owner DID and one taker each); arrivals go round robin.
    #[arg(long, default_value_t = 8)]
    pub queues: usize,
    /// Ours only: the durable store (redb in a temporary directory; every 200 is fsynced first).
    #[arg(long)]
    pub durable: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SignerArgs {
    #[command(flatten)]
    pub common: Common,
    /// The broker the signing server under test listens on (amqp:// or amqps:// on loopback).
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
    /// CA certificate (PEM) for an amqps:// broker.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate and key (one PEM file) for an amqps:// broker.
    #[arg(long, value_name = "FILE")]
    pub cert_key: Option<PathBuf>,
    /// Address mapping for the broker: none | rabbitmq.
    #[arg(long, value_name = "MAP")]
    pub address_map: Option<String>,
    /// A signing server to start and attach to our embedded broker ('{broker_url}' in CMD).
    #[arg(long, value_name = "CMD")]
    pub server_cmd: Option<String>,
}

impl Common {
    fn options(&self) -> Result<Options, String> {
        if !(1..=65_536).contains(&self.concurrency) {
            return Err(format!(
                "--concurrency {}: give 1 to 65536",
                self.concurrency
            ));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(600) {
            return Err("--timeout: give more than 0 s and at most 10 min".into());
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err(format!(
                "--max-error-rate {}: give a fraction from 0 to 1",
                self.max_error_rate
            ));
        }
        if self.calibrate > Duration::from_secs(60) {
            return Err("--calibrate: at most 60 s".into());
        }
        Ok(Options {
            plan: Plan {
                schedule: self.schedule.schedule()?,
                concurrency: self.concurrency,
                timeout: self.timeout,
            },
            max_error_rate: self.max_error_rate,
            calibrate: self.calibrate,
            quiet: self.quiet,
        })
    }
}

pub async fn run(cmd: LoadCommand) -> i32 {
    let (name, r) = match cmd {
        LoadCommand::HttpSigVerifier(a) => ("http-sig-verifier", http_sig_verifier(a).await),
        LoadCommand::MqHub(a) => ("mq-hub", mq_hub(a).await),
        LoadCommand::MsgSigner(a) => ("msg-signer", msg_signer(a).await),
        LoadCommand::Prepare(PrepareCommand::HttpSigVerifier(a)) => {
            ("prepare http-sig-verifier", prepare_verifier(a).await)
        }
        LoadCommand::Judge(a) => ("judge", judge(a)),
    };
    match r {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sigharness load {name}: {e}");
            exit_code::COULD_NOT_RUN
        }
    }
}

/// Run, print the summary, write the files; the exit code.
async fn finish<W: Workload, C: Workload>(
    protocol: &str,
    target: &str,
    common: &Common,
    opts: &Options,
    workload: Arc<W>,
    calibration: Option<CalibrationRun<C>>,
    weights: &[u32],
) -> Result<i32, String> {
    let report = load::execute(protocol, target, workload, calibration, weights, opts).await;
    print!("{}", load::report::summary(&report));
    load::write(&common.out, &report)?;
    println!(
        "wrote {0}/load.json, {0}/load.md, {0}/load.svg",
        common.out.display()
    );
    Ok(if report.passed {
        exit_code::ALL_MUST_PASSED
    } else {
        exit_code::MUST_FAILED
    })
}

/// The http-sig-verifier target of the suite (`ours` in process, or `--verifier-url`), in its
/// profile (RFC 9421 or Web Bot Auth): its name, where requests go, the rows its mix can hold,
/// their weights, and what keeps an in-process target alive.
type VerifierTarget = (
    String,
    Endpoint,
    Vec<Row>,
    Vec<u32>,
    Box<dyn std::any::Any + Send + Sync>,
);

async fn verifier_target(sopts: &SuiteOptions, mix: &str) -> Result<VerifierTarget, String> {
    use crate::suites::http_sig_verifier as suite;
    let set = crate::http_sig_live::load_vectors(sopts).map_err(|e| e.to_string())?;
    type Keep = Box<dyn std::any::Any + Send + Sync>;
    let (target, endpoint, (rows, left_out), keep): (_, _, _, Keep) = match sopts.profile.as_deref()
    {
        None | Some("rfc9421") => {
            let (target, ctx) = suite::prepare(sopts, &set)
                .await
                .map_err(|e| e.to_string())?;
            let ctx = Arc::new(ctx);
            (
                target,
                Endpoint::of(&ctx),
                rfc9421_rows(ctx.clone()),
                Box::new(ctx),
            )
        }
        Some("web-bot-auth") => {
            let (target, ctx) = suite::web_bot_auth::prepare(sopts, &set)
                .await
                .map_err(|e| e.to_string())?;
            let ctx = Arc::new(ctx);
            (
                target,
                Endpoint::of_web_bot_auth(&ctx),
                web_bot_auth_rows(ctx.clone()),
                Box::new(ctx),
            )
        }
        Some(p) => {
            return Err(format!(
                "--profile {p:?}: http-sig-verifier knows rfc9421 (the default) and web-bot-auth"
            ));
        }
    };
    let target = sopts.verifier_url.clone().unwrap_or(target);
    for (id, why) in &left_out {
        eprintln!("left out of the mix: {id}: {why}");
    }
    if rows.is_empty() {
        return Err("no request kind can be built for this target".into());
    }
    let kinds: Vec<String> = rows.iter().map(|r| r.slug.to_string()).collect();
    let weights = load::parse_mix(mix, &kinds, &default_weights(&rows))?;
    Ok((target, endpoint, rows, weights, keep))
}

async fn http_sig_verifier(a: VerifierArgs) -> Result<i32, String> {
    use crate::suites::http_sig_verifier as suite;
    let opts = a.common.options()?;
    let mut sopts = a
        .common
        .suite
        .options("http-sig-verifier", suite::SETTINGS)?;
    sopts.verifier_url = a.verifier_url.clone();
    sopts.profile = a.profile.clone();
    let (target, endpoint, rows, weights, _keep) =
        verifier_target(&sopts, &a.common.schedule.mix).await?;
    let workload = Arc::new(VerifierLoad::new(endpoint, rows, &weights));
    let trivial = Trivial::start(opts.plan.concurrency)
        .await
        .map_err(|e| format!("the calibration's trivial target: {e}"))?;
    let calibration = CalibrationRun {
        workload: Arc::new(workload.calibration(trivial.url())),
        target: "a loopback HTTP server answering 200 at once".into(),
    };
    let code = finish(
        "http-sig-verifier",
        &target,
        &a.common,
        &opts,
        workload,
        Some(calibration),
        &weights,
    )
    .await;
    drop(trivial);
    code
}

async fn mq_hub(a: HubArgs) -> Result<i32, String> {
    use crate::load::mq_hub::{HubLoad, PutOnly};
    use crate::suites::mq_hub as suite;
    let opts = a.common.options()?;
    if !(1..=1024).contains(&a.queues) {
        return Err(format!("--queues {}: give 1 to 1024", a.queues));
    }
    let mut sopts = a.common.suite.options("mq-hub", suite::SETTINGS)?;
    sopts.mq_hub_url = a.mq_hub_url.clone();
    sopts.profile = a.profile.clone();
    let profile = match (&a.profile, &a.mq_hub_url) {
        (None, None) => mq_hub::Profile::Rfc130,
        _ => suite::profiles(&sopts).map_err(|e| e.to_string())?[0],
    };
    let store_dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let (target, ctx) = match &a.mq_hub_url {
        Some(u) => {
            if a.durable {
                return Err("--durable is for ours (the hub under test has its own store)".into());
            }
            crate::runner::ensure_reachable("--mq-hub-url", u)
                .await
                .map_err(|e| e.to_string())?;
            (
                u.clone(),
                suite::Ctx::external(u, profile, &sopts).map_err(|e| e.to_string())?,
            )
        }
        None => {
            let cfg = mq_hub::HubConfig {
                profile,
                domains: vec!["load.test".into()],
                connection_timeout_ms: 1_000,
                storage: if a.durable {
                    mq_hub::StorageConfig::Durable {
                        path: store_dir.path().join("hub.redb"),
                    }
                } else {
                    mq_hub::StorageConfig::Memory
                },
                ..mq_hub::HubConfig::default()
            };
            let what = if a.durable {
                "ours (durable)"
            } else {
                "ours (memory)"
            };
            (
                what.to_string(),
                suite::Ctx::embedded_with(cfg)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    let ctx = Arc::new(ctx);
    let grace = opts.plan.timeout;
    let workload = HubLoad::start(ctx.clone(), a.queues, grace).await?;
    let trivial = Trivial::start(opts.plan.concurrency)
        .await
        .map_err(|e| format!("the calibration's trivial target: {e}"))?;
    let calibration = CalibrationRun {
        workload: Arc::new(PutOnly::new(trivial.url(), &ctx)?),
        target: "a loopback HTTP server answering 200 at once (puts only)".into(),
    };
    let code = finish(
        "mq-hub",
        &target,
        &a.common,
        &opts,
        workload,
        Some(calibration),
        &[1],
    )
    .await;
    drop(trivial);
    code
}

async fn msg_signer(a: SignerArgs) -> Result<i32, String> {
    use crate::load::msg_signer::{SignerLoad, kinds, no_work_target};
    use crate::suites::msg_signer as suite;
    let opts = a.common.options()?;
    let mut sopts = a.common.suite.options(suite::NAME, suite::SETTINGS)?;
    sopts.broker = a.broker.clone();
    sopts.ca = a.ca.clone();
    sopts.cert_key = a.cert_key.clone();
    sopts.address_map = a.address_map.clone();
    sopts.server_cmd = a.server_cmd.clone();
    sopts.mode = Some("server".into());
    let ctx = suite::server_ctx(&sopts).await.map_err(|e| e.to_string())?;
    if ctx.pubkeys.is_none() {
        eprintln!(
            "note: without --set signing_pubkey=FILE the signatures are not verified (the suite's signature checks skip)"
        );
    }
    let target = match (&a.broker, &a.server_cmd) {
        (Some(b), _) => b.clone(),
        (None, Some(cmd)) => cmd.clone(),
        (None, None) => "ours (embedded broker + mock signing server)".into(),
    };
    let ks = kinds();
    let names: Vec<String> = ks.iter().map(|k| k.name.to_string()).collect();
    let weights = load::parse_mix(&a.common.schedule.mix, &names, &vec![1; names.len()])?;
    let workload = SignerLoad::start(Arc::new(ctx), ks, &weights, true).await?;
    let trivial = no_work_target().await?;
    let calibration = CalibrationRun {
        workload: SignerLoad::start(Arc::new(trivial), kinds(), &weights, false).await?,
        target: "our embedded broker and a responder that does no work".into(),
    };
    finish(
        "msg-signer",
        &target,
        &a.common,
        &opts,
        workload,
        Some(calibration),
        &weights,
    )
    .await
}

async fn prepare_verifier(a: PrepareVerifierArgs) -> Result<i32, String> {
    use crate::load::corpus::{self, CORPUS_SCHEMA_VERSION, CorpusPlan, Entry};
    use crate::suites::http_sig_verifier as suite;
    let schedule = a.schedule.schedule()?;
    let mut sopts = a.suite.options("http-sig-verifier", suite::SETTINGS)?;
    sopts.verifier_url = Some(a.verifier_url.clone());
    sopts.profile = a.profile.clone();
    let (target, endpoint, rows, weights, _keep) = verifier_target(&sopts, &a.schedule.mix).await?;
    let load = VerifierLoad::new(endpoint, rows, &weights);
    let kinds = load.kinds();
    let now = crate::http_sig_live::unix_now();
    let plan = CorpusPlan {
        schema_version: CORPUS_SCHEMA_VERSION,
        protocol: "http-sig-verifier".into(),
        target: target.trim_end_matches('/').to_string(),
        rate: a.schedule.rate,
        duration_s: a.schedule.duration.as_secs_f64(),
        ramp_s: a.schedule.ramp.as_secs_f64(),
        entries: 0,
        accept: sopts.setting("accept").unwrap_or("2xx").to_string(),
        reject: sopts.setting("reject").unwrap_or("401,403").to_string(),
        kinds: kinds.clone(),
        mix: crate::load::engine::mix_map(&kinds, &weights),
        signed_at: now,
        run_id: crate::suites::http_sig_verifier::random_token(9),
    };
    let n = corpus::write(&a.out, &plan, &schedule, |seq| {
        let kind = load.kind_of(seq);
        let row = &load.rows()[kind];
        let (msg, _) =
            (row.build)(now).map_err(|e| format!("{}: cannot build its request: {e:?}", row.id))?;
        Ok(Entry {
            seq,
            kind,
            due_us: 0,
            steps: corpus::steps(row.want, &msg).map_err(|e| format!("{}: {e}", row.id))?,
        })
    })?;
    println!(
        "wrote {n} requests for {target} ({}/s for {:.0} s) to {dir}/corpus.jsonl and {dir}/plan.json",
        a.schedule.rate,
        a.schedule.duration.as_secs_f64(),
        dir = a.out.display(),
    );
    Ok(exit_code::ALL_MUST_PASSED)
}

fn judge(a: JudgeArgs) -> Result<i32, String> {
    if !(0.0..=1.0).contains(&a.max_error_rate) {
        return Err(format!(
            "--max-error-rate {}: give a fraction from 0 to 1",
            a.max_error_rate
        ));
    }
    let report =
        crate::load::corpus::judge(&a.corpus, &a.results, a.max_error_rate, a.max_corpus_age)?;
    print!("{}", load::report::summary(&report));
    load::write(&a.out, &report)?;
    println!(
        "wrote {0}/load.json, {0}/load.md, {0}/load.svg",
        a.out.display()
    );
    Ok(if report.passed {
        exit_code::ALL_MUST_PASSED
    } else {
        exit_code::MUST_FAILED
    })
}
