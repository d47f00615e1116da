//! Suite `http-sig-signer`: judge a signer (e.g. a GraphQL gateway signing its subgraph requests)
//! by the requests it sends to our upstream ([`mock_http_sig_peers::Upstream`]).
//!
//! Targets:
//! - `ours` (default): our `SigningProfile` signs the built-in request script under two built-in
//!   profiles (include list + exclude + nonce + expiry + custom derived components on Ed25519;
//!   defaults + exclude on ECDSA P-256; keys `test-key-ed25519` and `test-key-ecc-p256` of the
//!   test vectors, `--vectors DIR` to take them from DIR/keys) and sends it over loopback HTTP.
//! - `external`: `--upstream ADDR` (listen address the signer is configured to call; default
//!   127.0.0.1:0) and/or `--signer-cmd CMD`, run with `sh -c` and the environment
//!   `SIGHARNESS_UPSTREAM_URL` (http://ADDR) and `SIGHARNESS_SCRIPT` (the request script, JSON).
//!   `--set` keys: [`SETTINGS`] (`--help-settings`).
//!
//! Cases: one per row of [`SignerRule::RULES`] (id `http-sig-signer/<slug>`, spec section,
//! stimulus and requirement from the row), each judged by [`fold`]ing that rule's status over
//! every request received: fail if any request fails the rule (evidence: the requests and their
//! Signature-Input), skip if it applied to none; plus `traffic/requests-received`. A new rule is
//! a variant, a row and a step of `judge_request` in mocks/http-sig-peers/src/judge.rs; this file
//! does not change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_sig::web_bot_auth::{KeyDirectory, SignatureAgentForm, WebBotAuthSigner};
use http_sig::{
    DerivedComponent, HeaderSelection, Key, KeyConfig, ProfileConfig, SignatureParameter,
    SigningProfile,
};
use mock_http_sig_peers::{
    BotExpectations, BotRule, Judge, Keyword, LiveError, Reply, RequestVerdict, Rule, RuleInfo,
    RuleStatus, SignerExpectations, SignerRule, Upstream, load_profile_config, profile_key,
};
use sigharness_report::{CaseMeta, Evidence};
use sigharness_vectors::VectorSet;

use crate::Result;
use crate::http_sig_live::client::{RequestSigner, send_script};
use crate::http_sig_live::script::Script;
use crate::http_sig_live::{load_vectors, unix_now};
use crate::runner::check::{Check, pass, skip};
use crate::runner::{
    BoxFuture, Case, Error, Events, Kind, Level, Selection, Setting, SpecRef, Suite, SuiteOptions,
    SuiteRun, meta,
};

const SUITE: &str = "http-sig-signer";
const RECEIVED: &str = "http-sig-signer/traffic/requests-received";

/// The `--set` keys of this suite.
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        "profile",
        Kind::File,
        "external target: the signing configuration the signer was given (TOML or YAML; required)",
    ),
    Setting::new(
        "key",
        Kind::File,
        "external target: the public key to verify with (default: the profile's own key)",
    ),
    Setting::new(
        "expect_requests",
        Kind::Count,
        "external target: requests to wait for (default: the script length with --signer-cmd, else 1)",
    ),
    Setting::new(
        "wait",
        Kind::Count,
        "seconds to wait for the requests (default 10)",
    ),
    Setting::new(
        "created_tolerance",
        Kind::Count,
        "external target: seconds `created` may be from the upstream's clock (default 30)",
    ),
    Setting::new(
        "transport_headers",
        Kind::Text,
        "external target: comma-separated headers the HTTP client adds after signing, never required to be covered (default host,content-length)",
    ),
    Setting::new(
        "directory",
        Kind::Text,
        "--profile web-bot-auth, external bot: its key directory, a JWK Set FILE or a loopback http:// URL (or --set key=PUBLIC_KEY)",
    ),
    Setting::new(
        "script",
        Kind::File,
        "the request script (JSON, like conformance/src/http_sig_live/script.json; default built in)",
    ),
];

/// One signer under one profile, run in-process.
#[derive(Clone)]
pub struct SignerRun {
    /// Name shown in evidence.
    pub name: String,
    /// The profile the signer was given (what the upstream judges against).
    pub profile: ProfileConfig,
    /// The key the upstream verifies with.
    pub public_key: Key,
    /// The signer.
    pub signer: Arc<dyn RequestSigner>,
}

/// The suite. [`HttpSigSignerSuite::default`] judges our own signer; tests plug in other
/// in-process signers with [`HttpSigSignerSuite::with_runs`].
#[derive(Default, Clone)]
pub struct HttpSigSignerSuite {
    runs: Option<Vec<SignerRun>>,
    bot_runs: Option<Vec<BotRun>>,
}

/// An in-process Web Bot Auth bot: (name, its published keys, the signer).
pub type BotRun = JudgedRun<BotExpectations>;

impl HttpSigSignerSuite {
    /// Judge these in-process signers instead of ours.
    pub fn with_runs(runs: Vec<SignerRun>) -> Self {
        HttpSigSignerSuite {
            runs: Some(runs),
            bot_runs: None,
        }
    }

    /// Under `--profile web-bot-auth`, judge these in-process bots instead of ours.
    pub fn with_bot_runs(runs: Vec<BotRun>) -> Self {
        HttpSigSignerSuite {
            runs: None,
            bot_runs: Some(runs),
        }
    }
}

fn vector_key(set: &VectorSet, id: &str, private: bool) -> Result<String> {
    let (_, bytes) = set
        .key_file(id, private)
        .map_err(|e| Error::setup(format!("vectors key {id}: {e}")))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::setup(format!("vectors key {id} is not text")))
}

/// The two built-in profiles our own signer is judged under, as (name, profile, public key PEM),
/// with the keys of the built-in test vectors.
pub fn builtin_profiles() -> Result<Vec<(String, ProfileConfig, String)>> {
    let set = VectorSet::builtin().map_err(|e| Error::setup(format!("vectors: {e}")))?;
    builtin_profiles_with(&set)
}

/// The built-in profiles with the keys of `set` (`--vectors DIR`).
pub fn builtin_profiles_with(set: &VectorSet) -> Result<Vec<(String, ProfileConfig, String)>> {
    let p1 = ProfileConfig {
        key: KeyConfig {
            file: None,
            inline: Some(vector_key(set, "test-key-ed25519", true)?),
            id: None,
        },
        algorithm: Some("ed25519".into()),
        headers: HeaderSelection {
            // `keep-alive` is listed on purpose: hop-by-hop wins over include.
            include: Some(vec![
                "content-type".into(),
                "x-request-id".into(),
                "x-tenant".into(),
                "x-forwarded-for".into(),
                "authorization".into(),
                "keep-alive".into(),
            ]),
            exclude: vec!["authorization".into()],
        },
        derived_components: vec![
            DerivedComponent::Method,
            DerivedComponent::Authority,
            DerivedComponent::Path,
            DerivedComponent::RequestTarget,
        ],
        signature_parameters: vec![SignatureParameter::Nonce],
        expiry: Some("30s".into()),
    };
    let p2 = ProfileConfig {
        key: KeyConfig {
            file: None,
            inline: Some(vector_key(set, "test-key-ecc-p256", true)?),
            id: Some("gateway-key-2".into()),
        },
        algorithm: None,
        headers: HeaderSelection {
            include: None,
            exclude: vec!["accept".into()],
        },
        derived_components: vec![DerivedComponent::RequestTarget],
        signature_parameters: vec![],
        expiry: None,
    };
    Ok(vec![
        (
            "ed25519-include-nonce-expiry".into(),
            p1,
            vector_key(set, "test-key-ed25519", false)?,
        ),
        (
            "p256-defaults-exclude".into(),
            p2,
            vector_key(set, "test-key-ecc-p256", false)?,
        ),
    ])
}

/// Our own signer under the built-in profiles, with the keys of `set`.
pub fn our_runs(set: &VectorSet) -> Result<Vec<SignerRun>> {
    let mut runs = Vec::new();
    for (name, cfg, public) in builtin_profiles_with(set)? {
        let profile = SigningProfile::from_config(&cfg, None)
            .map_err(|e| Error::setup(format!("built-in profile {name}: {e}")))?;
        let public_key = Key::from_bytes(public.as_bytes())
            .map_err(|e| Error::setup(format!("built-in profile {name}: {e}")))?;
        runs.push(SignerRun {
            name,
            profile: cfg,
            public_key,
            signer: Arc::new(profile),
        });
    }
    Ok(runs)
}

/// The profile the suite judges by: `--profile web-bot-auth` (a bot), else a gateway's signing
/// profile (`--set profile=FILE`).
fn web_bot_auth(opts: &SuiteOptions) -> Result<bool> {
    match opts.profile.as_deref() {
        None | Some("gateway") => Ok(false),
        Some("web-bot-auth") => Ok(true),
        Some(p) => Err(Error::setup(format!(
            "--profile {p:?}: this suite knows `web-bot-auth` (judge a bot) and `gateway` (the default: --set profile=FILE)"
        ))),
    }
}

/// Our Web Bot Auth signer as two bots (issue 15): Ed25519 covering `@authority` + `@method` +
/// `@path`, and ECDSA P-256 covering `@target-uri` without a nonce; both send the Dictionary
/// `Signature-Agent` (`https://bot.example`: judged as text, never resolved) keyed to the label,
/// validity 300 s. The keys are the vector keys of `set`.
pub fn our_bot_runs(set: &VectorSet) -> Result<Vec<BotRun>> {
    let mut runs: Vec<BotRun> = Vec::new();
    for (name, id, components, nonce) in [
        (
            "bot-ed25519-authority-method-path",
            "test-key-ed25519",
            &["@authority", "@method", "@path"][..],
            true,
        ),
        (
            "bot-p256-target-uri",
            "test-key-ecc-p256",
            &["@target-uri"][..],
            false,
        ),
    ] {
        let bad = |e: http_sig::Error| Error::setup(format!("built-in bot {name}: {e}"));
        let private = Key::from_bytes(vector_key(set, id, true)?.as_bytes()).map_err(bad)?;
        let public = Key::from_bytes(vector_key(set, id, false)?.as_bytes()).map_err(bad)?;
        let comps = components
            .iter()
            .map(|c| http_sig::ComponentId::new(c))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(bad)?;
        let mut signer = WebBotAuthSigner::new(private)
            .map_err(bad)?
            .with_components(comps)
            .map_err(bad)?
            .with_signature_agent("https://bot.example", SignatureAgentForm::Dictionary)
            .map_err(bad)?;
        if !nonce {
            signer = signer.with_nonce(http_sig::web_bot_auth::NonceSource::None);
        }
        let keys = KeyDirectory::from_keys([public]).map_err(bad)?;
        runs.push((
            name.to_string(),
            BotExpectations::new(keys),
            Arc::new(signer),
        ));
    }
    Ok(runs)
}

/// An external bot's published keys: `--set directory=FILE|http://loopback/...` (a JWK Set) or
/// `--set key=PUBLIC_KEY_FILE`.
async fn bot_expectations(opts: &SuiteOptions) -> Result<BotExpectations> {
    let keys = match (opts.setting("directory"), opts.setting("key")) {
        (Some(d), _) if d.starts_with("http://") || d.starts_with("https://") => {
            let client = crate::cli::key_directory::client().map_err(Error::setup)?;
            crate::cli::key_directory::DirectoryCache::new()
                .get(&client, d, unix_now())
                .await
                .map_err(|e| Error::setup(format!("--set directory={d}: {e}")))?
                .directory
        }
        (Some(d), _) => {
            let bytes =
                std::fs::read(d).map_err(|e| Error::setup(format!("--set directory={d}: {e}")))?;
            KeyDirectory::parse(&bytes)
                .map_err(|e| Error::setup(format!("--set directory={d}: {e}")))?
        }
        (None, Some(k)) => {
            let key = Key::from_file(k).map_err(|e| Error::setup(format!("--set key={k}: {e}")))?;
            KeyDirectory::from_keys([key])
                .map_err(|e| Error::setup(format!("--set key={k}: {e}")))?
        }
        (None, None) => {
            return Err(Error::setup(
                "--profile web-bot-auth with an external bot needs --set directory=FILE|URL (its JWK Set) or --set key=PUBLIC_KEY",
            ));
        }
    };
    if keys.is_empty() {
        return Err(Error::setup(
            "the bot's directory has no usable key (every entry was rejected)",
        ));
    }
    let mut exp = BotExpectations::new(keys);
    exp.created_tolerance = opts.setting_count("created_tolerance")?.unwrap_or(30);
    Ok(exp)
}

/// What reached the upstream from one signer run.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// Run name (`external` for an external signer).
    pub run: String,
    /// Requests expected.
    pub expected: usize,
    /// Requests received and judged.
    pub received: usize,
    /// Why the in-process signer stopped sending early, if it did.
    pub stopped: Option<String>,
    /// The scripted requests that did not arrive (matched by `METHOD target`, in script order).
    pub missing: Vec<Missing>,
}

/// A scripted request the upstream never received (issue 17 item 7: named in the evidence, and
/// a failure of the rules it would have been judged by).
#[derive(Clone, Debug, PartialEq)]
pub struct Missing {
    /// The script's name for it.
    pub name: String,
    /// `METHOD target`.
    pub request: String,
    /// It carries a header on several lines (what `multi-valued-header-covered-once` judges).
    pub multi_valued: bool,
}

impl Missing {
    /// The rules this request would have been judged by for certain: every request must arrive
    /// signed with a signature that verifies, and one with a repeated header is what the
    /// multi-valued rule needs. (Rules that depend on the profile are not guessed.)
    pub fn judged_by<R: Rule>(&self, rule: R) -> bool {
        rule.judged_when_missing(self.multi_valued)
    }
}

/// The scripted requests of `script` that `received` (`METHOD target` of each verdict) lacks.
pub fn missing_requests(script: &Script, received: &[&str]) -> Vec<Missing> {
    let mut left: Vec<&str> = received.to_vec();
    let mut out = Vec::new();
    for r in &script.requests {
        let key = format!("{} {}", r.method, r.target);
        if let Some(i) = left.iter().position(|x| *x == key) {
            left.remove(i);
            continue;
        }
        let mut names: Vec<String> = r
            .headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        names.sort();
        let multi_valued = names.windows(2).any(|w| w[0] == w[1]);
        out.push(Missing {
            name: r.name.clone(),
            request: key,
            multi_valued,
        });
    }
    out
}

/// Everything the cases fold over.
pub struct Collected<R = SignerRule> {
    /// (run name, verdict) for every request received.
    pub verdicts: Vec<(String, RequestVerdict<R>)>,
    /// Requests expected / received, per run.
    pub traffic: Vec<Traffic>,
}

// ---- cases -----------------------------------------------------------------------------------

/// Every case: the traffic case, then one per signer rule (its data is the rule's row of
/// [`SignerRule::RULES`]; every rule is a MUST of RFC 9421 or of the signing profile, except
/// `created-present-and-recent`, a SHOULD: RFC 9421 §2.3 only RECOMMENDs `created`).
fn cases<R: Rule>() -> Vec<Case<Collected<R>>> {
    let received = meta(
        SUITE,
        RECEIVED,
        SpecRef::new("sigharness", "http-sig-signer"),
        Level::Must,
        "the signer is made to send the scripted requests to the upstream",
        "every expected request reaches the upstream (a signer that fails to sign must not stay silent)",
    );
    let mut v = vec![Case::sync(received, fold_received::<R>)];
    v.extend(R::all().iter().map(|r| {
        let r = *r;
        Case::sync(rule_meta(r.info()), move |c: &Collected<R>| fold(r, c))
    }));
    v
}

fn rule_meta<R>(r: &RuleInfo<R>) -> CaseMeta {
    meta(
        SUITE,
        format!("{SUITE}/{}", r.slug),
        SpecRef::new(r.document, r.section),
        match r.keyword {
            Keyword::Must => Level::Must,
            Keyword::Should => Level::Should,
        },
        r.stimulus,
        r.requirement,
    )
    .with_statements(r.statements.iter().copied())
}

/// Fold the per-request statuses of `rule` into one check: fail if any request fails it (the
/// rule's requirement is the expected side), skip if it applied to none, else pass.
pub fn fold<R: Rule>(rule: R, c: &Collected<R>) -> Check {
    let mut fails = Vec::new();
    let mut passes = 0usize;
    let mut na: Vec<String> = Vec::new();
    for (run, v) in &c.verdicts {
        match v.status(rule) {
            Some(RuleStatus::Fail(d)) => fails.push((run, v, d)),
            Some(RuleStatus::Pass) => passes += 1,
            Some(RuleStatus::NotApplicable(r)) if !na.contains(r) => na.push(r.clone()),
            _ => {}
        }
    }
    // A scripted request that never arrived (the signer erred and sent nothing) fails every
    // rule it would have been judged by, not only the traffic case (issue 17 item 7).
    let not_sent: Vec<String> = c
        .traffic
        .iter()
        .flat_map(|t| {
            t.missing
                .iter()
                .filter(|m| m.judged_by(rule))
                .map(move |m| {
                    format!(
                        "[{}] {} ({}) never reached the upstream{}",
                        t.run,
                        m.name,
                        m.request,
                        t.stopped
                            .as_deref()
                            .map(|w| format!(": {w}"))
                            .unwrap_or_default()
                    )
                })
        })
        .collect();
    if fails.is_empty()
        && let Some(first) = not_sent.first()
    {
        let mut ev = Evidence::new(format!(
            "{} scripted request(s) this rule judges were not sent: {first}",
            not_sent.len()
        ))
        .expected(rule.info().requirement)
        .observed(
            not_sent
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
        );
        for line in not_sent.iter().take(20) {
            ev = ev.log_line(line.clone());
        }
        return Err(ev.into());
    }
    if let Some((_, _, first)) = fails.first() {
        let mut ev = Evidence::new(format!(
            "{} of {} requests fail: {first}",
            fails.len() + not_sent.len(),
            c.verdicts.len() + not_sent.len(),
        ))
        .expected(rule.info().requirement)
        .observed(
            fails
                .iter()
                .take(3)
                .map(|(run, v, d)| format!("[{run}] #{} {}: {d}", v.index, v.request))
                .collect::<Vec<_>>()
                .join("; "),
        );
        for (run, v, d) in fails.iter().take(20) {
            ev = ev.log_line(format!(
                "[{run}] #{} {} -> {d}; Signature-Input: {}",
                v.index,
                v.request,
                v.signature_input.as_deref().unwrap_or("(none)")
            ));
        }
        for line in not_sent.iter().take(20) {
            ev = ev.log_line(line.clone());
        }
        return Err(ev.into());
    }
    if passes == 0 {
        return Err(skip(if na.is_empty() {
            "no request was received".to_string()
        } else {
            format!("not applicable to any request: {}", na.join("; "))
        }));
    }
    let mut ev = Evidence::new(format!("{passes} requests judged, all conform"));
    if let Some((run, v)) = c
        .verdicts
        .iter()
        .find(|(_, v)| v.status(rule) == Some(&RuleStatus::Pass))
    {
        ev = ev.log_line(format!(
            "e.g. [{run}] #{} {}: {}",
            v.index,
            v.request,
            v.signature_input.as_deref().unwrap_or("")
        ));
    }
    Ok(ev)
}

fn fold_received<R>(c: &Collected<R>) -> Check {
    let counts = |t: &Traffic| format!("[{}] {} of {}", t.run, t.received, t.expected);
    let short: Vec<&Traffic> = c
        .traffic
        .iter()
        .filter(|t| t.received < t.expected)
        .collect();
    if short.is_empty() {
        let all: Vec<String> = c.traffic.iter().map(counts).collect();
        return pass(format!("requests received: {}", all.join(", ")));
    }
    let mut ev = Evidence::new("the upstream did not receive every expected request")
        .expected("every scripted request")
        .observed(
            short
                .iter()
                .map(|t| {
                    let names: Vec<&str> = t.missing.iter().map(|m| m.name.as_str()).collect();
                    if names.is_empty() {
                        counts(t)
                    } else {
                        format!("{} (missing: {})", counts(t), names.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
    for t in &short {
        if let Some(why) = &t.stopped {
            ev = ev.log_line(format!("[{}] sending stopped: {why}", t.run));
        }
        for m in &t.missing {
            ev = ev.log_line(format!(
                "[{}] not received: {} ({})",
                t.run, m.name, m.request
            ));
        }
    }
    Err(ev.into())
}

// ---- targets ---------------------------------------------------------------------------------

fn script_for(opts: &SuiteOptions) -> Result<Script> {
    match opts.setting("script") {
        Some(p) => Script::from_file(&PathBuf::from(p)),
        None => Ok(Script::builtin()),
    }
}

fn live(e: LiveError) -> Error {
    Error::setup(e.to_string())
}

fn wait_for(opts: &SuiteOptions) -> Result<Duration> {
    Ok(Duration::from_secs(
        opts.setting_count("wait")?.unwrap_or(10),
    ))
}

async fn collect_in_process(
    runs: &[SignerRun],
    script: &Script,
    wait: Duration,
) -> Result<Collected> {
    let mut judged = Vec::new();
    for run in runs {
        let exp = SignerExpectations::new(&run.profile, run.public_key.clone(), None)
            .map_err(|e| Error::setup(format!("profile {}: {e}", run.name)))?;
        judged.push((run.name.clone(), exp, run.signer.clone()));
    }
    collect_runs(judged, script, wait).await
}

/// One in-process signer judged by `J`: (name, expectations, signer).
type JudgedRun<J> = (String, J, Arc<dyn RequestSigner>);

/// Drive each in-process signer through the script into an upstream judging by its `J`.
async fn collect_runs<J: Judge>(
    runs: Vec<JudgedRun<J>>,
    script: &Script,
    wait: Duration,
) -> Result<Collected<J::Rule>> {
    let mut verdicts = Vec::new();
    let mut traffic = Vec::new();
    for (name, exp, signer) in runs {
        let up = Upstream::start(loopback0(), exp, Reply::default())
            .await
            .map_err(live)?;
        // A signer that refuses a request is a finding, not a setup error: the
        // requests-received case reports it.
        let sent = send_script(script, signer.as_ref(), &up.url(), unix_now).await?;
        let (vs, _) = up.wait_for(script.requests.len(), wait).await;
        let got: Vec<&str> = vs.iter().map(|v| v.request.as_str()).collect();
        traffic.push(Traffic {
            run: name.clone(),
            expected: script.requests.len(),
            received: vs.len(),
            stopped: sent.stopped,
            missing: missing_requests(script, &got),
        });
        verdicts.extend(vs.into_iter().map(|v| (name.clone(), v)));
        up.stop();
    }
    Ok(Collected { verdicts, traffic })
}

fn loopback0() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn collect_external(opts: &SuiteOptions, script: &Script) -> Result<Collected> {
    let profile_path = opts.setting("profile").ok_or_else(|| {
        Error::setup(
            "the external signer target needs --set profile=FILE (the signing configuration the signer was given)",
        )
    })?;
    let (cfg, base) = load_profile_config(&PathBuf::from(profile_path)).map_err(live)?;
    let own = profile_key(&cfg, base.as_deref());
    let key = match opts.setting("key") {
        Some(k) => Key::from_file(k).map_err(|e| Error::setup(format!("--set key={k}: {e}")))?,
        None => own.clone().ok_or_else(|| {
            Error::setup(
                "--set key=PUBLIC_KEY_FILE is needed: the profile's key cannot be loaded here",
            )
        })?,
    };
    let mut exp = SignerExpectations::new(&cfg, key, own.as_ref()).map_err(live)?;
    exp.created_tolerance = opts.setting_count("created_tolerance")?.unwrap_or(30);
    if let Some(t) = opts.setting("transport_headers") {
        exp.transport_headers = t
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
    }
    drive_external(opts, script, exp).await
}

/// Start an upstream judging by `exp` where the external signer is told to call, drive the
/// signer (`--signer-cmd`) or wait for it, and collect what arrived.
async fn drive_external<J: Judge>(
    opts: &SuiteOptions,
    script: &Script,
    exp: J,
) -> Result<Collected<J::Rule>> {
    let listen: SocketAddr = match &opts.upstream {
        None => loopback0(),
        Some(a) => a
            .parse()
            .map_err(|e| Error::setup(format!("--upstream {a:?}: not IP:PORT ({e})")))?,
    };
    let up = Upstream::start(listen, exp, Reply::default())
        .await
        .map_err(live)?;
    let wait = wait_for(opts)?;
    let default_expect = if opts.signer_cmd.is_some() {
        script.requests.len() as u64
    } else {
        1
    };
    let expect = opts
        .setting_count("expect_requests")?
        .unwrap_or(default_expect) as usize;
    if let Some(cmd) = &opts.signer_cmd {
        let script_path = std::env::temp_dir().join(format!(
            "sigharness-script-{}-{}.json",
            std::process::id(),
            up.addr().port()
        ));
        let json = serde_json::to_string_pretty(script)
            .map_err(|e| Error::setup(format!("request script: {e}")))?;
        std::fs::write(&script_path, json).map_err(|e| Error::write(&script_path, e))?;
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("SIGHARNESS_UPSTREAM_URL", up.url())
            .env("SIGHARNESS_SCRIPT", &script_path)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(opts.case_timeout, child).await;
        let _ = std::fs::remove_file(&script_path);
        match out {
            Err(_) => {
                return Err(Error::setup(format!(
                    "--signer-cmd did not finish within {:?}",
                    opts.case_timeout
                )));
            }
            Ok(Err(e)) => return Err(Error::setup(format!("--signer-cmd: cannot run: {e}"))),
            Ok(Ok(o)) if !o.status.success() => {
                let err = String::from_utf8_lossy(&o.stderr);
                return Err(Error::setup(format!(
                    "--signer-cmd exited with {}: {}",
                    o.status,
                    err.lines().last().unwrap_or("")
                )));
            }
            Ok(Ok(_)) => {}
        }
    } else {
        println!(
            "http-sig-signer: upstream listening on {}; waiting up to {wait:?} for {expect} requests",
            up.url()
        );
    }
    let (vs, _) = up.wait_for(expect, wait).await;
    up.stop();
    let got: Vec<&str> = vs.iter().map(|v| v.request.as_str()).collect();
    // The script names what an external signer should have sent only when it is the whole
    // expectation (expect_requests = the script's length).
    let missing = if expect == script.requests.len() {
        missing_requests(script, &got)
    } else {
        Vec::new()
    };
    Ok(Collected {
        traffic: vec![Traffic {
            run: "external".into(),
            expected: expect,
            received: vs.len(),
            stopped: None,
            missing,
        }],
        verdicts: vs.into_iter().map(|v| ("external".into(), v)).collect(),
    })
}

impl Suite for HttpSigSignerSuite {
    fn name(&self) -> &'static str {
        SUITE
    }

    fn about(&self) -> &'static str {
        "RFC 9421 signer under test (e.g. a gateway): judged by the signed requests it sends to our upstream"
    }

    fn targets(&self) -> Vec<&'static str> {
        vec!["ours", "external"]
    }

    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>> {
        Ok(if web_bot_auth(opts)? {
            cases::<BotRule>().into_iter().map(|c| c.meta).collect()
        } else {
            cases::<SignerRule>().into_iter().map(|c| c.meta).collect()
        })
    }

    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }

    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let external = opts.signer_cmd.is_some() || opts.upstream.is_some();
            let target = match (&opts.target, external) {
                (Some(t), _) => opts.target_or(&["ours", "external"]).map(|_| t.clone())?,
                (None, true) => "external".to_string(),
                (None, false) => "ours".to_string(),
            };
            if target == "external" && !external {
                return Err(Error::setup(
                    "--target external needs --upstream ADDR and/or --signer-cmd CMD",
                ));
            }
            let script = script_for(opts)?;
            if web_bot_auth(opts)? {
                let collected = if target == "external" {
                    drive_external(opts, &script, bot_expectations(opts).await?).await?
                } else {
                    let runs = match &self.bot_runs {
                        Some(r) => r.clone(),
                        None => our_bot_runs(&load_vectors(opts)?)?,
                    };
                    collect_runs(runs, &script, wait_for(opts)?).await?
                };
                let cases = cases::<BotRule>();
                SuiteRun::run_whole(
                    SUITE,
                    target,
                    Arc::new(collected),
                    &cases,
                    opts,
                    selection,
                    events,
                )
                .await;
                return Ok(());
            }
            // The signer is driven before the cases run: every case folds over the same traffic.
            let collected = if target == "external" {
                collect_external(opts, &script).await?
            } else {
                let runs = match &self.runs {
                    Some(r) => r.clone(),
                    None => our_runs(&load_vectors(opts)?)?,
                };
                collect_in_process(&runs, &script, wait_for(opts)?).await?
            };
            let cases = cases::<SignerRule>();
            SuiteRun::run_whole(
                SUITE,
                target,
                Arc::new(collected),
                &cases,
                opts,
                selection,
                events,
            )
            .await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_unique_and_prefixed() {
        let metas: Vec<CaseMeta> = cases::<SignerRule>().into_iter().map(|c| c.meta).collect();
        crate::runner::check_ids(&metas).unwrap();
        assert_eq!(metas.len(), SignerRule::ALL.len() + 1);
        let bots: Vec<CaseMeta> = cases::<BotRule>().into_iter().map(|c| c.meta).collect();
        crate::runner::check_ids(&bots).unwrap();
        assert_eq!(bots.len(), BotRule::ALL.len() + 1);
    }

    #[test]
    fn builtin_profiles_load() {
        let runs = our_runs(&VectorSet::builtin().unwrap()).unwrap();
        assert_eq!(runs.len(), 2);
    }

    #[test]
    fn rule_cases_are_the_rows_of_the_rule_table() {
        let metas: Vec<CaseMeta> = cases::<SignerRule>()
            .into_iter()
            .skip(1)
            .map(|c| c.meta)
            .collect();
        for (m, r) in metas.iter().zip(SignerRule::RULES.iter()) {
            assert_eq!(m.id, format!("{SUITE}/{}", r.slug));
            assert_eq!(m.requirement, r.requirement);
            assert_eq!(
                (m.spec.document.as_str(), m.spec.section.as_str()),
                (r.document, r.section)
            );
        }
    }

    #[test]
    fn a_short_run_fails_the_traffic_case_with_the_reason() {
        let c = Collected {
            verdicts: vec![],
            traffic: vec![Traffic {
                run: "r".into(),
                expected: 6,
                received: 2,
                stopped: Some("the signer failed: request \"x\": no".into()),
                missing: vec![],
            }],
        };
        let Err(crate::runner::Stop::Fail(e)) = fold_received(&c) else {
            panic!("2 of 6 must fail")
        };
        assert_eq!(e.observed.as_deref(), Some("[r] 2 of 6"));
        assert!(
            e.log[0].contains("sending stopped: the signer failed"),
            "{:?}",
            e.log
        );
        assert_eq!(
            fold(SignerRule::SignaturePresent, &c).unwrap_err(),
            skip("no request was received")
        );
    }

    /// Issue 17 item 7: the traffic case names the requests that did not arrive, and a request the
    /// signer sent nothing for fails the rules it would have been judged by (the multi-valued rule
    /// fails instead of skipping when the request with the repeated header is the one missing).
    #[test]
    fn missing_requests_are_named_and_fail_their_rules() {
        let script = Script::builtin();
        let got: Vec<String> = script
            .requests
            .iter()
            .filter(|r| r.name != "repeated-header")
            .map(|r| format!("{} {}", r.method, r.target))
            .collect();
        let got: Vec<&str> = got.iter().map(String::as_str).collect();
        let missing = missing_requests(&script, &got);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0].name, "repeated-header");
        assert!(missing[0].multi_valued);
        let c = Collected {
            verdicts: vec![],
            traffic: vec![Traffic {
                run: "r".into(),
                expected: script.requests.len(),
                received: script.requests.len() - 1,
                stopped: Some("the signer failed: request \"repeated-header\": boom".into()),
                missing,
            }],
        };
        let Err(crate::runner::Stop::Fail(e)) = fold_received(&c) else {
            panic!("a missing request must fail the traffic case")
        };
        assert!(
            e.observed
                .as_deref()
                .unwrap_or("")
                .contains("missing: repeated-header"),
            "{e:?}"
        );
        assert!(
            e.log
                .iter()
                .any(|l| l.contains("not received: repeated-header")),
            "{:?}",
            e.log
        );
        for rule in [
            SignerRule::SignaturePresent,
            SignerRule::SignatureVerifies,
            SignerRule::MultiValuedCoveredOnce,
        ] {
            let Err(crate::runner::Stop::Fail(e)) = fold(rule, &c) else {
                panic!("{rule:?} must fail when its request is missing")
            };
            assert!(
                e.summary.contains("repeated-header"),
                "{rule:?}: {}",
                e.summary
            );
            assert!(e.summary.contains("boom"), "{rule:?}: {}", e.summary);
        }
        // A rule that depends on the profile is not guessed: it still skips.
        assert!(matches!(
            fold(SignerRule::NoncePresent, &c),
            Err(crate::runner::Stop::Skip(_))
        ));
    }
}
