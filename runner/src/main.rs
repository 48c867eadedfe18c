mod cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use cli::output::{indent, Detail, Printer};
use scenario::facts::Facts;
use scenario::graph::Topology;
use scenario::select::{self, Shard};
use scenario::suite::{self, Event};
use scenario::{junit, keep, sandbox, script, snapshot, stop};

/// Build container networks in fresh namespaces from Rhai scripts and assert
/// what reaches what.
#[derive(Parser)]
#[command(name = "scenario", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios, each in a lab of fresh namespaces.
    ///
    /// Exit status: 0 when all passed, 1 when a scenario failed, 2 when
    /// nothing could be run (bad arguments, no privileges), 128+N when
    /// stopped by signal N (SIGINT, SIGTERM).
    ///
    /// As an ordinary user it runs in a user namespace of its own.
    Run(RunArgs),
    /// Compile scenarios and the modules they import, without running them.
    /// Needs no privileges.
    Check {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Remove what a crashed `run --keep` left under /run/netns, and only
    /// that.
    Clean,
    /// Print the topology a scenario builds: nodes, bridges, veth pairs,
    /// addresses. The lab is built and torn down; no assertion runs.
    Graph {
        /// The scenario.
        file: PathBuf,
        /// Graphviz dot, Mermaid (renders on GitHub), or SVG (needs Graphviz).
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
    },
    /// Print the script API as Rhai definitions, for the Rhai language
    /// server (save it as scenario.d.rhai next to your scenarios).
    Api,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Dot,
    Mermaid,
    Svg,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario files or folders (searched for *.rhai, skipping helper
    /// modules in lib/ folders, files starting with '_', and *.d.rhai).
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// How many scenarios run at once [default: number of CPUs].
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
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn run(args: RunArgs) -> ExitCode {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return usage_error("--timeout must be a positive number of seconds");
    }
    if let Err(e) = snapshot::configure(args.accept) {
        return usage_error(&e);
    }
    let found = match suite::discover(&args.paths) {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    if found.is_empty() {
        let list: Vec<_> = args.paths.iter().map(|p| p.display().to_string()).collect();
        return usage_error(&format!(
            "no scenarios (*.rhai) found in {}",
            list.join(", ")
        ));
    }
    let files = select::select(found, &args.filter, args.shard);
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
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let facts = Facts::gather(mode);
    let detail = match (args.quiet, args.verbose) {
        (true, _) => Detail::Quiet,
        (_, true) => Detail::Verbose,
        _ => Detail::Normal,
    };
    if detail != Detail::Quiet {
        eprintln!(
            "running {} scenario{}, {} at a time; {}",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            jobs.min(files.len()).max(1),
            facts.line()
        );
    }
    let opts = script::Options {
        time_limit: Duration::from_secs_f64(args.timeout),
        keep: args.keep.then_some(mode),
        verbose: args.verbose,
        ..script::Options::default()
    };
    let mut printer = Printer::new(detail, files.len());
    let start = Instant::now();
    let outcomes = suite::run_all(&files, jobs, &opts, |event| match event {
        Event::Started(path) => printer.started(path),
        Event::Finished(o) => printer.finished(o),
    });
    printer.done();
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let skipped = outcomes.iter().filter(|o| o.skipped.is_some()).count();
    if detail != Detail::Quiet {
        println!();
    }
    let passed = outcomes.len() - failed - skipped;
    if skipped == 0 {
        println!("{passed} passed, {failed} failed");
    } else {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    }
    if detail != Detail::Quiet {
        eprintln!("finished in {:.2} s", start.elapsed().as_secs_f64());
    }
    if let Some(file) = &args.junit {
        if let Err(e) = junit::write(file, &outcomes, &facts, start.elapsed()) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(sig) = stop::signal() {
        eprintln!(
            "stopped by {}: {} of {} scenarios did not run",
            stop::name(sig),
            files.len() - outcomes.len(),
            files.len()
        );
        return ExitCode::from((128 + sig) as u8);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn check(paths: &[PathBuf]) -> ExitCode {
    let files = match suite::discover(paths) {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    let mut failed = 0;
    for f in &files {
        if let Err(e) = script::check_file(f) {
            failed += 1;
            println!("FAIL  {}\n{}", f.display(), indent(&e));
        } else {
            println!("ok    {}", f.display());
        }
    }
    println!("{} passed, {failed} failed", files.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn clean() -> ExitCode {
    match keep::clean() {
        Ok(removed) if removed.is_empty() => {
            println!("nothing to clean under /run/netns");
            ExitCode::SUCCESS
        }
        Ok(removed) => {
            for p in removed {
                println!("removed {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn graph(file: &Path, format: Format) -> ExitCode {
    let dot = match format {
        Format::Svg => match scenario::exec::locate("dot") {
            Ok(d) => Some(d),
            Err(_) => {
                return usage_error(
                    "--format svg needs Graphviz's dot: apt-get install -y graphviz",
                )
            }
        },
        _ => None,
    };
    if let Err(e) = sandbox::prepare() {
        return usage_error(&e);
    }
    let opts = script::Options {
        assertions: false,
        ..script::Options::default()
    };
    let log = script::Log::default();
    let (lab, result) = match script::build(file, &opts, &log) {
        Ok(built) => built,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let topology = match Topology::read(&lab) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read the lab back: {e}");
            return ExitCode::from(1);
        }
    };
    drop(lab);
    let text = match (format, dot) {
        (Format::Mermaid, _) => topology.mermaid(),
        (Format::Svg, Some(dot)) => match render_svg(&dot, &topology.dot()) {
            Ok(svg) => svg,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        },
        _ => topology.dot(),
    };
    print!("{text}");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            eprintln!(
                "the scenario failed while building (the picture shows what was built):\n{}",
                indent(&report)
            );
            ExitCode::from(1)
        }
    }
}

fn render_svg(dot: &Path, source: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = std::process::Command::new(dot)
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dot: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(source.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn api() -> ExitCode {
    match script::definitions() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(&e),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Check { paths } => check(&paths),
        Command::Clean => clean(),
        Command::Graph { file, format } => graph(&file, format),
        Command::Api => api(),
    }
}
