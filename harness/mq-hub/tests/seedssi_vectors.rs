//! The `opendsu` token vectors (vectors/data/mq-hub/seedssi_tokens.json, made by an independent
//! Python generator from the format facts): our SeedSSIJWT checker accepts exactly the valid ones.

use mq_hub::codec::hex_decode;
use mq_hub::seedssi;
use serde_json::Value;

const VECTORS: &str = include_str!("../../../vectors/data/mq-hub/seedssi_tokens.json");

#[test]
fn seedssi_token_vectors() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let hub = hex_decode(v["hubPublicKey"].as_str().unwrap()).unwrap();
    assert_eq!(
        seedssi::pem_public_key(&hub),
        v["hubPublicKeyPem"].as_str().unwrap(),
        "our PEM of the hub key is the generator's byte for byte"
    );
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(tests.len() as u64, v["numberOfTests"].as_u64().unwrap());
    let mut flags_seen = std::collections::BTreeSet::new();
    for t in tests {
        let id = t["tcId"].as_u64().unwrap();
        let token = t["token"].as_str().unwrap();
        let now = t["now"].as_u64().or(v["now"].as_u64()).unwrap();
        let issuer = t["issuer"].as_str().or(v["hubIssuer"].as_str()).unwrap();
        let key = match t["key"].as_str() {
            Some("carried") => seedssi::parse(token).unwrap().carried_key().unwrap(),
            _ => hub.clone(),
        };
        let got = seedssi::check(token, &key, issuer, now);
        let want = t["result"].as_str().unwrap() == "valid";
        assert_eq!(
            got.is_ok(),
            want,
            "tcId {id} ({}): {got:?}",
            t["comment"].as_str().unwrap()
        );
        if let Err(e) = got {
            // a refusal names what is wrong
            assert!(!e.to_string().is_empty());
        }
        for f in t["flags"].as_array().unwrap() {
            flags_seen.insert(f.as_str().unwrap().to_string());
        }
    }
    for f in ["RfcExample", "Expired", "SelfMinted", "WrongIssuer"] {
        assert!(flags_seen.contains(f), "no {f} vector");
    }
}
