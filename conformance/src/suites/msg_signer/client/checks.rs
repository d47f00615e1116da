//! Verdict pieces shared by the client-mode cases.

use super::super::env::Observed;
use crate::runner::check::{Check, fail, pass};

/// The run succeeded: exit 0 and status ok, within the suite's bound.
pub fn ok_all(o: &Observed) -> Check {
    if o.hung {
        return Err(fail(
            "the client did not finish",
            format!("a result within {} s", o.bound.as_secs()),
            observed_with_requests(o),
        ));
    }
    if !o.ok() {
        return Err(fail(
            format!("the run did not succeed: {}", o.outcome()),
            "exit 0 and signer_result.status \"ok\"",
            observed_with_requests(o),
        ));
    }
    pass("signed as required")
}

/// The run failed as it must: exit 1, status error, a message.
pub fn err_exit(o: &Observed) -> Check {
    if o.hung {
        return Err(fail(
            "the client hung",
            format!("an error result within {} s", o.bound.as_secs()),
            observed_with_requests(o),
        ));
    }
    if o.exit_code != 1 || o.status() != Some("error") {
        return Err(fail(
            format!("a failed run must be reported as an error: {}", o.outcome()),
            "exit 1 and signer_result.status \"error\" with a message",
            observed_with_requests(o),
        ));
    }
    if o.error_message().trim().is_empty() {
        return Err(fail(
            "an error without a message",
            "a non-empty error_message",
            "empty",
        ));
    }
    pass("reported as an error")
}

/// The client's outcome and how each request ended, for the observed side of a failure.
pub fn observed_with_requests(o: &Observed) -> String {
    let mut s = o.outcome();
    for r in o.request_outcomes() {
        s.push_str("; ");
        s.push_str(&r);
    }
    s
}

/// Transmissions per distinct request, in first-sent order.
pub fn sent_counts(o: &Observed) -> Vec<usize> {
    o.transmissions().into_iter().map(|(_, n)| n).collect()
}

/// The transmissions per request are `want`; `what` says why.
pub fn expect_counts(o: &Observed, want: &[usize], what: &str) -> Check {
    let got = sent_counts(o);
    if got != want {
        return Err(fail(
            what.to_string(),
            format!("transmissions per request {want:?}"),
            format!("{got:?}"),
        ));
    }
    pass(format!("transmissions per request {got:?}"))
}

/// Request `index` (0-based, first-sent order) reached the broker `want` times.
pub fn expect_count_of(o: &Observed, index: usize, want: usize, what: &str) -> Check {
    let got = sent_counts(o);
    match got.get(index) {
        Some(n) if *n == want => pass(format!(
            "request {} sent {want}x (transmissions per request {got:?})",
            index + 1
        )),
        _ => Err(fail(
            what.to_string(),
            format!("request {} sent {want}x", index + 1),
            format!("transmissions per request {got:?}"),
        )),
    }
}
