//! TCP: a listener opened inside the server node before the client starts,
//! a client inside the client node that sends a token, and success only
//! when that listener reads that token.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use super::{
    bind_in, is_refusal, readable, Arrived, Pacer, PortProbe, ProbeOutcome, Proto, Rendezvous,
    Watch,
};

pub fn probe(p: &PortProbe, meet: &Rendezvous) -> io::Result<ProbeOutcome> {
    let listener = bind_in(p.server, Proto::Tcp, p.port, TcpListener::bind)?;
    listener.set_nonblocking(true)?;
    let connected = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| serve(&listener, meet, &connected));
        let out = p
            .client
            .run(|| connect_loop(p.target, &meet.token, &meet.delivered, p.watch));
        meet.closing.client_done();
        let mut out = out??;
        out.connected = connected.load(Ordering::SeqCst);
        Ok(out)
    })
}

fn serve(listener: &TcpListener, meet: &Rendezvous, connected: &AtomicBool) {
    let Rendezvous {
        token,
        delivered,
        closing,
    } = meet;
    while let Some(left) = closing.remaining() {
        if delivered.is_set() {
            return;
        }
        if !readable(listener, left.min(Duration::from_millis(20))) {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        connected.store(true, Ordering::SeqCst);
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(10))));
        let mut got = Vec::new();
        let _ = stream.take(token.len() as u64).read_to_end(&mut got);
        if got == *token {
            delivered.set();
        }
    }
}

fn connect_loop(
    target: SocketAddr,
    token: &[u8],
    delivered: &Arrived,
    watch: Watch,
) -> io::Result<ProbeOutcome> {
    let mut pacer = Pacer::new(watch);
    let mut out = ProbeOutcome::default();
    loop {
        out.attempts += 1;
        let wait = pacer.remaining().max(Duration::from_millis(1));
        let mut refused = false;
        match TcpStream::connect_timeout(&target, wait) {
            Ok(mut stream) => {
                let sent = stream
                    .write_all(token)
                    .and_then(|_| stream.shutdown(Shutdown::Write));
                out.last_error = Some(match sent {
                    Err(e) => format!("connected, but sending failed: {e}"),
                    Ok(()) => "connected, but the token did not reach the listener".into(),
                });
            }
            Err(e) => {
                refused = is_refusal(&e);
                out.last_error = Some(e.to_string());
            }
        }
        pacer.answer(refused);
        if delivered.wait(pacer.gap()) || pacer.done() {
            out.elapsed = pacer.elapsed();
            return Ok(out);
        }
    }
}
