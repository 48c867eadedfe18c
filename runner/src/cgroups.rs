//! The cgroups a lab's engines make. runc puts every container in cgroups
//! of the machine's hierarchies (the kernel has one of each): a lab names
//! a parent of its own (`cgroup_parent()` in a script, for dockerd's
//! `--cgroup-parent` and podman's `cgroup_parent`), and what is below it
//! is removed when the lab ends, once its processes are gone: by the lab,
//! or by the watchdog when the runner was killed, or by `scenario clean`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every lab's parent starts so, then the runner's PID.
const PREFIX: &str = "scenario.";

/// The cgroup parent of a lab: `/scenario.<runner pid>.<lab>`.
pub fn parent(lab: u64) -> String {
    format!("/{PREFIX}{}.{lab}", std::process::id())
}

/// Where the machine's cgroup hierarchies are mounted.
fn hierarchies() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| mount_points(&text))
        .unwrap_or_default()
}

/// The mount points of cgroup and cgroup2 filesystems in a mountinfo.
fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let point = left.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(point))
        })
        .collect()
}

/// Removes the lab's parent and every cgroup below it, in every
/// hierarchy; a cgroup whose last process is still dying is waited for,
/// a moment at most.
pub fn remove(parent: &str) {
    let name = parent.trim_start_matches('/');
    for root in hierarchies() {
        remove_tree(&root.join(name));
    }
}

/// Removes what labs of a runner that is gone left (`scenario clean`, and
/// the watchdog with the runner's PID).
pub fn remove_left_by(runner: Option<u32>) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for root in hierarchies() {
        let Ok(dir) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = owner(&name) else { continue };
            let gone = match runner {
                Some(r) => pid == r,
                None => !Path::new(&format!("/proc/{pid}")).exists(),
            };
            if gone && e.path().is_dir() {
                remove_tree(&e.path());
                removed.push(e.path());
            }
        }
    }
    removed
}

/// The runner's PID in a lab's parent's name.
fn owner(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('.').next()?.parse().ok()
}

/// A cgroup directory holds only the kernel's files: its children are
/// the subdirectories, removed first.
fn remove_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path());
        }
    }
    let began = Instant::now();
    loop {
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if began.elapsed() > Duration::from_secs(2) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(()) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_mounts_are_found_in_mountinfo() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
        assert_eq!(
            mount_points(text),
            vec![
                PathBuf::from("/sys/fs/cgroup/cpu"),
                PathBuf::from("/sys/fs/cgroup/unified")
            ]
        );
    }

    #[test]
    fn a_lab_parent_names_its_runner() {
        assert_eq!(owner("scenario.4242.3"), Some(4242));
        assert_eq!(owner("scenario-docker.x"), None);
        assert_eq!(owner("docker"), None);
        assert!(parent(7).starts_with(&format!("/scenario.{}.", std::process::id())));
    }
}
