//! Regressions found by the `http_message` fuzz target (fuzz/fuzz_targets/http_message.rs).

use http_sig::{Error, HttpMessage};

/// A status code of three digits below 100 was accepted ("020" became 20) and serialized as
/// `HTTP/1.1 20 O`, which does not parse: `parse(to_bytes(m))` failed. RFC 9110 §15: "All valid
/// status codes are within the range of 100 to 599, inclusive." Fuzz input (after the target's
/// first byte): `HTTP/1\x1d.TP/1' 020 O\n\n`.
#[test]
fn status_code_outside_100_to_599_is_refused() {
    for raw in [
        &b"HTTP/1\x1d.TP/1' 020 O\n\n"[..],
        b"HTTP/1.1 000 Zero\r\n\r\n",
        b"HTTP/1.1 099\r\n\r\n",
        b"HTTP/1.1 600 Beyond\r\n\r\n",
        b"HTTP/1.1 999 Beyond\r\n\r\n",
    ] {
        match HttpMessage::parse(raw) {
            Err(Error::InvalidMessage(m)) => {
                assert!(m.contains("status code"), "{m}");
                assert!(
                    m.contains("100") && m.contains("599"),
                    "the message gives the range: {m}"
                );
            }
            other => panic!(
                "{:?}: {other:?}, expected InvalidMessage",
                String::from_utf8_lossy(raw)
            ),
        }
    }
}

/// The edges of the range still parse and round-trip.
#[test]
fn status_codes_100_and_599_round_trip() {
    for raw in [
        &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
        b"HTTP/1.1 599 Edge\r\n\r\n",
    ] {
        let m = HttpMessage::parse(raw).expect("parses");
        let again = HttpMessage::parse(&m.to_bytes()).expect("own serialization parses");
        assert_eq!(again, m);
    }
}
