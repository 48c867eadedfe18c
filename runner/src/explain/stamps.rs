//! The kernel's receive timestamps, on before a capture starts.
//!
//! The path is put in order by the timestamp the kernel gives each captured
//! packet. The kernel stamps packets as they cross the stack only while
//! some socket asks for timestamps, and turns that on from a work queue, a
//! moment after the first asks; until then a packet is stamped when it is
//! read, so packets from different nodes' sockets line up in the order
//! they were read, not seen (under load: "lan v-host → lan v-isp → host
//! v-bird → …", a path that never was). So before a capture starts, a
//! socket that asks for timestamps is opened and held, and a datagram it
//! sends itself over a node's loopback tells when stamping is on: stamped
//! before `send` returned, not when read.

use std::io::{self, IoSliceMut};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag,
    SockType,
};
use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, ClockId};

use crate::netns::Namespaces;

/// Holds stamping on while it lives.
pub struct Stamping(#[allow(dead_code)] UdpSocket);

/// Asks the kernel to stamp packets from now on, for the runner's life:
/// a probe that starts watching itself halfway cannot wait for the kernel
/// to begin. The socket is never bound and sends nothing; asking is what
/// turns stamping on, for every namespace alike.
pub fn keep_on() {
    static ASKING: OnceLock<Option<OwnedFd>> = OnceLock::new();
    ASKING.get_or_init(|| {
        let flags = SockFlag::SOCK_CLOEXEC;
        let fd = socket(AddressFamily::Inet, SockType::Datagram, flags, None).ok()?;
        setsockopt(&fd, sockopt::ReceiveTimestampns, &true).ok()?;
        Some(fd)
    });
}

/// Asks for timestamps and waits (a second at most) until the kernel
/// stamps packets as they cross the stack. The error says why it could not
/// tell; the capture goes on then, its order less sure.
pub fn on(ns: &Namespaces) -> io::Result<Stamping> {
    let socket = ns.run(|| UdpSocket::bind("127.0.0.1:0"))??;
    setsockopt(&socket, sockopt::ReceiveTimestampns, &true)?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let me = socket.local_addr()?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        socket.send_to(b"stamp?", me)?;
        let sent = clock_gettime(ClockId::CLOCK_REALTIME)?;
        if received_at(&socket)?.is_some_and(|t| t <= sent) {
            return Ok(Stamping(socket));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(io::Error::other(
        "the kernel did not start stamping packets",
    ))
}

/// The timestamp of the next datagram, if it came with one.
fn received_at(socket: &UdpSocket) -> io::Result<Option<TimeSpec>> {
    let mut buf = [0u8; 16];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!(TimeSpec);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )?;
    Ok(msg.cmsgs()?.find_map(|m| match m {
        ControlMessageOwned::ScmTimestampns(t) => Some(t),
        _ => None,
    }))
}
