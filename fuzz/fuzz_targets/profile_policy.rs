//! Signing profiles (`SigningProfile` from TOML/YAML) and verification policies
//! (`VerificationPolicy` from TOML/YAML). The first byte chooses which. A profile that loads must
//! sign a request whose signature our verifier accepts (no silent success); a policy that loads
//! judges parameters with an answer, never a panic. Profiles naming a key *file* are not loaded
//! (the fuzzer must not read files of this machine): the `ProfileConfig` is parsed with the same
//! deserializers `SigningProfile::from_toml` / `from_yaml` use (toml, serde_norway), then
//! `SigningProfile::from_config` runs on it.
#![no_main]

use http_sig::{
    HttpMessage, ProfileConfig, SignatureParams, SigningProfile, VerificationPolicy, Verifier,
    find_signature,
};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000;

fn request() -> HttpMessage {
    HttpMessage::parse(
        b"POST /foo?param=Value&Pet=dog HTTP/1.1\r\nHost: example.com\r\nDate: Tue, 20 Apr 2021 02:07:55 GMT\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"hello\": \"world\"}",
    )
    .expect("fixed request parses")
}

fn profile(cfg: ProfileConfig) {
    if cfg.key.file.is_some() {
        return;
    }
    let Ok(p) = SigningProfile::from_config(&cfg, None) else {
        return;
    };
    let mut msg = request();
    let params = match p.sign(&mut msg, NOW) {
        Ok(params) => params,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let entry = find_signature(&msg, "sig").expect("a signed message carries its signature");
    assert_eq!(
        entry.params, params,
        "Signature-Input differs from the params signed"
    );
    let signer = p.signer();
    let mut verifier = Verifier::new(signer.key().clone(), Some(signer.algorithm()));
    // The profile names its key: the verifier knows it by that id (RFC 9421 §3.2 step 5, our
    // keyid rule: a keyid naming no known key fails).
    if let Some(id) = params.keyid() {
        verifier = verifier.with_keyid(id);
    }
    verifier
        .verify(&msg, None, Some("sig"), NOW)
        .unwrap_or_else(|e| panic!("a loaded profile's signature does not verify: {e}"));
}

fn policy(p: VerificationPolicy) {
    // Loaded through from_toml/from_yaml, so validate() passed; it must stay true.
    p.validate().expect("a loaded policy validates");
    let mut params = SignatureParams::new(Vec::new());
    let _ = p.check(&params, NOW);
    let _ = params.set_created(NOW as i64 - 10);
    let _ = params.set_expires(NOW as i64 + 10);
    let _ = params.set_keyid("test-key");
    let _ = params.set_tag("tag");
    let _ = p.check(&params, NOW);
}

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match sel % 4 {
        0 => {
            if let Ok(cfg) = toml::from_str::<ProfileConfig>(text) {
                profile(cfg);
            }
        }
        1 => {
            if let Ok(cfg) = serde_norway::from_str::<ProfileConfig>(text) {
                profile(cfg);
            }
        }
        2 => {
            if let Ok(p) = VerificationPolicy::from_toml(text) {
                policy(p);
            }
        }
        _ => {
            if let Ok(p) = VerificationPolicy::from_yaml(text) {
                policy(p);
            }
        }
    }
});
