//! The `msg-signer` suite, in both directions (Autobahn style):
//!
//! - **client mode** (`--mode client`): we are the broker and the signing server (embedded
//!   broker + mock signing server, a fault plan per case); the client under test is our
//!   reference client in-process in virtual time (default) or `--client-cmd 'CMD {config}'`.
//!   Verdicts come from the broker journal and the client's output and exit code.
//! - **server mode** (`--mode server`): we are the client; the signing server under test is
//!   reached through the embedded broker with our mock signing server (default) or
//!   `--broker URL` (`--ca`, `--cert-key`, `--address-map none|rabbitmq`, and
//!   `--set send_to=ADDR --set listen_to=TEMPLATE --set sig_key_id=XXXXXXXX`, and
//!   `--set signing_pubkey=FILE` to verify every signature the server returns; our mock's key
//!   is known, so against the mock they are verified by default).
//!
//! With no `--mode` both run. Case ids: `msg-signer/client/...`, `msg-signer/server/...`.
//!
//! Layout: [`client`] and [`server`] hold the cases, one file per topic of the spec, each case
//! one definition (id, [`Spec`] document + section, level, stimulus, requirement, then what it
//! sets up and its verdict, returning a [`Check`]); `faults/` holds the fault plans of the
//! client-mode cases (`faults/<case id>.server.yaml` / `.broker.yaml`, parsed by a unit test);
//! [`env`] is the client-mode plumbing (a fresh broker, signing server and certificates per
//! case, the client run, what was observed).

pub mod client;
pub mod env;
pub mod process;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use sigharness_report::{CaseMeta, Evidence, SpecRef};

use crate::runner::{
    BoxFuture, Check, Error, Events, Kind, Selection, Setting, Stop, Suite, SuiteOptions, SuiteRun,
};
use env::{ClientCtx, ClientTarget, LISTEN_TO, SEND_TO};
use server::ServerCtx;

pub const NAME: &str = "msg-signer";

/// The document a case enforces, and the section in it: explicit data of each case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub document: &'static str,
    pub section: &'static str,
}

/// `specs/msg-signer.md`, the messaging signer's documentation (configuration keys, the
/// workflow of send and retries).
pub const SPEC_DOC: &str = "msg-signer";
/// `notes/msg-signer-wire.md`, the wire contract as deployed (request, reply, correlation,
/// the reference client's CLI output).
pub const WIRE_DOC: &str = "msg-signer-wire";

/// A section of `specs/msg-signer.md`.
pub const fn spec(section: &'static str) -> Spec {
    Spec {
        document: SPEC_DOC,
        section,
    }
}

/// A section of `notes/msg-signer-wire.md`.
pub const fn wire(section: &'static str) -> Spec {
    Spec {
        document: WIRE_DOC,
        section,
    }
}

impl Spec {
    pub fn spec_ref(self) -> SpecRef {
        SpecRef::new(self.document, self.section)
    }
}

/// Add what the run showed (log lines, figures) to the evidence of a pass or a failure;
/// skips and "unsupported" keep their reason only.
pub fn with_evidence(check: Check, add: impl FnOnce(Evidence) -> Evidence) -> Check {
    match check {
        Ok(e) => Ok(add(e)),
        Err(Stop::Fail(e)) => Err(Stop::Fail(add(e))),
        Err(other) => Err(other),
    }
}

/// The `--set` keys the suite reads.
pub(crate) const SETTINGS: &[Setting] = &[
    Setting::new(
        "server",
        Kind::OneOf(&["mock"]),
        "server mode with --broker: `mock` attaches our mock signing server to that broker and judges it (a check of the broker path, not of your server); unset: judge the signing server attached there already (then sig_key_id is needed)",
    ),
    Setting::new(
        "sig_key_id",
        Kind::Text,
        "server mode with --broker: the sig_key_id the signing server under test accepts (the last 8 hex digits of its key); no default",
    ),
    Setting::new(
        "signing_pubkey",
        Kind::File,
        "server mode: the OpenPGP public key (armored or binary) of the signing server under test; every signed_claim, signed_data and signed_payload is verified with it (without it those cases skip; our mock's key is known)",
    ),
    Setting::new(
        "send_to",
        Kind::Text,
        "server mode with --broker: where requests are sent (topic_send_to); default topic://VirtualTopic.eng.robosignatory.sign",
    ),
    Setting::new(
        "listen_to",
        Kind::Text,
        "server mode with --broker: where replies come, with {creator} and {task_id} (topic_listen_to); default queue://Consumer.{creator}.{task_id}.VirtualTopic.eng.robosignatory.sign",
    ),
    Setting::new(
        "sasl",
        Kind::OneOf(&["none", "external"]),
        "both modes with --broker amqps://...: how our peers log in after TLS; default external with --address-map rabbitmq (its certificate login), else none",
    ),
];

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
    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }
    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>, Error> {
        let m = modes(opts)?;
        let mut v = Vec::new();
        if m != Modes::Server {
            v.extend(client::cases(NAME).into_iter().map(|c| c.meta));
        }
        if m != Modes::Client {
            v.extend(server::cases(NAME).into_iter().map(|c| c.meta));
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
            // through it like any external broker; it is removed when the run ends, also when
            // the run cannot proceed.
            let (with_container, container) = match start_container(opts).await? {
                Some((o, c)) => (Some(o), Some(c)),
                None => (None, None),
            };
            let result = run_modes(
                m,
                with_container.as_ref().unwrap_or(opts),
                selection,
                events,
            )
            .await;
            if let Some(c) = container
                && let Err(e) = c.stop().await
            {
                eprintln!("msg-signer: {e}");
            }
            result
        })
    }
}

/// Both modes' cases (those `m` selects), bracketed by one suite run.
async fn run_modes(
    m: Modes,
    opts: &SuiteOptions,
    selection: &Selection,
    events: &Events,
) -> Result<(), Error> {
    if opts.server_cmd.is_some() && m != Modes::Server {
        return Err(Error::setup(
            "--server-cmd starts a signing server to judge: add --mode server",
        ));
    }
    let client = if m != Modes::Server {
        client::cases(NAME)
    } else {
        vec![]
    };
    let server = if m != Modes::Client {
        server::cases(NAME)
    } else {
        vec![]
    };
    let target = match (&opts.client_cmd, &opts.broker) {
        _ if m == Modes::Server && opts.server_cmd.is_some() => format!(
            "server: {} (behind the suite's broker)",
            opts.server_cmd.as_deref().unwrap_or_default()
        ),
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
    if let Some(url) = &opts.broker {
        // A dead broker is a setup error (exit 2, one line), not 36 failed cases.
        crate::runner::ensure_reachable("--broker", url).await?;
    }
    // `--set target_name=NAME` names the judged implementation in every report.
    let target = match opts.setting("target_name") {
        Some(n) => format!("{n} ({target})"),
        None => target,
    };
    let selected = SuiteRun::count(selection, &client) + SuiteRun::count(selection, &server);
    let run = SuiteRun::start(NAME, target, selected, opts, selection, events);
    if run.any(&client) {
        let target = match &opts.client_cmd {
            Some(c) => ClientTarget::External(c.clone()),
            None => ClientTarget::Reference,
        };
        let broker = external_broker(opts)?;
        // With an external client or through an external broker the retry windows pass in
        // real time (up to timeout x retries x send_retries = 60 s in a case).
        let real_time = broker.is_some() || matches!(target, ClientTarget::External(_));
        let floor = if real_time { 150 } else { 5 };
        // Such cases mostly wait, and share nothing (each has its own embedded broker, or a
        // task id and send address of its own): run several at once.
        let jobs = if real_time { EXTERNAL_JOBS } else { 1 };
        let ctx = Arc::new(ClientCtx { target, broker });
        run.run_concurrently_bounded(
            ctx,
            &client,
            jobs,
            opts.case_timeout.max(Duration::from_secs(floor)),
        )
        .await;
    }
    if run.any(&server) {
        let ctx = Arc::new(server_ctx(opts).await?);
        run.run(ctx, &server).await;
    }
    run.finish();
    Ok(())
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
    opts.setting("server") == Some("mock")
}

/// Whether our peers log in with SASL EXTERNAL over TLS to an external broker: `--set
/// sasl=none|external`; by default EXTERNAL for RabbitMQ (its certificate login needs it) and
/// no SASL layer otherwise (as the deployed client does, e.g. with ActiveMQ).
pub fn sasl_external(opts: &SuiteOptions, map: AddressMap) -> Result<bool, Error> {
    match opts.setting("sasl") {
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

/// Longest a `--server-cmd` server has from start to its receiver on the request address.
pub const SERVER_START: Duration = Duration::from_secs(30);

/// `--server-cmd`: our embedded broker, the server under test started against it (`{broker_url}`,
/// `{send_to}`, `{listen_to}` in CMD; `SIGHARNESS_BROKER_URL`, `SIGHARNESS_SEND_TO`,
/// `SIGHARNESS_LISTEN_TO` in its environment), ready once it has attached a receiver on the
/// request address. With the broker ours, the cases that fault it apply to that server too.
async fn external_server(opts: &SuiteOptions, cmd: &str) -> Result<ServerCtx, Error> {
    if opts.broker.is_some() {
        return Err(Error::setup(
            "--server-cmd starts the server under test against the suite's own broker; give either --server-cmd or --broker",
        ));
    }
    let Some(key) = opts.setting("sig_key_id") else {
        return Err(Error::setup(
            "--server-cmd needs --set sig_key_id=XXXXXXXX: the key id the server under test signs with",
        ));
    };
    let send_to = opts.setting("send_to").unwrap_or(SEND_TO).to_string();
    let listen_to = opts.setting("listen_to").unwrap_or(LISTEN_TO).to_string();
    let broker = mock_broker::Broker::builder()
        .record_bodies(false)
        .start()
        .await
        .map_err(|e| Error::setup(format!("embedded broker: {e}")))?;
    let url = broker.url().to_string();
    let line = cmd
        .replace("{broker_url}", &url)
        .replace("{send_to}", &send_to)
        .replace("{listen_to}", &listen_to);
    let mut server = process::Background::spawn(
        &line,
        &[
            ("SIGHARNESS_BROKER_URL", url.as_str()),
            ("SIGHARNESS_SEND_TO", send_to.as_str()),
            ("SIGHARNESS_LISTEN_TO", listen_to.as_str()),
        ],
    )
    .map_err(|e| Error::setup(format!("--server-cmd {cmd:?}: cannot start: {e}")))?;
    let attached = |e: &mock_broker::Entry| {
        matches!(&e.event, mock_broker::Event::Attach { address: Some(a), direction, .. }
            if *a == send_to && *direction == mock_broker::LinkDirection::PeerReceives)
    };
    let ready = tokio::select! {
        r = broker.journal().wait_for(attached, SERVER_START) => r.map_err(|_| format!("no receiver on {send_to} within {SERVER_START:?}")),
        st = server.wait_exit() => Err(format!("it ended ({st}) before attaching a receiver on {send_to}")),
    };
    if let Err(why) = ready {
        return Err(Error::setup(format!(
            "--server-cmd {cmd:?} against {url}: {why}; {}",
            server.tail(3)
        )));
    }
    Ok(ServerCtx {
        broker_url: url,
        tls: None,
        sasl_external: false,
        address_map: AddressMap::None,
        send_to,
        listen_to,
        sig_key_id: key.to_string(),
        pubkeys: given_pubkeys(opts)?,
        _keep: vec![std::sync::Mutex::new(Box::new(server))],
        broker: Some(Arc::new(broker)),
    })
}

pub(crate) async fn server_ctx(opts: &SuiteOptions) -> Result<ServerCtx, Error> {
    if let Some(cmd) = &opts.server_cmd {
        return external_server(opts, cmd).await;
    }
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
        let send_to = opts.setting("send_to").unwrap_or(SEND_TO).to_string();
        let listen_to = opts.setting("listen_to").unwrap_or(LISTEN_TO).to_string();
        let sasl_external = tls.is_some() && sasl_external(opts, rabbit)?;
        let mut ctx = ServerCtx {
            broker_url: url.clone(),
            tls: tls.clone(),
            sasl_external,
            address_map: rabbit,
            send_to,
            listen_to,
            sig_key_id: String::new(),
            pubkeys: None,
            broker: None,
            _keep: vec![],
        };
        if let Some(key) = opts.setting("sig_key_id") {
            // A signing server under test is attached to that broker already.
            ctx.sig_key_id = key.to_string();
            ctx.pubkeys = given_pubkeys(opts)?;
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
        ctx.pubkeys = Some(Arc::new(server::mock_public_keys(server.keys())?));
        ctx._keep = vec![std::sync::Mutex::new(Box::new(server))];
        return Ok(ctx);
    }
    let mut ctx = ServerCtx::embedded(Default::default()).await?;
    ctx.address_map = rabbit;
    Ok(ctx)
}

/// `--set signing_pubkey=FILE`: the public key of the signing server under test.
fn given_pubkeys(opts: &SuiteOptions) -> Result<Option<Arc<server::verify::PublicKeys>>, Error> {
    match opts.setting("signing_pubkey") {
        None => Ok(None),
        Some(path) => server::verify::PublicKeys::from_file(path)
            .map(|k| Some(Arc::new(k)))
            .map_err(Error::setup),
    }
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

    /// Every `--set` key the suite reads is declared (the runner rejects undeclared keys), and
    /// the defaults its help names are the ones used.
    #[test]
    fn every_setting_read_is_declared() {
        let declared: Vec<&str> = SETTINGS
            .iter()
            .chain(crate::runner::settings::RUNNER)
            .map(|s| s.key)
            .collect();
        let mut read = vec![];
        for src in [include_str!("mod.rs"), include_str!("env.rs")] {
            for part in src.split("setting(\"").skip(1) {
                read.push(&part[..part.find('"').unwrap()]);
            }
        }
        read.sort();
        read.dedup();
        assert_eq!(
            read,
            [
                "listen_to",
                "sasl",
                "send_to",
                "server",
                "sig_key_id",
                "signing_pubkey",
                "target_name"
            ]
        );
        for key in &read {
            assert!(
                declared.contains(key),
                "--set {key} is read but not declared"
            );
        }
        let help = |k: &str| SETTINGS.iter().find(|s| s.key == k).unwrap().help;
        assert!(help("send_to").contains(SEND_TO));
        assert!(help("listen_to").contains(LISTEN_TO));
        // What .ci/steps/40 passes; a typo is refused.
        let given = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter().collect();
        let suites: &[(&str, &[Setting])] = &[(NAME, SETTINGS)];
        crate::runner::settings::validate(&given("server", "mock"), suites).unwrap();
        crate::runner::settings::validate(&given("sasl", "plain"), suites).unwrap_err();
        crate::runner::settings::validate(&given("sig_keyid", "x"), suites).unwrap_err();
    }
}
