//! The upstream a signer under test calls (`sigharness serve http-sig-upstream`): an HTTP server
//! that judges every request it receives ([`crate::judge`]), records the verdicts, and answers
//! with a configurable reply (a GraphQL JSON body by default) so that a gateway carries on.
//!
//! `GET /.well-known/sigharness/verdicts[?offset=N&limit=M]` lists the verdicts kept (JSON, not
//! judged), a page at a time.
//!
//! **Bounded memory** (issue 13: 24 000 requests took the process to 97 MB and the listing to
//! 80 MB). The store keeps the most recent verdicts, at most [`VerdictLimits::max_verdicts`]
//! and [`VerdictLimits::max_bytes`] (its own accounting of the strings it holds); older ones are
//! dropped and counted, and the listing says how many were judged, kept and dropped. Strings from
//! the request are cut before they are kept (`METHOD target` at 256 characters, the judged
//! Signature-Input at 1 024, each rule's detail at 512). Nonces are remembered for the
//! nonce-unique rule up to [`VerdictLimits::max_nonces`] (the oldest forgotten first). Requests
//! are judged in parallel: only recording the verdict and the nonce lookup take a lock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_sig::{HttpMessage, InMemoryNonceStore, NonceStore};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::judge::{Judge, RequestVerdict, Rule, RuleStatus, SignerExpectations};
use crate::serve::{ConnStats, ServerLimits, read_body, serve};
use crate::{LiveError, bind_loopback, unix_now};

/// Path of the verdict listing.
pub const VERDICTS_PATH: &str = "/.well-known/sigharness/verdicts";

/// Most verdicts one page of the listing holds (`limit` is capped to this).
pub const MAX_PAGE: usize = 1_000;

/// How the upstream answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Default for Reply {
    fn default() -> Self {
        Reply {
            status: StatusCode::OK,
            content_type: "application/json".into(),
            body: br#"{"data":{}}"#.to_vec(),
        }
    }
}

/// How much the upstream remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerdictLimits {
    /// Verdicts kept (the most recent); default 10 000.
    pub max_verdicts: usize,
    /// Bytes of verdict text kept (the store's own accounting); default 16 MiB.
    pub max_bytes: usize,
    /// Nonces remembered for the nonce-unique rule; default 100 000.
    pub max_nonces: usize,
}

impl Default for VerdictLimits {
    fn default() -> Self {
        VerdictLimits {
            max_verdicts: 10_000,
            max_bytes: 16 * 1024 * 1024,
            max_nonces: 100_000,
        }
    }
}

/// Everything an upstream is started with.
#[derive(Clone, Debug)]
pub struct UpstreamConfig<J = SignerExpectations> {
    /// What every request is judged against (a gateway's profile, or a Web Bot Auth bot's
    /// keys: [`crate::web_bot_auth::BotExpectations`]).
    pub expectations: J,
    /// How every judged request is answered.
    pub reply: Reply,
    /// The clock requests are judged at (UNIX seconds); default [`unix_now`].
    pub clock: fn() -> u64,
    /// Print one line per judged request on stdout (`#index METHOD target: ok` or
    /// `FAILED slug, ...`), as `sigharness serve http-sig-upstream` does. Default off.
    pub print_verdicts: bool,
    /// What is remembered (verdicts, bytes, nonces).
    pub verdicts: VerdictLimits,
    /// Timeouts, size caps and the connection cap of the HTTP server.
    pub server: ServerLimits,
}

impl<J: Judge> UpstreamConfig<J> {
    /// The default reply, the wall clock, silent, default limits.
    pub fn new(expectations: J) -> Self {
        UpstreamConfig {
            expectations,
            reply: Reply::default(),
            clock: unix_now,
            print_verdicts: false,
            verdicts: VerdictLimits::default(),
            server: ServerLimits::default(),
        }
    }
}

struct Shared<J: Judge> {
    exp: J,
    reply: Reply,
    clock: fn() -> u64,
    print_verdicts: bool,
    server: ServerLimits,
    store: Mutex<VerdictStore<J::Rule>>,
    nonces: Mutex<InMemoryNonceStore>,
    count: watch::Sender<usize>,
}

impl<J: Judge> Shared<J> {
    fn store(&self) -> std::sync::MutexGuard<'_, VerdictStore<J::Rule>> {
        match self.store.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The most recent verdicts within a count and a byte budget.
#[derive(Debug)]
pub(crate) struct VerdictStore<R = crate::SignerRule> {
    limits: VerdictLimits,
    kept: VecDeque<(RequestVerdict<R>, usize)>,
    bytes: usize,
    judged: usize,
    dropped: usize,
    /// Requests (kept or dropped) that failed at least one rule.
    with_failures: usize,
}

/// Cut `s` to `max` characters (control characters escaped).
fn cut(s: &str, max: usize) -> String {
    http_sig::printable(s, max)
}

/// The verdict with its request-derived strings cut to size, and the bytes it holds.
fn bounded<R: Rule>(mut v: RequestVerdict<R>) -> (RequestVerdict<R>, usize) {
    // (The judge already cut it to MAX_REQUEST_CHARS and said its length: do not cut it again.)
    v.request = cut(&v.request, crate::judge::MAX_REQUEST_CHARS + 40);
    v.signature_input = v.signature_input.map(|s| cut(&s, 1_024));
    let mut bytes = 64 + v.request.len() + v.signature_input.as_ref().map_or(0, String::len);
    for (_, st) in &mut v.rules {
        bytes += 32;
        if let RuleStatus::Fail(d) | RuleStatus::NotApplicable(d) = st {
            *d = cut(d, 512);
            bytes += d.len();
        }
    }
    (v, bytes)
}

impl<R: Rule> VerdictStore<R> {
    pub(crate) fn new(limits: VerdictLimits) -> Self {
        VerdictStore {
            limits,
            kept: VecDeque::new(),
            bytes: 0,
            judged: 0,
            dropped: 0,
            with_failures: 0,
        }
    }

    /// Index the next verdict gets.
    fn next_index(&self) -> usize {
        self.judged
    }

    /// Keep `v` (cut to size), dropping the oldest beyond the limits. Returns what was kept.
    pub(crate) fn push(&mut self, v: RequestVerdict<R>) -> RequestVerdict<R> {
        let (v, bytes) = bounded(v);
        self.judged += 1;
        if !v.failed().is_empty() {
            self.with_failures += 1;
        }
        self.kept.push_back((v.clone(), bytes));
        self.bytes += bytes;
        while self.kept.len() > self.limits.max_verdicts.max(1)
            || (self.bytes > self.limits.max_bytes && self.kept.len() > 1)
        {
            if let Some((_, b)) = self.kept.pop_front() {
                self.bytes -= b;
                self.dropped += 1;
            }
        }
        v
    }

    /// Bytes held by the kept verdicts (the store's accounting).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn all(&self) -> Vec<RequestVerdict<R>> {
        self.kept.iter().map(|(v, _)| v.clone()).collect()
    }

    /// The kept verdicts with `index >= offset`, at most `limit`.
    fn page(&self, offset: usize, limit: usize) -> VerdictPage<R> {
        let first_kept = self.judged - self.kept.len();
        let start = offset.saturating_sub(first_kept).min(self.kept.len());
        let verdicts: Vec<RequestVerdict<R>> = self
            .kept
            .iter()
            .skip(start)
            .take(limit)
            .map(|(v, _)| v.clone())
            .collect();
        let end = first_kept + start + verdicts.len();
        VerdictPage {
            judged: self.judged,
            kept: self.kept.len(),
            dropped: self.dropped,
            first_kept,
            offset: first_kept + start,
            next_offset: (end < self.judged).then_some(end),
            note: (self.dropped > 0).then(|| {
                format!(
                    "the {} oldest verdicts were dropped (the upstream keeps the last {} / {} bytes)",
                    self.dropped, self.limits.max_verdicts, self.limits.max_bytes
                )
            }),
            verdicts,
        }
    }
}

/// One page of `GET /.well-known/sigharness/verdicts`.
#[derive(Debug, Serialize)]
struct VerdictPage<R> {
    /// Requests judged since the start.
    judged: usize,
    /// Verdicts still kept.
    kept: usize,
    /// Verdicts dropped (the oldest), beyond the store's limits.
    dropped: usize,
    /// Index of the oldest kept verdict.
    first_kept: usize,
    /// Index of the first verdict on this page.
    offset: usize,
    /// Where the next page starts, if there is more.
    next_offset: Option<usize>,
    /// Says so when verdicts were dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    verdicts: Vec<RequestVerdict<R>>,
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    offset: Option<usize>,
    limit: Option<usize>,
}

/// A running upstream. Dropping it stops the server.
pub struct Upstream<J: Judge = SignerExpectations> {
    addr: SocketAddr,
    shared: Arc<Shared<J>>,
    count: watch::Receiver<usize>,
    stats: Arc<ConnStats>,
    stop: Option<oneshot::Sender<()>>,
}

impl<J: Judge> Upstream<J> {
    /// Start on `listen` (loopback only; port 0 picks a free port), judging against `exp` and
    /// answering with `reply`.
    pub async fn start(listen: SocketAddr, exp: J, reply: Reply) -> Result<Upstream<J>, LiveError> {
        Self::start_with(
            listen,
            UpstreamConfig {
                reply,
                ..UpstreamConfig::new(exp)
            },
        )
        .await
    }

    /// Start on `listen` (loopback only; port 0 picks a free port) with `cfg`.
    pub async fn start_with(
        listen: SocketAddr,
        cfg: UpstreamConfig<J>,
    ) -> Result<Upstream<J>, LiveError> {
        let UpstreamConfig {
            expectations: exp,
            reply,
            clock,
            print_verdicts,
            verdicts,
            server,
        } = cfg;
        let listener = bind_loopback(listen).await?;
        let addr = listener.local_addr().map_err(|e| LiveError::Bind {
            addr: listen,
            source: e,
        })?;
        let (tx, rx) = watch::channel(0usize);
        let shared = Arc::new(Shared {
            exp,
            reply,
            clock,
            print_verdicts,
            server,
            store: Mutex::new(VerdictStore::new(verdicts)),
            nonces: Mutex::new(InMemoryNonceStore::new(verdicts.max_nonces)),
            count: tx,
        });
        let app = Router::new()
            .route(VERDICTS_PATH, axum::routing::get(list_verdicts::<J>))
            .fallback(judge_and_reply::<J>)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let stats = Arc::new(ConnStats::default());
        tokio::spawn(serve(listener, app, server, stats.clone(), stopped));
        Ok(Upstream {
            addr,
            shared,
            count: rx,
            stats,
            stop: Some(stop),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The expectations requests are judged against.
    pub fn expectations(&self) -> &J {
        &self.shared.exp
    }

    /// The verdicts kept (the most recent, in arrival order; see [`VerdictLimits`]).
    pub fn verdicts(&self) -> Vec<RequestVerdict<J::Rule>> {
        self.shared.store().all()
    }

    /// Requests judged since the start (kept or dropped).
    pub fn judged(&self) -> usize {
        self.shared.store().judged
    }

    /// Requests judged since the start (kept or dropped) that failed at least one rule.
    pub fn failed_requests(&self) -> usize {
        self.shared.store().with_failures
    }

    /// Verdicts dropped so far (the oldest, beyond the limits).
    pub fn dropped(&self) -> usize {
        self.shared.store().dropped
    }

    /// Bytes the kept verdicts hold (the store's own accounting, bounded by
    /// [`VerdictLimits::max_bytes`]).
    pub fn verdict_bytes(&self) -> usize {
        self.shared.store().bytes()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.stats.open.load(Ordering::Relaxed)
    }

    /// Wait until at least `n` requests were judged, at most `bound`. Returns the verdicts kept
    /// either way and whether `n` was reached.
    pub async fn wait_for(
        &self,
        n: usize,
        bound: Duration,
    ) -> (Vec<RequestVerdict<J::Rule>>, bool) {
        let mut rx = self.count.clone();
        let reached = tokio::time::timeout(bound, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok());
        (self.verdicts(), reached)
    }

    /// Stop the server.
    pub fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl<J: Judge> Drop for Upstream<J> {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn list_verdicts<J: Judge>(
    State(shared): State<Arc<Shared<J>>>,
    q: Query<PageQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let page = shared.store().page(q.offset.unwrap_or(0), limit);
    axum::Json(page).into_response()
}

async fn judge_and_reply<J: Judge>(State(shared): State<Arc<Shared<J>>>, req: Request) -> Response {
    let now = (shared.clock)();
    let (parts, body) = req.into_parts();
    let msg = match read_body(&shared.server, body).await {
        Ok(b) => {
            let r = http::Request::from_parts(parts, b);
            HttpMessage::try_from(&r).map_err(|e| format!("request could not be read: {e}"))
        }
        Err((_, why)) => Err(format!("request body could not be read: {why}")),
    };
    // Judged outside any lock; the index is provisional until the verdict is recorded.
    let provisional = shared.store().next_index();
    let v = match msg {
        Ok(mut m) => {
            if let http_sig::MessageKind::Request(rl) = &mut m.kind {
                rl.scheme = shared.exp.scheme().to_string();
            }
            let mut first_use = |n: &str| {
                let mut g = match shared.nonces.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                g.check_and_insert(n, u64::MAX, 0)
            };
            shared.exp.judge(provisional, &m, now, &mut first_use)
        }
        Err(why) => RequestVerdict::unreadable(provisional, why),
    };
    let verdict = {
        let mut g = shared.store();
        let mut v = v;
        v.index = g.next_index();
        g.push(v)
    };
    if shared.print_verdicts {
        println!("{}", verdict_line(&verdict));
    }
    shared.count.send_modify(|c| *c += 1);
    let mut res = Response::new(Body::from(shared.reply.body.clone()));
    *res.status_mut() = shared.reply.status;
    if let Ok(v) = HeaderValue::from_str(&shared.reply.content_type) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    res
}

/// `#index METHOD target: ok`, or `: FAILED` and the slugs of the failed rules.
fn verdict_line<R: Rule>(v: &RequestVerdict<R>) -> String {
    let failed = v.failed();
    if failed.is_empty() {
        format!("#{} {}: ok", v.index, v.request)
    } else {
        format!(
            "#{} {}: FAILED {}",
            v.index,
            v.request,
            failed
                .iter()
                .map(|r| r.slug())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
