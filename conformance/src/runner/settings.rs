//! Typed `--set KEY=VALUE` settings.
//!
//! Each suite declares the keys it reads ([`Setting`]: key, type, help). Before anything runs,
//! every `--set` key is checked against the declarations of the selected suites: an unknown key
//! (`--set max_mesage_size=1`) or a value of the wrong type is a setup error that lists the
//! valid keys, never a silently ignored setting and a quietly skipped case.
//! `sigharness conformance --suite S --help-settings` prints the declarations.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Error;

/// The type of a setting's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Any text.
    Text,
    /// A non-negative integer.
    Count,
    /// A path to an existing file (checked when read, not here: it may be created by the run).
    File,
    /// `true` or `false`.
    Bool,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of HTTP status codes or classes (`2xx`, `401,403`).
    Statuses,
}

impl Kind {
    fn describe(self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Count => "integer".into(),
            Kind::File => "file".into(),
            Kind::Bool => "true|false".into(),
            Kind::OneOf(words) => words.join("|"),
            Kind::Statuses => "statuses, e.g. 2xx or 401,403".into(),
        }
    }

    /// `Err(reason)` when `value` is not of this type.
    fn check(self, value: &str) -> Result<(), String> {
        match self {
            Kind::Text => Ok(()),
            Kind::File => {
                if value.is_empty() {
                    Err("expected a file path".into())
                } else {
                    Ok(())
                }
            }
            Kind::Count => value
                .parse::<u64>()
                .map(|_| ())
                .map_err(|_| "expected a non-negative integer".into()),
            Kind::Bool => match value {
                "true" | "false" => Ok(()),
                _ => Err("expected true or false".into()),
            },
            Kind::OneOf(words) => {
                if words.contains(&value) {
                    Ok(())
                } else {
                    Err(format!("expected one of {}", words.join(", ")))
                }
            }
            Kind::Statuses => {
                for part in value.split(',') {
                    let p = part.trim();
                    let ok =
                        (p.len() == 3 && p.ends_with("xx") && p.as_bytes()[0].is_ascii_digit())
                            || p.parse::<u16>().is_ok_and(|n| (100..=599).contains(&n));
                    if !ok {
                        return Err(format!("{p:?} is not a status code (NNN) or class (Nxx)"));
                    }
                }
                Ok(())
            }
        }
    }
}

/// One `--set` key a suite reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    pub key: &'static str,
    pub kind: Kind,
    /// What it does, and its default when unset.
    pub help: &'static str,
}

impl Setting {
    pub const fn new(key: &'static str, kind: Kind, help: &'static str) -> Self {
        Setting { key, kind, help }
    }
}

/// Check every `--set` key and value against the settings of the selected suites
/// (`(suite name, its settings)`). Unknown keys and ill-typed values are setup errors that
/// list what is valid.
/// `--set` keys of the runner itself, valid with every suite.
pub const RUNNER: &[Setting] = &[Setting::new(
    "target_name",
    Kind::Text,
    "the name of the judged implementation in every report (default: --target, else the external command or URL under test, else ours)",
)];

pub fn validate(
    given: &BTreeMap<String, String>,
    suites: &[(&str, &[Setting])],
) -> Result<(), Error> {
    for (key, value) in given {
        let declared: Vec<(&str, &Setting)> = suites
            .iter()
            .flat_map(|(name, s)| s.iter().map(move |s| (*name, s)))
            .filter(|(_, s)| s.key == key)
            .collect();
        if declared.is_empty() {
            return Err(Error::setup(format!(
                "unknown --set key {key:?}; {}",
                valid_keys(suites)
            )));
        }
        for (suite, s) in declared {
            s.kind.check(value).map_err(|why| {
                Error::setup(format!(
                    "--set {key}={value}: {why} (suite {suite}: {key} is {})",
                    s.kind.describe()
                ))
            })?;
        }
    }
    Ok(())
}

fn valid_keys(suites: &[(&str, &[Setting])]) -> String {
    let parts: Vec<String> = suites
        .iter()
        .map(|(name, s)| {
            if s.is_empty() {
                format!("suite {name} takes no --set keys")
            } else {
                format!(
                    "suite {name} takes {}",
                    s.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
                )
            }
        })
        .collect();
    format!("{} (--help-settings describes them)", parts.join("; "))
}

/// The `--help-settings` text for one suite.
pub fn help(suite: &str, settings: &[Setting]) -> String {
    let mut out = String::new();
    if settings.is_empty() {
        let _ = writeln!(out, "suite {suite} takes no --set keys");
        return out;
    }
    let _ = writeln!(out, "suite {suite}: --set KEY=VALUE");
    let width = settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    for s in settings {
        let _ = writeln!(
            out,
            "  {:<width$}  ({})  {}",
            s.key,
            s.kind.describe(),
            s.help
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[Setting] = &[
        Setting::new("max_message_size", Kind::Count, "bytes"),
        Setting::new("sasl", Kind::OneOf(&["none", "external"]), "login"),
        Setting::new("accept", Kind::Statuses, "accepted"),
    ];

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_misspelt_key_is_an_error_listing_the_valid_ones() {
        let e = validate(&given(&[("max_mesage_size", "1")]), &[("mq-hub", S)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown --set key \"max_mesage_size\""), "{e}");
        assert!(e.contains("max_message_size, sasl, accept"), "{e}");
    }

    #[test]
    fn ill_typed_values_are_errors_naming_the_type() {
        let e = validate(&given(&[("max_message_size", "big")]), &[("mq-hub", S)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-negative integer"), "{e}");
        assert!(validate(&given(&[("sasl", "plain")]), &[("m", S)]).is_err());
        assert!(validate(&given(&[("accept", "2xx,418")]), &[("m", S)]).is_ok());
        assert!(validate(&given(&[("accept", "2x")]), &[("m", S)]).is_err());
        assert!(
            validate(
                &given(&[("max_message_size", "10"), ("sasl", "none")]),
                &[("m", S)]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_key_of_any_selected_suite_is_accepted() {
        let other: &[Setting] = &[Setting::new("domain", Kind::Text, "d")];
        assert!(validate(&given(&[("domain", "x")]), &[("a", S), ("b", other)]).is_ok());
        assert!(validate(&given(&[("domain", "x")]), &[("a", S)]).is_err());
        assert!(help("a", S).contains("max_message_size  (integer)  bytes"));
    }
}
