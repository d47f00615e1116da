//! The upstream a signer under test calls (`sigharness serve http-sig-upstream`): an axum server
//! that judges every request it receives ([`crate::judge`]), records the verdicts, and answers
//! with a configurable reply (a GraphQL JSON body by default) so that a gateway carries on.
//!
//! `GET /.well-known/sigharness/verdicts` returns the verdicts so far as JSON (not judged).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_sig::HttpMessage;
use tokio::sync::{oneshot, watch};

use crate::judge::{RequestVerdict, RuleStatus, SignerExpectations, SignerRule, judge_request};
use crate::{LiveError, bind_loopback, unix_now};

/// Path of the verdict listing.
pub const VERDICTS_PATH: &str = "/.well-known/sigharness/verdicts";

/// Largest request body the upstream reads.
const MAX_BODY: usize = 4 * 1024 * 1024;

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

/// Everything an upstream is started with.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// What every request is judged against.
    pub expectations: SignerExpectations,
    /// How every judged request is answered.
    pub reply: Reply,
    /// The clock requests are judged at (UNIX seconds); default [`unix_now`].
    pub clock: fn() -> u64,
    /// Print one line per judged request on stdout (`#index METHOD target: ok` or
    /// `FAILED slug, ...`), as `sigharness serve http-sig-upstream` does. Default off.
    pub print_verdicts: bool,
}

impl UpstreamConfig {
    /// The default reply, the wall clock, silent.
    pub fn new(expectations: SignerExpectations) -> Self {
        UpstreamConfig {
            expectations,
            reply: Reply::default(),
            clock: unix_now,
            print_verdicts: false,
        }
    }
}

struct Shared {
    exp: SignerExpectations,
    reply: Reply,
    clock: fn() -> u64,
    print_verdicts: bool,
    inner: Mutex<Inner>,
    count: watch::Sender<usize>,
}

#[derive(Default)]
struct Inner {
    verdicts: Vec<RequestVerdict>,
    nonces: HashSet<String>,
}

/// A running upstream. Dropping it stops the server.
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    count: watch::Receiver<usize>,
    stop: Option<oneshot::Sender<()>>,
}

impl Upstream {
    /// Start on `listen` (loopback only; port 0 picks a free port), judging against `exp` and
    /// answering with `reply`.
    pub async fn start(
        listen: SocketAddr,
        exp: SignerExpectations,
        reply: Reply,
    ) -> Result<Upstream, LiveError> {
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
        cfg: UpstreamConfig,
    ) -> Result<Upstream, LiveError> {
        let UpstreamConfig {
            expectations: exp,
            reply,
            clock,
            print_verdicts,
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
            inner: Mutex::new(Inner::default()),
            count: tx,
        });
        let app = Router::new()
            .route(VERDICTS_PATH, axum::routing::get(list_verdicts))
            .fallback(judge_and_reply)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Upstream {
            addr,
            shared,
            count: rx,
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
    pub fn expectations(&self) -> &SignerExpectations {
        &self.shared.exp
    }

    /// Verdicts so far, in arrival order.
    pub fn verdicts(&self) -> Vec<RequestVerdict> {
        match self.shared.inner.lock() {
            Ok(g) => g.verdicts.clone(),
            Err(p) => p.into_inner().verdicts.clone(),
        }
    }

    /// Wait until at least `n` requests were judged, at most `bound`. Returns the verdicts either
    /// way and whether `n` was reached.
    pub async fn wait_for(&self, n: usize, bound: Duration) -> (Vec<RequestVerdict>, bool) {
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

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn list_verdicts(State(shared): State<Arc<Shared>>) -> Response {
    let verdicts = match shared.inner.lock() {
        Ok(g) => g.verdicts.clone(),
        Err(p) => p.into_inner().verdicts.clone(),
    };
    axum::Json(verdicts).into_response()
}

async fn judge_and_reply(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let now = (shared.clock)();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await;
    let msg = match bytes {
        Ok(b) => {
            let r = http::Request::from_parts(parts, b.to_vec());
            HttpMessage::try_from(&r).map_err(|e| format!("request could not be read: {e}"))
        }
        Err(e) => Err(format!("request body could not be read: {e}")),
    };
    let verdict = {
        let mut g = match shared.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let index = g.verdicts.len();
        let v = match msg {
            Ok(mut m) => {
                if let http_sig::MessageKind::Request(rl) = &mut m.kind {
                    rl.scheme = shared.exp.scheme.clone();
                }
                let Inner { nonces, .. } = &mut *g;
                judge_request(&shared.exp, index, &m, now, nonces)
            }
            Err(why) => RequestVerdict {
                index,
                request: String::new(),
                signature_input: None,
                rules: SignerRule::ALL
                    .iter()
                    .map(|r| (*r, RuleStatus::Fail(why.clone())))
                    .collect(),
            },
        };
        g.verdicts.push(v.clone());
        v
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
fn verdict_line(v: &RequestVerdict) -> String {
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
