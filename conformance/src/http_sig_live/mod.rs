//! # RFC 9421 against live systems
//!
//! Judging a *signer* (a gateway that signs its upstream requests) and a *verifier* (a service that
//! accepts or rejects signed requests) over real loopback HTTP.
//!
//! - [`upstream`]: `sigharness serve http-sig-upstream`, an axum server the signer under test calls.
//!   Every request is judged by [`judge::judge_request`] (sans-IO) against the signing profile the
//!   signer was given ([`judge::SignerExpectations`], built from http-sig's `ProfileConfig` and
//!   the public key); verdicts per request and per [`judge::SignerRule`].
//! - [`script`]: the scripted requests (data, `script.json`): varied methods, paths, queries,
//!   repeated and hop-by-hop headers.
//! - [`client`]: sends the script through an in-process [`client::RequestSigner`] (our
//!   `SigningProfile`, or a faulty signer in tests) with reqwest.
//! - [`verifier`]: `sigharness serve http-sig-verifier`, our verifier as a service
//!   ([`verifier::VerifierCore`] sans-IO + axum shell; also checks Content-Digest, RFC 9530).
//!
//! Suites: `suites/http_sig_signer` (one case per signer rule, folded over all requests) and
//! `suites/http_sig_verifier` (vector replay + live policy cases, judged from status codes).
//! Loopback only: every listener refuses a non-loopback address; reqwest ignores proxies.

pub mod client;
pub mod judge;
pub mod script;
pub mod upstream;
pub mod verifier;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{SystemTime, UNIX_EPOCH};

/// Print one line per request handled (the `serve` commands set this).
pub static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Errors of the live servers and their configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// Configuration (profile, policy, script, settings) is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// From the http-sig library (keys, profiles, policies).
    #[error(transparent)]
    HttpSig(http_sig::Error),
    /// Only loopback addresses may be used.
    #[error("{0}: only loopback addresses (127.0.0.1, ::1) are allowed")]
    NotLoopback(SocketAddr),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Sending a request failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The signer refused to sign.
    #[error("the signer failed: {0}")]
    Signer(String),
}

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

/// Load a signing profile's configuration (`.toml` as TOML, anything else YAML), unknown keys
/// rejected. Returns the configuration and the directory relative key paths are resolved from.
pub fn load_profile_config(
    path: &std::path::Path,
) -> Result<(http_sig::ProfileConfig, Option<PathBuf>), LiveError> {
    let text = std::fs::read_to_string(path).map_err(|source| LiveError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let cfg: http_sig::ProfileConfig = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text)
            .map_err(|e| LiveError::Config(format!("profile {}: {e}", path.display())))?
    } else {
        serde_yaml::from_str(&text)
            .map_err(|e| LiveError::Config(format!("profile {}: {e}", path.display())))?
    };
    Ok((cfg, path.parent().map(|p| p.to_path_buf())))
}

/// The profile's own key, if it can be loaded here (file next to the profile, or inline).
pub fn profile_key(
    cfg: &http_sig::ProfileConfig,
    base: Option<&std::path::Path>,
) -> Option<http_sig::Key> {
    match (&cfg.key.file, &cfg.key.inline) {
        (Some(f), None) => {
            let p = match base {
                Some(d) if f.is_relative() => d.join(f),
                _ => f.clone(),
            };
            http_sig::Key::from_file(p).ok()
        }
        (None, Some(t)) => http_sig::Key::from_bytes(t.as_bytes()).ok(),
        _ => None,
    }
}
