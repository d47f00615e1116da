//! The byte stream under one accepted connection: a thin frame-aware wrapper between the socket
//! (or TLS stream) and fe2o3-amqp's connection engine.
//!
//! It does three things and nothing else:
//! - replays the 8-byte protocol header we read ourselves to choose between the SASL and the
//!   plain AMQP acceptor;
//! - gives same-name links of opposite directions distinct names inside fe2o3 (which keys the
//!   links of a session by name alone), and restores the peer's name on the attach we send back;
//! - lets the broker cut the connection abruptly (fault `disconnect`, broker shutdown).
//!
//! Hand-written because no crate offers this: fe2o3's frame codecs are crate-private for the
//! encoder side, and the rewrite must leave every other frame byte-for-byte untouched.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use fe2o3_amqp::types::definitions::Role;
use fe2o3_amqp::types::performatives::Attach;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
}

impl KillSwitch {
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

/// Incremental scanner over an AMQP byte stream (protocol headers and frames, RFC-free: AMQP 1.0
/// part 2.3 frame layout: 4-byte size, doff, type, 2 type-specific bytes, body).
#[derive(Debug)]
struct Scanner {
    side: Side,
    raw: Vec<u8>,
    /// Bytes of the current frame that may pass through without inspection.
    passthrough: usize,
}

/// The AMQP performative code of attach (AMQP 1.0 part 2.7.3: `amqp:attach:list`, 0x00000000:0x00000012).
const ATTACH_CODE: u8 = 0x12;

impl Scanner {
    fn new(side: Side) -> Self {
        Self {
            side,
            raw: Vec::new(),
            passthrough: 0,
        }
    }

    /// Move whatever can be emitted from `raw` to `out`.
    fn process(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut pos = 0;
        loop {
            let avail = &self.raw[pos..];
            if self.passthrough > 0 {
                let n = self.passthrough.min(avail.len());
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&avail[..n]);
                self.passthrough -= n;
                pos += n;
                continue;
            }
            if avail.len() < 8 {
                break;
            }
            // AMQP 1.0 part 2.2: a protocol header is "AMQP" followed by id and version.
            if &avail[..4] == b"AMQP" {
                out.extend_from_slice(&avail[..8]);
                pos += 8;
                continue;
            }
            let size = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
            // AMQP 1.0 part 2.3.1: SIZE includes the 8-byte frame header, DOFF >= 2.
            if size < 8 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("AMQP frame size {size} is smaller than the 8-byte frame header"),
                ));
            }
            let doff = avail[4] as usize * 4;
            let ftype = avail[5];
            if ftype != 0 || size <= doff.max(8) {
                self.passthrough = size;
                continue;
            }
            // Need the descriptor to know whether this is an attach.
            let need = doff + 3;
            if avail.len() < need.min(size) {
                break;
            }
            let is_attach = need <= size
                && avail[doff] == 0x00
                && avail[doff + 1] == 0x53
                && avail[doff + 2] == ATTACH_CODE;
            if !is_attach {
                self.passthrough = size;
                continue;
            }
            if avail.len() < size {
                break;
            }
            let header = &avail[..doff];
            let body = &avail[doff..size];
            match self.rewrite(body) {
                Some(new_body) => {
                    let new_size = (doff + new_body.len()) as u32;
                    out.extend_from_slice(&new_size.to_be_bytes());
                    out.extend_from_slice(&header[4..]);
                    out.extend_from_slice(&new_body);
                }
                None => out.extend_from_slice(&avail[..size]),
            }
            pos += size;
        }
        self.raw.drain(..pos);
        Ok(())
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
}

const WRITE_HIGH_WATER: usize = 256 * 1024;

impl<Io> Wire<Io> {
    /// `prefix`: bytes already read from `inner` (the protocol header).
    pub(crate) fn new(inner: Io, prefix: &[u8], kill: Arc<KillSwitch>) -> Self {
        Self::with_rules(inner, prefix, kill, BROKER_RD, BROKER_WR)
    }

    /// A wrapper with explicit rules (tests use the mirror image on the client side to put two
    /// same-name links on one session, which fe2o3's client cannot do by itself).
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
}

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncRead for Wire<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
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
            this.rd.process(&mut this.rd_out)?;
            if !this.rd_out.is_empty() {
                continue;
            }
            let mut tmp = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    if got.is_empty() {
                        // EOF: hand over whatever partial bytes remain, then EOF.
                        if this.rd.raw.is_empty() {
                            return Poll::Ready(Ok(()));
                        }
                        let rest = std::mem::take(&mut this.rd.raw);
                        this.rd_out.extend_from_slice(&rest);
                        continue;
                    }
                    this.rd.raw.extend_from_slice(got);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
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
        if this.kill.is_killed() {
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
        this.wr.process(&mut this.wr_out)?;
        // Opportunistic write; completion is ensured by poll_flush.
        if let Poll::Ready(Err(e)) = this.poll_drain_writes(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        match this.poll_drain_writes(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.kill.is_killed() {
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
        assert!(err.to_string().contains("smaller than"), "{err}");
    }
}
