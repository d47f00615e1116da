//! MQ Hub benchmarks: criterion micro-benchmarks of the token and signature checks, then a
//! loopback load test of put, get, get+delete and take with 1, 16 and 64 concurrent clients, for
//! the memory and the durable store, each printed as a ratio to the ceiling of the HTTP stack (a
//! trivial axum handler loaded by the same generator in the same run), and the memory used per
//! queued message. `MQ_HUB_BENCH_SECS` sets each phase's length (default 1).
//!
//! After each writing phase of the durable store (put, get+delete, take), a **bare redb loop**
//! replays what that phase committed, in the same run: on a fresh redb file, the same number of
//! write transactions (each `Durability::Immediate`), the same rows per transaction (the phase's
//! changes spread evenly over its commits), the same value size, the same inserted keys and the
//! keys the clients removed; the durable row's ratio to that loop is the fraction of the physical
//! limit (fsync-bound group commit) the hub reaches. fsyncs, their time and the bytes written
//! are counted at redb's storage backend for both.

use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use mq_hub::store::{CommitStats, CountingBackend, MemoryStore, Store, SyncCounter};
use mq_hub::token::{Access, TokenAuthority, check_signature_of_did};
use mq_hub::{
    DidKeyPair, DidMethod, DidRegistry, HubConfig, MqClient, Profile, RunningHub, StorageConfig,
};
use sigharness_benches::loadgen::{self, HttpConn, Stats, build_request, rss_bytes};

const D: &str = "bench";

fn micro(c: &mut Criterion) {
    let k = DidKeyPair::generate(DidMethod::Key).unwrap();
    for p in [Profile::Rfc130, Profile::Opendsu] {
        let a = TokenAuthority::generate(p, "bench").unwrap();
        let t = a.issue(1_000, 60, k.did(), D, &k.hash_did()).unwrap().token;
        c.bench_function(&format!("token/authorize/{p}"), |b| {
            b.iter(|| {
                a.authorize(1_001, &t, D, &k.hash_did(), Access::Owner)
                    .unwrap()
            })
        });
    }
    let reg = DidRegistry::default();
    let sig = k.signature_of_did("token");
    c.bench_function("signatureOfDid/verify", |b| {
        b.iter(|| check_signature_of_did(&reg, k.did(), "token", &sig).unwrap())
    });
    let s = MemoryStore::new();
    c.bench_function("store/memory/put+take", |b| {
        b.iter(|| {
            s.put("d/q", None, "hello".into(), 10).unwrap();
            s.take("d/q").unwrap().unwrap()
        })
    });
}

struct Row {
    name: String,
    stats: Stats,
    ceiling: f64,
    /// The ceiling's CPU µs per operation (the whole process: load generator and server), so
    /// the CPU ratio (ceiling CPU / this row's CPU per operation) is the throughput ratio on
    /// otherwise idle cores, whatever else the shared machine is doing.
    ceiling_cpu: f64,
}

fn print_row(r: &Row) {
    let cpu = r.stats.cpu_us_per_op();
    println!(
        "{:<40} {:>9.0} ops/s  p50 {:>6} µs  p99 {:>7} µs  errors {:>4}  ratio {:>5.2}x  CPU {:>5.1} µs/op (CPU ratio {:>5.2}x)",
        r.name,
        r.stats.ops_per_sec(),
        r.stats.p50_us,
        r.stats.p99_us,
        r.stats.errors,
        if r.ceiling > 0.0 {
            r.stats.ops_per_sec() / r.ceiling
        } else {
            0.0
        },
        cpu,
        if cpu > 0.0 { r.ceiling_cpu / cpu } else { 0.0 },
    );
}

async fn ceiling(clients: usize, secs: Duration) -> Stats {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    let conns = loadgen::connect_all(addr, clients).await.unwrap();
    let req: Arc<[u8]> = build_request("GET", "/", &[], b"").into();
    let (s, _) = loadgen::run(conns, secs, move |mut c: HttpConn, _| {
        let req = req.clone();
        async move {
            let ok = matches!(c.request(&req).await, Ok((200, _)));
            (c, Some(ok))
        }
    })
    .await;
    srv.abort();
    s
}

/// A redb file that replays the hub's commits: keys and values like the hub's rows.
struct BareRedb {
    db: redb::Database,
    syncs: Arc<SyncCounter>,
    /// Keys inserted so far and the first not yet removed (removes go oldest first, as takes do).
    next_insert: u64,
    next_remove: u64,
    _dir: tempfile::TempDir,
}

const BARE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("messages");

impl BareRedb {
    fn new() -> BareRedb {
        let dir = tempfile::tempdir().unwrap();
        let (backend, syncs) = CountingBackend::open(&dir.path().join("bare.redb")).unwrap();
        let db = redb::Database::builder()
            .create_with_backend(backend)
            .unwrap();
        BareRedb {
            db,
            syncs,
            next_insert: 0,
            next_remove: 0,
            _dir: dir,
        }
    }

    /// `d.commits` write transactions holding `d.inserts` inserts and `d.removes` removes,
    /// spread evenly. Inserts take the next keys (the hub's sequence numbers are consecutive);
    /// removes take the keys in `removed` in order (the keys the hub's clients removed, so the
    /// transactions dirty as many pages as the hub's did), or the oldest keys when the phase's
    /// keys are not known. Returns the changes per second, the fsyncs per change, the mean
    /// transaction time and the mean time in fsync per transaction (µs), and the KiB written
    /// per transaction.
    fn replay(&mut self, d: &CommitStats, removed: &[u64]) -> (f64, f64, f64, f64, f64) {
        let changes = d.inserts + d.removes;
        let value = vec![b'x'; (d.insert_bytes / d.inserts.max(1)) as usize];
        let share = |total: u64, i: u64| (i + 1) * total / d.commits - i * total / d.commits;
        let (syncs0, sync_us0, written0) = (
            self.syncs.calls(),
            self.syncs.micros(),
            self.syncs.written(),
        );
        let mut r = 0;
        let t0 = std::time::Instant::now();
        for i in 0..d.commits {
            let mut w = self.db.begin_write().unwrap();
            w.set_durability(redb::Durability::Immediate).unwrap();
            {
                let mut t = w.open_table(BARE).unwrap();
                for _ in 0..share(d.inserts, i) {
                    t.insert(self.next_insert, value.as_slice()).unwrap();
                    self.next_insert += 1;
                }
                for _ in 0..share(d.removes, i) {
                    let key = match removed.get(r) {
                        Some(k) => *k,
                        None => {
                            self.next_remove += 1;
                            self.next_remove - 1
                        }
                    };
                    r += 1;
                    t.remove(key).unwrap();
                }
            }
            w.commit().unwrap();
        }
        let secs = t0.elapsed().as_secs_f64();
        let syncs = self.syncs.calls() - syncs0;
        let sync_us = self.syncs.micros() - sync_us0;
        let written = self.syncs.written() - written0;
        (
            changes as f64 / secs,
            syncs as f64 / changes as f64,
            secs * 1e6 / d.commits as f64,
            sync_us as f64 / d.commits as f64,
            written as f64 / 1024.0 / d.commits as f64,
        )
    }
}

/// The bare loop's row after a durable phase: its rate, the shape of the phase's commits, the
/// committer's busy share of the phase and its mean transaction time against the loop's, and
/// the hub's ratio to the loop (`hub/bare`).
fn bare_row(name: &str, hub: &Stats, d: &CommitStats, removed: &[u64], bare: &mut BareRedb) {
    let changes = d.inserts + d.removes;
    if d.commits == 0 || changes == 0 {
        return;
    }
    let (rate, bare_fsyncs, bare_txn_us, bare_sync_us, bare_kib) = bare.replay(d, removed);
    println!(
        "{:<40} {:>9.0} ops/s  {} txns x {:.1} rows  fsyncs/op hub {:.3} bare {:.3}  \
         committer busy {:>3.0}%  txn µs hub {:.0} bare {:.0} (fsync {:.0} / {:.0})  KiB/txn hub {:.0} bare {:.0}  hub/bare {:>5.2}x",
        format!("{name} bare redb"),
        rate,
        d.commits,
        changes as f64 / d.commits as f64,
        d.fsyncs as f64 / changes as f64,
        bare_fsyncs,
        100.0 * d.write_us as f64 / 1e6 / hub.elapsed.as_secs_f64(),
        d.write_us as f64 / d.commits as f64,
        bare_txn_us,
        d.fsync_us as f64 / d.commits as f64,
        bare_sync_us,
        d.written as f64 / 1024.0 / d.commits as f64,
        bare_kib,
        hub.ops_per_sec() / rate
    );
}

/// One virtual client of the hub: its connection and its pre-built requests.
struct HubClient {
    conn: HttpConn,
    put: Arc<[u8]>,
    get: Arc<[u8]>,
    take: Arc<[u8]>,
    /// A delete request is `del_head`, the message id, `del_tail`, built in `del` (no
    /// allocation per request: the generator's own work is counted in the CPU per operation).
    del_head: Vec<u8>,
    del_tail: Vec<u8>,
    del: Vec<u8>,
    /// Messages this client put and has not removed yet.
    remaining: usize,
    /// Store keys (the sequence of the message id) of the messages this client removed in the
    /// current phase, in order: the bare loop removes the same keys.
    removed: Vec<u64>,
}

/// The store key of a message id `<seq>_<random>`.
fn seq_of(id: &str) -> Option<u64> {
    id.split('_').next()?.parse().ok()
}

/// Every client's removed keys, interleaved (the clients ran concurrently, so the k-th removal
/// of each shared a transaction more likely than two removals of one client), and cleared.
fn removed_keys(cl: &mut [HubClient]) -> Vec<u64> {
    let mut lists: Vec<_> = cl
        .iter_mut()
        .map(|c| std::mem::take(&mut c.removed).into_iter())
        .collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        out.extend(lists.iter_mut().filter_map(Iterator::next));
        if out.len() == before {
            return out;
        }
    }
}

/// The `messageId` of a JSON reply, found without a JSON parser (ids are URL-safe).
fn message_id(body: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(body).ok()?;
    let rest = &s[s.find("\"messageId\":\"")? + 13..];
    Some(&rest[..rest.find('"')?])
}

/// The phases to run (`MQ_HUB_BENCH_PHASES=put,get,get+delete,take`; default all). A phase
/// that removes needs the messages an earlier put phase left.
fn phase_on(phase: &str) -> bool {
    std::env::var("MQ_HUB_BENCH_PHASES")
        .map(|v| v.split(',').any(|p| p.trim() == phase))
        .unwrap_or(true)
}

async fn hub_rows(
    storage: &str,
    clients: usize,
    secs: Duration,
    ceil: f64,
    ceil_cpu: f64,
) -> Vec<Row> {
    // Printed as each phase ends, so a bare-loop row sits under its phase's row.
    let mut bare = (storage == "durable").then(BareRedb::new);
    let mut last = CommitStats::default();
    let mut after_phase = |h: &RunningHub, r: &Row, removed: &[u64]| {
        print_row(r);
        let (Some(b), Some(now)) = (bare.as_mut(), h.hub.commit_stats()) else {
            return;
        };
        let d = now.since(&last);
        last = now;
        tokio::task::block_in_place(|| bare_row(&r.name, &r.stats, &d, removed, b));
    };
    let dir = tempfile::tempdir().unwrap();
    let storage_cfg = match storage {
        "memory" => StorageConfig::Memory,
        _ => StorageConfig::Durable {
            path: dir.path().join("bench.redb"),
        },
    };
    let cfg = HubConfig {
        profile: Profile::Opendsu,
        storage: storage_cfg,
        domains: vec![D.into()],
        max_queue_length: 10_000_000,
        connection_timeout_ms: 200,
        ..HubConfig::default()
    };
    let h = RunningHub::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut cl = Vec::new();
    for _ in 0..clients {
        let k = Arc::new(DidKeyPair::generate(DidMethod::Key).unwrap());
        // Set-up only (token request with holder proof): the library client.
        let c = MqClient::new(
            &h.url(),
            Profile::Opendsu,
            k.clone(),
            Duration::from_secs(10),
        )
        .unwrap();
        let token = c.own_token(D).await.unwrap().token;
        let hash = k.hash_did();
        let sig = k.signature_of_did(&token);
        let auth = [("x-mq-authorization", token.as_str())];
        cl.push(HubClient {
            conn: HttpConn::connect(h.addr).await.unwrap(),
            put: build_request(
                "PUT",
                &format!("/mq/{D}/put/{hash}"),
                &auth,
                b"message 0123456789 with a little payload",
            )
            .into(),
            get: build_request("GET", &format!("/mq/{D}/get/{hash}/{sig}"), &auth, b"").into(),
            take: build_request("GET", &format!("/mq/{D}/take/{hash}/{sig}"), &auth, b"").into(),
            del_head: format!("DELETE /mq/{D}/delete/{hash}/").into_bytes(),
            del_tail: {
                let t = build_request("DELETE", &format!("/{sig}"), &auth, b"");
                t[t.iter().position(|b| *b == b' ').map_or(0, |i| i + 1)..].to_vec()
            },
            del: Vec::new(),
            remaining: 0,
            removed: Vec::new(),
        });
    }
    let mut rows = Vec::new();
    let tag = format!("{storage}/{clients:>2}c");
    if !phase_on("put") {
        h.stop().await;
        return rows;
    }

    let (put, mut cl) = loadgen::run(cl, secs, |mut c: HubClient, _| async move {
        let ok = matches!(c.conn.request(&c.put).await, Ok((200, _)));
        c.remaining += ok as usize;
        (c, Some(ok))
    })
    .await;
    rows.push(Row {
        name: format!("{tag} put"),
        stats: put,
        ceiling: ceil,
        ceiling_cpu: ceil_cpu,
    });
    after_phase(&h, rows.last().unwrap(), &[]);

    if phase_on("get") {
        let (get, c) = loadgen::run(cl, secs, |mut c: HubClient, _| async move {
            let ok = matches!(c.conn.request(&c.get).await, Ok((200, _)));
            (c, Some(ok))
        })
        .await;
        cl = c;
        rows.push(Row {
            name: format!("{tag} get"),
            stats: get,
            ceiling: ceil,
            ceiling_cpu: ceil_cpu,
        });
        after_phase(&h, rows.last().unwrap(), &[]);
    }

    if phase_on("get+delete") {
        let (del, c) = loadgen::run(cl, secs / 2, |mut c: HubClient, _| async move {
            if c.remaining <= 1 {
                return (c, None);
            }
            let seq = match c.conn.request(&c.get).await {
                Ok((200, body)) => message_id(body).map(|id| {
                    c.del.clear();
                    c.del.extend_from_slice(&c.del_head);
                    c.del.extend_from_slice(id.as_bytes());
                    c.del.extend_from_slice(&c.del_tail);
                    seq_of(id)
                }),
                _ => None,
            };
            let Some(seq) = seq else {
                return (c, Some(false));
            };
            let req = std::mem::take(&mut c.del);
            let ok = matches!(c.conn.request(&req).await, Ok((200, _)));
            c.del = req;
            c.remaining -= ok as usize;
            if ok {
                c.removed.extend(seq);
            }
            (c, Some(ok))
        })
        .await;
        cl = c;
        let keys = removed_keys(&mut cl);
        rows.push(Row {
            name: format!("{tag} get+delete (pair)"),
            stats: del,
            ceiling: ceil / 2.0,
            ceiling_cpu: ceil_cpu * 2.0,
        });
        after_phase(&h, rows.last().unwrap(), &keys);
    }

    if phase_on("take") {
        let (take, c) = loadgen::run(cl, secs * 3, |mut c: HubClient, _| async move {
            if c.remaining == 0 {
                return (c, None);
            }
            let seq = match c.conn.request(&c.take).await {
                Ok((200, body)) => Some(message_id(body).and_then(seq_of)),
                _ => None,
            };
            let ok = seq.is_some();
            c.remaining -= ok as usize;
            c.removed.extend(seq.flatten());
            (c, Some(ok))
        })
        .await;
        cl = c;
        let keys = removed_keys(&mut cl);
        rows.push(Row {
            name: format!("{tag} take"),
            stats: take,
            ceiling: ceil,
            ceiling_cpu: ceil_cpu,
        });
        after_phase(&h, rows.last().unwrap(), &keys);
    }
    drop(cl);
    h.stop().await;
    rows
}

fn memory_vs_depth() {
    println!("\nmemory against queue depth (in-memory store, 100-byte messages):");
    for n in [1_000usize, 10_000, 100_000] {
        let s = MemoryStore::new();
        let before = rss_bytes().unwrap_or(0);
        for _ in 0..n {
            s.put(
                "d/q",
                Some("did:key:zQ3sbench"),
                "x".repeat(100),
                usize::MAX,
            )
            .unwrap();
        }
        let after = rss_bytes().unwrap_or(0);
        println!(
            "  depth {n:>7}: RSS +{:>8} KiB  ≈ {:>5} bytes/message",
            after.saturating_sub(before) / 1024,
            after.saturating_sub(before) / n as u64
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();
    micro(&mut c);

    let secs = Duration::from_secs_f64(
        std::env::var("MQ_HUB_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1.0),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "\nMQ Hub over loopback ({} s per phase); ratio = ops/s ÷ trivial axum handler ops/s with the same clients",
        secs.as_secs_f64()
    );
    // `MQ_HUB_BENCH_CLIENTS=16,64` and `MQ_HUB_BENCH_STORES=memory` narrow a run (profiling,
    // A/B rounds); default: 1, 16 and 64 clients, both stores.
    let clients_list: Vec<usize> = std::env::var("MQ_HUB_BENCH_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 16, 64]);
    let stores: Vec<String> = std::env::var("MQ_HUB_BENCH_STORES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_else(|| vec!["memory".into(), "durable".into()]);
    rt.block_on(async {
        for clients in clients_list {
            let ceil = ceiling(clients, secs).await;
            print_row(&Row {
                name: format!("ceiling/{clients:>2}c axum GET /"),
                stats: ceil.clone(),
                ceiling: ceil.ops_per_sec(),
                ceiling_cpu: ceil.cpu_us_per_op(),
            });
            // `none`: the ceiling alone (for syscall or profile baselines).
            for storage in stores.iter().map(String::as_str).filter(|s| *s != "none") {
                let rows = hub_rows(
                    storage,
                    clients,
                    secs,
                    ceil.ops_per_sec(),
                    ceil.cpu_us_per_op(),
                )
                .await;
                let rate = |suffix: &str| {
                    rows.iter()
                        .find(|r| r.name.ends_with(suffix))
                        .map_or(0.0, |r| r.stats.ops_per_sec())
                };
                let (put, take) = (rate(" put"), rate(" take"));
                if put > 0.0 && take > 0.0 {
                    println!(
                        "{:<40} {:>9.0} pairs/s",
                        format!("{storage}/{clients:>2}c put+take"),
                        1.0 / (1.0 / put + 1.0 / take)
                    );
                }
            }
        }
    });
    memory_vs_depth();
}
