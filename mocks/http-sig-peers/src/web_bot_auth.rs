//! Judging a Web Bot Auth **bot** (issue 15, the origin side of `http-sig-signer --profile
//! web-bot-auth`): every request it sends is judged rule by rule against
//! draft-meunier-webbotauth-httpsig-protocol (editor's copy after -02; every rule with its source
//! sentence: docs/web-bot-auth.md), sans-IO like [`crate::judge`]. [`BotExpectations`] implements
//! [`Judge`], so an [`crate::Upstream`] started with it judges a bot over real HTTP.
//!
//! Each rule is checked on its own (one defect, one failing rule): the signature is verified
//! with the key its keyid names, else with every known key, at its own `created` (so a bad keyid
//! or a stale clock fails their own rules, not `signature-verifies`).

use http_sig::web_bot_auth::{
    self as wba, KeyDirectory, SignatureAgentForm, WebBotAuthPolicy, directory_origin,
    parse_signature_agent,
};
use http_sig::{HttpMessage, Key, Limits, VerificationPolicy, Verifier};
use serde::Serialize;

use crate::judge::{Judge, Keyword, RequestVerdict, Rule, RuleInfo, RuleStatus};

/// The draft, as case documents name it.
pub const DRAFT: &str = "draft-meunier-webbotauth-httpsig-protocol";

/// What the origin expects of a bot: the public keys it publishes (its key directory, or keys
/// given out of band), and the clock tolerance for `created`.
#[derive(Clone, Debug)]
pub struct BotExpectations {
    /// The bot's public keys, by RFC 7638 thumbprint.
    pub keys: KeyDirectory,
    /// How far `created` may be from the origin's clock, seconds (default 30).
    pub created_tolerance: u64,
    /// Scheme the origin is reached over, as the bot sees it (`http` on loopback).
    pub scheme: String,
}

impl BotExpectations {
    /// Expectations for a bot publishing `keys`.
    pub fn new(keys: KeyDirectory) -> Self {
        BotExpectations {
            keys,
            created_tolerance: 30,
            scheme: "http".into(),
        }
    }
}

/// One rule a Web Bot Auth bot must follow; each is a case of `http-sig-signer --profile
/// web-bot-auth`. Its data is its row of [`BotRule::RULES`]; its check is its step in
/// [`judge_bot_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[repr(usize)]
pub enum BotRule {
    SignaturePresent,
    SignatureVerifies,
    TagWebBotAuth,
    CreatedPresent,
    ExpiresPresent,
    KeyidIsThumbprint,
    AuthorityCovered,
    SignatureAgentPresent,
    SignatureAgentDictionary,
    SignatureAgentCovered,
    SignatureAgentHttpsOrigin,
    SignatureAgentMemberIsLabel,
    ValidityAtMost24h,
    FreshAtArrival,
    AlgConsistent,
}

const fn bot(
    rule: BotRule,
    slug: &'static str,
    (document, section): (&'static str, &'static str),
    stimulus: &'static str,
    requirement: &'static str,
    keyword: Keyword,
) -> RuleInfo<BotRule> {
    RuleInfo {
        rule,
        slug,
        document,
        section,
        stimulus,
        requirement,
        keyword,
        statements: &[],
    }
}

const GEN: (&str, &str) = (DRAFT, "Generating HTTP Message Signature");
const AGENT: (&str, &str) = (DRAFT, "Signature-Agent");

impl BotRule {
    /// Every rule, in report order (= declaration order: `RULES[r as usize].rule == r`).
    pub const RULES: [RuleInfo<BotRule>; 15] = [
        bot(
            BotRule::SignaturePresent,
            "web-bot-auth/signature-present",
            (DRAFT, "Sending a Request"),
            "every request the bot sends (\"A signed request carries three headers\": Signature, Signature-Input, Signature-Agent)",
            "carries Signature-Input and Signature with a parseable signature",
            Keyword::Must,
        ),
        bot(
            BotRule::SignatureVerifies,
            "web-bot-auth/signature-verifies",
            ("RFC 9421", "3.2"),
            "the Web Bot Auth signature, verified with the bot's published key (the one its keyid names, else each known key)",
            "verifies over the request as received",
            Keyword::Must,
        ),
        bot(
            BotRule::TagWebBotAuth,
            "web-bot-auth/tag-is-web-bot-auth",
            GEN,
            "the tag parameter (\"tag: MUST be web-bot-auth\")",
            "is present and equals web-bot-auth",
            Keyword::Must,
        ),
        bot(
            BotRule::CreatedPresent,
            "web-bot-auth/created-present",
            GEN,
            "the created parameter (\"Agents MUST include the following @signature-params ... created\")",
            "is present",
            Keyword::Must,
        ),
        bot(
            BotRule::ExpiresPresent,
            "web-bot-auth/expires-present",
            GEN,
            "the expires parameter (\"Agents MUST include the following @signature-params ... expires\")",
            "is present",
            Keyword::Must,
        ),
        bot(
            BotRule::KeyidIsThumbprint,
            "web-bot-auth/keyid-is-thumbprint",
            GEN,
            "the keyid parameter (\"MUST be a base64url JWK SHA-256 Thumbprint\", RFC 7638)",
            "is the RFC 7638 thumbprint of a key the bot publishes",
            Keyword::Must,
        ),
        bot(
            BotRule::AuthorityCovered,
            "web-bot-auth/authority-or-target-uri-covered",
            GEN,
            "the covered components (\"Agents MUST include at least one of the following components: @authority, @target-uri\")",
            "include @authority or @target-uri (an empty list, the advisory GHSA-x9cc-346q-g27m's `sig1=()`, fails)",
            Keyword::Must,
        ),
        bot(
            BotRule::SignatureAgentPresent,
            "web-bot-auth/signature-agent-present",
            AGENT,
            "the Signature-Agent field (\"A signed request MUST carry the Signature-Agent header\")",
            "is present",
            Keyword::Must,
        ),
        bot(
            BotRule::SignatureAgentDictionary,
            "web-bot-auth/signature-agent-dictionary-form",
            AGENT,
            "the form of Signature-Agent (\"Signers MUST send the dictionary form\")",
            "is a Dictionary of String Items, not the legacy bare String",
            Keyword::Must,
        ),
        bot(
            BotRule::SignatureAgentCovered,
            "web-bot-auth/signature-agent-covered",
            AGENT,
            "the covered components (\"Its member keyed to the signature label MUST be signed as a component\")",
            "cover \"signature-agent\";key=<member> naming a member of the field",
            Keyword::Must,
        ),
        bot(
            BotRule::SignatureAgentHttpsOrigin,
            "web-bot-auth/signature-agent-https-origin",
            AGENT,
            "every Signature-Agent member (\"member values MUST be String Items that contain a URI, whose scheme MUST be https\"; a directory member \"MUST be the ASCII serialization of an origin\")",
            "is an https URI, and an origin for type directory",
            Keyword::Must,
        ),
        bot(
            BotRule::SignatureAgentMemberIsLabel,
            "web-bot-auth/signature-agent-member-keyed-to-label",
            AGENT,
            "the covered member's key (the normative text keys it to the label; the draft's own test vectors sign label sig2 with member agent2, so this is advisory)",
            "equals the signature's label",
            Keyword::Should,
        ),
        bot(
            BotRule::ValidityAtMost24h,
            "web-bot-auth/validity-at-most-24h",
            GEN,
            "expires - created (\"It is RECOMMENDED that expiry be no more than 24 hours\")",
            "is positive and at most 86 400 s",
            Keyword::Should,
        ),
        bot(
            BotRule::FreshAtArrival,
            "web-bot-auth/fresh-at-arrival",
            (DRAFT, "Static Signatures"),
            "created and expires against the origin's clock (\"Agents SHOULD generate signatures for the request being sent, with bounded created and expires values\")",
            "created is within the tolerance of the origin's clock and expires is still ahead",
            Keyword::Should,
        ),
        bot(
            BotRule::AlgConsistent,
            "web-bot-auth/alg-consistent-with-key",
            ("RFC 9421", "3.2 step 6"),
            "the alg parameter, when present (\"the resolved algorithms MUST be the same\")",
            "names the algorithm of the key the keyid names",
            Keyword::Must,
        ),
    ];

    /// Every rule, in report order.
    pub const ALL: [BotRule; 15] = {
        let mut all = [BotRule::SignaturePresent; 15];
        let mut i = 0;
        while i < all.len() {
            all[i] = Self::RULES[i].rule;
            i += 1;
        }
        all
    };
}

impl Rule for BotRule {
    fn all() -> &'static [Self] {
        &Self::ALL
    }
    fn info(self) -> &'static RuleInfo<Self> {
        &Self::RULES[self as usize]
    }
    fn judged_when_missing(self, _multi_valued: bool) -> bool {
        matches!(self, BotRule::SignaturePresent | BotRule::SignatureVerifies)
    }
}

impl Judge for BotExpectations {
    type Rule = BotRule;
    fn judge(
        &self,
        index: usize,
        msg: &HttpMessage,
        now: u64,
        _first_use: &mut dyn FnMut(&str) -> bool,
    ) -> RequestVerdict<BotRule> {
        judge_bot_request(self, index, msg, now)
    }
    fn scheme(&self) -> &str {
        &self.scheme
    }
}

fn na(why: &str) -> RuleStatus {
    RuleStatus::NotApplicable(why.into())
}

/// Judge one request of a bot at `now` (UNIX seconds). Linear in the request; a request beyond
/// http-sig's default [`Limits`] is not judged further.
pub fn judge_bot_request(
    exp: &BotExpectations,
    index: usize,
    msg: &HttpMessage,
    now: u64,
) -> RequestVerdict<BotRule> {
    use RuleStatus::{Fail, Pass};
    let request = msg
        .request_line()
        .map(|r| {
            http_sig::printable(
                &format!("{} {}", r.method, r.target),
                crate::judge::MAX_REQUEST_CHARS,
            )
        })
        .unwrap_or_default();
    let unjudged = |why: String| {
        let mut v = RequestVerdict::<BotRule>::unreadable(index, why);
        v.request = request.clone();
        for (r, s) in &mut v.rules {
            if !matches!(r, BotRule::SignaturePresent | BotRule::SignatureVerifies) {
                *s = na("no signature to judge");
            }
        }
        v
    };
    let limits = Limits::default();
    if let Err(e) = limits.check_message(msg) {
        return unjudged(format!("request refused unjudged: {e}"));
    }
    let entry = match WebBotAuthPolicy::default().select(msg, None) {
        Ok(e) => e,
        Err(e) => return unjudged(format!("no judgeable signature: {e}")),
    };
    let p = &entry.params;
    if let Err(e) = limits.check_components(&entry.label, p.components.len()) {
        return unjudged(format!("request refused unjudged: {e}"));
    }
    let mut out: Vec<(BotRule, RuleStatus)> = vec![(BotRule::SignaturePresent, Pass)];
    let keyid = p.keyid();
    let named: Option<&Key> = keyid.and_then(|k| exp.keys.get(k));

    // RFC 9421 §3.2, at the signature's own created (time is judged by fresh-at-arrival).
    let at = p
        .created()
        .and_then(|c| u64::try_from(c).ok())
        .unwrap_or(now);
    let policy = VerificationPolicy {
        allow_expired: true,
        allow_unknown_keyid: true,
        ..VerificationPolicy::default()
    };
    let candidates: Vec<&Key> = match named {
        Some(k) => vec![k],
        None => exp.keys.keys().map(|(_, k)| k).collect(),
    };
    let mut last = String::from("the bot publishes no usable key");
    let verified = candidates.iter().any(|k| {
        match Verifier::new((*k).clone(), None)
            .with_policy(policy.clone())
            .verify(msg, None, Some(&entry.label), at)
        {
            Ok(_) => true,
            Err(e) => {
                last = e.to_string();
                false
            }
        }
    });
    out.push((
        BotRule::SignatureVerifies,
        if verified {
            Pass
        } else {
            Fail(match http_sig::signature_base(msg, None, p) {
                Ok(base) => format!("{last}; signature base we computed: {base:?}"),
                Err(b) => format!("{last}; no signature base ({b})"),
            })
        },
    ));
    out.push((
        BotRule::TagWebBotAuth,
        match p.tag() {
            Some(wba::TAG) => Pass,
            Some(t) => Fail(format!("tag={t:?}")),
            None => Fail("no tag parameter".into()),
        },
    ));
    out.push((
        BotRule::CreatedPresent,
        if p.created().is_some() {
            Pass
        } else {
            Fail("no created parameter".into())
        },
    ));
    out.push((
        BotRule::ExpiresPresent,
        if p.expires().is_some() {
            Pass
        } else {
            Fail("no expires parameter".into())
        },
    ));
    out.push((
        BotRule::KeyidIsThumbprint,
        match (keyid, named) {
            (Some(_), Some(_)) => Pass,
            (Some(k), None) => Fail(format!(
                "keyid {} is not the thumbprint of a published key (published: {})",
                http_sig::printable(k, 64),
                exp.keys.thumbprints().collect::<Vec<_>>().join(", ")
            )),
            (None, _) => Fail("no keyid parameter".into()),
        },
    ));
    out.push((
        BotRule::AuthorityCovered,
        if p.components
            .iter()
            .any(|c| matches!(c.name(), "@authority" | "@target-uri") && c.params().is_empty())
        {
            Pass
        } else if p.components.is_empty() {
            Fail("the component list is empty (sig=(): the advisory GHSA-x9cc-346q-g27m)".into())
        } else {
            Fail(format!(
                "covers {} but neither @authority nor @target-uri",
                p.components
                    .iter()
                    .map(|c| c.serialize())
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        },
    ));
    judge_signature_agent(msg, &entry.label, p, &mut out);
    out.push((
        BotRule::ValidityAtMost24h,
        match (p.created(), p.expires()) {
            (Some(c), Some(x)) => {
                let w = x.saturating_sub(c);
                if w <= 0 {
                    Fail(format!("expires {x} is not after created {c}"))
                } else if w > wba::RECOMMENDED_MAX_VALIDITY as i64 {
                    Fail(format!("a validity of {w} s (more than 86 400)"))
                } else {
                    Pass
                }
            }
            _ => na("created or expires is missing (their own rules)"),
        },
    ));
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    let tol = i64::try_from(exp.created_tolerance).unwrap_or(i64::MAX);
    out.push((
        BotRule::FreshAtArrival,
        match (p.created(), p.expires()) {
            (None, _) => na("no created (its own rule)"),
            (Some(c), _) if (c - now_i).abs() > tol => Fail(format!(
                "created {c} is {} s from the origin's clock {now} (tolerance {tol} s)",
                c - now_i
            )),
            (Some(_), Some(x)) if x <= now_i => {
                Fail(format!("expired on arrival: expires {x} <= now {now}"))
            }
            _ => Pass,
        },
    ));
    out.push((
        BotRule::AlgConsistent,
        match (p.alg(), named.or(candidates.first().copied())) {
            (None, _) => na("no alg parameter (optional, RFC 9421 §2.3)"),
            (Some(_), None) => na("no published key to compare with"),
            (Some(a), Some(k)) => match a.parse::<http_sig::Algorithm>() {
                Ok(alg) if k.check_algorithm(alg).is_ok() => Pass,
                Ok(alg) => Fail(format!(
                    "alg={} but the key is {}",
                    alg.name(),
                    k.default_algorithm().name()
                )),
                Err(e) => Fail(format!("alg={a:?}: {e}")),
            },
        },
    ));
    out.sort_by_key(|(r, _)| *r as usize);
    RequestVerdict {
        index,
        request,
        signature_input: Some(crate::one_line(&format!(
            "{}={}",
            entry.label,
            p.serialize()
        ))),
        rules: out,
    }
}

/// The Signature-Agent rules, each on its own.
fn judge_signature_agent(
    msg: &HttpMessage,
    label: &str,
    p: &http_sig::SignatureParams,
    out: &mut Vec<(BotRule, RuleStatus)>,
) {
    use RuleStatus::{Fail, Pass};
    let covered = p.components.iter().find(|c| c.name() == "signature-agent");
    let agent = match parse_signature_agent(msg) {
        Ok(None) => {
            out.push((
                BotRule::SignatureAgentPresent,
                Fail("no Signature-Agent field".into()),
            ));
            for r in [
                BotRule::SignatureAgentDictionary,
                BotRule::SignatureAgentCovered,
                BotRule::SignatureAgentHttpsOrigin,
                BotRule::SignatureAgentMemberIsLabel,
            ] {
                out.push((r, na("no Signature-Agent field (its own rule)")));
            }
            return;
        }
        Err(e) => {
            out.push((BotRule::SignatureAgentPresent, Pass));
            out.push((BotRule::SignatureAgentDictionary, Fail(e.to_string())));
            for r in [
                BotRule::SignatureAgentCovered,
                BotRule::SignatureAgentHttpsOrigin,
                BotRule::SignatureAgentMemberIsLabel,
            ] {
                out.push((
                    r,
                    na("Signature-Agent does not parse (dictionary-form rule)"),
                ));
            }
            return;
        }
        Ok(Some(a)) => a,
    };
    out.push((BotRule::SignatureAgentPresent, Pass));
    out.push((
        BotRule::SignatureAgentDictionary,
        match agent.form {
            SignatureAgentForm::Dictionary => Pass,
            SignatureAgentForm::LegacyString => {
                Fail("the legacy bare String form (signers MUST send the dictionary form)".into())
            }
        },
    ));
    let member = covered.map(|c| agent.member_for(c));
    out.push((
        BotRule::SignatureAgentCovered,
        match &member {
            None => Fail("Signature-Agent is sent but not covered".into()),
            Some(Ok(_)) => Pass,
            Some(Err(e)) => Fail(e.to_string()),
        },
    ));
    let bad: Vec<String> = agent
        .members
        .iter()
        .filter_map(|m| {
            let r = if m.discovery == "directory" {
                directory_origin(&m.value).map(|_| ())
            } else {
                m.resolution_url().map(|_| ())
            };
            r.err().map(|e| e.to_string())
        })
        .collect();
    out.push((
        BotRule::SignatureAgentHttpsOrigin,
        if bad.is_empty() {
            Pass
        } else {
            Fail(bad.join("; "))
        },
    ));
    out.push((
        BotRule::SignatureAgentMemberIsLabel,
        match member {
            Some(Ok(m)) => match &m.key {
                None => na("the legacy form has no member key"),
                Some(k) if k == label => Pass,
                Some(k) => Fail(format!("member {k:?} covered under label {label:?}")),
            },
            _ => na("no covered member (signature-agent-covered)"),
        },
    ));
}

#[cfg(test)]
mod tests {
    use http_sig::web_bot_auth::WebBotAuthSigner;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn key() -> Key {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Key::from_pkcs8(doc.as_ref()).unwrap()
    }

    fn exp_for(k: &Key) -> BotExpectations {
        BotExpectations::new(KeyDirectory::from_keys([k.clone()]).unwrap())
    }

    fn signed(s: &WebBotAuthSigner) -> HttpMessage {
        let mut m = HttpMessage::request("GET", "/a?b=1", "http", Some("127.0.0.1:4000"));
        s.sign(&mut m, NOW).unwrap();
        m
    }

    fn failed(v: &RequestVerdict<BotRule>) -> Vec<BotRule> {
        v.failed()
    }

    #[test]
    fn rows_are_in_declaration_order() {
        for (i, r) in BotRule::RULES.iter().enumerate() {
            assert_eq!(r.rule as usize, i, "{}", r.slug);
        }
    }

    #[test]
    fn our_signer_passes_every_rule() {
        let k = key();
        let s = WebBotAuthSigner::new(k.clone())
            .unwrap()
            .with_signature_agent("https://bot.example", SignatureAgentForm::Dictionary)
            .unwrap();
        let v = judge_bot_request(&exp_for(&k), 0, &signed(&s), NOW);
        assert!(failed(&v).is_empty(), "{:?}", v.rules);
    }

    /// One defect, one failing rule.
    #[test]
    fn each_defect_fails_its_rule_alone() {
        let k = key();
        let base = || {
            WebBotAuthSigner::new(k.clone())
                .unwrap()
                .with_signature_agent("https://bot.example", SignatureAgentForm::Dictionary)
                .unwrap()
        };
        let exp = exp_for(&k);
        // Legacy form.
        let s = WebBotAuthSigner::new(k.clone())
            .unwrap()
            .with_signature_agent("https://bot.example", SignatureAgentForm::LegacyString)
            .unwrap();
        let v = judge_bot_request(&exp, 0, &signed(&s), NOW);
        assert_eq!(failed(&v), vec![BotRule::SignatureAgentDictionary]);
        // No Signature-Agent.
        let s = WebBotAuthSigner::new(k.clone()).unwrap();
        let v = judge_bot_request(&exp, 0, &signed(&s), NOW);
        assert_eq!(failed(&v), vec![BotRule::SignatureAgentPresent]);
        // A validity of two days.
        let s = base().with_validity(2 * 86_400).unwrap();
        let v = judge_bot_request(&exp, 0, &signed(&s), NOW);
        assert_eq!(failed(&v), vec![BotRule::ValidityAtMost24h]);
        // Judged an hour later: stale.
        let v = judge_bot_request(&exp, 0, &signed(&base()), NOW + 3600);
        assert_eq!(failed(&v), vec![BotRule::FreshAtArrival]);
        // Member keyed differently from the label (what the draft's own vectors do).
        let s = base().with_member_key("agent2");
        let v = judge_bot_request(&exp, 0, &signed(&s), NOW);
        assert_eq!(failed(&v), vec![BotRule::SignatureAgentMemberIsLabel]);
        // An http:// member added after signing (not covered, so the signature still verifies).
        let mut m = signed(&base());
        let sa: String = m
            .header_values("signature-agent")
            .collect::<Vec<_>>()
            .join(", ");
        m.set_header(
            "signature-agent",
            &format!("{sa}, other=\"http://x.example\""),
        );
        let v = judge_bot_request(&exp, 0, &m, NOW);
        assert_eq!(failed(&v), vec![BotRule::SignatureAgentHttpsOrigin]);
        // Signed with another key under the published key's thumbprint.
        let other = WebBotAuthSigner::new(key())
            .unwrap()
            .with_signature_agent("https://bot.example", SignatureAgentForm::Dictionary)
            .unwrap();
        let v = judge_bot_request(&exp, 0, &signed(&other), NOW);
        // Two defects (a key the bot does not publish, so its keyid names none): two rules.
        assert_eq!(
            failed(&v),
            vec![BotRule::SignatureVerifies, BotRule::KeyidIsThumbprint]
        );
    }

    #[test]
    fn unsigned_fails_presence_and_verification_only() {
        let k = key();
        let m = HttpMessage::request("GET", "/", "http", Some("127.0.0.1:4000"));
        let v = judge_bot_request(&exp_for(&k), 0, &m, NOW);
        assert_eq!(
            failed(&v),
            vec![BotRule::SignaturePresent, BotRule::SignatureVerifies]
        );
    }
}
