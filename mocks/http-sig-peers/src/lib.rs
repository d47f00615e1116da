//! # mock-http-sig-peers: the peers an RFC 9421 implementation meets over HTTP
//!
//! Two loopback HTTP servers (axum) that stand in for the other side of a live RFC 9421
//! deployment, as fixtures for tests and as `sigharness serve http-sig-upstream|http-sig-verifier`
//! for systems outside the process:
//!
//! - [`upstream`]: the server a **signer under test** calls (e.g. the subgraph a GraphQL gateway
//!   signs its requests to). Every request is judged against the signing profile the signer was
//!   given ([`judge`], sans-IO), recorded, and answered with a configurable reply (GraphQL JSON
//!   `{"data":{}}` by default) so that the signer carries on. The verdicts so far are listed at
//!   `GET /.well-known/sigharness/verdicts` (JSON, not judged).
//! - [`verifier`]: our RFC 9421 verifier as a **service** that a client under test (or the
//!   `http-sig-verifier` conformance suite) sends signed requests to: `200`
//!   `{"verified":true,"label","keyid"}` when a signature is acceptable, `401`
//!   `{"verified":false,"error","message"}` otherwise (`error` is http-sig's stable
//!   `Error::kind`, or `content_digest_mismatch` / `content_digest_invalid` /
//!   `content_digest_unsupported` / `unknown_key`). [`VerifierCore`] is the sans-IO decision
//!   (http-sig `Verifier` + nonce store + keyid check + Content-Digest check, RFC 9530).
//! - [`key_directory`]: a Web Bot Auth key directory (`/.well-known/http-message-signatures-directory`,
//!   JWK Set, media type, Cache-Control, one directory response signature per key), what
//!   `sigharness serve key-directory` runs.
//! - [`config`]: reading a signing profile (TOML or YAML, Grafbase semantics, unknown keys
//!   rejected) and its key, which is what the upstream judges against.
//!
//! ## The signer rules
//! [`SignerRule`] lists what the upstream checks of every request; [`SignerRule::RULES`] gives each
//! rule's stable slug, the spec section it enforces, and the requirement in words (the
//! `http-sig-signer` suite makes one case of each): signature present and verifying with the
//! configured key, no duplicate component ids (RFC 9421 §2.5), `headers.include` /
//! `headers.exclude` honoured, hop-by-hop fields never covered (RFC 9110 §7.6.1), every selected
//! header covered, a multi-valued header covered once (§2.1), derived components as configured,
//! `created` recent, `expires = created + expiry`, a nonce present and never repeated (§7.2.2),
//! `alg` and `keyid` consistent with the key.
//!
//! ## Fixture API
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use mock_http_sig_peers::{
//!     Reply, SignerExpectations, Upstream, VerifierConfig, VerifierService, load_profile_config,
//!     profile_key,
//! };
//!
//! // An upstream judging a gateway configured with gw.toml, verifying with public.pem.
//! let (profile, base) = load_profile_config("gw.toml".as_ref())?;
//! let public = http_sig::Key::from_file("public.pem")?;
//! let own = profile_key(&profile, base.as_deref());
//! let exp = SignerExpectations::new(&profile, public, own.as_ref())?;
//! let up = Upstream::start(([127, 0, 0, 1], 0).into(), exp, Reply::default()).await?;
//! // ... make the gateway send requests to up.url() ...
//! let (verdicts, all_arrived) = up.wait_for(6, Duration::from_secs(10)).await;
//! for v in &verdicts {
//!     println!("#{} {}: failed {:?}", v.index, v.request, v.failed());
//! }
//!
//! // Our verifier as a service holding public.pem under keyid "gw".
//! let mut cfg = VerifierConfig::new(http_sig::Key::from_file("public.pem")?);
//! cfg.keyids = vec!["gw".into()];
//! let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg).await?;
//! // ... send signed requests to svc.url(); dropping `svc` and `up` stops them ...
//! # Ok(()) }
//! ```
//!
//! Loopback only: every listener refuses a non-loopback address ([`LiveError::NotLoopback`]).
//! The cores take the time as a parameter (`now`, UNIX seconds); only the axum shells read the
//! wall clock ([`unix_now`]), and the upstream's clock can be replaced
//! ([`UpstreamConfig::clock`]).

pub mod config;
pub mod error;
pub mod judge;
pub mod key_directory;
pub mod serve;
pub mod upstream;
pub mod verifier;
pub mod web_bot_auth;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

pub use config::{load_profile_config, profile_key};
pub use error::LiveError;
pub use judge::{
    Judge, Keyword, RequestVerdict, Rule, RuleInfo, RuleStatus, SignerExpectations, SignerRule,
    judge_request,
};
pub use key_directory::{KeyDirectoryConfig, KeyDirectoryServer};
pub use serve::{ConnStats, ServerLimits};
pub use upstream::{Reply, Upstream, UpstreamConfig, VERDICTS_PATH, VerdictLimits};
pub use verifier::{Decision, VerifierConfig, VerifierCore, VerifierService, check_content_digest};
pub use web_bot_auth::{BotExpectations, BotRule, judge_bot_request};

/// Bind a TCP listener, refusing anything but loopback.
pub async fn bind_loopback(addr: SocketAddr) -> Result<tokio::net::TcpListener, LiveError> {
    if !addr.ip().is_loopback() {
        return Err(LiveError::NotLoopback(addr));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| LiveError::Bind { addr, source })
}

/// The wall clock in UNIX seconds (the I/O shells read it; the judging cores take `now`).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A message for one line of a terminal: control characters escaped, at most 300 characters
/// (the text may quote the network's input).
pub fn one_line(text: &str) -> String {
    http_sig::printable(text, 300)
}
