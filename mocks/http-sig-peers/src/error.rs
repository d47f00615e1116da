//! The one error enum of this crate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong when configuring or starting the upstream or the verifier
/// service. (What a request does wrong is not an error of the peer: the upstream records it as a
/// verdict, the verifier answers 401 with the reason.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// Configuration (profile, policy, expiry, ...) is invalid; the message names what.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// From the http-sig library (keys, profiles, policies).
    #[error(transparent)]
    HttpSig(#[from] http_sig::Error),
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
}
