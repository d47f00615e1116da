//! `sigharness http-sig` end to end: the built binary on RFC 9421 examples
//! (data: harness/http-sig/tests/data, from RFC 9421 Appendix B).

use std::process::{Command, Output};

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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sign_reproduces_rfc_b25_hmac() {
    let o = run(&[
        "sign",
        "--message",
        &data("test-request.http"),
        "--key",
        &data("test-shared-secret.b64"),
        "--components",
        r#""date" "@authority" "content-type""#,
        "--created",
        "1618884473",
        "--keyid",
        "test-shared-secret",
        "--label",
        "sig-b25",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Signature: sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:\r\n"),
        "{out}"
    );
    assert!(out.contains(r#"Signature-Input: sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#));
}

#[test]
fn sign_reproduces_rfc_b26_ed25519_with_unquoted_components_and_verifies() {
    let o = run(&[
        "sign",
        "--message",
        &data("test-request.http"),
        "--key",
        &data("test-key-ed25519.jwk.json"),
        "--components",
        "date @method @path @authority content-type Content-Length",
        "--created",
        "1618884473",
        "--label",
        "sig-b26",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"), "{out}");
    // The JWK kid is the default keyid.
    assert!(out.contains(r#"keyid="test-key-ed25519""#));
    let dir = std::env::temp_dir().join(format!("sigharness-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("signed.http");
    std::fs::write(&f, &o.stdout).unwrap();
    let v = run(&[
        "verify",
        "--message",
        f.to_str().unwrap(),
        "--key",
        &data("test-key-ed25519.pub.pem"),
        "--now",
        "1618884473",
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert!(stdout(&v).contains("valid: label=sig-b26 alg=ed25519"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn verify_rfc_examples_and_failures() {
    let v = run(&[
        "verify",
        "--message",
        &data("signed-b21.http"),
        "--key",
        &data("test-key-rsa-pss.pub.pem"),
        "--alg",
        "rsa-pss-sha512",
        "--now",
        "1618884473",
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    let v = run(&[
        "verify",
        "--message",
        &data("multi-sig-proxy.http"),
        "--key",
        &data("test-key-rsa.pem"),
        "--label",
        "proxy_sig",
        "--now",
        "1618884481",
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    // Expired.
    let v = run(&[
        "verify",
        "--message",
        &data("multi-sig-proxy.http"),
        "--key",
        &data("test-key-rsa.pem"),
        "--label",
        "proxy_sig",
        "--now",
        "1618884600",
    ]);
    assert_eq!(v.status.code(), Some(1));
    assert!(stderr(&v).contains("[expired]"), "{}", stderr(&v));
    // B.4: a transformed message that must not verify.
    let v = run(&[
        "verify",
        "--message",
        &data("transform-5.http"),
        "--key",
        &data("test-key-ed25519.pem"),
        "--now",
        "1618884473",
    ]);
    assert_eq!(v.status.code(), Some(1));
    assert!(
        stderr(&v).contains("[signature_mismatch]"),
        "{}",
        stderr(&v)
    );
    // Response with ;req and the request.
    let v = run(&[
        "verify",
        "--message",
        &data("reqres-response.http"),
        "--request",
        &data("reqres-request.http"),
        "--key",
        &data("test-key-ecc-p256.jwk.json"),
        "--now",
        "1618884479",
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    // Usage / IO errors: exit 2.
    let v = run(&[
        "verify",
        "--message",
        "/nonexistent.http",
        "--key",
        &data("test-key-rsa.pem"),
    ]);
    assert_eq!(v.status.code(), Some(2));
    let v = run(&[
        "verify",
        "--message",
        &data("signed-b21.http"),
        "--key",
        &data("README.md"),
    ]);
    assert_eq!(v.status.code(), Some(2), "{}", stderr(&v));
    let v = run(&["verify", "--message", &data("signed-b21.http")]);
    assert_eq!(v.status.code(), Some(2));
}

#[test]
fn verify_with_policy_file() {
    let dir = std::env::temp_dir().join(format!("sigharness-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pol = dir.join("policy.toml");
    std::fs::write(&pol, "required_components = ['@method']\n").unwrap();
    let v = run(&[
        "verify",
        "--message",
        &data("signed-b22.http"),
        "--key",
        &data("test-key-rsa-pss.pem"),
        "--policy",
        pol.to_str().unwrap(),
        "--now",
        "1618884473",
    ]);
    assert_eq!(v.status.code(), Some(1));
    assert!(
        stderr(&v).contains("[required_component_not_covered]"),
        "{}",
        stderr(&v)
    );
    std::fs::write(&pol, "required_components = ['@authority', '\"@query-param\";name=\"Pet\"']\nexpected_tag = 'header-example'\n").unwrap();
    let v = run(&[
        "verify",
        "--message",
        &data("signed-b22.http"),
        "--key",
        &data("test-key-rsa-pss.pem"),
        "--policy",
        pol.to_str().unwrap(),
        "--now",
        "1618884473",
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    std::fs::write(&pol, "unknown_key = 1\n").unwrap();
    let v = run(&[
        "verify",
        "--message",
        &data("signed-b22.http"),
        "--key",
        &data("test-key-rsa-pss.pem"),
        "--policy",
        pol.to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn base_prints_rfc_b22_base() {
    let o = run(&[
        "base",
        "--message",
        &data("test-request.http"),
        "--components",
        r#"@authority content-digest "@query-param";name="Pet""#,
        "--params",
        r#";created=1618884473;keyid="test-key-rsa-pss";tag="header-example""#,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "\"@authority\": example.com\n\"content-digest\": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\n\"@query-param\";name=\"Pet\": dog\n\"@signature-params\": (\"@authority\" \"content-digest\" \"@query-param\";name=\"Pet\");created=1618884473;keyid=\"test-key-rsa-pss\";tag=\"header-example\"\n"
    );
    let o = run(&[
        "base",
        "--message",
        &data("test-request.http"),
        "--components",
        "@status",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("[status_in_request]"));
}

#[test]
fn sign_with_profile_then_verify() {
    let dir = std::env::temp_dir().join(format!("sigharness-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prof = dir.join("profile.toml");
    std::fs::write(
        &prof,
        format!(
            "expiry = \"30s\"\nsignature_parameters = [\"nonce\"]\n[key]\nfile = {:?}\n",
            data("test-key-ecc-p256.pem")
        ),
    )
    .unwrap();
    let o = run(&[
        "sign",
        "--message",
        &data("test-request.http"),
        "--profile",
        prof.to_str().unwrap(),
        "--created",
        "1700000000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let signed = dir.join("signed.http");
    std::fs::write(&signed, &o.stdout).unwrap();
    let out = stdout(&o);
    assert!(
        out.contains("sig=(\"@request-target\" \"host\" \"date\""),
        "{out}"
    );
    let v = run(&[
        "verify",
        "--message",
        signed.to_str().unwrap(),
        "--key",
        &data("test-key-ecc-p256.pub.pem"),
        "--label",
        "sig",
        "--now",
        "1700000010",
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    let v = run(&[
        "verify",
        "--message",
        signed.to_str().unwrap(),
        "--key",
        &data("test-key-ecc-p256.pub.pem"),
        "--now",
        "1700000031",
    ]);
    assert_eq!(v.status.code(), Some(1));
    // Signing again under the same label is refused.
    let o = run(&[
        "sign",
        "--message",
        signed.to_str().unwrap(),
        "--profile",
        prof.to_str().unwrap(),
        "--created",
        "1700000000",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("[label_collision]"));
    std::fs::remove_dir_all(&dir).ok();
}
