//! The `http-sig` suite: RFC 9421 HTTP Message Signatures, judged through the
//! [`target::HttpSigTarget`] adapter.
//!
//! Cases come from two places: one per test vector in `vectors/` ([`vectors`], id
//! `http-sig/<file-stem>/<tcId>-<rule>`; `--vectors DIR` replaces the built-in set), and the few
//! [`rules`] that are not vectors (multi-step signing, a key that does not fit its algorithm, a
//! property not observable through the adapter). Targets: `ours` (the `http-sig` crate, default)
//! and `httpsig-crate` (the `httpsig` crate used by the Grafbase gateway).
//!
//! A target answering "unsupported" ([`target::TargetError::Unsupported`]) gets the verdict
//! `unsupported` at every level, as BoGo shims tell "unimplemented" from "wrong"; an unsupported
//! MUST case still fails the run, SHOULD/MAY ones do not.

pub mod cmd;
pub mod httpsig_crate;
pub mod ours;
pub mod raw;
pub mod rules;
pub mod target;
pub mod vectors;

use std::sync::Arc;

use sigharness_report::CaseMeta;

use crate::runner::Kind;
use crate::runner::check::{Stop, unsupported};
use crate::runner::{
    BoxFuture, Case, Error, Events, Level, Selection, Setting, SpecRef, Suite, SuiteOptions,
    SuiteRun, meta,
};
use target::HttpSigTarget;

pub const SUITE: &str = "http-sig";
/// Target names; the first is the default.
pub const TARGETS: &[&str] = &["ours", "httpsig-crate", "cmd"];

/// `--set` keys of this suite (they concern `--target-cmd`).
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        "cmd_timeout",
        Kind::Count,
        "--target-cmd: seconds the shim has for one answer (default 10)",
    ),
    Setting::new(
        "cmd_deadline",
        Kind::Count,
        "--target-cmd: seconds for the whole run; later requests fail (default 900)",
    ),
    Setting::new(
        "cmd_restarts",
        Kind::Count,
        "--target-cmd: fresh shims started after a crash, hang or garbage answer (default 3)",
    ),
];

/// What every case runs against.
pub struct Ctx {
    pub target: Box<dyn HttpSigTarget>,
}

pub type HsCase = Case<Ctx>;

/// Case metadata for a case of this suite; `slug` is the id without the `http-sig/` prefix.
pub fn case(
    slug: &str,
    section: &str,
    level: Level,
    description: impl Into<String>,
    requirement: impl Into<String>,
) -> CaseMeta {
    meta(
        SUITE,
        format!("{SUITE}/{slug}"),
        SpecRef::new("RFC 9421", section),
        level,
        description,
        requirement,
    )
}

/// The stop when the target cannot express the operation (verdict `unsupported`, every level).
pub fn unsupported_by_target(what: &str) -> Stop {
    unsupported(format!("unsupported by the target: {what}"))
}

/// Build the target named in `opts` (`--target-cmd` = target `cmd`).
pub fn make_target(opts: &SuiteOptions) -> Result<Box<dyn HttpSigTarget>, Error> {
    let name = match (&opts.target_cmd, opts.target.as_deref()) {
        (Some(_), None | Some("cmd")) => "cmd",
        (Some(_), Some(t)) => {
            return Err(Error::setup(format!(
                "--target-cmd judges target cmd, not --target {t:?}"
            )));
        }
        (None, _) => opts.target_or(TARGETS)?,
    };
    match name {
        "cmd" => {
            let Some(line) = &opts.target_cmd else {
                return Err(Error::setup(
                    "target cmd needs --target-cmd 'CMD' (conformance/interop/README.md)",
                ));
            };
            let mut c = cmd::CmdConfig::new(line.clone());
            let secs = |k: &str| opts.setting_count(k);
            if let Some(n) = secs("cmd_timeout")? {
                c.timeout = std::time::Duration::from_secs(n.max(1));
            }
            if let Some(n) = secs("cmd_deadline")? {
                c.deadline = std::time::Duration::from_secs(n.max(1));
            }
            if let Some(n) = secs("cmd_restarts")? {
                c.restarts = u32::try_from(n).unwrap_or(u32::MAX);
            }
            Ok(Box::new(cmd::CmdTarget::start(c)?))
        }
        "httpsig-crate" => Ok(Box::new(httpsig_crate::HttpsigCrate)),
        "ours" => Ok(Box::new(ours::Ours)),
        other => Err(Error::setup(format!(
            "target {other:?} of the http-sig suite is not available in this build"
        ))),
    }
}

/// The `http-sig` suite.
#[derive(Debug, Default)]
pub struct HttpSigSuite;

impl HttpSigSuite {
    /// Every case, in run order: the vectors of `--vectors DIR` (else the built-in set), then
    /// the rules (which use the built-in RFC keys and examples whatever `--vectors` says).
    pub fn all_cases(&self, opts: &SuiteOptions) -> Result<Vec<HsCase>, Error> {
        let builtin = Arc::new(vectors::load(None)?);
        let set = match &opts.vectors_dir {
            Some(dir) => Arc::new(vectors::load(Some(dir))?),
            None => builtin.clone(),
        };
        let mut all = vectors::cases(set);
        all.extend(rules::cases(builtin)?);
        Ok(all)
    }
}

impl Suite for HttpSigSuite {
    fn name(&self) -> &'static str {
        SUITE
    }
    fn about(&self) -> &'static str {
        "RFC 9421 HTTP Message Signatures: vectors and rules against an implementation"
    }
    fn targets(&self) -> Vec<&'static str> {
        TARGETS.to_vec()
    }
    fn cases(&self, opts: &SuiteOptions) -> Result<Vec<CaseMeta>, Error> {
        Ok(self.all_cases(opts)?.into_iter().map(|c| c.meta).collect())
    }
    /// Only the bounds of `--target-cmd`: everything a case needs is in its vector or rule.
    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }
    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let target = make_target(opts)?;
            let cases = self.all_cases(opts)?;
            let run = SuiteRun::start(
                SUITE,
                target.name(),
                SuiteRun::count(selection, &cases),
                opts,
                selection,
                events,
            );
            run.run(Arc::new(Ctx { target }), &cases).await;
            run.finish();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{Event, check_ids};
    use sigharness_report::Verdict;

    #[test]
    fn ids_are_unique_and_rules_are_only_what_vectors_cannot_say() {
        let cases = HttpSigSuite.cases(&SuiteOptions::default()).unwrap();
        check_ids(&cases).unwrap();
        let rules: Vec<&str> = cases
            .iter()
            .filter_map(|c| c.id.strip_prefix("http-sig/rules/"))
            .collect();
        assert_eq!(
            rules,
            [
                "4.3/append-second-signature",
                "3.3.6/ed25519-deterministic",
                "3.1/key-alg-mismatch/ed25519-key-as-ecdsa-p256",
                "3.1/key-alg-mismatch/ed25519-key-as-hmac",
                "3.1/key-alg-mismatch/shared-secret-as-ed25519",
                "3.1/key-alg-mismatch/ed25519-key-as-rsa-pss",
                "3.3.3/hmac-constant-time-compare",
            ]
        );
        // 342 before issue 17, which added 25 base and 13 verify vectors, then 14 for the gaps of
        // the traceability matrix (own_base 187-198, own_sign 33, own_verify 97), and 9 key-set
        // vectors (own_verify 98-106) and 4 with several Host field lines (own_base 199-202).
        assert_eq!(cases.len(), 407 + rules.len());
    }

    /// `vectors/moved-rules.tsv` maps every retired Rust rule case to the vector case that judges
    /// it now: each old id is gone, each new id exists.
    #[test]
    fn moved_rules_map_to_vector_cases() {
        let tsv = include_str!("../../../../vectors/moved-rules.tsv");
        let cases = HttpSigSuite.cases(&SuiteOptions::default()).unwrap();
        let ids: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        let rows: Vec<Vec<&str>> = tsv
            .lines()
            .filter(|l| !l.starts_with('#'))
            .skip(1)
            .map(|l| l.split('\t').collect())
            .collect();
        assert_eq!(rows.len(), 56);
        for row in rows {
            let [old, new, why] = row[..] else {
                panic!("bad row {row:?}")
            };
            assert!(!ids.contains(old), "{old} still exists");
            assert!(
                ids.contains(new),
                "{old} maps to {new}, which does not exist"
            );
            assert!(
                why.starts_with("duplicate") || why.starts_with("moved"),
                "{old}: {why}"
            );
        }
    }

    #[test]
    fn vectors_dir_replaces_the_builtin_vectors() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors");
        let tmp = tempfile::tempdir().unwrap();
        for sub in ["data", "keys"] {
            std::fs::create_dir_all(tmp.path().join(sub)).unwrap();
        }
        for e in std::fs::read_dir(root.join("keys")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), tmp.path().join("keys").join(e.file_name())).unwrap();
        }
        std::fs::copy(
            root.join("data/rfc9421_sign_test.json"),
            tmp.path().join("data/vendor_sign_test.json"),
        )
        .unwrap();
        let opts = SuiteOptions {
            vectors_dir: Some(tmp.path().to_path_buf()),
            ..SuiteOptions::default()
        };
        let cases = HttpSigSuite.cases(&opts).unwrap();
        let vector_ids: Vec<&str> = cases
            .iter()
            .map(|c| c.id.as_str())
            .filter(|id| !id.starts_with("http-sig/rules/"))
            .collect();
        assert_eq!(vector_ids.len(), 8, "{vector_ids:?}");
        assert!(
            vector_ids
                .iter()
                .all(|id| id.starts_with("http-sig/vendor_sign_test/"))
        );
        let missing = SuiteOptions {
            vectors_dir: Some(tmp.path().join("nowhere")),
            ..SuiteOptions::default()
        };
        let e = HttpSigSuite.cases(&missing).unwrap_err().to_string();
        assert!(e.contains("cannot load the test vectors"), "{e}");
    }

    /// A target that supports nothing: every case it reaches is `unsupported`, at every level.
    struct Nothing;
    impl HttpSigTarget for Nothing {
        fn name(&self) -> &'static str {
            "nothing"
        }
        fn signature_base(&self, _: &target::BaseInput<'_>) -> Result<String, target::TargetError> {
            Err(target::TargetError::unsupported("no base"))
        }
        fn sign(&self, _: &target::SignInput<'_>) -> Result<String, target::TargetError> {
            Err(target::TargetError::unsupported("no signing"))
        }
        fn verify(&self, _: &target::VerifyInput<'_>) -> Result<(), target::TargetError> {
            Err(target::TargetError::unsupported("no verification"))
        }
    }

    #[tokio::test]
    async fn unsupported_is_its_own_verdict_at_every_level() {
        let opts = SuiteOptions::default();
        let cases = HttpSigSuite.all_cases(&opts).unwrap();
        let (events, mut rx) = Events::channel();
        let selection = Selection::default();
        let run = SuiteRun::start(SUITE, "nothing", cases.len(), &opts, &selection, &events);
        run.run(
            Arc::new(Ctx {
                target: Box::new(Nothing),
            }),
            &cases,
        )
        .await;
        run.finish();
        drop(events);
        let mut seen = std::collections::BTreeMap::new();
        while let Some(e) = rx.recv().await {
            if let Event::CaseFinished(r) = e {
                *seen
                    .entry(format!("{:?}/{:?}", r.level, r.verdict))
                    .or_insert(0) += 1;
                if r.verdict == Verdict::Unsupported {
                    assert!(
                        r.evidence
                            .summary
                            .starts_with("unsupported by the target: ")
                    );
                }
            }
        }
        let n = |l: Level, v: Verdict| seen.get(&format!("{l:?}/{v:?}")).copied().unwrap_or(0);
        // The rule that is skipped by design and the key/alg refusals (an unsupported answer is
        // not a refusal) are the only cases that are not `unsupported`.
        assert_eq!(n(Level::Must, Verdict::Skip), 1, "{seen:?}");
        // Issue 17: no SHOULD vector is left (the `;tr` ones are MUST, as RFC 9421 §2.1.4 says).
        assert_eq!(n(Level::Should, Verdict::Unsupported), 0, "{seen:?}");
        assert_eq!(n(Level::May, Verdict::Unsupported), 7, "{seen:?}");
        assert_eq!(n(Level::Must, Verdict::Fail), 0, "{seen:?}");
        assert_eq!(n(Level::Must, Verdict::Pass), 0, "{seen:?}");
        assert_eq!(
            n(Level::Must, Verdict::Unsupported),
            cases.len() - 1 - 7,
            "{seen:?}"
        );
    }
}
