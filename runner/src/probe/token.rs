//! What a probe carries and how an arrival is told to be its own: a token
//! unique per probe, the payload drawn from it, the first byte that
//! differs, and the source a listener saw, as a script writes it.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
    issue(out);
    out
}

/// The tokens issued lately, by any thread: a capture names those its
/// frames carry (a probe may begin before its capture, as a probe that
/// watches itself does, so no mark taken at the capture's start would
/// do, nor would a thread-local: probes run on threads of their own).
static ISSUED: Mutex<VecDeque<[u8; 16]>> = Mutex::new(VecDeque::new());

/// How many recent tokens are remembered: far more than the probes that
/// run at once.
const REMEMBERED: usize = 4096;

fn issue(t: [u8; 16]) {
    let mut issued = ISSUED.lock().unwrap_or_else(|e| e.into_inner());
    issued.push_back(t);
    if issued.len() > REMEMBERED {
        issued.pop_front();
    }
}

/// The tokens issued lately, oldest first.
pub fn recent_tokens() -> Vec<[u8; 16]> {
    let issued = ISSUED.lock().unwrap_or_else(|e| e.into_inner());
    issued.iter().copied().collect()
}

/// What a TCP or UDP probe sends: its token, then up to `len` bytes of a
/// pattern drawn from the token, so that the listener can check every byte
/// and a short, reordered or foreign stream is told from ours.
pub fn payload(token: &[u8; 16], len: usize) -> Vec<u8> {
    let mut out = token[..len.min(16)].to_vec();
    let mut x = u64::from_ne_bytes(token[..8].try_into().expect("8 bytes")) | 1;
    while out.len() < len {
        // xorshift64: cheap, and no byte repeats with a short period.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    out
}

/// Compares bytes that arrived at `offset` with what was sent: the offset
/// of the first that differs (a byte beyond the payload differs too).
pub fn first_difference(sent: &[u8], offset: usize, got: &[u8]) -> Option<usize> {
    got.iter()
        .enumerate()
        .find(|(i, b)| sent.get(offset + i) != Some(b))
        .map(|(i, _)| offset + i)
}

/// How a listener saw a source: an IPv4 client of a dual-stack socket
/// arrives as `::ffff:a.b.c.d`.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The source a listener saw, as scripts get it: `198.51.100.5:40312`.
pub fn source_text(addr: SocketAddr) -> String {
    canonical(addr).to_string()
}

/// Whether the listener saw `expected` as the source.
pub fn same_source(expected: IpAddr, seen: SocketAddr) -> bool {
    canonical(seen).ip() == expected.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_begin_with_the_token_and_differ_per_token() {
        let (a, b) = (token(), token());
        let pa = payload(&a, 1000);
        assert_eq!(pa.len(), 1000);
        assert_eq!(&pa[..16], &a);
        assert_eq!(payload(&a, 1000), pa, "the same token gives the same bytes");
        assert_ne!(payload(&b, 1000)[16..], pa[16..]);
        assert_eq!(payload(&a, 16), a.to_vec());
        assert_eq!(payload(&a, 20).len(), 20);
        // No short period: a segment resent at the wrong offset is caught.
        assert_ne!(pa[16..48], pa[48..80]);
    }
    #[test]
    fn differences_are_found_at_their_offset() {
        let sent = payload(&token(), 100);
        assert_eq!(first_difference(&sent, 0, &sent[..50]), None);
        assert_eq!(first_difference(&sent, 50, &sent[50..]), None);
        let mut bad = sent[40..60].to_vec();
        bad[5] ^= 1;
        assert_eq!(first_difference(&sent, 40, &bad), Some(45));
        assert_eq!(
            first_difference(
                &sent,
                95,
                &[sent[95], sent[96], sent[97], sent[98], sent[99], 0]
            ),
            Some(100),
            "a byte beyond the payload is not ours"
        );
    }
    #[test]
    fn sources_are_compared_as_the_client_would_write_them() {
        let mapped: SocketAddr = "[::ffff:198.51.100.5]:40000".parse().unwrap();
        assert!(same_source("198.51.100.5".parse().unwrap(), mapped));
        assert!(!same_source("172.29.0.2".parse().unwrap(), mapped));
        assert_eq!(source_text(mapped), "198.51.100.5:40000");
        let v6: SocketAddr = "[2001:db8::5]:95".parse().unwrap();
        assert_eq!(source_text(v6), "[2001:db8::5]:95");
        assert!(same_source("2001:db8::5".parse().unwrap(), v6));
    }
    #[test]
    fn tokens_differ() {
        assert_ne!(token(), token());
    }
    #[test]
    fn recent_tokens_are_remembered_and_old_ones_forgotten() {
        let first = token();
        let (a, b) = (token(), token());
        let recent = recent_tokens();
        assert!(recent.contains(&a) && recent.contains(&b), "{recent:?}");
        for _ in 0..REMEMBERED {
            token();
        }
        assert!(!recent_tokens().contains(&first));
    }
}
