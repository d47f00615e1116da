//! The one error enum of this crate.

use std::net::SocketAddr;

/// Everything that can go wrong when configuring or starting the broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The listen address is not a loopback address (this project listens on loopback only).
    #[error(
        "listen address {0} is not a loopback address: the broker only listens on 127.0.0.1 or ::1 (use e.g. 127.0.0.1:5672)"
    )]
    NotLoopback(SocketAddr),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A PEM file or string could not be used.
    #[error("{what} ({origin}): {reason}")]
    Pem {
        what: &'static str,
        origin: String,
        reason: String,
    },
    /// The TLS configuration was refused by rustls.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// `client_ca` was given without `tls`.
    #[error(
        "a client CA was configured but TLS is off: give the server certificate and key too (--tls-cert, --tls-key)"
    )]
    ClientCaWithoutTls,
    /// A broker option is out of range.
    #[error("broker option {option}: {reason}")]
    Option {
        option: &'static str,
        reason: String,
    },
    /// A fault plan could not be read or is invalid.
    #[error("fault plan {origin}: {reason}")]
    FaultPlan { origin: String, reason: String },
}
