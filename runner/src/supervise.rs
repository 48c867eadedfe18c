//! The process that stands between the runner and a service: the runner
//! starts its own binary with `ARG` inside the node, and that process
//! starts the service's command as its child and adopts every process the
//! command leaves behind (it is a child subreaper), so that a daemon that
//! forks away, twice, with a session of its own, is still found and ended
//! with its service. It exits with the command's status once every process
//! of the service is gone; SIGTERM, SIGINT or SIGHUP (the runner's, or the
//! one the kernel sends when the runner dies, however it dies) make it kill
//! them all at once first. The graceful stop (SIGTERM to the service, then
//! SIGKILL) is the runner's to make: it sees the same processes.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use crate::procs;

/// The first argument that makes the binary a supervisor:
/// `scenario ARG RUNNER_PID PROGRAM ARGS…`, where RUNNER_PID is the
/// runner as the supervisor sees it (0 from inside a PID namespace).
pub const ARG: &str = "__scenario-supervise";

/// Becomes a supervisor, and never returns, when the process was started
/// as one. Every binary that runs labs calls it first thing (`scenario`
/// and the test harness that runs scenarios in its own process).
pub fn serve_if_asked() {
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() != Some(OsStr::new(ARG)) {
        return;
    }
    let rest: Vec<OsString> = args.collect();
    std::process::exit(supervise(&rest));
}

fn signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    set
}

fn supervise(args: &[OsString]) -> i32 {
    let (Some(runner), Some(program)) = (
        args.first()
            .and_then(|a| a.to_str())
            .and_then(|a| a.parse::<i32>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: scenario {ARG} RUNNER_PID PROGRAM [ARGS…] (the runner's own use)");
        return 125;
    };
    let set = signals();
    if set.thread_block().is_err() || nix::sys::prctl::set_child_subreaper(true).is_err() {
        eprintln!("scenario: cannot supervise the service");
        return 125;
    }
    // The runner asked the kernel for a signal when it dies; if it died
    // before that request, nothing would come.
    if nix::unistd::getppid().as_raw() != runner {
        return 125;
    }
    let mut cmd = std::process::Command::new(program);
    cmd.args(&args[2..]);
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            Ok(())
        });
    }
    let main = match cmd.spawn() {
        Ok(child) => child.id() as i32,
        Err(e) => {
            eprintln!("cannot start {}: {e}", program.to_string_lossy());
            return 127;
        }
    };
    // The supervisor needs nothing of the node's network: in a namespace
    // of its own, empty, it is not among the node's processes that a
    // watchdog ends at once when the runner dies, and so it is always
    // there to end those of its service that left the node.
    let _ = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET);
    let mut code = None;
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, c)) if pid.as_raw() == main => code = Some(c),
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid.as_raw() == main => {
                        code = Some(128 + sig as i32)
                    }
                    Ok(WaitStatus::StillAlive) => break,
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(Errno::ECHILD) => return code.unwrap_or(0),
                    Err(_) => break,
                }
            },
            Ok(_) => kill_all(),
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// SIGKILL to every process of the service until none is left.
fn kill_all() {
    let me = std::process::id() as i32;
    procs::kill_until_gone(1000, || procs::descendants(me));
}
