//! Issue 17: the verifier policy knobs real signing profiles need (validity window, `expires`
//! skew, forbidden components, Content-Digest, key sets with revoked kids and JWK `use` /
//! `key_ops`, per-key nonce stores), the keyid rule of RFC 9421 §3.2 step 5 on by default, and
//! the signer's parameter order. Each test has a case that passes and one that must fail.

use base64::Engine as _;
use http_sig::{
    ComponentId, HttpMessage, Key, KeySet, NonceStore, SignatureParams, Signer, VerificationPolicy,
    Verifier,
};

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"an-hmac-secret-of-thirty-two-by!";

fn jwk(kid: &str, extra: &str) -> String {
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
    format!(r#"{{"kty":"oct","k":"{k}","kid":"{kid}"{extra}}}"#)
}

fn plain_key() -> Key {
    Key::hmac(SECRET).unwrap()
}

fn message(body: &str) -> HttpMessage {
    let mut m = HttpMessage::request("POST", "/orders?x=1", "https", Some("seller.example"));
    m.append_header("Content-Type", "application/json");
    m.body = body.as_bytes().to_vec();
    m
}

/// Sign `m` over `components` with `params` set by `f`.
fn sign(m: &mut HttpMessage, components: &str, f: impl FnOnce(&mut SignatureParams)) {
    let mut p = SignatureParams::new(ComponentId::parse_list(components).unwrap());
    p.set_created(NOW as i64).unwrap();
    f(&mut p);
    Signer::new(plain_key(), None)
        .unwrap()
        .sign_message(m, None, "sig", &p)
        .unwrap();
}

fn signed(keyid: Option<&str>) -> HttpMessage {
    let mut m = message("{}");
    sign(&mut m, "@method @path", |p| {
        if let Some(k) = keyid {
            p.set_keyid(k).unwrap();
        }
    });
    m
}

fn verify_kind(v: &Verifier, m: &HttpMessage, now: u64) -> Result<(), String> {
    v.verify(m, None, Some("sig"), now)
        .map(|_| ())
        .map_err(|e| e.kind().to_string())
}

fn with(policy: VerificationPolicy) -> Verifier {
    Verifier::new(plain_key(), None).with_policy(policy)
}

#[test]
fn keyid_naming_another_key_fails_by_default() {
    let kid_key = Key::from_jwk(&jwk("k1", "")).unwrap();
    let v = Verifier::new(kid_key.clone(), None);
    assert_eq!(verify_kind(&v, &signed(Some("k1")), NOW), Ok(()));
    assert_eq!(
        verify_kind(&v, &signed(Some("someone-else")), NOW),
        Err("unknown_key".into())
    );
    // No keyid: the key is known by configuration (step 5, "external means").
    assert_eq!(verify_kind(&v, &signed(None), NOW), Ok(()));
    // with_keyid adds an id; expected_keyid counts as one too.
    let v = Verifier::new(plain_key(), None).with_keyid("gw");
    assert_eq!(verify_kind(&v, &signed(Some("gw")), NOW), Ok(()));
    assert_eq!(
        verify_kind(&v, &signed(Some("x")), NOW),
        Err("unknown_key".into())
    );
    // The knob turns it off.
    let v = Verifier::new(kid_key, None).with_policy(VerificationPolicy {
        allow_unknown_keyid: true,
        ..Default::default()
    });
    assert_eq!(verify_kind(&v, &signed(Some("someone-else")), NOW), Ok(()));
    // A key without any id: nothing to compare with (documented).
    let v = Verifier::new(plain_key(), None);
    assert_eq!(verify_kind(&v, &signed(Some("anything")), NOW), Ok(()));
}

#[test]
fn max_validity_bounds_expires_minus_created() {
    let v = with(VerificationPolicy {
        max_validity: Some(60),
        ..Default::default()
    });
    let at = |expires: Option<i64>| {
        let mut m = message("{}");
        sign(&mut m, "@method", |p| {
            if let Some(e) = expires {
                p.set_expires(e).unwrap();
            }
        });
        m
    };
    let c = NOW as i64;
    assert_eq!(verify_kind(&v, &at(Some(c + 60)), NOW), Ok(()));
    assert_eq!(
        verify_kind(&v, &at(Some(c + 61)), NOW),
        Err("validity_window".into())
    );
    assert_eq!(
        verify_kind(&v, &at(Some(c)), NOW),
        Err("validity_window".into())
    );
    assert_eq!(
        verify_kind(&v, &at(Some(c - 5)), NOW - 10),
        Err("validity_window".into())
    );
    assert_eq!(
        verify_kind(&v, &at(None), NOW),
        Err("missing_parameter".into())
    );
    let e = VerificationPolicy::from_toml("max_validity = 0").unwrap_err();
    assert!(e.to_string().contains("max_validity = 0"), "{e}");
}

#[test]
fn expires_skew_is_allowed_after_expires() {
    let mut m = message("{}");
    sign(&mut m, "@method", |p| {
        p.set_expires(NOW as i64 + 10).unwrap();
    });
    let strict = with(VerificationPolicy::default());
    assert_eq!(verify_kind(&strict, &m, NOW + 10), Ok(()));
    assert_eq!(verify_kind(&strict, &m, NOW + 11), Err("expired".into()));
    let skew = with(VerificationPolicy {
        expires_skew: 5,
        ..Default::default()
    });
    assert_eq!(verify_kind(&skew, &m, NOW + 15), Ok(()));
    assert_eq!(verify_kind(&skew, &m, NOW + 16), Err("expired".into()));
}

#[test]
fn forbidden_components_must_not_be_covered() {
    let p =
        VerificationPolicy::from_toml(r#"forbidden_components = ["@query", "x-debug"]"#).unwrap();
    let v = with(p);
    let mut ok = message("{}");
    sign(&mut ok, "@method @path", |_| {});
    assert_eq!(verify_kind(&v, &ok, NOW), Ok(()));
    let mut bad = message("{}");
    sign(&mut bad, "@method @query", |_| {});
    assert_eq!(
        verify_kind(&v, &bad, NOW),
        Err("forbidden_component".into())
    );
    let e = VerificationPolicy::from_toml(
        "required_components = [\"@query\"]\nforbidden_components = [\"@query\"]",
    )
    .unwrap_err();
    assert!(e.to_string().contains("both required and forbidden"), "{e}");
    assert!(VerificationPolicy::from_toml(r#"forbidden_components = ["@nope"]"#).is_err());
}

fn with_digest(body: &str, digest_of: &str) -> HttpMessage {
    use aws_lc_rs::digest;
    let mut m = message(body);
    let d = digest::digest(&digest::SHA256, digest_of.as_bytes());
    m.append_header(
        "Content-Digest",
        &format!(
            "sha-256=:{}:",
            base64::engine::general_purpose::STANDARD.encode(d)
        ),
    );
    m
}

#[test]
fn content_digest_is_required_and_checked_against_the_body() {
    let v = with(VerificationPolicy::from_yaml("require_content_digest: true").unwrap());
    let mut ok = with_digest("{\"a\":1}", "{\"a\":1}");
    sign(&mut ok, "@method content-digest", |_| {});
    assert_eq!(verify_kind(&v, &ok, NOW), Ok(()));
    // The body was changed after signing: the signature still verifies, the digest does not.
    let mut tampered = with_digest("{\"a\":2}", "{\"a\":1}");
    sign(&mut tampered, "@method content-digest", |_| {});
    assert_eq!(
        verify_kind(&v, &tampered, NOW),
        Err("content_digest_mismatch".into())
    );
    let lax = with(VerificationPolicy::default());
    assert_eq!(verify_kind(&lax, &tampered, NOW), Ok(()));
    let check = with(VerificationPolicy {
        check_content_digest: true,
        ..Default::default()
    });
    assert_eq!(
        verify_kind(&check, &tampered, NOW),
        Err("content_digest_mismatch".into())
    );
    // Not covered.
    let mut uncovered = with_digest("{}", "{}");
    sign(&mut uncovered, "@method", |_| {});
    assert_eq!(
        verify_kind(&v, &uncovered, NOW),
        Err("required_component_not_covered".into())
    );
}

fn jwks(keys: &[String]) -> KeySet {
    KeySet::from_jwks(&format!(r#"{{"keys":[{}]}}"#, keys.join(","))).unwrap()
}

#[test]
fn a_key_set_selects_by_kid_and_honours_revocation_and_use() {
    let set = jwks(&[
        jwk("a", ""),
        jwk("b", r#","use":"sig","key_ops":["verify"]"#),
        jwk("enc", r#","use":"enc""#),
        jwk("signonly", r#","key_ops":["sign"]"#),
    ]);
    assert_eq!(set.len(), 4);
    let v = Verifier::with_key_set(set.clone(), None);
    assert_eq!(verify_kind(&v, &signed(Some("a")), NOW), Ok(()));
    assert_eq!(verify_kind(&v, &signed(Some("b")), NOW), Ok(()));
    assert_eq!(
        verify_kind(&v, &signed(Some("zz")), NOW),
        Err("unknown_key".into())
    );
    assert_eq!(
        verify_kind(&v, &signed(None), NOW),
        Err("unknown_key".into())
    );
    assert_eq!(
        verify_kind(&v, &signed(Some("enc")), NOW),
        Err("key_use_not_allowed".into())
    );
    assert_eq!(
        verify_kind(&v, &signed(Some("signonly")), NOW),
        Err("key_use_not_allowed".into())
    );
    let revoked = Verifier::with_key_set(set, None)
        .with_policy(VerificationPolicy::from_toml(r#"revoked_keyids = ["a"]"#).unwrap());
    assert_eq!(
        verify_kind(&revoked, &signed(Some("a")), NOW),
        Err("key_revoked".into())
    );
    assert_eq!(verify_kind(&revoked, &signed(Some("b")), NOW), Ok(()));
    // A one-key set verifies a signature without keyid.
    let one = Verifier::with_key_set(jwks(&[jwk("a", "")]), None);
    assert_eq!(verify_kind(&one, &signed(None), NOW), Ok(()));
    // A verify-only JWK cannot sign.
    let e = Signer::new(
        Key::from_jwk(&jwk("v", r#","key_ops":["verify"]"#)).unwrap(),
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "key_use_not_allowed");
    // Bad sets are clear errors.
    for (text, why) in [
        (r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#, "no `kid`"),
        (
            &format!(r#"{{"keys":[{},{}]}}"#, jwk("a", ""), jwk("a", "")),
            "twice",
        ),
        (r#"{"nokeys":[]}"#, "`keys` array"),
        (
            r#"{"keys":[{"kty":"oct","k":"AAAA","kid":"x","use":1}]}"#,
            "`use` must be a string",
        ),
    ] {
        let e = KeySet::from_jwks(text).unwrap_err().to_string();
        assert!(e.contains(why), "{text}: {e}");
    }
    assert!(KeySet::looks_like_jwks(br#" {"keys": []}"#));
    assert!(!KeySet::looks_like_jwks(jwk("a", "").as_bytes()));
}

/// A store that keeps nonces per key: the verifier passes the keyid.
#[derive(Default)]
struct PerKey(Vec<(Option<String>, String)>);

impl NonceStore for PerKey {
    fn check_and_insert(&mut self, _: &str, _: u64, _: u64) -> bool {
        panic!("the keyed method is the one called")
    }
    fn check_and_insert_for_key(
        &mut self,
        keyid: Option<&str>,
        nonce: &str,
        _: u64,
        _: u64,
    ) -> bool {
        let e = (keyid.map(str::to_string), nonce.to_string());
        if self.0.contains(&e) {
            return false;
        }
        self.0.push(e);
        true
    }
}

#[test]
fn nonce_stores_see_the_keyid() {
    let mut m = message("{}");
    sign(&mut m, "@method", |p| {
        p.set_keyid("k").unwrap();
        p.set_nonce("n-1").unwrap();
    });
    let v = Verifier::new(plain_key(), None);
    let mut store = PerKey::default();
    v.verify_with_nonce_store(&m, None, Some("sig"), NOW, &mut store)
        .unwrap();
    assert_eq!(store.0, vec![(Some("k".to_string()), "n-1".to_string())]);
    let e = v
        .verify_with_nonce_store(&m, None, Some("sig"), NOW, &mut store)
        .unwrap_err();
    assert_eq!(e.kind(), "nonce_replayed");
}

#[test]
fn parameters_can_be_put_in_any_order() {
    let mut p = SignatureParams::new(ComponentId::parse_list("@method").unwrap());
    p.set_created(1).unwrap();
    p.set_keyid("k").unwrap();
    p.set_alg("hmac-sha256").unwrap();
    p.set_nonce("n").unwrap();
    p.reorder_params(&["alg", "keyid"]).unwrap();
    assert_eq!(
        p.serialize(),
        r#"("@method");alg="hmac-sha256";keyid="k";created=1;nonce="n""#
    );
    assert_eq!(
        p.reorder_params(&["tag"]).unwrap_err().kind(),
        "invalid_signature_parameter"
    );
    assert_eq!(
        p.reorder_params(&["alg", "alg"]).unwrap_err().kind(),
        "invalid_signature_parameter"
    );
}
