//! Reading configuration files (verification policies, signing profiles): bounded before any
//! parser runs, and every error on one line naming the file, the line and column, and what is
//! wrong (issue 13).
//!
//! The bound is the one every outside YAML/TOML text gets (crate `text-shape`, shared with
//! msg-signer's configuration and the broker's fault plans): at most [`MAX_CONFIG_BYTES`], and
//! `[` / `{` nested at most [`MAX_NESTING`] deep outside quotes and comments, checked in one
//! linear pass. The YAML parser
//! takes quadratic time on deep flow nesting (100 000 `[` took 15.8 s there), and nothing in a
//! policy or a profile nests more than three levels.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Largest configuration file read, bytes.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// Deepest nesting of `[` / `{` accepted.
pub const MAX_NESTING: usize = 64;

/// The file format, from the extension: `.toml` is TOML, anything else YAML (JSON included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Toml,
    Yaml,
}

impl Format {
    pub(crate) fn of(path: &Path) -> Format {
        if path.extension().is_some_and(|e| e == "toml") {
            Format::Toml
        } else {
            Format::Yaml
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Toml => "TOML",
            Format::Yaml => "YAML",
        }
    }
}

/// Read a configuration file as text, refusing one over [`MAX_CONFIG_BYTES`] without reading it
/// whole.
pub(crate) fn read(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_CONFIG_BYTES as u64 {
        return Err(Error::InvalidConfig(format!(
            "{}: {} bytes is more than a configuration file may hold ({MAX_CONFIG_BYTES})",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(io)
}

/// One linear pass: size and nesting depth (outside quotes and `#` comments).
fn check_shape(text: &str) -> std::result::Result<(), String> {
    text_shape::check(text, MAX_CONFIG_BYTES, MAX_NESTING).map_err(|e| match e {
        text_shape::ShapeError::TooLarge { bytes, max } => {
            format!("{bytes} bytes is more than a configuration file may hold ({max})")
        }
        text_shape::ShapeError::TooDeep { line, column, max } => {
            format!("line {line}, column {column}: nested more than {max} deep")
        }
    })
}

/// Line and column (1-based) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset.min(text.len()))];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// For "unknown field `x`": the line where key `x` is written, if it can be found.
fn unknown_key_line(text: &str, message: &str) -> Option<(usize, usize)> {
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        let rest = t.strip_prefix(key)?;
        let next = rest.trim_start().chars().next()?;
        matches!(next, '=' | ':').then_some((i + 1, l.len() - t.len() + 1))
    })
}

/// Parse `text` as `format` into `T`. `what` names the file in errors (`policy p.toml`), which
/// are one line: `what: line L, column C: message`.
pub(crate) fn parse<T: DeserializeOwned>(text: &str, format: Format, what: &str) -> Result<T> {
    let err =
        |msg: String| Error::InvalidConfig(format!("{what}: {}", crate::printable(&msg, 400)));
    check_shape(text).map_err(err)?;
    match format {
        Format::Toml => toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().replace('\n', "; ");
            let at =
                unknown_key_line(text, &msg).or_else(|| e.span().map(|s| line_col(text, s.start)));
            match at {
                Some((l, c)) => err(format!("line {l}, column {c}: {msg}")),
                None => err(msg),
            }
        }),
        Format::Yaml => serde_norway::from_str(text).map_err(|e| {
            // serde_norway says "... at line L column C" at the end; put the place first.
            let full = e.to_string().replace('\n', "; ");
            match e.location() {
                Some(loc) => {
                    let suffix = format!(" at line {} column {}", loc.line(), loc.column());
                    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
                    err(format!(
                        "line {}, column {}: {msg}",
                        loc.line(),
                        loc.column()
                    ))
                }
                None => err(full),
            }
        }),
    }
}

/// `what` for a file: `policy p.toml`; for text without a file: `policy (TOML)`.
pub(crate) fn what(kind: &str, path: Option<&Path>, format: Format) -> String {
    match path {
        Some(p) => format!("{kind} {}", p.display()),
        None => format!("{kind} ({})", format.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct C {
        a: Option<u64>,
        b: Option<Vec<serde_json::Value>>,
    }

    #[test]
    fn errors_are_one_line_with_the_file_line_and_column() {
        let e = parse::<C>("a = 1\nzz = 2\n", Format::Toml, "policy p.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "invalid configuration: policy p.toml: line 2, column 1: unknown field `zz`"
            ),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let e = parse::<C>("a = \"x\"\n", Format::Toml, "policy p.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("policy p.toml: line 1, column 5: invalid type"),
            "{e}"
        );
        let e = parse::<C>("a: 1\nzz: 2\n", Format::Yaml, "policy p.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("policy p.yaml: line 2, column 1: unknown field `zz`"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }

    /// 100 000 `[` are refused in one pass before the YAML parser (which would take seconds).
    #[test]
    fn deep_nesting_and_size_are_refused_before_parsing() {
        let deep = format!("b: {}", "[".repeat(100_000));
        let t = std::time::Instant::now();
        let e = parse::<C>(&deep, Format::Yaml, "policy p.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 1, column 68: nested more than 64 deep"),
            "{e}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        let e = parse::<C>(&"#".repeat(MAX_CONFIG_BYTES + 1), Format::Toml, "p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than a configuration file may hold"), "{e}");
        // Brackets in strings and comments do not count.
        parse::<C>("b = [\"[[[[\", '{{{{']  # ]]]][[[[\n", Format::Toml, "p").unwrap();
    }

    /// A policy no signature could satisfy is refused when loaded, naming the component.
    #[test]
    fn policies_requiring_impossible_components_are_refused() {
        for (c, want) in [
            ("@nope", "unknown derived component \"@nope\""),
            ("@signature-params", "@signature-params must not be listed"),
            ("content-type;bogus", "parameter `bogus` is unknown"),
            ("@query-param", "@query-param needs a `name`"),
            ("\"x\";bs;sf", "`bs` and `sf` are incompatible"),
        ] {
            let text = format!("required_components = ['@method', '{c}']\n");
            let e = crate::VerificationPolicy::from_toml(&text)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("policy (TOML): required_components: ") && e.contains(want),
                "{c}: {e}"
            );
        }
        crate::VerificationPolicy::from_toml("required_components = ['@status', 'x;sf;req']\n")
            .unwrap();
    }
}
