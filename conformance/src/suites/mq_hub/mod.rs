//! The `mq-hub` suite: judges an MQ Hub deployment (RFC-130) over HTTP, in the `rfc130` or the
//! `opendsu` profile. Default target: the embedded reference server (`mq-hub` crate), started
//! once per profile on loopback; `--mq-hub-url URL --profile P` judges another deployment.
//!
//! Case ids carry the profile: `mq-hub/<profile>/<operation>/<slug>`. One file per section of
//! the document: `token.rs`, `put.rs`, `get.rs`, `delete.rs`, `take.rs`, `paths.rs` (paths and
//! headers); `support.rs` holds what they share. In each file a case is its data (`meta`: slug,
//! document + section, level, stimulus, requirement) beside its run (`case(meta, |c| async move
//! { .. })`, returning a `Check`); cases that only send one request and judge its status are rows
//! of the file's `STATUS` table ([`support::StatusCase`]), whose requirement text is derived from
//! the statuses the check accepts. The `--set` keys are [`SETTINGS`].

mod delete;
mod get;
mod paths;
mod put;
pub(crate) mod support;
mod take;
mod token;

use std::sync::Arc;
use std::time::Duration;

use mq_hub::{DidKeyPair, DidMethod, HubConfig, MqClient, Profile, RunningHub};
use sigharness_report::CaseMeta;

use crate::runner::{
    BoxFuture, Case, Error, Events, Kind, Selection, Setting, Suite, SuiteOptions, SuiteRun,
};

pub const SUITE: &str = "mq-hub";

/// The `--set` keys, all describing the deployment given with `--mq-hub-url` (the embedded
/// server's values are fixed by [`embedded_config`], and these keys are ignored for it).
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        "domain",
        Kind::Text,
        "with --mq-hub-url: a domain with MQ enabled (default: default)",
    ),
    Setting::new(
        "disabled_domain",
        Kind::Text,
        "with --mq-hub-url: a domain without MQ, for the 405 cases (default: mq-disabled.invalid)",
    ),
    Setting::new(
        "max_message_size",
        Kind::Count,
        "with --mq-hub-url: the max message size in bytes (default: unknown; the size-limit cases skip)",
    ),
    Setting::new(
        "max_queue_length",
        Kind::Count,
        "with --mq-hub-url: the max queue length (default: unknown; the queue-limit case skips)",
    ),
    Setting::new(
        "token_cmd",
        Kind::Text,
        "with --mq-hub-url: a command printing a token (or {\"token\": ..}) for the suite's DID: \
         'CMD {did} {hashdid} {domain}', run with sh -c, 30 s bound; replaces our x-mq-did* \
         holder proof (the cases needing that protocol skip)",
    ),
    Setting::new(
        "auth_header",
        Kind::Text,
        "with --mq-hub-url: the request header carrying the token (default: authorization for \
         rfc130, x-mq-authorization for opendsu; apihub before 2024: authorization)",
    ),
    Setting::new(
        "connection_timeout_ms",
        Kind::Count,
        "with --mq-hub-url: the long-poll timeout in ms (default: the token reply's connection-timeout header; \
         neither: the long-poll cases skip)",
    ),
];

/// Every case of one profile, section by section.
pub fn all(p: Profile) -> Vec<Case<Ctx>> {
    [
        token::cases(p),
        put::cases(p),
        get::cases(p),
        delete::cases(p),
        take::cases(p),
        paths::cases(p),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Limits of the deployment under test, when known.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    pub max_size: Option<usize>,
    pub max_len: Option<usize>,
    pub timeout_ms: Option<u64>,
}

/// Where the suite's tokens come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TokenSource {
    /// Our holder-proof protocol (`x-mq-did`, `x-mq-did-timestamp`, `x-mq-did-proof`).
    #[default]
    HolderProof,
    /// `--set token_cmd`: a command template with `{did}`, `{hashdid}`, `{domain}`.
    Cmd(String),
}

/// What every case gets: where the hub is and how it is configured.
pub struct Ctx {
    pub url: String,
    pub profile: Profile,
    pub domain: String,
    pub disabled: String,
    pub limits: Limits,
    pub http: reqwest::Client,
    pub tokens: TokenSource,
    /// `--set auth_header`, else the profile's header.
    pub auth_header: Option<String>,
    _server: Option<RunningHub>,
}

/// The embedded server's configuration for the suite (small limits keep the run short).
pub fn embedded_config(profile: Profile) -> HubConfig {
    HubConfig {
        profile,
        domains: vec!["suite.test".into()],
        max_message_size: 1024,
        max_queue_length: 5,
        connection_timeout_ms: 400,
        ..HubConfig::default()
    }
}

impl Ctx {
    async fn embedded(profile: Profile) -> Result<Ctx, Error> {
        Ctx::embedded_with(embedded_config(profile)).await
    }

    /// Our reference server started on loopback with `cfg` (its first domain is the one used).
    pub(crate) async fn embedded_with(cfg: HubConfig) -> Result<Ctx, Error> {
        let profile = cfg.profile;
        let domain = cfg
            .domains
            .first()
            .cloned()
            .ok_or_else(|| Error::setup("the embedded MQ Hub needs a domain"))?;
        let limits = Limits {
            max_size: Some(cfg.max_message_size),
            max_len: Some(cfg.max_queue_length),
            timeout_ms: Some(cfg.connection_timeout_ms),
        };
        let server = RunningHub::start(cfg, "127.0.0.1:0".parse().expect("loopback address"))
            .await
            .map_err(|e| Error::setup(format!("cannot start the embedded MQ Hub: {e}")))?;
        Ok(Ctx {
            url: server.url(),
            profile,
            domain,
            disabled: "mq-disabled.invalid".into(),
            limits,
            http: http_client()?,
            tokens: TokenSource::HolderProof,
            auth_header: None,
            _server: Some(server),
        })
    }

    pub(crate) fn external(url: &str, profile: Profile, opts: &SuiteOptions) -> Result<Ctx, Error> {
        let size = |k: &str| -> Result<Option<usize>, Error> {
            Ok(opts.setting_count(k)?.map(|v| v as usize))
        };
        Ok(Ctx {
            url: url.trim_end_matches('/').to_string(),
            profile,
            domain: opts.setting("domain").unwrap_or("default").to_string(),
            disabled: opts
                .setting("disabled_domain")
                .unwrap_or("mq-disabled.invalid")
                .to_string(),
            limits: Limits {
                max_size: size("max_message_size")?,
                max_len: size("max_queue_length")?,
                timeout_ms: opts.setting_count("connection_timeout_ms")?,
            },
            http: http_client()?,
            tokens: match opts.setting("token_cmd") {
                Some(cmd) if !cmd.trim().is_empty() => TokenSource::Cmd(cmd.to_string()),
                _ => TokenSource::HolderProof,
            },
            auth_header: opts.setting("auth_header").map(str::to_string),
            _server: None,
        })
    }

    /// A client with a fresh `did:key` identity.
    pub fn client(&self) -> MqClient {
        let key = DidKeyPair::generate(DidMethod::Key).expect("secp256k1 key generation");
        let bound = Duration::from_millis(self.limits.timeout_ms.unwrap_or(10_000) * 3 + 5_000);
        let cl = MqClient::new(&self.url, self.profile, Arc::new(key), bound)
            .expect("URL checked at setup");
        match &self.auth_header {
            Some(h) => cl.with_auth_header(h),
            None => cl,
        }
    }
}

fn http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::setup(format!("HTTP client: {e}")))
}

pub(crate) fn profiles(opts: &SuiteOptions) -> Result<Vec<Profile>, Error> {
    match &opts.profile {
        Some(p) => Ok(vec![p.parse().map_err(|e: mq_hub::MqHubError| {
            Error::setup(format!("--profile: {e}"))
        })?]),
        None if opts.mq_hub_url.is_some() => Err(Error::setup(
            "--mq-hub-url needs --profile rfc130|opendsu (the suite cannot guess the dialect)",
        )),
        None => Ok(vec![Profile::Rfc130, Profile::Opendsu]),
    }
}

/// The `mq-hub` suite.
pub struct MqHubSuite;

impl Suite for MqHubSuite {
    fn name(&self) -> &'static str {
        SUITE
    }
    fn about(&self) -> &'static str {
        "MQ Hub (RFC-130): tokens, DID signatures, queues, long poll, limits, apihub defects"
    }
    fn targets(&self) -> Vec<&'static str> {
        vec!["ours", "url"]
    }
    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }
    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>, Error> {
        Ok(profiles(opts)?
            .into_iter()
            .flat_map(|p| all(p).into_iter().map(|c| c.meta))
            .collect())
    }
    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let target = opts.target_or(&["ours", "url"])?;
            let profiles = profiles(opts)?;
            let url = match (target, &opts.mq_hub_url) {
                (_, Some(u)) => Some(u.clone()),
                ("url", None) => {
                    return Err(Error::setup("--target url needs --mq-hub-url URL"));
                }
                _ => None,
            };
            if let Some(u) = &url
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                return Err(Error::setup(format!(
                    "--mq-hub-url {u:?}: expected http(s)://..."
                )));
            }
            if let Some(u) = &url {
                crate::runner::ensure_reachable("--mq-hub-url", u).await?;
            }
            let every: Vec<_> = profiles.iter().flat_map(|p| all(*p)).collect();
            let run = SuiteRun::start(
                SUITE,
                url.clone()
                    .unwrap_or_else(|| "ours (embedded reference server)".into()),
                SuiteRun::count(selection, &every),
                opts,
                selection,
                events,
            );
            for p in profiles {
                let cases = all(p);
                if !run.any(&cases) {
                    continue;
                }
                let ctx = match &url {
                    Some(u) => Ctx::external(u, p, opts)?,
                    None => Ctx::embedded(p).await?,
                };
                run.run(Arc::new(ctx), &cases).await;
            }
            run.finish();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_at_least_40_per_profile() {
        let opts = SuiteOptions::default();
        let metas = MqHubSuite.cases(&opts).unwrap();
        crate::runner::check_ids(&metas).unwrap();
        for p in ["rfc130", "opendsu"] {
            let n = metas
                .iter()
                .filter(|m| m.id.starts_with(&format!("mq-hub/{p}/")))
                .count();
            assert!(n >= 40, "{p}: {n} cases");
        }
        let one = SuiteOptions {
            profile: Some("opendsu".into()),
            ..SuiteOptions::default()
        };
        assert!(
            MqHubSuite
                .cases(&one)
                .unwrap()
                .iter()
                .all(|m| m.id.starts_with("mq-hub/opendsu/"))
        );
        let bad = SuiteOptions {
            mq_hub_url: Some("http://127.0.0.1:1".into()),
            ..SuiteOptions::default()
        };
        assert!(MqHubSuite.cases(&bad).is_err());
    }

    /// The status-like numbers (100..=599, standing alone) a text mentions.
    fn statuses_in(text: &str) -> Vec<u16> {
        text.split(|ch: char| !ch.is_ascii_digit())
            .filter(|w| w.len() == 3)
            .filter_map(|w| w.parse().ok())
            .filter(|n| (100..=599).contains(n))
            .collect()
    }

    /// Every row of every status table: its requirement is derived from the statuses its check
    /// accepts (and names no other status), it is registered in both profiles, and its check
    /// reports the same list as expected.
    #[test]
    fn status_rows_derive_their_requirement_from_their_accepted_statuses() {
        use crate::runner::check::{Stop, expect_status, status_requirement};
        let tables = [
            token::STATUS,
            put::STATUS,
            get::STATUS,
            delete::STATUS,
            take::STATUS,
            paths::STATUS,
        ];
        let rows: Vec<&support::StatusCase> = tables.iter().flat_map(|t| t.iter()).collect();
        assert!(rows.len() >= 20, "{} status rows", rows.len());
        for p in [Profile::Rfc130, Profile::Opendsu] {
            let metas: Vec<CaseMeta> = all(p).into_iter().map(|c| c.meta).collect();
            for row in &rows {
                assert!(!row.accept.is_empty(), "{}: accepts nothing", row.slug);
                let want = status_requirement(row.accept);
                let id = format!("{SUITE}/{}/{}", p.as_str(), row.slug);
                let m = metas
                    .iter()
                    .find(|m| m.id == id)
                    .unwrap_or_else(|| panic!("{id} is not registered"));
                assert_eq!(m.requirement, row.requirement(), "{id}");
                assert!(m.requirement.starts_with(&want), "{id}: {}", m.requirement);
                for s in statuses_in(&m.requirement) {
                    assert!(
                        row.accept.contains(&s),
                        "{id}: the requirement {:?} names {s}, which the check does not accept",
                        m.requirement
                    );
                }
                for &s in row.accept {
                    assert!(expect_status(row.stimulus, s, "", row.accept).is_ok());
                }
                let Err(Stop::Fail(e)) = expect_status(row.stimulus, 200, "", row.accept) else {
                    panic!("{id}: accepts 200");
                };
                assert_eq!(e.expected.as_deref(), Some(want.as_str()), "{id}");
            }
        }
    }

    /// Cases that judge a status besides other things say the statuses from the same constant
    /// the check uses.
    #[test]
    fn mixed_cases_quote_the_statuses_they_accept() {
        use crate::runner::check::status_requirement;
        let metas: Vec<CaseMeta> = all(Profile::Rfc130).into_iter().map(|c| c.meta).collect();
        let req = |slug: &str| {
            let id = format!("{SUITE}/rfc130/{slug}");
            metas
                .iter()
                .find(|m| m.id == id)
                .unwrap_or_else(|| panic!("{id}"))
                .requirement
                .clone()
        };
        for (slug, accepted) in [
            ("put/queue-limit-exact", put::QUEUE_FULL),
            ("put/invalid-utf8", put::NOT_UTF8),
            ("put/huge-body-refused", put::TOO_BIG),
            ("delete/wrong-did-signature-403", delete::WRONG_SIGNATURE),
            ("take/wrong-did-signature-403", take::WRONG_SIGNATURE),
            ("take/by-id", support::NO_SUCH_MESSAGE),
        ] {
            assert!(req(slug).contains(&status_requirement(accepted)), "{slug}");
        }
        for slug in ["paths/traversal", "paths/bad-hashdid"] {
            assert!(req(slug).starts_with(support::REFUSAL), "{slug}");
        }
        assert!(support::is_refusal(404) && support::is_refusal(431));
        assert!(!support::is_refusal(200) && !support::is_refusal(500));
        assert_eq!(
            statuses_in("status 401 or 403 (RFC 7519 §4.1.4)"),
            [401, 403]
        );
    }

    /// The keys the suite reads are the keys it declares, with their types.
    #[test]
    fn declared_settings_are_the_ones_read() {
        use crate::runner::settings::validate;
        let given: std::collections::BTreeMap<String, String> = [
            ("domain", "d.example"),
            ("disabled_domain", "off.example"),
            ("max_message_size", "10"),
            ("max_queue_length", "3"),
            ("connection_timeout_ms", "250"),
            ("token_cmd", "print-token {did} {hashdid} {domain}"),
            ("auth_header", "authorization"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut declared: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        declared.sort_unstable();
        assert_eq!(
            declared,
            given.keys().map(String::as_str).collect::<Vec<_>>()
        );
        validate(&given, &[(SUITE, SETTINGS)]).unwrap();
        let opts = SuiteOptions {
            settings: given,
            ..SuiteOptions::default()
        };
        let c = Ctx::external("http://127.0.0.1:1/", Profile::Rfc130, &opts).unwrap();
        assert_eq!(
            (c.domain.as_str(), c.disabled.as_str()),
            ("d.example", "off.example")
        );
        assert_eq!(c.url, "http://127.0.0.1:1");
        assert_eq!(
            (c.limits.max_size, c.limits.max_len, c.limits.timeout_ms),
            (Some(10), Some(3), Some(250))
        );
        assert_eq!(
            c.tokens,
            TokenSource::Cmd("print-token {did} {hashdid} {domain}".into())
        );
        assert_eq!(c.auth_header.as_deref(), Some("authorization"));
        let mut bad = opts.clone();
        bad.settings
            .insert("max_queue_length".into(), "many".into());
        assert!(validate(&bad.settings, &[(SUITE, SETTINGS)]).is_err());
    }
}
