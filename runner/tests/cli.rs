//! The `scenario` command as users run it: exit codes, the closing line,
//! `check`, `--help`, and that nothing outlives a run or changes the
//! machine's own network namespace.

use std::path::Path;
use std::process::{Command, Output};

fn scenario(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scenario"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("NO_COLOR", "1")
        .output()
        .expect("the scenario binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

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
    assert!(out.contains("5 passed, 0 failed"), "{out}");

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

fn marked_sleeps() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("3127."))
        .collect()
}

#[test]
fn no_process_outlives_a_failed_run() {
    let o = scenario(&["run", "runner/tests/cli/leaky.rhai"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("failing on purpose"), "{out}");
    assert_eq!(
        marked_sleeps(),
        Vec::<String>::new(),
        "processes started by the scenario are still running"
    );
}

/// The machine's own network state, as far as a scenario could change it.
fn machine_state() -> String {
    let mut state = String::new();
    let run = |argv: &[&str]| {
        Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_else(|e| format!("{argv:?}: {e}"))
    };
    for argv in [
        &["ip", "-o", "link"][..],
        &["ip", "-o", "addr"],
        &["ip", "route", "show", "table", "all"],
        &["ip", "-6", "route", "show", "table", "all"],
        &["ip", "rule"],
        &["ip", "netns", "list"],
        &["nft", "list", "ruleset"],
        &["iptables-save"],
        &["ip6tables-save"],
    ] {
        state.push_str(&format!("== {}\n", argv.join(" ")));
        for line in run(argv).lines() {
            // Counters and timestamps move with the machine's own traffic.
            if line.starts_with('#') {
                continue;
            }
            let line = regex_lite_counters(line);
            state.push_str(&line);
            state.push('\n');
        }
    }
    for key in [
        "net/ipv4/ip_forward",
        "net/ipv6/conf/all/forwarding",
        "net/ipv4/conf/all/rp_filter",
    ] {
        let v = std::fs::read_to_string(format!("/proc/sys/{key}")).unwrap_or_default();
        state.push_str(&format!("{key} = {v}"));
    }
    state
}

/// `[12:345]` → `[n:n]`, `packets 3 bytes 180` → `packets n bytes n`.
fn regex_lite_counters(line: &str) -> String {
    let mut out = String::new();
    let mut words = line.split(' ').peekable();
    while let Some(w) = words.next() {
        if w.starts_with('[') && w.ends_with(']') && w.contains(':') {
            out.push_str("[n:n]");
        } else if (w == "packets" || w == "bytes") && words.peek().is_some() {
            out.push_str(w);
            out.push_str(" n");
            words.next();
        } else {
            out.push_str(w);
        }
        out.push(' ');
    }
    out
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

/// Runs the binary as the unprivileged user `nobody`.
fn scenario_as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_scenario"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv (util-linux) runs")
}

#[test]
fn check_needs_no_privileges_and_run_says_what_is_missing() {
    let o = scenario_as_nobody(&["check", "scenarios"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("5 passed, 0 failed"), "{out}");

    let o = scenario_as_nobody(&["run", "scenarios"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("cannot create network namespaces"), "{err}");
    assert!(
        err.contains("root") && err.contains("--privileged"),
        "{err}"
    );
}
