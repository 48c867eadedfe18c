//! Native probes: the runner opens the sockets inside the nodes itself.
//!
//! A probe either retries until something gets through (positive
//! assertions: they return as soon as they succeed) or watches a whole
//! window (negative assertions: anything that gets through in it fails).
//! Both are the same loop with a different deadline; the caller decides
//! what the outcome means.

pub mod icmp;
mod pacing;
pub mod tcp;
pub(crate) mod token;
pub mod udp;

pub use pacing::{observed, Look, Observer, Pacer, Watch};
pub use token::{canonical, first_difference, payload, same_source, source_text, token};

use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::netns::Namespaces;

/// The two stream-ish probes, which share their shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }
}

/// Binds a listening socket on `port` inside the server's namespaces (all
/// addresses, IPv4 and IPv6), before any client starts.
pub fn bind_in<S: Send>(
    server: &Namespaces,
    proto: Proto,
    port: u16,
    bind: impl Fn((Ipv6Addr, u16)) -> io::Result<S> + Send + Sync,
) -> io::Result<S> {
    // The previous probe's socket on this port may live on for a moment in
    // a child that another scenario forked before it was closed, until that
    // child reaches exec (close-on-exec): wait that out, briefly.
    let started = Instant::now();
    let bound = server.run(|| loop {
        match bind((Ipv6Addr::UNSPECIFIED, port)) {
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse
                    && started.elapsed() < Duration::from_millis(500) =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            other => break other,
        }
    })?;
    bound.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {} port {port} in the server node: {e}",
                proto.name()
            ),
        )
    })
}

/// What a probe saw.
#[derive(Debug, Clone, Default)]
pub struct ProbeOutcome {
    /// The token arrived where it should (or the echo reply came back).
    pub delivered: bool,
    pub attempts: u32,
    /// The last thing that went wrong on the client side, for the report.
    pub last_error: Option<String>,
    /// TCP only: a connection was accepted somewhere, token delivered or not.
    pub connected: bool,
    pub elapsed: Duration,
    /// TCP and UDP: the source address the listener saw the token come from.
    pub seen_from: Option<SocketAddr>,
    /// TCP and UDP with `bytes`: how far the best attempt got.
    pub transfer: Option<Transfer>,
    /// A negative probe ended before its window did: the network refused
    /// it, or an observer proved a drop.
    pub ended_early: bool,
    /// It ended because the network refused it (a reset, an ICMP
    /// unreachable) again and again.
    pub refused: bool,
}

/// How much of a payload reached the listener, checked byte for byte.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Transfer {
    pub total: usize,
    /// Bytes that arrived, in order and equal to what was sent.
    pub received: usize,
    /// The offset of the first byte that arrived different, if one did.
    pub differs_at: Option<usize>,
}

impl Transfer {
    /// "the first 1448 of 200000 bytes arrived, then nothing".
    pub fn describe(&self) -> String {
        match (self.differs_at, self.received) {
            (Some(at), _) => format!(
                "byte {at} of {} arrived different from what was sent",
                self.total
            ),
            (None, 0) => format!("none of the {} bytes arrived", self.total),
            (None, r) if r >= self.total => format!("all {} bytes arrived", self.total),
            (None, r) => format!(
                "the first {r} of {} bytes arrived, then nothing",
                self.total
            ),
        }
    }

    pub fn stalled(&self) -> bool {
        self.differs_at.is_none() && self.received < self.total
    }
}

impl ProbeOutcome {
    /// What arrived of a probe that did not get through: "nothing", or how
    /// far its payload got.
    pub fn shortfall(&self) -> String {
        match self.transfer {
            Some(t) => t.describe(),
            _ => "nothing arrived".into(),
        }
    }

    /// A short account for failure messages.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{} attempt{} in {:.2} s",
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64()
        ));
        match (&self.last_error, self.delivered) {
            // What went wrong before an attempt got through is no error of
            // the probe's: said as such, never beside "arrived" as a failure.
            (Some(e), true) => s.push_str(&format!("; an earlier attempt got: {e}")),
            (Some(e), false) => s.push_str(&format!("; last error: {e}")),
            (None, _) => {}
        }
        s
    }
}

/// A TCP or UDP probe: from the client's namespaces to `target`, a token
/// that must reach the listener in the server's namespaces on `port`.
pub struct PortProbe<'a> {
    pub client: &'a Namespaces,
    pub target: SocketAddr,
    pub server: &'a Namespaces,
    pub port: u16,
    pub watch: Watch,
    /// The payload's size (the token alone when `None`); for UDP one
    /// datagram of that size.
    pub bytes: Option<usize>,
}

/// What the listener and the client of one probe share.
pub struct Rendezvous {
    /// What the client sends: the token, or the token and its pattern.
    pub payload: Vec<u8>,
    pub delivered: Arrived,
    pub closing: Closing,
    /// The best attempt so far, and the source of the one that arrived.
    pub progress: Mutex<(Transfer, Option<SocketAddr>)>,
}

impl Rendezvous {
    /// Records what one attempt got; the furthest attempt is kept.
    pub fn record(&self, received: usize, differs_at: Option<usize>, from: SocketAddr) {
        let mut p = self.progress.lock().unwrap();
        let best = &mut p.0;
        if received > best.received || (best.differs_at.is_none() && differs_at.is_some()) {
            best.received = received.max(best.received);
            best.differs_at = best.differs_at.or(differs_at);
        }
        if received == self.payload.len() && differs_at.is_none() {
            p.1 = Some(from);
            drop(p);
            self.delivered.set();
        }
    }
}

impl PortProbe<'_> {
    pub fn run(&self, proto: Proto) -> io::Result<ProbeOutcome> {
        let len = self.bytes.unwrap_or(16);
        let meet = Rendezvous {
            payload: payload(&token(), len),
            delivered: Arrived::default(),
            closing: Closing::new(&self.watch),
            progress: Mutex::new((
                Transfer {
                    total: len,
                    ..Transfer::default()
                },
                None,
            )),
        };
        let mut out = match proto {
            Proto::Tcp => tcp::probe(self, &meet),
            Proto::Udp => udp::probe(self, &meet),
        }?;
        out.delivered = meet.delivered.is_set();
        let (transfer, from) = *meet.progress.lock().unwrap();
        out.seen_from = from;
        out.transfer = self.bytes.map(|_| transfer);
        Ok(out)
    }
}

/// Set by the listener when the token arrives; the client waits on it
/// between attempts instead of sleeping.
#[derive(Default)]
pub struct Arrived {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Arrived {
    pub fn set(&self) {
        *self.done.lock().unwrap() = true;
        self.cv.notify_all();
    }

    pub fn is_set(&self) -> bool {
        *self.done.lock().unwrap()
    }

    /// Waits up to `wait`; true once the token has arrived.
    pub fn wait(&self, wait: Duration) -> bool {
        let done = self.done.lock().unwrap();
        *self.cv.wait_timeout_while(done, wait, |d| !*d).unwrap().0
    }
}

/// When the listener side of a probe stops: at the end of the window, or
/// shortly after the client gave up, whichever comes first. The grace lets a
/// token sent at the last moment still count (for a negative assertion,
/// that makes it stricter).
pub struct Closing {
    until: Mutex<Instant>,
}

pub const LISTENER_GRACE: Duration = Duration::from_millis(100);

impl Closing {
    pub fn new(watch: &Watch) -> Closing {
        Closing {
            until: Mutex::new(Instant::now() + watch.longest() + LISTENER_GRACE),
        }
    }

    /// The client gave up; `early`: refused or proven dropped, so that no
    /// token of it is still on its way, and the listener closes at once.
    pub fn client_done(&self, early: bool) {
        let grace = if early {
            Duration::ZERO
        } else {
            LISTENER_GRACE
        };
        let mut until = self.until.lock().unwrap();
        *until = (*until).min(Instant::now() + grace);
    }

    /// Time left to listen, `None` once closed.
    pub fn remaining(&self) -> Option<Duration> {
        let left = self
            .until
            .lock()
            .unwrap()
            .saturating_duration_since(Instant::now());
        (!left.is_zero() && !crate::stop::requested()).then_some(left)
    }
}

/// An error that means the network answered "no" rather than nothing.
pub fn is_refusal(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | HostUnreachable | NetworkUnreachable
    )
}

/// Waits until `fd` is readable or `wait` passes.
pub fn readable(fd: impl AsFd, wait: Duration) -> bool {
    let until = std::time::Instant::now() + wait;
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let left = until.saturating_duration_since(std::time::Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(n) => return n > 0,
            // A signal meant for another thread (a child of another
            // scenario ended) is no reason to give up the wait.
            Err(nix::errno::Errno::EINTR) if !left.is_zero() => continue,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_say_how_far_they_got() {
        let t = |received, differs_at| Transfer {
            total: 200000,
            received,
            differs_at,
        };
        assert_eq!(
            t(1448, None).describe(),
            "the first 1448 of 200000 bytes arrived, then nothing"
        );
        assert!(t(1448, None).stalled());
        assert_eq!(t(0, None).describe(), "none of the 200000 bytes arrived");
        assert_eq!(t(200000, None).describe(), "all 200000 bytes arrived");
        assert!(!t(200000, None).stalled());
        assert!(t(3000, Some(2000))
            .describe()
            .contains("byte 2000 of 200000"));
        assert!(!t(3000, Some(2000)).stalled());
    }

    #[test]
    fn refusals_are_told_from_silence() {
        use std::io::ErrorKind::*;
        for kind in [ConnectionRefused, HostUnreachable, NetworkUnreachable] {
            assert!(is_refusal(&std::io::Error::from(kind)));
        }
        assert!(!is_refusal(&std::io::Error::from(TimedOut)));
    }
}
