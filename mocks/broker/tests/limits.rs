//! The broker bounds what a peer can make it hold and how long (issue 13, items 1 and 2): frame
//! sizes from the (negotiated) max-frame-size, a handshake timeout from accept to open, the
//! AMQP idle-time-out, and a cap on open connections. Every peer here is a real loopback socket;
//! the misbehaving ones write raw AMQP bytes.

mod common;

use std::time::Duration;

use common::*;
use fe2o3_amqp::types::definitions::{AmqpError, ConnectionError, ErrorCondition};
use fe2o3_amqp::types::messaging::Message;
use fe2o3_amqp::types::performatives::{Close, Open};
use fe2o3_amqp::{Receiver, Sender};
use mock_broker::{Broker, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const AMQP_HEADER: &[u8; 8] = b"AMQP\x00\x01\x00\x00";

/// One AMQP frame (type 0, channel 0) around a performative.
fn frame<T: serde::Serialize>(performative: &T) -> Vec<u8> {
    let body = serde_amqp::to_vec(performative).unwrap();
    let mut f = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&[2, 0, 0, 0]);
    f.extend_from_slice(&body);
    f
}

fn client_open(id: &str) -> Open {
    Open {
        container_id: id.into(),
        hostname: None,
        max_frame_size: 512.into(),
        channel_max: 0.into(),
        idle_time_out: None,
        outgoing_locales: None,
        incoming_locales: None,
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    }
}

/// What the broker wrote on a raw connection: protocol headers and decoded frames.
#[derive(Debug, Default)]
struct Seen {
    headers: Vec<[u8; 8]>,
    opens: Vec<Open>,
    closes: Vec<Close>,
    empty_frames: usize,
}

fn parse(bytes: &[u8]) -> Seen {
    let mut seen = Seen::default();
    let mut pos = 0;
    while pos + 8 <= bytes.len() {
        if &bytes[pos..pos + 4] == b"AMQP" {
            seen.headers.push(bytes[pos..pos + 8].try_into().unwrap());
            pos += 8;
            continue;
        }
        let size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let doff = bytes[pos + 4] as usize * 4;
        if pos + size > bytes.len() {
            break;
        }
        let body = &bytes[pos + doff..pos + size];
        if body.is_empty() {
            seen.empty_frames += 1;
        } else if let Ok(o) = serde_amqp::from_slice::<Open>(body) {
            seen.opens.push(o);
        } else if let Ok(c) = serde_amqp::from_slice::<Close>(body) {
            seen.closes.push(c);
        }
        pos += size;
    }
    seen
}

/// Read until the broker closes the socket (EOF or reset), bounded by `bound`.
async fn read_to_close(s: &mut TcpStream, bound: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(bound, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the broker did not close the connection within {bound:?}; it sent {:?}",
            parse(&out)
        )
    });
    out
}

fn close_condition(seen: &Seen) -> ErrorCondition {
    let close = seen
        .closes
        .first()
        .unwrap_or_else(|| panic!("no close frame from the broker: {seen:?}"));
    close
        .error
        .as_ref()
        .expect("the close carries an error")
        .condition
        .clone()
}

fn framing_error() -> ErrorCondition {
    ErrorCondition::ConnectionError(ConnectionError::FramingError)
}

/// A frame header declaring 0xFFFFFFF0 bytes, shaped like an attach (the wire buffers attaches
/// whole to rewrite them), followed by a stream of body bytes: the broker must close the
/// connection with amqp:connection:framing-error from the header, having read a bounded amount.
/// Before the fix it buffered the body (400 MiB streamed -> 432 MB RSS) and never answered; here
/// the writer finished its 64 MiB and the close never came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_declared_frame_is_refused_from_its_header() {
    const STREAM: usize = 64 * 1024 * 1024;
    let broker = Broker::start().await;
    let s = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut head = AMQP_HEADER.to_vec();
        head.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        head.extend_from_slice(&[2, 0, 0, 0, 0x00, 0x53, 0x12, 0xd0]);
        let mut written = 0usize;
        if wr.write_all(&head).await.is_err() {
            return written;
        }
        let chunk = vec![0u8; 64 * 1024];
        while written < STREAM {
            match wr.write_all(&chunk).await {
                Ok(()) => written += chunk.len(),
                Err(_) => break,
            }
        }
        written
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(STEP, async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the broker did not close the connection within 10 s");
    let seen = parse(&out);
    assert_eq!(seen.headers, vec![*AMQP_HEADER], "{seen:?}");
    assert_eq!(seen.opens.len(), 1, "an open precedes the close: {seen:?}");
    assert_eq!(close_condition(&seen), framing_error());
    let written = bounded(writer).await.unwrap();
    // Socket buffers on loopback absorb a few MiB; the broker itself reads at most 16 KiB past
    // the header before it refuses the frame.
    assert!(
        written < 16 * 1024 * 1024,
        "the peer could stream {written} bytes into a refused frame"
    );
    let refused = broker
        .journal()
        .wait_for(|e| matches!(&e.event, Event::Refused { reason } if reason.contains("MIN-MAX-FRAME-SIZE")), STEP)
        .await
        .unwrap();
    assert!(
        format!("{:?}", refused.event).contains("4294967280"),
        "{refused:?}"
    );
}

/// After the open exchange the limit is the max-frame-size the broker offered (an option).
#[tokio::test]
async fn frame_over_the_offered_max_frame_size_is_a_framing_error() {
    let broker = Broker::builder()
        .max_frame_size(4096)
        .start()
        .await
        .unwrap();
    let mut s = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    let mut hello = AMQP_HEADER.to_vec();
    hello.extend(frame(&client_open("raw-peer")));
    // A frame of 4097 bytes: one more than offered.
    hello.extend_from_slice(&4097u32.to_be_bytes());
    hello.extend_from_slice(&[2, 0, 0, 0]);
    hello.extend(std::iter::repeat_n(0u8, 4097 - 8));
    bounded(s.write_all(&hello)).await.unwrap();
    let seen = parse(&read_to_close(&mut s, STEP).await);
    assert_eq!(seen.opens.len(), 1, "{seen:?}");
    assert_eq!(seen.opens[0].max_frame_size.0, 4096);
    assert_eq!(close_condition(&seen), framing_error());
    let close = &seen.closes[0];
    let text = close.error.as_ref().unwrap().description.clone().unwrap();
    assert!(text.contains("4097") && text.contains("4096"), "{text}");
    // A size below 512 is not a max-frame-size AMQP allows.
    let err = Broker::builder()
        .max_frame_size(100)
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_frame_size"), "{err}");
}

/// Slowloris peers: one sends half a protocol header, one a header and then an open one byte a
/// second, one a SASL header and nothing more, one opens TCP and sends nothing. Each is
/// disconnected at the handshake timeout (10 s by default, from accept; virtual time here).
/// Before the fix only the 8-byte header had a bound: the SASL peer and the dripping one stayed
/// open for ever (here: still open at 30 s).
#[tokio::test(start_paused = true)]
async fn slowloris_peers_are_closed_at_the_handshake_timeout() {
    let broker = Broker::start().await;
    let start = Instant::now();
    let mut half_header = TcpStream::connect(broker.addr()).await.unwrap();
    half_header.write_all(b"AMQ").await.unwrap();
    let mut silent = TcpStream::connect(broker.addr()).await.unwrap();
    let mut sasl_only = TcpStream::connect(broker.addr()).await.unwrap();
    sasl_only.write_all(b"AMQP\x03\x01\x00\x00").await.unwrap();
    let trickle = TcpStream::connect(broker.addr()).await.unwrap();
    let (mut trickle_rd, mut trickle_wr) = trickle.into_split();
    let dripper = tokio::spawn(async move {
        let mut bytes = AMQP_HEADER.to_vec();
        bytes.extend(frame(&client_open("slow")));
        for b in bytes {
            if trickle_wr.write_all(&[b]).await.is_err() {
                break;
            }
            // The stimulus: one byte per second of (virtual) time.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    for s in [&mut half_header, &mut silent, &mut sasl_only] {
        read_to_close(s, Duration::from_secs(30)).await;
        let at = start.elapsed();
        assert!(
            at >= Duration::from_secs(10) && at < Duration::from_secs(11),
            "closed after {at:?}"
        );
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), trickle_rd.read_to_end(&mut out))
        .await
        .expect("the byte-a-second peer was not closed within 30 s")
        .ok();
    let at = start.elapsed();
    assert!(at < Duration::from_secs(11), "closed after {at:?}");
    dripper.abort();
    let refused = broker.journal().filter(
        |e| matches!(&e.event, Event::Refused { reason } if reason.contains("handshake timeout")),
    );
    assert_eq!(refused.len(), 4, "{:?}", broker.journal().snapshot());
    // The option: a shorter handshake timeout.
    let quick = Broker::builder()
        .handshake_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut s = TcpStream::connect(quick.addr()).await.unwrap();
    s.write_all(AMQP_HEADER).await.unwrap();
    read_to_close(&mut s, Duration::from_secs(5)).await;
    let at = t0.elapsed();
    assert!(
        at >= Duration::from_millis(200) && at < Duration::from_secs(1),
        "{at:?}"
    );
}

/// The broker advertises an idle-time-out (30 s default) and closes a peer that sends no frame
/// for twice that with amqp:resource-limit-exceeded; fe2o3's client (which heartbeats on the
/// advertised value) stays. Virtual time. Before the fix no idle-time-out was advertised and the
/// silent peer was still open at 120 s. (A raw peer writing empty frames is in real time below:
/// under the paused clock, time can advance past a raw peer's write before the broker's reactor
/// has seen it.)
#[tokio::test(start_paused = true)]
async fn silent_peer_is_closed_after_twice_the_idle_time_out() {
    let broker = Broker::start().await;
    // A peer that opens, then says nothing.
    let mut silent = TcpStream::connect(broker.addr()).await.unwrap();
    let mut hello = AMQP_HEADER.to_vec();
    hello.extend(frame(&client_open("silent")));
    silent.write_all(&hello).await.unwrap();
    let opened = Instant::now();
    // fe2o3's client.
    let mut client = connect(broker.addr(), "fe2o3-client").await;

    let seen = parse(&read_to_close(&mut silent, Duration::from_secs(120)).await);
    let at = opened.elapsed();
    assert!(
        at >= Duration::from_secs(60) && at < Duration::from_secs(61),
        "closed after {at:?}"
    );
    assert_eq!(seen.opens.len(), 1, "{seen:?}");
    assert_eq!(seen.opens[0].idle_time_out, Some(30_000), "advertised");
    assert_eq!(
        close_condition(&seen),
        ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded)
    );
    // fe2o3's client heartbeats on the advertised value: 120 s later it still works.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut ses = session(&mut client).await;
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://idle"))
        .await
        .unwrap();
    let mut r = bounded(Receiver::attach(&mut ses, "r", "queue://idle"))
        .await
        .unwrap();
    bounded(s.send(Message::builder().value("still here".to_string()).build()))
        .await
        .unwrap();
    let d = bounded(r.recv::<String>()).await.unwrap();
    assert_eq!(d.body(), "still here");
    let disc = broker.journal().filter(
        |e| matches!(&e.event, Event::Disconnect { reason } if reason.contains("idle timeout")),
    );
    assert_eq!(disc.len(), 1, "{:?}", broker.journal().snapshot());
}

/// Beyond `max_connections` a new connection is closed at once and journaled; a slot freed is
/// usable again.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let broker = Broker::builder().max_connections(3).start().await.unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(bounded(TcpStream::connect(broker.addr())).await.unwrap());
    }
    let mut extra = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    read_to_close(&mut extra, STEP).await;
    broker
        .journal()
        .wait_for(
            |e| matches!(&e.event, Event::Refused { reason } if reason.contains("connection limit (3) reached")),
            STEP,
        )
        .await
        .unwrap();
    assert_eq!(broker.socket_count(), 3);
    // Free one slot: the broker sees the peer go (no protocol header) and a client gets in.
    drop(held.pop());
    broker
        .journal()
        .wait_for(
            |e| matches!(&e.event, Event::Refused { reason } if reason.contains("no protocol header")),
            STEP,
        )
        .await
        .unwrap();
    let mut c = connect(broker.addr(), "after-a-slot-freed").await;
    let _ses = session(&mut c).await;
    assert_eq!(broker.socket_count(), 3);
}

/// Max open files of this process (soft limit), from /proc/self/limits.
fn nofile_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// 1 000 idle TCP connections (fewer if RLIMIT_NOFILE cannot hold both their ends: the count is
/// adapted to /proc/self/limits and printed) are held while a normal client sends and receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_do_not_starve_a_client() {
    let count = match nofile_limit() {
        Some(n) => 1000.min(n.saturating_sub(200) / 2),
        None => 1000,
    };
    eprintln!("holding {count} idle connections");
    let broker = Broker::builder()
        .handshake_timeout(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(bounded(TcpStream::connect(broker.addr())).await.unwrap());
    }
    let t0 = std::time::Instant::now();
    let mut tx = connect(broker.addr(), "busy-tx").await;
    let mut rx = connect(broker.addr(), "busy-rx").await;
    let mut s1 = session(&mut tx).await;
    let mut s2 = session(&mut rx).await;
    let mut s = bounded(Sender::attach(&mut s1, "s", "queue://busy"))
        .await
        .unwrap();
    let mut r = bounded(Receiver::attach(&mut s2, "r", "queue://busy"))
        .await
        .unwrap();
    for i in 0..100 {
        bounded(s.send(Message::builder().value(format!("m{i}")).build()))
            .await
            .unwrap();
        let d = bounded(r.recv::<String>()).await.unwrap();
        bounded(r.accept(&d)).await.unwrap();
        assert_eq!(d.body(), &format!("m{i}"));
    }
    eprintln!(
        "100 round trips beside {count} idle connections: {:?}",
        t0.elapsed()
    );
    // The accept loop is sequential: every idle socket was accepted before the clients'.
    assert!(
        broker.socket_count() >= count + 2,
        "{} sockets open, {count} idle held",
        broker.socket_count()
    );
    drop(idle);
}

/// In real time with a short idle-time-out (200 ms advertised, 400 ms enforced): a peer sending
/// an empty frame every 100 ms stays open for 1.5 s while a silent one is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_frames_keep_a_peer_open() {
    let broker = Broker::builder()
        .idle_time_out(Some(Duration::from_millis(200)))
        .start()
        .await
        .unwrap();
    let beating = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    let (mut beat_rd, mut beat_wr) = beating.into_split();
    let mut hello = AMQP_HEADER.to_vec();
    hello.extend(frame(&client_open("beating")));
    bounded(beat_wr.write_all(&hello)).await.unwrap();
    let mut silent = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    let mut hello = AMQP_HEADER.to_vec();
    hello.extend(frame(&client_open("silent")));
    bounded(silent.write_all(&hello)).await.unwrap();
    let t0 = Instant::now();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        let _ = beat_rd.read_to_end(&mut out).await;
        out
    });
    let mut beat = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..15 {
        beat.tick().await;
        bounded(beat_wr.write_all(&[0, 0, 0, 8, 2, 0, 0, 0]))
            .await
            .expect("the heartbeating peer was cut");
    }
    assert!(!reader.is_finished(), "the heartbeating peer was closed");
    let seen = parse(&read_to_close(&mut silent, STEP).await);
    assert!(t0.elapsed() >= Duration::from_millis(400));
    assert_eq!(seen.opens[0].idle_time_out, Some(200));
    assert_eq!(
        close_condition(&seen),
        ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded)
    );
    reader.abort();
}

/// A link advertises the broker's max-message-size (an option): fe2o3's sender refuses a larger
/// message before sending it, and a message within it passes. (A peer that sends one anyway is
/// detached by fe2o3's receiver with amqp:link:message-size-exceeded.)
#[tokio::test]
async fn links_advertise_the_max_message_size() {
    let broker = Broker::builder()
        .max_message_size(2048)
        .start()
        .await
        .unwrap();
    let mut c = connect(broker.addr(), "big").await;
    let mut ses = session(&mut c).await;
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://big"))
        .await
        .unwrap();
    let big = Message::builder().value("x".repeat(4096)).build();
    let err = bounded(s.send(big)).await.unwrap_err();
    assert!(
        format!("{err:?}").contains("MessageSizeExceeded"),
        "{err:?}"
    );
    // The link that refused is detached (fe2o3, AMQP 1.0 part 2.7.3); a new one sends.
    let mut s2 = bounded(Sender::attach(&mut ses, "s2", "queue://big"))
        .await
        .unwrap();
    bounded(s2.send(Message::builder().value("small".to_string()).build()))
        .await
        .unwrap();
    assert_eq!(broker.queue_depth("queue://big"), 1);
}

/// The `amqp_broker` fuzz target's finding (fuzz/README.md): after the AMQP header, a 26-byte
/// frame whose descriptor is a `sym32` declaring 0xee3ff2fb bytes. serde_amqp allocates the
/// declared length before reading it, so the broker allocated 4 GB for one small frame (libFuzzer:
/// out of memory at 2 GB). Now the wire's encoding check refuses the frame before fe2o3 decodes
/// it: a close with amqp:decode-error naming the size, and the broker serves the next peer.
/// Before the fix no close named the size (fe2o3 decoded the frame and failed after allocating).
#[tokio::test]
async fn a_declared_length_beyond_the_frame_is_a_decode_error_not_an_allocation() {
    const CRASH: &[u8] = &[
        0x00, 0x00, 0x00, 0x1a, 0x02, 0x00, 0x00, 0x00, 0x00, 0xb3, 0xee, 0x3f, 0xf2, 0xfb, 0xbf,
        0xbc, 0x8f, 0x00, 0x00, 0x08, 0x00, 0x70, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x47,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x53, 0x12, 0xc0, 0x3a, 0x0a, 0xa1, 0x08, b's', b'e', b'n',
        b'd', b'e', b'r', b'-', b'1', 0x43, 0x42, 0x40, 0x40, 0x03, 0x42, 0x40, 0x5b, 0x00, 0x00,
        0xea, 0x60, 0x00, 0x53, 0x6f, 0x63, 0x6f, 0x2d, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0xa1,
        0x09, b'l', b'o', b'c', b'g', b'c', b'a', b'l', b'h', b'o', b's', b't', 0x70, 0x3a, 0x2f,
        0x2f, 0x66, 0x75, 0x7a, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x53, 0x18, 0x45,
    ];
    let broker = Broker::start().await;
    let mut s = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    let mut input = AMQP_HEADER.to_vec();
    input.extend_from_slice(CRASH);
    bounded(s.write_all(&input)).await.unwrap();
    let seen = parse(&read_to_close(&mut s, STEP).await);
    assert_eq!(
        close_condition(&seen),
        ErrorCondition::AmqpError(AmqpError::DecodeError)
    );
    let text = seen.closes[0].error.as_ref().unwrap().description.clone();
    assert!(
        text.as_deref()
            .is_some_and(|t| t.contains("declares 3997168379 bytes, only 12 left")),
        "{text:?}"
    );
    // The broker still serves: a real client sends and receives.
    let mut c = connect(broker.addr(), "after").await;
    let mut ses = session(&mut c).await;
    let mut tx = bounded(Sender::attach(&mut ses, "tx", "queue://after"))
        .await
        .unwrap();
    bounded(tx.send(Message::builder().value("ok".to_string()).build()))
        .await
        .unwrap();
    assert_eq!(broker.queue_depth("queue://after"), 1);
}

/// The message check holds a delivery's payload until its last transfer: a 300 KiB message
/// crosses the 4 KiB max-frame-size in about 75 transfers and arrives whole and unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_many_transfer_frames_passes_the_encoding_check() {
    let broker = Broker::builder()
        .max_frame_size(4096)
        .start()
        .await
        .unwrap();
    let body: String = (0..300 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut c = connect(broker.addr(), "multi").await;
    let mut ses = session(&mut c).await;
    let mut tx = bounded(Sender::attach(&mut ses, "tx", "queue://multi"))
        .await
        .unwrap();
    let mut rx = bounded(Receiver::attach(&mut ses, "rx", "queue://multi"))
        .await
        .unwrap();
    bounded(tx.send(Message::builder().value(body.clone()).build()))
        .await
        .unwrap();
    let d = bounded(rx.recv::<String>()).await.unwrap();
    bounded(rx.accept(&d)).await.unwrap();
    assert_eq!(d.body(), &body);
}
