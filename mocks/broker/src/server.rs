//! The broker: listener, connection/session/link tasks, and the fixture handle.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerConnectionHandle,
    ListenerSessionHandle, SessionAcceptor,
};
use fe2o3_amqp::link::delivery::DeliveryInfo;
use fe2o3_amqp::link::{DetachError, LinkStateError, RecvError};
use fe2o3_amqp::types::definitions::{self, AmqpError};
use fe2o3_amqp::types::messaging::{Body, Header, Outcome as AmqpOutcome};
use fe2o3_amqp::types::primitives::Value;
use fe2o3_amqp::{Receiver, Sendable, Sender};
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::error::BrokerError;
use crate::fault::{BrokerAction, FaultPlan, FaultState, FlowDirection, MessageView};
use crate::journal::{
    Event, Journal, JournalLimits, LinkDirection, Outcome, PeerIdentity, simple_text,
};
use crate::router::{Buffer, Msg, Queued, Router, Subscription};
use crate::sasl::TolerantSasl;
use crate::tls;
use crate::wire::{KillSwitch, MIN_MAX_FRAME_SIZE, Wire, WireLimits, wire_name};

/// Default bound from accept to the peer's AMQP open (TLS, protocol header, SASL, open).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default idle-time-out the broker advertises (a silent peer is closed after twice this).
pub const DEFAULT_IDLE_TIME_OUT: Duration = Duration::from_secs(30);
/// Default max-frame-size the broker offers in its open.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 64 * 1024;
/// Default cap on connections open at once (counted from accept).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default cap on one message's size (all its transfer frames), per link.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;
/// Bound on link tasks winding down after their session or connection ended.
const LINK_WIND_DOWN: Duration = Duration::from_secs(5);
/// How long a `reorder` fault holds a message when no later message overtakes it.
const REORDER_HOLD: Duration = Duration::from_secs(1);

/// Entry point: `Broker::start()` or `Broker::builder()...start()`.
#[derive(Debug)]
pub struct Broker;

impl Broker {
    /// Start a plain-TCP broker on 127.0.0.1 with a random port and no faults.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine, not bad input); use
    /// [`Broker::builder`] and [`BrokerBuilder::start`] for a `Result`.
    pub async fn start() -> BrokerHandle {
        match Self::builder().start().await {
            Ok(h) => h,
            Err(e) => panic!("mock broker failed to start on 127.0.0.1: {e}"),
        }
    }

    /// Configure a broker.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }
}

/// Broker configuration. Errors in PEM input surface from [`BrokerBuilder::start`].
#[derive(Debug)]
pub struct BrokerBuilder {
    listen: SocketAddr,
    chain: Option<Vec<CertificateDer<'static>>>,
    key: Option<PrivateKeyDer<'static>>,
    client_ca: Option<Vec<CertificateDer<'static>>>,
    plan: FaultPlan<BrokerAction>,
    record_bodies: bool,
    journal_limits: JournalLimits,
    limits: Limits,
    error: Option<BrokerError>,
}

/// The broker's bounds on its peers (see [`BrokerBuilder`] for each).
#[derive(Debug, Clone, Copy)]
struct Limits {
    handshake_timeout: Duration,
    idle_time_out: Option<Duration>,
    max_frame_size: u32,
    max_connections: usize,
    max_message_size: u64,
}

impl Default for BrokerBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            chain: None,
            key: None,
            client_ca: None,
            plan: FaultPlan::default(),
            record_bodies: false,
            journal_limits: JournalLimits::default(),
            limits: Limits {
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                idle_time_out: Some(DEFAULT_IDLE_TIME_OUT),
                max_frame_size: DEFAULT_MAX_FRAME_SIZE,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            },
            error: None,
        }
    }
}

impl BrokerBuilder {
    /// Listen address (default `127.0.0.1:0`). Only loopback addresses are accepted.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Terminate TLS with this certificate chain and private key (PEM text).
    pub fn tls(mut self, cert_chain_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Self {
        match tls::certs_from_pem(cert_chain_pem.as_ref(), "server certificate", "PEM text") {
            Ok(c) => self.chain = Some(c),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        match tls::key_from_pem(key_pem.as_ref(), "PEM text") {
            Ok(k) => self.key = Some(k),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// Like [`BrokerBuilder::tls`], reading PEM files.
    pub fn tls_files(mut self, cert: &Path, key: &Path) -> Self {
        match read_pem(cert, "server certificate").and_then(|pem| {
            tls::certs_from_pem(&pem, "server certificate", &cert.display().to_string())
        }) {
            Ok(c) => self.chain = Some(c),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        match read_pem(key, "server private key")
            .and_then(|pem| tls::key_from_pem(&pem, &key.display().to_string()))
        {
            Ok(k) => self.key = Some(k),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// Require a client certificate issued by one of these CAs (PEM text). Needs TLS.
    pub fn client_ca(mut self, ca_pem: impl AsRef<[u8]>) -> Self {
        match tls::certs_from_pem(ca_pem.as_ref(), "client CA", "PEM text") {
            Ok(c) => self.client_ca = Some(c),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// Like [`BrokerBuilder::client_ca`], reading a PEM file.
    pub fn client_ca_file(mut self, path: &Path) -> Self {
        match read_pem(path, "client CA")
            .and_then(|pem| tls::certs_from_pem(&pem, "client CA", &path.display().to_string()))
        {
            Ok(c) => self.client_ca = Some(c),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// Faults to inject from the start (change them later with [`BrokerHandle::set_fault_plan`]).
    pub fn fault_plan(mut self, plan: FaultPlan<BrokerAction>) -> Self {
        self.plan = plan;
        self
    }

    /// Keep message bodies in the journal (default false: a journal entry then has the
    /// message's properties and an empty body). Verdicts that read bodies ask for them.
    pub fn record_bodies(mut self, yes: bool) -> Self {
        self.record_bodies = yes;
        self
    }

    /// Bound the journal by entry count and bytes (default [`JournalLimits::default`]); the
    /// oldest entries are dropped first and counted ([`Journal::dropped`]).
    pub fn journal_limits(mut self, limits: JournalLimits) -> Self {
        self.journal_limits = limits;
        self
    }

    /// Bound from accept to the peer's AMQP open, covering TLS, the protocol header and SASL
    /// (default [`DEFAULT_HANDSHAKE_TIMEOUT`], 10 s). A peer that has not opened by then is
    /// disconnected and journaled as `refused`.
    pub fn handshake_timeout(mut self, t: Duration) -> Self {
        self.limits.handshake_timeout = t;
        self
    }

    /// The idle-time-out advertised in the broker's open (default [`DEFAULT_IDLE_TIME_OUT`],
    /// 30 s; `None`: none advertised, none enforced). A peer that sends no frame, not even an
    /// empty one, for twice this after its open is closed with `amqp:resource-limit-exceeded`
    /// (AMQP 1.0 part 2.4.5).
    pub fn idle_time_out(mut self, t: Option<Duration>) -> Self {
        self.limits.idle_time_out = t;
        self
    }

    /// The max-frame-size offered in the broker's open (default [`DEFAULT_MAX_FRAME_SIZE`],
    /// 64 KiB; at least 512). A peer frame declaring more (or more than 512 bytes before the
    /// peer's open) closes the connection with `amqp:connection:framing-error`, judged from the
    /// frame header before any of the body is read.
    pub fn max_frame_size(mut self, bytes: u32) -> Self {
        self.limits.max_frame_size = bytes;
        self
    }

    /// Cap on connections open at once, counted from TCP accept (default
    /// [`DEFAULT_MAX_CONNECTIONS`], 1024). A connection beyond it is closed at once, before TLS
    /// or AMQP, and journaled as `refused` ("connection limit ... reached").
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// Largest message accepted on a link, all its transfer frames together (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`], 16 MiB; advertised as the link's max-message-size). A
    /// larger one detaches the link with `amqp:link:message-size-exceeded`. 0 (no maximum in
    /// AMQP) is refused by [`start`](Self::start).
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.limits.max_message_size = bytes;
        self
    }

    /// Bind and start serving.
    pub async fn start(self) -> Result<BrokerHandle, BrokerError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.listen.ip().is_loopback() {
            return Err(BrokerError::NotLoopback(self.listen));
        }
        let tls = match (self.chain, self.key) {
            (Some(chain), Some(key)) => Some(tls::server_config(chain, key, self.client_ca)?),
            (None, None) if self.client_ca.is_some() => {
                return Err(BrokerError::ClientCaWithoutTls);
            }
            (None, None) => None,
            _ => {
                return Err(BrokerError::Tls(
                    "TLS needs both a certificate chain and a private key".into(),
                ));
            }
        };
        if self.limits.max_frame_size < MIN_MAX_FRAME_SIZE {
            return Err(BrokerError::Option {
                option: "max_frame_size",
                reason: format!(
                    "{} is below {MIN_MAX_FRAME_SIZE}, the smallest max-frame-size AMQP 1.0 allows (part 2.4.1)",
                    self.limits.max_frame_size
                ),
            });
        }
        if self.limits.max_message_size == 0 {
            return Err(BrokerError::Option {
                option: "max_message_size",
                reason: "0 means no maximum in AMQP 1.0 (part 2.7.3), and the broker buffers and checks every message it decodes; give a bound, e.g. 16777216".into(),
            });
        }
        if self.limits.max_connections == 0 {
            return Err(BrokerError::Option {
                option: "max_connections",
                reason: "0 would refuse every connection; give at least 1".into(),
            });
        }
        if self.limits.handshake_timeout.is_zero() {
            return Err(BrokerError::Option {
                option: "handshake_timeout",
                reason: "0 would refuse every connection; give e.g. 10s".into(),
            });
        }
        self.plan.check_broker("fault plan")?;
        let faults = FaultState::new(&self.plan)?;
        let listener =
            TcpListener::bind(self.listen)
                .await
                .map_err(|source| BrokerError::Bind {
                    addr: self.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| BrokerError::Bind {
            addr: self.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            router: Router::default(),
            journal: Journal::new(self.record_bodies, self.journal_limits),
            limits: self.limits,
            sockets: AtomicUsize::new(0),
            faults: Mutex::new(faults),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            held: Mutex::new(HashMap::new()),
            tls,
            internal: Arc::new(PeerIdentity::default()),
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        let scheme = if shared.tls.is_some() {
            "amqps"
        } else {
            "amqp"
        };
        Ok(BrokerHandle {
            url: format!("{scheme}://{addr}"),
            addr,
            shared,
            accept_task,
        })
    }
}

fn read_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, BrokerError> {
    std::fs::read(path).map_err(|e| BrokerError::Pem {
        what,
        origin: path.display().to_string(),
        reason: format!("cannot read the file: {e}"),
    })
}

/// A running broker. Dropping it stops the listener and cuts every connection.
#[derive(Debug)]
pub struct BrokerHandle {
    url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl BrokerHandle {
    /// `amqp://127.0.0.1:PORT` (or `amqps://` with TLS).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The traffic journal (shared; clone it freely).
    pub fn journal(&self) -> &Journal {
        &self.shared.journal
    }

    /// Replace the fault plan while running; counters start afresh.
    pub fn set_fault_plan(&self, plan: FaultPlan<BrokerAction>) -> Result<(), BrokerError> {
        plan.check_broker("fault plan")?;
        let state = FaultState::new(&plan)?;
        if let Ok(mut f) = self.shared.faults.lock() {
            *f = state;
        }
        Ok(())
    }

    /// Messages waiting in a queue (expired ones are dropped and journaled first).
    pub fn queue_depth(&self, address: &str) -> usize {
        let (n, expired) = self.shared.router.queue_depth(address, Instant::now());
        for q in expired {
            self.shared.journal_expired(&q);
        }
        n
    }

    /// Number of accepted sockets not yet closed, whatever their state (handshake included):
    /// what [`BrokerBuilder::max_connections`] counts.
    pub fn socket_count(&self) -> usize {
        self.shared.sockets.load(Ordering::SeqCst)
    }

    /// Number of open connections (past the protocol header).
    pub fn connection_count(&self) -> usize {
        self.shared.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Cut every open connection (no AMQP close), keep listening.
    pub fn disconnect_all(&self) {
        if let Ok(c) = self.shared.conns.lock() {
            for k in c.values() {
                k.kill();
            }
        }
    }

    /// Stop, and return once the listener is closed (its port is free again) and every
    /// connection has been cut.
    pub async fn stop(mut self) {
        self.accept_task.abort();
        let accept = std::mem::replace(&mut self.accept_task, tokio::spawn(async {}));
        let _ = accept.await;
        self.disconnect_all();
    }

    /// Stop listening and cut every connection.
    pub fn shutdown(self) {
        drop(self)
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.disconnect_all();
    }
}

#[derive(Debug)]
struct Shared {
    router: Router,
    journal: Journal,
    faults: Mutex<FaultState<BrokerAction>>,
    conns: Mutex<HashMap<u64, Arc<KillSwitch>>>,
    next_conn: AtomicU64,
    /// Messages held back by `reorder`, per address.
    held: Mutex<HashMap<String, Vec<Queued>>>,
    tls: Option<Arc<rustls::ServerConfig>>,
    internal: Arc<PeerIdentity>,
    limits: Limits,
    /// Accepted sockets not yet closed (for `max_connections`).
    sockets: AtomicUsize,
}

/// One accepted socket counted in `Shared::sockets`, uncounted on drop.
struct SocketSlot(Arc<Shared>);

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn journal_expired(&self, q: &Queued) {
        self.journal.record(
            &self.internal,
            Event::Expired {
                address: q.address.clone(),
                message: self.journal.summary(&q.msg),
            },
        );
    }

    /// Route a message, then release anything `reorder` held for the same address.
    fn deliver(&self, q: Queued) {
        let address = q.address.clone();
        self.router.route(q);
        let held = self
            .held
            .lock()
            .ok()
            .and_then(|mut h| h.remove(&address))
            .unwrap_or_default();
        for h in held {
            self.router.route(h);
        }
    }

    fn hold(self: &Arc<Self>, q: Queued) {
        let (address, seq) = (q.address.clone(), q.seq);
        if let Ok(mut h) = self.held.lock() {
            h.entry(address.clone()).or_default().push(q);
        }
        let shared = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REORDER_HOLD).await;
            let release = shared.held.lock().ok().and_then(|mut h| {
                let v = h.get_mut(&address)?;
                let i = v.iter().position(|x| x.seq == seq)?;
                Some(v.remove(i))
            });
            if let Some(q) = release {
                shared.router.route(q);
            }
        });
    }

    fn evaluate(
        &self,
        view: &dyn MessageView,
        kind: impl Fn(&BrokerAction) -> bool,
    ) -> Option<crate::fault::Fired<BrokerAction>> {
        self.faults.lock().ok()?.evaluate(view, kind)
    }
}

struct View<'a> {
    address: Option<&'a str>,
    msg: Option<&'a Msg>,
    direction: FlowDirection,
}

impl MessageView for View<'_> {
    fn address(&self) -> Option<&str> {
        self.address
    }
    fn app_property(&self, key: &str) -> Option<String> {
        let ap = self.msg?.application_properties.as_ref()?;
        ap.0.get(key).map(simple_text)
    }
    fn direction(&self) -> FlowDirection {
        self.direction
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("mock broker accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let open = shared.sockets.fetch_add(1, Ordering::SeqCst);
        let slot = SocketSlot(shared.clone());
        if open >= shared.limits.max_connections {
            let conn = shared.next_conn.fetch_add(1, Ordering::SeqCst) + 1;
            let ident = PeerIdentity {
                conn,
                addr: Some(peer),
                tls: shared.tls.is_some(),
                ..Default::default()
            };
            refused(
                &shared,
                ident,
                format!(
                    "connection limit ({}) reached: closed at once",
                    shared.limits.max_connections
                ),
            );
            drop(stream);
            drop(slot);
            continue;
        }
        tokio::spawn(handle_tcp(shared.clone(), stream, peer, slot));
    }
}

async fn handle_tcp(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, _slot: SocketSlot) {
    // One bound from accept to the peer's AMQP open: TLS, protocol header, SASL and open.
    let deadline = Instant::now() + shared.limits.handshake_timeout;
    let conn = shared.next_conn.fetch_add(1, Ordering::SeqCst) + 1;
    let mut ident = PeerIdentity {
        conn,
        addr: Some(peer),
        tls: shared.tls.is_some(),
        ..Default::default()
    };
    let view = View {
        address: None,
        msg: None,
        direction: FlowDirection::Inbound,
    };
    if let Some(f) = shared.evaluate(&view, BrokerAction::is_connection_level) {
        let p = Arc::new(ident);
        shared.journal.record(
            &p,
            Event::Fault {
                rule: f.rule,
                action: f.action.label(),
                address: None,
            },
        );
        shared.journal.record(
            &p,
            Event::Refused {
                reason: "refuse_connection fault".into(),
            },
        );
        return; // dropping the stream closes it
    }
    match shared.tls.clone() {
        Some(config) => {
            let acceptor = TlsAcceptor::from(config);
            let tls = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    refused(&shared, ident, format!("TLS handshake failed: {e}"));
                    return;
                }
                Err(_) => {
                    refused(
                        &shared,
                        ident,
                        handshake_timeout_reason(&shared, "TLS handshake"),
                    );
                    return;
                }
            };
            if let Some(cert) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                let (cn, uid) = tls::subject_cn_uid(cert);
                ident.cert_cn = cn;
                ident.cert_uid = uid;
            }
            serve_stream(shared, tls, ident, deadline).await
        }
        None => serve_stream(shared, stream, ident, deadline).await,
    }
}

fn handshake_timeout_reason(shared: &Shared, stage: &str) -> String {
    format!(
        "handshake timeout: no AMQP open within {:?} of accept (still in the {stage})",
        shared.limits.handshake_timeout
    )
}

fn refused(shared: &Shared, ident: PeerIdentity, reason: String) {
    shared
        .journal
        .record(&Arc::new(ident), Event::Refused { reason });
}

async fn serve_stream<S>(
    shared: Arc<Shared>,
    mut stream: S,
    mut ident: PeerIdentity,
    deadline: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug + 'static,
{
    // AMQP 1.0 part 2.2 / 5.3.2: the peer opens with "AMQP" + protocol id (0 = AMQP, 3 = SASL).
    let mut header = [0u8; 8];
    match tokio::time::timeout_at(deadline, stream.read_exact(&mut header)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return refused(&shared, ident, format!("no protocol header: {e}")),
        Err(_) => {
            let reason = handshake_timeout_reason(&shared, "protocol header");
            return refused(&shared, ident, reason);
        }
    }
    if &header[..4] != b"AMQP" || header[5..] != [1, 0, 0] {
        return refused(
            &shared,
            ident,
            format!("not an AMQP 1.0 protocol header: {header:02x?}"),
        );
    }
    let kill = Arc::new(KillSwitch::default());
    // Registered before the AMQP open so that shutdown and `disconnect_all` reach it at once.
    let _registration = Registration::new(&shared, ident.conn, kill.clone());
    let limits = WireLimits {
        max_frame_size: shared.limits.max_frame_size,
        idle_time_out: shared.limits.idle_time_out,
        max_message_size: shared.limits.max_message_size,
    };
    // Frames fe2o3 writes while the previous write is under way go out together (one system
    // call, one TLS record) instead of one each.
    let wire = Wire::new(
        crate::coalesce::CoalescedWrites::new(stream),
        &header,
        kill.clone(),
        limits,
    );
    let sasl = TolerantSasl::default();
    let max_frame = shared.limits.max_frame_size;
    let opened = match header[4] {
        0 => {
            tokio::time::timeout_at(
                deadline,
                ConnectionAcceptor::builder()
                    .container_id("sigharness-mock-broker")
                    .max_frame_size(max_frame)
                    .build()
                    .accept(wire),
            )
            .await
        }
        3 => {
            tokio::time::timeout_at(
                deadline,
                ConnectionAcceptor::builder()
                    .container_id("sigharness-mock-broker")
                    .max_frame_size(max_frame)
                    .sasl_acceptor(sasl.clone())
                    .build()
                    .accept(wire),
            )
            .await
        }
        id => {
            return refused(
                &shared,
                ident,
                format!(
                    "protocol id {id} not supported (0 = AMQP, 3 = SASL; TLS is terminated by the broker, use amqps)"
                ),
            );
        }
    };
    if let Some(rec) = sasl.record.lock().ok().and_then(|r| r.clone()) {
        ident.sasl_mechanism = Some(rec.mechanism);
        ident.sasl_identity = rec.identity;
    }
    let mut connection = match opened {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            let reason = match kill.reason() {
                Some(r) => format!("AMQP open failed: {r}"),
                None => format!("AMQP open failed: {e}"),
            };
            return refused(&shared, ident, reason);
        }
        Err(_) => {
            let reason = handshake_timeout_reason(
                &shared,
                if header[4] == 3 {
                    "SASL exchange or open"
                } else {
                    "open"
                },
            );
            return refused(&shared, ident, reason);
        }
    };
    let peer = Arc::new(ident);
    shared.journal.record(&peer, Event::Connect);
    run_connection(&shared, &peer, &mut connection).await;
    let reason = match kill.reason() {
        Some(r) => r,
        None if kill.is_killed() => "cut by the broker".to_string(),
        None => "closed".to_string(),
    };
    let _ = connection.close().await;
    drop(_registration);
    shared.journal.record(&peer, Event::Disconnect { reason });
}

/// A connection's entry in the broker's table of kill switches, removed on drop.
struct Registration {
    shared: Arc<Shared>,
    conn: u64,
}

impl Registration {
    fn new(shared: &Arc<Shared>, conn: u64, kill: Arc<KillSwitch>) -> Self {
        if let Ok(mut c) = shared.conns.lock() {
            c.insert(conn, kill);
        }
        Self {
            shared: shared.clone(),
            conn,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut c) = self.shared.conns.lock() {
            c.remove(&self.conn);
        }
    }
}

async fn run_connection(
    shared: &Arc<Shared>,
    peer: &Arc<PeerIdentity>,
    connection: &mut ListenerConnectionHandle,
) {
    let session_acceptor = SessionAcceptor::new();
    let mut sessions = JoinSet::new();
    while let Some(incoming) = connection.next_incoming_session().await {
        match session_acceptor
            .accept_incoming_session(incoming, connection)
            .await
        {
            Ok(session) => {
                sessions.spawn(run_session(shared.clone(), peer.clone(), session));
            }
            Err(e) => {
                tracing::debug!("session refused: {e}");
                break;
            }
        }
    }
    // Let the link tasks record their detaches before the connection's disconnect (bounded).
    let _ = tokio::time::timeout(LINK_WIND_DOWN, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
}

async fn run_session(
    shared: Arc<Shared>,
    peer: Arc<PeerIdentity>,
    mut session: ListenerSessionHandle,
) {
    let link_acceptor = LinkAcceptor::builder()
        .max_message_size(shared.limits.max_message_size)
        .build();
    let mut links = JoinSet::new();
    while let Some(attach) = session.next_incoming_attach().await {
        match link_acceptor
            .accept_incoming_attach(attach, &mut session)
            .await
        {
            Ok(LinkEndpoint::Receiver(r)) => {
                links.spawn(run_inbound(shared.clone(), peer.clone(), r));
            }
            Ok(LinkEndpoint::Sender(s)) => {
                links.spawn(run_outbound(shared.clone(), peer.clone(), s));
            }
            Err(e) => tracing::debug!("link refused: {e}"),
        }
    }
    let _ = session.end().await;
    let _ = tokio::time::timeout(LINK_WIND_DOWN, async {
        while links.join_next().await.is_some() {}
    })
    .await;
}

/// The peer sends on this link: route each message, settle per the fault plan.
async fn run_inbound(shared: Arc<Shared>, peer: Arc<PeerIdentity>, mut r: Receiver) {
    r.set_auto_accept(false);
    let link = wire_name(r.name()).to_string();
    let target = r.target().as_ref().and_then(|t| t.address.clone());
    let dir = LinkDirection::PeerSends;
    shared.journal.record(
        &peer,
        Event::Attach {
            link: link.clone(),
            direction: dir,
            address: target.clone(),
        },
    );
    let disposition = |address: &Option<String>, outcome: Outcome| Event::Disposition {
        link: link.clone(),
        direction: dir,
        address: address.clone(),
        outcome,
    };
    // Deliveries kept unsettled by `never_settle`: held so fe2o3 does not settle them.
    let mut never_settled: Vec<DeliveryInfo> = Vec::new();
    let (mut by_peer, mut closed) = (false, false);
    loop {
        let delivery = match r.recv::<Body<Value>>().await {
            Ok(d) => d,
            Err(RecvError::MessageDecode(e)) => {
                tracing::debug!("inbound link {link}: undecodable message skipped: {e}");
                continue;
            }
            Err(RecvError::LinkStateError(e)) => {
                (by_peer, closed) = match e {
                    LinkStateError::RemoteDetached | LinkStateError::RemoteDetachedWithError(_) => {
                        (true, false)
                    }
                    LinkStateError::RemoteClosed | LinkStateError::RemoteClosedWithError(_) => {
                        (true, true)
                    }
                    _ => (false, false),
                };
                break;
            }
            Err(e) => {
                tracing::debug!("inbound link {link} ends: {e}");
                break;
            }
        };
        let info = DeliveryInfo::from(&delivery);
        let msg: Msg = delivery.into_message();
        // Routing: the link target, or for a null target (anonymous relay, as the deployed
        // client does) the message's `to` (AMQP 1.0 part 3.2.4 properties.to).
        let address = target
            .clone()
            .or_else(|| msg.properties.as_ref().and_then(|p| p.to.clone()));
        shared.journal.record(
            &peer,
            Event::Transfer {
                link: link.clone(),
                direction: dir,
                address: address.clone(),
                message: shared.journal.summary(&msg),
            },
        );
        let Some(addr) = address.clone() else {
            let err = definitions::Error::new(
                AmqpError::PreconditionFailed,
                "null target and no `to` property: nowhere to route this message".to_string(),
                None,
            );
            let _ = r.reject(info, err.clone()).await;
            shared.journal.record(
                &peer,
                disposition(
                    &None,
                    Outcome::Rejected {
                        error: Some(err.description.unwrap_or_default()),
                    },
                ),
            );
            continue;
        };
        let fired = shared.evaluate(
            &View {
                address: Some(&addr),
                msg: Some(&msg),
                direction: FlowDirection::Inbound,
            },
            BrokerAction::is_message_level,
        );
        if let Some(f) = &fired {
            shared.journal.record(
                &peer,
                Event::Fault {
                    rule: f.rule.clone(),
                    action: f.action.label(),
                    address: Some(addr.clone()),
                },
            );
        }
        let q = shared.router.admit(addr.clone(), msg, Instant::now());
        let mut cut = false;
        match fired.map(|f| (f.action, f.count)) {
            None => shared.deliver(q),
            Some((BrokerAction::Drop, _)) => {}
            Some((BrokerAction::Delay(d), _)) => {
                let shared2 = shared.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    shared2.deliver(q);
                });
            }
            Some((BrokerAction::Duplicate, _)) => {
                shared.deliver(q.clone());
                shared.deliver(q);
            }
            Some((BrokerAction::Reorder, _)) => shared.hold(q),
            Some((BrokerAction::Reject, _)) => {
                let err = definitions::Error::new(
                    AmqpError::PreconditionFailed,
                    "rejected by the broker's fault plan".to_string(),
                    None,
                );
                let _ = r.reject(info, err).await;
                shared.journal.record(
                    &peer,
                    disposition(
                        &address,
                        Outcome::Rejected {
                            error: Some("rejected by the broker's fault plan".into()),
                        },
                    ),
                );
                continue;
            }
            Some((BrokerAction::NeverSettle, _)) => {
                never_settled.push(info);
                continue;
            }
            Some((BrokerAction::DisconnectAfter(n), count)) => {
                shared.deliver(q);
                cut = count >= n;
            }
            // Connection- and link-level actions are not evaluated for messages.
            Some((BrokerAction::RefuseConnection | BrokerAction::RefuseAttach, _)) => {
                shared.deliver(q)
            }
        }
        if r.accept(info).await.is_ok() {
            shared
                .journal
                .record(&peer, disposition(&address, Outcome::Accepted));
        }
        if cut {
            if let Ok(c) = shared.conns.lock()
                && let Some(k) = c.get(&peer.conn)
            {
                k.kill();
            }
            break;
        }
    }
    if !by_peer {
        let _ = r.close().await;
    }
    shared.journal.record(
        &peer,
        Event::Detach {
            link: link.clone(),
            direction: dir,
            address: target,
            requeued: 0,
            by_peer,
            closed,
            error: None,
        },
    );
}

/// `condition: description` of an AMQP error, for the journal.
fn error_text(e: &definitions::Error) -> String {
    let condition = match &e.condition {
        definitions::ErrorCondition::AmqpError(a) => {
            fe2o3_amqp::types::primitives::Symbol::from(a).0
        }
        other => format!("{other:?}"),
    };
    match &e.description {
        Some(d) => format!("{condition}: {d}"),
        None => condition,
    }
}

/// Wait for the next live message of a buffer, journaling expired ones.
async fn next_message(shared: &Shared, buffer: &Buffer) -> Queued {
    loop {
        let notified = buffer.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut expired = Vec::new();
        let got = buffer.pop(Instant::now(), &mut expired);
        for q in &expired {
            shared.journal_expired(q);
        }
        if let Some(q) = got {
            return q;
        }
        notified.await;
    }
}

/// (by the peer, with close) for the way a sender link's detach ended.
// `DetachedByRemote`/`ClosedByRemote` are deprecated but still what `Sender::on_detach` returns.
#[allow(deprecated)]
fn detach_kind(e: &DetachError) -> (bool, bool) {
    match e {
        DetachError::DetachedByRemote | DetachError::RemoteDetachedWithError(_) => (true, false),
        DetachError::ClosedByRemote | DetachError::RemoteClosedWithError(_) => (true, true),
        _ => (false, false),
    }
}

enum Step {
    Settled(u64, Result<AmqpOutcome, fe2o3_amqp::link::SendError>),
    Detached(DetachError),
    Next(Box<Queued>),
}

type Settling = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (u64, Result<AmqpOutcome, fe2o3_amqp::link::SendError>)>
            + Send,
    >,
>;

/// Apply the peer's settlement of delivery `id`: journal the outcome; on a queue, put released,
/// modified and lost deliveries back.
#[allow(clippy::too_many_arguments)]
fn settle(
    shared: &Shared,
    peer: &Arc<PeerIdentity>,
    link: &str,
    address: &str,
    sub: &Subscription,
    unsettled: &mut HashMap<u64, Queued>,
    id: u64,
    res: Result<AmqpOutcome, fe2o3_amqp::link::SendError>,
) {
    let is_queue = sub.topic.is_none();

    let Some(mut q) = unsettled.remove(&id) else {
        return;
    };
    let outcome = match res {
        Ok(AmqpOutcome::Accepted(_)) => Outcome::Accepted,
        Ok(AmqpOutcome::Rejected(r)) => Outcome::Rejected {
            error: r
                .error
                .map(|e| format!("{:?}: {}", e.condition, e.description.unwrap_or_default())),
        },
        Ok(AmqpOutcome::Released(_)) => {
            if is_queue {
                sub.buffer.requeue(vec![q]);
            }
            Outcome::Released
        }
        Ok(AmqpOutcome::Modified(m)) => {
            let failed = m.delivery_failed == Some(true);
            if failed {
                let h = q.msg.header.get_or_insert_with(Header::default);
                h.delivery_count = h.delivery_count.saturating_add(1);
            }
            if is_queue {
                sub.buffer.requeue(vec![q]);
            }
            Outcome::Modified {
                delivery_failed: failed,
                undeliverable_here: m.undeliverable_here == Some(true),
            }
        }
        // `Declared` exists only with fe2o3's `transaction` feature.
        #[allow(unreachable_patterns)]
        Ok(other) => Outcome::Rejected {
            error: Some(format!("unexpected outcome {other:?}")),
        },
        Err(_) => {
            if is_queue {
                sub.buffer.requeue(vec![q]);
            }
            Outcome::Lost
        }
    };
    shared.journal.record(
        peer,
        Event::Disposition {
            link: link.to_string(),
            direction: LinkDirection::PeerReceives,
            address: Some(address.to_string()),
            outcome,
        },
    );
}

/// The peer receives on this link: hand it messages from its queue or topic subscription.
async fn run_outbound(shared: Arc<Shared>, peer: Arc<PeerIdentity>, mut s: Sender) {
    let link = wire_name(s.name()).to_string();
    let source = s.source().as_ref().and_then(|t| t.address.clone());
    let dir = LinkDirection::PeerReceives;
    shared.journal.record(
        &peer,
        Event::Attach {
            link: link.clone(),
            direction: dir,
            address: source.clone(),
        },
    );
    let Some(address) = source.clone() else {
        let err = definitions::Error::new(
            AmqpError::InvalidField,
            "a receiving link needs a source address (topic://X or queue://X)".to_string(),
            None,
        );
        let text = error_text(&err);
        let _ = s.close_with_error(err).await;
        shared.journal.record(
            &peer,
            Event::Detach {
                link,
                direction: dir,
                address: None,
                requeued: 0,
                by_peer: false,
                closed: true,
                error: Some(text),
            },
        );
        return;
    };
    let view = View {
        address: Some(&address),
        msg: None,
        direction: FlowDirection::Inbound,
    };
    if let Some(f) = shared.evaluate(&view, BrokerAction::is_link_level) {
        shared.journal.record(
            &peer,
            Event::Fault {
                rule: f.rule,
                action: f.action.label(),
                address: Some(address.clone()),
            },
        );
        // AMQP 1.0 part 2.6.3: a link the broker will not serve is attached and then detached
        // at once, the detach carrying the error; 2.8.15: amqp:unauthorized-access is the
        // condition for a peer not permitted to use the node (a denied consumer).
        let err = definitions::Error::new(
            AmqpError::UnauthorizedAccess,
            crate::fault::REFUSE_ATTACH_DESCRIPTION.to_string(),
            None,
        );
        let text = error_text(&err);
        let _ = s.close_with_error(err).await;
        shared.journal.record(
            &peer,
            Event::Detach {
                link,
                direction: dir,
                address: Some(address),
                requeued: 0,
                by_peer: false,
                closed: true,
                error: Some(text),
            },
        );
        return;
    }
    let sub: Subscription = shared.router.subscribe(&address);
    let is_queue = sub.topic.is_none();
    let mut unsettled: HashMap<u64, Queued> = HashMap::new();
    // Settlement futures are polled here, in this task, not spawned: the session applies a
    // peer's disposition before it hands the link a later detach, so a settlement that arrived
    // before the detach is always seen as settled (with spawned tasks, a settlement resolved but
    // not yet joined when the detach arrived was requeued and redelivered: issue 13).
    let mut settling: FuturesUnordered<Settling> = FuturesUnordered::new();
    let mut next_id = 0u64;
    let mut remote_detached = false;
    let (mut by_peer, mut closed) = (false, false);
    loop {
        let step = tokio::select! {
            biased;
            Some((id, res)) = settling.next(), if !settling.is_empty() => Step::Settled(id, res),
            e = s.on_detach() => Step::Detached(e),
            q = next_message(&shared, &sub.buffer) => Step::Next(Box::new(q)),
        };
        match step {
            Step::Detached(e) => {
                (by_peer, closed) = detach_kind(&e);
                remote_detached = true;
                break;
            }
            Step::Next(q) => {
                let q = *q;
                let fired = shared.evaluate(
                    &View {
                        address: Some(&address),
                        msg: Some(&q.msg),
                        direction: FlowDirection::Outbound,
                    },
                    BrokerAction::is_message_level,
                );
                let mut copies = 1;
                let mut cut = false;
                if let Some(f) = &fired {
                    shared.journal.record(
                        &peer,
                        Event::Fault {
                            rule: f.rule.clone(),
                            action: f.action.label(),
                            address: Some(address.clone()),
                        },
                    );
                    match f.action {
                        BrokerAction::Drop => continue,
                        BrokerAction::Delay(d) => tokio::time::sleep(d).await,
                        BrokerAction::Duplicate => copies = 2,
                        BrokerAction::DisconnectAfter(n) => cut = f.count >= n,
                        // Rejected by `FaultState::new` for outbound rules.
                        _ => {}
                    }
                }
                let mut failed = false;
                for _ in 0..copies {
                    let sendable = Sendable::builder().message(q.msg.clone()).build();
                    // Returns once the peer's credit allowed the transfer (AMQP 1.0 part 2.6.7).
                    match s.send_batchable(sendable).await {
                        Ok(fut) => {
                            shared.journal.record(
                                &peer,
                                Event::Transfer {
                                    link: link.clone(),
                                    direction: dir,
                                    address: Some(address.clone()),
                                    message: shared.journal.summary(&q.msg),
                                },
                            );
                            next_id += 1;
                            unsettled.insert(next_id, q.clone());
                            let id = next_id;
                            settling.push(Box::pin(async move { (id, fut.await) }));
                        }
                        Err(e) => {
                            tracing::debug!("outbound link {link} cannot send: {e}");
                            unsettled.insert(u64::MAX, q.clone());
                            failed = true;
                            break;
                        }
                    }
                }
                if failed {
                    break;
                }
                if cut {
                    if let Ok(c) = shared.conns.lock()
                        && let Some(k) = c.get(&peer.conn)
                    {
                        k.kill();
                    }
                    break;
                }
            }
            Step::Settled(id, res) => settle(
                &shared,
                &peer,
                &link,
                &address,
                &sub,
                &mut unsettled,
                id,
                res,
            ),
        }
    }
    // Dispositions that are already in (they came with or before the detach) count before
    // anything is requeued; deliveries the peer never settled stay in `unsettled` and are
    // requeued below, as the detach records.
    while let Some(Some((id, res))) = settling.next().now_or_never() {
        if res.is_ok() {
            settle(
                &shared,
                &peer,
                &link,
                &address,
                &sub,
                &mut unsettled,
                id,
                res,
            );
        }
    }
    drop(settling);
    shared.router.unsubscribe(&sub);
    let back: Vec<Queued> = unsettled.into_values().collect();
    let requeued = if is_queue { back.len() } else { 0 };
    if is_queue {
        sub.buffer.requeue(back);
    }
    if !remote_detached {
        let _ = s.close().await;
    }
    shared.journal.record(
        &peer,
        Event::Detach {
            link,
            direction: dir,
            address: Some(address),
            requeued,
            by_peer,
            closed,
            error: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{OUTGOING_SUFFIX, Side};
    use fe2o3_amqp::types::definitions::Role;
    use fe2o3_amqp::types::messaging::Message;
    use fe2o3_amqp::{Connection, Session};

    /// proton names its sender and receiver on one address `<container>-<address>`, on one
    /// session. fe2o3's client refuses duplicate names, so the client here runs the mirror image
    /// of the broker's rename: on the wire both attaches carry the same name.
    #[tokio::test]
    async fn same_name_sender_and_receiver_on_one_session() {
        let step = Duration::from_secs(10);
        let broker = Broker::start().await;
        let tcp = TcpStream::connect(broker.addr()).await.unwrap();
        let wire = Wire::with_rules(
            tcp,
            &[],
            Arc::new(KillSwitch::default()),
            Side::Add(Role::Sender),
            Side::Strip(Role::Receiver),
        );
        let mut conn = tokio::time::timeout(
            step,
            Connection::builder()
                .container_id("proton-like")
                .open_with_stream(wire),
        )
        .await
        .unwrap()
        .unwrap();
        let mut ses = Session::begin(&mut conn).await.unwrap();
        let name = "proton-like-queue://same";
        let mut s = tokio::time::timeout(step, Sender::attach(&mut ses, name, "queue://same"))
            .await
            .unwrap()
            .unwrap();
        let mut r = tokio::time::timeout(
            step,
            Receiver::attach(&mut ses, format!("{name}{OUTGOING_SUFFIX}"), "queue://same"),
        )
        .await
        .unwrap()
        .unwrap();
        s.send(Message::builder().value("ping".to_string()).build())
            .await
            .unwrap();
        let d = tokio::time::timeout(step, r.recv::<String>())
            .await
            .unwrap()
            .unwrap();
        r.accept(&d).await.unwrap();
        assert_eq!(d.body(), "ping");
        let attaches = broker
            .journal()
            .filter(|e| matches!(e.event, Event::Attach { .. }));
        assert_eq!(attaches.len(), 2);
        assert!(
            attaches.iter().all(|e| e.link() == Some(name)),
            "{attaches:?}"
        );
    }
}
