//! MQ Hub (RFC-130): a secure reference server, a client for any deployment, and the pieces both
//! use. The server follows the MQ Hub document (`shared/specs/mq-hub-rfc130.txt`), with a switch
//! for the dialect apihub deploys; the `mq-hub` conformance suite of `sigharness` judges any hub.
//!
//! ## Profiles ([`Profile`], config `profile`)
//! - `rfc130` (default): ES256 JWT tokens (`jsonwebtoken`) in `authorization`; take is
//!   `GET /mq/{domain}/take/{hashDID}/{messageID|next}/{sig}`; replies
//!   `{"message", "sender", "messageId"}`.
//! - `opendsu`: apihub's base58 SeedSSIJWT signed with secp256k1 (byte for byte as apihub makes
//!   them: [`seedssi`]), in `x-mq-authorization`; take without an id; replies
//!   `{"message", "messageId"}`.
//!
//! ## Modules
//! - [`did`]: DIDs, hashDID = base58(SHA-256(DID)), secp256k1 keys. Self-certifying `did:key`
//!   (multicodec 0xe7) and `did:ssi:key:<domain>:<base58 key>` need no registry; any other method is
//!   resolved from a JSON registry file (`did_registry` in the config: `{"<DID>": "<hex SEC1 key>"}`,
//!   filled by the operator from the method's own resolver).
//! - [`token`] (sans-IO, takes `now`): issuing and verifying tokens of both profiles. Tokens are
//!   issued only to a DID holder who proves it (headers `x-mq-did`, `x-mq-did-timestamp` in Unix
//!   seconds within ±`proof_window_secs`, `x-mq-did-proof` = hex DER ECDSA secp256k1 signature of
//!   `mq-hub-token:<domain>:<hashDID>:<timestamp>` by the DID's key). The holder's own queue gets
//!   an owner token (everything allowed); another queue gets a put-only token for that queue
//!   (`open_put = false` refuses those). Tokens are verified with the server's own key only (never
//!   a key carried inside), `exp`/`nbf` against the `now` passed in (RFC 7519 §4.1.4/4.1.5), and
//!   must name the queue they are used on. `signatureOfDid` (hex DER ECDSA secp256k1/SHA-256 over
//!   the token string, by the queue owner's DID key) is verified on get, take and delete.
//! - [`store`]: FIFO queues per (domain, hashDID) with exact limits (a body of exactly
//!   `max_message_size` is accepted; a queue never holds more than `max_queue_length`); ids
//!   `<seq>_<base58>` are unique and URL-safe. [`store::MemoryStore`] (`[storage] kind =
//!   "memory"`) and [`store::DurableStore`] (`kind = "durable", path = "mq.redb"`, redb with
//!   group commit: a put, take or delete stages its change in the pending batch without I/O and
//!   waits on a ticket; one committer thread writes the whole batch in one write transaction with
//!   `Durability::Immediate`, so changes arriving during an fsync share the next one). Each call is
//!   answered only once the transaction holding its change is durable, so a put answered 200
//!   survives SIGKILL; puts are visible to readers only once committed; a failed commit marks the
//!   store broken (every later call answers 500 until restart), as databases treat a failed fsync.
//! - [`server`]: axum routes on our own accept loop over hyper's HTTP/1.1 connection builder
//!   (`axum::serve` has no header-read timeout). Long-poll get/take answer 204 after
//!   `connection_timeout_ms`; one put wakes one parked take and one parked get; a parked request
//!   whose client went away is dropped and consumes nothing. Slow clients: a request head must
//!   arrive within `header_read_timeout_ms` of the accept or of the previous answer (default
//!   10 000; else the connection is closed, also an idle keep-alive one; one watchdog timer per
//!   connection, not hyper's timer per head) and is buffered up to [`server::MAX_HEAD_BUFFER`] (64 KiB; beyond:
//!   431); a put body must arrive within `body_read_timeout_ms` (default 10 000; else 408) and is
//!   never read past `max_message_size`. [`RunningHub::stop`] aborts every connection.
//! - [`client`]: [`MqClient`] for any deployment, with a typed [`MqHubError`] per status.
//! - [`config`]: [`HubConfig`] (TOML, `deny_unknown_fields`; every field has apihub's default).
//!
//! ## Statuses
//! 200; 204 when a long poll ends empty; 403 bad token, signature or size; 405 MQ not enabled for
//! the domain (checked first); 500 queue full, too many parked requests, or store error; 400
//! malformed hashDID or id, or a non-UTF-8 body; 404 no message with that id; 408 put body too
//! slow; 431 request head over 64 KiB.
//!
//! Deviations from the document, deliberately: rfc130 replies carry `messageId` (delete/take need
//! it); rfc130 take accepts `next` as the id (oldest message, long poll); a missing id answers 404;
//! an invalid UTF-8 body or malformed path segment answers 400; take also ends in 204 after the
//! connection timeout (apihub waits forever).
//!
//! ## Example: a hub on loopback, one message from Alice to Bob
//! ```
//! use std::{sync::Arc, time::Duration};
//! use mq_hub::{DidKeyPair, DidMethod, HubConfig, MqClient, Profile, RunningHub};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let cfg = HubConfig { connection_timeout_ms: 200, ..HubConfig::default() }; // domain "default"
//! let hub = RunningHub::start(cfg, "127.0.0.1:0".parse()?).await?;
//! let bound = Duration::from_secs(5); // longer than the hub's connection timeout
//! let alice = MqClient::new(&hub.url(), Profile::Rfc130, Arc::new(DidKeyPair::generate(DidMethod::Key)?), bound)?;
//! let bob = MqClient::new(&hub.url(), Profile::Rfc130, Arc::new(DidKeyPair::generate(DidMethod::Key)?), bound)?;
//!
//! let put = alice.token("default", &bob.hash_did(), None).await?; // put-only, Bob's queue
//! alice.put("default", &bob.hash_did(), &put.token, "hello").await?;
//!
//! let own = bob.own_token("default").await?; // owner token for Bob's own queue
//! let m = bob.take("default", &own.token, None).await?.expect("a message");
//! assert_eq!((m.message.as_str(), m.sender.as_deref()), ("hello", Some(alice.did())));
//! assert_eq!(bob.get("default", &own.token).await?, None); // 204: empty after the long poll
//! hub.stop().await;
//! # Ok::<(), Box<dyn std::error::Error>>(()) })
//! # }
//! ```
//!
//! The same from the command line: `sigharness serve mq-hub --listen 127.0.0.1:8080 --config
//! hub.toml`, `sigharness mq-hub keygen --out me.json`, `sigharness mq-hub put --url U --key
//! me.json --domain D --to <DID|hashDID> --message hi` (and `get`, `take`, `delete`, `token`);
//! judge a deployment with `sigharness conformance --suite mq-hub [--mq-hub-url U --profile
//! opendsu --set domain=D]`; benchmark with `cargo xtask bench mq-hub`.

pub mod client;
pub mod codec;
pub mod config;
pub mod did;
pub mod error;
pub mod openapi;
pub mod seedssi;
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
