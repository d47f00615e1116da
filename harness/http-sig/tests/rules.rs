//! RFC 9421 §2.1-§2.5 rules and the "commonly wrong" list: valid and invalid cases, plus key,
//! algorithm, header and policy errors. Each invalid case checks the error kind.

use http_sig::{
    Algorithm, ComponentId, HttpMessage, InMemoryNonceStore, Key, NonceStore, OnCollision,
    ParseOptions, SignatureParams, Signer, StructuredType, StructuredTypes, VerificationPolicy,
    Verifier, add_signature, component_value, component_value_with, parse_signature_field,
    parse_signature_input, signature_base, signature_base_with, signatures,
};

fn req(raw: &str) -> HttpMessage {
    HttpMessage::parse(raw.as_bytes()).unwrap()
}
fn val(m: &HttpMessage, id: &str) -> Result<String, String> {
    let id = ComponentId::parse_list(id).unwrap().remove(0);
    component_value(m, None, &id).map_err(|e| e.kind().to_string())
}
fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

const FIELDS: &str = "GET /x HTTP/1.1\r\nHost: www.example.com\r\nDate: Tue, 20 Apr 2021 02:07:56 GMT\r\nX-OWS-Header:   Leading and trailing whitespace.   \r\nX-Obs-Fold-Header: Obsolete\r\n    line folding.\r\nCache-Control: max-age=60\r\nCache-Control:    must-revalidate\r\nExample-Dict:  a=1,    b=2;x=1;y=2,   c=(a   b   c)\r\nX-Empty-Header: \r\nExample-Header: value, with, lots\r\nExample-Header: of, commas\r\n\r\n";

#[test]
fn section_2_1_field_values() {
    let m = req(FIELDS);
    assert_eq!(val(&m, "host").unwrap(), "www.example.com");
    assert_eq!(
        val(&m, "x-ows-header").unwrap(),
        "Leading and trailing whitespace."
    );
    assert_eq!(
        val(&m, "x-obs-fold-header").unwrap(),
        "Obsolete line folding."
    );
    assert_eq!(
        val(&m, "cache-control").unwrap(),
        "max-age=60, must-revalidate"
    );
    assert_eq!(
        val(&m, "example-dict").unwrap(),
        "a=1,    b=2;x=1;y=2,   c=(a   b   c)"
    );
    assert_eq!(val(&m, "x-empty-header").unwrap(), "");
    // Unquoted upper-case input is lowercased by parse_list; header lookup is case-insensitive.
    assert_eq!(
        val(&m, "Cache-Control").unwrap(),
        "max-age=60, must-revalidate"
    );
    // Absent header = error, never an empty line.
    assert_eq!(val(&m, "x-absent").unwrap_err(), "missing_component");
    // LF-only input parses the same.
    let lf = req(&FIELDS.replace("\r\n", "\n"));
    assert_eq!(
        val(&lf, "x-obs-fold-header").unwrap(),
        "Obsolete line folding."
    );
}

#[test]
fn section_2_1_1_sf_2_1_2_key_2_1_3_bs() {
    let m = req(FIELDS);
    assert_eq!(
        val(&m, r#""example-dict";sf"#).unwrap(),
        "a=1, b=2;x=1;y=2, c=(a b c)"
    );
    let d = req(
        "GET / HTTP/1.1\r\nHost: a\r\nExample-Dict:  a=1, b=2;x=1;y=2, c=(a   b    c), d\r\n\r\n",
    );
    assert_eq!(val(&d, r#""example-dict";key="a""#).unwrap(), "1");
    assert_eq!(val(&d, r#""example-dict";key="d""#).unwrap(), "?1");
    assert_eq!(val(&d, r#""example-dict";key="b""#).unwrap(), "2;x=1;y=2");
    assert_eq!(val(&d, r#""example-dict";key="c""#).unwrap(), "(a b c)");
    assert_eq!(
        val(&d, r#""example-dict";key="zz""#).unwrap_err(),
        "missing_component"
    );
    assert_eq!(
        val(&m, r#""example-header";bs"#).unwrap(),
        ":dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:"
    );
    let one =
        req("GET / HTTP/1.1\r\nHost: a\r\nExample-Header: value, with, lots, of, commas\r\n\r\n");
    assert_eq!(
        val(&one, r#""example-header";bs"#).unwrap(),
        ":dmFsdWUsIHdpdGgsIGxvdHMsIG9mLCBjb21tYXM=:"
    );
    // Unknown structured type, incompatible params, unknown params, trailers.
    assert_eq!(
        val(&m, r#""cache-control";sf"#).unwrap_err(),
        "structured_field"
    );
    assert_eq!(
        val(&m, r#""example-dict";bs;sf"#).unwrap_err(),
        "incompatible_parameters"
    );
    assert_eq!(
        val(&m, r#""example-dict";bs;key="a""#).unwrap_err(),
        "incompatible_parameters"
    );
    assert_eq!(
        val(&m, r#""example-dict";foo"#).unwrap_err(),
        "unknown_component_parameter"
    );
    assert_eq!(
        val(&m, r#""example-dict";key=1"#).unwrap_err(),
        "invalid_component_parameter"
    );
    // RFC 9421 §2.1.4: `tr` reads the trailer section; this message has no chunked body, so no
    // trailers, and a header of the same name is not a substitute.
    assert_eq!(val(&m, r#""date";tr"#).unwrap_err(), "missing_component");
    // A malformed dictionary with ;key.
    let bad = req("GET / HTTP/1.1\r\nHost: a\r\nExample-Dict: a=(\r\n\r\n");
    assert_eq!(
        val(&bad, r#""example-dict";key="a""#).unwrap_err(),
        "structured_field"
    );
}

#[test]
fn section_2_2_derived_components() {
    let m = HttpMessage::parse_with(
        b"POST /path?param=value HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
        ParseOptions {
            scheme: "http".into(),
        },
    )
    .unwrap();
    assert_eq!(val(&m, "@method").unwrap(), "POST");
    assert_eq!(
        val(&m, "@target-uri").unwrap(),
        "http://www.example.com/path?param=value"
    );
    assert_eq!(val(&m, "@authority").unwrap(), "www.example.com");
    assert_eq!(val(&m, "@scheme").unwrap(), "http");
    assert_eq!(val(&m, "@request-target").unwrap(), "/path?param=value");
    assert_eq!(val(&m, "@path").unwrap(), "/path");
    assert_eq!(val(&m, "@query").unwrap(), "?param=value");
    assert_eq!(val(&m, "@status").unwrap_err(), "status_in_request");
    assert_eq!(val(&m, "@nope").unwrap_err(), "unknown_derived_component");
    assert_eq!(val(&m, "@method;req").unwrap_err(), "req_on_request");
    assert_eq!(
        val(&m, "@method;name=\"x\"").unwrap_err(),
        "unknown_component_parameter"
    );
    // Method case preserved; authority normalized; default port dropped; https default scheme.
    let m2 = req("get /?a HTTP/1.1\r\nHost: WWW.Example.COM:443\r\n\r\n");
    assert_eq!(val(&m2, "@method").unwrap(), "get");
    assert_eq!(val(&m2, "@authority").unwrap(), "www.example.com");
    assert_eq!(
        val(&m2, "@target-uri").unwrap(),
        "https://www.example.com/?a"
    );
    let m3 = req("GET /x HTTP/1.1\r\nHost: example.com:8443\r\n\r\n");
    assert_eq!(val(&m3, "@authority").unwrap(), "example.com:8443");
    assert_eq!(val(&m3, "@query").unwrap(), "?");
    // Absolute, authority and asterisk forms.
    let abs = req("GET https://www.example.com/path?param=value HTTP/1.1\r\n\r\n");
    assert_eq!(
        val(&abs, "@request-target").unwrap(),
        "https://www.example.com/path?param=value"
    );
    assert_eq!(val(&abs, "@authority").unwrap(), "www.example.com");
    assert_eq!(val(&abs, "@path").unwrap(), "/path");
    let empty_path = req("GET http://www.example.com?x=1 HTTP/1.1\r\n\r\n");
    assert_eq!(val(&empty_path, "@path").unwrap(), "/");
    assert_eq!(val(&empty_path, "@query").unwrap(), "?x=1");
    let connect = req("CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert_eq!(
        val(&connect, "@request-target").unwrap(),
        "www.example.com:80"
    );
    let star = req("OPTIONS * HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert_eq!(val(&star, "@request-target").unwrap(), "*");
    let q = req("GET /path?param=value&foo=bar&baz=bat%2Dman HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        val(&q, "@query").unwrap(),
        "?param=value&foo=bar&baz=bat%2Dman"
    );
    // No Host: @authority is an error.
    let nohost = req("GET / HTTP/1.1\r\n\r\n");
    assert_eq!(val(&nohost, "@authority").unwrap_err(), "missing_component");
    // Response: @status ok, request components need ;req.
    let res = req("HTTP/1.1 200 OK\r\nDate: x\r\n\r\n");
    assert_eq!(val(&res, "@status").unwrap(), "200");
    assert_eq!(
        val(&res, "@method").unwrap_err(),
        "request_component_on_response"
    );
    assert_eq!(
        val(&res, "@method;req").unwrap_err(),
        "missing_related_request"
    );
    let r = req("PUT /a HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n");
    let id = ComponentId::parse(r#""@method";req"#).unwrap();
    assert_eq!(component_value(&res, Some(&r), &id).unwrap(), "PUT");
    let id = ComponentId::parse(r#""x";req"#).unwrap();
    assert_eq!(component_value(&res, Some(&r), &id).unwrap(), "1");
}

fn val_with(m: &HttpMessage, id: &str, types: &StructuredTypes) -> Result<String, String> {
    let id = ComponentId::parse_list(id).unwrap().remove(0);
    component_value_with(m, None, &id, types).map_err(|e| e.kind().to_string())
}

#[test]
fn section_2_1_1_application_declared_structured_types() {
    let m = req(
        "GET /x HTTP/1.1\r\nHost: a\r\nX-List:  a,   b;q=1.0,  (c   d)\r\nX-Item:   \"q\";p=?1\r\nX-Dict: a=001\r\nX-Dict:   b=?1, c=?0\r\nContent-Digest: sha-256=:AA==:\r\n\r\n",
    );
    let types = StructuredTypes::default()
        .with("X-List", StructuredType::List)
        .with("x-item", StructuredType::Item)
        .with("x-dict", StructuredType::Dictionary);
    assert_eq!(
        val_with(&m, r#""x-list";sf"#, &types).unwrap(),
        "a, b;q=1.0, (c d)"
    );
    assert_eq!(val_with(&m, r#""x-item";sf"#, &types).unwrap(), "\"q\";p");
    assert_eq!(
        val_with(&m, r#""x-dict";sf"#, &types).unwrap(),
        "a=1, b, c=?0"
    );
    // Undeclared: unknown type, as with the default table.
    assert_eq!(val(&m, r#""x-dict";sf"#).unwrap_err(), "structured_field");
    // The built-in table stays underneath declarations, and can be switched off.
    assert_eq!(
        val_with(&m, r#""content-digest";sf"#, &types).unwrap(),
        "sha-256=:AA==:"
    );
    assert_eq!(
        val_with(&m, r#""content-digest";sf"#, &StructuredTypes::none()).unwrap_err(),
        "structured_field"
    );
    // A declaration overrides the table; `key` on a non-dictionary is refused.
    let as_item = StructuredTypes::default().with("content-digest", StructuredType::Item);
    assert_eq!(
        val_with(&m, r#""content-digest";key="sha-256""#, &as_item).unwrap_err(),
        "structured_field"
    );
    // `bs` with `sf` is incompatible whatever the type (RFC 9421 §2.1.3).
    assert_eq!(
        val_with(&m, r#""x-item";bs;sf"#, &types).unwrap_err(),
        "incompatible_parameters"
    );
    // The declared types reach the base, the signer and the verifier.
    let params = SignatureParams::new(ComponentId::parse_list(r#""x-dict";sf"#).unwrap());
    assert_eq!(
        signature_base_with(&m, None, &params, &types).unwrap(),
        "\"x-dict\";sf: a=1, b, c=?0\n\"@signature-params\": (\"x-dict\";sf)"
    );
    let key = Key::from_base64_secret("c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
    let mut signed = m.clone();
    let plain = Signer::new(key.clone(), None).unwrap();
    assert_eq!(
        plain
            .sign_message(&mut signed, None, "s", &params)
            .unwrap_err()
            .kind(),
        "structured_field"
    );
    plain
        .with_structured_types(types.clone())
        .sign_message(&mut signed, None, "s", &params)
        .unwrap();
    let v = Verifier::new(key.clone(), None);
    assert_eq!(
        v.verify(&signed, None, Some("s"), 0).unwrap_err().kind(),
        "structured_field"
    );
    v.with_structured_types(types)
        .verify(&signed, None, Some("s"), 0)
        .unwrap();
    assert_eq!(
        "dictionary".parse::<StructuredType>().unwrap(),
        StructuredType::Dictionary
    );
    assert_eq!(
        "dict".parse::<StructuredType>().unwrap_err().kind(),
        "invalid_config"
    );
}

/// Issue 17: RFC 9112 §3.3 gives the asterisk-form and the authority-form an empty path and
/// query, so `@path` is `/` (RFC 9421 §2.2.6: an empty path is `/`), `@query` is `?` (§2.2.7: a
/// `?` alone when there is no query) and a `@query-param` is missing. (It used to be
/// `component_not_applicable`, stricter than the RFC.)
#[test]
fn section_2_2_path_query_of_asterisk_and_authority_form() {
    let star = req("OPTIONS * HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    let connect =
        req("CONNECT www.example.com:8443 HTTP/1.1\r\nHost: www.example.com:8443\r\n\r\n");
    for m in [&star, &connect] {
        assert_eq!(val(m, "@path").unwrap(), "/");
        assert_eq!(val(m, "@query").unwrap(), "?");
        assert_eq!(
            val(m, r#""@query-param";name="a""#).unwrap_err(),
            "query_param_missing"
        );
    }
    assert_eq!(val(&star, "@authority").unwrap(), "www.example.com");
    assert_eq!(
        val(&star, "@target-uri").unwrap(),
        "https://www.example.com"
    );
    assert_eq!(val(&connect, "@authority").unwrap(), "www.example.com:8443");
    assert_eq!(
        val(&connect, "@target-uri").unwrap(),
        "https://www.example.com:8443"
    );
    // RFC 9112 §3.2.4: OPTIONS with an absolute-form URI without path or query is the
    // asterisk-form request: the same @target-uri.
    let abs = req("OPTIONS https://WWW.example.com:443 HTTP/1.1\r\n\r\n");
    assert_eq!(val(&abs, "@target-uri").unwrap(), "https://www.example.com");
}

/// Issue 17, "one URI, two bases": the same target URI sent in origin-form with a Host field and
/// in absolute-form gives the same `@target-uri`, `@authority` and `@scheme` (RFC 9421 §1.3,
/// RFC 9110 §4.2.3 normalization, RFC 9110 §7.1 reconstruction).
#[test]
fn section_2_2_2_one_uri_one_value_whatever_the_request_line_form() {
    let cases = [
        // (absolute-form target, origin-form target, Host, normalized target URI)
        (
            "https://Seller.Example.COM/p",
            "/p",
            "Seller.Example.COM",
            "https://seller.example.com/p",
        ),
        (
            "HTTPS://seller.example.com:443/p?q=1",
            "/p?q=1",
            "seller.example.com:443",
            "https://seller.example.com/p?q=1",
        ),
        (
            "http://seller.example.com:80/p",
            "/p",
            "seller.example.com:80",
            "http://seller.example.com/p",
        ),
        (
            "https://[2001:DB8::1]:443/p",
            "/p",
            "[2001:db8::1]",
            "https://[2001:db8::1]/p",
        ),
        (
            "https://seller.example.com",
            "/",
            "seller.example.com",
            "https://seller.example.com/",
        ),
        (
            "https://seller.example.com?x",
            "/?x",
            "seller.example.com",
            "https://seller.example.com/?x",
        ),
        (
            "https://seller.example.com:/p",
            "/p",
            "seller.example.com:",
            "https://seller.example.com/p",
        ),
        (
            "https://seller.example.com:8443/p",
            "/p",
            "Seller.example.com:8443",
            "https://seller.example.com:8443/p",
        ),
    ];
    for (abs, origin, host, uri) in cases {
        let scheme = if uri.starts_with("http:") {
            "http"
        } else {
            "https"
        };
        let a = req(&format!(
            "GET {abs} HTTP/1.1\r\nHost: ignored.example\r\n\r\n"
        ));
        let o = HttpMessage::parse_with(
            format!("GET {origin} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
            ParseOptions {
                scheme: scheme.into(),
            },
        )
        .unwrap();
        for m in [&a, &o] {
            assert_eq!(val(m, "@target-uri").unwrap(), uri, "{abs} / {origin}");
            assert_eq!(val(m, "@scheme").unwrap(), scheme, "{abs}");
            let authority = uri.split_once("://").unwrap().1;
            let authority = &authority[..authority.find(['/', '?']).unwrap_or(authority.len())];
            assert_eq!(val(m, "@authority").unwrap(), authority, "{abs}");
        }
    }
}

/// Issue 17: malformed authorities and fragments are typed errors for every component that
/// needs the target URI, not a base with an empty `@authority`.
#[test]
fn section_2_2_malformed_target_uris_are_typed_errors() {
    for abs in [
        "https:///p",
        "https://:443/p",
        "https://user@/p",
        "https://user@example.com/p",
        "https://[::1/p",
        "https://[fe80::1%25eth0]/p",
        "https://example.com:99999/p",
    ] {
        let m = req(&format!("GET {abs} HTTP/1.1\r\n\r\n"));
        for id in ["@target-uri", "@authority"] {
            assert_eq!(val(&m, id).unwrap_err(), "invalid_authority", "{abs} {id}");
        }
    }
    let m = req("GET /p HTTP/1.1\r\nHost: user@example.com\r\n\r\n");
    assert_eq!(val(&m, "@authority").unwrap_err(), "invalid_authority");
    let m = req("GET /p HTTP/1.1\r\nHost: \r\n\r\n");
    assert_eq!(val(&m, "@target-uri").unwrap_err(), "invalid_authority");
    for t in ["/p#frag", "https://example.com/p#frag"] {
        let m = req(&format!("GET {t} HTTP/1.1\r\nHost: example.com\r\n\r\n"));
        for id in ["@target-uri", "@path", "@query"] {
            assert_eq!(
                val(&m, id).unwrap_err(),
                "invalid_request_target",
                "{t} {id}"
            );
        }
        // @request-target is the request-target as sent.
        assert_eq!(val(&m, "@request-target").unwrap(), t);
    }
}

#[test]
fn section_2_2_8_query_params() {
    let m = req("GET /path?param=value&foo=bar&baz=batman&qux= HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(val(&m, r#""@query-param";name="baz""#).unwrap(), "batman");
    assert_eq!(val(&m, r#""@query-param";name="qux""#).unwrap(), "");
    assert_eq!(val(&m, r#""@query-param";name="param""#).unwrap(), "value");
    assert_eq!(
        val(&m, r#""@query-param";name="missing""#).unwrap_err(),
        "query_param_missing"
    );
    assert_eq!(
        val(&m, "@query-param").unwrap_err(),
        "query_param_name_missing"
    );
    let e = req(
        "GET /parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(
        val(&e, r#""@query-param";name="var""#).unwrap(),
        "this%20is%20a%20big%0Amultiline%20value"
    );
    assert_eq!(
        val(&e, r#""@query-param";name="bar""#).unwrap(),
        "with%20plus%20whitespace"
    );
    assert_eq!(
        val(&e, r#""@query-param";name="fa%C3%A7ade%22%3A%20""#).unwrap(),
        "something"
    );
    // The `name` parameter is the encoded name: compared as given, never decoded itself.
    let sp = req("GET /?a%20b=1&c+d=2&e%2Bf=3 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(val(&sp, r#""@query-param";name="a%20b""#).unwrap(), "1");
    assert_eq!(val(&sp, r#""@query-param";name="c%20d""#).unwrap(), "2");
    assert_eq!(val(&sp, r#""@query-param";name="e%2Bf""#).unwrap(), "3");
    for raw in ["a b", "c+d", "c d", "e+f", "e%2bf"] {
        let id = format!(r#""@query-param";name="{raw}""#);
        assert_eq!(val(&sp, &id).unwrap_err(), "query_param_missing", "{raw}");
    }
    let rep = req("GET /p?a=1&a=2 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        val(&rep, r#""@query-param";name="a""#).unwrap_err(),
        "query_param_repeated"
    );
}

#[test]
fn section_2_5_base_rules() {
    let m = req(FIELDS);
    let p = |s: &str| SignatureParams::new(ComponentId::parse_list(s).unwrap());
    assert_eq!(
        signature_base(&m, None, &p(r#""date" "date""#))
            .unwrap_err()
            .kind(),
        "duplicate_component"
    );
    // Same name with different parameters is fine.
    signature_base(&m, None, &p(r#""example-dict" "example-dict";sf"#)).unwrap();
    assert_eq!(
        signature_base(&m, None, &p("@signature-params"))
            .unwrap_err()
            .kind(),
        "signature_params_covered"
    );
    // Non-ASCII in a covered field is an error, but ;bs wraps it.
    let na = HttpMessage::parse("GET / HTTP/1.1\r\nHost: a\r\nX-Name: façade\r\n\r\n".as_bytes())
        .unwrap();
    assert_eq!(
        signature_base(&na, None, &p("x-name")).unwrap_err().kind(),
        "non_ascii"
    );
    assert!(
        signature_base(&na, None, &p(r#""x-name";bs"#))
            .unwrap()
            .contains(":ZmHDp2FkZQ==:")
    );
    // Empty list: just the params line.
    assert_eq!(
        signature_base(&m, None, &p("")).unwrap(),
        "\"@signature-params\": ()"
    );
    // Upper-case field names in Signature-Input are rejected.
    assert_eq!(
        ComponentId::parse(r#""Date""#).unwrap_err().kind(),
        "invalid_component_id"
    );
    assert_eq!(
        ComponentId::parse("date").unwrap_err().kind(),
        "invalid_component_id"
    );
}

#[test]
fn signature_fields_parse_and_append() {
    assert_eq!(
        parse_signature_input("sig1=(").unwrap_err().kind(),
        "invalid_signature_input"
    );
    assert_eq!(
        parse_signature_input("sig1=\"x\"").unwrap_err().kind(),
        "invalid_signature_input"
    );
    assert_eq!(
        parse_signature_input("sig1=(date)").unwrap_err().kind(),
        "invalid_signature_input"
    );
    assert_eq!(
        parse_signature_input("sig1=();created=\"x\"")
            .unwrap_err()
            .kind(),
        "invalid_signature_input"
    );
    assert_eq!(
        parse_signature_input("sig1=();keyid=1").unwrap_err().kind(),
        "invalid_signature_input"
    );
    let ok =
        parse_signature_input(r#"a=("@method");created=1;zzz="keep";keyid="k", b=()"#).unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(
        ok[0].1.serialize(),
        r#"("@method");created=1;zzz="keep";keyid="k""#
    );
    assert_eq!(
        parse_signature_field("a=:!!!:").unwrap_err().kind(),
        "bad_base64"
    );
    assert_eq!(
        parse_signature_field("a=(1)").unwrap_err().kind(),
        "invalid_signature_header"
    );
    assert_eq!(
        parse_signature_field("a=:AAAA:").unwrap()[0].1,
        vec![0, 0, 0]
    );

    let mut m = req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let p = SignatureParams::new(vec![]);
    add_signature(&mut m, "one", &p, b"1", OnCollision::Error).unwrap();
    add_signature(&mut m, "two", &p, b"2", OnCollision::Error).unwrap();
    let all = signatures(&m).unwrap();
    assert_eq!(
        all.iter().map(|e| e.label.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert_eq!(
        add_signature(&mut m, "one", &p, b"3", OnCollision::Error)
            .unwrap_err()
            .kind(),
        "label_collision"
    );
    add_signature(&mut m, "one", &p, b"3", OnCollision::Replace).unwrap();
    assert_eq!(signatures(&m).unwrap()[0].signature, b"3");
    assert_eq!(
        add_signature(&mut m, "Bad Label", &p, b"3", OnCollision::Error)
            .unwrap_err()
            .kind(),
        "invalid_signature_input"
    );
    // A Signature member without Signature-Input.
    let mut orphan = req("GET / HTTP/1.1\r\nHost: a\r\nSignature: x=:AAAA:\r\n\r\n");
    assert_eq!(signatures(&orphan).unwrap_err().kind(), "label_mismatch");
    orphan.remove_header("signature");
    assert!(signatures(&orphan).unwrap().is_empty());
}

#[test]
fn keys_formats_errors_and_keyids() {
    let pem = Key::from_file(data("test-key-ed25519.pem")).unwrap();
    let jwk = Key::from_file(data("test-key-ed25519.jwk.json")).unwrap();
    let spki = Key::from_file(data("test-key-ed25519.pub.pem")).unwrap();
    assert_eq!(pem.default_keyid(), jwk.default_keyid());
    assert_eq!(pem.default_keyid(), spki.default_keyid());
    assert_eq!(jwk.kid(), Some("test-key-ed25519"));
    assert!(!spki.can_sign());
    assert_eq!(
        Signer::new(spki, None).unwrap_err().kind(),
        "public_key_cannot_sign"
    );
    let ec = Key::from_file(data("test-key-ecc-p256.pem")).unwrap();
    assert_eq!(ec.algorithms(), vec![Algorithm::EcdsaP256Sha256]);
    assert_eq!(
        ec.default_keyid(),
        Key::from_file(data("test-key-ecc-p256.jwk.json"))
            .unwrap()
            .default_keyid()
    );
    let e = ec.check_algorithm(Algorithm::Ed25519).unwrap_err();
    assert_eq!(e.kind(), "key_algorithm_mismatch");
    assert!(
        e.to_string().contains("ed25519") && e.to_string().contains("P-256"),
        "{e}"
    );
    let rsa = Key::from_file(data("test-key-rsa.pem")).unwrap();
    assert_eq!(
        rsa.algorithms(),
        vec![Algorithm::RsaPssSha512, Algorithm::RsaV15Sha256]
    );
    let pss = Key::from_file(data("test-key-rsa-pss.pem")).unwrap();
    assert_eq!(pss.algorithms(), vec![Algorithm::RsaPssSha512]);
    assert_eq!(
        Key::from_file(data("test-key-rsa.pub.pem"))
            .unwrap()
            .default_keyid(),
        rsa.default_keyid()
    );
    // JWK alg honoured.
    let oct = Key::from_jwk(r#"{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}"#).unwrap();
    assert_eq!(oct.algorithms(), vec![Algorithm::HmacSha256]);
    let e = Key::from_jwk(r#"{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","alg":"ES256"}"#).unwrap_err();
    assert_eq!(e.kind(), "key_algorithm_mismatch");
    let e = Key::from_jwk(r#"{"kty":"oct","k":"c2VjcmV0","alg":"XX1"}"#).unwrap_err();
    assert_eq!(e.kind(), "unsupported_algorithm");
    // Errors: truncated, wrong, garbage.
    for (bad, kind) in [
        (
            &b"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}"[..],
            "invalid_key",
        ),
        (
            b"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"!!\"}",
            "bad_base64",
        ),
        (b"{\"kty\":\"XYZ\"}", "invalid_key"),
        (b"{not json", "invalid_key"),
        (
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n-----END PRIVATE KEY-----\n",
            "invalid_key",
        ),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "invalid_key",
        ),
        (b"not base64 at all ***", "bad_base64"),
        (b"", "invalid_key"),
        (&[0x30, 0x82, 0xff, 0xff, 0x00][..], "invalid_key"),
    ] {
        assert_eq!(
            Key::from_bytes(bad).unwrap_err().kind(),
            kind,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // Truncated PEM body of a real key.
    let text = std::fs::read_to_string(data("test-key-rsa.pem")).unwrap();
    let cut: String = text
        .lines()
        .take(8)
        .chain(["-----END RSA PRIVATE KEY-----"])
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        Key::from_bytes(cut.as_bytes()).unwrap_err().kind(),
        "invalid_key"
    );
    assert_eq!(
        Key::from_file("/nonexistent/key.pem").unwrap_err().kind(),
        "io"
    );
    assert_eq!(
        "rsa-sha1".parse::<Algorithm>().unwrap_err().kind(),
        "unsupported_algorithm"
    );
}

fn signed(now: i64, extra: impl FnOnce(&mut SignatureParams)) -> (HttpMessage, Key) {
    let key = Key::from_base64_secret("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0").unwrap();
    let mut m =
        req("POST /a?b=c HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n\r\nhi");
    let mut p =
        SignatureParams::new(ComponentId::parse_list("@method @path content-type").unwrap());
    p.set_created(now).unwrap();
    extra(&mut p);
    Signer::new(key.clone(), None)
        .unwrap()
        .sign_message(&mut m, None, "s", &p)
        .unwrap();
    (m, key)
}

#[test]
fn verifier_policy() {
    let t = 1_700_000_000i64;
    let now = t as u64;
    let (m, key) = signed(t, |p| {
        p.set_expires(t + 60)
            .unwrap()
            .set_nonce("n1")
            .unwrap()
            .set_tag("app")
            .unwrap()
            .set_alg("hmac-sha256")
            .unwrap();
    });
    let v = Verifier::new(key.clone(), None);
    v.verify(&m, None, Some("s"), now).unwrap();
    assert_eq!(
        v.verify(&m, None, Some("s"), now + 61).unwrap_err().kind(),
        "expired"
    );
    assert_eq!(
        v.verify(&m, None, Some("s"), now - 5).unwrap_err().kind(),
        "created_in_future"
    );
    let skew = VerificationPolicy {
        allowed_skew: 10,
        ..Default::default()
    };
    Verifier::new(key.clone(), None)
        .with_policy(skew)
        .verify(&m, None, Some("s"), now - 5)
        .unwrap();
    let old = VerificationPolicy {
        max_age: Some(30),
        ..Default::default()
    };
    assert_eq!(
        Verifier::new(key.clone(), None)
            .with_policy(old)
            .verify(&m, None, Some("s"), now + 31)
            .unwrap_err()
            .kind(),
        "too_old"
    );
    let tag = VerificationPolicy {
        expected_tag: Some("other".into()),
        ..Default::default()
    };
    assert_eq!(
        Verifier::new(key.clone(), None)
            .with_policy(tag)
            .verify(&m, None, Some("s"), now)
            .unwrap_err()
            .kind(),
        "tag_mismatch"
    );
    let req_c = VerificationPolicy {
        required_components: vec!["@authority".into()],
        ..Default::default()
    };
    assert_eq!(
        Verifier::new(key.clone(), None)
            .with_policy(req_c)
            .verify(&m, None, Some("s"), now)
            .unwrap_err()
            .kind(),
        "required_component_not_covered"
    );
    let req_p = VerificationPolicy {
        required_parameters: vec!["keyid".into()],
        ..Default::default()
    };
    assert_eq!(
        Verifier::new(key.clone(), None)
            .with_policy(req_p)
            .verify(&m, None, Some("s"), now)
            .unwrap_err()
            .kind(),
        "missing_parameter"
    );
    let algs = VerificationPolicy {
        allowed_algorithms: vec!["ed25519".into()],
        ..Default::default()
    };
    assert_eq!(
        Verifier::new(key.clone(), None)
            .with_policy(algs)
            .verify(&m, None, Some("s"), now)
            .unwrap_err()
            .kind(),
        "algorithm_not_allowed"
    );
    // alg vs configuration vs key.
    assert_eq!(
        Verifier::new(key.clone(), Some(Algorithm::Ed25519))
            .verify(&m, None, Some("s"), now)
            .unwrap_err()
            .kind(),
        "algorithm_mismatch"
    );
    let ed = Key::from_file(data("test-key-ed25519.pub.pem")).unwrap();
    assert_eq!(
        Verifier::new(ed, None)
            .verify(&m, None, Some("s"), now)
            .unwrap_err()
            .kind(),
        "key_algorithm_mismatch"
    );
    // Nonce replay.
    let mut store = InMemoryNonceStore::new(16);
    v.verify_with_nonce_store(&m, None, Some("s"), now, &mut store)
        .unwrap();
    assert_eq!(
        v.verify_with_nonce_store(&m, None, Some("s"), now + 1, &mut store)
            .unwrap_err()
            .kind(),
        "nonce_replayed"
    );
    // Tampering.
    let mut t2 = m.clone();
    t2.set_header("Content-Type", "text/html");
    assert_eq!(
        v.verify(&t2, None, Some("s"), now).unwrap_err().kind(),
        "signature_mismatch"
    );
    let mut t3 = m.clone();
    t3.remove_header("content-type");
    assert_eq!(
        v.verify(&t3, None, Some("s"), now).unwrap_err().kind(),
        "missing_component"
    );
    assert_eq!(
        v.verify(&m, None, Some("nope"), now).unwrap_err().kind(),
        "signature_not_found"
    );
    // Wrong length signature (e.g. DER ECDSA) is its own error.
    let mut t4 = m.clone();
    t4.set_header("Signature", "s=:AAAA:");
    assert_eq!(
        v.verify(&t4, None, Some("s"), now).unwrap_err().kind(),
        "signature_length"
    );
    // Unknown alg parameter.
    let (m5, k5) = signed(t, |_| {});
    let mut m5 = m5;
    let si = m5
        .header_values("signature-input")
        .next()
        .unwrap()
        .to_string();
    m5.set_header("Signature-Input", &format!("{si};alg=\"rsa-sha1\""));
    assert_eq!(
        Verifier::new(k5, None)
            .verify(&m5, None, Some("s"), now)
            .unwrap_err()
            .kind(),
        "unsupported_algorithm"
    );
}

#[test]
fn nonce_store_is_bounded_and_expires() {
    let mut s = InMemoryNonceStore::new(2);
    assert!(s.check_and_insert("a", 100, 0));
    assert!(!s.check_and_insert("a", 100, 1));
    assert!(s.check_and_insert("b", 100, 1));
    assert!(s.check_and_insert("c", 100, 1));
    assert_eq!(s.len(), 2);
    // "a" was evicted (capacity 2).
    assert!(s.check_and_insert("a", 100, 2));
    // Expired entries are forgotten.
    assert!(s.check_and_insert("d", 5, 3));
    assert!(s.check_and_insert("d", 50, 6));
}

#[test]
fn policy_config_rejects_unknown_keys() {
    let p = VerificationPolicy::from_toml(
        "max_age = 30\nrequired_components = ['@method', '\"@query-param\";name=\"x\"']\n",
    )
    .unwrap();
    assert_eq!(p.max_age, Some(30));
    assert_eq!(
        VerificationPolicy::from_toml("max_agee = 30")
            .unwrap_err()
            .kind(),
        "invalid_config"
    );
    assert_eq!(
        VerificationPolicy::from_yaml("allowed_algorithms: [md5]")
            .unwrap_err()
            .kind(),
        "invalid_config"
    );
}

#[test]
fn message_round_trips_and_http_conversions() {
    let raw = "POST /foo?a=b HTTP/1.1\r\nHost: example.com\r\nX-Fold: a\r\n  b\r\nContent-Length: 2\r\n\r\nhi";
    let m = req(raw);
    assert_eq!(String::from_utf8(m.to_bytes()).unwrap(), raw);
    let r = m.to_http_request().unwrap();
    assert_eq!(r.uri().to_string(), "https://example.com/foo?a=b");
    assert_eq!(r.headers()["x-fold"], "a b");
    let back = HttpMessage::try_from(&r).unwrap();
    assert_eq!(
        val(&back, "@target-uri").unwrap(),
        "https://example.com/foo?a=b"
    );
    assert_eq!(val(&back, "x-fold").unwrap(), "a b");
    let res = http::Response::builder()
        .status(404)
        .header("X", "1")
        .body(vec![])
        .unwrap();
    let hm = HttpMessage::try_from(res).unwrap();
    assert_eq!(val(&hm, "@status").unwrap(), "404");
    assert_eq!(hm.to_http_response().unwrap().status(), 404);
    for bad in [
        "",
        "GET\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        " x: y\r\n",
    ] {
        assert_eq!(
            HttpMessage::parse(bad.as_bytes()).unwrap_err().kind(),
            "invalid_message",
            "{bad:?}"
        );
    }
    assert_eq!(
        HttpMessage::parse(b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n")
            .unwrap_err()
            .kind(),
        "invalid_message"
    );
}

/// RFC 9421 §2.1.4: "the value MUST be taken from the trailer fields and not from the header
/// fields"; "The values of header fields and trailer fields of the same name MUST NOT be combined".
#[test]
fn section_2_1_4_trailers_come_from_the_chunked_trailer_section() {
    let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: Expires\r\nExpires: header\r\n\r\n4;ext=1\r\nHTTP\r\n3\r\n abc\r\n0\r\nExpires:  trailer one \r\nX-T: a\r\nexpires: two\r\n\r\n";
    let raw = raw.replace("3\r\n abc", "4\r\n abc");
    let m = HttpMessage::parse(raw.as_bytes()).unwrap();
    assert_eq!(val(&m, r#""expires";tr"#).unwrap(), "trailer one, two");
    assert_eq!(val(&m, r#""expires""#).unwrap(), "header");
    assert_eq!(val(&m, r#""x-t";tr;bs"#).unwrap(), ":YQ==:");
    assert_eq!(val(&m, r#""trailer";tr"#).unwrap_err(), "missing_component");
    // Not chunked (the last coding is gzip): no trailer section at all.
    let plain = HttpMessage::parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\nX: 1\r\n\r\n",
    )
    .unwrap();
    assert_eq!(val(&plain, r#""x";tr"#).unwrap_err(), "missing_component");
    // A chunk size beyond the body, a bad size and a malformed trailer line are named errors.
    for (body, what) in [
        ("ff\r\nabc\r\n0\r\n\r\n", "beyond the end"),
        ("zz\r\nabc\r\n0\r\n\r\n", "invalid chunk size"),
        ("0\r\nno colon here\r\n\r\n", "name: value"),
        ("3\r\nabcX\r\n0\r\n\r\n", "not followed by CRLF"),
    ] {
        let raw = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        let m = HttpMessage::parse(raw.as_bytes()).unwrap();
        let e = m.trailers().unwrap_err().to_string();
        assert!(e.contains(what), "{body:?}: {e}");
    }
}
