//! The request script: what the signer under test is made to send to the upstream. Data (JSON),
//! embedded from `script.json`; `--set script=FILE` replaces it.

use std::path::Path;

use http_sig::HttpMessage;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One scripted request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedRequest {
    /// Short name, shown in evidence.
    pub name: String,
    /// Method, e.g. `POST`.
    pub method: String,
    /// Origin-form request target, e.g. `/graphql?op=Search`.
    pub target: String,
    /// Header lines in order; a name may repeat (multi-valued header).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body text, if any.
    #[serde(default)]
    pub body: Option<String>,
}

/// A list of requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Free text.
    #[serde(default)]
    pub comment: String,
    /// The requests, sent in order.
    pub requests: Vec<ScriptedRequest>,
}

const BUILTIN: &str = include_str!("script.json");

impl Script {
    /// The built-in script (`script.json`).
    pub fn builtin() -> Script {
        // The embedded file is checked by the `builtin_script_parses` test.
        Self::from_json(BUILTIN).unwrap_or(Script {
            comment: String::new(),
            requests: Vec::new(),
        })
    }

    /// Parse and check a script.
    pub fn from_json(text: &str) -> Result<Script> {
        let s: Script =
            serde_json::from_str(text).map_err(|e| Error::setup(format!("request script: {e}")))?;
        s.check()?;
        Ok(s)
    }

    /// Load a script file.
    pub fn from_file(path: &Path) -> Result<Script> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
        Self::from_json(&text).map_err(|e| Error::setup(format!("{}: {e}", path.display())))
    }

    fn check(&self) -> Result<()> {
        if self.requests.is_empty() {
            return Err(Error::setup("request script has no requests"));
        }
        for r in &self.requests {
            if http::Method::from_bytes(r.method.as_bytes()).is_err() {
                return Err(Error::setup(format!(
                    "request script {:?}: invalid method {:?}",
                    r.name, r.method
                )));
            }
            if !r.target.starts_with('/') {
                return Err(Error::setup(format!(
                    "request script {:?}: target {:?} must be origin-form (start with /)",
                    r.name, r.target
                )));
            }
            for (n, v) in &r.headers {
                if http::HeaderName::from_bytes(n.as_bytes()).is_err()
                    || http::HeaderValue::from_str(v).is_err()
                {
                    return Err(Error::setup(format!(
                        "request script {:?}: invalid header {n:?}: {v:?}",
                        r.name
                    )));
                }
                let lower = n.to_ascii_lowercase();
                if lower == "host" || lower == "content-length" || lower == "transfer-encoding" {
                    return Err(Error::setup(format!(
                        "request script {:?}: header {n} is set by the HTTP client, not the script",
                        r.name
                    )));
                }
            }
        }
        Ok(())
    }
}

impl ScriptedRequest {
    /// The request as the signer sees it before sending: `scheme://authority` + target, the
    /// script's headers (no Host / Content-Length yet: the HTTP client adds those), the body.
    pub fn to_message(&self, scheme: &str, authority: &str) -> HttpMessage {
        let mut m = HttpMessage::request(&self.method, &self.target, scheme, Some(authority));
        for (n, v) in &self.headers {
            m.append_header(n, v);
        }
        if let Some(b) = &self.body {
            m.body = b.as_bytes().to_vec();
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_script_parses() {
        let s = Script::from_json(BUILTIN).unwrap();
        assert!(s.requests.len() >= 5);
        // The script exercises what the suite judges: repeated and hop-by-hop headers.
        assert!(s.requests.iter().any(|r| {
            let mut names: Vec<_> = r
                .headers
                .iter()
                .map(|(n, _)| n.to_ascii_lowercase())
                .collect();
            let all = names.len();
            names.sort();
            names.dedup();
            names.len() < all
        }));
        assert!(s.requests.iter().any(|r| {
            r.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
        }));
    }

    #[test]
    fn bad_scripts_are_named() {
        let e = Script::from_json(r#"{"requests":[{"name":"a","method":"GET","target":"x"}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("origin-form"), "{e}");
        let e = Script::from_json(
            r#"{"requests":[{"name":"a","method":"GET","target":"/","headers":[["Host","x"]]}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("set by the HTTP client"), "{e}");
        let e = Script::from_json(r#"{"requests":[],"extra":1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
