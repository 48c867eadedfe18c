//! The lab's topology as inline SVG, with a failed probe's path drawn on
//! it: each hop numbered, the request and the reply in the legend's
//! colours, the NAT a hop applied beside it, and the place it stopped (or
//! arrived, for an assertion that it must not) marked. Built with maud like
//! the page, so every name and address is escaped.

use maud::{html, Markup};

use super::layout::{lay_out, Layout, Row, Tag};
use super::stop::{self, Kind, Stop};
use crate::explain::path::{self, Hop};
use crate::explain::verdict::Explanation;
use crate::graph::Topology;

pub const REQUEST: &str = "#2563eb";
pub const REPLY: &str = "#0d9488";
pub const NAT: &str = "#b45309";
pub const STOP: &str = "#e11d48";
pub const CLIENT: &str = "#1e293b";
pub const TARGET: &str = "#16a34a";

/// A lab larger than this is drawn as the nodes the probe involved.
const DRAW_AT_MOST: usize = 24;

/// What was drawn: the picture, the nodes left out, and the stop marked.
pub struct Picture {
    pub svg: Markup,
    pub left_out: usize,
    pub stop: Option<Stop>,
}

pub fn draw(topo: &Topology, x: Option<&Explanation>) -> Picture {
    let names: Vec<&str> = topo.nodes.iter().map(|n| n.name.as_str()).collect();
    let stop = x.map(|x| stop::place(x, &names));
    let drawn: Option<Vec<String>> = match x {
        Some(x) if topo.nodes.len() > DRAW_AT_MOST => Some(involved(x)),
        _ => None,
    };
    let tags = x.map(nat_tags).unwrap_or_default();
    let layout = lay_out(topo, x.map(|x| x.client.as_str()), drawn.as_deref(), &tags);
    let left_out = topo.nodes.len() - layout.boxes.len();
    let (request, reply): (&[Hop], &[Hop]) = match x {
        Some(x) => (&x.path.request, &x.path.reply),
        None => (&[], &[]),
    };
    let (w, h) = (layout.width, layout.height);
    let svg = html! {
        svg xmlns="http://www.w3.org/2000/svg" class="topology" viewBox=(format!("0 0 {} {}", n(w), n(h)))
            width=(n(w)) height=(n(h)) role="img" aria-label="the lab's topology with the probe's path" {
            title { "The lab's topology, with the probe's path" }
            defs {
                @for (id, colour) in [("req", REQUEST), ("rep", REPLY)] {
                    marker id=(format!("arrow-{id}")) viewBox="0 0 10 10" refX="9" refY="5"
                        markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                        path d="M 0 0 L 10 5 L 0 10 z" fill=(colour) {}
                    }
                }
            }
            (cables(topo, &layout))
            (boxes(&layout, x))
            (hops(&layout, request, REQUEST, "req", -3.0, 0.0))
            (hops(&layout, reply, REPLY, "rep", 3.0, 20.0))
            @if let Some(s) = &stop { (stop_mark(&layout, s)) }
        }
    };
    Picture {
        svg,
        left_out,
        stop,
    }
}

/// The nodes a probe involved: where it left from, where it had to get,
/// every hop, and every node whose rules it moved.
fn involved(x: &Explanation) -> Vec<String> {
    let mut out = vec![x.client.clone()];
    out.extend(x.target.clone());
    out.extend(
        x.path
            .request
            .iter()
            .chain(&x.path.reply)
            .map(|h| h.node.clone()),
    );
    out.extend(x.moved.iter().map(|(n, _)| n.clone()));
    out
}

fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// From one interface to another: along a cable between nodes, or
/// around the left of the box within one node. `bulge`: how far the curve
/// swings out, so the request and the reply stay apart.
fn curve(l: &Layout, a: (&str, &str), b: (&str, &str), dy: f64, bulge: f64) -> Option<String> {
    let (na, ra) = l.row(a.0, a.1)?;
    let (nb, rb) = l.row(b.0, b.1)?;
    let (ya, yb) = (ra.mid() + dy, rb.mid() + dy);
    let right = |r: &Row| r.x + r.w;
    let d = if na.name == nb.name {
        let k = 26.0 + bulge;
        format!(
            "M {} {} C {} {}, {} {}, {} {}",
            n(ra.x),
            n(ya),
            n(ra.x - k),
            n(ya),
            n(rb.x - k),
            n(yb),
            n(rb.x),
            n(yb)
        )
    } else {
        let (sx, ex) = match na.col.cmp(&nb.col) {
            std::cmp::Ordering::Less => (right(ra), rb.x),
            std::cmp::Ordering::Greater => (ra.x, right(rb)),
            std::cmp::Ordering::Equal => (right(ra), right(rb)),
        };
        let k = if na.col == nb.col {
            60.0 + bulge
        } else {
            (ex - sx) / 2.0
        };
        format!(
            "M {} {} C {} {}, {} {}, {} {}",
            n(sx),
            n(ya),
            n(sx + k),
            n(ya),
            n(ex - if na.col == nb.col { -k } else { k }),
            n(yb),
            n(ex),
            n(yb)
        )
    };
    Some(d)
}

fn cables(topo: &Topology, l: &Layout) -> Markup {
    html! {
        g class="cables" fill="none" stroke="#94a3b8" stroke-width="2" {
            @for (a, b) in &topo.cables {
                @if let Some(d) = curve(l, (&a.0, &a.1), (&b.0, &b.1), 0.0, 0.0) { path d=(d) {} }
            }
            @for (a, b, _) in &topo.stacked {
                @if let Some(d) = curve(l, (&a.0, &a.1), (&b.0, &b.1), 0.0, 0.0) {
                    path d=(d) stroke-dasharray="5 4" {}
                }
            }
        }
    }
}

fn boxes(l: &Layout, x: Option<&Explanation>) -> Markup {
    let client = x.map(|x| x.client.as_str());
    let target = x.and_then(|x| x.target.as_deref());
    html! {
        g class="nodes" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="11" {
            @for b in &l.boxes {
                @let (stroke, width) = if Some(b.name.as_str()) == client {
                    (CLIENT, "2.5")
                } else if Some(b.name.as_str()) == target {
                    (TARGET, "2.5")
                } else {
                    ("#94a3b8", "1.2")
                };
                g class="node" data-node=(b.name) {
                    rect x=(n(b.x)) y=(n(b.y)) width=(n(super::layout::NODE_W)) height=(n(b.h)) rx="8"
                        fill=(if b.container { "#eff6ff" } else { "#f8fafc" }) stroke=(stroke) stroke-width=(width) {}
                    text x=(n(b.x + 10.0)) y=(n(b.y + 19.0)) font-size="13" font-weight="700" fill="#0f172a"
                        font-family="system-ui, sans-serif" {
                        (b.name)
                        tspan font-weight="400" fill="#64748b" font-size="11" {
                            @if b.container { " container" } @else { " node" }
                            @if Some(b.name.as_str()) == client { " · sent the probe" }
                            @if Some(b.name.as_str()) == target { " · had to receive it" }
                        }
                    }
                    @for r in &b.rows {
                        rect x=(n(r.x)) y=(n(r.y)) width=(n(r.w)) height=(n(r.h)) rx="4"
                            fill=(if r.bridge { "#fef9c3" } else { "#ffffff" }) stroke="#cbd5e1" {}
                        @for (i, line) in r.lines.iter().enumerate() {
                            text x=(n(r.x + 7.0)) y=(n(r.y + 16.0 + 15.0 * i as f64))
                                fill=(if i == 0 { "#0f172a" } else { "#475569" })
                                font-weight=(if i == 0 { "600" } else { "400" }) {
                                (line)
                                @if i == 0 { @if let Some(m) = &r.master {
                                    tspan fill="#94a3b8" font-weight="400" { " ⊂ " (m) }
                                } }
                            }
                        }
                        @for (i, tag) in r.tags.iter().enumerate() {
                            text class="nat" x=(n(r.x + 7.0)) y=(n(r.y + 16.0 + 15.0 * (r.lines.len() + i) as f64))
                                fill=(NAT) font-weight="700" { (tag) }
                        }
                    }
                }
            }
        }
    }
}

/// One direction's hops: the lines between them and a numbered badge on
/// each. `shift`: how far left of the row's end its badges sit.
fn hops(l: &Layout, hops: &[Hop], colour: &str, id: &str, dy: f64, shift: f64) -> Markup {
    let dir = if id == "req" { "request" } else { "reply" };
    html! {
        g class=(format!("path {dir}")) {
            @for pair in hops.windows(2) {
                @if let Some(d) = curve(l, (&pair[0].node, &pair[0].iface), (&pair[1].node, &pair[1].iface), dy, shift / 2.0) {
                    path d=(d) fill="none" stroke=(colour) stroke-width="3" stroke-linecap="round"
                        marker-end=(format!("url(#arrow-{id})")) {}
                }
            }
            @for (i, h) in hops.iter().enumerate() {
                @if let Some((_, r)) = l.row(&h.node, &h.iface) {
                    @let (cx, cy) = (r.x + r.w - 12.0 - shift, r.mid());
                    g class="hop" data-hop=(format!("{dir} {} {} {}", i + 1, h.node, h.iface)) {
                        circle cx=(n(cx)) cy=(n(cy)) r="8.5" fill=(colour) {}
                        text x=(n(cx)) y=(n(cy + 3.8)) text-anchor="middle" fill="#fff" font-size="10.5"
                            font-weight="700" font-family="system-ui, sans-serif" { (i + 1) }
                    }
                }
            }
        }
    }
}

/// The NAT each hop applied, as a line below its interface: `→ DNAT
/// 172.29.0.3` on the way there, `← un-DNAT 198.51.100.5` on the way back.
fn nat_tags(x: &Explanation) -> Vec<Tag> {
    let mut out = Vec::new();
    for (hops, reply, arrow) in [(&x.path.request, false, "→"), (&x.path.reply, true, "←")] {
        for pair in hops.windows(2) {
            let nat = path::nat(&pair[0], &pair[1], reply);
            if !nat.is_empty() {
                let at = (pair[1].node.clone(), pair[1].iface.clone());
                out.push((at, format!("{arrow} {}", nat.join(", "))));
            }
        }
    }
    out
}

fn stop_mark(l: &Layout, s: &Stop) -> Markup {
    let Some(b) = l.node(&s.node) else {
        return html! {};
    };
    let (cx, cy) = match s.iface.as_deref().and_then(|i| l.row(&s.node, i)) {
        Some((_, r)) => (r.x + r.w + 10.0, r.mid()),
        None => (b.x + super::layout::NODE_W - 14.0, b.y + 14.0),
    };
    let word = match s.kind {
        Kind::Stopped => "stopped here",
        Kind::Arrived => "arrived here",
    };
    html! {
        g class="stop" data-stop=(s.node) {
            circle cx=(n(cx)) cy=(n(cy)) r="11" fill=(STOP) stroke="#fff" stroke-width="2" {}
            @if s.kind == Kind::Stopped {
                path d=(format!("M {} {} L {} {} M {} {} L {} {}", n(cx - 4.5), n(cy - 4.5), n(cx + 4.5), n(cy + 4.5), n(cx + 4.5), n(cy - 4.5), n(cx - 4.5), n(cy + 4.5)))
                    stroke="#fff" stroke-width="2.5" stroke-linecap="round" {}
            } @else {
                path d=(format!("M {} {} L {} {} L {} {}", n(cx - 5.0), n(cy), n(cx - 1.5), n(cy + 4.0), n(cx + 5.0), n(cy - 4.0)))
                    stroke="#fff" stroke-width="2.5" fill="none" stroke-linecap="round" {}
            }
            @let w = 6.6 * word.len() as f64 + 10.0;
            // Above the mark, and inside the picture at its right edge.
            @let left = (cx - w / 2.0).min(l.width - w - 4.0);
            rect x=(n(left)) y=(n(cy - 34.0)) width=(n(w)) height="18" rx="4" fill=(STOP) {}
            text x=(n(left + w / 2.0)) y=(n(cy - 21.0)) text-anchor="middle" fill="#fff" font-size="11.5" font-weight="700"
                font-family="system-ui, sans-serif" { (word) }
        }
    }
}
