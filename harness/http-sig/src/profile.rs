//! [`SigningProfile`]: the Grafbase gateway's message-signing configuration semantics
//! (`key`, `algorithm`, `headers.include` / `headers.exclude`, `derived_components`,
//! `signature_parameters`, `expiry`), loaded from TOML or YAML with unknown keys rejected.
//!
//! Semantics (from the Grafbase documentation and observed behaviour; we implement the documented
//! intent where the gateway is buggy):
//! - `headers.include` absent = every header; present = only those (the gateway ignores it: bug).
//! - `headers.exclude` wins over `include`.
//! - Hop-by-hop headers (Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade,
//!   and any named in Connection) are never signed; nor are existing Signature / Signature-Input.
//! - A header sent several times is covered once (its combined value; the gateway emits duplicate
//!   component ids and fails).
//! - `derived_components` default `["request_target"]`; they come first, in the configured order,
//!   then headers in message order.
//! - Parameters: `created`, then `expires = created + expiry` if `expiry` is set, then `nonce`
//!   (32 random bytes, base64) if configured, then `alg` and `keyid` (always). Label `sig`.
//! - keyid: `key.id`, else the JWK `kid`, else base64(sha256(public key bytes)).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use crate::alg::Algorithm;
use crate::components::ComponentId;
use crate::config::{self, Format};
use crate::error::{Error, Result};
use crate::key::Key;
use crate::message::HttpMessage;
use crate::params::{OnCollision, SignatureParams, add_signature, signature_base};
use crate::sign::Signer;

/// Where the key comes from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Path of a JWK or PEM file (relative paths are relative to the profile file).
    pub file: Option<PathBuf>,
    /// The JWK / PEM / base64 secret text itself.
    pub inline: Option<String>,
    /// keyid to send (default: JWK kid, else base64(sha256(public key))).
    pub id: Option<String>,
}

/// Header selection.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderSelection {
    /// Only these headers (case-insensitive); absent = all.
    pub include: Option<Vec<String>>,
    /// Never these headers; wins over `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Derived components a profile can cover.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DerivedComponent {
    /// `@method`
    Method,
    /// `@target-uri`
    TargetUri,
    /// `@authority`
    Authority,
    /// `@scheme`
    Scheme,
    /// `@request-target`
    RequestTarget,
    /// `@path`
    Path,
    /// `@query` (extension over Grafbase)
    Query,
}

impl DerivedComponent {
    /// The component name.
    pub fn component_name(self) -> &'static str {
        match self {
            DerivedComponent::Method => "@method",
            DerivedComponent::TargetUri => "@target-uri",
            DerivedComponent::Authority => "@authority",
            DerivedComponent::Scheme => "@scheme",
            DerivedComponent::RequestTarget => "@request-target",
            DerivedComponent::Path => "@path",
            DerivedComponent::Query => "@query",
        }
    }
}

/// Optional signature parameters.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureParameter {
    /// A random nonce in every signature.
    Nonce,
}

fn default_derived() -> Vec<DerivedComponent> {
    vec![DerivedComponent::RequestTarget]
}

/// The configuration file shape.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// The key.
    pub key: KeyConfig,
    /// Algorithm name; inferred from the key when absent.
    pub algorithm: Option<String>,
    /// Header selection.
    #[serde(default)]
    pub headers: HeaderSelection,
    /// Derived components (default `["request_target"]`).
    #[serde(default = "default_derived")]
    pub derived_components: Vec<DerivedComponent>,
    /// Additional parameters (`["nonce"]`); default none.
    #[serde(default)]
    pub signature_parameters: Vec<SignatureParameter>,
    /// Signature lifetime, e.g. `"30s"` (humantime).
    pub expiry: Option<String>,
}

impl ProfileConfig {
    /// Read a profile's configuration (`.toml` as TOML, anything else YAML), unknown keys
    /// rejected, at most 1 MiB and nesting at most 64 deep (checked before any parser runs).
    /// Errors are one line naming the file, line and column.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = config::read(path)?;
        let format = Format::of(path);
        config::parse(&text, format, &config::what("profile", Some(path), format))
    }
}

/// A loaded, validated signing profile.
#[derive(Debug, Clone)]
pub struct SigningProfile {
    signer: Signer,
    include: Option<Vec<String>>,
    exclude: Vec<String>,
    derived: Vec<DerivedComponent>,
    nonce: bool,
    expiry: Option<Duration>,
    label: String,
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl SigningProfile {
    /// Validate a configuration; `base_dir` resolves a relative `key.file`. A key/algorithm
    /// mismatch is an error naming both (the gateway refuses to start).
    pub fn from_config(cfg: &ProfileConfig, base_dir: Option<&Path>) -> Result<Self> {
        let key = match (&cfg.key.file, &cfg.key.inline) {
            (Some(f), None) => {
                let path = match base_dir {
                    Some(d) if f.is_relative() => d.join(f),
                    _ => f.clone(),
                };
                Key::from_file(path)?
            }
            (None, Some(text)) => Key::from_bytes(text.as_bytes())?,
            _ => {
                return Err(Error::InvalidConfig(
                    "key: give exactly one of `file` or `inline`".into(),
                ));
            }
        };
        let alg = match &cfg.algorithm {
            Some(a) => Some(a.parse::<Algorithm>()?),
            None => None,
        };
        let mut signer = Signer::new(key, alg)?;
        if let Some(id) = &cfg.key.id {
            signer = signer.with_keyid(id.clone());
        }
        let expiry = match &cfg.expiry {
            Some(e) => Some(humantime::parse_duration(e).map_err(|err| {
                Error::InvalidConfig(format!("expiry {e:?}: {err} (examples: \"30s\", \"5m\")"))
            })?),
            None => None,
        };
        Ok(SigningProfile {
            signer,
            include: cfg
                .headers
                .include
                .as_ref()
                .map(|v| v.iter().map(|h| h.to_ascii_lowercase()).collect()),
            exclude: cfg
                .headers
                .exclude
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            derived: cfg.derived_components.clone(),
            nonce: cfg
                .signature_parameters
                .contains(&SignatureParameter::Nonce),
            expiry,
            label: "sig".into(),
        })
    }

    /// Parse TOML. Errors are one line: `profile (TOML): line L, column C: ...`.
    pub fn from_toml(text: &str, base_dir: Option<&Path>) -> Result<Self> {
        let cfg: ProfileConfig = config::parse(text, Format::Toml, "profile (TOML)")?;
        Self::from_config(&cfg, base_dir)
    }

    /// Parse YAML.
    pub fn from_yaml(text: &str, base_dir: Option<&Path>) -> Result<Self> {
        let cfg: ProfileConfig = config::parse(text, Format::Yaml, "profile (YAML)")?;
        Self::from_config(&cfg, base_dir)
    }

    /// Load a `.toml` (TOML) or other (YAML) file; a relative key file is resolved next to it.
    /// Every error names the file (`profile gw.toml: ...`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let cfg = ProfileConfig::from_file(path)?;
        Self::from_config(&cfg, path.parent()).map_err(|e| match e {
            Error::Io { .. } => e,
            other => Error::InvalidConfig(format!("profile {}: {other}", path.display())),
        })
    }

    /// The signer (key, algorithm, keyid).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Use another label than `sig`.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The header names (lowercase, message order, once each) this profile covers in `msg`.
    pub fn covered_headers(&self, msg: &HttpMessage) -> Vec<String> {
        let connection_named: Vec<String> = msg
            .header_values("connection")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        let mut out: Vec<String> = Vec::new();
        for (name, _) in &msg.headers {
            let n = name.to_ascii_lowercase();
            let hop = HOP_BY_HOP.contains(&n.as_str())
                || n.starts_with("proxy-")
                || connection_named.contains(&n);
            let ours = n == "signature" || n == "signature-input";
            let included = self.include.as_ref().is_none_or(|inc| inc.contains(&n));
            if hop || ours || !included || self.exclude.contains(&n) || out.contains(&n) {
                continue;
            }
            out.push(n);
        }
        out
    }

    /// The parameters this profile would use for `msg` at `now` (nonce drawn here).
    pub fn params_for(&self, msg: &HttpMessage, now: u64) -> Result<SignatureParams> {
        let mut comps = Vec::new();
        for d in &self.derived {
            comps.push(ComponentId::new(d.component_name())?);
        }
        for h in self.covered_headers(msg) {
            comps.push(ComponentId::new(&h)?);
        }
        let mut p = SignatureParams::new(comps);
        let created =
            i64::try_from(now).map_err(|_| Error::InvalidConfig("now out of range".into()))?;
        p.set_created(created)?;
        if let Some(e) = self.expiry {
            p.set_expires(created.saturating_add(i64::try_from(e.as_secs()).unwrap_or(i64::MAX)))?;
        }
        if self.nonce {
            let mut bytes = [0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes)
                .map_err(|_| Error::SigningFailed("random nonce".into()))?;
            p.set_nonce(&base64::engine::general_purpose::STANDARD.encode(bytes))?;
        }
        p.set_alg(self.signer.algorithm().name())?;
        p.set_keyid(self.signer.keyid())?;
        Ok(p)
    }

    /// Sign a request in place at time `now`: adds Signature-Input and Signature under the label
    /// (`sig`); an existing member with that label is an error, never overwritten.
    pub fn sign(&self, msg: &mut HttpMessage, now: u64) -> Result<SignatureParams> {
        if !msg.is_request() {
            return Err(Error::InvalidMessage(
                "a signing profile signs requests".into(),
            ));
        }
        let p = self.params_for(msg, now)?;
        let base = signature_base(msg, None, &p)?;
        let sig = self.signer.sign_base(&base)?;
        add_signature(msg, &self.label, &p, &sig, OnCollision::Error)?;
        Ok(p)
    }
}
