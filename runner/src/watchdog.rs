//! A small process that outlives the runner by a moment to end what the
//! runner's labs left running, however the runner ended: SIGKILL of the
//! runner alone, of its whole process group, or of its whole session.
//!
//! Forked at start, while the runner has one thread, it leaves the runner's
//! session and process group at once (`setsid`): CI systems cancel a job by
//! killing its process group or session, and a watchdog that died with the
//! runner would leave every daemon of the lab running, holding the lab's
//! namespaces alive. It needs no cgroup, so it works the same as root, in a
//! container and rootless.
//!
//! The runner hands it a duplicate of each node's namespace descriptors over
//! a socket (and of its IPv6 settings directory, whose last close is work
//! better done after the run). Holding them is what makes the watchdog
//! safe: a namespace's inode number is only unique while the namespace
//! lives, and one freed and reused by another run must never be mistaken
//! for the lab's. When a node ends, the runner tells it to let go; when the
//! socket closes (the runner has exited, one way or another), it kills
//! every process whose network, mount or UTS namespace is one it holds
//! (only what the lab started lives there, daemons that left their group
//! and session included), then exits, and the kernel frees the namespaces.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::unistd::{fork, ForkResult};

static SOCKET: OnceLock<Mutex<OwnedFd>> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The most descriptors one node hands over (network, UTS, mount, its IPv6
/// settings directory, and room to grow).
const MAX_FDS: usize = 8;

/// Starts the watchdog. Must be called while the process has one thread.
pub fn start() -> std::io::Result<()> {
    // Datagrams keep each message whole with its descriptors.
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let runner = std::process::id();
    // SAFETY: the process is single-threaded here, so the child may do
    // anything a normal process does.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(ours);
            // Out of the runner's process group and session, so that a kill
            // of either leaves the watchdog to clean up after it.
            let _ = nix::unistd::setsid();
            serve(theirs, runner);
            std::process::exit(0);
        }
        ForkResult::Parent { .. } => {
            drop(theirs);
            let _ = SOCKET.set(Mutex::new(ours));
            Ok(())
        }
    }
}

/// Hands the watchdog a node's namespace descriptors; returns the id that
/// [`release`] takes (0 when no watchdog runs, as in unit tests).
pub fn watch(fds: &[BorrowedFd<'_>]) -> u64 {
    let Some(socket) = SOCKET.get() else {
        return 0;
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    send(socket, &message(b'W', id), &raw);
    id
}

/// Tells the watchdog to let go of a node's namespaces: the node has ended.
pub fn release(id: u64) {
    if let Some(socket) = SOCKET.get().filter(|_| id != 0) {
        send(socket, &message(b'R', id), &[]);
    }
}

fn message(kind: u8, id: u64) -> [u8; 9] {
    let mut m = [kind; 9];
    m[1..].copy_from_slice(&id.to_ne_bytes());
    m
}

fn send(socket: &Mutex<OwnedFd>, msg: &[u8], fds: &[RawFd]) {
    let socket = socket.lock().unwrap_or_else(|e| e.into_inner());
    let cmsgs = [ControlMessage::ScmRights(fds)];
    let cmsgs = if fds.is_empty() { &[][..] } else { &cmsgs[..] };
    // A watchdog that is gone cannot be helped; the run goes on without it
    // (MSG_NOSIGNAL: no SIGPIPE for that).
    let _ = sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(msg)],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    );
}

fn serve(socket: OwnedFd, runner: u32) {
    // Whoever reads the runner's output should not wait for the watchdog.
    if let Ok(null) = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    // A terminal's Ctrl-C, hang-up or quit reaches the runner's group; the
    // watchdog stays until the runner is gone.
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
    ] {
        // SAFETY: installing SIG_IGN.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    let mut held = Held::default();
    // What a released node held is closed one node at a time, and only
    // while no message waits: the last close of a node's namespaces is the
    // kernel's work of ending them (the mounts of its own files above all),
    // and a runner ending a lab of a thousand nodes sends its releases
    // faster than that; it would wait on a full socket.
    let mut released = Vec::new();
    loop {
        match receive(&socket, released.is_empty()) {
            Received::Message(b'W', id, fds) => held.add(id, fds),
            Received::Message(_, id, _) => released.extend(held.take(id)),
            Received::Nothing => drop(released.pop()),
            Received::Gone => break,
        }
    }
    drop(released);
    end_processes_in(&held.inodes());
    // The namespaces go first: removing the cgroups may wait for the last
    // process in them to be reaped, and nothing may hold the lab's
    // namespaces meanwhile.
    drop(held);
    crate::cgroups::remove_left_by(Some(runner));
}

/// Namespaces the watchdog holds, by node, with their inode numbers (stable
/// and unique while held).
#[derive(Default)]
struct Held(HashMap<u64, Vec<(OwnedFd, u64)>>);

impl Held {
    /// A node's descriptors: its namespaces, by which its processes are
    /// found, and anything else whose last close is best left to the
    /// watchdog (inode 0: never a namespace's).
    fn add(&mut self, id: u64, fds: Vec<OwnedFd>) {
        use nix::sys::statfs::{fstatfs, NSFS_MAGIC};
        let with_inodes = fds
            .into_iter()
            .map(|fd| {
                let ns = fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC);
                let ino = if ns {
                    nix::sys::stat::fstat(&fd).map_or(0, |s| s.st_ino)
                } else {
                    0
                };
                (fd, ino)
            })
            .collect();
        self.0.insert(id, with_inodes);
    }

    fn take(&mut self, id: u64) -> Option<Vec<(OwnedFd, u64)>> {
        self.0.remove(&id)
    }

    fn inodes(&self) -> Vec<u64> {
        let all = self.0.values().flatten();
        all.map(|(_, ino)| *ino).filter(|ino| *ino != 0).collect()
    }
}

enum Received {
    /// Its kind, the node's id and the descriptors it carried.
    Message(u8, u64, Vec<OwnedFd>),
    /// None waits (asked without waiting).
    Nothing,
    /// The runner is gone.
    Gone,
}

/// The next message, waiting for one if `wait`.
fn receive(socket: &OwnedFd, wait: bool) -> Received {
    let flags = if wait {
        MsgFlags::MSG_CMSG_CLOEXEC
    } else {
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT
    };
    let mut buf = [0u8; 9];
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), flags) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::EAGAIN) => return Received::Nothing,
            Err(_) => return Received::Gone,
            Ok(msg) => msg,
        };
        if msg.bytes == 0 {
            return Received::Gone;
        }
        let mut fds = Vec::new();
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    // SAFETY: descriptors just received are ours alone.
                    fds.extend(
                        raw.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
        }
        if msg.bytes != buf.len() {
            continue;
        }
        let id = u64::from_ne_bytes(buf[1..].try_into().unwrap());
        return Received::Message(buf[0], id, fds);
    }
}

/// Kills every process in the given namespaces (by inode; the caller holds
/// them, so the numbers are theirs) until none is left.
pub fn end_processes_in(inodes: &[u64]) {
    if !inodes.is_empty() {
        crate::procs::kill_until_gone(100, || processes_in(inodes));
    }
}

/// The namespace kinds a lab's process is recognised by: whatever lives in
/// one of a lab's namespaces (a daemon that left its group and session
/// too) is the lab's.
const KINDS: [&str; 3] = ["net", "mnt", "uts"];

/// Processes living in one of the namespaces `inodes` names. The caller
/// must hold those namespaces: a freed namespace's inode may name another
/// run's namespace next.
fn processes_in(inodes: &[u64]) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid as u32 != std::process::id())
        .filter(|pid| {
            KINDS.iter().any(|kind| {
                std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
                    .ok()
                    .and_then(|l| ns_inode(l.to_str()?, kind))
                    .is_some_and(|ino| inodes.contains(&ino))
            })
        })
        .collect()
}

/// `net:[4026532281]` → 4026532281.
fn ns_inode(link: &str, kind: &str) -> Option<u64> {
    link.strip_prefix(kind)?
        .strip_prefix(":[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_links_give_their_inode() {
        assert_eq!(ns_inode("net:[4026532281]", "net"), Some(4026532281));
        assert_eq!(ns_inode("mnt:[4026531841]", "mnt"), Some(4026531841));
        assert_eq!(ns_inode("mnt:[4026531841]", "net"), None);
        assert_eq!(ns_inode("net:[x]", "net"), None);
    }

    /// Only a namespace's descriptor names processes to end; a node's
    /// IPv6 settings directory, held alongside, names none. (The runner's
    /// own namespace and /proc, opened read-only.)
    #[test]
    fn only_namespaces_are_looked_for_in_processes() {
        let net = OwnedFd::from(std::fs::File::open("/proc/self/ns/net").unwrap());
        let dir = OwnedFd::from(std::fs::File::open("/proc/sys/net").unwrap());
        let own = nix::sys::stat::fstat(&net).unwrap().st_ino;
        let mut held = Held::default();
        held.add(1, vec![net, dir]);
        assert_eq!(held.inodes(), vec![own]);
        assert_eq!(held.take(1).map(|fds| fds.len()), Some(2));
        assert!(held.inodes().is_empty());
    }

    /// Asked without waiting, the socket tells a message, none waiting,
    /// and the runner gone apart.
    #[test]
    fn received_tells_none_waiting_from_the_runner_gone() {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let ours = Mutex::new(ours);
        let net = std::fs::File::open("/proc/self/ns/net").unwrap();
        send(&ours, &message(b'W', 7), &[net.as_raw_fd()]);
        assert!(matches!(
            receive(&theirs, false),
            Received::Message(b'W', 7, fds) if fds.len() == 1
        ));
        assert!(matches!(receive(&theirs, false), Received::Nothing));
        drop(ours);
        assert!(matches!(receive(&theirs, true), Received::Gone));
    }
}
