//! Property tests: parse(serialize(x)) == x for component identifiers and signature parameters,
//! and the parsers never panic on arbitrary input.

use http_sig::{
    ComponentId, HttpMessage, Key, SignatureParams, parse_signature_field, parse_signature_input,
};
use proptest::prelude::*;

fn field_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,15}"
}

fn component() -> impl Strategy<Value = ComponentId> {
    prop_oneof![
        (
            field_name(),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of("[a-z0-9]{1,6}")
        )
            .prop_map(|(n, sf, req, key)| {
                let mut c = ComponentId::new(&n).unwrap();
                if let Some(k) = key {
                    c = c.with_string("key", &k).unwrap();
                } else if sf {
                    c = c.with_flag("sf").unwrap();
                }
                if req {
                    c = c.with_flag("req").unwrap();
                }
                c
            }),
        prop::sample::select(vec![
            "@method",
            "@path",
            "@authority",
            "@query",
            "@status",
            "@target-uri"
        ])
        .prop_map(|n| ComponentId::new(n).unwrap()),
        "[ -~]{0,12}".prop_map(|n| ComponentId::query_param(&n).unwrap()),
    ]
}

fn params() -> impl Strategy<Value = SignatureParams> {
    (
        proptest::collection::vec(component(), 0..6),
        proptest::collection::vec(
            prop_oneof![
                (0i64..999_999_999_999).prop_map(|t| ("created".to_string(), t.to_string())),
                (0i64..999_999_999_999).prop_map(|t| ("expires".to_string(), t.to_string())),
                "[ -~]{0,20}".prop_map(|s| ("nonce".to_string(), s)),
                "[ -~]{0,20}".prop_map(|s| ("keyid".to_string(), s)),
                "[ -~]{0,20}".prop_map(|s| ("tag".to_string(), s)),
                "[a-z][a-z0-9]{0,5}".prop_map(|k| (format!("x{k}"), "unknown".to_string())),
            ],
            0..6,
        ),
    )
        .prop_map(|(mut comps, ps)| {
            // Duplicates are legal in params (the base rejects them); keep them to test order.
            comps.truncate(6);
            let mut p = SignatureParams::new(comps);
            for (k, v) in ps {
                match k.as_str() {
                    "created" => drop(p.set_created(v.parse().unwrap())),
                    "expires" => drop(p.set_expires(v.parse().unwrap())),
                    "nonce" => drop(p.set_nonce(&v)),
                    "keyid" => drop(p.set_keyid(&v)),
                    "tag" => drop(p.set_tag(&v)),
                    other => drop(p.set_param(other, http_sig::sfv::BareItem::Boolean(true))),
                }
            }
            p
        })
}

proptest! {
    #[test]
    fn component_id_round_trip(c in component()) {
        let s = c.serialize();
        let back = ComponentId::parse(&s).unwrap();
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(back.serialize(), s);
    }

    #[test]
    fn component_list_round_trip(cs in proptest::collection::vec(component(), 0..5)) {
        let s = cs.iter().map(|c| c.serialize()).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(ComponentId::parse_list(&s).unwrap(), cs);
    }

    #[test]
    fn signature_params_round_trip(p in params()) {
        let s = p.serialize();
        let back = SignatureParams::parse(&s).unwrap();
        prop_assert_eq!(back.serialize(), s.clone());
        prop_assert_eq!(&back, &p);
        // And through a Signature-Input dictionary.
        let dict = parse_signature_input(&format!("lbl={s}")).unwrap();
        prop_assert_eq!(&dict[0].1, &p);
    }

    #[test]
    fn parsers_never_panic(s in "[ -~\\r\\n]{0,80}") {
        let _ = parse_signature_input(&s);
        let _ = parse_signature_field(&s);
        let _ = ComponentId::parse_list(&s);
        let _ = HttpMessage::parse(s.as_bytes());
        let _ = Key::from_bytes(s.as_bytes());
    }

    #[test]
    fn key_loader_never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Key::from_bytes(&b);
        let _ = HttpMessage::parse(&b);
    }
}
