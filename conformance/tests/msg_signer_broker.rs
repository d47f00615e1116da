//! The reference client against the shared embedded broker (mock-broker), with a minimal
//! signing responder as a second AMQP client; verdicts from the broker's journal. Runs in
//! virtual time.

use std::time::Duration;

use fe2o3_amqp::types::messaging::{Body, Message};
use fe2o3_amqp::types::primitives::Value;
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use mock_broker::{Broker, Event, LinkDirection};
use msg_signer::client::{Operation, SignOptions, sign};
use msg_signer::transport::TransportOptions;
use serde_json::json;

/// A stand-in signing server: consumes `topic://Sign.alice`, replies on the reply queue.
async fn responder(url: &str, drop_first: bool) -> tokio::task::JoinHandle<()> {
    // TCP_NODELAY matters here beyond speed: under a paused clock, a frame held back by Nagle
    // lets tokio jump virtual time to the next timer while the kernel waits.
    let addr = url.trim_start_matches("amqp://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut conn = Connection::builder()
        .container_id("responder")
        .open_with_stream(tcp)
        .await
        .unwrap();
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut rx = Receiver::attach(&mut session, "srv-rx", "topic://Sign.alice")
        .await
        .unwrap();
    let mut tx = Sender::attach(&mut session, "srv-tx", "queue://Consumer.alice.9")
        .await
        .unwrap();
    tokio::spawn(async move {
        let _keep = (conn, session);
        let mut n = 0;
        while let Ok(d) = rx.recv::<Body<Value>>().await {
            let _ = rx.accept(&d).await;
            n += 1;
            if drop_first && n == 1 {
                continue;
            }
            let Body::Value(v) = d.body() else { continue };
            let Value::String(text) = &v.0 else { continue };
            let req: serde_json::Value = serde_json::from_str(text).unwrap();
            let reply = msg_signer::wire::reply_envelope(
                "queue://Consumer.alice.9",
                json!({"request_id": req["request_id"], "errors": [], "signing_status": "success",
                       "signed_claim": "U0lH"}),
            );
            let _ = tx
                .send(Message::builder().value(reply.to_string()).build())
                .await;
        }
    })
}

fn config(dir: &std::path::Path, url: &str, retries: u32, send_retries: u32) -> std::path::PathBuf {
    let p = dir.join("config.yaml");
    std::fs::write(
        &p,
        format!(
            "msg_signer:\n  messaging_brokers: [\"{url}\"]\n  messaging_cert_key: none.pem\n  messaging_ca_cert: none.pem\n  topic_send_to: topic://Sign.{{creator}}\n  topic_listen_to: queue://Consumer.{{creator}}.{{task_id}}\n  environment: test\n  service: sigharness\n  timeout: 20\n  retries: {retries}\n  send_retries: {send_retries}\n  message_id_key: request_id\n"
        ),
    )
    .unwrap();
    p
}

fn opts() -> SignOptions {
    SignOptions {
        batch: false,
        task_id: "9".into(),
        signing_keys: vec!["0123456789ABCDEF".into()],
        signing_key_name: None,
        requester: Some("alice".into()),
        transport: TransportOptions::default(),
    }
}

fn op(n: usize) -> Operation {
    Operation::ContainerSign {
        digests: (0..n).map(|i| format!("sha256:{i:02x}")).collect(),
        references: (0..n).map(|i| format!("reg.io/ns/r{i}:1")).collect(),
    }
}

#[tokio::test(start_paused = true)]
async fn signs_through_the_embedded_broker_and_detaches_its_receiver() {
    let broker = Broker::builder().record_bodies(true).start().await.unwrap();
    let _srv = responder(broker.url(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.url(), 2, 2);
    let (out, _) = sign(&cfg, &op(3), &opts()).await;
    if !out.is_ok() {
        for e in broker.journal().snapshot() {
            eprintln!("{:?} {:?} {:?}", e.at, e.peer.conn, e.event);
        }
    }
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.raw_values(), vec!["U0lH"; 3]);
    let j = broker.journal();
    // Requests: routed by `to` on the client's null-target sender, TTL = timeout * retries.
    let reqs = j.filter(|e| e.is_inbound_transfer() && e.address() == Some("topic://Sign.alice"));
    assert_eq!(reqs.len(), 3);
    let m = reqs[0].message().unwrap();
    assert_eq!(m.to.as_deref(), Some("topic://Sign.alice"));
    assert_eq!(m.ttl_ms, Some(40_000));
    assert_eq!(m.body_kind, "amqp-value");
    let body: serde_json::Value = serde_json::from_slice(&m.body).expect("JSON text body");
    assert_eq!(body["requested_by"], "alice");
    // The client's receiver on the reply queue was detached.
    j.wait_for(
        |e| {
            matches!(&e.event, Event::Detach { direction: LinkDirection::PeerReceives, address: Some(a), .. }
                if a == "queue://Consumer.alice.9")
        },
        Duration::from_secs(5),
    )
    .await
    .expect("receiver detached");
}

#[tokio::test(start_paused = true)]
async fn resends_an_unanswered_request_in_virtual_time() {
    let broker = Broker::start().await;
    let _srv = responder(broker.url(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.url(), 1, 2);
    let t0 = tokio::time::Instant::now();
    let (out, report) = sign(&cfg, &op(1), &opts()).await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(report.unwrap().transmissions, vec![2]);
    assert!(t0.elapsed() >= Duration::from_secs(20));
    let j = broker.journal();
    let attaches = j.filter(|e| {
        matches!(&e.event, Event::Attach { direction: LinkDirection::PeerReceives, address: Some(a), .. }
            if a == "queue://Consumer.alice.9")
    });
    assert_eq!(attaches.len(), 2, "one receiver per window");
}

fn faulty(plan: &str) -> mock_broker::FaultPlan<mock_broker::BrokerAction> {
    mock_broker::FaultPlan::from_yaml_str(plan, "inline").unwrap()
}

#[tokio::test(start_paused = true)]
async fn never_settled_sends_fail_within_the_timeout() {
    let broker = Broker::start().await;
    broker
        .set_fault_plan(faulty(
            "rules: [{match: {address: 'topic://Sign.*'}, action: never_settle}]",
        ))
        .unwrap();
    let _srv = responder(broker.url(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.url(), 3, 1);
    let t0 = tokio::time::Instant::now();
    let (out, _) = sign(&cfg, &op(1), &opts()).await;
    // The broker neither routes nor settles: the send fails at the settle deadline (one
    // timeout), not after all three receive windows, and never hangs.
    assert!(!out.is_ok());
    assert!(
        out.signer_result.error_message.contains("did not settle"),
        "{out:?}"
    );
    let e = t0.elapsed();
    assert!(
        e >= Duration::from_secs(20) && e < Duration::from_secs(21),
        "{e:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn rejected_sends_are_reported_by_the_broker_fault() {
    let broker = Broker::start().await;
    broker
        .set_fault_plan(faulty("rules: [{action: reject}]"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.url(), 3, 2);
    let t0 = tokio::time::Instant::now();
    let (out, report) = sign(&cfg, &op(1), &opts()).await;
    assert!(!out.is_ok());
    assert!(
        out.signer_result.error_message.contains("rejected"),
        "{out:?}"
    );
    assert_eq!(report.unwrap().transmissions, vec![2]);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
}
