//! One-way transfers through the embedded broker over loopback, against a **bare fe2o3-amqp
//! router** measured in the same run (issue 14 item 1): the same acceptor stack (fe2o3's
//! `ConnectionAcceptor` / `SessionAcceptor` / `LinkAcceptor`, the same client, the same message,
//! the same pipelining) with nothing of ours in between: no `wire` (frame checks, the encoding
//! check, the kill switch), no journal, no fault plan, no router (one FIFO per address). The
//! ratio embedded / bare is the cost of what the broker adds to fe2o3.
//!
//! Each contender gets its own pair of connections (a pipelined sender with `send_batchable`,
//! outcomes collected after, and one receiver accepting each delivery, on `queue://bench`). After
//! a warm-up batch, `ROUNDS` timed batches of `BATCH` messages run alternately (bare, embedded,
//! bare, ...) so that both see the same machine; the figure is the median of each contender and
//! the median of the per-round ratios. harness = false: nothing is asserted.
//!
//! Run: `cargo xtask bench broker` (or `cargo bench -p sigharness-benches --bench broker`).
//! `BROKER_BENCH_BATCH` (default 10 000) and `BROKER_BENCH_ROUNDS` (default 5) override.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fe2o3_amqp::acceptor::{ConnectionAcceptor, LinkAcceptor, LinkEndpoint, SessionAcceptor};
use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{Body, Message};
use fe2o3_amqp::types::primitives::Value;
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use mock_broker::Broker;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

type Msg = Message<Body<Value>>;

/// One FIFO per address: producers push, competing consumers take from the shared receiver.
#[derive(Default)]
struct Queues {
    by_address: Mutex<HashMap<String, QueuePair>>,
}

#[derive(Clone)]
struct QueuePair {
    tx: mpsc::UnboundedSender<Msg>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Msg>>>,
}

impl Queues {
    fn get(&self, address: &str) -> QueuePair {
        let mut m = self.by_address.lock().expect("queues");
        m.entry(address.to_string())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                QueuePair {
                    tx,
                    rx: Arc::new(tokio::sync::Mutex::new(rx)),
                }
            })
            .clone()
    }
}

/// The bare router: accept, route by target/source address, accept every delivery on arrival,
/// forward with `send_batchable` and poll the outcomes in the link's task (as the broker does).
async fn bare_router() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let queues = Arc::new(Queues::default());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let queues = queues.clone();
            tokio::spawn(async move {
                let acceptor = ConnectionAcceptor::new("bare-router");
                let Ok(mut conn) = acceptor.accept(stream).await else {
                    return;
                };
                let sessions = SessionAcceptor::new();
                while let Ok(mut session) = sessions.accept(&mut conn).await {
                    let queues = queues.clone();
                    tokio::spawn(async move {
                        let links = LinkAcceptor::new();
                        while let Ok(link) = links.accept(&mut session).await {
                            match link {
                                LinkEndpoint::Receiver(r) => {
                                    tokio::spawn(bare_inbound(r, queues.clone()));
                                }
                                LinkEndpoint::Sender(s) => {
                                    tokio::spawn(bare_outbound(s, queues.clone()));
                                }
                            }
                        }
                    });
                }
            });
        }
    });
    addr
}

async fn bare_inbound(mut r: Receiver, queues: Arc<Queues>) {
    r.set_auto_accept(false);
    let Some(address) = r.target().as_ref().and_then(|t| t.address.clone()) else {
        return;
    };
    let q = queues.get(&address);
    while let Ok(d) = r.recv::<Body<Value>>().await {
        if r.accept(&d).await.is_err() {
            break;
        }
        if q.tx.send(d.into_message()).is_err() {
            break;
        }
    }
}

async fn bare_outbound(mut s: Sender, queues: Arc<Queues>) {
    let Some(address) = s.source().as_ref().and_then(|t| t.address.clone()) else {
        return;
    };
    let q = queues.get(&address);
    let mut rx = q.rx.lock().await;
    let mut settling = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some(_) = settling.next(), if !settling.is_empty() => {}
            m = rx.recv() => {
                let Some(m) = m else { break };
                match s.send_batchable(m).await {
                    Ok(fut) => settling.push(fut),
                    Err(_) => break,
                }
            }
        }
    }
}

/// A pipelined sender and a receiver on `queue://bench`, each on its own connection.
struct Pair {
    sender: Sender,
    receiver: Receiver,
    _keep: (
        ConnectionHandle<()>,
        ConnectionHandle<()>,
        SessionHandle<()>,
        SessionHandle<()>,
    ),
}

async fn pair(addr: SocketAddr, tag: &str) -> Pair {
    let open = |id: String| async move {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Connection::builder()
            .container_id(id)
            .open_with_stream(s)
            .await
            .expect("open")
    };
    let mut c1 = open(format!("bench-tx-{tag}")).await;
    let mut c2 = open(format!("bench-rx-{tag}")).await;
    let mut s1 = Session::begin(&mut c1).await.expect("session");
    let mut s2 = Session::begin(&mut c2).await.expect("session");
    let sender = Sender::attach(&mut s1, "tx", "queue://bench")
        .await
        .expect("sender");
    let receiver = Receiver::attach(&mut s2, "rx", "queue://bench")
        .await
        .expect("receiver");
    Pair {
        sender,
        receiver,
        _keep: (c1, c2, s1, s2),
    }
}

/// `n` messages sent pipelined and received (each accepted); the elapsed time.
async fn batch(p: &mut Pair, n: usize, body: &str) -> Duration {
    let start = Instant::now();
    let mut outcomes = Vec::with_capacity(n);
    let (sender, receiver) = (&mut p.sender, &mut p.receiver);
    let recv = async {
        for _ in 0..n {
            let d = receiver.recv::<String>().await.expect("recv");
            receiver.accept(&d).await.expect("accept");
        }
    };
    let send = async {
        for _ in 0..n {
            let m = Message::builder().value(body.to_string()).build();
            outcomes.push(sender.send_batchable(m).await.expect("send"));
        }
        for o in outcomes.drain(..) {
            o.await.expect("outcome");
        }
    };
    tokio::join!(recv, send);
    start.elapsed()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than "broker" skips this bench.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"broker".contains(a.as_str()))
    {
        return;
    }
    let n = env_usize("BROKER_BENCH_BATCH", 10_000);
    let rounds = env_usize("BROKER_BENCH_ROUNDS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let broker = Broker::builder()
            .record_bodies(false)
            .start()
            .await
            .expect("broker");
        let bare_addr = bare_router().await;
        let mut embedded = pair(broker.addr(), "embedded").await;
        let mut bare = pair(bare_addr, "bare").await;
        let body = "x".repeat(300);
        batch(&mut bare, n, &body).await;
        batch(&mut embedded, n, &body).await;
        let (mut b, mut e, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let tb = n as f64 / batch(&mut bare, n, &body).await.as_secs_f64();
            let te = n as f64 / batch(&mut embedded, n, &body).await.as_secs_f64();
            b.push(tb);
            e.push(te);
            r.push(te / tb);
        }
        let (mb, me, mr) = (median(&mut b), median(&mut e), median(&mut r));
        println!(
            "\nbroker one-way, 300-byte messages, pipelined, {n} per batch, median of {rounds} alternating rounds"
        );
        println!("{:<34} {:>9.0} msg/s  ratio 1.00x", "bare fe2o3 router (ceiling)", mb);
        println!(
            "{:<34} {:>9.0} msg/s  ratio {:>4.2}x  (per-round {:.2}x..{:.2}x)",
            "embedded broker",
            me,
            mr,
            r.first().copied().unwrap_or(0.0),
            r.last().copied().unwrap_or(0.0),
        );
        drop(embedded);
        drop(bare);
        drop(broker);
    });
}
