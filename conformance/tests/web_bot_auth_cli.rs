//! Web Bot Auth (issue 15) end to end: `sigharness http-sig sign|verify --profile web-bot-auth`
//! (the built binary), `sigharness serve key-directory` fetched by a real HTTP client over
//! loopback, the in-process key directory server and the CLI's directory cache.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use http_sig::HttpMessage;
use http_sig::web_bot_auth::{self, KeyDirectory};
use mock_http_sig_peers::{KeyDirectoryConfig, KeyDirectoryServer};
use sigharness::cli::key_directory::{DirectoryCache, NEGATIVE_TTL, client};

const NOW: u64 = 1_800_000_000;

fn data(name: &str) -> String {
    format!(
        "{}/../harness/http-sig/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .arg("http-sig")
        .args(args)
        .output()
        .expect("run sigharness")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A request signed by the CLI with the Web Bot Auth profile, written to a file in `dir`.
fn signed_request(dir: &tempfile::TempDir, form: &str) -> std::path::PathBuf {
    let req = dir.path().join("req.http");
    std::fs::write(&req, "GET /page HTTP/1.1\r\nHost: origin.example\r\n\r\n").unwrap();
    let now = NOW.to_string();
    let o = run(&[
        "sign",
        "--profile",
        "web-bot-auth",
        "--message",
        req.to_str().unwrap(),
        "--key",
        &data("test-key-ed25519.jwk.json"),
        "--signature-agent",
        "https://bot.example",
        "--signature-agent-form",
        form,
        "--label",
        "sig1",
        "--components",
        "@method @path",
        "--created",
        &now,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = dir.path().join(format!("signed-{form}.http"));
    std::fs::write(&out, &o.stdout).unwrap();
    out
}

fn verify(msg: &std::path::Path, extra: &[&str], now: u64) -> Output {
    let now = now.to_string();
    let mut args = vec![
        "verify",
        "--profile",
        "web-bot-auth",
        "--message",
        msg.to_str().unwrap(),
        "--now",
        &now,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn cli_sign_then_verify_both_signature_agent_forms() {
    let dir = tempfile::tempdir().unwrap();
    let key = data("test-key-ed25519.pub.pem");
    for (form, want) in [("dict", "form=dict"), ("string", "form=string")] {
        let signed = signed_request(&dir, form);
        let s = text(&std::fs::read(&signed).unwrap());
        assert!(s.contains("tag=\"web-bot-auth\""), "{s}");
        assert!(
            s.contains("keyid=\"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U\""),
            "{s}"
        );
        let o = verify(&signed, &["--key", &key], NOW + 5);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        assert!(out.contains("valid: label=sig1"), "{out}");
        assert!(out.contains(want), "{out}");
        assert!(out.contains("signature-agent=https://bot.example"), "{out}");
    }
    // The legacy form refused on request.
    let signed = signed_request(&dir, "string");
    let o = verify(
        &signed,
        &["--key", &key, "--reject-legacy-signature-agent"],
        NOW + 5,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("[signature_agent_legacy_form]"));
}

#[test]
fn cli_tampering_fails_with_the_right_kind() {
    let dir = tempfile::tempdir().unwrap();
    let key = data("test-key-ed25519.pub.pem");
    let signed = signed_request(&dir, "dict");
    let raw = text(&std::fs::read(&signed).unwrap());
    let cases = [
        // Another authority under the captured signature.
        (
            raw.replace("Host: origin.example", "Host: other.example"),
            "[signature_mismatch]",
        ),
        // Another Signature-Agent.
        (
            raw.replace("https://bot.example", "https://evil.example"),
            "[signature_mismatch]",
        ),
        // The Signature-Agent member no longer covered.
        (
            raw.replace(" \"signature-agent\";key=\"sig1\"", ""),
            "[signature_agent_not_covered]",
        ),
        // The advisory: an empty component list (GHSA-x9cc-346q-g27m).
        (
            {
                let start = raw.find("sig1=(").unwrap() + "sig1=(".len();
                let end = start + raw[start..].find(')').unwrap();
                format!("{}{}", &raw[..start], &raw[end..])
            },
            "[empty_component_list]",
        ),
        // Another tag.
        (
            raw.replace("tag=\"web-bot-auth\"", "tag=\"other\""),
            "[tag_mismatch]",
        ),
    ];
    for (i, (msg, want)) in cases.iter().enumerate() {
        assert_ne!(msg, &raw, "case {i} changed nothing");
        let p = dir.path().join(format!("t{i}.http"));
        std::fs::write(&p, msg).unwrap();
        let o = verify(&p, &["--key", &key], NOW + 5);
        assert_eq!(o.status.code(), Some(1), "case {i}: {}", text(&o.stdout));
        assert!(
            text(&o.stderr).contains(want),
            "case {i}: {}",
            text(&o.stderr)
        );
    }
    // Expired (default validity 300 s).
    let o = verify(&signed, &["--key", &key], NOW + 301);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("[expired]"), "{}", text(&o.stderr));
    // A key whose thumbprint is not the keyid.
    let o = verify(
        &signed,
        &["--key", &data("test-key-ecc-p256.pub.pem")],
        NOW + 5,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("[keyid_not_thumbprint]"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn cli_refuses_non_loopback_directory_urls_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_request(&dir, "dict");
    for url in [
        "http://192.0.2.1/.well-known/http-message-signatures-directory",
        "http://example.com/.well-known/http-message-signatures-directory",
        "https://127.0.0.1:1/.well-known/http-message-signatures-directory",
    ] {
        let started = std::time::Instant::now();
        let o = verify(&signed, &["--directory", url], NOW + 5);
        assert_eq!(o.status.code(), Some(2), "{url}");
        let e = text(&o.stderr);
        assert!(
            e.contains("loopback") || e.contains("fetches http on loopback only"),
            "{url}: {e}"
        );
        // Refused before any connection attempt (the fetch timeout is 5 s).
        assert!(started.elapsed() < Duration::from_secs(4), "{url}");
    }
}

#[test]
fn cli_verifies_with_a_directory_file() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_request(&dir, "dict");
    let d = KeyDirectory::from_keys([
        http_sig::Key::from_file(data("test-key-rsa-pss.pub.pem")).unwrap(),
        http_sig::Key::from_file(data("test-key-ed25519.pub.pem")).unwrap(),
    ])
    .unwrap();
    let path = dir.path().join("directory.json");
    std::fs::write(&path, d.to_json().unwrap()).unwrap();
    let o = verify(&signed, &["--directory", path.to_str().unwrap()], NOW + 5);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // A directory without the key: unknown_key.
    let only_rsa =
        KeyDirectory::from_keys([
            http_sig::Key::from_file(data("test-key-rsa-pss.pub.pem")).unwrap()
        ])
        .unwrap();
    std::fs::write(&path, only_rsa.to_json().unwrap()).unwrap();
    let o = verify(&signed, &["--directory", path.to_str().unwrap()], NOW + 5);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("[unknown_key]"),
        "{}",
        text(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_fetches_the_directory_from_a_loopback_server() {
    let keys = vec![http_sig::Key::from_file(data("test-key-ed25519.jwk.json")).unwrap()];
    let srv = KeyDirectoryServer::start(
        "127.0.0.1:0".parse().unwrap(),
        KeyDirectoryConfig::new(keys),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_request(&dir, "dict");
    let url = srv.directory_url();
    // The directory response signatures carry the wall clock's created: verify now.
    let now = web_bot_auth_now();
    let resigned = resign_at(&signed, now, &dir);
    let o = tokio::task::spawn_blocking(move || verify(&resigned, &["--directory", &url], now + 1))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("directory: 1 keys, proof verified for 1"),
        "{out}"
    );
    assert!(out.contains("valid: label=sig1"), "{out}");
    assert_eq!(srv.served(), 1);
}

fn web_bot_auth_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sign the same request again at `now` (the CLI's `--created`).
fn resign_at(_signed: &std::path::Path, now: u64, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let req = dir.path().join("req-now.http");
    std::fs::write(&req, "GET /page HTTP/1.1\r\nHost: origin.example\r\n\r\n").unwrap();
    let created = now.to_string();
    let o = run(&[
        "sign",
        "--profile",
        "web-bot-auth",
        "--message",
        req.to_str().unwrap(),
        "--key",
        &data("test-key-ed25519.jwk.json"),
        "--signature-agent",
        "https://bot.example",
        "--label",
        "sig1",
        "--created",
        &created,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = dir.path().join("signed-now.http");
    std::fs::write(&out, &o.stdout).unwrap();
    out
}

#[tokio::test]
async fn directory_cache_honours_max_age_and_caches_failures() {
    let keys = vec![http_sig::Key::from_file(data("test-key-ed25519.jwk.json")).unwrap()];
    let mut cfg = KeyDirectoryConfig::new(keys);
    cfg.max_age = 60;
    let srv = KeyDirectoryServer::start("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let c = client().unwrap();
    let mut cache = DirectoryCache::new();
    let url = srv.directory_url();
    let now = web_bot_auth_now();
    let a = cache.get(&c, &url, now).await.unwrap();
    assert_eq!(a.fresh_for, 60);
    assert_eq!(a.proof.as_ref().unwrap().len(), 1);
    assert!(a.wrong_content_type.is_none());
    // Fresh: served from the cache.
    cache.get(&c, &url, now + 59).await.unwrap();
    assert_eq!((cache.fetches(), srv.served()), (1, 1));
    // Stale: fetched again.
    cache.get(&c, &url, now + 60).await.unwrap();
    assert_eq!((cache.fetches(), srv.served()), (2, 2));
    // A 404 is a discovery failure, remembered for NEGATIVE_TTL.
    let missing = format!("{}/nothing-here", srv.url());
    let e = cache.get(&c, &missing, now).await.unwrap_err();
    assert!(e.contains("answered 404"), "{e}");
    let e = cache
        .get(&c, &missing, now + NEGATIVE_TTL - 1)
        .await
        .unwrap_err();
    assert!(e.contains("cached failure"), "{e}");
    assert_eq!(cache.fetches(), 3);
    cache
        .get(&c, &missing, now + NEGATIVE_TTL)
        .await
        .unwrap_err();
    assert_eq!(cache.fetches(), 4);
}

/// `sigharness serve key-directory`, fetched by reqwest over loopback.
#[tokio::test]
async fn serve_key_directory_answers_a_real_http_client() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .args([
            "serve",
            "key-directory",
            "--key",
            &data("test-key-ed25519.jwk.json"),
            "--key",
            &data("test-key-ecc-p256.pem"),
            "--listen",
            "127.0.0.1:0",
            "--max-age",
            "120",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sigharness serve key-directory");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Send the first line, then keep draining: the server prints a line per request, and a
        // closed pipe would end it.
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let mut rest = String::new();
        while r.read_line(&mut rest).is_ok_and(|n| n > 0) {
            rest.clear();
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    let Ok(line) = line else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve key-directory printed nothing within 30 s");
    };
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .map(str::to_string);
    let result = async {
        let url = url.ok_or_else(|| format!("no URL in {line:?}"))?;
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let r = c.get(&url).send().await.map_err(|e| e.to_string())?;
        assert_eq!(r.status().as_u16(), 200);
        let h = r.headers().clone();
        assert_eq!(h["content-type"], web_bot_auth::MEDIA_TYPE);
        assert_eq!(h["cache-control"], "max-age=120");
        let body = r.bytes().await.map_err(|e| e.to_string())?.to_vec();
        let dir = KeyDirectory::parse(&body).map_err(|e| e.to_string())?;
        assert_eq!(dir.len(), 2);
        assert!(dir.rejected().is_empty());
        // Both keys prove possession, bound to the authority this client used.
        let authority = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let req = HttpMessage::request(
            "GET",
            web_bot_auth::WELL_KNOWN_PATH,
            "http",
            Some(&authority),
        );
        let mut resp = HttpMessage::response(200);
        for (k, v) in &h {
            resp.append_header(k.as_str(), v.to_str().unwrap());
        }
        resp.body = body;
        let proven =
            web_bot_auth::verify_directory_response(&resp, &req, &dir, web_bot_auth_now() + 1)
                .map_err(|e| e.to_string())?;
        assert_eq!(proven.len(), 2);
        // Other paths and methods.
        let base = url.trim_end_matches(web_bot_auth::WELL_KNOWN_PATH);
        let r = c
            .get(format!("{base}/other"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(r.status().as_u16(), 404);
        let r = c.post(&url).send().await.map_err(|e| e.to_string())?;
        assert_eq!(r.status().as_u16(), 405);
        Ok::<(), String>(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
}
