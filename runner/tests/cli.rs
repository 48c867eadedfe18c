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

/// `run` with ARGS on the fixture that fails every other run, its counter
/// in a fresh folder.
fn flaky(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "scenario-flaky-{}-{}",
        std::process::id(),
        args.join("_")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut argv = vec!["run"];
    argv.extend(args);
    argv.push("runner/tests/cli/fails-every-other-run.rhai");
    let o = common::scenario_cmd(&argv)
        .env("SCENARIO_TEST_COUNTER", &dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (out, err) = text(&o);
    (o.status.code(), out, err)
}

#[test]
fn repeat_finds_a_failure_of_one_run_in_two() {
    let (code, out, err) = flaky(&["--repeat", "4"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("1 scenario 4 times each"), "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("FAIL  runner/tests/cli/fails-every-other-run.rhai"))
        .unwrap_or_else(|| panic!("a line for the scenario: {out}"));
    assert!(line.contains("(2 of 4 runs passed; "), "{line}");
    assert!(
        line.contains(" s to ") && line.contains(", median "),
        "{line}"
    );
    // The first failure's report, once, and no other.
    assert!(out.contains("first failure, run 2:"), "{out}");
    assert!(out.contains("    run 2\n"), "the run's output: {out}");
    assert_eq!(
        out.matches("assert_ping(n, \"10.255.0.1\") failed").count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.lines().last(),
        Some("0 passed, 1 failed (2 of 4 runs passed)"),
        "{out}"
    );
}

#[test]
fn until_fail_stops_at_the_first_failed_run() {
    let (code, out, err) = flaky(&["--until-fail"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("(1 of 2 runs passed; "), "{out}");
    assert!(out.contains("first failure, run 2:"), "{out}");
    // Bounded by --repeat, and exit 0 when every run passed.
    let (code, out, err) = flaky(&["--until-fail", "--repeat", "1"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("PASS  runner/tests/cli/fails-every-other-run.rhai  (1 of 1 run passed; "),
        "{out}"
    );
    assert_eq!(
        out.lines().last(),
        Some("1 passed, 0 failed (1 of 1 run passed)"),
        "{out}"
    );
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
fn every_help_ends_with_where_the_guide_is() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["run", "--help"],
        &["run", "-h"],
        &["check", "--help"],
        &["clean", "--help"],
        &["graph", "--help"],
        &["api", "--help"],
        &["help", "run"],
    ] {
        let o = common::scenario_cmd(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let (out, _) = text(&o);
        let last = out.trim_end().lines().last().unwrap_or_default();
        assert!(
            out.contains("Guide: docs/ in the repository")
                && last.ends_with("docs/src/SUMMARY.md)."),
            "{args:?} does not end with the guide:\n{out}"
        );
        // NO_COLOR: no escape sequences, on a pipe or not.
        assert!(!out.contains('\x1b'), "{args:?}: {out:?}");
    }
}

#[test]
fn api_prints_a_markdown_reference_from_the_same_declarations() {
    let md = scenario(&["api", "--format", "markdown"]);
    let (out, err) = text(&md);
    assert_eq!(md.status.code(), Some(0), "{err}");
    assert!(out.starts_with("# The scenario API\n"), "{out}");
    // One section per group, in order, with its object types.
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {out}"))
    };
    assert!(at("## Building the lab") < at("## Commands and files"));
    assert!(at("## Commands and files") < at("## Probes and assertions"));
    assert!(at("### Type `Node`") < at("## Commands and files"));
    assert!(at("### Type `Service`") > at("## Services"));
    // Signatures in code spans in the script's types, documentation as
    // text, options as a table.
    assert!(out.contains(
        "`assert_tcp(client: Node, target: String, server: Node, port: int, options: map) -> map`"
    ));
    assert!(out.contains("| `seen_from` | the source address the listener must see |"));
    assert!(out.contains("`bridge(node: Node, name: String)`  \n`bridge(node: Node, name: String, cidr: String)`  \n\nA bridge, up,"));
    // The same functions as the Rhai definitions, no more and no fewer
    // (properties are listed under their type; how a value prints is not
    // part of the API).
    let (rhai, _) = text(&scenario(&["api"]));
    let defined = rhai
        .lines()
        .filter(|l| l.starts_with("fn ") && !l.starts_with("fn get "))
        .filter(|l| !l.starts_with("fn to_string(") && !l.starts_with("fn to_debug("))
        .count();
    let documented = out
        .lines()
        .filter(|l| l.starts_with('`') && l.ends_with("`  "))
        .count();
    assert_eq!(defined, documented, "{rhai}\n{out}");
    // The default stays Rhai definitions.
    assert!(rhai.contains("fn assert_ping(node: Node, target: string) -> ();"));
    assert_eq!(
        scenario(&["api", "--format", "html"]).status.code(),
        Some(2)
    );
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
    // Nor are argument types, which only running tells.
    let o = scenario(&["check", "runner/tests/fixtures/wrong-argument-type.rhai"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

#[test]
fn check_catches_mistakes_with_line_signatures_and_a_suggestion() {
    let f = "runner/tests/fixtures";
    let cases = [
        (
            "unknown-function",
            vec![
                "unknown-function.rhai:5: unknown function nodee; did you mean node?\n        node(name: String) -> Node\n        node(name: String, options: map) -> Node\n       | let h = nodee(\"host\");",
                "unknown-function.rhai:6: unknown function asert_ping; did you mean assert_ping?\n        assert_ping(node: Node, target: String)\n        assert_ping(node: Node, target: String, options: map)\n       | asert_ping(h, \"10.0.0.1\");",
            ],
        ),
        (
            "misspelt-method",
            vec!["misspelt-method.rhai:7: unknown function .sysclt; did you mean .sysctl?\n        sysctl(node: Node, key: String) -> String\n        sysctl(node: Node, key: String, value: String)\n        sysctl(node: Node, key: String, value: int)\n       | host.sysclt("],
        ),
        (
            "wrong-arity",
            vec![
                "wrong-arity.rhai:8: assert_tcp takes 4 or 5 arguments, not 3:\n        assert_tcp(client: Node, target: String, server: Node, port: int) -> map\n        assert_tcp(client: Node, target: String, server: Node, port: int, options: map) -> map\n       | assert_tcp(a, ",
                "wrong-arity.rhai:9: .bridge(…) takes 1 or 2 arguments after the dot, not 3:\n        bridge(node: Node, name: String)\n        bridge(node: Node, name: String, cidr: String)\n       | a.bridge(",
            ],
        ),
        (
            "unknown-module-function",
            vec!["unknown-module-function.rhai:5: module article has no function wrold; did you mean article::world?\n        article::world()\n        article::world(host_options)\n       | let world = article::wrold();"],
        ),
        (
            "undefined-variable",
            vec!["undefined-variable.rhai:5: undefined variable hots; did you mean host?\n       | hots.sysctl("],
        ),
    ];
    for (name, reports) in cases {
        let file = format!("{f}/{name}.rhai");
        let o = scenario(&["check", &file]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {out}{err}");
        assert!(out.starts_with(&format!("FAIL  {file}\n")), "{out}");
        for report in reports {
            assert!(
                out.contains(&format!("    {f}/{report}")),
                "{name}: lacks\n{report}\nin\n{out}"
            );
        }
        assert!(
            !out.contains("ImmutableString") && !out.contains("i64"),
            "{out}"
        );
    }
}

#[test]
fn run_reports_mistakes_the_same_way_before_building_anything() {
    let file = "runner/tests/fixtures/misspelt-method.rhai";
    let checked = text(&scenario(&["check", file])).0;
    let o = scenario(&["run", "--verbose", file]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let report: String = checked
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(report.contains("did you mean .sysctl?"), "{checked}");
    assert!(out.contains(&report), "run:\n{out}\ncheck:\n{report}");
    // --verbose logs every step; the node on line 6 was never made.
    assert!(!err.contains("node(\"host\")"), "{err}");
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

/// `scenario run` on a script of 1500 containers, with the open-file
/// limits set to (soft, hard) for the run.
fn run_1500_containers_with_limit(soft: u64, hard: u64) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!(
        "scenario-nofile-{}-{soft}-{hard}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("many.rhai");
    std::fs::write(
        &file,
        "let cs = containers(\"c\", 1500);\nif cs.len() != 1500 { throw \"short\"; }\n",
    )
    .unwrap();
    let mut cmd = common::scenario_cmd(&["run", file.to_str().unwrap()]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, soft, hard)
                .map_err(std::io::Error::from)
        });
    }
    let o = cmd.output().expect("the scenario binary runs");
    std::fs::remove_dir_all(&dir).unwrap();
    o
}

#[test]
fn a_low_soft_open_file_limit_is_raised_and_a_low_hard_one_is_named() {
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    assert!(
        hard >= 8192,
        "this test needs a hard limit of at least 8192, not {hard}"
    );
    let o = run_1500_containers_with_limit(1024, hard);
    let (out, err) = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let o = run_1500_containers_with_limit(1024, 1024);
    let (out, err) = common::text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("many.rhai:1: 1500 more node(s) need about")
            && out.contains("this process may open 1024 (hard limit 1024)")
            && out.contains("ulimit -Hn"),
        "{out}"
    );
}

/// A scenario's commands run in its own directory, whatever directory
/// `scenario` was started in: `nft -f fw.nft` and `cat data.txt` find the
/// files next to it, in a plain node, in a container (whose own /tmp hides
/// this scenario's directory, under /tmp) and in a service, and also when
/// an imported module's function runs them.
#[test]
fn commands_run_in_the_scenarios_directory() {
    let dir = std::env::temp_dir().join(format!("scenario-cwd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "fw.nft",
        "table inet scenario_cwd {\n  chain input {\n    type filter hook input priority 0; policy accept;\n  }\n}\n",
    );
    write("data.txt", "next to the scenario\n");
    write("lib/data.txt", "next to the module\n");
    write("lib/m.rhai", "fn read(n) { n.exec(\"cat data.txt\") }\n");
    write(
        "reads-files.rhai",
        r#"import "lib/m" as m;
let host = node("host");
host.exec("nft -f fw.nft");
let rules = host.exec("nft list table inet scenario_cwd");
if !rules.contains("chain input") { throw `nft -f did not load fw.nft: ${rules}`; }
if host.exec("pwd") != script_dir() { throw `pwd is ${host.exec("pwd")}, script_dir() ${script_dir()}`; }
let c = container("c");
let got = c.exec("cat data.txt");
if got != "next to the scenario" { throw `a container read ${got}`; }
let got = c.sh("cat ./data.txt");
if got != "next to the scenario" { throw `sh in a container read ${got}`; }
let got = m::read(host);
if got != "next to the scenario" { throw `a module's command read ${got}`; }
let s = c.spawn_sh("cat data.txt && sleep 30");
s.wait_output("next to the scenario");
s.stop();
"#,
    );
    let file = dir.join("reads-files.rhai");
    let o = common::scenario_cmd(&["run", file.to_str().unwrap()])
        .current_dir("/")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}

/// A program found on a PATH folder under the machine's /tmp runs in a node
/// whose own /tmp hides that folder.
#[test]
fn a_program_under_the_machines_tmp_runs_in_a_node_with_its_own_tmp() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::path::PathBuf::from(format!("/tmp/scenario-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("scenario-test-script");
    std::fs::write(&script, "#!/bin/sh\necho script says \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(
        which::which("echo").unwrap(),
        dir.join("scenario-test-echo"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = common::scenario_cmd(&["run", "runner/tests/cli/program-under-machine-tmp.rhai"])
        .env("PATH", path)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
}

/// The book's Docker example (docs/examples/docker.rhai, shown by the
/// Docker and podman how-to) runs as written, and is not skipped: the
/// scenario trials would only compile it where dockerd is missing.
#[test]
fn the_books_docker_example_runs_as_written() {
    let o = scenario(&["run", "docs/examples/docker.rhai"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("1 passed, 0 failed"),
        "the example must run, not be skipped: {out}{err}"
    );
}
