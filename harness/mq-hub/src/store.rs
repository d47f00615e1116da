//! Queue storage: one FIFO queue per (domain, hashDID). Sans-IO in the sense that matters here:
//! no clock, no socket; the durable store does file I/O (redb) on its own committer thread, and
//! its `_staged` calls never block on I/O.
//!
//! Message ids are `<sequence>_<base58 random>`: unique (the sequence never repeats, also across
//! restarts of the durable store), URL-safe (digits, base58 letters and `_`), and they sort in
//! put order.

use std::collections::{HashMap, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use redb::backends::FileBackend;
use redb::{
    BackendError, Database, Durability, ReadableDatabase, ReadableTable, StorageBackend,
    TableDefinition,
};
use serde::{Deserialize, Serialize};

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
    /// The oldest message, left in place. Must not block on I/O (served from memory): the server
    /// calls it on the async runtime even when [`Store::is_blocking`] is true.
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
    /// True when the plain calls (`put`, `take`, `take_id`, `delete`) block until a file write is
    /// durable. Callers on an async runtime use the `_staged` calls, which never block on I/O.
    fn is_blocking(&self) -> bool;
    /// [`Store::put`], staged: the put is made (or refused) now without blocking on I/O, and it
    /// may be answered only once the ticket resolves ([`Ticket::durable`]). A store whose plain
    /// calls block must override the `_staged` calls.
    fn put_staged(
        &self,
        queue: &str,
        sender: Option<&str>,
        body: String,
        max_len: usize,
    ) -> Result<(String, Ticket)> {
        Ok((self.put(queue, sender, body, max_len)?, Ticket::ready()))
    }
    /// [`Store::take`], staged (see [`Store::put_staged`]): the message has left the queue.
    fn take_staged(&self, queue: &str) -> Result<(Option<StoredMessage>, Ticket)> {
        Ok((self.take(queue)?, Ticket::ready()))
    }
    /// [`Store::take_id`], staged (see [`Store::put_staged`]).
    fn take_id_staged(&self, queue: &str, id: &str) -> Result<(Option<StoredMessage>, Ticket)> {
        Ok((self.take_id(queue, id)?, Ticket::ready()))
    }
    /// What has been written to disk since open; `None` for a store without a file.
    fn commit_stats(&self) -> Option<CommitStats> {
        None
    }
}

/// What a durable store has written since it was opened (for tests and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Write transactions committed (each with `Durability::Immediate`).
    pub commits: u64,
    /// Rows inserted (puts) and removed (takes, deletes) by those transactions.
    pub inserts: u64,
    pub removes: u64,
    /// Bytes of the inserted rows' values (the keys are u64).
    pub insert_bytes: u64,
    /// `fsync` (sync_data) calls on the file, counted at the storage backend.
    pub fsyncs: u64,
    /// Time spent in those fsyncs, in microseconds.
    pub fsync_us: u64,
    /// Bytes written to the file (pages and headers, before each fsync).
    pub written: u64,
    /// Time spent in write transactions (begin to durable commit), in microseconds.
    pub write_us: u64,
}

impl CommitStats {
    /// The work done between `earlier` and `self`.
    pub fn since(&self, earlier: &CommitStats) -> CommitStats {
        CommitStats {
            commits: self.commits - earlier.commits,
            inserts: self.inserts - earlier.inserts,
            removes: self.removes - earlier.removes,
            insert_bytes: self.insert_bytes - earlier.insert_bytes,
            fsyncs: self.fsyncs - earlier.fsyncs,
            fsync_us: self.fsync_us - earlier.fsync_us,
            written: self.written - earlier.written,
            write_us: self.write_us - earlier.write_us,
        }
    }
}

/// `sync_data` calls of a [`CountingBackend`], the time they took, and the bytes written.
#[derive(Debug, Default)]
pub struct SyncCounter {
    calls: AtomicU64,
    micros: AtomicU64,
    written: AtomicU64,
}

impl SyncCounter {
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// Microseconds spent in `sync_data`.
    pub fn micros(&self) -> u64 {
        self.micros.load(Ordering::Relaxed)
    }
    /// Bytes passed to `write`.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// redb's file backend with its `sync_data` calls counted and timed and its writes counted;
/// everything else is passed through.
#[derive(Debug)]
pub struct CountingBackend {
    inner: FileBackend,
    syncs: Arc<SyncCounter>,
}

impl CountingBackend {
    /// Open (or create) `path` the way `redb::Database::create` does; the counter is shared.
    pub fn open(path: &Path) -> std::io::Result<(Self, Arc<SyncCounter>)> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let syncs = Arc::new(SyncCounter::default());
        let inner = FileBackend::new(file).map_err(std::io::Error::other)?;
        Ok((
            CountingBackend {
                inner,
                syncs: syncs.clone(),
            },
            syncs,
        ))
    }
}

impl StorageBackend for CountingBackend {
    fn len(&self) -> std::result::Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::result::Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::result::Result<(), std::io::Error> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> std::result::Result<(), std::io::Error> {
        let t0 = std::time::Instant::now();
        let r = self.inner.sync_data();
        let us = t0.elapsed().as_micros() as u64;
        self.syncs.calls.fetch_add(1, Ordering::Relaxed);
        self.syncs.micros.fetch_add(us, Ordering::Relaxed);
        r
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::result::Result<(), std::io::Error> {
        self.syncs
            .written
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.inner.write(offset, data)
    }
    fn close(&self) -> std::result::Result<(), std::io::Error> {
        self.inner.close()
    }
    fn try_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }
    fn lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }
    fn lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }
    fn unlock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }
    fn query_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[derive(Default)]
struct Queues {
    queues: HashMap<String, VecDeque<(u64, StoredMessage)>>,
    next_seq: u64,
    random: RandomPool,
}

/// Bytes from the system RNG drawn [`RandomPool::SIZE`] at a time, handed out in order and
/// never twice: one RNG call per 40 message ids instead of one per id.
struct RandomPool {
    buf: [u8; RandomPool::SIZE],
    /// Bytes of `buf` already handed out.
    used: usize,
}

impl Default for RandomPool {
    fn default() -> Self {
        RandomPool {
            buf: [0; RandomPool::SIZE],
            used: RandomPool::SIZE,
        }
    }
}

impl RandomPool {
    const SIZE: usize = 240;

    /// The next `N` unused random bytes.
    fn take<const N: usize>(&mut self) -> [u8; N] {
        if self.used + N > Self::SIZE {
            // The system RNG failing is not recoverable; aws-lc aborts in that case anyway.
            aws_lc_rs::rand::fill(&mut self.buf).expect("system random number generator");
            self.used = 0;
        }
        let mut out = [0; N];
        out.copy_from_slice(&self.buf[self.used..self.used + N]);
        self.used += N;
        out
    }
}

impl Queues {
    fn check_room(&self, queue: &str, max_len: usize) -> Result<()> {
        // Exact limit (apihub defect 5 admits one more): a queue never holds more than max_len.
        if self.queues.get(queue).map_or(0, VecDeque::len) >= max_len {
            return Err(MqHubError::QueueFull { max: max_len });
        }
        Ok(())
    }
    /// The next sequence number and its message id `<seq>_<6 random bytes in base58>`, built
    /// in one allocation.
    fn alloc(&mut self) -> (u64, String) {
        use std::fmt::Write;
        let seq = self.next_seq;
        self.next_seq += 1;
        // 20 digits, `_`, at most 9 base58 characters for 6 bytes.
        let mut id = String::with_capacity(32);
        let _ = write!(id, "{seq}_");
        let r: [u8; 6] = self.random.take();
        // Appends; cannot fail on a growable buffer.
        let _ = bs58::encode(r).onto(&mut id);
        (seq, id)
    }
    fn push(&mut self, queue: &str, seq: u64, m: StoredMessage) {
        // The queue's name is copied only when the queue is new.
        match self.queues.get_mut(queue) {
            Some(q) => q.push_back((seq, m)),
            None => {
                self.queues
                    .insert(queue.to_string(), VecDeque::from([(seq, m)]));
            }
        }
    }
    fn push_owned(&mut self, queue: String, seq: u64, m: StoredMessage) {
        self.queues.entry(queue).or_default().push_back((seq, m));
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

#[derive(Deserialize)]
struct Record {
    q: String,
    m: StoredMessage,
}

/// [`Record`] as written: borrowed, so a batch is encoded without copying its messages.
#[derive(Serialize)]
struct RecordRef<'a> {
    q: &'a str,
    m: &'a StoredMessage,
}

/// A change waiting for the next write transaction.
enum Pending {
    Insert {
        seq: u64,
        queue: String,
        m: StoredMessage,
    },
    Remove {
        seq: u64,
    },
}

/// How far the committer has got, as published to waiters.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Batches `0..durable` are on disk.
    durable: u64,
    /// Set when a commit failed (see [`Durable::broken`]).
    broken: Option<Arc<str>>,
}

impl Progress {
    fn check(&self, batch: u64) -> Option<Result<()>> {
        if self.durable > batch {
            Some(Ok(()))
        } else {
            self.broken.as_ref().map(|why| Err(broken_err(why)))
        }
    }
}

fn broken_err(why: &str) -> MqHubError {
    MqHubError::Store(format!(
        "an earlier commit failed ({why}); restart the server to reload the store"
    ))
}

/// What a staged change waits for before it may be answered: nothing (the memory store), or the
/// commit of its batch.
#[must_use = "a change may be answered only once its ticket says it is durable"]
pub struct Ticket(Option<(u64, tokio::sync::watch::Receiver<Progress>)>);

impl Ticket {
    /// Nothing to wait for.
    pub fn ready() -> Ticket {
        Ticket(None)
    }

    /// Resolves once the change is durable (or its commit failed). Cancel-safe: dropping the
    /// future leaves the change to be committed anyway.
    pub async fn durable(self) -> Result<()> {
        let Some((batch, mut rx)) = self.0 else {
            return Ok(());
        };
        let waited = rx
            .wait_for(|p| p.check(batch).is_some())
            .await
            .map(|p| p.check(batch));
        // Err: the committer is gone (the store was dropped); it commits what is pending before
        // it exits, so the last value is final.
        let r = match waited {
            Ok(r) => r,
            Err(_) => rx.borrow().check(batch),
        };
        r.unwrap_or_else(|| Err(MqHubError::Store("the store was closed".into())))
    }
}

/// The mirror and the batch being gathered for the next commit.
#[derive(Default)]
struct Durable {
    q: Queues,
    /// Changes not yet committed, in the order they were made (puts in sequence order).
    pending: Vec<Pending>,
    /// Uncommitted puts per queue (they count against the queue limit but are not visible).
    pending_puts: HashMap<String, usize>,
    /// The number the pending batch will be committed as.
    open_batch: u64,
    /// Batches `0..durable` are on disk.
    durable: u64,
    /// Set when a commit failed: the file and the mirror may differ, so every later call fails
    /// with this reason until the server is restarted (the way databases treat a failed fsync).
    broken: Option<Arc<str>>,
    /// The committer is waiting for work (a change must wake it).
    idle: bool,
    /// The store is being dropped: the committer commits what is pending and exits.
    closing: bool,
    /// What was committed (for tests and benchmarks; fsyncs are read from `syncs`).
    stats: CommitStats,
}

/// What the store's handle and its committer thread share.
struct Shared {
    inner: Mutex<Durable>,
    /// Wakes the idle committer.
    work: Condvar,
    /// Wakes blocking waiters ([`Store::put`] and friends) after each commit.
    done: Condvar,
    /// Wakes async waiters ([`Ticket::durable`]) after each commit.
    progress: tokio::sync::watch::Sender<Progress>,
    /// Held by the committer for the whole write transaction (tests hold it to stand in for a
    /// commit in flight). Lock order: `commit` before `inner`.
    commit: Mutex<()>,
    db: Database,
    /// fsyncs of the file, counted by its backend.
    syncs: Arc<SyncCounter>,
}

/// Messages in an embedded redb file, mirrored in memory for reads.
///
/// **Group commit.** A change (put, take, delete) is made in the mirror and recorded in the
/// pending batch under the mirror lock ("staged"); the caller then waits, without holding any
/// lock, for its batch to be durable. One committer thread owns the file: it takes the whole
/// pending batch, writes it in one redb write transaction committed with
/// `Durability::Immediate` (fsync), and publishes the batch number to the waiters (a
/// [`Ticket`] for async callers, a condition variable for blocking ones). Changes that arrive
/// while that fsync is in flight gather in the next batch, which the committer takes as soon as
/// it is done. A call returns only after the transaction holding its change is durable, so a put
/// answered 200 survives SIGKILL. A put becomes visible to readers only once committed (a reader
/// never sees a message that a crash could lose); a removed message leaves the mirror at once
/// (no second taker can get it), and its removal is answered only once durable.
pub struct DurableStore {
    shared: Arc<Shared>,
    committer: Option<std::thread::JoinHandle<()>>,
}

fn store_err(what: &str) -> impl FnOnce(redb::Error) -> MqHubError + '_ {
    move |e| MqHubError::Store(format!("{what}: {e}"))
}

impl DurableStore {
    /// Open (or create) the store file and load every queue.
    pub fn open(path: &Path) -> Result<Self> {
        let cannot = |e: &dyn std::fmt::Display| {
            MqHubError::Store(format!("cannot open durable store {}: {e}", path.display()))
        };
        let (backend, syncs) = CountingBackend::open(path).map_err(|e| cannot(&e))?;
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| cannot(&e))?;
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
        let shared = Arc::new(Shared {
            inner: Mutex::new(Durable {
                q: queues,
                ..Durable::default()
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            progress: tokio::sync::watch::Sender::new(Progress::default()),
            commit: Mutex::new(()),
            db,
            syncs,
        });
        let s = shared.clone();
        let committer = std::thread::Builder::new()
            .name("mq-hub-commit".into())
            .spawn(move || s.run())
            .map_err(|e| cannot(&format!("cannot start the commit thread: {e}")))?;
        Ok(DurableStore {
            shared,
            committer: Some(committer),
        })
    }

    /// Write transactions committed since open.
    pub fn commits(&self) -> u64 {
        self.shared
            .inner
            .lock()
            .map(|g| g.stats.commits)
            .unwrap_or(0)
    }

    /// The change just staged under `g` is in the open batch: wake the committer if it is idle,
    /// and hand out the ticket for that batch.
    fn staged(&self, g: &mut Durable) -> Ticket {
        if g.idle {
            g.idle = false;
            self.shared.work.notify_one();
        }
        Ticket(Some((g.open_batch, self.shared.progress.subscribe())))
    }

    /// Block until `ticket` is durable (for the synchronous [`Store`] calls).
    fn wait_blocking(&self, ticket: Ticket) -> Result<()> {
        let Some((batch, _)) = ticket.0 else {
            return Ok(());
        };
        let mut g = self.shared.inner.lock().map_err(poisoned)?;
        loop {
            let p = Progress {
                durable: g.durable,
                broken: g.broken.clone(),
            };
            if let Some(r) = p.check(batch) {
                return r;
            }
            g = self.shared.done.wait(g).map_err(poisoned)?;
        }
    }

    /// Remove the message `pick` chooses from the mirror and record its removal.
    fn remove_staged(
        &self,
        queue: &str,
        pick: impl FnOnce(&Queues) -> Option<usize>,
    ) -> Result<(Option<StoredMessage>, Ticket)> {
        let mut g = self.shared.lock()?;
        let Some(i) = pick(&g.q) else {
            return Ok((None, Ticket::ready()));
        };
        let Some((seq, m)) = g.q.remove_at(queue, i) else {
            return Ok((None, Ticket::ready()));
        };
        g.pending.push(Pending::Remove { seq });
        let t = self.staged(&mut g);
        Ok((Some(m), t))
    }
}

impl Drop for DurableStore {
    fn drop(&mut self) {
        if let Ok(mut g) = self.shared.inner.lock() {
            g.closing = true;
            self.shared.work.notify_one();
        }
        if let Some(t) = self.committer.take() {
            // It commits what is pending, then exits; the file is closed with the last handle.
            let _ = t.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Durable>> {
        let g = self.inner.lock().map_err(poisoned)?;
        if let Some(why) = &g.broken {
            return Err(broken_err(why));
        }
        Ok(g)
    }

    /// The committer: one write transaction per pending batch, until the store is dropped.
    fn run(&self) {
        loop {
            {
                let Ok(mut g) = self.inner.lock() else { return };
                while g.pending.is_empty() && !g.closing {
                    g.idle = true;
                    g = match self.work.wait(g) {
                        Ok(g) => g,
                        Err(_) => return,
                    };
                }
                g.idle = false;
                if g.pending.is_empty() {
                    return; // closing, nothing left
                }
            }
            if self.commit_batch().is_err() {
                return;
            }
        }
    }

    /// Commit the pending batch and tell its waiters. `Err` only when a lock is poisoned.
    fn commit_batch(&self) -> std::result::Result<(), ()> {
        let _c = self.commit.lock().map_err(|_| ())?;
        let (number, batch) = {
            let mut g = self.inner.lock().map_err(|_| ())?;
            if g.broken.is_some() {
                // Staged before the failure was known: never written, and their waiters
                // already see the failure (a batch not durable on a broken store fails).
                g.pending.clear();
                return Ok(());
            }
            let number = g.open_batch;
            g.open_batch += 1;
            (number, std::mem::take(&mut g.pending))
        };
        let t0 = std::time::Instant::now();
        let r = self.write(&batch);
        let took = t0.elapsed().as_micros() as u64;
        let progress = {
            let mut g = self.inner.lock().map_err(|_| ())?;
            g.stats.commits += 1;
            g.stats.write_us += took;
            for p in batch {
                match p {
                    Pending::Insert { seq, queue, m } => {
                        if let Some(n) = g.pending_puts.get_mut(&queue) {
                            *n -= 1;
                            if *n == 0 {
                                g.pending_puts.remove(&queue);
                            }
                        }
                        if r.is_ok() {
                            g.q.push_owned(queue, seq, m);
                        }
                    }
                    Pending::Remove { .. } => {}
                }
            }
            match &r {
                Ok(w) => {
                    g.stats.inserts += w.inserts;
                    g.stats.removes += w.removes;
                    g.stats.insert_bytes += w.insert_bytes;
                    g.durable = number + 1;
                }
                Err(e) => g.broken = Some(e.to_string().into()),
            }
            Progress {
                durable: g.durable,
                broken: g.broken.clone(),
            }
        };
        self.done.notify_all();
        self.progress.send_replace(progress);
        Ok(())
    }

    /// One write transaction for the whole batch, committed with fsync.
    fn write(&self, batch: &[Pending]) -> Result<CommitStats> {
        let mut n = CommitStats::default();
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
            let mut bytes = Vec::new();
            for p in batch {
                match p {
                    Pending::Insert { seq, queue, m } => {
                        bytes.clear();
                        serde_json::to_writer(&mut bytes, &RecordRef { q: queue, m })
                            .map_err(|e| MqHubError::Store(format!("encode: {e}")))?;
                        t.insert(*seq, bytes.as_slice())
                            .map_err(|e| store_err("insert")(e.into()))?;
                        n.inserts += 1;
                        n.insert_bytes += bytes.len() as u64;
                    }
                    Pending::Remove { seq } => {
                        t.remove(*seq).map_err(|e| store_err("remove")(e.into()))?;
                        n.removes += 1;
                    }
                }
            }
        }
        w.commit().map_err(|e| store_err("commit")(e.into()))?;
        Ok(n)
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
        let (id, t) = self.put_staged(queue, sender, body, max_len)?;
        self.wait_blocking(t)?;
        Ok(id)
    }
    fn put_staged(
        &self,
        queue: &str,
        sender: Option<&str>,
        body: String,
        max_len: usize,
    ) -> Result<(String, Ticket)> {
        let mut g = self.shared.lock()?;
        let waiting = g.pending_puts.get(queue).copied().unwrap_or(0);
        // Exact limit, counting puts not yet committed.
        if g.q.queues.get(queue).map_or(0, VecDeque::len) + waiting >= max_len {
            return Err(MqHubError::QueueFull { max: max_len });
        }
        let (seq, id) = g.q.alloc();
        match g.pending_puts.get_mut(queue) {
            Some(n) => *n += 1,
            None => {
                g.pending_puts.insert(queue.to_string(), 1);
            }
        }
        g.pending.push(Pending::Insert {
            seq,
            queue: queue.to_string(),
            m: StoredMessage {
                id: id.clone(),
                sender: sender.map(str::to_string),
                body,
            },
        });
        let t = self.staged(&mut g);
        Ok((id, t))
    }
    fn peek(&self, queue: &str) -> Result<Option<StoredMessage>> {
        let g = self.shared.lock()?;
        Ok(g.q.head(queue).map(|(_, m)| m.clone()))
    }
    fn take(&self, queue: &str) -> Result<Option<StoredMessage>> {
        let (m, t) = self.take_staged(queue)?;
        self.wait_blocking(t)?;
        Ok(m)
    }
    fn take_staged(&self, queue: &str) -> Result<(Option<StoredMessage>, Ticket)> {
        self.remove_staged(queue, |q| q.head(queue).map(|_| 0))
    }
    fn take_id(&self, queue: &str, id: &str) -> Result<Option<StoredMessage>> {
        let (m, t) = self.take_id_staged(queue, id)?;
        self.wait_blocking(t)?;
        Ok(m)
    }
    fn take_id_staged(&self, queue: &str, id: &str) -> Result<(Option<StoredMessage>, Ticket)> {
        self.remove_staged(queue, |q| q.position(queue, id))
    }
    fn len(&self, queue: &str) -> usize {
        self.shared
            .inner
            .lock()
            .map(|g| g.q.queues.get(queue).map_or(0, VecDeque::len))
            .unwrap_or(0)
    }
    fn is_blocking(&self) -> bool {
        true
    }
    fn commit_stats(&self) -> Option<CommitStats> {
        let mut s = self.shared.inner.lock().map(|g| g.stats).ok()?;
        s.fsyncs = self.shared.syncs.calls();
        s.fsync_us = self.shared.syncs.micros();
        s.written = self.shared.syncs.written();
        Some(s)
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

    /// Ids from the pooled randomness: well formed, in sequence, and no random part handed out
    /// twice across several refills of the pool.
    #[test]
    fn message_ids_are_well_formed_and_unique() {
        let mut q = Queues::default();
        let mut seen = std::collections::HashSet::new();
        for i in 0..200u64 {
            let (seq, id) = q.alloc();
            assert_eq!(seq, i);
            assert!(is_message_id(&id), "{id}");
            let (n, r) = id.split_once('_').unwrap();
            assert_eq!(n.parse::<u64>().unwrap(), seq);
            assert!(!r.is_empty() && r.len() <= 9, "{id}");
            assert!(
                seen.insert(r.to_string()),
                "random part {r} handed out twice"
            );
        }
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

    /// A staged put's ticket resolves only after the commit holding it, and the put is visible
    /// only then; a staged change whose waiter went away is still committed, also when the
    /// store is dropped right after.
    #[tokio::test]
    async fn durable_ticket_waits_for_the_commit() {
        use std::future::Future;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mq.redb");
        {
            let s = DurableStore::open(&p).unwrap();
            let in_flight = s.shared.commit.lock().unwrap();
            let (id, t) = s.put_staged("d/q", None, "one".into(), 10).unwrap();
            let fut = t.durable();
            tokio::pin!(fut);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(
                fut.as_mut().poll(&mut cx).is_pending(),
                "the ticket resolved while its commit was held"
            );
            assert_eq!(s.len("d/q"), 0, "an uncommitted put is not visible");
            drop(in_flight);
            tokio::time::timeout(std::time::Duration::from_secs(20), fut)
                .await
                .expect("the ticket resolves once committed")
                .unwrap();
            assert_eq!(s.len("d/q"), 1);
            assert_eq!(s.commit_stats().unwrap().inserts, 1);
            // Staged, then the waiter is gone and the store dropped: still committed.
            let (m, t) = s.take_id_staged("d/q", &id).unwrap();
            assert_eq!(m.unwrap().body, "one");
            drop(t);
            let (_, t) = s.put_staged("d/q", None, "two".into(), 10).unwrap();
            drop(t);
        }
        let s = DurableStore::open(&p).unwrap();
        assert_eq!(s.len("d/q"), 1);
        assert_eq!(s.take("d/q").unwrap().unwrap().body, "two");
        let st = s.commit_stats().unwrap();
        assert_eq!((st.commits, st.removes), (1, 1));
        assert!(st.fsyncs >= st.commits, "each commit is fsynced: {st:?}");
    }

    /// Puts that arrive while a commit is in flight are committed together in the next write
    /// transaction, and none is answered before that transaction is durable.
    #[test]
    fn durable_store_group_commit() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mq.redb");
        let n = 8;
        {
            let s = Arc::new(DurableStore::open(&p).unwrap());
            let answered = Arc::new(AtomicUsize::new(0));
            // Stand in for a commit in flight.
            let in_flight = s.shared.commit.lock().unwrap();
            let threads: Vec<_> = (0..n)
                .map(|i| {
                    let (s, answered) = (s.clone(), answered.clone());
                    std::thread::spawn(move || {
                        let id = s.put("d/q", None, format!("m{i}"), n).unwrap();
                        answered.fetch_add(1, Ordering::SeqCst);
                        id
                    })
                })
                .collect();
            let deadline = Instant::now() + Duration::from_secs(20);
            while s.shared.inner.lock().unwrap().pending.len() < n {
                assert!(Instant::now() < deadline, "puts did not arrive");
                std::thread::yield_now();
            }
            assert_eq!(
                answered.load(Ordering::SeqCst),
                0,
                "no put answered before commit"
            );
            assert_eq!(s.len("d/q"), 0, "uncommitted puts are not visible");
            // The queue limit counts uncommitted puts.
            assert!(matches!(
                s.shared.inner.lock().map(|g| g.pending_puts["d/q"]),
                Ok(k) if k == n
            ));
            drop(in_flight);
            let ids: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            assert_eq!(s.commits(), 1, "one write transaction for all {n} puts");
            assert_eq!(s.len("d/q"), n);
            assert!(s.shared.inner.lock().unwrap().pending_puts.is_empty());
            // a full queue refuses
            assert!(matches!(
                s.put("d/q", None, "x".into(), n),
                Err(MqHubError::QueueFull { .. })
            ));
            // removals: the message leaves at once, the call returns after its commit
            let first = s.take("d/q").unwrap().unwrap();
            assert!(ids.contains(&first.id));
            assert_eq!(s.commits(), 2);
        }
        let s = DurableStore::open(&p).unwrap();
        assert_eq!(
            s.len("d/q"),
            n - 1,
            "every answered put and take is on disk"
        );
    }
}
