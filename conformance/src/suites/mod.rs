//! The registry of conformance suites. A new suite is a module here plus one line in [`all`].

pub mod http_sig;
pub mod http_sig_signer;
pub mod http_sig_verifier;

use crate::runner::Suite;

pub mod mq_hub;

/// Every suite, in the order `cargo xtask conformance` runs them.
pub fn all() -> Vec<Box<dyn Suite>> {
    vec![
        Box::new(http_sig::HttpSigSuite),
        Box::new(http_sig_signer::HttpSigSignerSuite::default()),
        Box::new(http_sig_verifier::HttpSigVerifierSuite),
        Box::new(mq_hub::MqHubSuite),
    ]
}
