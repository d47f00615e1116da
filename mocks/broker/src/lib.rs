//! # mock-broker: an embedded AMQP 1.0 broker for tests and conformance runs
//!
//! A real broker on a real loopback socket (fe2o3-amqp's acceptor), small enough to start per
//! test, with a traffic journal and fault injection. It stands in for ActiveMQ/Artemis in front
//! of the messaging signer (see `shared/specs/msg-signer.md`).
//!
//! ## Semantics
//! - **Addresses**: `topic://X` (or `/topic/X`) fans out to the subscribers attached at that
//!   moment; anything else (`queue://X`, bare names) is a queue: buffered, FIFO, competing
//!   consumers, each message to one consumer.
//! - **Routing** by the sender link's target address, or, when the target address is null
//!   (anonymous relay, as the deployed Python client does), by each message's `to` property.
//!   A message with neither is rejected (`amqp:precondition-failed`).
//! - **Settlement**: inbound transfers are accepted after routing. Outbound deliveries are
//!   pipelined (`send_batchable`) and their outcomes collected concurrently: `accepted` and
//!   `rejected` end a delivery; `released` and `modified` put it back at the head of its queue
//!   (`modified` with `delivery-failed` increments `header.delivery-count`); a delivery still
//!   unsettled when its link detaches or its connection drops goes back to the head of its
//!   queue, in order. Topic copies are never requeued.
//! - **Credit** is honoured by fe2o3 (nothing is sent beyond the peer's credit). A consumer link
//!   with no credit may hold one message "in hand" while it waits; it is requeued on detach.
//! - **TTL**: a message whose `header.ttl` elapses while it waits in a buffer is dropped and
//!   journaled as `expired` (tokio time, so `tokio::time::pause` makes it virtual).
//! - **Connections**: plain TCP or TLS (rustls/aws-lc-rs, terminated by the broker, then AMQP);
//!   with a client CA a client certificate is required and its subject CN and UID are recorded.
//!   No SASL layer, SASL ANONYMOUS, PLAIN (any credentials) and EXTERNAL with or without an
//!   initial response are all accepted. `TCP_NODELAY` on every socket.
//! - **Same-name links**: a sender and a receiver link with the same name on one session work
//!   (proton names both `<container>-<address>`; fe2o3 alone keys links by name).
//! - **Faults** from a [`FaultPlan`]`<`[`BrokerAction`]`>` (YAML/JSON), changeable while running.
//!
//! ## Bounds (each a [`BrokerBuilder`] option with a documented default)
//! - **Frames**: a peer frame is judged from its 8-byte header: over 512 bytes
//!   ([`MIN_MAX_FRAME_SIZE`]) before the peer's open, or over the offered max-frame-size after it
//!   ([`BrokerBuilder::max_frame_size`], default 64 KiB), the connection is closed with an AMQP
//!   close carrying `amqp:connection:framing-error` (preceded by the broker's header and open if
//!   they had not gone out; during SASL the socket is only shut), before the body is read.
//! - **Messages**: at most [`BrokerBuilder::max_message_size`] (16 MiB) per message on a link;
//!   beyond it fe2o3 detaches the link with `amqp:link:message-size-exceeded`.
//! - **Handshake**: [`BrokerBuilder::handshake_timeout`] (10 s) from TCP accept to the peer's
//!   AMQP open, TLS and SASL included; a peer that has not opened by then is disconnected
//!   (journaled `refused`, "handshake timeout").
//! - **Idle peers**: the broker advertises [`BrokerBuilder::idle_time_out`] (30 s) in its open and
//!   closes a peer that sends no frame, not even an empty one, for twice that with
//!   `amqp:resource-limit-exceeded` (AMQP 1.0 part 2.4.5; journaled `disconnect`, "idle timeout").
//! - **Connections**: at most [`BrokerBuilder::max_connections`] (1024) sockets at once, counted
//!   from accept ([`BrokerHandle::socket_count`]); one more is closed at once, before TLS or
//!   AMQP, and journaled `refused` ("connection limit (N) reached").
//! - **Journal**: a ring of at most [`JournalLimits`] (100 000 entries, 32 MiB), oldest dropped
//!   first and counted ([`Journal::dropped`]); bodies only with
//!   [`BrokerBuilder::record_bodies`]`(true)` (default off). A verdict that needs the whole history
//!   checks [`Journal::is_truncated`].
//! - **Fault plans**: at most 1 MiB and flow nesting 64 deep, refused before the YAML parser.
//! - **Outgoing bytes** (not an option): each connection's writes are coalesced
//!   ([`coalesce::CoalescedWrites`]): at most [`coalesce::MAX_QUEUED`] (256 KiB) wait for the
//!   socket, and after the connection ends what is queued is drained within
//!   [`coalesce::DRAIN_BOUND`] (5 s), then the write side is shut.
//!
//! ## Fixture API (in the style of wiremock's `MockServer`)
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use mock_broker::{Broker, BrokerAction, Event, FaultPlan};
//!
//! let broker = Broker::builder().record_bodies(true).start().await?; // bodies in the journal
//! let url = broker.url();                              // "amqp://127.0.0.1:PORT"
//! // ... point a client at `url` ...
//! let entry = broker
//!     .journal()
//!     .wait_for(|e| e.is_inbound_transfer() && e.address() == Some("queue://q"), Duration::from_secs(5))
//!     .await?;                                         // waits on journal events, bounded
//! let body = entry.message().and_then(|m| m.body_text());
//! broker.set_fault_plan(FaultPlan::from_yaml_str("rules: [{action: drop}]", "inline")?)?;
//!
//! let tls_broker = Broker::builder()
//!     .tls("-----BEGIN CERTIFICATE-----...", "-----BEGIN PRIVATE KEY-----...")
//!     .client_ca("-----BEGIN CERTIFICATE-----...")   // client certificate required
//!     .fault_plan(FaultPlan::<BrokerAction>::default())
//!     .start()
//!     .await?;                                          // Result<BrokerHandle, BrokerError>
//! // dropping a handle stops the listener and cuts its connections
//! # Ok(()) }
//! ```
//! [`Journal`] entries carry a sequence number, a monotonic timestamp since broker start, the
//! peer's [`PeerIdentity`] (connection number, address, TLS, certificate CN/UID, SASL mechanism
//! and identity) and an [`Event`]: connect, refused, disconnect, attach, detach (with the number
//! of requeued deliveries), transfer (link, direction, routing address, [`MessageSummary`] with
//! `to`, application properties and body bytes), disposition (outcome), expired, fault.
//!
//! The [`fault`] module is shared with the mock signing server: [`FaultPlan`]`<A>` with
//! `deny_unknown_fields`, match by address glob / nth message / application property /
//! seeded probability, and a deterministic [`fault::FaultState`] evaluator. The broker's actions
//! ([`BrokerAction`]): `drop`, `delay`, `duplicate`, `reorder`, `reject`, `never_settle`,
//! `disconnect_after`, `refuse_connection`, `refuse_attach` (a peer's receiver attach, matched by
//! source glob, closed at once with `amqp:unauthorized-access`, [`REFUSE_ATTACH_DESCRIPTION`];
//! journaled as `fault` + `detach` with the error). [`BrokerHandle::set_fault_plan`] replaces the
//! plan while the broker runs; [`BrokerHandle::queue_depth`] and
//! [`BrokerHandle::disconnect_all`] help tests that need them.
//!
//! ## Inside
//! - `router` (no sockets): topic fan-out, FIFO queues with competing consumers, requeue at the
//!   head in order, `header.ttl` expiry in tokio time.
//! - `server`: one task per connection, session and link. TLS is terminated first (tokio-rustls,
//!   aws-lc-rs), then the 8-byte protocol header chooses the SASL acceptor or none. Inbound links
//!   route by target or, for a null target, by `properties.to`; outbound links pipeline with
//!   `send_batchable` and collect outcomes concurrently.
//! - `wire`: a frame-aware stream wrapper between socket and fe2o3 that renames the attach of a
//!   peer receiver (fe2o3 keys links by name alone; proton gives its sender and receiver the same
//!   name) and restores the name on the way out; it is also the kill switch for `disconnect_after`
//!   and shutdown.
//!
//! The same broker as a process: `sigharness serve broker` (see `sigharness serve broker --help`).
//!
//! ## Limits
//! - Outbound faults (`match: {direction: outbound}`) support drop, delay, duplicate and
//!   disconnect_after; reorder/reject/never_settle are inbound only (the consumer settles).
//! - `disconnect_after` cuts the connection of the link on which the N-th match happened; the
//!   settlement of that N-th transfer may not reach the sender.
//! - After a cut, fe2o3's *client* `Sender::send` can stay pending; bound client sends yourself.
//! - No AMQP-TLS upgrade (protocol id 2), no transactions, no durable storage, no link recovery.
//! - **Encoding check** ([`encoding`]): serde_amqp allocates the declared length of a `vbin32`,
//!   `str32` or `sym32` before reading it, so the wire holds every peer frame whole (it is at
//!   most max-frame-size) and checks its performative, and checks each delivery's message when
//!   its last transfer is in (payloads buffered per link, bounded by max-message-size, at most
//!   four messages' worth per connection), before fe2o3 decodes: declared sizes must fit,
//!   counts fill their compounds, arrays hold no more elements than bytes, nesting at most
//!   [`encoding::MAX_DEPTH`]; else the connection is closed with `amqp:decode-error` naming the
//!   byte. A frame cut short by EOF is dropped, never decoded. fe2o3's decoding cost is values x
//!   transfer frames (it walks the list of payloads from the start on every read), so a delivery
//!   takes at most `MAX_TRANSFERS_PER_DELIVERY` (4 096) transfers and its message holds at
//!   most `MAX_MESSAGE_VALUES` (65 536) values, else `amqp:resource-limit-exceeded`
//!   (before: 64 000 one-byte transfers, about 2 MB, kept a worker busy 5.5 s). (Both were `amqp_broker` fuzz
//!   findings: a 26-byte frame that allocated 4 GB; a 6-byte SASL frame tail that made fe2o3's
//!   SASL decoder panic.)

pub mod coalesce;
pub mod encoding;
pub mod error;
pub mod fault;
pub mod journal;
mod router;
mod sasl;
mod server;
mod tls;
mod wire;

pub use error::BrokerError;
pub use fault::{BrokerAction, FaultPlan, FaultRule, Match, REFUSE_ATTACH_DESCRIPTION};
pub use journal::{
    Entry, Event, Journal, JournalLimits, LinkDirection, MessageSummary, Outcome, PeerIdentity,
    WaitTimeout,
};
pub use router::is_topic;
pub use server::{
    Broker, BrokerBuilder, BrokerHandle, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIME_OUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_MESSAGE_SIZE,
};
pub use wire::MIN_MAX_FRAME_SIZE;
