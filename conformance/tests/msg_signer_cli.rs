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
async fn signing_errors_exit_1_config_errors_exit_2() {
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
    // A config that cannot be used is a usage error: exit 2, one line on stderr, no JSON (issue 13:
    // it was JSON on stdout with exit 1, the code of a signing failure).
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty(), "no JSON for a run that never started");
    let m = String::from_utf8_lossy(&o.stderr);
    assert_eq!(m.trim_end().lines().count(), 1, "one line: {m}");
    assert!(m.contains("bogus") && m.contains("bad.yaml"), "{m}");

    // Likewise a config file that does not exist.
    let missing = dir.path().join("missing.yaml");
    let o = cli(&[
        "msg-signer",
        "container-sign",
        "--config-file",
        missing.to_str().unwrap(),
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
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let m = String::from_utf8_lossy(&o.stderr);
    assert_eq!(m.trim_end().lines().count(), 1, "one line: {m}");
    assert!(m.contains("missing.yaml"), "{m}");
}

/// `sigharness conformance --expect FILE`: verdicts differing from the file make the exit
/// code 1 and are listed first; as expected, 0 (even with failures the file lists); a bad
/// file is exit 2 naming the line. `--set target_name=` names the target in the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_file_gates_the_exit_code_and_target_name_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("expected.tsv");
    let reports = dir.path().join("reports");
    let run = |f: &std::path::Path| {
        let (f, r) = (f.to_path_buf(), reports.clone());
        async move {
            cli(&[
                "conformance",
                "--suite",
                "msg-signer",
                "--mode",
                "client",
                "--case",
                "msg-signer/client/failover/*",
                "--set",
                "target_name=vendor-x",
                "--expect",
                f.to_str().unwrap(),
                "--report-dir",
                r.to_str().unwrap(),
            ])
            .await
        }
    };
    // Our reference client passes both failover cases: a file expecting one to fail differs.
    std::fs::write(
        &file,
        "# expected\nmsg-signer/client/failover/first-broker-refuses\tfail\tdeparture 3\n",
    )
    .unwrap();
    let o = run(&file).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with("expected verdicts (") && out.contains("1 difference"),
        "{out}"
    );
    assert!(
        out.contains("msg-signer/client/failover/first-broker-refuses: expected fail, got pass"),
        "{out}"
    );
    assert!(out.contains("the file says: departure 3"), "{out}");
    assert!(
        out.contains("exit 1: verdicts differ from the --expect file"),
        "{out}"
    );
    let diff = std::fs::read_to_string(reports.join("expect.txt")).unwrap();
    assert!(diff.contains("expected fail, got pass"), "{diff}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["target"], "vendor-x");
    assert!(
        report["suite_targets"][0]["target"]
            .as_str()
            .unwrap()
            .starts_with("vendor-x ("),
        "{}",
        report["suite_targets"]
    );

    // As expected (nothing listed: every case is expected to pass): exit 0.
    std::fs::write(&file, "# nothing\n").unwrap();
    let o = run(&file).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("every verdict as expected"));
    // The last line says which rule decided the exit code.
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("exit 0: every verdict as in the --expect file"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A bad file: exit 2 before anything runs, naming the line.
    std::fs::write(&file, "\nmsg-signer/client/x\tfial\tx\n").unwrap();
    let o = run(&file).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("line 2") && err.contains("fial"), "{err}");
}

/// `sigharness serve msg-signer` signs for every key id the client's `key_aliases` names (a
/// deployed client's config names production key ids): before, the request was refused with
/// "unknown signing key" and the client's run failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_msg_signer_signs_for_aliased_key_ids() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"msg_signer:
  messaging_brokers: ["amqp://127.0.0.1:{port}"]
  messaging_cert_key: {d}/client.pem
  messaging_ca_cert: {d}/ca.pem
  topic_send_to: topic://Sign.requests
  topic_listen_to: queue://Consumer.{{creator}}.{{task_id}}
  environment: test
  service: sigharness
  timeout: 5
  retries: 1
  send_retries: 1
  message_id_key: request_id
  log_level: INFO
  key_aliases:
    prod: "0123456789ABCDEF"
"#,
            d = dir.path().display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .args([
            "serve",
            "msg-signer",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
            cfg,
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let ready = async {
        while let Some(l) = lines.next_line().await.unwrap() {
            let done = l.starts_with("mock signing server consuming");
            printed.push(l);
            if done {
                return;
            }
        }
        panic!("serve ended early: {printed:?}");
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("serve msg-signer ready within 30 s");
    let o = cli(&[
        "msg-signer",
        "clear-sign",
        "--config-file",
        cfg,
        "--task-id",
        "7",
        "--signing-key",
        "prod",
        "--input",
        "hello",
        "--requester",
        "alice",
    ])
    .await;
    let v = json_out(&o);
    assert_eq!(o.status.code(), Some(0), "{v}");
    assert_eq!(v["signer_result"]["status"], "ok", "{v}");
    assert_eq!(
        v["operation_results"][0][0]["msg"]["sig_key_id"],
        "89ABCDEF"
    );
    let mapping = printed
        .iter()
        .find(|l| l.contains("key_aliases prod = 0123456789ABCDEF"))
        .unwrap_or_else(|| panic!("the alias's key is printed: {printed:#?}"));
    assert!(
        mapping.contains("sig_key_id 89ABCDEF") && mapping.contains("fingerprint "),
        "{mapping}"
    );
}

/// A broker that needs SASL (it answers the plain AMQP header with the SASL header, as
/// RabbitMQ's plain port does) gets an error naming SASL and the option to set; before, the
/// message was "AMQP open: Not implemented".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_needs_sasl_is_named_with_the_option() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let broker = tokio::spawn(async move {
        // Every connection: read the client's 8-byte header, answer with the SASL header.
        while let Ok((mut s, _)) = l.accept().await {
            let mut hdr = [0u8; 8];
            if s.read_exact(&mut hdr).await.is_ok() {
                let _ = s.write_all(b"AMQP\x03\x01\x00\x00").await;
                let mut rest = Vec::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("amqp://{addr}"));
    let o = cli(&[
        "msg-signer",
        "clear-sign",
        "--config-file",
        cfg.to_str().unwrap(),
        "--task-id",
        "9",
        "--signing-key",
        "0123456789ABCDEF",
        "--input",
        "hello",
        "--requester",
        "alice",
    ])
    .await;
    broker.abort();
    let v = json_out(&o);
    assert_eq!(o.status.code(), Some(1), "{v}");
    let m = v["signer_result"]["error_message"].as_str().unwrap();
    assert!(m.contains("SASL") && m.contains("--sasl"), "{m}");
}
