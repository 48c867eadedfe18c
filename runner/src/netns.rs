//! Anonymous namespaces held by file descriptors.
//!
//! A node's namespaces exist only as long as the runner holds their file
//! descriptors (the network namespace's through the node's netlink socket,
//! see `net`) and nothing else lives in them, so the kernel frees them when
//! the runner exits, however it exits. Work that must happen inside a node
//! runs on a fresh OS thread that enters the namespaces and ends with the
//! work: no thread that was ever inside a node does anything else.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread;

use nix::sched::{setns, unshare, CloneFlags};

use crate::files::OwnFiles;
use crate::watchdog;

mod baseline;
mod maker;
mod net;
mod private_proc;
pub use maker::Maker;
pub use net::NetFd;

/// The namespaces of one node: always a network namespace, a UTS
/// namespace for containers, and a mount namespace for nodes with files
/// of their own (`files`) or in a lab with a PID namespace (whose /proc
/// its commands must see, see `pidns`). The watchdog holds a copy of them
/// until they are dropped (see `watchdog`).
#[derive(Debug)]
pub struct Namespaces {
    net: net::Net,
    uts: Option<OwnedFd>,
    mnt: Option<OwnedFd>,
    /// The PID namespace the node's processes are born in.
    pid: Option<Arc<OwnedFd>>,
    /// `mnt` is an adopted process's own (see [`Namespaces::adopted`]).
    adopted_files: bool,
    files: Option<OwnFiles>,
    /// /proc/sys/net/ipv6/conf as seen inside the namespace (`None`
    /// without IPv6): a directory any thread can set an interface's IPv6
    /// through, as a path opened relative to it resolves in the namespace
    /// it was opened in. A thread that enters the namespace for each write
    /// would cost more than the write.
    ipv6_conf: Option<OwnedFd>,
    /// Last, as fields drop in order: the runner's descriptors close
    /// before the watchdog lets go of its copies, so that the watchdog's
    /// are the last, and the kernel's work of ending the namespaces (the
    /// mounts of a node's own files above all) is done in the watchdog,
    /// not in the lab's end that the run waits for.
    watched: Watched,
}

/// The watchdog's hold on a node's namespaces (see `watchdog`), let go of
/// when dropped.
#[derive(Debug)]
struct Watched(u64);

impl Drop for Watched {
    fn drop(&mut self) {
        watchdog::release(self.0);
    }
}

/// The descriptors a child enters between fork and exec.
#[derive(Debug, Clone, Copy)]
pub struct RawNamespaces {
    pub net: RawFd,
    pub uts: Option<RawFd>,
    pub mnt: Option<RawFd>,
}

/// What a lab with a PID namespace gives each of its nodes.
#[derive(Clone, Copy)]
pub struct LabNamespaces<'a> {
    /// The mount namespace with the lab's /proc, the template of a node's.
    pub mnt: BorrowedFd<'a>,
    pub pid: &'a Arc<OwnedFd>,
}

impl Namespaces {
    /// Creates fresh namespaces on a throwaway thread and runs `init` inside
    /// them before the thread ends. `hostname` asks for a UTS namespace too;
    /// `own_files` (the node's name) for a mount namespace with the node's
    /// own /etc files and scratch space.
    pub fn create<R: Send>(
        hostname: Option<&str>,
        own_files: Option<&str>,
        lab: Option<LabNamespaces<'_>>,
        init: impl FnOnce() -> io::Result<R> + Send,
    ) -> io::Result<(Namespaces, R)> {
        thread::scope(|s| {
            s.spawn(|| Maker::new()?.make(hostname, own_files, lab, init))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// The namespaces of a process the lab did not start (`adopt`): held
    /// while the lab lives, never handed to the watchdog, as the lab ends
    /// only what it made. `mnt` and `pid` where they are the process's
    /// own: its commands then run its programs, and are born in its PID
    /// namespace, as `docker exec` does; otherwise in the lab's.
    /// `mnt_is_its_own` says whether `mnt` is the process's (or the lab's,
    /// for the runner's own tools, see `Node::exec`).
    pub fn adopted(
        net: OwnedFd,
        uts: Option<OwnedFd>,
        (mnt, mnt_is_its_own): (Option<OwnedFd>, bool),
        pid: Option<Arc<OwnedFd>>,
    ) -> io::Result<Namespaces> {
        let ipv6_conf = thread::scope(|s| {
            s.spawn(|| -> io::Result<Option<OwnedFd>> {
                setns(net.as_fd(), CloneFlags::CLONE_NEWNET)?;
                Ok(File::open("/proc/sys/net/ipv6/conf")
                    .ok()
                    .map(OwnedFd::from))
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })?;
        Ok(Namespaces {
            net: net::Net::new(net)?,
            uts,
            adopted_files: mnt.is_some() && mnt_is_its_own,
            mnt,
            pid,
            files: None,
            ipv6_conf,
            watched: Watched(0),
        })
    }

    /// Whether commands run the programs of an adopted process's own
    /// files, found on its PATH, rather than the machine's.
    pub fn adopted_files(&self) -> bool {
        self.adopted_files
    }

    /// The node's own files, when it has them.
    pub fn files(&self) -> Option<&OwnFiles> {
        self.files.as_ref()
    }

    /// Runs `f` on a fresh OS thread inside the node's network and UTS
    /// namespaces. The thread keeps the runner's files (and /proc, where
    /// /proc/thread-self is its own): only [`Namespaces::run_in_files`]
    /// needs the node's.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> io::Result<R> {
        self.run_entering(false, f)
    }

    /// Runs `f` on a fresh OS thread inside all of the node's namespaces,
    /// its mount namespace too: for reading and writing the node's files.
    pub fn run_in_files<R: Send>(&self, f: impl FnOnce() -> R + Send) -> io::Result<R> {
        self.run_entering(true, f)
    }

    fn run_entering<R: Send>(&self, files: bool, f: impl FnOnce() -> R + Send) -> io::Result<R> {
        thread::scope(|s| {
            let net = self.net.fd()?;
            s.spawn(move || {
                setns(net.as_fd(), CloneFlags::CLONE_NEWNET)?;
                if let Some(uts) = &self.uts {
                    setns(uts.as_fd(), CloneFlags::CLONE_NEWUTS)?;
                }
                if let Some(mnt) = self.mnt.as_ref().filter(|_| files) {
                    unshare(CloneFlags::CLONE_FS)?;
                    setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS)?;
                }
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Runs `spawn`, which starts processes for the node, so that they are
    /// born in the node's PID namespace where it has one.
    pub fn spawn<T: Send>(&self, spawn: impl FnOnce() -> T + Send) -> io::Result<T> {
        match &self.pid {
            Some(pid) => crate::pidns::born_in(pid, spawn),
            None => Ok(spawn()),
        }
    }

    /// Whether the node's processes live in a PID namespace of the lab's,
    /// whose end ends them (and where the runner is not their parent's
    /// process).
    pub fn has_pid_ns(&self) -> bool {
        self.pid.is_some()
    }

    /// Raw descriptors that stay open while the node lives, for paths
    /// that others open (`/proc/PID/fd/N`).
    pub fn held_fds(&self) -> io::Result<RawNamespaces> {
        Ok(self.raw_fds(self.net.held()?.as_raw_fd()))
    }

    /// Raw descriptors for a child process to enter between fork and
    /// exec, and the network namespace's, which must stay open until then.
    pub fn for_child(&self) -> io::Result<(RawNamespaces, OwnedFd)> {
        let net = self.net.fd()?.into_owned()?;
        Ok((self.raw_fds(net.as_raw_fd()), net))
    }

    fn raw_fds(&self, net: RawFd) -> RawNamespaces {
        RawNamespaces {
            net,
            uts: self.uts.as_ref().map(|fd| fd.as_raw_fd()),
            mnt: self.mnt.as_ref().map(|fd| fd.as_raw_fd()),
        }
    }

    /// A descriptor of the network namespace, for as long as it is used.
    pub fn net_fd(&self) -> io::Result<NetFd<'_>> {
        self.net.fd()
    }

    /// Lets the node's netlink socket, which must stay open as long as
    /// `self` lives, hold the network namespace instead of a descriptor of
    /// its own (see `net`). Where the kernel cannot tell a socket's
    /// namespace, the descriptor stays.
    pub fn hold_net_through(&mut self, socket: RawFd) {
        let _ = self.net.hold_through(socket);
    }

    /// Writes `net.ipv6.conf.<ifname>.<key>` of this namespace, from any
    /// thread.
    pub fn write_ipv6_conf(&self, ifname: &str, key: &str, value: &str) -> io::Result<()> {
        let dir = self.ipv6_conf.as_ref().ok_or(io::ErrorKind::NotFound)?;
        if ifname.contains('/') || ifname.starts_with('.') {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let mut file = File::from(open_at(
            dir.as_fd(),
            &format!("{ifname}/{key}"),
            libc::O_WRONLY,
        )?);
        std::io::Write::write_all(&mut file, value.as_bytes())
    }

    /// What the watchdog holds a copy of: the namespaces, and the IPv6
    /// settings directory. That pins a procfs instance of a node-making
    /// thread's (see `private_proc`), and the last close of one sweeps its
    /// dentries, the sysctls of every node it served: tens of
    /// milliseconds for a thousand nodes, better spent in the watchdog
    /// than in the lab's end that the run waits for.
    fn hand_to_watchdog(&self) -> io::Result<Watched> {
        let net = self.net.fd()?;
        let fds: Vec<BorrowedFd<'_>> = std::iter::once(net.as_fd())
            .chain(self.others().map(|fd| fd.as_fd()))
            .chain(self.ipv6_conf.as_ref().map(|fd| fd.as_fd()))
            .collect();
        Ok(Watched(watchdog::watch(&fds)))
    }

    /// The descriptors of the namespaces other than the network's.
    fn others(&self) -> impl Iterator<Item = &OwnedFd> {
        self.uts.iter().chain(&self.mnt)
    }

    /// The inodes that name the node's namespaces in /proc/PID/ns/; unique
    /// while `self` holds them.
    pub fn inodes(&self) -> Vec<u64> {
        std::iter::once(self.net.ino())
            .chain(
                self.others()
                    .filter_map(|fd| Some(nix::sys::stat::fstat(fd.as_fd()).ok()?.st_ino)),
            )
            .collect()
    }
}

/// Enters the given namespaces; async-signal-safe, for `pre_exec`. `cwd`
/// is where the child goes once in a mount namespace, which puts it at
/// its root: the runner's directory, where the node sees it too.
pub fn enter_raw(ns: RawNamespaces, cwd: Option<&std::ffi::CStr>) -> io::Result<()> {
    // SAFETY: the descriptors are owned by the parent's `Namespaces`, which
    // outlives the child's fork-to-exec window.
    let net = unsafe { std::os::fd::BorrowedFd::borrow_raw(ns.net) };
    setns(net, CloneFlags::CLONE_NEWNET)?;
    if let Some(uts) = ns.uts {
        let uts = unsafe { std::os::fd::BorrowedFd::borrow_raw(uts) };
        setns(uts, CloneFlags::CLONE_NEWUTS)?;
    }
    if let Some(mnt) = ns.mnt {
        let mnt = unsafe { std::os::fd::BorrowedFd::borrow_raw(mnt) };
        setns(mnt, CloneFlags::CLONE_NEWNS)?;
        if let Some(cwd) = cwd {
            // A directory the node's scratch space hides is not there.
            let _ = nix::unistd::chdir(cwd);
        }
    }
    Ok(())
}

/// Opens `rel` under the directory `dir`, as `flags` (O_RDONLY, …) say.
pub fn open_at(dir: BorrowedFd<'_>, rel: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = std::ffi::CString::new(rel)?;
    // SAFETY: a valid directory descriptor and C string.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just opened, owned here.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// A namespace of the thread whose /proc/thread-self/ns `dir` is.
fn open_ns(dir: &File, kind: &str) -> io::Result<OwnedFd> {
    open_at(dir.as_fd(), kind, libc::O_RDONLY)
}

/// Writes a sysctl of the calling thread's network namespace.
pub fn write_sysctl(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(sysctl_path(key), value)
}

pub fn read_sysctl(key: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(sysctl_path(key))?
        .trim()
        .to_string())
}

/// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`; a key written
/// with slashes is taken as it is, so interface names with dots still work.
pub fn sysctl_path(key: &str) -> String {
    if key.contains('/') {
        format!("/proc/sys/{}", key.trim_start_matches('/'))
    } else {
        format!("/proc/sys/{}", key.replace('.', "/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_proc_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.5/rp_filter"),
            "/proc/sys/net/ipv4/conf/eth0.5/rp_filter"
        );
    }
}
