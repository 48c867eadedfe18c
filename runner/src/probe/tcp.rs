//! TCP: a listener opened inside the server node before the client starts,
//! a client inside the client node that sends a token (and, with `bytes`,
//! a pattern after it), and success only when that listener reads all of
//! it, byte for byte.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    getsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
};

use super::{
    bind_in, first_difference, is_refusal, readable, Pacer, PortProbe, ProbeOutcome, Proto,
    Rendezvous, Watch,
};

pub fn probe(p: &PortProbe, meet: &Rendezvous) -> io::Result<ProbeOutcome> {
    let listener = bind_in(p.server, Proto::Tcp, p.port, TcpListener::bind)?;
    listener.set_nonblocking(true)?;
    let connected = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| serve(&listener, meet, &connected));
        let out = p
            .client
            .run(|| connect_loop(p.target, meet, p.watch.clone()));
        let early = out
            .as_ref()
            .is_ok_and(|o| o.as_ref().is_ok_and(|o| o.ended_early));
        meet.closing.client_done(early);
        let mut out = out??;
        out.connected = connected.load(Ordering::SeqCst);
        Ok(out)
    })
}

fn serve(listener: &TcpListener, meet: &Rendezvous, connected: &AtomicBool) {
    while let Some(left) = meet.closing.remaining() {
        if meet.delivered.is_set() {
            return;
        }
        if !readable(listener, left.min(Duration::from_millis(20))) {
            continue;
        }
        let Ok((stream, from)) = listener.accept() else {
            continue;
        };
        connected.store(true, Ordering::SeqCst);
        receive(stream, from, meet);
    }
}

/// Reads one connection until the payload is in, a byte differs, the
/// client closes, or the listener's time is up; records how far it got.
fn receive(mut stream: TcpStream, from: SocketAddr, meet: &Rendezvous) {
    let want = meet.payload.len();
    let _ = stream.set_nonblocking(false);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < want {
        let Some(left) = meet.closing.remaining() else {
            break;
        };
        // Short reads, so that the listener's end is noticed on time.
        let _ = stream.set_read_timeout(Some(
            left.clamp(Duration::from_millis(1), Duration::from_millis(50)),
        ));
        let room = (want - got).min(buf.len());
        match stream.read(&mut buf[..room]) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(at) = first_difference(&meet.payload, got, &buf[..n]) {
                    meet.record(got, Some(at), from);
                    return;
                }
                got += n;
                meet.record(got, None, from);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}

fn connect_loop(target: SocketAddr, meet: &Rendezvous, watch: Watch) -> io::Result<ProbeOutcome> {
    let delivered = &meet.delivered;
    // A transfer larger than the token is under way once it is written: it
    // is waited for, not started again over a fresh connection.
    let transfer = meet.payload.len() > 16;
    let mut pacer = Pacer::new(&watch);
    let mut out = ProbeOutcome::default();
    let mut connecting = Connecting::default();
    loop {
        out.attempts += 1;
        // What an earlier attempt got, should this one get through.
        let earlier = out.last_error.clone();
        let mut refused = false;
        let mut answered = false;
        if let Err(e) = connecting.start(target) {
            refused = is_refusal(&e);
            answered = true;
            out.last_error = Some(e.to_string());
        }
        let until = Instant::now() + pacer.gap();
        while let Some(answer) = connecting.next(until, &pacer) {
            answered = true;
            match answer {
                Ok(mut stream) => {
                    let sent = send(&mut stream, &meet.payload, &pacer)
                        .and_then(|_| stream.shutdown(Shutdown::Write));
                    out.last_error = Some(match sent {
                        Err(e) if transfer && e.kind() == io::ErrorKind::WouldBlock => {
                            "connected, but sending stalled".into()
                        }
                        Err(e) => format!("connected, but sending failed: {e}"),
                        Ok(()) if transfer => {
                            let _ = delivered.wait(pacer.remaining());
                            "connected and sent, but not all of it reached the listener".into()
                        }
                        Ok(()) => "connected, but the token did not reach the listener".into(),
                    });
                    if delivered.wait(until.saturating_duration_since(Instant::now())) {
                        break;
                    }
                }
                Err(e) => {
                    refused |= is_refusal(&e);
                    out.last_error = Some(e.to_string());
                }
            }
        }
        if !answered && out.last_error.is_none() {
            out.last_error = Some("connection timed out".into());
        }
        pacer.answer(refused);
        // Nothing under way (refused at once): the next attempt is due at
        // its time all the same.
        let arrived = (!pacer.done()
            && delivered.wait(until.saturating_duration_since(Instant::now())))
            || delivered.is_set();
        if arrived {
            out.last_error = earlier;
            out.elapsed = pacer.elapsed();
            return Ok(out);
        }
        if pacer.done() {
            out.elapsed = pacer.elapsed();
            out.ended_early = pacer.ended_early();
            out.refused = pacer.refused();
            return Ok(out);
        }
    }
}

/// Connections under way. The kernel sends a lost SYN again only after a
/// second, the length of a whole probe window: each attempt starts a
/// connection of its own, and the earlier ones keep waiting for their
/// answer, so that a slow path still gets through and a dropped one is
/// tried (and counted) again at every attempt.
#[derive(Default)]
struct Connecting {
    pending: Vec<OwnedFd>,
}

impl Connecting {
    fn start(&mut self, target: SocketAddr) -> io::Result<()> {
        let family = match target {
            SocketAddr::V4(_) => AddressFamily::Inet,
            SocketAddr::V6(_) => AddressFamily::Inet6,
        };
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let fd = socket(family, SockType::Stream, flags, None)?;
        match nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(target)) {
            Ok(()) | Err(Errno::EINPROGRESS) => {
                self.pending.push(fd);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The next connection answered by `until` (connected, or refused), or
    /// none; sooner none once an observer proved the probe dropped.
    fn next(&mut self, until: Instant, pacer: &Pacer) -> Option<io::Result<TcpStream>> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || pacer.proven() || self.pending.is_empty() {
                return None;
            }
            let slice = left.min(Duration::from_millis(10)).as_millis() as u16;
            let mut fds: Vec<PollFd> = self
                .pending
                .iter()
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLOUT))
                .collect();
            match poll(&mut fds, PollTimeout::from(slice.max(1))) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
            let ready = fds
                .iter()
                .position(|f| f.revents().is_some_and(|r| !r.is_empty()))?;
            let fd = self.pending.remove(ready);
            return Some(match getsockopt(&fd, sockopt::SocketError) {
                Ok(0) => {
                    let stream = TcpStream::from(fd);
                    stream.set_nonblocking(false).map(|()| stream)
                }
                Ok(err) => Err(io::Error::from_raw_os_error(err)),
                Err(e) => Err(e.into()),
            });
        }
    }
}

/// Writes the payload by the probe's deadline: a send timeout restarts with
/// every write that makes progress, so it is set anew from the deadline.
fn send(stream: &mut TcpStream, payload: &[u8], pacer: &Pacer) -> io::Result<()> {
    let mut off = 0;
    while off < payload.len() {
        if pacer.expired() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        stream.set_write_timeout(Some(pacer.remaining().max(Duration::from_millis(1))))?;
        match stream.write(&payload[off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
