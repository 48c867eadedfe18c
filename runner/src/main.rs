//! The `scenario` command: parses the command line and hands each
//! subcommand to its file under `cli/`.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cli::{api, check, clean, graph, run};

/// The end of every help text: where the guide is.
const GUIDE: &str = "Guide: docs/ in the repository: `mdbook build docs` makes it a book in \
docs/book/, and its pages read as Markdown in docs/src/ (start at docs/src/SUMMARY.md).";

/// Build container networks in fresh namespaces from Rhai scripts and assert
/// what reaches what.
#[derive(Parser)]
#[command(name = "scenario", version, about, long_about = None, after_help = GUIDE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(after_help = GUIDE)]
    /// Run scenarios, each in a lab of fresh namespaces.
    ///
    /// Exit status: 0 when all passed, 1 when a scenario failed, 2 when
    /// nothing could be run (bad arguments, no privileges), 128+N when
    /// stopped by signal N (SIGINT, SIGTERM).
    ///
    /// As an ordinary user it runs in a user namespace of its own.
    Run(run::RunArgs),
    #[command(after_help = GUIDE)]
    /// Compile scenarios and the modules they import, without running them.
    /// Needs no privileges.
    Check {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    #[command(after_help = GUIDE)]
    /// Remove what a crashed `run --keep` left under /run/netns, and only
    /// that.
    Clean,
    #[command(after_help = GUIDE)]
    /// Print the topology a scenario builds: nodes, bridges, veth pairs,
    /// addresses. The lab is built and torn down; no assertion runs.
    Graph {
        /// The scenario.
        file: PathBuf,
        /// Graphviz dot, Mermaid (renders on GitHub), or SVG (needs Graphviz).
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
        /// Draw the lab as it is after LINE: only the top-level statements
        /// that begin on or before it run (one that begins there runs
        /// whole).
        #[arg(long, value_name = "LINE")]
        at: Option<usize>,
    },
    #[command(after_help = GUIDE)]
    /// Print the script API as Rhai definitions, for the Rhai language
    /// server (save it as scenario.d.rhai next to your scenarios), or as a
    /// Markdown reference.
    Api {
        /// Rhai definitions, or a Markdown reference (one section per
        /// group, signatures in code spans).
        #[arg(long, value_enum, default_value_t = ApiFormat::Rhai)]
        format: ApiFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ApiFormat {
    Rhai,
    Markdown,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
    Svg,
}

fn main() -> ExitCode {
    // A service's supervisor is this binary, started by the runner.
    scenario::supervise::serve_if_asked();
    scenario::open_files::raise();
    match Cli::parse().command {
        Command::Run(args) => run::run(args),
        Command::Check { paths } => check::check(&paths),
        Command::Clean => clean::clean(),
        Command::Graph { file, format, at } => graph::graph(&file, format, at),
        Command::Api { format } => api::api(format),
    }
}
