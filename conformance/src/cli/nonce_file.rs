//! A file-backed nonce store for `sigharness http-sig verify --nonce-store FILE` (RFC 9421 §7.2.2:
//! a nonce is only useful if the verifier remembers it across invocations).
//!
//! The file is JSON: `{"version": 1, "keys": {"<keyid>": [["<nonce>", <keep_until>], ...]}}`, the
//! nonces of each key in insertion order (the key `""` holds signatures without a keyid). Each key
//! keeps at most `cap_per_key` nonces, so that the signer of one key cannot evict the nonces of
//! another; beyond the cap the oldest nonce of that key is dropped (its replay then goes
//! undetected, as with any bounded store). Expired entries (`keep_until < now`) are dropped when
//! the file is read. Concurrent invocations are serialized by an exclusive lock on `FILE.lock`;
//! the file is replaced atomically (written beside it, then renamed).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use http_sig::NonceStore;
use serde::{Deserialize, Serialize};

/// Largest store file read.
pub const MAX_STORE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    version: u32,
    keys: BTreeMap<String, Vec<(String, u64)>>,
}

/// The store, read (and locked) by [`FileNonceStore::open`], written back by
/// [`FileNonceStore::save`]. The lock is held until the value is dropped.
#[derive(Debug)]
pub struct FileNonceStore {
    path: PathBuf,
    cap_per_key: usize,
    contents: Contents,
    changed: bool,
    _lock: File,
}

fn err(path: &Path, what: impl std::fmt::Display) -> String {
    format!("nonce store {}: {what}", path.display())
}

impl FileNonceStore {
    /// Lock `path` (through `path.lock`) and read it; a missing file is an empty store. Entries
    /// that expired before `now` are dropped.
    pub fn open(path: &Path, cap_per_key: usize, now: u64) -> Result<Self, String> {
        if cap_per_key == 0 {
            return Err(err(path, "the per-key cap must be at least 1"));
        }
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| err(path, format!("cannot open the lock file: {e}")))?;
        lock.lock()
            .map_err(|e| err(path, format!("cannot lock: {e}")))?;
        let mut contents = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Contents {
                version: 1,
                keys: BTreeMap::new(),
            },
            Err(e) => return Err(err(path, e)),
            Ok(m) if m.len() > MAX_STORE_BYTES => {
                return Err(err(
                    path,
                    format!("{} bytes is more than {MAX_STORE_BYTES}", m.len()),
                ));
            }
            Ok(_) => {
                let text = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
                let c: Contents = serde_json::from_str(&text)
                    .map_err(|e| err(path, format!("not a nonce store: {e}")))?;
                if c.version != 1 {
                    return Err(err(path, format!("version {} is not 1", c.version)));
                }
                c
            }
        };
        let before: usize = contents.keys.values().map(Vec::len).sum();
        for v in contents.keys.values_mut() {
            v.retain(|(_, until)| *until >= now);
        }
        contents.keys.retain(|_, v| !v.is_empty());
        let after: usize = contents.keys.values().map(Vec::len).sum();
        Ok(FileNonceStore {
            path: path.to_path_buf(),
            cap_per_key,
            contents,
            changed: before != after,
            _lock: lock,
        })
    }

    /// Number of nonces remembered for `keyid` (`""`: no keyid).
    pub fn len_for(&self, keyid: &str) -> usize {
        self.contents.keys.get(keyid).map_or(0, Vec::len)
    }

    /// Write the store back if it changed (atomically: a temporary file beside it, renamed).
    pub fn save(&mut self) -> Result<(), String> {
        if !self.changed {
            return Ok(());
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| err(&self.path, format!("cannot create a temporary file: {e}")))?;
        let text = serde_json::to_string(&self.contents).map_err(|e| err(&self.path, e))?;
        tmp.write_all(text.as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| err(&self.path, e))?;
        tmp.persist(&self.path)
            .map_err(|e| err(&self.path, e.error))?;
        self.changed = false;
        Ok(())
    }
}

impl NonceStore for FileNonceStore {
    fn check_and_insert(&mut self, nonce: &str, keep_until: u64, now: u64) -> bool {
        self.check_and_insert_for_key(None, nonce, keep_until, now)
    }

    fn check_and_insert_for_key(
        &mut self,
        keyid: Option<&str>,
        nonce: &str,
        keep_until: u64,
        now: u64,
    ) -> bool {
        let list = self
            .contents
            .keys
            .entry(keyid.unwrap_or("").to_string())
            .or_default();
        list.retain(|(_, until)| *until >= now);
        if list.iter().any(|(n, _)| n == nonce) {
            return false;
        }
        if list.len() >= self.cap_per_key {
            let drop = list.len() + 1 - self.cap_per_key;
            list.drain(..drop);
        }
        list.push((nonce.to_string(), keep_until));
        self.changed = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_caught_across_opens_and_the_cap_is_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nonces.json");
        {
            let mut s = FileNonceStore::open(&path, 2, 100).unwrap();
            assert!(s.check_and_insert_for_key(Some("a"), "n1", 200, 100));
            assert!(s.check_and_insert_for_key(Some("b"), "n1", 200, 100));
            assert!(!s.check_and_insert_for_key(Some("a"), "n1", 200, 100));
            s.save().unwrap();
        }
        let mut s = FileNonceStore::open(&path, 2, 150).unwrap();
        // A replay in a later invocation.
        assert!(!s.check_and_insert_for_key(Some("a"), "n1", 200, 150));
        // Key a floods its own list: b's nonce is kept.
        for n in ["x", "y", "z"] {
            assert!(s.check_and_insert_for_key(Some("a"), n, 200, 150));
        }
        assert_eq!(s.len_for("a"), 2);
        assert!(!s.check_and_insert_for_key(Some("b"), "n1", 200, 150));
        s.save().unwrap();
        drop(s);
        // Expired entries are dropped when read.
        let s = FileNonceStore::open(&path, 2, 201).unwrap();
        assert_eq!(s.len_for("a") + s.len_for("b"), 0);
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.json");
        std::fs::write(&path, "{\"version\": 2, \"keys\": {}}").unwrap();
        let e = FileNonceStore::open(&path, 5, 0).unwrap_err();
        assert!(e.contains("version 2 is not 1"), "{e}");
        std::fs::write(&path, "[1,2]").unwrap();
        let e = FileNonceStore::open(&path, 5, 0).unwrap_err();
        assert!(e.contains("not a nonce store"), "{e}");
        assert!(
            FileNonceStore::open(&path, 0, 0)
                .unwrap_err()
                .contains("at least 1")
        );
    }
}
