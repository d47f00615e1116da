//! Issue 13: the two servers stay available under abuse. Real loopback sockets; waits are on
//! events (a socket closing, a count reached) with a bound, never a sleep-to-wait.
//!
//! File descriptors: the idle-connection tests hold `IDLE` client sockets plus up to
//! `max_connections` server sockets each. The count is read from /proc/self/limits (soft
//! RLIMIT_NOFILE) and lowered if it would not fit, so the tests run under `ulimit -n 1024` too
//! (with fewer connections, still more than `max_connections`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;
use common::{expectations, key};
use mock_http_sig_peers::{
    ServerLimits, Upstream, UpstreamConfig, VERDICTS_PATH, VerdictLimits, VerifierConfig,
    VerifierService,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const IDLE: usize = 1_000;
const CAP: usize = 200;

/// How many idle connections this process can hold (two such tests may run at once).
fn idle_count() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1024);
    IDLE.min(soft.saturating_sub(2 * CAP + 200) / 2)
}

/// One request on a fresh connection; the status line.
async fn request(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Open `n` idle connections; each is watched, and `closed` counts those the server closed.
async fn hold_idle(
    addr: std::net::SocketAddr,
    n: usize,
) -> (
    Vec<tokio::task::JoinHandle<()>>,
    Arc<AtomicUsize>,
    Arc<Notify>,
) {
    let closed = Arc::new(AtomicUsize::new(0));
    let changed = Arc::new(Notify::new());
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let (closed, changed) = (closed.clone(), changed.clone());
        tasks.push(tokio::spawn(async move {
            let mut b = [0u8; 64];
            // Returns when the server closes (EOF or reset).
            while let Ok(k) = s.read(&mut b).await {
                if k == 0 {
                    break;
                }
            }
            closed.fetch_add(1, Ordering::SeqCst);
            changed.notify_one();
        }));
    }
    (tasks, closed, changed)
}

async fn wait_count(c: &AtomicUsize, changed: &Notify, at_least: usize, bound: Duration) -> bool {
    tokio::time::timeout(bound, async {
        loop {
            let n = changed.notified();
            if c.load(Ordering::SeqCst) >= at_least {
                return;
            }
            n.await;
        }
    })
    .await
    .is_ok()
}

fn capped() -> ServerLimits {
    ServerLimits {
        // Long: the idle connections must be closed by the cap, not by the timeout.
        header_read_timeout: Duration::from_secs(120),
        max_connections: CAP,
        ..ServerLimits::default()
    }
}

async fn idle_connections_do_not_lock_out_a_client(addr: std::net::SocketAddr) -> usize {
    let n = idle_count();
    assert!(n > CAP, "only {n} descriptors available");
    let (tasks, closed, changed) = hold_idle(addr, n).await;
    // A normal request is served at once, however many idle connections are held.
    let status = tokio::time::timeout(
        Duration::from_secs(20),
        request(
            addr,
            b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        ),
    )
    .await
    .expect("served within the bound");
    assert!(status.starts_with("HTTP/1.1 "), "{status:?}");
    // Everything beyond the cap was closed by the server (the longest idle first).
    assert!(
        wait_count(&closed, &changed, n - CAP, Duration::from_secs(20)).await,
        "only {} of {n} idle connections were closed (cap {CAP})",
        closed.load(Ordering::SeqCst)
    );
    for t in tasks {
        t.abort();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_holds_at_most_max_connections_and_serves_a_new_client() {
    let mut cfg = VerifierConfig::new(key());
    cfg.server = capped();
    let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
        .await
        .unwrap();
    let n = idle_connections_do_not_lock_out_a_client(svc.addr()).await;
    assert!(svc.open_connections() <= CAP, "{}", svc.open_connections());
    assert!(svc.evicted_connections() as usize >= n - CAP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_holds_at_most_max_connections_and_serves_a_new_client() {
    let up = Upstream::start_with(
        ([127, 0, 0, 1], 0).into(),
        UpstreamConfig {
            server: capped(),
            ..UpstreamConfig::new(expectations())
        },
    )
    .await
    .unwrap();
    idle_connections_do_not_lock_out_a_client(up.addr()).await;
    assert!(up.open_connections() <= CAP, "{}", up.open_connections());
    assert_eq!(up.judged(), 1);
}

/// A client trickling its request head is closed once `header_read_timeout` has passed since
/// the connection opened (virtual time; real sockets).
#[tokio::test(start_paused = true)]
async fn a_slowloris_client_is_closed_after_the_header_timeout() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(200),
        ..ServerLimits::default()
    };
    let mut cfg = VerifierConfig::new(key());
    cfg.server = limits;
    let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
        .await
        .unwrap();
    let up = Upstream::start_with(
        ([127, 0, 0, 1], 0).into(),
        UpstreamConfig {
            server: limits,
            ..UpstreamConfig::new(expectations())
        },
    )
    .await
    .unwrap();
    for addr in [svc.addr(), up.addr()] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let t0 = tokio::time::Instant::now();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        // The stimulus: one header byte every 20 ms, for ever.
        let trickle = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if wr.write_all(b"x").await.is_err() {
                    return;
                }
            }
        });
        let mut got = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(30), async {
            let mut b = [0u8; 256];
            loop {
                match rd.read(&mut b).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                }
            }
        })
        .await;
        trickle.abort();
        assert!(closed.is_ok(), "{addr}: still open after 30 s");
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "{addr}: closed after {waited:?}"
        );
        let text = String::from_utf8_lossy(&got);
        assert!(got.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert_eq!(up.judged(), 0);
}

/// A body that stops arriving gets 408 after `body_read_timeout` (virtual time).
#[tokio::test(start_paused = true)]
async fn a_stalled_body_gets_408() {
    let mut cfg = VerifierConfig::new(key());
    cfg.server.body_read_timeout = Duration::from_millis(300);
    let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(30),
        request(
            svc.addr(),
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten..",
        ),
    )
    .await
    .expect("answered within the bound");
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

/// The issue's request (8 000 dictionary members, 3 000 covered `;key` components, a junk
/// signature) is refused with the cap named; a normal request meanwhile is not held up by a
/// lock (the decision runs without one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_request_is_refused_naming_the_cap() {
    let mut cfg = VerifierConfig::new(key());
    cfg.server.max_header_bytes = 512 * 1024;
    let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
        .await
        .unwrap();
    let dict: Vec<String> = (0..8_000).map(|i| format!("k{i}={i}")).collect();
    let comps: Vec<String> = (0..3_000)
        .map(|i| format!("\"example-dict\";key=\"k{i}\""))
        .collect();
    let raw = format!(
        "POST /graphql HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nExample-Dict: {}\r\nSignature-Input: sig=({});created=1\r\nSignature: sig=:{}=:\r\nConnection: close\r\n\r\n",
        dict.join(", "),
        comps.join(" "),
        "A".repeat(43)
    );
    let mut s = TcpStream::connect(svc.addr()).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut got = String::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_string(&mut got))
        .await
        .expect("answered within the bound")
        .unwrap();
    assert!(got.starts_with("HTTP/1.1 401"), "{got}");
    assert!(
        got.contains("\"error\":\"limit_exceeded\"") && got.contains("max_header_bytes"),
        "{got}"
    );
}

/// 10 000 requests: the upstream keeps the last `max_verdicts`, within its byte budget, counts
/// the dropped and says so in the listing, which is paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verdict_store_is_bounded_after_10_000_requests() {
    const N: usize = 10_000;
    let limits = VerdictLimits {
        max_verdicts: 1_000,
        max_bytes: 1024 * 1024,
        max_nonces: 100,
    };
    let up = Upstream::start_with(
        ([127, 0, 0, 1], 0).into(),
        UpstreamConfig {
            verdicts: limits,
            ..UpstreamConfig::new(expectations())
        },
    )
    .await
    .unwrap();
    // Four keep-alive connections, each sending N/4 requests with a 2 KiB target.
    let target = format!("/{}", "a".repeat(2048));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (addr, target) = (up.addr(), target.clone());
        senders.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let mut buf = Vec::new();
            let mut b = [0u8; 8192];
            for _ in 0..N / 4 {
                s.write_all(req.as_bytes()).await.unwrap();
                // Each reply is the default {"data":{}} with a content-length: read one.
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
                        && buf.len() >= end + 4 + 11
                    {
                        buf.drain(..end + 4 + 11);
                        break;
                    }
                    let k = s.read(&mut b).await.unwrap();
                    assert!(k > 0, "connection closed");
                    buf.extend_from_slice(&b[..k]);
                }
            }
        }));
    }
    for s in senders {
        tokio::time::timeout(Duration::from_secs(120), s)
            .await
            .expect("sent within the bound")
            .unwrap();
    }
    let (_, reached) = up.wait_for(N, Duration::from_secs(10)).await;
    assert!(reached);
    assert_eq!(up.judged(), N);
    assert!(up.verdicts().len() <= 1_000);
    assert_eq!(up.dropped(), N - up.verdicts().len());
    assert!(
        up.verdict_bytes() <= 1024 * 1024,
        "{} bytes",
        up.verdict_bytes()
    );
    // Each kept request line was cut to 256 characters.
    assert!(up.verdicts().iter().all(|v| v.request.len() < 300));
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let page: serde_json::Value = c
        .get(format!("{}{VERDICTS_PATH}?limit=10", up.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["judged"], N);
    assert_eq!(page["dropped"], N - up.verdicts().len());
    assert_eq!(page["verdicts"].as_array().unwrap().len(), 10);
    assert_eq!(page["offset"], page["first_kept"]);
    assert!(page["note"].as_str().unwrap().contains("dropped"), "{page}");
    let next = page["next_offset"].as_u64().unwrap();
    assert_eq!(next, page["first_kept"].as_u64().unwrap() + 10);
}
