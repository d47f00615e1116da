//! MQ Hub encodings and DIDs: base58 and hex decode -> encode round trips, `is_hash_did`,
//! `self_certified_key` (did:key, did:ssi:key), the DID registry JSON and the hub's TOML config.
//! The first byte chooses the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mq_hub::codec::{MAX_B58_CHARS, b58, b58_decode, hex_decode, hex_encode};
use mq_hub::did::{DidRegistry, is_hash_did, self_certified_key};
use mq_hub::server::is_segment;
use mq_hub::{HubConfig, StorageConfig};

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    match sel % 5 {
        0 => match b58_decode(s) {
            Some(b) => assert_eq!(b58(&b), s, "base58 round trip"),
            None => assert!(
                s.len() > MAX_B58_CHARS
                    || s.bytes()
                        .any(|c| !c.is_ascii_alphanumeric() || b"0OIl".contains(&c)),
                "valid base58 {s:?} refused"
            ),
        },
        1 => {
            if let Some(b) = hex_decode(s) {
                assert_eq!(hex_encode(&b), s.to_ascii_lowercase(), "hex round trip");
            }
            let h = is_hash_did(s);
            assert_eq!(
                h,
                s.len() <= 64 && b58_decode(s).is_some_and(|b| b.len() == 32)
            );
            if is_segment(s) {
                assert!(!s.is_empty() && s.len() <= 128 && !s.contains('/'));
            }
        }
        2 => match self_certified_key(s) {
            Ok(Some(k)) => {
                assert!(
                    (k.len() == 33 && matches!(k[0], 2 | 3)) || (k.len() == 65 && k[0] == 4),
                    "{s:?} gave a key of {} bytes",
                    k.len()
                );
                let reg = DidRegistry::default();
                assert_eq!(reg.resolve(s).ok(), Some(k));
            }
            Ok(None) => assert!(s.starts_with("did:")),
            Err(e) => assert!(!e.to_string().is_empty()),
        },
        3 => {
            if let Ok(reg) = DidRegistry::from_json(s) {
                let _ = reg.resolve("did:web:example.com");
            }
        }
        _ => {
            if let Ok(cfg) = HubConfig::from_toml(s) {
                cfg.validate().expect("a loaded config validates");
                // Only in-memory hubs without a registry file: the fuzzer must not touch files.
                if cfg.storage == StorageConfig::Memory && cfg.did_registry.is_none() {
                    mq_hub::Hub::new(cfg).expect("a valid in-memory config makes a hub");
                }
            }
        }
    }
});
