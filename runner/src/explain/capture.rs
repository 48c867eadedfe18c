//! Watching every interface of a lab while a probe runs: one AF_PACKET
//! socket opened inside each node, read by one thread, packets parsed and
//! kept in the order they were seen. The frames are kept as captured too
//! (bytes, kernel timestamp, link-layer facts), for `--report`'s pcapng.

use std::collections::HashMap;
use std::io;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, LinkAddr, MsgFlags,
    SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeSpec;

use super::packet::Packet;
use super::path::Seen;
use super::stamps::{self, Stamping};
use std::rc::Rc;

use crate::lab::Node;

pub struct Capture {
    stop: Arc<AtomicBool>,
    /// What the reader has seen so far, with the kernel's timestamps.
    seen: Arc<Mutex<Vec<(TimeSpec, Seen)>>>,
    /// Says when the reader's last pass is done. It closes its sockets
    /// after that, on its own: closing a packet socket waits for an RCU
    /// grace period (some 10 ms each), which no probe needs to wait for.
    read_all: Option<Receiver<()>>,
    _stamping: Option<Stamping>,
    /// Every frame as captured, and every interface watched.
    kept: Arc<Mutex<Vec<Frame>>>,
    interfaces: Vec<(String, String)>,
}

/// One frame as captured: where and when it was seen, what the kernel said
/// of its link layer (`sockaddr_ll`), and its bytes from the network
/// header on, as a datagram packet socket hands them over.
#[derive(Debug, Clone)]
pub struct Frame {
    pub node: String,
    pub iface: String,
    /// Since the epoch, as the kernel stamped it.
    pub when: std::time::Duration,
    /// `PACKET_HOST`, `PACKET_OUTGOING`…
    pub pkttype: u8,
    /// `ARPHRD_*`.
    pub hatype: u16,
    /// The link-layer address the kernel gave (the sender's MAC).
    pub addr: Vec<u8>,
    /// The EtherType, as the kernel gave it (network byte order).
    pub protocol: [u8; 2],
    pub bytes: Vec<u8>,
}

/// What a capture kept for a report: every interface watched, as
/// (node, interface), every frame, and the probe tokens among them.
#[derive(Debug, Clone, Default)]
pub struct Frames {
    pub interfaces: Vec<(String, String)>,
    pub frames: Vec<Frame>,
    /// Tokens of recent probes seen in these frames: the probe's own
    /// (a token is random, and other labs' frames never reach this one).
    pub tokens: Vec<[u8; 16]>,
}

struct Tap {
    node: String,
    socket: OwnedFd,
    /// Interface name by index, and whether it is a bridge's port.
    names: HashMap<usize, (String, bool)>,
}

/// A frame addressed to another machine's MAC (`PACKET_OTHERHOST`).
const OTHERHOST: u8 = 3;

impl Capture {
    /// Watches every interface of `nodes`.
    pub fn start(nodes: &[Rc<Node>]) -> io::Result<Capture> {
        // Without it the path could come out in the order it was read.
        let stamping = nodes.first().and_then(|n| stamps::on(n.ns()).ok());
        let mut taps = Vec::new();
        let mut interfaces = Vec::new();
        for node in nodes {
            // Datagram sockets hand over packets from their IP header on.
            let socket = node.ns().run(|| {
                socket(
                    AddressFamily::Packet,
                    SockType::Datagram,
                    SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                    SockProtocol::EthAll,
                )
            })??;
            setsockopt(&socket, sockopt::ReceiveTimestampns, &true)?;
            let names: HashMap<usize, (String, bool)> = node
                .links()
                .map_err(io::Error::other)?
                .into_iter()
                .map(|l| (l.index as usize, (l.name, l.master.is_some())))
                .collect();
            let mut ifaces: Vec<_> = names.iter().collect();
            ifaces.sort_by_key(|(i, _)| **i);
            interfaces.extend(
                ifaces
                    .into_iter()
                    .map(|(_, (n, _))| (node.name.clone(), n.clone())),
            );
            taps.push(Tap {
                node: node.name.clone(),
                socket,
                names,
            });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let (flag, into, keep) = (stop.clone(), seen.clone(), kept.clone());
        let (done, read_all) = channel();
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                read(&taps, &flag, &into, &keep);
                let _ = done.send(());
            })?;
        Ok(Capture {
            stop,
            seen,
            read_all: Some(read_all),
            _stamping: stamping,
            kept,
            interfaces,
        })
    }

    /// What has been seen so far, in the order seen.
    pub fn peek(&self) -> Vec<Seen> {
        in_order(self.seen.lock().unwrap().clone())
    }

    /// Stops watching and returns what was seen, and the frames as
    /// captured.
    pub fn finish(mut self) -> (Vec<Seen>, Frames) {
        self.stop_reading();
        let seen = in_order(std::mem::take(&mut *self.seen.lock().unwrap()));
        let mut frames = std::mem::take(&mut *self.kept.lock().unwrap());
        frames.sort_by_key(|f| f.when);
        let tokens = tokens_in(&frames);
        let frames = Frames {
            interfaces: std::mem::take(&mut self.interfaces),
            frames,
            tokens,
        };
        (seen, frames)
    }

    fn stop_reading(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(read_all) = self.read_all.take() {
            let _ = read_all.recv();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop_reading();
    }
}

/// Each packet carries the kernel's timestamp, so that packets read from
/// different nodes' sockets line up in the order they were seen.
fn in_order(mut seen: Vec<(TimeSpec, Seen)>) -> Vec<Seen> {
    seen.sort_by_key(|(t, _)| (t.tv_sec(), t.tv_nsec()));
    seen.into_iter().map(|(_, s)| s).collect()
}

/// The recent probes' tokens that these frames carry, in the order issued.
fn tokens_in(frames: &[Frame]) -> Vec<[u8; 16]> {
    let recent = crate::probe::token::recent_tokens();
    let wanted: std::collections::HashSet<&[u8]> = recent.iter().map(|t| &t[..]).collect();
    let mut found: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    for f in frames {
        found.extend(f.bytes.windows(16).filter(|w| wanted.contains(w)));
    }
    recent
        .iter()
        .filter(|t| found.contains(&t[..]))
        .copied()
        .collect()
}

fn read(
    taps: &[Tap],
    stop: &AtomicBool,
    seen: &Mutex<Vec<(TimeSpec, Seen)>>,
    kept: &Mutex<Vec<Frame>>,
) {
    // Handed over once, at the end: no lock per frame while the probe runs.
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut cmsg = nix::cmsg_space!(TimeSpec);
    loop {
        // One last pass after the stop, for what is already queued.
        let last = stop.load(Ordering::SeqCst);
        let mut fds: Vec<PollFd> = taps
            .iter()
            .map(|t| PollFd::new(t.socket.as_fd(), PollFlags::POLLIN))
            .collect();
        let _ = poll(&mut fds, PollTimeout::from(if last { 0u8 } else { 5u8 }));
        for tap in taps {
            loop {
                let mut iov = [IoSliceMut::new(&mut buf)];
                let Ok(msg) = recvmsg::<LinkAddr>(
                    tap.socket.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_DONTWAIT,
                ) else {
                    break;
                };
                let (n, from) = (msg.bytes, msg.address);
                let when = msg
                    .cmsgs()
                    .ok()
                    .and_then(|mut c| {
                        c.find_map(|m| match m {
                            ControlMessageOwned::ScmTimestampns(t) => Some(t),
                            _ => None,
                        })
                    })
                    .unwrap_or(TimeSpec::new(0, 0));
                let Some(from) = from else { continue };
                let (iface, bridged) = tap
                    .names
                    .get(&from.ifindex())
                    .cloned()
                    .unwrap_or_else(|| (format!("if{}", from.ifindex()), false));
                frames.push(Frame {
                    node: tap.node.clone(),
                    iface: iface.clone(),
                    when: std::time::Duration::new(
                        when.tv_sec().max(0) as u64,
                        when.tv_nsec().clamp(0, 999_999_999) as u32,
                    ),
                    pkttype: from.pkttype(),
                    hatype: from.hatype(),
                    addr: from
                        .addr()
                        .map_or(Vec::new(), |a| a[..from.halen().min(6)].to_vec()),
                    protocol: from.protocol().to_ne_bytes(),
                    bytes: buf[..n].to_vec(),
                });
                // A bridge floods a frame for an unknown MAC to every port:
                // the nodes behind them see it but never take it in, so it
                // is not a step of the path. A bridge's own ports see
                // everything they switch, addressed to them or not.
                if from.pkttype() == OTHERHOST && !bridged {
                    continue;
                }
                if let Some(packet) = Packet::parse(&buf[..n]) {
                    seen.lock().unwrap().push((
                        when,
                        Seen {
                            node: tap.node.clone(),
                            iface,
                            bridged,
                            packet,
                        },
                    ));
                }
            }
        }
        if last {
            *kept.lock().unwrap() = frames;
            return;
        }
    }
}
