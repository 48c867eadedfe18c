//! A failure's watched frames as a pcapng file (written by the
//! `pcap-file` crate): one interface block per lab interface, named
//! `node:interface`, each frame under the interface it was seen on.
//! Frames were read from datagram packet sockets, without their link
//! header, so each gets the Linux "cooked" header (LINKTYPE_LINUX_SLL)
//! from what the kernel said of it: ARP stays readable beside IP, and
//! Wireshark shows which way a frame went.

use std::borrow::Cow;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::DataLink;

use crate::explain::capture::{Frame, Frames};

/// What was written, for the page: where (relative to the report), how
/// many frames on how many interfaces, and the probe's tokens in hex.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    pub name: String,
    pub frames: usize,
    pub interfaces: usize,
    pub tokens: Vec<String>,
}

/// Nanosecond timestamps: the kernel's, as they are.
const NANOSECONDS: u8 = 9;

pub fn write(path: &Path, frames: &Frames) -> Result<Capture, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = File::create(path).map_err(|e| fail(&e))?;
    let mut w = PcapNgWriter::new(BufWriter::new(file)).map_err(|e| fail(&e))?;
    // Every interface the capture watched; a frame from one that appeared
    // during the replay gets a block of its own.
    let mut ifaces: Vec<(String, String)> = frames.interfaces.clone();
    for f in &frames.frames {
        if !ifaces.iter().any(|(n, i)| *n == f.node && *i == f.iface) {
            ifaces.push((f.node.clone(), f.iface.clone()));
        }
    }
    for (node, iface) in &ifaces {
        let block = InterfaceDescriptionBlock {
            linktype: DataLink::LINUX_SLL,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(format!("{node}:{iface}"))),
                InterfaceDescriptionOption::IfTsResol(NANOSECONDS),
            ],
        };
        w.write_pcapng_block(block).map_err(|e| fail(&e))?;
    }
    for f in &frames.frames {
        let id = ifaces
            .iter()
            .position(|(n, i)| *n == f.node && *i == f.iface)
            .unwrap_or_default();
        let data = cooked(f);
        let block = EnhancedPacketBlock {
            interface_id: id as u32,
            timestamp: f.when,
            original_len: data.len() as u32,
            data: Cow::Owned(data),
            options: vec![],
        };
        w.write_pcapng_block(block).map_err(|e| fail(&e))?;
    }
    std::io::Write::flush(w.get_mut()).map_err(|e| fail(&e))?;
    Ok(Capture {
        name: path.display().to_string(),
        frames: frames.frames.len(),
        interfaces: ifaces.len(),
        tokens: frames.tokens.iter().map(|t| hex(t)).collect(),
    })
}

/// The frame behind its Linux cooked-capture header: packet type, link
/// type, the sender's address (8 bytes, padded) and the EtherType.
fn cooked(f: &Frame) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + f.bytes.len());
    out.extend_from_slice(&u16::from(f.pkttype).to_be_bytes());
    out.extend_from_slice(&f.hatype.to_be_bytes());
    out.extend_from_slice(&(f.addr.len() as u16).to_be_bytes());
    let mut addr = [0u8; 8];
    for (slot, b) in addr.iter_mut().zip(&f.addr) {
        *slot = *b;
    }
    out.extend_from_slice(&addr);
    out.extend_from_slice(&f.protocol);
    out.extend_from_slice(&f.bytes);
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A pcapng file read back: each frame's interface name and bytes.
pub fn read_back(path: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = PcapNgReader::new(file).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    while let Some(block) = r.next_block() {
        match block.map_err(|e| e.to_string())? {
            Block::InterfaceDescription(idb) => names.push(
                idb.options
                    .iter()
                    .find_map(|o| match o {
                        InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .unwrap_or_default(),
            ),
            Block::EnhancedPacket(p) => {
                let name = names.get(p.interface_id as usize).cloned();
                out.push((name.unwrap_or_default(), p.data.to_vec()));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frames_read_back_under_their_interfaces_with_the_token() {
        let token = [7u8; 16];
        let mut bytes = vec![0x45, 0, 0, 36];
        bytes.resize(20, 0);
        bytes.extend_from_slice(&token);
        let frame = |node: &str, iface: &str| Frame {
            node: node.into(),
            iface: iface.into(),
            when: Duration::new(1_700_000_000, 5),
            pkttype: 4,
            hatype: 1,
            addr: vec![2, 0, 0, 0, 0, 1],
            protocol: 0x0800u16.to_be_bytes(),
            bytes: bytes.clone(),
        };
        let frames = Frames {
            interfaces: vec![
                ("bird".into(), "eth0".into()),
                ("host".into(), "eth0".into()),
            ],
            frames: vec![frame("host", "eth0"), frame("isp", "eth0")],
            tokens: vec![token],
        };
        let dir = std::env::temp_dir().join(format!("scenario-pcapng-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.pcapng");
        let written = write(&file, &frames).unwrap();
        assert_eq!((written.frames, written.interfaces), (2, 3));
        assert_eq!(written.tokens, vec!["07".repeat(16)]);
        let back = read_back(&file).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["host:eth0", "isp:eth0"]);
        let data = &back[0].1;
        assert_eq!(&data[..2], &[0, 4], "packet type OUTGOING");
        assert_eq!(&data[14..16], &[0x08, 0x00], "EtherType IPv4");
        assert_eq!(&data[16..], &bytes[..]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
