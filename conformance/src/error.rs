//! The one error type of the `sigharness` crate.
//!
//! Layered as rustls's `Error` is: a few kinds, each saying what went wrong and what would fix
//! it, with the detail of a kind in a sub-enum where it has structure ([`ContainerError`]).
//! Every `Error` of a conformance run means the run could not proceed (exit code 2, one line on
//! stderr). What an implementation under test did wrong is never an `Error`: it is a case's
//! verdict (`runner::Check`).

use std::path::PathBuf;

pub use crate::containers::ContainerError;

/// What went wrong in the harness itself (not in the implementation under test).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad arguments, settings or configuration, or an unreachable target: the message names the
    /// option, key or file at fault.
    #[error("{0}")]
    Setup(String),
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`cannot read`, `cannot write`, ...).
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Raw text that should be an HTTP/1.1 message is not one.
    #[error("not an HTTP/1.1 message: {0}")]
    HttpMessage(String),
    /// A broker in a container (`--broker container:...`).
    #[error(transparent)]
    Container(#[from] ContainerError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A setup error with this message.
    pub fn setup(msg: impl Into<String>) -> Self {
        Error::Setup(msg.into())
    }

    /// A failed read of `path`.
    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what: "cannot read",
            path: path.into(),
            source,
        }
    }

    /// A failed write of `path`.
    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what: "cannot write",
            path: path.into(),
            source,
        }
    }
}

impl From<String> for Error {
    fn from(msg: String) -> Self {
        Error::Setup(msg)
    }
}
