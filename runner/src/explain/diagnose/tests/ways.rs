//! The causes the reports name beyond the shipped faults: reverse-path
//! filtering, stale neighbours, bridges, replies, and what stays unknown.

use super::*;

#[test]
fn reverse_path_filtering() {
    let mut lab = Lab::article();
    lab.arrived
        .insert(("host", ip("203.0.113.114")), Err(NoRoute::CrossDevice));
    let c = Case::ping(lab, "203.0.113.114", through_host("203.0.113.114", None));
    assert_eq!(c.stopped("host dropped it by reverse-path filtering (rp_filter): its route back to 172.29.0.2 does not leave through testbridge"), Cause::ReversePath { node: node("host") });
    // EINVAL means the same only where rp_filter is on.
    let mut lab = Lab::article().sysctl("host", "net/ipv4/conf/all/rp_filter", "1");
    lab.arrived
        .insert(("host", ip("203.0.113.114")), Err(NoRoute::Invalid));
    let c = Case::ping(lab, "203.0.113.114", through_host("203.0.113.114", None));
    assert_eq!(
        c.stopped("reverse-path"),
        Cause::ReversePath { node: node("host") }
    );
    let mut lab = Lab::article();
    lab.arrived
        .insert(("host", ip("203.0.113.114")), Err(NoRoute::Invalid));
    let c = Case::ping(lab, "203.0.113.114", through_host("203.0.113.114", None));
    assert_eq!(
        c.stopped("host has no route to 203.0.113.114 (Invalid argument)"),
        Cause::NoRoute { node: node("host") }
    );
}

#[test]
fn a_stale_neighbour_entry_after_a_bridge_changed_its_mac() {
    let mut lab = Lab::article();
    lab.neighbours
        .get_mut(&("bird", ip("172.29.0.1")))
        .unwrap()
        .mac = Some("02:00:00:00:00:99".into());
    lab.neighbours
        .get_mut(&("bird", ip("172.29.0.1")))
        .unwrap()
        .state = "STALE".into();
    Case::ping(lab, "203.0.113.114", vec![]).stopped(
        "bird sends to 172.29.0.1 at 02:00:00:00:00:99 (its neighbour entry, STALE), but host's testbridge, which has 172.29.0.1, is now at 02:00:00:00:00:0a: bird's neighbour entry is stale (a bridge takes the lowest",
    );
}

#[test]
fn a_bridge_port_that_does_not_forward() {
    let mut lab = Lab::article();
    lab.neighbours.remove(&("bird", ip("172.29.0.1")));
    lab.links.get_mut("host").unwrap()[1]
        .port
        .as_mut()
        .unwrap()
        .state = "blocking".into();
    Case::ping(lab, "203.0.113.114", vec![])
        .stopped("host's bridge testbridge does not forward on every port: v-bird is blocking");
}

#[test]
fn a_bridge_that_would_hairpin() {
    // bird reaches fish's published port through host, which sends it
    // back to bird's own port.
    let mut lab = Lab::article();
    lab.routes
        .insert(("host", ip("172.29.0.2")), via("testbridge", None));
    lab.arrived
        .insert(("host", ip("172.29.0.2")), via("testbridge", None));
    lab.neighbours.insert(
        ("host", ip("172.29.0.2")),
        Neighbour {
            mac: Some("02:00:00:00:00:02".into()),
            state: "REACHABLE".into(),
        },
    );
    lab.fdb
        .insert(("host", "02:00:00:00:00:02".into()), "v-bird".into());
    let mut c = Case::ping(lab, "192.168.1.2", vec![]);
    c.path.request = vec![
        hop("bird", "eth0", false, "172.29.0.2", "192.168.1.2", None),
        hop("host", "v-bird", true, "172.29.0.2", "192.168.1.2", None),
        hop(
            "host",
            "testbridge",
            false,
            "172.29.0.2",
            "172.29.0.2",
            None,
        ),
    ];
    c.stopped("host's bridge testbridge would send it back out of v-bird, the port it came in by, and v-bird's hairpin mode is off");
}

#[test]
fn a_reply_dropped_where_the_request_passed() {
    let save = SAVE.replace(":FORWARD ACCEPT [0:0]", ":FORWARD DROP [0:0]");
    let mut request = through_host("203.0.113.114", None);
    request.push(hop(
        "isp",
        "eth0",
        false,
        "192.168.1.2",
        "203.0.113.114",
        None,
    ));
    let mut c = Case::ping(Lab::article(), "203.0.113.114", request);
    c.path.reply = vec![
        hop("isp", "eth0", false, "203.0.113.114", "192.168.1.2", None),
        hop("host", "eth0", false, "203.0.113.114", "192.168.1.2", None),
    ];
    c.rules = host_rules(&save, &[":FORWARD DROP"]);
    c.stopped("host dropped the reply in filter FORWARD policy DROP (+1)");
}

#[test]
fn nothing_settles_it() {
    let c = Case::ping(
        Lab::article(),
        "203.0.113.114",
        through_host("203.0.113.114", None),
    );
    assert_eq!(c.stopped("host forwards and has a route to 203.0.113.114, and no rule that moved dropped it: cause unknown"), Cause::Unknown);
    let mut blind = Case::ping(Lab::article(), "203.0.113.114", vec![]);
    blind.path = PacketPath::default();
    assert_eq!(
        blind.stopped("it never left bird; bird has a route and a neighbour entry for it"),
        Cause::Unknown
    );
}

#[test]
fn an_uncounted_nft_drop_on_the_way_out() {
    use crate::state::firewall::{Action, Chain, Rule, Source};
    let mut lab = Lab::article();
    lab.neighbours.remove(&("bird", ip("172.29.0.1")));
    let rule = |text: &str, packets| Rule {
        text: text.into(),
        packets,
        action: Some(Action::Drop),
    };
    let isolation = Table {
        source: Source::Nft {
            family: "inet".into(),
        },
        name: "netavark".into(),
        chains: vec![Chain {
            name: "NETAVARK-ISOLATION-2".into(),
            base: None,
            rules: vec![
                rule("oifname \"neta\" drop", None),
                rule("oifname \"eth0\" drop", None),
                rule("oifname \"eth0\" counter drop", Some(0)),
            ],
        }],
    };
    lab.firewalls.insert("bird", vec![isolation]);
    let c = Case::ping(lab, "203.0.113.114", vec![]);
    assert_eq!(
        c.stopped("bird never asked for 172.29.0.1 on eth0 (no neighbour entry): it dropped the packet on its way out, in a rule that does not count; its nft rules that drop what leaves by eth0: inet netavark NETAVARK-ISOLATION-2: `oifname \"eth0\" drop`"),
        Cause::NextHop { node: node("bird") }
    );
}
