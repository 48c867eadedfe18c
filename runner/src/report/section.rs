//! One failure on the page: where, the line of code, what was expected
//! and what happened, the verdict, the path drawn on the topology and hop
//! by hop, the rules that moved, the captures, each node's state (folded),
//! services' output, snapshot diffs, and the report as the terminal has it.

use maud::{html, Markup};

use super::pcapng::Capture;
use super::sections;
use super::svg::{self, CLIENT, NAT, REPLY, REQUEST, STOP, TARGET};
use super::{slug, Failure};
use crate::explain::path::{self, Hop};
use crate::explain::verdict::{Explanation, Verdict};
use crate::suite::ScenarioResult;

pub fn failure(o: &ScenarioResult, capture: Option<&Capture>) -> Markup {
    let report = o.failure.as_deref().unwrap_or_default();
    let d = o.detail.as_deref();
    let x = d.and_then(|d| d.explanation.as_ref());
    html! {
        section.failure id=(slug(&o.path)) {
            h2 { span.badge.FAIL { "FAIL" } span.mono { (o.path.display()) }
                 span.note { (format!("{:.2} s", o.duration.as_secs_f64())) } }
            @match d {
                Some(d) => (what_failed(d)),
                None => pre { (report) },
            }
            @if let Some(x) = x { (verdict(x)) }
            @if let Some(d) = d { (picture(d)) }
            @if let Some(x) = x { (hops_table(x)) (moved(x)) }
            @if let Some(c) = capture { (captures(c)) }
            @if let Some(x) = x { (states(x)) }
            @if let Some(d) = d { (services_and_snapshots(d)) }
            details { summary { "The report as the terminal prints it" } div.body { pre { (report) } } }
        }
    }
}

fn what_failed(d: &Failure) -> Markup {
    let mut lines = d.message.lines();
    let headline = lines.next().unwrap_or_default();
    let mut expected = None;
    let mut happened = None;
    let mut rest = Vec::new();
    for l in lines {
        let t = l.trim();
        if let Some(v) = t.strip_prefix("expected:") {
            expected = Some(v.trim());
        } else if let Some(v) = t.strip_prefix("happened:") {
            happened = Some(v.trim());
        } else {
            rest.push(l);
        }
    }
    let place = match d.line {
        Some(l) => format!("{}:{l}", d.file),
        None => d.file.clone(),
    };
    html! {
        p.where { "at " code.place { (place) } @if !headline.is_empty() { ": " strong { (headline) } } }
        @if let Some(code) = &d.code {
            pre.code { span.ln { (d.line.map(|l| format!("{l:>4} │ ")).unwrap_or_default()) } (code.trim_end()) }
        }
        @if expected.is_some() || happened.is_some() {
            dl.outcome {
                @if let Some(e) = expected { dt { "expected" } dd { (e) } }
                @if let Some(h) = happened { dt { "happened" } dd { (h) } }
            }
        }
        @if !rest.is_empty() { pre { (rest.join("\n")) } }
    }
}

fn verdict(x: &Explanation) -> Markup {
    let (kind, why) = match &x.verdict {
        Verdict::Stopped(stop) => ("stopped", &stop.why),
        Verdict::Arrived(how) => ("arrived", how),
    };
    html! {
        @if let Some(m) = &x.machine { p.machine { (m) } }
        div.verdict { span.kind { (kind) } (why) }
        @if let Some(why) = &x.unwatched { p.note { "The path was not watched: " (why) } }
    }
}

fn picture(d: &Failure) -> Markup {
    let topo = match &d.topology {
        Ok(t) => t,
        Err(e) => return html! { p.note { "The topology could not be read back: " (e) } },
    };
    let x = d.explanation.as_ref();
    let p = svg::draw(topo, x);
    let swatch = |colour: &str| {
        html! { svg width="26" height="10" { line x1="1" y1="5" x2="25" y2="5" stroke=(colour) stroke-width="3" {} } }
    };
    html! {
        figure {
            @if x.is_some() {
                div.legend {
                    span { (swatch(REQUEST)) "request" }
                    span { (swatch(REPLY)) "reply" }
                    span { span.mono style=(format!("color:{NAT};font-weight:700")) { "→ DNAT" } "the NAT a hop applied" }
                    span { svg width="14" height="14" { circle cx="7" cy="7" r="6" fill=(STOP) {} } "where it stopped (or arrived)" }
                    span { svg width="14" height="14" { rect x="1" y="1" width="12" height="12" rx="3" fill="none" stroke=(CLIENT) stroke-width="2.5" {} } "sent the probe" }
                    span { svg width="14" height="14" { rect x="1" y="1" width="12" height="12" rx="3" fill="none" stroke=(TARGET) stroke-width="2.5" {} } "had to receive it" }
                }
            }
            div.picture { (p.svg) }
            figcaption {
                "The lab as the kernel had it when the scenario failed"
                @if x.is_some() { ", with the probe's packets as the capture saw them: numbered hops in the order seen" }
                @if let Some(s) = &p.stop {
                    "; it " @if s.kind == super::stop::Kind::Stopped { "stopped" } @else { "arrived" }
                    " at " strong.stop-place { (s.node) @if let Some(i) = &s.iface { " " (i) } }
                }
                "."
                @if p.left_out > 0 { " " (p.left_out) " nodes the probe did not involve are not drawn." }
            }
        }
    }
}

fn hops_table(x: &Explanation) -> Markup {
    let rows = |hops: &[Hop], reply: bool| -> Vec<(usize, Hop, String)> {
        hops.iter()
            .enumerate()
            .map(|(i, h)| {
                let nat = i
                    .checked_sub(1)
                    .map(|j| path::nat(&hops[j], h, reply).join(", "))
                    .unwrap_or_default();
                (i + 1, h.clone(), nat)
            })
            .collect()
    };
    let all = [
        ("request", rows(&x.path.request, false)),
        ("reply", rows(&x.path.reply, true)),
    ];
    html! {
        h3 { "The path, hop by hop" }
        @if x.path.request.is_empty() && x.path.reply.is_empty() {
            p.empty { "No packet of the probe was seen on any interface." }
        } @else {
            table.hops {
                thead { tr { th { "" } th { "#" } th { "where" } th { "what was seen" } th { "NAT" } } }
                tbody {
                    @for (dir, hops) in &all { @for (i, h, nat) in hops {
                        tr { td { span class=(format!("dir-{dir}")) { (dir) } } td { (i) }
                             td.mono { (h.node) " " (h.iface) } td.mono { (h.summary) } td.nat.mono { (nat) } }
                    } }
                }
            }
        }
        @for (node, what) in &x.path.errors { p.mono { "seen in " (node) ": " (what) } }
        @for (node, flow) in &x.conntrack { p.mono { "conntrack in " (node) ": " (flow) } }
    }
}

fn moved(x: &Explanation) -> Markup {
    html! {
        h3 { "Rules the probe moved" }
        @if x.moved.is_empty() { p.empty { "No firewall counter moved." } }
        @for (node, rules) in &x.moved {
            table.moved {
                thead { tr { th { (node) ", in the order a packet meets them" } th.time { "packets" } } }
                tbody { @for m in rules {
                    tr { td.mono class=[m.drops().then_some("drop")] { (m.describe().rsplit_once(" (+").map_or(m.describe(), |(r, _)| r.to_string())) }
                         td.time { "+" (m.delta) } }
                } }
            }
        }
    }
}

fn captures(c: &Capture) -> Markup {
    // Relative to the page, so that the folder can move as a whole.
    let href = &c.name;
    html! {
        h3 { "Captures" }
        p { a.capture href=(href) download { (href) } " — " (c.frames) " frames on " (c.interfaces)
            " interfaces, each named node:interface (Wireshark: Statistics › Capture File Properties)." }
        @for t in &c.tokens {
            p { "The probe's token: " code.token { (t) } " — find it with the display filter "
                code { "frame contains " (t.as_bytes().chunks(2).map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>().join(":")) } }
        }
    }
}

fn states(x: &Explanation) -> Markup {
    html! {
        h3 { "State of each node involved" }
        @for (node, state) in &x.states {
            details.state { summary { (node) } div.body {
                @for s in sections::split(state) { h4 { (s.title) } pre { (s.lines.join("\n")) } }
            } }
        }
    }
}

fn services_and_snapshots(d: &Failure) -> Markup {
    html! {
        @if !d.services.is_empty() {
            h3 { "What the services said" }
            @for s in &d.services { pre { (s) } }
        }
        @if !d.mismatches.is_empty() {
            h3 { "Snapshot differences" }
            @for m in &d.mismatches {
                pre.diff { @for l in m.lines() {
                    @let class = if l.starts_with("@@") { "hunk" } else if l.starts_with('+') { "add" } else if l.starts_with('-') { "del" } else { "" };
                    span class=(class) { (l) } "\n"
                } }
            }
        }
    }
}
