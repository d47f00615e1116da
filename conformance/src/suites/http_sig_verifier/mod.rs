//! Suite `http-sig-verifier`: judge a service that verifies RFC 9421 signatures, over HTTP, from
//! its accept / reject decisions (status codes; `--set accept=2xx --set reject=401,403` default).
//!
//! Targets:
//! - `ours` (default): [`mock_http_sig_peers::VerifierService`] started in-process with the public
//!   part of vector key `test-key-ed25519` (keyid `test-key-ed25519`), scheme `https`, policy
//!   `required_components = ["@method"]`.
//! - `external`: `--verifier-url URL` (loopback). `--set` keys: [`SETTINGS`] (`--help-settings`);
//!   `signing_key=FILE` (the private key whose public part the verifier holds) is required.
//!
//! The keys and vectors come from `--vectors DIR` when given, else the built-in set.
//!
//! Cases:
//! - `live/*`: one row of [`LIVE`] each: a request the suite builds and signs now (valid,
//!   expired, future, replayed nonce, wrong key, alg mismatch, missing covered component,
//!   tampered body with Content-Digest, tampered header, tampered signature, unsigned) and the
//!   decision the verifier must make ([`Expect`]), from which the requirement text is derived.
//!   A new live case is one row.
//! - `vectors/<file>/tc<N>`: the verify vectors of the vector key, sent as they are (the
//!   requirement derived from the vector's result); vectors that cannot be replayed against a
//!   live verifier are skipped with the reason (per-vector policy, time-dependent parameters,
//!   fixed nonces, obs-fold, ...). A new vector is a JSON entry in `vectors/data`.

use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use http_sig::{
    Algorithm, ComponentId, HttpMessage, Key, ParseOptions, SignatureParams, Signer,
    VerificationPolicy, parse_signature_input,
};
use mock_http_sig_peers::{VerifierConfig, VerifierService};
use sigharness_report::{CaseMeta, Evidence};
use sigharness_vectors::{Scheme, TestResult, VectorSet, VerifyTest};

pub(crate) mod web_bot_auth;

use crate::Result;
use crate::http_sig_live::client::{loopback_client, send_message};
use crate::http_sig_live::{load_vectors, unix_now};
use crate::runner::check::{Check, Stop, pass, skip};
use crate::runner::{
    BoxFuture, Case, Error, Events, Kind, Level, Selection, Setting, SpecRef, Suite, SuiteOptions,
    SuiteRun, meta,
};

const SUITE: &str = "http-sig-verifier";
const DEFAULT_VECTOR_KEY: &str = "test-key-ed25519";

/// The names `--set alg=` takes (http-sig's `Algorithm::ALL`, checked by a test).
const ALGORITHMS: &[&str] = &[
    "hmac-sha256",
    "ed25519",
    "ecdsa-p256-sha256",
    "ecdsa-p384-sha384",
    "rsa-pss-sha512",
    "rsa-v1_5-sha256",
];

/// The `--set` keys of this suite.
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        "signing_key",
        Kind::File,
        "external verifier: the private key whose public part the verifier holds (required with --verifier-url)",
    ),
    Setting::new(
        "alg",
        Kind::OneOf(ALGORITHMS),
        "external verifier: the algorithm to sign with (default: the key's)",
    ),
    Setting::new(
        "keyid",
        Kind::Text,
        "external verifier: the keyid to send (default: the key's JWK kid, else base64(sha256(public key)))",
    ),
    Setting::new(
        "scheme",
        Kind::OneOf(&["http", "https"]),
        "external verifier: the scheme it believes it is reached over (default http)",
    ),
    Setting::new(
        "required_components",
        Kind::Text,
        "external verifier: the components its policy requires, e.g. '\"@method\" content-type' (enables live/missing-required-component-rejected)",
    ),
    Setting::new(
        "vector_key",
        Kind::Text,
        "the vector key the verifier holds: replay that key's verify vectors (ours: default test-key-ed25519; external: no replay unless set)",
    ),
    Setting::new(
        "signature_agent",
        Kind::Text,
        "--profile web-bot-auth: the Signature-Agent member value the bot sends (default https://bot.example; never resolved by the suite)",
    ),
    Setting::new(
        "accept",
        Kind::Statuses,
        "statuses that mean accepted (default 2xx)",
    ),
    Setting::new(
        "reject",
        Kind::Statuses,
        "statuses that mean rejected (default 401,403)",
    ),
];

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
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    authority: String,
    scheme: String,
    pub(crate) mapping: StatusMapping,
    signer: Signer,
    keyid: String,
    required: Vec<ComponentId>,
    /// Whether the verifier holds the vector key (the vector cases run).
    replay_vectors: bool,
    _service: Option<VerifierService>,
}

/// A value a case builds on its way to the request it sends, or why it stopped.
pub(crate) type Built<T> = std::result::Result<T, Stop>;

/// A step that failed while the case built its request (a bug of the case, not a verdict on the
/// verifier).
fn cannot_build(e: impl std::fmt::Display) -> Stop {
    Stop::Fail(Evidence::new(format!(
        "the case could not build its request: {e}"
    )))
}

impl Ctx {
    async fn send(&self, msg: &HttpMessage) -> Result<(u16, Decision)> {
        let status = send_message(&self.client, &self.url, msg).await?;
        Ok((status, self.mapping.decide(status)))
    }

    /// Send `msg` (named `what` in the evidence) and check the verifier decided `want`.
    async fn expect(&self, want: Decision, msg: &HttpMessage, what: &str) -> Check {
        expect_decision(&self.client, &self.url, &self.mapping, want, msg, what).await
    }

    /// A request to the verifier signed now: `@method @authority @path` + required components +
    /// `content-digest` when there is a body; created, keyid, alg, a fresh nonce.
    fn fresh(
        &self,
        method: &str,
        target: &str,
        body: Option<&str>,
        now: u64,
    ) -> Built<(HttpMessage, SignatureParams)> {
        let mut m = HttpMessage::request(method, target, &self.scheme, Some(&self.authority));
        m.append_header("content-type", "application/json");
        m.append_header("x-request-id", &random_token(8));
        let mut comps: Vec<ComponentId> = ["@method", "@authority", "@path", "content-type"]
            .iter()
            .map(|c| ComponentId::new(c).map_err(cannot_build))
            .collect::<Built<_>>()?;
        if let Some(b) = body {
            m.body = b.as_bytes().to_vec();
            m.append_header("content-digest", &content_digest(b.as_bytes()));
            comps.push(ComponentId::new("content-digest").map_err(cannot_build)?);
        }
        for r in &self.required {
            if !comps.contains(r) {
                comps.push(r.clone());
            }
        }
        let mut p = SignatureParams::new(comps);
        p.set_created(now as i64).map_err(cannot_build)?;
        p.set_keyid(&self.keyid).map_err(cannot_build)?;
        p.set_alg(self.signer.algorithm().name())
            .map_err(cannot_build)?;
        p.set_nonce(&random_token(16)).map_err(cannot_build)?;
        Ok((m, p))
    }

    /// Sign `m` with the verifier's key under label `sig`.
    fn sign(&self, m: &mut HttpMessage, p: &SignatureParams) -> Built<()> {
        self.signer
            .sign_message(m, None, "sig", p)
            .map(|_| ())
            .map_err(cannot_build)
    }

    /// [`Ctx::fresh`], signed.
    fn signed(
        &self,
        method: &str,
        target: &str,
        body: Option<&str>,
        now: u64,
    ) -> Built<HttpMessage> {
        let (mut m, p) = self.fresh(method, target, body, now)?;
        self.sign(&mut m, &p)?;
        Ok(m)
    }
}

/// Send `msg` (named `what` in the evidence) to `url` and check the decision is `want`.
pub(crate) async fn expect_decision(
    client: &reqwest::Client,
    url: &str,
    mapping: &StatusMapping,
    want: Decision,
    msg: &HttpMessage,
    what: &str,
) -> Check {
    let got = send_message(client, url, msg)
        .await
        .map(|status| (status, mapping.decide(status)));
    let want_s = match want {
        Decision::Accepted => "accepted (accept status)",
        _ => "rejected (reject status)",
    };
    match got {
        Err(e) => Err(
            Evidence::new(format!("{what}: the verifier could not be reached"))
                .expected(want_s)
                .observed(e.to_string())
                .into(),
        ),
        Ok((status, d)) if d == want => pass(format!("{what}: HTTP {status}")),
        Ok((status, d)) => {
            let sent = String::from_utf8_lossy(&msg.to_bytes()).into_owned();
            let mut ev = Evidence::new(format!("{what}: wrong decision"))
                .expected(want_s)
                .observed(format!("HTTP {status} ({d:?})"))
                .log_line(format!("request sent:\n{sent}"));
            for line in signature_context(msg) {
                ev = ev.log_line(line);
            }
            Err(ev.into())
        }
    }
}

pub(crate) fn random_token(n: usize) -> String {
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

/// What the verifier must decide about the request of a live case; the requirement text is
/// derived from it, and the check sends and judges by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Accepted,
    Rejected,
    /// Sent twice: the first accepted, the second (same nonce) rejected.
    AcceptedThenReplayRejected,
}

impl Expect {
    fn requirement(self) -> &'static str {
        match self {
            Expect::Accepted => "is accepted",
            Expect::Rejected => "is rejected",
            Expect::AcceptedThenReplayRejected => "the first is accepted, the replay is rejected",
        }
    }
}

/// A request a live case sends, and the few words its evidence names it by.
pub(crate) struct Request {
    pub(crate) msg: HttpMessage,
    pub(crate) what: String,
}

fn request(msg: HttpMessage, what: impl Into<String>) -> Built<Request> {
    Ok(Request {
        msg,
        what: what.into(),
    })
}

/// Issue 17 item 7: for a wrong decision, each signature's parameters (the Signature-Input
/// member) and the signature base we computed for it (harness/http-sig, the request as sent).
pub(crate) fn signature_context(msg: &HttpMessage) -> Vec<String> {
    let input = msg
        .header_values("signature-input")
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = vec![format!("signature parameters: {input}")];
    match http_sig::signatures(msg) {
        Err(e) => out.push(format!("signature base we computed: none ({e})")),
        Ok(entries) => {
            for e in entries {
                out.push(match http_sig::signature_base(msg, None, &e.params) {
                    Ok(b) => format!("signature base we computed ({}):\n{b}", e.label),
                    Err(err) => format!("signature base we computed ({}): none ({err})", e.label),
                });
            }
        }
    }
    out
}

/// One live case: its data beside the request it builds (at `now`, UNIX seconds).
pub struct Live {
    /// Id suffix: `http-sig-verifier/live/<slug>`.
    pub(crate) slug: &'static str,
    /// RFC 9421 section.
    pub(crate) section: &'static str,
    /// The statements of the RFC 9421 matrix it tests (empty: section 7 guidance, RFC 9530).
    statements: &'static [&'static str],
    stimulus: &'static str,
    pub(crate) expect: Expect,
    /// Why, in words, appended to the requirement derived from `expect`.
    why: Option<&'static str>,
    pub(crate) build: fn(&Ctx, u64) -> Built<Request>,
}

const GRAPHQL_BODY: &str = r#"{"query":"{ me { id } }"}"#;

/// Every live case, in report order.
pub const LIVE: &[Live] = &[
    Live {
        slug: "valid-accepted",
        section: "3.2",
        statements: &["S3.2-1"],
        stimulus: "a request signed now with the verifier's key, covering what its policy requires",
        expect: Expect::Accepted,
        why: None,
        build: |ctx, now| {
            request(
                ctx.signed("GET", "/resource?id=1", None, now)?,
                "valid request",
            )
        },
    },
    Live {
        slug: "body-with-content-digest-accepted",
        section: "7.2.8",
        statements: &[],
        stimulus: "a POST with a correct Content-Digest covered by the signature",
        expect: Expect::Accepted,
        why: None,
        build: |ctx, now| {
            let m = ctx.signed("POST", "/graphql", Some(GRAPHQL_BODY), now)?;
            request(m, "POST with Content-Digest")
        },
    },
    Live {
        slug: "unsigned-rejected",
        section: "3.2",
        statements: &["S3.2.1-2"],
        stimulus: "a request without Signature-Input / Signature",
        expect: Expect::Rejected,
        why: None,
        build: |ctx, now| {
            request(
                ctx.fresh("GET", "/resource", None, now)?.0,
                "unsigned request",
            )
        },
    },
    Live {
        slug: "expired-rejected",
        section: "3.2.1",
        statements: &["S3.2.1-2"],
        stimulus: "a signature whose expires is 60 s in the past",
        expect: Expect::Rejected,
        why: Some("signature past its expiration time"),
        build: |ctx, now| {
            let (mut m, mut p) = ctx.fresh("GET", "/resource", None, now)?;
            p.set_created(now as i64 - 120).map_err(cannot_build)?;
            p.set_expires(now as i64 - 60).map_err(cannot_build)?;
            ctx.sign(&mut m, &p)?;
            request(m, "expired signature")
        },
    },
    Live {
        slug: "created-in-future-rejected",
        section: "3.2.1",
        statements: &["S3.2.1-2"],
        stimulus: "a signature created one hour in the future",
        expect: Expect::Rejected,
        why: Some("a creation time in the future is not genuine"),
        build: |ctx, now| {
            let (mut m, mut p) = ctx.fresh("GET", "/resource", None, now)?;
            p.set_created(now as i64 + 3600).map_err(cannot_build)?;
            ctx.sign(&mut m, &p)?;
            request(m, "created in the future")
        },
    },
    Live {
        slug: "nonce-replay-rejected",
        section: "7.2.2",
        statements: &[],
        stimulus: "the same signed request (same nonce) sent twice",
        expect: Expect::AcceptedThenReplayRejected,
        why: None,
        build: |ctx, now| {
            let m = ctx.signed("GET", "/resource?replay=1", None, now)?;
            request(m, "first use of the nonce")
        },
    },
    Live {
        slug: "wrong-key-rejected",
        section: "3.2",
        statements: &["S3.2-1"],
        stimulus: "a request signed with another key of the same type, same keyid",
        expect: Expect::Rejected,
        why: None,
        build: |ctx, now| {
            let (mut m, p) = ctx.fresh("GET", "/resource", None, now)?;
            other_key(ctx.signer.algorithm())?
                .sign_message(&mut m, None, "sig", &p)
                .map_err(cannot_build)?;
            request(m, "signed with another key")
        },
    },
    Live {
        slug: "alg-mismatch-rejected",
        section: "3.2 step 6",
        statements: &["S3.2-3", "S3.2-4"],
        stimulus: "a signature whose alg parameter names another algorithm than the key's",
        expect: Expect::Rejected,
        why: None,
        build: |ctx, now| {
            let (mut m, mut p) = ctx.fresh("GET", "/resource", None, now)?;
            let other = if ctx.signer.algorithm() == Algorithm::Ed25519 {
                "ecdsa-p256-sha256"
            } else {
                "ed25519"
            };
            p.set_alg(other).map_err(cannot_build)?;
            // Sign the base with the real key/algorithm; only the alg parameter lies.
            let base = http_sig::signature_base(&m, None, &p).map_err(cannot_build)?;
            let sig = ctx.signer.sign_base(&base).map_err(cannot_build)?;
            http_sig::add_signature(&mut m, "sig", &p, &sig, http_sig::OnCollision::Error)
                .map_err(cannot_build)?;
            request(m, format!("alg={other}"))
        },
    },
    Live {
        slug: "missing-required-component-rejected",
        section: "3.2.1",
        statements: &["S3.2.1-2"],
        stimulus: "a valid signature that does not cover a component the verifier's policy requires",
        expect: Expect::Rejected,
        why: None,
        build: |ctx, now| {
            let Some(req) = ctx.required.first() else {
                return Err(skip(
                    "the verifier's required components are unknown: --set required_components='\"@method\" ...'",
                ));
            };
            let (mut m, mut p) = ctx.fresh("GET", "/resource", None, now)?;
            p.components.retain(|c| c != req);
            ctx.sign(&mut m, &p)?;
            request(m, format!("{} not covered", req.serialize()))
        },
    },
    Live {
        slug: "tampered-body-rejected",
        section: "7.2.8",
        statements: &[],
        stimulus: "a signed POST covering Content-Digest whose body is changed in transit",
        expect: Expect::Rejected,
        why: Some("the digest no longer matches the body"),
        build: |ctx, now| {
            let mut m = ctx.signed("POST", "/graphql", Some(GRAPHQL_BODY), now)?;
            m.body = br#"{"query":"{ admin { secrets } }"}"#.to_vec();
            request(m, "body changed after signing")
        },
    },
    Live {
        slug: "tampered-covered-header-rejected",
        section: "3.2 step 8",
        statements: &["S3.2-1"],
        stimulus: "a signed request whose covered content-type is changed after signing",
        expect: Expect::Rejected,
        why: None,
        build: |ctx, now| {
            let mut m = ctx.signed("GET", "/resource", None, now)?;
            m.set_header("content-type", "text/html");
            request(m, "covered header changed")
        },
    },
    Live {
        slug: "tampered-signature-rejected",
        section: "3.2 step 8",
        statements: &["S3.2-1"],
        stimulus: "a signed request with one bit of the signature flipped",
        expect: Expect::Rejected,
        why: None,
        build: |ctx, now| {
            let (mut m, p) = ctx.fresh("GET", "/resource", None, now)?;
            let mut sig = ctx.signer.sign(&m, None, &p).map_err(cannot_build)?;
            if let Some(b) = sig.first_mut() {
                *b ^= 0x01;
            }
            http_sig::add_signature(&mut m, "sig", &p, &sig, http_sig::OnCollision::Error)
                .map_err(cannot_build)?;
            request(m, "signature bit flipped")
        },
    },
];

impl Live {
    pub(crate) fn requirement(&self) -> String {
        match self.why {
            None => self.expect.requirement().to_string(),
            Some(why) => format!("{} ({why})", self.expect.requirement()),
        }
    }

    fn meta(&self) -> CaseMeta {
        meta(
            SUITE,
            format!("{SUITE}/live/{}", self.slug),
            SpecRef::new("RFC 9421", self.section),
            Level::Must,
            self.stimulus,
            self.requirement(),
        )
        .with_statements(self.statements.iter().copied())
    }

    /// Build the request now, send it, judge the decision(s) by `expect`.
    async fn run(&self, ctx: &Ctx) -> Check {
        let Request { msg, what } = (self.build)(ctx, unix_now())?;
        match self.expect {
            Expect::Accepted => ctx.expect(Decision::Accepted, &msg, &what).await,
            Expect::Rejected => ctx.expect(Decision::Rejected, &msg, &what).await,
            Expect::AcceptedThenReplayRejected => {
                ctx.expect(Decision::Accepted, &msg, &what).await?;
                ctx.expect(Decision::Rejected, &msg, "replay (same nonce)")
                    .await
            }
        }
    }
}

/// A freshly generated key of the same type (Ed25519 / HMAC; others fall back to Ed25519 with
/// the right alg name failing earlier).
fn other_key(alg: Algorithm) -> Built<Signer> {
    let key = match alg {
        Algorithm::HmacSha256 => Key::hmac(random_token(32).as_bytes()).map_err(cannot_build)?,
        _ => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(cannot_build)?;
            Key::from_pkcs8(doc.as_ref()).map_err(cannot_build)?
        }
    };
    let alg = if key.check_algorithm(alg).is_ok() {
        alg
    } else {
        key.default_algorithm()
    };
    Signer::new(key, Some(alg)).map_err(cannot_build)
}

// ---- vector replay ---------------------------------------------------------------------------

fn vector_meta(file: &str, t: &VerifyTest, rule: &str, spec: &str) -> CaseMeta {
    let stem = file.trim_end_matches(".json").trim_end_matches("_test");
    // The level is the vector's own (`level`), as in the http-sig suite.
    let level = crate::suites::http_sig::vectors::level(t.level);
    let req = match t.result {
        TestResult::Valid => "accepted".to_string(),
        TestResult::Invalid => format!(
            "rejected ({})",
            t.error_kind.map(|k| k.as_str()).unwrap_or("invalid")
        ),
        TestResult::Acceptable => "either decision (policy-dependent)".into(),
    };
    // `RFC 9421 Appendix B.2.1` as well as `RFC 9421 §3.2` (issue 17: the appendix vectors had an
    // empty section).
    meta(
        SUITE,
        format!("{SUITE}/vectors/{stem}/tc{}", t.tc_id),
        crate::suites::http_sig::vectors::spec_ref(spec),
        level,
        format!("[{rule}] {}", t.comment),
        req,
    )
    .with_statements(t.statements.iter().cloned())
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
        || p.max_validity.is_some()
        || p.expires_skew.is_some()
        || !p.forbidden_components.is_empty()
        || p.require_content_digest
        || !p.revoked_key_ids.is_empty()
        || p.key_set.is_some()
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

fn parse_vector(t: &VerifyTest) -> Built<HttpMessage> {
    HttpMessage::parse_with(
        t.message.as_bytes(),
        ParseOptions {
            scheme: scheme_str(t.scheme).into(),
        },
    )
    .map_err(|e| skip(format!("the message does not parse here: {e}")))
}

/// Send the vector's message as it is and judge the decision by the vector's result.
async fn run_vector(ctx: &Ctx, t: &VerifyTest, group_key: &str) -> Check {
    if !ctx.replay_vectors {
        return Err(skip(format!(
            "vector replay needs a verifier holding vector key {group_key}: configure it and --set vector_key={group_key}"
        )));
    }
    if let Some(why) = not_replayable(t, &ctx.scheme, &ctx.required) {
        return Err(skip(why));
    }
    let msg = parse_vector(t)?;
    match t.result {
        TestResult::Valid => ctx.expect(Decision::Accepted, &msg, "valid vector").await,
        TestResult::Invalid => ctx.expect(Decision::Rejected, &msg, "invalid vector").await,
        TestResult::Acceptable => match ctx.send(&msg).await {
            Ok((s, d)) => pass(format!(
                "acceptable vector: HTTP {s} ({d:?}); either decision conforms"
            )),
            Err(e) => Err(Evidence::new("the verifier could not be reached")
                .observed(e.to_string())
                .into()),
        },
    }
}

// ---- suite -----------------------------------------------------------------------------------

/// The suite.
#[derive(Default)]
pub struct HttpSigVerifierSuite;

/// `--profile web-bot-auth` (judge a Web Bot Auth origin), else plain RFC 9421.
fn web_bot_auth_profile(opts: &SuiteOptions) -> Result<bool> {
    match opts.profile.as_deref() {
        None | Some("rfc9421") => Ok(false),
        Some("web-bot-auth") => Ok(true),
        Some(p) => Err(Error::setup(format!(
            "--profile {p:?}: this suite knows `web-bot-auth` (judge a Web Bot Auth origin) and `rfc9421` (the default)"
        ))),
    }
}

fn vector_key_for(opts: &SuiteOptions) -> String {
    opts.setting("vector_key")
        .unwrap_or(DEFAULT_VECTOR_KEY)
        .to_string()
}

/// Every case: the live rows, then the verify vectors of the vector key in `set`.
fn all_cases(opts: &SuiteOptions, set: &VectorSet) -> Vec<Case<Ctx>> {
    let mut v: Vec<Case<Ctx>> = LIVE
        .iter()
        .map(|live| {
            Case::new(live.meta(), move |ctx: Arc<Ctx>| async move {
                live.run(&ctx).await
            })
        })
        .collect();
    let key = vector_key_for(opts);
    for (f, g, t) in set.verify_tests().filter(|(_, g, _)| g.key_id == key) {
        let m = vector_meta(&f.name, t, &g.rule, &g.spec_ref);
        let t = Arc::new(t.clone());
        let group_key: Arc<str> = g.key_id.as_str().into();
        v.push(Case::new(m, move |ctx: Arc<Ctx>| {
            let (t, group_key) = (t.clone(), group_key.clone());
            async move { run_vector(&ctx, &t, &group_key).await }
        }));
    }
    v
}

/// `--verifier-url`: reachable, `http://` on loopback; the URL without a trailing `/` and its
/// authority.
pub(crate) async fn external_url(url: &str) -> Result<(String, String)> {
    crate::runner::ensure_reachable("--verifier-url", url).await?;
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
    Ok((url, authority))
}

fn required_from(s: &str) -> Result<Vec<ComponentId>> {
    ComponentId::parse_list(s)
        .map_err(|e| Error::setup(format!("--set required_components={s:?}: {e}")))
}

pub(crate) async fn prepare(opts: &SuiteOptions, set: &VectorSet) -> Result<(String, Ctx)> {
    let accept = opts.setting("accept").unwrap_or("2xx");
    let reject = opts.setting("reject").unwrap_or("401,403");
    let mapping = StatusMapping::parse(accept, reject)?;
    let client = loopback_client()?;
    let vkey = vector_key_for(opts);
    let key_of = |private: bool| -> Result<Key> {
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
                    replay_vectors: true,
                    _service: Some(svc),
                },
            ))
        }
        Some(url) => {
            let (url, authority) = external_url(url).await?;
            let key_path = opts.setting("signing_key").ok_or_else(|| {
                Error::setup(
                    "an external verifier needs --set signing_key=FILE (the private key whose public part the verifier holds)",
                )
            })?;
            let key = Key::from_file(key_path)
                .map_err(|e| Error::setup(format!("--set signing_key={key_path}: {e}")))?;
            let alg = match opts.setting("alg") {
                Some(a) => Some(
                    a.parse::<Algorithm>()
                        .map_err(|e| Error::setup(format!("--set alg={a}: {e}")))?,
                ),
                None => None,
            };
            let signer = Signer::new(key, alg)
                .map_err(|e| Error::setup(format!("--set signing_key={key_path}: {e}")))?;
            let keyid = opts
                .setting("keyid")
                .map_or_else(|| signer.keyid().to_string(), str::to_string);
            let required = match opts.setting("required_components") {
                Some(s) => required_from(s)?,
                None => Vec::new(),
            };
            Ok((
                "external".into(),
                Ctx {
                    client,
                    url,
                    authority,
                    scheme: opts.setting("scheme").unwrap_or("http").to_string(),
                    mapping,
                    signer,
                    keyid,
                    required,
                    replay_vectors: opts.setting("vector_key").is_some(),
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

    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>> {
        if web_bot_auth_profile(opts)? {
            return Ok(web_bot_auth::cases().into_iter().map(|c| c.meta).collect());
        }
        let set = load_vectors(opts)?;
        Ok(all_cases(opts, &set).into_iter().map(|c| c.meta).collect())
    }

    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }

    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if let Some(t) = &opts.target {
                opts.target_or(&["ours", "external"])?;
                if t == "external" && opts.verifier_url.is_none() {
                    return Err(Error::setup("--target external needs --verifier-url URL"));
                }
            }
            let set = load_vectors(opts)?;
            if web_bot_auth_profile(opts)? {
                let cases = web_bot_auth::cases();
                let (target, ctx) = web_bot_auth::prepare(opts, &set).await?;
                SuiteRun::run_whole(
                    SUITE,
                    target,
                    Arc::new(ctx),
                    &cases,
                    opts,
                    selection,
                    events,
                )
                .await;
                return Ok(());
            }
            let cases = all_cases(opts, &set);
            let (target, ctx) = prepare(opts, &set).await?;
            SuiteRun::run_whole(
                SUITE,
                target,
                Arc::new(ctx),
                &cases,
                opts,
                selection,
                events,
            )
            .await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 17 item 7: a wrong decision's evidence shows the parameters and our base.
    #[test]
    fn signature_context_shows_the_parameters_and_our_base() {
        let key = Key::hmac(b"0123456789abcdef0123456789abcdef").unwrap();
        let signer = Signer::new(key, Some(Algorithm::HmacSha256)).unwrap();
        let mut m = HttpMessage::request("GET", "/x", "https", Some("example.com"));
        let p = SignatureParams::new(vec![ComponentId::new("@method").unwrap()]);
        signer.sign_message(&mut m, None, "sig", &p).unwrap();
        let lines = signature_context(&m);
        assert!(
            lines[0].starts_with("signature parameters: sig=(\"@method\")"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with(
                "signature base we computed (sig):\n\"@method\": GET\n\"@signature-params\": "
            ),
            "{lines:?}"
        );
        let unsigned = HttpMessage::request("GET", "/x", "https", Some("example.com"));
        assert_eq!(signature_context(&unsigned).len(), 1);
    }

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
        let set = VectorSet::builtin().unwrap();
        let metas: Vec<CaseMeta> = all_cases(&SuiteOptions::default(), &set)
            .into_iter()
            .map(|c| c.meta)
            .collect();
        crate::runner::check_ids(&metas).unwrap();
        assert!(metas.len() > LIVE.len() + 20, "{}", metas.len());
    }

    /// Issue 17: the appendix vectors (`RFC 9421 Appendix B.2.1`) had an empty section.
    #[test]
    fn every_case_names_a_document_and_a_section() {
        let set = VectorSet::builtin().unwrap();
        for c in all_cases(&SuiteOptions::default(), &set) {
            let m = c.meta;
            assert_eq!(m.spec.document, "RFC 9421", "{}", m.id);
            assert!(!m.spec.section.is_empty(), "{}: empty section", m.id);
        }
    }

    #[test]
    fn live_requirements_are_derived_from_the_expected_decision() {
        let reqs: Vec<(&str, String)> = LIVE.iter().map(|l| (l.slug, l.requirement())).collect();
        for (slug, req) in &reqs {
            if slug.ends_with("-accepted") {
                assert_eq!(req, "is accepted", "{slug}");
            } else if *slug == "nonce-replay-rejected" {
                assert_eq!(req, "the first is accepted, the replay is rejected");
            } else {
                assert!(req.starts_with("is rejected"), "{slug}: {req}");
            }
        }
        assert!(reqs.contains(&(
            "expired-rejected",
            "is rejected (signature past its expiration time)".to_string()
        )));
    }

    #[test]
    fn alg_setting_names_every_algorithm() {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names, ALGORITHMS);
    }

    #[test]
    fn vectors_dir_is_honoured() {
        let opts = SuiteOptions {
            vectors_dir: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors").into()),
            ..SuiteOptions::default()
        };
        let from_dir = load_vectors(&opts).unwrap();
        let n = |set: &VectorSet| all_cases(&SuiteOptions::default(), set).len();
        assert_eq!(n(&from_dir), n(&VectorSet::builtin().unwrap()));
        let missing = SuiteOptions {
            vectors_dir: Some("/nonexistent/vectors".into()),
            ..SuiteOptions::default()
        };
        let e = HttpSigVerifierSuite
            .cases(&missing)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--vectors /nonexistent/vectors"), "{e}");
    }
}
