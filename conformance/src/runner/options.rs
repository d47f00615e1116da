//! Options shared by every suite, filled from the `sigharness conformance` command line.
//!
//! Each suite reads the fields that concern it and ignores the rest; a suite given an option it
//! cannot honour (for example a URL for a target it does not have) returns a `Error` naming
//! the option.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// `--target NAME`: which implementation to judge; `None` = each suite's default (`ours`).
    pub target: Option<String>,
    /// `--profile NAME`: the protocol profile (e.g. `rfc130` or `opendsu` for the MQ Hub).
    pub profile: Option<String>,
    /// `--vectors DIR`: where the test vectors live (default: the workspace's `vectors/`).
    pub vectors_dir: Option<PathBuf>,
    /// Upper bound on one case's run time.
    pub case_timeout: Duration,
    /// `--mq-hub-url URL`: judge an MQ Hub deployment instead of the embedded server.
    pub mq_hub_url: Option<String>,
    /// `--broker URL`: an external AMQP broker.
    pub broker: Option<String>,
    /// `--ca FILE`: CA certificate to verify an external broker or server.
    pub ca: Option<PathBuf>,
    /// `--cert-key FILE`: client certificate and key (PEM) for an external broker.
    pub cert_key: Option<PathBuf>,
    /// `--address-map none|rabbitmq`.
    pub address_map: Option<String>,
    /// `--mode client|server` for suites that judge both directions.
    pub mode: Option<String>,
    /// `--client-cmd 'CMD {config}'`: an external client to judge.
    pub client_cmd: Option<String>,
    /// `--server-cmd 'CMD {broker_url}'`: an external signing server to judge, started by the
    /// suite and attached to the suite's own broker.
    pub server_cmd: Option<String>,
    /// `--verifier-url URL`: an HTTP service that verifies signatures.
    pub verifier_url: Option<String>,
    /// `--upstream ...`: options for the signer-under-test suite.
    pub upstream: Option<String>,
    /// `--signer-cmd CMD`: a command that makes the signer under test send its requests.
    pub signer_cmd: Option<String>,
    /// `--target-cmd CMD`: an external RFC 9421 implementation behind a JSON-lines shim
    /// (http-sig suite, target `cmd`).
    pub target_cmd: Option<String>,
    /// `--set KEY=VALUE`: suite-specific settings not worth a flag of their own.
    pub settings: BTreeMap<String, String>,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        SuiteOptions {
            target: None,
            profile: None,
            vectors_dir: None,
            case_timeout: Duration::from_secs(30),
            mq_hub_url: None,
            broker: None,
            ca: None,
            cert_key: None,
            address_map: None,
            mode: None,
            client_cmd: None,
            server_cmd: None,
            verifier_url: None,
            upstream: None,
            signer_cmd: None,
            target_cmd: None,
            settings: BTreeMap::new(),
        }
    }
}

impl SuiteOptions {
    /// The text of `--set key=...`, if given. Keys are declared by each suite
    /// (`Suite::settings`) and checked before the run, so a misspelt key never reaches here.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// `--set key=N` as an integer, if given.
    pub fn setting_count(&self, key: &str) -> Result<Option<u64>, super::Error> {
        self.setting(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    super::Error::setup(format!("--set {key}={v}: expected a non-negative integer"))
                })
            })
            .transpose()
    }

    /// `--set key=true|false`, if given.
    pub fn setting_bool(&self, key: &str) -> Result<Option<bool>, super::Error> {
        self.setting(key)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(super::Error::setup(format!(
                    "--set {key}={v}: expected true or false"
                ))),
            })
            .transpose()
    }

    /// The target name for a suite whose known targets are `known` (first = default).
    pub fn target_or<'a>(&'a self, known: &[&'a str]) -> Result<&'a str, super::Error> {
        match &self.target {
            None => Ok(known.first().copied().unwrap_or("ours")),
            Some(t) if known.contains(&t.as_str()) => Ok(t.as_str()),
            Some(t) => Err(super::Error::setup(format!(
                "unknown --target {t:?}; this suite knows: {}",
                known.join(", ")
            ))),
        }
    }
}
