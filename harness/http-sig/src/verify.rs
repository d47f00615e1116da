//! [`Verifier`] and [`VerificationPolicy`] (RFC 9421 §3.2, §3.2.1), and the [`NonceStore`] used for
//! replay detection. Sans-IO: the caller passes `now` (UNIX seconds).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::alg::Algorithm;
use crate::components::ComponentId;
use crate::components::StructuredTypes;
use crate::config::{self, Format};
use crate::error::{Error, Result};
use crate::key::{Key, KeyOperation, KeySet};
use crate::limits::Limits;
use crate::message::HttpMessage;
use crate::params::{
    SignatureEntry, SignatureParams, find_signature_limited, signature_base_parts, signatures,
};

/// Remembers nonces to detect replays. Implementations decide retention; `now` is passed in.
pub trait NonceStore {
    /// Record `nonce`, to be remembered until `keep_until`. Returns `false` if it was already
    /// present (a replay), `true` if it is new.
    fn check_and_insert(&mut self, nonce: &str, keep_until: u64, now: u64) -> bool;

    /// [`NonceStore::check_and_insert`] for a signature made with the key `keyid` names (`None`:
    /// no keyid). Stores that keep nonces per key (so that one key cannot evict the nonces of
    /// another, e.g. with a per-key cap) override this; by default the key is ignored.
    fn check_and_insert_for_key(
        &mut self,
        keyid: Option<&str>,
        nonce: &str,
        keep_until: u64,
        now: u64,
    ) -> bool {
        let _ = keyid;
        self.check_and_insert(nonce, keep_until, now)
    }
}

/// A bounded in-memory [`NonceStore`]: expired entries are dropped on each call; when full, the
/// oldest entry is evicted (so a very old replay may go undetected once evicted). Every call
/// costs O(log n) plus the expired entries it drops (a scan of the whole store per call made a
/// full store of 100 000 nonces cost milliseconds per request; issue 13).
#[derive(Debug, Clone)]
pub struct InMemoryNonceStore {
    capacity: usize,
    /// nonce -> (keep_until, insertion sequence number)
    until: HashMap<String, (u64, u64)>,
    /// (keep_until, seq) in expiry order
    by_expiry: BTreeMap<(u64, u64), String>,
    /// seq -> keep_until, in insertion order
    by_age: BTreeMap<u64, u64>,
    next_seq: u64,
}

impl InMemoryNonceStore {
    /// A store holding at most `capacity` nonces (at least 1).
    pub fn new(capacity: usize) -> Self {
        InMemoryNonceStore {
            capacity: capacity.max(1),
            until: HashMap::new(),
            by_expiry: BTreeMap::new(),
            by_age: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Number of nonces currently remembered.
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Is the store empty?
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    fn remove(&mut self, keep_until: u64, seq: u64) {
        if let Some(n) = self.by_expiry.remove(&(keep_until, seq)) {
            self.until.remove(&n);
        }
        self.by_age.remove(&seq);
    }
}

impl NonceStore for InMemoryNonceStore {
    fn check_and_insert(&mut self, nonce: &str, keep_until: u64, now: u64) -> bool {
        // Drop expired entries (kept while keep_until >= now).
        while let Some((&(u, seq), _)) = self.by_expiry.first_key_value() {
            if u >= now {
                break;
            }
            self.remove(u, seq);
        }
        if self.until.contains_key(nonce) {
            return false;
        }
        while self.until.len() >= self.capacity {
            match self.by_age.first_key_value() {
                Some((&seq, &u)) => self.remove(u, seq),
                None => break,
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.until.insert(nonce.to_string(), (keep_until, seq));
        self.by_expiry.insert((keep_until, seq), nonce.to_string());
        self.by_age.insert(seq, keep_until);
        true
    }
}

/// Application requirements checked before the cryptographic verification (RFC 9421 §3.2.1).
/// Deserializable (TOML/YAML/JSON) with unknown keys rejected.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VerificationPolicy {
    /// Components that must be covered, as identifiers (`"@method"`, `content-type`,
    /// `"@query-param";name="id"`).
    pub required_components: Vec<String>,
    /// Signature parameters that must be present (e.g. `created`, `nonce`).
    pub required_parameters: Vec<String>,
    /// Maximum age of `created`, seconds.
    pub max_age: Option<u64>,
    /// Allowed clock skew for `created` in the future, seconds (default 0).
    pub allowed_skew: u64,
    /// Accept signatures whose `expires` is in the past (default false: they fail).
    pub allow_expired: bool,
    /// Required value of `tag`.
    pub expected_tag: Option<String>,
    /// Required value of `keyid`.
    pub expected_keyid: Option<String>,
    /// Algorithms allowed (names); empty = any the key supports.
    pub allowed_algorithms: Vec<String>,
    /// How long to remember a nonce when the signature has no `expires`, seconds (default: max_age
    /// or 300).
    pub nonce_retention: Option<u64>,
    /// Longest validity window: `created` and `expires` must both be present and
    /// `0 < expires - created <= max_validity` seconds (profiles that bound how long a signature
    /// may live).
    pub max_validity: Option<u64>,
    /// Clock skew allowed for `expires`, seconds (default 0): a signature fails as expired when
    /// `now > expires + expires_skew`.
    pub expires_skew: u64,
    /// Components that must not be covered (identifiers as in `required_components`).
    pub forbidden_components: Vec<String>,
    /// `content-digest` must be covered, present, and match the body (RFC 9530 §2); implies
    /// `check_content_digest`.
    pub require_content_digest: bool,
    /// When a Content-Digest field is present, check it against the body (RFC 9421 §7.2.8).
    pub check_content_digest: bool,
    /// keyids that name revoked keys: such signatures fail (`key_revoked`) whatever the key.
    pub revoked_keyids: Vec<String>,
    /// Accept a `keyid` that names none of the verifier's key ids (default false: RFC 9421 §3.2
    /// step 5, an unknown key MUST fail). Only applies when the verifier knows an id for its key
    /// (a JWK `kid`, [`Verifier::with_keyid`], `expected_keyid`, or a [`KeySet`]).
    pub allow_unknown_keyid: bool,
}

impl VerificationPolicy {
    /// Parse from TOML. Errors are one line: `policy (TOML): line L, column C: ...`.
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::from_text(text, Format::Toml, None)
    }

    /// Parse from YAML (or JSON).
    pub fn from_yaml(text: &str) -> Result<Self> {
        Self::from_text(text, Format::Yaml, None)
    }

    fn from_text(text: &str, format: Format, path: Option<&Path>) -> Result<Self> {
        let what = config::what("policy", path, format);
        let p: Self = config::parse(text, format, &what)?;
        p.validate().map_err(|e| match e {
            Error::InvalidConfig(m) => Error::InvalidConfig(format!("{what}: {m}")),
            other => other,
        })?;
        Ok(p)
    }

    /// Load from a file: `.toml` as TOML, anything else as YAML/JSON; at most 1 MiB, nesting at
    /// most 64 deep. Errors name the file (`policy p.toml: line 2, column 1: unknown field ...`,
    /// `policy p.toml: required_components: unknown derived component "@nope" ...`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = config::read(path)?;
        Self::from_text(&text, Format::of(path), Some(path))
    }

    /// Check that component ids and algorithm names are valid: every required component is a
    /// known derived component (RFC 9421 §2.2) or a field, with parameters that apply, so that a
    /// policy that no signature could ever satisfy is refused when it is loaded.
    pub fn validate(&self) -> Result<()> {
        let required = self.components()?;
        let forbidden = self.forbidden()?;
        if let Some(c) = required.iter().find(|c| forbidden.contains(c)) {
            return Err(Error::InvalidConfig(format!(
                "{} is both required and forbidden",
                c.serialize()
            )));
        }
        if self.require_content_digest && forbidden.iter().any(|c| c.name() == "content-digest") {
            return Err(Error::InvalidConfig(
                "require_content_digest, but content-digest is forbidden".into(),
            ));
        }
        if self.max_validity == Some(0) {
            return Err(Error::InvalidConfig(
                "max_validity = 0 admits no signature (expires - created must be positive)".into(),
            ));
        }
        self.algorithms()?;
        Ok(())
    }

    fn components(&self) -> Result<Vec<ComponentId>> {
        Self::component_list(&self.required_components, "required_components")
    }

    fn forbidden(&self) -> Result<Vec<ComponentId>> {
        Self::component_list(&self.forbidden_components, "forbidden_components")
    }

    fn component_list(list: &[String], what: &str) -> Result<Vec<ComponentId>> {
        let mut out = Vec::new();
        for c in list {
            let ids = ComponentId::parse_list(c)
                .map_err(|e| Error::InvalidConfig(format!("{what}: {e}")))?;
            for id in &ids {
                id.check_requirable()
                    .map_err(|e| Error::InvalidConfig(format!("{what}: {e}")))?;
            }
            out.extend(ids);
        }
        Ok(out)
    }

    fn algorithms(&self) -> Result<Vec<Algorithm>> {
        self.allowed_algorithms
            .iter()
            .map(|a| {
                a.parse()
                    .map_err(|e| Error::InvalidConfig(format!("allowed_algorithms: {e}")))
            })
            .collect()
    }

    /// Check the policy against a signature's parameters at time `now` (no cryptography).
    pub fn check(&self, params: &SignatureParams, now: u64) -> Result<()> {
        for c in self.components()? {
            if !params.components.contains(&c) {
                return Err(Error::RequiredComponentNotCovered(c.serialize()));
            }
        }
        for c in self.forbidden()? {
            if params.components.contains(&c) {
                return Err(Error::ForbiddenComponent(c.serialize()));
            }
        }
        if self.require_content_digest
            && !params
                .components
                .iter()
                .any(|c| c.name() == "content-digest" && c.params().is_empty())
        {
            return Err(Error::RequiredComponentNotCovered(
                "\"content-digest\" (require_content_digest)".into(),
            ));
        }
        for p in &self.required_parameters {
            if params.param(p).is_none() {
                return Err(Error::MissingParameter(p.clone()));
            }
        }
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        // RFC 9421 §3.2.1: reject signatures past their expiration time (with the allowed skew).
        if let Some(exp) = params.expires()
            && !self.allow_expired
            && now_i > exp.saturating_add(i64::try_from(self.expires_skew).unwrap_or(i64::MAX))
        {
            return Err(Error::Expired { expires: exp, now });
        }
        if let Some(max) = self.max_validity {
            let (Some(created), Some(expires)) = (params.created(), params.expires()) else {
                let missing = if params.created().is_none() {
                    "created"
                } else {
                    "expires"
                };
                return Err(Error::MissingParameter(format!(
                    "{missing} (max_validity needs created and expires)"
                )));
            };
            let window = expires.saturating_sub(created);
            if window <= 0 || window > i64::try_from(max).unwrap_or(i64::MAX) {
                return Err(Error::ValidityWindow {
                    created,
                    expires,
                    window,
                    max,
                });
            }
        }
        if let Some(created) = params.created() {
            // A creation time in the future (beyond skew) cannot be genuine.
            if created > now_i.saturating_add(i64::try_from(self.allowed_skew).unwrap_or(i64::MAX))
            {
                return Err(Error::CreatedInFuture {
                    created,
                    now,
                    skew: self.allowed_skew,
                });
            }
            // RFC 9421 §3.2.1: maximum signature age from `created`.
            if let Some(max_age) = self.max_age
                && now_i.saturating_sub(created) > i64::try_from(max_age).unwrap_or(i64::MAX)
            {
                return Err(Error::TooOld {
                    created,
                    now,
                    max_age,
                });
            }
        } else if self.max_age.is_some() {
            return Err(Error::MissingParameter("created".into()));
        }
        if let Some(tag) = &self.expected_tag
            && params.tag() != Some(tag.as_str())
        {
            return Err(Error::TagMismatch {
                expected: tag.clone(),
                got: params.tag().map(str::to_string),
            });
        }
        if let Some(k) = &self.expected_keyid
            && params.keyid() != Some(k.as_str())
        {
            return Err(Error::KeyIdMismatch {
                expected: k.clone(),
                got: params.keyid().map(str::to_string),
            });
        }
        Ok(())
    }
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The label verified.
    pub label: String,
    /// Its parameters.
    pub params: SignatureParams,
    /// The algorithm used.
    pub algorithm: Algorithm,
    /// The signature base that was verified.
    pub base: String,
}

/// The verifier's keys: one key (with the ids that name it, if known) or a set selected by kid.
#[derive(Debug, Clone)]
enum Keys {
    One { key: Key, ids: Vec<String> },
    Set(KeySet),
}

/// Verifies signatures with one key or a [`KeySet`] (RFC 9421 §3.2).
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Keys,
    alg: Option<Algorithm>,
    policy: VerificationPolicy,
    types: StructuredTypes,
    limits: Limits,
}

impl Verifier {
    /// A verifier for `key`; `alg` is the algorithm known by configuration, if any.
    /// The key's JWK `kid`, if any, is the id a `keyid` parameter must name (RFC 9421 §3.2
    /// step 5; [`VerificationPolicy::allow_unknown_keyid`] turns this off).
    pub fn new(key: Key, alg: Option<Algorithm>) -> Self {
        let ids = key.kid().map(str::to_string).into_iter().collect();
        Verifier::with_keys(Keys::One { key, ids }, alg)
    }

    fn with_keys(keys: Keys, alg: Option<Algorithm>) -> Self {
        Verifier {
            keys,
            alg,
            policy: VerificationPolicy::default(),
            types: StructuredTypes::builtin(),
            limits: Limits::default(),
        }
    }

    /// A verifier whose key is chosen by the signature's `keyid` among `keys` (RFC 9421 §3.2
    /// step 5); a signature without `keyid` is verified with the only key of a one-key set and
    /// fails otherwise. `alg` is the algorithm known by configuration, if any.
    pub fn with_key_set(keys: KeySet, alg: Option<Algorithm>) -> Self {
        Verifier::with_keys(Keys::Set(keys), alg)
    }

    /// Another id that names the (single) key: a `keyid` parameter must be one of the ids the
    /// verifier knows (RFC 9421 §3.2 step 5). No effect on a key set.
    pub fn with_keyid(mut self, id: impl Into<String>) -> Self {
        if let Keys::One { ids, .. } = &mut self.keys {
            ids.push(id.into());
        }
        self
    }

    /// RFC 9421 §3.2 step 5: "Determine the verification key material for this signature. If
    /// the key material is known through external means such as static configuration or
    /// external protocol negotiation, the verifier will use the applicable technique to obtain
    /// the key material from this external knowledge. If the key is identified in the signature
    /// parameters, the verifier will dereference the key identifier to appropriate key material
    /// to use with the signature. [...] If the key is not known to the verifier, the verifier
    /// MUST fail".
    pub fn select_key(&self, params: &SignatureParams) -> Result<&Key> {
        let keyid = params.keyid();
        if let Some(k) = keyid
            && self.policy.revoked_keyids.iter().any(|r| r == k)
        {
            return Err(Error::KeyRevoked(crate::excerpt(k, 80)));
        }
        let key = match &self.keys {
            Keys::One { key, ids } => {
                if let Some(k) = keyid
                    && !self.policy.allow_unknown_keyid
                {
                    let expected = self.policy.expected_keyid.iter();
                    let mut known = ids.iter().chain(expected).peekable();
                    if known.peek().is_some() && !known.clone().any(|i| i == k) {
                        return Err(Error::UnknownKey {
                            keyid: crate::excerpt(k, 80),
                            known: format!(
                                "its key is {}",
                                known
                                    .map(|i| crate::excerpt(i, 60))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                }
                key
            }
            Keys::Set(set) => match keyid {
                Some(k) => set.get(k).ok_or_else(|| Error::UnknownKey {
                    keyid: crate::excerpt(k, 80),
                    known: format!("the key set has {} keys", set.len()),
                })?,
                None => set.only().ok_or_else(|| Error::UnknownKey {
                    keyid: "(none)".into(),
                    known: format!(
                        "the signature has no keyid and the key set has {} keys",
                        set.len()
                    ),
                })?,
            },
        };
        // RFC 7517 §4.2-4.3: a JWK restricted to other uses may not verify.
        key.check_operation(KeyOperation::Verify)?;
        Ok(key)
    }

    /// The caps on what is looked at of a message (default [`Limits::default`]); a message
    /// beyond one is refused with [`Error::LimitExceeded`] naming it.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The caps in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The structured types the application knows, for `;sf` / `;key` components (RFC 9421
    /// §2.1.1); default: the built-in table.
    pub fn with_structured_types(mut self, types: StructuredTypes) -> Self {
        self.types = types;
        self
    }

    /// Set the policy.
    pub fn with_policy(mut self, policy: VerificationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &VerificationPolicy {
        &self.policy
    }

    /// Resolve the algorithm (RFC 9421 §3.2 step 6): configuration, key, `alg` parameter must agree.
    pub fn resolve_algorithm(&self, params: &SignatureParams) -> Result<Algorithm> {
        let key = self.select_key(params)?;
        self.resolve_algorithm_for(key, params)
    }

    fn resolve_algorithm_for(&self, key: &Key, params: &SignatureParams) -> Result<Algorithm> {
        let from_param = match params.alg() {
            Some(a) => Some(a.parse::<Algorithm>()?),
            None => None,
        };
        if let (Some(c), Some(p)) = (self.alg, from_param)
            && c != p
        {
            return Err(Error::AlgorithmMismatch(format!(
                "the `alg` parameter says {p} but the verifier is configured for {c} (RFC 9421 §3.2 step 6.4)"
            )));
        }
        let alg = self
            .alg
            .or(from_param)
            .unwrap_or_else(|| key.default_algorithm());
        // RFC 9421 §3.2 step 6.4 / §7.3.6: the key must agree with the algorithm.
        key.check_algorithm(alg)?;
        let allowed = self.policy.algorithms()?;
        if !allowed.is_empty() && !allowed.contains(&alg) {
            return Err(Error::AlgorithmNotAllowed(alg.name().into()));
        }
        Ok(alg)
    }

    fn pick(&self, msg: &HttpMessage, label: Option<&str>) -> Result<SignatureEntry> {
        match label {
            Some(l) => find_signature_limited(msg, l, &self.limits),
            None => {
                let mut all = signatures(msg)?;
                self.limits.check_signatures(all.len())?;
                match all.len() {
                    0 => Err(Error::SignatureNotFound("(any)".into())),
                    1 => Ok(all.remove(0)),
                    _ => Err(Error::SignatureNotFound(format!(
                        "(several signatures: {}; choose a label)",
                        all.iter()
                            .map(|e| e.label.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                }
            }
        }
    }

    fn verify_inner(
        &self,
        msg: &HttpMessage,
        related: Option<&HttpMessage>,
        label: Option<&str>,
        now: u64,
        store: Option<&mut dyn NonceStore>,
    ) -> Result<Verified> {
        self.limits.check_message(msg)?;
        if let Some(r) = related {
            self.limits.check_message(r)?;
        }
        // RFC 9421 §3.2 steps 1-3.
        let entry = self.pick(msg, label)?;
        self.verify_checked(msg, related, entry, now, store)
    }

    /// Verify one signature already taken from `msg` (e.g. one of [`signatures`]), with the
    /// checks of [`Verifier::verify_with_nonce_store`]: callers that try every signature of a
    /// message parse its fields once instead of once per label. The message size is checked
    /// as in `verify`.
    pub fn verify_entry(
        &self,
        msg: &HttpMessage,
        related: Option<&HttpMessage>,
        entry: SignatureEntry,
        now: u64,
        store: Option<&mut dyn NonceStore>,
    ) -> Result<Verified> {
        self.limits.check_message(msg)?;
        if let Some(r) = related {
            self.limits.check_message(r)?;
        }
        self.verify_checked(msg, related, entry, now, store)
    }

    fn verify_checked(
        &self,
        msg: &HttpMessage,
        related: Option<&HttpMessage>,
        entry: SignatureEntry,
        now: u64,
        store: Option<&mut dyn NonceStore>,
    ) -> Result<Verified> {
        self.limits
            .check_components(&entry.label, entry.params.components.len())?;
        // Step 4: application requirements.
        self.policy.check(&entry.params, now)?;
        // Step 5: the key.
        let key = self.select_key(&entry.params)?;
        // Step 6: algorithm.
        let alg = self.resolve_algorithm_for(key, &entry.params)?;
        // Step 7: recreate the base.
        let (base, _) =
            signature_base_parts(msg, related, &entry.params, &self.types, &self.limits)?;
        // Step 8: verify.
        let ok = key
            .verify(alg, base.as_bytes(), &entry.signature)
            .map_err(|e| match e {
                Error::SignatureLength {
                    algorithm,
                    expected,
                    got,
                    ..
                } => Error::SignatureLength {
                    label: entry.label.clone(),
                    algorithm,
                    expected,
                    got,
                },
                other => other,
            })?;
        if !ok {
            return Err(Error::SignatureMismatch {
                label: entry.label.clone(),
                algorithm: alg.name().into(),
            });
        }
        // RFC 9530 §2 / RFC 9421 §7.2.8: a covered Content-Digest protects the body only if it is
        // checked against the body.
        if self.policy.require_content_digest || self.policy.check_content_digest {
            let present = crate::digest::check_content_digest(msg)?;
            if !present && self.policy.require_content_digest {
                return Err(Error::MissingComponent(
                    "\"content-digest\" (require_content_digest)".into(),
                ));
            }
        }
        // Nonce uniqueness, only for signatures that verified (a forgery must not burn a nonce).
        if let Some(store) = store
            && let Some(nonce) = entry.params.nonce()
        {
            let retention = self
                .policy
                .nonce_retention
                .or(self.policy.max_age)
                .unwrap_or(300);
            let keep_until = match entry.params.expires() {
                Some(e) if e > 0 => u64::try_from(e).unwrap_or(u64::MAX),
                _ => now.saturating_add(retention),
            };
            if !store.check_and_insert_for_key(entry.params.keyid(), nonce, keep_until, now) {
                return Err(Error::NonceReplayed(nonce.to_string()));
            }
        }
        Ok(Verified {
            label: entry.label,
            params: entry.params,
            algorithm: alg,
            base,
        })
    }

    /// Verify the signature labelled `label` (or the only one when `None`) at time `now`.
    pub fn verify(
        &self,
        msg: &HttpMessage,
        related_request: Option<&HttpMessage>,
        label: Option<&str>,
        now: u64,
    ) -> Result<Verified> {
        self.verify_inner(msg, related_request, label, now, None)
    }

    /// Like [`Verifier::verify`], also rejecting a `nonce` already seen by `store`.
    pub fn verify_with_nonce_store(
        &self,
        msg: &HttpMessage,
        related_request: Option<&HttpMessage>,
        label: Option<&str>,
        now: u64,
        store: &mut dyn NonceStore,
    ) -> Result<Verified> {
        self.verify_inner(msg, related_request, label, now, Some(store))
    }
}
