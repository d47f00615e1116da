//! Web Bot Auth (draft-meunier-webbotauth-httpsig-protocol, editor's copy after -02): a signing
//! profile for bots ([`WebBotAuthSigner`]), a verification policy for origins
//! ([`WebBotAuthPolicy`]), `Signature-Agent` in both forms ([`parse_signature_agent`]), key
//! directories ([`KeyDirectory`]) and the directory response's own signature
//! ([`sign_directory_response`], [`verify_directory_response`]). Every rule, with its source
//! sentence, is in docs/web-bot-auth.md; the section names quoted below are the draft's.
//!
//! Sans-IO like the rest of the crate: nothing here fetches a directory or reads a clock. The
//! caller resolves a `Signature-Agent` URL to a [`KeyDirectory`] (the CLI does, loopback only) and
//! passes `now`.

use base64::Engine as _;
use sfv::{BareItem, Dictionary, Item, ListEntry, Parser};

use crate::components::ComponentId;
use crate::error::{Error, Result, excerpt};
use crate::key::{Key, thumbprint_of_members};
use crate::message::HttpMessage;
use crate::params::{SignatureEntry, SignatureParams, signatures};
use crate::sign::Signer;
use crate::verify::{VerificationPolicy, Verified, Verifier};

/// `tag` of a request signature ("`tag`: MUST be `web-bot-auth`").
pub const TAG: &str = "web-bot-auth";
/// `tag` of a directory response signature (Appendix "Possession Proof on the Directory
/// Response": "MUST be `http-message-signatures-directory`").
pub const DIRECTORY_TAG: &str = "http-message-signatures-directory";
/// The well-known path of a key directory (§"IANA Considerations").
pub const WELL_KNOWN_PATH: &str = "/.well-known/http-message-signatures-directory";
/// The media type a directory at the well-known URI MUST be served with (§"Directory Format").
pub const MEDIA_TYPE: &str = "application/http-message-signatures-directory+json";
/// "It is RECOMMENDED that expiry be no more than 24 hours": the default `max_validity` of
/// [`WebBotAuthPolicy`] (a SHOULD: a longer window is not a MUST failure).
pub const RECOMMENDED_MAX_VALIDITY: u64 = 86_400;
/// Default validity of a signature made by [`WebBotAuthSigner`], seconds.
pub const DEFAULT_VALIDITY: u64 = 300;
/// Largest key directory [`KeyDirectory::parse`] reads (§"SSRF": "Verifiers SHOULD reject
/// responses exceeding a defined byte limit").
pub const MAX_DIRECTORY_BYTES: usize = 64 * 1024;
/// Most keys a directory may list (§"SSRF": "Verifiers SHOULD enforce a maximum key count").
pub const MAX_DIRECTORY_KEYS: usize = 64;
/// Largest Signature-Agent field read (the same as `Limits::max_field_bytes`' default).
pub const MAX_SIGNATURE_AGENT_BYTES: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// Signature-Agent
// ---------------------------------------------------------------------------------------------

/// Which of the two wire forms a Signature-Agent field has (§"Signature-Agent": "a String Item
/// begins with a double quote `"` while a Dictionary member key does not").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAgentForm {
    /// The current form: a Dictionary of String Items, member selected by `;key=` ("Signers
    /// MUST send the dictionary form").
    Dictionary,
    /// The legacy bare String Item ("A verifier MAY accept that form").
    LegacyString,
}

impl SignatureAgentForm {
    /// `dict` / `string`, as the CLI names them.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAgentForm::Dictionary => "dict",
            SignatureAgentForm::LegacyString => "string",
        }
    }
}

impl std::str::FromStr for SignatureAgentForm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "dict" | "dictionary" => Ok(SignatureAgentForm::Dictionary),
            "string" | "legacy" => Ok(SignatureAgentForm::LegacyString),
            other => Err(Error::InvalidConfig(format!(
                "Signature-Agent form {} is neither `dict` nor `string`",
                excerpt(other, 40)
            ))),
        }
    }
}

/// One member of a Signature-Agent field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureAgentMember {
    /// The Dictionary key; `None` for the legacy String form.
    pub key: Option<String>,
    /// The String Item's value, as sent.
    pub value: String,
    /// The `type` parameter (§"Signature-Agent": "When `type` is absent, its value is
    /// `directory`").
    pub discovery: String,
}

impl SignatureAgentMember {
    /// Where key material for this member is fetched, when this implementation knows how:
    /// `directory` -> the well-known URI at the origin, `jwks_uri` -> the value itself. `None`
    /// for an unsupported `type` ("A verifier that does not support a `type` value MUST ignore
    /// that member").
    pub fn resolution_url(&self) -> Result<Option<String>> {
        match self.discovery.as_str() {
            "directory" => Ok(Some(format!(
                "{}{WELL_KNOWN_PATH}",
                directory_origin(&self.value)?
            ))),
            "jwks_uri" => {
                https_url(&self.value)?;
                Ok(Some(self.value.clone()))
            }
            _ => Ok(None),
        }
    }
}

/// A parsed Signature-Agent field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureAgent {
    /// The wire form.
    pub form: SignatureAgentForm,
    /// Its members (one for the legacy form).
    pub members: Vec<SignatureAgentMember>,
}

impl SignatureAgent {
    /// The member a covered `signature-agent` component selects: `;key=K` -> member `K` of the
    /// Dictionary; no `;key` -> the legacy String.
    pub fn member_for(&self, component: &ComponentId) -> Result<&SignatureAgentMember> {
        match (self.form, component.string_param("key")) {
            (SignatureAgentForm::Dictionary, Some(k)) => {
                self.members.iter().find(|m| m.key.as_deref() == Some(k)).ok_or_else(|| {
                    Error::InvalidSignatureAgent(format!(
                        "the signature covers member {} but the Dictionary has no such member",
                        excerpt(k, 64)
                    ))
                })
            }
            (SignatureAgentForm::LegacyString, None) => Ok(&self.members[0]),
            (SignatureAgentForm::Dictionary, None) => Err(Error::InvalidSignatureAgent(
                "the field is a Dictionary but the signature covers \"signature-agent\" without ;key= (the member keyed to the label must be covered)".into(),
            )),
            (SignatureAgentForm::LegacyString, Some(_)) => Err(Error::InvalidSignatureAgent(
                "the field is a bare String but the signature covers it with ;key= (a String has no members)".into(),
            )),
        }
    }
}

/// Parse the Signature-Agent field of `msg` (all field lines combined with ", "); `Ok(None)`
/// when absent. The form is told by the first character ("a String Item begins with a double
/// quote"). Member values must be String Items ("Its member values MUST be String Items");
/// `type` must be a Token when given.
pub fn parse_signature_agent(msg: &HttpMessage) -> Result<Option<SignatureAgent>> {
    let lines: Vec<&str> = msg.header_values("signature-agent").collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let joined = lines
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(", ");
    if joined.len() > MAX_SIGNATURE_AGENT_BYTES {
        return Err(Error::LimitExceeded {
            what: format!("Signature-Agent of {} bytes", joined.len()),
            limit: "MAX_SIGNATURE_AGENT_BYTES",
            max: MAX_SIGNATURE_AGENT_BYTES,
        });
    }
    let bad = |what: String| Error::InvalidSignatureAgent(what);
    if joined.starts_with('"') {
        let item: Item = Parser::new(&joined).parse().map_err(|e| {
            bad(format!(
                "{} is not a String Item: {e}",
                excerpt(&joined, 80)
            ))
        })?;
        let member = member_of(None, &item)?;
        return Ok(Some(SignatureAgent {
            form: SignatureAgentForm::LegacyString,
            members: vec![member],
        }));
    }
    let dict: Dictionary = Parser::new(&joined).parse().map_err(|e| {
        bad(format!(
            "{} is neither a Dictionary nor a String Item: {e}",
            excerpt(&joined, 80)
        ))
    })?;
    let mut members = Vec::new();
    for (k, v) in &dict {
        match v {
            ListEntry::Item(item) => members.push(member_of(Some(k.as_str()), item)?),
            ListEntry::InnerList(_) => {
                return Err(bad(format!(
                    "member {} is an Inner List, not a String Item",
                    excerpt(k.as_str(), 64)
                )));
            }
        }
    }
    Ok(Some(SignatureAgent {
        form: SignatureAgentForm::Dictionary,
        members,
    }))
}

fn member_of(key: Option<&str>, item: &Item) -> Result<SignatureAgentMember> {
    let name = key.map_or("the String".to_string(), |k| {
        format!("member {}", excerpt(k, 64))
    });
    let value = match &item.bare_item {
        BareItem::String(s) => s.as_str().to_string(),
        _ => {
            return Err(Error::InvalidSignatureAgent(format!(
                "{name} is not a String Item (Signature-Agent member values MUST be String Items)"
            )));
        }
    };
    let discovery = match item.params.get("type") {
        None => "directory".to_string(),
        Some(BareItem::Token(t)) => t.as_str().to_string(),
        Some(_) => {
            return Err(Error::InvalidSignatureAgent(format!(
                "{name}: the `type` parameter must be a Token"
            )));
        }
    };
    Ok(SignatureAgentMember {
        key: key.map(str::to_string),
        value,
        discovery,
    })
}

/// Check that `url` is an absolute `https` URI ("whose scheme MUST be `https`") and return its
/// authority and the rest (path, query, fragment).
fn https_url(url: &str) -> Result<(&str, &str)> {
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
        .ok_or_else(|| {
            Error::InvalidSignatureAgent(format!(
                "{} is not an https URI (Signature-Agent URIs MUST use the https scheme)",
                excerpt(url, 80)
            ))
        })?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return Err(Error::InvalidSignatureAgent(format!(
            "{} has no valid authority",
            excerpt(url, 80)
        )));
    }
    Ok((authority, tail))
}

/// The origin of a `directory` member ("The member value MUST be the ASCII serialization of an
/// origin ... an empty path `/` MAY be accepted"), lowercased, without a trailing `/`.
pub fn directory_origin(value: &str) -> Result<String> {
    let (authority, tail) = https_url(value)?;
    if !(tail.is_empty() || tail == "/") {
        return Err(Error::InvalidSignatureAgent(format!(
            "{} is not an origin (a `directory` member MUST be the serialization of an origin; path, query and fragment are not allowed)",
            excerpt(value, 80)
        )));
    }
    Ok(format!("https://{}", authority.to_ascii_lowercase()))
}

// ---------------------------------------------------------------------------------------------
// Signing (the bot)
// ---------------------------------------------------------------------------------------------

/// Where the nonce of a [`WebBotAuthSigner`] signature comes from. The draft (-02) defines no
/// nonce requirement ("This document defines no additional nonce requirements").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonceSource {
    /// No `nonce` parameter.
    None,
    /// 64 random bytes, base64 (what the draft's examples carry).
    Random,
    /// A fixed value (reproducing a published vector).
    Fixed(String),
}

/// The Web Bot Auth signing profile (§"Generating HTTP Message Signature"): covered
/// `@authority` (or the components given, to which `@authority` is added unless `@authority`
/// or `@target-uri` is among them) and the Signature-Agent member; parameters `created`,
/// `keyid` (the key's RFC 7638 thumbprint), `alg`, `expires`, `nonce` (optional), `tag`
/// (`web-bot-auth`), in the order of the draft's vectors.
#[derive(Debug, Clone)]
pub struct WebBotAuthSigner {
    signer: Signer,
    label: String,
    validity: u64,
    components: Vec<ComponentId>,
    agent: Option<(String, SignatureAgentForm)>,
    member_key: Option<String>,
    nonce: NonceSource,
    alg_param: bool,
}

impl WebBotAuthSigner {
    /// A signer for a private RSA, EC or Ed25519 key: label `sig1`, validity
    /// [`DEFAULT_VALIDITY`], covers `@authority`, random nonce, `alg` present.
    pub fn new(key: Key) -> Result<Self> {
        let thumbprint = key.jwk_thumbprint()?;
        let signer = Signer::new(key, None)?.with_keyid(thumbprint);
        Ok(WebBotAuthSigner {
            signer,
            label: "sig1".into(),
            validity: DEFAULT_VALIDITY,
            components: vec![ComponentId::new("@authority")?],
            agent: None,
            member_key: None,
            nonce: NonceSource::Random,
            alg_param: true,
        })
    }

    /// The signature label (default `sig1`).
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// `expires = created + seconds`; 0 is refused (`expires` must follow `created`). More than
    /// [`RECOMMENDED_MAX_VALIDITY`] is allowed (a RECOMMENDATION), verifiers may refuse it.
    pub fn with_validity(mut self, seconds: u64) -> Result<Self> {
        if seconds == 0 {
            return Err(Error::InvalidConfig(
                "web-bot-auth validity must be at least 1 second (expires after created)".into(),
            ));
        }
        self.validity = seconds;
        Ok(self)
    }

    /// The components covered besides Signature-Agent; `@authority` is added first unless
    /// `@authority` or `@target-uri` is listed ("Agents MUST include at least one of").
    pub fn with_components(mut self, components: Vec<ComponentId>) -> Result<Self> {
        let mut list = components;
        if !list
            .iter()
            .any(|c| matches!(c.name(), "@authority" | "@target-uri") && c.params().is_empty())
        {
            list.insert(0, ComponentId::new("@authority")?);
        }
        if list.iter().any(|c| c.name() == "signature-agent") {
            return Err(Error::InvalidConfig(
                "signature-agent is added by the web-bot-auth profile itself; do not list it"
                    .into(),
            ));
        }
        self.components = list;
        Ok(self)
    }

    /// Write Signature-Agent with this https URL in `form` before signing (replacing any
    /// Signature-Agent of the message). The Dictionary member is keyed to the label unless
    /// [`WebBotAuthSigner::with_member_key`] says otherwise.
    pub fn with_signature_agent(mut self, url: &str, form: SignatureAgentForm) -> Result<Self> {
        https_url(url).map_err(|e| Error::InvalidConfig(e.to_string()))?;
        if url.contains('"') || url.contains('\\') || !url.is_ascii() {
            return Err(Error::InvalidConfig(format!(
                "Signature-Agent URL {} must be printable ASCII without quotes or backslashes",
                excerpt(url, 80)
            )));
        }
        self.agent = Some((url.to_string(), form));
        Ok(self)
    }

    /// The Dictionary member key (default: the label, "a single member whose key is the label").
    pub fn with_member_key(mut self, key: impl Into<String>) -> Self {
        self.member_key = Some(key.into());
        self
    }

    /// The nonce (default [`NonceSource::Random`]).
    pub fn with_nonce(mut self, nonce: NonceSource) -> Self {
        self.nonce = nonce;
        self
    }

    /// Put `alg` in the parameters (default true, as the draft's vectors do).
    pub fn with_alg_param(mut self, on: bool) -> Self {
        self.alg_param = on;
        self
    }

    /// The keyid (the thumbprint).
    pub fn keyid(&self) -> &str {
        self.signer.keyid()
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The underlying signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Sign `msg` at `now`: write Signature-Agent (when configured), cover it when present,
    /// add Signature-Input and Signature under the label. Returns the parameters signed.
    pub fn sign(&self, msg: &mut HttpMessage, now: u64) -> Result<SignatureParams> {
        let member_key = self
            .member_key
            .clone()
            .unwrap_or_else(|| self.label.clone());
        if let Some((url, form)) = &self.agent {
            let value = match form {
                SignatureAgentForm::Dictionary => {
                    let key = sfv::Key::from_string(member_key.clone()).map_err(|(e, _)| {
                        Error::InvalidConfig(format!(
                            "Signature-Agent member key {} is not a structured-field key: {e}",
                            excerpt(&member_key, 40)
                        ))
                    })?;
                    format!("{}=\"{url}\"", key.as_str())
                }
                SignatureAgentForm::LegacyString => format!("\"{url}\""),
            };
            msg.set_header("Signature-Agent", &value);
        }
        let mut components = self.components.clone();
        if let Some(agent) = parse_signature_agent(msg)? {
            let c = match agent.form {
                SignatureAgentForm::LegacyString => ComponentId::new("signature-agent")?,
                SignatureAgentForm::Dictionary => {
                    // The member keyed to the label, or the only member.
                    let key = if agent
                        .members
                        .iter()
                        .any(|m| m.key.as_deref() == Some(&member_key))
                    {
                        member_key.clone()
                    } else if agent.members.len() == 1 {
                        agent.members[0].key.clone().unwrap_or_default()
                    } else {
                        return Err(Error::InvalidSignatureAgent(format!(
                            "the Dictionary has {} members and none is keyed {}; say which with a member key",
                            agent.members.len(),
                            excerpt(&member_key, 40)
                        )));
                    };
                    ComponentId::new("signature-agent")?.with_string("key", &key)?
                }
            };
            components.push(c);
        }
        let created = i64::try_from(now)
            .map_err(|_| Error::InvalidConfig(format!("time {now} is out of range")))?;
        let expires = created
            .checked_add(i64::try_from(self.validity).unwrap_or(i64::MAX))
            .ok_or_else(|| Error::InvalidConfig("created + validity overflows".into()))?;
        let mut p = SignatureParams::new(components);
        p.set_created(created)?;
        p.set_keyid(self.signer.keyid())?;
        if self.alg_param {
            p.set_alg(self.signer.algorithm().name())?;
        }
        p.set_expires(expires)?;
        match &self.nonce {
            NonceSource::None => {}
            NonceSource::Fixed(n) => {
                p.set_nonce(n)?;
            }
            NonceSource::Random => {
                let mut bytes = [0u8; 64];
                aws_lc_rs::rand::SecureRandom::fill(
                    &aws_lc_rs::rand::SystemRandom::new(),
                    &mut bytes,
                )
                .map_err(|_| Error::SigningFailed("random nonce".into()))?;
                p.set_nonce(&base64::engine::general_purpose::STANDARD.encode(bytes))?;
            }
        }
        p.set_tag(TAG)?;
        self.signer.sign_message(msg, None, &self.label, &p)?;
        Ok(p)
    }
}

// ---------------------------------------------------------------------------------------------
// Verification (the origin)
// ---------------------------------------------------------------------------------------------

/// What an origin requires of a Web Bot Auth signature, on top of RFC 9421 §3.2 (§"Validating
/// Message Signature"). Deserializable with unknown keys rejected.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebBotAuthPolicy {
    /// Longest `expires - created`, seconds; default [`RECOMMENDED_MAX_VALIDITY`] (the draft's
    /// RECOMMENDATION); `None` admits any positive window.
    pub max_validity: Option<u64>,
    /// Clock skew allowed for `created` in the future, seconds (default 0).
    pub allowed_skew: u64,
    /// Accept the legacy bare-String Signature-Agent (default true: "A verifier MAY accept that
    /// form").
    pub accept_legacy_signature_agent: bool,
    /// Refuse requests without Signature-Agent (default false: the draft's -02 MUST is on the
    /// signer; a verifier without a URL falls back to the thumbprint, §"When No URL Is
    /// Available").
    pub require_signature_agent: bool,
}

impl Default for WebBotAuthPolicy {
    fn default() -> Self {
        WebBotAuthPolicy {
            max_validity: Some(RECOMMENDED_MAX_VALIDITY),
            allowed_skew: 0,
            accept_legacy_signature_agent: true,
            require_signature_agent: false,
        }
    }
}

/// A verified Web Bot Auth signature.
#[derive(Debug, Clone, PartialEq)]
pub struct WebBotAuthVerified {
    /// The RFC 9421 result.
    pub verified: Verified,
    /// The key's thumbprint (= keyid).
    pub thumbprint: String,
    /// The Signature-Agent member the signature covers, if any.
    pub agent: Option<SignatureAgentMember>,
    /// Its form.
    pub agent_form: Option<SignatureAgentForm>,
}

impl WebBotAuthPolicy {
    /// The Web Bot Auth checks of one signature, without cryptography and without the key, in a
    /// fixed order (so one defect gives one error): empty component list, `tag`, `created`,
    /// `expires`, `keyid`, `@authority`/`@target-uri`, Signature-Agent covered (and its form),
    /// validity window. Returns the covered Signature-Agent member.
    pub fn check_entry(
        &self,
        msg: &HttpMessage,
        entry: &SignatureEntry,
    ) -> Result<Option<(SignatureAgentMember, SignatureAgentForm)>> {
        let p = &entry.params;
        // GHSA-x9cc-346q-g27m: `sig1=()` verified in a deployed verifier.
        if p.components.is_empty() {
            return Err(Error::EmptyComponentList {
                label: entry.label.clone(),
            });
        }
        // "`tag`: MUST be `web-bot-auth`".
        match p.tag() {
            None => return Err(Error::MissingParameter("tag (web-bot-auth)".into())),
            Some(t) if t != TAG => {
                return Err(Error::TagMismatch {
                    expected: TAG.into(),
                    got: Some(t.into()),
                });
            }
            Some(_) => {}
        }
        // "Agents MUST include the following @signature-params: created, expires, keyid, tag".
        for (name, present) in [
            ("created", p.created().is_some()),
            ("expires", p.expires().is_some()),
            ("keyid", p.keyid().is_some()),
        ] {
            if !present {
                return Err(Error::MissingParameter(format!("{name} (web-bot-auth)")));
            }
        }
        // "Agents MUST include at least one of the following components: @authority, @target-uri".
        if !p
            .components
            .iter()
            .any(|c| matches!(c.name(), "@authority" | "@target-uri") && c.params().is_empty())
        {
            return Err(Error::RequiredComponentNotCovered(
                "\"@authority\" or \"@target-uri\" (web-bot-auth)".into(),
            ));
        }
        // "A signed request MUST carry the Signature-Agent header ... Its member keyed to the
        // signature label MUST be signed as a component".
        let agent = parse_signature_agent(msg)?;
        let covered: Vec<&ComponentId> = p
            .components
            .iter()
            .filter(|c| c.name() == "signature-agent")
            .collect();
        let found = match &agent {
            None => {
                if self.require_signature_agent {
                    return Err(Error::SignatureAgentMissing);
                }
                None
            }
            Some(a) => {
                let Some(c) = covered.first() else {
                    return Err(Error::SignatureAgentNotCovered(entry.label.clone()));
                };
                if a.form == SignatureAgentForm::LegacyString && !self.accept_legacy_signature_agent
                {
                    return Err(Error::SignatureAgentLegacyForm);
                }
                let m = a.member_for(c)?;
                // "whose scheme MUST be https"; a `directory` member MUST be an origin.
                if m.discovery == "directory" {
                    directory_origin(&m.value)?;
                } else {
                    https_url(&m.value)?;
                }
                Some((m.clone(), a.form))
            }
        };
        // "It is RECOMMENDED that expiry be no more than 24 hours" (policy knob).
        if let (Some(created), Some(expires)) = (p.created(), p.expires()) {
            let window = expires.saturating_sub(created);
            let max = self.max_validity.unwrap_or(u64::MAX);
            if window <= 0 || window > i64::try_from(max).unwrap_or(i64::MAX) {
                return Err(Error::ValidityWindow {
                    created,
                    expires,
                    window,
                    max,
                });
            }
        }
        Ok(found)
    }

    /// The Web Bot Auth signature of `msg` to verify: the one labelled `label`, or else the
    /// first whose `tag` is `web-bot-auth` ("the Origin MAY discard signatures for which the tag
    /// is not set to web-bot-auth"), or else the only one.
    pub fn select(&self, msg: &HttpMessage, label: Option<&str>) -> Result<SignatureEntry> {
        let all = signatures(msg)?;
        if all.len() > crate::Limits::default().max_signatures {
            return Err(Error::LimitExceeded {
                what: format!("{} signatures", all.len()),
                limit: "max_signatures",
                max: crate::Limits::default().max_signatures,
            });
        }
        if let Some(l) = label {
            return all
                .into_iter()
                .find(|e| e.label == l)
                .ok_or_else(|| Error::SignatureNotFound(l.to_string()));
        }
        let n = all.len();
        let mut it = all.into_iter();
        match n {
            0 => Err(Error::SignatureNotFound(
                "(any; the request has no Signature-Input)".into(),
            )),
            1 => Ok(it.next().expect("one entry")),
            _ => {
                let all: Vec<SignatureEntry> = it.collect();
                let pos = all
                    .iter()
                    .position(|e| e.params.tag() == Some(TAG))
                    .unwrap_or(0);
                Ok(all.into_iter().nth(pos).expect("position is in range"))
            }
        }
    }

    /// Verify the Web Bot Auth signature of `msg` (see [`WebBotAuthPolicy::select`]) with the
    /// keys of `directory` at `now`: the checks of [`WebBotAuthPolicy::check_entry`], then the
    /// key whose thumbprint is the `keyid` (none: [`Error::UnknownKey`]), then RFC 9421 §3.2
    /// (`expires` in the past, `created` in the future beyond the skew, the signature).
    pub fn verify(
        &self,
        msg: &HttpMessage,
        label: Option<&str>,
        directory: &KeyDirectory,
        now: u64,
    ) -> Result<WebBotAuthVerified> {
        let entry = self.select(msg, label)?;
        let agent = self.check_entry(msg, &entry)?;
        let keyid = entry.params.keyid().unwrap_or_default().to_string();
        let key = directory.get(&keyid).ok_or_else(|| Error::UnknownKey {
            keyid: excerpt(&keyid, 64),
            known: directory.describe_known(),
        })?;
        self.verify_with(msg, entry, agent, key.clone(), keyid, now)
    }

    /// Like [`WebBotAuthPolicy::verify`] with one known public key: the `keyid` must be its
    /// thumbprint ([`Error::KeyIdNotThumbprint`]).
    pub fn verify_with_key(
        &self,
        msg: &HttpMessage,
        label: Option<&str>,
        key: &Key,
        now: u64,
    ) -> Result<WebBotAuthVerified> {
        let entry = self.select(msg, label)?;
        let agent = self.check_entry(msg, &entry)?;
        let thumbprint = key.jwk_thumbprint()?;
        let keyid = entry.params.keyid().unwrap_or_default();
        if keyid != thumbprint {
            return Err(Error::KeyIdNotThumbprint {
                keyid: excerpt(keyid, 64),
                thumbprint,
            });
        }
        self.verify_with(msg, entry, agent, key.clone(), thumbprint, now)
    }

    fn verify_with(
        &self,
        msg: &HttpMessage,
        entry: SignatureEntry,
        agent: Option<(SignatureAgentMember, SignatureAgentForm)>,
        key: Key,
        thumbprint: String,
        now: u64,
    ) -> Result<WebBotAuthVerified> {
        let policy = VerificationPolicy {
            allowed_skew: self.allowed_skew,
            ..VerificationPolicy::default()
        };
        let verified = Verifier::new(key, None)
            .with_keyid(thumbprint.clone())
            .with_policy(policy)
            .verify_entry(msg, None, entry, now, None)?;
        let (agent, agent_form) = match agent {
            Some((m, f)) => (Some(m), Some(f)),
            None => (None, None),
        };
        Ok(WebBotAuthVerified {
            verified,
            thumbprint,
            agent,
            agent_form,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Key directory
// ---------------------------------------------------------------------------------------------

/// A key directory (§"Directory Format": a JWK Set), keys indexed by RFC 7638 thumbprint.
#[derive(Debug, Clone, Default)]
pub struct KeyDirectory {
    keys: Vec<(String, Key)>,
    rejected: Vec<String>,
}

impl KeyDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A directory of these keys (public parts are what [`KeyDirectory::to_json`] publishes).
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> Result<Self> {
        let mut d = KeyDirectory::new();
        for k in keys {
            let t = k.jwk_thumbprint()?;
            if !d.keys.iter().any(|(x, _)| *x == t) {
                d.keys.push((t, k));
            }
        }
        Ok(d)
    }

    /// Parse a JWK Set with the default caps ([`MAX_DIRECTORY_BYTES`], [`MAX_DIRECTORY_KEYS`]).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::parse_with(bytes, MAX_DIRECTORY_BYTES, MAX_DIRECTORY_KEYS)
    }

    /// Parse a JWK Set of at most `max_bytes` and `max_keys` entries. The whole directory fails
    /// when it is too large or not `{"keys": [...]}`; a malformed entry is rejected on its own and
    /// recorded ([`KeyDirectory::rejected`]): not a supported public JWK, private material (`d`,
    /// or an `oct` secret), or a `kid` that is not the thumbprint ("it MUST be set to the
    /// thumbprint").
    pub fn parse_with(bytes: &[u8], max_bytes: usize, max_keys: usize) -> Result<Self> {
        if bytes.len() > max_bytes {
            return Err(Error::LimitExceeded {
                what: format!("a key directory of {} bytes", bytes.len()),
                limit: "MAX_DIRECTORY_BYTES",
                max: max_bytes,
            });
        }
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::InvalidDirectory(format!("not JSON: {e}")))?;
        let keys = v
            .as_object()
            .and_then(|o| o.get("keys"))
            .and_then(|k| k.as_array())
            .ok_or_else(|| {
                Error::InvalidDirectory(
                    "not a JWK Set: expected an object with a `keys` array (RFC 7517 §5)".into(),
                )
            })?;
        if keys.len() > max_keys {
            return Err(Error::LimitExceeded {
                what: format!("a key directory of {} keys", keys.len()),
                limit: "MAX_DIRECTORY_KEYS",
                max: max_keys,
            });
        }
        let mut d = KeyDirectory::new();
        for (i, entry) in keys.iter().enumerate() {
            match Self::entry(entry) {
                Ok((t, k)) => {
                    if !d.keys.iter().any(|(x, _)| *x == t) {
                        d.keys.push((t, k));
                    }
                }
                Err(e) => d.rejected.push(format!("keys[{i}]: {e}")),
            }
        }
        Ok(d)
    }

    fn entry(entry: &serde_json::Value) -> Result<(String, Key)> {
        let obj = entry
            .as_object()
            .ok_or_else(|| Error::InvalidDirectory("not a JSON object".into()))?;
        if obj.contains_key("d") || obj.get("kty").and_then(|k| k.as_str()) == Some("oct") {
            return Err(Error::InvalidDirectory(
                "carries private or secret key material; a directory publishes public keys".into(),
            ));
        }
        let key = Key::from_jwk(&entry.to_string())?;
        let t = key.jwk_thumbprint()?;
        if let Some(kid) = key.kid()
            && kid != t
        {
            return Err(Error::InvalidDirectory(format!(
                "kid {} is not the key's thumbprint {t} (a kid at the well-known URI MUST be the thumbprint)",
                excerpt(kid, 64)
            )));
        }
        Ok((t, key))
    }

    /// The key whose thumbprint is `thumbprint`.
    pub fn get(&self, thumbprint: &str) -> Option<&Key> {
        self.keys
            .iter()
            .find(|(t, _)| t == thumbprint)
            .map(|(_, k)| k)
    }

    /// The thumbprints, in directory order.
    pub fn thumbprints(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(t, _)| t.as_str())
    }

    /// The keys with their thumbprints.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &Key)> {
        self.keys.iter().map(|(t, k)| (t.as_str(), k))
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Entries rejected while parsing, with the reason.
    pub fn rejected(&self) -> &[String] {
        &self.rejected
    }

    fn describe_known(&self) -> String {
        if self.keys.is_empty() {
            return "the directory has no usable key".into();
        }
        let shown: Vec<&str> = self.thumbprints().take(4).collect();
        let more = self.keys.len().saturating_sub(shown.len());
        if more > 0 {
            format!("directory thumbprints {} and {more} more", shown.join(", "))
        } else {
            format!("directory thumbprints {}", shown.join(", "))
        }
    }

    /// The directory as published: `{"keys":[...]}`, each key its public JWK members plus
    /// `kid` (= thumbprint) and `use: "sig"`, compact JSON, keys in order.
    pub fn to_json(&self) -> Result<String> {
        let mut out = String::from("{\"keys\":[");
        for (i, (t, k)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let members = k.public_jwk_members()?;
            debug_assert_eq!(thumbprint_of_members(&members), *t);
            let mut obj = serde_json::Map::new();
            for (name, value) in members {
                obj.insert(name.to_string(), serde_json::Value::String(value));
            }
            obj.insert("kid".into(), serde_json::Value::String(t.clone()));
            obj.insert("use".into(), serde_json::Value::String("sig".into()));
            out.push_str(&serde_json::Value::Object(obj).to_string());
        }
        out.push_str("]}");
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Directory response signature (Appendix "Possession Proof on the Directory Response")
// ---------------------------------------------------------------------------------------------

/// Label of the `i`-th directory response signature: `binding` (the draft's vector), then
/// `binding2`, `binding3`, ...
pub fn binding_label(i: usize) -> String {
    if i == 0 {
        "binding".into()
    } else {
        format!("binding{}", i + 1)
    }
}

/// Sign a directory response with each key ("one HTTP Message Signature per key"): set
/// `Content-Digest: sha-256=...` over the body, then for each signer a signature covering
/// `"@authority";req` and `content-digest`, parameters `created`, `expires`, `keyid`
/// (thumbprint), `tag` (`http-message-signatures-directory`), in the order of the draft's vector.
pub fn sign_directory_response(
    response: &mut HttpMessage,
    request: &HttpMessage,
    signers: &[Signer],
    created: i64,
    expires: i64,
) -> Result<()> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &response.body);
    response.set_header(
        "Content-Digest",
        &format!(
            "sha-256=:{}:",
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
        ),
    );
    let components = vec![
        ComponentId::new("@authority")?.with_flag("req")?,
        ComponentId::new("content-digest")?,
    ];
    for (i, s) in signers.iter().enumerate() {
        let mut p = SignatureParams::new(components.clone());
        p.set_created(created)?;
        p.set_expires(expires)?;
        p.set_keyid(&s.key().jwk_thumbprint()?)?;
        p.set_tag(DIRECTORY_TAG)?;
        s.sign_message(response, Some(request), &binding_label(i), &p)?;
    }
    Ok(())
}

/// Verify the directory response signatures (those tagged `http-message-signatures-directory`)
/// of `response`, fetched by `request`, against the keys of `directory` (the response body
/// parsed) at `now`. Each must cover `"@authority";req` and `content-digest`, carry `created`,
/// `expires` and a `keyid` naming a directory key, not be created in the future ("MUST reject a
/// directory response signature whose created is in the future") nor expired, verify with that
/// key, and the Content-Digest must match the body ("MUST validate the Content-Digest field
/// against the response body"). Returns the thumbprints proven; the first failure is the error.
/// No tagged signature gives an empty list (the proof is optional since -02).
pub fn verify_directory_response(
    response: &HttpMessage,
    request: &HttpMessage,
    directory: &KeyDirectory,
    now: u64,
) -> Result<Vec<String>> {
    let authority_req = ComponentId::new("@authority")?.with_flag("req")?;
    let digest_c = ComponentId::new("content-digest")?;
    let mut proven = Vec::new();
    let all = signatures(response)?;
    if all.len() > MAX_DIRECTORY_KEYS {
        return Err(Error::LimitExceeded {
            what: format!("{} directory response signatures", all.len()),
            limit: "MAX_DIRECTORY_KEYS",
            max: MAX_DIRECTORY_KEYS,
        });
    }
    for entry in all {
        if entry.params.tag() != Some(DIRECTORY_TAG) {
            continue;
        }
        let p = &entry.params;
        for c in [&authority_req, &digest_c] {
            if !p.components.contains(c) {
                return Err(Error::RequiredComponentNotCovered(format!(
                    "{} (directory response signature {})",
                    c.serialize(),
                    entry.label
                )));
            }
        }
        for (name, present) in [
            ("created", p.created().is_some()),
            ("expires", p.expires().is_some()),
            ("keyid", p.keyid().is_some()),
        ] {
            if !present {
                return Err(Error::MissingParameter(format!(
                    "{name} (directory response signature {})",
                    entry.label
                )));
            }
        }
        let keyid = p.keyid().unwrap_or_default().to_string();
        let key = directory.get(&keyid).ok_or_else(|| Error::UnknownKey {
            keyid: excerpt(&keyid, 64),
            known: directory.describe_known(),
        })?;
        let policy = VerificationPolicy {
            require_content_digest: true,
            ..VerificationPolicy::default()
        };
        Verifier::new(key.clone(), None)
            .with_keyid(keyid.clone())
            .with_policy(policy)
            .verify_entry(response, Some(request), entry, now, None)?;
        proven.push(keyid);
    }
    Ok(proven)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_section_3_1_thumbprint() {
        let jwk = r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;
        // The JWK's alg RS256 is a JOSE name our Algorithm does not map; drop it for loading.
        let v: serde_json::Value = serde_json::from_str(jwk).unwrap();
        let mut o = v.as_object().unwrap().clone();
        o.remove("alg");
        let key = Key::from_jwk(&serde_json::Value::Object(o).to_string()).unwrap();
        assert_eq!(
            key.jwk_thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn signature_agent_forms() {
        let msg = |v: &str| {
            let mut m = HttpMessage::request("GET", "/", "https", Some("example.com"));
            m.append_header("Signature-Agent", v);
            m
        };
        let a = parse_signature_agent(&msg(r#""https://a.test""#))
            .unwrap()
            .unwrap();
        assert_eq!(a.form, SignatureAgentForm::LegacyString);
        assert_eq!(a.members[0].value, "https://a.test");
        let a = parse_signature_agent(&msg(
            r#"sig1="https://a.test";type=jwks_uri, x="https://b.test""#,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(a.form, SignatureAgentForm::Dictionary);
        assert_eq!(a.members.len(), 2);
        assert_eq!(a.members[0].discovery, "jwks_uri");
        assert_eq!(a.members[1].discovery, "directory");
        let e = parse_signature_agent(&msg("sig1=1")).unwrap_err();
        assert_eq!(e.kind(), "invalid_signature_agent");
        let e = parse_signature_agent(&msg("\"unterminated")).unwrap_err();
        assert_eq!(e.kind(), "invalid_signature_agent");
        assert_eq!(
            directory_origin("https://A.test/").unwrap(),
            "https://a.test"
        );
        assert!(directory_origin("https://a.test/keys").is_err());
        assert!(directory_origin("http://a.test").is_err());
    }

    #[test]
    fn directory_caps_and_entries() {
        let big = vec![b' '; MAX_DIRECTORY_BYTES + 1];
        assert_eq!(
            KeyDirectory::parse(&big).unwrap_err().kind(),
            "limit_exceeded"
        );
        let many = format!(
            "{{\"keys\":[{}]}}",
            vec!["{}"; MAX_DIRECTORY_KEYS + 1].join(",")
        );
        assert_eq!(
            KeyDirectory::parse(many.as_bytes()).unwrap_err().kind(),
            "limit_exceeded"
        );
        assert_eq!(
            KeyDirectory::parse(b"[]").unwrap_err().kind(),
            "invalid_directory"
        );
        let d = KeyDirectory::parse(
            br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","kid":"wrong"},{"kty":"oct","k":"c2VjcmV0"},{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}]}"#,
        )
        .unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d.rejected().len(), 2, "{:?}", d.rejected());
        assert!(
            d.get("poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U")
                .is_some()
        );
    }
}
