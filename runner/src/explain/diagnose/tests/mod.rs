//! Each cause the diagnosis names, reasoned out from evidence built by
//! hand: the hops a capture would have seen, the rules whose counters
//! moved, and kernels that answer from tables. One test per fault class of
//! `scenarios/faults/` and per cause the reports name beyond them.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{diagnose, Evidence, NodeRules};
use crate::explain::counters::{self, Rule};
use crate::explain::kernel::{Kernel, Link, Neighbour, NoRoute, Route};
use crate::explain::path::{Hop, PacketPath, Probe};
use crate::explain::verdict::{Cause, Stop, Verdict};

mod faults;
mod ways;
use crate::network::BridgePort;
use crate::state::firewall::Table;
use crate::state::xtables_firewall;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The article's world: bird 172.29.0.2 and fish 172.29.0.3 on host's
/// testbridge 172.29.0.1, host's eth0 on the LAN, isp 203.0.113.114.
#[derive(Default)]
struct Lab {
    addrs: Vec<(&'static str, &'static str, IpAddr)>,
    routes: HashMap<(&'static str, IpAddr), Result<Route, NoRoute>>,
    /// Routes asked for a packet that arrived on an interface.
    arrived: HashMap<(&'static str, IpAddr), Result<Route, NoRoute>>,
    links: HashMap<&'static str, Vec<Link>>,
    neighbours: HashMap<(&'static str, IpAddr), Neighbour>,
    fdb: HashMap<(&'static str, String), String>,
    sysctls: HashMap<(&'static str, String), String>,
    firewalls: HashMap<&'static str, Vec<Table>>,
}

fn link(name: &str) -> Link {
    Link {
        name: name.into(),
        up: true,
        carrier: true,
        mac: Some(format!("02:00:00:00:00:{:02x}", name.len())),
        mtu: Some(1500),
        ..Link::default()
    }
}

fn port(name: &str, bridge: &str) -> Link {
    Link {
        master: Some(bridge.into()),
        port: Some(BridgePort {
            state: "forwarding".into(),
            hairpin: false,
        }),
        ..link(name)
    }
}

fn via(dev: &str, gw: Option<&str>) -> Result<Route, NoRoute> {
    Ok(Route {
        local: false,
        dev: dev.into(),
        via: gw.map(ip),
        src: None,
        mtu: None,
    })
}

fn unreachable() -> Result<Route, NoRoute> {
    Err(NoRoute::Other("Network is unreachable".into()))
}

impl Lab {
    fn article() -> Lab {
        let mut l = Lab {
            addrs: vec![
                ("bird", "eth0", ip("172.29.0.2")),
                ("fish", "eth0", ip("172.29.0.3")),
                ("host", "testbridge", ip("172.29.0.1")),
                ("host", "eth0", ip("192.168.1.2")),
                ("isp", "eth0", ip("203.0.113.114")),
            ],
            ..Lab::default()
        };
        let bridge = Link {
            bridge: true,
            ..link("testbridge")
        };
        l.links.insert("bird", vec![link("eth0")]);
        l.links.insert("fish", vec![link("eth0")]);
        l.links.insert(
            "host",
            vec![
                bridge,
                port("v-bird", "testbridge"),
                port("v-fish", "testbridge"),
                link("eth0"),
            ],
        );
        l.links.insert("isp", vec![link("eth0")]);
        for c in ["bird", "fish"] {
            l.routes
                .insert((c, ip("203.0.113.114")), via("eth0", Some("172.29.0.1")));
            l.neighbours.insert(
                (c, ip("172.29.0.1")),
                Neighbour {
                    mac: link("testbridge").mac,
                    state: "REACHABLE".into(),
                },
            );
        }
        l.routes
            .insert(("host", ip("203.0.113.114")), via("eth0", None));
        l.arrived
            .insert(("host", ip("203.0.113.114")), via("eth0", None));
        l.neighbours.insert(
            ("host", ip("203.0.113.114")),
            Neighbour {
                mac: link("eth0").mac,
                state: "REACHABLE".into(),
            },
        );
        l.routes.insert(("isp", ip("172.29.0.2")), unreachable());
        l.routes
            .insert(("isp", ip("192.168.1.2")), via("eth0", None));
        l
    }

    fn sysctl(mut self, node: &'static str, key: &str, value: &str) -> Lab {
        self.sysctls.insert((node, key.into()), value.into());
        self
    }
}

impl Kernel for Lab {
    fn exists(&self, node: &str) -> bool {
        self.links.contains_key(node)
    }
    fn owner_of(&self, ip: IpAddr) -> Option<String> {
        self.addrs
            .iter()
            .find(|a| a.2 == ip)
            .map(|a| a.0.to_string())
    }
    fn has_addr(&self, node: &str, ip: IpAddr) -> bool {
        self.addrs.iter().any(|a| a.0 == node && a.2 == ip)
    }
    fn route(
        &self,
        node: &str,
        dst: IpAddr,
        from: Option<(IpAddr, &str)>,
    ) -> Result<Route, NoRoute> {
        if self.has_addr(node, dst) {
            return Ok(Route {
                local: true,
                ..via("lo", None)?
            });
        }
        let table = if from.is_some() {
            &self.arrived
        } else {
            &self.routes
        };
        let key = self
            .links
            .keys()
            .find(|k| **k == node)
            .copied()
            .unwrap_or("");
        table.get(&(key, dst)).cloned().unwrap_or_else(unreachable)
    }
    fn links(&self, node: &str) -> Vec<Link> {
        self.links.get(node).cloned().unwrap_or_default()
    }
    fn neighbour(&self, node: &str, ip: IpAddr, _dev: &str) -> Option<Neighbour> {
        self.neighbours
            .iter()
            .find(|((n, i), _)| *n == node && *i == ip)
            .map(|(_, v)| v.clone())
    }
    fn fdb_port(&self, node: &str, _bridge: &str, mac: &str) -> Option<String> {
        self.fdb
            .iter()
            .find(|((n, m), _)| *n == node && m == mac)
            .map(|(_, p)| p.clone())
    }
    fn iface_with(&self, node: &str, ip: IpAddr) -> Option<String> {
        self.addrs
            .iter()
            .find(|a| a.0 == node && a.2 == ip)
            .map(|a| a.1.to_string())
    }
    fn firewall(&self, node: &str, _v6: bool) -> Vec<Table> {
        self.firewalls.get(node).cloned().unwrap_or_default()
    }
    fn sysctl(&self, node: &str, key: &str) -> Option<String> {
        self.sysctls
            .iter()
            .find(|((n, k), _)| *n == node && k == key)
            .map(|(_, v)| v.clone())
    }
}

/// A hop of the request: `node iface` saw `src → dst`.
fn hop(
    node: &str,
    iface: &str,
    bridged: bool,
    src: &str,
    dst: &str,
    ports: Option<(u16, u16)>,
) -> Hop {
    Hop {
        node: node.into(),
        iface: iface.into(),
        bridged,
        summary: format!("{src} → {dst}"),
        src: ip(src),
        dst: ip(dst),
        ports,
    }
}

/// bird's packet to `dst` as it crossed host: its port, then the bridge.
fn through_host(dst: &str, ports: Option<(u16, u16)>) -> Vec<Hop> {
    vec![
        hop("bird", "eth0", false, "172.29.0.2", dst, ports),
        hop("host", "v-bird", true, "172.29.0.2", dst, ports),
        hop("host", "testbridge", false, "172.29.0.2", dst, ports),
    ]
}

const SAVE: &str = "\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
[0:0] -A INPUT -p icmp -j DROP
[0:0] -A FORWARD -p tcp -m tcp --dport 95 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
[0:0] -A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.29.0.2:95
[0:0] -A POSTROUTING -s 172.30.0.0/24 ! -o testbridge -j MASQUERADE
COMMIT
";

/// host's rules, with the counters of the lines that contain each of
/// `moved` raised by one.
fn host_rules(save: &str, moved: &[&str]) -> Vec<NodeRules> {
    let rules = |text: &str| -> Vec<Rule> { counters::rules(&xtables_firewall(text, false)) };
    let mut after = save.to_string();
    for m in moved {
        let line = after.lines().find(|l| l.contains(m)).unwrap().to_string();
        let raised =
            line.replacen("[0:0]", "[1:60]", 1)
                .replacen("ACCEPT [0:0]", "ACCEPT [1:60]", 1);
        let raised = raised.replacen("DROP [0:0]", "DROP [1:60]", 1);
        after = after.replacen(&line, &raised, 1);
    }
    let new = rules(&after);
    vec![NodeRules {
        node: "host".into(),
        moved: counters::moved(&rules(save), &new),
        rules: new,
    }]
}

struct Case {
    lab: Lab,
    probe: Probe,
    client: &'static str,
    dst: &'static str,
    expected: Option<&'static str>,
    path: PacketPath,
    rules: Vec<NodeRules>,
}

impl Case {
    fn ping(lab: Lab, dst: &'static str, request: Vec<Hop>) -> Case {
        Case {
            lab,
            probe: Probe::Ping,
            client: "bird",
            dst,
            expected: None,
            path: PacketPath {
                request,
                ..PacketPath::default()
            },
            rules: host_rules(SAVE, &[]),
        }
    }

    fn verdict(&self) -> Verdict {
        let expected = self
            .expected
            .map(str::to_string)
            .or_else(|| self.lab.owner_of(ip(self.dst)));
        diagnose(&Evidence {
            kernel: &self.lab,
            probe: self.probe,
            client: self.client.into(),
            dst: ip(self.dst),
            expected,
            path: &self.path,
            rules: &self.rules,
            flows: &[],
            traced: &[],
            captured: true,
        })
    }

    /// The verdict's cause, and checks that its sentence has `says`.
    fn stopped(&self, says: &str) -> Cause {
        match self.verdict() {
            Verdict::Stopped(Stop { cause, why }) => {
                assert!(why.contains(says), "{why:?} does not say {says:?}");
                cause
            }
            v => panic!("not stopped: {v}"),
        }
    }
}

fn node(n: &str) -> String {
    n.to_string()
}
