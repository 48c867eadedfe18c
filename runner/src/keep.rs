//! `--keep`: a failed scenario's lab made enterable from outside while the
//! command line holds it; and `scenario clean` for what a crashed `--keep`
//! left behind.
//!
//! Under root each node is bind-mounted at /run/netns/scenario.<pid>.<scenario>.<node>,
//! so that `ip netns exec` works; rootless, `nsenter` enters the runner's
//! user namespace and the node's namespaces through /proc.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::lab::Lab;
use crate::sandbox::Mode;

const NETNS_DIR: &str = "/run/netns";
const PREFIX: &str = "scenario.";

/// A failed lab made enterable from outside; dropping it undoes that.
pub struct KeptLab {
    /// (node, the command that enters it), in the order nodes were made.
    pub entries: Vec<(String, String)>,
    mounted: Vec<PathBuf>,
    made_dir: bool,
}

impl Drop for KeptLab {
    fn drop(&mut self) {
        for path in &self.mounted {
            unbind(path);
        }
        if self.made_dir {
            let _ = std::fs::remove_dir(NETNS_DIR);
        }
    }
}

/// Makes every node of `lab` enterable the way `mode` allows.
pub fn expose(lab: &Lab, scenario: &Path, mode: &Mode) -> KeptLab {
    let pid = std::process::id();
    let stem = scenario.file_stem().unwrap_or_default().to_string_lossy();
    let mut kept = KeptLab {
        entries: Vec::new(),
        mounted: Vec::new(),
        made_dir: !Path::new(NETNS_DIR).exists(),
    };
    for node in lab.nodes() {
        let raw = match node.ns().held_fds() {
            Ok(raw) => raw,
            Err(e) => {
                let why = format!("(cannot be entered: its network namespace: {e})");
                kept.entries.push((node.name.clone(), why));
                continue;
            }
        };
        let (net, uts) = (raw.net, raw.uts);
        // A node with files of its own is entered with them; another one
        // shares the machine's (its lab's mount namespace differs only in
        // /proc, which a shell from outside is better off without).
        let mnt = raw.mnt.filter(|_| node.ns().files().is_some());
        let uts_arg = uts
            .map(|u| format!(" --uts=/proc/{pid}/fd/{u}"))
            .into_iter()
            .chain(mnt.map(|m| format!(" --mount=/proc/{pid}/fd/{m}")))
            .collect::<String>();
        let command = match mode {
            Mode::Privileged => {
                let name = format!("{PREFIX}{pid}.{stem}.{}", node.name);
                match bind(net, &name) {
                    Ok(path) => {
                        kept.mounted.push(path);
                        match uts.or(mnt) {
                            None => format!("ip netns exec {name} bash"),
                            Some(_) => format!("nsenter --net={NETNS_DIR}/{name}{uts_arg} bash"),
                        }
                    }
                    Err(e) => format!("nsenter --net=/proc/{pid}/fd/{net}{uts_arg} bash   (no /run/netns entry: {e})"),
                }
            }
            Mode::Rootless { .. } => format!(
                "nsenter --user=/proc/{pid}/ns/user --preserve-credentials --net=/proc/{pid}/fd/{net}{uts_arg} bash"
            ),
        };
        // iptables-legacy takes its lock where the lab's commands take it:
        // rootless, the machine's /run/xtables.lock cannot be opened.
        let command = format!("XTABLES_LOCKFILE={} {command}", lab.xtables_lockfile());
        kept.entries.push((node.name.clone(), command));
    }
    kept
}

fn bind(net: i32, name: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(NETNS_DIR).map_err(|e| e.to_string())?;
    let path = Path::new(NETNS_DIR).join(name);
    std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let source = format!("/proc/self/fd/{net}");
    mount(
        Some(source.as_str()),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        let _ = std::fs::remove_file(&path);
        e.to_string()
    })?;
    Ok(path)
}

fn unbind(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// The pid in `scenario.<pid>.…`.
fn owner(name: &str) -> Option<i32> {
    name.strip_prefix(PREFIX)?.split('.').next()?.parse().ok()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the /run/netns entries that a `--keep` of a runner that is no
/// longer running left behind, and nothing else. Returns what it removed.
pub fn clean() -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{NETNS_DIR}: {e}")),
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if owner(&name).is_some_and(|pid| !alive(pid)) {
            let path = entry.path();
            unbind(&path);
            if path.exists() {
                return Err(format!("cannot remove {}: are you root?", path.display()));
            }
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_entries_have_an_owner() {
        assert_eq!(owner("scenario.4242.02-reach-internet.host"), Some(4242));
        assert_eq!(owner("scenario.x.host"), None);
        assert_eq!(owner("host-1234"), None);
        assert_eq!(owner("myscenario.12.a"), None);
    }
}
