//! Raw HTTP/1.1 messages (`HttpMessage::parse`): parse -> serialize -> parse is the identity, and
//! everything downstream of a parsed message (Signature-Input/Signature lookup, the signature base
//! of each signature found, the `http` conversions) answers a value or an error, never a panic.
#![no_main]

use http_sig::{HttpMessage, ParseOptions, signature_base, signatures};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (opts, raw) = match data.split_first() {
        Some((b, rest)) if *b & 1 == 1 => (
            ParseOptions {
                scheme: "http".into(),
            },
            rest,
        ),
        Some((_, rest)) => (ParseOptions::default(), rest),
        None => return,
    };
    let Ok(msg) = HttpMessage::parse_with(raw, opts.clone()) else {
        return;
    };
    let bytes = msg.to_bytes();
    let again = HttpMessage::parse_with(&bytes, opts.clone())
        .unwrap_or_else(|e| panic!("own serialization does not parse: {e}\n{bytes:?}"));
    assert_eq!(again, msg, "parse(to_bytes(m)) != m");
    assert_eq!(again.to_bytes(), bytes, "to_bytes is not a fixed point");

    if let Ok(entries) = signatures(&msg) {
        for e in &entries {
            let _ = signature_base(&msg, None, &e.params);
            let _ = signature_base(&msg, Some(&msg), &e.params);
        }
    }
    if msg.is_request() {
        if let Ok(req) = msg.to_http_request() {
            let _ = HttpMessage::try_from(&req);
        }
    } else if let Ok(resp) = msg.to_http_response() {
        let _ = HttpMessage::try_from(&resp);
    }
});
