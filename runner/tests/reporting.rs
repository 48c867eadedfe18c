//! What the runner tells people and machines: JUnit XML, pictures of the
//! topology, shards and filters, quiet and verbose output, the API file.

mod common;

use std::collections::BTreeSet;

use common::{scenario, text};

#[test]
fn junit_has_one_testcase_per_scenario_with_the_report_and_the_facts() {
    let file = std::env::temp_dir().join(format!("scenario-junit-{}.xml", std::process::id()));
    let o = scenario(&[
        "run",
        "--junit",
        file.to_str().unwrap(),
        "scenarios/article/01-reach-host.rhai",
        "runner/tests/fixtures/failing-command.rhai",
    ]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let xml = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2, "{xml}");
    let names: BTreeSet<_> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert!(
        names.contains("scenarios/article/01-reach-host.rhai"),
        "{names:?}"
    );
    assert!(cases.iter().all(|c| c.attribute("time").is_some()));
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 1, "{xml}");
    let report = failures[0].text().unwrap_or_default();
    assert!(report.contains("failing-command.rhai:5"), "{report}");
    let props: BTreeSet<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("property"))
        .map(|p| p.attribute("name").unwrap())
        .collect();
    for p in ["kernel", "iptables", "br_netfilter", "privileges"] {
        assert!(props.contains(p), "property {p} in {xml}");
    }
}

#[test]
fn graph_draws_every_node_bridge_and_address() {
    for format in ["dot", "mermaid"] {
        let o = scenario(&[
            "graph",
            "--format",
            format,
            "scenarios/article/04-publish-with-dnat.rhai",
        ]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}{err}");
        for needle in [
            "lan (node)",
            "host (node)",
            "isp (node)",
            "laptop (node)",
            "bird (container)",
            "fish (container)",
            "sw0",
            "testbridge",
            "198.51.100.5/24",
            "198.51.100.7/24",
            "203.0.113.114/32",
            "172.29.0.1/24",
            "172.29.0.2/24",
            "172.29.0.3/24",
        ] {
            assert!(out.contains(needle), "{format}: {needle} missing in\n{out}");
        }
    }
    let dot = text(&scenario(&[
        "graph",
        "scenarios/article/01-reach-host.rhai",
    ]))
    .0;
    assert!(
        dot.contains("\"host/v-bird\" -- \"bird/eth0\""),
        "the veth pair is drawn: {dot}"
    );
    assert!(
        dot.contains("\"host/v-bird\" -- \"host/testbridge\" [style=dashed]"),
        "{dot}"
    );
}

#[test]
fn graph_at_a_line_draws_the_lab_as_it_is_then() {
    // 04 attaches bird on line 15 and fish on line 16.
    let file = "scenarios/article/04-publish-with-dnat.rhai";
    let o = scenario(&["graph", "--at", "15", file]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("\"host/v-bird\" -- \"bird/eth0\""), "{out}");
    assert!(out.contains("172.29.0.2/24"), "{out}");
    assert!(
        !out.contains("v-fish"),
        "fish is attached on line 16: {out}"
    );
    assert!(!out.contains("laptop"), "laptop comes on line 17: {out}");
    assert!(
        out.contains("fish (container)"),
        "fish exists from line 14: {out}"
    );

    let whole = text(&scenario(&["graph", "--at", "35", file])).0;
    assert!(
        whole.contains("v-fish") && whole.contains("laptop (node)"),
        "{whole}"
    );

    for bad in ["0", "36"] {
        let o = scenario(&["graph", "--at", bad, file]);
        assert_eq!(o.status.code(), Some(2), "--at {bad}: {:?}", text(&o));
        assert!(text(&o).1.contains("has lines 1 to 35"), "{:?}", text(&o));
    }
}

fn listed(args: &[&str]) -> Vec<String> {
    let mut all = vec!["run", "--list"];
    all.extend_from_slice(args);
    all.push("scenarios");
    all.push("runner/tests/fixtures");
    let o = scenario(&all);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    text(&o).0.lines().map(str::to_string).collect()
}

#[test]
fn shards_partition_the_suite_and_filters_select_by_path() {
    let everything = listed(&[]);
    assert!(everything.len() > 20);
    let mut seen = Vec::new();
    for k in 1..=3 {
        let part = listed(&["--shard", &format!("{k}/3")]);
        assert!(!part.is_empty(), "shard {k}/3 is empty");
        seen.extend(part);
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "shards overlap");
    assert_eq!(
        unique,
        everything.iter().cloned().collect(),
        "shards miss scenarios"
    );
    assert_eq!(
        listed(&["--filter", "article/04"]),
        vec!["scenarios/article/04-publish-with-dnat.rhai"]
    );
    assert_eq!(
        scenario(&["run", "--shard", "4/3", "scenarios"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn quiet_prints_failures_only_and_verbose_prints_steps() {
    let o = scenario(&[
        "run",
        "--quiet",
        "scenarios/article/01-reach-host.rhai",
        "runner/tests/fixtures/failing-command.rhai",
    ]);
    let (out, err) = text(&o);
    assert!(!out.contains("PASS"), "{out}");
    assert!(
        out.contains("FAIL  runner/tests/fixtures/failing-command.rhai"),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b'),
        "no colour off a terminal"
    );

    let o = scenario(&["run", "--verbose", "scenarios/article/01-reach-host.rhai"]);
    let (_, err) = text(&o);
    for needle in [
        "container(\"bird\")",
        "host.bridge(testbridge 172.29.0.1/24)",
        "assert_ping(bird, \"172.29.0.1\"): arrived",
        " ms)",
    ] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
}

#[test]
fn api_prints_definitions_for_the_language_server() {
    let o = scenario(&["api"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    for needle in [
        "fn assert_ping(node: Node, target: string) -> ();",
        "fn attach(container: Node, host: Node, bridge: string, cidr: string) -> String;",
        "fn snapshot(name: string, text: string) -> ();",
        "fn snapshot(name: string, text: string, options: map) -> ();",
        "fn sysctl(node: Node, key: string) -> String;",
        "fn sysctl(node: Node, key: string, value: string) -> ();",
    ] {
        assert!(out.contains(needle), "{needle} in {out}");
    }
}

#[test]
fn a_scenario_whose_requirement_is_missing_is_skipped_never_passed() {
    let file = std::env::temp_dir().join(format!("scenario-skip-{}", std::process::id()));
    std::fs::create_dir_all(&file).unwrap();
    let scenario_file = file.join("needs-plugin.rhai");
    std::fs::write(
        &scenario_file,
        "// requires: /usr/lib/cni/no-such-plugin (install containernetworking-plugins)\nlet h = node(\"h\");\n",
    )
    .unwrap();
    let junit = file.join("junit.xml");
    let o = scenario(&[
        "run",
        "--junit",
        junit.to_str().unwrap(),
        scenario_file.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    std::fs::remove_dir_all(&file).unwrap();
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("SKIP")
            && out.contains(
                "requires /usr/lib/cni/no-such-plugin (install containernetworking-plugins)"
            ),
        "{out}"
    );
    assert!(!out.contains("PASS"), "{out}");
    assert!(out.contains("0 passed, 0 failed, 1 skipped"), "{out}");
    assert!(xml.contains("<skipped"), "{xml}");
}

/// The text a scenario's `expect_failure(why, text)` requires of its
/// diagnosis.
fn expected_diagnosis(script: &str) -> Option<String> {
    let line = script.lines().find(|l| l.starts_with("expect_failure("))?;
    let args = line
        .strip_prefix("expect_failure(\"")?
        .strip_suffix("\");")?;
    let (_, text) = args.split_once("\", \"")?;
    Some(text.replace("\\\"", "\"").replace("\\\\", "\\"))
}

#[test]
fn every_shipped_fault_run_without_its_expect_failure_is_diagnosed_for_what_it_is() {
    // Each fault, and each regression that reproduces a bug, copied without
    // its expect_failure line beside the shipped libraries: an ordinary
    // failing scenario, whose `stopped:` line (`arrived:` for a port left
    // open) must name the fault.
    let dir = std::env::temp_dir().join(format!("scenario-diagnosis-{}", std::process::id()));
    let copies = dir.join("scenarios").join("copies");
    std::fs::create_dir_all(&copies).unwrap();
    std::os::unix::fs::symlink(
        common::root().join("scenarios/lib"),
        dir.join("scenarios/lib"),
    )
    .unwrap();
    let mut expected = Vec::new();
    for folder in [
        "scenarios/faults",
        "scenarios/regressions",
        "scenarios/nft",
        "scenarios/multihost",
        "scenarios/macvlan",
        "scenarios/netavark2",
    ] {
        for entry in std::fs::read_dir(common::root().join(folder)).unwrap() {
            let path = entry.unwrap().path();
            // A folder's lib/ and README are no scenarios.
            if path.extension().is_none_or(|e| e != "rhai") {
                continue;
            }
            let script = std::fs::read_to_string(&path).unwrap();
            if !script.contains("\nexpect_failure(") {
                continue;
            }
            let text = expected_diagnosis(&script).unwrap_or_else(|| {
                panic!("{}: its expect_failure names no diagnosis", path.display())
            });
            // Folders may hold faults of the same name: the copy says which.
            let name = if folder.ends_with("faults") || folder.ends_with("regressions") {
                path.file_name().unwrap().to_owned()
            } else {
                let last = folder.rsplit('/').next().unwrap();
                format!("{last}-{}", path.file_name().unwrap().to_string_lossy()).into()
            };
            let stripped: String = script
                .lines()
                .filter(|l| !l.starts_with("expect_failure("))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(copies.join(&name), stripped).unwrap();
            expected.push((name.to_string_lossy().into_owned(), text));
        }
    }
    assert!(expected.len() >= 14, "{expected:?}");
    let o = scenario(&["run", "-j", "4", copies.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    // The report of each scenario runs from its result line to the next.
    let lines: Vec<&str> = out.lines().collect();
    let result = |l: &str| ["FAIL ", "PASS ", "SKIP "].iter().any(|p| l.starts_with(p));
    for (name, text) in expected {
        let suffix = format!("copies/{name}");
        let Some(at) = lines.iter().position(|l| result(l) && l.contains(&suffix)) else {
            panic!("{name} is not in the output:\n{out}");
        };
        if lines[at].starts_with("SKIP") {
            continue;
        }
        assert!(lines[at].starts_with("FAIL"), "{name} did not fail:\n{out}");
        let end = lines[at + 1..]
            .iter()
            .position(|l| result(l))
            .map_or(lines.len(), |i| at + 1 + i);
        let report = lines[at..end].join("\n");
        let stopped: Vec<&str> = report
            .lines()
            .map(str::trim)
            // A negative assertion that got through says where it arrived.
            .filter(|l| l.starts_with("stopped:") || l.starts_with("arrived:"))
            .collect();
        // A regression whose assertion is no probe (assert_same on what a
        // stack printed) has no such line: its diff must say it.
        let said = if stopped.is_empty() {
            report.contains(&text)
        } else {
            stopped.iter().any(|l| l.contains(&text))
        };
        assert!(
            said,
            "{name}: the stopped: (or arrived:) line does not say {text:?}: {stopped:?}\n{report}"
        );
        assert!(
            !report.contains("delivered"),
            "{name}: a report claims a delivery\n{report}"
        );
    }
}

#[test]
fn a_fault_that_failed_as_expected_shows_its_diagnosis_in_verbose_and_junit() {
    let file = std::env::temp_dir().join(format!("scenario-expected-{}.xml", std::process::id()));
    let o = scenario(&[
        "run",
        "--verbose",
        "--junit",
        file.to_str().unwrap(),
        "scenarios/faults/01-no-forwarding.rhai",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let said = "stopped: last seen at host testbridge; host does not forward";
    assert!(
        out.contains("failed as expected:") && out.contains(said),
        "{out}"
    );
    let xml = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(xml.contains(said), "{xml}");
}

#[test]
fn a_filter_that_selects_nothing_is_a_usage_error() {
    let o = scenario(&["run", "--filter", "no-such-scenario", "scenarios/article"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains(
            "no scenario is left to run: --filter no-such-scenario selects none of the 5 found"
        ),
        "{err}"
    );
}
