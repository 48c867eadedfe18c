//! How the runner gets the right to create namespaces: as root (or with
//! CAP_SYS_ADMIN and CAP_NET_ADMIN) it has it; as an ordinary user it
//! enters a user namespace of its own, mapped to root inside, and a mount
//! namespace, and from there works exactly as under root. Either way the
//! watchdog starts here, so that nothing a lab started outlives the run.
//!
//! Rootless, one uid maps only the user: a daemon that drops to `nobody`
//! and `setpriv --reuid=65534` fail with EINVAL. Where `newuidmap` and
//! `newgidmap` (Debian's uidmap, setuid root) and a subordinate range of
//! the user's in /etc/subuid and /etc/subgid exist, the range is mapped
//! too, as podman and rootlesskit do: a helper left in the machine's user
//! namespace runs them on the runner's PID once it has unshared.

use std::io;

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getegid, geteuid, ForkResult};

use crate::watchdog;

mod subordinate;

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Privileged,
    /// `ids` says which ids the user namespace maps.
    Rootless {
        ids: Ids,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ids {
    /// The user as root, and 1…count as the user's subordinate range.
    Range { count: u32 },
    /// Only the user, as root; why no range could be mapped.
    One { why: String },
}

impl Mode {
    pub fn describe(&self) -> String {
        match self {
            Mode::Privileged => "privileged".into(),
            Mode::Rootless {
                ids: Ids::Range { count },
            } => format!("rootless (user namespace, uids and gids 0-{count} mapped)"),
            Mode::Rootless {
                ids: Ids::One { why },
            } => format!(
                "rootless (user namespace, one uid mapped: {why}; \
                 commands that change user, and daemons that drop to nobody, fail)"
            ),
        }
    }
}

/// Call first, while the process has one thread (a user namespace can
/// only be entered then).
pub fn prepare() -> Result<Mode, String> {
    let mode = if can_create_netns() {
        Mode::Privileged
    } else {
        let ids = enter_user_namespace()?;
        if !can_create_netns() {
            return Err(
                "cannot create network namespaces even inside a user namespace of its own; \
                 run as root or in a privileged container (docker run --privileged …)"
                    .into(),
            );
        }
        Mode::Rootless { ids }
    };
    watchdog::start().map_err(|e| format!("cannot start the watchdog process: {e}"))?;
    Ok(mode)
}

/// Tries in a throwaway child, so that this process stays as it is.
fn can_create_netns() -> bool {
    // SAFETY: single-threaded; the child only makes system calls and _exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = if unshare(CloneFlags::CLONE_NEWNET).is_ok() {
                0
            } else {
                1
            };
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            matches!(waitpid(child, None), Ok(WaitStatus::Exited(_, 0)))
        }
        Err(_) => false,
    }
}

fn enter_user_namespace() -> Result<Ids, String> {
    let (uid, gid) = (geteuid(), getegid());
    let ranges = subordinate::ranges(uid, gid);
    let helper = match &ranges {
        Ok(r) => Some(subordinate::Helper::fork(r)?),
        Err(_) => None,
    };
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(no_user_namespace)?;
    let mapped = match (helper, ranges) {
        (Some(helper), Ok(r)) => helper.map().map(|()| r.count()),
        (_, Err(why)) => Err(subordinate::Failed {
            why,
            uid_written: false,
        }),
        (None, Ok(_)) => unreachable!("a helper is forked whenever there are ranges"),
    };
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| format!("cannot write /proc/self/{file}: {e}"))
    };
    match mapped {
        Ok(count) => Ok(Ids::Range { count }),
        Err(subordinate::Failed { why, uid_written }) => {
            if !uid_written {
                write("uid_map", format!("0 {uid} 1\n"))?;
            }
            write("setgroups", "deny".into())?;
            write("gid_map", format!("0 {gid} 1\n"))?;
            Ok(Ids::One { why })
        }
    }
}

fn read_proc(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Says which of root, capabilities and user namespaces is missing, and how
/// to get one.
fn no_user_namespace(errno: Errno) -> String {
    let why = match errno {
        Errno::ENOSPC => {
            let max = read_proc("/proc/sys/user/max_user_namespaces").unwrap_or_else(|| "?".into());
            format!(
                "disabled or used up (user.max_user_namespaces = {max}); \
                 enable them with: sysctl -w user.max_user_namespaces=15000"
            )
        }
        Errno::EPERM if read_proc("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") => {
            "disabled for unprivileged users; enable them with: sysctl -w kernel.unprivileged_userns_clone=1"
                .into()
        }
        Errno::EPERM if read_proc("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") => {
            "restricted by AppArmor; allow them with: \
             sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
                .into()
        }
        Errno::EPERM => "forbidden by a security policy (in a container, the default seccomp profile \
                         forbids them: run it with --privileged or --security-opt seccomp=unconfined)"
            .into(),
        e => format!("creating one failed: {}", io::Error::from(e)),
    };
    format!(
        "scenario needs network namespaces, and has none of: root, the capabilities CAP_SYS_ADMIN \
         and CAP_NET_ADMIN, or user namespaces.\n  user namespaces: {why}\n  Run it as root \
         (sudo scenario run …), in a privileged container (docker run --privileged …), or make user \
         namespaces available as above."
    )
}
