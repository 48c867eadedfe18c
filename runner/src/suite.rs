//! Finding scenario files and running many of them in parallel, one lab
//! each, reporting each as it ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::script::{self, Options};

/// Helper modules live in `lib/` folders or in files whose name starts with
/// `_`; they are imported by scenarios, never run on their own. Rhai
/// definition files (`*.d.rhai`, from `scenario api`) are not scripts.
pub fn is_module(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('_') || n.ends_with(".d.rhai"))
        || path
            .parent()
            .is_some_and(|p| p.components().any(|c| c.as_os_str() == "lib"))
}

/// The scenarios under the given files and folders, each once, in a stable
/// order. A file named explicitly is taken even if it looks like a module.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            let mut inner = Vec::new();
            walk(p, &mut inner).map_err(|e| format!("{}: {e}", p.display()))?;
            inner.retain(|f| !is_module(f.strip_prefix(p).unwrap_or(f)));
            inner.sort();
            found.extend(inner);
        } else {
            found.push(p.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|f| seen.insert(f.clone()));
    Ok(found)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rhai") {
            out.push(path);
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub path: PathBuf,
    pub duration: Duration,
    /// The failure report, or `None` when the scenario passed.
    pub failure: Option<String>,
    /// Why the scenario did not run: something it requires is missing.
    pub skipped: Option<String>,
    /// What the script printed.
    pub log: Vec<String>,
    /// A fault scenario that passed: the report of the failure it expected.
    pub expected_failure: Option<String>,
    /// What `--report`'s page shows of a failure (with `Options::detail`).
    pub detail: Option<std::sync::Arc<crate::report::Failure>>,
}

/// The first thing a scenario requires that this machine lacks. A scenario
/// declares what it needs in header lines such as
/// `// requires: /usr/lib/cni/bridge (containernetworking-plugins)`: an
/// absolute path must exist, another name must be a program in PATH;
/// `br_netfilter` asks for bridge netfilter, and `privileged` for the
/// machine's own root (see [`privileged`]). `VAR=path` is a file the user
/// may put elsewhere: the one the environment variable names when it is
/// set, else `path`, relative to the project (the folder that holds the
/// scenario's `scenarios/` folder): a build the project keeps in a folder
/// of its own, such as `.cache/`.
pub fn missing_requirement(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("// requires:"))
        .find_map(|req| {
            let req = req.trim();
            let (what, why) = req
                .split_once(' ')
                .map_or((req, ""), |(w, r)| (w, r.trim()));
            if let Some((var, default)) = what.split_once('=') {
                let named = std::env::var(var).ok().filter(|v| !v.is_empty());
                let file = named
                    .clone()
                    .unwrap_or_else(|| project(path).join(default).display().to_string());
                let shown = match named {
                    Some(_) => format!("{file} (from {var})"),
                    None => file.clone(),
                };
                return (!Path::new(&file).exists())
                    .then(|| format!("requires {shown} {why}").trim_end().to_string());
            }
            let present = if what == "br_netfilter" {
                // Unknown (no namespace): the run fails on its own anyway.
                crate::facts::bridge_netfilter() != Some(false)
            } else if what == "privileged" {
                privileged(&std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default())
            } else if what.starts_with('/') {
                Path::new(what).exists()
            } else {
                which::which(what).is_ok()
            };
            (!present).then(|| format!("requires {what} {why}").trim_end().to_string())
        })
}

/// The folder that holds the `scenarios/` folder `scenario` is in (the
/// working directory for a scenario outside one).
fn project(scenario: &Path) -> &Path {
    scenario
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "scenarios"))
        .and_then(Path::parent)
        .unwrap_or(Path::new(""))
}

/// Whether the runner is root of the machine's first user namespace,
/// from its /proc/self/uid_map: there every uid maps to itself. Engines
/// (dockerd, rootful podman) need that root, for cgroups, mounts and
/// devices that root of a user namespace of the runner's own is refused;
/// rootless, the map holds the user's ids only.
fn privileged(uid_map: &str) -> bool {
    let fields: Vec<&str> = uid_map.split_whitespace().collect();
    nix::unistd::geteuid().is_root() && fields == ["0", "0", "4294967295"]
}

/// Runs one scenario on the calling thread. A panic inside the runner is a
/// failure of that scenario, not of the whole run.
pub fn run_one(path: &Path, opts: &Options) -> ScenarioResult {
    let start = Instant::now();
    if let Some(reason) = missing_requirement(path) {
        return ScenarioResult {
            path: path.to_path_buf(),
            duration: start.elapsed(),
            failure: None,
            skipped: Some(reason),
            log: Vec::new(),
            expected_failure: None,
            detail: None,
        };
    }
    let log = script::Log::default();
    let noted = script::Noted::default();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        script::run_file(path, opts, &log, &noted)
    }));
    let mut expected_failure = None;
    let failure = match result {
        Ok(Ok(expected)) => {
            expected_failure = expected;
            None
        }
        Ok(Err(report)) => Some(report),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Some(format!(
                "{}: internal error in the runner (a bug, please report it): {what}",
                path.display()
            ))
        }
    };
    let log = log.borrow().clone();
    let detail = noted
        .take()
        .filter(|_| failure.is_some())
        .map(std::sync::Arc::new);
    ScenarioResult {
        path: path.to_path_buf(),
        duration: start.elapsed(),
        failure,
        skipped: None,
        log,
        expected_failure,
        detail,
    }
}

/// What `run_all` tells its caller as the run goes.
pub enum Event<'a> {
    Started(&'a Path),
    Finished(&'a ScenarioResult),
}

/// Runs every file with at most `jobs` at once; `report` sees each start
/// and end as they happen. Returns the outcomes in the order of `files`,
/// without the scenarios a stop kept from starting.
pub fn run_all(
    files: &[PathBuf],
    jobs: usize,
    opts: &Options,
    mut report: impl FnMut(Event),
) -> Vec<ScenarioResult> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut outcomes: Vec<Option<ScenarioResult>> = vec![None; files.len()];
    thread::scope(|s| {
        for _ in 0..jobs.clamp(1, files.len().max(1)) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(file) = files.get(i) else { break };
                // A stopped run starts nothing new.
                if crate::stop::requested() || tx.send((i, None)).is_err() {
                    break;
                }
                if tx.send((i, Some(run_one(file, opts)))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, outcome) in rx {
            match outcome {
                None => report(Event::Started(&files[i])),
                Some(o) => {
                    report(Event::Finished(&o));
                    outcomes[i] = Some(o);
                }
            }
        }
    });
    outcomes.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_name_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("scenario-requires-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s.rhai");
        std::fs::write(
            &f,
            "// requires: sh\n// requires: /no/such/plugin (some-package)\nlet x = 1;\n",
        )
        .unwrap();
        assert_eq!(
            missing_requirement(&f).as_deref(),
            Some("requires /no/such/plugin (some-package)")
        );
        std::fs::write(&f, "// requires: sh\n// requires: /\n").unwrap();
        assert_eq!(missing_requirement(&f), None);
        // A variable no one sets: its default decides.
        std::fs::write(
            &f,
            "// requires: SCENARIO_UNSET_FOR_TESTS=/no/such/x (build it)\n",
        )
        .unwrap();
        assert_eq!(
            missing_requirement(&f).as_deref(),
            Some("requires /no/such/x (build it)")
        );
        std::fs::write(&f, "// requires: SCENARIO_UNSET_FOR_TESTS=/\n").unwrap();
        assert_eq!(missing_requirement(&f), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn privileged_is_the_machines_own_root() {
        let first = "         0          0 4294967295\n";
        assert_eq!(privileged(first), nix::unistd::geteuid().is_root());
        assert!(!privileged("         0       1000          1\n"));
        assert!(!privileged("0 1000 1\n1 100000 65536\n"));
        assert!(!privileged(""));
    }

    #[test]
    fn modules_are_not_scenarios() {
        assert!(is_module(Path::new("lib/net.rhai")));
        assert!(is_module(Path::new("article/_helpers.rhai")));
        assert!(is_module(Path::new("scenario.d.rhai")));
        assert!(!is_module(Path::new("article/01-reach-host.rhai")));
        assert!(!is_module(Path::new("library/x.rhai")));
    }

    #[test]
    fn discovery_is_sorted_and_skips_modules() {
        let dir = std::env::temp_dir().join(format!("scenario-discover-{}", std::process::id()));
        for f in [
            "b/02.rhai",
            "b/01.rhai",
            "a.rhai",
            "lib/m.rhai",
            "b/_h.rhai",
            "notes.txt",
        ] {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let found = discover(&[dir.clone(), dir.join("a.rhai")]).unwrap();
        let rel: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().to_str().unwrap())
            .collect();
        assert_eq!(rel, vec!["a.rhai", "b/01.rhai", "b/02.rhai"]);
        assert!(discover(&[dir.join("missing")]).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
