//! Queue storage: one FIFO queue per (domain, hashDID). Sans-IO in the sense that matters here:
//! no clock, no socket; the durable store does file I/O (redb) and is called from a blocking task.
//!
//! Message ids are `<sequence>_<base58 random>`: unique (the sequence never repeats, also across
//! restarts of the durable store), URL-safe (digits, base58 letters and `_`), and they sort in
//! put order.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::random_b58;
use crate::error::{MqHubError, Result};

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub id: String,
    /// The authenticated sender's DID (the put token's subject).
    pub sender: Option<String>,
    pub body: String,
}

/// A queue name: `<domain>/<hashDID>`.
pub fn queue_key(domain: &str, hash_did: &str) -> String {
    format!("{domain}/{hash_did}")
}

/// A message id as this server makes them; anything else cannot be in a queue.
pub fn is_message_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The storage operations the server needs. Each is atomic.
pub trait Store: Send + Sync {
    /// Append; `QueueFull` when the queue already holds `max_len` messages. Returns the id.
    fn put(
        &self,
        queue: &str,
        sender: Option<&str>,
        body: String,
        max_len: usize,
    ) -> Result<String>;
    /// The oldest message, left in place.
    fn peek(&self, queue: &str) -> Result<Option<StoredMessage>>;
    /// Remove and return the oldest message.
    fn take(&self, queue: &str) -> Result<Option<StoredMessage>>;
    /// Remove and return the message `id`.
    fn take_id(&self, queue: &str, id: &str) -> Result<Option<StoredMessage>>;
    /// Remove the message `id`; false when absent.
    fn delete(&self, queue: &str, id: &str) -> Result<bool> {
        Ok(self.take_id(queue, id)?.is_some())
    }
    /// Messages in `queue`.
    fn len(&self, queue: &str) -> usize;
    /// True when calls block on file I/O (the server then runs them on a blocking thread).
    fn is_blocking(&self) -> bool;
}

#[derive(Default)]
struct Queues {
    queues: HashMap<String, VecDeque<(u64, StoredMessage)>>,
    next_seq: u64,
}

impl Queues {
    fn check_room(&self, queue: &str, max_len: usize) -> Result<()> {
        // Exact limit (apihub defect 5 admits one more): a queue never holds more than max_len.
        if self.queues.get(queue).map_or(0, VecDeque::len) >= max_len {
            return Err(MqHubError::QueueFull { max: max_len });
        }
        Ok(())
    }
    fn alloc(&mut self) -> (u64, String) {
        let seq = self.next_seq;
        self.next_seq += 1;
        (seq, format!("{seq}_{}", random_b58(6)))
    }
    fn push(&mut self, queue: &str, seq: u64, m: StoredMessage) {
        self.queues
            .entry(queue.to_string())
            .or_default()
            .push_back((seq, m));
    }
    fn head(&self, queue: &str) -> Option<&(u64, StoredMessage)> {
        self.queues.get(queue).and_then(|q| q.front())
    }
    fn position(&self, queue: &str, id: &str) -> Option<usize> {
        self.queues.get(queue)?.iter().position(|(_, m)| m.id == id)
    }
    fn remove_at(&mut self, queue: &str, i: usize) -> Option<(u64, StoredMessage)> {
        let q = self.queues.get_mut(queue)?;
        let m = q.remove(i);
        if q.is_empty() {
            // No trace of an empty queue.
            self.queues.remove(queue);
        }
        m
    }
}

fn poisoned<T>(_: T) -> MqHubError {
    MqHubError::Store("a thread panicked while holding the queue lock".into())
}

/// Messages in memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Queues>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
    /// Queues that exist (hold at least one message).
    pub fn queue_count(&self) -> usize {
        self.inner.lock().map(|q| q.queues.len()).unwrap_or(0)
    }
}

impl Store for MemoryStore {
    fn put(
        &self,
        queue: &str,
        sender: Option<&str>,
        body: String,
        max_len: usize,
    ) -> Result<String> {
        let mut g = self.inner.lock().map_err(poisoned)?;
        g.check_room(queue, max_len)?;
        let (seq, id) = g.alloc();
        let m = StoredMessage {
            id: id.clone(),
            sender: sender.map(str::to_string),
            body,
        };
        g.push(queue, seq, m);
        Ok(id)
    }
    fn peek(&self, queue: &str) -> Result<Option<StoredMessage>> {
        let g = self.inner.lock().map_err(poisoned)?;
        Ok(g.head(queue).map(|(_, m)| m.clone()))
    }
    fn take(&self, queue: &str) -> Result<Option<StoredMessage>> {
        let mut g = self.inner.lock().map_err(poisoned)?;
        Ok(g.remove_at(queue, 0).map(|(_, m)| m))
    }
    fn take_id(&self, queue: &str, id: &str) -> Result<Option<StoredMessage>> {
        let mut g = self.inner.lock().map_err(poisoned)?;
        Ok(match g.position(queue, id) {
            Some(i) => g.remove_at(queue, i).map(|(_, m)| m),
            None => None,
        })
    }
    fn len(&self, queue: &str) -> usize {
        self.inner
            .lock()
            .map(|g| g.queues.get(queue).map_or(0, VecDeque::len))
            .unwrap_or(0)
    }
    fn is_blocking(&self) -> bool {
        false
    }
}

const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");

#[derive(Serialize, Deserialize)]
struct Record {
    q: String,
    m: StoredMessage,
}

/// Messages in an embedded redb file, mirrored in memory for reads. Every change is committed
/// with `Durability::Immediate` (fsync) before the call returns, so a put answered 200 survives
/// SIGKILL.
pub struct DurableStore {
    inner: Mutex<Queues>,
    db: Database,
}

fn store_err(what: &str) -> impl FnOnce(redb::Error) -> MqHubError + '_ {
    move |e| MqHubError::Store(format!("{what}: {e}"))
}

impl DurableStore {
    /// Open (or create) the store file and load every queue.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(|e| {
            MqHubError::Store(format!("cannot open durable store {}: {e}", path.display()))
        })?;
        let mut queues = Queues::default();
        {
            let w = db.begin_write().map_err(|e| store_err("begin")(e.into()))?;
            // Creates the table on first use.
            w.open_table(MESSAGES)
                .map_err(|e| store_err("open table")(e.into()))?;
            w.commit().map_err(|e| store_err("commit")(e.into()))?;
            let r = db
                .begin_read()
                .map_err(|e| store_err("begin read")(e.into()))?;
            let t = r
                .open_table(MESSAGES)
                .map_err(|e| store_err("open table")(e.into()))?;
            for row in t.iter().map_err(|e| store_err("scan")(e.into()))? {
                let (k, v) = row.map_err(|e| store_err("scan")(e.into()))?;
                let seq = k.value();
                let rec: Record = serde_json::from_slice(v.value()).map_err(|e| {
                    MqHubError::Store(format!(
                        "record {seq} in {} is corrupt: {e}",
                        path.display()
                    ))
                })?;
                queues.push(&rec.q, seq, rec.m);
                queues.next_seq = queues.next_seq.max(seq + 1);
            }
        }
        Ok(DurableStore {
            inner: Mutex::new(queues),
            db,
        })
    }

    fn commit(&self, f: impl FnOnce(&mut redb::Table<u64, &[u8]>) -> Result<()>) -> Result<()> {
        let mut w = self
            .db
            .begin_write()
            .map_err(|e| store_err("begin")(e.into()))?;
        w.set_durability(Durability::Immediate)
            .map_err(|e| MqHubError::Store(format!("durability: {e}")))?;
        {
            let mut t = w
                .open_table(MESSAGES)
                .map_err(|e| store_err("open table")(e.into()))?;
            f(&mut t)?;
        }
        w.commit().map_err(|e| store_err("commit")(e.into()))
    }

    fn remove_at(&self, g: &mut Queues, queue: &str, i: usize) -> Result<Option<StoredMessage>> {
        let Some(seq) = g.queues.get(queue).and_then(|q| q.get(i)).map(|(s, _)| *s) else {
            return Ok(None);
        };
        self.commit(|t| {
            t.remove(seq).map_err(|e| store_err("remove")(e.into()))?;
            Ok(())
        })?;
        Ok(g.remove_at(queue, i).map(|(_, m)| m))
    }
}

impl Store for DurableStore {
    fn put(
        &self,
        queue: &str,
        sender: Option<&str>,
        body: String,
        max_len: usize,
    ) -> Result<String> {
        let mut g = self.inner.lock().map_err(poisoned)?;
        g.check_room(queue, max_len)?;
        let (seq, id) = g.alloc();
        let rec = Record {
            q: queue.to_string(),
            m: StoredMessage {
                id: id.clone(),
                sender: sender.map(str::to_string),
                body,
            },
        };
        let bytes =
            serde_json::to_vec(&rec).map_err(|e| MqHubError::Store(format!("encode: {e}")))?;
        self.commit(|t| {
            t.insert(seq, bytes.as_slice())
                .map_err(|e| store_err("insert")(e.into()))?;
            Ok(())
        })?;
        g.push(queue, seq, rec.m);
        Ok(id)
    }
    fn peek(&self, queue: &str) -> Result<Option<StoredMessage>> {
        let g = self.inner.lock().map_err(poisoned)?;
        Ok(g.head(queue).map(|(_, m)| m.clone()))
    }
    fn take(&self, queue: &str) -> Result<Option<StoredMessage>> {
        let mut g = self.inner.lock().map_err(poisoned)?;
        self.remove_at(&mut g, queue, 0)
    }
    fn take_id(&self, queue: &str, id: &str) -> Result<Option<StoredMessage>> {
        let mut g = self.inner.lock().map_err(poisoned)?;
        match g.position(queue, id) {
            Some(i) => self.remove_at(&mut g, queue, i),
            None => Ok(None),
        }
    }
    fn len(&self, queue: &str) -> usize {
        self.inner
            .lock()
            .map(|g| g.queues.get(queue).map_or(0, VecDeque::len))
            .unwrap_or(0)
    }
    fn is_blocking(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(s: &dyn Store) {
        let q = "d/q";
        assert_eq!(s.peek(q).unwrap(), None);
        let a = s.put(q, Some("did:a"), "one".into(), 2).unwrap();
        let b = s.put(q, None, "two".into(), 2).unwrap();
        assert!(is_message_id(&a) && a != b);
        // exact limit: the third is refused
        assert!(matches!(
            s.put(q, None, "three".into(), 2),
            Err(MqHubError::QueueFull { max: 2 })
        ));
        assert_eq!(s.len(q), 2);
        assert_eq!(s.peek(q).unwrap().unwrap().body, "one");
        assert_eq!(s.take(q).unwrap().unwrap().sender.as_deref(), Some("did:a"));
        assert!(!s.delete(q, &a).unwrap());
        assert!(s.delete(q, &b).unwrap());
        assert_eq!(s.take(q).unwrap(), None);
        let c = s.put(q, None, "c".into(), 2).unwrap();
        assert_eq!(s.take_id(q, &c).unwrap().unwrap().body, "c");
        assert_eq!(s.take_id(q, &c).unwrap(), None);
    }

    #[test]
    fn memory_store_semantics() {
        let s = MemoryStore::new();
        exercise(&s);
        assert_eq!(s.queue_count(), 0, "empty queues leave no trace");
    }

    #[test]
    fn durable_store_semantics_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mq.redb");
        let id;
        {
            let s = DurableStore::open(&p).unwrap();
            exercise(&s);
            id = s.put("d/r", Some("did:s"), "kept".into(), 10).unwrap();
            s.put("d/r", None, "second".into(), 10).unwrap();
        }
        let s = DurableStore::open(&p).unwrap();
        assert_eq!(s.len("d/r"), 2);
        let m = s.take("d/r").unwrap().unwrap();
        assert_eq!((m.id.as_str(), m.body.as_str()), (id.as_str(), "kept"));
        let fresh = s.put("d/r", None, "x".into(), 10).unwrap();
        assert_ne!(fresh, id, "ids are not reused after a restart");
    }
}
