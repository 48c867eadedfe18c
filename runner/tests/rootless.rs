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
    assert!(err.contains("rootless (user namespace)"), "{err}");
    assert!(out.lines().any(|l| l == common::all_passed()), "{out}");
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
