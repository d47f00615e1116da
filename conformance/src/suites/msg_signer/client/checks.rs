//! Verdict pieces shared by the client-mode cases.

use super::super::env::Observed;
use crate::runner::check::{Check, fail, pass};

/// The run succeeded: exit 0 and status ok, within the suite's bound.
pub fn ok_all(o: &Observed) -> Check {
    if o.hung {
        return Err(fail(
            "the client did not finish",
            format!("a result within {:?}", o.bound),
            "still running",
        ));
    }
    if !o.ok() {
        return Err(fail(
            "the run did not succeed",
            "exit 0 and status ok",
            format!(
                "exit {} status {:?}: {}",
                o.exit_code,
                o.status(),
                o.error_message()
            ),
        ));
    }
    pass("signed as required")
}

/// The run failed as it must: exit 1, status error, a message.
pub fn err_exit(o: &Observed) -> Check {
    if o.hung {
        return Err(fail(
            "the client hung",
            format!("an error result within {:?}", o.bound),
            "no result (killed by the suite)",
        ));
    }
    if o.exit_code != 1 || o.status() != Some("error") {
        return Err(fail(
            "a failed run must be reported as an error",
            "exit 1 and signer_result.status \"error\" with a message",
            format!("exit {} status {:?}", o.exit_code, o.status()),
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
