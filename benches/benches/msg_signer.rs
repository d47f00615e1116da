//! Messaging signer throughput: requests -> signed replies per second through a broker and the
//! mock signing server over loopback, against the ceiling measured in the same run (bare one-way
//! transfers through the same broker, no signing step).
//!
//! Three set-ups in one run, so that their ratios compare like with like:
//! 1. the embedded broker, plain AMQP (no SASL), as the suites use it;
//! 2. the embedded broker over TLS with a client certificate and SASL EXTERNAL;
//! 3. RabbitMQ 3.10 (`cargo xtask broker rabbitmq start`), TLS + SASL EXTERNAL, addresses in its
//!    spelling (`/topic/X`, `/queue/X`) and sender links attached to their address (it has no
//!    anonymous relay). Set-ups 2 and 3 use the certificates in `target/rabbitmq/certs`; when
//!    `target/rabbitmq/broker.env` (or `SIGHARNESS_RABBITMQ_TLS_URL`) is absent they are skipped
//!    with a note. `cargo xtask bench msg-signer` starts RabbitMQ when it is installed.
//!
//! Beside the one-way ceiling, each set-up measures round trips through a **no-work responder**
//! (accept, send the body back; `echo_responder`): the ceiling of request -> reply over that
//! broker, so the mock signing server's own cost (parse, check, sign, encode) is a ratio too.
//!
//! `cargo xtask bench msg-signer` (or `cargo bench -p sigharness-benches --bench msg_signer`).
//! harness = false: after a warm-up batch, one timed batch of 1 000 messages, then
//! `MSG_SIGNER_BENCH_ROUNDS` (default 5) rounds of 10 000, each round the three figures back to
//! back, printed with their ratios and the CPU time per message of the whole process (broker,
//! server, clients: with the embedded broker every part runs here, so the CPU ratio does not
//! depend on how busy the shared machine is), then the medians and spread; nothing is asserted.
//! `MSG_SIGNER_BENCH_PIPELINE` and `MSG_SIGNER_BENCH_COALESCE` set the server's options for A/B
//! runs of one binary (see `server_options`).
//!
//! First, in process and without transport, the mock signing server's own work per container
//! request (`W`) and the OpenPGP signature's share of it (`S`); each round then prints the CPU
//! bound of signed / one-way they imply (`ServerWork`). `MSG_SIGNER_BENCH_ONLY=server-work`
//! runs that phase alone (200 requests: short enough for callgrind).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::types::messaging::{
    AmqpValue, ApplicationProperties, Body, Message, Properties, Target,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};

const SEND_TO: &str = "topic://bench.sign";
const LISTEN: &str = "queue://bench.{creator}.{task_id}";

/// One broker set-up.
struct Setup {
    label: &'static str,
    url: String,
    /// TLS + SASL EXTERNAL with this client configuration.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// RabbitMQ 3.x: `/topic/X`, `/queue/X`, addressed sender links.
    rabbitmq: bool,
}

impl Setup {
    fn map(&self, a: &str) -> String {
        if self.rabbitmq {
            msg_signer::config::rabbitmq_address(a)
        } else {
            a.to_string()
        }
    }
}

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

/// CPU time used by this process so far (`loadgen::cpu_ns`). Every part of a set-up with the
/// embedded broker runs in this process, so CPU time per message is the cost of a message
/// independent of how busy the (shared) machine is; with RabbitMQ its share is not counted.
use sigharness_benches::loadgen::cpu_ns;

/// The server options under test, from the environment (for A/B runs of one binary):
/// `MSG_SIGNER_BENCH_PIPELINE` (signatures in the making at once; 0 = on the receiver task) and
/// `MSG_SIGNER_BENCH_COALESCE` (0 = one write per frame). The no-work responder uses the same
/// transport as the server, so that signed / no-work stays the cost of the server's own work.
fn server_options() -> (usize, bool) {
    let get = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    (
        get("MSG_SIGNER_BENCH_PIPELINE").unwrap_or(mock_signing_server::server::SIGNING_PIPELINE),
        get("MSG_SIGNER_BENCH_COALESCE").unwrap_or(1) != 0,
    )
}

/// Timed rounds of the 10 000 batch (`MSG_SIGNER_BENCH_ROUNDS`, default 5): each round runs the
/// three figures back to back, so a round's ratios compare like with like; medians and the
/// spread are printed.
fn rounds() -> usize {
    std::env::var("MSG_SIGNER_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Client {
    _conn: fe2o3_amqp::connection::ConnectionHandle<()>,
    _session: fe2o3_amqp::session::SessionHandle<()>,
    tx: Sender,
    rx: Receiver,
}

async fn client(setup: &Setup, source: &str, target: Option<&str>) -> Client {
    client_with(setup, source, target, false).await
}

/// A client; `coalesce`: its connection's writes go through the signing server's
/// [`mock_signing_server::coalesce::CoalescedWrites`] (the no-work responder, like the server).
async fn client_with(setup: &Setup, source: &str, target: Option<&str>, coalesce: bool) -> Client {
    let url = msg_signer::config::BrokerUrl::parse(&setup.url).unwrap();
    let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let builder = Connection::builder()
        .container_id(format!("bench-{}", uuid_like()))
        .hostname(url.host.as_str())
        .scheme("amqp");
    use mock_signing_server::coalesce::CoalescedWrites;
    let mut conn = match &setup.tls {
        None if coalesce => builder
            .open_with_stream(CoalescedWrites::new(tcp))
            .await
            .unwrap(),
        None => builder.open_with_stream(tcp).await.unwrap(),
        Some(cfg) => {
            let name = msg_signer::tls::server_name(&url.host).unwrap();
            let mut s = tokio_rustls::TlsConnector::from(cfg.clone())
                .connect(name, tcp)
                .await
                .unwrap();
            msg_signer::sasl::external_with_empty_response(&mut s, Some(&url.host))
                .await
                .unwrap();
            if coalesce {
                builder
                    .open_with_stream(CoalescedWrites::new(s))
                    .await
                    .unwrap()
            } else {
                builder.open_with_stream(s).await.unwrap()
            }
        }
    };
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

/// A run-unique suffix (queues of an interrupted earlier run must not feed this one).
fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:x}{:x}", t, std::process::id())
}

fn request(i: usize, key: &str, to: &str, task: &str) -> Message<AmqpValue<String>> {
    let digest = format!("sha256:{i:064x}");
    let claim = msg_signer::wire::container_claim(&digest, "registry.example.com/ns/app:1");
    use base64::Engine as _;
    let body = serde_json::json!({
        "sig_key_id": key, "request_id": format!("req-{i}"), "created": "2026-01-01T00:00:00Z",
        "requested_by": "bench", "pub_task_id": task, "repo": "ns/app", "manifest_digest": digest,
        "claim_file": base64::engine::general_purpose::STANDARD.encode(claim.to_string()),
    });
    let mut ap = ApplicationProperties::builder();
    for (k, v) in [
        ("service", "bench"),
        ("environment", "bench"),
        ("owner_id", "bench"),
        ("mtype", "container_signature"),
        ("source", "metadata"),
        ("pub_task_id", task),
    ] {
        ap = ap.insert(k.to_string(), SimpleValue::String(v.to_string()));
    }
    ap = ap.insert("manifest_digest".to_string(), SimpleValue::String(digest));
    Message::builder()
        .properties(Properties::builder().to(to.to_string()).build())
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

/// A responder that does no work: each request on `listen` is accepted and its body sent back
/// unchanged to `reply_to`, pipelined, on its own connection (the mock signing server's link
/// layout: a receiver with auto credit, one sender). Round trips through it are the ceiling of
/// request -> reply over this broker with fe2o3 on both ends; the mock signing server's ratio to
/// it is the cost of parsing, checking and signing.
async fn echo_responder(
    setup: &Setup,
    listen: &str,
    reply_to: &str,
    coalesce: bool,
) -> tokio::task::JoinHandle<()> {
    let target = setup.rabbitmq.then_some(reply_to);
    let c = client_with(setup, listen, target, coalesce).await;
    let reply_to = reply_to.to_string();
    // Outcomes are awaited on their own task (as the mock signing server does): `recv` is not
    // raced against anything, so no delivery is dropped half-read.
    let (settle_tx, mut settle_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(f) = settle_rx.recv().await {
            let _ = f.await;
        }
    });
    tokio::spawn(async move {
        // The whole client moves in (its connection and session too, not only the links).
        let mut c = c;
        while let Ok(d) = c.rx.recv::<Body<Value>>().await {
            if c.rx.accept(&d).await.is_err() {
                break;
            }
            let body = match d.into_message().body {
                Body::Value(AmqpValue(v)) => v,
                _ => Value::Null,
            };
            let m = Message::builder()
                .properties(Properties::builder().to(reply_to.clone()).build())
                .value(body)
                .build();
            match c.tx.send_batchable(m).await {
                Ok(f) => {
                    let _ = settle_tx.send(f);
                }
                Err(_) => break,
            }
        }
    })
}

/// The mock signing server's own work per request, in process, no transport: `W`, CPU µs per
/// container request through `Core::handle_request` (parse, validate, sign, build the reply
/// envelope and serialize it), and `S`, CPU µs of the OpenPGP signature alone
/// (`SigningKey::sign_message`, the same claim, the same key). Measured on this thread, so they
/// are what a request costs whatever the machine is doing.
///
/// They give each round's **bounds**: a signed round trip costs about a no-work round trip plus
/// `W` (the measured CPU figures agree within a few µs), so with one-way costing `T` CPU µs and
/// a no-work round trip `E`, the best CPU ratio signed / one-way is `T / (E + W)` for this
/// server and `T / (E + S)` for a server whose only work is the signature.
struct ServerWork {
    w_us: f64,
    s_us: f64,
}

fn server_work(n: usize) -> ServerWork {
    use mock_signing_server::core::Core;
    let keys = Arc::new(mock_signing_server::KeyRing::generate().unwrap());
    let key = keys.first().short_id().to_string();
    let cfg = mock_signing_server::ServerConfig {
        topic_send_to: SEND_TO.into(),
        topic_listen_to: LISTEN.into(),
        message_id_key: "request_id".into(),
        timeout: Duration::from_secs(10),
    };
    let mut core = Core::new(cfg, keys.clone(), &Default::default()).unwrap();
    let incoming = |i: usize| {
        let m = request(i, &key, SEND_TO, "work");
        let props = m
            .application_properties
            .as_ref()
            .map(|ap| {
                ap.0.iter()
                    .filter_map(|(k, v)| match v {
                        SimpleValue::String(s) => Some((k.clone(), s.clone())),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        mock_signing_server::IncomingRequest {
            address: SEND_TO.into(),
            application_properties: props,
            non_string_properties: vec![],
            body: Ok(m.body.0),
            ttl_ms: None,
            absolute_expiry_ms: None,
        }
    };
    // Inputs built outside the timed loops; a warm-up of 100 first.
    let reqs: Vec<_> = (0..n + 100).map(incoming).collect();
    let claim = msg_signer::wire::container_claim(
        &format!("sha256:{:064x}", 7),
        "registry.example.com/ns/app:1",
    )
    .to_string()
    .into_bytes();
    let mut reqs = reqs.into_iter();
    for (i, r) in reqs.by_ref().take(100).enumerate() {
        let got = core.handle_request(Duration::from_millis(i as u64), 1.0e9, r);
        assert!(
            got.errors.is_empty(),
            "bench request refused: {:?}",
            got.errors
        );
    }
    let t0 = cpu_ns();
    for (i, r) in reqs.enumerate() {
        std::hint::black_box(core.handle_request(Duration::from_millis(i as u64), 1.0e9, r));
    }
    let t1 = cpu_ns();
    let k = keys.first();
    for _ in 0..100 {
        std::hint::black_box(k.sign_message(&claim).unwrap());
    }
    let t2 = cpu_ns();
    for _ in 0..n {
        std::hint::black_box(k.sign_message(&claim).unwrap());
    }
    let t3 = cpu_ns();
    let us = |a: u64, b: u64| (b - a) as f64 / 1e3 / n as f64;
    ServerWork {
        w_us: us(t0, t1),
        s_us: us(t2, t3),
    }
}

/// Round trips and ceiling through one set-up: (batch, ceiling msgs/s, round trips/s).
async fn measure(setup: &Setup, work: &ServerWork) -> Vec<(usize, f64, f64)> {
    let run = uuid_like();
    let send_to = setup.map(SEND_TO);
    let cfg = mock_signing_server::ServerConfig {
        topic_send_to: send_to.clone(),
        topic_listen_to: setup.map(LISTEN),
        message_id_key: "request_id".into(),
        timeout: Duration::from_secs(10),
    };
    let (pipeline, coalesce) = server_options();
    let mut b = mock_signing_server::SigningServer::builder(setup.url.clone(), cfg)
        .credit(2000)
        .signing_pipeline(pipeline)
        .coalesce_writes(coalesce)
        .addressed_reply_links(setup.rabbitmq)
        // Its record of requests holds the last 1 000 (a few MiB) so that the RSS figure is
        // what requests in flight take, not the record growing with the run.
        .request_log_limits(mock_broker::JournalLimits {
            max_entries: 1_000,
            ..Default::default()
        });
    if let Some(t) = &setup.tls {
        b = b.tls(t.clone()).sasl_external(true);
    }
    let server = b.start().await.unwrap();
    let key = server.keys().first().short_id().to_string();
    let reply = setup.map(&format!("queue://bench.bench.{run}"));
    let target = setup.rabbitmq.then_some(send_to.as_str());
    let mut rt_client = client(setup, &reply, target).await;
    let sample = request(0, &key, &send_to, &run);
    let ceiling_q = setup.map(&format!("queue://bench.ceiling.{run}"));
    let mut ceiling = client(setup, &ceiling_q, Some(&ceiling_q)).await;
    let bare = move |_i: usize| sample.clone();
    let mk = |i: usize| request(i, &key, &send_to, &run);
    // The no-work responder's own request address and reply queue.
    let echo_in = setup.map(&format!("queue://bench.echo-in.{run}"));
    let echo_reply = setup.map(&format!("queue://bench.echo-reply.{run}"));
    let echo = echo_responder(setup, &echo_in, &echo_reply, coalesce).await;
    let echo_target = setup.rabbitmq.then_some(echo_in.as_str());
    let mut echo_client = client(setup, &echo_reply, echo_target).await;
    let echo_sample = request(0, &key, &echo_in, &run);
    let echo_req = move |_i: usize| echo_sample.clone();
    batch(&mut ceiling, 1000, bare.clone()).await; // warm-up
    batch(&mut echo_client, 1000, echo_req.clone()).await;
    batch(&mut rt_client, 1000, mk).await;
    let mut out = Vec::new();
    let n = 1_000usize;
    let c = batch(&mut ceiling, n, bare.clone()).await;
    let e = batch(&mut echo_client, n, echo_req.clone()).await;
    let r = batch(&mut rt_client, n, |i| mk(i + 1_000_000)).await;
    let (cr, er, rr) = (
        n as f64 / c.as_secs_f64(),
        n as f64 / e.as_secs_f64(),
        n as f64 / r.as_secs_f64(),
    );
    println!(
        "  [{}] batch {n:>6}: ceiling {cr:>9.0} msgs/s one-way | no-work round trips {er:>9.0} /s ({:.2}x) | signed round trips {rr:>9.0} /s | ratio {:.2}x, {:.2}x of no-work",
        setup.label,
        er / cr,
        rr / cr,
        rr / er,
    );
    out.push((n, cr, rr));
    // The 10 000 batch in rounds; per round: rates, the ratios, CPU time per message.
    let n = 10_000usize;
    let mut rows: Vec<[f64; 11]> = Vec::new();
    let mut rss = 0;
    for round in 0..rounds() {
        let t = cpu_ns();
        let c = batch(&mut ceiling, n, bare.clone()).await;
        let t1 = cpu_ns();
        let e = batch(&mut echo_client, n, echo_req.clone()).await;
        let t2 = cpu_ns();
        let rss0 = rss_kib();
        let r = batch(&mut rt_client, n, |i| mk(i + 2_000_000 + round * n)).await;
        let rss1 = rss_kib();
        let t3 = cpu_ns();
        rss = rss1.saturating_sub(rss0);
        let (cr, er, rr) = (
            n as f64 / c.as_secs_f64(),
            n as f64 / e.as_secs_f64(),
            n as f64 / r.as_secs_f64(),
        );
        let us = |a: u64, b: u64| (b - a) as f64 / 1e3 / n as f64;
        let (cc, ec, rc) = (us(t, t1), us(t1, t2), us(t2, t3));
        println!(
            "  [{}] batch {n:>6} round {round}: ceiling {cr:>7.0}/s | no-work rt {er:>7.0}/s ({:.2}x) | signed rt {rr:>7.0}/s ({:.2}x, {:.2}x of no-work) | CPU µs/msg one-way {cc:.1}, no-work {ec:.1}, signed {rc:.1} (CPU ratio {:.2}x, {:.2}x of no-work; bound {:.2}x with this server's work, {:.2}x signing only)",
            setup.label,
            er / cr,
            rr / cr,
            rr / er,
            cc / rc,
            ec / rc,
            cc / (ec + work.w_us),
            cc / (ec + work.s_us),
        );
        rows.push([
            cr,
            er,
            rr,
            er / cr,
            rr / cr,
            rr / er,
            cc,
            ec,
            rc,
            cc / (ec + work.w_us),
            cc / (ec + work.s_us),
        ]);
    }
    let col = |k: usize| {
        let mut v: Vec<f64> = rows.iter().map(|r| r[k]).collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
        (median(&mut v), lo, hi)
    };
    let f = |(m, lo, hi): (f64, f64, f64), d: usize| format!("{m:.d$} [{lo:.d$}-{hi:.d$}]");
    let (cr, rr) = (col(0).0, col(2).0);
    println!(
        "  [{}] batch {n:>6}, median [min-max] of {} rounds: ceiling {} msgs/s one-way | no-work round trips {} /s ({}x) | signed round trips {} /s | ratio {}x, {}x of no-work | CPU µs/msg one-way {}, no-work {}, signed {} | CPU bound {}x with this server's work, {}x signing only | RSS +{rss} KiB ({:.2} KiB per request in flight, last round)",
        setup.label,
        rows.len(),
        f(col(0), 0),
        f(col(1), 0),
        f(col(3), 2),
        f(col(2), 0),
        f(col(4), 2),
        f(col(5), 2),
        f(col(6), 1),
        f(col(7), 1),
        f(col(8), 1),
        f(col(9), 2),
        f(col(10), 2),
        rss as f64 / n as f64,
    );
    out.push((n, cr, rr));
    echo.abort();
    let (sent, accepted, failed) = server.replies_sent();
    println!(
        "  [{}] server: {} requests, {sent} replies sent, {accepted} accepted, {failed} failed",
        setup.label,
        server.requests_seen()
    );
    out
}

/// RabbitMQ's TLS URL and the certificate directory, from the environment or
/// `target/rabbitmq/broker.env` (written by `cargo xtask broker rabbitmq start`).
fn rabbitmq() -> Option<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let env_file =
        std::fs::read_to_string(root.join("target/rabbitmq/broker.env")).unwrap_or_default();
    let get = |k: &str| {
        std::env::var(k).ok().or_else(|| {
            env_file.lines().find_map(|l| {
                l.strip_prefix("export ")?
                    .strip_prefix(k)?
                    .strip_prefix('=')
                    .map(str::to_string)
            })
        })
    };
    let url = get("SIGHARNESS_RABBITMQ_TLS_URL")?;
    let ca = PathBuf::from(get("SIGHARNESS_RABBITMQ_CA")?);
    // Only when it answers (a stale broker.env must not make the bench panic).
    let parsed = msg_signer::config::BrokerUrl::parse(&url).ok()?;
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(parsed.host.as_str(), parsed.port))
        .ok()?
        .next()?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    Some((url, ca.parent()?.to_path_buf()))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Before anything else runs: the server's work per request, on this thread.
    let only_work = std::env::var("MSG_SIGNER_BENCH_ONLY").is_ok_and(|v| v == "server-work");
    let work = server_work(if only_work { 200 } else { 2_000 });
    if only_work {
        println!(
            "server work in process, CPU µs per container request: W {:.1}, S {:.1}",
            work.w_us, work.s_us
        );
        return;
    }
    rt.block_on(async {
        println!("msg-signer bench: mock signing server (Ed25519 OpenPGP), loopback, 2 worker threads");
        println!(
            "  server work in process (no transport), CPU µs per container request: W {:.1} (parse, validate, sign, reply) of which S {:.1} the OpenPGP signature ({:.0} %)",
            work.w_us,
            work.s_us,
            100.0 * work.s_us / work.w_us
        );
        let broker = mock_broker::Broker::builder().record_bodies(false).start().await.unwrap();
        let plain = Setup { label: "embedded, plain", url: broker.url().to_string(), tls: None, rabbitmq: false };
        measure(&plain, &work).await;
        drop(broker);

        let Some((rabbit_url, certs)) = rabbitmq() else {
            println!("RabbitMQ: not running (no target/rabbitmq/broker.env, or it does not answer): `cargo xtask broker rabbitmq start`, then run again for the embedded/RabbitMQ ratios");
            return;
        };
        let tls = msg_signer::tls::client_config(&certs.join("client-cert-key.pem"), &certs.join("ca.pem"), true).unwrap();
        let broker = mock_broker::Broker::builder()
            .record_bodies(false)
            .tls_files(&certs.join("server.pem"), &certs.join("server.key"))
            .client_ca_file(&certs.join("ca.pem"))
            .start()
            .await
            .unwrap();
        let embedded_tls = Setup {
            label: "embedded, TLS+EXTERNAL",
            url: format!("amqps://localhost:{}", broker.addr().port()),
            tls: Some(tls.clone()),
            rabbitmq: false,
        };
        let e = measure(&embedded_tls, &work).await;
        drop(broker);
        let rabbit = Setup { label: "RabbitMQ 3.10, TLS+EXTERNAL", url: rabbit_url, tls: Some(tls), rabbitmq: true };
        let r = measure(&rabbit, &work).await;
        println!("embedded/RabbitMQ (both TLS + EXTERNAL, same client, same mock signing server):");
        for ((n, ec, er), (_, rc, rr)) in e.iter().zip(&r) {
            println!(
                "  batch {n:>6}: one-way ceiling {:.2}x ({ec:.0} vs {rc:.0} msgs/s) | signed round trips {:.2}x ({er:.0} vs {rr:.0} /s)",
                ec / rc,
                er / rr
            );
        }
    });
}
