//! AMQP 1.0 bytes into the mock broker (`mock_broker::Broker`), over a loopback socket (the
//! broker serves TCP only; its generic stream entry point is private). One runtime and one broker
//! for the whole run. The first byte chooses a prefix: none, the AMQP protocol header, or the
//! SASL one, so the fuzzer starts past the header check. Each input is written, the write side is
//! closed, and the broker must close the connection within a bound; it must still accept the next
//! connection (a broker task that panics aborts the run: libFuzzer's panic hook).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mock_broker::{Broker, BrokerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUND: Duration = Duration::from_secs(5);
/// Most bytes read back per connection (the broker answers a few frames).
const READ_CAP: usize = 1 << 20;

struct Fixture {
    rt: tokio::runtime::Runtime,
    broker: BrokerHandle,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let broker = rt.block_on(Broker::start());
        assert!(
            broker.addr().ip().is_loopback(),
            "the broker listens on loopback"
        );
        Fixture { rt, broker }
    })
}

const PREFIXES: [&[u8]; 3] = [b"", b"AMQP\x00\x01\x00\x00", b"AMQP\x03\x01\x00\x00"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    let addr = fx.broker.addr();
    let mut input = PREFIXES[usize::from(sel) % PREFIXES.len()].to_vec();
    input.extend_from_slice(rest);
    fx.rt.block_on(async move {
        let mut s = tokio::time::timeout(BOUND, TcpStream::connect(addr))
            .await
            .expect("connect within 5 s")
            .expect("the broker still accepts connections");
        let _ = s.set_nodelay(true);
        // The broker may close early (bad header): a failed write is an answer, not a crash.
        let wrote = s.write_all(&input).await.is_ok() && s.shutdown().await.is_ok();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(BOUND, async {
            let mut chunk = [0u8; 4096];
            loop {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        assert!(buf.len() <= READ_CAP, "the broker sent over 1 MiB");
                    }
                }
            }
        })
        .await;
        assert!(
            read.is_ok() || !wrote,
            "the broker kept the connection open 5 s after the peer closed its side"
        );
    });
});
