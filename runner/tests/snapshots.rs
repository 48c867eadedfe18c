//! Snapshots as users meet them: a drift fails with a diff naming the
//! changed line, a missing snapshot fails and is left for review (but not
//! under CI), `--accept` writes, and the iptables backend does not matter.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::legacy_bin_dir;

const SCENARIO: &str = r#"
let h = node("host");
h.exec("iptables -t nat -A POSTROUTING -s 172.29.0.0/24 -j MASQUERADE");
h.exec("iptables -A FORWARD -i testbridge -j ACCEPT");
snapshot("nat", h.iptables_save("nat"));
snapshot("filter", h.iptables_save("filter"));
"#;

/// A project of its own: scenarios/drift.rhai, and snapshots/ beside it.
struct Project(PathBuf);

impl Project {
    fn new(tag: &str) -> Project {
        Project::with(tag, SCENARIO)
    }

    fn with(tag: &str, script: &str) -> Project {
        let dir =
            std::env::temp_dir().join(format!("scenario-snapshots-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("scenarios")).unwrap();
        std::fs::write(dir.join("scenarios/drift.rhai"), script).unwrap();
        Project(dir)
    }

    fn run(&self, args: &[&str], ci: bool) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scenario"));
        cmd.arg("run")
            .args(args)
            .current_dir(&self.0)
            .env("NO_COLOR", "1")
            .env_remove("INSTA_UPDATE");
        if ci {
            cmd.env("CI", "true");
        } else {
            cmd.env_remove("CI").env_remove("TF_BUILD");
        }
        cmd.output().unwrap()
    }

    fn snap(&self, name: &str) -> PathBuf {
        self.0.join(format!("snapshots/drift__{name}.snap"))
    }

    fn pending(&self, name: &str) -> PathBuf {
        self.0.join(format!("snapshots/drift__{name}.snap.new"))
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn missing_snapshots_fail_and_wait_for_review_but_not_under_ci() {
    let p = Project::new("missing");
    let o = p.run(&[], true);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("scenarios/drift.rhai:5: snapshot 'nat' is missing"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("nothing was written (CI is set)"),
        "{}",
        stdout(&o)
    );
    assert!(!p.0.join("snapshots").exists(), "CI wrote something");

    let o = p.run(&[], false);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("snapshot 'filter' is missing"),
        "every snapshot is compared: {}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("accept it with `scenario run --accept scenarios/drift.rhai`"),
        "the hint leads with the scenario's --accept: {}",
        stdout(&o)
    );
    assert!(p.pending("nat").exists() && p.pending("filter").exists());
    assert!(!p.snap("nat").exists());
    let pending = std::fs::read_to_string(p.pending("nat")).unwrap();
    assert!(
        pending.contains("input_file: scenarios/drift.rhai"),
        "{pending}"
    );
    assert!(
        pending.contains("-A POSTROUTING -s 172.29.0.0/24 -j MASQUERADE"),
        "{pending}"
    );
}

#[test]
fn accept_writes_and_then_the_snapshots_hold() {
    let p = Project::new("accept");
    let o = p.run(&["--accept"], true);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--accept is refused under CI: {}",
        stdout(&o)
    );
    assert!(!p.0.join("snapshots").exists());

    let o = p.run(&["--accept"], false);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let nat = std::fs::read_to_string(p.snap("nat")).unwrap();
    assert!(nat.contains("input_file: scenarios/drift.rhai"), "{nat}");
    assert!(
        nat.starts_with("---\nsource: scenarios/drift.rhai\n"),
        "source names the scenario, not the runner: {nat}"
    );
    assert!(
        !nat.contains("[0:0]") && !nat.contains("# Generated"),
        "{nat}"
    );
    let o = p.run(&[], true);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn drift_fails_with_a_diff_naming_the_changed_line() {
    let p = Project::new("drift");
    assert_eq!(p.run(&["--accept"], false).status.code(), Some(0));
    let snap = std::fs::read_to_string(p.snap("nat")).unwrap();
    std::fs::write(
        p.snap("nat"),
        snap.replace("172.29.0.0/24", "172.29.9.0/24"),
    )
    .unwrap();
    let o = p.run(&[], true);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "scenarios/drift.rhai:5: snapshot 'nat' differs from snapshots/drift__nat.snap"
        ),
        "{out}"
    );
    assert!(
        out.contains("--A POSTROUTING -s 172.29.9.0/24 -j MASQUERADE"),
        "{out}"
    );
    assert!(
        out.contains("+-A POSTROUTING -s 172.29.0.0/24 -j MASQUERADE"),
        "{out}"
    );
    assert!(
        !out.contains("snapshot 'filter'"),
        "the untouched snapshot holds: {out}"
    );
    assert!(!p.pending("nat").exists(), "CI wrote something");
    // --accept restores it.
    assert_eq!(p.run(&["--accept"], false).status.code(), Some(0));
    assert_eq!(p.run(&[], true).status.code(), Some(0));
}

#[test]
fn iptables_legacy_gives_the_snapshots_written_under_nft() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["02-reach-internet", "04-publish-with-dnat"] {
        let snap =
            std::fs::read_to_string(root.join(format!("snapshots/article/{name}__nat.snap")))
                .unwrap();
        assert!(
            snap.contains("-A "),
            "the committed snapshot has rules: {snap}"
        );
    }
    let legacy = legacy_bin_dir("snapshots");
    let o = Command::new(env!("CARGO_BIN_EXE_scenario"))
        .args([
            "run",
            "scenarios/article/02-reach-internet.rhai",
            "scenarios/article/04-publish-with-dnat.rhai",
        ])
        .current_dir(root)
        .env(
            "PATH",
            format!(
                "{}:{}",
                legacy.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn accept_clears_what_it_resolved_and_lists_what_it_wrote() {
    let p = Project::new("resolved");
    assert_eq!(p.run(&[], false).status.code(), Some(1));
    assert!(p.pending("nat").exists() && p.pending("filter").exists());

    let o = p.run(&["--accept"], false);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        !p.pending("nat").exists() && !p.pending("filter").exists(),
        "the pending files --accept resolved are gone"
    );
    assert!(
        out.ends_with(
            "1 passed, 0 failed\nwrote 2 snapshots:\nsnapshots/drift__filter.snap\nsnapshots/drift__nat.snap\n"
        ),
        "{out}"
    );

    // Nothing changed: nothing written, nothing listed.
    let o = p.run(&["--accept"], false);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains("wrote"), "{out}");

    // One rule changes: only its snapshot is written and listed.
    let script = SCENARIO.replace("-j MASQUERADE", "-o eth0 -j MASQUERADE");
    std::fs::write(p.0.join("scenarios/drift.rhai"), script).unwrap();
    assert_eq!(p.run(&[], false).status.code(), Some(1));
    assert!(p.pending("nat").exists());
    let o = p.run(&["--accept"], false);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.ends_with("wrote 1 snapshot:\nsnapshots/drift__nat.snap\n"),
        "{out}"
    );
    assert!(
        !p.pending("nat").exists(),
        "the changed snapshot's pending file is gone"
    );
}

/// A veth named as CNI names the host end, at random, each run.
const RANDOM_NAMES: &str = r#"
let h = node("host");
h.sh("ip link add veth$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n') type veth peer name eth0");
let links = h.links();
if !links.contains("veth") { throw `no veth in ${links}`; }
snapshot("links", links, #{ redact: #{ "veth[0-9a-f]{8}": "<veth>" } });
"#;

#[test]
fn redacted_names_give_the_same_snapshot_every_run() {
    let p = Project::with("redact", RANDOM_NAMES);
    let o = p.run(&["--accept"], false);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let links = std::fs::read_to_string(p.snap("links")).unwrap();
    assert!(
        links.contains("\n<veth> <BROADCAST,MULTICAST> mtu 1500"),
        "{links}"
    );
    assert!(
        !regex_free_hex_veth(&links),
        "the random name was stored: {links}"
    );
    // Another run, another name, the same snapshot.
    for _ in 0..2 {
        let o = p.run(&[], true);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    }
    // Without the redaction the name shows up in the diff.
    std::fs::write(
        p.0.join("scenarios/drift.rhai"),
        RANDOM_NAMES.replace(r#", #{ redact: #{ "veth[0-9a-f]{8}": "<veth>" } }"#, ""),
    )
    .unwrap();
    let o = p.run(&[], true);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("-<veth> <BROADCAST"), "{out}");
    assert!(out.contains("+veth"), "{out}");
}

/// Whether a `veth` followed by eight hex digits appears in the text.
fn regex_free_hex_veth(text: &str) -> bool {
    text.match_indices("veth").any(|(i, _)| {
        let rest = &text[i + 4..];
        rest.len() >= 8 && rest[..8].chars().all(|c| c.is_ascii_hexdigit())
    })
}

#[test]
fn a_scenario_outside_the_current_folder_is_named_in_its_snapshots() {
    let p = Project::new("outside");
    let elsewhere = p.0.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("x.rhai"), "snapshot(\"s\", \"text\");\n").unwrap();
    // Run from a sibling folder: the scenario is not below it.
    let here = p.0.join("here");
    std::fs::create_dir_all(&here).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_scenario"))
        .args([
            "run",
            "--accept",
            elsewhere.join("x.rhai").to_str().unwrap(),
        ])
        .current_dir(&here)
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .env_remove("TF_BUILD")
        .env_remove("INSTA_UPDATE")
        .env_remove("INSTA_WORKSPACE_ROOT")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let snap = std::fs::read_to_string(elsewhere.join("snapshots/x__s.snap")).unwrap();
    assert!(snap.contains("\ninput_file: x.rhai\n"), "{snap}");
    assert!(snap.contains("\nsource: x.rhai\n"), "{snap}");
}
