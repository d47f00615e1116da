//! The traffic journal: what happened on the broker, in order, with monotonic timestamps.
//!
//! Tests and conformance verdicts read it: take a [`Journal::snapshot`], or wait for an entry with
//! [`Journal::wait_for`] (event-driven, bounded; never a sleep). Timestamps are tokio
//! `Instant`s relative to the broker start, so under `tokio::time::pause` they are virtual.
//!
//! ## Bounds
//! The journal is a ring bounded by [`JournalLimits`] (entries and bytes, defaults 100 000 and
//! 32 MiB): when a new entry would exceed either, the oldest entries are dropped, and
//! [`Journal::dropped`] counts them. A verdict that needs the whole history checks
//! [`Journal::dropped`] (or [`Journal::is_truncated`]) and says the journal was truncated
//! instead of judging a partial history. Entries keep their `seq` (position since the broker
//! started), so `seq` of the first retained entry equals `dropped()`.
//! Bytes are counted as the fixed size of an entry plus the text and body bytes it owns
//! (allocator overhead is not counted). Message bodies are kept only when the broker was built
//! with `record_bodies(true)`; an entry that alone exceeds `max_bytes` loses its body
//! (`body_kind` stays, the body is empty) rather than emptying the journal.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fe2o3_amqp::types::messaging::{Body, Message, MessageId};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PeerIdentity {
    /// Broker-assigned connection number (1, 2, ...).
    pub conn: u64,
    /// The peer's socket address.
    pub addr: Option<SocketAddr>,
    /// Whether TLS was terminated on this connection.
    pub tls: bool,
    /// Subject CN of the client certificate, if one was presented.
    pub cert_cn: Option<String>,
    /// Subject UID (0.9.2342.19200300.100.1.1) of the client certificate, if present.
    pub cert_uid: Option<String>,
    /// SASL mechanism used (`None` = no SASL layer at all).
    pub sasl_mechanism: Option<String>,
    /// SASL identity: the EXTERNAL authorization id or the PLAIN user, when sent.
    pub sasl_identity: Option<String>,
}

/// Direction of a link, seen from the peer (the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkDirection {
    /// The peer sends (its sender link; the broker's receiver). Address = link target.
    PeerSends,
    /// The peer receives (its receiver link; the broker's sender). Address = link source.
    PeerReceives,
}

/// A delivery's outcome as carried by a disposition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Rejected {
        error: Option<String>,
    },
    Released,
    Modified {
        delivery_failed: bool,
        undeliverable_here: bool,
    },
    /// The link or connection went away before the delivery was settled.
    Lost,
}

/// The journal's view of one message.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MessageSummary {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub to: Option<String>,
    pub reply_to: Option<String>,
    pub subject: Option<String>,
    pub content_type: Option<String>,
    /// header.ttl in milliseconds.
    pub ttl_ms: Option<u32>,
    pub durable: bool,
    pub delivery_count: u32,
    /// Application properties rendered as JSON values (non-JSON types as their debug text).
    pub application_properties: BTreeMap<String, serde_json::Value>,
    /// `amqp-value` (string or other), `data`, `amqp-sequence` or `empty`.
    pub body_kind: &'static str,
    /// Body bytes: UTF-8 of an amqp-value string, the concatenated data sections, or the debug
    /// text of any other value.
    #[serde(serialize_with = "ser_body")]
    pub body: Vec<u8>,
}

fn ser_body<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(b) {
        Ok(t) => s.serialize_str(t),
        Err(_) => s.serialize_bytes(b),
    }
}

impl MessageSummary {
    /// The body as text, if it is UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// Summarise an AMQP message.
    pub fn of(m: &Message<Body<Value>>) -> Self {
        Self::summarize(m, true)
    }

    /// [`Self::of`]; the body bytes only when `with_body` (`body_kind` always).
    fn summarize(m: &Message<Body<Value>>, with_body: bool) -> Self {
        let mut s = MessageSummary::default();
        if let Some(h) = &m.header {
            s.ttl_ms = h.ttl;
            s.durable = h.durable;
            s.delivery_count = h.delivery_count;
        }
        if let Some(p) = &m.properties {
            s.message_id = p.message_id.as_ref().map(id_text);
            s.correlation_id = p.correlation_id.as_ref().map(id_text);
            s.to = p.to.clone();
            s.reply_to = p.reply_to.clone();
            s.subject = p.subject.clone();
            s.content_type = p.content_type.as_ref().map(|c| c.0.clone());
        }
        if let Some(ap) = &m.application_properties {
            for (k, v) in ap.0.iter() {
                s.application_properties.insert(k.clone(), simple_json(v));
            }
        }
        let (kind, body) = match &m.body {
            Body::Value(_) if !with_body => ("amqp-value", Vec::new()),
            Body::Data(_) if !with_body => ("data", Vec::new()),
            Body::Sequence(_) if !with_body => ("amqp-sequence", Vec::new()),
            Body::Value(v) => match &v.0 {
                Value::String(t) => ("amqp-value", t.as_bytes().to_vec()),
                Value::Binary(b) => ("amqp-value", b.to_vec()),
                other => ("amqp-value", format!("{other:?}").into_bytes()),
            },
            Body::Data(batch) => {
                let mut out = Vec::new();
                for d in batch.iter() {
                    out.extend_from_slice(&d.0);
                }
                ("data", out)
            }
            Body::Sequence(seq) => ("amqp-sequence", format!("{seq:?}").into_bytes()),
            Body::Empty => ("empty", Vec::new()),
        };
        s.body_kind = kind;
        s.body = body;
        s
    }
}

fn id_text(id: &MessageId) -> String {
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// Render an application property value as JSON.
pub(crate) fn simple_json(v: &SimpleValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        SimpleValue::Null => J::Null,
        SimpleValue::Bool(b) => J::Bool(*b),
        SimpleValue::String(s) => J::String(s.clone()),
        SimpleValue::Symbol(s) => J::String(s.0.clone()),
        SimpleValue::Ubyte(n) => J::from(*n),
        SimpleValue::Ushort(n) => J::from(*n),
        SimpleValue::Uint(n) => J::from(*n),
        SimpleValue::Ulong(n) => J::from(*n),
        SimpleValue::Byte(n) => J::from(*n),
        SimpleValue::Short(n) => J::from(*n),
        SimpleValue::Int(n) => J::from(*n),
        SimpleValue::Long(n) => J::from(*n),
        other => J::String(format!("{other:?}")),
    }
}

/// Text form of a property value, as fault matching compares it.
pub(crate) fn simple_text(v: &SimpleValue) -> String {
    match simple_json(v) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A connection was opened (after TLS, SASL and the AMQP open exchange).
    Connect,
    /// A connection was cut by a `refuse_connection` fault, or failed before the AMQP open.
    Refused { reason: String },
    /// A connection ended.
    Disconnect { reason: String },
    /// A link was attached.
    Attach {
        link: String,
        direction: LinkDirection,
        address: Option<String>,
    },
    /// A link ended. `by_peer`: the peer sent detach (`closed`: with close=true); otherwise the
    /// session or connection went away under it, or the broker ended it (`error`: the AMQP error
    /// it sent, e.g. for a `refuse_attach` fault). `requeued`: unsettled
    /// deliveries put back on their queue. Recorded before the connection's `disconnect`.
    Detach {
        link: String,
        direction: LinkDirection,
        address: Option<String>,
        requeued: usize,
        by_peer: bool,
        closed: bool,
        /// The AMQP error the broker put in its detach (`condition: description`), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A message crossed a link. For `PeerSends`, `address` is the routing address (the link
    /// target, or `to` when the target is null); for `PeerReceives`, the link's source.
    Transfer {
        link: String,
        direction: LinkDirection,
        address: Option<String>,
        message: MessageSummary,
    },
    /// A delivery was settled. For `PeerSends` the broker decided the outcome; for
    /// `PeerReceives` the peer did (or `lost`).
    Disposition {
        link: String,
        direction: LinkDirection,
        address: Option<String>,
        outcome: Outcome,
    },
    /// A message expired (TTL) before it could be delivered.
    Expired {
        address: String,
        message: MessageSummary,
    },
    /// A fault rule fired.
    Fault {
        rule: String,
        action: String,
        address: Option<String>,
    },
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Position in the journal (0, 1, ...).
    pub seq: u64,
    /// Monotonic time since the broker started (tokio time: virtual when paused).
    #[serde(serialize_with = "ser_dur")]
    pub at: Duration,
    /// The connection the event belongs to (`conn` 0 for broker-internal events).
    #[serde(serialize_with = "ser_peer")]
    pub peer: Arc<PeerIdentity>,
    #[serde(flatten)]
    pub event: Event,
}

/// Bounds of a [`Journal`] (see the module doc for the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalLimits {
    /// Most entries kept (default 100 000).
    pub max_entries: usize,
    /// Most bytes kept, as the journal counts them (default 32 MiB).
    pub max_bytes: usize,
}

impl Default for JournalLimits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

fn opt_len(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

impl MessageSummary {
    fn heap_bytes(&self) -> usize {
        opt_len(&self.message_id)
            + opt_len(&self.correlation_id)
            + opt_len(&self.to)
            + opt_len(&self.reply_to)
            + opt_len(&self.subject)
            + opt_len(&self.content_type)
            + self
                .application_properties
                .iter()
                .map(|(k, v)| {
                    k.len()
                        + std::mem::size_of::<serde_json::Value>()
                        + match v {
                            serde_json::Value::String(t) => t.len(),
                            _ => 0,
                        }
                })
                .sum::<usize>()
            + self.body.len()
    }
}

impl Event {
    /// Bytes this event owns outside its fixed size (texts, properties, body).
    fn heap_bytes(&self) -> usize {
        match self {
            Event::Connect => 0,
            Event::Refused { reason } | Event::Disconnect { reason } => reason.len(),
            Event::Attach { link, address, .. } => link.len() + opt_len(address),
            Event::Detach {
                link,
                address,
                error,
                ..
            } => link.len() + opt_len(address) + opt_len(error),
            Event::Transfer {
                link,
                address,
                message,
                ..
            } => link.len() + opt_len(address) + message.heap_bytes(),
            Event::Disposition {
                link,
                address,
                outcome,
                ..
            } => {
                link.len()
                    + opt_len(address)
                    + match outcome {
                        Outcome::Rejected { error } => opt_len(error),
                        _ => 0,
                    }
            }
            Event::Expired { address, message } => address.len() + message.heap_bytes(),
            Event::Fault {
                rule,
                action,
                address,
            } => rule.len() + action.len() + opt_len(address),
        }
    }

    fn body_mut(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Event::Transfer { message, .. } | Event::Expired { message, .. } => {
                Some(&mut message.body)
            }
            _ => None,
        }
    }
}

impl Entry {
    /// What the journal counts for this entry against [`JournalLimits::max_bytes`].
    pub fn accounted_bytes(&self) -> usize {
        std::mem::size_of::<Entry>() + self.event.heap_bytes()
    }
}

fn ser_peer<S: serde::Serializer>(p: &Arc<PeerIdentity>, s: S) -> Result<S::Ok, S::Error> {
    p.as_ref().serialize(s)
}

fn ser_dur<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl Entry {
    /// The link name, for link events.
    pub fn link(&self) -> Option<&str> {
        match &self.event {
            Event::Attach { link, .. }
            | Event::Detach { link, .. }
            | Event::Transfer { link, .. }
            | Event::Disposition { link, .. } => Some(link),
            _ => None,
        }
    }

    /// The address, where the event has one.
    pub fn address(&self) -> Option<&str> {
        match &self.event {
            Event::Attach { address, .. }
            | Event::Detach { address, .. }
            | Event::Transfer { address, .. }
            | Event::Disposition { address, .. }
            | Event::Fault { address, .. } => address.as_deref(),
            Event::Expired { address, .. } => Some(address),
            _ => None,
        }
    }

    /// The message, for transfers and expiries.
    pub fn message(&self) -> Option<&MessageSummary> {
        match &self.event {
            Event::Transfer { message, .. } | Event::Expired { message, .. } => Some(message),
            _ => None,
        }
    }

    /// True for a transfer the peer sent to the broker.
    pub fn is_inbound_transfer(&self) -> bool {
        matches!(
            self.event,
            Event::Transfer {
                direction: LinkDirection::PeerSends,
                ..
            }
        )
    }

    /// True for a transfer the broker delivered to a peer.
    pub fn is_outbound_transfer(&self) -> bool {
        matches!(
            self.event,
            Event::Transfer {
                direction: LinkDirection::PeerReceives,
                ..
            }
        )
    }
}

/// `wait_for` ran out of time.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "no journal entry matched within {waited:?}; the journal holds {entries} entries{}",
    truncation_note(*dropped)
)]
#[non_exhaustive]
pub struct WaitTimeout {
    pub waited: Duration,
    pub entries: usize,
    /// Entries the bounded journal had dropped (oldest first) by then; a match among them
    /// was missed.
    pub dropped: u64,
}

fn truncation_note(dropped: u64) -> String {
    if dropped == 0 {
        String::new()
    } else {
        format!(
            " ({dropped} older entries were dropped: the journal is bounded, see JournalLimits)"
        )
    }
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Entry>,
    /// Sum of `accounted_bytes` of `entries`.
    bytes: usize,
    /// Entries recorded since the start (the next `seq`).
    recorded: u64,
    /// Entries dropped from the front.
    dropped: u64,
}

impl Ring {
    /// Entries with `seq >= from` (the retained part of them).
    fn since(&self, from: u64) -> impl Iterator<Item = &Entry> {
        let first = self.recorded - self.entries.len() as u64;
        let skip = from.saturating_sub(first) as usize;
        self.entries.iter().skip(skip)
    }
}

#[derive(Debug)]
struct Inner {
    start: Instant,
    ring: Mutex<Ring>,
    changed: Notify,
    record_bodies: bool,
    limits: JournalLimits,
}

/// The journal of one broker. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

impl Journal {
    pub(crate) fn new(record_bodies: bool, limits: JournalLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                start: Instant::now(),
                ring: Mutex::new(Ring::default()),
                changed: Notify::new(),
                record_bodies,
                limits,
            }),
        }
    }

    pub(crate) fn record(&self, peer: &Arc<PeerIdentity>, mut event: Event) {
        if !self.inner.record_bodies
            && let Some(body) = event.body_mut()
        {
            *body = Vec::new();
        }
        let at = self.inner.start.elapsed();
        let limits = self.inner.limits;
        if let Ok(mut r) = self.inner.ring.lock() {
            let mut entry = Entry {
                seq: r.recorded,
                at,
                peer: peer.clone(),
                event,
            };
            let mut size = entry.accounted_bytes();
            if size > limits.max_bytes
                && let Some(body) = entry.event.body_mut()
            {
                *body = Vec::new();
                size = entry.accounted_bytes();
            }
            r.recorded += 1;
            r.bytes += size;
            r.entries.push_back(entry);
            while r.entries.len() > limits.max_entries.max(1)
                || (r.bytes > limits.max_bytes && r.entries.len() > 1)
            {
                let Some(old) = r.entries.pop_front() else {
                    break;
                };
                r.bytes -= old.accounted_bytes();
                r.dropped += 1;
            }
        }
        self.inner.changed.notify_waiters();
    }

    /// Every entry still held (all of them unless [`Journal::dropped`] is non-zero).
    pub fn snapshot(&self) -> Vec<Entry> {
        self.inner
            .ring
            .lock()
            .map(|r| r.entries.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Entries held for which `pred` holds.
    pub fn filter(&self, pred: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        self.inner
            .ring
            .lock()
            .map(|r| r.entries.iter().filter(|x| pred(x)).cloned().collect())
            .unwrap_or_default()
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.inner.ring.lock().map(|r| r.entries.len()).unwrap_or(0)
    }

    /// Entries dropped (oldest first) to stay within [`JournalLimits`]; 0 while the journal
    /// holds everything that happened.
    pub fn dropped(&self) -> u64 {
        self.inner.ring.lock().map(|r| r.dropped).unwrap_or(0)
    }

    /// True when entries were dropped: a verdict reading the journal sees only the newest part.
    pub fn is_truncated(&self) -> bool {
        self.dropped() > 0
    }

    /// Bytes held, as counted against [`JournalLimits::max_bytes`].
    pub fn bytes(&self) -> usize {
        self.inner.ring.lock().map(|r| r.bytes).unwrap_or(0)
    }

    /// The bounds this journal keeps.
    pub fn limits(&self) -> JournalLimits {
        self.inner.limits
    }

    /// The summary of `m` this journal records: without the body bytes when bodies are not
    /// kept (`record` would drop them; not copying them saves a copy per message).
    pub fn summary(&self, m: &Message<Body<Value>>) -> MessageSummary {
        MessageSummary::summarize(m, self.inner.record_bodies)
    }

    /// Whether message bodies are kept (`BrokerBuilder::record_bodies`).
    pub fn records_bodies(&self) -> bool {
        self.inner.record_bodies
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wait (on journal events, bounded by `timeout` of tokio time) until an entry for which
    /// `pred` holds exists; returns the first such entry.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&Entry) -> bool,
        timeout: Duration,
    ) -> Result<Entry, WaitTimeout> {
        self.wait_for_count(pred, 1, timeout)
            .await
            .map(|mut v| v.remove(0))
    }

    /// Wait until `n` entries satisfy `pred`; returns the first `n` of them.
    pub async fn wait_for_count(
        &self,
        pred: impl Fn(&Entry) -> bool,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Entry>, WaitTimeout> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + timeout;
        // `seq` of the next entry to look at: linear over the whole wait.
        let mut scanned = 0u64;
        let mut found = Vec::new();
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (total, dropped) = {
                let ring = match self.inner.ring.lock() {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(WaitTimeout {
                            waited: timeout,
                            entries: 0,
                            dropped: 0,
                        });
                    }
                };
                for e in ring.since(scanned) {
                    if pred(e) {
                        found.push(e.clone());
                        if found.len() == n {
                            return Ok(found);
                        }
                    }
                }
                scanned = ring.recorded;
                (ring.entries.len(), ring.dropped)
            };
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(WaitTimeout {
                    waited: timeout,
                    entries: total,
                    dropped,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(body: usize) -> Event {
        Event::Transfer {
            link: "l".into(),
            direction: LinkDirection::PeerSends,
            address: Some("queue://q".into()),
            message: MessageSummary {
                body: vec![b'x'; body],
                ..Default::default()
            },
        }
    }

    /// A journal that keeps no bodies summarises a message without copying its body, and one
    /// that keeps them copies it; everything else is the same summary.
    #[test]
    fn summary_copies_the_body_only_when_bodies_are_kept() {
        use fe2o3_amqp::types::messaging::Properties;
        let m = Message::builder()
            .properties(Properties::builder().to("queue://q".to_string()).build())
            .body(Body::Value(fe2o3_amqp::types::messaging::AmqpValue(
                Value::String("{\"a\": 1}".into()),
            )))
            .build();
        let kept = Journal::new(true, JournalLimits::default()).summary(&m);
        let not = Journal::new(false, JournalLimits::default()).summary(&m);
        assert_eq!(kept, MessageSummary::of(&m));
        assert_eq!(kept.body, b"{\"a\": 1}");
        assert!(not.body.is_empty());
        assert_eq!(
            MessageSummary {
                body: kept.body.clone(),
                ..not
            },
            kept
        );
    }

    /// The ring drops the oldest entries past either bound, counts them, and keeps `seq`.
    #[tokio::test]
    async fn bounded_by_entries_and_bytes_dropping_oldest() {
        let peer = Arc::new(PeerIdentity::default());
        let j = Journal::new(
            true,
            JournalLimits {
                max_entries: 10,
                max_bytes: usize::MAX,
            },
        );
        for _ in 0..25 {
            j.record(&peer, Event::Connect);
        }
        assert_eq!((j.len(), j.dropped()), (10, 15));
        assert!(j.is_truncated());
        let seqs: Vec<u64> = j.snapshot().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (15..25).collect::<Vec<_>>());
        // Waiting for an entry that was dropped says so.
        let err = j
            .wait_for(|e| e.seq == 3, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("15 older entries were dropped"),
            "{err}"
        );
        // Entries held are found.
        assert_eq!(
            j.wait_for(|e| e.seq == 20, Duration::ZERO)
                .await
                .unwrap()
                .seq,
            20
        );

        let one = std::mem::size_of::<Entry>() + 1 + 9 + 1000;
        let j = Journal::new(
            true,
            JournalLimits {
                max_entries: usize::MAX,
                max_bytes: 3 * one,
            },
        );
        for _ in 0..7 {
            j.record(&peer, transfer(1000));
        }
        assert_eq!((j.len(), j.dropped(), j.bytes()), (3, 4, 3 * one));
        // An entry larger than the whole bound keeps its place but not its body.
        j.record(&peer, transfer(10 * one));
        let last = j.snapshot().pop().unwrap();
        assert!(last.message().unwrap().body.is_empty());
        assert!(j.bytes() <= 3 * one);
    }

    #[tokio::test]
    async fn bodies_only_on_request() {
        let peer = Arc::new(PeerIdentity::default());
        let off = Journal::new(false, JournalLimits::default());
        off.record(&peer, transfer(100));
        assert!(off.snapshot()[0].message().unwrap().body.is_empty());
        let on = Journal::new(true, JournalLimits::default());
        on.record(&peer, transfer(100));
        assert_eq!(on.snapshot()[0].message().unwrap().body.len(), 100);
    }
}
