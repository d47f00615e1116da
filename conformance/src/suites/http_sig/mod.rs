//! The `http-sig` suite: RFC 9421 HTTP Message Signatures, judged through the
//! [`target::HttpSigTarget`] adapter.
//!
//! Cases come from two places: one per test vector in `vectors/` (id
//! `http-sig/<file-stem>/<tcId>-<slug>`), and the rules of [`rules`] that are not plain vectors
//! (multi-step signing, output format, verification policies). Targets: `ours` (the `http-sig`
//! crate, default) and `httpsig-crate` (the `httpsig` crate used by the Grafbase gateway).
//!
//! A target answering "unsupported" fails a MUST case (with that evidence) and skips a
//! SHOULD/MAY case, as BoGo shims distinguish "unimplemented" from "wrong".

pub mod httpsig_crate;
pub mod ours;
pub mod raw;
pub mod rfc_keys;
pub mod rules;
pub mod target;
pub mod vectors;

use std::sync::Arc;

use sigharness_report::{CaseMeta, Evidence};

use crate::runner::{
    BoxFuture, Case, Error, Event, Events, Level, Outcome, Selection, SpecRef, Suite, SuiteOptions,
    meta, run_cases,
};
use target::HttpSigTarget;

pub const SUITE: &str = "http-sig";
/// Target names; the first is the default.
pub const TARGETS: &[&str] = &["ours", "httpsig-crate"];

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

/// The verdict when the target cannot express the operation: MUST fails, SHOULD/MAY skip.
pub fn judge_unsupported(level: Level, what: &str) -> Outcome {
    match level {
        Level::Must => Outcome::fail(
            Evidence::new("the target does not implement this MUST requirement")
                .expected("the operation performed as the spec requires")
                .observed(format!("unsupported: {what}")),
        ),
        _ => Outcome::skip(format!("unsupported by the target: {what}")),
    }
}

/// Build the target named in `opts`.
pub fn make_target(opts: &SuiteOptions) -> Result<Box<dyn HttpSigTarget>, Error> {
    match opts.target_or(TARGETS)? {
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
    /// Every case, in run order.
    pub fn all_cases(&self, opts: &SuiteOptions) -> Result<Vec<HsCase>, Error> {
        let set = vectors::load(opts.vectors_dir.as_deref())?;
        let mut all = vectors::cases(Arc::new(set));
        all.extend(rules::cases());
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
    fn run<'a>(
        &'a self,
        opts: &'a SuiteOptions,
        selection: &'a Selection,
        events: &'a Events,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let target = make_target(opts)?;
            let cases = self.all_cases(opts)?;
            let selected = cases
                .iter()
                .filter(|c| selection.includes(&c.meta.id))
                .count();
            events.send(Event::SuiteStarted {
                suite: SUITE.into(),
                target: target.name().into(),
                cases: selected,
            });
            run_cases(
                Arc::new(Ctx { target }),
                &cases,
                selection,
                events,
                opts.case_timeout,
            )
            .await;
            events.send(Event::SuiteFinished {
                suite: SUITE.into(),
            });
            Ok(())
        })
    }
}
