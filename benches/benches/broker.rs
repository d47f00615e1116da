//! One-way transfers through the embedded broker over loopback: a pipelined sender
//! (`send_batchable`, outcomes collected after) and one receiver on the same queue.
//! Criterion reports elements/s = messages/s. Run: `cargo bench -p sigharness-benches --bench broker`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fe2o3_amqp::types::messaging::Message;
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use mock_broker::Broker;
use tokio::net::TcpStream;

const BATCH: u64 = 1_000;

fn one_way(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (broker, mut sender, mut receiver, _conns) = rt.block_on(async {
        let broker = Broker::builder()
            .record_bodies(false)
            .start()
            .await
            .expect("broker");
        let open = |id: &'static str| {
            let addr = broker.addr();
            async move {
                let s = TcpStream::connect(addr).await.expect("connect");
                s.set_nodelay(true).expect("nodelay");
                Connection::builder()
                    .container_id(id)
                    .open_with_stream(s)
                    .await
                    .expect("open")
            }
        };
        let mut c1 = open("bench-tx").await;
        let mut c2 = open("bench-rx").await;
        let mut s1 = Session::begin(&mut c1).await.expect("session");
        let mut s2 = Session::begin(&mut c2).await.expect("session");
        let sender = Sender::attach(&mut s1, "tx", "queue://bench")
            .await
            .expect("sender");
        let receiver = Receiver::attach(&mut s2, "rx", "queue://bench")
            .await
            .expect("receiver");
        (broker, sender, receiver, (c1, c2, s1, s2))
    });
    let body = "x".repeat(300);
    let mut g = c.benchmark_group("broker");
    g.throughput(Throughput::Elements(BATCH));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("one_way_pipelined_300B", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut outcomes = Vec::with_capacity(BATCH as usize);
                    let recv = async {
                        for _ in 0..BATCH {
                            let d = receiver.recv::<String>().await.expect("recv");
                            receiver.accept(&d).await.expect("accept");
                        }
                    };
                    let send = async {
                        for _ in 0..BATCH {
                            let m = Message::builder().value(body.clone()).build();
                            outcomes.push(sender.send_batchable(m).await.expect("send"));
                        }
                        for o in outcomes.drain(..) {
                            o.await.expect("outcome");
                        }
                    };
                    tokio::join!(recv, send);
                }
                start.elapsed()
            })
        })
    });
    g.finish();
    drop(broker);
}

criterion_group!(benches, one_way);
criterion_main!(benches);
