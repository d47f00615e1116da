//! MQ Hub benchmarks: criterion micro-benchmarks of the token and signature checks, then a
//! loopback load test of put, get, get+delete and take with 1, 16 and 64 concurrent clients, for
//! the memory and the durable store, each printed as a ratio to the ceiling of the HTTP stack (a
//! trivial axum handler loaded by the same generator in the same run), and the memory used per
//! queued message. `MQ_HUB_BENCH_SECS` sets each phase's length (default 1).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::Criterion;
use mq_hub::store::{MemoryStore, Store};
use mq_hub::token::{Access, TokenAuthority, check_signature_of_did};
use mq_hub::{
    DidKeyPair, DidMethod, DidRegistry, HubConfig, MqClient, Profile, RunningHub, StorageConfig,
};
use sigharness_benches::loadgen::{self, Stats, rss_bytes};

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
}

fn print_row(r: &Row) {
    println!(
        "{:<34} {:>9.0} ops/s  p50 {:>6} µs  p99 {:>7} µs  errors {:>4}  ratio {:>5.2}x",
        r.name,
        r.stats.ops_per_sec(),
        r.stats.p50_us,
        r.stats.p99_us,
        r.stats.errors,
        if r.ceiling > 0.0 {
            r.stats.ops_per_sec() / r.ceiling
        } else {
            0.0
        }
    );
}

async fn ceiling(clients: usize, secs: Duration) -> Stats {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    let srv = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    let http = reqwest::Client::new();
    let s = loadgen::run(clients, secs, move |_, _| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            Some(
                http.get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false),
            )
        }
    })
    .await;
    srv.abort();
    s
}

async fn hub_rows(storage: &str, clients: usize, secs: Duration, ceil: f64) -> Vec<Row> {
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
        let c = MqClient::new(&h.url(), Profile::Opendsu, k, Duration::from_secs(10)).unwrap();
        let t = c.own_token(D).await.unwrap().token;
        cl.push((c, t));
    }
    let cl = Arc::new(cl);
    let remaining: Arc<Vec<AtomicUsize>> =
        Arc::new((0..clients).map(|_| AtomicUsize::new(0)).collect());
    let mut rows = Vec::new();
    let tag = format!("{storage}/{clients:>2}c");

    let (c2, r2) = (cl.clone(), remaining.clone());
    let put = loadgen::run(clients, secs, move |i, n| {
        let (cl, rem) = (c2.clone(), r2.clone());
        async move {
            let (c, t) = &cl[i];
            let ok = c
                .put(
                    D,
                    &c.hash_did(),
                    t,
                    format!("message {n} with a little payload"),
                )
                .await
                .is_ok();
            if ok {
                rem[i].fetch_add(1, Ordering::Relaxed);
            }
            Some(ok)
        }
    })
    .await;
    rows.push(Row {
        name: format!("{tag} put"),
        stats: put,
        ceiling: ceil,
    });

    let c2 = cl.clone();
    let get = loadgen::run(clients, secs, move |i, _| {
        let cl = c2.clone();
        async move {
            let (c, t) = &cl[i];
            Some(matches!(c.get(D, t).await, Ok(Some(_))))
        }
    })
    .await;
    rows.push(Row {
        name: format!("{tag} get"),
        stats: get,
        ceiling: ceil,
    });

    let (c2, r2) = (cl.clone(), remaining.clone());
    let del = loadgen::run(clients, secs / 2, move |i, _| {
        let (cl, rem) = (c2.clone(), r2.clone());
        async move {
            if rem[i].load(Ordering::Relaxed) <= 1 {
                return None;
            }
            let (c, t) = &cl[i];
            let Ok(Some(m)) = c.get(D, t).await else {
                return Some(false);
            };
            let ok = c
                .delete(D, t, m.message_id.as_deref().unwrap_or(""))
                .await
                .is_ok();
            if ok {
                rem[i].fetch_sub(1, Ordering::Relaxed);
            }
            Some(ok)
        }
    })
    .await;
    rows.push(Row {
        name: format!("{tag} get+delete (pair)"),
        stats: del,
        ceiling: ceil / 2.0,
    });

    let (c2, r2) = (cl.clone(), remaining.clone());
    let take = loadgen::run(clients, secs * 3, move |i, _| {
        let (cl, rem) = (c2.clone(), r2.clone());
        async move {
            if rem[i].load(Ordering::Relaxed) == 0 {
                return None;
            }
            let (c, t) = &cl[i];
            let ok = matches!(c.take(D, t, None).await, Ok(Some(_)));
            if ok {
                rem[i].fetch_sub(1, Ordering::Relaxed);
            }
            Some(ok)
        }
    })
    .await;
    rows.push(Row {
        name: format!("{tag} take"),
        stats: take,
        ceiling: ceil,
    });
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
    rt.block_on(async {
        for clients in [1usize, 16, 64] {
            let ceil = ceiling(clients, secs).await;
            print_row(&Row {
                name: format!("ceiling/{clients:>2}c axum GET /"),
                stats: ceil.clone(),
                ceiling: ceil.ops_per_sec(),
            });
            for storage in ["memory", "durable"] {
                let rows = hub_rows(storage, clients, secs, ceil.ops_per_sec()).await;
                for r in &rows {
                    print_row(r);
                }
                let put = rows[0].stats.ops_per_sec();
                let take = rows[3].stats.ops_per_sec();
                if put > 0.0 && take > 0.0 {
                    println!(
                        "{:<34} {:>9.0} pairs/s",
                        format!("{storage}/{clients:>2}c put+take"),
                        1.0 / (1.0 / put + 1.0 / take)
                    );
                }
            }
        }
    });
    memory_vs_depth();
}
