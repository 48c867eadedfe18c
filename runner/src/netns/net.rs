//! How a node holds its network namespace: through its netlink socket,
//! once it has one, rather than a descriptor of the namespace's own. The
//! kernel opens a descriptor of a socket's namespace on demand
//! (SIOCGSKNS), so the few places that need one (a veth's far end, a
//! thread or child entering the node) get it for as long as they use it.
//! That is one descriptor fewer for every node: a lab of 4000 containers
//! then fits in the 20000 open files a machine commonly allows.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// linux/sockios.h: a descriptor of the network namespace of a socket.
const SIOCGSKNS: libc::c_ulong = 0x894C;

#[derive(Debug)]
pub(super) struct Net {
    /// Which namespace it is: what a descriptor the socket gives is
    /// checked against.
    ino: u64,
    /// A descriptor of its own: until the socket holds the namespace, and
    /// once a path through it has been handed out (see [`Net::held`]).
    fd: OnceLock<OwnedFd>,
    /// A socket bound to the namespace, owned by the node, which outlives
    /// `self`.
    socket: Option<RawFd>,
}

/// A descriptor of the namespace, for as long as it is used.
pub enum NetFd<'a> {
    Held(BorrowedFd<'a>),
    Opened(OwnedFd),
}

impl AsFd for NetFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            NetFd::Held(fd) => *fd,
            NetFd::Opened(fd) => fd.as_fd(),
        }
    }
}

impl NetFd<'_> {
    /// A descriptor that outlives the borrow of the namespace: for a
    /// child, which enters it between fork and exec.
    pub fn into_owned(self) -> io::Result<OwnedFd> {
        match self {
            NetFd::Held(fd) => fd.try_clone_to_owned(),
            NetFd::Opened(fd) => Ok(fd),
        }
    }
}

impl Net {
    pub fn new(fd: OwnedFd) -> io::Result<Net> {
        Ok(Net {
            ino: nix::sys::stat::fstat(fd.as_fd())?.st_ino,
            fd: OnceLock::from(fd),
            socket: None,
        })
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Lets go of the namespace's own descriptor: `socket`, which must
    /// stay open as long as `self` lives, holds the namespace from now on.
    pub fn hold_through(&mut self, socket: RawFd) -> io::Result<()> {
        self.opened_from(socket)?;
        self.socket = Some(socket);
        self.fd.take();
        Ok(())
    }

    /// A descriptor of the namespace.
    pub fn fd(&self) -> io::Result<NetFd<'_>> {
        match self.fd.get() {
            Some(fd) => Ok(NetFd::Held(fd.as_fd())),
            None => self.opened().map(NetFd::Opened),
        }
    }

    /// A descriptor that stays open while `self` lives: for a path to the
    /// namespace that others open later (`/proc/PID/fd/N`).
    pub fn held(&self) -> io::Result<BorrowedFd<'_>> {
        if self.fd.get().is_none() {
            let _ = self.fd.set(self.opened()?);
        }
        Ok(self.fd.get().expect("just set").as_fd())
    }

    /// A fresh descriptor from the node's socket.
    fn opened(&self) -> io::Result<OwnedFd> {
        self.opened_from(self.socket.ok_or(io::ErrorKind::NotFound)?)
    }

    /// A fresh descriptor from `socket`, checked to be the namespace's.
    fn opened_from(&self, socket: RawFd) -> io::Result<OwnedFd> {
        // SAFETY: an ioctl without an argument; on success the kernel
        // returns a new descriptor that nothing else owns.
        let fd = unsafe { libc::ioctl(socket, SIOCGSKNS as _) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if nix::sys::stat::fstat(fd.as_fd())?.st_ino != self.ino {
            // Never another namespace (the machine's) in the node's name.
            return Err(io::Error::other(format!(
                "descriptor {socket} no longer holds the node's network namespace"
            )));
        }
        Ok(fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_socket_answers_for_its_namespace_and_nothing_else_does() {
        let ns = std::fs::File::open("/proc/self/ns/net").unwrap();
        let mut net = Net::new(ns.into()).unwrap();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        net.hold_through(socket.as_raw_fd()).unwrap();
        let fd = net.fd().unwrap();
        assert!(matches!(fd, NetFd::Opened(_)));
        assert_eq!(nix::sys::stat::fstat(fd.as_fd()).unwrap().st_ino, net.ino());
        // A path handed out stays: the same descriptor each time.
        let held = net.held().unwrap().as_raw_fd();
        assert_eq!(net.held().unwrap().as_raw_fd(), held);

        // A descriptor that is not a socket answers for nothing, and the
        // namespace's own stays held.
        let ns = std::fs::File::open("/proc/self/ns/net").unwrap();
        let mut net = Net::new(ns.into()).unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        assert!(net.hold_through(file.as_raw_fd()).is_err());
        assert!(matches!(net.fd().unwrap(), NetFd::Held(_)));

        // Nor does a socket of another namespace.
        let elsewhere = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            std::net::UdpSocket::bind("0.0.0.0:0").unwrap()
        })
        .join()
        .unwrap();
        let err = net.hold_through(elsewhere.as_raw_fd()).unwrap_err();
        assert!(err.to_string().contains("no longer holds"), "{err}");
    }
}
