//! The AMQP side of the signing server and its fixture handle.
//!
//! One connection to the broker at a time (plain or TLS via tokio-rustls, no SASL layer,
//! `TCP_NODELAY`); when it is lost the server reconnects with backoff ([`RECONNECT_FIRST`]
//! doubling to [`RECONNECT_MAX`]) and re-attaches its links (fault `stay_disconnected`: it does
//! not), with
//! one receiver link on `topic_send_to` (auto credit, each delivery accepted as it arrives), one
//! sender link with a null target that addresses every reply by `properties.to`
//! (anonymous-relay style, as the deployed clients do), or, with
//! [`SigningServerBuilder::addressed_reply_links`], one sender per reply address on a session
//! of its own (brokers without an anonymous relay, such as RabbitMQ 3.x; the most recently used
//! [`MAX_REPLY_LINKS`] are kept attached). Replies are pipelined
//! (`send_batchable`) and their outcomes collected by a separate task. Delayed emissions are
//! tokio timers, so under `tokio::time::pause` they are virtual.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fe2o3_amqp::link::delivery::DeliveryFut;
use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::types::messaging::{AmqpValue, Body, Header, Message, Outcome, Properties, Target};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use mock_broker::JournalLimits;
use msg_signer::config::{BrokerUrl, Scheme};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::coalesce::CoalescedWrites;
use crate::core::{Core, IncomingRequest, ReceivedRequest, ServerConfig};
use crate::error::ServerError;
use crate::fault::{FaultPlan, ServerAction};
use crate::keys::KeyRing;

/// Entry point of the fixture API.
pub struct SigningServer;

impl SigningServer {
    /// Configure a signing server that connects to `broker_url` (`amqp://` or `amqps://`).
    pub fn builder(broker_url: impl Into<String>, config: ServerConfig) -> SigningServerBuilder {
        SigningServerBuilder {
            url: broker_url.into(),
            config,
            keys: None,
            plan: FaultPlan::default(),
            tls: None,
            credit: 500,
            sasl_external: false,
            addressed: false,
            coalesce: true,
            pipeline: SIGNING_PIPELINE,
            log_limits: JournalLimits::default(),
        }
    }
}

/// Builder of a [`SigningServerHandle`].
pub struct SigningServerBuilder {
    url: String,
    config: ServerConfig,
    keys: Option<KeyRing>,
    plan: FaultPlan<ServerAction>,
    tls: Option<Arc<rustls::ClientConfig>>,
    credit: u32,
    sasl_external: bool,
    addressed: bool,
    coalesce: bool,
    pipeline: usize,
    log_limits: JournalLimits,
}

/// Reply senders kept attached with [`SigningServerBuilder::addressed_reply_links`].
pub const MAX_REPLY_LINKS: usize = 64;

/// Bound on attaching or detaching one reply link.
const LINK_BOUND: Duration = Duration::from_secs(10);

impl SigningServerBuilder {
    /// Sign with these keys (default: one freshly generated Ed25519 key).
    pub fn keys(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Start with this fault plan.
    pub fn fault_plan(mut self, plan: FaultPlan<ServerAction>) -> Self {
        self.plan = plan;
        self
    }

    /// TLS client configuration for an `amqps://` broker (see
    /// `msg_signer::tls::client_config`).
    pub fn tls(mut self, cfg: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(cfg);
        self
    }

    /// Log in with SASL EXTERNAL (identity from the TLS client certificate, empty initial
    /// response; `amqps://` only), as RabbitMQ with certificate login requires. Default: no
    /// SASL layer.
    pub fn sasl_external(mut self, on: bool) -> Self {
        self.sasl_external = on;
        self
    }

    /// Send each reply on a sender link attached to its reply address (target = address; `to`
    /// still set) instead of one null-target link. Needed by brokers with no anonymous relay
    /// (RabbitMQ 3.x refuses a null target). Default: one null-target link, as deployed.
    pub fn addressed_reply_links(mut self, on: bool) -> Self {
        self.addressed = on;
        self
    }

    /// Coalesce the connection's writes ([`crate::coalesce`]; default on): frames produced while
    /// the previous write was under way go out in one write instead of one system call each.
    pub fn coalesce_writes(mut self, on: bool) -> Self {
        self.coalesce = on;
        self
    }

    /// How many requests may be signed at once off the receiver task (default
    /// [`SIGNING_PIPELINE`]); 0: each is parsed, signed and answered on the receiver task before
    /// the next is read.
    pub fn signing_pipeline(mut self, depth: usize) -> Self {
        self.pipeline = depth;
        self
    }

    /// Link credit of the request receiver (default 500).
    pub fn credit(mut self, credit: u32) -> Self {
        self.credit = credit.max(1);
        self
    }

    /// Bounds of the record of requests ([`SigningServerHandle::received_requests`]); the
    /// broker journal's defaults (100 000 requests, 32 MiB as [`ReceivedRequest`]s count their
    /// bytes). Past either, the oldest are dropped and counted
    /// ([`SigningServerHandle::requests_dropped`]).
    pub fn request_log_limits(mut self, limits: JournalLimits) -> Self {
        self.log_limits = limits;
        self
    }

    /// Connect, attach both links, and start serving. The request receiver is attached (the
    /// broker has answered the attach) when this returns, so requests sent afterwards to a
    /// `topic://` address reach it.
    pub async fn start(self) -> Result<SigningServerHandle, ServerError> {
        let url = BrokerUrl::parse(&self.url).map_err(|reason| ServerError::BrokerUrl {
            url: self.url.clone(),
            reason,
        })?;
        let keys = Arc::new(match self.keys {
            Some(k) => k,
            None => KeyRing::generate()?,
        });
        let core = Core::new(self.config.clone(), keys.clone(), &self.plan)?;
        let params = Arc::new(ConnectParams {
            raw_url: self.url.clone(),
            url,
            tls: self.tls.clone(),
            sasl_external: self.sasl_external,
            addressed: self.addressed,
            credit: self.credit,
            coalesce: self.coalesce,
            pipeline: self.pipeline,
            send_to: self.config.topic_send_to.clone(),
            container: format!("sigharness-mock-signing-server-{}", uuid::Uuid::new_v4()),
        });
        let first = connect(&params).await?;

        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            received: Mutex::new(RequestLog::new(self.log_limits)),
            changed: Notify::new(),
            start: Instant::now(),
            sent: Mutex::new(SentStats::default()),
            reconnects: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        });
        let (out_tx, out_rx) = mpsc::unbounded_channel::<(String, String)>();
        let (settle_tx, settle_rx) =
            mpsc::unbounded_channel::<DeliveryFut<Result<Outcome, fe2o3_amqp::link::SendError>>>();
        let shutdown = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(settle_task(settle_rx, shared.clone())),
            tokio::spawn(supervisor(
                params,
                first,
                Channels {
                    out_tx,
                    out_rx: Arc::new(tokio::sync::Mutex::new(out_rx)),
                    settle_tx,
                },
                shared.clone(),
                shutdown.clone(),
            )),
        ];
        Ok(SigningServerHandle {
            url: self.url,
            shared,
            keys,
            config: self.config,
            tasks,
            shutdown,
        })
    }
}

/// What (re)connecting needs.
struct ConnectParams {
    raw_url: String,
    url: BrokerUrl,
    tls: Option<Arc<rustls::ClientConfig>>,
    sasl_external: bool,
    addressed: bool,
    credit: u32,
    coalesce: bool,
    /// Signatures in the making at once (0: inline on the receiver task).
    pipeline: usize,
    send_to: String,
    /// The AMQP container id, kept across reconnects (link names derive from it).
    container: String,
}

/// One live connection with both links attached.
struct Connected {
    connection: fe2o3_amqp::connection::ConnectionHandle<()>,
    session: fe2o3_amqp::session::SessionHandle<()>,
    receiver: Receiver,
    links: ReplyLinks,
}

/// The channels that outlive a connection: replies waiting to be sent, and their settlements.
struct Channels {
    out_tx: mpsc::UnboundedSender<(String, String)>,
    out_rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>>,
    settle_tx: mpsc::UnboundedSender<DeliveryFut<Result<Outcome, fe2o3_amqp::link::SendError>>>,
}

/// Connect, open, begin, attach the request receiver and the reply side.
async fn connect(p: &ConnectParams) -> Result<Connected, ServerError> {
    let url = &p.url;
    let err = |reason: String| ServerError::Connect {
        url: p.raw_url.clone(),
        reason,
    };
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| err(format!("TCP connect: {e}")))?;
    tcp.set_nodelay(true)
        .map_err(|e| err(format!("TCP_NODELAY: {e}")))?;
    let container = p.container.clone();
    let builder = Connection::builder()
        .container_id(container.clone())
        .hostname(url.host.as_str())
        .scheme("amqp");
    let mut connection = match url.scheme {
        Scheme::Amqp if p.sasl_external => {
            return Err(err(
                "SASL EXTERNAL needs a TLS client certificate: use amqps://".into(),
            ));
        }
        Scheme::Amqp if p.coalesce => builder
            .open_with_stream(CoalescedWrites::new(tcp))
            .await
            .map_err(|e| err(format!("AMQP open: {e}")))?,
        Scheme::Amqp => builder
            .open_with_stream(tcp)
            .await
            .map_err(|e| err(format!("AMQP open: {e}")))?,
        Scheme::Amqps => {
            let cfg = p.tls.clone().ok_or_else(|| {
                err("amqps:// needs a TLS configuration (CA and client certificate)".into())
            })?;
            let name = msg_signer::tls::server_name(&url.host).map_err(|e| err(e.to_string()))?;
            let mut stream = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| err(format!("TLS handshake: {e}")))?;
            if p.sasl_external {
                msg_signer::sasl::external_with_empty_response(&mut stream, Some(&url.host))
                    .await
                    .map_err(|e| err(format!("SASL EXTERNAL: {e}")))?;
            }
            let open = if p.coalesce {
                builder.open_with_stream(CoalescedWrites::new(stream)).await
            } else {
                builder.open_with_stream(stream).await
            };
            open.map_err(|e| err(format!("AMQP open: {e}")))?
        }
    };
    let mut session = Session::begin(&mut connection)
        .await
        .map_err(|e| err(format!("AMQP begin: {e}")))?;
    let receiver = Receiver::builder()
        .name(format!("{container}-requests"))
        .source(p.send_to.clone())
        .credit_mode(CreditMode::Auto(p.credit))
        .auto_accept(false)
        .attach(&mut session)
        .await
        .map_err(|e| err(format!("attach receiver on {}: {e}", p.send_to)))?;
    let links = if p.addressed {
        let session = Session::begin(&mut connection)
            .await
            .map_err(|e| err(format!("AMQP begin (reply session): {e}")))?;
        ReplyLinks::Addressed {
            session,
            prefix: format!("{container}-reply"),
            links: Vec::new(),
            attached: 0,
        }
    } else {
        let sender = Sender::builder()
            .name(format!("{container}-replies"))
            .target(Target::builder().build())
            .attach(&mut session)
            .await
            .map_err(|e| err(format!("attach the reply sender (null target): {e}")))?;
        ReplyLinks::Null(Box::new(sender))
    };
    Ok(Connected {
        connection,
        session,
        receiver,
        links,
    })
}

/// First delay before reconnecting after the broker connection was lost; doubled per failed
/// attempt up to [`RECONNECT_MAX`].
pub const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// Longest delay between two reconnect attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Serve one connection until its request receiver stops (the connection was lost, or the
/// broker detached the link), then reconnect with backoff and serve again, until shutdown or
/// the `stay_disconnected` fault. Replies produced while disconnected wait in `out_rx` and go out
/// on the next connection; a reply that was being sent when the connection broke is lost (the
/// request was accepted when it arrived; the client's resend covers it).
async fn supervisor(
    params: Arc<ConnectParams>,
    mut c: Connected,
    ch: Channels,
    shared: Arc<Shared>,
    shutdown: Arc<Notify>,
) {
    loop {
        let Connected {
            mut connection,
            mut session,
            receiver,
            links,
        } = c;
        let sender = tokio::spawn(sender_task(
            links,
            ch.out_rx.clone(),
            ch.settle_tx.clone(),
            shared.clone(),
        ));
        let stop = tokio::select! {
            _ = receiver_task(receiver, ch.out_tx.clone(), shared.clone(), params.pipeline) => false,
            _ = shutdown.notified() => true,
        };
        sender.abort();
        // Close politely (bounded): at shutdown the broker sees a clean close; after a loss it
        // fails at once.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = session.end().await;
            let _ = connection.close().await;
        })
        .await;
        if stop {
            return;
        }
        if shared
            .core
            .lock()
            .map(|c| c.stays_disconnected())
            .unwrap_or(true)
        {
            tracing::warn!(
                "signing server: broker connection lost; not reconnecting (stay_disconnected)"
            );
            shared.stopped.store(true, Ordering::Relaxed);
            shared.changed.notify_waiters();
            return;
        }
        let mut delay = RECONNECT_FIRST;
        c = loop {
            tokio::select! {
                _ = shutdown.notified() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            // Bounded, and abandoned at shutdown: a broker that accepts TCP and never answers
            // the open must not keep the server (or its handle's drop) waiting.
            let attempt = tokio::select! {
                _ = shutdown.notified() => return,
                r = tokio::time::timeout(LINK_BOUND, connect(&params)) => r,
            };
            match attempt {
                Ok(Ok(c)) => break c,
                Ok(Err(e)) => {
                    tracing::warn!("signing server: reconnect failed (next in {delay:?}): {e}");
                }
                Err(_) => {
                    tracing::warn!(
                        "signing server: reconnect: no open and attach within {LINK_BOUND:?} (next in {delay:?})"
                    );
                }
            }
            delay = (delay * 2).min(RECONNECT_MAX);
        };
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        shared.changed.notify_waiters();
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SentStats {
    sent: u64,
    accepted: u64,
    failed: u64,
}

struct Shared {
    core: Mutex<Core>,
    received: Mutex<RequestLog>,
    changed: Notify,
    start: Instant,
    sent: Mutex<SentStats>,
    /// Connections made after the first one.
    reconnects: AtomicU64,
    /// The supervisor gave up serving (connection lost under `stay_disconnected`).
    stopped: AtomicBool,
}

/// The record of requests: a ring bounded like the broker's journal (entries and bytes), the
/// oldest dropped and counted, so that a server left running takes bounded memory.
struct RequestLog {
    entries: VecDeque<ReceivedRequest>,
    bytes: usize,
    /// Requests recorded since the start.
    recorded: u64,
    /// The oldest ones dropped to stay within `limits`.
    dropped: u64,
    limits: JournalLimits,
}

impl RequestLog {
    fn new(limits: JournalLimits) -> Self {
        RequestLog {
            entries: VecDeque::new(),
            bytes: 0,
            recorded: 0,
            dropped: 0,
            limits,
        }
    }

    fn push(&mut self, r: ReceivedRequest) {
        self.recorded += 1;
        self.bytes += r.accounted_bytes();
        self.entries.push_back(r);
        while self.entries.len() > self.limits.max_entries.max(1)
            || (self.bytes > self.limits.max_bytes && self.entries.len() > 1)
        {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= old.accounted_bytes();
            self.dropped += 1;
        }
    }
}

/// `wait_for_requests` ran out of time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{wanted} requests not received within {waited:?}; received {received}")]
pub struct WaitTimeout {
    pub wanted: usize,
    pub waited: Duration,
    pub received: usize,
}

/// A running signing server. Dropping it stops the server and closes its connection.
pub struct SigningServerHandle {
    url: String,
    shared: Arc<Shared>,
    keys: Arc<KeyRing>,
    config: ServerConfig,
    tasks: Vec<JoinHandle<()>>,
    /// Tells the supervisor to close the connection and stop.
    shutdown: Arc<Notify>,
}

impl SigningServerHandle {
    /// The broker URL this server is connected to.
    pub fn broker_url(&self) -> &str {
        &self.url
    }

    /// The keys it signs with.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Its configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Every request received so far, in arrival order, with what was done with it: all of
    /// them unless [`Self::requests_dropped`] is non-zero (the record is bounded:
    /// [`SigningServerBuilder::request_log_limits`]; a verdict over the whole history checks it).
    pub fn received_requests(&self) -> Vec<ReceivedRequest> {
        self.shared
            .received
            .lock()
            .map(|r| r.entries.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How many requests were received since the start (those dropped from the record too).
    pub fn requests_seen(&self) -> u64 {
        self.shared.received.lock().map(|r| r.recorded).unwrap_or(0)
    }

    /// How many of the oldest requests were dropped from the record to keep it within its
    /// bounds; `received_requests()[0].n == requests_dropped() + 1` when it is not empty.
    pub fn requests_dropped(&self) -> u64 {
        self.shared.received.lock().map(|r| r.dropped).unwrap_or(0)
    }

    /// How many times the server reconnected after losing its broker connection.
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }

    /// Whether the server has stopped serving for good (its connection was lost under the
    /// `stay_disconnected` fault).
    pub fn has_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Relaxed)
    }

    /// Wait (on changes, bounded by `timeout` of tokio time) until `cond` holds; `false` if it
    /// did not in time.
    pub async fn wait_until(
        &self,
        cond: impl Fn(&SigningServerHandle) -> bool,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return cond(self);
            }
        }
    }

    /// Replies handed to the broker so far: (sent, accepted by the broker, failed).
    pub fn replies_sent(&self) -> (u64, u64, u64) {
        let s = self.shared.sent.lock().map(|s| *s).unwrap_or_default();
        (s.sent, s.accepted, s.failed)
    }

    /// Wait (on arrivals, bounded by `timeout` of tokio time) until `n` requests were received.
    pub async fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Counted, not copied, until there are enough.
            let seen = self.requests_seen();
            if seen >= n as u64 {
                return Ok(self.received_requests());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(WaitTimeout {
                    wanted: n,
                    waited: timeout,
                    received: seen as usize,
                });
            }
        }
    }

    /// Replace the fault plan while running (rule counters restart).
    pub fn set_fault_plan(&self, plan: FaultPlan<ServerAction>) -> Result<(), ServerError> {
        plan.validate("fault plan")?;
        match self.shared.core.lock() {
            Ok(mut c) => c.set_fault_plan(&plan),
            Err(_) => Err(ServerError::Config("server state poisoned".into())),
        }
    }

    /// Stop now (same as dropping the handle).
    pub fn shutdown(self) {}
}

impl Drop for SigningServerHandle {
    fn drop(&mut self) {
        // The supervisor closes the connection politely (bounded) and stops; a permit is kept
        // if it is not waiting right now. The settlement task ends with it.
        self.shutdown.notify_one();
        if tokio::runtime::Handle::try_current().is_err() {
            for t in &self.tasks {
                t.abort();
            }
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn prop_text(v: &SimpleValue) -> String {
    match v {
        SimpleValue::String(s) => s.clone(),
        SimpleValue::Symbol(s) => s.0.clone(),
        SimpleValue::Bool(b) => b.to_string(),
        SimpleValue::Ubyte(n) => n.to_string(),
        SimpleValue::Ushort(n) => n.to_string(),
        SimpleValue::Uint(n) => n.to_string(),
        SimpleValue::Ulong(n) => n.to_string(),
        SimpleValue::Byte(n) => n.to_string(),
        SimpleValue::Short(n) => n.to_string(),
        SimpleValue::Int(n) => n.to_string(),
        SimpleValue::Long(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn body_of(m: &Message<Body<Value>>) -> Result<String, String> {
    match &m.body {
        Body::Value(AmqpValue(Value::String(s))) => Ok(s.clone()),
        Body::Value(AmqpValue(_)) => Err("the amqp-value is not a string".into()),
        Body::Data(_) => Err("the body is a data section, not an amqp-value".into()),
        Body::Sequence(_) => Err("the body is an amqp-sequence".into()),
        Body::Empty => Err("the message has no body".into()),
    }
}

/// Requests whose signature may be in the making at once. The receiver task parses and checks
/// each request in arrival order ([`Core::begin`]) and hands its signature to a task of its own
/// (so signatures are made on every worker thread while the receiver goes on reading); a
/// finishing task builds and sends the replies in arrival order ([`Core::finish`]). In order,
/// not as signatures complete, so that the journal (`received_requests`), the redelivery memo
/// and the faults that depend on the previous request (`wrong_id`) see the same sequence as
/// when requests are handled one after the other; all signatures of a shape cost the same, so
/// little waits behind a slow one. Beyond this many the receiver waits (bounded memory).
pub const SIGNING_PIPELINE: usize = 64;

type Signed = (
    crate::core::Prepared,
    Option<Result<(&'static str, serde_json::Value), String>>,
);

/// A request on its way to [`Core::finish`].
enum Job {
    /// Signed on the receiver task (pipeline depth 0).
    Done(Box<Signed>),
    Signing(JoinHandle<Signed>),
}

async fn receiver_task(
    mut receiver: Receiver,
    out: mpsc::UnboundedSender<(String, String)>,
    shared: Arc<Shared>,
    depth: usize,
) {
    let address = shared
        .core
        .lock()
        .map(|c| c.config().topic_send_to.clone())
        .unwrap_or_default();
    let (jobs, pending) = mpsc::channel::<Job>(depth.max(1));
    let receive = {
        let shared = shared.clone();
        async move {
            loop {
                let d = match receiver.recv::<Body<Value>>().await {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!("signing server: request receiver stopped: {e}");
                        return;
                    }
                };
                let _ = receiver.accept(&d).await;
                let m = d.message();
                let mut props = BTreeMap::new();
                let mut non_string = Vec::new();
                if let Some(ap) = &m.application_properties {
                    for (k, v) in ap.0.iter() {
                        if !matches!(v, SimpleValue::String(_)) {
                            non_string.push(k.clone());
                        }
                        props.insert(k.clone(), prop_text(v));
                    }
                }
                let req = IncomingRequest {
                    address: address.clone(),
                    application_properties: props,
                    non_string_properties: non_string,
                    body: body_of(m),
                    ttl_ms: m.header.as_ref().and_then(|h| h.ttl),
                    absolute_expiry_ms: m
                        .properties
                        .as_ref()
                        .and_then(|p| p.absolute_expiry_time.as_ref())
                        .map(|t| t.milliseconds()),
                };
                let prepared = match shared.core.lock() {
                    Ok(mut c) => c.begin(shared.start.elapsed(), unix_now(), req),
                    Err(_) => return,
                };
                let job = if depth == 0 {
                    let signed = prepared.sign();
                    Job::Done(Box::new((prepared, signed)))
                } else {
                    Job::Signing(tokio::spawn(async move {
                        let signed = prepared.sign();
                        (prepared, signed)
                    }))
                };
                if jobs.send(job).await.is_err() {
                    return;
                }
            }
        }
    };
    // Ends when the receiver has stopped and every request it began is finished.
    tokio::join!(receive, finish_task(pending, out, shared));
}

/// Finish the requests in arrival order: build the replies, hand them to the sender (delayed
/// ones on timers), record the request.
async fn finish_task(
    mut pending: mpsc::Receiver<Job>,
    out: mpsc::UnboundedSender<(String, String)>,
    shared: Arc<Shared>,
) {
    while let Some(job) = pending.recv().await {
        let (prepared, signed) = match job {
            Job::Done(d) => *d,
            Job::Signing(h) => match h.await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("signing server: a signing task failed: {e}");
                    continue;
                }
            },
        };
        let rec = match shared.core.lock() {
            Ok(mut c) => c.finish(prepared, signed),
            Err(_) => return,
        };
        for r in &rec.replies {
            if r.after.is_zero() {
                let _ = out.send((r.address.clone(), r.body.clone()));
            } else {
                let out = out.clone();
                let (after, a, b) = (r.after, r.address.clone(), r.body.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = out.send((a, b));
                });
            }
        }
        if let Ok(mut v) = shared.received.lock() {
            v.push(rec);
        }
        shared.changed.notify_waiters();
    }
}

/// The reply side: one null-target sender, or one sender per reply address.
enum ReplyLinks {
    Null(Box<Sender>),
    Addressed {
        session: fe2o3_amqp::session::SessionHandle<()>,
        prefix: String,
        /// Most recently used last.
        links: Vec<(String, Sender)>,
        attached: u64,
    },
}

impl ReplyLinks {
    /// The sender for `to`, attaching one when needed.
    async fn sender_for(&mut self, to: &str) -> Result<&mut Sender, String> {
        match self {
            ReplyLinks::Null(s) => Ok(s),
            ReplyLinks::Addressed {
                session,
                prefix,
                links,
                attached,
            } => {
                if let Some(i) = links.iter().position(|(a, _)| a == to) {
                    let l = links.remove(i);
                    links.push(l);
                } else {
                    if links.len() >= MAX_REPLY_LINKS {
                        let (_, old) = links.remove(0);
                        // Courtesy detach; a broker slow to answer must not stall the replies.
                        let _ = tokio::time::timeout(LINK_BOUND, old.close()).await;
                    }
                    *attached += 1;
                    let attach = Sender::builder()
                        .name(format!("{prefix}-{attached}"))
                        .target(Target::builder().address(to.to_string()).build())
                        .attach(session);
                    let sender = tokio::time::timeout(LINK_BOUND, attach)
                        .await
                        .map_err(|_| {
                            format!(
                                "attach a reply sender on {to}: no answer within {LINK_BOUND:?}"
                            )
                        })?
                        .map_err(|e| format!("attach a reply sender on {to}: {e}"))?;
                    links.push((to.to_string(), sender));
                }
                match links.last_mut() {
                    Some((_, s)) => Ok(s),
                    None => Err("no reply sender".into()),
                }
            }
        }
    }

    /// Forget the sender of `to` after it failed (addressed mode); `false` when the one
    /// null-target link failed and nothing more can be sent.
    fn failed(&mut self, to: &str) -> bool {
        match self {
            ReplyLinks::Null(_) => false,
            ReplyLinks::Addressed { links, .. } => {
                links.retain(|(a, _)| a != to);
                true
            }
        }
    }
}

async fn sender_task(
    mut links: ReplyLinks,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>>,
    settle: mpsc::UnboundedSender<DeliveryFut<Result<Outcome, fe2o3_amqp::link::SendError>>>,
    shared: Arc<Shared>,
) {
    let count_failed = || {
        if let Ok(mut s) = shared.sent.lock() {
            s.failed += 1;
        }
    };
    let mut rx = rx.lock().await;
    while let Some((to, body)) = rx.recv().await {
        let msg = Message::builder()
            .header(Header {
                durable: false,
                ..Default::default()
            })
            .properties(Properties::builder().to(to.clone()).build())
            .value(body)
            .build();
        let sender = match links.sender_for(&to).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("signing server: reply lost: {e}");
                count_failed();
                continue;
            }
        };
        match sender.send_batchable(msg).await {
            Ok(fut) => {
                if let Ok(mut s) = shared.sent.lock() {
                    s.sent += 1;
                }
                let _ = settle.send(fut);
            }
            Err(e) => {
                count_failed();
                if !links.failed(&to) {
                    tracing::warn!("signing server: reply sender stopped: {e}");
                    return;
                }
                tracing::warn!("signing server: reply on {to} lost, its link failed: {e}");
            }
        }
    }
}

async fn settle_task(
    mut rx: mpsc::UnboundedReceiver<DeliveryFut<Result<Outcome, fe2o3_amqp::link::SendError>>>,
    shared: Arc<Shared>,
) {
    while let Some(fut) = rx.recv().await {
        let ok = matches!(fut.await, Ok(Outcome::Accepted(_)));
        if let Ok(mut s) = shared.sent.lock() {
            if ok {
                s.accepted += 1;
            } else {
                s.failed += 1;
            }
        }
    }
}
