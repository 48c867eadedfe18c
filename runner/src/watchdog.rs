//! A small process that outlives the runner by a moment to end what the
//! runner's labs left running, however the runner ended (SIGKILL included).
//!
//! Forked at start, while the runner has one thread. The runner tells it the
//! network namespace of every node it creates through a pipe; when the pipe
//! closes (the runner has exited, one way or another), it kills every
//! process still living in one of those namespaces (only the labs'
//! commands live there) and exits. The namespaces themselves are held only
//! by the runner's file descriptors, so the kernel frees them then.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use nix::sys::signal::{kill, signal, SigHandler, Signal};
use nix::unistd::{fork, ForkResult, Pid};

use crate::netns;

static PIPE: OnceLock<Mutex<File>> = OnceLock::new();

/// Starts the watchdog. Must be called while the process has one thread.
pub fn start() -> std::io::Result<()> {
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the process is single-threaded here, so the child may do
    // anything a normal process does.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(write);
            serve(File::from(read));
            std::process::exit(0);
        }
        ForkResult::Parent { .. } => {
            drop(read);
            let _ = PIPE.set(Mutex::new(File::from(write)));
            Ok(())
        }
    }
}

/// Puts a namespace under watch.
pub fn watch(inode: u64) {
    if let Some(pipe) = PIPE.get() {
        // Eight bytes are written atomically to a pipe.
        let _ = pipe.lock().unwrap().write_all(&inode.to_ne_bytes());
    }
}

fn serve(mut pipe: File) {
    // Whoever reads the runner's output should not wait for the watchdog.
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    // Ctrl-C and a terminal hang-up reach the whole process group; the
    // watchdog stays until the runner is gone.
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: installing SIG_IGN.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    let mut inodes = Vec::new();
    let mut buf = [0u8; 8];
    while pipe.read_exact(&mut buf).is_ok() {
        inodes.push(u64::from_ne_bytes(buf));
    }
    end_processes_in(&inodes);
}

/// Kills every process in the given network namespaces, scanning again
/// until none is left: a process may fork between a scan and the kill, and
/// a dying one can linger a moment, so the passes are bounded.
pub fn end_processes_in(inodes: &[u64]) {
    if inodes.is_empty() {
        return;
    }
    for _ in 0..100 {
        let pids = netns::processes_in(inodes);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
