//! Suite `http-sig-verifier`: judge a service that verifies RFC 9421 signatures, over HTTP, from
//! its accept / reject decisions (status codes; `--set accept=2xx --set reject=401,403` default).
//!
//! Targets:
//! - `ours` (default): [`crate::http_sig_live::verifier::VerifierService`] started in-process with
//!   the public part of vector key `test-key-ed25519` (keyid `test-key-ed25519`), scheme `https`,
//!   policy `required_components = ["@method"]`.
//! - `external`: `--verifier-url URL` (loopback). Settings: `signing_key=FILE` (private key whose
//!   public part the verifier holds; required), `keyid=ID` (sent in signatures), `scheme=http|https`
//!   (what the verifier believes it is reached over, default http), `required_components='"@method" ...'`
//!   (what its policy requires, enables the missing-component case), `vector_key=ID` (the
//!   verifier is configured with that vector key: replay the vectors), `accept=`, `reject=`.
//!
//! Cases: `live/*` (signed now by the suite: valid, expired, future, replayed nonce, wrong key,
//! alg mismatch, missing covered component, tampered body with Content-Digest, tampered header,
//! tampered signature, unsigned) and `vectors/<file>/tc<N>` (the verify vectors of the vector
//! key, sent as they are; vectors that cannot be replayed against a live verifier are skipped
//! with the reason: per-vector policy, time-dependent parameters, fixed nonces, obs-fold, ...).

use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use http_sig::{
    Algorithm, ComponentId, HttpMessage, Key, ParseOptions, SignatureParams, Signer,
    VerificationPolicy, parse_signature_input,
};
use sigharness_report::{CaseMeta, Evidence};
use sigharness_vectors::{Scheme, TestResult, VectorSet, VerifyTest};

use crate::http_sig_live::client::{loopback_client, send_message};
use crate::http_sig_live::unix_now;
use crate::http_sig_live::verifier::{VerifierConfig, VerifierService};
use crate::runner::{
    BoxFuture, Case, Error, Event, Events, Level, Outcome, Selection, SpecRef, Suite, SuiteOptions,
    meta, run_cases,
};

const SUITE: &str = "http-sig-verifier";
const DEFAULT_VECTOR_KEY: &str = "test-key-ed25519";

/// How status codes map to decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusMapping {
    accept: Vec<(u16, u16)>,
    reject: Vec<(u16, u16)>,
}

/// What the verifier decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Accepted,
    Rejected,
    /// A status in neither list.
    Unclear,
}

impl StatusMapping {
    /// Parse `2xx`, `200`, `401,403` lists.
    pub fn parse(accept: &str, reject: &str) -> Result<Self, Error> {
        fn list(s: &str, what: &str) -> Result<Vec<(u16, u16)>, Error> {
            let mut out = Vec::new();
            for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let bad = || {
                    Error::setup(format!(
                        "--set {what}={s:?}: {p:?} is not a status (200) or class (2xx)"
                    ))
                };
                if let Some(c) = p.strip_suffix("xx") {
                    let d: u16 = c.parse().map_err(|_| bad())?;
                    if !(1..=5).contains(&d) {
                        return Err(bad());
                    }
                    out.push((d * 100, d * 100 + 99));
                } else {
                    let n: u16 = p.parse().map_err(|_| bad())?;
                    if !(100..=599).contains(&n) {
                        return Err(bad());
                    }
                    out.push((n, n));
                }
            }
            if out.is_empty() {
                return Err(Error::setup(format!("--set {what}= is empty")));
            }
            Ok(out)
        }
        Ok(StatusMapping {
            accept: list(accept, "accept")?,
            reject: list(reject, "reject")?,
        })
    }

    /// Classify a status.
    pub fn decide(&self, status: u16) -> Decision {
        let within = |l: &[(u16, u16)]| l.iter().any(|(a, b)| (*a..=*b).contains(&status));
        if within(&self.accept) {
            Decision::Accepted
        } else if within(&self.reject) {
            Decision::Rejected
        } else {
            Decision::Unclear
        }
    }
}

/// The prepared target.
pub struct Ctx {
    client: reqwest::Client,
    url: String,
    authority: String,
    scheme: String,
    mapping: StatusMapping,
    signer: Signer,
    keyid: String,
    required: Vec<ComponentId>,
    /// Vectors to replay, when the verifier holds the vector key.
    vectors: Option<VectorSet>,
    _service: Option<VerifierService>,
}

impl Ctx {
    async fn send(&self, msg: &HttpMessage) -> Result<(u16, Decision), String> {
        let status = send_message(&self.client, &self.url, msg)
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, self.mapping.decide(status)))
    }

    /// A request to the verifier signed now: `@method @authority @path` + required components +
    /// `content-digest` when there is a body; created, keyid, alg, a fresh nonce.
    fn fresh(
        &self,
        method: &str,
        target: &str,
        body: Option<&str>,
        now: u64,
    ) -> Result<(HttpMessage, SignatureParams), String> {
        let mut m = HttpMessage::request(method, target, &self.scheme, Some(&self.authority));
        m.append_header("content-type", "application/json");
        m.append_header("x-request-id", &random_token(8));
        let mut comps: Vec<ComponentId> = ["@method", "@authority", "@path", "content-type"]
            .iter()
            .map(|c| ComponentId::new(c).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        if let Some(b) = body {
            m.body = b.as_bytes().to_vec();
            m.append_header("content-digest", &content_digest(b.as_bytes()));
            comps.push(ComponentId::new("content-digest").map_err(|e| e.to_string())?);
        }
        for r in &self.required {
            if !comps.contains(r) {
                comps.push(r.clone());
            }
        }
        let mut p = SignatureParams::new(comps);
        p.set_created(now as i64).map_err(|e| e.to_string())?;
        p.set_keyid(&self.keyid).map_err(|e| e.to_string())?;
        p.set_alg(self.signer.algorithm().name())
            .map_err(|e| e.to_string())?;
        p.set_nonce(&random_token(16)).map_err(|e| e.to_string())?;
        Ok((m, p))
    }

    fn sign(&self, m: &mut HttpMessage, p: &SignatureParams) -> Result<(), String> {
        self.signer
            .sign_message(m, None, "sig", p)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    // aws-lc-rs's system RNG; a failure leaves zeros, which only weakens uniqueness of test data.
    let _ = aws_lc_rs::rand::fill(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// `sha-256=:...:` (RFC 9530 §2).
pub fn content_digest(body: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, body);
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(d.as_ref())
    )
}

// ---- live cases -------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Live {
    ValidAccepted,
    BodyWithDigestAccepted,
    Unsigned,
    Expired,
    CreatedInFuture,
    NonceReplayed,
    WrongKey,
    AlgMismatch,
    MissingRequiredComponent,
    TamperedBody,
    TamperedHeader,
    TamperedSignature,
}

impl Live {
    const ALL: [Live; 12] = [
        Live::ValidAccepted,
        Live::BodyWithDigestAccepted,
        Live::Unsigned,
        Live::Expired,
        Live::CreatedInFuture,
        Live::NonceReplayed,
        Live::WrongKey,
        Live::AlgMismatch,
        Live::MissingRequiredComponent,
        Live::TamperedBody,
        Live::TamperedHeader,
        Live::TamperedSignature,
    ];

    fn meta(self) -> CaseMeta {
        let (slug, sec, desc, req) = match self {
            Live::ValidAccepted => (
                "valid-accepted",
                "3.2",
                "a request signed now with the verifier's key, covering what its policy requires",
                "is accepted",
            ),
            Live::BodyWithDigestAccepted => (
                "body-with-content-digest-accepted",
                "7.2.8",
                "a POST with a correct Content-Digest covered by the signature",
                "is accepted",
            ),
            Live::Unsigned => (
                "unsigned-rejected",
                "3.2",
                "a request without Signature-Input / Signature",
                "is rejected",
            ),
            Live::Expired => (
                "expired-rejected",
                "3.2.1",
                "a signature whose expires is 60 s in the past",
                "is rejected (signature past its expiration time)",
            ),
            Live::CreatedInFuture => (
                "created-in-future-rejected",
                "3.2.1",
                "a signature created one hour in the future",
                "is rejected (a creation time in the future is not genuine)",
            ),
            Live::NonceReplayed => (
                "nonce-replay-rejected",
                "7.2.2",
                "the same signed request (same nonce) sent twice",
                "the first is accepted, the replay is rejected",
            ),
            Live::WrongKey => (
                "wrong-key-rejected",
                "3.2",
                "a request signed with another key of the same type, same keyid",
                "is rejected",
            ),
            Live::AlgMismatch => (
                "alg-mismatch-rejected",
                "3.2 step 6",
                "a signature whose alg parameter names another algorithm than the key's",
                "is rejected",
            ),
            Live::MissingRequiredComponent => (
                "missing-required-component-rejected",
                "3.2.1",
                "a valid signature that does not cover a component the verifier's policy requires",
                "is rejected",
            ),
            Live::TamperedBody => (
                "tampered-body-rejected",
                "7.2.8",
                "a signed POST covering Content-Digest whose body is changed in transit",
                "is rejected (the digest no longer matches the body)",
            ),
            Live::TamperedHeader => (
                "tampered-covered-header-rejected",
                "3.2 step 8",
                "a signed request whose covered content-type is changed after signing",
                "is rejected",
            ),
            Live::TamperedSignature => (
                "tampered-signature-rejected",
                "3.2 step 8",
                "a signed request with one bit of the signature flipped",
                "is rejected",
            ),
        };
        meta(
            SUITE,
            format!("{SUITE}/live/{slug}"),
            SpecRef::new("RFC 9421", sec),
            Level::Must,
            desc,
            req,
        )
    }
}

fn verdict(
    want: Decision,
    got: Result<(u16, Decision), String>,
    what: &str,
    msg: &HttpMessage,
) -> Outcome {
    let sent = String::from_utf8_lossy(&msg.to_bytes()).into_owned();
    let want_s = match want {
        Decision::Accepted => "accepted (accept status)",
        _ => "rejected (reject status)",
    };
    match got {
        Err(e) => Outcome::fail(
            Evidence::new(format!("{what}: the verifier could not be reached"))
                .expected(want_s)
                .observed(e),
        ),
        Ok((status, d)) if d == want => {
            Outcome::pass_with(Evidence::new(format!("{what}: HTTP {status}")))
        }
        Ok((status, d)) => Outcome::fail(
            Evidence::new(format!("{what}: wrong decision"))
                .expected(want_s)
                .observed(format!("HTTP {status} ({d:?})"))
                .log_line(format!("request sent:\n{sent}")),
        ),
    }
}

async fn run_live(kind: Live, ctx: Arc<Ctx>) -> Outcome {
    match run_live_inner(kind, &ctx).await {
        Ok(o) => o,
        Err(e) => Outcome::fail(Evidence::new(format!(
            "the case could not build its request: {e}"
        ))),
    }
}

async fn run_live_inner(kind: Live, ctx: &Ctx) -> Result<Outcome, String> {
    let now = unix_now();
    Ok(match kind {
        Live::ValidAccepted => {
            let (mut m, p) = ctx.fresh("GET", "/resource?id=1", None, now)?;
            ctx.sign(&mut m, &p)?;
            verdict(Decision::Accepted, ctx.send(&m).await, "valid request", &m)
        }
        Live::BodyWithDigestAccepted => {
            let (mut m, p) = ctx.fresh(
                "POST",
                "/graphql",
                Some(r#"{"query":"{ me { id } }"}"#),
                now,
            )?;
            ctx.sign(&mut m, &p)?;
            verdict(
                Decision::Accepted,
                ctx.send(&m).await,
                "POST with Content-Digest",
                &m,
            )
        }
        Live::Unsigned => {
            let (m, _) = ctx.fresh("GET", "/resource", None, now)?;
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                "unsigned request",
                &m,
            )
        }
        Live::Expired => {
            let (mut m, mut p) = ctx.fresh("GET", "/resource", None, now)?;
            p.set_created(now as i64 - 120).map_err(|e| e.to_string())?;
            p.set_expires(now as i64 - 60).map_err(|e| e.to_string())?;
            ctx.sign(&mut m, &p)?;
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                "expired signature",
                &m,
            )
        }
        Live::CreatedInFuture => {
            let (mut m, mut p) = ctx.fresh("GET", "/resource", None, now)?;
            p.set_created(now as i64 + 3600)
                .map_err(|e| e.to_string())?;
            ctx.sign(&mut m, &p)?;
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                "created in the future",
                &m,
            )
        }
        Live::NonceReplayed => {
            let (mut m, p) = ctx.fresh("GET", "/resource?replay=1", None, now)?;
            ctx.sign(&mut m, &p)?;
            let first = verdict(
                Decision::Accepted,
                ctx.send(&m).await,
                "first use of the nonce",
                &m,
            );
            if first.verdict() != sigharness_report::Verdict::Pass {
                return Ok(first);
            }
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                "replay (same nonce)",
                &m,
            )
        }
        Live::WrongKey => {
            let (mut m, p) = ctx.fresh("GET", "/resource", None, now)?;
            let other = other_key(ctx.signer.algorithm())?;
            other
                .sign_message(&mut m, None, "sig", &p)
                .map_err(|e| e.to_string())?;
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                "signed with another key",
                &m,
            )
        }
        Live::AlgMismatch => {
            let (mut m, mut p) = ctx.fresh("GET", "/resource", None, now)?;
            let other = if ctx.signer.algorithm() == Algorithm::Ed25519 {
                "ecdsa-p256-sha256"
            } else {
                "ed25519"
            };
            p.set_alg(other).map_err(|e| e.to_string())?;
            // Sign the base with the real key/algorithm; only the alg parameter lies.
            let base = http_sig::signature_base(&m, None, &p).map_err(|e| e.to_string())?;
            let sig = ctx.signer.sign_base(&base).map_err(|e| e.to_string())?;
            http_sig::add_signature(&mut m, "sig", &p, &sig, http_sig::OnCollision::Error)
                .map_err(|e| e.to_string())?;
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                &format!("alg={other}"),
                &m,
            )
        }
        Live::MissingRequiredComponent => {
            let Some(req) = ctx.required.first() else {
                return Ok(Outcome::skip(
                    "the verifier's required components are unknown: --set required_components='\"@method\" ...'",
                ));
            };
            let (mut m, mut p) = ctx.fresh("GET", "/resource", None, now)?;
            p.components.retain(|c| c != req);
            ctx.sign(&mut m, &p)?;
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                &format!("{} not covered", req.serialize()),
                &m,
            )
        }
        Live::TamperedBody => {
            let (mut m, p) = ctx.fresh(
                "POST",
                "/graphql",
                Some(r#"{"query":"{ me { id } }"}"#),
                now,
            )?;
            ctx.sign(&mut m, &p)?;
            m.body = br#"{"query":"{ admin { secrets } }"}"#.to_vec();
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                "body changed after signing",
                &m,
            )
        }
        Live::TamperedHeader => {
            let (mut m, p) = ctx.fresh("GET", "/resource", None, now)?;
            ctx.sign(&mut m, &p)?;
            m.set_header("content-type", "text/html");
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                "covered header changed",
                &m,
            )
        }
        Live::TamperedSignature => {
            let (mut m, p) = ctx.fresh("GET", "/resource", None, now)?;
            let mut sig = ctx.signer.sign(&m, None, &p).map_err(|e| e.to_string())?;
            if let Some(b) = sig.first_mut() {
                *b ^= 0x01;
            }
            http_sig::add_signature(&mut m, "sig", &p, &sig, http_sig::OnCollision::Error)
                .map_err(|e| e.to_string())?;
            verdict(
                Decision::Rejected,
                ctx.send(&m).await,
                "signature bit flipped",
                &m,
            )
        }
    })
}

/// A freshly generated key of the same type (Ed25519 / HMAC; others fall back to Ed25519 with
/// the right alg name failing earlier).
fn other_key(alg: Algorithm) -> Result<Signer, String> {
    let key = match alg {
        Algorithm::HmacSha256 => {
            Key::hmac(random_token(32).as_bytes()).map_err(|e| e.to_string())?
        }
        _ => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
            Key::from_pkcs8(doc.as_ref()).map_err(|e| e.to_string())?
        }
    };
    let alg = if key.check_algorithm(alg).is_ok() {
        alg
    } else {
        key.default_algorithm()
    };
    Signer::new(key, Some(alg)).map_err(|e| e.to_string())
}

// ---- vector replay ---------------------------------------------------------------------------

fn vector_meta(file: &str, t: &VerifyTest, rule: &str, spec: &str) -> CaseMeta {
    let stem = file.trim_end_matches(".json").trim_end_matches("_test");
    let (level, req) = match t.result {
        TestResult::Valid => (Level::Must, "accepted".to_string()),
        TestResult::Invalid => (
            Level::Must,
            format!(
                "rejected ({})",
                t.error_kind.map(|k| k.as_str()).unwrap_or("invalid")
            ),
        ),
        TestResult::Acceptable => (Level::May, "either decision (policy-dependent)".into()),
    };
    let (doc, sec) = spec.split_once('§').unwrap_or((spec, ""));
    meta(
        SUITE,
        format!("{SUITE}/vectors/{stem}/tc{}", t.tc_id),
        SpecRef::new(doc.trim(), sec.trim()),
        level,
        format!("[{rule}] {}", t.comment),
        req,
    )
}

fn scheme_str(s: Scheme) -> &'static str {
    match s {
        Scheme::Http => "http",
        Scheme::Https => "https",
    }
}

/// Why a vector cannot be judged against a live verifier (None = it can).
fn not_replayable(t: &VerifyTest, scheme: &str, required: &[ComponentId]) -> Option<String> {
    let p = &t.policy;
    if p.max_age.is_some()
        || p.clock_skew.is_some()
        || !p.required_components.is_empty()
        || !p.required_parameters.is_empty()
        || !p.seen_nonces.is_empty()
        || p.required_tag.is_some()
    {
        return Some("the vector has its own policy, which cannot be set on a live verifier (the live/* cases cover policy)".into());
    }
    if t.request.is_some() {
        return Some("a response vector; the verifier judges requests".into());
    }
    let raw = t.message.replace("\r\n", "\n");
    let (head, _) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    if head
        .lines()
        .skip(1)
        .any(|l| l.starts_with(' ') || l.starts_with('\t'))
    {
        return Some("obs-fold cannot be sent by an HTTP/1.1 client (RFC 9112 §5.2)".into());
    }
    let msg = match HttpMessage::parse_with(
        t.message.as_bytes(),
        ParseOptions {
            scheme: scheme_str(t.scheme).into(),
        },
    ) {
        Ok(m) => m,
        Err(e) => return Some(format!("the message does not parse here: {e}")),
    };
    if msg.has_header("transfer-encoding") {
        return Some("chunked framing with trailers is not replayed".into());
    }
    let Some(rl) = msg.request_line() else {
        return Some("not a request".into());
    };
    if !rl.target.starts_with('/') {
        return Some("non origin-form request target".into());
    }
    for (n, v) in &msg.headers {
        if http::HeaderName::from_bytes(n.as_bytes()).is_err()
            || http::HeaderValue::from_bytes(v.as_bytes()).is_err()
        {
            return Some(format!("header {n} cannot be sent as is"));
        }
    }
    let joined = msg
        .header_values("signature-input")
        .collect::<Vec<_>>()
        .join(", ");
    let inputs: Vec<(String, SignatureParams)> = parse_signature_input(&joined).unwrap_or_default();
    let labels: Vec<&str> = inputs.iter().map(|(l, _)| l.as_str()).collect();
    // An unparseable Signature-Input (no labels) must be rejected whatever label is asked for.
    if t.result != TestResult::Valid && !labels.is_empty() && labels != [t.label.as_str()] {
        return Some(format!(
            "the vector asks for label {:?} among {labels:?}; a live verifier chooses its own signature",
            t.label
        ));
    }
    if let Some((_, params)) = inputs.iter().find(|(l, _)| *l == t.label) {
        if params.expires().is_some() || params.created().is_some_and(|c| c > p.now) {
            return Some("time-dependent (expires, or created after the vector's now): judged against the verifier's clock by the live/* cases".into());
        }
        if params.nonce().is_some() {
            return Some("a fixed nonce would be a replay the second time the suite runs".into());
        }
        if scheme_str(t.scheme) != scheme
            && params
                .components
                .iter()
                .any(|c| c.name() == "@scheme" || c.name() == "@target-uri")
        {
            return Some(format!(
                "covers the scheme ({}) but the verifier is reached as {scheme}",
                scheme_str(t.scheme)
            ));
        }
        if let Some(r) = required.iter().find(|r| !params.components.contains(r)) {
            return Some(format!(
                "does not cover {} which the verifier's policy requires",
                r.serialize()
            ));
        }
    }
    None
}

async fn run_vector(ctx: Arc<Ctx>, file: String, group_key: String, tc: u64) -> Outcome {
    let Some(set) = &ctx.vectors else {
        return Outcome::skip(format!(
            "vector replay needs a verifier holding vector key {group_key}: configure it and --set vector_key={group_key}"
        ));
    };
    let Some(t) = set
        .verify_tests()
        .find(|(f, g, t)| f.name == file && g.key_id == group_key && t.tc_id == tc)
        .map(|(_, _, t)| t.clone())
    else {
        return Outcome::skip(format!("vector {file} tc{tc} not found"));
    };
    if let Some(why) = not_replayable(&t, &ctx.scheme, &ctx.required) {
        return Outcome::skip(why);
    }
    let msg = match HttpMessage::parse_with(
        t.message.as_bytes(),
        ParseOptions {
            scheme: scheme_str(t.scheme).into(),
        },
    ) {
        Ok(m) => m,
        Err(e) => return Outcome::skip(format!("the message does not parse here: {e}")),
    };
    let got = ctx.send(&msg).await;
    match t.result {
        TestResult::Valid => verdict(Decision::Accepted, got, "valid vector", &msg),
        TestResult::Invalid => verdict(Decision::Rejected, got, "invalid vector", &msg),
        TestResult::Acceptable => match got {
            Ok((s, d)) => Outcome::pass_with(Evidence::new(format!(
                "acceptable vector: HTTP {s} ({d:?}); either decision conforms"
            ))),
            Err(e) => Outcome::fail(Evidence::new("the verifier could not be reached").observed(e)),
        },
    }
}

// ---- suite -----------------------------------------------------------------------------------

/// The suite.
#[derive(Default)]
pub struct HttpSigVerifierSuite;

fn vector_key_for(opts: &SuiteOptions) -> String {
    opts.settings
        .get("vector_key")
        .cloned()
        .unwrap_or_else(|| DEFAULT_VECTOR_KEY.into())
}

fn all_cases(opts: &SuiteOptions) -> Result<Vec<Case<Ctx>>, Error> {
    let mut v: Vec<Case<Ctx>> = Live::ALL
        .iter()
        .map(|k| {
            let k = *k;
            Case::new(k.meta(), move |ctx| run_live(k, ctx))
        })
        .collect();
    let set = VectorSet::builtin().map_err(|e| Error::setup(format!("vectors: {e}")))?;
    let key = vector_key_for(opts);
    for (f, g, t) in set.verify_tests() {
        if g.key_id != key {
            continue;
        }
        let m = vector_meta(&f.name, t, &g.rule, &g.spec_ref);
        let (file, gk, tc) = (f.name.clone(), g.key_id.clone(), t.tc_id);
        v.push(Case::new(m, move |ctx| {
            run_vector(ctx, file.clone(), gk.clone(), tc)
        }));
    }
    Ok(v)
}

fn required_from(s: &str) -> Result<Vec<ComponentId>, Error> {
    ComponentId::parse_list(s)
        .map_err(|e| Error::setup(format!("--set required_components={s:?}: {e}")))
}

async fn prepare(opts: &SuiteOptions) -> Result<(String, Ctx), Error> {
    let accept = opts
        .settings
        .get("accept")
        .map(String::as_str)
        .unwrap_or("2xx");
    let reject = opts
        .settings
        .get("reject")
        .map(String::as_str)
        .unwrap_or("401,403");
    let mapping = StatusMapping::parse(accept, reject)?;
    let client = loopback_client().map_err(|e| Error::setup(e.to_string()))?;
    let vkey = vector_key_for(opts);
    let set = VectorSet::builtin().map_err(|e| Error::setup(format!("vectors: {e}")))?;
    let key_of = |private: bool| -> Result<Key, Error> {
        let (_, bytes) = set
            .key_file(&vkey, private)
            .map_err(|e| Error::setup(format!("vector key {vkey}: {e}")))?;
        Key::from_bytes(bytes).map_err(|e| Error::setup(format!("vector key {vkey}: {e}")))
    };
    match &opts.verifier_url {
        None => {
            let required = required_from("\"@method\"")?;
            let mut cfg = VerifierConfig::new(key_of(false)?);
            cfg.keyids = vec![vkey.clone()];
            cfg.scheme = "https".into();
            cfg.policy = VerificationPolicy {
                required_components: vec!["\"@method\"".into()],
                ..VerificationPolicy::default()
            };
            let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
                .await
                .map_err(|e| Error::setup(e.to_string()))?;
            let signer = Signer::new(key_of(true)?, None)
                .map_err(|e| Error::setup(format!("vector key {vkey}: {e}")))?;
            Ok((
                "ours".into(),
                Ctx {
                    client,
                    url: svc.url(),
                    authority: svc.addr().to_string(),
                    scheme: "https".into(),
                    mapping,
                    signer,
                    keyid: vkey.clone(),
                    required,
                    vectors: Some(set),
                    _service: Some(svc),
                },
            ))
        }
        Some(url) => {
            let url = url.trim_end_matches('/').to_string();
            let authority = url
                .strip_prefix("http://")
                .ok_or_else(|| {
                    Error::setup(format!(
                        "--verifier-url {url}: only http:// URLs on loopback"
                    ))
                })?
                .to_string();
            let host = authority
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(&authority);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(Error::setup(format!(
                    "--verifier-url {url}: only loopback addresses (127.0.0.1, ::1) are allowed"
                )));
            }
            let key_path = opts.settings.get("signing_key").ok_or_else(|| {
                Error::setup(
                    "an external verifier needs --set signing_key=FILE (the private key whose public part the verifier holds)",
                )
            })?;
            let key = Key::from_file(key_path)
                .map_err(|e| Error::setup(format!("--set signing_key={key_path}: {e}")))?;
            let alg = match opts.settings.get("alg") {
                Some(a) => Some(
                    a.parse::<Algorithm>()
                        .map_err(|e| Error::setup(format!("--set alg={a}: {e}")))?,
                ),
                None => None,
            };
            let signer = Signer::new(key, alg)
                .map_err(|e| Error::setup(format!("--set signing_key={key_path}: {e}")))?;
            let keyid = opts
                .settings
                .get("keyid")
                .cloned()
                .unwrap_or_else(|| signer.keyid().to_string());
            let required = match opts.settings.get("required_components") {
                Some(s) => required_from(s)?,
                None => Vec::new(),
            };
            let vectors = opts.settings.get("vector_key").map(|_| set);
            Ok((
                "external".into(),
                Ctx {
                    client,
                    url,
                    authority,
                    scheme: opts
                        .settings
                        .get("scheme")
                        .cloned()
                        .unwrap_or_else(|| "http".into()),
                    mapping,
                    signer,
                    keyid,
                    required,
                    vectors,
                    _service: None,
                },
            ))
        }
    }
}

impl Suite for HttpSigVerifierSuite {
    fn name(&self) -> &'static str {
        SUITE
    }

    fn about(&self) -> &'static str {
        "RFC 9421 verifier under test, judged over HTTP from its accept/reject status codes"
    }

    fn targets(&self) -> Vec<&'static str> {
        vec!["ours", "external"]
    }

    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>, Error> {
        Ok(all_cases(opts)?.into_iter().map(|c| c.meta).collect())
    }

    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            if let Some(t) = &opts.target {
                opts.target_or(&["ours", "external"])?;
                if t == "external" && opts.verifier_url.is_none() {
                    return Err(Error::setup("--target external needs --verifier-url URL"));
                }
            }
            let cases = all_cases(opts)?;
            let (target, ctx) = prepare(opts).await?;
            let n = cases
                .iter()
                .filter(|c| selection.includes(&c.meta.id))
                .count();
            events.send(Event::SuiteStarted {
                suite: SUITE.into(),
                target,
                cases: n,
            });
            run_cases(Arc::new(ctx), &cases, selection, events, opts.case_timeout).await;
            events.send(Event::SuiteFinished {
                suite: SUITE.into(),
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        let m = StatusMapping::parse("2xx", "401,403").unwrap();
        assert_eq!(m.decide(200), Decision::Accepted);
        assert_eq!(m.decide(204), Decision::Accepted);
        assert_eq!(m.decide(401), Decision::Rejected);
        assert_eq!(m.decide(500), Decision::Unclear);
        assert!(StatusMapping::parse("2x", "401").is_err());
        assert!(StatusMapping::parse("", "401").is_err());
        assert!(StatusMapping::parse("200", "999").is_err());
    }

    #[test]
    fn case_ids_are_unique_and_prefixed() {
        let metas: Vec<CaseMeta> = all_cases(&SuiteOptions::default())
            .unwrap()
            .into_iter()
            .map(|c| c.meta)
            .collect();
        crate::runner::check_ids(&metas).unwrap();
        assert!(metas.len() > Live::ALL.len() + 20, "{}", metas.len());
    }
}
