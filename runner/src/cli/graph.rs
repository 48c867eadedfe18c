//! `scenario graph`: builds a scenario's lab without asserting, reads the
//! topology back from the kernel, and draws it.

use std::path::Path;
use std::process::ExitCode;

use super::output::indent;
use super::usage_error;
use crate::Format;
use scenario::graph::Topology;
use scenario::{sandbox, script};

pub fn graph(file: &Path, format: Format, at: Option<usize>) -> ExitCode {
    if let Some(line) = at {
        if let Err(e) = check_line(file, line) {
            return usage_error(&e);
        }
    }
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
        until_line: at,
        ..script::Options::default()
    };
    let log = script::Log::default();
    let (lab, result) = match script::run_in_lab(file, &opts, &log, &script::Noted::default()) {
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
        Ok(_) => ExitCode::SUCCESS,
        Err(report) => {
            eprintln!(
                "the scenario failed while building (the picture shows what was built):\n{}",
                indent(&report)
            );
            ExitCode::from(1)
        }
    }
}

/// A line the scenario has: a line past its end is a typo, not a request
/// for the whole lab.
fn check_line(file: &Path, line: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let lines = text.lines().count();
    if line == 0 || line > lines {
        return Err(format!(
            "--at {line}: {} has lines 1 to {lines}",
            file.display()
        ));
    }
    Ok(())
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
