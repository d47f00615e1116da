//! # mock-signing-server: the other side of the messaging signer, with fault injection
//!
//! Reads the same config file as the client (`msg_signer.topic_send_to`,
//! `topic_listen_to`, `message_id_key`, `timeout`), consumes signing requests from
//! `topic_send_to` through an AMQP 1.0 broker, validates them against the deployed contract
//! (`notes/msg-signer-wire.md`), signs for real with OpenPGP (pure-Rust `pgp`; signatures that
//! `gpg --verify` accepts), and replies in the deployed envelope
//! `{"i","msg_id","timestamp","topic","username","msg":{..}}` on `topic_listen_to` expanded with
//! the request's creator (`requested_by`, else the `owner_id` property) and task id
//! (`pub_task_id`). An invalid request gets an error reply (`errors` lists every problem,
//! `signing_status: "failure"`), never silence.
//!
//! - [`core`]: the sans-IO request handler, `Core::handle_request(at, unix_now, request)`
//!   (validation of application properties, body keys, `created`, `sig_key_id`, base64 payloads
//!   and the container claim; signing; reply envelopes; fault emissions), answering a
//!   [`ReceivedRequest`] with its [`PlannedReply`]s (delay, address, body);
//! - [`keys`]: OpenPGP keys (`pgp`, pure Rust; generated Ed25519 v4 keys, or `*.asc` files) and
//!   the three signature shapes, all base64: a signed message for `signed_claim`, a cleartext
//!   signature for `signed_data`, a detached signature for `signed_payload`;
//! - [`fault`]: server actions for the shared `FaultPlan` (drop, delay, duplicate, wrong id,
//!   unknown id, malformed JSON, missing `msg`, missing id, error reply, wrong address, reply
//!   after the window closed, scripts), per request (`nth`, properties) or seeded-probabilistic;
//! - [`server`]: the AMQP transport (plain or TLS, optionally SASL EXTERNAL, `TCP_NODELAY`;
//!   reply senders on a null target, or addressed ones for brokers without an anonymous relay)
//!   and the fixture handle.
//!
//! ## Fixture API (like the broker's, in the style of wiremock's `MockServer`)
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use mock_signing_server::{ServerConfig, SigningServer, fault};
//!
//! let broker = mock_broker::Broker::start().await;
//! let config = ServerConfig::load(std::path::Path::new("config.yaml"))?;
//! let server = SigningServer::builder(broker.url(), config).start().await?;
//! let key_id = server.keys().first().short_id().to_string(); // what clients send as sig_key_id
//! // ... run a client ...
//! let seen = server.wait_for_requests(1, Duration::from_secs(5)).await?;
//! server.set_fault_plan(fault::plan_from_str("rules: [{action: duplicate}]", "inline")?)?;
//! // dropping the handle stops the server
//! # Ok(()) }
//! ```
//!
//! As a process: `sigharness serve signing-server --broker URL --config FILE [--keys DIR]
//! [--fault-plan F]` (through any AMQP 1.0 broker), or `sigharness serve msg-signer --listen ADDR
//! --config FILE [--keys DIR] [--fault-plan F]` (an embedded broker and this server on one
//! address). The `msg-signer` conformance suite of `sigharness` uses both mocks to judge clients,
//! and judges signing servers as a client.

/// Write coalescing of the server's connection (in the broker crate, whose connections use it too).
pub use mock_broker::coalesce;
pub mod core;
pub mod error;
pub mod fault;
pub mod keys;
pub mod server;

pub use crate::core::{IncomingRequest, PlannedReply, ReceivedRequest, ServerConfig};
pub use error::ServerError;
pub use fault::{Emit, ServerAction, Step};
pub use keys::{AliasKey, KeyRing, SigningKey};
pub use server::{
    MAX_REPLY_LINKS, SigningServer, SigningServerBuilder, SigningServerHandle, WaitTimeout,
};
