//! The one error enum of this crate.

/// Everything that can go wrong when configuring or running the mock signing server.
/// (Bad *requests* are not errors of the server: they get error replies, see [`crate::core`].)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The config file could not be used (message names the file and key).
    #[error("config: {0}")]
    Config(String),
    /// A signing key could not be generated, read or used.
    #[error("signing key: {0}")]
    Key(String),
    /// Producing a signature failed.
    #[error("signing: {0}")]
    Sign(String),
    /// A fault plan could not be read or is invalid.
    #[error("fault plan {origin}: {reason}")]
    FaultPlan { origin: String, reason: String },
    /// The broker URL is not usable.
    #[error("broker URL {url:?}: {reason}")]
    BrokerUrl { url: String, reason: String },
    /// Connecting to the broker or attaching links failed.
    #[error("cannot reach the broker at {url}: {reason}")]
    Connect { url: String, reason: String },
}

impl From<mock_broker::BrokerError> for ServerError {
    fn from(e: mock_broker::BrokerError) -> Self {
        match e {
            mock_broker::BrokerError::FaultPlan { origin, reason } => {
                ServerError::FaultPlan { origin, reason }
            }
            other => ServerError::Config(other.to_string()),
        }
    }
}
