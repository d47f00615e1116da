//! RFC 9421 examples reproduced (deterministic algorithms byte for byte) and verified.
//! Data: tests/data (RFC 9421 Appendix B.1 keys, B.2 messages, §2.4, §4.3, B.4).

use base64::Engine as _;
use http_sig::{
    Algorithm, ComponentId, HttpMessage, Key, SignatureParams, Signer, Verifier, find_signature,
    signature_base,
};

const CREATED: i64 = 1618884473;
const NOW: u64 = 1618884473;

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}
fn msg(name: &str) -> HttpMessage {
    HttpMessage::parse(&std::fs::read(data(name)).unwrap()).unwrap()
}
fn key(name: &str) -> Key {
    Key::from_file(data(name)).unwrap()
}
fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}
fn params(list: &str, created: i64, keyid: &str) -> SignatureParams {
    let mut p = SignatureParams::new(ComponentId::parse_list(list).unwrap());
    p.set_created(created).unwrap().set_keyid(keyid).unwrap();
    p
}

#[test]
fn b25_hmac_sha256_byte_for_byte() {
    let m = msg("test-request.http");
    let p = params(
        r#""date" "@authority" "content-type""#,
        CREATED,
        "test-shared-secret",
    );
    let base = signature_base(&m, None, &p).unwrap();
    assert_eq!(
        base,
        "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\"content-type\": application/json\n\"@signature-params\": (\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\""
    );
    let signer = Signer::new(key("test-shared-secret.b64"), Some(Algorithm::HmacSha256)).unwrap();
    let sig = signer.sign(&m, None, &p).unwrap();
    assert_eq!(b64(&sig), "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=");
    insta::assert_snapshot!("b25_base", base);
}

#[test]
fn b26_ed25519_byte_for_byte_and_deterministic() {
    let m = msg("test-request.http");
    let p = params(
        r#""date" "@method" "@path" "@authority" "content-type" "content-length""#,
        CREATED,
        "test-key-ed25519",
    );
    let base = signature_base(&m, None, &p).unwrap();
    insta::assert_snapshot!("b26_base", base);
    for k in ["test-key-ed25519.pem", "test-key-ed25519.jwk.json"] {
        let signer = Signer::new(key(k), None).unwrap();
        assert_eq!(signer.algorithm(), Algorithm::Ed25519);
        let s1 = signer.sign(&m, None, &p).unwrap();
        let s2 = signer.sign(&m, None, &p).unwrap();
        assert_eq!(s1, s2, "Ed25519 must be deterministic");
        assert_eq!(
            b64(&s1),
            "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
        );
    }
}

#[test]
fn section_4_3_rsa_v1_5_proxy_signature_byte_for_byte() {
    let m = msg("multi-sig-proxy.http");
    let entry = find_signature(&m, "proxy_sig").unwrap();
    // Rebuild the parameters ourselves, in the RFC's order.
    let mut p = SignatureParams::new(
        ComponentId::parse_list(
            r#""@method" "@authority" "@path" "content-digest" "content-type" "content-length" "forwarded""#,
        )
        .unwrap(),
    );
    p.set_created(1618884480)
        .unwrap()
        .set_keyid("test-key-rsa")
        .unwrap()
        .set_alg("rsa-v1_5-sha256")
        .unwrap();
    p.set_expires(1618884540).unwrap();
    assert_eq!(p, entry.params);
    let base = signature_base(&m, None, &p).unwrap();
    insta::assert_snapshot!("proxy_sig_base", base);
    for k in ["test-key-rsa.pem", "test-key-rsa.jwk.json"] {
        let signer = Signer::new(key(k), Some(Algorithm::RsaV15Sha256)).unwrap();
        let sig = signer.sign(&m, None, &p).unwrap();
        assert_eq!(sig, entry.signature, "key {k}");
    }
    // And it verifies with the public key, alg from the parameter.
    let v = Verifier::new(key("test-key-rsa.pub.pem"), None);
    let ok = v.verify(&m, None, Some("proxy_sig"), 1618884490).unwrap();
    assert_eq!(ok.algorithm, Algorithm::RsaV15Sha256);
    // After `expires` it fails.
    let e = v
        .verify(&m, None, Some("proxy_sig"), 1618884541)
        .unwrap_err();
    assert_eq!(e.kind(), "expired");
}

#[test]
fn b21_b22_b23_rsa_pss_verify_with_every_encoding() {
    for label in ["b21", "b22", "b23"] {
        let m = msg(&format!("signed-{label}.http"));
        for k in [
            "test-key-rsa-pss.pub.pem",
            "test-key-rsa-pss.pem",
            "test-key-rsa-pss.jwk.json",
        ] {
            let v = Verifier::new(key(k), Some(Algorithm::RsaPssSha512));
            let ok = v
                .verify(&m, None, Some(&format!("sig-{label}")), NOW)
                .unwrap_or_else(|e| panic!("{label} {k}: {e}"));
            assert_eq!(ok.algorithm, Algorithm::RsaPssSha512);
        }
    }
}

#[test]
fn b21_parameter_order_is_preserved() {
    let m = msg("signed-b21.http");
    let e = find_signature(&m, "sig-b21").unwrap();
    assert_eq!(
        e.params.serialize(),
        r#"();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#
    );
    // A re-ordered parameter list is a different base: verification fails.
    let mut reordered = SignatureParams::new(vec![]);
    reordered
        .set_keyid("test-key-rsa-pss")
        .unwrap()
        .set_created(CREATED)
        .unwrap();
    reordered.set_nonce("b3k2pp5k7z-50gnwp.yemd").unwrap();
    let k = key("test-key-rsa-pss.pub.pem");
    let base = signature_base(&m, None, &reordered).unwrap();
    assert!(
        !k.verify(Algorithm::RsaPssSha512, base.as_bytes(), &e.signature)
            .unwrap()
    );
}

#[test]
fn b22_b23_bases_snapshot() {
    for label in ["b22", "b23"] {
        let m = msg(&format!("signed-{label}.http"));
        let e = find_signature(&m, &format!("sig-{label}")).unwrap();
        insta::assert_snapshot!(
            format!("{label}_base"),
            signature_base(&m, None, &e.params).unwrap()
        );
    }
}

#[test]
fn b24_ecdsa_p256_response_verify_and_sign_round_trip() {
    let m = msg("signed-b24.http");
    for k in [
        "test-key-ecc-p256.pub.pem",
        "test-key-ecc-p256.pem",
        "test-key-ecc-p256.jwk.json",
    ] {
        Verifier::new(key(k), None)
            .verify(&m, None, Some("sig-b24"), NOW)
            .unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    let e = find_signature(&m, "sig-b24").unwrap();
    insta::assert_snapshot!("b24_base", signature_base(&m, None, &e.params).unwrap());
    // Our own ECDSA signature is raw r||s, 64 bytes, and verifies.
    let signer = Signer::new(key("test-key-ecc-p256.pem"), None).unwrap();
    let mut m2 = msg("test-response.http");
    signer
        .sign_message(&mut m2, None, "mine", &e.params)
        .unwrap();
    let mine = find_signature(&m2, "mine").unwrap();
    assert_eq!(mine.signature.len(), 64);
    Verifier::new(key("test-key-ecc-p256.pub.pem"), None)
        .verify(&m2, None, Some("mine"), NOW)
        .unwrap();
}

#[test]
fn b21_b23_rsa_pss_sign_round_trip() {
    let m0 = msg("test-request.http");
    let p = params(
        r#""@method" "@authority" "@path" "content-digest""#,
        CREATED,
        "test-key-rsa-pss",
    );
    let signer = Signer::new(key("test-key-rsa-pss.pem"), None).unwrap();
    assert_eq!(signer.algorithm(), Algorithm::RsaPssSha512);
    let mut m = m0.clone();
    signer.sign_message(&mut m, None, "sig1", &p).unwrap();
    Verifier::new(key("test-key-rsa-pss.pub.pem"), None)
        .verify(&m, None, Some("sig1"), NOW)
        .unwrap();
    // The public key is a plain rsaEncryption SPKI: as v1.5 the PSS signature does not verify.
    let e = Verifier::new(
        key("test-key-rsa-pss.pub.pem"),
        Some(Algorithm::RsaV15Sha256),
    )
    .verify(&m, None, Some("sig1"), NOW)
    .unwrap_err();
    assert_eq!(e.kind(), "signature_mismatch");
    // The private key carries the id-RSASSA-PSS OID: it refuses v1.5 outright.
    let e = Verifier::new(key("test-key-rsa-pss.pem"), Some(Algorithm::RsaV15Sha256))
        .verify(&m, None, Some("sig1"), NOW)
        .unwrap_err();
    assert_eq!(e.kind(), "key_algorithm_mismatch");
    assert!(Signer::new(key("test-key-rsa-pss.pem"), Some(Algorithm::RsaV15Sha256)).is_err());
}

#[test]
fn section_2_4_request_response_binding() {
    let req = msg("reqres-request.http");
    let res = msg("reqres-response.http");
    let k = key("test-key-ecc-p256.pub.pem");
    let ok = Verifier::new(k.clone(), None)
        .verify(&res, Some(&req), Some("reqres"), 1618884479)
        .unwrap();
    insta::assert_snapshot!("reqres_base", ok.base);
    // Without the request: a typed error.
    let e = Verifier::new(k.clone(), None)
        .verify(&res, None, Some("reqres"), 1618884479)
        .unwrap_err();
    assert_eq!(e.kind(), "missing_related_request");
    let req2 = msg("reqres2-request.http");
    let res2 = msg("reqres2-response.http");
    Verifier::new(k, None)
        .verify(&res2, Some(&req2), Some("reqres"), 1618884479)
        .unwrap();
}

#[test]
fn section_4_3_client_signature_no_longer_verifies_after_proxy() {
    // The proxy changed the authority: the client's sig1 fails on the forwarded message.
    let m = msg("multi-sig-proxy.http");
    let e = Verifier::new(key("test-key-ecc-p256.pub.pem"), None)
        .verify(&m, None, Some("sig1"), 1618884480)
        .unwrap_err();
    assert_eq!(e.kind(), "signature_mismatch");
    // Without a label and two signatures present: ask for a label.
    let e = Verifier::new(key("test-key-rsa.pub.pem"), None)
        .verify(&m, None, None, 1618884480)
        .unwrap_err();
    assert_eq!(e.kind(), "signature_not_found");
}

#[test]
fn b4_transformations() {
    let k = key("test-key-ed25519.pub.pem");
    let v = Verifier::new(k, None);
    for (i, should_verify) in [
        (1, true),
        (2, true),
        (3, true),
        (4, true),
        (5, false),
        (6, false),
    ] {
        let m = msg(&format!("transform-{i}.http"));
        let r = v.verify(&m, None, Some("transform"), NOW);
        match (should_verify, r) {
            (true, Ok(_)) => {}
            (false, Err(e)) => assert_eq!(e.kind(), "signature_mismatch", "transform-{i}"),
            (want, got) => panic!("transform-{i}: want verify={want}, got {got:?}"),
        }
    }
    let m = msg("transform-1.http");
    let e = find_signature(&m, "transform").unwrap();
    insta::assert_snapshot!("b4_base", signature_base(&m, None, &e.params).unwrap());
}

#[test]
fn b25_and_b26_verify_from_the_message() {
    Verifier::new(key("test-shared-secret.b64"), None)
        .verify(&msg("signed-b25.http"), None, Some("sig-b25"), NOW)
        .unwrap();
    Verifier::new(key("test-key-ed25519.jwk.json"), None)
        .verify(&msg("signed-b26.http"), None, Some("sig-b26"), NOW)
        .unwrap();
}
