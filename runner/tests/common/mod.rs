//! What the integration tests share: running the binary, the machine's own
//! network state, and finding what a run may have left behind.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scenario ARGS` in the repository, without colour.
pub fn scenario_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scenario"));
    cmd.args(args).current_dir(root()).env("NO_COLOR", "1");
    cmd
}

pub fn scenario(args: &[&str]) -> Output {
    scenario_cmd(args)
        .output()
        .expect("the scenario binary runs")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The closing line of a run or check of every shipped scenario that passed.
pub fn all_passed() -> String {
    let count = shipped().len();
    assert!(count > 20, "the shipped scenarios are listed");
    format!("{count} passed, 0 failed")
}

/// The shipped scenarios, as `run --list` names them.
fn shipped() -> Vec<String> {
    std::process::Command::new(env!("CARGO_BIN_EXE_scenario"))
        .args(["run", "--list", "scenarios"])
        .current_dir(root())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// What a rootless run skips: what needs the machine's root (the
/// engines), and netavark 2.1, whose build a staged copy does not have.
pub const ROOTLESS_SKIPS: [&str; 2] = ["privileged", "SCENARIO_NETAVARK2="];

/// The closing line of a rootless run of the shipped scenarios: every one
/// passes but those `ROOTLESS_SKIPS` names, skipped.
pub fn all_passed_rootless() -> String {
    let all = shipped();
    let skipped = |t: &str| {
        t.lines().any(|l| {
            ROOTLESS_SKIPS
                .iter()
                .any(|s| l.starts_with(&format!("// requires: {s}")))
        })
    };
    let privileged = all
        .iter()
        .filter(|f| std::fs::read_to_string(root().join(f)).is_ok_and(|t| skipped(&t)))
        .count();
    assert!(
        privileged > 0,
        "the engine scenarios need the machine's root"
    );
    format!(
        "{} passed, 0 failed, {privileged} skipped",
        all.len() - privileged
    )
}

/// Command lines of running processes that contain `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

/// Waits (bounded, so a broken cleanup fails instead of hanging) until no
/// process with `marker` is left, and returns those still there.
pub fn wait_until_gone(marker: &str) -> Vec<String> {
    for _ in 0..500 {
        let left = processes_with(marker);
        if left.is_empty() {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    processes_with(marker)
}

/// Every network namespace that something holds: a process inside it, or an
/// open file descriptor. A namespace of a finished run must not be here.
pub fn held_network_namespaces() -> BTreeSet<String> {
    let mut held = BTreeSet::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name()
            .to_str()
            .is_none_or(|n| !n.chars().all(|c| c.is_ascii_digit()))
        {
            continue;
        }
        if let Ok(l) = std::fs::read_link(e.path().join("ns/net")) {
            held.insert(l.display().to_string());
        }
        if let Ok(fds) = std::fs::read_dir(e.path().join("fd")) {
            for fd in fds.flatten() {
                if let Ok(l) = std::fs::read_link(fd.path()) {
                    let l = l.display().to_string();
                    if l.starts_with("net:[") {
                        held.insert(l);
                    }
                }
            }
        }
    }
    held
}

/// The network namespaces held (a process inside, or an open descriptor)
/// by processes whose environment has `key=value`: what a run tagged so
/// holds, and its lab's processes and watchdog, which inherit the tag,
/// whatever else the machine runs meanwhile.
pub fn network_namespaces_held_by(key: &str, value: &str) -> BTreeSet<String> {
    let tag = format!("{key}={value}");
    let mut held = BTreeSet::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let tagged = std::fs::read(e.path().join("environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == tag.as_bytes()));
        if !tagged {
            continue;
        }
        if let Ok(l) = std::fs::read_link(e.path().join("ns/net")) {
            held.insert(l.display().to_string());
        }
        for fd in std::fs::read_dir(e.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(l) = std::fs::read_link(fd.path()) {
                let l = l.display().to_string();
                if l.starts_with("net:[") {
                    held.insert(l);
                }
            }
        }
    }
    held
}

/// Mount points of this machine's mount namespace.
pub fn mounts() -> String {
    std::fs::read_to_string("/proc/1/mountinfo").unwrap_or_default()
}

/// The machine's own network state, as far as a scenario could change it.
pub fn machine_state() -> String {
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
            state.push_str(&without_counters(line));
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
fn without_counters(line: &str) -> String {
    let mut out = Vec::new();
    let mut words = line.split(' ').peekable();
    while let Some(w) = words.next() {
        if w.starts_with('[') && w.ends_with(']') && w.contains(':') {
            out.push("[n:n]".to_string());
        } else if (w == "packets" || w == "bytes") && words.peek().is_some() {
            out.push(format!("{w} n"));
            words.next();
        } else {
            out.push(w.to_string());
        }
    }
    out.join(" ")
}

/// A world-readable copy of the binary and the shipped scenarios and
/// snapshots, for runs as another user: the checkout itself may be private.
pub struct Staged(pub PathBuf);

impl Staged {
    pub fn new(tag: &str) -> Staged {
        let dir =
            std::env::temp_dir().join(format!("scenario-staged-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["scenarios", "snapshots"] {
            copy_tree(&root().join(sub), &dir.join(sub));
        }
        std::fs::copy(env!("CARGO_BIN_EXE_scenario"), dir.join("scenario")).unwrap();
        open_up(&dir);
        Staged(dir)
    }

    pub fn bin(&self) -> PathBuf {
        self.0.join("scenario")
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn open_up(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // A symlink's mode is its target's: leave the target alone.
    if path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return;
    }
    let mode = if path.is_dir() || path.ends_with("scenario") {
        0o755
    } else {
        0o644
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            open_up(&e.path());
        }
    }
}

/// Runs `program ARGS` as the unprivileged user nobody, with no capabilities.
pub fn as_nobody(program: &Path, args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--",
    ])
    .arg(program)
    .args(args)
    .current_dir(dir)
    // The project's netavark 2.1 build is not staged.
    .env_remove("SCENARIO_NETAVARK2")
    .env("NO_COLOR", "1")
    .env("CI", "true");
    cmd
}

/// A folder of symlinks that make `iptables` and friends iptables-legacy,
/// removed when dropped.
pub struct LegacyBin(PathBuf);

impl LegacyBin {
    pub fn display(&self) -> std::path::Display<'_> {
        self.0.display()
    }
}

impl Drop for LegacyBin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn legacy_bin_dir(tag: &str) -> LegacyBin {
    let dir = std::env::temp_dir().join(format!("scenario-legacy-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let multi =
        which::which("xtables-legacy-multi").expect("xtables-legacy-multi (package iptables)");
    for tool in [
        "iptables",
        "iptables-save",
        "iptables-restore",
        "ip6tables",
        "ip6tables-save",
        "ip6tables-restore",
    ] {
        let link = dir.join(tool);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&multi, &link).unwrap();
    }
    open_up(&dir);
    let version = Command::new(dir.join("iptables"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).contains("legacy"),
        "{version:?}"
    );
    LegacyBin(dir)
}
