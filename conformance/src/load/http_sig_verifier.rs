//! `sigharness load http-sig-verifier`: the live rows of the `http-sig-verifier` suite as a
//! weighted mix (the RFC 9421 rows, or with `--profile web-bot-auth` the Web Bot Auth rows),
//! each request built and signed at its send time exactly as the suite builds it, and each
//! reply judged by the decision the row requires (the suite's expectation, through the same
//! `--set accept=/reject=` status mapping). One load kind = one suite row, so a wrong reply
//! names the row (and its section) the verifier departed from.
//!
//! The target is the suite's: `--verifier-url` (loopback) with `--set signing_key=...`, or
//! without it our in-process `VerifierService` (`ours`).
//!
//! Statuses: an accept status where the row requires rejection (or the reverse) is a wrong
//! reply; `5xx` and `429` are overload errors (the verifier did not decide), counted by status
//! and failing the run only beyond `--max-error-rate`; any other status is in neither list, so
//! it is a wrong reply, as in the suite. A row where the spec leaves the decision to the
//! verifier (Web Bot Auth's MAY rows) takes either, and the decisions are counted as notes.
//! `live/nonce-replay-rejected` is one arrival that sends its request twice (the first must be
//! accepted, the replay rejected); its latency covers both.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http_sig::HttpMessage;

use super::engine::{Outcome, Workload, wheel};
use crate::http_sig_live::client::{SendError, send_message_classified};
use crate::http_sig_live::unix_now;
use crate::runner::BoxFuture;
use crate::runner::check::Stop;
use crate::suites::http_sig_verifier::web_bot_auth::{self as wba, WbaCtx};
use crate::suites::http_sig_verifier::{
    Ctx, Decision, Expect, LIVE, StatusMapping, signature_context,
};

/// What a row's reply must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Accepted,
    Rejected,
    /// Sent twice: the first accepted, the replay (same nonce) rejected.
    AcceptedThenReplayRejected,
    /// The spec leaves the decision to the verifier.
    Either,
}

impl Want {
    /// The decisions of each send, in words (`accepted`, `rejected`, `either`).
    pub fn steps(self) -> &'static [&'static str] {
        match self {
            Want::Accepted => &["accepted"],
            Want::Rejected => &["rejected"],
            Want::AcceptedThenReplayRejected => &["accepted", "rejected"],
            Want::Either => &["either"],
        }
    }
}

/// Builds a row's request at `now` (UNIX seconds): the message and the few words naming it.
pub type Build = Box<dyn Fn(u64) -> Result<(HttpMessage, String), Stop> + Send + Sync>;

/// One kind of the mix: a suite row.
pub struct Row {
    /// The suite row's id (`live/<slug>` or `web-bot-auth/<slug>`).
    pub id: String,
    /// The kind's name in the report: the row's slug.
    pub slug: &'static str,
    /// Document and section the requirement comes from.
    pub spec: String,
    /// The requirement, in the suite's words.
    pub requirement: String,
    pub want: Want,
    pub build: Build,
}

/// The RFC 9421 rows the target can run (a row whose request cannot be built for it, e.g.
/// `missing-required-component-rejected` without `--set required_components`, is left out with
/// its reason).
pub fn rfc9421_rows(ctx: Arc<Ctx>) -> (Vec<Row>, Vec<(String, String)>) {
    let mut rows = Vec::new();
    let mut left_out = Vec::new();
    for live in LIVE {
        let id = format!("live/{}", live.slug);
        match (live.build)(&ctx, unix_now()) {
            Ok(_) => {
                let c = ctx.clone();
                rows.push(Row {
                    id,
                    slug: live.slug,
                    spec: format!("RFC 9421 §{}", live.section),
                    requirement: live.requirement(),
                    want: match live.expect {
                        Expect::Accepted => Want::Accepted,
                        Expect::Rejected => Want::Rejected,
                        Expect::AcceptedThenReplayRejected => Want::AcceptedThenReplayRejected,
                    },
                    build: Box::new(move |now| (live.build)(&c, now).map(|r| (r.msg, r.what))),
                });
            }
            Err(Stop::Skip(why)) => left_out.push((id, why)),
            Err(other) => left_out.push((id, format!("{other:?}"))),
        }
    }
    (rows, left_out)
}

/// The Web Bot Auth rows (`--profile web-bot-auth`).
pub fn web_bot_auth_rows(ctx: Arc<WbaCtx>) -> (Vec<Row>, Vec<(String, String)>) {
    let mut rows = Vec::new();
    let mut left_out = Vec::new();
    for live in wba::LIVE {
        let id = format!("web-bot-auth/{}", live.slug);
        match (live.build)(&ctx, unix_now()) {
            Ok(_) => {
                let c = ctx.clone();
                let (want, requirement) = match live.expect {
                    wba::Expect::Accepted => {
                        (Want::Accepted, format!("is accepted ({})", live.why))
                    }
                    wba::Expect::Rejected => {
                        (Want::Rejected, format!("is rejected ({})", live.why))
                    }
                    wba::Expect::Either => (
                        Want::Either,
                        format!("either decision conforms ({})", live.why),
                    ),
                };
                rows.push(Row {
                    id,
                    slug: live.slug,
                    spec: format!("{} §{}", live.document, live.section),
                    requirement,
                    want,
                    build: Box::new(move |now| {
                        (live.build)(&c, now).map(|m| (m, live.slug.to_string()))
                    }),
                });
            }
            Err(Stop::Skip(why)) => left_out.push((id, why)),
            Err(other) => left_out.push((id, format!("{other:?}"))),
        }
    }
    (rows, left_out)
}

/// Default weights: the rows that must be accepted carry half the arrivals, the others share
/// the other half.
pub fn default_weights(rows: &[Row]) -> Vec<u32> {
    let accepted = rows
        .iter()
        .filter(|r| r.want == Want::Accepted)
        .count()
        .max(1) as u32;
    let others = rows.len().saturating_sub(accepted as usize).max(1) as u32;
    rows.iter()
        .map(|r| {
            if r.want == Want::Accepted {
                others
            } else {
                accepted
            }
        })
        .collect()
}

/// Where the requests go and how statuses read.
#[derive(Clone)]
pub struct Endpoint {
    pub client: reqwest::Client,
    pub url: String,
    pub mapping: StatusMapping,
}

impl Endpoint {
    pub fn of(ctx: &Ctx) -> Endpoint {
        Endpoint {
            client: load_client(&ctx.client),
            url: ctx.url.clone(),
            mapping: ctx.mapping.clone(),
        }
    }

    pub fn of_web_bot_auth(ctx: &WbaCtx) -> Endpoint {
        Endpoint {
            client: load_client(&ctx.client),
            url: ctx.url.clone(),
            mapping: ctx.mapping.clone(),
        }
    }
}

/// A loopback client without its own request timeout: the engine bounds each request by
/// `--timeout` (the suite's client stops at 10 s, which would cut a longer `--timeout`).
fn load_client(fallback: &reqwest::Client) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|_| fallback.clone())
}

/// The workload.
pub struct VerifierLoad {
    endpoint: Endpoint,
    rows: Arc<Vec<Row>>,
    wheel: Vec<usize>,
    /// false in calibration: any 2xx is right.
    judge: bool,
    /// Decisions of the rows that take either: (slug, decision) -> count.
    either: Mutex<BTreeMap<String, u64>>,
}

impl VerifierLoad {
    /// `weights` parallel to `rows`, at least one non-zero.
    pub fn new(endpoint: Endpoint, rows: Vec<Row>, weights: &[u32]) -> Self {
        VerifierLoad {
            endpoint,
            rows: Arc::new(rows),
            wheel: wheel(weights),
            judge: true,
            either: Mutex::default(),
        }
    }

    /// The same requests, sent to `url` and not judged (calibration).
    pub fn calibration(&self, url: &str) -> Self {
        VerifierLoad {
            endpoint: Endpoint {
                url: url.to_string(),
                ..self.endpoint.clone()
            },
            rows: self.rows.clone(),
            wheel: self.wheel.clone(),
            judge: false,
            either: Mutex::default(),
        }
    }

    /// The rows (kinds), in order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    async fn one(
        &self,
        row: &Row,
        msg: &HttpMessage,
        what: &str,
        want: Want,
        want_detail: bool,
    ) -> Outcome {
        let e = &self.endpoint;
        let status = match send_message_classified(&e.client, &e.url, msg).await {
            Ok(s) => s,
            Err(SendError { kind, .. }) => return Outcome::Error { kind: kind.into() },
        };
        if !self.judge {
            return if (200..300).contains(&status) {
                Outcome::Right
            } else {
                Outcome::Error {
                    kind: format!("HTTP {status}"),
                }
            };
        }
        let got = e.mapping.decide(status);
        let right = match want {
            Want::Accepted => got == Decision::Accepted,
            Want::Rejected => got == Decision::Rejected,
            Want::Either => got != Decision::Unclear,
            Want::AcceptedThenReplayRejected => unreachable!("split into two sends by call"),
        };
        if right {
            if want == Want::Either {
                let key = format!(
                    "web-bot-auth/{} (MAY): {}",
                    row.slug,
                    if got == Decision::Accepted {
                        "accepted"
                    } else {
                        "rejected"
                    }
                );
                *self
                    .either
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(key)
                    .or_default() += 1;
            }
            return Outcome::Right;
        }
        if got == Decision::Unclear && (status >= 500 || status == 429) {
            return Outcome::Error {
                kind: format!("HTTP {status}"),
            };
        }
        let want_s = match want {
            Want::Accepted => "accepted (accept status)",
            Want::Rejected => "rejected (reject status)",
            _ => "an accept or a reject status",
        };
        let summary = format!(
            "{what}: HTTP {status} ({got:?}); {} requires {want_s}",
            row.spec
        );
        let detail = if want_detail {
            let mut d = vec![
                format!("row: http-sig-verifier/{}", row.id),
                format!("requirement: {}", row.requirement),
                format!(
                    "request sent:\n{}",
                    String::from_utf8_lossy(&msg.to_bytes())
                ),
            ];
            d.extend(signature_context(msg));
            d
        } else {
            Vec::new()
        };
        Outcome::Wrong { summary, detail }
    }
}

impl Workload for VerifierLoad {
    fn kinds(&self) -> Vec<(String, String)> {
        self.rows
            .iter()
            .map(|r| (r.slug.to_string(), r.requirement.clone()))
            .collect()
    }

    fn kind_of(&self, seq: u64) -> usize {
        self.wheel[(seq % self.wheel.len() as u64) as usize]
    }

    fn call(&self, seq: u64, want_detail: bool) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            let row = &self.rows[self.kind_of(seq)];
            let (msg, what) = match (row.build)(unix_now()) {
                Ok(r) => r,
                // Every row was built once before the run: a failure now is the harness's, not
                // the target's, and is reported as such.
                Err(e) => {
                    return Outcome::Error {
                        kind: format!("harness could not build {}: {e:?}", row.slug),
                    };
                }
            };
            match row.want {
                Want::AcceptedThenReplayRejected => {
                    match self
                        .one(row, &msg, &what, Want::Accepted, want_detail)
                        .await
                    {
                        Outcome::Right => {}
                        other => return other,
                    }
                    self.one(
                        row,
                        &msg,
                        "replay (same nonce)",
                        Want::Rejected,
                        want_detail,
                    )
                    .await
                }
                w => self.one(row, &msg, &what, w, want_detail).await,
            }
        })
    }

    fn notes(&self) -> BTreeMap<String, u64> {
        self.either
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
