//! Runs one scenario script against a fresh lab. The script API is
//! registered by the modules that implement it: `wiring` (nodes, links,
//! addresses), `commands`, `assert` (probes and their verdicts),
//! `observe` (state readers, snapshots) and `limits`; `args` holds what
//! they share. `check` compiles without running and finds calls that
//! cannot work (`calls`, `signatures`), before every run too.

mod args;
mod assert;
mod calls;
mod check;
mod commands;
mod declare;
mod failure;
mod limits;
mod modules;
mod observe;
mod options;
mod probe_options;
mod reference;
mod report;
mod run_state;
mod services;
mod signatures;
mod wiring;

pub use check::check_file;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Engine, Scope, Stmt, AST};

use self::declare::{Api, Declarations, Group};
pub use self::failure::Noted;
pub(crate) use self::run_state::Explainer;
use self::run_state::RunState;
use crate::lab::Lab;

/// Called with the live lab of a failed scenario, its file and the report,
/// before the lab is torn down (`--keep`). The command line passes it in.
pub type FailureHook = Arc<dyn Fn(&Lab, &Path, &str) + Send + Sync>;

#[derive(Clone)]
pub struct Options {
    /// The whole scenario must end within this, runaway loops included.
    pub time_limit: Duration,
    /// Sees the lab of a failed scenario before it goes.
    pub on_failure: Option<FailureHook>,
    /// Print each step and probe as it happens, with timings.
    pub verbose: bool,
    /// Whether assertions and snapshots run; `scenario graph` only builds.
    pub assertions: bool,
    /// Run only the top-level statements that begin on or before this
    /// line (`scenario graph --at LINE`).
    pub until_line: Option<usize>,
    /// How large the script's own data may grow.
    pub data: DataLimits,
    /// Gather what `--report`'s page shows of a failure.
    pub detail: bool,
}

/// How large a script's strings, arrays and maps may grow (Rhai counts
/// what nests inside, too): a runaway loop that doubles a string ends as
/// a failure at its line instead of taking the machine's memory. A
/// scenario raises them with header lines (`// max-string: 256M`), the
/// command line with `--max-string` and the like; the higher one counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataLimits {
    /// Bytes of one string.
    pub string: usize,
    /// Elements of one array, nested ones included.
    pub array: usize,
    /// Entries of one object map, nested ones included.
    pub map: usize,
}

impl Default for DataLimits {
    fn default() -> Self {
        DataLimits {
            string: 64 << 20,
            array: 1 << 17,
            map: 1 << 17,
        }
    }
}

impl DataLimits {
    /// These limits, raised where `text`'s header lines ask for more.
    pub fn with_header(self, text: &str) -> Result<DataLimits, String> {
        let mut out = self;
        for (i, line) in text.lines().enumerate() {
            let Some(rest) = line.trim().strip_prefix("// max-") else {
                continue;
            };
            let Some((key, value)) = rest.split_once(':') else {
                continue;
            };
            let slot = match key {
                "string" => &mut out.string,
                "array" => &mut out.array,
                "map" => &mut out.map,
                _ => continue,
            };
            let n =
                parse_size(value.trim()).map_err(|e| format!("line {}: max-{key}: {e}", i + 1))?;
            *slot = (*slot).max(n);
        }
        Ok(out)
    }
}

/// `4096`, `64K`, `256M`, `1G`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => {
            return Err(format!(
                "'{text}' is not a size (a number, or one with K, M or G)"
            ))
        }
    };
    digits
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{text}' is not a size (a number, or one with K, M or G)"))
}

impl Default for Options {
    fn default() -> Self {
        Options {
            time_limit: Duration::from_secs(60),
            on_failure: None,
            verbose: false,
            assertions: true,
            until_line: None,
            data: DataLimits::default(),
            detail: false,
        }
    }
}

/// An engine with room for scenario code: Rhai's default nesting limits
/// are tight for a helper function with a loop in a loop. A misspelt
/// variable is an error when the script is compiled, not a surprise
/// halfway through a lab.
pub(crate) fn new_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_expr_depths(256, 128);
    engine.set_strict_variables(true);
    // Rhai reserves `spawn` for threads it does not have; here it starts a
    // service (`n.spawn("dnsmasq …")`), so it is an ordinary name.
    #[allow(deprecated)]
    engine.on_parse_token(|token, _, _| match token {
        rhai::Token::Reserved(s) if s.as_str() == "spawn" => {
            rhai::Token::Identifier(Box::new("spawn".into()))
        }
        other => other,
    });
    engine
}

/// What a scenario printed, for the report.
pub type Log = Rc<RefCell<Vec<String>>>;

/// The whole script API on `engine`, bound to `lab`; what it declared.
fn register(
    engine: &mut Engine,
    lab: &Rc<Lab>,
    scenario: &Path,
    state: &Rc<RunState>,
) -> Declarations {
    let mut api = Api::new(engine);
    wiring::register(api.group(Group::Lab), lab);
    commands::register(api.group(Group::Commands), lab);
    services::register(api.group(Group::Services));
    assert::register(api.group(Group::Probes), lab, state);
    observe::register(api.group(Group::State), scenario, state);
    limits::register(api.group(Group::Limits), lab);
    // Lets the tests check that a panic inside the runner leaks nothing.
    if std::env::var_os("SCENARIO_TEST_PANIC").is_some() {
        api.engine()
            .register_fn("panic_for_tests", |msg: &str| -> () { panic!("{msg}") });
    }
    api.into_declarations()
}

/// A scenario's verdict: passed (with the report of the failure a fault
/// scenario expected), or the report of its failure.
pub type Outcome = Result<Option<String>, String>;

/// Runs `path` in a lab of its own; the lab is gone when this returns.
/// The error is the report: file, line, what was expected and what happened.
/// A fault scenario that passed gives the report of the failure it expected.
/// With [`Options::detail`], a failure's detail is left in `noted`.
pub fn run_file(path: &Path, opts: &Options, log: &Log, noted: &Noted) -> Outcome {
    let (lab, result) = run_in_lab(path, opts, log, noted)?;
    if let Err(report) = &result {
        if let (Some(hook), false) = (&opts.on_failure, crate::stop::requested()) {
            hook(&lab, path, report);
        }
    }
    result
}

/// Runs `path` in a lab of its own and hands the lab back, still alive,
/// with the script's result. The outer error: the script could not start.
pub fn run_in_lab(
    path: &Path,
    opts: &Options,
    log: &Log,
    noted: &Noted,
) -> Result<(Rc<Lab>, Outcome), String> {
    let file = path.display().to_string();
    // Commands run in the scenario's directory, whichever module's
    // function runs them: a scenario's files lie next to it.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let lab = Rc::new(
        Lab::new(opts.verbose.then(|| file.clone()), Some(dir))
            .map_err(|e| format!("{file}: cannot start the lab: {e}"))?,
    );
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let data = opts
        .data
        .with_header(&text)
        .map_err(|e| format!("{file}: {e}"))?;
    let mut engine = new_engine();
    engine.set_max_string_size(data.string);
    engine.set_max_array_size(data.array);
    engine.set_max_map_size(data.map);
    engine.set_module_resolver(modules::RelativeResolver);
    let state = RunState::new(opts.assertions);
    register(&mut engine, &lab, path, &state);
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
    // Nothing is built before the script and its imports pass the check.
    let api = signatures::Catalogue::of_engine(&engine);
    let mut ast = check::check(&engine, &api, path)?;
    if let Some(line) = opts.until_line {
        ast = until(&ast, line);
    }
    ast.set_source(file.as_str());
    let result = engine.run_ast_with_scope(&mut Scope::new(), &ast);
    drop(engine);
    let explained = state.explained.borrow();
    let evidence = explained
        .as_ref()
        .map(|x| (x.message.as_str(), x.text.as_str()));
    let mut reports: Vec<String> = result
        .as_ref()
        .err()
        .map(|e| report::describe(e, &file, &api, evidence))
        .into_iter()
        .collect();
    drop(explained);
    failure::note(noted, opts.detail, &result, (&file, &api), &state, &lab);
    reports.extend(state.mismatches.take());
    if !reports.is_empty() {
        // What the services said is often why.
        reports.extend(lab.service_reports());
    }
    let result = if reports.is_empty() {
        Ok(())
    } else {
        Err(reports.join("\n"))
    };
    Ok((lab, expected(result, &state, &file)))
}

/// The script cut after `line`: the top-level statements that begin on or
/// before it, in order; a statement that begins there runs whole (a loop,
/// a call over several lines). Functions stay, wherever they are defined.
fn until(ast: &AST, line: usize) -> AST {
    let kept: Vec<Stmt> = ast
        .statements()
        .iter()
        .take_while(|s| s.position().line().is_none_or(|l| l <= line))
        .cloned()
        .collect();
    AST::new(kept, ast.shared_lib().clone())
}

/// A fault scenario (`expect_failure`) passes when one of its assertions
/// failed (for the reason it names, if it names one), and fails when all
/// passed; any other error still fails it.
fn expected(result: Result<(), String>, state: &RunState, file: &str) -> Outcome {
    let Some((why, text)) = state.expected_failure.borrow().clone() else {
        return result.map(|()| None);
    };
    match result {
        Err(report) if state.assertion_failed.get() => match text {
            Some(t) if !diagnosis(state, &report).contains(&t) => Err(format!(
                "{file}: an assertion failed as expected ({why}), but its diagnosis does not say \"{t}\": the failure has another cause than the one expected\n{report}"
            )),
            _ => Ok(Some(report)),
        },
        Err(report) => Err(report),
        Ok(()) => Err(format!(
            "{file}: expected an assertion to fail ({why}), but every assertion passed: the fault went unnoticed"
        )),
    }
}

/// What a failure says the cause is: the verdict of its explanation (the
/// report's `stopped:` or `arrived:` line), where the probe was replayed;
/// the whole report otherwise.
fn diagnosis(state: &RunState, report: &str) -> String {
    match &*state.explained.borrow() {
        Some(x) => x
            .verdicts
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        None => report.to_string(),
    }
}

/// An engine with the whole API registered, bound to a lab that never
/// builds anything, and its declarations: what `scenario api` and
/// `scenario check` describe.
fn api_engine() -> Result<(Engine, Declarations, Rc<Lab>), String> {
    let lab = Rc::new(Lab::new(None, None).map_err(|e| format!("cannot set up: {e}"))?);
    let mut engine = new_engine();
    let declared = register(
        &mut engine,
        &lab,
        Path::new("scenario.rhai"),
        &RunState::new(true),
    );
    Ok((engine, declared, lab))
}

/// The script API as a Markdown reference, from the same declarations.
pub fn reference() -> Result<String, String> {
    let (_engine, declared, _lab) = api_engine()?;
    Ok(reference::markdown(&declared))
}

/// The script API as Rhai definition files, for the Rhai language server.
pub fn definitions() -> Result<String, String> {
    let (engine, _declared, _lab) = api_engine()?;
    let text = engine
        .definitions()
        .with_headers(true)
        .include_standard_packages(false)
        .single_file();
    // Rhai writes a function named like a reserved word as an operator,
    // without its parameters' names; `spawn` is a method here.
    Ok(text
        .replace(
            "op spawn(Node, string) -> Service;",
            "fn spawn(node: Node, command: string) -> Service;",
        )
        .replace(
            "op spawn(Node, string, map) -> Service;",
            "fn spawn(node: Node, command: string, options: map) -> Service;",
        ))
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn sizes_and_header_lines() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(
            parse_size("lots").is_err() && parse_size("0").is_err() && parse_size("9T").is_err()
        );
        let d = DataLimits::default();
        let raised = d
            .with_header("// max-string: 256M\n// max-array: 10\nlet x = 1;\n")
            .unwrap();
        assert_eq!(raised.string, 256 << 20);
        assert_eq!(raised.array, d.array, "a header line never lowers a limit");
        let e = d.with_header("\n// max-map: many\n").unwrap_err();
        assert_eq!(
            e,
            "line 2: max-map: 'many' is not a size (a number, or one with K, M or G)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_cut_at_a_line_keeps_what_begins_by_it_and_every_function() {
        let engine = new_engine();
        let text = "let a = [];\nfor i in 0..3 {\n    a.push(i);\n}\na.push(f());\nfn f() { 9 }\na";
        let ast = engine.compile(text).unwrap();
        // Line 3 is inside the loop, which begins on line 2: it runs whole.
        let cut = until(&ast, 3);
        assert_eq!(cut.statements().len(), 2);
        assert_eq!(cut.iter_functions().count(), 1);
        let mut whole = until(&ast, 7);
        whole.set_source("t.rhai");
        let out: rhai::Array = engine.eval_ast(&whole).unwrap();
        let got: Vec<i64> = out.into_iter().map(|v| v.as_int().unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 9]);
        assert!(until(&ast, 1).statements().len() == 1);
    }
}
