//! `snapshot(name, text)`: one insta snapshot file per call, in a
//! `snapshots/` folder that mirrors `scenarios/`, so that a change in a
//! rule or a route is a diff to review like code. insta stores, compares
//! and writes the files, and its environment (`INSTA_UPDATE`, `CI`) and
//! `cargo insta review` work as they do for Rust tests; the runner turns a
//! mismatch into a scenario failure with a line diff.

use std::cell::Cell;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, Once};

use insta::internals::TextSnapshotContents;
use insta::TextSnapshotKind;

/// Whether the environment forbids writing snapshots (insta's own test).
pub fn is_ci() -> bool {
    match std::env::var("CI").ok().as_deref() {
        Some("false") | Some("0") | Some("") => false,
        None => std::env::var("TF_BUILD").is_ok(),
        Some(_) => true,
    }
}

/// Sets insta up for this process; call before any thread starts.
/// `accept` writes new and changed snapshots; under CI nothing is written.
pub fn configure(accept: bool) -> Result<(), String> {
    if is_ci() {
        if accept {
            return Err(
                "--accept writes snapshots, and CI is set: nothing is written under CI".into(),
            );
        }
        std::env::set_var("INSTA_UPDATE", "no");
    } else if accept {
        std::env::set_var("INSTA_UPDATE", "always");
    }
    // The report carries the diff; insta's own would interleave on stderr.
    if std::env::var_os("INSTA_OUTPUT").is_none() {
        std::env::set_var("INSTA_OUTPUT", "none");
    }
    // Otherwise insta asks `cargo metadata`, which a user's machine may not have.
    if std::env::var_os("INSTA_WORKSPACE_ROOT").is_none() {
        let cwd = std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?;
        std::env::set_var("INSTA_WORKSPACE_ROOT", cwd);
    }
    Ok(())
}

/// The folder and file-name stem of a scenario's snapshots:
/// `…/scenarios/article/02-x.rhai` → (`…/snapshots/article`, `02-x`).
/// A scenario outside any `scenarios/` folder keeps its snapshots in a
/// `snapshots/` folder beside it.
pub fn location(scenario: &Path) -> (PathBuf, String) {
    let stem = scenario
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let dir = scenario.parent().unwrap_or(Path::new(""));
    let parts: Vec<Component> = dir.components().collect();
    let folder = match parts.iter().rposition(|c| c.as_os_str() == "scenarios") {
        Some(i) => {
            let root: PathBuf = parts[..i].iter().collect();
            let below: PathBuf = parts[i + 1..].iter().collect();
            root.join("snapshots").join(below)
        }
        None => dir.join("snapshots"),
    };
    (folder, stem)
}

pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "snapshot name '{name}' must be 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Replacements applied to a snapshot's text before it is compared and
/// stored, for names a real stack picks at random (a CNI host veth
/// `veth1a2b3c4d`, a MAC): each a regex and what replaces its matches, in
/// order. insta applies them (its filters); the runner only checks the
/// regexes first, as insta panics on a bad one.
#[derive(Clone, Debug, Default)]
pub struct Redactions(Vec<(regex::Regex, String)>);

impl Redactions {
    pub fn add(&mut self, pattern: &str, replacement: &str) -> Result<(), String> {
        let re = regex::Regex::new(pattern).map_err(|e| {
            // The parser's message draws a caret under the pattern over
            // three lines; the report keeps one, its last.
            let e = e.to_string();
            let why = e.lines().last().unwrap_or_default();
            let why = why.strip_prefix("error: ").unwrap_or(why);
            format!("snapshot: redact: '{pattern}' is not a valid regular expression ({why})")
        })?;
        self.0.push((re, replacement.to_string()));
        Ok(())
    }

    /// The text as insta's filters make it, for the report's diff only:
    /// insta compares and stores its own filtered copy, which it keeps.
    fn apply(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, (re, with)| {
            re.replace_all(&t, with.as_str()).into_owned()
        })
    }
}

/// Where one `snapshot()` call is: the scenario and the line in it.
pub struct Call<'a> {
    pub scenario: &'a Path,
    pub line: u32,
    pub name: &'a str,
}

/// Compares `text` with the stored snapshot; the error is the report.
pub fn assert(call: &Call, text: &str, redact: &Redactions) -> Result<(), String> {
    let Call {
        scenario,
        line,
        name,
    } = *call;
    check_name(name)?;
    let (folder, stem) = location(scenario);
    let folder = std::path::absolute(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let snap_name = format!("{stem}__{name}");
    let file = folder.join(format!("{snap_name}.snap"));
    let pending = file.with_extension("snap.new");
    let old = insta::Snapshot::from_file(&file).ok();
    let before = std::fs::read(&file).ok();

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&folder);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(scenario);
    settings.set_omit_expression(true);
    settings.set_description(format!("snapshot(\"{name}\") in {}", scenario.display()));
    settings.set_filters(
        redact
            .0
            .iter()
            .map(|(re, with)| (re.as_str(), with.as_str()))
            .collect::<Vec<_>>(),
    );
    let workspace = workspace(scenario);
    let source = scenario.display().to_string();
    // insta's macro would name this Rust file as the snapshot's `source`;
    // its function under the macro takes the assertion's file and line, so
    // the scenario's are given instead.
    let outcome = quietly(|| {
        settings.bind(|| {
            insta::_macro_support::assert_snapshot(
                (snap_name.as_str(), text).into(),
                &workspace,
                "scenario",
                module_path!(),
                &source,
                line,
                "",
            )
        })
    });
    let matched = match outcome {
        Some(Ok(())) => true,
        Some(Err(e)) => {
            return Err(format!(
                "snapshot '{name}': insta could not compare or write {}: {e}",
                relative(&file).display()
            ))
        }
        None => false,
    };
    if std::fs::read(&file).ok() != before {
        // Written (--accept): what was pending for it is resolved.
        let _ = std::fs::remove_file(&pending);
        written().push(relative(&file));
    }
    if matched {
        return Ok(());
    }
    let shown = relative(&file);
    let rerun = format!("scenario run --accept {}", relative(scenario).display());
    let next = if pending.exists() {
        // cargo-insta reviews the .snap.new files; name it only where it is.
        let review = if which::which("cargo-insta").is_ok() {
            ", or review it with `cargo insta review`"
        } else {
            ""
        };
        format!(
            "the new version is in {}: accept it with `{rerun}`{review}",
            relative(&pending).display()
        )
    } else if is_ci() {
        "nothing was written (CI is set)".to_string()
    } else {
        format!("accept it with `{rerun}` (or INSTA_UPDATE=always)")
    };
    let new = normalized(&redact.apply(text));
    match old
        .as_ref()
        .and_then(|s| s.contents().as_text().map(|t| t.to_string() + "\n"))
    {
        None => Err(format!(
            "snapshot '{name}' is missing: {} does not exist; {next}\nnew snapshot:\n{}",
            shown.display(),
            new.lines().map(|l| format!("  {l}\n")).collect::<String>()
        )),
        Some(old) => Err(format!(
            "snapshot '{name}' differs from {}; {next}:\n{}",
            shown.display(),
            diff(("stored", &old), ("now", &new))
        )),
    }
}

/// The root insta records `source` and `input_file` relative to: the
/// current directory (or INSTA_WORKSPACE_ROOT) when the scenario is below
/// it, else the scenario's own project (the folder holding its
/// `scenarios/`, or its folder), as insta leaves out an `input_file` it
/// cannot name from the root.
fn workspace(scenario: &Path) -> PathBuf {
    let root = insta::_get_workspace_root!().as_path().to_path_buf();
    let below = |root: &Path| {
        let (Ok(root), Ok(file)) = (root.canonicalize(), scenario.canonicalize()) else {
            return false;
        };
        file.starts_with(root)
    };
    if below(&root) {
        return root;
    }
    let dir = scenario.parent().unwrap_or(Path::new(""));
    let parts: Vec<Component> = dir.components().collect();
    let project: PathBuf = match parts.iter().rposition(|c| c.as_os_str() == "scenarios") {
        Some(i) => parts[..i].iter().collect(),
        None => dir.to_path_buf(),
    };
    std::path::absolute(&project).unwrap_or(root)
}

/// The snapshot files this process wrote (new or changed), in order.
pub fn written() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    static WRITTEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    WRITTEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// The text as insta compares it (which drops the final newline).
fn normalized(text: &str) -> String {
    TextSnapshotContents::new(text.to_string(), TextSnapshotKind::File).to_string() + "\n"
}

/// A unified line diff, old text first, each side named.
pub fn diff((old_name, old): (&str, &str), (new_name, new): (&str, &str)) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(old_name, new_name)
        .to_string()
}

fn relative(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs an insta assertion: `None` when it did not hold. insta reports a
/// mismatch by panicking; that panic is expected here and not printed.
fn quietly<R>(f: impl FnOnce() -> R) -> Option<R> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let held = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(false));
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_mirror_the_scenarios_folder() {
        assert_eq!(
            location(Path::new("scenarios/article/02-reach-internet.rhai")),
            (
                PathBuf::from("snapshots/article"),
                "02-reach-internet".to_string()
            )
        );
        assert_eq!(
            location(Path::new("/src/proj/scenarios/a/b/x.rhai")),
            (PathBuf::from("/src/proj/snapshots/a/b"), "x".to_string())
        );
        assert_eq!(
            location(Path::new("scenarios/top.rhai")),
            (PathBuf::from("snapshots"), "top".to_string())
        );
        assert_eq!(
            location(Path::new("/tmp/t.rhai")),
            (PathBuf::from("/tmp/snapshots"), "t".to_string())
        );
    }

    #[test]
    fn names_are_file_name_safe() {
        assert!(check_name("nat").is_ok());
        assert!(check_name("host.routes-v6_1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("../escape").is_err());
        assert!(check_name("a b").is_err());
    }

    #[test]
    fn diffs_name_the_changed_line() {
        let d = diff(("stored", "a\nb\nc\n"), ("now", "a\nB\nc\n"));
        assert!(d.contains("-b\n") && d.contains("+B\n"), "{d}");
        assert!(d.contains("--- stored") && d.contains("+++ now"), "{d}");
    }
}
