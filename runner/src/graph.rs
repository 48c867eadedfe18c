//! `scenario graph`: the topology a scenario really builds (read back from
//! the kernel: nodes, bridges, veth pairs with interface names, addresses)
//! as Graphviz dot or Mermaid.

use std::collections::HashMap;

use crate::lab::Lab;

#[derive(Debug, Default)]
pub struct Topology {
    pub nodes: Vec<NodeView>,
    /// Veth pairs: (node, interface) at each end.
    pub cables: Vec<((String, String), (String, String))>,
}

#[derive(Debug)]
pub struct NodeView {
    pub name: String,
    pub container: bool,
    pub ifaces: Vec<Iface>,
}

#[derive(Debug)]
pub struct Iface {
    pub name: String,
    pub kind: String,
    pub master: Option<String>,
    pub addrs: Vec<String>,
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
                if kind == "veth" {
                    veths.push((ni, l.clone()));
                }
                ifaces.push(Iface {
                    name: l.name.clone(),
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
        for (ni, l) in &veths {
            let Some(peer) = l.peer else { continue };
            let other = match l.peer_nsid {
                Some(id) => match nsids.get(&(*ni, id)) {
                    Some(o) => *o,
                    None => continue,
                },
                None => *ni,
            };
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
                let mut label = i.name.clone();
                for a in &i.addrs {
                    label.push_str(&format!("\\n{a}"));
                }
                let style = if i.kind == "bridge" {
                    ", style=bold"
                } else {
                    ""
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
                let mut label = i.name.clone();
                for a in &i.addrs {
                    label.push_str(&format!("<br/>{a}"));
                }
                let (open, close) = if i.kind == "bridge" {
                    ("[[", "]]")
                } else {
                    ("[", "]")
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
                        },
                        Iface {
                            name: "v-bird".into(),
                            kind: "veth".into(),
                            master: Some("testbridge".into()),
                            addrs: vec![],
                        },
                    ],
                },
                NodeView {
                    name: "bird".into(),
                    container: true,
                    ifaces: vec![Iface {
                        name: "eth0".into(),
                        kind: "veth".into(),
                        master: None,
                        addrs: vec!["172.29.0.2/24".into()],
                    }],
                },
            ],
            cables: vec![(
                ("bird".into(), "eth0".into()),
                ("host".into(), "v-bird".into()),
            )],
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
        ] {
            assert!(m.contains(needle), "{needle} in {m}");
        }
    }
}
