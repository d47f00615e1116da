//! The live RFC 9421 suites against our own targets and against deliberately faulty ones:
//! the known Grafbase gateway bugs (include list ignored; duplicate component ids for a
//! multi-valued header) must fail exactly the matching `http-sig-signer` cases.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use http_sig::{
    ComponentId, HttpMessage, Key, OnCollision, ProfileConfig, SignatureParams, add_signature,
    component_value,
};
use sigharness::http_sig_live::client::{RequestSigner, SignError};
use sigharness::runner::{Events, Selection, Suite, SuiteOptions};
use sigharness::suites::http_sig_signer::{HttpSigSignerSuite, SignerRun, builtin_profiles};
use sigharness::suites::http_sig_verifier::HttpSigVerifierSuite;
use sigharness_report::{CaseReport, Level, Verdict};

const HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A signer with the Grafbase gateway's known bugs, switchable one by one.
struct FaultySigner {
    cfg: ProfileConfig,
    key: Key,
    alg: http_sig::Algorithm,
    /// Bug 1: `headers.include` has no effect (only `exclude` works).
    ignore_include: bool,
    /// Bug 2: a header sent on several lines is listed once per line.
    duplicate_multi_valued: bool,
}

impl RequestSigner for FaultySigner {
    fn sign_request(&self, msg: &mut HttpMessage, now: u64) -> Result<(), SignError> {
        let e = |e: http_sig::Error| -> SignError { e.into() };
        let mut comps: Vec<ComponentId> = Vec::new();
        for d in &self.cfg.derived_components {
            comps.push(ComponentId::new(d.component_name()).map_err(e)?);
        }
        let connection: Vec<String> = msg
            .header_values("connection")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        let include: Option<Vec<String>> = self
            .cfg
            .headers
            .include
            .as_ref()
            .map(|v| v.iter().map(|h| h.to_ascii_lowercase()).collect());
        let exclude: Vec<String> = self
            .cfg
            .headers
            .exclude
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        for (n, _) in &msg.headers {
            let n = n.to_ascii_lowercase();
            if HOP.contains(&n.as_str()) || n.starts_with("proxy-") || connection.contains(&n) {
                continue;
            }
            if exclude.contains(&n) {
                continue;
            }
            if !self.ignore_include && include.as_ref().is_some_and(|inc| !inc.contains(&n)) {
                continue;
            }
            let id = ComponentId::new(&n).map_err(e)?;
            if comps.contains(&id) && !self.duplicate_multi_valued {
                continue;
            }
            comps.push(id);
        }
        let mut p = SignatureParams::new(comps);
        p.set_created(now as i64).map_err(e)?;
        if let Some(x) = &self.cfg.expiry {
            let secs = humantime::parse_duration(x)?.as_secs();
            p.set_expires(now as i64 + secs as i64).map_err(e)?;
        }
        if !self.cfg.signature_parameters.is_empty() {
            let mut b = [0u8; 16];
            aws_lc_rs::rand::fill(&mut b).map_err(|_| "rng")?;
            p.set_nonce(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
                .map_err(e)?;
        }
        p.set_alg(self.alg.name()).map_err(e)?;
        let keyid = self
            .cfg
            .key
            .id
            .clone()
            .unwrap_or_else(|| self.key.default_keyid());
        p.set_keyid(&keyid).map_err(e)?;
        // Build the base by hand: the library refuses duplicate component ids (RFC 9421 §2.5),
        // the buggy gateway does not.
        let mut base = String::new();
        for c in &p.components {
            base.push_str(&format!(
                "{}: {}\n",
                c.serialize(),
                component_value(msg, None, c).map_err(e)?
            ));
        }
        base.push_str(&format!("\"@signature-params\": {}", p.serialize()));
        let sig = self.key.sign(self.alg, base.as_bytes()).map_err(e)?;
        add_signature(msg, "sig", &p, &sig, OnCollision::Error).map_err(e)
    }
}

fn faulty_runs(ignore_include: bool, duplicate_multi_valued: bool) -> Vec<SignerRun> {
    builtin_profiles()
        .unwrap()
        .into_iter()
        .map(|(name, cfg, public)| {
            let private = Key::from_bytes(cfg.key.inline.as_ref().unwrap().as_bytes()).unwrap();
            let alg = private.default_algorithm();
            SignerRun {
                name,
                public_key: Key::from_bytes(public.as_bytes()).unwrap(),
                signer: Arc::new(FaultySigner {
                    cfg: cfg.clone(),
                    key: private,
                    alg,
                    ignore_include,
                    duplicate_multi_valued,
                }),
                profile: cfg,
            }
        })
        .collect()
}

async fn run_suite(suite: &dyn Suite, opts: &SuiteOptions) -> Vec<CaseReport> {
    sigharness::runner::run_and_collect(suite, opts, Duration::from_secs(60))
        .await
        .unwrap()
}

fn failed(reports: &[CaseReport]) -> BTreeSet<String> {
    reports
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .map(|r| r.id.clone())
        .collect()
}

fn show(reports: &[CaseReport]) -> String {
    reports
        .iter()
        .map(|r| format!("{} {:?}: {}", r.id, r.verdict, r.evidence.summary))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_signer_passes_every_signer_case() {
    let reports = run_suite(&HttpSigSignerSuite::default(), &SuiteOptions::default()).await;
    assert_eq!(reports.len(), 16, "{}", show(&reports));
    assert!(failed(&reports).is_empty(), "{}", show(&reports));
    // Every MUST case applied to at least one request (none skipped for lack of traffic).
    let skipped: Vec<_> = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Skip)
        .collect();
    assert!(skipped.is_empty(), "{}", show(&reports));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_list_ignored_is_caught() {
    let reports = run_suite(
        &HttpSigSignerSuite::with_runs(faulty_runs(true, false)),
        &SuiteOptions::default(),
    )
    .await;
    let want: BTreeSet<String> = ["http-sig-signer/profile/headers/include-honoured"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(failed(&reports), want, "{}", show(&reports));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_component_ids_for_multi_valued_headers_are_caught() {
    let reports = run_suite(
        &HttpSigSignerSuite::with_runs(faulty_runs(false, true)),
        &SuiteOptions::default(),
    )
    .await;
    let want: BTreeSet<String> = [
        "http-sig-signer/rfc9421/3.2/signature-verifies",
        "http-sig-signer/rfc9421/2.5/no-duplicate-component-ids",
        "http-sig-signer/rfc9421/2.1/multi-valued-header-covered-once",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(failed(&reports), want, "{}", show(&reports));
    let dup = reports
        .iter()
        .find(|r| r.id.ends_with("no-duplicate-component-ids"))
        .unwrap();
    let observed = dup.evidence.observed.clone().unwrap_or_default();
    assert!(
        observed.contains("x-forwarded-for") || observed.contains("x-tenant"),
        "{observed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_gateway_bugs_together() {
    let reports = run_suite(
        &HttpSigSignerSuite::with_runs(faulty_runs(true, true)),
        &SuiteOptions::default(),
    )
    .await;
    let want: BTreeSet<String> = [
        "http-sig-signer/profile/headers/include-honoured",
        "http-sig-signer/rfc9421/3.2/signature-verifies",
        "http-sig-signer/rfc9421/2.5/no-duplicate-component-ids",
        "http-sig-signer/rfc9421/2.1/multi-valued-header-covered-once",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(failed(&reports), want, "{}", show(&reports));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_verifier_passes_every_must_case() {
    let reports = run_suite(&HttpSigVerifierSuite, &SuiteOptions::default()).await;
    let must_failed: Vec<_> = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Fail && r.level == Level::Must)
        .collect();
    assert!(must_failed.is_empty(), "{}", show(&reports));
    let live_pass = reports
        .iter()
        .filter(|r| r.id.contains("/live/") && r.verdict == Verdict::Pass)
        .count();
    assert_eq!(live_pass, 12, "{}", show(&reports));
    let vec_pass = reports
        .iter()
        .filter(|r| r.id.contains("/vectors/") && r.verdict == Verdict::Pass)
        .count();
    assert!(
        vec_pass >= 20,
        "only {vec_pass} vectors replayed\n{}",
        show(&reports)
    );
}

fn external_opts(url: String) -> SuiteOptions {
    let mut o = SuiteOptions {
        verifier_url: Some(url),
        ..SuiteOptions::default()
    };
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vectors/keys/test-key-ed25519.pkcs8.pem"
    );
    for (k, v) in [
        ("signing_key", key),
        ("keyid", "test-key-ed25519"),
        ("scheme", "https"),
        ("vector_key", "test-key-ed25519"),
        ("required_components", "\"@method\""),
    ] {
        o.settings.insert(k.into(), v.into());
    }
    o
}

/// Our verifier service reached through --verifier-url (the external path) passes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_verifier_path_against_our_service() {
    use mock_http_sig_peers::{VerifierConfig, VerifierService};
    let spki = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vectors/keys/test-key-ed25519.spki.pem"
    );
    let mut cfg = VerifierConfig::new(Key::from_file(spki).unwrap());
    cfg.keyids = vec!["test-key-ed25519".into()];
    cfg.scheme = "https".into();
    cfg.policy.required_components = vec!["\"@method\"".into()];
    let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
        .await
        .unwrap();
    let reports = run_suite(&HttpSigVerifierSuite, &external_opts(svc.url())).await;
    let must_failed: Vec<_> = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Fail && r.level == Level::Must)
        .collect();
    assert!(must_failed.is_empty(), "{}", show(&reports));
}

/// A verifier that accepts everything fails every reject case and every invalid vector, and
/// passes the accept cases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_everything_verifier_is_caught() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async { "ok" });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let reports = run_suite(&HttpSigVerifierSuite, &external_opts(url)).await;
    server.abort();
    let live_failed: BTreeSet<String> = failed(&reports)
        .into_iter()
        .filter(|id| id.contains("/live/"))
        .collect();
    let want: BTreeSet<String> = [
        "unsigned-rejected",
        "expired-rejected",
        "created-in-future-rejected",
        "nonce-replay-rejected",
        "wrong-key-rejected",
        "alg-mismatch-rejected",
        "missing-required-component-rejected",
        "tampered-body-rejected",
        "tampered-covered-header-rejected",
        "tampered-signature-rejected",
    ]
    .iter()
    .map(|s| format!("http-sig-verifier/live/{s}"))
    .collect();
    assert_eq!(live_failed, want, "{}", show(&reports));
    for r in &reports {
        if r.id.contains("/vectors/") && r.verdict == Verdict::Fail {
            assert!(r.requirement.starts_with("rejected"), "{}", r.id);
        }
    }
    assert!(failed(&reports).iter().any(|id| id.contains("/vectors/")));
}

/// Every key the tests pass is a declared setting of the suite (the runner rejects others).
#[test]
fn the_settings_the_tests_use_are_declared() {
    use sigharness::runner::settings::validate;
    let opts = external_opts("http://127.0.0.1:1".into());
    validate(
        &opts.settings,
        &[("http-sig-verifier", HttpSigVerifierSuite.settings())],
    )
    .unwrap();
    let mut bad = opts.settings.clone();
    bad.insert("scheme".into(), "ftp".into());
    let e = validate(
        &bad,
        &[("http-sig-verifier", HttpSigVerifierSuite.settings())],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("expected one of http, https"), "{e}");
    let signer = HttpSigSignerSuite::default();
    for key in [
        "profile",
        "key",
        "expect_requests",
        "wait",
        "created_tolerance",
        "transport_headers",
        "script",
    ] {
        assert!(
            signer.settings().iter().any(|s| s.key == key),
            "{key} is not declared"
        );
    }
}

/// `--vectors DIR` is where both suites take their keys (and the verifier its vectors) from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_suites_read_the_vectors_dir() {
    let here = SuiteOptions {
        vectors_dir: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors").into()),
        ..SuiteOptions::default()
    };
    let reports = run_suite(&HttpSigSignerSuite::default(), &here).await;
    assert_eq!(reports.len(), 16);
    assert!(failed(&reports).is_empty(), "{}", show(&reports));
    // The directory holds the same files as the built-in set: the same cases.
    let from_dir = run_suite(&HttpSigVerifierSuite, &here).await;
    let built_in = run_suite(&HttpSigVerifierSuite, &SuiteOptions::default()).await;
    let ids = |r: &[CaseReport]| r.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&from_dir), ids(&built_in));
    assert!(from_dir.len() > 12, "{} cases", from_dir.len());

    let nowhere = SuiteOptions {
        vectors_dir: Some("/nonexistent/sigharness-vectors".into()),
        ..SuiteOptions::default()
    };
    let (events, _rx) = Events::channel();
    for suite in [
        &HttpSigSignerSuite::default() as &dyn Suite,
        &HttpSigVerifierSuite,
    ] {
        let e = suite
            .run(&nowhere, &Selection::default(), &events)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--vectors /nonexistent/sigharness-vectors"),
            "{e}"
        );
    }
}

/// The command line: a misspelt key is refused before anything runs; --help-settings lists them.
#[test]
fn misspelt_settings_are_refused_and_the_valid_ones_listed() {
    let sigharness = env!("CARGO_BIN_EXE_sigharness");
    let o = std::process::Command::new(sigharness)
        .args([
            "conformance",
            "--suite",
            "http-sig-verifier",
            "--set",
            "signing_ky=x",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown --set key \"signing_ky\""), "{err}");
    assert!(err.contains("signing_key"), "{err}");
    let o = std::process::Command::new(sigharness)
        .args([
            "conformance",
            "--suite",
            "http-sig-signer",
            "--help-settings",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("expect_requests") && out.contains("(integer)"),
        "{out}"
    );
}

// ---- Web Bot Auth bots (issue 15): `http-sig-signer --profile web-bot-auth` ----------------

fn wba_opts() -> SuiteOptions {
    SuiteOptions {
        profile: Some("web-bot-auth".into()),
        ..SuiteOptions::default()
    }
}

/// An Ed25519 bot whose signer is `tweak`ed, judged against the key it publishes.
fn bot(
    name: &str,
    tweak: impl FnOnce(
        http_sig::web_bot_auth::WebBotAuthSigner,
    ) -> http_sig::web_bot_auth::WebBotAuthSigner,
) -> sigharness::suites::http_sig_signer::BotRun {
    use http_sig::web_bot_auth::{KeyDirectory, SignatureAgentForm, WebBotAuthSigner};
    let set = sigharness_vectors::VectorSet::builtin().unwrap();
    let key = |private| {
        http_sig::Key::from_bytes(set.key_file("test-key-ed25519", private).unwrap().1).unwrap()
    };
    let signer = WebBotAuthSigner::new(key(true))
        .unwrap()
        .with_signature_agent("https://bot.example", SignatureAgentForm::Dictionary)
        .unwrap();
    (
        name.into(),
        mock_http_sig_peers::BotExpectations::new(KeyDirectory::from_keys([key(false)]).unwrap()),
        std::sync::Arc::new(tweak(signer)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_bots_pass_every_web_bot_auth_case() {
    let reports = run_suite(&HttpSigSignerSuite::default(), &wba_opts()).await;
    assert_eq!(reports.len(), mock_http_sig_peers::BotRule::ALL.len() + 1);
    assert!(failed(&reports).is_empty(), "{}", show(&reports));
    assert!(
        reports.iter().all(|r| r.verdict == Verdict::Pass),
        "{}",
        show(&reports)
    );
}

/// One defect, one case, through real HTTP: each faulty bot fails exactly its rule's case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_faulty_bot_fails_exactly_its_case() {
    use http_sig::web_bot_auth::SignatureAgentForm;
    let cases: Vec<(sigharness::suites::http_sig_signer::BotRun, &str)> = vec![
        (
            bot("legacy-form", |s| {
                s.with_signature_agent("https://bot.example", SignatureAgentForm::LegacyString)
                    .unwrap()
            }),
            "http-sig-signer/web-bot-auth/signature-agent-dictionary-form",
        ),
        (
            bot("path-in-directory-member", |s| {
                // A `directory` member "MUST be the ASCII serialization of an origin".
                s.with_signature_agent("https://bot.example/keys", SignatureAgentForm::Dictionary)
                    .unwrap()
            }),
            "http-sig-signer/web-bot-auth/signature-agent-https-origin",
        ),
        (
            bot("two-days", |s| s.with_validity(2 * 86_400).unwrap()),
            "http-sig-signer/web-bot-auth/validity-at-most-24h",
        ),
        (
            bot("member-agent2", |s| s.with_member_key("agent2")),
            "http-sig-signer/web-bot-auth/signature-agent-member-keyed-to-label",
        ),
    ];
    for (run, want) in cases {
        let name = run.0.clone();
        let reports = run_suite(&HttpSigSignerSuite::with_bot_runs(vec![run]), &wba_opts()).await;
        // (A legacy String has no member key: that rule skips, it does not fail.)
        assert_eq!(
            failed(&reports),
            [want.to_string()].into_iter().collect(),
            "{name}: {}",
            show(&reports)
        );
    }
}

// ---- Web Bot Auth origins (issue 15): `http-sig-verifier --profile web-bot-auth` ----------

fn wba_external_opts(url: String) -> SuiteOptions {
    let mut o = external_opts(url);
    o.profile = Some("web-bot-auth".into());
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_web_bot_auth_origin_passes_every_case() {
    let reports = run_suite(&HttpSigVerifierSuite, &wba_opts()).await;
    assert_eq!(reports.len(), 19, "{}", show(&reports));
    assert!(failed(&reports).is_empty(), "{}", show(&reports));
}

/// A plain RFC 9421 verifier holding the bot key (no Web Bot Auth policy), reached through
/// --verifier-url, fails exactly the cases of the profile's own requirements, and passes the
/// RFC 9421 ones (time, key, tampering) and the valid requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_rfc9421_verifier_fails_exactly_the_profile_cases() {
    use mock_http_sig_peers::{VerifierConfig, VerifierService};
    let spki = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vectors/keys/test-key-ed25519.spki.pem"
    );
    let key = Key::from_file(spki).unwrap();
    let mut cfg = VerifierConfig::new(key.clone());
    cfg.keyids = vec![key.jwk_thumbprint().unwrap()];
    cfg.scheme = "https".into();
    let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
        .await
        .unwrap();
    let reports = run_suite(&HttpSigVerifierSuite, &wba_external_opts(svc.url())).await;
    let want: BTreeSet<String> = [
        "empty-component-list-rejected",
        "no-authority-rejected",
        "tag-missing-rejected",
        "tag-wrong-rejected",
        "created-missing-rejected",
        "expires-missing-rejected",
        "signature-agent-not-covered-rejected",
    ]
    .iter()
    .map(|s| format!("http-sig-verifier/web-bot-auth/{s}"))
    .collect();
    assert_eq!(failed(&reports), want, "{}", show(&reports));
}
