//! Lint of the committed vectors (Wycheproof `lint.go` style) and of the loader's rejections.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use sigharness_vectors::{
    ErrorKind, KeyFormat, Operation, SignatureCheck, TestResult, VectorError, VectorFile, VectorSet,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rfc_base_text() -> String {
    std::fs::read_to_string(root().join("data/rfc9421_base_test.json")).expect("rfc base file")
}

#[test]
fn builtin_loads_and_matches_directory() {
    let builtin = VectorSet::builtin().expect("builtin vectors lint clean");
    let dir = VectorSet::load_dir(root()).expect("directory vectors lint clean");
    let names = |s: &VectorSet| {
        s.files
            .iter()
            .map(|f| (f.name.clone(), f.number_of_tests))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&builtin),
        names(&dir),
        "build.rs embedded list is stale"
    );
    assert!(
        builtin.len() >= 66,
        "expected at least the RFC examples, got {}",
        builtin.len()
    );
    for op in [Operation::Base, Operation::Sign, Operation::Verify] {
        assert!(
            builtin.files.iter().any(|f| f.operation() == op),
            "no {op:?} file"
        );
    }
}

#[test]
fn every_file_conforms_to_its_json_schema() {
    // A small hand check of the schema (properties, required, enums of result/errorKind) rather
    // than a full JSON Schema engine; the Python generator validates fully before writing.
    let set = VectorSet::load_dir(root()).unwrap();
    for f in &set.files {
        let text = std::fs::read_to_string(root().join("data").join(&f.name)).unwrap();
        let file: Value = serde_json::from_str(&text).unwrap();
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("schema").join(&f.schema)).unwrap(),
        )
        .unwrap();
        check_object(&f.name, "file", &file, &schema);
        for g in file["testGroups"].as_array().unwrap() {
            check_object(&f.name, "group", g, &schema["$defs"]["group"]);
            for t in g["tests"].as_array().unwrap() {
                check_object(&f.name, "test", t, &schema["$defs"]["test"]);
                let kinds = schema["$defs"]["test"]["properties"]["errorKind"]["enum"]
                    .as_array()
                    .unwrap();
                if let Some(k) = t.get("errorKind") {
                    assert!(kinds.contains(k), "{}: errorKind {k} not in schema", f.name);
                }
            }
        }
        for (flag, n) in file["notes"].as_object().unwrap() {
            check_object(&f.name, flag, n, &schema["$defs"]["note"]);
        }
    }
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("keys/index.json")).unwrap())
            .unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/keys_index_schema.json")).unwrap(),
    )
    .unwrap();
    check_object("keys/index.json", "index", &index, &schema);
}

fn check_object(file: &str, what: &str, v: &Value, schema: &Value) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{file}: {what} is not an object"));
    let props = schema["properties"].as_object().unwrap();
    for k in obj.keys() {
        assert!(
            props.contains_key(k),
            "{file}: {what} has property {k:?} not in the schema"
        );
    }
    for r in schema["required"].as_array().unwrap() {
        assert!(
            obj.contains_key(r.as_str().unwrap()),
            "{file}: {what} lacks required {r}"
        );
    }
}

#[test]
fn signature_bases_are_well_formed() {
    let set = VectorSet::builtin().unwrap();
    let bases = set
        .base_tests()
        .filter_map(|(f, _, t)| t.signature_base.as_deref().map(|b| (f, t.tc_id, b)))
        .chain(
            set.sign_tests()
                .filter_map(|(f, _, t)| t.signature_base.as_deref().map(|b| (f, t.tc_id, b))),
        )
        .chain(
            set.verify_tests()
                .filter_map(|(f, _, t)| t.signature_base.as_deref().map(|b| (f, t.tc_id, b))),
        );
    let mut n = 0;
    for (f, tc, b) in bases {
        n += 1;
        assert!(b.is_ascii(), "{} #{tc}: non-ASCII base", f.name);
        assert!(
            !b.contains('\r') && !b.ends_with('\n'),
            "{} #{tc}: base line ends",
            f.name
        );
        let last = b.rsplit('\n').next().unwrap();
        assert!(
            last.starts_with("\"@signature-params\": ("),
            "{} #{tc}: last line {last:?}",
            f.name
        );
    }
    assert!(n > 50);
}

#[test]
fn sign_vectors_exact_only_for_deterministic_algorithms() {
    let set = VectorSet::builtin().unwrap();
    let mut exact = 0;
    for (f, g, t) in set.sign_tests() {
        if t.result == TestResult::Valid {
            let want = if g.alg.is_deterministic() {
                SignatureCheck::Exact
            } else {
                SignatureCheck::Verify
            };
            assert_eq!(t.signature_check, Some(want), "{} #{}", f.name, t.tc_id);
            let header = t.signature_header.as_deref().unwrap();
            let sig = t.signature.as_deref().unwrap();
            assert!(
                header.ends_with(&format!("{}=:{sig}:", t.label)),
                "{} #{}",
                f.name,
                t.tc_id
            );
            exact += usize::from(want == SignatureCheck::Exact);
        }
    }
    assert!(exact >= 3, "B.2.5, B.2.6 and proxy_sig are exact");
}

#[test]
fn rfc_deterministic_signatures_are_the_rfcs() {
    let set = VectorSet::builtin().unwrap();
    let f = set.file("rfc9421_sign_test.json").expect("rfc sign file");
    let sigs: BTreeSet<&str> = set
        .sign_tests()
        .filter(|(ff, _, _)| ff.name == f.name)
        .filter_map(|(_, _, t)| t.signature.as_deref())
        .collect();
    // RFC 9421 B.2.5 (hmac-sha256) and B.2.6 (ed25519), copied from the RFC text.
    assert!(sigs.contains("pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8="));
    assert!(sigs.contains(
        "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
    ));
}

#[test]
fn every_group_key_resolves_to_bytes() {
    let set = VectorSet::builtin().unwrap();
    let mut ids: BTreeSet<&str> = set
        .sign_tests()
        .map(|(_, g, _)| g.key_id.as_str())
        .collect();
    ids.extend(set.verify_tests().map(|(_, g, _)| g.key_id.as_str()));
    assert!(ids.contains("test-key-rsa-pss") && ids.contains("test-key-ed25519"));
    for id in ids {
        let (file, bytes) = set.key_file(id, false).unwrap();
        assert!(!bytes.is_empty(), "{id}: {}", file.path);
    }
    let pss = set
        .key_bytes("test-key-rsa-pss", KeyFormat::PemPkcs8RsassaPss)
        .unwrap();
    assert!(
        std::str::from_utf8(pss)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\nMIIEvgIBADALBgkqhkiG9w0BAQo")
    );
    let jwk: Value =
        serde_json::from_slice(set.key_bytes("test-key-ed25519", KeyFormat::Jwk).unwrap()).unwrap();
    assert_eq!(jwk["x"], "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs");
    match set.key_bytes("test-key-ed25519", KeyFormat::PemSec1) {
        Err(VectorError::NoKeyFormat { available, .. }) => assert!(available.contains("pem-pkcs8")),
        other => panic!("expected NoKeyFormat, got {other:?}"),
    }
    assert!(matches!(
        set.key("no-such-key"),
        Err(VectorError::UnknownKey { .. })
    ));
}

fn edit(f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(&rfc_base_text()).unwrap();
    f(&mut v);
    serde_json::to_string(&v).unwrap()
}

fn first_test(v: &mut Value) -> &mut Value {
    &mut v["testGroups"][0]["tests"][0]
}

#[test]
fn rejects_wrong_number_of_tests() {
    let t = edit(|v| v["numberOfTests"] = Value::from(v["numberOfTests"].as_u64().unwrap() + 1));
    assert!(matches!(
        VectorFile::from_json("x.json", &t),
        Err(VectorError::CountMismatch { .. })
    ));
}

#[test]
fn rejects_duplicate_tc_id() {
    let t = edit(|v| {
        let id = v["testGroups"][0]["tests"][0]["tcId"].clone();
        v["testGroups"][1]["tests"][0]["tcId"] = id;
    });
    assert!(matches!(
        VectorFile::from_json("x.json", &t),
        Err(VectorError::DuplicateTcId { .. })
    ));
}

#[test]
fn rejects_flag_without_note() {
    let t = edit(|v| first_test(v)["flags"] = serde_json::json!(["NoSuchFlag"]));
    match VectorFile::from_json("x.json", &t) {
        Err(VectorError::UnknownFlag { flag, .. }) => assert_eq!(flag, "NoSuchFlag"),
        other => panic!("expected UnknownFlag, got {other:?}"),
    }
}

#[test]
fn rejects_unknown_error_kind_and_unknown_fields() {
    let t = edit(|v| {
        first_test(v)["result"] = "invalid".into();
        first_test(v)["errorKind"] = "made_up_kind".into();
    });
    let err = VectorFile::from_json("x.json", &t).unwrap_err();
    assert!(err.to_string().contains("made_up_kind"), "{err}");
    let t = edit(|v| first_test(v)["surprise"] = 1.into());
    let err = VectorFile::from_json("x.json", &t).unwrap_err();
    assert!(err.to_string().contains("surprise"), "{err}");
    let t = edit(|v| v["schema"] = "other_schema.json".into());
    assert!(matches!(
        VectorFile::from_json("x.json", &t),
        Err(VectorError::UnknownSchema { .. })
    ));
}

#[test]
fn rejects_inconsistent_results() {
    let t = edit(|v| first_test(v)["result"] = "invalid".into());
    assert!(matches!(
        VectorFile::from_json("x.json", &t),
        Err(VectorError::Inconsistent { .. })
    ));
    let t = edit(|v| first_test(v)["errorKind"] = "missing_component".into());
    assert!(matches!(
        VectorFile::from_json("x.json", &t),
        Err(VectorError::Inconsistent { .. })
    ));
    let t = edit(|v| {
        first_test(v)
            .as_object_mut()
            .unwrap()
            .remove("signatureBase");
    });
    assert!(matches!(
        VectorFile::from_json("x.json", &t),
        Err(VectorError::Inconsistent { .. })
    ));
}

#[test]
fn load_dir_picks_up_new_files_and_checks_group_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = |sub: &str| {
        std::fs::create_dir_all(tmp.path().join(sub)).unwrap();
        for e in std::fs::read_dir(root().join(sub)).unwrap() {
            let e = e.unwrap();
            // load_dir reads the files of data/ and keys/, not their subdirectories (mq-hub/)
            if e.path().is_file() {
                std::fs::copy(e.path(), tmp.path().join(sub).join(e.file_name())).unwrap();
            }
        }
    };
    copy("data");
    copy("keys");
    let before = VectorSet::load_dir(tmp.path()).unwrap().files.len();
    std::fs::write(
        tmp.path().join("data/extra_base_test.json"),
        rfc_base_text(),
    )
    .unwrap();
    assert_eq!(
        VectorSet::load_dir(tmp.path()).unwrap().files.len(),
        before + 1
    );

    let verify = std::fs::read_to_string(root().join("data/rfc9421_verify_test.json")).unwrap();
    let mut v: Value = serde_json::from_str(&verify).unwrap();
    v["testGroups"][0]["keyId"] = "no-such-key".into();
    std::fs::write(
        tmp.path().join("data/rfc9421_verify_test.json"),
        v.to_string(),
    )
    .unwrap();
    assert!(matches!(
        VectorSet::load_dir(tmp.path()),
        Err(VectorError::GroupKey { .. })
    ));
    v["testGroups"][0]["keyId"] = "test-key-ed25519".into(); // group alg is ecdsa-p256-sha256
    std::fs::write(
        tmp.path().join("data/rfc9421_verify_test.json"),
        v.to_string(),
    )
    .unwrap();
    match VectorSet::load_dir(tmp.path()) {
        Err(e @ VectorError::GroupKey { .. }) => assert!(e.to_string().contains("not for"), "{e}"),
        other => panic!("expected GroupKey, got {other:?}"),
    }
    std::fs::remove_file(tmp.path().join("keys/test-key-ed25519.pkcs8.pem")).unwrap();
    assert!(matches!(
        VectorSet::load_dir(tmp.path()),
        Err(VectorError::MissingKeyFile { .. })
    ));
}

#[test]
fn error_kind_names_round_trip() {
    for k in [
        ErrorKind::MissingComponent,
        ErrorKind::QueryParamRepeated,
        ErrorKind::NonceReplayed,
        ErrorKind::InvalidTargetUri,
    ] {
        let s = serde_json::to_value(k).unwrap();
        assert_eq!(s.as_str().unwrap(), k.as_str());
    }
}

#[test]
fn own_rules_have_valid_and_invalid_cases() {
    use std::collections::BTreeMap;
    let set = VectorSet::builtin().unwrap();
    let mut rules: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut own = 0;
    let mut tally = |file: &str, rule: &str, r: TestResult| {
        if file.starts_with("own_") {
            let e = rules.entry(rule.to_string()).or_default();
            if r == TestResult::Invalid {
                e.1 += 1
            } else {
                e.0 += 1
            }
        }
    };
    for (f, g, t) in set.base_tests() {
        tally(&f.name, &g.rule, t.result);
    }
    for (f, g, t) in set.sign_tests() {
        tally(&f.name, &g.rule, t.result);
    }
    for (f, g, t) in set.verify_tests() {
        tally(&f.name, &g.rule, t.result);
    }
    for (rule, (ok, bad)) in &rules {
        own += ok + bad;
        // exact comparison is the negative check of sign-deterministic (a randomized signer fails it)
        if rule != "sign-deterministic" {
            assert!(
                *ok > 0 && *bad > 0,
                "rule {rule}: {ok} valid/acceptable, {bad} invalid"
            );
        }
    }
    assert!(own >= 150, "only {own} own vectors");
    let known_bugs: BTreeSet<&str> = set
        .files
        .iter()
        .flat_map(|f| f.notes.iter())
        .filter(|(_, n)| n.bug_type == sigharness_vectors::BugType::KnownBug)
        .map(|(k, _)| k.as_str())
        .collect();
    for flag in [
        "HttpsigParamReorder",
        "HttpsigAbsentHeaderEmpty",
        "HttpsigUntrimmed",
        "HttpsigQueryParamRaw",
        "HttpsigNonceQuote",
        "HttpsigRandomEd25519",
        "HttpsigPkcs8Only",
        "GoPssSaltLength",
        "GoQueryReencode",
        "GoRequestTargetNoQuery",
        "GoEd25519KeyLength",
        "GoSchemeBehindProxy",
    ] {
        assert!(known_bugs.contains(flag), "no vector flagged {flag}");
    }
}

#[test]
fn every_vector_states_its_level() {
    use sigharness_vectors::Level;
    let set = VectorSet::builtin().unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for f in &set.files {
        for t in f.test_metas() {
            *counts.entry(t.level).or_insert(0) += 1;
            if t.result == TestResult::Acceptable {
                assert_eq!(t.level, Level::May, "{} #{}", f.name, t.tc_id);
            }
        }
    }
    // Issue 17: the `tr` vectors are MUST (RFC 9421 §2.1.4 says MUST), so no vector is SHOULD;
    // every level now comes from the statements the vector names (the lint checks it).
    assert_eq!(counts.get(&Level::Should), None, "{counts:?}");
    // Issue 17 made own_base 66 and 123 acceptable and added the acceptable own_base 175 and 192
    // (a literal `@method:` header line: the derived value, or the message refused).
    assert_eq!(counts.get(&Level::May), Some(&7), "{counts:?}");
}

#[test]
fn every_vector_names_statements_of_the_matrix_at_their_level() {
    use sigharness_vectors::statements;
    let set = VectorSet::builtin().unwrap();
    for f in &set.files {
        for t in f.test_metas() {
            assert!(!t.statements.is_empty(), "{} #{}", f.name, t.tc_id);
            for id in t.statements {
                let s =
                    statements::find(id).unwrap_or_else(|| panic!("{} #{}: {id}", f.name, t.tc_id));
                assert!(
                    s.not_testable.is_none(),
                    "{} #{} names {id}, which the matrix says is not testable",
                    f.name,
                    t.tc_id
                );
            }
        }
    }
    // A level that disagrees with the statements is refused, naming both.
    let t = edit(|v| first_test(v)["level"] = "SHOULD".into());
    let err = VectorFile::from_json("x.json", &t).unwrap_err().to_string();
    assert!(
        err.contains("level is SHOULD") && err.contains("MUST"),
        "{err}"
    );
    // ... unless the vector says why.
    let t = edit(|v| {
        first_test(v)["level"] = "SHOULD".into();
        first_test(v)["levelWhy"] = "a combination".into();
    });
    VectorFile::from_json("x.json", &t).unwrap();
    // An unknown statement and an empty list are refused.
    let t = edit(|v| first_test(v)["statements"] = serde_json::json!(["S9-1"]));
    let err = VectorFile::from_json("x.json", &t).unwrap_err().to_string();
    assert!(err.contains("S9-1"), "{err}");
    let t = edit(|v| first_test(v)["statements"] = serde_json::json!([]));
    let err = VectorFile::from_json("x.json", &t).unwrap_err().to_string();
    assert!(err.contains("no statements"), "{err}");
}

#[test]
fn rejects_a_missing_level_and_an_acceptable_vector_that_is_not_may() {
    let t = edit(|v| {
        first_test(v).as_object_mut().unwrap().remove("level");
    });
    let err = VectorFile::from_json("x.json", &t).unwrap_err();
    assert!(err.to_string().contains("level"), "{err}");
    let t = edit(|v| first_test(v)["level"] = "SHALL".into());
    assert!(VectorFile::from_json("x.json", &t).is_err());
    let t = edit(|v| first_test(v)["result"] = "acceptable".into());
    match VectorFile::from_json("x.json", &t) {
        Err(e @ VectorError::Inconsistent { .. }) => {
            assert!(e.to_string().contains("not MAY"), "{e}")
        }
        other => panic!("expected Inconsistent, got {other:?}"),
    }
}

#[test]
fn a_pinned_key_format_is_handed_over_and_checked() {
    let set = VectorSet::builtin().unwrap();
    let (g, _) = set
        .sign_tests()
        .find(|(_, g, _)| g.key_format == Some(KeyFormat::Jwk))
        .map(|(_, g, t)| (g, t))
        .expect("a sign group pins jwk");
    let (file, bytes) = set
        .group_key(&g.key_id, g.key_format, true, &[KeyFormat::PemSec1])
        .unwrap();
    assert_eq!(file.format, KeyFormat::Jwk);
    assert!(bytes.starts_with(b"{"));
    // Unpinned: the preference wins, then the first non-JWK file.
    let (file, _) = set
        .group_key("test-key-ecc-p256", None, true, &[KeyFormat::Jwk])
        .unwrap();
    assert_eq!(file.format, KeyFormat::Jwk);
    let (file, _) = set
        .group_key("test-key-ecc-p256", None, true, &[KeyFormat::PemPkcs8])
        .unwrap();
    assert_eq!(file.format, KeyFormat::PemSec1);
    let (file, _) = set
        .group_key("test-shared-secret", None, false, &[KeyFormat::PemSpki])
        .unwrap();
    assert_eq!(file.format, KeyFormat::Base64);
    assert!(matches!(
        set.group_key("test-key-ed25519", Some(KeyFormat::PemSec1), true, &[]),
        Err(VectorError::NoKeyFormat { .. })
    ));
    assert_eq!("pem-sec1".parse::<KeyFormat>(), Ok(KeyFormat::PemSec1));
    assert!("pem".parse::<KeyFormat>().is_err());

    // A group pinning a format its key lacks does not load.
    let tmp = tempfile::tempdir().unwrap();
    for sub in ["data", "keys"] {
        std::fs::create_dir_all(tmp.path().join(sub)).unwrap();
    }
    for e in std::fs::read_dir(root().join("keys")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join("keys").join(e.file_name())).unwrap();
    }
    let sign = std::fs::read_to_string(root().join("data/own_sign_test.json")).unwrap();
    let mut v: Value = serde_json::from_str(&sign).unwrap();
    let groups = v["testGroups"].as_array_mut().unwrap();
    let g = groups
        .iter_mut()
        .find(|g| g["keyId"] == "test-key-ecc-p256")
        .unwrap();
    g["keyFormat"] = "pem-spki".into(); // public only: cannot sign
    std::fs::write(tmp.path().join("data/own_sign_test.json"), v.to_string()).unwrap();
    match VectorSet::load_dir(tmp.path()) {
        Err(e @ VectorError::GroupKey { .. }) => {
            assert!(e.to_string().contains("keyFormat pem-spki"), "{e}")
        }
        other => panic!("expected GroupKey, got {other:?}"),
    }
}
