//! A node's own files: a mount namespace of its own in which
//! /etc/resolv.conf, /etc/hosts and /etc/hostname are the node's (as `ip
//! netns exec` does with /etc/netns/NAME/), and /tmp and /run are fresh
//! tmpfs mounts that only the node sees (its scratch space: pid files,
//! sockets and configs of its services). Everything lives in memory and
//! goes with the namespace; nothing of the machine is written, and the
//! mounts never propagate back to the machine.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

/// The files of /etc a node has of its own.
pub const ETC: [&str; 3] = ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"];

/// The fresh, private directories of a node with files of its own.
pub const SCRATCH: [(&str, &str); 2] = [
    ("/tmp", "size=64m,mode=1777"),
    ("/run", "size=16m,mode=755"),
];

/// Where the /etc files that replace the machine's live, in the node's /run.
const BACKING: &str = "/run/scenario/etc";

/// What the node has of its own, found when it was set up.
#[derive(Debug)]
pub struct OwnFiles {
    /// The devices of the node's tmpfs mounts: a file on one of them is
    /// the node's, and one elsewhere is the machine's.
    devices: Vec<u64>,
    /// The /etc files of the node's own; one the machine lacks is not.
    pub etc: Vec<&'static str>,
}

/// Called on a thread that has just unshared its mount namespace: nothing
/// it mounts from then on reaches the mount namespace it is a copy of.
pub fn cut_off_mounts() -> nix::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
}

/// Called on a thread that has just unshared its mount namespace: makes
/// the node's mounts. `name` goes into /etc/hostname and /etc/hosts.
pub fn set_up(name: &str) -> io::Result<OwnFiles> {
    // First of all: nothing mounted from here on may reach the machine's
    // mount namespace, whose mounts this copy shares.
    cut_off_mounts().map_err(|e| failed(e, "cannot make the node's mounts private"))?;
    let mut devices = Vec::new();
    for (dir, options) in SCRATCH {
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(options),
        )
        .map_err(|e| failed(e, &format!("cannot mount a tmpfs on {dir}")))?;
        devices.push(std::fs::metadata(dir)?.dev());
    }
    std::fs::create_dir_all(BACKING)?;
    let mut etc = Vec::new();
    for path in ETC {
        if place(path, &default_content(path, name))? {
            etc.push(path);
        }
    }
    Ok(OwnFiles { devices, etc })
}

fn failed(e: nix::errno::Errno, what: &str) -> io::Error {
    let e = io::Error::from(e);
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn default_content(path: &str, name: &str) -> String {
    match path {
        "/etc/hostname" => format!("{name}\n"),
        "/etc/hosts" => format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{name}\n"
        ),
        // No name server until the scenario names one: the machine's would
        // not be reachable from the lab anyway.
        _ => String::new(),
    }
}

/// Gives the node its own `path` with `content`: a file of its /run
/// mounted over the machine's; where the machine's is a symbolic link into
/// /run or /tmp (systemd-resolved's stub), the file the link names, which
/// now lies in the node's own tmpfs. False when the machine has no such
/// file: there is nothing to stand in for, and nothing is created.
fn place(path: &str, content: &str) -> io::Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            let backing = Path::new(BACKING).join(Path::new(path).file_name().unwrap_or_default());
            std::fs::write(&backing, content)?;
            mount(
                Some(&backing),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| failed(e, &format!("cannot mount over {path}")))?;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match link_target(Path::new(path)) {
            Some(target)
                if SCRATCH
                    .iter()
                    .any(|(dir, _)| target.starts_with(dir) && target != Path::new(dir)) =>
            {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&target, content)?;
                Ok(true)
            }
            _ => Ok(false),
        },
        Err(e) => Err(e),
    }
}

/// Where a chain of symbolic links that leads nowhere ends.
fn link_target(path: &Path) -> Option<PathBuf> {
    let mut at = path.to_path_buf();
    for _ in 0..16 {
        let Ok(next) = std::fs::read_link(&at) else {
            return Some(at);
        };
        at = match next.is_absolute() {
            true => next,
            false => at.parent()?.join(next),
        };
    }
    None
}

impl OwnFiles {
    /// Whether the node's own scratch space hides `path` of the machine's
    /// (a program under the machine's /tmp, say).
    pub fn hides(&self, path: &Path) -> bool {
        SCRATCH.iter().any(|(dir, _)| path.starts_with(dir))
    }

    fn is_own(&self, m: &std::fs::Metadata) -> bool {
        self.devices.contains(&m.dev())
    }

    /// Writes `text` to `path` as the calling thread, inside the node's
    /// mount namespace, sees it; only a file on the node's own tmpfs
    /// mounts, checked on the open file, so that no path, symbolic link or
    /// special file can lead the write to a file of the machine's.
    pub fn write(&self, path: &str, text: &str) -> Result<(), String> {
        let p = absolute(path)?;
        let not_own = || {
            format!(
                "{path} is not one of the node's own files: those are {} and files under {}",
                self.etc.join(", "),
                SCRATCH
                    .iter()
                    .map(|(d, _)| format!("{d}/"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        };
        let file = match std::fs::canonicalize(p) {
            Ok(real) => {
                let m = std::fs::metadata(&real).map_err(|e| format!("{path}: {e}"))?;
                if !m.is_file() {
                    return Err(format!("{path} is not a regular file"));
                }
                if !self.is_own(&m) {
                    return Err(not_own());
                }
                OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&real)
                    .map_err(|e| format!("cannot open {path}: {e}"))?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (parent, name) = match (p.parent(), p.file_name()) {
                    (Some(parent), Some(name)) => (parent, name),
                    _ => return Err(not_own()),
                };
                let parent = std::fs::canonicalize(parent).map_err(|e| {
                    format!("cannot write {path}: its directory cannot be used ({e})")
                })?;
                let m = std::fs::metadata(&parent).map_err(|e| format!("{path}: {e}"))?;
                if !m.is_dir() || !self.is_own(&m) {
                    return Err(not_own());
                }
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(parent.join(name))
                    .map_err(|e| format!("cannot create {path}: {e}"))?
            }
            Err(e) => return Err(format!("cannot write {path}: {e}")),
        };
        // The path was checked before the open; the file opened is what
        // counts.
        let m = file.metadata().map_err(|e| format!("{path}: {e}"))?;
        if !m.is_file() || !self.is_own(&m) {
            return Err(not_own());
        }
        let mut file = file;
        file.set_len(0)
            .and_then(|()| file.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {path}: {e}"))
    }
}

/// Reads `path` as the calling thread sees it: a regular file only, so
/// that a FIFO or a device cannot block or disturb anything.
pub fn read(path: &str) -> Result<String, String> {
    let p = absolute(path)?;
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    let m = nix::sys::stat::fstat(file.as_fd()).map_err(|e| format!("{path}: {e}"))?;
    if m.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(format!("{path} is not a regular file"));
    }
    let mut text = String::new();
    (&file)
        .take(16 << 20)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(text)
}

fn absolute(path: &str) -> Result<&Path, String> {
    if !path.starts_with('/') {
        return Err(format!(
            "'{path}' is not an absolute path; files are named from / (\"/etc/hosts\")"
        ));
    }
    Ok(Path::new(path))
}

/// The runner's working directory, for a child that enters a mount
/// namespace (see `netns::enter_raw`).
pub fn cwd() -> Option<CString> {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::current_dir().ok()?;
    CString::new(dir.as_os_str().as_bytes()).ok()
}
