//! The byte stream under one accepted connection: a thin frame-aware wrapper between the socket
//! (or TLS stream) and fe2o3-amqp's connection engine.
//!
//! It does these things and nothing else:
//! - replays the 8-byte protocol header we read ourselves to choose between the SASL and the
//!   plain AMQP acceptor;
//! - gives same-name links of opposite directions distinct names inside fe2o3 (which keys the
//!   links of a session by name alone), and restores the peer's name on the attach we send back;
//! - enforces the frame-size limit on what the peer sends (AMQP 1.0 part 2.4.1: 512 bytes,
//!   MIN-MAX-FRAME-SIZE, until the peer's open; then the max-frame-size the broker offered),
//!   from the frame header alone, before any of the body is buffered;
//! - advertises the broker's idle-time-out in the open it sends and closes a peer that sends no
//!   complete frame for twice that (part 2.4.5);
//! - closes a connection that breaks either rule with an AMQP close carrying the error
//!   (`amqp:connection:framing-error`, `amqp:resource-limit-exceeded`), preceded by an open when
//!   the broker has not sent one yet (part 2.4.1 allows close only after open), then TCP FIN;
//!   during SASL there is no AMQP close to send and the socket is simply shut;
//! - lets the broker cut the connection abruptly (fault `disconnect`, broker shutdown).
//!
//! fe2o3 itself enforces neither rule the way we need: its length-delimited decoder buffers a
//! frame up to its limit before judging it, and its idle timer closes at the advertised value
//! without a close frame.
//!
//! Hand-written because no crate offers this: fe2o3's frame codecs are crate-private for the
//! encoder side, and the rewrite must leave every other frame byte-for-byte untouched.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::encoding;
use fe2o3_amqp::types::definitions::{self, AmqpError, ConnectionError, ErrorCondition, Role};
use fe2o3_amqp::types::performatives::{Attach, Close, Open, Transfer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Appended inside fe2o3 to the name of a link on which the peer receives (our sender), so that
/// a peer sender and a peer receiver with the same name can coexist on one session. Never seen
/// on the wire: stripped from the attach we send back and from every name the journal records.
pub(crate) const OUTGOING_SUFFIX: &str = "\u{0}<broker-out>";

/// Strip the internal suffix from a link name.
pub(crate) fn wire_name(name: &str) -> &str {
    name.strip_suffix(OUTGOING_SUFFIX).unwrap_or(name)
}

/// Cuts one connection from outside its tasks.
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    killed: AtomicBool,
    waker: Mutex<Option<Waker>>,
    /// Why the wire closed the connection itself (framing error, idle timeout), for the journal.
    reason: Mutex<Option<String>>,
}

impl KillSwitch {
    /// The reason the wire gave when it closed the connection on its own, if it did.
    pub(crate) fn reason(&self) -> Option<String> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }

    fn set_reason(&self, reason: &str) {
        if let Ok(mut r) = self.reason.lock()
            && r.is_none()
        {
            *r = Some(reason.to_string());
        }
    }

    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        if let Ok(mut w) = self.waker.lock()
            && let Some(w) = w.take()
        {
            w.wake();
        }
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    fn register(&self, cx: &Context<'_>) {
        if let Ok(mut w) = self.waker.lock() {
            *w = Some(cx.waker().clone());
        }
    }
}

/// What to do to attach frames passing one way.
#[derive(Debug, Clone)]
pub(crate) enum Side {
    /// Append the suffix to attaches whose role is this one.
    Add(Role),
    /// Strip the suffix from attaches whose role is this one.
    Strip(Role),
}

/// The broker's rules: a peer receiver's attach gets the suffix; ours (role sender) loses it.
const BROKER_RD: Side = Side::Add(Role::Receiver);
const BROKER_WR: Side = Side::Strip(Role::Sender);

/// AMQP 1.0 part 2.4.1: the largest frame either side may send before the open exchange.
pub const MIN_MAX_FRAME_SIZE: u32 = 512;

/// A frame the peer may not send: the connection is closed with this AMQP error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    pub(crate) condition: ErrorCondition,
    pub(crate) description: String,
}

impl Violation {
    fn framing(description: String) -> Self {
        Self {
            condition: ErrorCondition::ConnectionError(ConnectionError::FramingError),
            description,
        }
    }

    /// Bytes fe2o3 must not decode (AMQP 1.0 part 2.8.15: `amqp:decode-error`, "data could not
    /// be decoded").
    fn decode(description: String) -> Self {
        Self {
            condition: ErrorCondition::AmqpError(AmqpError::DecodeError),
            description,
        }
    }
}

/// Incremental scanner over an AMQP byte stream (protocol headers and frames, AMQP 1.0
/// part 2.3 frame layout: 4-byte size, doff, type, 2 type-specific bytes, body).
#[derive(Debug)]
struct Scanner {
    side: Side,
    raw: Vec<u8>,
    /// Bytes of the current frame that may pass through without inspection.
    passthrough: usize,
    /// Largest frame accepted now (reading: 512 until the peer's open, then `after_open`).
    limit: usize,
    /// The limit once the open has passed.
    after_open: usize,
    /// An open frame has passed (the peer's when reading, ours when writing).
    open_seen: bool,
    /// A protocol header with protocol id 0 (AMQP, not SASL) has passed.
    amqp_header_seen: bool,
    /// Complete frames (and protocol headers) that have passed.
    frames: u64,
    /// Set this idle-time-out (milliseconds) in the open frame that passes (writing side).
    set_idle_ms: Option<u32>,
    /// Check the AMQP encoding of what passes before fe2o3 decodes it (reading side of the
    /// broker): every frame is held whole (it is at most `limit` bytes) and judged by
    /// [`crate::encoding`], and so is the message of every delivery once its last transfer is in.
    check: Option<PayloadCheck>,
}

/// Payloads of deliveries still in progress, per (channel, handle), for the encoding check of
/// the whole message when its last transfer arrives (fe2o3 decodes the message then, from the
/// concatenated payloads).
#[derive(Debug, Default)]
struct PayloadCheck {
    /// Largest message a link accepts (the broker's max-message-size): a delivery beyond it is
    /// not buffered (fe2o3 detaches the link with `amqp:link:message-size-exceeded` and never
    /// decodes it).
    max_message_size: usize,
    in_progress: HashMap<(u16, u32), Partial>,
    buffered: usize,
}

#[derive(Debug, Default)]
struct Partial {
    payload: Vec<u8>,
    oversize: bool,
    /// Transfer frames of the delivery so far.
    transfers: usize,
}

/// Most transfer frames one delivery may take, and most values (nested ones included) one
/// message may hold. fe2o3 decodes a message by reading its values from the list of transfer
/// payloads, walking that list from the start on each read: its cost is values x transfers.
/// Measured before these caps (dev build): one delivery of 64 000 one-byte transfers holding a
/// list of 64 000 nulls (about 2 MB on the wire) kept a broker worker busy 5.5 s, 16 000 took
/// 0.38 s. Within both caps the worst case is about 0.4 s there; real clients fill their frames
/// (a 16 MiB message at 4 KiB frames is 4 096 transfers) and send a few dozen values.
pub const MAX_TRANSFERS_PER_DELIVERY: usize = 4096;
/// See [`MAX_TRANSFERS_PER_DELIVERY`].
pub const MAX_MESSAGE_VALUES: u64 = 65_536;

/// The AMQP performative code of attach (AMQP 1.0 part 2.7.3: `amqp:attach:list`, 0x00000000:0x00000012).
const ATTACH_CODE: u8 = 0x12;
/// The AMQP performative code of open (part 2.7.1: `amqp:open:list`, 0x00000000:0x00000010).
const OPEN_CODE: u8 = 0x10;
/// The AMQP performative code of transfer (part 2.7.5: `amqp:transfer:list`, 0x00000000:0x00000014).
const TRANSFER_CODE: u8 = 0x14;

impl Scanner {
    fn new(side: Side) -> Self {
        Self {
            side,
            raw: Vec::new(),
            passthrough: 0,
            limit: usize::MAX,
            after_open: usize::MAX,
            open_seen: false,
            amqp_header_seen: false,
            frames: 0,
            set_idle_ms: None,
            check: None,
        }
    }

    /// A scanner that refuses frames over 512 bytes until an open has passed, then over
    /// `max_frame_size`.
    fn limited(side: Side, max_frame_size: u32, max_message_size: u64) -> Self {
        let mut s = Self::new(side);
        s.limit = MIN_MAX_FRAME_SIZE as usize;
        s.after_open = max_frame_size.max(MIN_MAX_FRAME_SIZE) as usize;
        s.check = Some(PayloadCheck {
            max_message_size: usize::try_from(max_message_size).unwrap_or(usize::MAX),
            ..PayloadCheck::default()
        });
        s
    }

    /// True when no frame is half through (what has been emitted ends on a frame boundary).
    fn at_boundary(&self) -> bool {
        self.passthrough == 0 && self.raw.is_empty()
    }

    /// Move whatever can be emitted from `raw` to `out`. A frame over the limit is refused
    /// from its 8-byte header, before any of its body is held.
    fn process(&mut self, out: &mut Vec<u8>) -> Result<(), Violation> {
        let mut pos = 0;
        let res = self.scan(&mut pos, out);
        self.raw.drain(..pos);
        res
    }

    fn scan(&mut self, pos: &mut usize, out: &mut Vec<u8>) -> Result<(), Violation> {
        loop {
            let avail = &self.raw[*pos..];
            if self.passthrough > 0 {
                let n = self.passthrough.min(avail.len());
                if n == 0 {
                    return Ok(());
                }
                out.extend_from_slice(&avail[..n]);
                self.passthrough -= n;
                *pos += n;
                if self.passthrough == 0 {
                    self.frames += 1;
                }
                continue;
            }
            if avail.len() < 8 {
                return Ok(());
            }
            // AMQP 1.0 part 2.2: a protocol header is "AMQP" followed by id and version.
            if &avail[..4] == b"AMQP" {
                if avail[4] == 0 {
                    self.amqp_header_seen = true;
                }
                out.extend_from_slice(&avail[..8]);
                *pos += 8;
                self.frames += 1;
                continue;
            }
            let size = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
            // AMQP 1.0 part 2.3.1: SIZE includes the 8-byte frame header, DOFF >= 2.
            if size < 8 {
                return Err(Violation::framing(format!(
                    "frame size {size} is smaller than the 8-byte frame header"
                )));
            }
            if size > self.limit {
                return Err(Violation::framing(if self.open_seen {
                    format!(
                        "frame size {size} exceeds the negotiated max-frame-size {}",
                        self.limit
                    )
                } else {
                    format!(
                        "frame size {size} exceeds {} bytes (MIN-MAX-FRAME-SIZE), the limit before the open exchange",
                        self.limit
                    )
                }));
            }
            let doff = avail[4] as usize * 4;
            if doff < 8 {
                return Err(Violation::framing(format!(
                    "data offset {} is below 2 (the frame header is 8 bytes)",
                    avail[4]
                )));
            }
            let ftype = avail[5];
            if size <= doff {
                self.passthrough = size;
                continue;
            }
            // AMQP 1.0 part 2.3.1: type 0x00 is an AMQP frame, 0x01 a SASL frame (part 5.3.3).
            if let Some(check) = self.check.as_mut().filter(|_| ftype <= 1) {
                if avail.len() < size {
                    return Ok(());
                }
                let channel = u16::from_be_bytes([avail[6], avail[7]]);
                check.frame(ftype, channel, &avail[doff..size])?;
            } else if ftype != 0 {
                self.passthrough = size;
                continue;
            }
            // Need the descriptor to know which performative this is.
            let need = doff + 3;
            if avail.len() < need.min(size) {
                return Ok(());
            }
            let code = (need <= size && avail[doff] == 0x00 && avail[doff + 1] == 0x53)
                .then(|| avail[doff + 2]);
            let is_open = code == Some(OPEN_CODE);
            if is_open {
                self.open_seen = true;
                self.limit = self.after_open;
            }
            let rewrite = code == Some(ATTACH_CODE) || (is_open && self.set_idle_ms.is_some());
            if !rewrite {
                self.passthrough = size;
                continue;
            }
            if avail.len() < size {
                return Ok(());
            }
            let header = &avail[..doff];
            let body = &avail[doff..size];
            let new_body = if is_open {
                self.rewrite_open(body)
            } else {
                self.rewrite(body)
            };
            match new_body {
                Some(new_body) => {
                    let new_size = (doff + new_body.len()) as u32;
                    out.extend_from_slice(&new_size.to_be_bytes());
                    out.extend_from_slice(&header[4..]);
                    out.extend_from_slice(&new_body);
                }
                None => out.extend_from_slice(&avail[..size]),
            }
            *pos += size;
            self.frames += 1;
        }
    }

    fn rewrite_open(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut open: Open = serde_amqp::from_slice(body).ok()?;
        open.idle_time_out = self.set_idle_ms;
        serde_amqp::to_vec(&open).ok()
    }

    fn rewrite(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut attach: Attach = serde_amqp::from_slice(body).ok()?;
        match &self.side {
            Side::Add(role) if *role == attach.role => {
                attach.name.push_str(OUTGOING_SUFFIX);
            }
            Side::Strip(role) if *role == attach.role && attach.name.ends_with(OUTGOING_SUFFIX) => {
                let n = attach.name.len() - OUTGOING_SUFFIX.len();
                attach.name.truncate(n);
            }
            _ => return None,
        }
        serde_amqp::to_vec(&attach).ok()
    }
}

/// One AMQP frame (type 0, channel 0) around an encoded performative.
impl PayloadCheck {
    /// Judges one whole frame body: its performative, and for the last transfer of a delivery the
    /// whole message.
    fn frame(&mut self, ftype: u8, channel: u16, body: &[u8]) -> Result<(), Violation> {
        let what = if ftype == 0 { "frame" } else { "SASL frame" };
        let n = encoding::check_value(body).map_err(|e| {
            Violation::decode(format!("{what} on channel {channel}: performative {e}"))
        })?;
        // Only a transfer carries a payload (part 2.7.5); a transfer is known by its descriptor,
        // whichever form it takes (0x53 0x14, a ulong, or the symbol), so any other small-ulong
        // code is skipped without decoding.
        let small_code = (body.len() >= 3 && body[0] == 0x00 && body[1] == 0x53).then(|| body[2]);
        if ftype != 0 || small_code.is_some_and(|c| c != TRANSFER_CODE) {
            return Ok(());
        }
        let Ok(transfer) = serde_amqp::from_slice::<Transfer>(&body[..n]) else {
            return Ok(()); // not a transfer (or not one fe2o3 will accept)
        };
        let key = (channel, transfer.handle.0);
        let payload = &body[n..];
        let last = !transfer.more || transfer.aborted;
        let mut partial = self.in_progress.remove(&key).unwrap_or_default();
        self.buffered -= partial.payload.len();
        partial.transfers += 1;
        if partial.transfers > MAX_TRANSFERS_PER_DELIVERY && !transfer.aborted {
            return Err(Violation {
                condition: ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded),
                description: format!(
                    "a delivery on channel {channel}, handle {} takes more than {MAX_TRANSFERS_PER_DELIVERY} transfer frames",
                    transfer.handle.0
                ),
            });
        }
        if !partial.oversize {
            if partial.payload.len() + payload.len() > self.max_message_size {
                partial = Partial {
                    payload: Vec::new(),
                    oversize: true,
                    transfers: partial.transfers,
                };
            } else if !last {
                partial.payload.extend_from_slice(payload);
            }
        }
        if !last {
            self.buffered += partial.payload.len();
            let cap = self.max_message_size.saturating_mul(BUFFERED_MESSAGES);
            if self.buffered > cap {
                return Err(Violation {
                    condition: ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded),
                    description: format!(
                        "{} bytes of unfinished deliveries on one connection (at most {BUFFERED_MESSAGES} times the max-message-size of {} bytes)",
                        self.buffered, self.max_message_size
                    ),
                });
            }
            self.in_progress.insert(key, partial);
            return Ok(());
        }
        if partial.oversize || transfer.aborted {
            return Ok(());
        }
        let checked = if partial.payload.is_empty() {
            encoding::check_values(payload)
        } else {
            partial.payload.extend_from_slice(payload);
            encoding::check_values(&partial.payload)
        };
        let values = checked.map_err(|e| {
            Violation::decode(format!(
                "message of the delivery on channel {channel}, handle {}: {e}",
                transfer.handle.0
            ))
        })?;
        if values > MAX_MESSAGE_VALUES {
            return Err(Violation {
                condition: ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded),
                description: format!(
                    "the message of the delivery on channel {channel}, handle {} holds {values} values (at most {MAX_MESSAGE_VALUES})",
                    transfer.handle.0
                ),
            });
        }
        Ok(())
    }
}

/// Unfinished deliveries one connection may have buffered at once, in max-message-sizes.
const BUFFERED_MESSAGES: usize = 4;

fn amqp_frame(body: &[u8]) -> Vec<u8> {
    let mut f = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&[2, 0, 0, 0]);
    f.extend_from_slice(body);
    f
}

/// What the wire enforces on a peer, from the broker's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireLimits {
    /// The max-frame-size the broker offers in its open (the limit once the peer has opened).
    pub(crate) max_frame_size: u32,
    /// The idle-time-out the broker advertises; a peer with no complete frame for twice this
    /// after its open is closed.
    pub(crate) idle_time_out: Option<Duration>,
    /// The max-message-size of the broker's links (bounds what the encoding check buffers).
    pub(crate) max_message_size: u64,
}

/// Bound on flushing the close frame of a connection the wire ends itself.
const CLOSE_FLUSH_BOUND: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Closing {
    description: String,
    deadline: Pin<Box<Sleep>>,
}

/// The stream handed to fe2o3's connection acceptor.
#[derive(Debug)]
pub(crate) struct Wire<Io> {
    inner: Io,
    kill: Arc<KillSwitch>,
    rd: Scanner,
    rd_out: Vec<u8>,
    rd_out_pos: usize,
    wr: Scanner,
    wr_out: Vec<u8>,
    wr_out_pos: usize,
    max_frame_size: u32,
    /// Advertised idle-time-out and the timer at twice it, armed at the peer's open.
    idle: Option<(Duration, Option<Pin<Box<Sleep>>>)>,
    /// Frames seen when the idle timer was last reset.
    idle_frames: u64,
    /// The wire is ending the connection itself: flushing its close frame, then failing.
    closing: Option<Closing>,
}

const WRITE_HIGH_WATER: usize = 256 * 1024;

impl<Io> Wire<Io> {
    /// `prefix`: bytes already read from `inner` (the protocol header).
    pub(crate) fn new(inner: Io, prefix: &[u8], kill: Arc<KillSwitch>, limits: WireLimits) -> Self {
        let mut w = Self::with_rules(inner, prefix, kill, BROKER_RD, BROKER_WR);
        let mut rd = Scanner::limited(BROKER_RD, limits.max_frame_size, limits.max_message_size);
        rd.raw = std::mem::take(&mut w.rd.raw);
        w.rd = rd;
        w.max_frame_size = limits.max_frame_size;
        if let Some(t) = limits.idle_time_out.filter(|t| !t.is_zero()) {
            w.wr.set_idle_ms = Some(u32::try_from(t.as_millis()).unwrap_or(u32::MAX));
            w.idle = Some((t, None));
        }
        w
    }

    /// A wrapper with explicit rules (tests use the mirror image on the client side to put two
    /// same-name links on one session, which fe2o3's client cannot do by itself). No limits.
    pub(crate) fn with_rules(
        inner: Io,
        prefix: &[u8],
        kill: Arc<KillSwitch>,
        rd_side: Side,
        wr_side: Side,
    ) -> Self {
        let mut rd = Scanner::new(rd_side);
        rd.raw.extend_from_slice(prefix);
        Self {
            inner,
            kill,
            rd,
            rd_out: Vec::new(),
            rd_out_pos: 0,
            wr: Scanner::new(wr_side),
            wr_out: Vec::new(),
            wr_out_pos: 0,
            max_frame_size: u32::MAX,
            idle: None,
            idle_frames: 0,
            closing: None,
        }
    }
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by the broker",
    )
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Wire<Io> {
    fn poll_drain_writes(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wr_out_pos < self.wr_out.len() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.wr_out[self.wr_out_pos..])
            {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wr_out_pos += n;
        }
        self.wr_out.clear();
        self.wr_out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// End the connection ourselves: queue an AMQP close carrying `v` (after a protocol header
    /// and an open of ours if they have not gone out yet; nothing during SASL), stop fe2o3 from
    /// writing anything after it, and let `poll_read` flush it (bounded) and fail.
    fn start_closing(&mut self, v: Violation) {
        if self.closing.is_some() {
            return;
        }
        tracing::debug!("mock broker closes a connection: {}", v.description);
        self.kill.set_reason(&v.description);
        // In the AMQP phase (the peer sent its AMQP header; not during SASL) and between two of
        // our frames, an AMQP close can go out, after our header and open if they have not.
        if self.rd.amqp_header_seen && self.wr.at_boundary() {
            if !self.wr.amqp_header_seen {
                self.wr_out.extend_from_slice(b"AMQP\x00\x01\x00\x00");
            }
            if !self.wr.open_seen {
                let open = Open {
                    container_id: "sigharness-mock-broker".into(),
                    hostname: None,
                    max_frame_size: self.max_frame_size.into(),
                    channel_max: 0.into(),
                    idle_time_out: None,
                    outgoing_locales: None,
                    incoming_locales: None,
                    offered_capabilities: None,
                    desired_capabilities: None,
                    properties: None,
                };
                if let Ok(b) = serde_amqp::to_vec(&open) {
                    self.wr_out.extend_from_slice(&amqp_frame(&b));
                }
            }
            let close = Close {
                error: Some(definitions::Error {
                    condition: v.condition,
                    description: Some(v.description.clone()),
                    info: None,
                }),
            };
            if let Ok(b) = serde_amqp::to_vec(&close) {
                self.wr_out.extend_from_slice(&amqp_frame(&b));
            }
        }
        self.closing = Some(Closing {
            description: v.description,
            deadline: Box::pin(tokio::time::sleep(CLOSE_FLUSH_BOUND)),
        });
    }

    /// Flush the close frame (or give up at the deadline), shut the socket, fail the read.
    fn poll_closing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(c) = self.closing.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let timed_out = c.deadline.as_mut().poll(cx).is_ready();
        if !timed_out {
            match self.poll_drain_writes(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {
                    if Pin::new(&mut self.inner).poll_flush(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Poll::Ready(Err(_)) => {}
            }
            if Pin::new(&mut self.inner).poll_shutdown(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let description = self
            .closing
            .as_ref()
            .map(|c| c.description.clone())
            .unwrap_or_default();
        self.kill.kill();
        Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, description)))
    }

    /// Arm or reset the idle timer from the frames the reader has seen; true when it expired.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((t, timer)) = self.idle.as_mut() else {
            return false;
        };
        if !self.rd.open_seen {
            return false;
        }
        let threshold = *t * 2;
        match timer {
            None => *timer = Some(Box::pin(tokio::time::sleep(threshold))),
            Some(s) if self.rd.frames != self.idle_frames => {
                s.as_mut().reset(Instant::now() + threshold);
            }
            Some(_) => {}
        }
        self.idle_frames = self.rd.frames;
        timer
            .as_mut()
            .is_some_and(|s| s.as_mut().poll(cx).is_ready())
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncRead for Wire<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closing.is_some() {
            return this.poll_closing(cx);
        }
        this.kill.register(cx);
        if this.kill.is_killed() {
            // Send FIN (or TLS close_notify) so the peer notices at once; best effort.
            let _ = Pin::new(&mut this.inner).poll_shutdown(cx);
            return Poll::Ready(Err(killed()));
        }
        loop {
            if this.rd_out_pos < this.rd_out.len() {
                let n = buf.remaining().min(this.rd_out.len() - this.rd_out_pos);
                buf.put_slice(&this.rd_out[this.rd_out_pos..this.rd_out_pos + n]);
                this.rd_out_pos += n;
                if this.rd_out_pos == this.rd_out.len() {
                    this.rd_out.clear();
                    this.rd_out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if let Err(v) = this.rd.process(&mut this.rd_out) {
                // Whatever came before the bad frame is dropped too: the connection ends here.
                this.rd_out.clear();
                this.rd_out_pos = 0;
                this.start_closing(v);
                return this.poll_closing(cx);
            }
            if !this.rd_out.is_empty() {
                continue;
            }
            let mut tmp = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    if got.is_empty() {
                        // EOF. A frame cut short by it is dropped, not handed over: fe2o3's
                        // decoders must only ever see whole, checked frames (the `amqp_broker`
                        // fuzz target: a 6-byte SASL frame tail at EOF made fe2o3's SASL
                        // decoder panic, "advance out of bounds").
                        if !this.rd.raw.is_empty() {
                            tracing::debug!(
                                "peer closed with {} bytes of an incomplete frame; dropped",
                                this.rd.raw.len()
                            );
                            this.rd.raw.clear();
                        }
                        return Poll::Ready(Ok(()));
                    }
                    this.rd.raw.extend_from_slice(got);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if this.idle_expired(cx) {
                        let t = this.idle.as_ref().map(|(t, _)| *t).unwrap_or_default();
                        this.start_closing(Violation {
                            condition: ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded),
                            description: format!(
                                "idle timeout: no frame received for {:?} (twice the idle-time-out of {:?} the broker advertised)",
                                t * 2,
                                t
                            ),
                        });
                        return this.poll_closing(cx);
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Wire<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.kill.is_killed() || this.closing.is_some() {
            return Poll::Ready(Err(killed()));
        }
        if this.wr_out.len() - this.wr_out_pos >= WRITE_HIGH_WATER {
            match this.poll_drain_writes(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.wr.raw.extend_from_slice(data);
        // The write side has no limit; only an undersized frame (a bug of ours) can fail.
        if let Err(v) = this.wr.process(&mut this.wr_out) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                v.description,
            )));
        }
        // Opportunistic write; completion is ensured by poll_flush.
        if let Poll::Ready(Err(e)) = this.poll_drain_writes(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.is_killed() || this.closing.is_some() {
            return Poll::Ready(Err(killed()));
        }
        match this.poll_drain_writes(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.kill.is_killed() && this.closing.is_none() {
            match this.poll_drain_writes(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attach_frame(name: &str, role: Role) -> Vec<u8> {
        let attach = Attach {
            name: name.to_string(),
            handle: 0u32.into(),
            role,
            snd_settle_mode: Default::default(),
            rcv_settle_mode: Default::default(),
            source: None,
            target: None,
            unsettled: None,
            incomplete_unsettled: false,
            initial_delivery_count: None,
            max_message_size: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        let body = serde_amqp::to_vec(&attach).unwrap();
        let mut f = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&[2, 0, 0, 1]);
        f.extend_from_slice(&body);
        f
    }

    fn names(bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            if &bytes[pos..pos + 4] == b"AMQP" {
                pos += 8;
                continue;
            }
            let size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
            if let Ok(a) = serde_amqp::from_slice::<Attach>(&bytes[pos + 8..pos + size]) {
                out.push(a.name);
            }
            pos += size;
        }
        out
    }

    #[test]
    fn inbound_receiver_attach_is_renamed_byte_by_byte() {
        let mut input = b"AMQP\x00\x01\x00\x00".to_vec();
        input.extend(attach_frame("same", Role::Sender));
        input.extend([0, 0, 0, 8, 2, 0, 0, 0]); // heartbeat
        input.extend(attach_frame("same", Role::Receiver));
        let mut sc = Scanner::new(BROKER_RD);
        let mut out = Vec::new();
        for b in &input {
            sc.raw.push(*b);
            sc.process(&mut out).unwrap();
        }
        assert_eq!(
            names(&out),
            vec!["same".to_string(), format!("same{OUTGOING_SUFFIX}")]
        );
        // Outbound restores the wire name.
        let mut back = Scanner::new(BROKER_WR);
        back.raw.extend(attach_frame(
            &format!("same{OUTGOING_SUFFIX}"),
            Role::Sender,
        ));
        let mut out2 = Vec::new();
        back.process(&mut out2).unwrap();
        assert_eq!(names(&out2), vec!["same".to_string()]);
    }

    #[test]
    fn undersized_frame_is_an_error_not_a_panic() {
        let mut sc = Scanner::new(BROKER_RD);
        sc.raw.extend([0, 0, 0, 4, 2, 0, 0, 0]);
        let err = sc.process(&mut Vec::new()).unwrap_err();
        assert!(err.description.contains("smaller than"), "{err:?}");
    }

    /// A frame over the limit is refused from its 8-byte header: 512 bytes before the open,
    /// the offered max-frame-size after it. Before the fix the scanner held an attach-shaped
    /// frame whole, whatever its declared size.
    #[test]
    fn frame_limits_are_judged_from_the_header() {
        let mut sc = Scanner::limited(BROKER_RD, 4096, 1 << 20);
        sc.raw.extend_from_slice(b"AMQP\x00\x01\x00\x00");
        sc.raw.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        sc.raw.extend_from_slice(&[2, 0, 0, 0, 0x00, 0x53, 0x12]);
        let v = sc.process(&mut Vec::new()).unwrap_err();
        assert_eq!(
            v.condition,
            ErrorCondition::ConnectionError(ConnectionError::FramingError)
        );
        assert!(v.description.contains("MIN-MAX-FRAME-SIZE"), "{v:?}");

        // After an open the limit is 4096: 4096 passes, 4097 does not.
        let mut sc = Scanner::limited(BROKER_RD, 4096, 1 << 20);
        let open = Open {
            container_id: "c".into(),
            hostname: None,
            max_frame_size: 512.into(),
            channel_max: 0.into(),
            idle_time_out: None,
            outgoing_locales: None,
            incoming_locales: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        sc.raw
            .extend(amqp_frame(&serde_amqp::to_vec(&open).unwrap()));
        sc.raw.extend_from_slice(&4096u32.to_be_bytes());
        sc.raw.extend_from_slice(&[2, 1, 0, 0]);
        // A body that is one well-formed value (a vbin32 of 4083 bytes): 4088 bytes.
        sc.raw.push(0xb0);
        sc.raw.extend_from_slice(&4083u32.to_be_bytes());
        sc.raw.extend(std::iter::repeat_n(0u8, 4083));
        let mut out = Vec::new();
        sc.process(&mut out).unwrap();
        assert!(sc.open_seen && sc.at_boundary());
        sc.raw.extend_from_slice(&4097u32.to_be_bytes());
        sc.raw.extend_from_slice(&[2, 1, 0, 0]);
        let v = sc.process(&mut out).unwrap_err();
        assert!(
            v.description.contains("negotiated max-frame-size 4096"),
            "{v:?}"
        );
    }

    /// The broker's open leaves with the idle-time-out set; nothing else changes.
    #[test]
    fn outgoing_open_gets_the_idle_time_out() {
        let mut sc = Scanner::new(BROKER_WR);
        sc.set_idle_ms = Some(30_000);
        let open = Open {
            container_id: "sigharness-mock-broker".into(),
            hostname: None,
            max_frame_size: 65536.into(),
            channel_max: 255.into(),
            idle_time_out: None,
            outgoing_locales: None,
            incoming_locales: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        sc.raw
            .extend(amqp_frame(&serde_amqp::to_vec(&open).unwrap()));
        let mut out = Vec::new();
        sc.process(&mut out).unwrap();
        let back: Open = serde_amqp::from_slice(&out[8..]).unwrap();
        assert_eq!(back.idle_time_out, Some(30_000));
        assert_eq!(back.max_frame_size.0, 65536);
        assert_eq!(back.container_id, "sigharness-mock-broker");
    }

    /// A transfer frame on `channel` for `handle` carrying `payload`.
    fn transfer_frame(channel: u16, handle: u32, more: bool, payload: &[u8]) -> Vec<u8> {
        let t = Transfer {
            handle: handle.into(),
            delivery_id: Some(0),
            delivery_tag: Some(vec![1u8].into()),
            message_format: Some(0),
            settled: None,
            more,
            rcv_settle_mode: None,
            state: None,
            resume: false,
            aborted: false,
            batchable: false,
        };
        let mut body = serde_amqp::to_vec(&t).unwrap();
        body.extend_from_slice(payload);
        let mut f = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&[2, 0]);
        f.extend_from_slice(&channel.to_be_bytes());
        f.extend(body);
        f
    }

    fn opened_scanner(max_message_size: u64) -> Scanner {
        let mut sc = Scanner::limited(BROKER_RD, 65536, max_message_size);
        sc.open_seen = true;
        sc.limit = sc.after_open;
        sc
    }

    /// A message whose `str32` declares 1 GiB, split so that the length field is in the first
    /// transfer and the bytes in neither: each frame alone is well formed, the message is not,
    /// and the check judges the message when its last transfer arrives (before fe2o3 decodes).
    #[test]
    fn a_message_split_over_transfers_is_judged_whole() {
        // amqp-value section (0x00 0x53 0x77) holding a str32 of declared length 1 GiB.
        let mut message = vec![0x00, 0x53, 0x77, 0xb1];
        message.extend_from_slice(&(1u32 << 30).to_be_bytes());
        message.extend_from_slice(b"only a few bytes");
        let (a, b) = message.split_at(6);
        let mut sc = opened_scanner(1 << 20);
        let mut out = Vec::new();
        sc.raw.extend(transfer_frame(1, 7, true, a));
        sc.process(&mut out).unwrap();
        // Another link's delivery interleaves and is judged on its own.
        let mut good = vec![0x00, 0x53, 0x77, 0xa1, 0x02];
        good.extend_from_slice(b"ok");
        sc.raw.extend(transfer_frame(1, 8, false, &good));
        sc.process(&mut out).unwrap();
        sc.raw.extend(transfer_frame(1, 7, false, b));
        let v = sc.process(&mut out).unwrap_err();
        assert_eq!(
            v.condition,
            ErrorCondition::AmqpError(AmqpError::DecodeError)
        );
        assert!(
            v.description.contains("channel 1, handle 7")
                && v.description.contains("declares 1073741824 bytes"),
            "{v:?}"
        );
        assert!(sc.check.as_ref().unwrap().in_progress.is_empty());

        // The same two halves of a well-formed message pass, in any split.
        let mut whole = vec![0x00, 0x53, 0x77, 0xb1];
        whole.extend_from_slice(&16u32.to_be_bytes());
        whole.extend_from_slice(b"sixteen bytes!!!");
        for cut in 0..=whole.len() {
            let mut sc = opened_scanner(1 << 20);
            sc.raw.extend(transfer_frame(0, 0, true, &whole[..cut]));
            sc.raw.extend(transfer_frame(0, 0, false, &whole[cut..]));
            sc.process(&mut Vec::new()).unwrap();
        }
    }

    /// What the check buffers is bounded: a delivery beyond the max-message-size is not held (fe2o3
    /// detaches its link), and unfinished deliveries of one connection stop at four times it.
    #[test]
    fn what_the_message_check_holds_is_bounded() {
        let mut sc = opened_scanner(1000);
        let mut out = Vec::new();
        sc.raw.extend(transfer_frame(0, 0, true, &[0x40; 600]));
        sc.raw.extend(transfer_frame(0, 0, true, &[0x40; 600]));
        sc.process(&mut out).unwrap();
        let check = sc.check.as_ref().unwrap();
        assert_eq!(check.buffered, 0);
        assert!(check.in_progress[&(0, 0)].oversize);
        let mut sc = opened_scanner(1000);
        for handle in 0..4 {
            sc.raw.extend(transfer_frame(0, handle, true, &[0x40; 900]));
        }
        sc.process(&mut out).unwrap();
        sc.raw.extend(transfer_frame(0, 4, true, &[0x40; 900]));
        let v = sc.process(&mut out).unwrap_err();
        assert_eq!(
            v.condition,
            ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded)
        );
        assert!(
            v.description
                .contains("4500 bytes of unfinished deliveries"),
            "{v:?}"
        );
    }

    /// The `amqp_broker` fuzz finding of 2026-12-07 (seed 7, after 325 000 inputs): a SASL
    /// header, then `00 00 00 04 21 00` and EOF. The wire used to hand the incomplete frame to
    /// fe2o3 at EOF, whose SASL decoder panicked on it; now fe2o3 reads the header, then EOF.
    #[tokio::test]
    async fn an_incomplete_frame_at_eof_never_reaches_fe2o3() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut peer, ours) = tokio::io::duplex(1024);
        let header = b"AMQP\x03\x01\x00\x00";
        let limits = WireLimits {
            max_frame_size: 65536,
            idle_time_out: None,
            max_message_size: 1 << 20,
        };
        let mut wire = Wire::new(ours, header, Arc::new(KillSwitch::default()), limits);
        peer.write_all(&[0, 0, 0, 4, 0x21, 0]).await.unwrap();
        peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            wire.read_to_end(&mut got),
        )
        .await
        .expect("bounded")
        .unwrap();
        assert_eq!(got, header.to_vec(), "only the protocol header passes");
    }

    /// fe2o3's decoding cost is values x transfers (it re-walks the payload list per read): a
    /// delivery may take at most MAX_TRANSFERS_PER_DELIVERY transfers and its message hold at most
    /// MAX_MESSAGE_VALUES values. Before: 64 000 one-byte transfers of a list of 64 000 nulls
    /// passed and kept a broker worker busy 5.5 s (dev build).
    #[test]
    fn transfers_per_delivery_and_values_per_message_are_capped() {
        let mut sc = opened_scanner(16 << 20);
        let mut out = Vec::new();
        for _ in 0..MAX_TRANSFERS_PER_DELIVERY {
            sc.raw.extend(transfer_frame(0, 0, true, &[0x40]));
        }
        sc.process(&mut out).unwrap();
        sc.raw.extend(transfer_frame(0, 0, true, &[0x40]));
        let v = sc.process(&mut out).unwrap_err();
        assert_eq!(
            v.condition,
            ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded)
        );
        assert!(
            v.description.contains("more than 4096 transfer frames"),
            "{v:?}"
        );

        // Every value counts: the section's descriptor, the list and its nulls. A message of
        // exactly MAX_MESSAGE_VALUES passes, one more does not.
        let list = |n: usize| {
            let mut m = vec![0x00, 0x53, 0x77, 0xd0];
            m.extend_from_slice(&((n + 4) as u32).to_be_bytes());
            m.extend_from_slice(&(n as u32).to_be_bytes());
            m.extend(std::iter::repeat_n(0x40u8, n));
            m
        };
        let mut sc = opened_scanner(16 << 20);
        let n = MAX_MESSAGE_VALUES as usize - 2; // + the list and the section's descriptor
        let big = list(n);
        for chunk in big.chunks(60_000) {
            let last = chunk.as_ptr_range().end == big.as_ptr_range().end;
            sc.raw.extend(transfer_frame(0, 0, !last, chunk));
        }
        sc.process(&mut out).unwrap();
        let mut sc = opened_scanner(16 << 20);
        let big = list(n + 1);
        for chunk in big.chunks(60_000) {
            let last = chunk.as_ptr_range().end == big.as_ptr_range().end;
            sc.raw.extend(transfer_frame(0, 0, !last, chunk));
        }
        let v = sc.process(&mut out).unwrap_err();
        assert!(v.description.contains("holds 65537 values"), "{v:?}");
    }
}
