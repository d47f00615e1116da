//! Server configuration (TOML, `deny_unknown_fields`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Profile;
use crate::error::{MqHubError, Result};

/// Where messages live.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StorageConfig {
    /// In memory: lost on exit.
    #[default]
    Memory,
    /// An embedded redb file: every put answered 200 is committed (fsync) first.
    Durable { path: PathBuf },
}

fn d_domains() -> Vec<String> {
    vec!["default".into()]
}
fn d_size() -> usize {
    10_240
}
fn d_len() -> usize {
    10_000
}
fn d_conn() -> u64 {
    10_000
}
fn d_life() -> u64 {
    10_000
}
fn d_window() -> u64 {
    300
}
fn d_true() -> bool {
    true
}
fn d_read() -> u64 {
    10_000
}
fn d_parked() -> usize {
    10_000
}

/// The server configuration. Every field has the apihub default unless noted.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// `rfc130` (the document) or `opendsu` (the deployed dialect).
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
    pub storage: StorageConfig,
    /// Domains with the MQ component enabled; any other domain answers 405.
    #[serde(default = "d_domains")]
    pub domains: Vec<String>,
    /// Largest message body in bytes (a body of exactly this size is accepted).
    #[serde(default = "d_size")]
    pub max_message_size: usize,
    /// Most messages a queue holds (a put into a queue holding this many answers 500).
    #[serde(default = "d_len")]
    pub max_queue_length: usize,
    /// How long a get/take waits for a message before answering 204, in milliseconds.
    #[serde(default = "d_conn")]
    pub connection_timeout_ms: u64,
    /// Token lifetime in seconds (a client may ask for less with `x-mq-token-lifetime`).
    #[serde(default = "d_life")]
    pub token_lifetime_secs: u64,
    /// Allowed distance between a holder proof's timestamp and the server clock, in seconds.
    #[serde(default = "d_window")]
    pub proof_window_secs: u64,
    /// JSON file `{ "<DID>": "<hex SEC1 secp256k1 key>" }` for DID methods that are not
    /// self-certifying.
    #[serde(default)]
    pub did_registry: Option<PathBuf>,
    /// Any authenticated DID may obtain a put-only token for any queue (true), or only the
    /// queue's owner may put into it (false).
    #[serde(default = "d_true")]
    pub open_put: bool,
    /// Most get/take requests parked at once over all queues; beyond it, 500.
    #[serde(default = "d_parked")]
    pub max_parked: usize,
    /// A client must send a whole request head within this time, and an idle keep-alive
    /// connection is closed after it (slow clients, not in apihub), in milliseconds.
    #[serde(default = "d_read")]
    pub header_read_timeout_ms: u64,
    /// A client must send a whole put body within this time, else 408, in milliseconds.
    #[serde(default = "d_read")]
    pub body_read_timeout_ms: u64,
    /// A response write that makes no progress for this long (the client reads nothing)
    /// closes the connection, in milliseconds (slow readers, not in apihub).
    #[serde(default = "d_read")]
    pub write_timeout_ms: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            profile: Profile::default(),
            storage: StorageConfig::default(),
            domains: d_domains(),
            max_message_size: d_size(),
            max_queue_length: d_len(),
            connection_timeout_ms: d_conn(),
            token_lifetime_secs: d_life(),
            proof_window_secs: d_window(),
            did_registry: None,
            open_put: true,
            max_parked: d_parked(),
            header_read_timeout_ms: d_read(),
            body_read_timeout_ms: d_read(),
            write_timeout_ms: d_read(),
        }
    }
}

impl HubConfig {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        let c: HubConfig = toml::from_str(text).map_err(|e| MqHubError::Config(format!("{e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Read a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| MqHubError::Io {
            context: format!("reading config {}", path.display()),
            source: e,
        })?;
        Self::from_toml(&text).map_err(|e| MqHubError::Config(format!("{}: {e}", path.display())))
    }

    /// Reject values that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.domains.is_empty() {
            return Err(MqHubError::Config(
                "domains: list at least one domain".into(),
            ));
        }
        if let Some(d) = self.domains.iter().find(|d| !crate::server::is_segment(d)) {
            return Err(MqHubError::Config(format!(
                "domains: {d:?} is not a valid path segment (letters, digits, '.', '-', '_')"
            )));
        }
        if self.max_message_size == 0 || self.max_queue_length == 0 {
            return Err(MqHubError::Config(
                "max_message_size and max_queue_length must be at least 1".into(),
            ));
        }
        if self.connection_timeout_ms == 0 || self.token_lifetime_secs == 0 {
            return Err(MqHubError::Config(
                "connection_timeout_ms and token_lifetime_secs must be at least 1".into(),
            ));
        }
        if self.header_read_timeout_ms == 0
            || self.body_read_timeout_ms == 0
            || self.write_timeout_ms == 0
        {
            return Err(MqHubError::Config(
                "header_read_timeout_ms, body_read_timeout_ms and write_timeout_ms must be at least 1"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_unknown_fields() {
        let c = HubConfig::from_toml(
            "profile = \"opendsu\"\ndomains = [\"vault.csc\"]\n[storage]\nkind = \"durable\"\npath = \"/tmp/x.redb\"\n",
        )
        .unwrap();
        assert_eq!(c.profile, Profile::Opendsu);
        assert_eq!(c.max_message_size, 10_240);
        assert!(matches!(c.storage, StorageConfig::Durable { .. }));
        let e = HubConfig::from_toml("max_mesage_size = 3").unwrap_err();
        assert!(e.to_string().contains("max_mesage_size"), "{e}");
        assert!(HubConfig::from_toml("domains = []").is_err());
        assert!(HubConfig::from_toml("domains = [\"a/b\"]").is_err());
        assert!(HubConfig::from_toml("[storage]\nkind = \"disk\"").is_err());
        let e = HubConfig::from_toml("write_timeout_ms = 0").unwrap_err();
        assert!(e.to_string().contains("write_timeout_ms"), "{e}");
    }
}
