//! A mimic of the deployed MQ Hub (OpenDSU apihub, component `mqHub`), as the faulty client is
//! for the messaging signer: apihub's routes, statuses, long poll and token format (SeedSSIJWT,
//! byte for byte: `mq_hub::seedssi`), with each of the eight defects of
//! ../shared/notes/mq-hub-reality.md switchable. With every defect off it is apihub with those
//! defects fixed, and nothing else changed: its token route still ignores the domain, its take
//! never times out, it stores any body, it never sends `sender`.
//!
//! Defects (`Defects`): 1 signatureOfDid never checked; 2 tokens to anyone; 3 tokens verified
//! with the key inside them; 4 PUT ignores the token's queue; 5 the queue limit admits one more;
//! 6 every parked get receives the first message; 7 a take abandoned by its client stays parked
//! and consumes a message; 8 a message deleted while a get reads it answers 200 with an empty body.
//!
//! With defect 2 off, tokens are issued only with the suite's holder proof (`x-mq-did*`), and the
//! holder is recorded in the token's `options.holder`; with defect 1 off, signatureOfDid is
//! checked against the key of that holder, whose hashDID must be the queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256K1_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use mq_hub::codec::random_b58;
use mq_hub::{DidRegistry, hash_did, seedssi};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Which defects are on (index 1..=8).
#[derive(Clone, Copy, Debug, Default)]
pub struct Defects([bool; 9]);

impl Defects {
    pub fn none() -> Self {
        Defects::default()
    }
    pub fn only(n: usize) -> Self {
        let mut d = Defects::default();
        d.0[n] = true;
        d
    }
    pub fn and(mut self, n: usize) -> Self {
        self.0[n] = true;
        self
    }
    fn on(&self, n: usize) -> bool {
        self.0[n]
    }
}

pub struct MimicConfig {
    pub domain: String,
    pub max_message_size: usize,
    pub max_queue_length: usize,
    pub connection_timeout_ms: u64,
    pub defects: Defects,
    /// Another token protocol: the token route wants `x-api-key: <this>` and takes the holder
    /// from `x-holder-did` (instead of the suite's `x-mq-did*` proof).
    pub api_key: Option<String>,
    /// The request header carrying the token: `x-mq-authorization` (apihub since early 2024) or
    /// `authorization` (before).
    pub token_header: &'static str,
}

#[derive(Default)]
struct Queue {
    msgs: VecDeque<(String, Vec<u8>)>,
    getters: VecDeque<oneshot::Sender<()>>,
    takers: VecDeque<oneshot::Sender<()>>,
}

struct Mimic {
    cfg: MimicConfig,
    key: EcdsaKeyPair,
    iss: String,
    pem: String,
    registry: DidRegistry,
    queues: Mutex<HashMap<String, Queue>>,
}

/// A running mimic on loopback; stopped when dropped.
pub struct RunningMimic {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunningMimic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn status(s: StatusCode) -> Response {
    s.into_response()
}

fn text(s: StatusCode, t: &'static str) -> Response {
    (s, t).into_response()
}

/// What a store read needs; apihub's adapters read the list, then the message (file or
/// database I/O), which is where defect 8's race lives.
const READ_LATENCY: Duration = Duration::from_millis(2);

pub async fn start(cfg: MimicConfig) -> RunningMimic {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256K1_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256K1_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let public = key.public_key().as_ref().to_vec();
    let m = Arc::new(Mimic {
        iss: seedssi::sread_issuer("MQ_DOMAIN", &public),
        pem: seedssi::pem_public_key(&public),
        key,
        cfg,
        registry: DidRegistry::default(),
        queues: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/mq/{domain}/{hash}/token", get(token))
        .route("/mq/{domain}/put/{hash}", put(put_msg))
        .route("/mq/{domain}/get/{hash}/{sig}", get(get_msg))
        .route("/mq/{domain}/delete/{hash}/{id}/{sig}", delete(delete_msg))
        .route("/mq/{domain}/take/{hash}/{sig}", get(take_msg))
        .with_state(m);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    RunningMimic { url, task }
}

type S = State<Arc<Mimic>>;

fn hv<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

/// apihub `getTokenHandler`: no domain check; a token for the hashDID of the path.
async fn token(
    State(m): S,
    Path((domain, hash)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    let proven = mq_hub::token::check_holder_proof(
        now(),
        300,
        &m.registry,
        hv(&h, "x-mq-did"),
        hv(&h, "x-mq-did-timestamp"),
        hv(&h, "x-mq-did-proof"),
        &domain,
        &hash,
    );
    if let Some(k) = &m.cfg.api_key
        && hv(&h, "x-api-key") != Some(k.as_str())
    {
        return status(StatusCode::FORBIDDEN);
    }
    let proven = match (&m.cfg.api_key, hv(&h, "x-holder-did")) {
        (Some(_), Some(did)) => Ok(did.to_string()),
        (Some(_), None) => return status(StatusCode::FORBIDDEN),
        (None, _) => proven,
    };
    let holder = match (proven, m.cfg.defects.on(2)) {
        (Ok(did), _) => Some(did),
        // defect 2: anyone gets a token (the claimed DID, if any, is recorded unchecked)
        (Err(_), true) => hv(&h, "x-mq-did").map(str::to_string),
        (Err(_), false) => return status(StatusCode::FORBIDDEN),
    };
    let t = now();
    // jwt.js createJWT's key order; JWTIssuer.js: scope /mq, a template seed SSI as subject,
    // lifetime mq_nonce_expiration_time (10 000 s), options = {credentials}
    let mut options = json!({ "credentials": hash });
    if let Some(d) = holder {
        options["holder"] = json!(d);
    }
    let body = json!({
        "sub": format!("ssi:seed:{domain}:undefined:undefined:v0"),
        "scope": "/mq",
        "iss": m.iss,
        "publicKey": m.pem,
        "iat": t,
        "nbf": t,
        "exp": t + 10_000,
        "credentials": [hash],
        "options": options,
    });
    let rng = SystemRandom::new();
    let tok = seedssi::assemble(seedssi::HEADER, &body.to_string(), |msg| {
        Ok(m.key.sign(&rng, msg).unwrap().as_ref().to_vec())
    })
    .unwrap();
    let mut r = axum::Json(json!({"token": tok, "expires": (t + 10_000) * 1000})).into_response();
    r.headers_mut().insert(
        "connection-timeout",
        HeaderValue::from(m.cfg.connection_timeout_ms),
    );
    r
}

impl Mimic {
    /// apihub `validateToken`: jwt.js verifyJWT (typ, iss, exp, nbf, signature).
    fn validate(&self, h: &HeaderMap) -> Option<(String, seedssi::Parsed)> {
        let token = hv(h, self.cfg.token_header)?.to_string();
        let p = seedssi::parse(&token).ok()?;
        let iss = p.body.get("iss").and_then(Value::as_str)?.to_string();
        if self.cfg.defects.on(3) {
            // defect 3: the key inside the token; the issuer only has to be a KeySSI
            let key = p.carried_key()?;
            if !iss.starts_with("ssi:") || !seedssi::verify_with_key(&p, &key) {
                return None;
            }
            seedssi::check_claims(&p, &iss, now()).ok()?;
        } else {
            seedssi::check(&token, self.key.public_key().as_ref(), &self.iss, now()).ok()?;
        }
        Some((token, p))
    }

    fn names_queue(p: &seedssi::Parsed, hash: &str) -> bool {
        p.body
            .get("credentials")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|q| q.as_str() == Some(hash)))
    }

    /// apihub `getMessageHandler` (get, take, delete): 405, 403 no token, isOwner; plus the
    /// signatureOfDid check when defect 1 is off.
    fn owner(&self, domain: &str, hash: &str, sig: &str, h: &HeaderMap) -> Result<(), StatusCode> {
        if domain != self.cfg.domain {
            return Err(StatusCode::METHOD_NOT_ALLOWED);
        }
        let (token, p) = self.validate(h).ok_or(StatusCode::FORBIDDEN)?;
        if !Self::names_queue(&p, hash) {
            return Err(StatusCode::FORBIDDEN);
        }
        if !self.cfg.defects.on(1) {
            let holder = p.body["options"]["holder"].as_str().unwrap_or("");
            let ok = hash_did(holder) == hash
                && mq_hub::token::check_signature_of_did(&self.registry, holder, &token, sig)
                    .is_ok();
            if !ok {
                return Err(StatusCode::FORBIDDEN);
            }
        }
        Ok(())
    }

    fn key(domain: &str, hash: &str) -> String {
        format!("{domain}/{hash}")
    }

    /// The head message, read as apihub's adapters do: its id, then (after the store's I/O) its
    /// content. `Err(())` when it vanished in between.
    async fn read_head(&self, q: &str) -> Option<Result<(String, Vec<u8>), ()>> {
        let id = {
            let qs = self.queues.lock().unwrap();
            qs.get(q)?.msgs.front()?.0.clone()
        };
        tokio::time::sleep(READ_LATENCY).await;
        let qs = self.queues.lock().unwrap();
        let found = qs
            .get(q)
            .and_then(|x| x.msgs.iter().find(|(i, _)| *i == id))
            .map(|(i, b)| (i.clone(), b.clone()));
        Some(found.ok_or(()))
    }
}

fn reply(id: &str, body: &[u8]) -> Response {
    // apihub: {"message": <raw body as text>, "messageId"}; never `sender`
    axum::Json(json!({"message": String::from_utf8_lossy(body), "messageId": id})).into_response()
}

async fn put_msg(
    State(m): S,
    Path((domain, hash)): Path<(String, String)>,
    h: HeaderMap,
    body: Body,
) -> Response {
    if domain != m.cfg.domain {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let Some((_, p)) = m.validate(&h) else {
        return status(StatusCode::FORBIDDEN);
    };
    if !m.cfg.defects.on(4) && !Mimic::names_queue(&p, &hash) {
        return status(StatusCode::FORBIDDEN);
    }
    let Ok(bytes) = axum::body::to_bytes(body, m.cfg.max_message_size).await else {
        return text(
            StatusCode::FORBIDDEN,
            "Message size exceeds domain specific limit.",
        );
    };
    let q = Mimic::key(&domain, &hash);
    let mut qs = m.queues.lock().unwrap();
    let queue = qs.entry(q).or_default();
    let max = m.cfg.max_queue_length;
    // defect 5: the check is `>` where it should be `>=`
    let full = if m.cfg.defects.on(5) {
        queue.msgs.len() > max
    } else {
        queue.msgs.len() >= max
    };
    if full {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Queue size exceeded!");
    }
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let id = format!("{}_{ms}_{}", &hash[..hash.len().min(8)], random_b58(6));
    queue.msgs.push_back((id, bytes.to_vec()));
    // one parked get (defect 6: all of them) and one parked take
    while let Some(g) = queue.getters.pop_front() {
        if g.send(()).is_ok() && !m.cfg.defects.on(6) {
            break;
        }
    }
    while let Some(t) = queue.takers.pop_front() {
        if t.send(()).is_ok() {
            break;
        }
    }
    status(StatusCode::OK)
}

async fn get_msg(
    State(m): S,
    Path((domain, hash, sig)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if let Err(s) = m.owner(&domain, &hash, &sig, &h) {
        return status(s);
    }
    let q = Mimic::key(&domain, &hash);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(m.cfg.connection_timeout_ms);
    loop {
        match m.read_head(&q).await {
            Some(Ok((id, body))) => return reply(&id, &body),
            // defect 8: the read failed (the message was deleted meanwhile): 200, empty body
            Some(Err(())) if m.cfg.defects.on(8) => return status(StatusCode::OK),
            Some(Err(())) => continue,
            None => {}
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut qs = m.queues.lock().unwrap();
            let queue = qs.entry(q.clone()).or_default();
            if !queue.msgs.is_empty() {
                continue;
            }
            queue.getters.push_back(tx);
        }
        tokio::select! {
            _ = rx => {}
            _ = tokio::time::sleep_until(deadline) => return status(StatusCode::NO_CONTENT),
        }
    }
}

/// Wait (forever: apihub's take has no timeout) for a message and remove it.
async fn wait_take(m: Arc<Mimic>, q: String) -> (String, Vec<u8>) {
    loop {
        let (tx, rx) = oneshot::channel();
        {
            let mut qs = m.queues.lock().unwrap();
            let queue = qs.entry(q.clone()).or_default();
            if let Some(msg) = queue.msgs.pop_front() {
                return msg;
            }
            queue.takers.push_back(tx);
        }
        let _ = rx.await;
    }
}

async fn take_msg(
    State(m): S,
    Path((domain, hash, sig)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if let Err(s) = m.owner(&domain, &hash, &sig, &h) {
        return status(s);
    }
    let q = Mimic::key(&domain, &hash);
    let (id, body) = if m.cfg.defects.on(7) {
        // defect 7: the wait is not tied to the request; a client gone still consumes
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(wait_take(m, q).await);
        });
        match rx.await {
            Ok(x) => x,
            Err(_) => return status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    } else {
        wait_take(m, q).await
    };
    reply(&id, &body)
}

async fn delete_msg(
    State(m): S,
    Path((domain, hash, id, sig)): Path<(String, String, String, String)>,
    h: HeaderMap,
) -> Response {
    if let Err(s) = m.owner(&domain, &hash, &sig, &h) {
        return status(s);
    }
    let mut qs = m.queues.lock().unwrap();
    let queue = qs.entry(Mimic::key(&domain, &hash)).or_default();
    match queue.msgs.iter().position(|(i, _)| *i == id) {
        Some(i) => {
            queue.msgs.remove(i);
            status(StatusCode::OK)
        }
        // one of apihub's backends: a missing id is an error
        None => status(StatusCode::INTERNAL_SERVER_ERROR),
    }
}
