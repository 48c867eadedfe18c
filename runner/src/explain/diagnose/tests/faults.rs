//! One test per fault class of `scenarios/faults/`.

use super::*;

#[test]
fn f01_no_forwarding() {
    let lab = Lab::article().sysctl("host", "net/ipv4/ip_forward", "0");
    let c = Case::ping(lab, "203.0.113.114", through_host("203.0.113.114", None));
    let cause =
        c.stopped("last seen at host testbridge; host does not forward (net.ipv4.ip_forward = 0)");
    assert_eq!(
        cause,
        Cause::NoForwarding {
            node: node("host"),
            sysctl: "net.ipv4.ip_forward".into()
        }
    );
}

/// bird's ping to isp arrives with its own source, and isp has no way
/// back.
fn unanswered_at_isp(save: &str) -> Case {
    let mut request = through_host("203.0.113.114", None);
    request.push(hop(
        "host",
        "eth0",
        false,
        "172.29.0.2",
        "203.0.113.114",
        None,
    ));
    request.push(hop(
        "isp",
        "eth0",
        false,
        "172.29.0.2",
        "203.0.113.114",
        None,
    ));
    let mut c = Case::ping(Lab::article(), "203.0.113.114", request);
    c.rules = host_rules(save, &[]);
    c
}

#[test]
fn f02_no_masquerade() {
    let save = SAVE.replace(
        "[0:0] -A POSTROUTING -s 172.30.0.0/24 ! -o testbridge -j MASQUERADE\n",
        "",
    );
    let cause = unanswered_at_isp(&save).stopped(
        "isp received it at isp eth0 and no reply left: isp has no route to 172.29.0.2 (Network is unreachable); its source 172.29.0.2 was never translated: no MASQUERADE or SNAT on the way",
    );
    assert_eq!(cause, Cause::NoRoute { node: node("isp") });
}

#[test]
fn f03_f04_masquerade_that_did_not_match() {
    unanswered_at_isp(SAVE).stopped(
        "never translated: host's nat POSTROUTING: `-s 172.30.0.0/24 ! -o testbridge -j MASQUERADE` did not match it",
    );
}

/// A probe to host's published 8080, DNATed to bird.
fn published(last: Hop, moved: &[&str]) -> Case {
    let ports = Some((40000, 8080));
    let request = vec![
        hop("isp", "eth0", false, "192.168.1.9", "192.168.1.2", ports),
        hop("host", "eth0", false, "192.168.1.9", "192.168.1.2", ports),
        last,
    ];
    let mut c = Case::ping(Lab::article(), "192.168.1.2", request);
    c.probe = Probe::tcp(8080, 95);
    c.client = "isp";
    c.expected = Some("bird");
    c.rules = host_rules(SAVE, moved);
    c
}

#[test]
fn f05_dnat_to_the_wrong_port() {
    let save_moved = ["--dport 8080 -j DNAT"];
    let c = published(
        hop(
            "bird",
            "eth0",
            false,
            "192.168.1.9",
            "172.29.0.2",
            Some((40000, 96)),
        ),
        &save_moved,
    );
    let cause = c.stopped("it reached bird on port 96, not on 95 where the listener is: it was sent there by host's nat PREROUTING: `-p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.29.0.2:95` (+1); bird did not answer");
    assert_eq!(cause, Cause::Elsewhere { node: node("bird") });
}

#[test]
fn f06_dnat_to_another_container() {
    let c = published(
        hop(
            "fish",
            "eth0",
            false,
            "192.168.1.9",
            "172.29.0.3",
            Some((40000, 95)),
        ),
        &["--dport 8080 -j DNAT"],
    );
    assert_eq!(c.stopped("it went to fish (172.29.0.3:95), not to bird: it was sent there by host's nat PREROUTING"), Cause::Elsewhere { node: node("fish") });
}

#[test]
fn f07_forward_policy_drop() {
    let save = SAVE.replace(":FORWARD ACCEPT [0:0]", ":FORWARD DROP [0:0]");
    let mut c = Case::ping(
        Lab::article(),
        "203.0.113.114",
        through_host("203.0.113.114", None),
    );
    c.rules = host_rules(&save, &[":FORWARD DROP"]);
    let cause = c.stopped("host dropped it in filter FORWARD policy DROP (+1)");
    assert_eq!(
        cause,
        Cause::Firewall {
            node: node("host"),
            rule: "filter FORWARD policy DROP".into(),
            rejected: false,
        }
    );
}

#[test]
fn f08_forward_rule_drops_a_published_port_after_its_dnat() {
    let c = published(
        hop(
            "host",
            "eth0",
            false,
            "192.168.1.9",
            "192.168.1.2",
            Some((40000, 8080)),
        ),
        &["--dport 8080 -j DNAT", "--dport 95 -j DROP"],
    );
    c.stopped("host dropped it in filter FORWARD: `-p tcp -m tcp --dport 95 -j DROP` (+1), after nat PREROUTING: `-p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.29.0.2:95` (+1)");
}

#[test]
fn f09_no_default_route() {
    let mut lab = Lab::article();
    lab.routes
        .insert(("bird", ip("203.0.113.114")), unreachable());
    let cause = Case::ping(lab, "203.0.113.114", vec![])
        .stopped("it never left bird: bird has no route to 203.0.113.114 (Network is unreachable)");
    assert_eq!(cause, Cause::NoRoute { node: node("bird") });
}

#[test]
fn f10_a_gateway_nobody_has() {
    let mut lab = Lab::article();
    lab.routes.insert(
        ("bird", ip("203.0.113.114")),
        via("eth0", Some("172.29.0.254")),
    );
    lab.neighbours.insert(
        ("bird", ip("172.29.0.254")),
        Neighbour {
            mac: None,
            state: "FAILED".into(),
        },
    );
    let cause = Case::ping(lab, "203.0.113.114", vec![]).stopped(
        "it never left bird: bird could not resolve 172.29.0.254 on eth0 (neighbour FAILED: no answer to ARP): nobody in the lab has 172.29.0.254",
    );
    assert_eq!(cause, Cause::NextHop { node: node("bird") });
}

#[test]
fn f11_a_bridge_that_is_down() {
    let mut lab = Lab::article();
    lab.neighbours.remove(&("bird", ip("172.29.0.1")));
    lab.links.get_mut("host").unwrap()[0].up = false;
    Case::ping(lab, "203.0.113.114", vec![]).stopped(
        "bird could not resolve 172.29.0.1 on eth0 (neighbour entry missing: no answer to ARP): host's testbridge, which has 172.29.0.1, is down",
    );
}

#[test]
fn f12_icmp_dropped_on_input() {
    let mut c = Case::ping(
        Lab::article(),
        "172.29.0.1",
        through_host("172.29.0.1", None),
    );
    c.rules = host_rules(SAVE, &["-p icmp -j DROP"]);
    c.stopped("host dropped it in filter INPUT: `-p icmp -j DROP` (+1)");
}

#[test]
fn f13_f14_no_dnat_rule_matched() {
    let mut c = published(
        hop(
            "host",
            "eth0",
            false,
            "192.168.1.9",
            "192.168.1.2",
            Some((40000, 8080)),
        ),
        &[],
    );
    c.probe = Probe::Port {
        proto: crate::probe::Proto::Udp,
        dialled: 8080,
        listened: 95,
    };
    c.stopped("it went to host (192.168.1.2:8080) itself, not to bird: no DNAT applied to it (none of host's DNAT rules matched: nat PREROUTING: `-p tcp");
    // The host's own connection takes nat OUTPUT, not PREROUTING.
    c.client = "host";
    c.path.request = vec![hop(
        "host",
        "lo",
        false,
        "192.168.1.2",
        "192.168.1.2",
        Some((40000, 8080)),
    )];
    c.stopped("host's own connections skip nat PREROUTING, they take nat OUTPUT");
}

#[test]
fn f15_a_port_left_open_arrives() {
    let mut c = published(
        hop(
            "bird",
            "eth0",
            false,
            "192.168.1.9",
            "172.29.0.2",
            Some((40000, 95)),
        ),
        &["--dport 8080 -j DNAT"],
    );
    c.path.reply = vec![
        hop(
            "bird",
            "eth0",
            false,
            "172.29.0.2",
            "192.168.1.9",
            Some((95, 40000)),
        ),
        hop(
            "isp",
            "eth0",
            false,
            "192.168.1.2",
            "192.168.1.9",
            Some((8080, 40000)),
        ),
    ];
    assert_eq!(
        c.verdict(),
        Verdict::Arrived("bird answered and the answer reached isp".into())
    );
}
