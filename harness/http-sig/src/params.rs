//! Signature parameters (RFC 9421 §2.3), the signature base (§2.5), and the Signature-Input /
//! Signature fields (§4.1, §4.2, §4.3).

use std::borrow::Cow;
use std::collections::HashSet;

use sfv::{BareItem, FieldType, InnerList, Item, ListEntry, Parameters, Parser};

use crate::components::{
    BUILTIN_TYPES, BaseCache, ComponentId, StructuredTypes, write_component_value,
};
use crate::limits::Limits;

/// Up to this many covered components, duplicates are found by comparing with the earlier ones.
const DUP_SCAN_UP_TO: usize = 16;
use crate::error::{Error, Result};
use crate::message::HttpMessage;

/// The ordered covered components and the ordered signature parameters of one signature.
/// Parameter order is the signer's and is preserved; unknown parameters are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureParams {
    /// Covered components, in order.
    pub components: Vec<ComponentId>,
    params: Parameters,
}

fn sf_string(param: &str, v: &str) -> Result<BareItem> {
    sfv::String::from_string(v.to_string())
        .map(BareItem::String)
        .map_err(|_| Error::InvalidSignatureParameter {
            parameter: param.to_string(),
            reason: format!(
                "{} is not a valid sf-string (printable ASCII only)",
                crate::excerpt(v, 60)
            ),
        })
}

impl SignatureParams {
    /// Parameters over `components`, with no metadata yet.
    pub fn new(components: Vec<ComponentId>) -> Self {
        SignatureParams {
            components,
            params: Parameters::new(),
        }
    }

    /// All parameters, in order.
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// One parameter.
    pub fn param(&self, name: &str) -> Option<&BareItem> {
        crate::sf::param(&self.params, name)
    }

    /// Set (or replace, keeping its position) any parameter.
    pub fn set_param(&mut self, name: &str, value: BareItem) -> Result<&mut Self> {
        let k = sfv::Key::from_string(name.to_string()).map_err(|_| {
            Error::InvalidSignatureParameter {
                parameter: name.to_string(),
                reason: "not a valid sf-key".into(),
            }
        })?;
        self.params.insert(k, value);
        Ok(self)
    }

    /// Put the parameters in `order` first, in that order, the others after them in their
    /// current order (RFC 9421 §2.3: the order is the signer's and is part of the base, so
    /// reproducing another signer's deterministic signature byte for byte needs its order). A
    /// name that is not set, or given twice, is an error.
    pub fn reorder_params(&mut self, order: &[&str]) -> Result<&mut Self> {
        let mut out = Parameters::new();
        for name in order {
            let bad = |reason: &str| Error::InvalidSignatureParameter {
                parameter: (*name).to_string(),
                reason: reason.into(),
            };
            if out.contains_key(*name) {
                return Err(bad("listed twice in the parameter order"));
            }
            let (k, v) = self
                .params
                .shift_remove_entry(*name)
                .ok_or_else(|| bad("in the parameter order but not set"))?;
            out.insert(k, v);
        }
        out.extend(std::mem::take(&mut self.params));
        self.params = out;
        Ok(self)
    }

    /// Remove a parameter.
    pub fn remove_param(&mut self, name: &str) -> &mut Self {
        self.params.shift_remove(name);
        self
    }

    fn int(&self, k: &str) -> Option<i64> {
        match self.param(k) {
            Some(BareItem::Integer(i)) => Some(i64::from(*i)),
            _ => None,
        }
    }

    fn string(&self, k: &str) -> Option<&str> {
        match self.param(k) {
            Some(BareItem::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// `created` (UNIX seconds).
    pub fn created(&self) -> Option<i64> {
        self.int("created")
    }
    /// `expires` (UNIX seconds).
    pub fn expires(&self) -> Option<i64> {
        self.int("expires")
    }
    /// `nonce`.
    pub fn nonce(&self) -> Option<&str> {
        self.string("nonce")
    }
    /// `alg`.
    pub fn alg(&self) -> Option<&str> {
        self.string("alg")
    }
    /// `keyid`.
    pub fn keyid(&self) -> Option<&str> {
        self.string("keyid")
    }
    /// `tag`.
    pub fn tag(&self) -> Option<&str> {
        self.string("tag")
    }

    /// Set `created`.
    pub fn set_created(&mut self, t: i64) -> Result<&mut Self> {
        let i = sfv::Integer::try_from(t).map_err(|_| Error::InvalidSignatureParameter {
            parameter: "created".into(),
            reason: "out of the sf-integer range".into(),
        })?;
        self.set_param("created", BareItem::Integer(i))
    }
    /// Set `expires`.
    pub fn set_expires(&mut self, t: i64) -> Result<&mut Self> {
        let i = sfv::Integer::try_from(t).map_err(|_| Error::InvalidSignatureParameter {
            parameter: "expires".into(),
            reason: "out of the sf-integer range".into(),
        })?;
        self.set_param("expires", BareItem::Integer(i))
    }
    /// Set `nonce`.
    pub fn set_nonce(&mut self, v: &str) -> Result<&mut Self> {
        let b = sf_string("nonce", v)?;
        self.set_param("nonce", b)
    }
    /// Set `alg`.
    pub fn set_alg(&mut self, v: &str) -> Result<&mut Self> {
        let b = sf_string("alg", v)?;
        self.set_param("alg", b)
    }
    /// Set `keyid`.
    pub fn set_keyid(&mut self, v: &str) -> Result<&mut Self> {
        let b = sf_string("keyid", v)?;
        self.set_param("keyid", b)
    }
    /// Set `tag`.
    pub fn set_tag(&mut self, v: &str) -> Result<&mut Self> {
        let b = sf_string("tag", v)?;
        self.set_param("tag", b)
    }

    /// Build from a parsed inner list, checking the types of the registered parameters
    /// (RFC 9421 §2.3: created/expires Integer, nonce/alg/keyid/tag String).
    pub fn from_inner_list(il: &InnerList) -> Result<Self> {
        Self::from_parts(il.items.clone(), il.params.clone())
    }

    /// [`SignatureParams::from_inner_list`] from the parts of an inner list, taken by value (the
    /// full parser and the fast path of [`parse_signature_input`] both end here, so both apply
    /// the same checks).
    fn from_parts(items: Vec<Item>, params: Parameters) -> Result<Self> {
        let mut components = Vec::with_capacity(items.len());
        for item in items {
            components.push(
                ComponentId::from_item_owned(item)
                    .map_err(|e| Error::InvalidSignatureInput(e.to_string()))?,
            );
        }
        for (k, v) in &params {
            let k = k.as_str();
            let ok = match k {
                "created" | "expires" => matches!(v, BareItem::Integer(_)),
                "nonce" | "alg" | "keyid" | "tag" => matches!(v, BareItem::String(_)),
                _ => true,
            };
            if !ok {
                let want = if matches!(k, "created" | "expires") {
                    "an Integer"
                } else {
                    "a String"
                };
                return Err(Error::InvalidSignatureInput(format!(
                    "parameter `{k}` must be {want}, got {v:?}"
                )));
            }
        }
        Ok(SignatureParams { components, params })
    }

    /// As an sfv inner list.
    pub fn to_inner_list(&self) -> InnerList {
        InnerList::with_params(
            self.components.iter().map(ComponentId::to_item).collect(),
            self.params.clone(),
        )
    }

    /// Parse a serialized inner list such as `("@method");created=1`.
    pub fn parse(s: &str) -> Result<Self> {
        let list: sfv::List = Parser::new(s)
            .parse()
            .map_err(|e| Error::InvalidSignatureInput(format!("{}: {e}", crate::excerpt(s, 80))))?;
        match list.as_slice() {
            [ListEntry::InnerList(il)] => Self::from_inner_list(il),
            _ => Err(Error::InvalidSignatureInput(format!(
                "{} is not a single inner list",
                crate::excerpt(s, 80)
            ))),
        }
    }

    /// The `@signature-params` value: the strict inner-list serialization (RFC 9421 §2.3).
    pub fn serialize(&self) -> String {
        let mut out = String::with_capacity(32 * (self.components.len() + 2));
        self.write_to(&mut out);
        out
    }

    /// Append the strict serialization (an Inner List with parameters, RFC 8941 §4.1.1.1) to
    /// `out`: `(`, the members separated by one space, `)`, the parameters.
    pub(crate) fn write_to(&self, out: &mut String) {
        out.push('(');
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            c.write_to(out);
        }
        out.push(')');
        crate::sf::push_params(out, &self.params);
    }
}

/// Create the signature base (RFC 9421 §2.5) for `msg` with `params`. `related_request` is the
/// request that triggered `msg` when `msg` is a response and components use `;req`. Structured
/// types for `;sf` come from the built-in table; see [`signature_base_with`].
pub fn signature_base(
    msg: &HttpMessage,
    related_request: Option<&HttpMessage>,
    params: &SignatureParams,
) -> Result<String> {
    signature_base_with(msg, related_request, params, &BUILTIN_TYPES)
}

/// [`signature_base`] with the structured types the application knows (RFC 9421 §2.1.1).
pub fn signature_base_with(
    msg: &HttpMessage,
    related_request: Option<&HttpMessage>,
    params: &SignatureParams,
    types: &StructuredTypes,
) -> Result<String> {
    signature_base_parts(msg, related_request, params, types, &Limits::UNLIMITED)
        .map(|(base, _)| base)
}

/// The signature base and the byte offset in it where the `@signature-params` value starts (the
/// serialized inner list, reused as the Signature-Input member by [`crate::Signer`]).
pub(crate) fn signature_base_parts(
    msg: &HttpMessage,
    related_request: Option<&HttpMessage>,
    params: &SignatureParams,
    types: &StructuredTypes,
    limits: &Limits,
) -> Result<(String, usize)> {
    let mut out = String::with_capacity(64 * (params.components.len() + 1));
    let mut cache = BaseCache::new(limits.max_field_bytes);
    // Long lists are checked for duplicates with a hash set of canonical identifiers (name and
    // parameters sorted); short ones by comparison, which allocates nothing.
    let mut seen: Option<HashSet<String>> =
        (params.components.len() > DUP_SCAN_UP_TO).then(HashSet::new);
    // Where each identifier was written in its line: the `@signature-params` value copies them
    // from there (short lists; long ones are serialized a second time).
    let mut id_at = [(0usize, 0usize); DUP_SCAN_UP_TO];
    // Only field values can bring non-ASCII bytes: identifiers and parameters are sfv values
    // (ASCII), derived values are checked for printable ASCII where they are written.
    let mut non_ascii = false;
    for (i, id) in params.components.iter().enumerate() {
        // RFC 9421 §2.5 step 2.0: an identifier (with its parameters) may appear only once.
        let dup = match &mut seen {
            None => params.components[..i].contains(id),
            Some(set) => !set.insert(id.canonical_key()),
        };
        if dup {
            return Err(Error::DuplicateComponent(id.serialize()));
        }
        // RFC 9421 §3.1 step 4: @signature-params is never a covered component.
        if id.name() == "@signature-params" {
            return Err(Error::SignatureParamsCovered);
        }
        // RFC 9421 §2.5 step 2.1-2.2: the identifier, ": ", then the value, written in place.
        let id_start = out.len();
        id.write_to(&mut out);
        if let Some(at) = id_at.get_mut(i) {
            *at = (id_start, out.len());
        }
        out.push_str(": ");
        let start = out.len();
        cache.value_checked = false;
        write_component_value(&mut out, msg, related_request, id, types, &mut cache)?;
        // The base line grammar allows no CR/LF inside a value (RFC 9421 §2.5 ABNF). A derived
        // value has none: it was checked to be printable ASCII; nor has a field value its
        // writer checked already.
        if !id.is_derived() && !cache.value_checked {
            let v = &out.as_bytes()[start..];
            if v.contains(&b'\n') || v.contains(&b'\r') {
                return Err(Error::InvalidMessage(format!(
                    "value of {} contains a line break",
                    id.serialize()
                )));
            }
            non_ascii = non_ascii || !v.is_ascii();
        }
        out.push('\n');
    }
    // RFC 9421 §2.5 step 3: the @signature-params line is last.
    out.push_str("\"@signature-params\": ");
    let params_at = out.len();
    if params.components.len() <= DUP_SCAN_UP_TO {
        // The strict inner-list serialization (as `SignatureParams::write_to`), its members
        // copied from the lines above.
        out.push('(');
        for (i, &(from, to)) in id_at[..params.components.len()].iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.extend_from_within(from..to);
        }
        out.push(')');
        crate::sf::push_params(&mut out, &params.params);
    } else {
        params.write_to(&mut out);
    }
    // RFC 9421 §2.5 step 4: non-ASCII output is an error.
    if non_ascii {
        return Err(Error::NonAscii("the signature base".into()));
    }
    Ok((out, params_at))
}

/// One signature found in a message: its label, parameters and signature bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureEntry {
    /// Dictionary key shared by Signature-Input and Signature.
    pub label: String,
    /// Covered components and parameters.
    pub params: SignatureParams,
    /// Signature bytes.
    pub signature: Vec<u8>,
}

/// The field's lines combined (RFC 9421 §2.1 / RFC 9110 §5.3), borrowed when there is a single
/// line without obs-fold (the common case).
fn combined_cow<'a>(msg: &'a HttpMessage, name: &'a str) -> Option<Cow<'a, str>> {
    let mut lines = msg.header_values(name);
    let first = lines.next()?;
    if lines.next().is_none() && !first.contains('\n') {
        // What `combined` gives for one line: `unfold` leaves it as is, then it is trimmed.
        return Some(Cow::Borrowed(first.trim()));
    }
    combined(msg, name).map(Cow::Owned)
}

fn combined(msg: &HttpMessage, name: &str) -> Option<String> {
    let v: Vec<String> = msg
        .header_values(name)
        .map(|v| crate::components::unfold(v).trim().to_string())
        .collect();
    if v.is_empty() {
        None
    } else {
        Some(v.join(", "))
    }
}

/// Parse a Signature-Input field value (RFC 9421 §4.1): a Dictionary of inner lists.
pub fn parse_signature_input(value: &str) -> Result<Vec<(String, SignatureParams)>> {
    // Fast path: one member in canonical form (what signers write). It answers only when it is
    // certain to agree with the full RFC 8941 parser below, which handles everything else.
    if let Some((label, items, params)) = crate::sf::single_signature_input(value) {
        return Ok(vec![(
            label.to_string(),
            SignatureParams::from_parts(items, params)?,
        )]);
    }
    let dict: sfv::Dictionary = Parser::new(value)
        .parse()
        .map_err(|e| Error::InvalidSignatureInput(format!("not a valid Dictionary: {e}")))?;
    let mut out = Vec::new();
    for (label, entry) in dict {
        match entry {
            ListEntry::InnerList(il) => out.push((
                label.as_str().to_string(),
                SignatureParams::from_parts(il.items, il.params)?,
            )),
            ListEntry::Item(_) => {
                return Err(Error::InvalidSignatureInput(format!(
                    "member {label:?} is not an inner list"
                )));
            }
        }
    }
    Ok(out)
}

/// Parse a Signature field value (RFC 9421 §4.2): a Dictionary of Byte Sequences.
pub fn parse_signature_field(value: &str) -> Result<Vec<(String, Vec<u8>)>> {
    // Fast path: one member `label=:base64:` without parameters; anything else (or anything it is
    // not certain of) goes to the full RFC 8941 parser.
    if let Some((label, bytes)) = crate::sf::single_signature(value) {
        return Ok(vec![(label.to_string(), bytes)]);
    }
    let dict: sfv::Dictionary = match Parser::new(value).parse() {
        Ok(d) => d,
        Err(e) => {
            // Say "bad base64" when the byte sequence content is what is wrong.
            for seg in value.split(':').skip(1).step_by(2) {
                if !seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                {
                    return Err(Error::BadBase64(format!(
                        "Signature field byte sequence {}",
                        crate::excerpt(seg, 60)
                    )));
                }
            }
            return Err(Error::InvalidSignatureHeader(format!(
                "not a valid Dictionary: {e}"
            )));
        }
    };
    let mut out = Vec::new();
    for (label, entry) in dict {
        match entry {
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSequence(b),
                ..
            }) => out.push((label.as_str().to_string(), b)),
            _ => {
                return Err(Error::InvalidSignatureHeader(format!(
                    "member {label:?} is not a byte sequence"
                )));
            }
        }
    }
    Ok(out)
}

/// All signatures in `msg` (Signature-Input and Signature combined across field lines), in
/// Signature-Input order. A label present in only one of the two fields is an error.
pub fn signatures(msg: &HttpMessage) -> Result<Vec<SignatureEntry>> {
    let inputs = match combined_cow(msg, "signature-input") {
        Some(v) => parse_signature_input(&v)?,
        None => Vec::new(),
    };
    let sigs = match combined_cow(msg, "signature") {
        Some(v) => parse_signature_field(&v)?,
        None => Vec::new(),
    };
    for (l, _) in &sigs {
        if !inputs.iter().any(|(il, _)| il == l) {
            return Err(Error::LabelMismatch(l.clone()));
        }
    }
    let mut out = Vec::new();
    for (label, params) in inputs {
        let signature = sigs
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| Error::LabelMismatch(label.clone()))?;
        out.push(SignatureEntry {
            label,
            params,
            signature,
        });
    }
    Ok(out)
}

/// The signature labelled `label` (RFC 9421 §3.2 step 1).
pub fn find_signature(msg: &HttpMessage, label: &str) -> Result<SignatureEntry> {
    find_signature_limited(msg, label, &Limits::UNLIMITED)
}

/// [`find_signature`], refusing more Signature-Input members than `limits.max_signatures`.
pub(crate) fn find_signature_limited(
    msg: &HttpMessage,
    label: &str,
    limits: &Limits,
) -> Result<SignatureEntry> {
    // Look up Signature-Input first so that a missing label is reported precisely.
    let inputs = combined_cow(msg, "signature-input")
        .ok_or_else(|| Error::SignatureNotFound(label.to_string()))?;
    let inputs = parse_signature_input(&inputs)?;
    limits.check_signatures(inputs.len())?;
    let params = inputs
        .into_iter()
        .find(|(l, _)| l == label)
        .map(|(_, p)| p)
        .ok_or_else(|| Error::SignatureNotFound(label.to_string()))?;
    let sigs =
        combined_cow(msg, "signature").ok_or_else(|| Error::LabelMismatch(label.to_string()))?;
    let signature = parse_signature_field(&sigs)?
        .into_iter()
        .find(|(l, _)| l == label)
        .map(|(_, s)| s)
        .ok_or_else(|| Error::LabelMismatch(label.to_string()))?;
    Ok(SignatureEntry {
        label: label.to_string(),
        params,
        signature,
    })
}

/// What to do when the label already exists in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCollision {
    /// Fail with [`Error::LabelCollision`] (default; RFC 9421 §4.3: labels are unique).
    #[default]
    Error,
    /// Replace the existing member under that label.
    Replace,
}

/// RFC 8941 §3.2 sf-key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
fn is_sf_key(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(c) if c.is_ascii_lowercase() || *c == b'*')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(c))
}

/// Add a signature to `msg` under `label`: appends one member to Signature-Input and Signature
/// (RFC 9421 §4.1, §4.2); other members are kept as they are (§4.3).
pub fn add_signature(
    msg: &mut HttpMessage,
    label: &str,
    params: &SignatureParams,
    signature: &[u8],
    on_collision: OnCollision,
) -> Result<()> {
    add_signature_serialized(msg, label, params, None, signature, on_collision)
}

/// [`add_signature`] with, when the caller has it, the signature base just signed and the
/// offset of its `@signature-params` value: that text is the Signature-Input member's (RFC 9421
/// §4.1), which is then not serialized a second time, and the base's buffer becomes the member.
pub(crate) fn add_signature_serialized(
    msg: &mut HttpMessage,
    label: &str,
    params: &SignatureParams,
    serialized: Option<(String, usize)>,
    signature: &[u8],
    on_collision: OnCollision,
) -> Result<()> {
    // RFC 9421 §4.1: the label is a Dictionary key (RFC 8941 §3.2 sf-key).
    if !is_sf_key(label) {
        return Err(Error::InvalidSignatureInput(format!(
            "label {label:?} is not a valid sf-key (lowercase, digits, _-.*)"
        )));
    }
    // `label=` and the inner list (RFC 9421 §4.1).
    let input_member = |serialized: Option<(String, usize)>| match serialized {
        Some((mut base, at)) if base.is_char_boundary(at) => {
            base.drain(..at);
            base.insert_str(0, label);
            base.insert(label.len(), '=');
            base
        }
        _ => {
            let mut out =
                String::with_capacity(label.len() + 1 + 32 * (params.components.len() + 2));
            out.push_str(label);
            out.push('=');
            params.write_to(&mut out);
            out
        }
    };
    // Common case: neither field exists yet. Append one member each, without parsing anything
    // (RFC 9421 §4.1, §4.2).
    if !msg.has_header("signature-input") && !msg.has_header("signature") {
        let input_member = input_member(serialized);
        let mut sig_member =
            String::with_capacity(label.len() + 4 + signature.len().div_ceil(3) * 4);
        sig_member.push_str(label);
        sig_member.push_str("=:");
        crate::sf::push_base64(&mut sig_member, signature);
        sig_member.push(':');
        msg.headers
            .push(("Signature-Input".to_string(), input_member));
        msg.headers.push(("Signature".to_string(), sig_member));
        return Ok(());
    }
    let existing_inputs = match combined(msg, "signature-input") {
        Some(v) => Some(Parser::new(&v).parse::<sfv::Dictionary>().map_err(|e| {
            Error::InvalidSignatureInput(format!(
                "existing Signature-Input is not a valid Dictionary: {e}"
            ))
        })?),
        None => None,
    };
    let existing_sigs = match combined(msg, "signature") {
        Some(v) => Some(Parser::new(&v).parse::<sfv::Dictionary>().map_err(|e| {
            Error::InvalidSignatureHeader(format!(
                "existing Signature is not a valid Dictionary: {e}"
            ))
        })?),
        None => None,
    };
    let collides = existing_inputs
        .as_ref()
        .is_some_and(|d| d.contains_key(label))
        || existing_sigs
            .as_ref()
            .is_some_and(|d| d.contains_key(label));
    if collides && on_collision == OnCollision::Error {
        return Err(Error::LabelCollision(label.to_string()));
    }
    // One Dictionary member each (RFC 9421 §4.1, §4.2), serialized in place.
    let input_member = input_member(serialized);
    let mut sig_member = String::with_capacity(label.len() + 4 + signature.len().div_ceil(3) * 4);
    sig_member.push_str(label);
    sig_member.push_str("=:");
    crate::sf::push_base64(&mut sig_member, signature);
    sig_member.push(':');
    if collides {
        let k = sfv::Key::from_string(label.to_string()).map_err(|_| {
            Error::InvalidSignatureInput(format!(
                "label {label:?} is not a valid sf-key (lowercase, digits, _-.*)"
            ))
        })?;
        let mut inputs = existing_inputs.unwrap_or_default();
        inputs.insert(k.clone(), ListEntry::InnerList(params.to_inner_list()));
        let mut sigs = existing_sigs.unwrap_or_default();
        sigs.insert(
            k,
            ListEntry::Item(Item::new(BareItem::ByteSequence(signature.to_vec()))),
        );
        let si = inputs.serialize().unwrap_or_default();
        let s = sigs.serialize().unwrap_or_default();
        msg.set_header("Signature-Input", &si);
        msg.set_header("Signature", &s);
    } else {
        for (field, member) in [("Signature-Input", input_member), ("Signature", sig_member)] {
            match combined(msg, field) {
                Some(v) => msg.set_header(field, &format!("{v}, {member}")),
                None => msg.append_header(field, &member),
            }
        }
    }
    Ok(())
}
