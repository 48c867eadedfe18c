//! Native probes: the runner opens the sockets inside the nodes itself.
//!
//! A probe either retries until something gets through (positive
//! assertions: they return as soon as they succeed) or watches a whole
//! window (negative assertions: anything that gets through in it fails).
//! Both are the same loop with a different deadline; the caller decides
//! what the outcome means.

pub mod icmp;
pub mod tcp;
pub mod udp;

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl ProbeOutcome {
    /// A short account for failure messages.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} attempt{} in {:.2} s",
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64()
        );
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

/// A random token, unique per probe: the proof that what arrived is ours.
pub fn token() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_ne_bytes());
    }
    out
}

/// How a probe watches: for how long, and whether a refusal ends it.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub window: Duration,
    /// A negative assertion may stop early once the network has refused
    /// outright (a TCP reset, an ICMP unreachable, no route) twice in a row:
    /// nothing of an attempt that was refused can still arrive, and a lab
    /// does not change while an assertion runs. Silent drops still watch
    /// the whole window.
    pub stop_when_refused: bool,
}

/// Retry pacing: quick at first (the network usually works at once), then
/// backing off so a long window does not flood the lab.
pub struct Pacer {
    start: Instant,
    deadline: Instant,
    next_gap: Duration,
    stop_when_refused: bool,
    refusals: u32,
}

impl Pacer {
    pub fn new(watch: Watch) -> Pacer {
        let start = Instant::now();
        Pacer {
            start,
            deadline: start + watch.window,
            next_gap: Duration::from_millis(10),
            stop_when_refused: watch.stop_when_refused,
            refusals: 0,
        }
    }

    /// Records how the last attempt ended: refused outright or not.
    pub fn answer(&mut self, refused: bool) {
        self.refusals = if refused { self.refusals + 1 } else { 0 };
    }

    /// Whether the probe has seen enough: the window is over, or the
    /// network keeps refusing and that is all a negative probe needs.
    pub fn done(&self) -> bool {
        self.expired() || (self.stop_when_refused && self.refusals >= 2) || crate::stop::requested()
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// How long to wait for an answer before trying again.
    pub fn gap(&mut self) -> Duration {
        let gap = self.next_gap.min(self.remaining());
        self.next_gap = (self.next_gap * 2).min(Duration::from_millis(200));
        gap
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
}

/// What the listener and the client of one probe share.
pub struct Rendezvous {
    pub token: [u8; 16],
    pub delivered: Arrived,
    pub closing: Closing,
}

impl PortProbe<'_> {
    pub fn run(&self, proto: Proto) -> io::Result<ProbeOutcome> {
        let meet = Rendezvous {
            token: token(),
            delivered: Arrived::default(),
            closing: Closing::new(self.watch),
        };
        let mut out = match proto {
            Proto::Tcp => tcp::probe(self, &meet),
            Proto::Udp => udp::probe(self, &meet),
        }?;
        out.delivered = meet.delivered.is_set();
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

pub const GRACE: Duration = Duration::from_millis(100);

impl Closing {
    pub fn new(watch: Watch) -> Closing {
        Closing {
            until: Mutex::new(Instant::now() + watch.window + GRACE),
        }
    }

    pub fn client_done(&self) {
        let mut until = self.until.lock().unwrap();
        *until = (*until).min(Instant::now() + GRACE);
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
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = wait.as_millis().min(i32::MAX as u128) as i32;
    matches!(poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ() {
        assert_ne!(token(), token());
    }

    #[test]
    fn pacer_backs_off_and_respects_the_deadline() {
        let mut p = Pacer::new(Watch {
            window: Duration::from_secs(10),
            stop_when_refused: false,
        });
        let gaps: Vec<_> = (0..8).map(|_| p.gap().as_millis()).collect();
        assert_eq!(gaps, vec![10, 20, 40, 80, 160, 200, 200, 200]);
        let mut short = Pacer::new(Watch {
            window: Duration::from_millis(5),
            stop_when_refused: false,
        });
        assert!(short.gap() <= Duration::from_millis(5));
    }

    #[test]
    fn only_repeated_refusals_end_a_negative_watch_early() {
        let mut p = Pacer::new(Watch {
            window: Duration::from_secs(10),
            stop_when_refused: true,
        });
        p.answer(true);
        assert!(!p.done());
        p.answer(false);
        p.answer(true);
        assert!(!p.done(), "refusals must be consecutive");
        p.answer(true);
        assert!(p.done());
        let mut positive = Pacer::new(Watch {
            window: Duration::from_secs(10),
            stop_when_refused: false,
        });
        positive.answer(true);
        positive.answer(true);
        assert!(
            !positive.done(),
            "a positive probe keeps trying until its deadline"
        );
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
