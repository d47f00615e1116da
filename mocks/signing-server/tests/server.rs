//! The mock signing server over real loopback AMQP (embedded broker), driven by the reference
//! client, with signatures checked by GnuPG.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use fe2o3_amqp::types::messaging::{AmqpValue, Body, Message, Properties, Target};
use fe2o3_amqp::types::primitives::Value;
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use mock_signing_server::{Emit, ServerConfig, SigningServer, SigningServerHandle, fault};
use msg_signer::client::{Operation, SignOptions, sign};

const STEP: Duration = Duration::from_secs(20);

fn write_config(
    dir: &Path,
    broker: &str,
    key_id: &str,
    timeout: u64,
    retries: u32,
    send_retries: u32,
) -> PathBuf {
    let p = dir.join("config.yaml");
    std::fs::write(
        &p,
        format!(
            r#"msg_signer:
  messaging_brokers: ["{broker}"]
  messaging_cert_key: ""
  messaging_ca_cert: ""
  topic_send_to: topic://VirtualTopic.eng.robosignatory.sign
  topic_listen_to: queue://Consumer.{{creator}}.{{task_id}}.VirtualTopic.eng.robosignatory.sign
  environment: test
  service: sigharness
  timeout: {timeout}
  retries: {retries}
  send_retries: {send_retries}
  message_id_key: request_id
  key_aliases:
    prod: "{key_id}"
"#
        ),
    )
    .unwrap();
    p
}

fn opts() -> SignOptions {
    SignOptions {
        batch: false,
        task_id: "42".into(),
        signing_keys: vec!["prod".into()],
        signing_key_name: Some("release".into()),
        requester: Some("alice".into()),
        transport: Default::default(),
    }
}

async fn setup(
    timeout: u64,
    retries: u32,
    send_retries: u32,
) -> (
    mock_broker::BrokerHandle,
    SigningServerHandle,
    tempfile::TempDir,
    PathBuf,
) {
    let broker = mock_broker::Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The key id is only known after the server generated its key: write the config twice.
    let cfg = write_config(
        dir.path(),
        broker.url(),
        "0000000000000000",
        timeout,
        retries,
        send_retries,
    );
    let server = SigningServer::builder(broker.url(), ServerConfig::load(&cfg).unwrap())
        .start()
        .await
        .unwrap();
    let key = server.keys().first().key_id().to_string();
    let cfg = write_config(
        dir.path(),
        broker.url(),
        &key,
        timeout,
        retries,
        send_retries,
    );
    (broker, server, dir, cfg)
}

fn gpg(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--no-tty", "--status-fd", "1"])
        .args(args)
        .output()
        .expect("gpg is installed")
}

#[tokio::test]
async fn signs_containers_text_and_blobs_and_gpg_verifies_them() {
    let (_broker, server, dir, cfg) = setup(5, 2, 1).await;
    let container = Operation::ContainerSign {
        digests: vec![format!("sha256:{:064x}", 7)],
        references: vec!["registry.io/ns/repo:1".into()],
    };
    let blob = dir.path().join("blob.bin");
    std::fs::write(&blob, b"\x00\x01binary blob\xff").unwrap();
    let ops = [
        container,
        Operation::ClearSign {
            inputs: vec!["hello\nworld\n".into()],
        },
        Operation::BlobSign {
            files: vec![blob.clone()],
        },
    ];
    let mut raws = Vec::new();
    for op in &ops {
        let (out, _) = tokio::time::timeout(STEP, sign(&cfg, op, &opts()))
            .await
            .unwrap();
        assert!(out.is_ok(), "{out:?}");
        let r = out.raw_values();
        assert_eq!(r.len(), 1);
        raws.push(B64.decode(&r[0]).unwrap());
        // Entries are `[envelope, properties]` pairs, as the deployed client prints them.
        let msg = &out.operation_results[0][0]["msg"];
        assert_eq!(msg["signing_status"], "success");
        assert_eq!(msg["requested_by"], "alice");
        assert_eq!(msg["sig_keyname"], "release");
        assert_eq!(msg["sig_key_id"], server.keys().first().short_id());
    }
    let seen = server.received_requests();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|r| r.errors.is_empty()), "{seen:?}");
    assert_eq!(
        seen[0].reply_address.as_deref(),
        Some("queue://Consumer.alice.42.VirtualTopic.eng.robosignatory.sign")
    );

    let home = tempfile::tempdir().unwrap();
    let pubkey = dir.path().join("pub.asc");
    std::fs::write(&pubkey, server.keys().first().public_armored().unwrap()).unwrap();
    let o = gpg(home.path(), &["--import", pubkey.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Container: a signed message holding the claim.
    let claim_sig = dir.path().join("claim.gpg");
    std::fs::write(&claim_sig, &raws[0]).unwrap();
    let o = gpg(home.path(), &["--decrypt", claim_sig.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let status = String::from_utf8_lossy(&o.stdout);
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
    assert!(status.contains("atomic container signature"), "{status}");
    // Clear-signed text.
    let clear = dir.path().join("clear.asc");
    std::fs::write(&clear, &raws[1]).unwrap();
    assert!(String::from_utf8_lossy(&raws[1]).contains("hello\nworld"));
    let o = gpg(home.path(), &["--verify", clear.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("[GNUPG:] GOODSIG"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Detached blob signature.
    let sig = dir.path().join("blob.sig");
    std::fs::write(&sig, &raws[2]).unwrap();
    let o = gpg(
        home.path(),
        &["--verify", sig.to_str().unwrap(), blob.to_str().unwrap()],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("[GNUPG:] GOODSIG"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // And a tampered blob does not verify: the check can fail.
    std::fs::write(&blob, b"another blob").unwrap();
    let o = gpg(
        home.path(),
        &["--verify", sig.to_str().unwrap(), blob.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("[GNUPG:] BADSIG"));
}

/// Send a raw request as the deployed client would (null-target sender, `to`), read the reply.
async fn raw_exchange(url: &str, props: &[(&str, &str)], body: &str) -> serde_json::Value {
    raw_exchange_with(url, props, body, None).await
}

/// `raw_exchange` with `properties.absolute-expiry-time` (Unix milliseconds) set.
async fn raw_exchange_with(
    url: &str,
    props: &[(&str, &str)],
    body: &str,
    expiry_ms: Option<i64>,
) -> serde_json::Value {
    let addr = url.trim_start_matches("amqp://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut conn = Connection::builder()
        .container_id("raw")
        .hostname("127.0.0.1")
        .scheme("amqp")
        .open_with_stream(tcp)
        .await
        .unwrap();
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut rx = Receiver::attach(
        &mut session,
        "raw-rx",
        "queue://Consumer.bob.7.VirtualTopic.eng.robosignatory.sign",
    )
    .await
    .unwrap();
    let mut tx = Sender::builder()
        .name("raw-tx")
        .target(Target::builder().build())
        .attach(&mut session)
        .await
        .unwrap();
    let mut ap = fe2o3_amqp::types::messaging::ApplicationProperties::builder();
    for (k, v) in props {
        ap = ap.insert(
            k.to_string(),
            fe2o3_amqp::types::primitives::SimpleValue::String(v.to_string()),
        );
    }
    let mut p = Properties::builder().to("topic://VirtualTopic.eng.robosignatory.sign");
    if let Some(ms) = expiry_ms {
        p = p.absolute_expiry_time(fe2o3_amqp::types::primitives::Timestamp::from_milliseconds(
            ms,
        ));
    }
    let m = Message::builder()
        .properties(p.build())
        .application_properties(ap.build())
        .value(body.to_string())
        .build();
    tx.send(m).await.unwrap();
    let d = tokio::time::timeout(STEP, rx.recv::<Body<Value>>())
        .await
        .unwrap()
        .unwrap();
    rx.accept(&d).await.unwrap();
    // Close politely, so the accept reaches the broker before the connection goes (else the
    // broker rightly puts the unsettled reply back on its queue for the next receiver).
    let _ = rx.close().await;
    let _ = tx.close().await;
    let _ = session.end().await;
    let _ = conn.close().await;
    let text = match d.body() {
        Body::Value(AmqpValue(Value::String(s))) => s.clone(),
        other => panic!("reply body {other:?}"),
    };
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn invalid_requests_get_error_replies_naming_each_problem() {
    let (broker, server, _dir, _cfg) = setup(5, 1, 1).await;
    let props = [
        ("service", "s"),
        ("environment", "e"),
        ("owner_id", "bob"),
        ("mtype", "container_signature"),
        ("source", "metadata"),
        ("pub_task_id", "7"),
    ];
    let body = serde_json::json!({
        "request_id": "r-1", "sig_key_id": "NOTAKEY1", "claim_file": "%%%",
        "created": "yesterday", "requested_by": "bob", "pub_task_id": "7",
    });
    let env = raw_exchange(broker.url(), &props, &body.to_string()).await;
    for k in ["i", "msg_id", "timestamp", "topic", "username", "msg"] {
        assert!(env.get(k).is_some(), "envelope lacks {k}: {env}");
    }
    let msg = &env["msg"];
    assert_eq!(msg["request_id"], "r-1");
    assert_eq!(msg["signing_status"], "failure");
    let errors = msg["errors"].as_array().unwrap();
    let all = serde_json::to_string(errors).unwrap();
    assert!(
        all.contains("created")
            && all.contains("unknown signing key")
            && all.contains("claim_file"),
        "{all}"
    );
    assert!(msg.get("signed_claim").is_none());
    let rec = server.wait_for_requests(1, STEP).await.unwrap();
    assert_eq!(rec[0].errors.len(), errors.len());
}

#[tokio::test(start_paused = true)]
async fn fault_plan_drop_first_then_client_resends_in_virtual_time() {
    let (_broker, server, _dir, cfg) = setup(30, 1, 2).await;
    server
        .set_fault_plan(
            fault::plan_from_str("rules: [{match: {nth: 1}, action: drop, times: 1}]", "t")
                .unwrap(),
        )
        .unwrap();
    let op = Operation::ClearSign {
        inputs: vec!["x".into()],
    };
    let t0 = tokio::time::Instant::now();
    let (out, report) = tokio::time::timeout(Duration::from_secs(120), sign(&cfg, &op, &opts()))
        .await
        .unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(report.unwrap().transmissions, vec![2]);
    assert!(
        t0.elapsed() >= Duration::from_secs(30),
        "one window of 30 s passed (virtual)"
    );
    let seen = server.received_requests();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].fault.as_deref().unwrap().contains("drop"));
    assert!(seen[0].replies.is_empty());
    assert_eq!(seen[1].replies.len(), 1);
    assert_eq!(seen[0].id, seen[1].id, "a re-send keeps its request_id");
}

#[tokio::test(start_paused = true)]
async fn malformed_and_duplicate_faults_reach_the_client() {
    let (_broker, server, _dir, cfg) = setup(5, 1, 1).await;
    server
        .set_fault_plan(
            fault::plan_from_str(
                "rules: [{match: {nth: 1}, action: duplicate}, {match: {nth: 2}, action: malformed_json}]",
                "t",
            )
            .unwrap(),
        )
        .unwrap();
    let op = Operation::ClearSign {
        inputs: vec!["a".into(), "b".into()],
    };
    let (out, _) = tokio::time::timeout(Duration::from_secs(60), sign(&cfg, &op, &opts()))
        .await
        .unwrap();
    assert!(
        !out.is_ok(),
        "a malformed reply must not be a success: {out:?}"
    );
    assert_eq!(out.raw_values().len(), 1, "partial result kept");
    let seen = server.received_requests();
    assert_eq!(seen[0].replies.len(), 2);
    assert_eq!(seen[1].replies[0].kind, Emit::MalformedJson);
}

/// Addressed reply links (brokers without an anonymous relay): one sender per reply address,
/// the most recent `MAX_REPLY_LINKS` kept attached; every reply still arrives.
#[tokio::test]
async fn addressed_reply_links_one_per_address_and_bounded() {
    use mock_broker::{Event, LinkDirection};
    let broker = mock_broker::Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), broker.url(), "0000000000000000", 5, 1, 1);
    let server = SigningServer::builder(broker.url(), ServerConfig::load(&cfg).unwrap())
        .addressed_reply_links(true)
        .start()
        .await
        .unwrap();
    let key = server.keys().first().key_id().to_string();
    let cfg = write_config(dir.path(), broker.url(), &key, 5, 1, 1);
    let runs = mock_signing_server::MAX_REPLY_LINKS + 6;
    for t in 0..runs {
        let mut o = opts();
        o.task_id = format!("{t}");
        o.transport.sender_link = msg_signer::transport::SenderLink::Addressed;
        let op = Operation::ClearSign {
            inputs: vec![format!("text {t}")],
        };
        let (out, _) = tokio::time::timeout(STEP, sign(&cfg, &op, &o))
            .await
            .unwrap();
        assert!(out.is_ok(), "run {t}: {out:?}");
    }
    // Links the peers attached to send, by target address.
    let j = broker.journal().snapshot();
    let mut open: Vec<Option<String>> = Vec::new();
    let mut most = 0;
    let mut null_targets = 0;
    for e in &j {
        match &e.event {
            Event::Attach {
                direction: LinkDirection::PeerSends,
                address,
                ..
            } => {
                null_targets += usize::from(address.is_none());
                open.push(address.clone());
                most = most.max(open.iter().filter(|a| is_reply(a)).count());
            }
            Event::Detach {
                direction: LinkDirection::PeerSends,
                address,
                ..
            } => {
                if let Some(i) = open.iter().position(|a| a == address) {
                    open.remove(i);
                }
            }
            _ => {}
        }
    }
    assert_eq!(null_targets, 0, "no null-target sender in addressed mode");
    assert_eq!(
        most,
        mock_signing_server::MAX_REPLY_LINKS,
        "reply links open at once"
    );
    let (sent, accepted, failed) = server.replies_sent();
    assert_eq!((sent, failed), (runs as u64, 0));
    assert_eq!(accepted, runs as u64);
}

fn is_reply(a: &Option<String>) -> bool {
    a.as_deref()
        .is_some_and(|a| a.starts_with("queue://Consumer."))
}

/// A container request as the deployed client sends it, for `raw_exchange` (replies on
/// `queue://Consumer.bob.7...`).
fn container_request(key: &str, id: &str) -> (Vec<(&'static str, &'static str)>, String) {
    let claim = msg_signer::wire::container_claim("sha256:00", "registry.example.com/ns/app:1");
    let claim = B64.encode(claim.to_string().as_bytes());
    let body = serde_json::json!({
        "sig_key_id": key, "claim_file": claim, "request_id": id,
        "created": "2026-01-01T00:00:00Z", "requested_by": "bob", "pub_task_id": "7",
        "manifest_digest": "sha256:00", "repo": "ns/app",
    });
    let props = vec![
        ("mtype", "container_signature"),
        ("owner_id", "bob"),
        ("pub_task_id", "7"),
        ("manifest_digest", "sha256:00"),
        ("service", "sigharness"),
        ("environment", "test"),
        ("source", "metadata"),
    ];
    (props, body.to_string())
}

fn raw_config() -> ServerConfig {
    ServerConfig {
        topic_send_to: "topic://VirtualTopic.eng.robosignatory.sign".into(),
        topic_listen_to: "queue://Consumer.{creator}.{task_id}.VirtualTopic.eng.robosignatory.sign"
            .into(),
        message_id_key: "request_id".into(),
        timeout: Duration::from_secs(10),
    }
}

/// The broker cuts every connection: the server reconnects (backoff from 100 ms), re-attaches
/// its receiver and signs the next request. Before: its receiver task ended with the connection
/// and the server never served again. With the `stay_disconnected` fault it stays down.
#[tokio::test]
async fn reconnects_after_the_broker_drops_its_connection() {
    let broker = mock_broker::Broker::start().await;
    let server = SigningServer::builder(broker.url(), raw_config())
        .start()
        .await
        .unwrap();
    let key = server.keys().first().short_id().to_string();
    let (props, body) = container_request(&key, "before");
    let r = raw_exchange(broker.url(), &props, &body).await;
    assert_eq!(r["msg"]["signing_status"], "success", "{r}");
    broker.disconnect_all();
    assert!(
        server.wait_until(|s| s.reconnects() >= 1, STEP).await,
        "no reconnect within {STEP:?}"
    );
    // Re-attached: the broker has the receiver on the request topic again.
    broker
        .journal()
        .wait_for(
            |e| {
                matches!(&e.event, mock_broker::Event::Attach { address: Some(a), .. }
                if a == "topic://VirtualTopic.eng.robosignatory.sign")
                    && e.seq > 2
            },
            STEP,
        )
        .await
        .unwrap();
    let (props, body) = container_request(&key, "after");
    let r = raw_exchange(broker.url(), &props, &body).await;
    assert_eq!(r["msg"]["request_id"], "after");
    assert_eq!(r["msg"]["signing_status"], "success", "{r}");

    let plan = fault::plan_from_str("rules: [{action: stay_disconnected}]", "plan").unwrap();
    let stays = SigningServer::builder(broker.url(), raw_config())
        .fault_plan(plan)
        .start()
        .await
        .unwrap();
    broker.disconnect_all();
    assert!(stays.wait_until(|s| s.has_stopped(), STEP).await);
    assert_eq!(stays.reconnects(), 0);
}

/// AMQP 1.0 part 3.2.4: a request past its absolute-expiry-time is answered with an error and
/// not signed; `sign_expired` signs it anyway.
#[tokio::test]
async fn an_expired_request_is_not_signed() {
    let broker = mock_broker::Broker::start().await;
    let server = SigningServer::builder(broker.url(), raw_config())
        .start()
        .await
        .unwrap();
    let key = server.keys().first().short_id().to_string();
    let (props, body) = container_request(&key, "old");
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    let r = raw_exchange_with(broker.url(), &props, &body, Some(past)).await;
    assert_eq!(r["msg"]["signing_status"], "failure", "{r}");
    assert!(r["msg"].get("signed_claim").is_none(), "{r}");
    assert!(
        r["msg"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("request expired"),
        "{r}"
    );
    server
        .set_fault_plan(fault::plan_from_str("rules: [{action: sign_expired}]", "p").unwrap())
        .unwrap();
    let (props, body) = container_request(&key, "old-2");
    let r = raw_exchange_with(broker.url(), &props, &body, Some(past)).await;
    assert_eq!(r["msg"]["signing_status"], "success", "{r}");
}

/// The broker goes away and something that accepts TCP but never speaks AMQP takes its port:
/// the reconnecting server's attempt is bounded and abandoned when its handle is dropped (the
/// silent peer sees the socket close). Before, the attempt had no bound and outlived the handle.
#[tokio::test]
async fn a_reconnect_to_a_silent_peer_is_abandoned_at_shutdown() {
    use tokio::io::AsyncReadExt;
    let broker = mock_broker::Broker::start().await;
    let addr = broker.addr();
    let server = SigningServer::builder(broker.url(), raw_config())
        .start()
        .await
        .unwrap();
    broker.stop().await;
    // The port is free again now that the broker's listener is gone (tokio sets SO_REUSEADDR).
    let silent = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (mut sock, _) = tokio::time::timeout(STEP, silent.accept())
        .await
        .expect("the server reconnects within 20 s")
        .unwrap();
    drop(server);
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // the AMQP header it sent before waiting for ours
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the abandoned attempt still holds the socket 5 s after the drop"
    );
}

/// The record of requests is a bounded ring: past its limit the oldest are dropped and counted,
/// `wait_for_requests` still counts every arrival. Before, it kept every request (body and
/// replies) for as long as the server ran: ~5 KiB per request, without bound.
#[tokio::test]
async fn the_record_of_requests_is_bounded_and_counts_what_it_dropped() {
    let broker = mock_broker::Broker::start().await;
    let server = SigningServer::builder(broker.url(), raw_config())
        .request_log_limits(mock_broker::JournalLimits {
            max_entries: 3,
            max_bytes: 1 << 20,
        })
        .start()
        .await
        .unwrap();
    let key = server.keys().first().short_id().to_string();
    for i in 1..=5 {
        let (props, body) = container_request(&key, &format!("r-{i}"));
        let r = raw_exchange(broker.url(), &props, &body).await;
        assert_eq!(r["msg"]["signing_status"], "success", "{r}");
    }
    let kept = server.wait_for_requests(5, STEP).await.unwrap();
    assert_eq!(server.requests_seen(), 5);
    assert_eq!(server.requests_dropped(), 2);
    let ids: Vec<_> = kept.iter().map(|r| (r.n, r.id.clone().unwrap())).collect();
    assert_eq!(
        ids,
        [(3, "r-3".into()), (4, "r-4".into()), (5, "r-5".into())],
        "the newest three, in order"
    );
    // The byte bound holds on its own too: one request's worth of bytes keeps one request.
    let one = kept[0].accounted_bytes();
    drop(server);
    let server = SigningServer::builder(broker.url(), raw_config())
        .request_log_limits(mock_broker::JournalLimits {
            max_entries: 100,
            max_bytes: one + one / 2,
        })
        .start()
        .await
        .unwrap();
    let key = server.keys().first().short_id().to_string();
    for i in 1..=2 {
        let (props, body) = container_request(&key, &format!("b-{i}"));
        raw_exchange(broker.url(), &props, &body).await;
    }
    let kept = server.wait_for_requests(2, STEP).await.unwrap();
    assert_eq!((kept.len(), server.requests_dropped()), (1, 1));
}
