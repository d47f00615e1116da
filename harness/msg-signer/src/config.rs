//! The YAML configuration: a `msg_signer:` section (and `msg_batch_signer:` for batches) holding
//! exactly the keys of the spec (`specs/msg-signer.md`, "Configuration").
//!
//! Parsing is strict: an unknown key, a missing key or a wrong type is an error naming the key
//! and the file (serde `deny_unknown_fields`). Other top-level sections of the file are left
//! alone, as in the deployed `config.yaml` that holds one section per signer. After parsing,
//! [`MsgSignerConfig::validate`] checks values (timeout > 0, amqp/amqps URLs, templates, ...).
//!
//! Choices the spec leaves open:
//! - `key_aliases` may be omitted (empty map) and `log_level` defaults to `INFO`, as in the
//!   deployed client; every other key is required.
//! - `retries` and `send_retries` must be at least 1: with 0 the client could never receive a
//!   reply and every run would fail.
//! - There is deliberately no config key to skip broker-certificate verification (the deployed
//!   client rejects unknown keys, so a shared config file must stay portable); the opt-out is
//!   [`crate::transport::TransportOptions::verify_broker`] (CLI `--insecure-skip-broker-verify`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The `msg_signer:` section.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MsgSignerConfig {
    /// `amqp://host:port` or `amqps://host:port`, tried in order (failover).
    pub messaging_brokers: Vec<String>,
    /// One PEM file holding the client certificate (chain) and its private key.
    pub messaging_cert_key: PathBuf,
    /// PEM file with the CA certificate(s) that the broker's certificate must chain to.
    pub messaging_ca_cert: PathBuf,
    /// Address requests are sent to (`properties.to`); `{creator}` / `{task_id}` expanded.
    pub topic_send_to: String,
    /// Address replies are consumed from; `{creator}` / `{task_id}` expanded.
    pub topic_listen_to: String,
    pub environment: String,
    pub service: String,
    /// Seconds without an expected reply after which a receive window ends.
    pub timeout: u64,
    /// Receive windows per send cycle.
    pub retries: u32,
    /// Send cycles.
    pub send_retries: u32,
    /// Key of `msg` in a reply (and of the request body) used for correlation.
    pub message_id_key: String,
    #[serde(default = "default_log_level")]
    pub log_level: String,
    #[serde(default)]
    pub key_aliases: BTreeMap<String, String>,
}

/// The `msg_batch_signer:` section: the same keys plus `chunk_size`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MsgBatchSignerConfig {
    pub messaging_brokers: Vec<String>,
    pub messaging_cert_key: PathBuf,
    pub messaging_ca_cert: PathBuf,
    pub topic_send_to: String,
    pub topic_listen_to: String,
    pub environment: String,
    pub service: String,
    pub timeout: u64,
    pub retries: u32,
    pub send_retries: u32,
    pub message_id_key: String,
    #[serde(default = "default_log_level")]
    pub log_level: String,
    #[serde(default)]
    pub key_aliases: BTreeMap<String, String>,
    /// Claims per batch request.
    pub chunk_size: usize,
}

fn default_log_level() -> String {
    "INFO".into()
}

impl MsgBatchSignerConfig {
    /// The keys shared with `msg_signer`.
    pub fn common(&self) -> MsgSignerConfig {
        MsgSignerConfig {
            messaging_brokers: self.messaging_brokers.clone(),
            messaging_cert_key: self.messaging_cert_key.clone(),
            messaging_ca_cert: self.messaging_ca_cert.clone(),
            topic_send_to: self.topic_send_to.clone(),
            topic_listen_to: self.topic_listen_to.clone(),
            environment: self.environment.clone(),
            service: self.service.clone(),
            timeout: self.timeout,
            retries: self.retries,
            send_retries: self.send_retries,
            message_id_key: self.message_id_key.clone(),
            log_level: self.log_level.clone(),
            key_aliases: self.key_aliases.clone(),
        }
    }

    /// Validate values; errors name `msg_batch_signer.<key>` and the file.
    pub fn validate(&self, path: &Path) -> Result<()> {
        self.common().validate_section(path, "msg_batch_signer")?;
        if self.chunk_size == 0 {
            return Err(value_err(
                path,
                "msg_batch_signer",
                "chunk_size",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// URL scheme of a broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Amqp,
    Amqps,
}

/// A parsed entry of `messaging_brokers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    pub scheme: Scheme,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The URL as written.
    pub url: String,
}

impl BrokerUrl {
    /// Parse `amqp[s]://host[:port][/]`. Credentials, paths and queries are refused: the
    /// deployed contract authenticates by client certificate only.
    pub fn parse(url: &str) -> std::result::Result<Self, String> {
        let (scheme, rest) = if let Some(r) = url.strip_prefix("amqps://") {
            (Scheme::Amqps, r)
        } else if let Some(r) = url.strip_prefix("amqp://") {
            (Scheme::Amqp, r)
        } else {
            return Err(format!(
                "{url:?} is not an AMQP URL: expected amqp://HOST:PORT or amqps://HOST:PORT"
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') || rest.contains('/') || rest.contains('?') {
            return Err(format!(
                "{url:?}: only amqp[s]://HOST:PORT is supported (no credentials, path or query)"
            ));
        }
        let default_port = match scheme {
            Scheme::Amqp => 5672,
            Scheme::Amqps => 5671,
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unterminated IPv6 address"))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => parse_port(url, p)?,
                None if tail.is_empty() => default_port,
                None => return Err(format!("{url:?}: unexpected {tail:?} after the host")),
            };
            (h.to_string(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(url, p)?),
                None => (rest.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?}: missing host"));
        }
        Ok(BrokerUrl {
            scheme,
            host,
            port,
            url: url.to_string(),
        })
    }
}

fn parse_port(url: &str, p: &str) -> std::result::Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{url:?}: port {p:?} is not a number in 1..=65535")),
        Ok(n) => Ok(n),
    }
}

/// Log levels of the deployed client (Python `logging` names).
pub const LOG_LEVELS: [&str; 5] = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

fn value_err(path: &Path, section: &str, key: &str, message: impl Into<String>) -> Error {
    Error::ConfigValue {
        path: path.to_path_buf(),
        section: section.into(),
        key: key.into(),
        message: message.into(),
    }
}

/// Check a topic template: only `{creator}` and `{task_id}` may appear in braces.
fn check_template(t: &str) -> std::result::Result<(), String> {
    if t.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{t:?}: unclosed '{{'"))?;
        let name = &after[..close];
        if name != "creator" && name != "task_id" {
            return Err(format!(
                "{t:?}: unknown placeholder {{{name}}} (only {{creator}} and {{task_id}} are expanded)"
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("{t:?}: '}}' without '{{'"));
    }
    Ok(())
}

/// An address as RabbitMQ 3.x spells it: `topic://X` -> `/topic/X`, `queue://X` -> `/queue/X`
/// (it refuses the prefixed forms with `unknown_destination`); other addresses unchanged.
pub fn rabbitmq_address(a: &str) -> String {
    if let Some(x) = a.strip_prefix("topic://") {
        format!("/topic/{x}")
    } else if let Some(x) = a.strip_prefix("queue://") {
        format!("/queue/{x}")
    } else {
        a.to_string()
    }
}

/// Expand `{creator}` and `{task_id}` in a topic template (spec, "topic_listen_to").
pub fn expand_template(t: &str, creator: &str, task_id: &str) -> String {
    t.replace("{creator}", creator)
        .replace("{task_id}", task_id)
}

impl MsgSignerConfig {
    /// Validate values; errors name `msg_signer.<key>` and the file.
    pub fn validate(&self, path: &Path) -> Result<()> {
        self.validate_section(path, "msg_signer")
    }

    fn validate_section(&self, path: &Path, s: &str) -> Result<()> {
        // spec "messaging_brokers": "a list of AMQP or AMQPS ... fully specified url".
        if self.messaging_brokers.is_empty() {
            return Err(value_err(path, s, "messaging_brokers", "lists no broker"));
        }
        for u in &self.messaging_brokers {
            BrokerUrl::parse(u).map_err(|m| value_err(path, s, "messaging_brokers", m))?;
        }
        // spec "timeout": seconds; a zero window could never receive anything.
        if self.timeout == 0 {
            return Err(value_err(path, s, "timeout", "must be at least 1 second"));
        }
        // The request's AMQP `header.ttl` is `timeout * retries` in milliseconds, a `uint`
        // (AMQP 1.0 part 3.2.1): larger windows cannot be put on the wire (and would overflow
        // the client's deadlines).
        let max = crate::engine::MAX_TIMEOUT.as_secs();
        if self.timeout > max {
            return Err(value_err(
                path,
                s,
                "timeout",
                format!(
                    "{} s is more than the largest window, {max} s (about 49 days)",
                    self.timeout
                ),
            ));
        }
        if self.retries == 0 {
            return Err(value_err(path, s, "retries", "must be at least 1"));
        }
        if self.send_retries == 0 {
            return Err(value_err(path, s, "send_retries", "must be at least 1"));
        }
        // spec "topic_listen_to": templating attributes `{creator}` and `{task_id}`.
        check_template(&self.topic_send_to).map_err(|m| value_err(path, s, "topic_send_to", m))?;
        check_template(&self.topic_listen_to)
            .map_err(|m| value_err(path, s, "topic_listen_to", m))?;
        if self.message_id_key.trim().is_empty() {
            return Err(value_err(path, s, "message_id_key", "must not be empty"));
        }
        // spec "log_level": DEBUG, INFO, WARNING, ERROR or CRITICAL.
        if !LOG_LEVELS.contains(&self.log_level.to_ascii_uppercase().as_str()) {
            return Err(value_err(
                path,
                s,
                "log_level",
                format!(
                    "{:?} is not one of {}",
                    self.log_level,
                    LOG_LEVELS.join(", ")
                ),
            ));
        }
        for (k, v) in &self.key_aliases {
            if k.is_empty() || v.is_empty() {
                return Err(value_err(
                    path,
                    s,
                    "key_aliases",
                    format!("alias {k:?} -> {v:?}: neither side may be empty"),
                ));
            }
        }
        let tls = self
            .messaging_brokers
            .iter()
            .any(|u| u.starts_with("amqps://"));
        if tls && self.messaging_ca_cert.as_os_str().is_empty() {
            return Err(value_err(
                path,
                s,
                "messaging_ca_cert",
                "must name a PEM file for amqps brokers",
            ));
        }
        if tls && self.messaging_cert_key.as_os_str().is_empty() {
            return Err(value_err(
                path,
                s,
                "messaging_cert_key",
                "must name a PEM file for amqps brokers",
            ));
        }
        Ok(())
    }

    /// Parsed broker URLs (validated by [`Self::validate`]).
    pub fn brokers(&self) -> Result<Vec<BrokerUrl>> {
        self.messaging_brokers
            .iter()
            .map(|u| BrokerUrl::parse(u).map_err(Error::Input))
            .collect()
    }

    /// `timeout` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    /// Message TTL on the wire: `timeout * retries` seconds (notes: `header.ttl`).
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.timeout.saturating_mul(u64::from(self.retries)))
    }

    /// Resolve a signing key given on the command line: an alias is replaced by its target.
    pub fn resolve_key<'a>(&'a self, key: &'a str) -> &'a str {
        self.key_aliases.get(key).map(String::as_str).unwrap_or(key)
    }
}

// Top-level documents: other sections are ignored (no deny_unknown_fields at the root);
// deserializing from the text lets serde_norway prefix errors with the path (`msg_signer.timeout`).
#[derive(Deserialize)]
struct SignerRoot {
    msg_signer: Option<MsgSignerConfig>,
}

#[derive(Deserialize)]
struct BatchRoot {
    msg_batch_signer: Option<MsgBatchSignerConfig>,
}

fn parse_err(path: &Path, message: String) -> Error {
    Error::ConfigParse {
        path: path.to_path_buf(),
        message,
    }
}

fn missing_section(path: &Path, name: &str) -> Error {
    parse_err(path, format!("missing section `{name}`"))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
        path: path.to_path_buf(),
        source,
    })
}

/// Largest configuration file read: deployed configs are a few hundred bytes.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Deepest flow nesting (`[` / `{`) accepted: the configuration is two levels deep.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Refuse, in one linear pass and before the YAML parser sees it, text the parser would take
/// super-linear time over (issue 13: 100 000 `[` took 15.8 s to reject): over
/// [`MAX_CONFIG_BYTES`], or flow collections nested deeper than [`MAX_FLOW_DEPTH`] (brackets in
/// quoted scalars and comments do not count).
fn check_shape(path: &Path, text: &str) -> Result<()> {
    text_shape::check(text, MAX_CONFIG_BYTES, MAX_FLOW_DEPTH).map_err(|e| {
        let message = match e {
            text_shape::ShapeError::TooLarge { bytes, max } => {
                format!("{bytes} bytes is more than a configuration file may hold ({max})")
            }
            text_shape::ShapeError::TooDeep { line, max, .. } => {
                format!("line {line}: collections nested more than {max} deep")
            }
        };
        parse_err(path, message)
    })
}

impl MsgSignerConfig {
    /// Parse and validate the `msg_signer` section of YAML text (`path` is used in messages).
    pub fn from_yaml(path: &Path, text: &str) -> Result<Self> {
        check_shape(path, text)?;
        let root: SignerRoot =
            serde_norway::from_str(text).map_err(|e| parse_err(path, e.to_string()))?;
        let c = root
            .msg_signer
            .ok_or_else(|| missing_section(path, "msg_signer"))?;
        c.validate(path)?;
        Ok(c)
    }

    /// Read, parse and validate the `msg_signer` section of a file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_yaml(path, &read(path)?)
    }
}

impl MsgBatchSignerConfig {
    /// Parse and validate the `msg_batch_signer` section of YAML text.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Self> {
        check_shape(path, text)?;
        let root: BatchRoot =
            serde_norway::from_str(text).map_err(|e| parse_err(path, e.to_string()))?;
        let c = root
            .msg_batch_signer
            .ok_or_else(|| missing_section(path, "msg_batch_signer"))?;
        c.validate(path)?;
        Ok(c)
    }

    /// Read, parse and validate the `msg_batch_signer` section of a file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_yaml(path, &read(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
msg_signer:
  messaging_brokers: ["amqps://127.0.0.1:5671", "amqp://[::1]:5672"]
  messaging_cert_key: /tmp/c.pem
  messaging_ca_cert: /tmp/ca.pem
  topic_send_to: topic://Sign.{creator}
  topic_listen_to: queue://Consumer.{creator}.{task_id}.Topic.sign.{task_id}
  environment: prod
  service: pubtools-sign
  timeout: 5
  retries: 3
  send_retries: 2
  message_id_key: request_id
  log_level: debug
  key_aliases:
    beta: "0123456789ABCDEF"
other_section:
  anything: goes
"#;

    fn p() -> &'static Path {
        Path::new("conf.yaml")
    }

    #[test]
    fn parses_good_config() {
        let c = MsgSignerConfig::from_yaml(p(), GOOD).unwrap();
        assert_eq!(c.timeout(), Duration::from_secs(5));
        assert_eq!(c.ttl(), Duration::from_secs(15));
        assert_eq!(c.resolve_key("beta"), "0123456789ABCDEF");
        assert_eq!(c.resolve_key("gamma"), "gamma");
        let b = c.brokers().unwrap();
        assert_eq!(b[0].scheme, Scheme::Amqps);
        assert_eq!(b[1].host, "::1");
        assert_eq!(b[1].port, 5672);
    }

    #[test]
    fn unknown_key_is_named_with_file() {
        let y = GOOD.replace("  service: pubtools-sign\n", "  service: x\n  servce: y\n");
        let e = MsgSignerConfig::from_yaml(p(), &y).unwrap_err().to_string();
        assert!(e.contains("servce") && e.contains("conf.yaml"), "{e}");
    }

    #[test]
    fn missing_key_is_named() {
        let y = GOOD.replace("  send_retries: 2\n", "");
        let e = MsgSignerConfig::from_yaml(p(), &y).unwrap_err().to_string();
        assert!(e.contains("send_retries") && e.contains("conf.yaml"), "{e}");
    }

    #[test]
    fn missing_section_is_named() {
        let e = MsgSignerConfig::from_yaml(p(), "other: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("msg_signer"), "{e}");
    }

    /// Regression (issue 13): 100 000 `[` took 15.8 s to reject; now refused in one pass,
    /// naming the file and the line. Brackets in quotes and comments are not nesting.
    #[test]
    fn deep_nesting_and_huge_files_are_refused_before_parsing() {
        let p = Path::new("deep.yaml");
        let deep = format!("msg_signer:\n  messaging_brokers: {}", "[".repeat(100_000));
        let e = MsgSignerConfig::from_yaml(p, &deep)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("deep.yaml") && e.contains("line 2: collections nested more than 64 deep"),
            "{e}"
        );
        let e = MsgSignerConfig::from_yaml(p, &" ".repeat(MAX_CONFIG_BYTES + 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than a configuration file may hold"), "{e}");
        let quoted = GOOD.replace(
            "log_level: debug",
            &format!(
                "log_level: debug # {}\n  # \"{}\"",
                "[".repeat(100),
                "{".repeat(100)
            ),
        );
        assert!(MsgSignerConfig::from_yaml(p, &quoted).is_ok());
        let deep_ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(check_shape(p, &deep_ok).is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        for (from, to, key) in [
            ("timeout: 5", "timeout: 0", "timeout"),
            ("timeout: 5", "timeout: 9223372036854775807", "timeout"),
            ("timeout: 5", "timeout: 4294968", "timeout"),
            ("retries: 3", "retries: 0", "retries"),
            ("send_retries: 2", "send_retries: 0", "send_retries"),
            ("amqps://127.0.0.1:5671", "http://x:1", "messaging_brokers"),
            (
                "amqps://127.0.0.1:5671",
                "amqps://h:99999",
                "messaging_brokers",
            ),
            (
                "amqps://127.0.0.1:5671",
                "amqps://u:p@h:1",
                "messaging_brokers",
            ),
            ("log_level: debug", "log_level: loud", "log_level"),
            ("Sign.{creator}", "Sign.{user}", "topic_send_to"),
            ("{task_id}.Topic", "{task_id.Topic", "topic_listen_to"),
            (
                "message_id_key: request_id",
                "message_id_key: ''",
                "message_id_key",
            ),
            ("timeout: 5", "timeout: -1", "timeout"),
            ("timeout: 5", "timeout: five", "timeout"),
        ] {
            let y = GOOD.replace(from, to);
            assert_ne!(y, GOOD, "{from}");
            let e = MsgSignerConfig::from_yaml(p(), &y).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("conf.yaml"), "{key}: {e}");
        }
        let y = GOOD.replace(
            "messaging_brokers: [\"amqps://127.0.0.1:5671\", \"amqp://[::1]:5672\"]",
            "messaging_brokers: []",
        );
        let e = MsgSignerConfig::from_yaml(p(), &y).unwrap_err().to_string();
        assert!(e.contains("messaging_brokers"), "{e}");
    }

    #[test]
    fn batch_section_needs_chunk_size() {
        let y = GOOD.replace("msg_signer:", "msg_batch_signer:");
        let e = MsgBatchSignerConfig::from_yaml(p(), &y)
            .unwrap_err()
            .to_string();
        assert!(e.contains("chunk_size"), "{e}");
        let y2 = y.replace(
            "  environment: prod\n",
            "  environment: prod\n  chunk_size: 0\n",
        );
        let e = MsgBatchSignerConfig::from_yaml(p(), &y2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("msg_batch_signer.chunk_size"), "{e}");
        let y3 = y.replace(
            "  environment: prod\n",
            "  environment: prod\n  chunk_size: 10\n",
        );
        let c = MsgBatchSignerConfig::from_yaml(p(), &y3).unwrap();
        assert_eq!(c.common().timeout, 5);
    }

    #[test]
    fn templates_expand_both_names() {
        assert_eq!(
            expand_template("queue://C.{creator}.{task_id}.x.{task_id}", "alice", "42"),
            "queue://C.alice.42.x.42"
        );
    }
}
