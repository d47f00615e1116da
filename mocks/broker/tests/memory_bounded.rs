//! The broker's memory stays bounded under sustained traffic (issue 13 item 3): after 10 000
//! messages of 10 KB sent and consumed, the journal's own byte count stays under its bound and
//! the process's resident set grows by less than 64 MB. Before the fix the journal held every
//! event and body (`serve broker` grew from 7 MB to 277 MB and kept it); this test measured
//! +213 MB then. Alone in its test binary so that no other test shares the process's RSS.

mod common;

use common::*;
use fe2o3_amqp::types::messaging::Message;
use fe2o3_amqp::{Receiver, Sender};
use mock_broker::Broker;

const MESSAGES: usize = 10_000;
const BODY: usize = 10 * 1024;
/// Generous: the journal's bound (32 MiB by default) plus allocator slack.
const RSS_GROWTH_BOUND: u64 = 64 * 1024 * 1024;

fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_10k_messages_leave_memory_bounded() {
    let broker = Broker::start().await;
    let mut tx = connect(broker.addr(), "mem-tx").await;
    let mut rx = connect(broker.addr(), "mem-rx").await;
    let mut s1 = session(&mut tx).await;
    let mut s2 = session(&mut rx).await;
    let mut s = bounded(Sender::attach(&mut s1, "s", "queue://mem"))
        .await
        .unwrap();
    let mut r = bounded(Receiver::attach(&mut s2, "r", "queue://mem"))
        .await
        .unwrap();
    let body = "x".repeat(BODY);
    let mut round = async |n: usize| {
        let recv = async {
            for _ in 0..n {
                let d = bounded(r.recv::<String>()).await.unwrap();
                bounded(r.accept(&d)).await.unwrap();
            }
        };
        let send = async {
            let mut outcomes = Vec::with_capacity(100);
            for i in 0..n {
                let m = Message::builder().value(body.clone()).build();
                outcomes.push(bounded(s.send_batchable(m)).await.unwrap());
                if i % 100 == 99 {
                    for o in outcomes.drain(..) {
                        bounded(o).await.unwrap();
                    }
                }
            }
            for o in outcomes.drain(..) {
                bounded(o).await.unwrap();
            }
        };
        tokio::join!(recv, send);
    };
    // Warm up (allocator pools, fe2o3 buffers), then measure.
    round(200).await;
    let before = vm_rss();
    let t0 = std::time::Instant::now();
    round(MESSAGES).await;
    let after = vm_rss();
    let j = broker.journal();
    eprintln!(
        "{MESSAGES} x {BODY} B in {:?}: VmRSS {} -> {} MB; journal {} entries, {} bytes, {} dropped",
        t0.elapsed(),
        before / 1_000_000,
        after / 1_000_000,
        j.len(),
        j.bytes(),
        j.dropped()
    );
    assert_eq!(broker.queue_depth("queue://mem"), 0, "everything consumed");
    assert!(
        j.bytes() <= j.limits().max_bytes,
        "journal holds {} bytes, bound {}",
        j.bytes(),
        j.limits().max_bytes
    );
    assert!(j.len() <= j.limits().max_entries);
    let growth = after.saturating_sub(before);
    assert!(
        growth < RSS_GROWTH_BOUND,
        "VmRSS grew by {} MB (bound {} MB)",
        growth / 1_000_000,
        RSS_GROWTH_BOUND / 1_000_000
    );
}
