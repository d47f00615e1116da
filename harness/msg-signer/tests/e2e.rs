//! End to end over real loopback AMQP (plain and TLS) against the in-test responder, with
//! tokio's clock paused: retry timeouts pass in virtual time.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use msg_signer::client::{Operation, SignOptions, sign};
use msg_signer::transport::{SaslMode, TransportOptions};
use support::{Options, Seen, pki, signed_reply, start};

const KEY: &str = "0123456789ABCDEF";

fn write_config(
    dir: &Path,
    brokers: &[String],
    timeout: u64,
    retries: u32,
    send_retries: u32,
) -> PathBuf {
    let p = dir.join("config.yaml");
    let brokers = brokers
        .iter()
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &p,
        format!(
            r#"msg_signer:
  messaging_brokers: [{brokers}]
  messaging_cert_key: {cert}
  messaging_ca_cert: {ca}
  topic_send_to: topic://VirtualTopic.eng.robosignatory.{{creator}}.sign
  topic_listen_to: queue://Consumer.{{creator}}.{{task_id}}.VirtualTopic.eng.robosignatory.sign
  environment: test
  service: sigharness
  timeout: {timeout}
  retries: {retries}
  send_retries: {send_retries}
  message_id_key: request_id
  log_level: INFO
  key_aliases:
    prod: "{KEY}"
"#,
            cert = dir.join("client.pem").display(),
            ca = dir.join("ca.pem").display(),
        ),
    )
    .unwrap();
    p
}

fn reply_to(seen: &Seen) -> String {
    format!(
        "queue://Consumer.{}.{}.VirtualTopic.eng.robosignatory.sign",
        seen.props["owner_id"], seen.props["pub_task_id"]
    )
}

fn container_op(n: usize) -> Operation {
    Operation::ContainerSign {
        digests: (0..n).map(|i| format!("sha256:{i:064x}")).collect(),
        references: (0..n)
            .map(|i| format!("registry.io/ns/repo{i}:1"))
            .collect(),
    }
}

fn opts(requester: Option<&str>) -> SignOptions {
    SignOptions {
        batch: false,
        task_id: "42".into(),
        signing_keys: vec!["prod".into()],
        signing_key_name: Some("release".into()),
        requester: requester.map(str::to_string),
        transport: TransportOptions::default(),
    }
}

#[tokio::test(start_paused = true)]
async fn signs_over_plain_amqp_with_the_deployed_wire_format() {
    let r = start(
        Box::new(|seen, _| vec![(reply_to(seen), signed_reply(seen))]),
        Options::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &[format!("amqp://{}", r.addr)], 5, 2, 2);
    let (out, report) = sign(&cfg, &container_op(2), &opts(Some("alice"))).await;
    assert!(out.is_ok(), "{out:?}");
    let report = report.unwrap();
    assert_eq!(report.transmissions, vec![1, 1]);
    assert_eq!(out.operation_results.len(), 2);
    assert_eq!(out.raw_values(), vec!["U0lHTkVE", "U0lHTkVE"]);
    {
        let j = r.journal.lock().unwrap();
        assert_eq!(j.requests.len(), 2);
        let s = &j.requests[0];
        assert_eq!(
            s.to.as_deref(),
            Some("topic://VirtualTopic.eng.robosignatory.alice.sign")
        );
        assert_eq!(s.ttl, Some(10_000)); // timeout * retries seconds
        assert!(s.body_is_string, "body must be an amqp-value string");
        assert_eq!(s.props["mtype"], "container_signature");
        assert_eq!(s.props["owner_id"], "alice");
        assert_eq!(s.props["pub_task_id"], "42");
        assert_eq!(s.body["sig_key_id"], "89ABCDEF");
        assert_eq!(s.body["repo"], "ns/repo0");
        assert_eq!(
            j.attaches,
            vec!["queue://Consumer.alice.42.VirtualTopic.eng.robosignatory.sign"]
        );
    }
    // The receiver of the window is detached (bounded wait on the responder's journal).
    assert!(r.wait_detaches(1).await, "receiver detached");
}

#[tokio::test(start_paused = true)]
async fn resends_only_unanswered_after_windows_time_out_in_virtual_time() {
    // The responder ignores the first transmission of the second request.
    let r = start(
        Box::new(|seen, n| {
            if n == 1 {
                vec![]
            } else {
                vec![(reply_to(seen), signed_reply(seen))]
            }
        }),
        Options::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &[format!("amqp://{}", r.addr)], 30, 2, 2);
    let t0 = tokio::time::Instant::now();
    let (out, report) = sign(&cfg, &container_op(2), &opts(Some("bob"))).await;
    let elapsed = t0.elapsed();
    assert!(out.is_ok(), "{out:?}");
    let report = report.unwrap();
    assert_eq!(report.transmissions, vec![1, 2]);
    assert_eq!(report.send_cycles, 2);
    assert_eq!(report.windows, 3);
    // Every window's receiver was detached (departure 1 of the deployed client).
    assert!(r.wait_detaches(3).await, "three receivers detached");
    // Two windows of 30 s passed (virtual), the reply in cycle 2 came at once.
    assert!(
        elapsed >= Duration::from_secs(60) && elapsed < Duration::from_secs(65),
        "{elapsed:?}"
    );
    let j = r.journal.lock().unwrap();
    assert_eq!(j.requests.len(), 3);
    assert_eq!(j.attaches.len(), 3, "one receiver per window");
}

#[tokio::test(start_paused = true)]
async fn malformed_and_error_replies_are_reported_with_partial_results() {
    let r = start(
        Box::new(|seen, n| match n {
            0 => vec![(reply_to(seen), signed_reply(seen))],
            1 => vec![(reply_to(seen), "this is not json".to_string())],
            _ => vec![(
                reply_to(seen),
                msg_signer::wire::reply_envelope(
                    "t",
                    serde_json::json!({"request_id": seen.body["request_id"], "errors": ["key not allowed"], "signing_status": "failure"}),
                )
                .to_string(),
            )],
        }),
        Options::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &[format!("amqp://{}", r.addr)], 5, 1, 1);
    let (out, _) = sign(&cfg, &container_op(3), &opts(Some("carol"))).await;
    assert!(!out.is_ok());
    let m = &out.signer_result.error_message;
    assert!(
        m.contains("could not be correlated") && m.contains("not JSON"),
        "{m}"
    );
    assert!(m.contains("key not allowed"), "{m}");
    assert_eq!(out.operation_results.len(), 3);
    assert_eq!(out.raw_values().len(), 1, "partial result kept");
}

#[tokio::test(start_paused = true)]
async fn fails_over_to_the_next_broker() {
    let r = start(
        Box::new(|seen, _| vec![(reply_to(seen), signed_reply(seen))]),
        Options::default(),
    )
    .await;
    // A port with nothing listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &[format!("amqp://{dead}"), format!("amqp://{}", r.addr)],
        5,
        1,
        1,
    );
    let (out, report) = sign(&cfg, &container_op(1), &opts(Some("dave"))).await;
    assert!(out.is_ok(), "{out:?}");
    let c = report.unwrap().connections;
    assert!(c[0].1.is_err() && c[1].1.is_ok(), "{c:?}");
}

#[tokio::test(start_paused = true)]
async fn no_broker_reachable_is_an_error_naming_each() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &[format!("amqp://{dead}")], 5, 1, 1);
    let (out, _) = sign(&cfg, &container_op(1), &opts(Some("erin"))).await;
    assert!(!out.is_ok());
    assert!(
        out.signer_result.error_message.contains(&dead.to_string()),
        "{out:?}"
    );
}

async fn tls_setup(
    dir: &Path,
    sasl_external: bool,
    cn: Option<&str>,
    uid: Option<&str>,
) -> (support::Responder, PathBuf) {
    let p = pki(cn, uid);
    std::fs::write(dir.join("ca.pem"), &p.ca_pem).unwrap();
    std::fs::write(dir.join("client.pem"), &p.client_pem).unwrap();
    let r = start(
        Box::new(|seen, _| vec![(reply_to(seen), signed_reply(seen))]),
        Options {
            tls: Some(p.server_config),
            sasl_external,
            ..Default::default()
        },
    )
    .await;
    let cfg = write_config(dir, &[format!("amqps://{}", r.addr)], 5, 1, 1);
    (r, cfg)
}

#[tokio::test(start_paused = true)]
async fn tls_verifies_the_broker_and_takes_the_creator_from_the_client_cert() {
    let dir = tempfile::tempdir().unwrap();
    let (r, cfg) = tls_setup(dir.path(), false, Some("frank"), Some("uid-frank")).await;
    let (out, _) = sign(&cfg, &container_op(1), &opts(None)).await;
    assert!(out.is_ok(), "{out:?}");
    let j = r.journal.lock().unwrap();
    assert_eq!(j.peer_cn, vec!["frank"]);
    // CN preferred over UID, in both topics.
    assert_eq!(j.requests[0].props["owner_id"], "frank");
    assert_eq!(
        j.attaches[0],
        "queue://Consumer.frank.42.VirtualTopic.eng.robosignatory.sign"
    );
}

#[tokio::test(start_paused = true)]
async fn creator_falls_back_to_uid() {
    let dir = tempfile::tempdir().unwrap();
    let (r, cfg) = tls_setup(dir.path(), false, None, Some("uid-grace")).await;
    let (out, _) = sign(&cfg, &container_op(1), &opts(None)).await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(
        r.journal.lock().unwrap().requests[0].props["owner_id"],
        "uid-grace"
    );
}

#[tokio::test(start_paused = true)]
async fn wrong_ca_is_refused_unless_verification_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (_r, cfg) = tls_setup(dir.path(), false, Some("heidi"), None).await;
    // Replace the CA with an unrelated one.
    std::fs::write(dir.path().join("ca.pem"), pki(None, None).ca_pem).unwrap();
    let (out, _) = sign(&cfg, &container_op(1), &opts(None)).await;
    assert!(!out.is_ok());
    assert!(out.signer_result.error_message.contains("TLS"), "{out:?}");
    let mut o = opts(None);
    o.transport.verify_broker = false;
    let (out, _) = sign(&cfg, &container_op(1), &o).await;
    assert!(out.is_ok(), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn sasl_external_sends_an_empty_initial_response() {
    let dir = tempfile::tempdir().unwrap();
    let (r, cfg) = tls_setup(dir.path(), true, Some("ivan"), None).await;
    let mut o = opts(None);
    o.transport.sasl = SaslMode::External;
    let (out, _) = sign(&cfg, &container_op(1), &o).await;
    assert!(out.is_ok(), "{out:?}");
    {
        let j = r.journal.lock().unwrap();
        assert_eq!(j.sasl_inits, vec![("EXTERNAL".to_string(), Some(vec![]))]);
    }
    // Without SASL, a broker that requires it refuses the connection: a clear error.
    let (out, _) = sign(&cfg, &container_op(1), &opts(None)).await;
    assert!(!out.is_ok());
}

#[tokio::test(start_paused = true)]
async fn bad_config_is_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.yaml");
    std::fs::write(&p, "msg_signer:\n  timeout: 1\n").unwrap();
    let (out, report) = sign(&p, &container_op(1), &opts(Some("x"))).await;
    assert!(report.is_none());
    assert!(
        out.signer_result.error_message.contains("missing field"),
        "{out:?}"
    );
    assert!(
        out.signer_result.error_message.contains("config.yaml"),
        "{out:?}"
    );
}

fn answer_all() -> support::Script {
    Box::new(|seen, _| vec![(reply_to(seen), signed_reply(seen))])
}

#[tokio::test(start_paused = true)]
async fn rejected_sends_fail_fast_not_hang() {
    let r = start(
        answer_all(),
        Options {
            reject_sends: true,
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &[format!("amqp://{}", r.addr)], 30, 3, 2);
    let t0 = tokio::time::Instant::now();
    let (out, report) = sign(&cfg, &container_op(1), &opts(Some("judy"))).await;
    assert!(!out.is_ok());
    assert!(
        out.signer_result.error_message.contains("rejected"),
        "{out:?}"
    );
    // Re-sent once per send cycle, and no receive window was waited out.
    assert_eq!(report.unwrap().transmissions, vec![2]);
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}

#[tokio::test(start_paused = true)]
async fn refused_consumer_is_reported_not_a_timeout() {
    let r = start(
        answer_all(),
        Options {
            refuse_consumers: true,
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &[format!("amqp://{}", r.addr)], 30, 2, 1);
    let t0 = tokio::time::Instant::now();
    let (out, report) = sign(&cfg, &container_op(1), &opts(Some("ken"))).await;
    assert!(!out.is_ok());
    let m = &out.signer_result.error_message;
    assert!(
        m.contains("receiver") && m.contains("consumer denied"),
        "{m}"
    );
    assert_eq!(report.unwrap().windows, 2);
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}
