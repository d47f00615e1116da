//! Reading the signing profile a signer under test was given: what the upstream judges against
//! (the only file I/O of this crate besides the listeners).

use std::path::{Path, PathBuf};

use http_sig::{Key, ProfileConfig};

use crate::LiveError;

/// Load a signing profile's configuration (`.toml` as TOML, anything else YAML), unknown keys
/// rejected, bounded before parsing (http-sig [`ProfileConfig::from_file`]). Returns the
/// configuration and the directory relative key paths are resolved from.
pub fn load_profile_config(path: &Path) -> Result<(ProfileConfig, Option<PathBuf>), LiveError> {
    let cfg = ProfileConfig::from_file(path).map_err(|e| match e {
        http_sig::Error::Io { path, source } => LiveError::Io { path, source },
        http_sig::Error::InvalidConfig(m) => LiveError::Config(m),
        other => LiveError::HttpSig(other),
    })?;
    Ok((cfg, path.parent().map(Path::to_path_buf)))
}

/// The profile's own key, if it can be loaded here (a file, relative to `base`, or inline).
/// A signer is usually given a private key the upstream never sees: then `None`, and the
/// caller needs the public key from elsewhere.
pub fn profile_key(cfg: &ProfileConfig, base: Option<&Path>) -> Option<Key> {
    match (&cfg.key.file, &cfg.key.inline) {
        (Some(f), None) => {
            let p = match base {
                Some(d) if f.is_relative() => d.join(f),
                _ => f.clone(),
            };
            Key::from_file(p).ok()
        }
        (None, Some(t)) => Key::from_bytes(t.as_bytes()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_yaml_profiles_load_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("gw.toml");
        std::fs::write(
            &toml_path,
            "algorithm = \"hmac-sha256\"\n[key]\ninline = \"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=\"\n",
        )
        .unwrap();
        let (cfg, base) = load_profile_config(&toml_path).unwrap();
        assert_eq!(cfg.algorithm.as_deref(), Some("hmac-sha256"));
        assert_eq!(base.as_deref(), Some(dir.path()));
        assert!(profile_key(&cfg, base.as_deref()).is_some());

        let yaml_path = dir.path().join("gw.yaml");
        std::fs::write(&yaml_path, "key:\n  file: missing.pem\nalgorithmz: x\n").unwrap();
        let e = load_profile_config(&yaml_path).unwrap_err().to_string();
        assert!(e.contains("gw.yaml") && e.contains("algorithmz"), "{e}");

        let e = load_profile_config(&dir.path().join("absent.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read "), "{e}");
    }
}
