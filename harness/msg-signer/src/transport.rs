//! The AMQP 1.0 transport (fe2o3-amqp) that drives the [`Engine`].
//!
//! - One connection at a time; brokers of `messaging_brokers` are tried in order (failover),
//!   and after a connection loss the next broker is tried first.
//! - Every socket gets `TCP_NODELAY` (we open the TCP stream ourselves and use
//!   `open_with_stream`).
//! - `amqps://`: TLS starts at once (no AMQP TLS header, like `alt_tls_establishment(true)`),
//!   via tokio-rustls with the configuration of [`crate::tls`]; then, by default, no SASL layer
//!   (as the deployed client), or SASL ANONYMOUS, or EXTERNAL with an empty initial response
//!   ([`crate::sasl`]).
//! - Requests go out on one sender link with a null target address; each message carries
//!   `properties.to` (anonymous-relay style, as deployed), `header.ttl`, the application
//!   properties, and an `amqp-value` string body. [`SenderLink::Addressed`] instead attaches
//!   the sender with the send address as its target (still setting `to`): brokers without an
//!   anonymous relay (RabbitMQ 3.x refuses a null target with `address_not_utf8_string`)
//!   need it.
//! - Each receive window of the engine gets its own receiver link on the reply address; it is
//!   closed (detach, closed=true) when the window ends. Deliveries are accepted as they arrive.
//! - Time is tokio time: under `tokio::time::pause` the whole client runs in virtual time.
//!   The engine gets `tokio::time::Instant::now().into_std()`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::link::SendError;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{
    AmqpValue, ApplicationProperties, Body, Header, Message, Outcome, Properties, Target,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant as TokioInstant, sleep_until, timeout};

use crate::config::{BrokerUrl, MsgSignerConfig, Scheme};
use crate::engine::{Engine, EngineConfig, Event, RequestResult, SendOutcome, Transmit, WindowId};
use crate::error::{Error, Result};
use crate::wire::{WireRequest, parse_reply};

/// SASL layer used on the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SaslMode {
    /// No SASL layer: the AMQP header comes first (inside TLS for amqps), as deployed.
    #[default]
    None,
    Anonymous,
    /// EXTERNAL with an empty initial response (identity from the TLS client certificate).
    External,
}

/// How the request sender link is addressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SenderLink {
    /// Null target; the broker routes each message by `properties.to` (as deployed).
    #[default]
    NullTarget,
    /// Target = the send address (for brokers with no anonymous relay, e.g. RabbitMQ 3.x).
    Addressed,
}

/// Options of the transport that are not in the config file.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// Verify the broker's certificate against `messaging_ca_cert` (default `true`).
    pub verify_broker: bool,
    pub sasl: SaslMode,
    /// AMQP container id (default `sigharness-msg-signer-<uuid>`).
    pub container_id: String,
    /// How the request sender is addressed (default: null target, as deployed).
    pub sender_link: SenderLink,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            verify_broker: true,
            sasl: SaslMode::None,
            container_id: format!("sigharness-msg-signer-{}", uuid::Uuid::new_v4()),
            sender_link: SenderLink::NullTarget,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// One result per request, in request order.
    pub results: Vec<RequestResult>,
    /// Connection attempts in order: `(url, Ok(()) | Err(reason))`.
    pub connections: Vec<(String, std::result::Result<(), String>)>,
    pub send_cycles: u32,
    pub windows: u32,
    /// Transmissions per request.
    pub transmissions: Vec<u32>,
}

type Msg = Message<AmqpValue<String>>;

enum Ev {
    Reply(std::result::Result<String, String>),
    ReceiverError(WindowId, String),
    Outcome(Transmit, SendOutcome),
    SenderBroken(String),
}

struct Conn {
    broker: usize,
    connection: ConnectionHandle<()>,
    session: SessionHandle<()>,
    send_tx: mpsc::UnboundedSender<(Transmit, Msg)>,
    sender_task: JoinHandle<()>,
    broken: bool,
}

fn now() -> std::time::Instant {
    TokioInstant::now().into_std()
}

/// Map a wire request onto an AMQP message (notes: "Request").
pub fn to_message(r: &WireRequest) -> Msg {
    let mut props = ApplicationProperties::builder();
    for (k, v) in &r.application_properties {
        props = props.insert(k.clone(), SimpleValue::String(v.clone()));
    }
    let ttl = u32::try_from(r.ttl.as_millis()).unwrap_or(u32::MAX);
    Message::builder()
        .header(Header {
            durable: false,
            ttl: Some(ttl),
            ..Default::default()
        })
        .properties(Properties::builder().to(r.to.clone()).build())
        .application_properties(props.build())
        .value(r.body_text())
        .build()
}

/// The JSON text of a reply body: an `amqp-value` string (as deployed), or `data` sections.
pub fn body_text(body: &Body<Value>) -> std::result::Result<String, String> {
    match body {
        Body::Value(AmqpValue(Value::String(s))) => Ok(s.clone()),
        Body::Value(AmqpValue(Value::Binary(b))) => String::from_utf8(b.to_vec())
            .map_err(|_| "reply body is binary, not UTF-8 JSON".to_string()),
        Body::Data(batch) => {
            let mut bytes = Vec::new();
            for d in batch.iter() {
                bytes.extend_from_slice(&d.0);
            }
            String::from_utf8(bytes).map_err(|_| "reply data section is not UTF-8".to_string())
        }
        Body::Value(AmqpValue(other)) => Err(format!(
            "reply body is an amqp-value of type {}, not a JSON string",
            value_kind(other)
        )),
        Body::Sequence(_) => Err("reply body is an amqp-sequence, not a JSON string".into()),
        Body::Empty => Err("reply has no body".into()),
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "map",
        Value::List(_) => "list",
        Value::Null => "null",
        _ => "non-string",
    }
}

fn map_outcome(o: std::result::Result<Outcome, SendError>) -> SendOutcome {
    match o {
        Ok(Outcome::Accepted(_)) => SendOutcome::Accepted,
        Ok(Outcome::Rejected(r)) => SendOutcome::Rejected(
            r.error
                .map(|e| format!("{:?}: {}", e.condition, e.description.unwrap_or_default()))
                .unwrap_or_else(|| "no error given".into()),
        ),
        Ok(Outcome::Released(_)) => SendOutcome::Released,
        Ok(Outcome::Modified(_)) => SendOutcome::Modified,
        #[allow(unreachable_patterns)]
        Ok(other) => SendOutcome::Failed(format!("unexpected outcome {other:?}")),
        Err(e) => SendOutcome::Failed(e.to_string()),
    }
}

async fn open_tcp(url: &BrokerUrl) -> std::result::Result<TcpStream, String> {
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("TCP connect: {e}"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    Ok(tcp)
}

/// The AMQP open's error. Without a SASL layer, fe2o3 answers a broker that requires SASL
/// (it replies to the AMQP header with the SASL header, as RabbitMQ's plain port does) with
/// "Not implemented": say that, and which option logs in.
fn open_error(e: fe2o3_amqp::connection::OpenError, sasl: SaslMode, option: &str) -> String {
    use fe2o3_amqp::connection::OpenError;
    match e {
        OpenError::NotImplemented(_) if sasl == SaslMode::None => format!(
            "AMQP open: {e}: the broker requires SASL (it answered the AMQP header with a SASL header), and this connection has no SASL layer (as the deployed client); log in with SASL: {option}"
        ),
        e => format!("AMQP open: {e}"),
    }
}

async fn open_amqp(
    url: &BrokerUrl,
    tls: Option<&tokio_rustls::TlsConnector>,
    opts: &TransportOptions,
) -> std::result::Result<(ConnectionHandle<()>, SessionHandle<()>), String> {
    let tcp = open_tcp(url).await?;
    let builder = Connection::builder()
        .container_id(opts.container_id.clone())
        .hostname(url.host.as_str())
        // The stream is already TLS (or plain): fe2o3 must not start TLS itself.
        .scheme("amqp");
    let builder = match opts.sasl {
        SaslMode::Anonymous => builder.sasl_profile(SaslProfile::Anonymous),
        _ => builder,
    };
    let mut connection = match url.scheme {
        Scheme::Amqp => {
            if opts.sasl == SaslMode::External {
                return Err("SASL EXTERNAL needs a TLS client certificate: use amqps://".into());
            }
            builder
                .open_with_stream(tcp)
                .await
                .map_err(|e| open_error(e, opts.sasl, "--sasl anonymous"))?
        }
        Scheme::Amqps => {
            let connector = tls.ok_or("no TLS configuration")?;
            let name = crate::tls::server_name(&url.host).map_err(|e| e.to_string())?;
            let mut stream = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            if opts.sasl == SaslMode::External {
                crate::sasl::external_with_empty_response(&mut stream, Some(&url.host))
                    .await
                    .map_err(|e| format!("SASL EXTERNAL: {e}"))?;
            }
            builder
                .open_with_stream(stream)
                .await
                .map_err(|e| open_error(e, opts.sasl, "--sasl external"))?
        }
    };
    let session = match Session::begin(&mut connection).await {
        Ok(s) => s,
        Err(e) => {
            let _ = connection.close().await;
            return Err(format!("AMQP begin: {e}"));
        }
    };
    Ok((connection, session))
}

struct Driver<'a> {
    config: &'a MsgSignerConfig,
    opts: &'a TransportOptions,
    brokers: Vec<BrokerUrl>,
    tls: Option<tokio_rustls::TlsConnector>,
    reply_address: String,
    /// Where requests go (`properties.to`; also the sender's target with [`SenderLink::Addressed`]).
    send_address: String,
    ev_tx: mpsc::UnboundedSender<Ev>,
    connections: Vec<(String, std::result::Result<(), String>)>,
    conn: Option<Conn>,
    next_broker: usize,
}

impl Driver<'_> {
    /// Connect to the first broker that accepts, starting at `next_broker` (failover in order).
    async fn connect(&mut self) -> std::result::Result<(), String> {
        let n = self.brokers.len();
        let bound = self.config.timeout();
        let mut errors = Vec::new();
        for k in 0..n {
            let i = (self.next_broker + k) % n;
            let url = &self.brokers[i];
            let r = match timeout(bound, open_amqp(url, self.tls.as_ref(), self.opts)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no AMQP open within {}s", bound.as_secs_f64())),
            };
            match r {
                Ok((connection, mut session)) => {
                    let target = match self.opts.sender_link {
                        SenderLink::NullTarget => Target::builder().build(), // route by `to`
                        SenderLink::Addressed => {
                            Target::builder().address(self.send_address.clone()).build()
                        }
                    };
                    let sender = Sender::builder()
                        .name(format!("{}-sender", self.opts.container_id))
                        .target(target)
                        .attach(&mut session);
                    let sender = match timeout(bound, sender).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            let mut e = format!("{}: sender attach: {e}", url.url);
                            if self.opts.sender_link == SenderLink::NullTarget
                                && e.contains("address_not_utf8_string")
                            {
                                // RabbitMQ 3.x's words for "no anonymous relay".
                                e.push_str(" (the broker refuses a null-target sender: it has no anonymous relay; use an addressed sender link, `--sender-link addressed`)");
                            }
                            self.connections.push((url.url.clone(), Err(e.clone())));
                            errors.push(e);
                            continue;
                        }
                        Err(_) => {
                            let e = format!("{}: sender attach timed out", url.url);
                            self.connections.push((url.url.clone(), Err(e.clone())));
                            errors.push(e);
                            continue;
                        }
                    };
                    self.connections.push((url.url.clone(), Ok(())));
                    let (send_tx, send_rx) = mpsc::unbounded_channel();
                    let sender_task =
                        tokio::spawn(sender_task(sender, send_rx, self.ev_tx.clone()));
                    self.conn = Some(Conn {
                        broker: i,
                        connection,
                        session,
                        send_tx,
                        sender_task,
                        broken: false,
                    });
                    return Ok(());
                }
                Err(e) => {
                    self.connections.push((url.url.clone(), Err(e.clone())));
                    errors.push(format!("{}: {e}", url.url));
                }
            }
        }
        Err(errors.join("; "))
    }

    async fn drop_conn(&mut self) {
        if let Some(mut c) = self.conn.take() {
            c.sender_task.abort();
            self.next_broker = (c.broker + 1) % self.brokers.len();
            let _ = timeout(Duration::from_secs(1), c.connection.close()).await;
        }
    }

    fn conn_alive(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| !c.broken && !c.session.is_ended() && !c.connection.is_closed())
    }

    async fn attach_receiver(
        &mut self,
        w: WindowId,
    ) -> std::result::Result<(oneshot::Sender<()>, JoinHandle<()>), String> {
        if !self.conn_alive() {
            self.drop_conn().await;
            self.connect().await?;
        }
        let conn = self.conn.as_mut().ok_or("not connected")?;
        let name = format!(
            "{}-receiver-{}-{}",
            self.opts.container_id, w.send_cycle, w.receive_cycle
        );
        let attach = Receiver::builder()
            .name(name)
            .source(self.reply_address.clone())
            .auto_accept(false)
            .attach(&mut conn.session);
        let mut receiver = match timeout(self.config.timeout(), attach).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(format!("attach on {}: {e}", self.reply_address)),
            Err(_) => return Err(format!("attach on {} not answered", self.reply_address)),
        };
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let ev_tx = self.ev_tx.clone();
        let handle = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stop_rx => {
                        let _ = receiver.close().await;
                        return;
                    }
                    d = receiver.recv::<Body<Value>>() => match d {
                        Ok(d) => {
                            let text = body_text(d.body());
                            let _ = receiver.accept(&d).await;
                            if ev_tx.send(Ev::Reply(text)).is_err() {
                                let _ = receiver.close().await;
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = ev_tx.send(Ev::ReceiverError(w, e.to_string()));
                            return;
                        }
                    }
                }
            }
        });
        Ok((stop_tx, handle))
    }
}

async fn sender_task(
    mut sender: Sender,
    mut rx: mpsc::UnboundedReceiver<(Transmit, Msg)>,
    ev_tx: mpsc::UnboundedSender<Ev>,
) {
    while let Some((t, msg)) = rx.recv().await {
        match sender.send_batchable(msg).await {
            Ok(fut) => {
                let ev_tx = ev_tx.clone();
                tokio::spawn(async move {
                    let o: std::result::Result<Outcome, SendError> = fut.await;
                    let _ = ev_tx.send(Ev::Outcome(t, map_outcome(o)));
                });
            }
            Err(e) => {
                let _ = ev_tx.send(Ev::Outcome(t, SendOutcome::Failed(e.to_string())));
                let _ = ev_tx.send(Ev::SenderBroken(e.to_string()));
                return;
            }
        }
    }
    let _ = sender.close().await;
}

/// Run the requests: connect (failover in order), then drive the engine until every request
/// has a result. `reply_address` is `topic_listen_to` after templating. Returns an error only
/// when no broker could be reached at the start or TLS could not be configured.
pub async fn run(
    config: &MsgSignerConfig,
    opts: &TransportOptions,
    reply_address: &str,
    requests: &[WireRequest],
) -> Result<RunReport> {
    let brokers = config.brokers()?;
    let tls = if brokers.iter().any(|b| b.scheme == Scheme::Amqps) {
        let cfg = crate::tls::client_config(
            &config.messaging_cert_key,
            &config.messaging_ca_cert,
            opts.verify_broker,
        )?;
        Some(tokio_rustls::TlsConnector::from(Arc::clone(&cfg)))
    } else {
        None
    };
    let send_address = requests.first().map(|r| r.to.clone()).unwrap_or_default();
    if opts.sender_link == SenderLink::Addressed
        && let Some(other) = requests.iter().find(|r| r.to != send_address)
    {
        return Err(Error::Input(format!(
            "an addressed sender link serves one address, but requests go to {send_address:?} and {:?}",
            other.to
        )));
    }
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let mut d = Driver {
        config,
        opts,
        brokers,
        tls,
        reply_address: reply_address.to_string(),
        send_address,
        ev_tx,
        connections: Vec::new(),
        conn: None,
        next_broker: 0,
    };
    d.connect().await.map_err(Error::Connect)?;

    let by_id: HashMap<&str, Option<&'static str>> = requests
        .iter()
        .map(|r| (r.id.as_str(), r.result_field))
        .collect();
    let ecfg = EngineConfig {
        timeout: config.timeout(),
        retries: config.retries,
        send_retries: config.send_retries,
    };
    let mut engine = Engine::new(now(), requests.iter().map(|r| r.id.clone()).collect(), ecfg);
    let mut receivers: HashMap<WindowId, (oneshot::Sender<()>, JoinHandle<()>)> = HashMap::new();
    let mut closing: Vec<JoinHandle<()>> = Vec::new();

    loop {
        // Events before sends: the window's receiver is attached before its requests go out.
        loop {
            let mut progressed = false;
            while let Some(ev) = engine.poll_event() {
                progressed = true;
                match ev {
                    Event::AttachReceiver(w) => match d.attach_receiver(w).await {
                        Ok(r) => {
                            receivers.insert(w, r);
                        }
                        Err(e) => engine.handle_receiver_error(now(), w, e),
                    },
                    Event::DetachReceiver(w) => {
                        if let Some((stop, h)) = receivers.remove(&w) {
                            let _ = stop.send(());
                            closing.push(h);
                        }
                    }
                    Event::StrayReply { id } => {
                        tracing::info!(%id, "ignored a reply for an unknown request id")
                    }
                    Event::DuplicateReply { id } => {
                        tracing::info!(%id, "ignored a duplicate reply")
                    }
                    Event::UncorrelatedReply { reason } => {
                        tracing::warn!(%reason, "reply could not be correlated")
                    }
                    Event::LateReply { .. } | Event::Finished => {}
                    Event::SendCycleStarted {
                        send_cycle,
                        requests,
                    } => {
                        tracing::debug!(send_cycle, requests, "send cycle")
                    }
                }
            }
            while let Some(t) = engine.poll_send() {
                progressed = true;
                let msg = to_message(&requests[t.index]);
                let sent = match &d.conn {
                    Some(c) if !c.broken => c.send_tx.send((t, msg)).is_ok(),
                    _ => false,
                };
                if !sent {
                    engine.handle_send_outcome(
                        now(),
                        t,
                        SendOutcome::Failed("not connected".into()),
                    );
                }
            }
            if !progressed {
                break;
            }
        }
        if engine.is_finished() {
            break;
        }
        let deadline = engine.poll_timeout().map(TokioInstant::from_std);
        tokio::select! {
            ev = ev_rx.recv() => match ev {
                Some(Ev::Reply(Ok(text))) => {
                    let reply = parse_reply(&text, &config.message_id_key, |id| by_id.get(id).copied().flatten());
                    engine.handle_reply(now(), reply);
                }
                Some(Ev::Reply(Err(reason))) => {
                    engine.handle_reply(now(), crate::wire::IncomingReply::Uncorrelated { reason });
                }
                Some(Ev::ReceiverError(w, e)) => {
                    receivers.remove(&w);
                    engine.handle_receiver_error(now(), w, e);
                }
                Some(Ev::Outcome(t, o)) => engine.handle_send_outcome(now(), t, o),
                Some(Ev::SenderBroken(e)) => {
                    if let Some(c) = d.conn.as_mut() { c.broken = true; }
                    engine.handle_connection_lost(now(), e);
                }
                None => engine.handle_connection_lost(now(), "event channel closed".into()),
            },
            _ = async { match deadline { Some(t) => sleep_until(t).await, None => std::future::pending().await } } => {
                engine.handle_timeout(now());
            }
        }
    }

    // Detach whatever is still attached (nothing, normally: the engine detached every window),
    // wait (bounded) for the detaches to go out, then close the connection.
    for (_, (stop, h)) in receivers.drain() {
        let _ = stop.send(());
        closing.push(h);
    }
    for h in closing {
        let _ = timeout(Duration::from_secs(2), h).await;
    }
    if let Some(c) = d.conn.take() {
        drop(c.send_tx); // the sender task closes its link when its queue ends
        let _ = timeout(Duration::from_secs(2), c.sender_task).await;
        let mut connection = c.connection;
        let mut session = c.session;
        let _ = timeout(Duration::from_secs(2), session.end()).await;
        let _ = timeout(Duration::from_secs(2), connection.close()).await;
    }
    Ok(RunReport {
        results: engine.results().unwrap_or_default(),
        connections: d.connections,
        send_cycles: engine.send_cycles(),
        windows: engine.windows_opened(),
        transmissions: engine.transmissions().to_vec(),
    })
}
