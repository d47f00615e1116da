//! Issue 13, memory budget: both HTTP services keep their resident memory under a stated bound
//! over 12 000 requests with 8 KiB targets, with their default limits. Its own test binary (one
//! test), so that no other test's allocations are counted in VmRSS.
//!
//! Before the verdict store was bounded (commit 7360988), the upstream kept every request whole:
//! 24 000 requests with 2 KiB targets grew it to 244 MB; 12 000 with 8 KiB targets would hold
//! ~100 MB of targets alone. Now the store keeps at most `max_verdicts` (10 000) within
//! `max_bytes` (16 MiB), request lines cut, and the verifier stores nothing per request.

use std::time::{Duration, Instant};

mod common;
use common::{expectations, key};
use mock_http_sig_peers::{
    Upstream, UpstreamConfig, VerdictLimits, VerifierConfig, VerifierService,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REQUESTS: usize = 12_000;
const TARGET_BYTES: usize = 8 * 1024;
const RSS_GROWTH_BOUND: u64 = 48 * 1024 * 1024;

fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

/// Read one response (head, then `content-length` bytes of body) from `buf` + `s`; its status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    let mut b = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().expect("content-length"))
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head[9..12].parse().expect("status code");
                buf.drain(..end + 4 + len);
                return status;
            }
        }
        let k = s.read(&mut b).await.unwrap();
        assert!(k > 0, "connection closed");
        buf.extend_from_slice(&b[..k]);
    }
}

/// `REQUESTS` requests over four keep-alive connections; every status seen.
async fn load(addr: std::net::SocketAddr) -> Vec<u16> {
    let target = format!("/{}", "t".repeat(TARGET_BYTES));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let target = target.clone();
        senders.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let mut buf = Vec::new();
            let mut statuses = Vec::new();
            for _ in 0..REQUESTS / 4 {
                s.write_all(req.as_bytes()).await.unwrap();
                statuses.push(read_response(&mut s, &mut buf).await);
            }
            statuses
        }));
    }
    let mut all = Vec::new();
    for s in senders {
        all.extend(
            tokio::time::timeout(Duration::from_secs(300), s)
                .await
                .expect("sent within the bound")
                .unwrap(),
        );
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_stay_under_their_memory_bound() {
    // The upstream, default limits.
    let up = Upstream::start_with(
        ([127, 0, 0, 1], 0).into(),
        UpstreamConfig::new(expectations()),
    )
    .await
    .unwrap();
    let (before, t0) = (vm_rss(), Instant::now());
    let statuses = load(up.addr()).await;
    let after = vm_rss();
    assert_eq!(statuses.len(), REQUESTS);
    assert_eq!(up.judged(), REQUESTS);
    let limits = VerdictLimits::default();
    assert!(up.verdicts().len() <= limits.max_verdicts);
    assert_eq!(up.dropped(), REQUESTS - up.verdicts().len());
    assert!(up.verdict_bytes() <= limits.max_bytes);
    eprintln!(
        "upstream: {REQUESTS} x {TARGET_BYTES} B targets in {:?}: VmRSS {} -> {} MB; {} verdicts kept, {} bytes, {} dropped",
        t0.elapsed(),
        before / 1_000_000,
        after / 1_000_000,
        up.verdicts().len(),
        up.verdict_bytes(),
        up.dropped()
    );
    assert!(
        after.saturating_sub(before) <= RSS_GROWTH_BOUND,
        "upstream VmRSS grew by {} MB over {REQUESTS} requests (bound {} MB)",
        after.saturating_sub(before) / 1_000_000,
        RSS_GROWTH_BOUND / 1_000_000
    );
    drop(up);

    // The verifier, default limits: unsigned requests are refused, nothing kept per request.
    let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), VerifierConfig::new(key()))
        .await
        .unwrap();
    let (before, t0) = (vm_rss(), Instant::now());
    let statuses = load(svc.addr()).await;
    let after = vm_rss();
    assert_eq!(statuses.len(), REQUESTS);
    assert!(
        statuses.iter().all(|s| (400..500).contains(s)),
        "unsigned requests are refused"
    );
    eprintln!(
        "verifier: {REQUESTS} x {TARGET_BYTES} B targets in {:?}: VmRSS {} -> {} MB",
        t0.elapsed(),
        before / 1_000_000,
        after / 1_000_000
    );
    assert!(
        after.saturating_sub(before) <= RSS_GROWTH_BOUND,
        "verifier VmRSS grew by {} MB over {REQUESTS} requests (bound {} MB)",
        after.saturating_sub(before) / 1_000_000,
        RSS_GROWTH_BOUND / 1_000_000
    );
}
