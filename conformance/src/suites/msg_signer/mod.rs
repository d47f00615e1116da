//! The `msg-signer` suite, in both directions (Autobahn style):
//!
//! - **client mode** (`--mode client`): we are the broker and the signing server (embedded
//!   broker + mock signing server, a fault plan per case); the client under test is our
//!   reference client in-process in virtual time (default) or `--client-cmd 'CMD {config}'`.
//!   Verdicts come from the broker journal and the client's output and exit code.
//! - **server mode** (`--mode server`): we are the client; the signing server under test is
//!   reached through the embedded broker with our mock signing server (default) or
//!   `--broker URL` (`--ca`, `--cert-key`, `--address-map none|rabbitmq`, and
//!   `--set send_to=ADDR --set listen_to=TEMPLATE --set sig_key_id=XXXXXXXX`).
//!
//! With no `--mode` both run. Case ids: `msg-signer/client/...`, `msg-signer/server/...`.

pub mod client_cases;
pub mod env;
pub mod server_cases;

use std::sync::Arc;
use std::time::Duration;

use sigharness_report::CaseMeta;

use crate::runner::{
    BoxFuture, Error, Event, Events, Selection, Suite, SuiteOptions, run_cases,
    run_cases_concurrently,
};
use env::{ClientCtx, ClientTarget, LISTEN_TO, SEND_TO};
use server_cases::ServerCtx;

pub const NAME: &str = "msg-signer";

pub struct MsgSignerSuite;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Modes {
    Client,
    Server,
    Both,
}

fn modes(opts: &SuiteOptions) -> Result<Modes, Error> {
    match opts.mode.as_deref() {
        None => Ok(Modes::Both),
        Some("client") => Ok(Modes::Client),
        Some("server") => Ok(Modes::Server),
        Some(m) => Err(Error::setup(format!(
            "--mode {m:?}: expected client or server"
        ))),
    }
}

impl Suite for MsgSignerSuite {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "Messaging signer over AMQP 1.0: judge a client (we are broker + signing server) or a signing server (we are the client)"
    }
    fn targets(&self) -> Vec<&'static str> {
        vec!["ours"]
    }
    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>, Error> {
        let m = modes(opts)?;
        let mut v = Vec::new();
        if m != Modes::Server {
            v.extend(client_cases::cases(NAME).into_iter().map(|c| c.meta));
        }
        if m != Modes::Client {
            v.extend(server_cases::cases(NAME).into_iter().map(|c| c.meta));
        }
        Ok(v)
    }
    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let m = modes(opts)?;
            opts.target_or(&self.targets())?;
            // `--broker container:artemis|rabbitmq`: start it (feature `docker`), then run
            // through it like any external broker; it is removed when the run ends.
            let (with_container, container) = match start_container(opts).await? {
                Some((o, c)) => (Some(o), Some(c)),
                None => (None, None),
            };
            let opts = with_container.as_ref().unwrap_or(opts);
            let client = if m != Modes::Server {
                client_cases::cases(NAME)
            } else {
                vec![]
            };
            let server = if m != Modes::Client {
                server_cases::cases(NAME)
            } else {
                vec![]
            };
            let n = client
                .iter()
                .filter(|c| selection.includes(&c.meta.id))
                .count()
                + server
                    .iter()
                    .filter(|c| selection.includes(&c.meta.id))
                    .count();
            let target = match (&opts.client_cmd, &opts.broker) {
                (Some(c), _) if m != Modes::Server => format!("client: {c}"),
                (_, Some(b)) if m == Modes::Client => format!("reference client through {b}"),
                (_, Some(b)) if judge_mock(opts) && m == Modes::Server => {
                    format!("our mock signing server behind {b}")
                }
                (_, Some(b)) if judge_mock(opts) => {
                    format!("reference client and our mock signing server through {b}")
                }
                (_, Some(b)) => format!("server behind {b}"),
                _ => "ours (reference client, mock signing server, embedded broker)".into(),
            };
            events.send(Event::SuiteStarted {
                suite: NAME.into(),
                target,
                cases: n,
            });
            if client.iter().any(|c| selection.includes(&c.meta.id)) {
                let target = match &opts.client_cmd {
                    Some(c) => ClientTarget::External(c.clone()),
                    None => ClientTarget::Reference,
                };
                let broker = external_broker(opts)?;
                // With an external client or through an external broker the retry windows pass
                // in real time (up to timeout x retries x send_retries = 60 s in a case).
                let real_time = broker.is_some() || matches!(target, ClientTarget::External(_));
                let floor = if real_time { 150 } else { 5 };
                // Such cases mostly wait, and share nothing (each has its own embedded broker,
                // or a task id and send address of its own): run several at once.
                let jobs = if real_time { EXTERNAL_JOBS } else { 1 };
                let ctx = Arc::new(ClientCtx { target, broker });
                run_cases_concurrently(
                    ctx,
                    &client,
                    selection,
                    events,
                    opts.case_timeout.max(Duration::from_secs(floor)),
                    jobs,
                )
                .await;
            }
            if server.iter().any(|c| selection.includes(&c.meta.id)) {
                let ctx = Arc::new(server_ctx(opts).await?);
                run_cases(ctx, &server, selection, events, opts.case_timeout).await;
            }
            if let Some(c) = container
                && let Err(e) = c.stop().await
            {
                eprintln!("msg-signer: {e}");
            }
            events.send(Event::SuiteFinished { suite: NAME.into() });
            Ok(())
        })
    }
}

/// How the suite spells addresses for an external broker (`--address-map`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AddressMap {
    /// Addresses as configured (`topic://X`, `queue://X`: ActiveMQ Classic/Artemis).
    #[default]
    None,
    /// RabbitMQ 3.x: `topic://X` -> `/topic/X`, `queue://X` -> `/queue/X`; it also has no
    /// anonymous relay, so every sender link is attached to its address.
    RabbitMq,
}

impl AddressMap {
    pub fn parse(arg: Option<&str>) -> Result<AddressMap, Error> {
        match arg {
            None | Some("none") => Ok(AddressMap::None),
            Some("rabbitmq") => Ok(AddressMap::RabbitMq),
            Some(o) => Err(Error::setup(format!(
                "--address-map {o:?}: expected none or rabbitmq"
            ))),
        }
    }

    /// `a` as the broker spells it.
    pub fn map(self, a: &str) -> String {
        match self {
            AddressMap::None => a.to_string(),
            AddressMap::RabbitMq => msg_signer::config::rabbitmq_address(a),
        }
    }

    /// Whether senders must be attached to their address (no null-target anonymous relay).
    pub fn addressed_senders(self) -> bool {
        self == AddressMap::RabbitMq
    }
}

/// Bound on connecting and attaching a peer of ours to an external broker.
pub const ATTACH_BOUND: Duration = Duration::from_secs(30);

/// `--set server=mock`: with `--broker`, server mode judges our mock signing server attached
/// to that broker (a check of the broker path) instead of a signing server of the user's.
fn judge_mock(opts: &SuiteOptions) -> bool {
    opts.settings.get("server").map(String::as_str) == Some("mock")
}

/// Whether our peers log in with SASL EXTERNAL over TLS to an external broker: `--set
/// sasl=none|external`; by default EXTERNAL for RabbitMQ (its certificate login needs it) and
/// no SASL layer otherwise (as the deployed client does, e.g. with ActiveMQ).
pub fn sasl_external(opts: &SuiteOptions, map: AddressMap) -> Result<bool, Error> {
    match opts.settings.get("sasl").map(String::as_str) {
        None => Ok(map == AddressMap::RabbitMq),
        Some("external") => Ok(true),
        Some("none") => Ok(false),
        Some(o) => Err(Error::setup(format!(
            "--set sasl={o}: expected none or external"
        ))),
    }
}

/// `--broker container:NAME`: the started container and the options pointing at it.
async fn start_container(
    opts: &SuiteOptions,
) -> Result<Option<(SuiteOptions, crate::containers::StartedBroker)>, Error> {
    let Some(arg) = &opts.broker else {
        return Ok(None);
    };
    let kind = match crate::containers::ContainerBroker::parse(arg) {
        None => return Ok(None),
        Some(k) => k.map_err(|e| Error::setup(e.to_string()))?,
    };
    let started = crate::containers::start(kind)
        .await
        .map_err(|e| Error::setup(e.to_string()))?;
    let mut o = opts.clone();
    o.broker = Some(started.url.clone());
    o.address_map = Some(started.address_map.to_string());
    // Containers speak plain AMQP on a loopback port; the suite logs in without SASL.
    o.ca = None;
    o.cert_key = None;
    Ok(Some((o, started)))
}

/// Client-mode cases in flight at once when they run in real time.
const EXTERNAL_JOBS: usize = 6;

fn rabbit_map(opts: &SuiteOptions) -> Result<AddressMap, Error> {
    AddressMap::parse(opts.address_map.as_deref())
}

/// Client mode with `--broker`: every case goes through that broker.
fn external_broker(opts: &SuiteOptions) -> Result<Option<env::ExternalBroker>, Error> {
    let Some(url) = &opts.broker else {
        return Ok(None);
    };
    if url.starts_with("amqps://") && (opts.ca.is_none() || opts.cert_key.is_none()) {
        return Err(Error::setup(
            "--mode client --broker amqps://... needs --ca FILE and --cert-key FILE (the mock signing server and the client log in with them)",
        ));
    }
    msg_signer::config::BrokerUrl::parse(url)
        .map_err(|e| Error::setup(format!("--broker {url:?}: {e}")))?;
    let map = rabbit_map(opts)?;
    Ok(Some(env::ExternalBroker {
        sasl_external: sasl_external(opts, map)?,
        url: url.clone(),
        ca: opts.ca.clone(),
        cert_key: opts.cert_key.clone(),
        address_map: map,
    }))
}

async fn server_ctx(opts: &SuiteOptions) -> Result<ServerCtx, Error> {
    let rabbit = rabbit_map(opts)?;
    if let Some(url) = &opts.broker {
        let tls = if url.starts_with("amqps://") {
            let (Some(ca), Some(ck)) = (&opts.ca, &opts.cert_key) else {
                return Err(Error::setup(
                    "--broker amqps://... needs --ca FILE and --cert-key FILE",
                ));
            };
            Some(
                msg_signer::tls::client_config(ck, ca, true)
                    .map_err(|e| Error::setup(e.to_string()))?,
            )
        } else {
            None
        };
        let get = |k: &str, d: &str| {
            opts.settings
                .get(k)
                .cloned()
                .unwrap_or_else(|| d.to_string())
        };
        let send_to = get("send_to", SEND_TO);
        let listen_to = get("listen_to", LISTEN_TO);
        let sasl_external = tls.is_some() && sasl_external(opts, rabbit)?;
        let mut ctx = ServerCtx {
            broker_url: url.clone(),
            tls: tls.clone(),
            sasl_external,
            address_map: rabbit,
            send_to,
            listen_to,
            sig_key_id: String::new(),
            _keep: vec![],
        };
        if let Some(key) = opts.settings.get("sig_key_id").cloned() {
            // A signing server under test is attached to that broker already.
            ctx.sig_key_id = key;
            return Ok(ctx);
        }
        if !judge_mock(opts) {
            return Err(Error::setup(
                "--mode server --broker URL judges the signing server attached to that broker: give the key it signs with, --set sig_key_id=XXXXXXXX; or --set server=mock to attach our mock signing server there and judge it (a check of the broker path, not of your server)",
            ));
        }
        // `--set server=mock`: judge our mock signing server through that broker, with the
        // addresses as the broker spells them.
        let cfg = mock_signing_server::ServerConfig {
            topic_send_to: ctx.map(&ctx.send_to),
            topic_listen_to: ctx.map(&ctx.listen_to),
            message_id_key: "request_id".into(),
            timeout: Duration::from_secs(10),
        };
        let mut b = mock_signing_server::SigningServer::builder(url.clone(), cfg)
            .sasl_external(sasl_external)
            .addressed_reply_links(rabbit.addressed_senders());
        if let Some(t) = tls {
            b = b.tls(t);
        }
        let server = match tokio::time::timeout(ATTACH_BOUND, b.start()).await {
            Ok(r) => {
                r.map_err(|e| Error::setup(format!("mock signing server attached to {url}: {e}")))?
            }
            Err(_) => {
                return Err(Error::setup(format!(
                    "mock signing server: {url} did not complete connect + attach within {ATTACH_BOUND:?}"
                )));
            }
        };
        ctx.sig_key_id = server.keys().first().short_id().to_string();
        ctx._keep = vec![std::sync::Mutex::new(Box::new(server))];
        return Ok(ctx);
    }
    let broker = mock_broker::Broker::builder()
        .record_bodies(false)
        .start()
        .await
        .map_err(|e| Error::setup(format!("embedded broker: {e}")))?;
    let cfg = mock_signing_server::ServerConfig {
        topic_send_to: SEND_TO.into(),
        topic_listen_to: LISTEN_TO.into(),
        message_id_key: "request_id".into(),
        timeout: Duration::from_secs(10),
    };
    let server = mock_signing_server::SigningServer::builder(broker.url(), cfg)
        .start()
        .await
        .map_err(|e| Error::setup(format!("mock signing server: {e}")))?;
    let key = server.keys().first().short_id().to_string();
    Ok(ServerCtx {
        broker_url: broker.url().to_string(),
        tls: None,
        sasl_external: false,
        address_map: rabbit,
        send_to: SEND_TO.into(),
        listen_to: LISTEN_TO.into(),
        sig_key_id: key,
        _keep: vec![std::sync::Mutex::new(Box::new((server, broker)))],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_at_least_40_client_cases() {
        let opts = SuiteOptions::default();
        let all = MsgSignerSuite.cases(&opts).unwrap();
        crate::runner::check_ids(&all).unwrap();
        let client = all
            .iter()
            .filter(|c| c.id.starts_with("msg-signer/client/"))
            .count();
        assert!(client >= 40, "{client} client-mode cases");
        let o = SuiteOptions {
            mode: Some("server".into()),
            ..Default::default()
        };
        assert!(
            MsgSignerSuite
                .cases(&o)
                .unwrap()
                .iter()
                .all(|c| c.id.starts_with("msg-signer/server/"))
        );
        let o = SuiteOptions {
            mode: Some("sideways".into()),
            ..Default::default()
        };
        assert!(MsgSignerSuite.cases(&o).is_err());
    }
}
