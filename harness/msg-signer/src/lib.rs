//! `msg-signer`: the reference client of the messaging signer (`specs/msg-signer.md`) with the
//! wire contract of the deployed client (`notes/msg-signer-wire.md`).
//!
//! - [`config`]: the YAML `msg_signer` / `msg_batch_signer` sections, strict and validated;
//! - [`wire`]: request bodies, application properties, container claims, reply envelopes;
//! - [`engine`]: the retry engine, a sans-IO state machine (no sockets, no clock);
//! - [`transport`]: AMQP 1.0 over fe2o3-amqp (TLS via rustls/aws-lc-rs, SASL, identity)
//!   driving the engine with tokio time;
//! - [`client`]: the operations (container-sign, clear-sign, blob-sign) and their output.

pub mod config;
pub mod engine;
pub mod error;
pub mod wire;

pub use error::{Error, Result};
pub mod client;
pub mod sasl;
pub mod tls;
pub mod transport;
