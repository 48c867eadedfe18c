//! `scenario run`: the suite in parallel, a line per scenario, the
//! closing count, JUnit, and the exit status.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::keep;
use super::output::{Detail, Printer};
use super::repeat::{self, Rounds};
use super::usage_error;
use scenario::facts::Facts;
use scenario::select::{self, Shard};
use scenario::suite::{self, Event};
use scenario::{junit, report, sandbox, script, snapshot, stop};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario files or folders (searched for *.rhai, skipping helper
    /// modules in lib/ folders, files starting with '_', and *.d.rhai).
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// How many scenarios run at once [default: 4 per CPU, at most 16].
    /// Scenarios mostly wait on probe windows, not on the CPU.
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Time limit of each scenario, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    timeout: f64,
    /// Print each step and probe as it happens, with timings, and what
    /// scenarios print even when they pass.
    #[arg(short, long, conflicts_with = "quiet")]
    verbose: bool,
    /// Print only failures and the closing line.
    #[arg(short, long)]
    quiet: bool,
    /// Write new and changed snapshots instead of failing on them
    /// (refused when CI is set: CI never writes snapshots).
    #[arg(long)]
    accept: bool,
    /// Keep the lab of a failed scenario alive, print how to enter each
    /// node, and wait for Enter (or Ctrl-C) before tearing it down.
    #[arg(long)]
    keep: bool,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write DIR/index.html (every scenario's result, each failure with
    /// the probe's path drawn on the topology) and each failure's watched
    /// packets as pcapng under DIR.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Run only the K-th of N parts of the suite (stable as scenarios are
    /// added), for N CI machines sharing a suite.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Run only scenarios whose path contains TEXT (repeatable).
    #[arg(long, value_name = "TEXT")]
    filter: Vec<String>,
    /// List the scenarios that would run, and run nothing.
    #[arg(long)]
    list: bool,
    /// Largest string a script may build, in bytes (K, M, G allowed)
    /// [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = script::parse_size)]
    max_string: Option<usize>,
    /// Most elements an array may hold, nested ones included [default: 128K].
    #[arg(long, value_name = "N", value_parser = script::parse_size)]
    max_array: Option<usize>,
    /// Most entries an object map may hold, nested ones included
    /// [default: 128K].
    #[arg(long, value_name = "N", value_parser = script::parse_size)]
    max_map: Option<usize>,
    /// Run each scenario N times (one round after another) and report,
    /// per scenario, how many runs passed, the first failure and the time
    /// spread; exit 1 if any run failed. With --until-fail: at most N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    repeat: Option<u64>,
    /// Run round after round until a run fails (or SIGINT), then report as
    /// --repeat does.
    #[arg(long)]
    until_fail: bool,
}

/// Scenarios spend their time waiting on probe windows, not computing:
/// measured on two cores, the shipped suite took 10.5 s at `-j 2`, 5.6 s at
/// `-j 4` and 3.2 s at `-j 8`, every held-out fault still caught. Four per
/// CPU, and no more than 16, where the machine's own limits (the
/// neighbour table, open files) start to matter more than waiting.
fn default_jobs(cpus: usize) -> usize {
    (cpus * 4).clamp(1, 16)
}

pub fn run(args: RunArgs) -> ExitCode {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return usage_error("--timeout must be a positive number of seconds");
    }
    if let Err(e) = snapshot::configure(args.accept) {
        return usage_error(&e);
    }
    let files = match chosen(&args) {
        Ok(files) => files,
        Err(e) => return usage_error(&e),
    };
    if args.list {
        for f in &files {
            println!("{}", f.display());
        }
        return ExitCode::SUCCESS;
    }
    // Still one thread: the user namespace can be entered only now.
    let mode = match sandbox::prepare() {
        Ok(m) => m,
        Err(e) => return usage_error(&e),
    };
    if let Err(e) = stop::install_handler() {
        return usage_error(&format!("cannot handle SIGINT and SIGTERM: {e}"));
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        default_jobs(std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    let facts = Facts::gather(mode.clone());
    let detail = match (args.quiet, args.verbose) {
        (true, _) => Detail::Quiet,
        (_, true) => Detail::Verbose,
        _ => Detail::Normal,
    };
    if detail != Detail::Quiet {
        eprintln!("{}", header(&args, files.len(), jobs, &facts));
    }
    let shown = keep::Shown::default();
    let opts = options(&args, args.keep.then(|| keep::hook(mode, shown.clone())));
    let rounds = args.repeat.map_or(1, |n| n as usize);
    let mut printer = Printer::new(detail, files.len() * rounds, shown);
    let start = Instant::now();
    let (outcomes, not_run, runs) = execute(&args, &files, jobs, &opts, &mut printer);
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    if detail != Detail::Quiet {
        println!();
    }
    println!("{}", closing(&outcomes, runs));
    list_written_snapshots();
    if detail != Detail::Quiet {
        eprintln!("finished in {:.2} s", start.elapsed().as_secs_f64());
    }
    if let Err(e) = write_files(&args, &outcomes, &facts, start.elapsed()) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if let Some(sig) = stop::signal() {
        eprintln!("{}", stop::summary(sig, not_run));
        return ExitCode::from((128 + sig) as u8);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The scenarios the paths, filters and shard choose; an error when there
/// are none (unless only listing them).
fn chosen(args: &RunArgs) -> Result<Vec<PathBuf>, String> {
    let found = suite::discover(&args.paths)?;
    let found_count = found.len();
    if found.is_empty() {
        let list: Vec<_> = args.paths.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "no scenarios (*.rhai) found in {}",
            list.join(", ")
        ));
    }
    let files = select::select(found, &args.filter, args.shard);
    if files.is_empty() && !args.list {
        let mut chosen: Vec<String> = args
            .filter
            .iter()
            .map(|f| format!("--filter {f}"))
            .collect();
        chosen.extend(
            args.shard
                .map(|s| format!("--shard {}/{}", s.index, s.count)),
        );
        return Err(format!(
            "no scenario is left to run: {} selects none of the {found_count} found",
            chosen.join(" ")
        ));
    }
    Ok(files)
}

/// The run header: how many, how often, how many at once, and the facts
/// that change results.
fn header(args: &RunArgs, files: usize, jobs: usize, facts: &Facts) -> String {
    let times = match (args.repeat, args.until_fail) {
        (Some(n), false) => format!(" {n} times each"),
        (Some(n), true) => format!(" until a run fails (at most {n} times each)"),
        (None, true) => " until a run fails".to_string(),
        (None, false) => String::new(),
    };
    format!(
        "running {files} scenario{}{times}, {} at a time; {}",
        if files == 1 { "" } else { "s" },
        jobs.min(files).max(1),
        facts.line()
    )
}

fn options(args: &RunArgs, on_failure: Option<script::FailureHook>) -> script::Options {
    let d = script::DataLimits::default();
    script::Options {
        time_limit: Duration::from_secs_f64(args.timeout),
        on_failure,
        verbose: args.verbose,
        detail: args.report.is_some(),
        data: script::DataLimits {
            string: args.max_string.unwrap_or(d.string),
            array: args.max_array.unwrap_or(d.array),
            map: args.max_map.unwrap_or(d.map),
        },
        ..script::Options::default()
    }
}

/// `--report DIR`, then `--junit FILE`, which names the report's files.
fn write_files(
    args: &RunArgs,
    outcomes: &[suite::ScenarioResult],
    facts: &Facts,
    total: Duration,
) -> Result<(), String> {
    let run = report::Run {
        outcomes,
        facts,
        total,
    };
    let written = match &args.report {
        Some(dir) => Some(report::write(dir, &run)?),
        None => None,
    };
    match &args.junit {
        Some(file) => junit::write(file, outcomes, facts, total, written.as_ref()),
        None => Ok(()),
    }
}

/// The outcome of each scenario that ran (its first failure when
/// repeated), how many did not run, and with --repeat or --until-fail how
/// many runs passed of how many.
type Ran = (Vec<suite::ScenarioResult>, usize, Option<(usize, usize)>);

fn execute(
    args: &RunArgs,
    files: &[PathBuf],
    jobs: usize,
    opts: &script::Options,
    printer: &mut Printer,
) -> Ran {
    if args.repeat.is_none() && !args.until_fail {
        let outcomes = suite::run_all(files, jobs, opts, |event| match event {
            Event::Started(path) => printer.started(path),
            Event::Finished(o) => printer.finished(o),
        });
        printer.done();
        let not_run = files.len() - outcomes.len();
        return (outcomes, not_run, None);
    }
    let rounds = Rounds {
        limit: args.repeat.map(|n| n as usize),
        until_fail: args.until_fail,
    };
    let (tallies, not_run) = repeat::run(files, jobs, opts, &rounds, printer);
    printer.done();
    for t in &tallies {
        printer.tallied(t);
    }
    let runs: usize = tallies.iter().map(|t| t.runs).sum();
    let passed: usize = tallies.iter().map(|t| t.passed).sum();
    (repeat::as_results(&tallies), not_run, Some((passed, runs)))
}

/// `N passed, N failed[, N skipped][ (N of M runs passed)]`.
fn closing(outcomes: &[suite::ScenarioResult], runs: Option<(usize, usize)>) -> String {
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let skipped = outcomes.iter().filter(|o| o.skipped.is_some()).count();
    let passed = outcomes.len() - failed - skipped;
    let mut closing = format!("{passed} passed, {failed} failed");
    if skipped > 0 {
        closing.push_str(&format!(", {skipped} skipped"));
    }
    if let Some((ok, runs)) = runs {
        let s = if runs == 1 { "" } else { "s" };
        closing.push_str(&format!(" ({ok} of {runs} run{s} passed)"));
    }
    closing
}

/// The snapshots `--accept` wrote: paths alone, one a line, for `git add`
/// and for review.
fn list_written_snapshots() {
    let mut written = snapshot::written().clone();
    written.sort();
    written.dedup();
    if !written.is_empty() {
        println!(
            "wrote {} snapshot{}:",
            written.len(),
            if written.len() == 1 { "" } else { "s" }
        );
        for path in &written {
            println!("{}", path.display());
        }
    }
}
