//! `sigharness conformance`: select suites and cases, run them, report, pick the exit code.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sigharness_report::{Report, SCHEMA_VERSION, Summary, Tool, exit_code};

use crate::runner::report::{Collector, terminal_summary, write_report_dir};
use crate::runner::{Events, Selection, SetupError, Suite, SuiteOptions};

/// What to run and where to write.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    /// Suite names; empty = every suite.
    pub suites: Vec<String>,
    /// Case id globs; empty = every case.
    pub cases: Vec<String>,
    pub list: bool,
    pub report_dir: Option<PathBuf>,
    pub quiet: bool,
    pub options: SuiteOptions,
}

/// Pick the suites named in `names` (all when empty); unknown names are a setup error.
pub fn select_suites(
    all: Vec<Box<dyn Suite>>,
    names: &[String],
) -> Result<Vec<Box<dyn Suite>>, SetupError> {
    if names.is_empty() {
        return Ok(all);
    }
    let known: Vec<&'static str> = all.iter().map(|s| s.name()).collect();
    for n in names {
        if !known.contains(&n.as_str()) {
            return Err(SetupError::new(format!(
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
) -> Result<Option<Report>, SetupError> {
    let suites = select_suites(suites, &req.suites)?;
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
        for (suite, cases) in &listing {
            println!("# {suite}: {} cases", cases.len());
            for c in cases {
                println!("{:<72} {:<6} {}", c.id, c.level.to_string(), c.spec);
            }
        }
        return Ok(None);
    }
    if total == 0 {
        return Err(SetupError::new(
            "no case matches the selection (check --suite and --case; --list shows the ids)",
        ));
    }
    let target = req.options.target.clone().unwrap_or_else(|| "ours".into());
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
        Ok::<(), SetupError>(())
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
        write_report_dir(dir, &report).map_err(SetupError::new)?;
    }
    Ok(Some(report))
}

/// The whole command: run, print the summary, return the exit code.
pub async fn main(suites: Vec<Box<dyn Suite>>, req: RunRequest) -> i32 {
    match execute(suites, &req).await {
        Ok(None) => exit_code::ALL_MUST_PASSED,
        Ok(Some(report)) => {
            if !req.quiet {
                print!("{}", terminal_summary(&report));
                if let Some(dir) = &req.report_dir {
                    println!("reports written to {}", dir.display());
                }
            }
            report.exit_code()
        }
        Err(e) => {
            eprintln!("sigharness: cannot run: {e}");
            exit_code::COULD_NOT_RUN
        }
    }
}
