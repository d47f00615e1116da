//! Bounds checked on a configuration text before a parser sees it (issue 13).
//!
//! YAML parsers take time that grows with the square of the nesting depth of flow collections
//! (100 000 `[` took 15.8 s for serde_norway to reject a msg-signer config, 35 s for a broker
//! fault plan in a debug build), so every YAML or TOML text we read from outside (http-sig
//! policies and profiles, msg-signer configurations, broker fault plans) first goes through
//! [`check`]: at most `max_bytes`, and `[` / `{` nested at most `max_depth` deep outside quoted
//! strings and `#` comments, in one pass over the text. Block nesting needs no cap of ours:
//! the parsers are linear there and have recursion limits of their own.
//!
//! The scan is deliberately simple and errs on the strict side: a `"` string may hold `\`
//! escapes, a `'` string none (YAML doubles `''` inside, which reads here as closing and
//! reopening), a `#` starts a comment at the start of a line or after white space, and strings
//! running over several lines are followed across them (line numbers stay right).

#![forbid(unsafe_code)]

use std::fmt;

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeError {
    /// The text is longer than allowed.
    TooLarge {
        /// Its length in bytes.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// A `[` or `{` opened more than `max` levels deep, at this line and column (1-based,
    /// columns in characters).
    TooDeep {
        /// Line of the bracket that went over the cap.
        line: usize,
        /// Column of that bracket.
        column: usize,
        /// The cap.
        max: usize,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::TooLarge { bytes, max } => {
                write!(f, "{bytes} bytes is more than the {max} bytes allowed")
            }
            ShapeError::TooDeep { line, column, max } => write!(
                f,
                "line {line}, column {column}: collections nested more than {max} deep"
            ),
        }
    }
}

impl std::error::Error for ShapeError {}

/// Refuse `text` if it is over `max_bytes` or nests `[` / `{` deeper than `max_depth` outside
/// strings and comments. One pass, constant memory.
pub fn check(text: &str, max_bytes: usize, max_depth: usize) -> Result<(), ShapeError> {
    if text.len() > max_bytes {
        return Err(ShapeError::TooLarge {
            bytes: text.len(),
            max: max_bytes,
        });
    }
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let (mut escaped, mut comment) = (false, false);
    let mut prev = '\n';
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            comment = false;
            escaped = false;
            prev = c;
            continue;
        }
        if comment {
            continue;
        }
        match quote {
            Some(_) if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' if prev.is_whitespace() => comment = true,
                '[' | '{' => {
                    depth += 1;
                    if depth > max_depth {
                        return Err(ShapeError::TooDeep {
                            line,
                            column,
                            max: max_depth,
                        });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_at_the_cap_passes_one_more_is_refused_with_its_position() {
        assert_eq!(check("a: [[[1]]]\n", 100, 3), Ok(()));
        assert_eq!(
            check("a: 1\nb: [[[[1]]]]\n", 100, 3),
            Err(ShapeError::TooDeep {
                line: 2,
                column: 7,
                max: 3
            })
        );
        assert_eq!(
            check("{[{[", 100, 3).unwrap_err().to_string(),
            "line 1, column 4: collections nested more than 3 deep"
        );
    }

    #[test]
    fn closing_brackets_bring_the_depth_back() {
        // 1 000 sibling lists, each one deep, never exceed depth 1.
        let text = "[1], ".repeat(1000);
        assert_eq!(check(&text, 1 << 20, 1), Ok(()));
        // Unbalanced closers do not go below zero and so do not buy extra depth later.
        assert!(check("]]]] [[", 100, 1).is_err());
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let text = "a: \"[[[[\"\nb: '{{{{'\nc: 1 # [[[[\n# {{{{\nd: \"x\\\"[[[[\"\n";
        assert_eq!(check(text, 1000, 0), Ok(()));
        // `#` inside a word is not a comment; the brackets after it count.
        assert!(check("a: b#[[", 100, 1).is_err());
        // A single-quoted string has no escapes: `\'` closes it.
        assert!(check("a: '\\' [[", 100, 1).is_err());
    }

    #[test]
    fn strings_over_several_lines_keep_line_numbers() {
        let err = check("a: \"one\ntwo [[\nthree\"\n[[", 100, 1).unwrap_err();
        assert_eq!(
            err,
            ShapeError::TooDeep {
                line: 4,
                column: 2,
                max: 1
            }
        );
    }

    #[test]
    fn size_is_checked_first() {
        assert_eq!(
            check(&"[".repeat(11), 10, 64),
            Err(ShapeError::TooLarge { bytes: 11, max: 10 })
        );
        assert_eq!(check(&" ".repeat(10), 10, 64), Ok(()));
    }

    #[test]
    fn a_megabyte_of_brackets_is_refused_at_the_cap() {
        let text = "[".repeat(1 << 20);
        assert_eq!(
            check(&text, 1 << 20, 64),
            Err(ShapeError::TooDeep {
                line: 1,
                column: 65,
                max: 64
            })
        );
    }
}
