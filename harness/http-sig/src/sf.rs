//! Fast paths for the Structured Field Values (RFC 8941) this crate reads and writes on every
//! signature: the `@signature-params` inner list and the single-member Signature-Input /
//! Signature dictionaries.
//!
//! Serialization writes straight into the caller's buffer and produces exactly the bytes of the
//! sfv serializer (RFC 8941 §4.1), falling back to it for bare item types that are not common
//! here (Decimal, Byte Sequence, Date, Display String).
//!
//! Parsing accepts only a canonical subset of the grammar and answers `None` whenever it is not
//! certain; the caller then uses the full sfv parser, which also produces the error messages. So
//! the fast path can only ever agree with the full parser (tests in this module and in
//! `tests/sf_fast_path.rs` compare both on generated inputs).

use sfv::{BareItem, Item, Parameters};

// ---- serialization (RFC 8941 §4.1) -------------------------------------------------------------

/// Append an sf-string (RFC 8941 §4.1.6): quoted, `"` and `\` escaped. `s` comes from a validated
/// `sfv::String` (printable ASCII).
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.push('"');
    if has_quote_or_backslash(s.as_bytes()) {
        for c in s.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    } else {
        out.push_str(s);
    }
    out.push('"');
}

/// Is there a `"` or `\\` in `b`? Eight bytes at a time.
fn has_quote_or_backslash(b: &[u8]) -> bool {
    any_byte_where(
        b,
        |w| word_has_byte(w, b'"') || word_has_byte(w, b'\\'),
        |c| c == b'"' || c == b'\\',
    )
}

const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of each byte of a word.
pub(crate) const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Does the word `w` (eight bytes) hold the byte `c`?
#[inline]
pub(crate) fn word_has_byte(w: u64, c: u8) -> bool {
    // Exactly when some byte of `v` is zero (the classic test: a borrow only ever reaches the
    // bytes above a zero byte, so it cannot invent one).
    let v = w ^ (u64::from(c) * ONES);
    v.wrapping_sub(ONES) & !v & HIGH_BITS != 0
}

/// Does some byte of `b` satisfy `byte`? `word` must say the same of eight bytes at once (read
/// little-endian); the tail shorter than a word is tested byte by byte.
#[inline]
pub(crate) fn any_byte_where(
    b: &[u8],
    word: impl Fn(u64) -> bool,
    byte: impl Fn(u8) -> bool,
) -> bool {
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        if word(u64::from_le_bytes(w)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| byte(c))
}

/// Append an sf-integer (RFC 8941 §4.1.4) without the formatting machinery.
pub(crate) fn push_integer(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    let mut n = v.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10` is below 10: the cast cannot truncate.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: always valid UTF-8.
    if let Ok(d) = std::str::from_utf8(&digits[i..]) {
        out.push_str(d);
    }
}

/// The parameter `name` of `params`: a scan while there are few (comparing a few short keys
/// costs less than hashing the name, which the map does from two entries on), else the map.
pub(crate) fn param<'p>(params: &'p Parameters, name: &str) -> Option<&'p BareItem> {
    if params.len() <= 8 {
        params
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    } else {
        params.get(name)
    }
}

/// The standard base64 alphabet (RFC 4648 §4).
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Append `bytes` in standard base64 with padding (RFC 4648 §4; what an sf-binary carries,
/// RFC 8941 §4.1.8), the same text as `base64`'s `STANDARD` engine. Encoded 48 bytes at a time
/// into a stack buffer, then appended.
pub(crate) fn push_base64(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    let sym = |n: u32, shift: u32| BASE64[((n >> shift) & 63) as usize];
    let mut buf = [0u8; 64];
    for block in bytes.chunks(48) {
        let mut groups = block.chunks_exact(3);
        let mut slots = buf.chunks_exact_mut(4);
        let mut n_out = 0;
        for (g, o) in (&mut groups).zip(&mut slots) {
            let n = (u32::from(g[0]) << 16) | (u32::from(g[1]) << 8) | u32::from(g[2]);
            o.copy_from_slice(&[sym(n, 18), sym(n, 12), sym(n, 6), sym(n, 0)]);
            n_out += 4;
        }
        let last = match *groups.remainder() {
            [a] => {
                let n = u32::from(a) << 16;
                Some([sym(n, 18), sym(n, 12), b'=', b'='])
            }
            [a, b] => {
                let n = (u32::from(a) << 16) | (u32::from(b) << 8);
                Some([sym(n, 18), sym(n, 12), sym(n, 6), b'='])
            }
            _ => None,
        };
        if let (Some(last), Some(o)) = (last, slots.next()) {
            o.copy_from_slice(&last);
            n_out += 4;
        }
        // The alphabet is ASCII: always valid UTF-8.
        if let Ok(text) = std::str::from_utf8(&buf[..n_out]) {
            out.push_str(text);
        }
    }
}

/// Append a bare item (RFC 8941 §4.1.3.1).
pub(crate) fn push_bare_item(out: &mut String, v: &BareItem) {
    match v {
        // RFC 8941 §4.1.9
        BareItem::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
        BareItem::Integer(i) => push_integer(out, i64::from(*i)),
        BareItem::String(s) => push_string(out, s.as_str()),
        // RFC 8941 §4.1.7: a token is written as is.
        BareItem::Token(t) => out.push_str(t.as_str()),
        // Decimal rounding, base64, dates and display strings: the sfv serializer.
        other => {
            let _ = sfv::ItemSerializer::with_buffer(out).bare_item(other);
        }
    }
}

/// Append parameters (RFC 8941 §4.1.1.2): `;key`, with `=value` unless the value is `?1`.
pub(crate) fn push_params(out: &mut String, params: &Parameters) {
    for (k, v) in params {
        out.push(';');
        out.push_str(k.as_str());
        if !matches!(v, BareItem::Boolean(true)) {
            out.push('=');
            push_bare_item(out, v);
        }
    }
}

// ---- parsing (RFC 8941 §4.2), canonical subset only ---------------------------------------------

/// A byte cursor over the field value.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    fn at_end(&self) -> bool {
        self.i == self.s.len()
    }

    /// RFC 8941 §4.2.3.3 key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
    fn key(&mut self) -> Option<&'a str> {
        let start = self.i;
        match self.peek()? {
            b'a'..=b'z' | b'*' => self.i += 1,
            _ => return None,
        }
        while let Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*') = self.peek() {
            self.i += 1;
        }
        self.s.get(start..self.i)
    }

    /// RFC 8941 §4.2.5 sf-string without escapes: printable ASCII other than `"` and `\` between
    /// quotes. A backslash (escape) or any other byte: not certain, `None`.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = self.s.get(self.i..)?;
        let len = rest.bytes().position(|b| b == b'"')?;
        let v = rest.get(..len)?;
        if !v.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'\\') {
            return None;
        }
        self.i += len + 1;
        Some(v)
    }

    /// RFC 8941 §4.2.4 integer: `-`? 1 to 15 digits, not followed by `.` (a Decimal) or a 16th
    /// digit (out of range).
    fn integer(&mut self) -> Option<i64> {
        let neg = self.eat(b'-').is_some();
        let start = self.i;
        let mut v: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if self.i - start == 15 {
                return None;
            }
            v = v * 10 + i64::from(d - b'0');
            self.i += 1;
        }
        if self.i == start || self.peek() == Some(b'.') {
            return None;
        }
        Some(if neg { -v } else { v })
    }

    /// RFC 8941 §4.2.3.1 bare item, for the types signature parameters use: String (no escapes),
    /// Integer, Boolean. Anything else: `None`.
    fn bare_item(&mut self) -> Option<BareItem> {
        match self.peek()? {
            b'"' => {
                let s = self.string()?;
                Some(BareItem::String(
                    sfv::String::from_string(s.to_string()).ok()?,
                ))
            }
            b'-' | b'0'..=b'9' => Some(BareItem::Integer(
                sfv::Integer::try_from(self.integer()?).ok()?,
            )),
            b'?' => {
                self.i += 1;
                let b = match self.peek()? {
                    b'1' => true,
                    b'0' => false,
                    _ => return None,
                };
                self.i += 1;
                Some(BareItem::Boolean(b))
            }
            _ => None,
        }
    }

    /// RFC 8941 §4.2.3.2 parameters, without the optional spaces after `;` and without repeated
    /// keys (both are valid, both go to the full parser).
    fn params(&mut self) -> Option<Parameters> {
        let mut params = Parameters::new();
        while self.eat(b';').is_some() {
            let k = self.key()?;
            let v = if self.eat(b'=').is_some() {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            if params
                .insert(sfv::Key::from_string(k.to_string()).ok()?, v)
                .is_some()
            {
                return None;
            }
        }
        Some(params)
    }

    /// RFC 8941 §4.2.1.2 inner list of sf-strings with parameters, members separated by exactly
    /// one space, no space after `(` or before `)`.
    fn inner_list_of_strings(&mut self) -> Option<(Vec<Item>, Parameters)> {
        self.eat(b'(')?;
        let mut items = Vec::new();
        if self.eat(b')').is_none() {
            loop {
                let name = self.string()?;
                let params = self.params()?;
                items.push(Item::with_params(
                    BareItem::String(sfv::String::from_string(name.to_string()).ok()?),
                    params,
                ));
                match self.peek()? {
                    b')' => {
                        self.i += 1;
                        break;
                    }
                    b' ' if self.s.as_bytes().get(self.i + 1) == Some(&b'"') => self.i += 1,
                    _ => return None,
                }
            }
        }
        let params = self.params()?;
        Some((items, params))
    }
}

/// A Signature-Input value that is one member `label=("c1" "c2";p);k=v` in canonical form:
/// `(label, component items, signature parameters)`, or `None` when the full parser is needed
/// (several members, whitespace variants, escapes, tokens, decimals, repeated keys, errors).
pub(crate) fn single_signature_input(v: &str) -> Option<(&str, Vec<Item>, Parameters)> {
    let mut c = Cursor { s: v, i: 0 };
    let label = c.key()?;
    c.eat(b'=')?;
    let (items, params) = c.inner_list_of_strings()?;
    c.at_end().then_some((label, items, params))
}

/// The base64 decoder of the sfv crate (RFC 8941 §4.2.7: padding and trailing bits tolerated), so
/// that both paths decode the same bytes.
const SF_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A Signature value that is one member `label=:base64:` with no parameters: `(label, bytes)`,
/// or `None` when the full parser is needed.
pub(crate) fn single_signature(v: &str) -> Option<(&str, Vec<u8>)> {
    let mut c = Cursor { s: v, i: 0 };
    let label = c.key()?;
    c.eat(b'=')?;
    c.eat(b':')?;
    let start = c.i;
    while let Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=') = c.peek() {
        c.i += 1;
    }
    let body = v.get(start..c.i)?;
    c.eat(b':')?;
    if !c.at_end() {
        return None;
    }
    let bytes = base64::Engine::decode(&SF_BASE64, body).ok()?;
    Some((label, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sfv::{FieldType, ListEntry, Parser};

    /// The full-parser view of a Signature-Input value with exactly one inner-list member.
    fn full_input(v: &str) -> Option<(String, Vec<Item>, Parameters)> {
        let dict: sfv::Dictionary = Parser::new(v).parse().ok()?;
        if dict.len() != 1 {
            return None;
        }
        let (k, e) = dict.into_iter().next()?;
        match e {
            ListEntry::InnerList(il) => Some((k.as_str().to_string(), il.items, il.params)),
            ListEntry::Item(_) => None,
        }
    }

    fn full_sig(v: &str) -> Option<(String, Vec<u8>)> {
        let dict: sfv::Dictionary = Parser::new(v).parse().ok()?;
        if dict.len() != 1 {
            return None;
        }
        let (k, e) = dict.into_iter().next()?;
        match e {
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSequence(b),
                params,
            }) if params.is_empty() => Some((k.as_str().to_string(), b)),
            _ => None,
        }
    }

    /// Whenever the fast path answers, the full parser gives the same thing.
    fn agrees_input(v: &str) -> bool {
        match single_signature_input(v) {
            Some((l, items, params)) => {
                let full = full_input(v);
                assert_eq!(
                    full,
                    Some((l.to_string(), items, params)),
                    "fast path disagrees on {v:?}"
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn fast_input_takes_canonical_members() {
        for v in [
            r#"sig1=("@method" "@authority" "@path");created=1618884473;keyid="test-key-rsa-pss""#,
            r#"sig1=()"#,
            r#"sig1=();created=1"#,
            r#"a*.-_9=("@query-param";name="Pet" "example-dict";key="a";sf "x";bs;req;tr)"#,
            r#"s=("a");created=-0;expires=007;nonce="";alg="ed25519";x;y=?0;z=?1"#,
            r#"s=("a");n=999999999999999;m=-999999999999999"#,
            r#"s=("a" "a")"#,
        ] {
            assert!(agrees_input(v), "fast path should take {v:?}");
        }
    }

    #[test]
    fn fast_input_falls_back_when_not_certain() {
        for v in [
            // several members
            r#"sig1=("@method"), sig2=("@path")"#,
            r#"sig1=("@method"),sig2=("@path")"#,
            // whitespace the grammar allows but the fast path does not take
            r#"sig1=( "@method")"#,
            r#"sig1=("@method" )"#,
            r#"sig1=("@method"  "@path")"#,
            r#"sig1=("@method"); created=1"#,
            r#"sig1=("@method";  name="x")"#,
            r#" sig1=("@method")"#,
            r#"sig1=("@method") "#,
            // escapes, tokens, decimals, byte sequences, out-of-range integers
            r#"sig1=("a\"b")"#,
            r#"sig1=("a\\b")"#,
            r#"sig1=(method)"#,
            r#"sig1=("a");created=1.5"#,
            r#"sig1=("a");alg=ed25519"#,
            r#"sig1=("a");x=:AAAA:"#,
            r#"sig1=("a");created=1234567890123456"#,
            r#"sig1=("a");created=-"#,
            r#"sig1=("a");created=@1618884473"#,
            r#"sig1=("a");x=%"a""#,
            // repeated parameter keys (valid: last value wins at the first position)
            r#"sig1=("a");created=1;created=2"#,
            r#"sig1=("a";x;x=?0)"#,
            // not an inner list, inner list in an inner list, bad keys, junk
            r#"sig1="a""#,
            r#"sig1"#,
            r#"sig1=(("a"))"#,
            r#"Sig1=("a")"#,
            r#"1sig=("a")"#,
            r#"sig1=("a")x"#,
            r#"s=("@status" "content-type";sf;key="k") ;"#,
            r#"sig1=("a""#,
            r#"sig1=("a" )x"#,
            r#"sig1=("a");"#,
            r#"sig1=("a");=1"#,
            r#"sig1=("a");created=?2"#,
            r#"sig1=("é")"#,
            "sig1=(\"a\tb\")",
            r#""#,
        ] {
            assert!(
                single_signature_input(v).is_none(),
                "must fall back on {v:?}"
            );
        }
    }

    #[test]
    fn fast_signature_matches_full_parser() {
        for v in [
            "sig1=:dGVzdA==:",
            "sig1=:dGVzdA:",
            "sig1=::",
            "sig1=:dGVzdB==:",
            "s=:YWJj:",
        ] {
            let fast = single_signature(v);
            assert!(fast.is_some(), "fast path should take {v:?}");
            assert_eq!(fast.map(|(l, b)| (l.to_string(), b)), full_sig(v), "{v:?}");
        }
        for v in [
            "sig1=:dGVzdA==:, sig2=:YWJj:",
            "sig1=:dGVzdA==:;x=1",
            "sig1=:dGVz dA==:",
            "sig1=:dGVzdA==",
            "sig1=:dG%zdA==:",
            "sig1=:d:",
            "sig1=dGVzdA==",
            " sig1=:YWJj:",
            "sig1=:YWJj: ",
            "sig1=(\"a\")",
        ] {
            assert!(single_signature(v).is_none(), "must fall back on {v:?}");
        }
    }

    /// A canonical member as a signer writes it, from generated parts, serialized by sfv.
    fn canonical_member() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = "[a-z*][a-z0-9_.*-]{0,5}";
        let value = prop_oneof![
            any::<i64>().prop_map(|i| BareItem::Integer(
                sfv::Integer::try_from(i % 1_000_000_000_000_000).unwrap_or_default()
            )),
            "[ -!#-\\[\\]-~]{0,8}"
                .prop_map(|s| BareItem::String(sfv::String::from_string(s).unwrap_or_default())),
            any::<bool>().prop_map(BareItem::Boolean),
        ];
        let params = proptest::collection::vec((key, value), 0..4).prop_map(|ps| {
            let mut p = Parameters::new();
            for (k, v) in ps {
                if let Ok(k) = sfv::Key::from_string(k) {
                    p.insert(k, v);
                }
            }
            p
        });
        (
            key,
            proptest::collection::vec(("[ -!#-\\[\\]-~]{0,8}", params.clone()), 0..5),
            params,
        )
            .prop_map(|(label, items, params)| {
                let items = items
                    .into_iter()
                    .map(|(n, p)| {
                        Item::with_params(
                            BareItem::String(sfv::String::from_string(n).unwrap_or_default()),
                            p,
                        )
                    })
                    .collect();
                let mut dict = sfv::Dictionary::new();
                if let Ok(k) = sfv::Key::from_string(label) {
                    dict.insert(
                        k,
                        ListEntry::InnerList(sfv::InnerList::with_params(items, params)),
                    );
                }
                dict.serialize().unwrap_or_default()
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Every canonical single member (no escapes) is taken by the fast path, with the full
        /// parser's result.
        #[test]
        fn fast_input_takes_every_canonical_member(v in canonical_member()) {
            proptest::prop_assert!(agrees_input(&v), "not taken: {:?}", v);
        }

        /// One byte inserted, replaced or removed anywhere: the fast path either agrees or
        /// falls back.
        #[test]
        fn fast_input_never_misparses_a_mutation(
            v in canonical_member(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            op in 0u8..3,
            b in proptest::sample::select(b" \t\",;=()\\?:.-*01aZ@%,".to_vec()),
        ) {
            let mut bytes = v.into_bytes();
            let i = at.index(bytes.len() + 1);
            match op {
                0 => bytes.insert(i, b),
                1 if i < bytes.len() => bytes[i] = b,
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.push(b),
            }
            if let Ok(m) = std::string::String::from_utf8(bytes) {
                agrees_input(&m);
                if let Some((l, b)) = single_signature(&m) {
                    proptest::prop_assert_eq!(full_sig(&m), Some((l.to_string(), b)));
                }
            }
        }

        /// Signature members: canonical ones are taken, and any text agrees or falls back.
        #[test]
        fn fast_signature_agrees(
            label in "[a-z*][a-z0-9_.*-]{0,5}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            junk in "[ -~]{0,12}",
        ) {
            use base64::Engine as _;
            let v = format!("{label}=:{}:", base64::engine::general_purpose::STANDARD.encode(&bytes));
            let fast = single_signature(&v).map(|(l, b)| (l.to_string(), b));
            proptest::prop_assert_eq!(fast.clone(), Some((label.clone(), bytes)));
            proptest::prop_assert_eq!(fast, full_sig(&v));
            let w = format!("{label}=:{junk}");
            if let Some((l, b)) = single_signature(&w) {
                proptest::prop_assert_eq!(full_sig(&w), Some((l.to_string(), b)));
            }
        }

        /// Our base64 writer gives the `base64` crate's text, appended after what is there.
        #[test]
        fn base64_writer_matches_the_crate(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            use base64::Engine as _;
            let mut ours = std::string::String::from("x=:");
            push_base64(&mut ours, &bytes);
            let want = format!("x=:{}", base64::engine::general_purpose::STANDARD.encode(&bytes));
            proptest::prop_assert_eq!(ours, want);
        }
    }

    #[test]
    fn quote_or_backslash_found_at_every_position() {
        for len in 0..20 {
            assert!(!has_quote_or_backslash(&vec![b'a'; len]));
            for at in 0..len {
                for c in [b'"', b'\\'] {
                    let mut v = vec![b'a'; len];
                    v[at] = c;
                    assert!(has_quote_or_backslash(&v), "{len} {at} {c}");
                }
                // Neighbours of the two bytes (and the borrow's favourite, 0x21 / 0x5d) are not.
                let mut v = vec![b'#'; len];
                v[at] = b']';
                assert!(!has_quote_or_backslash(&v));
            }
        }
    }

    #[test]
    fn param_lookup_matches_the_map() {
        let list: sfv::List = Parser::new(
            "(\"a\");created=1;keyid=\"k\";alg=\"x\";expires=2;nonce=\"n\";tag=\"t\";a=1;b=2;c=3",
        )
        .parse()
        .unwrap_or_default();
        let Some(ListEntry::InnerList(il)) = list.first() else {
            panic!("test input parses");
        };
        let mut few = Parameters::new();
        for (k, v) in &il.params {
            few.insert(k.clone(), v.clone());
            for name in [
                "created", "keyid", "alg", "expires", "nonce", "tag", "a", "b", "c", "z",
            ] {
                assert_eq!(
                    param(&few, name),
                    few.get(name),
                    "{name} of {} parameters",
                    few.len()
                );
            }
        }
    }

    #[test]
    fn serializers_match_sfv() {
        let params: sfv::List =
            Parser::new(r#"("a\"b" "c";x=1;y="q\\z";z;w=?0;t=tok;d=1.25;b=:AAE=:;n=-42;e=@1)"#)
                .parse()
                .unwrap_or_default();
        let Some(ListEntry::InnerList(il)) = params.first() else {
            panic!("test input parses");
        };
        for item in &il.items {
            let mut ours = String::new();
            if let BareItem::String(s) = &item.bare_item {
                push_string(&mut ours, s.as_str());
            }
            push_params(&mut ours, &item.params);
            assert_eq!(ours, item.serialize());
        }
        for v in [0i64, 7, -7, 10, 999_999_999_999_999, -999_999_999_999_999] {
            let mut ours = String::new();
            push_integer(&mut ours, v);
            assert_eq!(ours, v.to_string());
        }
    }
}
