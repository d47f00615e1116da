//! `--mode server --server-cmd CMD`: a signing server in a process of its own, started by the
//! suite against the suite's own broker, judged like any server, the cases that fault the broker
//! included. Here the server is `sigharness serve signing-server` (our mock as a separate
//! process, with its key given to it in a directory and its public key to the suite); a command
//! that ends before attaching, or a missing key id, is exit 2 with one line.

use std::process::Output;
use std::time::Duration;

async fn conformance(args: &[String], report_dir: &std::path::Path) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .arg("conformance")
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .arg("-q")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("a server-mode run ends within 300 s")
        .expect("run sigharness")
}

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("config.yaml");
    std::fs::write(
        &p,
        r#"msg_signer:
  messaging_brokers: ["amqp://127.0.0.1:1"]
  messaging_cert_key: ""
  messaging_ca_cert: ""
  topic_send_to: topic://VirtualTopic.eng.robosignatory.sign
  topic_listen_to: queue://Consumer.{creator}.{task_id}.VirtualTopic.eng.robosignatory.sign
  environment: test
  service: sigharness
  timeout: 10
  retries: 2
  send_retries: 2
  message_id_key: request_id
"#,
    )
    .unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_by_server_cmd_is_judged_behind_our_broker() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let key = mock_signing_server::SigningKey::generate("vendor <vendor@localhost>").unwrap();
    std::fs::write(keys.join("vendor.asc"), key.secret_armored().unwrap()).unwrap();
    let public = dir.path().join("vendor.pub.asc");
    std::fs::write(&public, key.public_armored().unwrap()).unwrap();
    let cfg = write_config(dir.path());
    let cmd = format!(
        "exec {} serve signing-server --broker {{broker_url}} --config {} --keys {}",
        env!("CARGO_BIN_EXE_sigharness"),
        cfg.display(),
        keys.display()
    );
    let report = dir.path().join("report");
    let o = conformance(
        &[
            "--suite".into(),
            "msg-signer".into(),
            "--mode".into(),
            "server".into(),
            "--server-cmd".into(),
            cmd,
            "--set".into(),
            format!("sig_key_id={}", key.short_id()),
            "--set".into(),
            format!("signing_pubkey={}", public.display()),
        ],
        &report,
    )
    .await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let text = doc.to_string();
    assert!(text.contains("behind the suite's broker"), "{text:.300}");
    let cases = doc["cases"].as_array().unwrap();
    let not_passed: Vec<String> = cases
        .iter()
        .filter(|c| c["verdict"] != "pass")
        .map(|c| format!("{} {}", c["id"], c["verdict"]))
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
    // The fault case ran against the external process (it reconnected), it did not skip.
    assert!(
        cases.iter().any(
            |c| c["id"] == "msg-signer/server/reconnect/serves-after-connection-drop"
                && c["verdict"] == "pass"
        ),
        "{cases:?}"
    );

    // A command that ends before it attaches: exit 2, one line with its status and stderr.
    let o = conformance(
        &[
            "--suite".into(),
            "msg-signer".into(),
            "--mode".into(),
            "server".into(),
            "--server-cmd".into(),
            "echo cannot reach {broker_url} >&2; exit 3".into(),
            "--set".into(),
            "sig_key_id=0123ABCD".into(),
        ],
        &dir.path().join("r2"),
    )
    .await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--server-cmd")
            && stderr.contains("exit code 3")
            && stderr.contains("cannot reach amqp://127.0.0.1:"),
        "{stderr}"
    );
    // No key id: said before anything starts.
    let o = conformance(
        &[
            "--suite".into(),
            "msg-signer".into(),
            "--mode".into(),
            "server".into(),
            "--server-cmd".into(),
            "true".into(),
        ],
        &dir.path().join("r3"),
    )
    .await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sig_key_id"), "{stderr}");
}
