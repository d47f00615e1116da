//! The one type a case's `run` returns, and the small helpers every suite writes its checks with.
//!
//! A case passes with evidence (`Ok(Evidence)`) or stops with a [`Stop`]: a failure with
//! evidence (expected against observed), a skip with its reason, or "unsupported" (the
//! implementation under test lacks what the case needs). `?` ends a case at the first step that
//! cannot proceed, with that step's own evidence:
//!
//! ```
//! use sigharness::runner::check::{Check, expect_status, pass, step};
//! # async fn put(_: &str) -> Result<u16, std::io::Error> { Ok(200) }
//! async fn put_ok() -> Check {
//!     let status = put("x").await.map_err(step("put"))?;
//!     expect_status("put with a token", status, "", &[200])?;
//!     pass("stored")
//! }
//! ```

use std::fmt::Display;

use sigharness_report::{Evidence, Verdict};

/// What one case's check returns: `Ok(evidence)` passes; `Err(stop)` fails, skips or reports
/// that the implementation does not support what the case needs.
pub type Check = Result<Evidence, Stop>;

/// How a case ends when it does not pass.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Stop {
    /// The requirement is not met; the evidence says expected against observed.
    Fail(Evidence),
    /// The case does not apply to this target or configuration; the reason (e.g. which
    /// `--set` would make it run).
    Skip(String),
    /// The implementation under test does not implement what the case needs; the reason.
    /// Fails the run for a MUST case, not for SHOULD/MAY (see `sigharness_report::Verdict`).
    Unsupported(String),
}

impl Stop {
    /// The verdict and the evidence this stop is reported with.
    pub fn into_parts(self) -> (Verdict, Evidence) {
        match self {
            Stop::Fail(e) => (Verdict::Fail, e),
            Stop::Skip(r) => (Verdict::Skip, Evidence::new(r)),
            Stop::Unsupported(r) => (Verdict::Unsupported, Evidence::new(r)),
        }
    }

    /// The verdict alone.
    pub fn verdict(&self) -> Verdict {
        match self {
            Stop::Fail(_) => Verdict::Fail,
            Stop::Skip(_) => Verdict::Skip,
            Stop::Unsupported(_) => Verdict::Unsupported,
        }
    }
}

impl From<Evidence> for Stop {
    /// Evidence on its own is a failure's evidence.
    fn from(e: Evidence) -> Self {
        Stop::Fail(e)
    }
}

/// The verdict and evidence of a finished check.
pub fn into_parts(check: Check) -> (Verdict, Evidence) {
    match check {
        Ok(e) => (Verdict::Pass, e),
        Err(s) => s.into_parts(),
    }
}

/// Pass with a one-line summary.
pub fn pass(summary: impl Into<String>) -> Check {
    Ok(Evidence::new(summary))
}

/// A failure: why, what the requirement expects, what was observed.
pub fn fail(
    summary: impl Into<String>,
    expected: impl Into<String>,
    observed: impl Into<String>,
) -> Stop {
    Stop::Fail(Evidence::new(summary).expected(expected).observed(observed))
}

/// A skip with its reason.
pub fn skip(reason: impl Into<String>) -> Stop {
    Stop::Skip(reason.into())
}

/// "The implementation under test does not support this", with what is missing.
pub fn unsupported(reason: impl Into<String>) -> Stop {
    Stop::Unsupported(reason.into())
}

/// Map the error of a step the case needs (a setup request, a token, a put) to a failure
/// naming the step: `client.put(..).await.map_err(step("put"))?`.
pub fn step<E: Display>(what: &str) -> impl FnOnce(E) -> Stop + '_ {
    move |e| {
        fail(
            format!("{what} failed"),
            format!("{what} to succeed"),
            e.to_string(),
        )
    }
}

/// `Ok(())` when `cond` holds, else the failure `otherwise` builds.
pub fn ensure(cond: bool, otherwise: impl FnOnce() -> Stop) -> Result<(), Stop> {
    if cond { Ok(()) } else { Err(otherwise()) }
}

/// The requirement text of a status check: `status 403`, `status 401 or 403`.
pub fn status_requirement(want: &[u16]) -> String {
    format!(
        "status {}",
        want.iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

/// Pass when `status` is one of `want`; else fail with the status and the start of `body`.
/// `what` is the stimulus in a few words (`put without a token`).
pub fn expect_status(what: &str, status: u16, body: &str, want: &[u16]) -> Check {
    if want.contains(&status) {
        Ok(Evidence::new(format!("{what}: {status}")))
    } else {
        Err(fail(
            what.to_string(),
            status_requirement(want),
            format!("status {status}: {}", truncate(body, 200)),
        ))
    }
}

/// The first `max` characters of `s`.
pub fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Join the summaries of two checks that must both pass (`Ok("a; b")`), or the first stop.
pub fn both(a: Check, b: Check) -> Check {
    let a = a?;
    let b = b?;
    let mut e = a.clone();
    e.summary = format!("{}; {}", a.summary, b.summary);
    e.log.extend(b.log);
    e.figures.extend(b.figures);
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_checks_derive_their_requirement_from_the_same_list() {
        assert_eq!(status_requirement(&[401, 403]), "status 401 or 403");
        assert!(expect_status("put", 403, "", &[403]).is_ok());
        let Err(Stop::Fail(e)) = expect_status("put", 200, &"x".repeat(500), &[403]) else {
            panic!("200 is not 403")
        };
        assert_eq!(e.expected.as_deref(), Some("status 403"));
        assert_eq!(
            e.observed.as_deref().map(str::len),
            Some(200 + "status 200: ".len())
        );
    }

    #[test]
    fn stops_map_to_their_verdicts() {
        assert_eq!(into_parts(pass("ok")).0, Verdict::Pass);
        assert_eq!(into_parts(Err(skip("n/a"))).0, Verdict::Skip);
        assert_eq!(into_parts(Err(unsupported("no"))).0, Verdict::Unsupported);
        let (v, e) = into_parts(Err(fail("why", "a", "b")));
        assert_eq!((v, e.expected.as_deref()), (Verdict::Fail, Some("a")));
        let s: Stop = step::<&str>("token request")("refused");
        assert_eq!(
            s,
            fail(
                "token request failed",
                "token request to succeed",
                "refused"
            )
        );
        assert_eq!(both(pass("a"), pass("b")).unwrap().summary, "a; b");
        assert_eq!(both(pass("a"), Err(skip("x"))), Err(skip("x")));
    }
}
