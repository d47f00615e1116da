//! `msg-signer`: the reference client of the messaging signer (`specs/msg-signer.md`) with the
//! wire contract of the deployed client pubtools-sign (`notes/msg-signer-wire.md`), without its
//! documented defects.
//!
//! - [`config`]: the YAML `msg_signer` / `msg_batch_signer` sections, `deny_unknown_fields` and
//!   validated; every error names the key and the file;
//! - [`wire`]: request bodies and application properties (one request per input x key,
//!   input-major), container claims, `key_aliases` and the last-8 `sig_key_id`, batch requests
//!   chunked by `chunk_size`, reply envelopes correlated by `msg[message_id_key]`;
//! - [`engine`]: the retry engine (the spec's second diagram), a sans-IO state machine: no sockets,
//!   no clock (`handle_*(now, ..)` in, `poll_*` out, a closed `Timer` enum);
//! - [`transport`]: AMQP 1.0 over fe2o3-amqp driving the engine with tokio time: failover across
//!   `messaging_brokers`, a null-target sender with `properties.to` (or addressed senders for
//!   brokers without an anonymous relay), TTL, one receiver link per receive window;
//! - [`tls`]: rustls (aws-lc-rs) client config, client identity, creator = subject CN, else UID;
//! - [`sasl`]: SASL EXTERNAL with an empty initial response, run before fe2o3 takes the stream;
//! - [`client`]: the operations (container-sign, clear-sign, blob-sign) and their JSON output.
//!
//! Departures from the deployed client: receivers of ended windows are detached; errors do not
//! leak between cycles (only unanswered requests are re-sent); failover across brokers;
//! receiver-link errors end the window at once and are reported; rejected or never-settled sends
//! fail within `timeout`; malformed replies are reported per request (never status ok); partial
//! results are kept in `operation_results` when the status is error.
//!
//! ## Example
//! A config file (other top-level sections are ignored):
//! ```yaml
//! msg_signer:
//!   messaging_brokers: ["amqps://broker.example:5671"]
//!   messaging_cert_key: /etc/signer/client.pem
//!   messaging_ca_cert: /etc/signer/ca.pem
//!   topic_send_to: topic://Sign.{creator}
//!   topic_listen_to: queue://Consumer.{creator}.{task_id}.Topic.sign.{task_id}
//!   environment: prod
//!   service: pubtools-sign
//!   timeout: 5
//!   retries: 3
//!   send_retries: 2
//!   message_id_key: request_id
//!   log_level: info
//! ```
//! and one operation, end to end:
//! ```no_run
//! use std::path::Path;
//! use msg_signer::client::{Operation, SignOptions, sign};
//!
//! # async fn demo() {
//! let op = Operation::ClearSign { inputs: vec!["hello".into(), "@notes.txt".into()] };
//! let opts = SignOptions {
//!     task_id: "42".into(),
//!     signing_keys: vec!["0123456789ABCDEF".into()],
//!     ..SignOptions::default()
//! };
//! let (out, _report) = sign(Path::new("signer.yaml"), &op, &opts).await; // never fails:
//! if !out.is_ok() {
//!     eprintln!("{}", out.signer_result.error_message); // errors are in the output
//! }
//! println!("{}", serde_json::to_string_pretty(&out).unwrap());
//! # }
//! ```
//! The same from the command line: `sigharness msg-signer clear-sign --config-file signer.yaml
//! --task-id 42 --signing-key 0123456789ABCDEF --input hello` (also `container-sign --digest D
//! --reference R`, `blob-sign --blob-file F`; exit 1 when the status is error).
//!
//! Tests: `cargo test -p msg-signer` runs config errors, wire round trips, engine rules in virtual
//! time with proptest invariants, and end-to-end runs over loopback AMQP (plain, TLS with client
//! certificates, SASL EXTERNAL, failover) against an in-test fe2o3 acceptor under
//! `tokio::time::pause`.

pub mod config;
pub mod engine;
pub mod error;
pub mod wire;

pub use error::{Error, Result};
pub mod client;
pub mod sasl;
pub mod tls;
pub mod transport;
