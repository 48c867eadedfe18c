//! UDP: a socket bound inside the server node before the client sends; the
//! client repeats its token (one datagram, of `bytes` with the pattern
//! after the token) until the server reads it whole or the window ends.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::thread;
use std::time::Duration;

use super::{
    bind_in, first_difference, is_refusal, readable, Pacer, PortProbe, ProbeOutcome, Proto,
    Rendezvous, Watch,
};

pub fn probe(p: &PortProbe, meet: &Rendezvous) -> io::Result<ProbeOutcome> {
    let socket = bind_in(p.server, Proto::Udp, p.port, UdpSocket::bind)?;
    socket.set_nonblocking(true)?;
    thread::scope(|s| {
        s.spawn(|| serve(&socket, meet));
        let out = p.client.run(|| send_loop(p.target, meet, p.watch.clone()));
        let early = out
            .as_ref()
            .is_ok_and(|o| o.as_ref().is_ok_and(|o| o.ended_early));
        meet.closing.client_done(early);
        out?
    })
}

fn serve(socket: &UdpSocket, meet: &Rendezvous) {
    // One byte more than the largest datagram: a longer one is not ours.
    let mut buf = vec![0u8; 65536];
    while let Some(left) = meet.closing.remaining() {
        if meet.delivered.is_set() {
            return;
        }
        if !readable(socket, left.min(Duration::from_millis(20))) {
            continue;
        }
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            // Someone else's datagram (not starting with our token) is no
            // attempt of ours.
            if buf[..n.min(16)] != meet.payload[..16.min(meet.payload.len())] {
                continue;
            }
            let differs = first_difference(&meet.payload, 0, &buf[..n]);
            let whole = n == meet.payload.len();
            meet.record(
                if differs.is_none() && whole { n } else { 0 },
                differs,
                from,
            );
        }
    }
}

fn send_loop(target: SocketAddr, meet: &Rendezvous, watch: Watch) -> io::Result<ProbeOutcome> {
    let delivered = &meet.delivered;
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    // Connected, so that an ICMP port or host unreachable comes back to us
    // as an error: the network's "no".
    let connected = socket.connect(target);
    let mut pacer = Pacer::new(&watch);
    let mut out = ProbeOutcome::default();
    loop {
        out.attempts += 1;
        // What an earlier attempt got, should this one get through.
        let earlier = out.last_error.clone();
        let sent = connected
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))
            .and_then(|_| socket.send(&meet.payload));
        let mut refused = false;
        match sent {
            Ok(_) => out.last_error = Some("sent, but the token did not reach the listener".into()),
            Err(e) => {
                refused = is_refusal(&e);
                out.last_error = Some(e.to_string());
            }
        }
        let arrived = delivered.wait(pacer.gap());
        if let Ok(Some(e)) = socket.take_error() {
            refused = is_refusal(&e);
            out.last_error = Some(e.to_string());
        }
        pacer.answer(refused);
        if arrived {
            out.last_error = earlier;
        }
        if arrived || pacer.done() {
            out.elapsed = pacer.elapsed();
            out.ended_early = !arrived && pacer.ended_early();
            out.refused = !arrived && pacer.refused();
            return Ok(out);
        }
    }
}
