//! `snapshot(name, text)`: one insta snapshot file per call, in a
//! `snapshots/` folder that mirrors `scenarios/`, so that a change in a
//! rule or a route is a diff to review like code. insta stores, compares
//! and writes the files, and its environment (`INSTA_UPDATE`, `CI`) and
//! `cargo insta review` work as they do for Rust tests; the runner turns a
//! mismatch into a scenario failure with a line diff.

use std::cell::Cell;
use std::path::{Component, Path, PathBuf};
use std::sync::Once;

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

/// Compares `text` with the stored snapshot; the error is the report.
pub fn assert(scenario: &Path, name: &str, text: &str) -> Result<(), String> {
    check_name(name)?;
    let (folder, stem) = location(scenario);
    let folder = std::path::absolute(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let snap_name = format!("{stem}__{name}");
    let file = folder.join(format!("{snap_name}.snap"));
    let old = insta::Snapshot::from_file(&file).ok();

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&folder);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(scenario);
    settings.set_omit_expression(true);
    settings.set_description(format!("snapshot(\"{name}\") in {}", scenario.display()));
    let matched = quietly(|| settings.bind(|| insta::assert_snapshot!(snap_name.as_str(), text)));
    if matched {
        return Ok(());
    }
    let shown = relative(&file);
    let pending = file.with_extension("snap.new");
    let next = if pending.exists() {
        format!(
            "the new version is in {}: review it with `cargo insta review`, or run again with `scenario run --accept`",
            relative(&pending).display()
        )
    } else if is_ci() {
        "nothing was written (CI is set)".to_string()
    } else {
        "accept it with `scenario run --accept` (or INSTA_UPDATE=always)".to_string()
    };
    let new = normalized(text);
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

/// Runs an insta assertion and says whether it held. insta reports a
/// mismatch by panicking; that panic is expected here and not printed.
fn quietly(f: impl FnOnce()) -> bool {
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
    let held = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
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
