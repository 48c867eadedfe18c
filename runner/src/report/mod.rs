//! `scenario run --report DIR`: what a person opens from a CI artifact.
//! `DIR/index.html` is one self-contained page (styles and pictures
//! inline, nothing fetched, no script): every scenario's result and the
//! run's facts, then each failure with its line of code, what was expected
//! and what happened, the probe's path drawn on the lab's topology, the
//! rules that moved, each node's state, services' output and snapshot
//! diffs. Each failure's watched frames go to `DIR/<scenario>/*.pcapng`,
//! one interface block per lab interface, for Wireshark.

mod html;
mod layout;
mod pcapng;
mod section;
mod sections;
mod stop;
mod svg;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::explain::verdict::Explanation;
use crate::facts::Facts;
use crate::graph::Topology;
use crate::suite::ScenarioResult;

pub use pcapng::{read_back, Capture};

/// What the page shows of a failed run, gathered while its lab lived.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Where it failed: the innermost file and line of a call chain, and
    /// that line of code.
    pub file: String,
    pub line: Option<usize>,
    pub code: Option<String>,
    /// The error's message (a failed assertion's: what was expected and
    /// what happened); empty when only snapshots mismatched.
    pub message: String,
    /// The failed assertion's replay, when there was one.
    pub explanation: Option<Explanation>,
    /// The lab as the kernel had it when the run failed.
    pub topology: Result<Topology, String>,
    /// What the lab's services said.
    pub services: Vec<String>,
    /// Snapshot mismatches, as the terminal shows them.
    pub mismatches: Vec<String>,
}

/// What a report wrote: the page, and each failed scenario's files (its
/// page and captures), for JUnit's attachments.
#[derive(Debug, Default)]
pub struct Written {
    pub page: PathBuf,
    pub attachments: Vec<(PathBuf, Vec<PathBuf>)>,
}

impl Written {
    /// The files that belong to the scenario at `path`.
    pub fn of(&self, path: &Path) -> &[PathBuf] {
        self.attachments
            .iter()
            .find(|(p, _)| p == path)
            .map_or(&[][..], |(_, files)| files.as_slice())
    }
}

/// The run as the page tells it.
pub struct Run<'a> {
    pub outcomes: &'a [ScenarioResult],
    pub facts: &'a Facts,
    pub total: Duration,
}

/// Writes `dir/index.html` and the captures of each failure.
pub fn write(dir: &Path, run: &Run) -> Result<Written, String> {
    let mkdir = |d: &Path| {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))
    };
    mkdir(dir)?;
    let page = dir.join("index.html");
    let mut written = Written {
        page: page.clone(),
        attachments: Vec::new(),
    };
    let mut captures: Vec<(PathBuf, Capture)> = Vec::new();
    for o in run.outcomes.iter().filter(|o| o.failure.is_some()) {
        let mut files = vec![page.clone()];
        let frames = o
            .detail
            .as_ref()
            .and_then(|d| d.explanation.as_ref())
            .map(|x| &x.frames)
            .filter(|f| !f.frames.is_empty());
        if let (Some(frames), Some(d)) = (frames, &o.detail) {
            let folder = slug(&o.path);
            mkdir(&dir.join(&folder))?;
            let name = match d.line {
                Some(l) => format!("{folder}/probe-line-{l}.pcapng"),
                None => format!("{folder}/probe.pcapng"),
            };
            let file = dir.join(&name);
            let capture = pcapng::write(&file, frames)?;
            files.push(file);
            captures.push((o.path.clone(), Capture { name, ..capture }));
        }
        written.attachments.push((o.path.clone(), files));
    }
    let text = html::page(run, &captures).into_string();
    std::fs::write(&page, text).map_err(|e| format!("cannot write {}: {e}", page.display()))?;
    Ok(written)
}

/// A scenario's path as one folder name and page anchor:
/// `scenarios/faults/02-no-masquerade.rhai` → `scenarios-faults-02-no-masquerade`.
pub fn slug(path: &Path) -> String {
    let text = path.with_extension("").display().to_string();
    let mut out = String::new();
    for c in text.trim_start_matches("./").chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => out.push(c),
            _ if !out.ends_with('-') => out.push('-'),
            _ => {}
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_one_folder_name() {
        assert_eq!(
            slug(Path::new("scenarios/faults/02-no-masquerade.rhai")),
            "scenarios-faults-02-no-masquerade"
        );
        assert_eq!(slug(Path::new("./a b/../c.rhai")), "a-b-c");
    }
}
