//! Runs one scenario script against a fresh lab, or only compiles it.

pub mod api;
pub mod modules;
pub mod report;

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{Engine, Scope};

use crate::lab::Lab;

#[derive(Debug, Clone)]
pub struct Options {
    /// The whole scenario must end within this, runaway loops included.
    pub time_limit: Duration,
    /// Keep the lab of a failed scenario for inspection (`--keep`), entered
    /// the way this mode allows.
    pub keep: Option<crate::sandbox::Mode>,
    /// Print each step and probe as it happens, with timings.
    pub verbose: bool,
    /// Whether assertions and snapshots run; `scenario graph` only builds.
    pub assertions: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            time_limit: Duration::from_secs(60),
            keep: None,
            verbose: false,
            assertions: true,
        }
    }
}

/// An engine with room for scenario code: Rhai's default nesting limits
/// are tight for a helper function with a loop in a loop.
fn new_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_expr_depths(256, 128);
    engine
}

/// What a scenario printed, for the report.
pub type Log = Rc<RefCell<Vec<String>>>;

/// Runs `path` in a lab of its own; the lab is gone when this returns.
/// The error is the report: file, line, what was expected and what happened.
pub fn run_file(path: &Path, opts: &Options, log: &Log) -> Result<(), String> {
    let (lab, result) = build(path, opts, log)?;
    if let Err(report) = &result {
        if let (Some(mode), false) = (opts.keep, crate::stop::requested()) {
            crate::keep::hold(&lab, path, mode, report);
        }
    }
    result
}

/// Runs `path` in a lab of its own and hands the lab back, still alive,
/// with the script's result. The outer error: the script could not start.
pub fn build(
    path: &Path,
    opts: &Options,
    log: &Log,
) -> Result<(Rc<Lab>, Result<(), String>), String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let lab = Rc::new(
        Lab::new(opts.verbose.then(|| file.clone()))
            .map_err(|e| format!("{file}: cannot start the lab's runtime: {e}"))?,
    );
    let mut engine = new_engine();
    engine.set_module_resolver(modules::RelativeResolver);
    let state = api::RunState::new(opts.assertions);
    api::register(&mut engine, lab.clone(), path, state.clone());
    let out = log.clone();
    engine.on_print(move |s| out.borrow_mut().push(s.to_string()));
    let out = log.clone();
    engine.on_debug(move |s, src, pos| {
        let at = report::location(src.unwrap_or(""), pos);
        out.borrow_mut().push(format!("[{at}] {s}"));
    });
    let limit = opts.time_limit;
    let deadline = Instant::now() + limit;
    engine.on_progress(move |ops| {
        if ops % 256 != 0 {
            return None;
        }
        if crate::stop::requested() {
            return Some("the run is being interrupted".into());
        }
        (Instant::now() > deadline).then(|| {
            format!(
                "the scenario ran longer than its time limit of {} s and was stopped \
                 (a loop that never ends? raise the limit with --timeout)",
                limit.as_secs_f64()
            )
            .into()
        })
    });
    let mut ast = engine
        .compile(&text)
        .map_err(|e| report::describe(&e.into(), &file))?;
    ast.set_source(file.as_str());
    let result = engine.run_ast_with_scope(&mut Scope::new(), &ast);
    drop(engine);
    let mut reports: Vec<String> = result
        .err()
        .map(|e| report::describe(&e, &file))
        .into_iter()
        .collect();
    reports.extend(state.mismatches.take());
    let result = if reports.is_empty() {
        Ok(())
    } else {
        Err(reports.join("\n"))
    };
    Ok((lab, expected(result, &state, &file)))
}

/// A fault scenario (`expect_failure`) passes when one of its assertions
/// failed, and fails when all passed; any other error still fails it.
fn expected(result: Result<(), String>, state: &api::RunState, file: &str) -> Result<(), String> {
    let Some(why) = state.expected_failure.borrow().clone() else {
        return result;
    };
    match result {
        Err(_) if state.assertion_failed.get() => Ok(()),
        Err(report) => Err(report),
        Ok(()) => Err(format!(
            "{file}: expected an assertion to fail ({why}), but every assertion passed: the fault went unnoticed"
        )),
    }
}

/// The script API as Rhai definition files, for the Rhai language server.
pub fn definitions() -> Result<String, String> {
    let lab = Rc::new(Lab::new(None).map_err(|e| format!("cannot set up: {e}"))?);
    let mut engine = new_engine();
    api::register(
        &mut engine,
        lab,
        Path::new("scenario.rhai"),
        api::RunState::new(true),
    );
    Ok(engine
        .definitions()
        .with_headers(true)
        .include_standard_packages(false)
        .single_file())
}

/// Compiles `path` and every file it imports, running nothing.
pub fn check_file(path: &Path) -> Result<(), String> {
    check_inner(path, None, &mut HashSet::new())
}

fn check_inner(
    path: &Path,
    importer: Option<&str>,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), String> {
    if !seen.insert(path.to_path_buf()) {
        return Ok(());
    }
    let file = path.display().to_string();
    let via = importer
        .map(|i| format!("\n  imported from {i}"))
        .unwrap_or_default();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}{via}"))?;
    let engine = new_engine();
    engine
        .compile(&text)
        .map_err(|e| format!("{}{via}", report::describe(&e.into(), &file)))?;
    for (line, target) in literal_imports(&text) {
        let module = modules::resolve_path(Some(&file), &target);
        check_inner(&module, Some(&format!("{file}:{line}")), seen)?;
    }
    Ok(())
}

/// `import "path"` statements with a literal path, with their line numbers.
/// Imports of computed paths can only be checked by running the script.
fn literal_imports(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let rest = line.trim_start().strip_prefix("import")?;
            let rest = rest.trim_start().strip_prefix('"')?;
            let end = rest.find('"')?;
            Some((i + 1, rest[..end].to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literal_imports() {
        let text = "// helpers\nimport \"../lib/net\" as net;\nlet x = 1;\n  import \"b\";\nlet important = 2;";
        assert_eq!(
            literal_imports(text),
            vec![(2, "../lib/net".to_string()), (4, "b".to_string())]
        );
    }
}
