//! MQ Hub soak (issue 13): 64 producers x 64 consumers (tokio tasks), real HTTP on loopback
//! against the in-process server, on both stores (memory, durable redb).
//!
//! Each consumer owns a queue (its DID) and takes from it (`take next`, long poll) until every
//! acknowledged put into its queue has come out and one more take answers 204. Each producer
//! puts its messages into every queue in turn (message `m` of producer `p = m % 64` goes to
//! queue `(m / 64) % 64`), each body naming its message. Checked at the end: every put was
//! answered 200; every acknowledged put was taken exactly once (0 lost, 0 duplicates), from the
//! queue it was put into, with the producer as `sender` (rfc130), and in put order per
//! producer and queue (FIFO).
//!
//! Size: `SOAK_SCALE=full` puts 100 000 messages per store; the default (short) 3 000, for
//! `cargo test`. `SOAK_MESSAGES=N` overrides both.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mq_hub::{DidKeyPair, DidMethod, HubConfig, MqClient, Profile, RunningHub, StorageConfig};

const D: &str = "soak.test";
const PRODUCERS: usize = 64;
const CONSUMERS: usize = 64;

fn messages() -> usize {
    if let Ok(v) = std::env::var("SOAK_MESSAGES") {
        return v
            .parse()
            .unwrap_or_else(|e| panic!("SOAK_MESSAGES={v:?}: {e}"));
    }
    match std::env::var("SOAK_SCALE").as_deref() {
        Ok("full") => 100_000,
        Ok("short") | Err(_) => 3_000,
        Ok(other) => panic!("SOAK_SCALE={other:?}: use short or full"),
    }
}

/// Message `m`: its producer and its queue.
fn producer_of(m: usize) -> usize {
    m % PRODUCERS
}
fn queue_of(m: usize) -> usize {
    (m / PRODUCERS) % CONSUMERS
}

/// What happened to every message, shared by all tasks.
struct Ledger {
    acked: Vec<AtomicBool>,
    delivered: Vec<AtomicU32>,
    acked_per_queue: Vec<AtomicUsize>,
    producers_left: AtomicUsize,
    errors: std::sync::Mutex<Vec<String>>,
}

impl Ledger {
    fn new(n: usize) -> Self {
        Ledger {
            acked: (0..n).map(|_| AtomicBool::new(false)).collect(),
            delivered: (0..n).map(|_| AtomicU32::new(0)).collect(),
            acked_per_queue: (0..CONSUMERS).map(|_| AtomicUsize::new(0)).collect(),
            producers_left: AtomicUsize::new(PRODUCERS),
            errors: Default::default(),
        }
    }
    fn error(&self, e: String) {
        if let Ok(mut v) = self.errors.lock() {
            v.push(e);
        }
    }
    fn producers_done(&self) -> bool {
        self.producers_left.load(Ordering::SeqCst) == 0
    }
}

struct Figures {
    puts_acked: usize,
    taken: usize,
    lost: usize,
    duplicates: usize,
    seconds: f64,
}

async fn soak(storage: StorageConfig, profile: Profile, n: usize) -> Figures {
    let cfg = HubConfig {
        profile,
        storage,
        domains: vec![D.into()],
        max_queue_length: n,
        // Short long polls: an idle consumer looks again (and sees the end) quickly.
        connection_timeout_ms: 250,
        ..HubConfig::default()
    };
    let hub = RunningHub::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = hub.url();
    let bound = Duration::from_secs(20);
    let client = |k: DidKeyPair| MqClient::new(&url, profile, Arc::new(k), bound).unwrap();
    let consumers: Vec<MqClient> = (0..CONSUMERS)
        .map(|_| client(DidKeyPair::generate(DidMethod::Key).unwrap()))
        .collect();
    let producers: Vec<MqClient> = (0..PRODUCERS)
        .map(|_| client(DidKeyPair::generate(DidMethod::Key).unwrap()))
        .collect();
    let queues: Arc<Vec<String>> = Arc::new(consumers.iter().map(|c| c.hash_did()).collect());
    let producer_dids: Arc<Vec<String>> =
        Arc::new(producers.iter().map(|c| c.did().to_string()).collect());
    let ledger = Arc::new(Ledger::new(n));
    let t0 = Instant::now();

    let mut tasks = Vec::new();
    for (q, c) in consumers.into_iter().enumerate() {
        let ledger = ledger.clone();
        let dids = producer_dids.clone();
        tasks.push(tokio::spawn(async move {
            let token = match c.own_token(D).await {
                Ok(t) => t.token,
                Err(e) => return ledger.error(format!("consumer {q}: token: {e}")),
            };
            let mut taken = 0usize;
            // (producer) -> last message index seen from it: FIFO per producer and queue.
            let mut last: HashMap<usize, usize> = HashMap::new();
            loop {
                // Read before the take: if every producer was done before this take started,
                // a 204 below means the queue is really empty.
                let done_before = ledger.producers_done();
                match c.take(D, &token, None).await {
                    Ok(Some(msg)) => {
                        taken += 1;
                        let m: usize = match msg
                            .message
                            .strip_prefix('m')
                            .and_then(|s| s.parse().ok())
                            .filter(|&m| m < ledger.delivered.len())
                        {
                            Some(m) => m,
                            None => {
                                ledger.error(format!(
                                    "queue {q}: a message we never put: {:?}",
                                    msg.message
                                ));
                                continue;
                            }
                        };
                        ledger.delivered[m].fetch_add(1, Ordering::SeqCst);
                        if queue_of(m) != q {
                            ledger.error(format!(
                                "queue {q}: message {m} was put into queue {}",
                                queue_of(m)
                            ));
                        }
                        let p = producer_of(m);
                        if profile == Profile::Rfc130
                            && msg.sender.as_deref() != Some(dids[p].as_str())
                        {
                            ledger.error(format!(
                                "queue {q}: message {m}: sender {:?}, put by {}",
                                msg.sender, dids[p]
                            ));
                        }
                        if let Some(prev) = last.insert(p, m)
                            && prev > m
                        {
                            ledger.error(format!(
                                "queue {q}: producer {p}'s message {m} came after {prev} (not FIFO)"
                            ));
                        }
                    }
                    Ok(None) => {
                        if done_before {
                            let acked = ledger.acked_per_queue[q].load(Ordering::SeqCst);
                            if taken < acked {
                                ledger.error(format!(
                                    "queue {q}: 204 with {taken} of {acked} acknowledged puts taken"
                                ));
                            }
                            return;
                        }
                    }
                    Err(e) => {
                        ledger.error(format!("queue {q}: take: {e}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    for (p, c) in producers.into_iter().enumerate() {
        let ledger = ledger.clone();
        let queues = queues.clone();
        tasks.push(tokio::spawn(async move {
            let mut tokens: HashMap<usize, String> = HashMap::new();
            for m in (p..n).step_by(PRODUCERS) {
                let q = queue_of(m);
                let token = match tokens.get(&q) {
                    Some(t) => t.clone(),
                    None => match c.token(D, &queues[q], None).await {
                        Ok(t) => tokens.entry(q).or_insert(t.token).clone(),
                        Err(e) => {
                            ledger.error(format!("producer {p}: token for queue {q}: {e}"));
                            continue;
                        }
                    },
                };
                match c.put(D, &queues[q], &token, format!("m{m}")).await {
                    Ok(()) => {
                        ledger.acked[m].store(true, Ordering::SeqCst);
                        ledger.acked_per_queue[q].fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => ledger.error(format!("producer {p}: put of message {m}: {e}")),
                }
            }
            ledger.producers_left.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    // Bounded: a stuck run fails with the figures so far instead of hanging.
    let limit = Duration::from_secs(60 + (n as u64) / 100);
    let joined = tokio::time::timeout(limit, futures_join(tasks)).await;
    let seconds = t0.elapsed().as_secs_f64();
    assert!(joined.is_ok(), "the soak did not finish within {limit:?}");

    let errors = ledger.errors.lock().unwrap().clone();
    let puts_acked = ledger
        .acked
        .iter()
        .filter(|a| a.load(Ordering::SeqCst))
        .count();
    let mut lost = 0;
    let mut duplicates = 0;
    let mut taken = 0;
    for m in 0..n {
        let d = ledger.delivered[m].load(Ordering::SeqCst) as usize;
        taken += d;
        if ledger.acked[m].load(Ordering::SeqCst) && d == 0 {
            lost += 1;
        }
        if d > 1 {
            duplicates += d - 1;
        }
    }
    // Nothing left behind on the server either.
    let left: usize = queues.iter().map(|q| hub.hub.queue_len(D, q)).sum();
    hub.stop().await;
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(puts_acked, n, "every put answered 200");
    assert_eq!(lost, 0, "acknowledged puts never taken");
    assert_eq!(duplicates, 0, "messages taken more than once");
    assert_eq!(left, 0, "messages left in the queues");
    Figures {
        puts_acked,
        taken,
        lost,
        duplicates,
        seconds,
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        t.await.expect("a soak task panicked");
    }
}

fn report(store: &str, profile: Profile, f: &Figures) {
    println!(
        "mq-hub soak ({store} store, {profile:?}): {PRODUCERS} producers x {CONSUMERS} consumers, {} puts acked, {} taken, lost {}, duplicates {}, {:.1} s, {:.0} msgs/s (put + take)",
        f.puts_acked,
        f.taken,
        f.lost,
        f.duplicates,
        f.seconds,
        f.taken as f64 / f.seconds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_memory_store() {
    let n = messages();
    let f = soak(StorageConfig::Memory, Profile::Rfc130, n).await;
    report("memory", Profile::Rfc130, &f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_durable_store() {
    let n = messages();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("soak.redb");
    let f = soak(StorageConfig::Durable { path }, Profile::Opendsu, n).await;
    report("durable redb", Profile::Opendsu, &f);
}
