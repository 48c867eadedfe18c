//! Where the picture puts each node and interface. Nodes stand in columns
//! by their distance, in veth pairs (and macvlan or vxlan lower devices),
//! from the node the probe left from, so that a probe's path reads from
//! left to right; within a column a node sits near the nodes it is joined
//! to in the column before. Each node is a box, each of its interfaces a
//! row in it. Pure: geometry only.

use std::collections::{HashMap, VecDeque};

use crate::graph::Topology;

pub const NODE_W: f64 = 220.0;
const GAP_X: f64 = 100.0;
const GAP_Y: f64 = 26.0;
const MARGIN: f64 = 30.0;
const HEADER: f64 = 30.0;
const LINE: f64 = 15.0;
const PAD: f64 = 10.0;

#[derive(Debug)]
pub struct NodeBox {
    pub name: String,
    pub container: bool,
    pub col: usize,
    pub x: f64,
    pub y: f64,
    pub h: f64,
    pub rows: Vec<Row>,
}

#[derive(Debug)]
pub struct Row {
    pub iface: String,
    /// The name (and what the device is), then its addresses.
    pub lines: Vec<String>,
    pub bridge: bool,
    pub master: Option<String>,
    /// What the probe's hops did here (the NAT they applied), a line each
    /// below the interface's own.
    pub tags: Vec<String>,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Row {
    pub fn mid(&self) -> f64 {
        self.y + self.h / 2.0
    }
}

#[derive(Debug)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub boxes: Vec<NodeBox>,
}

impl Layout {
    pub fn node(&self, name: &str) -> Option<&NodeBox> {
        self.boxes.iter().find(|b| b.name == name)
    }

    pub fn row(&self, node: &str, iface: &str) -> Option<(&NodeBox, &Row)> {
        let b = self.node(node)?;
        Some((b, b.rows.iter().find(|r| r.iface == iface)?))
    }
}

/// A line to add below an interface: ((node, interface), text).
pub type Tag = ((String, String), String);

/// Lays out the nodes of `topo` named in `drawn` (all when `None`),
/// starting from `start`, with `tags` below their interfaces.
pub fn lay_out(
    topo: &Topology,
    start: Option<&str>,
    drawn: Option<&[String]>,
    tags: &[Tag],
) -> Layout {
    let nodes: Vec<_> = topo
        .nodes
        .iter()
        .filter(|n| drawn.is_none_or(|d| d.contains(&n.name)))
        .collect();
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut near: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let joins = topo
        .cables
        .iter()
        .map(|(a, b)| (&a.0, &b.0))
        .chain(topo.stacked.iter().map(|(a, b, _)| (&a.0, &b.0)));
    for (a, b) in joins {
        if let (Some(&i), Some(&j)) = (index.get(a.as_str()), index.get(b.as_str())) {
            if i != j {
                near[i].push(j);
                near[j].push(i);
            }
        }
    }
    let cols = columns(&near, start.and_then(|s| index.get(s).copied()));
    let count = cols.iter().max().map_or(0, |m| m + 1);
    // Each column's nodes, ordered by where their neighbours in the column
    // before stand.
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, c) in cols.iter().enumerate() {
        order[*c].push(i);
    }
    for c in 1..count {
        let (before, rest) = order.split_at_mut(c);
        let prev = &before[c - 1];
        let rank = |i: &usize| {
            near[*i]
                .iter()
                .filter_map(|j| prev.iter().position(|p| p == j))
                .min()
                .unwrap_or(usize::MAX)
        };
        rest[0].sort_by_key(rank);
    }
    let mut boxes = Vec::new();
    let mut height: f64 = 0.0;
    for (c, members) in order.iter().enumerate() {
        let x = MARGIN + c as f64 * (NODE_W + GAP_X);
        let mut y = MARGIN;
        for &i in members {
            let b = node_box(nodes[i], (c, x, y), tags);
            y += b.h + GAP_Y;
            boxes.push(b);
        }
        height = height.max(y - GAP_Y + MARGIN);
    }
    Layout {
        width: 2.0 * MARGIN + count as f64 * NODE_W + count.saturating_sub(1) as f64 * GAP_X,
        height,
        boxes,
    }
}

/// Each node's column: its distance from `start`; nodes it cannot reach
/// count from the first of them, as a lab of their own.
fn columns(near: &[Vec<usize>], start: Option<usize>) -> Vec<usize> {
    let mut col: Vec<Option<usize>> = vec![None; near.len()];
    let roots = start.into_iter().chain(0..near.len());
    for root in roots {
        if col[root].is_some() {
            continue;
        }
        col[root] = Some(0);
        let mut queue = VecDeque::from([root]);
        while let Some(i) = queue.pop_front() {
            for &j in &near[i] {
                if col[j].is_none() {
                    col[j] = Some(col[i].unwrap_or(0) + 1);
                    queue.push_back(j);
                }
            }
        }
    }
    col.into_iter().map(Option::unwrap_or_default).collect()
}

fn node_box(n: &crate::graph::NodeView, (col, x, y): (usize, f64, f64), tags: &[Tag]) -> NodeBox {
    let mut rows = Vec::new();
    let mut ry = y + HEADER;
    for i in &n.ifaces {
        let mut lines = vec![match &i.detail {
            Some(d) => format!("{} ({d})", i.name),
            None => i.name.clone(),
        }];
        lines.extend(i.addrs.iter().cloned());
        let tags: Vec<String> = tags
            .iter()
            .filter(|((node, iface), _)| *node == n.name && *iface == i.name)
            .map(|(_, t)| t.clone())
            .collect();
        let h = PAD + LINE * (lines.len() + tags.len()) as f64;
        rows.push(Row {
            iface: i.name.clone(),
            lines,
            bridge: i.kind == "bridge",
            master: i.master.clone(),
            tags,
            x: x + PAD,
            y: ry,
            w: NODE_W - 2.0 * PAD,
            h,
        });
        ry += h + 6.0;
    }
    NodeBox {
        name: n.name.clone(),
        container: n.container,
        col,
        x,
        y,
        h: ry - y + 4.0,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Iface, NodeView};

    fn node(name: &str, ifaces: &[&str]) -> NodeView {
        NodeView {
            name: name.into(),
            container: false,
            ifaces: ifaces
                .iter()
                .map(|i| Iface {
                    name: i.to_string(),
                    kind: "veth".into(),
                    master: None,
                    addrs: vec!["10.0.0.1/24".into()],
                    detail: None,
                })
                .collect(),
        }
    }

    fn end(n: &str, i: &str) -> (String, String) {
        (n.into(), i.into())
    }

    #[test]
    fn columns_follow_the_distance_from_the_client() {
        let topo = Topology {
            nodes: vec![
                node("lan", &["v-host", "v-isp"]),
                node("host", &["eth0", "v-bird"]),
                node("isp", &["eth0"]),
                node("bird", &["eth0"]),
            ],
            cables: vec![
                (end("lan", "v-host"), end("host", "eth0")),
                (end("lan", "v-isp"), end("isp", "eth0")),
                (end("host", "v-bird"), end("bird", "eth0")),
            ],
            stacked: Vec::new(),
        };
        let tag = (end("host", "v-bird"), "DNAT 10.0.0.9".to_string());
        let l = lay_out(&topo, Some("bird"), None, std::slice::from_ref(&tag));
        let col = |n: &str| l.node(n).unwrap().col;
        assert_eq!(
            (col("bird"), col("host"), col("lan"), col("isp")),
            (0, 1, 2, 3)
        );
        let (b, r) = l.row("host", "v-bird").unwrap();
        assert!(r.y > b.y && r.y + r.h < b.y + b.h);
        assert_eq!(r.tags, vec!["DNAT 10.0.0.9"]);
        assert!(
            r.h > l.row("host", "eth0").unwrap().1.h,
            "a tag is a line more"
        );
        assert!(l.width >= 4.0 * NODE_W);
        let only = lay_out(&topo, None, Some(&["isp".to_string()]), &[]);
        assert_eq!(only.boxes.len(), 1);
    }
}
