//! The `mq-hub` suite: judges an MQ Hub deployment (RFC-130) over HTTP, in the `rfc130` or the
//! `opendsu` profile. Default target: the embedded reference server (`mq-hub` crate), started
//! once per profile on loopback; `--mq-hub-url URL --profile P` judges another deployment.
//!
//! Case ids carry the profile: `mq-hub/<profile>/<operation>/<slug>`. Settings (`--set`):
//! `domain` (MQ enabled; default `default`), `disabled_domain` (default `mq-disabled.invalid`),
//! `max_message_size`, `max_queue_length`, `connection_timeout_ms` (cases needing an unknown limit
//! skip; the connection timeout is also read from the token reply's `connection-timeout` header).

mod cases;

use std::sync::Arc;
use std::time::Duration;

use mq_hub::{DidKeyPair, DidMethod, HubConfig, MqClient, Profile, RunningHub};
use sigharness_report::CaseMeta;

use crate::runner::{BoxFuture, Error, Event, Events, Selection, Suite, SuiteOptions, run_cases};

pub const SUITE: &str = "mq-hub";

/// Limits of the deployment under test, when known.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    pub max_size: Option<usize>,
    pub max_len: Option<usize>,
    pub timeout_ms: Option<u64>,
}

/// What every case gets: where the hub is and how it is configured.
pub struct Ctx {
    pub url: String,
    pub profile: Profile,
    pub domain: String,
    pub disabled: String,
    pub limits: Limits,
    pub http: reqwest::Client,
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
        let cfg = embedded_config(profile);
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
            domain: "suite.test".into(),
            disabled: "mq-disabled.invalid".into(),
            limits,
            http: http_client()?,
            _server: Some(server),
        })
    }

    fn external(url: &str, profile: Profile, opts: &SuiteOptions) -> Result<Ctx, Error> {
        let num = |k: &str| -> Result<Option<u64>, Error> {
            opts.settings
                .get(k)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| Error::setup(format!("--set {k}={v}: expected a number")))
                })
                .transpose()
        };
        Ok(Ctx {
            url: url.trim_end_matches('/').to_string(),
            profile,
            domain: opts
                .settings
                .get("domain")
                .cloned()
                .unwrap_or_else(|| "default".into()),
            disabled: opts
                .settings
                .get("disabled_domain")
                .cloned()
                .unwrap_or_else(|| "mq-disabled.invalid".into()),
            limits: Limits {
                max_size: num("max_message_size")?.map(|v| v as usize),
                max_len: num("max_queue_length")?.map(|v| v as usize),
                timeout_ms: num("connection_timeout_ms")?,
            },
            http: http_client()?,
            _server: None,
        })
    }

    /// A client with a fresh `did:key` identity.
    pub fn client(&self) -> MqClient {
        let key = DidKeyPair::generate(DidMethod::Key).expect("secp256k1 key generation");
        let bound = Duration::from_millis(self.limits.timeout_ms.unwrap_or(10_000) * 3 + 5_000);
        MqClient::new(&self.url, self.profile, Arc::new(key), bound).expect("URL checked at setup")
    }
}

fn http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::setup(format!("HTTP client: {e}")))
}

fn profiles(opts: &SuiteOptions) -> Result<Vec<Profile>, Error> {
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
    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>, Error> {
        Ok(profiles(opts)?
            .into_iter()
            .flat_map(|p| cases::all(p).into_iter().map(|c| c.meta))
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
            let all: Vec<_> = profiles.iter().flat_map(|p| cases::all(*p)).collect();
            let n = all
                .iter()
                .filter(|c| selection.includes(&c.meta.id))
                .count();
            events.send(Event::SuiteStarted {
                suite: SUITE.into(),
                target: url
                    .clone()
                    .unwrap_or_else(|| "ours (embedded reference server)".into()),
                cases: n,
            });
            for p in profiles {
                let list = cases::all(p);
                if !list.iter().any(|c| selection.includes(&c.meta.id)) {
                    continue;
                }
                let ctx = match &url {
                    Some(u) => Ctx::external(u, p, opts)?,
                    None => Ctx::embedded(p).await?,
                };
                run_cases(Arc::new(ctx), &list, selection, events, opts.case_timeout).await;
            }
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
}
