//! Web Bot Auth (issue 15): the draft's own vectors reproduced (Ed25519 deterministic) or
//! verified (RSA-PSS), RFC 7638 / draft thumbprints, and one test per verification rule, each a
//! signature whose only defect is the rule under test. Facts: docs/web-bot-auth.md.

use http_sig::web_bot_auth::{
    self, KeyDirectory, NonceSource, SignatureAgentForm, WebBotAuthPolicy, WebBotAuthSigner,
};
use http_sig::{
    ComponentId, HttpMessage, Key, SignatureParams, Signer, VerificationPolicy, Verifier,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
const CREATED: u64 = 1_735_689_600;
const ED_THUMB: &str = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";
const PSS_THUMB: &str = "oD0HwocPBSfpNy5W3bpJeyFGY_IQ_YpqxSjQ3Yd-CLA";

fn key(name: &str) -> Key {
    Key::from_file(format!("{DATA}/{name}")).unwrap()
}

fn request() -> HttpMessage {
    HttpMessage::parse(b"GET /path/to/resource HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap()
}

fn header(m: &HttpMessage, name: &str) -> String {
    m.header_values(name).collect::<Vec<_>>().join(", ")
}

#[test]
fn thumbprints_of_the_rfc_9421_test_keys_match_the_draft() {
    assert_eq!(
        key("test-key-ed25519.jwk.json").jwk_thumbprint().unwrap(),
        ED_THUMB
    );
    assert_eq!(
        key("test-key-ed25519.pub.pem").jwk_thumbprint().unwrap(),
        ED_THUMB
    );
    assert_eq!(
        key("test-key-rsa-pss.pub.pem").jwk_thumbprint().unwrap(),
        PSS_THUMB
    );
    // The thumbprint of a private key is that of its public half.
    assert_eq!(
        key("test-key-rsa-pss.pem").jwk_thumbprint().unwrap(),
        PSS_THUMB
    );
    let p256 = key("test-key-ecc-p256.pub.pem").jwk_thumbprint().unwrap();
    assert_eq!(p256.len(), 43);
    assert_eq!(
        key("test-key-ecc-p256.jwk.json").jwk_thumbprint().unwrap(),
        p256
    );
    let e = Key::hmac(b"0123456789abcdef0123456789abcdef")
        .unwrap()
        .jwk_thumbprint()
        .unwrap_err();
    assert_eq!(e.kind(), "invalid_key");
}

/// draft §"Test Vectors", EdDSA, "Signature-Agent Included Present on the Request" (dictionary
/// form, label sig2, member agent2): reproduced byte for byte (Ed25519 is deterministic).
#[test]
fn draft_ed25519_dictionary_vector_reproduced() {
    let signer = WebBotAuthSigner::new(key("test-key-ed25519.jwk.json"))
        .unwrap()
        .with_label("sig2")
        .with_member_key("agent2")
        .with_signature_agent("https://signature-agent.test", SignatureAgentForm::Dictionary)
        .unwrap()
        .with_validity(4_889_289_600 - CREATED)
        .unwrap()
        .with_nonce(NonceSource::Fixed(
            "n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA=="
                .into(),
        ));
    let mut m = request();
    signer.sign(&mut m, CREATED).unwrap();
    assert_eq!(
        header(&m, "signature-agent"),
        r#"agent2="https://signature-agent.test""#
    );
    assert_eq!(
        header(&m, "signature-input"),
        r#"sig2=("@authority" "signature-agent";key="agent2");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=4889289600;nonce="n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA==";tag="web-bot-auth""#
    );
    assert_eq!(
        header(&m, "signature"),
        "sig2=:RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8PhbNZACSanGdhEwYCCg==:"
    );
    // The draft's own vector has a 100-year window: over the 24 h RECOMMENDATION.
    let pub_key = key("test-key-ed25519.pub.pem");
    let e = WebBotAuthPolicy::default()
        .verify_with_key(&m, None, &pub_key, CREATED + 1)
        .unwrap_err();
    assert_eq!(e.kind(), "validity_window");
    let lax = WebBotAuthPolicy {
        max_validity: None,
        ..WebBotAuthPolicy::default()
    };
    let ok = lax
        .verify_with_key(&m, None, &pub_key, CREATED + 1)
        .unwrap();
    assert_eq!(ok.thumbprint, ED_THUMB);
    assert_eq!(ok.agent_form, Some(SignatureAgentForm::Dictionary));
    assert_eq!(ok.agent.unwrap().value, "https://signature-agent.test");
}

/// draft §"Legacy Signature-Agent, sf-string" (EdDSA): reproduced byte for byte.
#[test]
fn draft_ed25519_legacy_string_vector_reproduced() {
    let signer = WebBotAuthSigner::new(key("test-key-ed25519.jwk.json"))
        .unwrap()
        .with_label("sig2")
        .with_signature_agent("https://signature-agent.test", SignatureAgentForm::LegacyString)
        .unwrap()
        .with_validity(3600)
        .unwrap()
        .with_nonce(NonceSource::Fixed(
            "e8N7S2MFd/qrd6T2R3tdfAuuANngKI7LFtKYI/vowzk4lAZYadIX6wW25MwG7DCT9RUKAJ0qVkU0mEeLElW1qg=="
                .into(),
        ));
    let mut m = request();
    signer.sign(&mut m, CREATED).unwrap();
    assert_eq!(
        header(&m, "signature-agent"),
        r#""https://signature-agent.test""#
    );
    assert_eq!(
        header(&m, "signature"),
        "sig2=:jdq0SqOwHdyHr9+r5jw3iYZH6aNGKijYp/EstF4RQTQdi5N5YYKrD+mCT1HA1nZDsi6nJKuHxUi/5Syp3rLWBA==:"
    );
    let pub_key = key("test-key-ed25519.pub.pem");
    let ok = WebBotAuthPolicy::default()
        .verify_with_key(&m, None, &pub_key, CREATED + 1)
        .unwrap();
    assert_eq!(ok.agent_form, Some(SignatureAgentForm::LegacyString));
    // A verifier that accepts only the dictionary form (the draft allows refusing the legacy one).
    let strict = WebBotAuthPolicy {
        accept_legacy_signature_agent: false,
        ..WebBotAuthPolicy::default()
    };
    let e = strict
        .verify_with_key(&m, None, &pub_key, CREATED + 1)
        .unwrap_err();
    assert_eq!(e.kind(), "signature_agent_legacy_form");
}

/// draft §"RSASSA-PSS Using SHA-512": randomized signatures, verified as published.
#[test]
fn draft_rsa_pss_vectors_verify() {
    let pub_key = key("test-key-rsa-pss.pub.pem");
    let dict = "GET /path/to/resource HTTP/1.1\r\nHost: example.com\r\nSignature-Agent: agent2=\"https://signature-agent.test\"\r\nSignature-Input: sig2=(\"@authority\" \"signature-agent\";key=\"agent2\");created=1735689600;keyid=\"oD0HwocPBSfpNy5W3bpJeyFGY_IQ_YpqxSjQ3Yd-CLA\";alg=\"rsa-pss-sha512\";expires=4889289600;nonce=\"wcfPQPh7SzkvrIVvhD00vNk9PkxJNY2NVbYl2PVBB4zmUoluSwE7W6bPtF60QA3k8g06FU7PPCD+J58YofY1zg==\";tag=\"web-bot-auth\"\r\nSignature: sig2=:gHzpLNeHaHIO19NaJH9YMW5dcVSi2s0wOMBr6p18vcofS106sfC4KBIS0/szPlBBd1vIcyQ88B6CTEWIhRAiVrb9zfX0mx1aG12CSGWcYkSirHeyTxhbuJvXd27ed6skWoy4PjXItq38936ivUQjfdIwXh1aX6HxkAC3vRnEdSNfntkLWeEuIQ5BLIOBGE39fSwg27Qjq6OVWYas/9/aFUr3HA34MXWYdp+//cvlEKDp3kRoLOw9ro0AOr6srHrTeEtxon2afcws1aZVSlPdd2fZSEIGmw9HAHLDCEkFTERu1gH2k/zIEqgy7CAYXI9E5slog0cLg/Vc6+f8gih33g==:\r\n\r\n";
    let legacy = "GET /path/to/resource HTTP/1.1\r\nHost: example.com\r\nSignature-Agent: \"https://signature-agent.test\"\r\nSignature-Input: sig2=(\"@authority\" \"signature-agent\");created=1735689600;keyid=\"oD0HwocPBSfpNy5W3bpJeyFGY_IQ_YpqxSjQ3Yd-CLA\";alg=\"rsa-pss-sha512\";expires=1735693200;nonce=\"XSHtZVCThSIAksXsH9WBs6AtxtXC0eQGiIcUGSoJstFs8lAWakjhrfwzLhyjtme5iXMZvmFWqDEs6cT3Jf+BbQ==\";tag=\"web-bot-auth\"\r\nSignature: sig2=:I1QWNzGXdP1a4dSvOHLCVOOanEYHDk+ZsVxM9MLX/p4ko69ghKwR5EOtAD96g7g4GWP7lmpM/jFAf9q8EFRDTPLjUXySwMv4YPgabv2LQihTJG2y8a2m6IGltyruwQNiqSJVUuRaG9+b17CGmAMFZh30X6GXLdQJrCARpeTqPwp2DC+a8haDE/VE5EruqzjA5/2mKwvrkzkSqeW5tOVtFwWRRHIOidquf/8Je6kM9mhgkg4arudLA5SL4wyyYE1jURIgcOl8agrfdJ5Def23DIRtiOLRa8jT9cpTLFAuFHN+mrZA/LH9h0gSIg1cPb+0cMASee5uku1KjWcFer7jWA==:\r\n\r\n";
    let lax = WebBotAuthPolicy {
        max_validity: None,
        ..WebBotAuthPolicy::default()
    };
    let dir = KeyDirectory::from_keys([pub_key]).unwrap();
    for raw in [dict, legacy] {
        let m = HttpMessage::parse(raw.as_bytes()).unwrap();
        let ok = lax.verify(&m, None, &dir, CREATED + 60).unwrap();
        assert_eq!(ok.thumbprint, PSS_THUMB);
        // Tampering with the covered Signature-Agent breaks the signature.
        let mut t = m.clone();
        let v = header(&t, "signature-agent").replace("signature-agent.test", "evil.test");
        t.set_header("Signature-Agent", &v);
        assert_eq!(
            lax.verify(&t, None, &dir, CREATED + 60).unwrap_err().kind(),
            "signature_mismatch"
        );
    }
}

/// draft §"Signed Directory Response": reproduced byte for byte, then verified.
#[test]
fn draft_signed_directory_response_vector() {
    let req = HttpMessage::parse(
        b"GET /.well-known/http-message-signatures-directory HTTP/1.1\r\nHost: signature-agent.test\r\nAccept: application/http-message-signatures-directory+json\r\n\r\n",
    )
    .unwrap();
    let body = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","use":"sig"}]}"#;
    let mut resp = HttpMessage::response(200);
    resp.append_header("Content-Type", web_bot_auth::MEDIA_TYPE);
    resp.body = body.as_bytes().to_vec();
    let signer = Signer::new(key("test-key-ed25519.jwk.json"), None).unwrap();
    web_bot_auth::sign_directory_response(&mut resp, &req, &[signer], 1_735_689_600, 4_889_289_600)
        .unwrap();
    assert_eq!(
        header(&resp, "content-digest"),
        "sha-256=:CADMT2aBdV/rqQr/NIru64ERQkCobVvllA4V0fLFDu0=:"
    );
    assert_eq!(
        header(&resp, "signature-input"),
        r#"binding=("@authority";req "content-digest");created=1735689600;expires=4889289600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";tag="http-message-signatures-directory""#
    );
    assert_eq!(
        header(&resp, "signature"),
        "binding=:l6P8R67tm3kujAxbHWio7ll01qrEZ0dKD/WWlGhNYEmTnFZM8Wt0VQ9zqGfvo7T/UMkBxsigzChM1Gpz7gOVBg==:"
    );
    let dir = KeyDirectory::parse(body.as_bytes()).unwrap();
    assert_eq!(dir.len(), 1);
    let proven = web_bot_auth::verify_directory_response(&resp, &req, &dir, CREATED + 10).unwrap();
    assert_eq!(proven, vec![ED_THUMB.to_string()]);
    // Our directory JSON is the draft's body, member for member.
    let ours = KeyDirectory::from_keys([key("test-key-ed25519.pub.pem")]).unwrap();
    let a: serde_json::Value = serde_json::from_str(&ours.to_json().unwrap()).unwrap();
    let b: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(a, b);
    // Re-served under another authority: the proof fails.
    let other = HttpMessage::parse(
        b"GET /.well-known/http-message-signatures-directory HTTP/1.1\r\nHost: impostor.test\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        web_bot_auth::verify_directory_response(&resp, &other, &dir, CREATED + 10)
            .unwrap_err()
            .kind(),
        "signature_mismatch"
    );
    // Another body under the captured signature: the digest fails.
    let mut swapped = resp.clone();
    swapped.body = br#"{"keys":[]}"#.to_vec();
    assert_eq!(
        web_bot_auth::verify_directory_response(&swapped, &req, &dir, CREATED + 10)
            .unwrap_err()
            .kind(),
        "content_digest_mismatch"
    );
    // created in the future.
    assert_eq!(
        web_bot_auth::verify_directory_response(&resp, &req, &dir, CREATED - 10)
            .unwrap_err()
            .kind(),
        "created_in_future"
    );
}

// ---- one defect, one error ---------------------------------------------------------------------

const NOW: u64 = 1_800_000_000;
const AGENT: &str = r#"sig1="https://bot.example""#;

/// A request with Signature-Agent (dictionary form), signed with the Ed25519 test key over
/// `components` with the parameters `f` leaves (start: created NOW, keyid thumbprint,
/// expires NOW+300, tag web-bot-auth).
fn signed(components: &str, f: impl FnOnce(&mut SignatureParams)) -> HttpMessage {
    let mut m = request();
    m.append_header("Signature-Agent", AGENT);
    let mut p = SignatureParams::new(ComponentId::parse_list(components).unwrap());
    p.set_created(NOW as i64).unwrap();
    p.set_keyid(ED_THUMB).unwrap();
    p.set_expires(NOW as i64 + 300).unwrap();
    p.set_tag("web-bot-auth").unwrap();
    f(&mut p);
    Signer::new(key("test-key-ed25519.jwk.json"), None)
        .unwrap()
        .sign_message(&mut m, None, "sig1", &p)
        .unwrap();
    m
}

const GOOD: &str = r#""@authority" "signature-agent";key="sig1""#;

fn verdict(m: &HttpMessage) -> Result<(), String> {
    let dir = KeyDirectory::from_keys([key("test-key-ed25519.pub.pem")]).unwrap();
    WebBotAuthPolicy::default()
        .verify(m, None, &dir, NOW + 10)
        .map(|_| ())
        .map_err(|e| e.kind().to_string())
}

#[test]
fn valid_signature_verifies() {
    assert_eq!(verdict(&signed(GOOD, |_| {})), Ok(()));
    assert_eq!(
        verdict(&signed(
            r#""@target-uri" "signature-agent";key="sig1""#,
            |_| {}
        )),
        Ok(())
    );
}

#[test]
fn empty_component_list_is_the_advisory_error() {
    // GHSA-x9cc-346q-g27m: sig1=() once verified.
    assert_eq!(
        verdict(&signed("", |_| {})),
        Err("empty_component_list".into())
    );
    // The generic verifier under a policy requiring @authority refuses it too, as a missing
    // required component: the Web Bot Auth policy names the advisory instead.
    let m = signed("", |_| {});
    let policy = VerificationPolicy {
        required_components: vec!["@authority".into()],
        ..VerificationPolicy::default()
    };
    let e = Verifier::new(key("test-key-ed25519.pub.pem"), None)
        .with_policy(policy)
        .verify(&m, None, Some("sig1"), NOW + 10)
        .unwrap_err();
    assert_eq!(e.kind(), "required_component_not_covered");
}

#[test]
fn each_rule_fails_alone() {
    let cases: Vec<(&str, HttpMessage)> = vec![
        (
            "tag_mismatch",
            signed(GOOD, |p| {
                p.set_tag("not-web-bot-auth").unwrap();
            }),
        ),
        (
            "missing_parameter",
            signed(GOOD, |p| {
                p.remove_param("tag");
            }),
        ),
        (
            "missing_parameter",
            signed(GOOD, |p| {
                p.remove_param("created");
            }),
        ),
        (
            "missing_parameter",
            signed(GOOD, |p| {
                p.remove_param("expires");
            }),
        ),
        (
            "missing_parameter",
            signed(GOOD, |p| {
                p.remove_param("keyid");
            }),
        ),
        (
            "unknown_key",
            signed(GOOD, |p| {
                p.set_keyid("test-key-ed25519").unwrap();
            }),
        ),
        (
            "expired",
            signed(GOOD, |p| {
                p.set_created(NOW as i64 - 600).unwrap();
                p.set_expires(NOW as i64 - 300).unwrap();
            }),
        ),
        (
            "created_in_future",
            signed(GOOD, |p| {
                p.set_created(NOW as i64 + 60).unwrap();
                p.set_expires(NOW as i64 + 360).unwrap();
            }),
        ),
        (
            "validity_window",
            signed(GOOD, |p| {
                p.set_expires(NOW as i64 + 86_401).unwrap();
            }),
        ),
        (
            "validity_window",
            signed(GOOD, |p| {
                p.set_expires(NOW as i64).unwrap();
            }),
        ),
        (
            "required_component_not_covered",
            signed(r#""@path" "signature-agent";key="sig1""#, |_| {}),
        ),
        (
            "signature_agent_not_covered",
            signed(r#""@authority""#, |_| {}),
        ),
        (
            "invalid_signature_agent",
            signed(r#""@authority" "signature-agent""#, |_| {}),
        ),
    ];
    for (want, m) in cases {
        assert_eq!(
            verdict(&m),
            Err(want.to_string()),
            "{}",
            header(&m, "signature-input")
        );
    }
    // With a directory lookup absent, a keyid that is not the thumbprint of the key in hand.
    let m = signed(GOOD, |p| {
        p.set_keyid("test-key-ed25519").unwrap();
    });
    let e = WebBotAuthPolicy::default()
        .verify_with_key(&m, None, &key("test-key-ed25519.pub.pem"), NOW + 10)
        .unwrap_err();
    assert_eq!(e.kind(), "keyid_not_thumbprint");
}

#[test]
fn signature_agent_urls_must_be_https_origins() {
    for (agent, want) in [
        (r#"sig1="http://bot.example""#, "invalid_signature_agent"),
        (
            r#"sig1="https://bot.example/keys""#,
            "invalid_signature_agent",
        ),
        (
            r#"sig1="https://bot.example/keys.json";type=jwks_uri"#,
            "ok",
        ),
    ] {
        let mut m = request();
        m.append_header("Signature-Agent", agent);
        let mut p = SignatureParams::new(ComponentId::parse_list(GOOD).unwrap());
        p.set_created(NOW as i64).unwrap();
        p.set_keyid(ED_THUMB).unwrap();
        p.set_expires(NOW as i64 + 300).unwrap();
        p.set_tag("web-bot-auth").unwrap();
        Signer::new(key("test-key-ed25519.jwk.json"), None)
            .unwrap()
            .sign_message(&mut m, None, "sig1", &p)
            .unwrap();
        let got = verdict(&m).err().unwrap_or_else(|| "ok".into());
        assert_eq!(got, want, "{agent}");
    }
}

#[test]
fn no_signature_agent_is_accepted_unless_required() {
    let mut m = request();
    let signer = WebBotAuthSigner::new(key("test-key-ed25519.jwk.json")).unwrap();
    signer.sign(&mut m, NOW).unwrap();
    assert!(!m.has_header("signature-agent"));
    assert_eq!(verdict(&m), Ok(()));
    let strict = WebBotAuthPolicy {
        require_signature_agent: true,
        ..WebBotAuthPolicy::default()
    };
    let dir = KeyDirectory::from_keys([key("test-key-ed25519.pub.pem")]).unwrap();
    assert_eq!(
        strict.verify(&m, None, &dir, NOW + 10).unwrap_err().kind(),
        "signature_agent_missing"
    );
}

#[test]
fn signer_covers_a_signature_agent_already_on_the_request() {
    let mut m = request();
    m.append_header("Signature-Agent", r#"sig1="https://bot.example""#);
    let signer = WebBotAuthSigner::new(key("test-key-ed25519.jwk.json"))
        .unwrap()
        .with_components(ComponentId::parse_list("@method @path").unwrap())
        .unwrap()
        .with_nonce(NonceSource::None);
    let p = signer.sign(&mut m, NOW).unwrap();
    assert_eq!(
        p.components
            .iter()
            .map(|c| c.serialize())
            .collect::<Vec<_>>(),
        vec![
            "\"@authority\"",
            "\"@method\"",
            "\"@path\"",
            "\"signature-agent\";key=\"sig1\""
        ]
    );
    assert_eq!(verdict(&m), Ok(()));
    assert_eq!(signer.keyid(), ED_THUMB);
}
