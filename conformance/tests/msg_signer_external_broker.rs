//! The `--broker` paths of the msg-signer suite without RabbitMQ: a TLS embedded broker stands
//! in for the external one (reached only through its URL, CA and client certificate), so the
//! client-mode plumbing, the applicability rules and SASL EXTERNAL of the mock signing server
//! are exercised here; `.ci/steps/40-rabbitmq.sh` runs the same paths against RabbitMQ.

use std::time::Duration;

use mock_signing_server::{ServerConfig, SigningServer};
use sigharness::suites::msg_signer::AddressMap;
use sigharness::suites::msg_signer::env::{
    ClientTarget, ExternalBroker, PlanFile, Scenario, Tls, external_skip, run_scenario_on,
};

struct Tlsd {
    rt: tokio::runtime::Runtime,
    broker: mock_broker::BrokerHandle,
    dir: tempfile::TempDir,
}

fn tls_broker() -> Tlsd {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pki = test_pki::Pki::new(Some("sigharness-client"), None).unwrap();
    let broker = rt.block_on(async {
        mock_broker::Broker::builder()
            .tls(
                pki.server.cert_pem.as_bytes(),
                pki.server.key_pem.as_bytes(),
            )
            .client_ca(pki.ca.cert_pem.as_bytes())
            .start()
            .await
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca.cert_pem).unwrap();
    std::fs::write(dir.path().join("client.pem"), pki.client.cert_key_pem()).unwrap();
    Tlsd { rt, broker, dir }
}

fn external(t: &Tlsd) -> ExternalBroker {
    ExternalBroker {
        url: format!("amqps://localhost:{}", t.broker.addr().port()),
        ca: Some(t.dir.path().join("ca.pem")),
        cert_key: Some(t.dir.path().join("client.pem")),
        address_map: AddressMap::None,
        sasl_external: true,
    }
}

#[test]
fn client_mode_runs_through_an_external_broker_with_sasl_external() {
    let t = tls_broker();
    let obs = run_scenario_on(
        Scenario::default(),
        ClientTarget::Reference,
        Some(external(&t)),
    )
    .unwrap();
    assert!(obs.ok(), "{:?}", obs.log());
    assert_eq!(obs.server.len(), 1, "the mock server got the request");
    // The suite keeps no journal of an external broker...
    assert!(obs.journal_entries.is_empty());
    // ...but this stand-in does: both the client and the mock server logged in with EXTERNAL.
    let mechs: Vec<Option<String>> = t
        .broker
        .journal()
        .snapshot()
        .iter()
        .filter(|e| matches!(e.event, mock_broker::Event::Connect))
        .map(|e| e.peer.sasl_mechanism.clone())
        .collect();
    assert_eq!(mechs.len(), 2, "{mechs:?}");
    assert!(
        mechs.iter().all(|m| m.as_deref() == Some("EXTERNAL")),
        "{mechs:?}"
    );
    // A per-run task id keeps replies of earlier runs (durable queues) out of this one.
    assert_ne!(obs.reply_address, obs.send_address);
    assert!(
        !obs.reply_address.contains(".4711."),
        "{}",
        obs.reply_address
    );
    // What reached the broker is seen from the signing server's side, with the run's task id.
    let seen = obs.request_messages();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body_kind, "amqp-value");
    assert_eq!(
        seen[0].application_properties.get("pub_task_id"),
        Some(&serde_json::Value::String(obs.task_id.clone()))
    );
    assert!(!obs.has_journal());
    drop(t.broker);
    t.rt.shutdown_timeout(Duration::from_secs(5));
}

/// With `--address-map rabbitmq` (no anonymous relay) the client and the mock signing server
/// attach every sender to its address; the stand-in broker's journal shows no null target.
#[test]
fn rabbitmq_map_uses_addressed_sender_links() {
    let t = tls_broker();
    let ext = ExternalBroker {
        address_map: AddressMap::RabbitMq,
        ..external(&t)
    };
    let obs = run_scenario_on(Scenario::default(), ClientTarget::Reference, Some(ext)).unwrap();
    assert!(obs.ok(), "{:?}", obs.log());
    assert!(
        obs.send_address.starts_with("/topic/"),
        "{}",
        obs.send_address
    );
    assert!(
        obs.reply_address.starts_with("/queue/"),
        "{}",
        obs.reply_address
    );
    let senders: Vec<Option<String>> = t
        .broker
        .journal()
        .snapshot()
        .iter()
        .filter_map(|e| match &e.event {
            mock_broker::Event::Attach {
                direction: mock_broker::LinkDirection::PeerSends,
                address,
                ..
            } => Some(address.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        senders,
        vec![
            Some(obs.send_address.clone()),
            Some(obs.reply_address.clone())
        ],
        "client's request sender, then the server's reply sender"
    );
    drop(t.broker);
    t.rt.shutdown_timeout(Duration::from_secs(5));
}

#[test]
fn cases_needing_the_embedded_broker_are_not_applicable() {
    assert_eq!(external_skip(&Scenario::default()), None);
    let s = Scenario {
        tls: Tls::Mutual,
        ..Default::default()
    };
    assert_eq!(external_skip(&s), None);
    let s = Scenario {
        broker_plan: Some(PlanFile {
            path: "reject.broker.yaml",
            yaml: "rules: [{action: reject}]",
        }),
        ..Default::default()
    };
    assert!(external_skip(&s).unwrap().contains("fault hooks"));
    let s = Scenario {
        cert_cn: Some("alice-cn".into()),
        ..Default::default()
    };
    assert!(external_skip(&s).unwrap().contains("certificates"));
}

#[test]
fn rabbitmq_address_map() {
    let e = ExternalBroker {
        url: "amqps://localhost:5671".into(),
        ca: Some("ca.pem".into()),
        cert_key: Some("ck.pem".into()),
        address_map: AddressMap::RabbitMq,
        sasl_external: true,
    };
    assert_eq!(e.map("topic://A.b"), "/topic/A.b");
    assert_eq!(
        e.map("queue://Consumer.{creator}.x"),
        "/queue/Consumer.{creator}.x"
    );
    assert_eq!(e.map("/queue/q"), "/queue/q");
    let n = ExternalBroker {
        address_map: AddressMap::None,
        ..e
    };
    assert_eq!(n.map("topic://A"), "topic://A");
}

#[tokio::test]
async fn mock_server_sasl_external_needs_tls() {
    let cfg = ServerConfig {
        topic_send_to: "topic://x".into(),
        topic_listen_to: "queue://y.{creator}.{task_id}".into(),
        message_id_key: "request_id".into(),
        timeout: Duration::from_secs(1),
    };
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("amqp://127.0.0.1:{}", l.local_addr().unwrap().port());
    let e = SigningServer::builder(url, cfg)
        .sasl_external(true)
        .start()
        .await
        .err()
        .expect("EXTERNAL over plain AMQP must be refused");
    assert!(e.to_string().contains("SASL EXTERNAL"), "{e}");
}
