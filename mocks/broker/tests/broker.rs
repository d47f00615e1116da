//! The broker over real loopback sockets, driven by fe2o3-amqp clients (and raw frames where
//! fe2o3's client cannot produce the bytes we need). Every wait is bounded.

mod common;

use std::time::Duration;

use common::*;
use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::types::definitions::{AmqpError, Error as AmqpErr};
use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Header, Message, Modified, Outcome as AmqpOutcome, Properties, Target,
};
use fe2o3_amqp::{Receiver, Sender};
use mock_broker::{Broker, Event, LinkDirection, Outcome};

fn msg(body: &str) -> Message<fe2o3_amqp::types::messaging::AmqpValue<String>> {
    Message::builder().value(body.to_string()).build()
}

async fn recv_text(r: &mut Receiver) -> String {
    let d = bounded(r.recv::<String>()).await.unwrap();
    bounded(r.accept(&d)).await.unwrap();
    d.body().clone()
}

#[tokio::test]
async fn queue_is_fifo_topic_fans_out_and_the_journal_records_it() {
    let broker = Broker::builder().record_bodies(true).start().await.unwrap();
    assert!(broker.url().starts_with("amqp://127.0.0.1:"));
    let mut conn = connect(broker.addr(), "c1").await;
    let mut ses = session(&mut conn).await;
    let mut t1 = bounded(Receiver::attach(&mut ses, "t1", "topic://news"))
        .await
        .unwrap();
    let mut t2 = bounded(Receiver::attach(&mut ses, "t2", "topic://news"))
        .await
        .unwrap();
    let mut q = bounded(Receiver::attach(&mut ses, "q", "queue://work"))
        .await
        .unwrap();
    // Attach is journaled once the broker has processed it; wait for that before publishing.
    broker
        .journal()
        .wait_for_count(|e| matches!(e.event, Event::Attach { .. }), 3, STEP)
        .await
        .unwrap();
    let mut s = bounded(Sender::attach(&mut ses, "s", "topic://news"))
        .await
        .unwrap();
    let mut sq = bounded(Sender::attach(&mut ses, "sq", "queue://work"))
        .await
        .unwrap();
    let m = Message::builder()
        .properties(Properties::builder().to("topic://news").build())
        .application_properties(
            ApplicationProperties::builder()
                .insert("mtype", "news")
                .build(),
        )
        .value("hello".to_string())
        .build();
    bounded(s.send(m))
        .await
        .unwrap()
        .accepted_or("not accepted")
        .unwrap();
    for i in 0..3 {
        bounded(sq.send(msg(&format!("job{i}"))))
            .await
            .unwrap()
            .accepted_or("x")
            .unwrap();
    }
    assert_eq!(recv_text(&mut t1).await, "hello");
    assert_eq!(recv_text(&mut t2).await, "hello");
    for i in 0..3 {
        assert_eq!(recv_text(&mut q).await, format!("job{i}"));
    }
    let j = broker.journal();
    let inbound = j
        .wait_for(|e| e.is_inbound_transfer() && e.link() == Some("s"), STEP)
        .await
        .unwrap();
    let m = inbound.message().unwrap();
    assert_eq!(m.to.as_deref(), Some("topic://news"));
    assert_eq!(m.application_properties["mtype"], "news");
    assert_eq!(m.body_text(), Some("hello"));
    assert_eq!(inbound.address(), Some("topic://news"));
    assert_eq!(
        inbound.peer.sasl_mechanism, None,
        "fe2o3 without a profile sends no SASL"
    );
    j.wait_for_count(
        |e| {
            matches!(
                &e.event,
                Event::Disposition {
                    direction: LinkDirection::PeerReceives,
                    outcome: Outcome::Accepted,
                    ..
                }
            )
        },
        5,
        STEP,
    )
    .await
    .unwrap();
    let all = j.snapshot();
    assert!(matches!(all[0].event, Event::Connect));
    assert!(
        all.windows(2)
            .all(|w| w[0].at <= w[1].at && w[0].seq + 1 == w[1].seq)
    );
    bounded(conn.close()).await.unwrap();
    let disc = j
        .wait_for(|e| matches!(e.event, Event::Disconnect { .. }), STEP)
        .await
        .unwrap();
    // Links left attached at close are journaled as detached (not by the peer), before the
    // disconnect.
    let detaches = j.filter(|e| matches!(e.event, Event::Detach { .. }));
    assert_eq!(detaches.len(), 5, "{detaches:?}");
    assert!(detaches.iter().all(|d| d.seq < disc.seq));
    assert!(
        detaches
            .iter()
            .all(|d| matches!(d.event, Event::Detach { by_peer: false, .. }))
    );
}

#[tokio::test]
async fn competing_consumers_share_a_queue_without_duplicates() {
    let broker = Broker::builder().record_bodies(true).start().await.unwrap();
    let mut conn = connect(broker.addr(), "c").await;
    let mut ses = session(&mut conn).await;
    let mut a = bounded(Receiver::attach(&mut ses, "a", "queue://jobs"))
        .await
        .unwrap();
    let mut b = bounded(Receiver::attach(&mut ses, "b", "queue://jobs"))
        .await
        .unwrap();
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://jobs"))
        .await
        .unwrap();
    for i in 0..20 {
        bounded(s.send(msg(&format!("{i}")))).await.unwrap();
    }
    let outs = broker
        .journal()
        .wait_for_count(|e| e.is_outbound_transfer(), 20, STEP)
        .await
        .unwrap();
    let na = outs.iter().filter(|e| e.link() == Some("a")).count();
    let mut got = Vec::new();
    for _ in 0..na {
        got.push(recv_text(&mut a).await);
    }
    for _ in 0..(20 - na) {
        got.push(recv_text(&mut b).await);
    }
    got.sort_by_key(|x| x.parse::<u32>().unwrap());
    assert_eq!(got, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
    // Each consumer sees its share in FIFO order.
    let seq_a: Vec<_> = outs
        .iter()
        .filter(|e| e.link() == Some("a"))
        .map(|e| {
            e.message()
                .unwrap()
                .body_text()
                .unwrap()
                .parse::<u32>()
                .unwrap()
        })
        .collect();
    assert!(seq_a.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn unsettled_delivery_goes_back_to_the_queue_when_its_consumer_detaches() {
    let broker = Broker::start().await;
    let mut conn = connect(broker.addr(), "c").await;
    let mut ses = session(&mut conn).await;
    let mut r1 = bounded(
        Receiver::builder()
            .name("r1")
            .source("queue://rq")
            .auto_accept(false)
            .attach(&mut ses),
    )
    .await
    .unwrap();
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://rq"))
        .await
        .unwrap();
    bounded(s.send(msg("precious"))).await.unwrap();
    let d = bounded(r1.recv::<String>()).await.unwrap();
    assert_eq!(d.body(), "precious");
    bounded(r1.detach()).await.unwrap();
    let det = broker
        .journal()
        .wait_for(
            |e| matches!(e.event, Event::Detach { .. }) && e.link() == Some("r1"),
            STEP,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            det.event,
            Event::Detach {
                requeued: 1,
                by_peer: true,
                closed: false,
                ..
            }
        ),
        "{det:?}"
    );
    assert_eq!(broker.queue_depth("queue://rq"), 1);
    let mut r2 = bounded(Receiver::attach(&mut ses, "r2", "queue://rq"))
        .await
        .unwrap();
    assert_eq!(recv_text(&mut r2).await, "precious");
}

#[tokio::test]
async fn null_target_sender_is_routed_by_to_and_no_to_is_rejected() {
    let broker = Broker::start().await;
    let mut conn = connect(broker.addr(), "c").await;
    let mut ses = session(&mut conn).await;
    let mut r = bounded(Receiver::attach(&mut ses, "r", "queue://routed"))
        .await
        .unwrap();
    let mut s = bounded(
        Sender::builder()
            .name("anon")
            .target(Target::builder().build())
            .attach(&mut ses),
    )
    .await
    .unwrap();
    let m = Message::builder()
        .properties(Properties::builder().to("queue://routed").build())
        .value("via-to".to_string())
        .build();
    bounded(s.send(m)).await.unwrap().accepted_or("x").unwrap();
    assert_eq!(recv_text(&mut r).await, "via-to");
    let att = broker
        .journal()
        .wait_for(
            |e| matches!(e.event, Event::Attach { .. }) && e.link() == Some("anon"),
            STEP,
        )
        .await
        .unwrap();
    assert_eq!(att.address(), None);
    let t = broker
        .journal()
        .wait_for(
            |e| e.is_inbound_transfer() && e.link() == Some("anon"),
            STEP,
        )
        .await
        .unwrap();
    assert_eq!(t.address(), Some("queue://routed"));
    let out = bounded(s.send(msg("nowhere"))).await.unwrap();
    assert!(matches!(out, AmqpOutcome::Rejected(_)), "{out:?}");
}

#[tokio::test]
async fn rejected_released_and_modified_are_honoured() {
    let broker = Broker::start().await;
    let mut conn = connect(broker.addr(), "c").await;
    let mut ses = session(&mut conn).await;
    let mut r = bounded(
        Receiver::builder()
            .name("r")
            .source("queue://d")
            .auto_accept(false)
            .attach(&mut ses),
    )
    .await
    .unwrap();
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://d"))
        .await
        .unwrap();
    bounded(s.send(msg("m"))).await.unwrap();
    let d = bounded(r.recv::<String>()).await.unwrap();
    bounded(r.release(&d)).await.unwrap();
    let d = bounded(r.recv::<String>()).await.unwrap();
    assert_eq!(d.body(), "m", "released message is redelivered");
    let modified = Modified {
        delivery_failed: Some(true),
        undeliverable_here: None,
        message_annotations: None,
    };
    bounded(r.modify(&d, modified)).await.unwrap();
    let d = bounded(r.recv::<String>()).await.unwrap();
    assert_eq!(
        d.message().header.as_ref().map(|h| h.delivery_count),
        Some(1)
    );
    bounded(r.reject(
        &d,
        AmqpErr::new(AmqpError::NotImplemented, "no".to_string(), None),
    ))
    .await
    .unwrap();
    let j = broker.journal();
    let outcomes: Vec<Outcome> = j
        .wait_for_count(
            |e| {
                matches!(
                    &e.event,
                    Event::Disposition {
                        direction: LinkDirection::PeerReceives,
                        ..
                    }
                )
            },
            3,
            STEP,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| match e.event {
            Event::Disposition { outcome, .. } => outcome,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(outcomes[0], Outcome::Released);
    assert_eq!(
        outcomes[1],
        Outcome::Modified {
            delivery_failed: true,
            undeliverable_here: false
        }
    );
    assert!(matches!(outcomes[2], Outcome::Rejected { .. }));
    assert_eq!(
        broker.queue_depth("queue://d"),
        0,
        "rejected message is gone"
    );
}

#[tokio::test]
async fn link_credit_is_honoured() {
    let broker = Broker::start().await;
    let mut conn = connect(broker.addr(), "c").await;
    let mut ses = session(&mut conn).await;
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://cr"))
        .await
        .unwrap();
    for i in 0..3 {
        bounded(s.send(msg(&format!("{i}")))).await.unwrap();
    }
    let mut r = bounded(
        Receiver::builder()
            .name("r")
            .source("queue://cr")
            .credit_mode(CreditMode::Manual)
            .attach(&mut ses),
    )
    .await
    .unwrap();
    bounded(r.set_credit(1)).await.unwrap();
    assert_eq!(recv_text(&mut r).await, "0");
    // No credit left: a bounded check that nothing more arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), r.recv::<String>())
            .await
            .is_err()
    );
    assert_eq!(
        broker.journal().filter(|e| e.is_outbound_transfer()).len(),
        1
    );
    bounded(r.set_credit(2)).await.unwrap();
    assert_eq!(recv_text(&mut r).await, "1");
    assert_eq!(recv_text(&mut r).await, "2");
}

#[tokio::test]
async fn ttl_expires_messages_waiting_in_a_queue() {
    let broker = Broker::builder().record_bodies(true).start().await.unwrap();
    let mut conn = connect(broker.addr(), "c").await;
    let mut ses = session(&mut conn).await;
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://ttl"))
        .await
        .unwrap();
    let m = Message::builder()
        .header(Header {
            ttl: Some(1_000),
            ..Default::default()
        })
        .value("short-lived".to_string())
        .build();
    bounded(s.send(m)).await.unwrap();
    bounded(s.send(msg("long-lived"))).await.unwrap();
    assert_eq!(broker.queue_depth("queue://ttl"), 2);
    // Virtual time from here: the broker's TTL clock is tokio time.
    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(1_001)).await;
    assert_eq!(broker.queue_depth("queue://ttl"), 1);
    let exp = broker
        .journal()
        .filter(|e| matches!(e.event, Event::Expired { .. }));
    assert_eq!(exp.len(), 1);
    assert_eq!(exp[0].message().unwrap().body_text(), Some("short-lived"));
    assert_eq!(exp[0].message().unwrap().ttl_ms, Some(1_000));
    tokio::time::resume();
    let mut r = bounded(Receiver::attach(&mut ses, "r", "queue://ttl"))
        .await
        .unwrap();
    assert_eq!(recv_text(&mut r).await, "long-lived");
}
