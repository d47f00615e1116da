//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in the messaging signer. Messages name the file, key or URL at
/// fault and, where possible, what would fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid YAML, misses a key, has an unknown key or a wrong type.
    #[error("config file {path}: {message}")]
    ConfigParse { path: PathBuf, message: String },
    /// A key is present and well-typed but its value is not acceptable.
    #[error("config file {path}: key `{section}.{key}`: {message}")]
    ConfigValue {
        path: PathBuf,
        section: String,
        key: String,
        message: String,
    },
    /// A command-line or API input is not acceptable (e.g. an unknown operation argument).
    #[error("invalid input: {0}")]
    Input(String),
    /// A PEM file (client certificate + key, CA certificate) is missing or unusable.
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    /// The creator (requester identity) could not be determined.
    #[error("cannot determine the creator: {0}")]
    Creator(String),
    /// TLS configuration could not be built.
    #[error("TLS: {0}")]
    Tls(String),
    /// No broker of `messaging_brokers` accepted a connection; one line per broker tried.
    #[error("no messaging broker reachable: {0}")]
    Connect(String),
    /// SASL negotiation failed.
    #[error("SASL with {url}: {message}")]
    Sasl { url: String, message: String },
    /// An AMQP session or link could not be established or failed.
    #[error("AMQP: {0}")]
    Amqp(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
