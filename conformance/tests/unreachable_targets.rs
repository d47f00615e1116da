//! `sigharness conformance` pointed at a target that is not there: exit 2 and one line on stderr
//! (the README's promise), never a run of failed cases that would blame the implementation.
//! Issue 13: a dead `--broker` in client mode gave 36 FAILs and exit 1.

use std::process::Output;
use std::time::Duration;

/// A loopback port that was just bound and released: nothing listens there.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn conformance(args: &[String], report_dir: &std::path::Path) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .arg("conformance")
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .arg("-q")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("an unreachable target is refused within 60 s")
        .expect("run sigharness")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_external_target_option_refuses_a_dead_target_with_exit_2_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dead_port();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "--mq-hub-url",
            vec![
                "--suite".into(),
                "mq-hub".into(),
                "--profile".into(),
                "rfc130".into(),
                "--mq-hub-url".into(),
                format!("http://127.0.0.1:{p}"),
            ],
        ),
        (
            "--verifier-url",
            vec![
                "--suite".into(),
                "http-sig-verifier".into(),
                "--verifier-url".into(),
                format!("http://127.0.0.1:{p}/"),
            ],
        ),
        (
            "--broker",
            vec![
                "--suite".into(),
                "msg-signer".into(),
                "--mode".into(),
                "client".into(),
                "--broker".into(),
                format!("amqp://127.0.0.1:{p}"),
            ],
        ),
        (
            "--broker",
            vec![
                "--suite".into(),
                "msg-signer".into(),
                "--mode".into(),
                "server".into(),
                "--set".into(),
                "sig_key_id=0123ABCD".into(),
                "--broker".into(),
                format!("amqp://127.0.0.1:{p}"),
            ],
        ),
    ];
    for (i, (option, args)) in cases.iter().enumerate() {
        let report_dir = dir.path().join(i.to_string());
        let o = conformance(args, &report_dir).await;
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains(option) && stderr.contains(&p.to_string()),
            "the line names the option and the target: {stderr}"
        );
        assert!(
            !report_dir.join("report.json").exists(),
            "{args:?}: no report of failed cases for a target that is not there"
        );
    }
}
