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

/// A reason phrase with a control character ("O\x0b") was accepted, and `to_bytes` trimmed it
/// away (`trim_end` takes VT, and Unicode white space such as U+0085, as white space), so
/// `parse(to_bytes(m)) != m`. RFC 9112 §4: `reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )`.
/// Found by the http_message fuzz target (10-minute run, crash-189f8593...).
#[test]
fn reason_phrase_with_control_characters_is_refused() {
    for raw in [
        &b"HTTP/1.1 200 O\x0b\r\n\r\n"[..],
        b"HTTP/1.1 200 O\x00K\r\n\r\n",
        b"HTTP/1.1 200 O\x7f\r\n\r\n",
        b"HTTP/1.1 200 \x1b[31mred\r\n\r\n",
    ] {
        match HttpMessage::parse(raw) {
            Err(Error::InvalidMessage(m)) => {
                assert!(m.contains("reason phrase"), "{m}");
                assert!(!m.contains('\x1b'), "the message is escaped: {m:?}");
            }
            other => panic!(
                "{:?}: {other:?}, expected InvalidMessage",
                String::from_utf8_lossy(raw)
            ),
        }
    }
}

/// Reason phrases that are allowed come back as sent (trailing SP/HTAB dropped at parse),
/// including obs-text whose UTF-8 reads as Unicode white space (U+0085, U+3000).
#[test]
fn reason_phrases_round_trip() {
    for (raw, reason) in [
        (&b"HTTP/1.1 200 OK \t\r\n\r\n"[..], "OK"),
        ("HTTP/1.1 200 O\u{85}\r\n\r\n".as_bytes(), "O\u{85}"),
        ("HTTP/1.1 200 ok\u{3000}\r\n\r\n".as_bytes(), "ok\u{3000}"),
        (b"HTTP/1.1 200  two\tparts\r\n\r\n", " two\tparts"),
        (b"HTTP/1.1 204\r\n\r\n", ""),
        (b"HTTP/1.1 204 \r\n\r\n", ""),
    ] {
        let m = HttpMessage::parse(raw).expect("parses");
        let again = HttpMessage::parse(&m.to_bytes()).expect("own serialization parses");
        assert_eq!(again, m, "{:?}", String::from_utf8_lossy(raw));
        assert_eq!(again.to_bytes(), m.to_bytes());
        let text = String::from_utf8(m.to_bytes()).unwrap();
        let status = m.status().unwrap();
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status} {reason}\r\n")),
            "{text:?}"
        );
    }
}

/// RFC 9110 §5.5: a field value with NUL MUST be rejected (or NUL replaced); we reject.
#[test]
fn nul_in_a_header_line_is_refused() {
    let raw = b"GET / HTTP/1.1\r\nHost: example.com\r\nX-A: a\x00b\r\n\r\n";
    match HttpMessage::parse(raw) {
        Err(Error::InvalidMessage(m)) => assert!(m.contains("NUL"), "{m}"),
        other => panic!("{other:?}, expected InvalidMessage"),
    }
}

/// A response built by code gets the canonical reason phrase, and keeps it through a round trip.
#[test]
fn built_responses_carry_the_canonical_reason() {
    let m = HttpMessage::response(404);
    assert!(m.to_bytes().starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    assert_eq!(HttpMessage::parse(&m.to_bytes()).unwrap(), m);
}
