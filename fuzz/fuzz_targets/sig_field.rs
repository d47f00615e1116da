//! Signature (RFC 9421 §4.2): `parse_signature_field` against sfv's full RFC 8941 parser
//! (differential: the fast path must agree with it), and serialize -> parse round trips.
#![no_main]

use http_sig::parse_signature_field;
use http_sig::sfv::{self, BareItem, FieldType, ListEntry, Parser};
use libfuzzer_sys::fuzz_target;

fn reference(s: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let dict: sfv::Dictionary = Parser::new(s).parse().ok()?;
    let mut out = Vec::new();
    for (label, entry) in dict {
        match entry {
            ListEntry::Item(sfv::Item {
                bare_item: BareItem::ByteSequence(b),
                ..
            }) => out.push((label.as_str().to_string(), b)),
            _ => return None,
        }
    }
    Some(out)
}

fn b64(bytes: &[u8]) -> String {
    // sfv serializes a byte sequence as `:base64:`; reuse it rather than another encoder.
    let item = sfv::Item::new(BareItem::ByteSequence(bytes.to_vec()));
    item.serialize()
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse_signature_field(s);
    let full = reference(s);
    match (&ours, &full) {
        (Ok(a), Some(b)) => assert_eq!(a, b, "fast path and sfv disagree on {s:?}"),
        (Ok(a), None) => panic!("accepted {s:?} as {a:?}, which sfv's parser refuses"),
        (Err(e), Some(b)) => panic!("refused {s:?} ({e}), which sfv parses as {b:?}"),
        (Err(e), None) => assert!(!e.to_string().is_empty(), "empty error message"),
    }
    let Ok(entries) = ours else { return };
    if entries.is_empty() {
        return;
    }
    let joined = entries
        .iter()
        .map(|(l, b)| format!("{l}={}", b64(b)))
        .collect::<Vec<_>>()
        .join(", ");
    let back = parse_signature_field(&joined)
        .unwrap_or_else(|e| panic!("re-serialized field {joined:?} does not parse: {e}"));
    assert_eq!(
        back, entries,
        "round trip through {joined:?} changed the value"
    );
});
