//! The `scenario` command as users run it: exit codes, the closing line,
//! `check`, `--help`, and that the whole suite leaves the machine's own
//! network namespace as it was.

mod common;

use common::{machine_state, scenario, text};

#[test]
fn a_passing_run_exits_0_with_the_closing_line() {
    let o = scenario(&["run", "scenarios/article/01-reach-host.rhai"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("PASS  scenarios/article/01-reach-host.rhai"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("1 passed, 0 failed"), "{out}");
}

#[test]
fn a_failing_scenario_exits_1_and_reports_file_and_line() {
    let o = scenario(&[
        "run",
        "scenarios/article/01-reach-host.rhai",
        "runner/tests/fixtures/failing-command.rhai",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("FAIL  runner/tests/fixtures/failing-command.rhai"),
        "{out}"
    );
    assert!(
        out.contains("runner/tests/fixtures/failing-command.rhai:5: `iptables"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("1 passed, 1 failed"), "{out}");
}

#[test]
fn nothing_to_run_exits_2() {
    let o = scenario(&["run", "no/such/folder"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no/such/folder"), "{:?}", text(&o));

    let empty = std::env::temp_dir().join(format!("scenario-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let o = scenario(&["run", empty.to_str().unwrap()]);
    std::fs::remove_dir_all(&empty).unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no scenarios"), "{:?}", text(&o));

    let o = scenario(&["run", "--jobs", "many"]);
    assert_eq!(o.status.code(), Some(2));
    let o = scenario(&["run", "--timeout", "-3", "scenarios"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_everywhere() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["check", "--help"],
        &["--version"],
    ] {
        let o = scenario(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(!o.stdout.is_empty(), "{args:?}");
    }
    assert!(text(&scenario(&["run", "--help"]))
        .0
        .contains("Exit status"));
}

#[test]
fn check_compiles_scripts_and_their_imports_without_running_them() {
    let o = scenario(&["check", "scenarios"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.lines().any(|l| l == common::all_passed()), "{out}");

    let o = scenario(&["check", "runner/tests/fixtures/syntax-error.rhai"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .0
            .contains("runner/tests/fixtures/syntax-error.rhai:4: Syntax error"),
        "{:?}",
        text(&o)
    );

    let o = scenario(&["check", "runner/tests/cli/imports-broken-module.rhai"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("fixtures/syntax-error.rhai:4: Syntax error"),
        "{out}"
    );
    assert!(
        out.contains("imported from runner/tests/cli/imports-broken-module.rhai:1"),
        "{out}"
    );

    // Runtime errors are not check's business: this one only fails when run.
    let o = scenario(&["check", "runner/tests/fixtures/failing-command.rhai"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn the_machines_own_namespace_is_unchanged_by_the_whole_suite() {
    let before = machine_state();
    let o = scenario(&[
        "run",
        "scenarios",
        "runner/tests/fixtures",
        "--timeout",
        "5",
    ]);
    let (out, err) = text(&o);
    assert!(out.contains(" passed, "), "{out}{err}");
    let after = machine_state();
    assert_eq!(
        before, after,
        "the suite changed the machine's own network state"
    );
}
