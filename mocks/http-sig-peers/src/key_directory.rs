//! A Web Bot Auth key directory server (issue 15; draft-meunier-webbotauth-httpsig-protocol
//! §"Directory Format", Appendix "Possession Proof on the Directory Response";
//! docs/web-bot-auth.md): `GET /.well-known/http-message-signatures-directory` answers `200`
//! with media type `application/http-message-signatures-directory+json`, `Cache-Control:
//! max-age=N`, the JWK Set of the configured keys (`kid` = RFC 7638 thumbprint, `use: sig`) and,
//! unless turned off, one directory response signature per key, bound to the request's
//! `@authority` (`;req`) and the body's Content-Digest. Other paths: 404; other methods on the
//! directory path: 405. It runs in the bounded HTTP shell of [`crate::serve`] (read timeouts,
//! head and body caps, connection cap).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{StatusCode, header};
use http_sig::web_bot_auth::{self, KeyDirectory};
use http_sig::{HttpMessage, Key, Signer};
use tokio::sync::oneshot;

use crate::serve::{ConnStats, ServerLimits, serve};
use crate::{LiveError, bind_loopback, unix_now};

/// Configuration of a [`KeyDirectoryServer`].
#[derive(Clone)]
pub struct KeyDirectoryConfig {
    /// The private keys whose public halves are published (and which sign the response).
    pub keys: Vec<Key>,
    /// Sign the directory response (RECOMMENDED by the draft; default true).
    pub sign_response: bool,
    /// `expires - created` of the directory response signatures, seconds (default 7 days: the
    /// draft's guidance is to set it "well beyond the republication interval").
    pub signature_validity: u64,
    /// `Cache-Control: max-age` (default 86 400, as the draft's example).
    pub max_age: u64,
    /// Server bounds.
    pub server: ServerLimits,
    /// Print one line per request.
    pub print_requests: bool,
}

impl KeyDirectoryConfig {
    /// Defaults for `keys`.
    pub fn new(keys: Vec<Key>) -> Self {
        KeyDirectoryConfig {
            keys,
            sign_response: true,
            signature_validity: 7 * 86_400,
            max_age: 86_400,
            server: ServerLimits::default(),
            print_requests: false,
        }
    }
}

struct Shared {
    body: String,
    signers: Vec<Signer>,
    cfg: KeyDirectoryConfig,
    served: AtomicU64,
}

/// A running key directory server. Dropping it stops the server.
pub struct KeyDirectoryServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stats: Arc<ConnStats>,
    stop: Option<oneshot::Sender<()>>,
}

impl KeyDirectoryServer {
    /// Start on `listen` (loopback only; port 0 picks a free port). Every key must be a private
    /// RSA, EC or Ed25519 key (it signs the response); at least one key.
    pub async fn start(listen: SocketAddr, cfg: KeyDirectoryConfig) -> Result<Self, LiveError> {
        if cfg.keys.is_empty() {
            return Err(LiveError::Config(
                "a key directory needs at least one key".into(),
            ));
        }
        if cfg.signature_validity == 0 {
            return Err(LiveError::Config(
                "the directory signature validity must be at least 1 second".into(),
            ));
        }
        let mut signers = Vec::new();
        for k in &cfg.keys {
            signers.push(Signer::new(k.clone(), None)?);
        }
        let body = KeyDirectory::from_keys(cfg.keys.iter().cloned())?.to_json()?;
        let listener = bind_loopback(listen).await?;
        let addr = listener.local_addr().map_err(|e| LiveError::Bind {
            addr: listen,
            source: e,
        })?;
        let server = cfg.server;
        let shared = Arc::new(Shared {
            body,
            signers,
            cfg,
            served: AtomicU64::new(0),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let stats = Arc::new(ConnStats::default());
        tokio::spawn(serve(listener, app, server, stats.clone(), stopped));
        Ok(KeyDirectoryServer {
            addr,
            shared,
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

    /// `http://addr/.well-known/http-message-signatures-directory`.
    pub fn directory_url(&self) -> String {
        format!("http://{}{}", self.addr, web_bot_auth::WELL_KNOWN_PATH)
    }

    /// The JWK Set served.
    pub fn body(&self) -> &str {
        &self.shared.body
    }

    /// Directory responses served so far (200s).
    pub fn served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.stats.open.load(Ordering::Relaxed)
    }
}

impl Drop for KeyDirectoryServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    let mut r = Response::new(Body::from(format!("{text}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let r = respond(&shared, &req, &path);
    if shared.cfg.print_requests {
        println!(
            "{} {} -> {}",
            http_sig::excerpt(req.method().as_str(), 16),
            http_sig::excerpt(&path, 80),
            r.status().as_u16()
        );
    }
    r
}

fn respond(shared: &Shared, req: &Request, path: &str) -> Response {
    if path != web_bot_auth::WELL_KNOWN_PATH {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: the key directory is at /.well-known/http-message-signatures-directory",
        );
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET");
        r.headers_mut()
            .insert(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    // The directory response signature covers the fetching request's @authority (;req).
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
    else {
        return plain(StatusCode::BAD_REQUEST, "no Host field");
    };
    let request = HttpMessage::request("GET", path, "http", Some(&host));
    let mut resp = HttpMessage::response(200);
    resp.append_header("Content-Type", web_bot_auth::MEDIA_TYPE);
    resp.append_header("Cache-Control", &format!("max-age={}", shared.cfg.max_age));
    resp.body = shared.body.as_bytes().to_vec();
    if shared.cfg.sign_response {
        let now = i64::try_from(unix_now()).unwrap_or(0);
        let expires = now.saturating_add(i64::try_from(shared.cfg.signature_validity).unwrap_or(0));
        if let Err(e) = web_bot_auth::sign_directory_response(
            &mut resp,
            &request,
            &shared.signers,
            now,
            expires,
        ) {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot sign the directory: [{}] {e}", e.kind()),
            );
        }
    }
    shared.served.fetch_add(1, Ordering::Relaxed);
    let mut r = Response::new(Body::from(resp.body.clone()));
    for (name, value) in &resp.headers {
        match (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                r.headers_mut().append(n, v);
            }
            _ => {
                return plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "a response header could not be encoded",
                );
            }
        }
    }
    r
}
