//! Making nodes' namespaces, one after another on a thread of their own.

use std::fs::File;
use std::io;

use nix::sched::{setns, unshare, CloneFlags};

use super::{baseline, net, open_ns, private_proc, LabNamespaces, Namespaces, Watched};
use crate::files;

/// A thread that makes one node's namespaces after another: making a
/// thread for each would cost more than the kernel's work for a small
/// node. Only a thread that does nothing else may be one (it is left
/// inside the last node's namespaces), and only where each node's mount
/// namespace starts from the lab's (see [`Maker::reusable`]).
pub struct Maker {
    /// /proc/thread-self/ns, opened while the thread saw the runner's
    /// /proc: a node's /proc is the lab's, where the thread has no PID.
    own: File,
    fs_unshared: bool,
    /// Where the thread looks sysctls up (see `private_proc`): `None`
    /// until the first node, and where it cannot be had.
    proc: Option<private_proc::PrivateProc>,
    /// Whether to try for a procfs of its own: worth it for a thread that
    /// makes many nodes.
    many: bool,
}

impl Maker {
    /// A maker for one node.
    pub fn new() -> io::Result<Maker> {
        Ok(Maker {
            own: File::open("/proc/thread-self/ns")?,
            fs_unshared: false,
            proc: None,
            many: false,
        })
    }

    /// A maker for many nodes, one after another.
    pub fn for_many() -> io::Result<Maker> {
        Ok(Maker {
            many: true,
            ..Maker::new()?
        })
    }

    /// Gives the thread a filesystem context of its own, which a mount
    /// namespace needs (a thread shares the process's otherwise).
    fn unshare_fs(&mut self) -> io::Result<()> {
        if !self.fs_unshared {
            unshare(CloneFlags::CLONE_FS).map_err(io::Error::from)?;
            self.fs_unshared = true;
        }
        Ok(())
    }

    /// The calling thread's sysctl directories, through its own procfs
    /// where it has one.
    fn sysctl_dirs(&mut self) -> io::Result<baseline::SysctlDirs> {
        if self.many {
            self.many = false;
            self.unshare_fs()?;
            self.proc = private_proc::PrivateProc::new(&self.own).ok();
        }
        if let Some(proc) = &mut self.proc {
            if proc.enter().is_err() {
                self.proc = None;
            }
        }
        baseline::SysctlDirs::open()
    }

    /// Whether one thread may make several such nodes: a mount namespace
    /// of a node's own is a copy of the thread's, which must then be the
    /// lab's and not the last node's.
    pub fn reusable(own_files: bool, lab: bool) -> bool {
        lab || !own_files
    }

    /// Fresh namespaces for one node, the baseline sysctls set, and
    /// `init` run inside them.
    pub fn make<R>(
        &mut self,
        hostname: Option<&str>,
        own_files: Option<&str>,
        lab: Option<LabNamespaces<'_>>,
        init: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<(Namespaces, R)> {
        let mut flags = CloneFlags::CLONE_NEWNET;
        if hostname.is_some() {
            flags |= CloneFlags::CLONE_NEWUTS;
        }
        unshare(flags).map_err(io::Error::from)?;
        if let Some(name) = hostname {
            nix::unistd::sethostname(name).map_err(io::Error::from)?;
        }
        let net = open_ns(&self.own, "net")?;
        let uts = hostname.map(|_| open_ns(&self.own, "uts")).transpose()?;
        let sysctls = self.sysctl_dirs()?;
        sysctls.apply_baseline()?;
        let ipv6_conf = sysctls.ipv6_conf();
        if own_files.is_some() || lab.is_some() {
            self.unshare_fs()?;
        }
        if let Some(lab) = lab {
            setns(lab.mnt, CloneFlags::CLONE_NEWNS)?;
        }
        let (mnt, files) = match own_files {
            Some(name) => {
                unshare(CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
                let files = files::set_up(name)?;
                (Some(open_ns(&self.own, "mnt")?), Some(files))
            }
            None => (lab.map(|l| l.mnt.try_clone_to_owned()).transpose()?, None),
        };
        let out = init()?;
        let mut ns = Namespaces {
            net: net::Net::new(net)?,
            uts,
            mnt,
            pid: lab.map(|l| l.pid.clone()),
            adopted_files: false,
            files,
            ipv6_conf,
            watched: Watched(0),
        };
        ns.watched = ns.hand_to_watchdog()?;
        Ok((ns, out))
    }
}
