//! nft's own tracing in a node while a probe is watched: a table of the
//! runner's marks every packet for tracing first thing on its way in and
//! out (`meta nftrace set 1`), and `nft monitor trace` in the node reports
//! every verdict nft gives, base-chain policies included, which no counter
//! sees. The table and the monitor go when the watch ends; the machine's
//! own namespace never gets either.

use std::io::Read;
use std::process::Child;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::exec::{self, locate};
use crate::lab::Node;
use crate::state::nft_trace::{self, Drop, TABLE};

/// Every family whose chains see a packet: inet covers ip, ip6 and inet
/// tables; bridge tables see bridged frames; netdev tables see a frame as
/// it arrives on one of `ifaces`, before the others, each device a chain.
fn ruleset(ifaces: &[(u32, String)]) -> String {
    let mark = |name: &str, hook: &str| {
        format!("\tchain {name} {{ type filter hook {hook} priority -350; meta nftrace set 1; }}\n")
    };
    let mut out = format!(
        "table inet {TABLE} {{\n{}{}}}\ntable bridge {TABLE} {{\n{}}}\n",
        mark("prerouting", "prerouting"),
        mark("output", "output"),
        mark("prerouting", "prerouting")
    );
    if !ifaces.is_empty() {
        out.push_str(&format!("table netdev {TABLE} {{\n"));
        for (index, name) in ifaces {
            out.push_str(&mark(
                &format!("in{index}"),
                &format!("ingress device \"{name}\""),
            ));
        }
        out.push_str("}\n");
    }
    out
}

pub struct Tracer {
    node: Rc<Node>,
    /// Whether it made a netdev table (a node with interfaces).
    netdev: bool,
    monitor: Option<Child>,
    said: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Tracer {
    /// Starts tracing in `node`; none where nft is not installed or will
    /// not trace there.
    pub fn start(node: &Rc<Node>) -> Option<Tracer> {
        locate("nft").ok()?;
        let mut monitor = exec::spawn_watching(node.ns(), &["nft", "monitor", "trace"]).ok()?;
        let ifaces: Vec<(u32, String)> = node
            .links()
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.name != "lo")
            .map(|l| (l.index, l.name))
            .collect();
        let mut stdout = monitor.stdout.take()?;
        let said = Arc::new(Mutex::new(String::new()));
        let into = said.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let tracer = Tracer {
            node: node.clone(),
            netdev: !ifaces.is_empty(),
            monitor: Some(monitor),
            said,
            reader: Some(reader),
        };
        nft_script(node, ruleset(&ifaces)).then_some(tracer)
    }

    pub fn node(&self) -> &str {
        &self.node.name
    }

    /// The drops traced so far.
    pub fn drops(&self) -> Vec<Drop> {
        nft_trace::drops(&self.said.lock().unwrap())
    }

    /// Ends tracing: the monitor, by its PID, and the table.
    pub fn finish(mut self) -> Vec<Drop> {
        self.end();
        self.drops()
    }

    fn end(&mut self) {
        let Some(mut monitor) = self.monitor.take() else {
            return;
        };
        let _ = monitor.kill();
        let _ = monitor.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        // One nft for every table it made: each nft costs more than the
        // deletion.
        let mut tables = vec!["inet", "bridge"];
        if self.netdev {
            tables.push("netdev");
        }
        let script: String = tables
            .iter()
            .map(|family| format!("delete table {family} {TABLE}\n"))
            .collect();
        nft_script(&self.node, script);
    }
}

/// Runs an nft script in `node`; whether nft took it.
fn nft_script(node: &Node, script: String) -> bool {
    let opts = exec::Options {
        stdin: Some(script),
        ..exec::Options::default()
    };
    node.exec_with(&["nft", "-f", "-"].map(String::from), &opts)
        .is_ok_and(|o| o.code == 0)
}

impl std::ops::Drop for Tracer {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_family_is_marked_for_tracing() {
        let r = super::ruleset(&[(2, "eth0".into())]);
        for family in ["inet", "bridge", "netdev"] {
            assert!(
                r.contains(&format!("table {family} scenario_trace {{")),
                "{r}"
            );
        }
        assert!(r.contains("chain in2 { type filter hook ingress device \"eth0\" priority -350; meta nftrace set 1; }"), "{r}");
        assert!(!super::ruleset(&[]).contains("netdev"));
    }
}
