//! Messaging signer throughput: requests -> signed replies per second through the embedded
//! broker and the mock signing server over loopback, against the ceiling measured in the same
//! run (bare one-way transfers through the same broker, no signing step).
//!
//! `cargo xtask bench msg-signer` (or `cargo bench -p sigharness-benches --bench msg_signer`).
//! harness = false: each figure is one timed batch (1 000 and 10 000 messages) after a warm-up
//! batch, printed with the ratio; nothing is asserted.

use std::time::{Duration, Instant};

use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::types::messaging::{
    AmqpValue, ApplicationProperties, Body, Message, Properties, Target,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};

const SEND_TO: &str = "topic://bench.sign";
const LISTEN: &str = "queue://bench.{creator}.{task_id}";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Client {
    _conn: fe2o3_amqp::connection::ConnectionHandle<()>,
    _session: fe2o3_amqp::session::SessionHandle<()>,
    tx: Sender,
    rx: Receiver,
}

async fn client(url: &str, source: &str, target: Option<&str>) -> Client {
    let tcp = tokio::net::TcpStream::connect(url.trim_start_matches("amqp://"))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut conn = Connection::builder()
        .container_id(format!("bench-{source}"))
        .hostname("127.0.0.1")
        .scheme("amqp")
        .open_with_stream(tcp)
        .await
        .unwrap();
    let mut session = Session::begin(&mut conn).await.unwrap();
    let rx = Receiver::builder()
        .name(format!("rx-{source}"))
        .source(source.to_string())
        .credit_mode(CreditMode::Auto(2000))
        .attach(&mut session)
        .await
        .unwrap();
    let t = match target {
        Some(a) => Target::builder().address(a.to_string()).build(),
        None => Target::builder().build(),
    };
    let tx = Sender::builder()
        .name(format!("tx-{source}"))
        .target(t)
        .attach(&mut session)
        .await
        .unwrap();
    Client {
        _conn: conn,
        _session: session,
        tx,
        rx,
    }
}

fn request(i: usize, key: &str) -> Message<AmqpValue<String>> {
    let digest = format!("sha256:{i:064x}");
    let claim = msg_signer::wire::container_claim(&digest, "registry.example.com/ns/app:1");
    use base64::Engine as _;
    let body = serde_json::json!({
        "sig_key_id": key, "request_id": format!("req-{i}"), "created": "2026-01-01T00:00:00Z",
        "requested_by": "bench", "pub_task_id": "1", "repo": "ns/app", "manifest_digest": digest,
        "claim_file": base64::engine::general_purpose::STANDARD.encode(claim.to_string()),
    });
    let mut ap = ApplicationProperties::builder();
    for (k, v) in [
        ("service", "bench"),
        ("environment", "bench"),
        ("owner_id", "bench"),
        ("mtype", "container_signature"),
        ("source", "metadata"),
        ("pub_task_id", "1"),
    ] {
        ap = ap.insert(k.to_string(), SimpleValue::String(v.to_string()));
    }
    ap = ap.insert("manifest_digest".to_string(), SimpleValue::String(digest));
    Message::builder()
        .properties(Properties::builder().to(SEND_TO).build())
        .application_properties(ap.build())
        .value(body.to_string())
        .build()
}

/// Send `n` messages pipelined while a concurrent task receives `n` deliveries on `c.rx`;
/// returns the elapsed time until the last delivery.
async fn batch(
    c: &mut Client,
    n: usize,
    make: impl Fn(usize) -> Message<AmqpValue<String>>,
) -> Duration {
    let t0 = Instant::now();
    let rx = &mut c.rx;
    let recv = async move {
        for _ in 0..n {
            let d = tokio::time::timeout(Duration::from_secs(60), rx.recv::<Body<Value>>())
                .await
                .expect("bounded")
                .unwrap();
            rx.accept(&d).await.unwrap();
        }
        t0.elapsed()
    };
    let tx = &mut c.tx;
    let send = async move {
        let mut futs = Vec::with_capacity(n);
        for i in 0..n {
            futs.push(tx.send_batchable(make(i)).await.unwrap());
        }
        for f in futs {
            let _ = f.await;
        }
    };
    let (elapsed, ()) = tokio::join!(recv, send);
    elapsed
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = mock_broker::Broker::builder().record_bodies(false).start().await.unwrap();
        let cfg = mock_signing_server::ServerConfig {
            topic_send_to: SEND_TO.into(),
            topic_listen_to: LISTEN.into(),
            message_id_key: "request_id".into(),
            timeout: Duration::from_secs(10),
        };
        let server = mock_signing_server::SigningServer::builder(broker.url(), cfg).credit(2000).start().await.unwrap();
        let key = server.keys().first().short_id().to_string();
        let mut rt_client = client(broker.url(), "queue://bench.bench.1", None).await;
        let sample = request(0, &key);
        let mut ceiling = client(broker.url(), "queue://bench.ceiling", Some("queue://bench.ceiling")).await;
        let bare = move |_i: usize| sample.clone();
        println!("msg-signer bench: embedded broker + mock signing server (Ed25519 OpenPGP), loopback, 2 worker threads");
        batch(&mut ceiling, 1000, bare.clone()).await; // warm-up
        batch(&mut rt_client, 1000, |i| request(i, &key)).await;
        for n in [1_000usize, 10_000] {
            let c = batch(&mut ceiling, n, bare.clone()).await;
            let rss0 = rss_kib();
            let r = batch(&mut rt_client, n, |i| request(i + 1_000_000, &key)).await;
            let rss1 = rss_kib();
            let (cr, rr) = (n as f64 / c.as_secs_f64(), n as f64 / r.as_secs_f64());
            println!(
                "batch {n:>6}: ceiling {cr:>9.0} msgs/s one-way | signed round trips {rr:>9.0} /s | ratio {:.2}x | RSS +{} KiB ({:.2} KiB per request in flight)",
                rr / cr,
                rss1.saturating_sub(rss0),
                rss1.saturating_sub(rss0) as f64 / n as f64
            );
        }
        let (sent, accepted, failed) = server.replies_sent();
        println!("server: {} requests, {sent} replies sent, {accepted} accepted, {failed} failed", server.received_requests().len());
    });
}
