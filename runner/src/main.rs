use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use scenario::{keep, sandbox, script, snapshot, stop, suite};

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
    Run {
        /// Scenario files or folders (searched for *.rhai, skipping helper
        /// modules in lib/ folders and files starting with '_').
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        /// How many scenarios run at once [default: number of CPUs].
        #[arg(short, long, value_name = "N")]
        jobs: Option<usize>,
        /// Time limit of each scenario, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 60.0)]
        timeout: f64,
        /// Show what scenarios print even when they pass.
        #[arg(short, long)]
        verbose: bool,
        /// Write new and changed snapshots instead of failing on them
        /// (refused when CI is set: CI never writes snapshots).
        #[arg(long)]
        accept: bool,
        /// Keep the lab of a failed scenario alive, print how to enter each
        /// node, and wait for Enter (or Ctrl-C) before tearing it down.
        #[arg(long)]
        keep: bool,
    },
    /// Remove what a crashed `run --keep` left under /run/netns, and only
    /// that.
    Clean,
    /// Compile scenarios and the modules they import, without running them.
    /// Needs no privileges.
    Check {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

struct Style {
    color: bool,
}

impl Style {
    fn detect() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

struct RunArgs {
    paths: Vec<PathBuf>,
    jobs: Option<usize>,
    timeout: f64,
    verbose: bool,
    accept: bool,
    keep: bool,
}

fn run(args: RunArgs) -> ExitCode {
    let RunArgs {
        paths,
        jobs,
        timeout,
        verbose,
        accept,
        keep,
    } = args;
    if !(timeout > 0.0 && timeout.is_finite()) {
        return usage_error("--timeout must be a positive number of seconds");
    }
    if let Err(e) = snapshot::configure(accept) {
        return usage_error(&e);
    }
    let files = match suite::discover(&paths) {
        Ok(f) if f.is_empty() => {
            let list: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
            return usage_error(&format!(
                "no scenarios (*.rhai) found in {}",
                list.join(", ")
            ));
        }
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    // Still one thread: the user namespace can be entered only now.
    let mode = match sandbox::prepare() {
        Ok(m) => m,
        Err(e) => return usage_error(&e),
    };
    if let Err(e) = stop::install_handler() {
        return usage_error(&format!("cannot handle SIGINT and SIGTERM: {e}"));
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!(
        "running {} scenario{}, {} at a time, {}",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        jobs.min(files.len()),
        mode.describe()
    );
    let opts = script::Options {
        time_limit: Duration::from_secs_f64(timeout),
        keep: keep.then_some(mode),
    };
    let style = Style::detect();
    let start = Instant::now();
    let outcomes = suite::run_all(&files, jobs, &opts, |o| {
        let mut out = std::io::stdout().lock();
        let secs = o.duration.as_secs_f64();
        let label = match &o.failure {
            None => style.paint("32", "PASS"),
            Some(_) => style.paint("31;1", "FAIL"),
        };
        let _ = writeln!(out, "{label}  {}  ({secs:.2} s)", o.path.display());
        if (o.failure.is_some() || verbose) && !o.log.is_empty() {
            let _ = write!(out, "{}", indent(&format!("output:\n{}", o.log.join("\n"))));
        }
        if let Some(f) = &o.failure {
            let _ = write!(out, "{}", indent(f));
        }
        let _ = out.flush();
    });
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    println!();
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    eprintln!("finished in {:.2} s", start.elapsed().as_secs_f64());
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            paths,
            jobs,
            timeout,
            verbose,
            accept,
            keep,
        } => run(RunArgs {
            paths,
            jobs,
            timeout,
            verbose,
            accept,
            keep,
        }),
        Command::Check { paths } => check(&paths),
        Command::Clean => clean(),
    }
}
