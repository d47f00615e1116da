//! Judging one signed request against the signing profile the signer was given (sans-IO: the
//! caller passes the request as data, `now`, and the set of nonces seen so far).
//!
//! Each [`SignerRule`] is one conformance case of the `http-sig-signer` suite; a request yields a
//! [`RuleStatus`] per rule, and the suite folds the statuses of all requests into one verdict per
//! rule (fail if any request fails it, skip if it applied to none).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use http_sig::{
    Algorithm, HttpMessage, Key, Limits, ProfileConfig, VerificationPolicy, Verifier, signatures,
};
use serde::Serialize;

use crate::LiveError;

/// Hop-by-hop fields (RFC 9110 §7.6.1): `Connection`, the fields it names, and the classic list.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the upstream expects of every signed request, derived from the signing profile and the
/// public key.
#[derive(Clone, Debug)]
pub struct SignerExpectations {
    key: Key,
    /// Algorithm the signer must use (profile `algorithm`, else the key's default).
    pub alg: Algorithm,
    /// keyid the signer must send (profile `key.id`, else the key's JWK `kid`, else
    /// base64(sha256(public key))).
    pub keyid: String,
    /// `headers.include` (lowercase), if given.
    pub include: Option<Vec<String>>,
    /// `headers.exclude` (lowercase).
    pub exclude: Vec<String>,
    /// Derived component names the profile covers (`@request-target` by default).
    pub derived: Vec<String>,
    /// `signature_parameters` contains `nonce`.
    pub nonce: bool,
    /// `expiry`, if set.
    pub expiry: Option<Duration>,
    /// How far `created` may be from the upstream's clock, seconds.
    pub created_tolerance: u64,
    /// Fields the HTTP client adds after signing, never required to be covered
    /// (default `host`, `content-length`: the Grafbase gateway signs before its client adds them).
    pub transport_headers: Vec<String>,
    /// Scheme the upstream is reached over, as the signer sees it (`http` on loopback).
    pub scheme: String,
}

impl SignerExpectations {
    /// Expectations from a profile and the key to verify with. `profile_key` is the profile's own
    /// key if the upstream could load it (used only for its JWK `kid`).
    pub fn new(
        cfg: &ProfileConfig,
        key: Key,
        profile_key: Option<&Key>,
    ) -> Result<SignerExpectations, LiveError> {
        let alg = match &cfg.algorithm {
            Some(a) => a.parse::<Algorithm>()?,
            None => key.default_algorithm(),
        };
        key.check_algorithm(alg)?;
        let keyid = cfg
            .key
            .id
            .clone()
            .or_else(|| profile_key.and_then(|k| k.kid().map(str::to_string)))
            .or_else(|| key.kid().map(str::to_string))
            .unwrap_or_else(|| key.default_keyid());
        let expiry = match &cfg.expiry {
            Some(e) => Some(humantime_secs(e)?),
            None => None,
        };
        Ok(SignerExpectations {
            key,
            alg,
            keyid,
            include: cfg
                .headers
                .include
                .as_ref()
                .map(|v| v.iter().map(|h| h.to_ascii_lowercase()).collect()),
            exclude: cfg
                .headers
                .exclude
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            derived: cfg
                .derived_components
                .iter()
                .map(|d| d.component_name().to_string())
                .collect(),
            nonce: cfg
                .signature_parameters
                .contains(&http_sig::SignatureParameter::Nonce),
            expiry,
            created_tolerance: 30,
            transport_headers: vec!["host".into(), "content-length".into()],
            scheme: "http".into(),
        })
    }

    /// The key signatures are verified with.
    pub fn key(&self) -> &Key {
        &self.key
    }
}

/// Parse a duration the way the profile does (humantime: `"30s"`, `"5m"`).
fn humantime_secs(e: &str) -> Result<Duration, LiveError> {
    humantime::parse_duration(e).map_err(|err| {
        LiveError::Config(format!("expiry {e:?}: {err} (examples: \"30s\", \"5m\")"))
    })
}

/// One rule the signer must follow; each is a case of the `http-sig-signer` suite. What each rule
/// is (slug, spec section, requirement) is data: its row of [`SignerRule::RULES`]; how it is
/// judged is its step in [`judge_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[repr(usize)]
pub enum SignerRule {
    SignaturePresent,
    SignatureVerifies,
    NoDuplicateComponents,
    IncludeHonoured,
    ExcludeHonoured,
    HopByHopNotCovered,
    SelectedHeadersCovered,
    MultiValuedCoveredOnce,
    DerivedAsConfigured,
    CreatedRecent,
    ExpiresIsCreatedPlusExpiry,
    NoncePresent,
    NonceUnique,
    AlgConsistent,
    KeyidConsistent,
}

/// What one [`SignerRule`] is: its stable slug, the spec section it enforces, and the
/// requirement in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleInfo<R = SignerRule> {
    pub rule: R,
    /// Stable name (`rfc9421/2.5/no-duplicate-component-ids`): the case id suffix of the
    /// `http-sig-signer` suite, and what the serve command prints for a failed rule.
    pub slug: &'static str,
    /// Specification document (`RFC 9421`, or the signing profile's documentation).
    pub document: &'static str,
    /// Section (or profile key) in `document`.
    pub section: &'static str,
    /// What is judged.
    pub stimulus: &'static str,
    /// What conforms (the expected side of a failure's evidence).
    pub requirement: &'static str,
    /// The keyword of the requirement: MUST unless the document makes it a recommendation.
    pub keyword: Keyword,
    /// The statements of the RFC 9421 traceability matrix (`vectors/data/rfc9421_statements.tsv`,
    /// `S<section>-<ordinal>`) the rule judges; empty for profile rules and section 7 guidance.
    /// The keyword must be the strongest level of these (checked by the coverage test).
    pub statements: &'static [&'static str],
}

/// The requirement keyword (RFC 2119) of a [`RuleInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    Must,
    Should,
}

const G: &str = "Grafbase message signatures";

const fn rule(
    rule: SignerRule,
    slug: &'static str,
    (document, section): (&'static str, &'static str),
    stimulus: &'static str,
    requirement: &'static str,
) -> RuleInfo {
    RuleInfo {
        rule,
        slug,
        document,
        section,
        stimulus,
        requirement,
        keyword: Keyword::Must,
        statements: &[],
    }
}

/// A [`rule`] that judges these statements of the RFC 9421 matrix.
const fn names(r: RuleInfo, statements: &'static [&'static str]) -> RuleInfo {
    RuleInfo { statements, ..r }
}

/// A [`rule`] whose document only recommends it (SHOULD / RECOMMENDED).
const fn should(r: RuleInfo) -> RuleInfo {
    RuleInfo {
        keyword: Keyword::Should,
        ..r
    }
}

impl SignerRule {
    /// Every rule, in report order (= declaration order of the enum: `RULES[r as usize].rule == r`,
    /// checked by a test).
    pub const RULES: [RuleInfo; 15] = [
        names(
            rule(
                SignerRule::SignaturePresent,
                "rfc9421/4/signature-present",
                ("RFC 9421", "4.1-4.2"),
                "every request the signer sends to the upstream",
                "carries Signature-Input and Signature fields with a parseable signature",
            ),
            &["S4-3"],
        ),
        names(
            rule(
                SignerRule::SignatureVerifies,
                "rfc9421/3.2/signature-verifies",
                ("RFC 9421", "3.2"),
                "every signed request, verified with the configured public key",
                "the signature verifies over the request as received",
            ),
            &["S3.1-1"],
        ),
        names(
            rule(
                SignerRule::NoDuplicateComponents,
                "rfc9421/2.5/no-duplicate-component-ids",
                ("RFC 9421", "2.5"),
                "the covered components of every signature",
                "a component identifier is not listed twice (RFC 9421 §2.5: duplicates are an error)",
            ),
            &["S2-3"],
        ),
        rule(
            SignerRule::IncludeHonoured,
            "profile/headers/include-honoured",
            (G, "headers.include"),
            "requests signed under a profile with headers.include",
            "only headers in the include list are covered",
        ),
        rule(
            SignerRule::ExcludeHonoured,
            "profile/headers/exclude-honoured",
            (G, "headers.exclude"),
            "requests signed under a profile with headers.exclude",
            "no header in the exclude list is covered",
        ),
        rule(
            SignerRule::HopByHopNotCovered,
            "profile/headers/hop-by-hop-not-covered",
            ("RFC 9110", "7.6.1"),
            "requests carrying hop-by-hop fields (Connection, Keep-Alive, TE, Proxy-*, fields named in Connection)",
            "hop-by-hop fields are never covered (intermediaries remove them)",
        ),
        rule(
            SignerRule::SelectedHeadersCovered,
            "profile/headers/selected-headers-covered",
            (G, "headers"),
            "every header the profile selects (include/exclude, not hop-by-hop, not added by the HTTP client after signing)",
            "is covered by the signature",
        ),
        names(
            rule(
                SignerRule::MultiValuedCoveredOnce,
                "rfc9421/2.1/multi-valued-header-covered-once",
                ("RFC 9421", "2.1"),
                "requests with a header field sent on several lines",
                "the field is covered once (its values combined, RFC 9421 §2.1) and the signature verifies",
            ),
            &["S2-3"],
        ),
        rule(
            SignerRule::DerivedAsConfigured,
            "profile/derived-components-as-configured",
            (G, "derived_components"),
            "the derived components covered",
            "are exactly derived_components (default request_target)",
        ),
        // RFC 9421 §2.3: "Inclusion of this parameter is RECOMMENDED" (issue 17: it was a MUST).
        names(
            should(rule(
                SignerRule::CreatedRecent,
                "rfc9421/2.3/created-present-and-recent",
                ("RFC 9421", "2.3"),
                "the created parameter (\"Inclusion of this parameter is RECOMMENDED\")",
                "is present and close to the upstream's clock",
            )),
            &["S3.1-6", "S2.3-2"],
        ),
        rule(
            SignerRule::ExpiresIsCreatedPlusExpiry,
            "profile/expires-is-created-plus-expiry",
            (G, "expiry"),
            "the expires parameter",
            "equals created + expiry when expiry is configured, and is absent otherwise",
        ),
        rule(
            SignerRule::NoncePresent,
            "profile/nonce-present",
            (G, "signature_parameters"),
            "requests signed under a profile with signature_parameters = [nonce]",
            "carry a non-empty nonce",
        ),
        rule(
            SignerRule::NonceUnique,
            "rfc9421/7.2.2/nonce-never-repeated",
            ("RFC 9421", "7.2.2"),
            "the nonces of all requests",
            "are never repeated",
        ),
        names(
            rule(
                SignerRule::AlgConsistent,
                "rfc9421/2.3/alg-consistent-with-key",
                ("RFC 9421", "2.3, 3.2 step 6"),
                "the alg parameter, when present (it is optional, RFC 9421 §2.3; without it the key determines the algorithm, §3.2 step 6)",
                "names the configured algorithm, which the key supports",
            ),
            &["S3.1-2"],
        ),
        rule(
            SignerRule::KeyidConsistent,
            "profile/keyid-consistent-with-key",
            (G, "keys"),
            "the keyid parameter",
            "is present and equals key.id, else the JWK kid, else base64(sha256(public key))",
        ),
    ];

    /// Every rule, in report order.
    pub const ALL: [SignerRule; 15] = {
        let mut all = [SignerRule::SignaturePresent; 15];
        let mut i = 0;
        while i < all.len() {
            all[i] = Self::RULES[i].rule;
            i += 1;
        }
        all
    };

    /// This rule's row of [`SignerRule::RULES`].
    pub fn info(self) -> &'static RuleInfo {
        &Self::RULES[self as usize]
    }

    /// Stable name, e.g. `rfc9421/2.5/no-duplicate-component-ids`.
    pub fn slug(self) -> &'static str {
        self.info().slug
    }
}

impl Rule for SignerRule {
    fn all() -> &'static [Self] {
        &Self::ALL
    }
    fn info(self) -> &'static RuleInfo<Self> {
        SignerRule::info(self)
    }
    fn judged_when_missing(self, multi_valued: bool) -> bool {
        match self {
            SignerRule::SignaturePresent | SignerRule::SignatureVerifies => true,
            SignerRule::MultiValuedCoveredOnce => multi_valued,
            _ => false,
        }
    }
}

/// A rule set the upstream judges by: [`SignerRule`] (a gateway's signing profile) or
/// [`crate::web_bot_auth::BotRule`] (a Web Bot Auth bot). Each rule has its row of data.
pub trait Rule: Copy + Eq + std::fmt::Debug + Serialize + Send + Sync + 'static {
    /// Every rule, in report order.
    fn all() -> &'static [Self];
    /// This rule's row.
    fn info(self) -> &'static RuleInfo<Self>;
    /// Stable name.
    fn slug(self) -> &'static str {
        self.info().slug
    }
    /// Whether a scripted request that never arrived fails this rule for certain (issue 17
    /// item 7): every request must arrive signed and verifying; `multi_valued` says the request
    /// carries a repeated header.
    fn judged_when_missing(self, multi_valued: bool) -> bool;
}

/// What the upstream judges every request by: the expectations of one signer.
pub trait Judge: Send + Sync + 'static {
    /// The rules a verdict has a status for.
    type Rule: Rule;
    /// Judge one request at `now`; `first_use(nonce)` records a nonce and says if it was new.
    fn judge(
        &self,
        index: usize,
        msg: &HttpMessage,
        now: u64,
        first_use: &mut dyn FnMut(&str) -> bool,
    ) -> RequestVerdict<Self::Rule>;
    /// The scheme the signer reaches the upstream over, as it sees it (`http` on loopback).
    fn scheme(&self) -> &str;
}

impl Judge for SignerExpectations {
    type Rule = SignerRule;
    fn judge(
        &self,
        index: usize,
        msg: &HttpMessage,
        now: u64,
        first_use: &mut dyn FnMut(&str) -> bool,
    ) -> RequestVerdict {
        judge_request_with(self, index, msg, now, first_use)
    }
    fn scheme(&self) -> &str {
        &self.scheme
    }
}

/// How one request fared on one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum RuleStatus {
    Pass,
    Fail(String),
    NotApplicable(String),
}

/// The verdicts for one received request.
#[derive(Clone, Debug, Serialize)]
pub struct RequestVerdict<R = SignerRule> {
    /// Arrival order, from 0.
    pub index: usize,
    /// `METHOD target`.
    pub request: String,
    /// The Signature-Input member judged, if any (`label=(...);params`).
    pub signature_input: Option<String>,
    /// One status per rule, in the order of the rule set (e.g. [`SignerRule::ALL`]).
    pub rules: Vec<(R, RuleStatus)>,
}

impl<R: Rule> RequestVerdict<R> {
    /// The status of `rule`.
    pub fn status(&self, rule: R) -> Option<&RuleStatus> {
        self.rules.iter().find(|(r, _)| *r == rule).map(|(_, s)| s)
    }

    /// Every rule failed with `why` (the request could not be read at all).
    pub fn unreadable(index: usize, why: String) -> Self {
        RequestVerdict {
            index,
            request: String::new(),
            signature_input: None,
            rules: R::all()
                .iter()
                .map(|r| (*r, RuleStatus::Fail(why.clone())))
                .collect(),
        }
    }

    /// Rules this request failed.
    pub fn failed(&self) -> Vec<R> {
        self.rules
            .iter()
            .filter(|(_, s)| matches!(s, RuleStatus::Fail(_)))
            .map(|(r, _)| *r)
            .collect()
    }
}

fn is_hop_by_hop(name: &str, connection_named: &HashSet<String>) -> bool {
    HOP_BY_HOP.contains(&name) || name.starts_with("proxy-") || connection_named.contains(name)
}

/// Judge one received request at `now` (UNIX seconds). `seen_nonces` holds the nonces of earlier
/// requests and receives this one's.
pub fn judge_request(
    exp: &SignerExpectations,
    index: usize,
    msg: &HttpMessage,
    now: u64,
    seen_nonces: &mut HashSet<String>,
) -> RequestVerdict {
    judge_request_with(exp, index, msg, now, &mut |n: &str| {
        seen_nonces.insert(n.to_string())
    })
}

/// Longest `METHOD target` kept in a verdict, characters (a longer one is cut, its length said).
pub const MAX_REQUEST_CHARS: usize = 256;

/// [`judge_request`] with the nonce memory as a function: `first_use(nonce)` records the nonce
/// and says whether it was new (the upstream keeps a bounded store behind a short lock, so that
/// requests are judged in parallel). A request beyond http-sig's default [`Limits`] is not
/// judged further (its signature fails with the cap named). Every step is linear in the size of
/// the request.
pub fn judge_request_with(
    exp: &SignerExpectations,
    index: usize,
    msg: &HttpMessage,
    now: u64,
    first_use: &mut dyn FnMut(&str) -> bool,
) -> RequestVerdict {
    use RuleStatus::{Fail, NotApplicable as Na, Pass};
    let request = msg
        .request_line()
        .map(|r| http_sig::printable(&format!("{} {}", r.method, r.target), MAX_REQUEST_CHARS))
        .unwrap_or_default();
    let limits = Limits::default();
    if let Err(e) = limits.check_message(msg) {
        return no_signature(index, request, format!("request refused unjudged: {e}"));
    }
    let mut out: Vec<(SignerRule, RuleStatus)> = Vec::new();
    // RFC 9421 §4.1-§4.2: the signature travels in Signature-Input / Signature.
    let entries = match signatures(msg) {
        Ok(e) if !e.is_empty() => e,
        Ok(_) => {
            return no_signature(
                index,
                request,
                "no Signature-Input / Signature fields".into(),
            );
        }
        Err(e) => {
            return no_signature(index, request, format!("unparseable signature fields: {e}"));
        }
    };
    // The profile signs under label `sig`; judge that one, else the first.
    let entry = entries
        .iter()
        .find(|e| e.label == "sig")
        .unwrap_or(&entries[0])
        .clone();
    let params = &entry.params;
    if let Err(e) = limits
        .check_signatures(entries.len())
        .and_then(|()| limits.check_components(&entry.label, params.components.len()))
    {
        return no_signature(index, request, format!("request refused unjudged: {e}"));
    }
    let signature_input = Some(crate::one_line(&format!(
        "{}={}",
        entry.label,
        params.serialize()
    )));
    out.push((SignerRule::SignaturePresent, Pass));

    // RFC 9421 §3.2: verify with the configured key and algorithm. The policy allows the same
    // clock tolerance as the `created` rule so that a skew is reported there, not here; a wrong
    // keyid is the keyid rule's failure, not this one's (one defect, one case).
    let policy = VerificationPolicy {
        allowed_skew: exp.created_tolerance,
        allow_expired: true,
        allow_unknown_keyid: true,
        ..VerificationPolicy::default()
    };
    let verifier = Verifier::new(exp.key.clone(), Some(exp.alg)).with_policy(policy);
    out.push((
        SignerRule::SignatureVerifies,
        match verifier.verify(msg, None, Some(&entry.label), now) {
            Ok(_) => Pass,
            // Issue 17 item 7: the base we computed goes with the failure (the signer's
            // parameters are the verdict's `signature_input`).
            Err(e) => Fail(match http_sig::signature_base(msg, None, &entry.params) {
                Ok(base) => format!("{e}; signature base we computed: {base:?}"),
                Err(b) => format!("{e}; no signature base ({b})"),
            }),
        },
    ));

    // RFC 9421 §2.5 step 2: a component identifier must not be listed twice.
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut dups: Vec<String> = Vec::new();
    let mut dup_set: HashSet<String> = HashSet::new();
    for c in &params.components {
        let id = c.serialize();
        if !seen_ids.insert(id.clone()) && dup_set.insert(id.clone()) {
            dups.push(id);
        }
    }
    out.push((
        SignerRule::NoDuplicateComponents,
        if dups.is_empty() {
            Pass
        } else {
            Fail(format!("listed more than once: {}", dups.join(", ")))
        },
    ));

    let covered_fields: Vec<String> = params
        .components
        .iter()
        .filter(|c| !c.is_derived())
        .map(|c| c.name().to_ascii_lowercase())
        .collect();
    let covered_derived: Vec<String> = params
        .components
        .iter()
        .filter(|c| c.is_derived())
        .map(|c| c.name().to_string())
        .collect();

    // Profile: headers.include = only those headers.
    out.push((
        SignerRule::IncludeHonoured,
        match &exp.include {
            None => Na("the profile has no headers.include".into()),
            Some(inc) => {
                let extra: Vec<&String> =
                    covered_fields.iter().filter(|h| !inc.contains(h)).collect();
                if extra.is_empty() {
                    Pass
                } else {
                    Fail(format!(
                        "covered but not in headers.include {inc:?}: {extra:?}"
                    ))
                }
            }
        },
    ));
    // Profile: headers.exclude wins over include.
    out.push((
        SignerRule::ExcludeHonoured,
        if exp.exclude.is_empty() {
            Na("the profile has no headers.exclude".into())
        } else {
            let bad: Vec<&String> = covered_fields
                .iter()
                .filter(|h| exp.exclude.contains(h))
                .collect();
            if bad.is_empty() {
                Pass
            } else {
                Fail(format!("covered although excluded: {bad:?}"))
            }
        },
    ));

    // RFC 9110 §7.6.1: hop-by-hop fields do not survive intermediaries, so covering them breaks
    // verification downstream.
    let connection_named: HashSet<String> = msg
        .header_values("connection")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let covered_set: HashSet<&str> = covered_fields.iter().map(String::as_str).collect();
    let hop_covered: Vec<&String> = covered_fields
        .iter()
        .filter(|h| is_hop_by_hop(h, &connection_named))
        .collect();
    out.push((
        SignerRule::HopByHopNotCovered,
        if !hop_covered.is_empty() {
            Fail(format!("hop-by-hop fields covered: {hop_covered:?}"))
        } else {
            Pass
        },
    ));

    // Profile: every selected header is covered.
    let mut present: Vec<String> = Vec::new();
    let mut repeated: Vec<String> = Vec::new();
    let mut lines_of: HashMap<String, usize> = HashMap::new();
    for (n, _) in &msg.headers {
        let n = n.to_ascii_lowercase();
        let count = lines_of.entry(n.clone()).or_insert(0);
        *count += 1;
        match *count {
            1 => present.push(n),
            2 => repeated.push(n),
            _ => {}
        }
    }
    let selected: Vec<&String> = present
        .iter()
        .filter(|n| {
            !is_hop_by_hop(n, &connection_named)
                && *n != "signature"
                && *n != "signature-input"
                && !exp.transport_headers.contains(n)
                && exp.include.as_ref().is_none_or(|inc| inc.contains(n))
                && !exp.exclude.contains(n)
        })
        .collect();
    let missing: Vec<&&String> = selected
        .iter()
        .filter(|n| !covered_set.contains(n.as_str()))
        .collect();
    out.push((
        SignerRule::SelectedHeadersCovered,
        if missing.is_empty() {
            Pass
        } else {
            Fail(format!(
                "selected by the profile but not covered: {missing:?}"
            ))
        },
    ));

    // RFC 9421 §2.1: a field sent on several lines is one component whose value is the lines
    // combined with ", "; listing it twice is the Grafbase gateway's known bug.
    let selected_set: HashSet<&str> = selected.iter().map(|n| n.as_str()).collect();
    let mut covered_count: HashMap<&str, usize> = HashMap::new();
    for c in &covered_fields {
        *covered_count.entry(c.as_str()).or_insert(0) += 1;
    }
    let multi: Vec<&String> = repeated
        .iter()
        .filter(|n| selected_set.contains(n.as_str()) || covered_set.contains(n.as_str()))
        .collect();
    out.push((
        SignerRule::MultiValuedCoveredOnce,
        if multi.is_empty() {
            Na("no selected header was sent on several lines".into())
        } else {
            let mut problems = Vec::new();
            for n in &multi {
                let count = covered_count.get(n.as_str()).copied().unwrap_or(0);
                if count != 1 {
                    problems.push(format!("{n} covered {count} times"));
                }
            }
            if problems.is_empty() {
                match out
                    .iter()
                    .find(|(r, _)| *r == SignerRule::SignatureVerifies)
                {
                    Some((_, Fail(e))) => Fail(format!(
                        "multi-valued {multi:?} covered once but the signature does not verify: {e}"
                    )),
                    _ => Pass,
                }
            } else {
                Fail(problems.join("; "))
            }
        },
    ));

    // Profile: derived_components, default request_target.
    let missing_d: Vec<&String> = exp
        .derived
        .iter()
        .filter(|d| !covered_derived.contains(d))
        .collect();
    let extra_d: Vec<&String> = covered_derived
        .iter()
        .filter(|d| !exp.derived.contains(d))
        .collect();
    out.push((
        SignerRule::DerivedAsConfigured,
        if missing_d.is_empty() && extra_d.is_empty() {
            Pass
        } else {
            Fail(format!(
                "configured {:?}; missing {missing_d:?}, not configured {extra_d:?}",
                exp.derived
            ))
        },
    ));

    // RFC 9421 §2.3 `created`: the profile always sends it; it must reflect the signing time.
    let created = params.created();
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    out.push((
        SignerRule::CreatedRecent,
        match created {
            None => Fail("no created parameter".into()),
            Some(c) if (c - now_i).unsigned_abs() > exp.created_tolerance => Fail(format!(
                "created={c} is {}s from the upstream's clock {now} (tolerance {}s)",
                c - now_i,
                exp.created_tolerance
            )),
            Some(_) => Pass,
        },
    ));

    // Profile `expiry`: expires = created + expiry (RFC 9421 §2.3 `expires`).
    out.push((
        SignerRule::ExpiresIsCreatedPlusExpiry,
        match (exp.expiry, created, params.expires()) {
            (Some(e), Some(c), Some(x)) => {
                let want = c.saturating_add(i64::try_from(e.as_secs()).unwrap_or(i64::MAX));
                if x == want {
                    Pass
                } else {
                    Fail(format!(
                        "expires={x}, expected created + {}s = {want}",
                        e.as_secs()
                    ))
                }
            }
            (Some(e), _, None) => {
                Fail(format!("expiry {}s configured but no expires", e.as_secs()))
            }
            (Some(_), None, Some(_)) => Fail("expires without created".into()),
            (None, _, Some(x)) => Fail(format!("expires={x} but the profile sets no expiry")),
            (None, _, None) => Pass,
        },
    ));

    // Profile `signature_parameters = ["nonce"]`.
    let nonce = params.nonce();
    out.push((
        SignerRule::NoncePresent,
        if !exp.nonce {
            Na("the profile does not ask for a nonce".into())
        } else {
            match nonce {
                Some(n) if !n.is_empty() => Pass,
                Some(_) => Fail("empty nonce".into()),
                None => Fail("no nonce parameter".into()),
            }
        },
    ));
    // RFC 9421 §7.2.2: a nonce is only useful if never repeated.
    out.push((
        SignerRule::NonceUnique,
        match nonce {
            None => Na("no nonce in this request".into()),
            Some(n) => {
                if first_use(n) {
                    Pass
                } else {
                    Fail(format!(
                        "nonce {n:?} was already used by an earlier request"
                    ))
                }
            }
        },
    ));

    // RFC 9421 §2.3 `alg` / §3.2 step 6: consistent with the key and configuration.
    out.push((
        SignerRule::AlgConsistent,
        match params.alg() {
            Some(a) if a == exp.alg.name() => Pass,
            Some(a) => Fail(format!(
                "alg={a:?}, the key and profile say {}",
                exp.alg.name()
            )),
            // Issue 17: `alg` is optional (RFC 9421 §2.3); its absence is not a failure.
            None => Na(format!(
                "no alg parameter (optional; the key gives {:?})",
                exp.alg.name()
            )),
        },
    ));
    out.push((
        SignerRule::KeyidConsistent,
        match params.keyid() {
            Some(k) if k == exp.keyid => Pass,
            Some(k) => Fail(format!("keyid={k:?}, expected {:?}", exp.keyid)),
            None => Fail(format!("no keyid parameter (expected {:?})", exp.keyid)),
        },
    ));

    // Keep report order stable.
    out.sort_by_key(|(r, _)| SignerRule::ALL.iter().position(|x| x == r));
    RequestVerdict {
        index,
        request,
        signature_input,
        rules: out,
    }
}

fn no_signature(index: usize, request: String, why: String) -> RequestVerdict {
    let rules = SignerRule::ALL
        .iter()
        .map(|r| {
            let s = match r {
                SignerRule::SignaturePresent | SignerRule::SignatureVerifies => {
                    RuleStatus::Fail(why.clone())
                }
                _ => RuleStatus::NotApplicable("no signature to judge".into()),
            };
            (*r, s)
        })
        .collect();
    RequestVerdict {
        index,
        request,
        signature_input: None,
        rules,
    }
}

#[cfg(test)]
mod tests {
    use http_sig::{
        DerivedComponent, HeaderSelection, KeyConfig, SignatureParameter, SigningProfile,
    };

    use super::*;

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
    const NOW: u64 = 1_700_000_000;

    fn profile() -> ProfileConfig {
        ProfileConfig {
            key: KeyConfig {
                file: None,
                inline: Some(SECRET.into()),
                id: Some("gw".into()),
            },
            algorithm: Some("hmac-sha256".into()),
            headers: HeaderSelection {
                include: None,
                exclude: vec!["accept".into()],
            },
            derived_components: vec![DerivedComponent::Method, DerivedComponent::RequestTarget],
            signature_parameters: vec![SignatureParameter::Nonce],
            expiry: Some("30s".into()),
        }
    }

    fn expectations() -> SignerExpectations {
        let key = Key::from_bytes(SECRET.as_bytes()).unwrap();
        SignerExpectations::new(&profile(), key, None).unwrap()
    }

    fn request() -> HttpMessage {
        let mut m = HttpMessage::request("POST", "/graphql?op=a", "http", Some("127.0.0.1:1"));
        m.append_header("content-type", "application/json");
        m.append_header("x-tenant", "a");
        m.append_header("x-tenant", "b");
        m.append_header("accept", "*/*");
        m.append_header("connection", "keep-alive");
        m
    }

    fn signed(now: u64) -> HttpMessage {
        let mut m = request();
        SigningProfile::from_config(&profile(), None)
            .unwrap()
            .sign(&mut m, now)
            .unwrap();
        m
    }

    fn statuses(v: &RequestVerdict) -> Vec<SignerRule> {
        v.rules.iter().map(|(r, _)| *r).collect()
    }

    #[test]
    fn the_rule_table_is_in_declaration_order_with_unique_slugs() {
        for (i, r) in SignerRule::RULES.iter().enumerate() {
            assert_eq!(r.rule as usize, i, "{:?}", r.rule);
            assert_eq!(r.rule.info(), r);
            assert_eq!(SignerRule::ALL[i], r.rule);
        }
        let mut slugs: Vec<&str> = SignerRule::RULES.iter().map(|r| r.slug).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), SignerRule::RULES.len());
    }

    #[test]
    fn a_conforming_request_passes_every_applicable_rule_in_table_order() {
        let exp = expectations();
        let mut seen = HashSet::new();
        let v = judge_request(&exp, 0, &signed(NOW), NOW, &mut seen);
        assert_eq!(statuses(&v), SignerRule::ALL.to_vec());
        assert!(v.failed().is_empty(), "{:?}", v.rules);
        // include is not configured: the only rule that does not apply.
        let na: Vec<SignerRule> = v
            .rules
            .iter()
            .filter(|(_, s)| matches!(s, RuleStatus::NotApplicable(_)))
            .map(|(r, _)| *r)
            .collect();
        assert_eq!(na, vec![SignerRule::IncludeHonoured]);
        assert!(v.signature_input.as_deref().unwrap().starts_with("sig=("));
    }

    #[test]
    fn an_unsigned_request_fails_presence_and_verification_only() {
        let v = judge_request(&expectations(), 3, &request(), NOW, &mut HashSet::new());
        assert_eq!(statuses(&v), SignerRule::ALL.to_vec());
        assert_eq!(
            v.failed(),
            vec![SignerRule::SignaturePresent, SignerRule::SignatureVerifies]
        );
        assert_eq!(v.index, 3);
        assert_eq!(v.request, "POST /graphql?op=a");
    }

    #[test]
    fn a_replayed_nonce_and_a_stale_created_are_caught() {
        let exp = expectations();
        let mut seen = HashSet::new();
        let m = signed(NOW);
        assert!(
            judge_request(&exp, 0, &m, NOW, &mut seen)
                .failed()
                .is_empty()
        );
        let again = judge_request(&exp, 1, &m, NOW, &mut seen);
        assert_eq!(again.failed(), vec![SignerRule::NonceUnique]);
        let stale = judge_request(&exp, 2, &signed(NOW - 3600), NOW, &mut seen);
        assert!(
            stale.failed().contains(&SignerRule::CreatedRecent),
            "{stale:?}"
        );
        assert!(matches!(
            stale.status(SignerRule::CreatedRecent),
            Some(RuleStatus::Fail(d)) if d.contains("tolerance 30s")
        ));
    }

    /// Issue 17: `alg` is optional (RFC 9421 §2.3), so its absence does not apply to the rule
    /// (a wrong one still fails), and `created` is only RECOMMENDED: that rule is a SHOULD.
    #[test]
    fn an_absent_alg_is_not_a_failure_and_created_is_a_should() {
        let exp = expectations();
        let mut m = signed(NOW);
        let si = m
            .header_values("signature-input")
            .next()
            .unwrap()
            .to_string();
        assert!(si.contains(";alg=\"hmac-sha256\""), "{si}");
        m.set_header("signature-input", &si.replace(";alg=\"hmac-sha256\"", ""));
        let v = judge_request(&exp, 0, &m, NOW, &mut HashSet::new());
        assert!(
            matches!(v.status(SignerRule::AlgConsistent), Some(RuleStatus::NotApplicable(d)) if d.contains("optional")),
            "{v:?}"
        );
        m.set_header("signature-input", &si.replace("hmac-sha256", "ed25519"));
        let v = judge_request(&exp, 1, &m, NOW, &mut HashSet::new());
        assert!(v.failed().contains(&SignerRule::AlgConsistent), "{v:?}");
        for r in SignerRule::RULES {
            let want = if r.rule == SignerRule::CreatedRecent {
                Keyword::Should
            } else {
                Keyword::Must
            };
            assert_eq!(r.keyword, want, "{}", r.slug);
        }
    }

    #[test]
    fn expectations_follow_the_profile() {
        let exp = expectations();
        assert_eq!(exp.alg, Algorithm::HmacSha256);
        assert_eq!(exp.keyid, "gw");
        assert_eq!(exp.derived, vec!["@method", "@request-target"]);
        assert_eq!(exp.expiry, Some(Duration::from_secs(30)));
        let mut bad = profile();
        bad.expiry = Some("soon".into());
        let key = Key::from_bytes(SECRET.as_bytes()).unwrap();
        let e = SignerExpectations::new(&bad, key, None).unwrap_err();
        assert!(e.to_string().contains("expiry \"soon\""), "{e}");
    }
}
