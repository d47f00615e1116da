//! `sigharness bench http-sig`: the user's benchmark without cargo. Its figures depend on the
//! machine, so this checks what the command promises: every row measured for each contender,
//! the three files written and well-formed, a profile's components used, bad input refused
//! with exit 2 naming it.

use std::process::Output;
use std::time::Duration;

async fn bench(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .arg("bench")
        .arg("http-sig")
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("a short bench ends within 120 s")
        .expect("run sigharness")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measures_each_algorithm_and_writes_json_markdown_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = bench(&[
        "--algorithms",
        "ed25519,hmac-sha256,rsa-pss-sha512",
        "--budget-ms",
        "5",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("ed25519") && stdout.contains("ours ÷ raw"),
        "{stdout}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap()).unwrap();
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "sign and verify per algorithm");
    for r in rows {
        for who in ["ours", "raw", "httpsig"] {
            assert!(
                r[who]["ops_per_sec"].as_f64().is_some_and(|v| v > 0.0),
                "{who} measured: {r}"
            );
            assert!(r[who]["calls"].as_u64().is_some_and(|n| n >= 30), "{r}");
        }
        assert!(r["ours_time_over_raw"].as_f64().is_some_and(|v| v > 0.0));
    }
    assert_eq!(rows[0]["signature_bytes"], 64);
    assert_eq!(rows[2]["signature_bytes"], 32);
    assert_eq!(rows[4]["signature_bytes"], 256);
    assert_eq!(doc["signature_base_bytes"], 358);
    let md = std::fs::read_to_string(out.join("bench.md")).unwrap();
    assert_eq!(md.matches("\n| ").count(), 7, "header + 6 rows: {md}");
    let svg = std::fs::read_to_string(out.join("bench.svg")).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    // background, 3 bars per row, 3 legend boxes
    assert_eq!(svg.matches("<rect ").count(), 1 + 6 * 3 + 3, "{svg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_and_message_are_used_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../harness/http-sig/tests/data/test-key-ed25519.pem"
    );
    let profile = dir.path().join("gateway.toml");
    std::fs::write(
        &profile,
        format!(
            "derived_components = [\"method\", \"target_uri\"]\n[key]\nfile = \"{key}\"\n[headers]\ninclude = [\"content-type\"]\n"
        ),
    )
    .unwrap();
    let message = dir.path().join("m.http");
    std::fs::write(
        &message,
        "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n\r\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = bench(&[
        "--profile",
        profile.to_str().unwrap(),
        "--message",
        message.to_str().unwrap(),
        "--algorithms",
        "ecdsa-p256-sha256",
        "--budget-ms",
        "5",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap()).unwrap();
    let input = doc["input"].as_str().unwrap();
    assert!(
        input.contains("gateway.toml") && input.contains("m.http"),
        "{input}"
    );
    // "@method": GET, "@target-uri": https://example.com/a?b=c, "content-type": text/plain
    // and the parameters line: far smaller than the default request's 358 bytes.
    let base = doc["signature_base_bytes"].as_u64().unwrap();
    assert!((100..250).contains(&base), "{base}");

    for (args, names) in [
        (vec!["--algorithms", "rsa-1024"], "rsa-1024"),
        (vec!["--budget-ms", "0"], "--budget-ms"),
        (
            vec!["--message", "/nonexistent/m.http"],
            "/nonexistent/m.http",
        ),
    ] {
        let o = bench(&args).await;
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}
