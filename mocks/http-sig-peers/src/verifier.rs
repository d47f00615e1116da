//! Our verifier as an HTTP service (`sigharness serve http-sig-verifier`), the default target of
//! the `http-sig-verifier` suite. Every request to any path is verified; 200 + JSON when the
//! signature is acceptable, 401 + JSON `{verified:false, error, message}` otherwise.
//!
//! [`VerifierCore`] is the sans-IO part (message + `now` in, [`Decision`] out); [`VerifierService`]
//! is the axum shell around it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_sig::web_bot_auth::{KeyDirectory, WebBotAuthPolicy};
use http_sig::{
    Algorithm, HttpMessage, InMemoryNonceStore, Key, KeySet, Limits, MessageKind, NonceStore,
    VerificationPolicy, Verifier, signatures,
};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::serve::{ConnStats, ServerLimits, read_body, serve};
use crate::{LiveError, bind_loopback, unix_now};

/// Static configuration of the verifier service.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// The verification key (when `key_set` is `None`).
    pub key: Key,
    /// A key set (JWK Set): the key is chosen by the signature's keyid, `key` is then unused.
    pub key_set: Option<KeySet>,
    /// The algorithm, if fixed by configuration (else from the key).
    pub alg: Option<Algorithm>,
    /// Application requirements (RFC 9421 §3.2.1).
    pub policy: VerificationPolicy,
    /// keyids that name `key`; a `keyid` parameter naming anything else is rejected
    /// (`unknown_key`). Empty = any keyid is accepted.
    pub keyids: Vec<String>,
    /// Only this label is verified; `None` = any signature in the message that verifies.
    pub label: Option<String>,
    /// Scheme clients use to reach this service (it may sit behind a TLS-terminating proxy).
    pub scheme: String,
    /// Nonces remembered for replay detection.
    pub nonce_capacity: usize,
    /// Print one line per request on stdout (`accept (label)` / `reject kind: message`), as
    /// `sigharness serve http-sig-verifier` does. Default off.
    pub print_decisions: bool,
    /// What is looked at of each message (http-sig [`Limits`]: header bytes, signatures,
    /// components, structured field size); beyond a cap: 401 `limit_exceeded`.
    pub limits: Limits,
    /// Timeouts, size caps and the connection cap of the HTTP server.
    pub server: ServerLimits,
    /// Decide as a Web Bot Auth origin instead (issue 15): the draft's policy over the keys of
    /// this directory (http-sig `WebBotAuthPolicy::verify`); `key`, `key_set`, `keyids`, `alg`
    /// and `policy` are then unused. Content-Digest is still checked first.
    pub web_bot_auth: Option<(WebBotAuthPolicy, KeyDirectory)>,
}

impl VerifierConfig {
    /// A configuration with the default policy, scheme `http`, any label.
    pub fn new(key: Key) -> Self {
        VerifierConfig {
            key,
            key_set: None,
            alg: None,
            policy: VerificationPolicy::default(),
            keyids: Vec::new(),
            label: None,
            scheme: "http".into(),
            nonce_capacity: 100_000,
            print_decisions: false,
            limits: Limits::default(),
            server: ServerLimits::default(),
            web_bot_auth: None,
        }
    }
}

/// The outcome for one request.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Decision {
    Accept {
        verified: bool,
        label: String,
        keyid: Option<String>,
    },
    Reject {
        verified: bool,
        /// Stable snake_case kind (http-sig `Error::kind`, or `content_digest_mismatch`,
        /// `unknown_key`).
        error: String,
        message: String,
    },
}

impl Decision {
    /// A rejection; the message (which may quote the request) is cut to 500 characters with
    /// control characters escaped.
    fn reject(error: &str, message: impl Into<String>) -> Self {
        Decision::Reject {
            verified: false,
            error: error.into(),
            message: http_sig::printable(&message.into(), 500),
        }
    }
}

/// Sans-IO verifier: configuration + nonce store. [`VerifierCore::decide`] takes `&self` and
/// can run on many requests at once: verification is pure, and the only shared state, the nonce
/// store, is locked just for the lookup-and-insert of a nonce whose signature verified (issue 13:
/// the whole decision used to run under one lock, so one slow request stalled all others).
pub struct VerifierCore {
    cfg: VerifierConfig,
    verifier: Verifier,
    nonces: Mutex<InMemoryNonceStore>,
}

/// The nonce store behind its lock, locked per call.
struct LockedNonces<'a>(&'a Mutex<InMemoryNonceStore>);

impl NonceStore for LockedNonces<'_> {
    fn check_and_insert(&mut self, nonce: &str, keep_until: u64, now: u64) -> bool {
        let mut g = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.check_and_insert(nonce, keep_until, now)
    }
}

impl VerifierCore {
    /// Check the configuration (policy, key/algorithm agreement).
    pub fn new(cfg: VerifierConfig) -> Result<Self, LiveError> {
        cfg.policy.validate()?;
        if let Some(a) = cfg.alg {
            cfg.key.check_algorithm(a)?;
        }
        let verifier = match &cfg.key_set {
            Some(set) => Verifier::with_key_set(set.clone(), cfg.alg),
            None => cfg
                .keyids
                .iter()
                .fold(Verifier::new(cfg.key.clone(), cfg.alg), |v, id| {
                    v.with_keyid(id.clone())
                }),
        }
        .with_policy(cfg.policy.clone())
        .with_limits(cfg.limits);
        let nonces = Mutex::new(InMemoryNonceStore::new(cfg.nonce_capacity));
        Ok(VerifierCore {
            cfg,
            verifier,
            nonces,
        })
    }

    /// Decide on one request received at `now` (UNIX seconds).
    pub fn decide(&self, msg: &HttpMessage, now: u64) -> Decision {
        // Refuse an oversized message before parsing any of it.
        if let Err(e) = self.cfg.limits.check_message(msg) {
            return Decision::reject(e.kind(), e.to_string());
        }
        // RFC 9530 §2 / RFC 9421 §7.2.8: a signature covering Content-Digest protects the body
        // only if the digest is checked against the body.
        if let Err(d) = check_content_digest(msg) {
            return d;
        }
        // Issue 15: a Web Bot Auth origin decides by the draft's policy over the directory.
        if let Some((policy, directory)) = &self.cfg.web_bot_auth {
            return match policy.verify(msg, self.cfg.label.as_deref(), directory, now) {
                Ok(v) => Decision::Accept {
                    verified: true,
                    label: v.verified.label,
                    keyid: Some(v.thumbprint),
                },
                Err(e) => Decision::reject(e.kind(), e.to_string()),
            };
        }
        // Signature-Input and Signature are parsed once; each entry is verified as parsed.
        let entries = match signatures(msg) {
            Ok(e) => e,
            Err(e) => return Decision::reject(e.kind(), e.to_string()),
        };
        if let Err(e) = self.cfg.limits.check_signatures(entries.len()) {
            return Decision::reject(e.kind(), e.to_string());
        }
        let entries: Vec<_> = match &self.cfg.label {
            Some(l) => {
                let Some(e) = entries.into_iter().find(|e| e.label == *l) else {
                    return Decision::reject(
                        "signature_not_found",
                        format!("no signature labelled {}", http_sig::excerpt(l, 64)),
                    );
                };
                vec![e]
            }
            None => entries,
        };
        if entries.is_empty() {
            return Decision::reject(
                "signature_not_found",
                "no Signature-Input / Signature fields",
            );
        }
        let mut first_err: Option<Decision> = None;
        for entry in entries {
            let keyid = entry.params.keyid().map(str::to_string);
            // RFC 9421 §3.2 step 5: the key is determined from keyid; an unknown keyid cannot
            // be dereferenced to our key material.
            if let Some(k) = &keyid
                && !self.cfg.keyids.is_empty()
                && !self.cfg.keyids.contains(k)
            {
                first_err.get_or_insert(Decision::reject(
                    "unknown_key",
                    format!(
                        "keyid {} does not name a key this verifier knows",
                        http_sig::excerpt(k, 64)
                    ),
                ));
                continue;
            }
            let mut store = LockedNonces(&self.nonces);
            match self
                .verifier
                .verify_entry(msg, None, entry, now, Some(&mut store))
            {
                Ok(v) => {
                    return Decision::Accept {
                        verified: true,
                        label: v.label,
                        keyid,
                    };
                }
                Err(e) => {
                    first_err.get_or_insert(Decision::reject(e.kind(), e.to_string()));
                }
            }
        }
        first_err.unwrap_or_else(|| Decision::reject("signature_not_found", "no signature"))
    }
}

/// Check every `sha-256` / `sha-512` member of Content-Digest against the body (http-sig
/// [`http_sig::check_content_digest`]). Absent field: nothing to check. Present but with no
/// supported algorithm: rejected (nothing could be checked).
pub fn check_content_digest(msg: &HttpMessage) -> Result<(), Decision> {
    http_sig::check_content_digest(msg)
        .map(|_| ())
        .map_err(|e| Decision::reject(e.kind(), e.to_string()))
}

/// A running verifier service. Dropping it stops the server.
pub struct VerifierService {
    addr: SocketAddr,
    stats: Arc<ConnStats>,
    stop: Option<oneshot::Sender<()>>,
}

struct Shared {
    core: VerifierCore,
    scheme: String,
    print_decisions: bool,
    server: ServerLimits,
}

impl VerifierService {
    /// Start on `listen` (loopback only; port 0 picks a free port).
    pub async fn start(listen: SocketAddr, cfg: VerifierConfig) -> Result<Self, LiveError> {
        let scheme = cfg.scheme.clone();
        let print_decisions = cfg.print_decisions;
        let server = cfg.server;
        let core = VerifierCore::new(cfg)?;
        let listener = bind_loopback(listen).await?;
        let addr = listener.local_addr().map_err(|e| LiveError::Bind {
            addr: listen,
            source: e,
        })?;
        let shared = Arc::new(Shared {
            core,
            scheme,
            print_decisions,
            server,
        });
        let app = Router::new().fallback(handle).with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let stats = Arc::new(ConnStats::default());
        tokio::spawn(serve(listener, app, server, stats.clone(), stopped));
        Ok(VerifierService {
            addr,
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

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.stats.open.load(Ordering::Relaxed)
    }

    /// Connections closed so far to make room under `max_connections`.
    pub fn evicted_connections(&self) -> u64 {
        self.stats.evicted.load(Ordering::Relaxed)
    }
}

impl Drop for VerifierService {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let now = unix_now();
    let (parts, body) = req.into_parts();
    let (status, decision) = match read_body(&shared.server, body).await {
        Err((status, why)) => (status, Decision::reject("invalid_message", why)),
        Ok(b) => {
            let r = http::Request::from_parts(parts, b);
            let d = match HttpMessage::try_from(&r) {
                Err(e) => Decision::reject(e.kind(), e.to_string()),
                Ok(mut m) => {
                    if let MessageKind::Request(rl) = &mut m.kind {
                        rl.scheme = shared.scheme.clone();
                    }
                    shared.core.decide(&m, now)
                }
            };
            let status = match d {
                Decision::Accept { .. } => StatusCode::OK,
                Decision::Reject { .. } => StatusCode::UNAUTHORIZED,
            };
            (status, d)
        }
    };
    if shared.print_decisions {
        // One short line, control characters escaped (the message may quote the request).
        match &decision {
            Decision::Accept { label, .. } => {
                println!("accept ({})", http_sig::excerpt(label, 64))
            }
            Decision::Reject { error, message, .. } => {
                println!("reject {error}: {}", crate::one_line(message))
            }
        }
    }
    (status, axum::Json(decision)).into_response()
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::digest;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use http_sig::{ComponentId, SignatureParams, Signer};

    use super::*;

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
    const NOW: u64 = 1_700_000_000;

    fn key() -> Key {
        Key::from_bytes(SECRET.as_bytes()).unwrap()
    }

    fn core() -> VerifierCore {
        let mut cfg = VerifierConfig::new(key());
        cfg.keyids = vec!["k1".into()];
        cfg.policy.required_components = vec!["\"@method\"".into()];
        VerifierCore::new(cfg).unwrap()
    }

    /// A POST with a body and its Content-Digest, signed over `@method`, `@path` and the digest.
    fn signed(keyid: &str, nonce: Option<&str>) -> HttpMessage {
        let body = b"{\"q\":1}";
        let mut m = HttpMessage::request("POST", "/graphql", "http", Some("127.0.0.1:1"));
        m.body = body.to_vec();
        let d = digest::digest(&digest::SHA256, body);
        m.append_header(
            "content-digest",
            &format!("sha-256=:{}:", STANDARD.encode(d.as_ref())),
        );
        let comps = ["@method", "@path", "content-digest"]
            .iter()
            .map(|c| ComponentId::new(c).unwrap())
            .collect();
        let mut p = SignatureParams::new(comps);
        p.set_created(NOW as i64).unwrap();
        p.set_keyid(keyid).unwrap();
        if let Some(n) = nonce {
            p.set_nonce(n).unwrap();
        }
        Signer::new(key(), None)
            .unwrap()
            .sign_message(&mut m, None, "sig", &p)
            .unwrap();
        m
    }

    fn error_of(d: &Decision) -> &str {
        match d {
            Decision::Reject { error, .. } => error,
            Decision::Accept { .. } => "accepted",
        }
    }

    #[test]
    fn a_good_signature_is_accepted_with_its_label_and_keyid() {
        let d = core().decide(&signed("k1", None), NOW);
        assert_eq!(
            d,
            Decision::Accept {
                verified: true,
                label: "sig".into(),
                keyid: Some("k1".into())
            }
        );
    }

    #[test]
    fn rejections_name_their_kind() {
        let c = core();
        assert_eq!(
            error_of(&c.decide(&signed("other", None), NOW)),
            "unknown_key"
        );
        let mut tampered = signed("k1", None);
        tampered.body = b"{\"q\":2}".to_vec();
        assert_eq!(
            error_of(&c.decide(&tampered, NOW)),
            "content_digest_mismatch"
        );
        let unsigned = HttpMessage::request("GET", "/", "http", Some("127.0.0.1:1"));
        assert_eq!(error_of(&c.decide(&unsigned, NOW)), "signature_not_found");
        let once = signed("k1", Some("n-1"));
        assert_eq!(error_of(&c.decide(&once, NOW)), "accepted");
        assert_eq!(error_of(&c.decide(&once, NOW)), "nonce_replayed");
    }

    /// Issue 17: a JWK Set selects the key by keyid, and the policy knobs apply to the service.
    #[test]
    fn a_key_set_and_the_policy_knobs_apply_to_the_service() {
        let jwk = |kid: &str, extra: &str| {
            let k = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(STANDARD.decode(SECRET).unwrap());
            format!(r#"{{"kty":"oct","k":"{k}","kid":"{kid}"{extra}}}"#)
        };
        let set = KeySet::from_jwks(&format!(
            r#"{{"keys":[{},{}]}}"#,
            jwk("k1", ""),
            jwk("k2", r#","use":"enc""#)
        ))
        .unwrap();
        let mut cfg = VerifierConfig::new(key());
        cfg.key_set = Some(set);
        cfg.policy = VerificationPolicy::from_toml(
            "revoked_keyids = [\"k3\"]\nforbidden_components = [\"@query\"]",
        )
        .unwrap();
        let c = VerifierCore::new(cfg).unwrap();
        assert_eq!(error_of(&c.decide(&signed("k1", None), NOW)), "accepted");
        assert_eq!(
            error_of(&c.decide(&signed("k2", None), NOW)),
            "key_use_not_allowed"
        );
        assert_eq!(error_of(&c.decide(&signed("k3", None), NOW)), "key_revoked");
        assert_eq!(error_of(&c.decide(&signed("k9", None), NOW)), "unknown_key");
        let mut cfg = VerifierConfig::new(key());
        cfg.policy.max_validity = Some(60);
        let c = VerifierCore::new(cfg).unwrap();
        assert_eq!(
            error_of(&c.decide(&signed("k1", None), NOW)),
            "missing_parameter"
        );
    }

    #[test]
    fn content_digest_checks() {
        let mut m = HttpMessage::request("POST", "/", "http", Some("127.0.0.1:1"));
        m.body = b"x".to_vec();
        assert!(check_content_digest(&m).is_ok(), "absent: nothing to check");
        m.set_header("content-digest", "md5=:AAAA:");
        assert_eq!(
            error_of(&check_content_digest(&m).unwrap_err()),
            "content_digest_unsupported"
        );
        m.set_header("content-digest", "sha-256=3");
        assert_eq!(
            error_of(&check_content_digest(&m).unwrap_err()),
            "content_digest_invalid"
        );
        m.set_header("content-digest", "sha-256=:LS0=");
        assert_eq!(
            error_of(&check_content_digest(&m).unwrap_err()),
            "content_digest_invalid"
        );
    }

    #[test]
    fn a_bad_configuration_is_refused() {
        let mut cfg = VerifierConfig::new(key());
        cfg.alg = Some(Algorithm::Ed25519);
        assert!(matches!(VerifierCore::new(cfg), Err(LiveError::HttpSig(_))));
    }
}
