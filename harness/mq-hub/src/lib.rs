//! MQ Hub (RFC-130): a secure reference server, a client, and the pieces both use.
//!
//! ## Architecture (for docs/ARCHITECTURE.md)
//! - [`did`]: DIDs, hashDID = base58(SHA-256(DID)), secp256k1 keys. Self-certifying `did:key`
//!   (multicodec 0xe7) and `did:ssi:key:<domain>:<base58 key>` need no registry; any other method is
//!   resolved from a JSON registry file (`did_registry` in the config: `{"<DID>": "<hex SEC1 key>"}`).
//! - [`token`] (sans-IO, takes `now`): tokens in two profiles — `rfc130`: a real ES256 JWT
//!   (`jsonwebtoken`); `opendsu`: apihub's base58 SeedSSIJWT signed with secp256k1. Tokens are
//!   issued only to a DID holder who proves it (headers `x-mq-did`, `x-mq-did-timestamp`,
//!   `x-mq-did-proof` = signature of `mq-hub-token:<domain>:<hashDID>:<ts>`), and verified against
//!   the server's own key. An owner token (holder's own queue) allows everything; a put token
//!   (another queue) allows only put into that queue. `signatureOfDid` (hex DER ECDSA secp256k1 over
//!   the token string, by the queue owner's DID key) is verified on get, take and delete.
//! - [`store`]: FIFO queues per (domain, hashDID): [`store::MemoryStore`], and
//!   [`store::DurableStore`] (redb with group commit: concurrent changes share one fsynced write
//!   transaction, and each is answered only once its transaction is durable, so a put answered
//!   200 survives SIGKILL). Exact limits; ids `<seq>_<base58>` are unique and URL-safe.
//! - [`server`]: axum routes and statuses. Long-poll get/take answer 204 after
//!   `connection_timeout_ms`; one put wakes one parked take and one parked get; a parked request
//!   whose client went away is dropped by hyper and consumes nothing. Slow clients: a request
//!   head must arrive within `header_read_timeout_ms` (else the connection is closed), a put body
//!   within `body_read_timeout_ms` (else 408).
//! - [`client`]: [`client::MqClient`] for any deployment, with a typed error per status.
//!
//! Deviations from the document, deliberately: rfc130 replies carry `messageId` (delete/take need
//! it); rfc130 take accepts `next` as the id (oldest message, long poll); a missing id answers 404;
//! an invalid UTF-8 body or malformed path segment answers 400; take also ends in 204 after the
//! connection timeout (apihub waits forever).

pub mod client;
pub mod codec;
pub mod config;
pub mod did;
pub mod error;
pub mod server;
pub mod store;
pub mod token;

pub use client::{ClientToken, Message, MqClient};
pub use config::{HubConfig, StorageConfig};
pub use did::{DidKeyPair, DidMethod, DidRegistry, hash_did};
pub use error::MqHubError;
pub use server::{Hub, RunningHub, router};

use serde::Deserialize;

/// The protocol dialect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The RFC-130 document: JWT, `authorization`, take with a message id, `{message, sender}`.
    #[default]
    Rfc130,
    /// Deployed apihub: SeedSSIJWT, `x-mq-authorization`, take without id, `{message, messageId}`.
    Opendsu,
}

impl Profile {
    pub fn as_str(&self) -> &'static str {
        match self {
            Profile::Rfc130 => "rfc130",
            Profile::Opendsu => "opendsu",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = MqHubError;
    fn from_str(s: &str) -> Result<Self, MqHubError> {
        match s {
            "rfc130" => Ok(Profile::Rfc130),
            "opendsu" => Ok(Profile::Opendsu),
            o => Err(MqHubError::Config(format!(
                "unknown profile {o:?}: expected rfc130 or opendsu"
            ))),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
