//! Suite `http-sig-signer`: judge a signer (e.g. a GraphQL gateway signing its subgraph requests)
//! by the requests it sends to our upstream ([`crate::http_sig_live::upstream`]).
//!
//! Targets:
//! - `ours` (default): our `SigningProfile` signs the built-in request script under two built-in
//!   profiles (include list + exclude + nonce + expiry + custom derived components on Ed25519;
//!   defaults + exclude on ECDSA P-256) and sends it over loopback HTTP.
//! - `external`: `--upstream ADDR` (listen address the signer is configured to call; default
//!   127.0.0.1:0) and/or `--signer-cmd CMD`, run with `sh -c` and the environment
//!   `SIGHARNESS_UPSTREAM_URL` (http://ADDR) and `SIGHARNESS_SCRIPT` (the request script, JSON).
//!   Settings (`--set`): `profile=FILE` (required: the signing configuration the signer was
//!   given, TOML or YAML), `key=FILE` (public key; default: the profile's key),
//!   `expect_requests=N` (default: the script length with --signer-cmd, else 1),
//!   `wait=SECONDS` (default 10), `created_tolerance=SECONDS` (default 30),
//!   `transport_headers=host,content-length` (added by the HTTP client after signing),
//!   `script=FILE`.
//!
//! One case per [`SignerRule`], folded over every request received: fail if any request fails
//! the rule (evidence: the requests and their Signature-Input), skip if it applied to none; plus
//! `traffic/requests-received`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_sig::{
    DerivedComponent, HeaderSelection, Key, KeyConfig, ProfileConfig, SignatureParameter,
    SigningProfile,
};
use sigharness_report::{CaseMeta, Evidence};
use sigharness_vectors::VectorSet;

use crate::http_sig_live::client::{RequestSigner, send_script};
use crate::http_sig_live::judge::{RequestVerdict, RuleStatus, SignerExpectations, SignerRule};
use crate::http_sig_live::script::Script;
use crate::http_sig_live::upstream::{Reply, Upstream};
use crate::http_sig_live::{LiveError, load_profile_config, profile_key, unix_now};
use crate::runner::{
    BoxFuture, Case, Error, Event, Events, Level, Outcome, Selection, SpecRef, Suite, SuiteOptions,
    meta, run_cases,
};

const SUITE: &str = "http-sig-signer";
const RECEIVED: &str = "http-sig-signer/traffic/requests-received";

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
}

impl HttpSigSignerSuite {
    /// Judge these in-process signers instead of ours.
    pub fn with_runs(runs: Vec<SignerRun>) -> Self {
        HttpSigSignerSuite { runs: Some(runs) }
    }
}

fn vector_key(id: &str, private: bool) -> Result<String, Error> {
    let set = VectorSet::builtin().map_err(|e| Error::setup(format!("vectors: {e}")))?;
    let (_, bytes) = set
        .key_file(id, private)
        .map_err(|e| Error::setup(format!("vectors key {id}: {e}")))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::setup(format!("vectors key {id} is not text")))
}

/// The two built-in profiles our own signer is judged under, as (name, profile, public key PEM).
pub fn builtin_profiles() -> Result<Vec<(String, ProfileConfig, String)>, Error> {
    let p1 = ProfileConfig {
        key: KeyConfig {
            file: None,
            inline: Some(vector_key("test-key-ed25519", true)?),
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
            inline: Some(vector_key("test-key-ecc-p256", true)?),
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
            vector_key("test-key-ed25519", false)?,
        ),
        (
            "p256-defaults-exclude".into(),
            p2,
            vector_key("test-key-ecc-p256", false)?,
        ),
    ])
}

/// Our own signer under the built-in profiles.
pub fn our_runs() -> Result<Vec<SignerRun>, Error> {
    let mut runs = Vec::new();
    for (name, cfg, public) in builtin_profiles()? {
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

/// Everything the cases fold over.
pub struct Collected {
    /// (run name, verdict) for every request received.
    pub verdicts: Vec<(String, RequestVerdict)>,
    /// Requests expected / received, per run.
    pub traffic: Vec<(String, usize, usize)>,
}

fn rule_meta(rule: SignerRule) -> CaseMeta {
    let (doc, sec) = rule.spec();
    let (desc, req) = rule.text();
    meta(
        SUITE,
        format!("{SUITE}/{}", rule.slug()),
        SpecRef::new(doc, sec),
        Level::Must,
        desc,
        req,
    )
}

fn received_meta() -> CaseMeta {
    meta(
        SUITE,
        RECEIVED,
        SpecRef::new("sigharness", "http-sig-signer"),
        Level::Must,
        "the signer is made to send the scripted requests to the upstream",
        "every expected request reaches the upstream (a signer that fails to sign must not stay silent)",
    )
}

/// Fold the per-request statuses of `rule` into one outcome.
pub fn fold(rule: SignerRule, c: &Collected) -> Outcome {
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
    let (_, requirement) = rule.text();
    if !fails.is_empty() {
        let mut ev = Evidence::new(format!(
            "{} of {} requests fail: {}",
            fails.len(),
            c.verdicts.len(),
            fails[0].2
        ))
        .expected(requirement)
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
        return Outcome::fail(ev);
    }
    if passes == 0 {
        return Outcome::skip(if na.is_empty() {
            "no request was received".to_string()
        } else {
            format!("not applicable to any request: {}", na.join("; "))
        });
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
    Outcome::pass_with(ev)
}

fn fold_received(c: &Collected) -> Outcome {
    let short: Vec<String> = c
        .traffic
        .iter()
        .filter(|(_, want, got)| got < want)
        .map(|(run, want, got)| format!("[{run}] {got} of {want}"))
        .collect();
    let all: Vec<String> = c
        .traffic
        .iter()
        .map(|(run, want, got)| format!("[{run}] {got} of {want}"))
        .collect();
    if short.is_empty() {
        Outcome::pass_with(Evidence::new(format!(
            "requests received: {}",
            all.join(", ")
        )))
    } else {
        Outcome::fail(
            Evidence::new("the upstream did not receive every expected request")
                .expected("every scripted request")
                .observed(short.join(", ")),
        )
    }
}

fn cases() -> Vec<Case<Collected>> {
    let mut v: Vec<Case<Collected>> = vec![Case::sync(received_meta(), |c: &Collected| {
        fold_received(c)
    })];
    for rule in SignerRule::ALL {
        v.push(Case::sync(rule_meta(rule), move |c: &Collected| {
            fold(rule, c)
        }));
    }
    v
}

fn setting<'a>(opts: &'a SuiteOptions, k: &str) -> Option<&'a str> {
    opts.settings.get(k).map(String::as_str)
}

fn parse_num(opts: &SuiteOptions, k: &str, default: u64) -> Result<u64, Error> {
    match setting(opts, k) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| Error::setup(format!("--set {k}={v:?}: expected a whole number"))),
    }
}

fn script_for(opts: &SuiteOptions) -> Result<Script, Error> {
    match setting(opts, "script") {
        Some(p) => Script::from_file(&PathBuf::from(p)).map_err(|e| Error::setup(e.to_string())),
        None => Ok(Script::builtin()),
    }
}

fn live(e: LiveError) -> Error {
    Error::setup(e.to_string())
}

async fn collect_in_process(
    runs: &[SignerRun],
    script: &Script,
    wait: Duration,
) -> Result<Collected, Error> {
    let mut verdicts = Vec::new();
    let mut traffic = Vec::new();
    for run in runs {
        let exp = SignerExpectations::new(&run.profile, run.public_key.clone(), None)
            .map_err(|e| Error::setup(format!("profile {}: {e}", run.name)))?;
        let up = Upstream::start(loopback0(), exp, Reply::default())
            .await
            .map_err(live)?;
        // A signer that refuses a request is a finding, not a setup error: the
        // requests-received case reports it.
        let _ = send_script(script, run.signer.as_ref(), &up.url(), unix_now).await;
        let (vs, _) = up.wait_for(script.requests.len(), wait).await;
        traffic.push((run.name.clone(), script.requests.len(), vs.len()));
        verdicts.extend(vs.into_iter().map(|v| (run.name.clone(), v)));
        up.stop();
    }
    Ok(Collected { verdicts, traffic })
}

fn loopback0() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn collect_external(opts: &SuiteOptions, script: &Script) -> Result<Collected, Error> {
    let profile_path = setting(opts, "profile").ok_or_else(|| {
        Error::setup(
            "the external signer target needs --set profile=FILE (the signing configuration the signer was given)",
        )
    })?;
    let (cfg, base) = load_profile_config(&PathBuf::from(profile_path)).map_err(live)?;
    let own = profile_key(&cfg, base.as_deref());
    let key = match setting(opts, "key") {
        Some(k) => Key::from_file(k).map_err(|e| Error::setup(format!("--set key={k}: {e}")))?,
        None => own.clone().ok_or_else(|| {
            Error::setup(
                "--set key=PUBLIC_KEY_FILE is needed: the profile's key cannot be loaded here",
            )
        })?,
    };
    let mut exp = SignerExpectations::new(&cfg, key, own.as_ref()).map_err(live)?;
    exp.created_tolerance = parse_num(opts, "created_tolerance", 30)?;
    if let Some(t) = setting(opts, "transport_headers") {
        exp.transport_headers = t
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
    }
    let listen: SocketAddr = match &opts.upstream {
        None => loopback0(),
        Some(a) => a
            .parse()
            .map_err(|e| Error::setup(format!("--upstream {a:?}: not IP:PORT ({e})")))?,
    };
    let up = Upstream::start(listen, exp, Reply::default())
        .await
        .map_err(live)?;
    let wait = Duration::from_secs(parse_num(opts, "wait", 10)?);
    let default_expect = if opts.signer_cmd.is_some() {
        script.requests.len() as u64
    } else {
        1
    };
    let expect = parse_num(opts, "expect_requests", default_expect)? as usize;
    if let Some(cmd) = &opts.signer_cmd {
        let script_path = std::env::temp_dir().join(format!(
            "sigharness-script-{}-{}.json",
            std::process::id(),
            up.addr().port()
        ));
        let json = serde_json::to_string_pretty(script)
            .map_err(|e| Error::setup(format!("request script: {e}")))?;
        std::fs::write(&script_path, json)
            .map_err(|e| Error::setup(format!("{}: {e}", script_path.display())))?;
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
    Ok(Collected {
        traffic: vec![("external".into(), expect, vs.len())],
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

    fn cases(&self, _opts: &SuiteOptions) -> Result<Vec<CaseMeta>, Error> {
        Ok(cases().into_iter().map(|c| c.meta).collect())
    }

    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), Error>> {
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
            let collected = if target == "external" {
                collect_external(opts, &script).await?
            } else {
                let runs = match &self.runs {
                    Some(r) => r.clone(),
                    None => our_runs()?,
                };
                collect_in_process(
                    &runs,
                    &script,
                    Duration::from_secs(parse_num(opts, "wait", 10)?),
                )
                .await?
            };
            let all = cases();
            let n = all
                .iter()
                .filter(|c| selection.includes(&c.meta.id))
                .count();
            events.send(Event::SuiteStarted {
                suite: SUITE.into(),
                target,
                cases: n,
            });
            run_cases(
                Arc::new(collected),
                &all,
                selection,
                events,
                opts.case_timeout,
            )
            .await;
            events.send(Event::SuiteFinished {
                suite: SUITE.into(),
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_unique_and_prefixed() {
        let metas: Vec<CaseMeta> = cases().into_iter().map(|c| c.meta).collect();
        crate::runner::check_ids(&metas).unwrap();
        assert_eq!(metas.len(), SignerRule::ALL.len() + 1);
    }

    #[test]
    fn builtin_profiles_load() {
        let runs = our_runs().unwrap();
        assert_eq!(runs.len(), 2);
    }
}
