//! The fast paths of `parse_signature_input`, `parse_signature_field` and the in-place
//! serializers must agree with the full RFC 8941 parser / serializer of the sfv crate on every
//! input: generated values mix canonical members (which the fast path takes) with the variants it
//! must leave to the full parser (several members, optional whitespace, escapes, tokens,
//! decimals, byte sequences, repeated keys, junk).

use http_sig::sfv::{self, FieldType, ListEntry, Parser};
use http_sig::{
    ComponentId, Error, HttpMessage, Key, SignatureParams, Signer, find_signature,
    parse_signature_field, parse_signature_input,
};
use proptest::prelude::*;

/// The reference for `parse_signature_input`: the sfv Dictionary parser, every member through
/// `SignatureParams::from_inner_list`, with the errors (compared as displayed) the implementation
/// gives.
fn reference_input(v: &str) -> Result<Vec<(String, SignatureParams)>, String> {
    let dict: sfv::Dictionary = Parser::new(v).parse().map_err(|e| {
        Error::InvalidSignatureInput(format!("not a valid Dictionary: {e}")).to_string()
    })?;
    let mut out = Vec::new();
    for (label, e) in &dict {
        match e {
            ListEntry::InnerList(il) => out.push((
                label.as_str().to_string(),
                SignatureParams::from_inner_list(il).map_err(|e| e.to_string())?,
            )),
            ListEntry::Item(_) => {
                return Err(Error::InvalidSignatureInput(format!(
                    "member {label:?} is not an inner list"
                ))
                .to_string());
            }
        }
    }
    Ok(out)
}

/// The reference for `parse_signature_field`: members that are byte sequences (parameters
/// ignored, as the implementation does).
fn reference_field(v: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let dict: sfv::Dictionary = Parser::new(v).parse().ok()?;
    let mut out = Vec::new();
    for (k, e) in &dict {
        match e {
            ListEntry::Item(sfv::Item {
                bare_item: sfv::BareItem::ByteSequence(b),
                ..
            }) => out.push((k.as_str().to_string(), b.clone())),
            _ => return None,
        }
    }
    Some(out)
}

/// Pieces of sf-strings, including characters that need escaping or are invalid.
fn string_body() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z@-]{0,10}",
        1 => "[a-zA-Z0-9 @;=(),:-]{0,8}",
        1 => Just("a\\\"b".to_string()),
        1 => Just("a\\\\b".to_string()),
        1 => Just("a\\b".to_string()),
        1 => Just("é".to_string()),
        1 => Just("a\tb".to_string()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z*][a-z0-9_.*-]{0,6}",
        1 => "[A-Z0-9][a-z]{0,3}",
        1 => Just(String::new()),
    ]
}

fn bare_item() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "-?[0-9]{1,17}",
        3 => string_body().prop_map(|s| format!("\"{s}\"")),
        1 => "-?[0-9]{1,4}\\.[0-9]{1,4}",
        1 => "[a-zA-Z*][a-zA-Z0-9:/!#$%&'*+.^_`|~-]{0,5}",
        1 => "\\?[0-2]",
        1 => "[A-Za-z0-9+/]{0,8}={0,2}".prop_map(|b| format!(":{b}:")),
        1 => "@-?[0-9]{1,10}",
        1 => Just("-".to_string()),
    ]
}

/// `;k`, `;k=v`, with occasional spaces after `;` (valid) or before it (invalid).
fn params() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just("  ")],
            key(),
            proptest::option::of(bare_item()),
        ),
        0..4,
    )
    .prop_map(|ps| {
        ps.into_iter()
            .map(|(sp, k, v)| match v {
                Some(v) => format!(";{sp}{k}={v}"),
                None => format!(";{sp}{k}"),
            })
            .collect()
    })
}

fn sep() -> impl Strategy<Value = &'static str> {
    prop_oneof![8 => Just(" "), 1 => Just("  "), 1 => Just(""), 1 => Just("\t")]
}

fn inner_list() -> impl Strategy<Value = String> {
    (
        prop_oneof![6 => Just(""), 1 => Just(" ")],
        proptest::collection::vec(
            (
                prop_oneof![8 => string_body().prop_map(|s| format!("\"{s}\"")), 1 => "[a-z@]{1,5}"],
                params(),
                sep(),
            ),
            0..5,
        ),
        prop_oneof![6 => Just(""), 1 => Just(" ")],
        params(),
    )
        .prop_map(|(lead, items, trail, ps)| {
            let mut s = format!("({lead}");
            let n = items.len();
            for (i, (item, p, sp)) in items.into_iter().enumerate() {
                s.push_str(&item);
                s.push_str(&p);
                if i + 1 < n {
                    s.push_str(sp);
                }
            }
            s.push_str(trail);
            s.push(')');
            s.push_str(&ps);
            s
        })
}

fn member_value() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => inner_list(),
        1 => bare_item(),
        1 => inner_list().prop_map(|l| format!("({l})")),
    ]
}

fn dictionary() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(
            (
                key(),
                prop_oneof![9 => Just("="), 1 => Just("")],
                member_value(),
            ),
            1..3,
        ),
        prop_oneof![4 => Just(", "), 1 => Just(","), 1 => Just(" , ")],
        prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just("x")],
    )
        .prop_map(|(members, comma, tail)| {
            let mut s = members
                .into_iter()
                .map(|(k, eq, v)| if eq.is_empty() { k } else { format!("{k}={v}") })
                .collect::<Vec<_>>()
                .join(comma);
            s.push_str(tail);
            s
        })
}

fn signature_dictionary() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(
            (
                key(),
                "[A-Za-z0-9+/]{0,12}={0,3}",
                prop_oneof![8 => Just(""), 1 => Just(";x=1"), 1 => Just(" "), 1 => Just("%")],
            ),
            1..3,
        ),
        prop_oneof![4 => Just(", "), 1 => Just(",")],
    )
        .prop_map(|(members, comma)| {
            members
                .into_iter()
                .map(|(k, b, tail)| format!("{k}=:{b}:{tail}"))
                .collect::<Vec<_>>()
                .join(comma)
        })
}

/// Same values, or the same error message.
fn check_input(v: &str) -> Result<(), TestCaseError> {
    let ours = parse_signature_input(v).map_err(|e| e.to_string());
    let reference = reference_input(v);
    prop_assert_eq!(ours, reference, "Signature-Input {:?}", v);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn signature_input_agrees_with_the_full_parser(v in dictionary()) {
        check_input(&v)?;
    }

    #[test]
    fn signature_field_agrees_with_the_full_parser(v in signature_dictionary()) {
        let ours = parse_signature_field(&v).ok();
        prop_assert_eq!(ours, reference_field(&v), "Signature {:?}", v);
    }

    /// Whatever printable ASCII, the result is the full parser's.
    #[test]
    fn signature_input_agrees_on_arbitrary_text(v in "[ -~]{0,40}") {
        check_input(&v)?;
        let with_prefix = format!("sig1=(\"@method\"{v}");
        check_input(&with_prefix)?;
    }

    /// The in-place serializers write the bytes of the sfv serializer, for parameters with every
    /// bare item type, including strings that need escaping.
    #[test]
    fn serialization_matches_sfv(v in inner_list()) {
        let list: Result<sfv::List, _> = Parser::new(&v).parse();
        if let Ok(list) = list
            && let [ListEntry::InnerList(il)] = list.as_slice()
            && let Ok(p) = SignatureParams::from_inner_list(il)
        {
            let sfv_text = sfv::List::from([ListEntry::InnerList(p.to_inner_list())])
                .serialize()
                .unwrap_or_default();
            prop_assert_eq!(p.serialize(), sfv_text.clone());
            for c in &p.components {
                let item = c.to_item();
                prop_assert_eq!(c.serialize(), item.serialize());
            }
            // And the canonical text goes through the fast parser to the same value.
            let parsed = parse_signature_input(&format!("sig1={sfv_text}"));
            prop_assert_eq!(parsed.ok(), Some(vec![("sig1".to_string(), p)]));
        }
    }
}

#[test]
fn signed_messages_read_back_through_the_fast_path() {
    let mut msg = HttpMessage::parse(
        b"POST /a?b=c HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n\r\n",
    )
    .expect("message");
    let key = Key::from_base64_secret("c2VjcmV0LXNlY3JldC1zZWNyZXQ=").expect("key");
    let signer = Signer::new(key, None).expect("signer");
    let mut params = SignatureParams::new(
        ComponentId::parse_list(r#""@method" "@path" content-type "@query-param";name="b""#)
            .expect("components"),
    );
    params
        .set_created(1_700_000_000)
        .and_then(|p| p.set_keyid("a \"quoted\" \\ key"))
        .and_then(|p| p.set_nonce("n"))
        .expect("params");
    let sig = signer
        .sign_message(&mut msg, None, "sig1", &params)
        .expect("sign");
    let entry = find_signature(&msg, "sig1").expect("find");
    assert_eq!(entry.params, params);
    assert_eq!(entry.signature, sig);
    // The Signature-Input member is the strict serialization, escapes included.
    assert_eq!(
        msg.header_values("signature-input").collect::<Vec<_>>(),
        vec![format!("sig1={}", params.serialize())]
    );
    assert!(
        params
            .serialize()
            .contains(r#"keyid="a \"quoted\" \\ key""#)
    );
}
