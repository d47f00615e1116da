//! A linear pre-check of AMQP 1.0 encoded bytes (part 1 "Types", sections 1.2 and 1.6), run on
//! what a peer sends before fe2o3-amqp / serde_amqp decode it.
//!
//! Why: serde_amqp allocates a buffer of the *declared* length of a `vbin32`, `str32` or `sym32`
//! before it reads the bytes (`vec![0u8; len]`, then `read_exact`), so a 26-byte frame whose
//! descriptor is a `sym32` declaring 4 GB made the broker allocate 4 GB (found by the
//! `amqp_broker` fuzz target; the regression tests below and in `tests/` replay it). The check
//! walks the encoding once, without allocating per value, and refuses:
//! - a declared length or size that does not fit in the bytes of the value that holds it (the
//!   frame body, the compound, the array, or the whole message of a delivery);
//! - a list or map whose declared count does not exactly fill its declared size (serde_amqp
//!   trusts the count and would read past the compound into bytes this check judged as
//!   something else);
//! - an array declaring more elements than it has bytes (elements of width 0, such as `null`
//!   or `true`, would otherwise let 9 bytes declare 4 billion decoded values);
//! - nesting (compounds, arrays, described types) deeper than [`MAX_DEPTH`];
//! - reserved format codes (0x01-0x3f; part 1.2: codes are `0x00` or a category 0x4-0xf).
//!
//! Widths come from the format code's category (the high nibble, part 1.2 "fixed width" 0x4-0x9
//! and "variable width" 0xa-0xf), so a code the decoder does not know is left for the decoder to
//! refuse; only sizes are judged here.

use std::fmt;

/// Most nested compounds, arrays and descriptors a value may have. AMQP performatives nest 3-4
/// deep (a described list holding maps or arrays of symbols), messages a few more; 32 leaves
/// room for application data and keeps serde_amqp's recursion far from a task's stack limit.
pub const MAX_DEPTH: usize = 32;

/// Why encoded bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodingError {
    /// Offset of the offending constructor or size field from the start of the checked bytes.
    pub offset: usize,
    pub reason: String,
}

impl fmt::Display for EncodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for EncodingError {}

/// Checks the first encoded value of `bytes` and returns its length in bytes.
pub fn check_value(bytes: &[u8]) -> Result<usize, EncodingError> {
    let mut c = Cursor {
        b: bytes,
        pos: 0,
        values: 0,
    };
    c.value(bytes.len(), 0)?;
    Ok(c.pos)
}

/// Checks that `bytes` is a sequence of whole encoded values (a message: its sections one after
/// another, part 3.2); returns how many values it holds, nested ones and descriptors included
/// (array elements count one each).
pub fn check_values(bytes: &[u8]) -> Result<u64, EncodingError> {
    let mut c = Cursor {
        b: bytes,
        pos: 0,
        values: 0,
    };
    while c.pos < bytes.len() {
        c.value(bytes.len(), 0)?;
    }
    Ok(c.values)
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    /// Values seen (each constructor's value and each array element).
    values: u64,
}

impl Cursor<'_> {
    fn err<T>(&self, at: usize, reason: String) -> Result<T, EncodingError> {
        Err(EncodingError { offset: at, reason })
    }

    /// `n` bytes as a big-endian number, within `end`.
    fn uint(&mut self, n: usize, end: usize, what: &str) -> Result<u64, EncodingError> {
        if end - self.pos < n {
            return self.err(
                self.pos,
                format!(
                    "{what} needs {n} bytes, {} left in the enclosing value",
                    end - self.pos
                ),
            );
        }
        let v = self.b[self.pos..self.pos + n]
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        self.pos += n;
        Ok(v)
    }

    fn depth(&self, depth: usize) -> Result<(), EncodingError> {
        if depth > MAX_DEPTH {
            return self.err(
                self.pos,
                format!(
                    "nested more than {MAX_DEPTH} levels deep (compounds, arrays and descriptors)"
                ),
            );
        }
        Ok(())
    }

    /// A constructor (part 1.2: a format code, or 0x00, a descriptor value and a constructor);
    /// returns the format code.
    fn constructor(&mut self, end: usize, mut depth: usize) -> Result<u8, EncodingError> {
        loop {
            let at = self.pos;
            let code = self.uint(1, end, "a constructor")? as u8;
            match code {
                0x00 => {
                    depth += 1;
                    self.depth(depth)?;
                    self.value(end, depth)?;
                }
                0x01..=0x3f => {
                    return self.err(at, format!("reserved format code 0x{code:02x}"));
                }
                _ => return Ok(code),
            }
        }
    }

    /// A value: constructor and data.
    fn value(&mut self, end: usize, depth: usize) -> Result<(), EncodingError> {
        let code = self.constructor(end, depth)?;
        self.data(code, end, depth)
    }

    /// The data of a value of format `code` (also an array element: data without constructor).
    fn data(&mut self, code: u8, end: usize, depth: usize) -> Result<(), EncodingError> {
        let at = self.pos;
        self.values += 1;
        let fixed = |w: usize| -> Option<usize> { Some(w) };
        let width = match code >> 4 {
            0x4 => fixed(0),
            0x5 => fixed(1),
            0x6 => fixed(2),
            0x7 => fixed(4),
            0x8 => fixed(8),
            0x9 => fixed(16),
            _ => None,
        };
        if let Some(w) = width {
            if end - self.pos < w {
                return self.err(
                    at,
                    format!(
                        "format code 0x{code:02x} needs {w} bytes, {} left",
                        end - self.pos
                    ),
                );
            }
            self.pos += w;
            return Ok(());
        }
        let (len_width, kind) = match code >> 4 {
            0xa => (1, Kind::Variable),
            0xb => (4, Kind::Variable),
            0xc => (1, Kind::Compound),
            0xd => (4, Kind::Compound),
            0xe => (1, Kind::Array),
            _ => (4, Kind::Array),
        };
        let size = self.uint(len_width, end, "a size")?;
        let left = (end - self.pos) as u64;
        if size > left {
            return self.err(
                at,
                format!(
                    "format code 0x{code:02x} declares {size} bytes, only {left} left in the enclosing value"
                ),
            );
        }
        let inner_end = self.pos + size as usize;
        match kind {
            Kind::Variable => {
                self.pos = inner_end;
                Ok(())
            }
            Kind::Compound => {
                self.depth(depth + 1)?;
                let count = self.uint(len_width, inner_end, "a count")?;
                let mut n = 0u64;
                while self.pos < inner_end {
                    if n == count {
                        return self.err(
                            at,
                            format!(
                                "compound 0x{code:02x} declares {count} elements but its {size} bytes hold more"
                            ),
                        );
                    }
                    self.value(inner_end, depth + 1)?;
                    n += 1;
                }
                if n != count {
                    return self.err(
                        at,
                        format!(
                            "compound 0x{code:02x} declares {count} elements but its {size} bytes hold {n}"
                        ),
                    );
                }
                Ok(())
            }
            Kind::Array => {
                self.depth(depth + 1)?;
                let count = self.uint(len_width, inner_end, "a count")?;
                if count > size {
                    return self.err(
                        at,
                        format!(
                            "array declares {count} elements in {size} bytes (more elements than bytes)"
                        ),
                    );
                }
                if count == 0 && self.pos == inner_end {
                    return Ok(());
                }
                let elem = self.constructor(inner_end, depth + 1)?;
                for _ in 0..count {
                    self.data(elem, inner_end, depth + 1)?;
                }
                if self.pos != inner_end {
                    return self.err(
                        at,
                        format!(
                            "array declares {size} bytes but its {count} elements take {}",
                            size as usize - (inner_end - self.pos)
                        ),
                    );
                }
                Ok(())
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Variable,
    Compound,
    Array,
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp::types::messaging::{Body, Message, Properties};
    use fe2o3_amqp::types::performatives::Attach;
    use fe2o3_amqp::types::primitives::{Array, Symbol, Value};

    /// What the `amqp_broker` fuzz target found: a frame body whose descriptor is a `sym32`
    /// declaring 0xee3ff2fb bytes (the 26-byte first frame of the crash input, body only).
    #[test]
    fn the_fuzz_finding_is_refused_without_allocating() {
        let body = [
            0x00, 0xb3, 0xee, 0x3f, 0xf2, 0xfb, 0xbf, 0xbc, 0x8f, 0x00, 0x00, 0x08, 0x00, 0x70,
            0x00, 0x00, 0x08, 0x00,
        ];
        let e = check_value(&body).unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(
            e.reason.contains("declares 3997168379 bytes, only 12 left"),
            "{e}"
        );
    }

    #[test]
    fn real_performatives_and_messages_pass() {
        let attach = Attach {
            name: "sender-1".into(),
            handle: 3.into(),
            role: fe2o3_amqp::types::definitions::Role::Sender,
            snd_settle_mode: Default::default(),
            rcv_settle_mode: Default::default(),
            source: None,
            target: None,
            unsettled: None,
            incomplete_unsettled: false,
            initial_delivery_count: Some(0),
            max_message_size: Some(1 << 20),
            offered_capabilities: Some(Array::from(vec![Symbol::from("a"), Symbol::from("b")])),
            desired_capabilities: None,
            properties: None,
        };
        let b = serde_amqp::to_vec(&attach).unwrap();
        assert_eq!(check_value(&b), Ok(b.len()));
        let msg = Message::builder()
            .properties(Properties::builder().message_id("m-1".to_string()).build())
            .body(Body::Value(fe2o3_amqp::types::messaging::AmqpValue(
                Value::List(vec![
                    Value::String("é".repeat(300)),
                    Value::Null,
                    Value::Bool(true),
                ]),
            )))
            .build();
        let b = serde_amqp::to_vec(
            &fe2o3_amqp::types::messaging::message::__private::Serializable(msg),
        )
        .unwrap();
        assert!(check_values(&b).is_ok_and(|n| n > 5));
        // Cut anywhere inside, the last value no longer fits.
        assert!(check_values(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn each_size_rule_names_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (&[0xa1, 0x05, b'a'], "declares 5 bytes, only 1 left"),
            (
                &[0xb0, 0xff, 0xff, 0xff, 0xff],
                "declares 4294967295 bytes, only 0 left",
            ),
            (
                &[0xc0, 0x03, 0x05, 0x40, 0x40],
                "declares 5 elements but its 3 bytes hold 2",
            ),
            (
                &[0xc0, 0x03, 0x01, 0x40, 0x40],
                "declares 1 elements but its 3 bytes hold more",
            ),
            (
                &[0xd1, 0, 0, 0, 5, 0, 0, 0, 0, 0x40],
                "declares 0 elements but its 5 bytes hold more",
            ),
            (&[0xe0, 0x02, 0xff, 0x40], "255 elements in 2 bytes"),
            (
                &[0xf0, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 0x40, 0, 0, 0, 0],
                "4294967295 elements in 9 bytes",
            ),
            (&[0xe0, 0x04, 0x01, 0x71, 0, 0], "needs 4 bytes, 2 left"),
            (&[0x13], "reserved format code 0x13"),
            (&[0x00, 0x53], "needs 1 bytes, 0 left"),
            (&[0x70, 0, 0], "needs 4 bytes, 2 left"),
        ];
        for (bytes, want) in cases {
            let e = check_value(bytes).unwrap_err();
            assert!(e.reason.contains(want), "{bytes:02x?}: {e} (want {want})");
        }
        // Zero-count compounds and arrays, and arrays of described elements, pass.
        assert_eq!(check_value(&[0xc0, 0x01, 0x00]), Ok(3));
        assert_eq!(check_value(&[0xe0, 0x01, 0x00]), Ok(3));
        assert_eq!(
            check_value(&[0xe0, 0x07, 0x02, 0x00, 0x53, 0x01, 0x50, 7, 8]),
            Ok(9)
        );
    }

    #[test]
    fn nesting_is_capped_without_recursing_past_the_cap() {
        // list8 inside list8 ...: 32 levels pass, 33 do not; 20 000 descriptors stop at the cap.
        let nest = |n: usize| {
            let mut v = vec![0x45u8];
            for _ in 0..n {
                let mut outer = vec![0xd0];
                outer.extend(((v.len() + 4) as u32).to_be_bytes());
                outer.extend(1u32.to_be_bytes());
                outer.extend(v);
                v = outer;
            }
            v
        };
        assert!(check_value(&nest(MAX_DEPTH)).is_ok());
        let e = check_value(&nest(MAX_DEPTH + 1)).unwrap_err();
        assert!(e.reason.contains("nested more than 32"), "{e}");
        let e = check_value(&vec![0u8; 20_000]).unwrap_err();
        assert!(e.reason.contains("nested more than 32"), "{e}");
    }
}
