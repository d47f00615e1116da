//! Component identifiers (RFC 9421 §2) and their values: HTTP fields (§2.1, with `sf`, `key`, `bs`,
//! `req`), derived components (§2.2) and the request-response binding (§2.4).

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;

use sfv::{BareItem, FieldType, Item, ListEntry, Parameters, Parser};

use crate::error::{Error, Result};
use crate::message::{HttpMessage, RequestLine, split_absolute};

/// The derived components of RFC 9421 §2.2.
pub const DERIVED_COMPONENTS: &[&str] = &[
    "@method",
    "@target-uri",
    "@authority",
    "@scheme",
    "@request-target",
    "@path",
    "@query",
    "@query-param",
    "@status",
];

/// A component identifier: a name (field name in lowercase, or `@derived`) and its ordered
/// parameters, serialized as an sf-string Item with parameters (RFC 9421 §2, §2.5).
///
/// Equality compares the name and the parameter set (order-insensitive), which is what the
/// duplicate rule of §2.5 step 2.0 needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentId {
    name: sfv::String,
    params: Parameters,
}

impl ComponentId {
    /// A component with no parameters. Field names are lowercased; derived names are kept as given.
    pub fn new(name: &str) -> Result<Self> {
        let name = if name.starts_with('@') {
            name.to_string()
        } else {
            name.to_ascii_lowercase()
        };
        if name.is_empty() {
            return Err(Error::InvalidComponentId("empty component name".into()));
        }
        let name = sfv::String::from_string(name).map_err(|(_, n)| {
            Error::InvalidComponentId(format!(
                "{}: must be printable ASCII",
                crate::excerpt(&n, 60)
            ))
        })?;
        Ok(ComponentId {
            name,
            params: Parameters::new(),
        })
    }

    /// Add a boolean flag parameter (`sf`, `bs`, `req`, `tr`).
    pub fn with_flag(mut self, flag: &str) -> Result<Self> {
        let key = sfv::Key::from_string(flag.to_string())
            .map_err(|_| Error::InvalidComponentId(format!("invalid parameter name {flag:?}")))?;
        self.params.insert(key, BareItem::Boolean(true));
        Ok(self)
    }

    /// Add a string parameter (`key`, `name`).
    pub fn with_string(mut self, param: &str, value: &str) -> Result<Self> {
        let key = sfv::Key::from_string(param.to_string())
            .map_err(|_| Error::InvalidComponentId(format!("invalid parameter name {param:?}")))?;
        let v = sfv::String::from_string(value.to_string()).map_err(|_| {
            Error::InvalidComponentId(format!(
                "parameter {param}: {} is not a valid sf-string",
                crate::excerpt(value, 60)
            ))
        })?;
        self.params.insert(key, BareItem::String(v));
        Ok(self)
    }

    /// `"@query-param";name="<name>"`.
    pub fn query_param(name: &str) -> Result<Self> {
        ComponentId::new("@query-param")?.with_string("name", name)
    }

    /// The component name (without quotes).
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The ordered parameters.
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// Is this a derived component (`@...`)?
    pub fn is_derived(&self) -> bool {
        self.name.as_str().starts_with('@')
    }

    /// The parameter `p`: a scan of the few parameters an identifier has (cheaper than
    /// hashing the name, which the map does from two entries on).
    fn param(&self, p: &str) -> Option<&BareItem> {
        crate::sf::param(&self.params, p)
    }

    fn flag(&self, f: &str) -> bool {
        matches!(self.param(f), Some(BareItem::Boolean(true)))
    }

    /// Has the `req` flag.
    pub fn req(&self) -> bool {
        self.flag("req")
    }

    /// The string value of parameter `p`, if present and a String.
    pub fn string_param(&self, p: &str) -> Option<&str> {
        match self.param(p) {
            Some(BareItem::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Build from a parsed sfv Item (its bare item must be a String).
    pub fn from_item(item: &Item) -> Result<Self> {
        Self::from_item_owned(item.clone())
    }

    /// [`ComponentId::from_item`], taking the item (no copy of its name and parameters).
    pub(crate) fn from_item_owned(item: Item) -> Result<Self> {
        let name = match item.bare_item {
            BareItem::String(s) => s,
            other => {
                return Err(Error::InvalidComponentId(format!(
                    "component identifiers are sf-strings, got {other:?} (RFC 9421 §2.5)"
                )));
            }
        };
        // RFC 9421 §2.1: field component names MUST be lowercase.
        if !name.as_str().starts_with('@') && name.as_str().bytes().any(|b| b.is_ascii_uppercase())
        {
            return Err(Error::InvalidComponentId(format!(
                "\"{name}\": HTTP field component names must be lowercase (RFC 9421 §2.1)"
            )));
        }
        if name.as_str().is_empty() {
            return Err(Error::InvalidComponentId("empty component name".into()));
        }
        Ok(ComponentId {
            name,
            params: item.params,
        })
    }

    /// The identifier with its parameters sorted by name: equal for identifiers that are equal
    /// (the duplicate rule of RFC 9421 §2.5 step 2.0 ignores parameter order).
    pub(crate) fn canonical_key(&self) -> String {
        let mut out = String::with_capacity(self.name.as_str().len() + 8);
        crate::sf::push_string(&mut out, self.name.as_str());
        if self.params.len() > 1 {
            let mut sorted: Vec<_> = self.params.iter().collect();
            sorted.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            let p: Parameters = sorted
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            crate::sf::push_params(&mut out, &p);
        } else {
            crate::sf::push_params(&mut out, &self.params);
        }
        out
    }

    /// RFC 9421 §2.5 step 2.4: every parameter is understood and of the right type, and `bs`
    /// is not combined with `sf` or `key` (§2.1). Independent of any message, so a policy can be
    /// checked when it is loaded.
    pub(crate) fn check_parameters(&self) -> Result<()> {
        let cid = || self.serialize();
        // RFC 9421 §2.5 step 2.4: parameters must be understood and of the right type.
        for (k, v) in self.params() {
            let k = k.as_str();
            let allowed = if self.is_derived() {
                k == "req" || (k == "name" && self.name() == "@query-param")
            } else {
                KNOWN_FIELD_PARAMS.contains(&k)
            };
            if !allowed {
                return Err(Error::UnknownComponentParameter {
                    component: cid(),
                    parameter: k.to_string(),
                });
            }
            let ok = match k {
                "key" | "name" => matches!(v, BareItem::String(_)),
                _ => matches!(v, BareItem::Boolean(true)),
            };
            if !ok {
                let reason = if matches!(k, "key" | "name") {
                    "must be an sf-string"
                } else {
                    "must be the boolean flag ?1"
                };
                return Err(Error::InvalidComponentParameter {
                    component: cid(),
                    parameter: k.to_string(),
                    reason: reason.into(),
                });
            }
        }
        // RFC 9421 §2.1: `bs` is not compatible with `sf` or `key`.
        if self.params().contains_key("bs") {
            for other in ["sf", "key"] {
                if self.params().contains_key(other) {
                    return Err(Error::IncompatibleParameters {
                        component: cid(),
                        a: "bs".into(),
                        b: other.into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// A component a verification policy may require: a known derived component (§2.2) other
    /// than `@signature-params`, or a field, with understood parameters.
    pub(crate) fn check_requirable(&self) -> Result<()> {
        if self.is_derived() {
            match self.name() {
                "@signature-params" => return Err(Error::SignatureParamsCovered),
                n if !DERIVED_COMPONENTS.contains(&n) => {
                    return Err(Error::UnknownDerivedComponent(format!(
                        "{} (known: {})",
                        self.serialize(),
                        DERIVED_COMPONENTS.join(", ")
                    )));
                }
                "@query-param" if self.string_param("name").is_none() => {
                    return Err(Error::QueryParamNameMissing);
                }
                _ => {}
            }
        }
        self.check_parameters()
    }

    /// As an sfv Item.
    pub fn to_item(&self) -> Item {
        Item::with_params(BareItem::String(self.name.clone()), self.params.clone())
    }

    /// Parse one identifier such as `"@query-param";name="Pet"`.
    pub fn parse(s: &str) -> Result<Self> {
        let item: Item = Parser::new(s)
            .parse()
            .map_err(|e| Error::InvalidComponentId(format!("{}: {e}", crate::excerpt(s, 80))))?;
        ComponentId::from_item(&item)
    }

    /// Strict serialization: `"name";p1;p2="v"` (RFC 9421 §2.5 component-identifier).
    pub fn serialize(&self) -> String {
        let mut out = String::with_capacity(self.name.as_str().len() + 2);
        self.write_to(&mut out);
        out
    }

    /// Append the strict serialization to `out` (RFC 8941 §4.1.3: the sf-string, then its
    /// parameters), byte for byte what the sfv serializer writes, without cloning into an Item.
    pub(crate) fn write_to(&self, out: &mut String) {
        crate::sf::push_string(out, self.name.as_str());
        crate::sf::push_params(out, &self.params);
    }

    /// Parse a space-separated list of identifiers as written in Signature-Input
    /// (`"@method" "content-type" "@query-param";name="Pet"`); unquoted names are accepted too
    /// (`@method content-type @query-param;name="Pet"`), field names are lowercased.
    pub fn parse_list(s: &str) -> Result<Vec<ComponentId>> {
        let mut out = Vec::new();
        let mut chars = s.char_indices().peekable();
        while let Some(&(start, c)) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            // Read one token up to whitespace that is outside quotes.
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = s.len();
            for (i, ch) in chars.by_ref() {
                if in_quotes {
                    if escaped {
                        escaped = false;
                    } else if ch == '\\' {
                        escaped = true;
                    } else if ch == '"' {
                        in_quotes = false;
                    }
                } else if ch == '"' {
                    in_quotes = true;
                } else if ch.is_whitespace() {
                    end = i;
                    break;
                }
            }
            let tok = &s[start..end];
            let id = if tok.starts_with('"') {
                ComponentId::parse(tok)?
            } else {
                let (name, rest) = match tok.find(';') {
                    Some(i) => (&tok[..i], &tok[i..]),
                    None => (tok, ""),
                };
                let name = if name.starts_with('@') {
                    name.to_string()
                } else {
                    name.to_ascii_lowercase()
                };
                ComponentId::parse(&format!("\"{name}\"{rest}"))?
            };
            out.push(id);
        }
        Ok(out)
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialize())
    }
}

/// The structured type of a known structured field, for `;sf` (RFC 9421 §2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuredType {
    /// sf-item
    Item,
    /// sf-list
    List,
    /// sf-dictionary
    Dictionary,
}

impl std::str::FromStr for StructuredType {
    type Err = Error;

    /// `item`, `list` or `dictionary` (the names RFC 8941 §3 uses for the top-level types).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "item" => Ok(StructuredType::Item),
            "list" => Ok(StructuredType::List),
            "dictionary" => Ok(StructuredType::Dictionary),
            other => Err(Error::InvalidConfig(format!(
                "structured type {other:?}: expected item, list or dictionary"
            ))),
        }
    }
}

/// Structured types known to this implementation (RFC 9421 §2.1.1 requires the type to be known).
/// `example-dict` is the field used in the RFC's own examples. This is the default table of
/// [`StructuredTypes`]; applications add their own fields with [`StructuredTypes::declare`].
pub fn structured_type(field: &str) -> Option<StructuredType> {
    use StructuredType::*;
    Some(match field {
        "signature-input"
        | "signature"
        | "accept-signature"
        | "content-digest"
        | "repr-digest"
        | "want-content-digest"
        | "want-repr-digest"
        | "priority"
        | "cdn-cache-control"
        | "example-dict" => Dictionary,
        "accept-ch" | "cache-status" | "proxy-status" | "client-cert-chain" | "example-list" => {
            List
        }
        "client-cert" | "origin-agent-cluster" | "sec-ch-ua-mobile" | "example-item" => Item,
        _ => return None,
    })
}

/// The structured types the application knows, for `;sf` and `;key` (RFC 9421 §2.1.1: "the
/// signer and verifier MUST know the type of the field"). Fields the application declares take
/// precedence over the built-in table ([`structured_type`]); [`StructuredTypes::default`] is the
/// built-in table alone and allocates nothing.
///
/// ```
/// use http_sig::{StructuredType, StructuredTypes};
/// let types = StructuredTypes::default().with("x-dict", StructuredType::Dictionary);
/// assert_eq!(types.get("X-Dict"), Some(StructuredType::Dictionary));
/// assert_eq!(types.get("content-digest"), Some(StructuredType::Dictionary));
/// assert_eq!(StructuredTypes::none().get("content-digest"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructuredTypes {
    declared: Vec<(String, StructuredType)>,
    builtin: bool,
}

impl Default for StructuredTypes {
    fn default() -> Self {
        StructuredTypes::builtin()
    }
}

impl StructuredTypes {
    /// The built-in table only (the default).
    pub const fn builtin() -> Self {
        StructuredTypes {
            declared: Vec::new(),
            builtin: true,
        }
    }

    /// No field has a known type until declared.
    pub const fn none() -> Self {
        StructuredTypes {
            declared: Vec::new(),
            builtin: false,
        }
    }

    /// Declare (or re-declare) the type of `field` (case-insensitive).
    pub fn declare(&mut self, field: &str, ty: StructuredType) -> &mut Self {
        let field = field.to_ascii_lowercase();
        match self.declared.iter_mut().find(|(f, _)| *f == field) {
            Some(e) => e.1 = ty,
            None => self.declared.push((field, ty)),
        }
        self
    }

    /// Builder form of [`StructuredTypes::declare`].
    pub fn with(mut self, field: &str, ty: StructuredType) -> Self {
        self.declare(field, ty);
        self
    }

    /// The type of `field`: declared first, then the built-in table (if enabled).
    pub fn get(&self, field: &str) -> Option<StructuredType> {
        self.declared
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(field))
            .map(|(_, t)| *t)
            .or_else(|| {
                if self.builtin {
                    structured_type(field)
                } else {
                    None
                }
            })
    }
}

/// The shared default for the functions without a `types` argument.
pub(crate) static BUILTIN_TYPES: StructuredTypes = StructuredTypes::builtin();

/// Replace obs-fold (optional whitespace, CRLF or LF, whitespace) by a single space
/// (RFC 9421 §2.1 step 3, RFC 9112 §5.2).
pub fn unfold(v: &str) -> String {
    if !v.contains('\n') {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('\n') {
        let before = rest[..i].strip_suffix('\r').unwrap_or(&rest[..i]);
        out.push_str(before.trim_end_matches([' ', '\t']));
        let after = &rest[i + 1..];
        let trimmed = after.trim_start_matches([' ', '\t']);
        if trimmed.len() == after.len() {
            // A bare line break that is not a fold: keep it so the base check rejects it.
            out.push('\n');
        } else {
            out.push(' ');
        }
        rest = trimmed;
    }
    out.push_str(rest);
    out
}

/// Canonical value of one field line: trimmed, obs-fold replaced (RFC 9421 §2.1 steps 2-3).
fn canonical_line(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    push_canonical_line(&mut out, v);
    out
}

/// Append the canonical value of one field line to `out` (no allocation for a line without
/// obs-fold, the common case).
fn push_canonical_line(out: &mut String, v: &str) {
    if v.contains('\n') {
        out.push_str(unfold(v).trim_matches([' ', '\t']));
    } else {
        out.push_str(trim_ows(v));
    }
}

/// `v` without leading and trailing spaces and tabs (as `trim_matches([' ', '\t'])`, byte by
/// byte).
fn trim_ows(v: &str) -> &str {
    let b = v.as_bytes();
    let ows = |c: u8| c == b' ' || c == b'\t';
    let start = b.iter().position(|&c| !ows(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !ows(c)).map_or(start, |i| i + 1);
    // Both ends are next to ASCII bytes, so on character boundaries.
    v.get(start..end).unwrap_or_default()
}

const KNOWN_FIELD_PARAMS: &[&str] = &["sf", "key", "bs", "req", "tr"];

/// Compute the component value of `id` for `msg` (the target message). `related` is the request
/// that triggered `msg` when `msg` is a response (for `;req`, RFC 9421 §2.4). Structured types
/// for `;sf` come from the built-in table; see [`component_value_with`].
pub fn component_value(
    msg: &HttpMessage,
    related: Option<&HttpMessage>,
    id: &ComponentId,
) -> Result<String> {
    component_value_with(msg, related, id, &BUILTIN_TYPES)
}

/// [`component_value`] with the structured types the application knows (RFC 9421 §2.1.1).
pub fn component_value_with(
    msg: &HttpMessage,
    related: Option<&HttpMessage>,
    id: &ComponentId,
    types: &StructuredTypes,
) -> Result<String> {
    let mut out = String::new();
    let mut cache = BaseCache::new(usize::MAX);
    write_component_value(&mut out, msg, related, id, types, &mut cache)?;
    Ok(out)
}

/// What is computed once per signature base rather than once per component (issue 13: with
/// one parse per covered component, 3 000 `;key` members of an 8 000-member Dictionary cost 4 s):
/// the parsed Dictionary of each field read with `;key`, the decoded query of each message read
/// with `@query-param`, and, for messages with many header lines, an index of the lines by name.
/// Index 0 is the target message, 1 the related request (`;req`).
pub(crate) struct BaseCache<'m> {
    dicts: [Option<DictCache>; 2],
    queries: [Option<HashMap<String, Vec<String>>>; 2],
    fields: [Option<HashMap<String, Vec<&'m str>>>; 2],
    /// The target URI of each request, split once however many components read it.
    targets: [Option<TargetUri<'m>>; 2],
    max_field_bytes: usize,
    /// Set by the writer of a field value that checked it has no CR, LF or non-ASCII byte (so
    /// the signature base need not look again); the base resets it before each component.
    pub(crate) value_checked: bool,
}

/// The Dictionary fields read with `;key`, parsed (or the parse error).
type DictCache = HashMap<String, std::result::Result<sfv::Dictionary, String>>;

/// Messages with more header lines than this get a name index instead of a scan per component.
const INDEX_FIELDS_ABOVE: usize = 32;

impl<'m> BaseCache<'m> {
    pub(crate) fn new(max_field_bytes: usize) -> Self {
        BaseCache {
            dicts: [None, None],
            queries: [None, None],
            fields: [None, None],
            targets: [None, None],
            max_field_bytes,
            value_checked: false,
        }
    }

    /// The target URI of the request `r` (slot `which`), split on first use.
    fn target(&mut self, which: usize, r: &'m RequestLine) -> Result<TargetUri<'m>> {
        if let Some(t) = self.targets[which] {
            return Ok(t);
        }
        let t = TargetUri::of(r)?;
        self.targets[which] = Some(t);
        Ok(t)
    }

    /// The lines of field `name` in `msg` (slot `which`), in order.
    fn lines<'n>(&mut self, which: usize, msg: &'m HttpMessage, name: &'n str) -> Lines<'m, 'n> {
        if msg.headers.len() <= INDEX_FIELDS_ABOVE {
            return Lines::Scan(msg.headers.iter(), name);
        }
        let index = self.fields[which].get_or_insert_with(|| {
            let mut m: HashMap<String, Vec<&'m str>> = HashMap::new();
            for (n, v) in &msg.headers {
                m.entry(n.to_ascii_lowercase())
                    .or_default()
                    .push(v.as_str());
            }
            m
        });
        Lines::Indexed(index.get(name).cloned().unwrap_or_default().into_iter())
    }
}

/// The lines of one field, scanned or from the index.
enum Lines<'m, 'n> {
    Scan(std::slice::Iter<'m, (String, String)>, &'n str),
    Indexed(std::vec::IntoIter<&'m str>),
}

impl<'m> Iterator for Lines<'m, '_> {
    type Item = &'m str;
    fn next(&mut self) -> Option<&'m str> {
        match self {
            // The lengths first: most lines are told apart without comparing any letter.
            Lines::Scan(it, name) => it
                .find(|(n, _)| crate::message::name_eq(n, name))
                .map(|(_, v)| v.as_str()),
            Lines::Indexed(it) => it.next(),
        }
    }
}

/// [`component_value_with`], appending the value to `out` (the signature base being built)
/// instead of allocating a String per component. On error, `out` may hold a partial value.
pub(crate) fn write_component_value<'m>(
    out: &mut String,
    msg: &'m HttpMessage,
    related: Option<&'m HttpMessage>,
    id: &ComponentId,
    types: &StructuredTypes,
    cache: &mut BaseCache<'m>,
) -> Result<()> {
    // Most identifiers have no parameters: nothing to check, no `req`, a plain field value.
    if id.params().is_empty() {
        return if id.is_derived() {
            write_derived_value(out, msg, id, 0, cache)
        } else {
            write_plain_field(out, msg, id, 0, cache)
        };
    }
    id.check_parameters()?;
    // The serialized identifier is only needed for error messages.
    let cid = || id.serialize();
    // RFC 9421 §2.4: `req` must not be used for a request target message; on a response it
    // selects the related request.
    let ctx = if id.req() {
        if msg.is_request() {
            return Err(Error::ReqOnRequest(cid()));
        }
        related.ok_or_else(|| Error::MissingRelatedRequest(cid()))?
    } else {
        msg
    };
    let which = usize::from(id.req());
    if id.is_derived() {
        write_derived_value(out, ctx, id, which, cache)
    } else {
        write_field_value(out, ctx, id, types, which, cache)
    }
}

fn write_field_value<'m>(
    out: &mut String,
    msg: &'m HttpMessage,
    id: &ComponentId,
    types: &StructuredTypes,
    which: usize,
    cache: &mut BaseCache<'m>,
) -> Result<()> {
    // RFC 9421 §2.1.4: "the signer MUST include the `tr` boolean parameter to indicate the value
    // MUST be taken from the trailer fields and not from the header fields"; header and trailer
    // values of one name are never combined. The trailer section is decoded from the chunked body
    // and read as if it were the header section (the same combining, `bs`, `sf`, `key` rules).
    if id.params().contains_key("tr") {
        let trailers = HttpMessage {
            kind: msg.kind.clone(),
            headers: msg.trailers()?,
            body: Vec::new(),
        };
        let mut own = BaseCache::new(cache.max_field_bytes);
        return write_field_lines(out, &trailers, id, types, 0, &mut own);
    }
    write_field_lines(out, msg, id, types, which, cache)
}

/// The value of field `id` from the header lines of `msg` (for `;tr`, a message whose header
/// lines are the trailer section).
fn write_field_lines<'m>(
    out: &mut String,
    msg: &'m HttpMessage,
    id: &ComponentId,
    types: &StructuredTypes,
    which: usize,
    cache: &mut BaseCache<'m>,
) -> Result<()> {
    if id.params().is_empty() {
        return write_plain_field(out, msg, id, which, cache);
    }
    let cid = || id.serialize();
    let mut lines = cache.lines(which, msg, id.name()).peekable();
    // RFC 9421 §2.5: a field that cannot be found in the message is an error.
    if lines.peek().is_none() {
        return Err(Error::MissingComponent(cid()));
    }
    // RFC 9421 §2.1.3: `bs` wraps each line as a Byte Sequence, then a strict List serialization.
    if id.params().contains_key("bs") {
        let list: sfv::List = lines
            .map(|l| {
                ListEntry::from(Item::new(BareItem::ByteSequence(
                    canonical_line(l).into_bytes(),
                )))
            })
            .collect();
        let v = list
            .serialize()
            .ok_or_else(|| Error::MissingComponent(cid()))?;
        out.push_str(&v);
        return Ok(());
    }
    let structured = id.params().contains_key("key") || id.params().contains_key("sf");
    if !structured {
        // RFC 9421 §2.1: lines combined with ", " after trimming and unfolding, written straight
        // into the base.
        push_combined(out, lines);
        return Ok(());
    }
    if let Some(key) = id.string_param("key") {
        // RFC 9421 §2.1.2: the member value of a Dictionary, strictly serialized.
        if let Some(t) = types.get(id.name())
            && t != StructuredType::Dictionary
        {
            return Err(Error::StructuredField {
                field: id.name().to_string(),
                reason: format!("`key` needs a Dictionary field, this field is a {t:?}"),
            });
        }
        // The field is combined and parsed once per base, however many members are covered.
        let max = cache.max_field_bytes;
        let parsed = match cache.dicts[which]
            .get_or_insert_with(HashMap::new)
            .entry(id.name().to_string())
        {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut combined = String::new();
                push_combined(&mut combined, lines);
                crate::limits::Limits {
                    max_field_bytes: max,
                    ..crate::limits::Limits::UNLIMITED
                }
                .check_field(id.name(), combined.len())?;
                #[cfg(test)]
                work::count(&work::DICT_PARSES);
                e.insert(
                    Parser::new(&combined)
                        .parse::<sfv::Dictionary>()
                        .map_err(|e| format!("value is not a valid Dictionary: {e}")),
                )
            }
        };
        let dict = parsed.as_ref().map_err(|reason| Error::StructuredField {
            field: id.name().to_string(),
            reason: reason.clone(),
        })?;
        let member = dict.get(key).ok_or_else(|| {
            Error::MissingComponent(format!("{} (dictionary key {key:?} absent)", cid()))
        })?;
        out.push_str(&match member {
            ListEntry::Item(item) => item.serialize(),
            ListEntry::InnerList(il) => serialize_inner_list(il),
        });
        return Ok(());
    }
    let mut combined = String::new();
    push_combined(&mut combined, lines);
    if id.params().contains_key("sf") {
        crate::limits::Limits {
            max_field_bytes: cache.max_field_bytes,
            ..crate::limits::Limits::UNLIMITED
        }
        .check_field(id.name(), combined.len())?;
        // RFC 9421 §2.1.1: strict re-serialization; the type must be known.
        let t = types.get(id.name()).ok_or_else(|| Error::StructuredField {
            field: id.name().to_string(),
            reason: "`sf` used but the structured type of this field is not known".into(),
        })?;
        let sf_err = |e: sfv::Error| Error::StructuredField {
            field: id.name().to_string(),
            reason: format!("value is not a valid {t:?}: {e}"),
        };
        let v = match t {
            StructuredType::Item => Some(
                Parser::new(&combined)
                    .parse::<Item>()
                    .map_err(sf_err)?
                    .serialize(),
            ),
            StructuredType::List => Parser::new(&combined)
                .parse::<sfv::List>()
                .map_err(sf_err)?
                .serialize(),
            StructuredType::Dictionary => Parser::new(&combined)
                .parse::<sfv::Dictionary>()
                .map_err(sf_err)?
                .serialize(),
        };
        // An empty List/Dictionary serializes to nothing: the field is then effectively absent.
        out.push_str(&v.ok_or_else(|| Error::MissingComponent(cid()))?);
        return Ok(());
    }
    out.push_str(&combined);
    Ok(())
}

/// A field without parameters (RFC 9421 §2.1): its header lines combined, written straight into
/// the base.
fn write_plain_field<'m>(
    out: &mut String,
    msg: &'m HttpMessage,
    id: &ComponentId,
    which: usize,
    cache: &mut BaseCache<'m>,
) -> Result<()> {
    // RFC 9421 §2.1: lines combined with ", " after trimming and unfolding. A line that is
    // plain ASCII without line breaks (the common case) has no obs-fold and is only trimmed;
    // then the base need not scan the value again.
    let mut checked = true;
    let mut found = false;
    let mut push_line = |out: &mut String, l: &str| {
        if found {
            out.push_str(", ");
        }
        found = true;
        if plain_ascii(l.as_bytes()) {
            out.push_str(trim_ows(l));
        } else {
            checked = false;
            push_canonical_line(out, l);
        }
    };
    let name = id.name();
    if msg.headers.len() <= INDEX_FIELDS_ABOVE {
        // What `BaseCache::lines` scans, without the iterator around it.
        for (n, v) in &msg.headers {
            if crate::message::name_eq(n, name) {
                push_line(out, v);
            }
        }
    } else {
        for l in cache.lines(which, msg, name) {
            push_line(out, l);
        }
    }
    // RFC 9421 §2.5: a field that cannot be found in the message is an error.
    if !found {
        return Err(Error::MissingComponent(id.serialize()));
    }
    cache.value_checked = checked;
    Ok(())
}

/// No CR, LF or non-ASCII byte in `b`, eight bytes at a time.
fn plain_ascii(b: &[u8]) -> bool {
    use crate::sf::{HIGH_BITS, any_byte_where, word_has_byte};
    !any_byte_where(
        b,
        |w| w & HIGH_BITS != 0 || word_has_byte(w, b'\n') || word_has_byte(w, b'\r'),
        |c| !c.is_ascii() || c == b'\n' || c == b'\r',
    )
}

/// RFC 9421 §2.1: the field lines combined with ", " after trimming and unfolding, appended.
fn push_combined<'a>(out: &mut String, lines: impl Iterator<Item = &'a str>) {
    for (i, l) in lines.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_canonical_line(out, l);
    }
}

/// Serialize an sfv inner list with its parameters (RFC 8941 §4.1.1.1).
pub(crate) fn serialize_inner_list(il: &sfv::InnerList) -> String {
    let mut out = String::from("(");
    for (i, item) in il.items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&item.serialize());
    }
    out.push(')');
    out.push_str(&serialize_params(&il.params));
    out
}

/// Serialize parameters alone (`;a=1;b`), via an Item whose bare item is then cut off.
pub(crate) fn serialize_params(params: &Parameters) -> String {
    let s = Item::with_params(BareItem::Boolean(true), params.clone()).serialize();
    s.strip_prefix("?1").unwrap_or(&s).to_string()
}

fn request_of<'a>(msg: &'a HttpMessage, id: &ComponentId) -> Result<&'a RequestLine> {
    msg.request_line()
        .ok_or_else(|| Error::RequestComponentOnResponse(id.name().to_string()))
}

/// The authority of a target URI, parsed (RFC 3986 §3.2, RFC 9110 §4.2.1, §4.2.4, §7.2) and
/// normalized (RFC 9110 §4.2.3, RFC 3986 §6.2.2-6.2.3): the host in lowercase (reg-name or IP
/// literal, IPv6 hex digits included), the port as a number, omitted when it is empty or the
/// scheme's default (`http` 80, `https` 443, and `ws` / `wss` likewise).
///
/// ```
/// use http_sig::normalize_authority;
/// assert_eq!(normalize_authority("Example.COM:443", "https").unwrap(), "example.com");
/// assert_eq!(normalize_authority("[2001:DB8::1]:80", "http").unwrap(), "[2001:db8::1]");
/// assert_eq!(normalize_authority("example.com:", "https").unwrap(), "example.com");
/// assert_eq!(normalize_authority("user@example.com", "https").unwrap_err().kind(), "invalid_authority");
/// ```
pub fn normalize_authority(authority: &str, scheme: &str) -> Result<String> {
    let mut out = String::with_capacity(authority.len());
    push_normalized_authority(&mut out, authority, || default_port(scheme))?;
    Ok(out)
}

/// The default port of `scheme` (as written: `normalize_authority` takes it lowercased).
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" | "wss" => Some(443),
        "http" | "ws" => Some(80),
        _ => None,
    }
}

/// RFC 3986 §2.3 unreserved and §2.2 sub-delims: the characters of a reg-name besides
/// pct-encoded octets.
fn is_reg_name_char(b: u8) -> bool {
    REG_NAME_CHARS[usize::from(b)]
}

/// [`is_reg_name_char`] as a table (one load per host byte).
static REG_NAME_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric();
        i += 1;
    }
    let extra = b"-._~!$&'()*+,;=";
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
};

/// [`normalize_authority`], appended to `out`. Malformed authorities are
/// [`Error::InvalidAuthority`]; nothing is appended then.
/// `default` gives the scheme's default port (asked only when there is a port).
fn push_normalized_authority(
    out: &mut String,
    authority: &str,
    default: impl FnOnce() -> Option<u16>,
) -> Result<()> {
    let bad = |reason: &str| Error::InvalidAuthority {
        authority: crate::excerpt(authority, 80),
        reason: reason.to_string(),
    };
    let a = trim_ows(authority);
    // The common case: a reg-name already in lowercase, of letters, digits, `-` and `.`, without
    // a port. What the general path below gives for it is the text itself.
    if !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        out.push_str(a);
        return Ok(());
    }
    if a.is_empty() {
        // RFC 9110 §4.2.1: "A recipient that processes such a URI reference MUST reject it as
        // invalid" (an http(s) URI with an empty host).
        return Err(bad(
            "it is empty (RFC 9110 §4.2.1: an empty host MUST be rejected)",
        ));
    }
    if a.contains('@') {
        // RFC 9110 §4.2.4: userinfo is deprecated; "A recipient SHOULD parse for userinfo and
        // treat its presence as an error".
        return Err(bad(
            "it has userinfo (`...@`), which http(s) URIs must not carry (RFC 9110 §4.2.4)",
        ));
    }
    let (host, rest) = if let Some(lit) = a.strip_prefix('[') {
        let Some(end) = lit.find(']') else {
            return Err(bad("the IP literal `[` is not closed by `]`"));
        };
        let inner = &lit[..end];
        if inner.contains('%') {
            return Err(bad(
                "the IP literal has a zone id (`%`), which RFC 3986 IP-literal and so HTTP do not allow",
            ));
        }
        let ok = if let Some(fut) = inner.strip_prefix(['v', 'V']) {
            // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
            fut.split_once('.').is_some_and(|(v, rest)| {
                !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_hexdigit())
                    && !rest.is_empty()
                    && rest.bytes().all(|b| is_reg_name_char(b) || b == b':')
            })
        } else {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        };
        if !ok {
            return Err(bad(
                "the IP literal is not an IPv6 address (RFC 3986 §3.2.2)",
            ));
        }
        (&a[..end + 2], &a[end + 2..])
    } else {
        let end = a.find(':').unwrap_or(a.len());
        let host = &a[..end];
        if host.is_empty() {
            return Err(bad(
                "the host is empty (RFC 9110 §4.2.1: it MUST be rejected)",
            ));
        }
        let b = host.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    return Err(bad(
                        "the host has a `%` that is not a percent-encoded octet",
                    ));
                }
                i += 3;
            } else if is_reg_name_char(b[i]) {
                i += 1;
            } else {
                return Err(bad(
                    "the host has a character a reg-name does not allow (RFC 3986 §3.2.2)",
                ));
            }
        }
        (host, &a[end..])
    };
    let port = match rest.strip_prefix(':') {
        None if rest.is_empty() => None,
        None => return Err(bad("text after the IP literal that is not `:port`")),
        // RFC 3986 §6.2.3: an empty port is normalized away.
        Some("") => None,
        Some(p) => {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("the port is not a number"));
            }
            let n: u16 = p
                .trim_start_matches('0')
                .parse()
                .or_else(|e| {
                    if p.bytes().all(|b| b == b'0') {
                        Ok(0)
                    } else {
                        Err(e)
                    }
                })
                .map_err(|_| bad("the port is larger than 65535"))?;
            Some(n)
        }
    };
    push_lowercase(out, host);
    if let Some(p) = port.filter(|p| Some(*p) != default()) {
        let _ = write!(out, ":{p}");
    }
    Ok(())
}

/// The request-target's form (RFC 9112 §3.2).
#[derive(Clone, Copy, PartialEq, Eq)]
enum TargetForm {
    Origin,
    Absolute,
    Authority,
    Asterisk,
}

/// The parts of the target URI of a request (RFC 9110 §7.1, RFC 9112 §3.3), borrowed from the
/// request line, whatever the form of its request-target.
#[derive(Clone, Copy)]
struct TargetUri<'a> {
    form: TargetForm,
    /// The scheme (not yet lowercased): the absolute-form target's, else the one the request was
    /// received over.
    scheme: &'a str,
    /// The authority (not yet normalized): the absolute-form or authority-form target's, else
    /// the Host field's; `None` when there is none.
    authority: Option<&'a str>,
    /// The path as sent; empty for asterisk-form and authority-form ("the target URI's combined
    /// path and query component is empty", RFC 9112 §3.3) and for an absolute-form URI without one.
    path: &'a str,
    /// The query without `?`, if there is a `?`.
    query: Option<&'a str>,
}

impl<'a> TargetUri<'a> {
    fn of(r: &'a RequestLine) -> Result<Self> {
        let t = r.target.as_str();
        // RFC 9112 §3.2: no form of request-target has a fragment (origin-form is absolute-path
        // ["?" query], absolute-form an absolute-URI).
        if t.as_bytes().contains(&b'#') {
            return Err(Error::InvalidRequestTarget {
                target: crate::excerpt(t, 80),
                reason: "it has a fragment (`#`), which no request-target form allows".into(),
            });
        }
        let split = |rest: &'a str| match rest.bytes().position(|b| b == b'?') {
            // `?` is ASCII: both sides are on character boundaries.
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                Some(rest.get(i + 1..).unwrap_or_default()),
            ),
            None => (rest, None),
        };
        let host = r.authority.as_deref();
        Ok(if t.starts_with('/') {
            let (path, query) = split(t);
            TargetUri {
                form: TargetForm::Origin,
                scheme: &r.scheme,
                authority: host,
                path,
                query,
            }
        } else if let Some((scheme, authority, rest)) = split_absolute(t) {
            // RFC 9112 §3.2.2: the authority of an absolute-form target replaces the Host field.
            let (path, query) = split(rest);
            TargetUri {
                form: TargetForm::Absolute,
                scheme,
                authority: Some(authority),
                path,
                query,
            }
        } else if t == "*" {
            TargetUri {
                form: TargetForm::Asterisk,
                scheme: &r.scheme,
                authority: host,
                path: "",
                query: None,
            }
        } else {
            // RFC 9112 §3.3: "If the request-target is in authority-form, the target URI's
            // authority component is the request-target."
            TargetUri {
                form: TargetForm::Authority,
                scheme: &r.scheme,
                authority: Some(t),
                path: "",
                query: None,
            }
        })
    }

    fn push_scheme(&self, out: &mut String) {
        push_lowercase(out, self.scheme);
    }

    fn push_authority(&self, out: &mut String, component: &str) -> Result<()> {
        let a = self.authority.ok_or_else(|| {
            Error::MissingComponent(format!(
                "{component} (no Host header and no absolute-form target)"
            ))
        })?;
        // The default port of the scheme in lowercase, without a lowercased copy.
        let default = || {
            ["https", "wss", "http", "ws"]
                .into_iter()
                .find(|s| s.eq_ignore_ascii_case(self.scheme))
                .and_then(default_port)
        };
        push_normalized_authority(out, a, default)
    }

    /// RFC 9421 §2.2.6 / RFC 9110 §4.2.3: an empty path is `/`.
    fn path(&self) -> &'a str {
        if self.path.is_empty() { "/" } else { self.path }
    }

    /// RFC 9110 §7.1 assembled, normalized as RFC 9110 §4.2.3 says (scheme and host in
    /// lowercase, default or empty port omitted, empty path `/`). The one exception to the `/`:
    /// the asterisk-form (and `OPTIONS` with an absolute-form URI without path or query, which
    /// RFC 9112 §3.2.4 makes the same request) has no path at all: `OPTIONS *` and `OPTIONS /`
    /// are different requests.
    fn push_target_uri(&self, out: &mut String, method: &str) -> Result<()> {
        self.push_scheme(out);
        out.push_str("://");
        self.push_authority(out, "\"@target-uri\"")?;
        let no_path = match self.form {
            TargetForm::Asterisk | TargetForm::Authority => true,
            TargetForm::Absolute => {
                method == "OPTIONS" && self.path.is_empty() && self.query.is_none()
            }
            TargetForm::Origin => false,
        };
        if !no_path {
            out.push_str(self.path());
            if let Some(q) = self.query {
                out.push('?');
                out.push_str(q);
            }
        }
        Ok(())
    }
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
/// request message that [...] contains more than one Host header field line": where the
/// authority comes from Host (origin- and asterisk-form), several lines leave none.
fn single_host(msg: &HttpMessage, t: &TargetUri<'_>) -> Result<()> {
    if matches!(t.form, TargetForm::Origin | TargetForm::Asterisk)
        && msg
            .headers
            .iter()
            .filter(|(n, _)| crate::message::name_eq(n, "host"))
            .nth(1)
            .is_some()
    {
        return Err(Error::InvalidAuthority {
            authority: "(several Host field lines)".into(),
            reason: "a request with more than one Host field line has no authority (RFC 9112 §3.2: a server answers 400)".into(),
        });
    }
    Ok(())
}

fn write_derived_value<'m>(
    out: &mut String,
    msg: &'m HttpMessage,
    id: &ComponentId,
    which: usize,
    cache: &mut BaseCache<'m>,
) -> Result<()> {
    let name = id.name();
    let start = out.len();
    match name {
        // RFC 9421 §2.2.9: @status only for responses.
        "@status" => match msg.status() {
            Some(s) => {
                let _ = write!(out, "{s:03}");
            }
            None => return Err(Error::StatusInRequest),
        },
        // RFC 9421 §2.2.1: method as-is, case preserved.
        "@method" => out.push_str(&request_of(msg, id)?.method),
        // RFC 9421 §2.2.4: the target URI's scheme in lowercase.
        "@scheme" => cache.target(which, request_of(msg, id)?)?.push_scheme(out),
        // RFC 9421 §2.2.3: the target URI's authority, normalized (RFC 9110 §4.2.3).
        "@authority" => {
            let t = cache.target(which, request_of(msg, id)?)?;
            single_host(msg, &t)?;
            t.push_authority(out, "\"@authority\"")?
        }
        // RFC 9421 §2.2.5: the request-target as sent (includes the query).
        "@request-target" => out.push_str(&request_of(msg, id)?.target),
        // RFC 9421 §2.2.2: the full target URI (RFC 9110 §7.1), one value whatever the form of
        // the request line (RFC 9421 §1.3: such changes must not break a signature).
        "@target-uri" => {
            let r = request_of(msg, id)?;
            let t = cache.target(which, r)?;
            single_host(msg, &t)?;
            t.push_target_uri(out, &r.method)?
        }
        // RFC 9421 §2.2.6: absolute path, not decoded, empty -> "/" (asterisk-form and
        // authority-form targets have an empty path, RFC 9112 §3.3).
        "@path" => out.push_str(cache.target(which, request_of(msg, id)?)?.path()),
        // RFC 9421 §2.2.7: "?" + query, or "?" alone when there is none.
        "@query" => {
            let q = cache.target(which, request_of(msg, id)?)?.query;
            out.push('?');
            out.push_str(q.unwrap_or_default());
        }
        // RFC 9421 §2.2.8
        "@query-param" => {
            let r = request_of(msg, id)?;
            let wanted = id
                .string_param("name")
                .ok_or(Error::QueryParamNameMissing)?;
            // RFC 9421 §2.2.8: "The REQUIRED `name` parameter of each component identifier
            // contains the encoded `nameString`": the parameter is compared as given against each
            // name after decoding and re-encoding (so `name="a b"` never matches: the encoded
            // form of that name is `a%20b`).
            let query = cache.target(which, r)?.query.unwrap_or_default();
            // The query is split, decoded and re-encoded once per base: name -> values.
            let index = cache.queries[which].get_or_insert_with(|| {
                #[cfg(test)]
                work::count(&work::QUERY_PARSES);
                let mut m: HashMap<String, Vec<String>> = HashMap::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let vals = m.entry(form_encode(&form_decode(n))).or_default();
                    // Only whether a name is repeated matters beyond the first value.
                    if vals.len() < 2 {
                        vals.push(form_encode(&form_decode(v)));
                    }
                }
                m
            });
            let found: &[String] = index.get(wanted).map_or(&[], Vec::as_slice);
            // "If a parameter name occurs multiple times in a request, the named query parameter
            // MUST NOT be included"; an absent one MUST cause an error.
            match found {
                [] => return Err(Error::QueryParamMissing(wanted.to_string())),
                [v] => out.push_str(v),
                _ => return Err(Error::QueryParamRepeated(wanted.to_string())),
            }
        }
        "@signature-params" => return Err(Error::SignatureParamsCovered),
        _ => return Err(Error::UnknownDerivedComponent(id.serialize())),
    };
    // RFC 9421 §2.2: derived values are printable characters and spaces, no surrounding whitespace.
    if out.as_bytes()[start..]
        .iter()
        .any(|b| !(0x20..0x7f).contains(b))
    {
        return Err(Error::NonAscii(format!(
            "derived component {}",
            id.serialize()
        )));
    }
    Ok(())
}

/// Append `s` with ASCII letters lowercased (as `str::to_ascii_lowercase`).
fn push_lowercase(out: &mut String, s: &str) {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        out.extend(s.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        out.push_str(s);
    }
}

/// application/x-www-form-urlencoded parsing of one name or value (WHATWG URL §5.1): `+` is a
/// space, percent-escapes are decoded, the bytes are read as UTF-8 (lossy).
pub fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 3;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode after encoding (WHATWG URL application/x-www-form-urlencoded set), with a space
/// encoded as `%20`, as RFC 9421 §2.2.8 shows (`+` becomes `%20`).
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"*-._".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Work counters for the linear-time tests (how often a field or the query is parsed).
#[cfg(test)]
pub(crate) mod work {
    use std::cell::Cell;
    thread_local! {
        pub static DICT_PARSES: Cell<usize> = const { Cell::new(0) };
        pub static QUERY_PARSES: Cell<usize> = const { Cell::new(0) };
    }
    pub fn count(c: &'static std::thread::LocalKey<Cell<usize>>) {
        c.with(|c| c.set(c.get() + 1));
    }
    pub fn take(c: &'static std::thread::LocalKey<Cell<usize>>) -> usize {
        c.with(|c| c.replace(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: one covered `;key` component per dictionary member made the base cost
    /// members x components (a 170 KiB request took 4 s). The field is parsed once per message.
    #[test]
    fn a_dictionary_field_is_parsed_once_per_base() {
        let members: Vec<String> = (0..2000).map(|i| format!("k{i}={i}")).collect();
        let mut m = HttpMessage::request("GET", "/", "https", Some("a"));
        m.append_header("Example-Dict", &members.join(", "));
        let comps = (0..1000)
            .map(|i| ComponentId::new("example-dict")?.with_string("key", &format!("k{i}")))
            .collect::<Result<Vec<_>>>()
            .unwrap();
        let p = crate::params::SignatureParams::new(comps);
        work::take(&work::DICT_PARSES);
        let base = crate::params::signature_base(&m, None, &p).unwrap();
        assert!(
            base.contains("\"example-dict\";key=\"k999\": 999\n"),
            "{base}"
        );
        assert_eq!(work::take(&work::DICT_PARSES), 1);
    }

    /// Issue 13: likewise `@query-param`: the query is split and decoded once per message.
    #[test]
    fn the_query_is_parsed_once_per_base() {
        let q: Vec<String> = (0..2000).map(|i| format!("p{i}=v{i}")).collect();
        let m = HttpMessage::request("GET", &format!("/x?{}", q.join("&")), "https", Some("a"));
        let comps = (0..1000)
            .map(|i| ComponentId::query_param(&format!("p{i}")))
            .collect::<Result<Vec<_>>>()
            .unwrap();
        let p = crate::params::SignatureParams::new(comps);
        work::take(&work::QUERY_PARSES);
        let base = crate::params::signature_base(&m, None, &p).unwrap();
        assert!(
            base.contains("\"@query-param\";name=\"p999\": v999\n"),
            "{base}"
        );
        assert_eq!(work::take(&work::QUERY_PARSES), 1);
    }

    proptest::proptest! {
        /// `plain_ascii` is "no CR, LF or non-ASCII byte", at every length and position.
        #[test]
        fn plain_ascii_finds_every_line_break_and_non_ascii_byte(
            v in proptest::collection::vec(proptest::sample::select(
                vec![b'a', b' ', b'\t', b'\n', b'\r', 0x0b, 0x0c, 0x8a, 0x8d, 0xff, 0x00, 0x7f]), 0..40),
        ) {
            let want = v.iter().all(|&c| c.is_ascii() && c != b'\n' && c != b'\r');
            proptest::prop_assert_eq!(super::plain_ascii(&v), want);
        }
    }

    #[test]
    fn trim_ows_is_trim_matches() {
        for v in ["", " ", "\t \t", " a ", "a", "\ta b\t ", " é\t", "x  y"] {
            assert_eq!(super::trim_ows(v), v.trim_matches([' ', '\t']), "{v:?}");
        }
    }

    #[test]
    fn unfold_replaces_obs_fold_and_keeps_bare_breaks_visible() {
        assert_eq!(unfold("a \r\n   b"), "a b");
        assert_eq!(unfold("a\n\tb\r\n c"), "a b c");
        assert_eq!(unfold("plain"), "plain");
        assert_eq!(unfold("a\nb"), "a\nb");
    }

    #[test]
    fn form_decode_encode() {
        assert_eq!(form_decode("a+b%20c%zz%4"), "a b c%zz%4");
        assert_eq!(form_encode("façade\": "), "fa%C3%A7ade%22%3A%20");
        assert_eq!(form_encode("A-z_0.9*~"), "A-z_0.9*%7E");
    }

    #[test]
    fn authority_normalization() {
        let n = |a: &str, s: &str| normalize_authority(a, s).unwrap();
        assert_eq!(n("Example.COM:443", "https"), "example.com");
        assert_eq!(n("example.com:80", "http"), "example.com");
        assert_eq!(n("example.com:80", "https"), "example.com:80");
        assert_eq!(n("[::1]:443", "https"), "[::1]");
        assert_eq!(n("[2001:DB8::A]:8443", "https"), "[2001:db8::a]:8443");
        // RFC 3986 §6.2.3: an empty port is normalized away; a port is a number.
        assert_eq!(n("example.com:", "https"), "example.com");
        assert_eq!(n("example.com:0443", "https"), "example.com");
        assert_eq!(n("example.com:08443", "https"), "example.com:8443");
        assert_eq!(n("example.com:0", "https"), "example.com:0");
        assert_eq!(n("[v1.Fe:x]", "https"), "[v1.fe:x]");
        assert_eq!(n("xn--bcher-kva.example", "https"), "xn--bcher-kva.example");
        assert_eq!(n("a%2Eb", "https"), "a%2eb");
    }

    /// Odd authorities and targets never panic: a value or a typed error.
    #[test]
    fn odd_authorities_and_targets_give_a_value_or_a_typed_error() {
        let hosts = [
            "[",
            "[]",
            "[:",
            "]",
            ":",
            "@",
            "[::1]:",
            "[v.]",
            "[v1.]",
            "\u{e9}:80",
            "[\u{e9}]",
            "a:\u{e9}",
            "[::1]]",
            "%",
            "a%4",
            "::",
            "[::ffff:1.2.3.4]:443",
            "x:00000000000000443",
        ];
        let targets = [
            "/",
            "*",
            "h:1",
            "https://",
            "https://[",
            "/#",
            "?",
            "x://a:b@c",
        ];
        for h in hosts {
            for t in targets {
                let m = HttpMessage::request("GET", t, "https", Some(h));
                for c in ["@target-uri", "@authority", "@scheme", "@path", "@query"] {
                    let id = ComponentId::new(c).unwrap();
                    if let Err(e) = component_value(&m, None, &id) {
                        assert!(!e.kind().is_empty(), "{h:?} {t:?} {c}");
                    }
                }
            }
        }
        assert_eq!(
            normalize_authority("x:00000000000000443", "https").unwrap(),
            "x"
        );
    }

    /// Issue 17: malformed authorities are a typed error that says what is wrong, never a base
    /// with an empty or half-parsed `@authority`.
    #[test]
    fn malformed_authorities_are_typed_errors() {
        for (a, why) in [
            ("", "empty"),
            (":443", "host is empty"),
            ("user@example.com", "userinfo"),
            ("@example.com", "userinfo"),
            ("[::1", "not closed"),
            ("[fe80::1%25eth0]", "zone id"),
            ("[fe80::1%eth0]:443", "zone id"),
            ("[::g]", "not an IPv6 address"),
            ("[example.com]", "not an IPv6 address"),
            ("[::1]x", "not `:port`"),
            ("example.com:https", "not a number"),
            ("example.com:65536", "larger than 65535"),
            ("example.com:1:2", "not a number"),
            ("exa mple.com", "reg-name"),
            ("exa%zzmple", "percent-encoded"),
        ] {
            let e = normalize_authority(a, "https").unwrap_err();
            assert_eq!(e.kind(), "invalid_authority", "{a:?}");
            assert!(e.to_string().contains(why), "{a:?}: {e}");
        }
    }
}
