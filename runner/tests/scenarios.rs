//! Every shipped scenario, every fixture under tests/fixtures, and every
//! example of the book (docs/examples), as a trial of its own:
//! `cargo test -- --list`, `cargo test article/04`. A book example that
//! needs a tool the machine lacks is still compiled (`scenario check`), so
//! that an example that rots fails the build.
//!
//! A fixture states what must go wrong with `// expect-error: TEXT` lines:
//! its report must contain every TEXT (file and line included). A fixture
//! without them must pass. `// timeout: SECS` sets its time limit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use scenario::script::Options;
use scenario::{snapshot, suite};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Expectations {
    errors: Vec<String>,
    timeout: Option<f64>,
}

fn expectations(text: &str) -> Expectations {
    let mut e = Expectations {
        errors: Vec::new(),
        timeout: None,
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("// expect-error:") {
            e.errors.push(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("// timeout:") {
            e.timeout = Some(rest.trim().parse().expect("// timeout: takes seconds"));
        }
    }
    e
}

fn check(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let expect = expectations(&text);
    let mut opts = Options::default();
    if let Some(t) = expect.timeout {
        opts.time_limit = Duration::from_secs_f64(t);
    }
    let outcome = suite::run_one(path, &opts);
    match (&outcome.failure, expect.errors.is_empty()) {
        (None, true) => Ok(()),
        (Some(report), true) => Err(report.clone().into()),
        (None, false) => Err(format!(
            "expected a failure containing {:?}, but the scenario passed",
            expect.errors
        )
        .into()),
        (Some(report), false) => {
            let missing: Vec<_> = expect
                .errors
                .iter()
                .filter(|e| !report.contains(e.as_str()))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("the failure report lacks {missing:?}; it was:\n{report}").into())
            }
        }
    }
}

fn main() {
    // Scenarios run in this process; their services' supervisors too.
    scenario::supervise::serve_if_asked();
    let args = Arguments::from_args();
    // Reports name files relative to the repository, as users run them.
    std::env::set_current_dir(root()).expect("the repository is there");
    scenario::snapshot::configure(false).expect("insta can be set up");
    // Without namespaces nothing here can run: say why, and under CI fail.
    let unable = scenario::sandbox::prepare().err();
    if let Some(reason) = &unable {
        let what = if snapshot::is_ci() {
            "fail (CI is set)"
        } else {
            "are ignored"
        };
        eprintln!("note: the scenario trials {what}: {reason}");
    }
    let mut trials = Vec::new();
    for (dir, kind) in [
        ("scenarios", "scenario"),
        ("runner/tests/fixtures", "fixture"),
        ("docs/examples", "example"),
    ] {
        for path in suite::discover(&[PathBuf::from(dir)]).expect("scenario folders exist") {
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .with_extension("")
                .display()
                .to_string();
            let trial = match unable.clone() {
                // A book example the machine cannot run is checked instead.
                None if kind == "example" && suite::missing_requirement(&path).is_some() => {
                    let why = suite::missing_requirement(&path).unwrap_or_default();
                    eprintln!("note: {name} is only checked, not run: {why}");
                    Trial::test(name, move || {
                        scenario::script::check_file(&path).map_err(Failed::from)
                    })
                }
                // Neither passed nor failed: ignored, with the reason.
                None if suite::missing_requirement(&path).is_some() => {
                    let why = suite::missing_requirement(&path).unwrap_or_default();
                    eprintln!("note: {name} is ignored: {why}");
                    Trial::test(name, || Ok(())).with_ignored_flag(true)
                }
                None => Trial::test(name, move || check(&path)),
                Some(reason) => {
                    let ignored = !snapshot::is_ci();
                    Trial::test(name, move || Err(reason.into())).with_ignored_flag(ignored)
                }
            };
            trials.push(trial.with_kind(kind));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
