//! Web Bot Auth (issue 15): the key directory parser and the profile's verifier on untrusted
//! input. First byte even: the bytes are a key directory (a JWK Set): it parses or says why, and
//! what it accepted round-trips through `to_json`. Odd: the rest is an HTTP request: its
//! Signature-Agent parses or says why, and the profile's verifier (the vectors' directory, the
//! vectors' clock) answers Ok or a non-empty error, never a panic.
#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use http_sig::HttpMessage;
use http_sig::web_bot_auth::{KeyDirectory, WebBotAuthPolicy, parse_signature_agent};
use libfuzzer_sys::fuzz_target;

/// The Web Bot Auth vectors' directory (RFC 9421 B.1.4 Ed25519 key) and clock.
const DIRECTORY: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","use":"sig"}]}"#;
const NOW: u64 = 1_735_689_610;

fn directory() -> &'static KeyDirectory {
    static D: OnceLock<KeyDirectory> = OnceLock::new();
    D.get_or_init(|| KeyDirectory::parse(DIRECTORY.as_bytes()).expect("the vectors' directory"))
}

fn thumbprints(d: &KeyDirectory) -> BTreeSet<String> {
    d.thumbprints().map(str::to_string).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        match KeyDirectory::parse(rest) {
            Ok(d) => {
                let json = d
                    .to_json()
                    .unwrap_or_else(|e| panic!("a parsed directory does not serialize: {e}"));
                let back = KeyDirectory::parse(json.as_bytes())
                    .unwrap_or_else(|e| panic!("our own directory {json:?} does not parse: {e}"));
                assert_eq!(thumbprints(&back), thumbprints(&d), "round trip via {json:?}");
            }
            Err(e) => assert!(!e.to_string().is_empty(), "empty error message"),
        }
        return;
    }
    let Ok(msg) = HttpMessage::parse(rest) else {
        return;
    };
    if let Err(e) = parse_signature_agent(&msg) {
        assert!(!e.to_string().is_empty(), "empty Signature-Agent error");
    }
    if let Err(e) = WebBotAuthPolicy::default().verify(&msg, None, directory(), NOW) {
        assert!(!e.to_string().is_empty(), "empty verify error");
        assert!(!e.kind().is_empty(), "error without a kind");
    }
});
