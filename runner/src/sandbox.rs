//! How the runner gets the right to create namespaces: as root (or with
//! CAP_SYS_ADMIN and CAP_NET_ADMIN) it has it; as an ordinary user it
//! enters a user namespace of its own, mapped to root inside, and a mount
//! namespace, and from there works exactly as under root. Either way the
//! watchdog starts here, so that nothing a lab started outlives the run.

use std::io;

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getegid, geteuid, ForkResult};

use crate::watchdog;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Privileged,
    Rootless,
}

impl Mode {
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Privileged => "privileged",
            Mode::Rootless => "rootless (user namespace)",
        }
    }
}

/// Call first, while the process has one thread (a user namespace can
/// only be entered then).
pub fn prepare() -> Result<Mode, String> {
    let mode = if can_create_netns() {
        Mode::Privileged
    } else {
        enter_user_namespace()?;
        if !can_create_netns() {
            return Err(
                "cannot create network namespaces even inside a user namespace of its own; \
                 run as root or in a privileged container (docker run --privileged …)"
                    .into(),
            );
        }
        Mode::Rootless
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

fn enter_user_namespace() -> Result<(), String> {
    let (uid, gid) = (geteuid(), getegid());
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(no_user_namespace)?;
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| format!("cannot write /proc/self/{file}: {e}"))
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {uid} 1\n"))?;
    write("gid_map", format!("0 {gid} 1\n"))?;
    Ok(())
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
