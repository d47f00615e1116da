//! `sigharness conformance`: select suites and cases, run them, report, pick the exit code.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sigharness_report::{CaseMeta, Report, SCHEMA_VERSION, Summary, Tool, exit_code};

use crate::runner::expect::{self, Expectations};
use crate::runner::report::{Collector, terminal_summary, write_report_dir};
use crate::runner::settings::{self, Setting};
use crate::runner::{Error, Events, Selection, Suite, SuiteOptions};

/// What to run and where to write.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    /// Suite names; empty = every suite.
    pub suites: Vec<String>,
    /// Case id globs; empty = every case.
    pub cases: Vec<String>,
    pub list: bool,
    /// Print the selected suites' `--set` keys and exit.
    pub help_settings: bool,
    pub report_dir: Option<PathBuf>,
    pub quiet: bool,
    /// `--expect FILE`: judge the run against these expected verdicts (runner/expect.rs).
    pub expect: Option<PathBuf>,
    pub options: SuiteOptions,
}

/// The name of the judged implementation for the report: `--set target_name=`, else
/// `--target`, else the external command or URL under test, else `ours`.
pub fn target_name(o: &SuiteOptions) -> String {
    if let Some(n) = o.setting("target_name") {
        return n.to_string();
    }
    if let Some(t) = &o.target {
        return t.clone();
    }
    let external = [
        o.client_cmd.as_ref().map(|c| format!("client: {c}")),
        o.server_cmd.as_ref().map(|c| format!("server: {c}")),
        o.signer_cmd.as_ref().map(|c| format!("signer: {c}")),
        o.target_cmd.as_ref().map(|c| format!("cmd: {c}")),
        o.mq_hub_url.clone(),
        o.verifier_url.clone(),
        o.upstream.as_ref().map(|u| format!("upstream {u}")),
        o.broker.as_ref().map(|b| format!("behind {b}")),
    ];
    external
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_else(|| "ours".into())
}

/// Pick the suites named in `names` (all when empty); unknown names are a setup error.
pub fn select_suites(
    all: Vec<Box<dyn Suite>>,
    names: &[String],
) -> Result<Vec<Box<dyn Suite>>, Error> {
    if names.is_empty() {
        return Ok(all);
    }
    let known: Vec<&'static str> = all.iter().map(|s| s.name()).collect();
    for n in names {
        if !known.contains(&n.as_str()) {
            return Err(Error::setup(format!(
                "unknown --suite {n:?}; known suites: {}",
                known.join(", ")
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| names.iter().any(|n| n == s.name()))
        .collect())
}

/// Run (or list) and return the report; `Err` means exit code 2.
pub async fn execute(
    suites: Vec<Box<dyn Suite>>,
    req: &RunRequest,
) -> Result<Option<Report>, Error> {
    let suites = select_suites(suites, &req.suites)?;
    if req.help_settings {
        let mut out = io::stdout().lock();
        for s in &suites {
            quiet_on_broken_pipe(out.write_all(settings::help(s.name(), s.settings()).as_bytes()))
                .map_err(|e| Error::setup(format!("cannot write the settings: {e}")))?;
        }
        quiet_on_broken_pipe(out.write_all(settings::help("(every)", settings::RUNNER).as_bytes()))
            .map_err(|e| Error::setup(format!("cannot write the settings: {e}")))?;
        return Ok(None);
    }
    let mut declared: Vec<(&str, &[Setting])> =
        suites.iter().map(|s| (s.name(), s.settings())).collect();
    declared.push(("(every)", settings::RUNNER));
    settings::validate(&req.options.settings, &declared)?;
    let selection = Selection::new(&req.cases)?;
    let mut total = 0;
    let mut listing = Vec::new();
    for s in &suites {
        let cases = s.cases(&req.options)?;
        let selected: Vec<_> = cases
            .into_iter()
            .filter(|c| selection.includes(&c.id))
            .collect();
        total += selected.len();
        listing.push((s.name(), selected));
    }
    if req.list {
        quiet_on_broken_pipe(write_listing(&mut io::stdout().lock(), &listing))
            .map_err(|e| Error::setup(format!("cannot write the listing: {e}")))?;
        return Ok(None);
    }
    if total == 0 {
        return Err(Error::setup(
            "no case matches the selection (check --suite and --case; --list shows the ids)",
        ));
    }
    let target = target_name(&req.options);
    let started = Instant::now();
    let started_at_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (events, mut rx) = Events::channel();
    let mut collector = Collector::new(total, req.quiet);
    let run_all = async {
        for s in &suites {
            if listing
                .iter()
                .any(|(name, cases)| *name == s.name() && cases.is_empty())
            {
                continue;
            }
            s.run(&req.options, &selection, &events).await?;
        }
        drop(events);
        Ok::<(), Error>(())
    };
    let collect = async {
        while let Some(e) = rx.recv().await {
            collector.handle(e);
        }
    };
    let (res, ()) = tokio::join!(run_all, collect);
    let (cases, suite_targets) = collector.finish();
    res?;
    let report = Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "sigharness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        target,
        suite_targets,
        started_at_unix,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        summary: Summary::of(&cases),
        cases,
    };
    if let Some(dir) = &req.report_dir {
        write_report_dir(dir, &report)?;
    }
    Ok(Some(report))
}

/// Write `--list` output: one header line per suite, one line per case.
fn write_listing(out: &mut impl Write, listing: &[(&str, Vec<CaseMeta>)]) -> io::Result<()> {
    for (suite, cases) in listing {
        writeln!(out, "# {suite}: {} cases", cases.len())?;
        for c in cases {
            writeln!(out, "{:<72} {:<6} {}", c.id, c.level.to_string(), c.spec)?;
        }
    }
    out.flush()
}

/// A closed pipe (`sigharness conformance --list | head`) means the reader has seen enough:
/// stop writing quietly instead of panicking as `println!` does.
fn quiet_on_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The whole command: run, print the summary, return the exit code. With `--expect FILE` the
/// exit code is 1 when a verdict differs from the file (the differences are printed first,
/// and written to `expect.txt` in the report directory), else 0.
pub async fn main(suites: Vec<Box<dyn Suite>>, req: RunRequest) -> i32 {
    // Read the file before running: a bad file is an error before anything runs.
    let expect = match &req.expect {
        Some(p) if !req.list && !req.help_settings => match Expectations::load(p) {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("sigharness: cannot run: {e}");
                return exit_code::COULD_NOT_RUN;
            }
        },
        _ => None,
    };
    match execute(suites, &req).await {
        Ok(None) => exit_code::ALL_MUST_PASSED,
        Ok(Some(report)) => {
            let judged = expect.as_ref().map(|e| {
                let diffs = e.differences(&report, req.cases.is_empty());
                (expect::render(e, &diffs), diffs.is_empty())
            });
            if let Some((text, _)) = &judged {
                if let Some(dir) = &req.report_dir {
                    let p = dir.join("expect.txt");
                    if let Err(e) = std::fs::write(&p, text) {
                        eprintln!("sigharness: cannot write {}: {e}", p.display());
                        return exit_code::COULD_NOT_RUN;
                    }
                }
                if req.quiet {
                    eprint!("{text}");
                } else {
                    print!("{text}");
                }
            }
            if !req.quiet {
                let mut out = io::stdout().lock();
                let written = write!(out, "{}", terminal_summary(&report))
                    .and_then(|()| match &req.report_dir {
                        Some(dir) => writeln!(out, "reports written to {}", dir.display()),
                        None => Ok(()),
                    })
                    // The summary's PASS/FAIL line judges MUST cases; with --expect the exit
                    // code follows the file instead, so say which one decides.
                    .and_then(|()| match &judged {
                        Some((_, true)) => writeln!(
                            out,
                            "exit 0: every verdict as in the --expect file (the MUST failures above are expected)"
                        ),
                        Some((_, false)) => writeln!(
                            out,
                            "exit 1: verdicts differ from the --expect file (listed above the summary)"
                        ),
                        None => Ok(()),
                    })
                    .and_then(|()| out.flush());
                if let Err(e) = quiet_on_broken_pipe(written) {
                    eprintln!("sigharness: cannot write the summary: {e}");
                }
            }
            match judged {
                Some((_, true)) => exit_code::ALL_MUST_PASSED,
                Some((_, false)) => exit_code::MUST_FAILED,
                None => report.exit_code(),
            }
        }
        Err(e) => {
            eprintln!("sigharness: cannot run: {e}");
            exit_code::COULD_NOT_RUN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `room` bytes, then fails every write with `kind`, as a closed pipe does.
    struct Closing {
        room: usize,
        kind: io::ErrorKind,
        written: Vec<u8>,
    }

    impl Write for Closing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(self.kind));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn listing() -> Vec<(&'static str, Vec<CaseMeta>)> {
        let cases = crate::suites::http_sig::HttpSigSuite
            .cases(&SuiteOptions::default())
            .expect("http-sig cases");
        vec![("http-sig", cases)]
    }

    #[test]
    fn listing_stops_quietly_on_a_broken_pipe() {
        let mut w = Closing {
            room: 100,
            kind: io::ErrorKind::BrokenPipe,
            written: Vec::new(),
        };
        let r = write_listing(&mut w, &listing());
        assert_eq!(
            r.as_ref().map_err(io::Error::kind),
            Err(io::ErrorKind::BrokenPipe)
        );
        assert!(quiet_on_broken_pipe(r).is_ok());
        assert_eq!(w.written.len(), 100);
        assert!(w.written.starts_with(b"# http-sig: "));
    }

    #[test]
    fn other_write_errors_are_reported() {
        let mut w = Closing {
            room: 10,
            kind: io::ErrorKind::PermissionDenied,
            written: Vec::new(),
        };
        let r = quiet_on_broken_pipe(write_listing(&mut w, &listing()));
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(io::ErrorKind::PermissionDenied)
        );
    }
}
