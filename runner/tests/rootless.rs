//! As an ordinary user the runner enters a user namespace of its own and
//! works as under root; where it cannot, it says what is missing.

mod common;

use std::process::Command;

use common::{as_nobody, legacy_bin_dir, text, Staged};

#[test]
fn the_suite_passes_as_an_ordinary_user() {
    let staged = Staged::new("rootless");
    let o = as_nobody(&staged.bin(), &["run", "scenarios"], &staged.0)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(err.contains("rootless (user namespace, "), "{err}");
    assert!(
        out.lines().any(|l| l == common::all_passed_rootless()),
        "{out}"
    );
    assert!(
        out.lines()
            .filter(|l| l.starts_with("SKIP"))
            .all(|l| l.contains("requires privileged") || l.contains("SCENARIO_NETAVARK2")),
        "only what needs the machine's root, or netavark 2.1's build, is skipped: {out}"
    );
}

#[test]
fn iptables_legacy_works_rootless_too() {
    // A user namespace cannot load kernel modules: load the legacy tables
    // the way root would, in a throwaway namespace.
    for table in ["nat", "filter"] {
        let loaded = Command::new("unshare")
            .args(["--net", "iptables-legacy", "-t", table, "-L", "-n"])
            .output()
            .unwrap();
        assert!(loaded.status.success(), "{loaded:?}");
    }
    let staged = Staged::new("rootless-legacy");
    let legacy = legacy_bin_dir("rootless");
    let path = format!(
        "{}:{}",
        legacy.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = as_nobody(
        &staged.bin(),
        &[
            "run",
            "scenarios/article/02-reach-internet.rhai",
            "scenarios/article/04-publish-with-dnat.rhai",
        ],
        &staged.0,
    )
    .env("PATH", path)
    .output()
    .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

#[test]
fn check_needs_no_privileges() {
    let staged = Staged::new("check");
    let o = as_nobody(&staged.bin(), &["check", "scenarios"], &staged.0)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.lines().any(|l| l == common::all_passed()), "{out}");
}

/// No root, no capabilities, no user namespaces: a user namespace of the
/// test's own, whose user.max_user_namespaces is 0, in which the runner
/// runs as a uid 0 that has dropped every capability for good.
#[test]
fn without_root_capabilities_or_user_namespaces_run_says_what_is_missing() {
    let staged = Staged::new("unprivileged");
    let inner = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --bounding-set=-all --inh-caps=-all \
         --ambient-caps=-all --securebits=+noroot,+noroot_locked -- {} run scenarios",
        staged.bin().display()
    );
    let o = Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", &inner])
        .current_dir(&staged.0)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    for needle in [
        "root",
        "CAP_SYS_ADMIN",
        "user namespaces",
        "user.max_user_namespaces = 0",
        "--privileged",
    ] {
        assert!(err.contains(needle), "the message lacks {needle:?}: {err}");
    }
}

/// With a subordinate range for the user in /etc/subuid and /etc/subgid
/// (and newuidmap, Debian's uidmap), the user namespace maps it too: a
/// command changes user, chown gives a file away, and dnsmasq drops to
/// nobody and answers. The range exists only in a mount namespace of this
/// test's own, over the machine's files, which stay as they are.
#[test]
fn a_subordinate_range_lets_commands_and_daemons_change_user() {
    let staged = Staged::new("subuid");
    let write = |name: &str, text: &str| {
        let path = staged.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    write("drops-to-nobody.rhai", DROPS_TO_NOBODY);
    let ranges = write("subids", "nobody:100000:65536\n");
    let o = in_subid_namespace(&ranges, &staged, &["run", "drops-to-nobody.rhai"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        err.contains("rootless (user namespace, uids and gids 0-65536 mapped)"),
        "{err}"
    );
    assert!(out.contains("1 passed, 0 failed"), "{out}");

    // Without a range the header says so, and the same scenario fails
    // where the first command changes user.
    let empty = write("no-subids", "");
    let o = in_subid_namespace(&empty, &staged, &["run", "drops-to-nobody.rhai"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("one uid mapped: no subordinate range for nobody in /etc/subuid"),
        "{err}"
    );
    assert!(out.contains("setresuid failed: Invalid argument"), "{out}");
}

/// Runs the staged binary as nobody where /etc/subuid and /etc/subgid read
/// as `ranges`: bind mounts in a private mount namespace, gone with it.
fn in_subid_namespace(
    ranges: &std::path::Path,
    staged: &Staged,
    args: &[&str],
) -> std::process::Output {
    let r = ranges.display();
    let inner =
        format!("mount --bind {r} /etc/subuid && mount --bind {r} /etc/subgid && exec \"$@\"");
    let nobody = as_nobody(&staged.bin(), args, &staged.0);
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &inner,
            "sh",
        ])
        .arg(nobody.get_program())
        .args(nobody.get_args())
        .current_dir(&staged.0)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .output()
        .unwrap()
}

const DROPS_TO_NOBODY: &str = r#"
let h = node("h", #{ own_files: true });
let id = h.exec("setpriv --reuid=65534 --regid=65534 --clear-groups id -u");
if id != "65534" { throw `setpriv ran as ${id}`; }
let owner = h.sh("touch /tmp/f && chown 65534:65534 /tmp/f && stat -c %u:%g /tmp/f");
if owner != "65534:65534" { throw `chown gave ${owner}`; }
// dnsmasq drops to nobody by default.
let dns = h.spawn("dnsmasq --conf-file=/dev/null --no-hosts --no-resolv --keep-in-foreground "
    + "--log-facility=- --pid-file= --listen-address=127.0.0.1 --bind-interfaces "
    + "--host-record=x.lab,10.1.2.3");
dns.wait_udp(53);
let uid = h.sh(`awk '/^Uid:/ { print $2 }' /proc/${dns.pid()}/status`);
if uid != "65534" { throw `dnsmasq runs as ${uid}`; }
h.write_file("/etc/resolv.conf", "nameserver 127.0.0.1\n");
let got = h.exec("getent hosts x.lab");
if !got.contains("10.1.2.3") { throw `getent: ${got}`; }
"#;

/// A kept lab, rootless: the printed `nsenter …` command sets the lab's
/// XTABLES_LOCKFILE, so that iptables-legacy works inside (the machine's
/// /run/xtables.lock is not the user's to open).
#[test]
fn a_kept_rootless_lab_is_entered_with_its_iptables_lock() {
    use std::io::{BufRead, BufReader, Write};
    let loaded = Command::new("unshare")
        .args(["--net", "iptables-legacy", "-t", "filter", "-L", "-n"])
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{loaded:?}");
    let staged = Staged::new("keep-rootless");
    std::fs::write(
        staged.0.join("kept.rhai"),
        "let a = node(\"a\");\nthrow \"failing on purpose, to be kept\";\n",
    )
    .unwrap();
    let mut child = as_nobody(&staged.bin(), &["run", "--keep", "kept.rhai"], &staged.0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut enter = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(at) = line.find("XTABLES_LOCKFILE=") {
            enter = Some(line[at..].to_string());
        }
        if line.starts_with("press Enter") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let enter = enter.expect("the command that enters node a sets XTABLES_LOCKFILE");
    let inside = enter
        .strip_suffix(" bash")
        .expect("the command ends with bash")
        .to_string()
        + " sh -c 'iptables-legacy -A INPUT -j ACCEPT && iptables-legacy -S INPUT'";
    let o = as_nobody(std::path::Path::new("/bin/sh"), &["-c", &inside], &staged.0)
        .output()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{enter}\n{out}{err}");
    assert!(out.contains("-A INPUT -j ACCEPT"), "{out}");
}
