//! The registry of conformance suites. A new suite is a module here plus one line in [`all`].

pub mod msg_signer;

use crate::runner::Suite;

/// Every suite, in the order `cargo xtask conformance` runs them.
pub fn all() -> Vec<Box<dyn Suite>> {
    vec![Box::new(msg_signer::MsgSignerSuite)]
}
