//! `sigharness msg-signer ...` as a process: options, JSON output shape, exit codes.

#[path = "../../harness/msg-signer/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

fn config(dir: &Path, broker: &str) -> std::path::PathBuf {
    let p = dir.join("config.yaml");
    std::fs::write(
        &p,
        format!(
            r#"msg_signer:
  messaging_brokers: ["{broker}"]
  messaging_cert_key: {d}/client.pem
  messaging_ca_cert: {d}/ca.pem
  topic_send_to: topic://Sign.{{creator}}
  topic_listen_to: queue://Consumer.{{creator}}.{{task_id}}
  environment: test
  service: sigharness
  timeout: 2
  retries: 1
  send_retries: 1
  message_id_key: request_id
  log_level: INFO
  key_aliases: {{}}
"#,
            d = dir.display()
        ),
    )
    .unwrap();
    p
}

async fn cli(args: &[&str]) -> Output {
    let fut = tokio::process::Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("CLI finished within 60 s")
        .expect("CLI ran")
}

fn json_out(o: &Output) -> Value {
    let s = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(s.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {s}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_sign_prints_the_deployed_shape_and_exits_0() {
    let r = support::start(
        Box::new(|seen, _| {
            vec![(
                format!(
                    "queue://Consumer.{}.{}",
                    seen.props["owner_id"], seen.props["pub_task_id"]
                ),
                support::signed_reply(seen),
            )]
        }),
        support::Options::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("amqp://{}", r.addr));
    let cfg = cfg.to_str().unwrap();
    let o = cli(&[
        "msg-signer",
        "container-sign",
        "--config-file",
        cfg,
        "--task-id",
        "9",
        "--signing-key",
        "0123456789ABCDEF",
        "--signing-key-name",
        "rel",
        "--digest",
        "sha256:00ff",
        "--reference",
        "reg.io/ns/app:1",
        "--requester",
        "alice",
    ])
    .await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json_out(&o);
    assert_eq!(v["signer_result"]["status"], "ok");
    assert_eq!(v["signer_result"]["error_message"], "");
    assert_eq!(v["operation_results"].as_array().unwrap().len(), 1);
    // The deployed entry shape: [envelope, properties].
    assert_eq!(
        v["operation_results"][0][0]["msg"]["signed_claim"],
        "U0lHTkVE"
    );
    assert_eq!(v["operation_results"][0].as_array().map(Vec::len), Some(2));
    assert_eq!(v["operation"]["digests"][0], "sha256:00ff");
    assert_eq!(v["signing_keys"][0], "0123456789ABCDEF");

    // --raw prints the signed values only.
    let o = cli(&[
        "msg-signer",
        "clear-sign",
        "--config-file",
        cfg,
        "--task-id",
        "9",
        "--signing-key",
        "0123456789ABCDEF",
        "--input",
        "hello",
        "--requester",
        "alice",
        "--raw",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "U0lHTkVE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_give_status_error_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = config(dir.path(), &format!("amqp://{dead}"));
    let cfg = cfg.to_str().unwrap();
    let o = cli(&[
        "msg-signer",
        "blob-sign",
        "--config-file",
        cfg,
        "--task-id",
        "9",
        "--signing-key",
        "0123456789ABCDEF",
        "--blob-file",
        cfg,
        "--requester",
        "alice",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));
    let v = json_out(&o);
    assert_eq!(v["signer_result"]["status"], "error");
    assert!(
        v["signer_result"]["error_message"]
            .as_str()
            .unwrap()
            .contains(&dead.to_string())
    );

    std::fs::write(
        dir.path().join("bad.yaml"),
        "msg_signer:\n  timeout: 1\n  bogus: 2\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.yaml");
    let o = cli(&[
        "msg-signer",
        "container-sign",
        "--config-file",
        bad.to_str().unwrap(),
        "--task-id",
        "9",
        "--signing-key",
        "0123456789ABCDEF",
        "--digest",
        "sha256:00",
        "--reference",
        "r/a:1",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));
    let v = json_out(&o);
    let m = v["signer_result"]["error_message"].as_str().unwrap();
    assert!(m.contains("bogus") && m.contains("bad.yaml"), "{m}");
}
