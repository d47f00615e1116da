//! `sigharness load http-sig-verifier`: the `live/*` rows of the `http-sig-verifier` suite as a
//! weighted mix, each request built and signed at its send time exactly as the suite builds it,
//! and each reply judged by the decision the row requires (the suite's `Expect`, through the
//! same `--set accept=/reject=` status mapping). One load kind = one suite row, so a wrong reply
//! names the row (and its RFC 9421 section) the verifier departed from.
//!
//! The target is the suite's: `--verifier-url` (loopback) with `--set signing_key=...`, or
//! without it our in-process `VerifierService` (`ours`).
//!
//! Statuses: an accept status where the row requires rejection (or the reverse) is a wrong
//! reply; `5xx` and `429` are overload errors (the verifier did not decide), counted by status
//! and failing the run only beyond `--max-error-rate`; any other status is in neither list, so
//! it is a wrong reply, as in the suite.
//! `live/nonce-replay-rejected` is one arrival that sends its request twice (the first must be
//! accepted, the replay rejected); its latency covers both.

use std::sync::Arc;

use super::engine::{Outcome, Workload, wheel};
use crate::http_sig_live::client::{SendError, send_message_classified};
use crate::http_sig_live::unix_now;
use crate::runner::BoxFuture;
use crate::runner::check::Stop;
use crate::suites::http_sig_verifier::{
    Ctx, Decision, Expect, LIVE, Live, Request, signature_context,
};

/// Default weights: the rows that must be accepted carry half the arrivals, the rows that must
/// be rejected share the other half.
pub fn default_weights(rows: &[&'static Live]) -> Vec<u32> {
    let accepted = rows
        .iter()
        .filter(|r| r.expect == Expect::Accepted)
        .count()
        .max(1) as u32;
    let rejected = rows.len().saturating_sub(accepted as usize).max(1) as u32;
    rows.iter()
        .map(|r| {
            if r.expect == Expect::Accepted {
                rejected
            } else {
                accepted
            }
        })
        .collect()
}

/// The rows this target can run (a row whose request cannot be built for it, e.g.
/// `missing-required-component-rejected` without `--set required_components`, is left out with
/// its reason).
pub fn runnable_rows(ctx: &Ctx) -> (Vec<&'static Live>, Vec<(String, String)>) {
    let mut rows = Vec::new();
    let mut left_out = Vec::new();
    for row in LIVE {
        match (row.build)(ctx, unix_now()) {
            Ok(_) => rows.push(row),
            Err(Stop::Skip(why)) => left_out.push((row.slug.to_string(), why)),
            Err(other) => left_out.push((row.slug.to_string(), format!("{other:?}"))),
        }
    }
    (rows, left_out)
}

/// The workload.
pub struct VerifierLoad {
    ctx: Arc<Ctx>,
    rows: Vec<&'static Live>,
    wheel: Vec<usize>,
    /// Where requests go: the verifier, or the calibration's trivial target.
    url: String,
    /// false in calibration: any 2xx is right.
    judge: bool,
}

impl VerifierLoad {
    /// `weights` parallel to `rows`, at least one non-zero.
    pub fn new(ctx: Arc<Ctx>, rows: Vec<&'static Live>, weights: &[u32]) -> Self {
        let url = ctx.url.clone();
        VerifierLoad {
            ctx,
            rows,
            wheel: wheel(weights),
            url,
            judge: true,
        }
    }

    /// The same requests, sent to `url` and not judged (calibration).
    pub fn calibration(&self, url: &str) -> Self {
        VerifierLoad {
            ctx: self.ctx.clone(),
            rows: self.rows.clone(),
            wheel: self.wheel.clone(),
            url: url.to_string(),
            judge: false,
        }
    }

    async fn one(&self, row: &Live, req: &Request, want: Decision, want_detail: bool) -> Outcome {
        let status = match send_message_classified(&self.ctx.client, &self.url, &req.msg).await {
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
        let got = self.ctx.mapping.decide(status);
        if got == want {
            return Outcome::Right;
        }
        if got == Decision::Unclear && (status >= 500 || status == 429) {
            return Outcome::Error {
                kind: format!("HTTP {status}"),
            };
        }
        let want_s = match want {
            Decision::Accepted => "accepted (accept status)",
            _ => "rejected (reject status)",
        };
        let summary = format!(
            "{}: HTTP {status} ({got:?}); RFC 9421 §{} requires {want_s}",
            req.what, row.section
        );
        let detail = if want_detail {
            let mut d = vec![
                format!("row: http-sig-verifier/live/{}", row.slug),
                format!("requirement: {}", row.requirement()),
                format!(
                    "request sent:\n{}",
                    String::from_utf8_lossy(&req.msg.to_bytes())
                ),
            ];
            d.extend(signature_context(&req.msg));
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
            .map(|r| (r.slug.to_string(), r.requirement()))
            .collect()
    }

    fn kind_of(&self, seq: u64) -> usize {
        self.wheel[(seq % self.wheel.len() as u64) as usize]
    }

    fn call(&self, seq: u64, want_detail: bool) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            let row = self.rows[self.kind_of(seq)];
            let req = match (row.build)(&self.ctx, unix_now()) {
                Ok(r) => r,
                // runnable_rows built every row once: a failure now is the harness's, not the
                // target's, and is reported as such.
                Err(e) => {
                    return Outcome::Error {
                        kind: format!("harness could not build {}: {e:?}", row.slug),
                    };
                }
            };
            match row.expect {
                Expect::Accepted => self.one(row, &req, Decision::Accepted, want_detail).await,
                Expect::Rejected => self.one(row, &req, Decision::Rejected, want_detail).await,
                Expect::AcceptedThenReplayRejected => {
                    match self.one(row, &req, Decision::Accepted, want_detail).await {
                        Outcome::Right => {}
                        other => return other,
                    }
                    let replay = Request {
                        msg: req.msg.clone(),
                        what: "replay (same nonce)".into(),
                    };
                    self.one(row, &replay, Decision::Rejected, want_detail)
                        .await
                }
            }
        })
    }
}
