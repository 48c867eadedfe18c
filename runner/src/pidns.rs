//! A PID namespace per lab, so that nothing a lab starts outlives it,
//! whoever started it: the runner, a daemon that double-forks (conmon), or
//! an engine that gives its containers PID and network namespaces of their
//! own (runc). Every process of a lab is born in the lab's PID namespace or
//! in one nested below it, and processes never leave their PID namespace.
//! When the namespace's first process (its init, here) exits, the kernel
//! kills every process in it and in the namespaces nested below, and
//! `waitpid` on the init returns only once they are all gone.
//!
//! Why a PID namespace and not the alternatives: a cgroup is left by
//! engines (Docker and podman move their containers into cgroups of their
//! own) and is not the runner's to make rootless; the watchdog's search by
//! network, mount and UTS namespace misses a container in namespaces an
//! engine made. A PID namespace has neither hole and needs no cleanup code
//! to be right.
//!
//! The init is forked from the runner (no program of its own: a few system
//! calls, async-signal-safe) and lives until the lab drops the write end of
//! a pipe, or the runner exits, however it exits: the pipe closes then,
//! and with it the namespace. It also reaps the orphans of the lab, as a
//! PID 1 must, and holds the lab's `/proc`: processes of the namespace see
//! their own PIDs only in a procfs mounted from inside it, so the init
//! makes a mount namespace (a copy of the runner's) with one, and every
//! node's mount namespace is made from that copy. Tools that read
//! `/proc/PID` (runc, containerd, `docker inspect`'s PID) then agree with
//! the PIDs their processes have.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Where the init keeps the descriptors it is given.
const END_FD: RawFd = 3;
const READY_FD: RawFd = 4;
/// The lab's iptables-legacy lock, as `/proc/1/fd/5` inside the lab.
const LOCK_FD: RawFd = 5;

/// A lab's PID namespace and the mount namespace with its `/proc`.
#[derive(Debug)]
pub struct LabPids {
    init: Pid,
    /// The namespace, for children to be born in (see [`born_in`]).
    pid_ns: Arc<OwnedFd>,
    /// The init's mount namespace: the machine's files, the lab's /proc.
    mnt: OwnedFd,
    /// The lab's /proc, for the runner to look PIDs of the lab up in.
    proc_dir: OwnedFd,
    /// The init's NSpid entry that is its PID in the lab: its depth.
    level: usize,
    /// Closing it ends the init, and so the namespace.
    end: Option<OwnedFd>,
}

impl LabPids {
    /// Starts the lab's init; `lock` is a descriptor it keeps open for the
    /// lab's commands (see [`LabPids::lockfile`]).
    pub fn start(lock: BorrowedFd<'_>) -> io::Result<LabPids> {
        let (end_r, end_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let fds = [end_r.as_raw_fd(), ready_w.as_raw_fd(), lock.as_raw_fd()];
        // Only this throwaway thread's children are born in the new
        // namespace; the runner's other threads go on as they were.
        let init = std::thread::scope(|s| {
            s.spawn(|| -> io::Result<Pid> {
                unshare(CloneFlags::CLONE_NEWPID)?;
                // SAFETY: the child only makes async-signal-safe system
                // calls (`init_main`) and never returns.
                match unsafe { nix::unistd::fork() }? {
                    nix::unistd::ForkResult::Child => unsafe { init_main(fds) },
                    nix::unistd::ForkResult::Parent { child } => Ok(child),
                }
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })?;
        drop((end_r, ready_w));
        let mut guard = Started {
            init,
            end: Some(end_w),
        };
        let mut word = [0u8; 4];
        let n = nix::unistd::read(&ready_r, &mut word)?;
        let errno = i32::from_ne_bytes(word);
        if n != 4 || errno != 0 {
            let e = if n == 4 {
                io::Error::from_raw_os_error(errno)
            } else {
                io::Error::other("it exited before it was ready")
            };
            return Err(io::Error::new(
                e.kind(),
                format!("cannot mount the lab's /proc in its PID namespace: {e}"),
            ));
        }
        let open = |rel: &str, flags: libc::c_int| -> io::Result<OwnedFd> {
            let path = std::ffi::CString::new(format!("/proc/{init}/{rel}"))?;
            // SAFETY: a valid C string; the descriptor is owned here.
            let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let pid_ns = open("ns/pid", libc::O_RDONLY)?;
        let mnt = open("ns/mnt", libc::O_RDONLY)?;
        let proc_dir = open("root/proc", libc::O_PATH | libc::O_DIRECTORY)?;
        let level = ns_pids(&std::fs::read_to_string(format!("/proc/{init}/status"))?)
            .len()
            .checked_sub(1)
            .ok_or_else(|| io::Error::other("the lab's init has no NSpid line"))?;
        Ok(LabPids {
            init,
            pid_ns: Arc::new(pid_ns),
            mnt,
            proc_dir,
            level,
            end: guard.end.take(),
        })
    }

    pub fn pid_ns(&self) -> Arc<OwnedFd> {
        self.pid_ns.clone()
    }

    /// The lab's mount namespace (see the module's documentation).
    pub fn mnt(&self) -> BorrowedFd<'_> {
        self.mnt.as_fd()
    }

    /// The path of the lab's iptables-legacy lock, for its commands.
    pub fn lockfile() -> String {
        format!("/proc/1/fd/{LOCK_FD}")
    }

    /// A process of the lab, by the PID the lab's commands know it by:
    /// its /proc directory (as a descriptor, which names that process and
    /// no later one with the same number).
    pub fn open_process(&self, pid: u32) -> io::Result<OwnedFd> {
        crate::netns::open_at(self.proc_dir.as_fd(), &pid.to_string(), libc::O_RDONLY)
    }

    /// The PID the lab's commands know a process by, from the one the
    /// runner knows it by; `None` when it is not in the lab (or gone).
    pub fn inner_pid(&self, pid: u32) -> Option<u32> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        ns_pids(&status).get(self.level).copied()
    }
}

/// Ends the init if `start` fails half-way.
struct Started {
    init: Pid,
    end: Option<OwnedFd>,
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.end.take().is_some() {
            let _ = waitpid(self.init, None);
        }
    }
}

impl Drop for LabPids {
    /// The init exits once its pipe closes; the kernel then kills every
    /// process of the namespace, and the init is reaped after the last.
    /// The last include the runner's own children, whose parent alone can
    /// reap them: a command given up on (an interrupted run) may be left
    /// to a reaper that no longer runs, and the init would wait for it
    /// for ever. At the lab's end they are the lab's, and reaped here.
    fn drop(&mut self) {
        drop(self.end.take());
        let began = std::time::Instant::now();
        while matches!(
            waitpid(self.init, Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::StillAlive)
        ) {
            if began.elapsed() > std::time::Duration::from_millis(2) {
                for child in self.own_zombies() {
                    let _ = waitpid(Pid::from_raw(child), Some(WaitPidFlag::WNOHANG));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl LabPids {
    /// The runner's children in the lab that have exited but are not
    /// reaped.
    fn own_zombies(&self) -> Vec<i32> {
        let me = std::process::id() as i32;
        let Ok(ours) = nix::sys::stat::fstat(self.pid_ns.as_fd()) else {
            return Vec::new();
        };
        crate::procs::zombie_children(me)
            .into_iter()
            .filter(|pid| {
                // Other labs of the run have children of the runner's too.
                std::fs::File::open(format!("/proc/{pid}/ns/pid"))
                    .is_ok_and(|ns| within(ns.into(), ours.st_ino))
            })
            .collect()
    }
}

/// Whether the PID namespace `ns` is the one numbered `ino` or nested
/// below it (a zombie's namespace links still say which).
fn within(ns: OwnedFd, ino: u64) -> bool {
    /// NS_GET_PARENT, from linux/nsfs.h: _IO(0xb7, 0x2).
    const NS_GET_PARENT: libc::c_ulong = 0xb702;
    let mut ns = ns;
    loop {
        match nix::sys::stat::fstat(ns.as_fd()) {
            Ok(st) if st.st_ino == ino => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        // SAFETY: an ioctl without arguments on a namespace descriptor;
        // the one it returns is owned here.
        let parent = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_PARENT) };
        if parent < 0 {
            return false;
        }
        ns = unsafe { OwnedFd::from_raw_fd(parent) };
    }
}

/// Runs `spawn` so that the processes it forks are born in `pid_ns`: on
/// a thread of its own, since a thread whose children go to another PID
/// namespace can start no threads, and only root could bring it back.
/// What is spawned here must not ask for a signal at its parent's death
/// (the parent is this short-lived thread); the namespace's end does that
/// work.
pub fn born_in<T: Send>(pid_ns: &OwnedFd, spawn: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(pid_ns.as_fd(), CloneFlags::CLONE_NEWPID)?;
            Ok(spawn())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The `NSpid:` line of /proc/PID/status: the process's PID in each PID
/// namespace it is in, from the one /proc was mounted in down.
pub fn ns_pids(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The init: between fork and its exit it makes system calls only.
///
/// # Safety
/// Call only in a child just forked, with `fds` = the pipe's read end, the
/// readiness pipe's write end and the lock descriptor.
unsafe fn init_main(fds: [RawFd; 3]) -> ! {
    // Out of the way of the numbers they go to, then into place: nothing
    // else of the runner's stays open here (its stdout least of all, which
    // whoever reads the runner's output waits on).
    let mut high = [0; 3];
    for (h, fd) in high.iter_mut().zip(fds) {
        *h = libc::fcntl(fd, libc::F_DUPFD, 100);
    }
    for (h, to) in high.iter().zip([END_FD, READY_FD, LOCK_FD]) {
        libc::dup2(*h, to);
    }
    libc::syscall(libc::SYS_close_range, LOCK_FD + 1, u32::MAX, 0);
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    for to in 0..3 {
        libc::dup2(null, to);
    }
    if null > 2 {
        libc::close(null);
    }
    // What `ps` shows it as, rather than a second runner.
    libc::prctl(libc::PR_SET_NAME, c"scenario-init".as_ptr());
    if libc::unshare(libc::CLONE_NEWNS) != 0 {
        fail(errno());
    }
    // Nothing mounted here may reach the runner's mount namespace.
    if libc::mount(
        std::ptr::null(),
        c"/".as_ptr(),
        std::ptr::null(),
        libc::MS_REC | libc::MS_SLAVE,
        std::ptr::null(),
    ) != 0
    {
        fail(errno());
    }
    let proc_: &CStr = c"proc";
    if libc::mount(
        proc_.as_ptr(),
        c"/proc".as_ptr(),
        proc_.as_ptr(),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        std::ptr::null(),
    ) != 0
    {
        fail(errno());
    }
    let ok: i32 = 0;
    libc::write(READY_FD, (&ok as *const i32).cast(), 4);
    libc::close(READY_FD);
    // SIGCHLD is blocked but while ppoll waits, so that an orphan's end
    // always wakes it and none is left unreaped.
    extern "C" fn woken(_: libc::c_int) {}
    let mut action: libc::sigaction = std::mem::zeroed();
    action.sa_sigaction = woken as *const () as usize;
    libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut());
    let mut chld: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut chld);
    libc::sigaddset(&mut chld, libc::SIGCHLD);
    libc::sigprocmask(libc::SIG_BLOCK, &chld, std::ptr::null_mut());
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    loop {
        while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
        let mut pfd = libc::pollfd {
            fd: END_FD,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::ppoll(&mut pfd, 1, std::ptr::null(), &none) > 0 {
            let mut b = 0u8;
            if libc::read(END_FD, (&mut b as *mut u8).cast(), 1) <= 0 {
                libc::_exit(0);
            }
        }
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Tells the runner why the init cannot serve, and exits.
unsafe fn fail(errno: i32) -> ! {
    libc::write(READY_FD, (&errno as *const i32).cast(), 4);
    libc::_exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nspid_lists_a_pid_per_namespace() {
        let status = "Name:\tsleep\nTgid:\t4242\nNSpid:\t4242\t17\t1\nPPid:\t1\n";
        assert_eq!(ns_pids(status), vec![4242, 17, 1]);
        assert_eq!(ns_pids("Name:\tx\n"), Vec::<u32>::new());
    }
}
