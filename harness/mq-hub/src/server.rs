//! The axum server: routes, status codes, long-poll waiting.
//!
//! Check order for every operation (apihub compatible): domain enabled (405) → path segments
//! well formed (400) → token (403) → `signatureOfDid` (403) → operation.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

use crate::Profile;
use crate::config::{HubConfig, StorageConfig};
use crate::did::{DidRegistry, is_hash_did};
use crate::error::{MqHubError, Result};
use crate::store::{DurableStore, MemoryStore, Store, StoredMessage, is_message_id, queue_key};
use crate::token::{Access, Claims, TokenAuthority, check_holder_proof, check_signature_of_did};

/// Header carrying the token in the `opendsu` profile.
pub const X_MQ_AUTHORIZATION: &str = "x-mq-authorization";
/// Holder proof headers on a token request (see [`crate::token`]).
pub const X_MQ_DID: &str = "x-mq-did";
pub const X_MQ_DID_TIMESTAMP: &str = "x-mq-did-timestamp";
pub const X_MQ_DID_PROOF: &str = "x-mq-did-proof";
/// Optional: ask for a token lifetime shorter than the server's (seconds).
pub const X_MQ_TOKEN_LIFETIME: &str = "x-mq-token-lifetime";
/// Sent on the token response: how long get/take wait before 204 (ms), as apihub does.
pub const CONNECTION_TIMEOUT: &str = "connection-timeout";

/// A path segment we accept as a domain.
pub fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl IntoResponse for MqHubError {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}

#[derive(Default)]
struct QueueWaiters {
    takers: Notify,
    getters: Notify,
}

/// Parked requests per queue. An entry exists only while someone waits on that queue.
#[derive(Default)]
struct Waiters {
    map: Mutex<HashMap<String, Arc<QueueWaiters>>>,
}

/// How many get/take requests are parked, with a notification on every change so tests can wait
/// for a count as an event instead of polling.
#[derive(Default)]
struct Parked {
    n: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Parked {
    /// Add one; returns the count before.
    fn inc(&self) -> usize {
        let before = self.n.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        before
    }
    fn dec(&self) {
        self.n.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
    fn get(&self) -> usize {
        self.n.load(Ordering::SeqCst)
    }
}

struct WaitGuard<'a> {
    waiters: &'a Waiters,
    queue: String,
    entry: Arc<QueueWaiters>,
    parked: &'a Parked,
    /// Whether this wait was added to the parked count.
    counted: bool,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.waiters.map.lock() {
            // map + this guard: nobody else waits; remove so an abandoned wait leaves no trace.
            if Arc::strong_count(&self.entry) == 2 {
                m.remove(&self.queue);
            }
        }
        // Last: whoever waits for the parked count to change then sees no trace left.
        if self.counted {
            self.parked.dec();
        }
    }
}

impl Waiters {
    fn notify(&self, queue: &str) {
        let w = self.map.lock().ok().and_then(|m| {
            if m.is_empty() {
                None
            } else {
                m.get(queue).cloned()
            }
        });
        if let Some(w) = w {
            // One message wakes one parked take and one parked get (apihub defect 6 wakes all).
            w.takers.notify_one();
            w.getters.notify_one();
        }
    }
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// The server state.
pub struct Hub {
    /// `signatureOfDid` → the token it verified for (bounded). The signature is over the token
    /// by the key of the token's subject, so the pair decides the check. Keyed by the signature
    /// (about 140 characters) rather than the token (several hundred): one hash per request.
    sig_ok: Mutex<HashMap<Box<str>, Box<str>>>,
    /// hashDIDs known to be well formed (bounded; see `well_formed_hash`).
    good_hashes: Mutex<std::collections::HashSet<Box<str>>>,
    cfg: HubConfig,
    store: Arc<dyn Store>,
    tokens: TokenAuthority,
    registry: DidRegistry,
    waiters: Waiters,
    parked: Parked,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct TokenReply<'a> {
    token: &'a str,
    expires: u64,
}

#[derive(Serialize)]
struct Rfc130Reply<'a> {
    message: &'a str,
    sender: Option<&'a str>,
    /// Not in the document's example, but delete and take need it and the document gives no
    /// other way to learn it.
    #[serde(rename = "messageId")]
    message_id: &'a str,
}

#[derive(Serialize)]
struct OpendsuReply<'a> {
    message: &'a str,
    #[serde(rename = "messageId")]
    message_id: &'a str,
}

impl Hub {
    /// Build the state from a configuration: opens the store, loads the DID registry, makes a
    /// fresh token key.
    pub fn new(cfg: HubConfig) -> Result<Self> {
        cfg.validate()?;
        let store: Arc<dyn Store> = match &cfg.storage {
            StorageConfig::Memory => Arc::new(MemoryStore::new()),
            StorageConfig::Durable { path } => Arc::new(DurableStore::open(path)?),
        };
        let registry = match &cfg.did_registry {
            Some(p) => DidRegistry::load(p)?,
            None => DidRegistry::default(),
        };
        let tokens = TokenAuthority::generate(cfg.profile, "sigharness-mq-hub")?;
        Ok(Hub {
            sig_ok: Default::default(),
            good_hashes: Default::default(),
            cfg,
            store,
            tokens,
            registry,
            waiters: Waiters::default(),
            parked: Parked::default(),
        })
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// Requests parked right now (for tests: an abandoned request must not stay here).
    pub fn parked(&self) -> usize {
        self.parked.get()
    }

    /// Wait until exactly `n` requests are parked, at most `bound`; `false` if the bound passed.
    /// Woken by every change of the count (no polling).
    pub async fn wait_parked(&self, n: usize, bound: std::time::Duration) -> bool {
        tokio::time::timeout(bound, async {
            loop {
                let notified = self.parked.changed.notified();
                tokio::pin!(notified);
                // Register before checking, so a change between the check and the await is seen.
                notified.as_mut().enable();
                if self.parked.get() == n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }

    /// Queues with a parked request right now.
    pub fn waiting_queues(&self) -> usize {
        self.waiters.len()
    }

    /// What the durable store has written since open (`None` for the memory store).
    pub fn commit_stats(&self) -> Option<crate::store::CommitStats> {
        self.store.commit_stats()
    }

    /// Messages in a queue.
    pub fn queue_len(&self, domain: &str, hash_did: &str) -> usize {
        self.store.len(&queue_key(domain, hash_did))
    }

    fn domain(&self, d: &str) -> Result<()> {
        // Notes: a domain without MQ answers 405, checked before the token.
        if self.cfg.domains.iter().any(|x| x == d) {
            Ok(())
        } else {
            Err(MqHubError::MqDisabled(d.to_string()))
        }
    }

    fn token<'h>(&self, h: &'h HeaderMap) -> Result<&'h str> {
        let names: &[&str] = match self.cfg.profile {
            // RFC-130 §2.2: the token is in `authorization`.
            Profile::Rfc130 => &["authorization"],
            // apihub: `x-mq-authorization` since 2024, `authorization` before.
            Profile::Opendsu => &[X_MQ_AUTHORIZATION, "authorization"],
        };
        for n in names {
            if let Some(v) = h.get(*n) {
                let v = v
                    .to_str()
                    .map_err(|_| MqHubError::forbidden(format!("{n} header is not ASCII")))?;
                let v = v.strip_prefix("Bearer ").unwrap_or(v).trim();
                return Ok(v);
            }
        }
        Err(MqHubError::forbidden(format!(
            "No token was provided (expected the {} header)",
            names[0]
        )))
    }

    fn authorize<'h>(
        &self,
        h: &'h HeaderMap,
        domain: &str,
        hash: &str,
        need: Access,
    ) -> Result<(&'h str, Arc<Claims>)> {
        self.domain(domain)?;
        if !self.well_formed_hash(hash) {
            return Err(MqHubError::bad(format!(
                "hashDID {hash:?} is not base58 of a SHA-256 digest"
            )));
        }
        let token = self.token(h)?;
        let c = self
            .tokens
            .authorize(now_secs(), token, domain, hash, need)?;
        Ok((token, c))
    }

    /// [`is_hash_did`], remembered for the hashDIDs seen to be well formed (a pure function of
    /// the text; base58-decoding 44 characters costs about as much as the rest of the checks).
    fn well_formed_hash(&self, hash: &str) -> bool {
        if self.good_hashes.lock().is_ok_and(|s| s.contains(hash)) {
            return true;
        }
        if !is_hash_did(hash) {
            return false;
        }
        if let Ok(mut s) = self.good_hashes.lock() {
            if s.len() >= 16_384 {
                s.clear();
            }
            s.insert(hash.into());
        }
        true
    }

    fn authorize_owner(&self, h: &HeaderMap, domain: &str, hash: &str, sig: &str) -> Result<()> {
        let (token, c) = self.authorize(h, domain, hash, Access::Owner)?;
        // apihub defect 1: signatureOfDid must be checked, with the queue owner's key.
        if self
            .sig_ok
            .lock()
            .is_ok_and(|s| s.get(sig).is_some_and(|t| **t == *token))
        {
            return Ok(());
        }
        check_signature_of_did(&self.registry, &c.sub, token, sig)?;
        if let Ok(mut s) = self.sig_ok.lock() {
            if s.len() >= 16_384 {
                s.clear();
            }
            s.insert(sig.into(), token.into());
        }
        Ok(())
    }

    async fn try_once(&self, queue: &str, take: bool) -> Result<Option<StoredMessage>> {
        if !take {
            // `peek` never blocks (both stores serve it from memory): no blocking-thread hop.
            return self.store.peek(queue);
        }
        // Staged on the runtime (no blocking-thread hop), answered once durable.
        let (m, durable) = self.store.take_staged(queue)?;
        durable.durable().await?;
        Ok(m)
    }

    /// Long poll: the head message (removed when `take`), or `None` after the connection timeout.
    /// If the caller's future is dropped (the client went away) nothing is consumed.
    async fn wait_for(&self, queue: &str, take: bool) -> Result<Option<StoredMessage>> {
        if let Some(m) = self.try_once(queue, take).await? {
            return Ok(Some(m));
        }
        let entry = {
            let mut m = self
                .waiters
                .map
                .lock()
                .map_err(|_| MqHubError::Store("waiter lock poisoned".into()))?;
            m.entry(queue.to_string()).or_default().clone()
        };
        let mut guard = WaitGuard {
            waiters: &self.waiters,
            queue: queue.to_string(),
            entry,
            parked: &self.parked,
            counted: false,
        };
        let entry = guard.entry.clone();
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.cfg.connection_timeout_ms);
        loop {
            let n = if take {
                entry.takers.notified()
            } else {
                entry.getters.notified()
            };
            tokio::pin!(n);
            n.as_mut().enable();
            if let Some(m) = self.try_once(queue, take).await? {
                return Ok(Some(m));
            }
            // Counted as parked only from here on: registered for a wake-up and past its last
            // look at the queue, so that one message wakes exactly one parked request.
            if !guard.counted {
                guard.counted = true;
                if self.parked.inc() >= self.cfg.max_parked {
                    return Err(MqHubError::Store(format!(
                        "too many waiting requests (max_parked = {})",
                        self.cfg.max_parked
                    )));
                }
            }
            tokio::select! {
                _ = &mut n => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
            }
        }
    }

    fn reply(&self, m: &StoredMessage) -> Response {
        match self.cfg.profile {
            Profile::Rfc130 => axum::Json(Rfc130Reply {
                message: &m.body,
                sender: m.sender.as_deref(),
                message_id: &m.id,
            })
            .into_response(),
            Profile::Opendsu => axum::Json(OpendsuReply {
                message: &m.body,
                message_id: &m.id,
            })
            .into_response(),
        }
    }
}

fn hv<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

type S = State<Arc<Hub>>;

// RFC-130 §1: GET /mq/{domain}/{hashDID}/token
async fn token(
    State(hub): S,
    Path((domain, hash)): Path<(String, String)>,
    req: Request,
) -> Response {
    match token_inner(&hub, &domain, &hash, req.headers()) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn token_inner(hub: &Hub, domain: &str, hash: &str, h: &HeaderMap) -> Result<Response> {
    hub.domain(domain)?;
    if !is_hash_did(hash) {
        return Err(MqHubError::bad(format!(
            "hashDID {hash:?} is not base58 of a SHA-256 digest"
        )));
    }
    let now = now_secs();
    // apihub defect 2: tokens only to a DID holder who proves it.
    let holder = check_holder_proof(
        now,
        hub.cfg.proof_window_secs,
        &hub.registry,
        hv(h, X_MQ_DID),
        hv(h, X_MQ_DID_TIMESTAMP),
        hv(h, X_MQ_DID_PROOF),
        domain,
        hash,
    )?;
    if !hub.cfg.open_put && crate::did::hash_did(&holder) != hash {
        return Err(MqHubError::forbidden(
            "this server issues tokens only for the holder's own queue (open_put = false)",
        ));
    }
    let mut life = hub.cfg.token_lifetime_secs;
    if let Some(v) = hv(h, X_MQ_TOKEN_LIFETIME) {
        let asked: u64 = v
            .parse()
            .map_err(|_| MqHubError::bad("x-mq-token-lifetime is not a number of seconds"))?;
        life = life.min(asked.max(1));
    }
    let t = hub.tokens.issue(now, life, &holder, domain, hash)?;
    let mut r = axum::Json(TokenReply {
        token: &t.token,
        expires: t.expires_ms,
    })
    .into_response();
    r.headers_mut().insert(
        CONNECTION_TIMEOUT,
        HeaderValue::from(hub.cfg.connection_timeout_ms),
    );
    Ok(r)
}

// RFC-130 §2: PUT /mq/{domain}/put/{hashDID}
async fn put_msg(
    State(hub): S,
    Path((domain, hash)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    match put_inner(&hub, &domain, &hash, &parts.headers, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn put_inner(hub: &Hub, domain: &str, hash: &str, h: &HeaderMap, body: Body) -> Result<()> {
    // apihub defect 4: the token must be for this queue.
    let (_, claims) = hub.authorize(h, domain, hash, Access::Put)?;
    let max = hub.cfg.max_message_size;
    // Refuse before reading when the declared length is over the limit (no unbounded memory).
    if let Some(len) = hv(h, "content-length").and_then(|v| v.parse::<u64>().ok())
        && len > max as u64
    {
        return Err(MqHubError::TooLarge { max });
    }
    // A slow client gets 408 after `body_read_timeout_ms` and holds at most `max` bytes.
    let limit = Duration::from_millis(hub.cfg.body_read_timeout_ms);
    let bytes = tokio::time::timeout(limit, axum::body::to_bytes(body, max))
        .await
        .map_err(|_| MqHubError::RequestTimeout(limit))?
        .map_err(|_| MqHubError::TooLarge { max })?;
    let text = String::from_utf8(Vec::from(bytes))
        .map_err(|e| MqHubError::bad(format!("message body is not UTF-8: {e}")))?;
    let q = queue_key(domain, hash);
    let max_len = hub.cfg.max_queue_length;
    // Answered only once durable (the durable store's group commit; at once in memory).
    let (_, durable) = hub.store.put_staged(&q, Some(&claims.sub), text, max_len)?;
    durable.durable().await?;
    hub.waiters.notify(&q);
    Ok(())
}

// RFC-130 §3: GET /mq/{domain}/get/{hashDID}/{signatureOfDid}
async fn get_msg(
    State(hub): S,
    Path((domain, hash, sig)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    wait_reply(&hub, &domain, &hash, &sig, req.headers(), false).await
}

async fn wait_reply(
    hub: &Hub,
    domain: &str,
    hash: &str,
    sig: &str,
    h: &HeaderMap,
    take: bool,
) -> Response {
    let r = async {
        hub.authorize_owner(h, domain, hash, sig)?;
        hub.wait_for(&queue_key(domain, hash), take).await
    }
    .await;
    match r {
        Ok(Some(m)) => hub.reply(&m),
        // RFC-130 §3.3: 204 No content yet.
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

// opendsu: GET /mq/{domain}/take/{hashDID}/{signatureOfDid}
async fn take_opendsu(
    State(hub): S,
    Path((domain, hash, sig)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    wait_reply(&hub, &domain, &hash, &sig, req.headers(), true).await
}

/// In the rfc130 profile, `next` as the message id takes the oldest message (long poll).
pub const TAKE_NEXT: &str = "next";

// RFC-130 §5: GET /mq/{domain}/take/{hashDID}/{messageID}/{signatureOfDid}
async fn take_rfc130(
    State(hub): S,
    Path((domain, hash, id, sig)): Path<(String, String, String, String)>,
    req: Request,
) -> Response {
    let h = req.headers();
    if id == TAKE_NEXT {
        return wait_reply(&hub, &domain, &hash, &sig, h, true).await;
    }
    let r = async {
        hub.authorize_owner(h, &domain, &hash, &sig)?;
        if !is_message_id(&id) {
            return Err(MqHubError::bad(format!("message id {id:?} is malformed")));
        }
        let q = queue_key(&domain, &hash);
        let (m, durable) = hub.store.take_id_staged(&q, &id)?;
        durable.durable().await?;
        m.ok_or(MqHubError::NoSuchMessage(id))
    }
    .await;
    match r {
        Ok(m) => hub.reply(&m),
        Err(e) => e.into_response(),
    }
}

// RFC-130 §4: DELETE /mq/{domain}/delete/{hashDID}/{messageID}/{signatureOfDid}
async fn delete_msg(
    State(hub): S,
    Path((domain, hash, id, sig)): Path<(String, String, String, String)>,
    req: Request,
) -> Response {
    let h = req.headers();
    let r = async {
        hub.authorize_owner(h, &domain, &hash, &sig)?;
        if !is_message_id(&id) {
            return Err(MqHubError::bad(format!("message id {id:?} is malformed")));
        }
        let q = queue_key(&domain, &hash);
        let (m, durable) = hub.store.take_id_staged(&q, &id)?;
        durable.durable().await?;
        if m.is_some() {
            Ok(())
        } else {
            Err(MqHubError::NoSuchMessage(id))
        }
    }
    .await;
    match r {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The router for a hub.
pub fn router(hub: Arc<Hub>) -> Router {
    let r = Router::new()
        .route("/mq/{domain}/{hash}/token", get(token))
        .route("/mq/{domain}/put/{hash}", put(put_msg))
        .route("/mq/{domain}/get/{hash}/{sig}", get(get_msg))
        .route("/mq/{domain}/delete/{hash}/{id}/{sig}", delete(delete_msg));
    let r = match hub.cfg.profile {
        Profile::Rfc130 => r.route("/mq/{domain}/take/{hash}/{id}/{sig}", get(take_rfc130)),
        Profile::Opendsu => r.route("/mq/{domain}/take/{hash}/{sig}", get(take_opendsu)),
    };
    // The OpenAPI 3.1 description of this profile (docs/mq-hub-contract.md in machine form).
    let doc = crate::openapi::document(hub.cfg.profile, &hub.cfg.domains);
    let r = r.route(
        crate::openapi::PATH,
        get(move || {
            let d = doc.clone();
            async move { axum::Json(d) }
        }),
    );
    r.with_state(hub)
}

/// Accept connections until `stop` fires (or this task is aborted); each connection is served by
/// hyper's HTTP/1.1 server with a header-read timeout ([`head_watchdog`]). Connection tasks live in a `JoinSet`, so
/// stopping the hub aborts every connection, parked long polls included.
///
/// Not `axum::serve`: it offers no header-read timeout, so a client sending its headers slowly
/// would hold a connection forever.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    write_timeout: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // EMFILE and the like: let connections finish, then accept again.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        conns.spawn(async move {
            let clock = Arc::new(HeadClock::new());
            let inner = hyper_util::service::TowerToHyperService::new(app);
            let c = clock.clone();
            let svc = hyper::service::service_fn(move |req| {
                // A request head has arrived: no head is awaited until it is answered.
                c.request_began();
                let answer = hyper::service::Service::call(&inner, req);
                let c = c.clone();
                async move {
                    let r = answer.await;
                    c.request_answered();
                    r
                }
            });
            let mut b = hyper::server::conn::http1::Builder::new();
            // The head read timeout is ours (`head_watchdog`), not hyper's: hyper's arms a timer
            // for every request head, ours one per connection and `header_read_timeout_ms`.
            b.header_read_timeout(None)
                // Request heads larger than this are refused (431) before being buffered.
                .max_buf_size(MAX_HEAD_BUFFER);
            // hyper has no write timeout: a client that never reads its responses would hold
            // the connection (and its buffers) forever once the socket buffers are full.
            let io = WriteStallTimeout::new(stream, write_timeout);
            let serve = b.serve_connection(hyper_util::rt::TokioIo::new(io), svc);
            tokio::select! {
                _ = serve => {}
                // A client must send a whole request head within this time of connecting or of
                // its previous answer (so it also bounds an idle keep-alive connection);
                // otherwise the connection is closed.
                _ = head_watchdog(&clock, header_timeout) => {}
            }
        });
    }
    // Abort every connection (parked long polls included) and wait until they are gone, so
    // that nothing holds the hub (or its store file) once `RunningHub::stop` returns.
    conns.shutdown().await;
}

/// When a connection began to wait for its next request head: at accept, and again when each
/// answer is ready; never while a request is being handled (its body and a long poll have their
/// own bounds). Read by [`head_watchdog`]; written per request with one clock read and one
/// store, where hyper's own header read timeout allocates and registers a timer per head.
struct HeadClock {
    base: tokio::time::Instant,
    /// Nanoseconds from `base` at which the wait began, or `HANDLING`.
    awaiting_since: AtomicU64,
}

/// [`HeadClock::awaiting_since`] while a request is being handled.
const HANDLING: u64 = u64::MAX;

impl HeadClock {
    fn new() -> HeadClock {
        HeadClock {
            base: tokio::time::Instant::now(),
            awaiting_since: AtomicU64::new(0),
        }
    }
    fn request_began(&self) {
        self.awaiting_since.store(HANDLING, Ordering::Relaxed);
    }
    fn request_answered(&self) {
        let ns = self.base.elapsed().as_nanos().min(u128::from(HANDLING - 1)) as u64;
        self.awaiting_since.store(ns, Ordering::Relaxed);
    }
}

/// Resolves once a request head has been awaited for `limit` without arriving (the caller then
/// closes the connection). One timer per connection, re-armed only when it fires: a wait that
/// began at `t` is cut at exactly `t + limit`, as hyper's per-head timer would cut it (ours
/// starts when the answer is ready, hyper's when the next head read starts, which is no earlier).
async fn head_watchdog(clock: &HeadClock, limit: Duration) {
    let mut at = clock.base + limit;
    loop {
        tokio::time::sleep_until(at).await;
        let now = tokio::time::Instant::now();
        match clock.awaiting_since.load(Ordering::Relaxed) {
            // A wait can begin no earlier than now, so it cannot expire before now + limit.
            HANDLING => at = now + limit,
            since => {
                let deadline = clock.base + Duration::from_nanos(since) + limit;
                if now >= deadline {
                    return;
                }
                at = deadline;
            }
        }
    }
}

/// Read buffer per connection, which bounds a request head (hyper answers 431 beyond it).
pub const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// A connection whose writes (or flush, or shutdown) make no progress for `limit` fails with
/// `TimedOut`, which ends hyper's connection task. Reads are not timed here: a request head is
/// bounded by hyper's header read timeout, a body by `body_read_timeout_ms`, and a parked long
/// poll writes nothing until it answers.
struct WriteStallTimeout<S> {
    io: S,
    limit: Duration,
    /// Armed when a write returned `Pending`; disarmed by any progress.
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteStallTimeout<S> {
    fn new(io: S, limit: Duration) -> Self {
        WriteStallTimeout {
            io,
            limit,
            stalled: None,
        }
    }

    fn watch<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        r: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        use std::future::Future;
        use std::task::Poll;
        match r {
            Poll::Pending => {
                let limit = self.limit;
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if sleep.as_mut().poll(cx).is_ready() {
                    self.stalled = None;
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "the client read nothing for {} ms (write_timeout_ms)",
                            limit.as_millis()
                        ),
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteStallTimeout<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteStallTimeout<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, r)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, r)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, r)
    }
}

/// A server running on a loopback socket; stopped when dropped.
pub struct RunningHub {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningHub {
    /// Bind `addr` and serve `cfg` in a background task.
    pub async fn start(cfg: HubConfig, addr: SocketAddr) -> Result<RunningHub> {
        let hub = Arc::new(Hub::new(cfg)?);
        let listener = TcpListener::bind(addr).await.map_err(|e| MqHubError::Io {
            context: format!("binding {addr}"),
            source: e,
        })?;
        Self::serve(hub, listener)
    }

    /// Serve `hub` on an already bound listener.
    pub fn serve(hub: Arc<Hub>, listener: TcpListener) -> Result<RunningHub> {
        let addr = listener.local_addr().map_err(|e| MqHubError::Io {
            context: "local address".into(),
            source: e,
        })?;
        let (tx, rx) = oneshot::channel();
        let app = router(hub.clone());
        let header_timeout = Duration::from_millis(hub.cfg.header_read_timeout_ms);
        let write_timeout = Duration::from_millis(hub.cfg.write_timeout_ms);
        let task = tokio::spawn(accept_loop(
            listener,
            app,
            header_timeout,
            write_timeout,
            rx,
        ));
        Ok(RunningHub {
            addr,
            hub,
            stop: Some(tx),
            task,
        })
    }

    /// `http://addr`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, abort every connection (parked requests included) and wait until they
    /// are gone: when this returns, only the caller's `Arc<Hub>` clones remain.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.abort();
    }
}

impl Drop for RunningHub {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(timeout_ms: u64) -> Arc<Hub> {
        Arc::new(
            Hub::new(HubConfig {
                connection_timeout_ms: timeout_ms,
                ..HubConfig::default()
            })
            .unwrap(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_ends_exactly_at_the_connection_timeout() {
        let h = hub(10_000);
        let t0 = tokio::time::Instant::now();
        assert_eq!(h.wait_for("d/q", false).await.unwrap(), None);
        assert_eq!(t0.elapsed(), Duration::from_millis(10_000));
        assert_eq!(h.parked(), 0);
        assert_eq!(h.waiting_queues(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_put_wakes_one_parked_take_and_a_dropped_wait_consumes_nothing() {
        let h = hub(10_000);
        let (h1, h2) = (h.clone(), h.clone());
        let a = tokio::spawn(async move { h1.wait_for("d/q", true).await });
        let b = tokio::spawn(async move { h2.wait_for("d/q", true).await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(h.parked(), 2);
        // the client of `b` goes away
        b.abort();
        assert!(b.await.unwrap_err().is_cancelled());
        assert_eq!(h.parked(), 1);
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        h.store.put("d/q", None, "m".into(), 10).unwrap();
        h.waiters.notify("d/q");
        let got = a.await.unwrap().unwrap().unwrap();
        assert_eq!(got.body, "m");
        assert_eq!(h.store.len("d/q"), 0);
        assert_eq!(h.waiting_queues(), 0);
    }

    #[test]
    fn segments() {
        assert!(is_segment("vault.csc"));
        for s in ["", ".", "..", "a/b", "a%2f", "é"] {
            assert!(!is_segment(s), "{s}");
        }
    }

    async fn read_until_close(s: &mut tokio::net::TcpStream) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let mut b = [0u8; 1024];
        loop {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
    }

    /// One whole response (head and `content-length` body) from a keep-alive connection.
    async fn read_response(s: &mut tokio::net::TcpStream) -> String {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let mut b = [0u8; 1024];
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("a content-length");
                if got.len() >= end + 4 + len {
                    return String::from_utf8_lossy(&got).into_owned();
                }
            }
            let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut b))
                .await
                .expect("answered within the bound")
                .unwrap();
            assert!(n > 0, "closed instead of answered");
            got.extend_from_slice(&b[..n]);
        }
    }

    /// The server closes `s` within 60 s (of tokio time), without a response or with a 408
    /// (what hyper does to a request head that is not finished in time), never a success.
    async fn cut_off_without_success(s: &mut tokio::net::TcpStream) {
        let got = tokio::time::timeout(Duration::from_secs(60), read_until_close(s))
            .await
            .expect("the server closes the connection within the bound");
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }

    /// A client that sends half a request head is cut off after `header_read_timeout_ms`
    /// (virtual time, real loopback socket).
    #[tokio::test(start_paused = true)]
    async fn slow_request_head_is_cut_off() {
        use tokio::io::AsyncWriteExt;
        let cfg = HubConfig {
            header_read_timeout_ms: 2_000,
            ..HubConfig::default()
        };
        let h = RunningHub::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
        let t0 = tokio::time::Instant::now();
        s.write_all(b"PUT /mq/default/put/x HTTP/1.1\r\nhost: a\r\nx-mq-aut")
            .await
            .unwrap();
        cut_off_without_success(&mut s).await;
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(2_000) && waited < Duration::from_secs(60),
            "closed after {waited:?}"
        );
        h.stop().await;
    }

    /// The head read timeout counts from each answer on a keep-alive connection: requests sent
    /// every 1.5 s for 6 s (longer than the 2 s timeout) are all answered, and a head begun after
    /// the last answer is cut 2 s after that answer (virtual time, real loopback socket).
    #[tokio::test(start_paused = true)]
    async fn head_timeout_restarts_at_each_answer() {
        use tokio::io::AsyncWriteExt;
        let cfg = HubConfig {
            header_read_timeout_ms: 2_000,
            ..HubConfig::default()
        };
        let h = RunningHub::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
        // 400 at once: the hashDID is malformed (the answer is short and has a content-length).
        let req = b"GET /mq/default/x/token HTTP/1.1\r\nhost: a\r\n\r\n";
        for round in 0..4 {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            s.write_all(req).await.unwrap();
            let text = read_response(&mut s).await;
            assert!(text.starts_with("HTTP/1.1 400"), "round {round}: {text}");
        }
        let answered = tokio::time::Instant::now();
        s.write_all(b"GET /mq/default/x/tok").await.unwrap();
        cut_off_without_success(&mut s).await;
        let waited = answered.elapsed();
        assert!(
            waited >= Duration::from_millis(2_000) && waited < Duration::from_millis(2_100),
            "closed {waited:?} after the last answer (timeout 2 s)"
        );
        h.stop().await;
    }

    /// A client that stops sending its put body gets 408 after `body_read_timeout_ms`, and
    /// nothing is stored.
    #[tokio::test(start_paused = true)]
    async fn slow_put_body_gets_408() {
        use crate::did::{DidKeyPair, DidMethod};
        use tokio::io::AsyncWriteExt;
        let cfg = HubConfig {
            body_read_timeout_ms: 3_000,
            header_read_timeout_ms: 60_000,
            ..HubConfig::default()
        };
        let h = RunningHub::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let k = DidKeyPair::generate(DidMethod::Key).unwrap();
        let hash = k.hash_did();
        let t = h
            .hub
            .tokens
            .issue(now_secs(), 600, k.did(), "default", &hash)
            .unwrap()
            .token;
        let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
        let t0 = tokio::time::Instant::now();
        let head = format!(
            "PUT /mq/default/put/{hash} HTTP/1.1\r\nhost: a\r\nauthorization: {t}\r\ncontent-length: 100\r\n\r\nonly ten.."
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(60), read_until_close(&mut s))
            .await
            .expect("the server answers and closes within the bound");
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(3_000) && waited < Duration::from_secs(60),
            "answered after {waited:?}"
        );
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert_eq!(h.hub.queue_len("default", &hash), 0);
        h.stop().await;
    }

    /// Oversized request heads are refused before they are buffered whole.
    #[tokio::test]
    async fn huge_request_head_is_refused() {
        use tokio::io::AsyncWriteExt;
        let h = RunningHub::start(HubConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
        let big = format!(
            "GET /mq/default/x/token HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BUFFER * 2)
        );
        // The server may close before reading it all.
        let _ = s.write_all(big.as_bytes()).await;
        let got = tokio::time::timeout(Duration::from_secs(30), read_until_close(&mut s))
            .await
            .expect("answered within the bound");
        let text = String::from_utf8_lossy(&got);
        assert!(got.is_empty() || text.starts_with("HTTP/1.1 431"), "{text}");
        h.stop().await;
    }
}
