//! `http-sig-verifier --profile web-bot-auth` (issue 15): judge an origin or CDN that verifies
//! Web Bot Auth signatures. We are the bot: each row of [`LIVE`] builds a request signed now with
//! the bot key (valid, or with exactly one defect), sends it, and judges the accept / reject
//! decision. Rules and sources: docs/web-bot-auth.md; the requirement of a reject case is the
//! profile's MUST for agents together with RFC 9421 §3.2.1 ("When an application defines
//! additional requirements, it MUST enforce them during the signature verification process, and
//! signature verification MUST fail if the signature does not conform to the application's
//! requirements"). Where the draft lets the verifier choose (legacy form: "A verifier MAY accept
//! that form"; no Signature-Agent: §"When No URL Is Available"; a long window: guidance only),
//! the case is MAY and either decision passes, recorded.
//!
//! Targets: `ours` (our `VerifierService` deciding with http-sig's `WebBotAuthPolicy` over the
//! directory of the bot key), `external` (`--verifier-url`, `--set signing_key=FILE`: the bot
//! key whose public part the verifier holds, statically or through a directory it resolves;
//! `--set signature_agent=URL`, default `https://bot.example`, is sent as the member value and
//! never resolved by us).

use std::sync::Arc;

use aws_lc_rs::signature::Ed25519KeyPair;
use http_sig::web_bot_auth::{
    KeyDirectory, SignatureAgentForm, TAG, WebBotAuthPolicy, WebBotAuthSigner,
};
use http_sig::{ComponentId, HttpMessage, Key, SignatureParams, Signer};
use mock_http_sig_peers::{VerifierConfig, VerifierService};
use sigharness_report::{CaseMeta, Evidence};
use sigharness_vectors::VectorSet;

use super::{Decision, StatusMapping, cannot_build, expect_decision, random_token};
use crate::Result;
use crate::http_sig_live::client::{loopback_client, send_message};
use crate::http_sig_live::unix_now;
use crate::runner::check::{Check, Stop, pass};
use crate::runner::{Case, Error, Level, SpecRef, SuiteOptions, meta};

const SUITE: &str = "http-sig-verifier";
const DRAFT: &str = mock_http_sig_peers::web_bot_auth::DRAFT;
const DEFAULT_AGENT: &str = "https://bot.example";

type Built<T> = std::result::Result<T, Stop>;

/// The prepared target.
pub struct WbaCtx {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    authority: String,
    scheme: String,
    pub(crate) mapping: StatusMapping,
    /// The bot, as the verifier knows it.
    bot: WebBotAuthSigner,
    /// The same key without Signature-Agent.
    bare: WebBotAuthSigner,
    agent: String,
    _service: Option<VerifierService>,
}

/// What the verifier must decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Accepted,
    Rejected,
    /// The draft leaves it to the verifier: either decision passes and is recorded.
    Either,
}

/// One case.
pub struct Live {
    pub(crate) slug: &'static str,
    pub(crate) document: &'static str,
    pub(crate) section: &'static str,
    stimulus: &'static str,
    pub(crate) expect: Expect,
    /// The sentence the verdict follows from.
    pub(crate) why: &'static str,
    pub(crate) build: fn(&WbaCtx, u64) -> Built<HttpMessage>,
}

impl WbaCtx {
    fn base(&self, target: &str) -> HttpMessage {
        HttpMessage::request("GET", target, &self.scheme, Some(&self.authority))
    }

    /// The bot's request, signed now by the profile.
    fn valid(&self, now: u64) -> Built<HttpMessage> {
        let mut m = self.base("/resource?id=1");
        self.bot.sign(&mut m, now).map_err(cannot_build)?;
        Ok(m)
    }

    /// A request signed with hand-made parameters (Signature-Agent set, `edit` applied to the
    /// profile's parameters), by `signer` (default the bot's key).
    fn custom(
        &self,
        now: u64,
        signer: Option<&Signer>,
        edit: impl FnOnce(&mut SignatureParams) -> http_sig::Result<()>,
    ) -> Built<HttpMessage> {
        let mut m = self.base("/resource?id=2");
        m.set_header("Signature-Agent", &format!("sig1=\"{}\"", self.agent));
        let comps = vec![
            ComponentId::new("@authority").map_err(cannot_build)?,
            ComponentId::new("signature-agent")
                .and_then(|c| c.with_string("key", "sig1"))
                .map_err(cannot_build)?,
        ];
        let mut p = SignatureParams::new(comps);
        p.set_created(now as i64).map_err(cannot_build)?;
        p.set_expires(now as i64 + 300).map_err(cannot_build)?;
        p.set_keyid(self.bot.keyid()).map_err(cannot_build)?;
        p.set_nonce(&random_token(32)).map_err(cannot_build)?;
        p.set_tag(TAG).map_err(cannot_build)?;
        edit(&mut p).map_err(cannot_build)?;
        signer
            .unwrap_or(self.bot.signer())
            .sign_message(&mut m, None, "sig1", &p)
            .map_err(cannot_build)?;
        Ok(m)
    }

    fn with_form(&self, form: SignatureAgentForm) -> Built<WebBotAuthSigner> {
        self.bot
            .clone()
            .with_signature_agent(&self.agent, form)
            .map_err(cannot_build)
    }
}

fn other_key() -> Built<Key> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(cannot_build)?;
    Key::from_pkcs8(doc.as_ref()).map_err(cannot_build)
}

const REJECT_WHY: &str = "RFC 9421 §3.2.1: \"signature verification MUST fail if the signature does not conform to the application's requirements\"";

/// Every case, in report order.
pub const LIVE: &[Live] = &[
    Live {
        slug: "valid-dictionary-form-accepted",
        document: DRAFT,
        section: "Signature-Agent",
        stimulus: "a request signed now by the bot: @authority and the Signature-Agent member covered, created, expires, keyid = thumbprint, tag web-bot-auth, Dictionary Signature-Agent",
        expect: Expect::Accepted,
        why: "\"Signers MUST send the dictionary form\": the request every conformant bot sends",
        build: |ctx, now| ctx.valid(now),
    },
    Live {
        slug: "valid-target-uri-accepted",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a valid request covering @target-uri instead of @authority",
        expect: Expect::Accepted,
        why: "\"Agents MUST include at least one of the following components: @authority ... @target-uri\"",
        build: |ctx, now| {
            let s = ctx
                .bot
                .clone()
                .with_components(vec![ComponentId::new("@target-uri").map_err(cannot_build)?])
                .map_err(cannot_build)?;
            let mut m = ctx.base("/resource?id=3");
            s.sign(&mut m, now).map_err(cannot_build)?;
            Ok(m)
        },
    },
    Live {
        slug: "legacy-string-form",
        document: DRAFT,
        section: "Signature-Agent",
        stimulus: "a valid request whose Signature-Agent is the legacy bare String",
        expect: Expect::Either,
        why: "\"A verifier MAY accept that form\"",
        build: |ctx, now| {
            let mut m = ctx.base("/resource?id=4");
            ctx.with_form(SignatureAgentForm::LegacyString)?
                .sign(&mut m, now)
                .map_err(cannot_build)?;
            Ok(m)
        },
    },
    Live {
        slug: "empty-component-list-rejected",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a signature covering nothing, Signature-Input sig1=() (the advisory GHSA-x9cc-346q-g27m)",
        expect: Expect::Rejected,
        why: REJECT_WHY,
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.components.clear();
                Ok(())
            })
        },
    },
    Live {
        slug: "no-authority-rejected",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a signature covering @method and the Signature-Agent member but neither @authority nor @target-uri",
        expect: Expect::Rejected,
        why: REJECT_WHY,
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.components[0] = ComponentId::new("@method")?;
                Ok(())
            })
        },
    },
    Live {
        slug: "tag-missing-rejected",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a signature without the tag parameter (\"tag: MUST be web-bot-auth\")",
        expect: Expect::Rejected,
        why: REJECT_WHY,
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.remove_param("tag");
                Ok(())
            })
        },
    },
    Live {
        slug: "tag-wrong-rejected",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a signature with tag=\"web-bot-auth-v2\"",
        expect: Expect::Rejected,
        why: REJECT_WHY,
        build: |ctx, now| ctx.custom(now, None, |p| p.set_tag("web-bot-auth-v2").map(|_| ())),
    },
    Live {
        slug: "created-missing-rejected",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a signature without created (\"Agents MUST include ... created\")",
        expect: Expect::Rejected,
        why: REJECT_WHY,
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.remove_param("created");
                Ok(())
            })
        },
    },
    Live {
        slug: "expires-missing-rejected",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a signature without expires (\"Agents MUST include ... expires\")",
        expect: Expect::Rejected,
        why: REJECT_WHY,
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.remove_param("expires");
                Ok(())
            })
        },
    },
    Live {
        slug: "expired-rejected",
        document: "RFC 9421",
        section: "3.2.1",
        stimulus: "a signature whose expires is 300 s in the past",
        expect: Expect::Rejected,
        why: "the draft: \"expires bounds how long that lasts\"; RFC 9421 §3.2.1",
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.set_created(now as i64 - 600)?;
                p.set_expires(now as i64 - 300).map(|_| ())
            })
        },
    },
    Live {
        slug: "created-in-future-rejected",
        document: "RFC 9421",
        section: "3.2.1",
        stimulus: "a signature created one hour in the future",
        expect: Expect::Rejected,
        why: "a creation time in the future is not genuine (RFC 9421 §3.2.1)",
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.set_created(now as i64 + 3600)?;
                p.set_expires(now as i64 + 3900).map(|_| ())
            })
        },
    },
    Live {
        slug: "unknown-key-rejected",
        document: "RFC 9421",
        section: "3.2 step 5",
        stimulus: "a request signed by the profile with a key the bot does not publish (keyid = that key's thumbprint)",
        expect: Expect::Rejected,
        why: "\"If a key is identified that the verifier does not know ... the verification MUST fail\"",
        build: |ctx, now| {
            let s = WebBotAuthSigner::new(other_key()?)
                .map_err(cannot_build)?
                .with_signature_agent(&ctx.agent, SignatureAgentForm::Dictionary)
                .map_err(cannot_build)?;
            let mut m = ctx.base("/resource?id=5");
            s.sign(&mut m, now).map_err(cannot_build)?;
            Ok(m)
        },
    },
    Live {
        slug: "wrong-key-rejected",
        document: "RFC 9421",
        section: "3.2 step 8",
        stimulus: "a request signed with another key under the bot key's thumbprint",
        expect: Expect::Rejected,
        why: "the signature does not verify with the key its keyid names",
        build: |ctx, now| {
            let other = Signer::new(other_key()?, None).map_err(cannot_build)?;
            ctx.custom(now, Some(&other), |_| Ok(()))
        },
    },
    Live {
        slug: "keyid-not-thumbprint-rejected",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a signature by the bot key whose keyid is \"bot-key-1\", not the key's thumbprint",
        expect: Expect::Rejected,
        why: "\"keyid: MUST be a base64url JWK SHA-256 Thumbprint\"; RFC 9421 §3.2.1",
        build: |ctx, now| ctx.custom(now, None, |p| p.set_keyid("bot-key-1").map(|_| ())),
    },
    Live {
        slug: "signature-agent-not-covered-rejected",
        document: DRAFT,
        section: "Signature-Agent",
        stimulus: "a Signature-Agent sent but not covered (only @authority signed)",
        expect: Expect::Rejected,
        why: "\"Its member keyed to the signature label MUST be signed as a component\"; RFC 9421 §3.2.1",
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.components.truncate(1);
                Ok(())
            })
        },
    },
    Live {
        slug: "tampered-signature-agent-rejected",
        document: "RFC 9421",
        section: "3.2 step 8",
        stimulus: "a valid request whose covered Signature-Agent member is changed after signing",
        expect: Expect::Rejected,
        why: "the covered member no longer has the signed value",
        build: |ctx, now| {
            let mut m = ctx.valid(now)?;
            m.set_header("Signature-Agent", "sig1=\"https://impostor.example\"");
            Ok(m)
        },
    },
    Live {
        slug: "tampered-signature-rejected",
        document: "RFC 9421",
        section: "3.2 step 8",
        stimulus: "a valid request with one bit of the signature flipped",
        expect: Expect::Rejected,
        why: "the signature does not verify",
        build: |ctx, now| {
            let m = ctx.valid(now)?;
            let sig: String = m.header_values("signature").collect::<Vec<_>>().join(", ");
            // `sig1=:<base64>:` — flip the first character of the value between A and B.
            let flipped = match sig.find(":") {
                Some(i) if sig.len() > i + 1 => {
                    let c = &sig[i + 1..i + 2];
                    let r = if c == "A" { "B" } else { "A" };
                    format!("{}{r}{}", &sig[..i + 1], &sig[i + 2..])
                }
                _ => return Err(cannot_build("no signature value")),
            };
            let mut m = m;
            m.set_header("Signature", &flipped);
            Ok(m)
        },
    },
    Live {
        slug: "signature-agent-missing",
        document: DRAFT,
        section: "When No URL Is Available",
        stimulus: "a valid signature by the bot key on a request without Signature-Agent",
        expect: Expect::Either,
        why: "\"A verifier that already holds that key verifies the request, and attributes it no further than the holder of that key\"",
        build: |ctx, now| {
            let mut m = ctx.base("/resource?id=6");
            ctx.bare.sign(&mut m, now).map_err(cannot_build)?;
            Ok(m)
        },
    },
    Live {
        slug: "validity-48h",
        document: DRAFT,
        section: "Generating HTTP Message Signature",
        stimulus: "a valid signature with expires = created + 48 h",
        expect: Expect::Either,
        why: "\"It is RECOMMENDED that expiry be no more than 24 hours\" binds the agent; \"Verifiers should avoid accepting signatures with freshness windows longer than their risk model permits\" is guidance",
        build: |ctx, now| {
            ctx.custom(now, None, |p| {
                p.set_expires(now as i64 + 48 * 3600).map(|_| ())
            })
        },
    },
];

impl Live {
    fn meta(&self) -> CaseMeta {
        let (level, req) = match self.expect {
            Expect::Accepted => (Level::Must, format!("is accepted ({})", self.why)),
            Expect::Rejected => (Level::Must, format!("is rejected ({})", self.why)),
            Expect::Either => (
                Level::May,
                format!(
                    "either decision conforms ({}); the decision is recorded",
                    self.why
                ),
            ),
        };
        meta(
            SUITE,
            format!("{SUITE}/web-bot-auth/{}", self.slug),
            SpecRef::new(self.document, self.section),
            level,
            self.stimulus,
            req,
        )
    }

    async fn run(&self, ctx: &WbaCtx) -> Check {
        let msg = (self.build)(ctx, unix_now())?;
        let what = self.slug;
        match self.expect {
            Expect::Accepted => {
                expect_decision(
                    &ctx.client,
                    &ctx.url,
                    &ctx.mapping,
                    Decision::Accepted,
                    &msg,
                    what,
                )
                .await
            }
            Expect::Rejected => {
                expect_decision(
                    &ctx.client,
                    &ctx.url,
                    &ctx.mapping,
                    Decision::Rejected,
                    &msg,
                    what,
                )
                .await
            }
            Expect::Either => match send_message(&ctx.client, &ctx.url, &msg).await {
                Ok(s) => pass(format!(
                    "HTTP {s} ({:?}); either decision conforms",
                    ctx.mapping.decide(s)
                )),
                Err(e) => Err(Evidence::new("the verifier could not be reached")
                    .observed(e.to_string())
                    .into()),
            },
        }
    }
}

/// The cases of the profile.
pub fn cases() -> Vec<Case<WbaCtx>> {
    LIVE.iter()
        .map(|l| {
            Case::new(l.meta(), move |ctx: Arc<WbaCtx>| async move {
                l.run(&ctx).await
            })
        })
        .collect()
}

/// Prepare `ours` (in-process) or `external` (`--verifier-url`).
pub async fn prepare(opts: &SuiteOptions, set: &VectorSet) -> Result<(String, WbaCtx)> {
    let mapping = StatusMapping::parse(
        opts.setting("accept").unwrap_or("2xx"),
        opts.setting("reject").unwrap_or("401,403"),
    )?;
    let client = loopback_client()?;
    let agent = opts
        .setting("signature_agent")
        .unwrap_or(DEFAULT_AGENT)
        .to_string();
    let bot_of = |key: Key, what: &str| -> Result<(WebBotAuthSigner, WebBotAuthSigner)> {
        let bare = WebBotAuthSigner::new(key).map_err(|e| Error::setup(format!("{what}: {e}")))?;
        let bot = bare
            .clone()
            .with_signature_agent(&agent, SignatureAgentForm::Dictionary)
            .map_err(|e| Error::setup(format!("{what}: {e}")))?;
        Ok((bot, bare))
    };
    match &opts.verifier_url {
        None => {
            let id = "test-key-ed25519";
            let key = |private: bool| -> Result<Key> {
                let (_, b) = set
                    .key_file(id, private)
                    .map_err(|e| Error::setup(format!("vector key {id}: {e}")))?;
                Key::from_bytes(b).map_err(|e| Error::setup(format!("vector key {id}: {e}")))
            };
            let (bot, bare) = bot_of(key(true)?, "vector key")?;
            let directory =
                KeyDirectory::from_keys([key(false)?]).map_err(|e| Error::setup(e.to_string()))?;
            let mut cfg = VerifierConfig::new(key(false)?);
            cfg.scheme = "https".into();
            cfg.web_bot_auth = Some((WebBotAuthPolicy::default(), directory));
            let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
                .await
                .map_err(|e| Error::setup(e.to_string()))?;
            Ok((
                "ours".into(),
                WbaCtx {
                    client,
                    url: svc.url(),
                    authority: svc.addr().to_string(),
                    scheme: "https".into(),
                    mapping,
                    bot,
                    bare,
                    agent,
                    _service: Some(svc),
                },
            ))
        }
        Some(url) => {
            let (url, authority) = super::external_url(url).await?;
            let path = opts.setting("signing_key").ok_or_else(|| {
                Error::setup(
                    "--profile web-bot-auth with --verifier-url needs --set signing_key=FILE (the bot's private key; the verifier holds its public part)",
                )
            })?;
            let key = Key::from_file(path)
                .map_err(|e| Error::setup(format!("--set signing_key={path}: {e}")))?;
            let (bot, bare) = bot_of(key, &format!("--set signing_key={path}"))?;
            Ok((
                "external".into(),
                WbaCtx {
                    client,
                    url,
                    authority,
                    scheme: opts.setting("scheme").unwrap_or("http").to_string(),
                    mapping,
                    bot,
                    bare,
                    agent,
                    _service: None,
                },
            ))
        }
    }
}
