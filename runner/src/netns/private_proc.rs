//! A procfs of a namespace-making thread's own, through which it sets
//! each new node's baseline sysctls (see `baseline`).
//!
//! Why: the first lookup of /proc/sys/net/ipv4 (ipv6, bridge) in a new
//! network namespace walks one dcache hash chain that holds that entry of
//! every namespace ever looked up through the same procfs, under a lock
//! the whole machine shares: the cost of making a node grew with the
//! number of nodes alive (a third of the runner's time with 1000, most of
//! it with 2000). Dentries belong to a procfs instance, so a fresh
//! instance starts with an empty chain; it is replaced every
//! [`NODES_PER_PROC`] nodes, which bounds the chain. The instance is
//! mounted in a private mount namespace of the thread's (nothing reaches
//! the machine's), which it returns to for each node's sysctls only.
//! Where it cannot be had (rootless, where the runner's PID namespace is
//! not its own), the runner's /proc serves, as before.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Nodes whose lookups one procfs instance takes before a fresh one.
const NODES_PER_PROC: usize = 64;

pub struct PrivateProc {
    /// The thread's private mount namespace, with the instance on /proc.
    mnt: OwnedFd,
    /// Nodes looked up through the current instance.
    served: usize,
}

impl PrivateProc {
    /// Makes the thread's private mount namespace and mounts a procfs
    /// there; `own` is the thread's /proc/thread-self/ns. The thread must
    /// have a filesystem context of its own (CLONE_FS).
    pub fn new(own: &std::fs::File) -> io::Result<PrivateProc> {
        unshare(CloneFlags::CLONE_NEWNS)?;
        crate::files::cut_off_mounts()?;
        mount_proc()?;
        Ok(PrivateProc {
            mnt: super::open_at(own.as_fd(), "mnt", libc::O_RDONLY)?,
            served: 0,
        })
    }

    /// Puts the calling thread in the private mount namespace, its /proc
    /// a fresh instance every [`NODES_PER_PROC`] calls.
    pub fn enter(&mut self) -> io::Result<()> {
        setns(self.mnt.as_fd(), CloneFlags::CLONE_NEWNS)?;
        if self.served == NODES_PER_PROC {
            // Detached: the IPv6 settings directories of the nodes it
            // served keep the old instance until they end.
            umount2("/proc", MntFlags::MNT_DETACH)?;
            mount_proc()?;
            self.served = 0;
        }
        self.served += 1;
        Ok(())
    }
}

fn mount_proc() -> io::Result<()> {
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )?;
    Ok(())
}
