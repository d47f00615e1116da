//! SigningProfile: Grafbase configuration semantics.

use http_sig::{
    Algorithm, HttpMessage, Key, SigningProfile, VerificationPolicy, Verifier, signatures,
};

fn dir() -> std::path::PathBuf {
    format!("{}/tests/data", env!("CARGO_MANIFEST_DIR")).into()
}
fn request() -> HttpMessage {
    HttpMessage::parse(
        b"POST /graphql?x=1 HTTP/1.1\r\nHost: subgraph.example\r\nContent-Type: application/json\r\nAccept: a\r\nAccept: b\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nProxy-Authorization: x\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer t\r\n\r\n{}",
    )
    .unwrap()
}

#[test]
fn defaults_sign_request_target_and_all_end_to_end_headers() {
    let p = SigningProfile::from_toml("[key]\nfile = \"test-key-ed25519.pem\"\n", Some(&dir()))
        .unwrap();
    let mut m = request();
    let params = p.sign(&mut m, 1_700_000_000).unwrap();
    let ids: Vec<String> = params.components.iter().map(|c| c.serialize()).collect();
    assert_eq!(
        ids,
        [
            r#""@request-target""#,
            r#""host""#,
            r#""content-type""#,
            r#""accept""#,
            r#""authorization""#
        ]
    );
    assert_eq!(params.created(), Some(1_700_000_000));
    assert_eq!(params.alg(), Some("ed25519"));
    let key = Key::from_file(dir().join("test-key-ed25519.pub.pem")).unwrap();
    assert_eq!(params.keyid(), Some(key.default_keyid().as_str()));
    assert_eq!(params.expires(), None);
    assert_eq!(params.nonce(), None);
    let ok = Verifier::new(key, None)
        .verify(&m, None, Some("sig"), 1_700_000_000)
        .unwrap();
    assert!(ok.base.contains("\"accept\": a, b\n"), "{}", ok.base);
    // A second signing with the same profile must not overwrite the first.
    assert_eq!(
        p.sign(&mut m, 1_700_000_001).unwrap_err().kind(),
        "label_collision"
    );
    assert_eq!(signatures(&m).unwrap().len(), 1);
}

#[test]
fn include_exclude_derived_nonce_expiry_from_yaml() {
    let yaml = "key:\n  file: test-key-ecc-p256.jwk.json\n  id: my-key\nalgorithm: ecdsa-p256-sha256\nheaders:\n  include: [Content-Type, Authorization, Accept]\n  exclude: [authorization]\nderived_components: [method, target_uri, authority, scheme, path, query]\nsignature_parameters: [nonce]\nexpiry: 30s\n";
    let p = SigningProfile::from_yaml(yaml, Some(&dir())).unwrap();
    let mut m = request();
    let params = p.sign(&mut m, 1_000).unwrap();
    let ids: Vec<String> = params.components.iter().map(|c| c.serialize()).collect();
    assert_eq!(
        ids,
        [
            r#""@method""#,
            r#""@target-uri""#,
            r#""@authority""#,
            r#""@scheme""#,
            r#""@path""#,
            r#""@query""#,
            r#""content-type""#,
            r#""accept""#
        ]
    );
    assert_eq!(params.expires(), Some(1_030));
    assert_eq!(params.keyid(), Some("my-key"));
    let nonce = params.nonce().unwrap();
    assert_eq!(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, nonce)
            .unwrap()
            .len(),
        32
    );
    let order: Vec<&str> = params.params().keys().map(|k| k.as_str()).collect();
    assert_eq!(order, ["created", "expires", "nonce", "alg", "keyid"]);
    let v = Verifier::new(
        Key::from_file(dir().join("test-key-ecc-p256.pub.pem")).unwrap(),
        Some(Algorithm::EcdsaP256Sha256),
    )
    .with_policy(VerificationPolicy {
        required_parameters: vec!["nonce".into()],
        ..Default::default()
    });
    v.verify(&m, None, Some("sig"), 1_010).unwrap();
    assert_eq!(
        v.verify(&m, None, Some("sig"), 1_031).unwrap_err().kind(),
        "expired"
    );
    // Two profiles draw different nonces.
    let mut m2 = request();
    assert_ne!(p.sign(&mut m2, 1_000).unwrap().nonce().unwrap(), nonce);
}

#[test]
fn config_errors() {
    let d = dir();
    let err = |s: &str| SigningProfile::from_toml(s, Some(&d)).unwrap_err().kind();
    assert_eq!(
        err("[key]\nfile = \"test-key-ed25519.pem\"\nalgorithm = \"ecdsa-p256-sha256\"\n"),
        "invalid_config"
    ); // algorithm inside [key]
    assert_eq!(
        err("algorithm = \"ecdsa-p256-sha256\"\n[key]\nfile = \"test-key-ed25519.pem\"\n"),
        "key_algorithm_mismatch"
    );
    assert_eq!(
        err("algorithm = \"md5\"\n[key]\nfile = \"test-key-ed25519.pem\"\n"),
        "unsupported_algorithm"
    );
    assert_eq!(
        err("[key]\nfile = \"test-key-ed25519.pem\"\nunknown = 1\n"),
        "invalid_config"
    );
    assert_eq!(
        err("bogus = 1\n[key]\nfile = \"test-key-ed25519.pem\"\n"),
        "invalid_config"
    );
    assert_eq!(
        err("derived_components = [\"host\"]\n[key]\nfile = \"test-key-ed25519.pem\"\n"),
        "invalid_config"
    );
    assert_eq!(
        err("expiry = \"soon\"\n[key]\nfile = \"test-key-ed25519.pem\"\n"),
        "invalid_config"
    );
    assert_eq!(err("[key]\n"), "invalid_config");
    assert_eq!(err("[key]\nfile = \"missing.pem\"\n"), "io");
    assert_eq!(
        err("[key]\nfile = \"test-key-ed25519.pub.pem\"\n"),
        "public_key_cannot_sign"
    );
    // Inline JWK, oct + HS256.
    let p = SigningProfile::from_toml(
        "[key]\ninline = '{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"HS256\"}'\n",
        None,
    )
    .unwrap();
    assert_eq!(p.signer().algorithm(), Algorithm::HmacSha256);
}
