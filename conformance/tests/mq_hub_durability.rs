//! Durability: a put answered 200 by `sigharness serve mq-hub` on the durable store survives
//! SIGKILL of the process. Spawns the real binary twice on the same store file.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use mq_hub::{DidKeyPair, DidMethod, MqClient, Profile};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const D: &str = "durable.test";

async fn spawn(config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .args(["serve", "mq-hub", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sigharness serve mq-hub");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the server announces its address within 30 s")
        .expect("read stdout")
        .expect("a line on stdout");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_put() {
    for profile in ["rfc130", "opendsu"] {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("mq.redb");
        let config = dir.path().join("hub.toml");
        std::fs::write(
            &config,
            format!(
                "profile = \"{profile}\"\ndomains = [\"{D}\"]\nconnection_timeout_ms = 300\n[storage]\nkind = \"durable\"\npath = {:?}\n",
                store.display().to_string()
            ),
        )
        .unwrap();
        let p: Profile = profile.parse().unwrap();
        let key = Arc::new(DidKeyPair::generate(DidMethod::Key).unwrap());

        let (mut first, url) = spawn(&config).await;
        let c = MqClient::new(&url, p, key.clone(), Duration::from_secs(10)).unwrap();
        let t = c.own_token(D).await.unwrap().token;
        let n = 20;
        for i in 0..n {
            c.put(D, &c.hash_did(), &t, format!("m{i}")).await.unwrap(); // answered 200
        }
        // SIGKILL (Child::kill sends SIGKILL on Unix), right after the last 200.
        first.kill().await.unwrap();

        let (mut second, url) = spawn(&config).await;
        let c = MqClient::new(&url, p, key.clone(), Duration::from_secs(10)).unwrap();
        let t = c.own_token(D).await.unwrap().token;
        let mut got = Vec::new();
        while let Some(m) = c.take(D, &t, None).await.unwrap() {
            got.push(m.message);
            assert!(got.len() <= n, "more messages than were put");
        }
        let want: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        assert_eq!(got, want, "{profile}: every acknowledged put, in order");
        second.kill().await.unwrap();
    }
}
