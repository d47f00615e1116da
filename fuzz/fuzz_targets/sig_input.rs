//! Signature-Input (RFC 9421 §4.1): `parse_signature_input` against sfv's full RFC 8941 parser
//! (differential: the fast path must agree with it), and serialize -> parse round trips.
#![no_main]

use http_sig::sfv::{self, FieldType, ListEntry, Parser};
use http_sig::{SignatureParams, parse_signature_input};
use libfuzzer_sys::fuzz_target;

/// What the full parser makes of `s`: the reference for the differential check.
fn reference(s: &str) -> Option<Vec<(String, SignatureParams)>> {
    let dict: sfv::Dictionary = Parser::new(s).parse().ok()?;
    let mut out = Vec::new();
    for (label, entry) in dict {
        match entry {
            ListEntry::InnerList(il) => out.push((
                label.as_str().to_string(),
                SignatureParams::from_inner_list(&il).ok()?,
            )),
            ListEntry::Item(_) => return None,
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse_signature_input(s);
    let full = reference(s);
    match (&ours, &full) {
        (Ok(a), Some(b)) => assert_eq!(a, b, "fast path and sfv disagree on {s:?}"),
        (Ok(a), None) => panic!("accepted {s:?} as {a:?}, which sfv's parser refuses"),
        (Err(e), Some(b)) => panic!("refused {s:?} ({e}), which sfv parses as {b:?}"),
        (Err(e), None) => assert!(!e.to_string().is_empty(), "empty error message"),
    }
    let Ok(entries) = ours else { return };
    // No silent success: every member re-serializes to text that parses to the same value, and
    // the strict serialization is a fixed point.
    let mut whole = Vec::new();
    for (label, params) in &entries {
        let text = params.serialize();
        let again = SignatureParams::parse(&text)
            .unwrap_or_else(|e| panic!("{label}: own serialization {text:?} does not parse: {e}"));
        assert_eq!(
            &again, params,
            "{label}: round trip through {text:?} changed the value"
        );
        assert_eq!(
            again.serialize(),
            text,
            "serialization is not a fixed point"
        );
        // The sfv serialization of the same inner list parses back too.
        let il = params.to_inner_list();
        let list = sfv::List::from(vec![ListEntry::InnerList(il)]);
        if let Some(sf) = list.serialize() {
            assert_eq!(
                SignatureParams::parse(&sf).ok().as_ref(),
                Some(params),
                "sfv's serialization {sf:?} does not round-trip"
            );
        }
        whole.push(format!("{label}={text}"));
    }
    let joined = whole.join(", ");
    if !entries.is_empty() {
        let back = parse_signature_input(&joined)
            .unwrap_or_else(|e| panic!("re-serialized field {joined:?} does not parse: {e}"));
        assert_eq!(
            back, entries,
            "field round trip through {joined:?} changed the value"
        );
    }
});
