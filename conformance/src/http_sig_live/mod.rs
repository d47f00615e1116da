//! # The suites' side of RFC 9421 against live systems
//!
//! What the `http-sig-signer` and `http-sig-verifier` suites send over real loopback HTTP. The
//! servers on the other side (the upstream that judges a signer's requests, our verifier as a
//! service) are mocks: crate `mock-http-sig-peers` (mocks/http-sig-peers).
//!
//! - [`script`]: the scripted requests (data, `script.json`) a signer under test is made to send:
//!   varied methods, paths, queries, repeated and hop-by-hop headers.
//! - [`client`]: a loopback reqwest client (proxies off), [`client::send_message`] (a request as it
//!   is, for the verifier suite) and [`client::send_script`], which signs the script through an
//!   in-process [`client::RequestSigner`] (our `SigningProfile`, or a faulty signer in tests).

pub mod client;
pub mod script;

pub use mock_http_sig_peers::unix_now;

use sigharness_vectors::VectorSet;

use crate::runner::SuiteOptions;
use crate::{Error, Result};

/// The test vectors (and their keys) both suites use: `--vectors DIR` (the layout of
/// `vectors/`: `data/*.json`, `keys/index.json` + key files), else the built-in copy.
pub fn load_vectors(opts: &SuiteOptions) -> Result<VectorSet> {
    match &opts.vectors_dir {
        Some(dir) => VectorSet::load_dir(dir).map_err(|e| {
            Error::setup(format!(
                "--vectors {}: cannot load the test vectors: {e}",
                dir.display()
            ))
        }),
        None => VectorSet::builtin().map_err(|e| Error::setup(format!("vectors: {e}"))),
    }
}
