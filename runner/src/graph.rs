//! `scenario graph`: the topology a scenario really builds (read back from
//! the kernel: nodes, bridges, veth pairs with interface names, addresses,
//! vxlan devices with their VNI and the device they send through, macvlans
//! with their parent) as Graphviz dot or Mermaid.

use std::collections::HashMap;

use crate::lab::Lab;

#[derive(Debug, Default, Clone)]
pub struct Topology {
    pub nodes: Vec<NodeView>,
    /// Veth pairs: (node, interface) at each end.
    pub cables: Vec<((String, String), (String, String))>,
    /// A device on top of another: a macvlan on its parent (in whichever
    /// node it lives), a vxlan device over the one it sends through; the
    /// upper device, the lower one, and what joins them.
    pub stacked: Vec<(End, End, &'static str)>,
}

/// An interface of a node: (node, interface).
pub type End = (String, String);

#[derive(Debug, Clone)]
pub struct NodeView {
    pub name: String,
    pub container: bool,
    pub ifaces: Vec<Iface>,
}

#[derive(Debug, Clone)]
pub struct Iface {
    pub name: String,
    pub kind: String,
    pub master: Option<String>,
    pub addrs: Vec<String>,
    /// What the device is, where a name does not say it: "vxlan VNI 42",
    /// "macvlan bridge".
    pub detail: Option<String>,
}

impl Iface {
    fn lines(&self) -> Vec<String> {
        let mut out = vec![self.name.clone()];
        out.extend(self.detail.clone());
        out.extend(self.addrs.iter().cloned());
        out
    }
}

/// What a vxlan or macvlan is, for its label.
fn detail(l: &crate::network::LinkDetail) -> Option<String> {
    match l.kind.as_deref() {
        Some("vxlan") => Some(match l.vni {
            Some(vni) => format!("vxlan VNI {vni}"),
            None => "vxlan".into(),
        }),
        Some(k @ ("macvlan" | "macvtap")) => Some(match &l.macvlan_mode {
            Some(mode) => format!("{k} {mode}"),
            None => k.to_string(),
        }),
        _ => None,
    }
}

impl Topology {
    pub fn read(lab: &Lab) -> Result<Topology, String> {
        let nodes = lab.nodes();
        let mut topo = Topology::default();
        // (node, ifindex) → interface name, and veth ends still unpaired.
        let mut names: HashMap<(usize, u32), String> = HashMap::new();
        let mut veths = Vec::new();
        for (ni, node) in nodes.iter().enumerate() {
            let links = node.links()?;
            let by_index: HashMap<u32, String> =
                links.iter().map(|l| (l.index, l.name.clone())).collect();
            let mut ifaces = Vec::new();
            for l in &links {
                names.insert((ni, l.index), l.name.clone());
                let kind = l.kind.clone().unwrap_or_else(|| {
                    if l.name == "lo" {
                        "loopback".into()
                    } else {
                        "device".into()
                    }
                });
                let addrs: Vec<String> = node
                    .link_addrs(l.index)?
                    .into_iter()
                    .filter(|a| !a.ip().is_loopback() && !crate::network::is_link_local(a.ip()))
                    .map(|a| a.to_string())
                    .collect();
                if l.name == "lo" && addrs.is_empty() {
                    continue;
                }
                if kind == "veth" || kind == "macvlan" || kind == "macvtap" {
                    veths.push((ni, l.clone()));
                }
                if let Some(lower) = l.vxlan_dev.and_then(|i| by_index.get(&i)) {
                    topo.stacked.push((
                        (node.name.clone(), l.name.clone()),
                        (node.name.clone(), lower.clone()),
                        "over",
                    ));
                }
                ifaces.push(Iface {
                    name: l.name.clone(),
                    detail: detail(l),
                    kind,
                    master: l.master.and_then(|m| by_index.get(&m).cloned()),
                    addrs,
                });
            }
            topo.nodes.push(NodeView {
                name: node.name.clone(),
                container: node.container,
                ifaces,
            });
        }
        // A veth's peer lives in the namespace its nsid names, or its own.
        let mut nsids: HashMap<(usize, i32), usize> = HashMap::new();
        for (a, na) in nodes.iter().enumerate() {
            for (b, nb) in nodes.iter().enumerate() {
                if a != b {
                    if let Some(id) = na.nsid(nb)? {
                        nsids.insert((a, id), b);
                    }
                }
            }
        }
        // A macvlan names its parent as a veth names its peer.
        for (ni, l) in &veths {
            let Some(peer) = l.peer else { continue };
            let other = match l.peer_nsid {
                Some(id) => match nsids.get(&(*ni, id)) {
                    Some(o) => *o,
                    None => continue,
                },
                None => *ni,
            };
            if l.kind.as_deref() != Some("veth") {
                if let Some(parent) = names.get(&(other, peer)) {
                    topo.stacked.push((
                        (nodes[*ni].name.clone(), l.name.clone()),
                        (nodes[other].name.clone(), parent.clone()),
                        "on",
                    ));
                }
                continue;
            }
            let (Some(peer_name), true) =
                (names.get(&(other, peer)), (*ni, l.index) < (other, peer))
            else {
                continue;
            };
            topo.cables.push((
                (nodes[*ni].name.clone(), l.name.clone()),
                (nodes[other].name.clone(), peer_name.clone()),
            ));
        }
        Ok(topo)
    }

    /// Graphviz: a cluster per node, a box per interface (bridges bold), a
    /// line per veth pair, a dashed line from a port to its bridge.
    pub fn dot(&self) -> String {
        let mut out = String::from("graph lab {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
        for n in &self.nodes {
            let kind = if n.container { "container" } else { "node" };
            out.push_str(&format!(
                "  subgraph \"cluster_{}\" {{\n    label=\"{} ({kind})\";\n",
                n.name, n.name
            ));
            for i in &n.ifaces {
                let label = i.lines().join("\\n");
                let style = match i.kind.as_str() {
                    "bridge" => ", style=bold",
                    // A tunnel end: the shape of a signpost.
                    "vxlan" => ", shape=cds",
                    _ => "",
                };
                out.push_str(&format!(
                    "    \"{}/{}\" [label=\"{label}\"{style}];\n",
                    n.name, i.name
                ));
            }
            out.push_str("  }\n");
        }
        for n in &self.nodes {
            for i in &n.ifaces {
                if let Some(m) = &i.master {
                    out.push_str(&format!(
                        "  \"{0}/{1}\" -- \"{0}/{2}\" [style=dashed];\n",
                        n.name, i.name, m
                    ));
                }
            }
        }
        for ((a, ai), (b, bi)) in &self.cables {
            out.push_str(&format!("  \"{a}/{ai}\" -- \"{b}/{bi}\" [penwidth=2];\n"));
        }
        for ((a, ai), (b, bi), how) in &self.stacked {
            out.push_str(&format!(
                "  \"{a}/{ai}\" -- \"{b}/{bi}\" [style=dotted, label=\"{how}\"];\n"
            ));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid, which GitHub renders in Markdown: the same picture.
    pub fn mermaid(&self) -> String {
        let id = |node: &str, iface: &str| format!("{}_{}", safe(node), safe(iface));
        let mut out = String::from("flowchart LR\n");
        for n in &self.nodes {
            let kind = if n.container { "container" } else { "node" };
            out.push_str(&format!(
                "  subgraph {}[\"{} ({kind})\"]\n",
                safe(&n.name),
                n.name
            ));
            for i in &n.ifaces {
                let label = i.lines().join("<br/>");
                let (open, close) = match i.kind.as_str() {
                    "bridge" => ("[[", "]]"),
                    // A tunnel end: Mermaid's flag shape.
                    "vxlan" => (">", "]"),
                    _ => ("[", "]"),
                };
                out.push_str(&format!(
                    "    {}{open}\"{label}\"{close}\n",
                    id(&n.name, &i.name)
                ));
            }
            out.push_str("  end\n");
        }
        for n in &self.nodes {
            for i in &n.ifaces {
                if let Some(m) = &i.master {
                    out.push_str(&format!(
                        "  {} -.- {}\n",
                        id(&n.name, &i.name),
                        id(&n.name, m)
                    ));
                }
            }
        }
        for ((a, ai), (b, bi)) in &self.cables {
            out.push_str(&format!("  {} --- {}\n", id(a, ai), id(b, bi)));
        }
        for ((a, ai), (b, bi), how) in &self.stacked {
            out.push_str(&format!("  {} -. {how} .- {}\n", id(a, ai), id(b, bi)));
        }
        out
    }
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Topology {
        Topology {
            nodes: vec![
                NodeView {
                    name: "host".into(),
                    container: false,
                    ifaces: vec![
                        Iface {
                            name: "testbridge".into(),
                            kind: "bridge".into(),
                            master: None,
                            addrs: vec!["172.29.0.1/24".into()],
                            detail: None,
                        },
                        Iface {
                            name: "v-bird".into(),
                            kind: "veth".into(),
                            master: Some("testbridge".into()),
                            addrs: vec![],
                            detail: None,
                        },
                        Iface {
                            name: "vxlan0".into(),
                            kind: "vxlan".into(),
                            master: Some("testbridge".into()),
                            addrs: vec![],
                            detail: Some("vxlan VNI 42".into()),
                        },
                        Iface {
                            name: "eth0".into(),
                            kind: "veth".into(),
                            master: None,
                            addrs: vec!["198.51.100.5/24".into()],
                            detail: None,
                        },
                    ],
                },
                NodeView {
                    name: "bird".into(),
                    container: true,
                    ifaces: vec![
                        Iface {
                            name: "eth0".into(),
                            kind: "veth".into(),
                            master: None,
                            addrs: vec!["172.29.0.2/24".into()],
                            detail: None,
                        },
                        Iface {
                            name: "mv0".into(),
                            kind: "macvlan".into(),
                            master: None,
                            addrs: vec!["198.51.100.21/24".into()],
                            detail: Some("macvlan bridge".into()),
                        },
                    ],
                },
            ],
            cables: vec![(
                ("bird".into(), "eth0".into()),
                ("host".into(), "v-bird".into()),
            )],
            stacked: vec![
                (
                    ("host".into(), "vxlan0".into()),
                    ("host".into(), "eth0".into()),
                    "over",
                ),
                (
                    ("bird".into(), "mv0".into()),
                    ("host".into(), "eth0".into()),
                    "on",
                ),
            ],
        }
    }

    #[test]
    fn dot_names_nodes_bridges_addresses_and_cables() {
        let d = sample().dot();
        for needle in [
            "cluster_host",
            "bird (container)",
            "testbridge\\n172.29.0.1/24",
            "\"bird/eth0\" -- \"host/v-bird\"",
            "\"host/v-bird\" -- \"host/testbridge\" [style=dashed]",
            "\"host/vxlan0\" [label=\"vxlan0\\nvxlan VNI 42\", shape=cds]",
            "\"host/vxlan0\" -- \"host/eth0\" [style=dotted, label=\"over\"]",
            "\"bird/mv0\" [label=\"mv0\\nmacvlan bridge\\n198.51.100.21/24\"]",
            "\"bird/mv0\" -- \"host/eth0\" [style=dotted, label=\"on\"]",
        ] {
            assert!(d.contains(needle), "{needle} in {d}");
        }
    }

    #[test]
    fn mermaid_names_nodes_bridges_addresses_and_cables() {
        let m = sample().mermaid();
        assert!(m.starts_with("flowchart LR\n"));
        for needle in [
            "subgraph host[\"host (node)\"]",
            "host_testbridge[[\"testbridge<br/>172.29.0.1/24\"]]",
            "bird_eth0 --- host_v_bird",
            "host_v_bird -.- host_testbridge",
            "host_vxlan0>\"vxlan0<br/>vxlan VNI 42\"]",
            "host_vxlan0 -. over .- host_eth0",
            "bird_mv0[\"mv0<br/>macvlan bridge<br/>198.51.100.21/24\"]",
            "bird_mv0 -. on .- host_eth0",
        ] {
            assert!(m.contains(needle), "{needle} in {m}");
        }
    }
}
