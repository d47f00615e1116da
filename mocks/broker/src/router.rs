//! Queue and topic semantics, with no sockets: what a message routed to an address becomes.
//!
//! - An address starting with `topic://` or `/topic/` is a topic: each message is copied to the
//!   subscribers attached at that moment (each subscriber has a private buffer); with no
//!   subscriber it is dropped.
//! - Any other address is a queue (created on first use): FIFO, buffered, each message to one
//!   consumer (competing consumers). A delivery that was not settled when its consumer went away,
//!   or that the consumer released or modified, goes back to the head of the queue in order.
//! - TTL (AMQP 1.0 part 3.2.1 `header.ttl`): a message is dropped, and reported, once it has
//!   spent `ttl` milliseconds in the broker without being handed to a consumer. Time is tokio
//!   time, passed in as `now` by the caller.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use fe2o3_amqp::types::messaging::{Body, Message};
use fe2o3_amqp::types::primitives::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The message type the broker forwards (any body).
pub(crate) type Msg = Message<Body<Value>>;

/// A message waiting in a buffer.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    /// Broker-wide arrival number; keeps requeued messages in their original order.
    pub seq: u64,
    pub address: String,
    pub msg: Msg,
    pub expires: Option<Instant>,
}

impl Queued {
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// A FIFO buffer with a wake-up for consumers.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    items: Mutex<VecDeque<Queued>>,
    pub(crate) notify: Notify,
}

impl Buffer {
    pub(crate) fn push(&self, q: Queued) {
        if let Ok(mut i) = self.items.lock() {
            i.push_back(q);
        }
        self.notify.notify_waiters();
    }

    /// Put messages back at the head, keeping arrival order.
    pub(crate) fn requeue(&self, mut qs: Vec<Queued>) {
        if qs.is_empty() {
            return;
        }
        qs.sort_by_key(|q| q.seq);
        if let Ok(mut i) = self.items.lock() {
            for q in qs.into_iter().rev() {
                i.push_front(q);
            }
        }
        self.notify.notify_waiters();
    }

    /// Take the next live message; expired ones met on the way are returned in `expired`.
    pub(crate) fn pop(&self, now: Instant, expired: &mut Vec<Queued>) -> Option<Queued> {
        let mut i = self.items.lock().ok()?;
        while let Some(q) = i.pop_front() {
            if q.expired(now) {
                expired.push(q);
            } else {
                return Some(q);
            }
        }
        None
    }

    /// Remove and return the expired messages; the live ones stay.
    pub(crate) fn purge(&self, now: Instant) -> Vec<Queued> {
        let mut out = Vec::new();
        if let Ok(mut i) = self.items.lock() {
            i.retain(|q| {
                if q.expired(now) {
                    out.push(q.clone());
                    false
                } else {
                    true
                }
            });
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.items.lock().map(|i| i.len()).unwrap_or(0)
    }
}

/// Whether an address names a topic.
pub fn is_topic(address: &str) -> bool {
    address.starts_with("topic://") || address.starts_with("/topic/")
}

/// A subscription handle: the subscriber's buffer and its registration id.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub id: u64,
    pub buffer: Arc<Buffer>,
    pub topic: Option<String>,
}

#[derive(Debug, Default)]
struct Tables {
    queues: HashMap<String, Arc<Buffer>>,
    topics: HashMap<String, Vec<(u64, Arc<Buffer>)>>,
    next_sub: u64,
    next_seq: u64,
}

/// The routing tables of one broker.
#[derive(Debug, Default)]
pub(crate) struct Router {
    tables: Mutex<Tables>,
}

impl Router {
    /// Stamp a message with its arrival number and expiry.
    pub(crate) fn admit(&self, address: String, msg: Msg, now: Instant) -> Queued {
        let seq = match self.tables.lock() {
            Ok(mut t) => {
                t.next_seq += 1;
                t.next_seq
            }
            Err(_) => 0,
        };
        let expires = msg
            .header
            .as_ref()
            .and_then(|h| h.ttl)
            .map(|ms| now + std::time::Duration::from_millis(u64::from(ms)));
        Queued {
            seq,
            address,
            msg,
            expires,
        }
    }

    /// Route one message. Returns how many buffers received it.
    pub(crate) fn route(&self, q: Queued) -> usize {
        let targets: Vec<Arc<Buffer>> = match self.tables.lock() {
            Ok(mut t) => {
                if is_topic(&q.address) {
                    t.topics
                        .get(&q.address)
                        .map(|subs| subs.iter().map(|(_, b)| b.clone()).collect())
                        .unwrap_or_default()
                } else {
                    vec![t.queues.entry(q.address.clone()).or_default().clone()]
                }
            }
            Err(_) => Vec::new(),
        };
        let n = targets.len();
        for b in targets {
            b.push(q.clone());
        }
        n
    }

    /// The buffer a consumer of `address` reads from.
    pub(crate) fn subscribe(&self, address: &str) -> Subscription {
        let mut t = match self.tables.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        t.next_sub += 1;
        let id = t.next_sub;
        if is_topic(address) {
            let b = Arc::new(Buffer::default());
            t.topics
                .entry(address.to_string())
                .or_default()
                .push((id, b.clone()));
            Subscription {
                id,
                buffer: b,
                topic: Some(address.to_string()),
            }
        } else {
            let b = t.queues.entry(address.to_string()).or_default().clone();
            Subscription {
                id,
                buffer: b,
                topic: None,
            }
        }
    }

    pub(crate) fn unsubscribe(&self, sub: &Subscription) {
        if let Some(topic) = &sub.topic
            && let Ok(mut t) = self.tables.lock()
            && let Some(subs) = t.topics.get_mut(topic)
        {
            subs.retain(|(id, _)| *id != sub.id);
        }
    }

    /// Messages waiting in a queue (after dropping the expired ones, which are returned).
    pub(crate) fn queue_depth(&self, address: &str, now: Instant) -> (usize, Vec<Queued>) {
        let b = self
            .tables
            .lock()
            .ok()
            .and_then(|t| t.queues.get(address).cloned());
        match b {
            Some(b) => {
                let expired = b.purge(now);
                (b.len(), expired)
            }
            None => (0, Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp::types::messaging::{AmqpValue, Header};

    fn msg(ttl: Option<u32>) -> Msg {
        Message {
            header: Some(Header {
                ttl,
                ..Default::default()
            }),
            delivery_annotations: None,
            message_annotations: None,
            properties: None,
            application_properties: None,
            body: Body::Value(AmqpValue(Value::String("x".into()))),
            footer: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn queue_is_fifo_requeue_restores_order_and_ttl_expires() {
        let r = Router::default();
        let now = Instant::now();
        let sub = r.subscribe("queue://q");
        for _ in 0..3 {
            let q = r.admit("queue://q".into(), msg(None), now);
            assert_eq!(r.route(q), 1);
        }
        let mut exp = Vec::new();
        let a = sub.buffer.pop(now, &mut exp).unwrap();
        let b = sub.buffer.pop(now, &mut exp).unwrap();
        sub.buffer.requeue(vec![b, a]);
        let order: Vec<u64> = (0..3)
            .map(|_| sub.buffer.pop(now, &mut exp).unwrap().seq)
            .collect();
        assert_eq!(order, vec![1, 2, 3]);
        let q = r.admit("queue://q".into(), msg(Some(100)), now);
        r.route(q);
        let later = now + std::time::Duration::from_millis(100);
        assert!(sub.buffer.pop(later, &mut exp).is_none());
        assert_eq!(exp.len(), 1);
    }

    #[test]
    fn topic_without_subscribers_drops_and_fans_out_to_each() {
        let r = Router::default();
        let now = Instant::now();
        assert_eq!(r.route(r.admit("topic://t".into(), msg(None), now)), 0);
        let s1 = r.subscribe("topic://t");
        let s2 = r.subscribe("topic://t");
        assert_eq!(r.route(r.admit("topic://t".into(), msg(None), now)), 2);
        r.unsubscribe(&s1);
        assert_eq!(r.route(r.admit("topic://t".into(), msg(None), now)), 1);
        assert_eq!(s2.buffer.len(), 2);
    }
}
