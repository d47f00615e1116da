//! `sigharness`: conformance suites for signing protocols, the runner that executes them, the
//! reporters, and the command-line interface.
//!
//! Layout:
//! - [`runner`]: case registry, selection, the event stream and the reporters;
//! - [`suites`]: one module per suite (`http-sig`, ...), each with its targets;
//! - [`cli`]: the `sigharness` command line;
//! - [`containers`]: brokers in containers for `--broker container:...` (cargo feature `docker`).

pub mod bench;
pub mod cli;
pub mod conformance;
pub mod containers;
pub mod coverage;
pub mod error;
pub mod http_sig_live;
pub mod load;
pub mod runner;
pub mod suites;

pub use error::{Error, Result};
