//! The crate's one error enum, and how each error maps onto an HTTP status.

use http::StatusCode;

/// Everything that can go wrong in the MQ Hub: bad input from a client, a bad configuration, a
/// failing store, or (for the client) an unexpected answer from a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MqHubError {
    /// The domain in the path does not have the MQ component enabled (RFC-130 §2.4: 405).
    #[error("domain {0:?} does not have the MQ component enabled")]
    MqDisabled(String),
    /// No token, a token not issued by this server, an expired token, a token for another
    /// queue, or a missing/bad `signatureOfDid` (RFC-130 §2.4, §3.3: 403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The message body is larger than the configured maximum (deployed servers answer 403).
    #[error("Message size exceeds domain specific limit. (maximum {max} bytes)")]
    TooLarge { max: usize },
    /// The queue already holds the configured maximum of messages (deployed servers answer 500).
    #[error("Queue size exceeded! (maximum {max} messages)")]
    QueueFull { max: usize },
    /// A path segment, header or body that is malformed (not base58, not UTF-8, ...).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The client did not send its request body within the configured time (408).
    #[error("request body not received within {0:?}")]
    RequestTimeout(std::time::Duration),
    /// A message id that is well formed but not in the queue.
    #[error("no message with id {0:?} in this queue")]
    NoSuchMessage(String),
    /// A DID that cannot be parsed or whose key cannot be resolved.
    #[error("DID {did:?}: {reason}")]
    Did { did: String, reason: String },
    /// A configuration file or value that is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The durable store failed.
    #[error("store: {0}")]
    Store(String),
    /// A key that cannot be used (wrong curve, corrupt PKCS#8, ...).
    #[error("key: {0}")]
    Key(String),
    /// An I/O error with the file or socket named.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Client side: the server answered with a status the operation does not expect.
    #[error("server answered {status}: {body}")]
    Status { status: u16, body: String },
    /// Client side: the server's reply could not be understood.
    #[error("malformed reply from the server: {0}")]
    MalformedReply(String),
    /// Client side: no answer within the bound.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// Client side: the connection failed.
    #[error("transport: {0}")]
    Transport(String),
}

impl MqHubError {
    /// The HTTP status a server answers with for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            MqHubError::MqDisabled(_) => StatusCode::METHOD_NOT_ALLOWED,
            MqHubError::Forbidden(_) | MqHubError::TooLarge { .. } => StatusCode::FORBIDDEN,
            MqHubError::Did { .. } => StatusCode::FORBIDDEN,
            MqHubError::BadRequest(_) => StatusCode::BAD_REQUEST,
            MqHubError::NoSuchMessage(_) => StatusCode::NOT_FOUND,
            MqHubError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            MqHubError::QueueFull { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn forbidden(msg: impl Into<String>) -> Self {
        MqHubError::Forbidden(msg.into())
    }
    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        MqHubError::BadRequest(msg.into())
    }
}

pub type Result<T, E = MqHubError> = std::result::Result<T, E>;
