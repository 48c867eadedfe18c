//! What `scenario run` prints: a line per scenario as it ends (the report
//! below a failure), a progress line on a terminal, colour only on a
//! terminal and never with NO_COLOR.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scenario::repeat::Tally;
use scenario::suite::ScenarioResult;

use super::keep::Shown;

#[derive(Clone, Copy, PartialEq)]
pub enum Detail {
    /// Failures and the closing line only.
    Quiet,
    Normal,
    /// Also each step as it happens, and what scenarios print.
    Verbose,
}

pub struct Printer {
    color: bool,
    detail: Detail,
    progress: Option<ProgressBar>,
    running: Vec<PathBuf>,
    /// Failures whose report the `--keep` prompt already printed.
    shown: Shown,
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Printer {
    pub fn new(detail: Detail, total: usize, shown: Shown) -> Printer {
        let color = !no_color() && std::io::stdout().is_terminal();
        // Steps print to stderr as they happen in verbose mode: no bar then.
        let progress = (detail != Detail::Verbose && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let template = if no_color() {
                "{pos}/{len} {elapsed} {wide_msg}"
            } else {
                "{spinner:.cyan} {pos}/{len} {elapsed} {wide_msg}"
            };
            bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Printer {
            color,
            detail,
            progress,
            running: Vec::new(),
            shown,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn refresh(&self) {
        if let Some(bar) = &self.progress {
            let names: Vec<String> = self
                .running
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            bar.set_message(format!("running {}", names.join(", ")));
        }
    }

    pub fn started(&mut self, path: &Path) {
        self.running.push(path.to_path_buf());
        self.refresh();
    }

    pub fn finished(&mut self, o: &ScenarioResult) {
        self.ran(o);
        let mut text = String::new();
        let failed = o.failure.is_some();
        if let Some(why) = &o.skipped {
            if self.detail != Detail::Quiet {
                let label = self.paint("33", "SKIP");
                text.push_str(&format!("{label}  {}  ({why})\n", o.path.display()));
            }
        } else if failed || self.detail != Detail::Quiet {
            let label = if failed {
                self.paint("31;1", "FAIL")
            } else {
                self.paint("32", "PASS")
            };
            text.push_str(&format!(
                "{label}  {}  ({:.2} s)\n",
                o.path.display(),
                o.duration.as_secs_f64()
            ));
        }
        if (failed || self.detail == Detail::Verbose) && !o.log.is_empty() {
            text.push_str(&indent(&format!("output:\n{}", o.log.join("\n"))));
        }
        if let (Some(report), Detail::Verbose) = (&o.expected_failure, self.detail) {
            text.push_str(&indent(&format!("failed as expected:\n{report}")));
        }
        if let Some(report) = &o.failure {
            let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
            if shown.contains(&o.path) {
                text.push_str(&indent("(the report is above, where the lab was kept)"));
            } else {
                text.push_str(&indent(report));
            }
        }
        self.print(&text);
    }

    /// A run ended whose line waits for the others (`--repeat`).
    pub fn ran(&mut self, o: &ScenarioResult) {
        if let Some(i) = self.running.iter().position(|p| p == &o.path) {
            self.running.remove(i);
        }
        if let Some(bar) = &self.progress {
            bar.inc(1);
        }
        self.refresh();
    }

    /// More runs to come than the progress line knew (`--until-fail`).
    pub fn more(&self, runs: usize) {
        if let Some(bar) = &self.progress {
            bar.inc_length(runs as u64);
        }
    }

    /// A scenario's line after all its runs (`--repeat`): how many passed,
    /// the time spread, and the first failure's report.
    pub fn tallied(&self, t: &Tally) {
        let mut text = String::new();
        if let Some(why) = &t.skipped {
            if self.detail != Detail::Quiet {
                let label = self.paint("33", "SKIP");
                text.push_str(&format!("{label}  {}  ({why})\n", t.path.display()));
            }
            return self.print(&text);
        }
        let failed = t.failed();
        if failed || self.detail != Detail::Quiet {
            let label = if failed {
                self.paint("31;1", "FAIL")
            } else {
                self.paint("32", "PASS")
            };
            text.push_str(&format!(
                "{label}  {}  ({})\n",
                t.path.display(),
                t.describe()
            ));
        }
        if let Some((n, o)) = &t.first_failure {
            text.push_str(&indent(&format!("first failure, run {n}:")));
            if !o.log.is_empty() {
                text.push_str(&indent(&format!("output:\n{}", o.log.join("\n"))));
            }
            let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
            if shown.contains(&o.path) {
                text.push_str(&indent("(the report is above, where the lab was kept)"));
            } else {
                text.push_str(&indent(o.failure.as_deref().unwrap_or_default()));
            }
        }
        self.print(&text);
    }

    /// Prints above the progress line.
    pub fn print(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        let write = || {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        match &self.progress {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    pub fn done(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
    }
}

pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
