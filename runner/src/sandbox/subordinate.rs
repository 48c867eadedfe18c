//! The user's subordinate uids and gids (/etc/subuid, /etc/subgid), mapped
//! into the runner's user namespace by the setuid helpers `newuidmap` and
//! `newgidmap`. Only a process outside the namespace may run them on it,
//! so a helper is forked before the runner unshares and waits for its go.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Command;

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, ForkResult, Gid, Pid, Uid, User};

/// What the user may map besides itself, and the tools that map it.
#[derive(Debug)]
pub struct Ranges {
    uid: u32,
    gid: u32,
    /// (first, count) of /etc/subuid and /etc/subgid.
    uids: (u32, u32),
    gids: (u32, u32),
    newuidmap: PathBuf,
    newgidmap: PathBuf,
}

impl Ranges {
    /// Ids 1…count inside are the ranges; 0 is the user.
    pub fn count(&self) -> u32 {
        self.uids.1.min(self.gids.1)
    }
}

/// Why no range was mapped, and whether uid_map was written already (it
/// can be written once only).
#[derive(Debug)]
pub struct Failed {
    pub why: String,
    pub uid_written: bool,
}

/// The user's ranges, or why there are none: the tools missing, or no line
/// for the user in one of the files.
pub fn ranges(uid: Uid, gid: Gid) -> Result<Ranges, String> {
    let tool = |name: &str| {
        which::which(name).map_err(|_| format!("{name} is not installed (Debian package uidmap)"))
    };
    let (newuidmap, newgidmap) = (tool("newuidmap")?, tool("newgidmap")?);
    let name = User::from_uid(uid).ok().flatten().map(|u| u.name);
    let range = |file: &str| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        find(&text, name.as_deref(), uid.as_raw()).ok_or_else(|| {
            format!(
                "no subordinate range for {} in {file}",
                name.clone().unwrap_or_else(|| uid.to_string())
            )
        })
    };
    Ok(Ranges {
        uid: uid.as_raw(),
        gid: gid.as_raw(),
        uids: range("/etc/subuid")?,
        gids: range("/etc/subgid")?,
        newuidmap,
        newgidmap,
    })
}

/// The first `user:first:count` line for the user, by name or by uid, as
/// newuidmap reads them.
fn find(text: &str, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut f = line.trim().split(':');
        let (who, first, count) = (f.next()?, f.next()?, f.next()?);
        let ours = Some(who) == name || who.parse::<u32>().ok() == Some(uid);
        let range = (first.parse().ok()?, count.parse().ok()?);
        (ours && range.1 > 0).then_some(range)
    })
}

/// A child left in the machine's user namespace, waiting to map the ranges
/// into the runner's once it has unshared.
pub struct Helper {
    child: Pid,
    go: Option<OwnedFd>,
    why: Option<OwnedFd>,
}

impl Helper {
    /// Call while the process has one thread: the child may then do what
    /// it likes between fork and exit.
    pub fn fork(r: &Ranges) -> Result<Helper, String> {
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| format!("cannot map subordinate ids: {e}"))
        };
        let (go_read, go_write) = pipe()?;
        let (why_read, why_write) = pipe()?;
        let runner = getpid().to_string();
        // SAFETY: the process has one thread.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop((go_write, why_read));
                let mut byte = [0u8];
                let code = match std::fs::File::from(go_read).read(&mut byte) {
                    Ok(1) => map(r, &runner, why_write),
                    // The runner gave up before unsharing.
                    _ => 3,
                };
                unsafe { libc::_exit(code) }
            }
            Ok(ForkResult::Parent { child }) => Ok(Helper {
                child,
                go: Some(go_write),
                why: Some(why_read),
            }),
            Err(e) => Err(format!("cannot map subordinate ids: {e}")),
        }
    }

    /// Call once unshared: the helper maps, and this waits for it.
    pub fn map(mut self) -> Result<(), Failed> {
        if let Some(go) = self.go.take() {
            let _ = std::fs::File::from(go).write_all(b"x");
        }
        let status = waitpid(self.child, None);
        let mut why = String::new();
        if let Some(w) = self.why.take() {
            let _ = std::fs::File::from(w).read_to_string(&mut why);
        }
        let why = why.trim().to_string();
        match status {
            Ok(WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(WaitStatus::Exited(_, 2)) => Err(Failed {
                why,
                uid_written: true,
            }),
            _ => Err(Failed {
                why: match why.is_empty() {
                    true => "the helper that runs newuidmap failed".into(),
                    false => why,
                },
                uid_written: false,
            }),
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Not mapped (the runner could not unshare): the helper sees its
        // pipe close and exits.
        if self.go.take().is_some() {
            let _ = waitpid(self.child, None);
        }
    }
}

/// In the helper: newuidmap, then newgidmap, on the runner. Exit code 0
/// both mapped, 1 neither, 2 uids only; what failed goes to `why`.
fn map(r: &Ranges, runner: &str, why: OwnedFd) -> i32 {
    let mut why = std::fs::File::from(why);
    let run = |tool: &PathBuf, own: u32, (first, count): (u32, u32)| {
        let out = Command::new(tool)
            .arg(runner)
            .args(["0", &own.to_string(), "1", "1"])
            .args([first.to_string(), count.to_string()])
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(format!(
                "{} failed: {}",
                tool.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(format!("cannot run {}: {e}", tool.display())),
        }
    };
    let code = match run(&r.newuidmap, r.uid, r.uids) {
        Err(e) => (1, e),
        Ok(()) => match run(&r.newgidmap, r.gid, r.gids) {
            Err(e) => (2, e),
            Ok(()) => (0, String::new()),
        },
    };
    let _ = why.write_all(code.1.as_bytes());
    code.0
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn a_users_line_is_found_by_name_or_uid() {
        let text = "alice:100000:65536\n1000:200000:65536\nbob:300000:0\n";
        assert_eq!(find(text, Some("alice"), 5), Some((100000, 65536)));
        assert_eq!(find(text, Some("carol"), 1000), Some((200000, 65536)));
        assert_eq!(
            find(text, Some("bob"), 7),
            None,
            "an empty range maps nothing"
        );
        assert_eq!(find("", Some("alice"), 5), None);
    }
}
