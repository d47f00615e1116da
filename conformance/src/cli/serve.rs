//! `sigharness serve <SERVER>`: run one of the mocks or reference servers in the foreground until
//! Ctrl-C, for clients outside this process. Each server is a variant of [`ServeCommand`] with its
//! own arguments. Only loopback listen addresses are accepted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use sigharness_report::exit_code;

use super::code;

#[derive(Subcommand, Debug)]
pub enum ServeCommand {
    /// The embedded AMQP 1.0 broker (topics, queues, TLS, SASL, fault plans) until Ctrl-C.
    Broker(BrokerArgs),
    /// Upstream for a signer under test (e.g. a gateway): judges every signed request it receives.
    HttpSigUpstream(super::serve_http_sig::UpstreamArgs),
    /// Our RFC 9421 verifier as an HTTP service: 200 accept, 401 reject.
    HttpSigVerifier(super::serve_http_sig::VerifierArgs),
    /// A Web Bot Auth key directory (/.well-known/http-message-signatures-directory, signed).
    KeyDirectory(super::serve_http_sig::KeyDirectoryArgs),
    /// The MQ Hub (RFC-130) reference server.
    MqHub(MqHubServeArgs),
    /// The mock signing server, connected to a broker, until Ctrl-C.
    SigningServer(SigningServerArgs),
    /// Broker and mock signing server together on one address, until Ctrl-C.
    MsgSigner(MsgSignerServeArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct MqHubServeArgs {
    /// Loopback address to listen on (port 0 = any free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// TOML configuration (see mq_hub::HubConfig); defaults apply when absent.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SigningServerArgs {
    /// Broker URL (amqp://HOST:PORT or amqps://HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub broker: String,
    /// The client's config file (msg_signer section: topics, message_id_key, timeout; for
    /// amqps, messaging_cert_key and messaging_ca_cert are used to connect).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Directory of ASCII-armored secret keys (*.asc); default: one generated Ed25519 key.
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// Fault plan (YAML or JSON) of signing-server actions.
    #[arg(long, value_name = "FILE")]
    pub fault_plan: Option<PathBuf>,
    /// SASL layer: none (as deployed) or external (amqps only; identity from the client
    /// certificate, empty initial response; what RabbitMQ's certificate login needs).
    #[arg(long, default_value = "none", value_parser = ["none", "external"])]
    pub sasl: String,
    /// Reply sender links: null-target (routes by `to`, as deployed) or addressed (one link per
    /// reply address; for brokers with no anonymous relay, such as RabbitMQ 3.x).
    #[arg(long, default_value = "null-target", value_parser = ["null-target", "addressed"])]
    pub reply_links: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct MsgSignerServeArgs {
    /// Listen address of the broker; loopback only.
    #[arg(long, default_value = "127.0.0.1:5672", value_name = "ADDR")]
    pub listen: String,
    /// The client's config file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Directory of ASCII-armored secret keys (*.asc).
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// Fault plan of signing-server actions.
    #[arg(long, value_name = "FILE")]
    pub fault_plan: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct BrokerArgs {
    /// Listen address; loopback only (127.0.0.1 or ::1).
    #[arg(long, default_value = "127.0.0.1:5672", value_name = "ADDR")]
    pub listen: String,
    /// Server certificate chain (PEM); turns TLS on (amqps).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM); needs --tls-cert/--tls-key.
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Fault plan (YAML or JSON) applied from the start.
    #[arg(long, value_name = "FILE")]
    pub fault_plan: Option<PathBuf>,
    /// On stop, write the traffic journal here as JSON lines (one entry per line; the newest
    /// entries within the journal's bounds).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Keep message bodies in the journal (off by default: entries keep properties only).
    #[arg(long)]
    pub journal_bodies: bool,
    /// Most journal entries kept; older ones are dropped and counted.
    #[arg(long, value_name = "N", default_value_t = mock_broker::JournalLimits::default().max_entries)]
    pub journal_max_entries: usize,
    /// Most journal bytes kept (texts and bodies); older entries are dropped and counted.
    #[arg(long, value_name = "BYTES", default_value_t = mock_broker::JournalLimits::default().max_bytes)]
    pub journal_max_bytes: usize,
    /// max-frame-size offered in the broker's open (at least 512); a peer frame over it (or over
    /// 512 bytes before the peer's open) closes the connection with amqp:connection:framing-error.
    #[arg(long, value_name = "BYTES", default_value_t = mock_broker::DEFAULT_MAX_FRAME_SIZE)]
    pub max_frame_size: u32,
    /// max-message-size advertised on every link (at least 1; 0, "no maximum" in AMQP, is
    /// refused): a larger message detaches its link with amqp:link:message-size-exceeded.
    #[arg(long, value_name = "BYTES", default_value_t = mock_broker::DEFAULT_MAX_MESSAGE_SIZE)]
    pub max_message_size: u64,
    /// idle-time-out advertised in the broker's open, in milliseconds (0: none); a peer that
    /// sends no frame for twice this is closed with amqp:resource-limit-exceeded.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub idle_time_out_ms: u64,
    /// Bound from TCP accept to the peer's AMQP open (TLS, SASL and open included), in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Most connections open at once (counted from accept); beyond it a connection is closed at
    /// once and journaled as refused.
    #[arg(long, value_name = "N", default_value_t = mock_broker::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
}

/// Parse and check a listen address: only loopback addresses are allowed in this project.
pub fn loopback_addr(s: &str) -> crate::Result<SocketAddr> {
    let addr: SocketAddr = s.parse().map_err(|e| {
        crate::Error::setup(format!(
            "--listen {s:?}: not an IP:PORT address ({e}); use e.g. 127.0.0.1:5672"
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(crate::Error::setup(format!(
            "--listen {addr}: only loopback addresses (127.0.0.1, ::1) are allowed"
        )));
    }
    Ok(addr)
}

pub fn run(rt: &tokio::runtime::Runtime, cmd: ServeCommand) -> ExitCode {
    match cmd {
        ServeCommand::Broker(args) => rt.block_on(serve_broker(args)),
        ServeCommand::HttpSigUpstream(args) => {
            rt.block_on(super::serve_http_sig::serve_upstream(args))
        }
        ServeCommand::KeyDirectory(args) => {
            rt.block_on(super::serve_http_sig::serve_key_directory(args))
        }
        ServeCommand::HttpSigVerifier(args) => {
            rt.block_on(super::serve_http_sig::serve_verifier(args))
        }
        ServeCommand::MqHub(args) => match rt.block_on(serve_mq_hub(args)) {
            Ok(()) => code(exit_code::ALL_MUST_PASSED),
            Err(e) => {
                eprintln!("sigharness serve mq-hub: {e}");
                code(exit_code::COULD_NOT_RUN)
            }
        },
        ServeCommand::SigningServer(a) => rt.block_on(serve_signing(
            None,
            a.broker,
            a.config,
            a.keys,
            a.fault_plan,
            (a.sasl == "external", a.reply_links == "addressed"),
        )),
        ServeCommand::MsgSigner(a) => rt.block_on(serve_signing(
            Some(a.listen),
            String::new(),
            a.config,
            a.keys,
            a.fault_plan,
            (false, false),
        )),
    }
}

async fn serve_mq_hub(a: MqHubServeArgs) -> crate::Result<()> {
    let listen = loopback_addr(&a.listen)?;
    let cfg = match &a.config {
        Some(p) => mq_hub::HubConfig::load(p).map_err(|e| crate::Error::setup(e.to_string()))?,
        None => mq_hub::HubConfig::default(),
    };
    let desc = format!("profile {}, storage {:?}", cfg.profile, cfg.storage);
    let h = mq_hub::RunningHub::start(cfg, listen)
        .await
        .map_err(|e| crate::Error::setup(e.to_string()))?;
    // One line on stdout that scripts (and the durability test) wait for.
    println!("mq-hub listening on {} ({desc})", h.url());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| crate::Error::setup(format!("waiting for Ctrl-C: {e}")))?;
    h.stop().await;
    Ok(())
}

/// `serve signing-server` (listen = None: connect to `broker`) and `serve msg-signer`
/// (listen = Some: start a plain broker there first).
async fn serve_signing(
    listen: Option<String>,
    broker_url: String,
    config: PathBuf,
    keys: Option<PathBuf>,
    fault_plan: Option<PathBuf>,
    (sasl_external, addressed): (bool, bool),
) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("sigharness serve: {msg}");
        code(exit_code::COULD_NOT_RUN)
    };
    let client_cfg = match msg_signer::config::MsgSignerConfig::load(&config) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let server_cfg =
        match mock_signing_server::ServerConfig::from_msg_signer(&client_cfg, None, None) {
            Ok(c) => c,
            Err(e) => return fail(e.to_string()),
        };
    let mut broker = None;
    let url = match &listen {
        Some(l) => {
            let addr = match loopback_addr(l) {
                Ok(a) => a,
                Err(e) => return fail(e.to_string()),
            };
            match mock_broker::Broker::builder()
                .listen(addr)
                .record_bodies(false)
                .start()
                .await
            {
                Ok(b) => {
                    let u = b.url().to_string();
                    broker = Some(b);
                    u
                }
                Err(e) => return fail(e.to_string()),
            }
        }
        None => broker_url,
    };
    let mut b = mock_signing_server::SigningServer::builder(url.clone(), server_cfg)
        .sasl_external(sasl_external)
        .addressed_reply_links(addressed);
    if url.starts_with("amqps://") {
        match msg_signer::tls::client_config(
            &client_cfg.messaging_cert_key,
            &client_cfg.messaging_ca_cert,
            true,
        ) {
            Ok(t) => b = b.tls(t),
            Err(e) => return fail(e.to_string()),
        }
    }
    // The keys of --keys DIR (else one generated key), plus a generated key for every key id
    // the config's key_aliases names that none of them has: a deployed client's config works
    // unchanged (before: "unknown signing key").
    let ring = match &keys {
        Some(dir) => mock_signing_server::KeyRing::from_dir(dir),
        None => mock_signing_server::KeyRing::generate(),
    }
    .and_then(|r| r.with_aliases(&client_cfg.key_aliases));
    match ring {
        Ok(k) => b = b.keys(k),
        Err(e) => return fail(e.to_string()),
    }
    if let Some(p) = &fault_plan {
        match mock_signing_server::fault::plan_from_file(p) {
            Ok(plan) => b = b.fault_plan(plan),
            Err(e) => return fail(e.to_string()),
        }
    }
    let server = match b.start().await {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let ring = server.keys();
    for (i, k) in ring.keys().iter().enumerate() {
        let names: Vec<String> = ring
            .aliases()
            .iter()
            .filter(|a| a.index == i)
            .map(|a| format!("{} = {}", a.alias, a.key_id))
            .collect();
        if names.is_empty() {
            println!(
                "signing key {} (sig_key_id {}), fingerprint {}",
                k.key_id(),
                k.short_id(),
                k.fingerprint()
            );
        } else {
            println!(
                "signing for key_aliases {} (sig_key_id {}) with generated key {}, fingerprint {}",
                names.join(", "),
                ring.aliases()
                    .iter()
                    .filter(|a| a.index == i)
                    .map(|a| a
                        .key_id
                        .get(a.key_id.len().saturating_sub(8)..)
                        .unwrap_or(&a.key_id)
                        .to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                k.key_id(),
                k.fingerprint()
            );
        }
        // The public key: `gpg --import` it to verify what this key signs.
        if let Ok(p) = k.public_armored() {
            println!("{p}");
        }
    }
    println!(
        "mock signing server consuming {} on {url}; replies to {} (Ctrl-C to stop)",
        server.config().topic_send_to,
        server.config().topic_listen_to
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        return fail(format!("cannot wait for Ctrl-C: {e}"));
    }
    println!("stopped after {} requests", server.requests_seen());
    drop(server);
    drop(broker);
    code(exit_code::ALL_MUST_PASSED)
}

async fn serve_broker(args: BrokerArgs) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("sigharness serve broker: {msg}");
        code(exit_code::COULD_NOT_RUN)
    };
    let listen = match loopback_addr(&args.listen) {
        Ok(a) => a,
        Err(e) => return fail(e.to_string()),
    };
    let mut b = mock_broker::Broker::builder()
        .listen(listen)
        .record_bodies(args.journal_bodies)
        .journal_limits(mock_broker::JournalLimits {
            max_entries: args.journal_max_entries,
            max_bytes: args.journal_max_bytes,
        })
        .max_frame_size(args.max_frame_size)
        .max_message_size(args.max_message_size)
        .idle_time_out(
            Some(std::time::Duration::from_millis(args.idle_time_out_ms)).filter(|t| !t.is_zero()),
        )
        .handshake_timeout(std::time::Duration::from_millis(args.handshake_timeout_ms))
        .max_connections(args.max_connections);
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        b = b.tls_files(cert, key);
    }
    if let Some(ca) = &args.client_ca {
        b = b.client_ca_file(ca);
    }
    if let Some(p) = &args.fault_plan {
        match mock_broker::FaultPlan::from_file(p) {
            Ok(plan) => b = b.fault_plan(plan),
            Err(e) => return fail(e.to_string()),
        }
    }
    let broker = match b.start().await {
        Ok(h) => h,
        Err(e) => return fail(e.to_string()),
    };
    println!("mock broker listening on {} (Ctrl-C to stop)", broker.url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        return fail(format!("cannot wait for Ctrl-C: {e}"));
    }
    let entries = broker.journal().snapshot();
    match broker.journal().dropped() {
        0 => println!("mock broker stopped; {} journal entries", entries.len()),
        n => println!(
            "mock broker stopped; {} journal entries (the {n} oldest were dropped: journal bounds)",
            entries.len()
        ),
    }
    if let Some(path) = &args.journal {
        let mut out = String::new();
        for e in &entries {
            match serde_json::to_string(e) {
                Ok(line) => {
                    out.push_str(&line);
                    out.push('\n');
                }
                Err(err) => return fail(format!("cannot encode journal entry {}: {err}", e.seq)),
            }
        }
        if let Err(err) = std::fs::write(path, out) {
            return fail(format!(
                "cannot write the journal to {}: {err}",
                path.display()
            ));
        }
    }
    code(exit_code::ALL_MUST_PASSED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_must_be_loopback() {
        assert!(loopback_addr("127.0.0.1:5672").is_ok());
        assert!(loopback_addr("[::1]:5672").is_ok());
        let e = loopback_addr("0.0.0.0:5672").unwrap_err();
        assert!(e.to_string().contains("only loopback"), "{e}");
        let e = loopback_addr("localhost:5672").unwrap_err();
        assert!(e.to_string().contains("IP:PORT"), "{e}");
    }
}
