//! Building the lab: nodes and containers, veth pairs, bridges, addresses,
//! routes, sysctls, neighbour entries, and the handles other programs use
//! to reach a node (its netns path, a PID).

use std::rc::Rc;

use rhai::{Array, Dynamic, Map, INT};

use super::args::{
    check_ifname, fail, parse_cidr, parse_destination, parse_ip, parse_via, NodeRef, Res,
};
use super::declare::Api;
use super::options::{self, Kind, Opt};
use crate::lab::Lab;

pub fn register(api: &mut Api, lab: &Rc<Lab>) {
    api.object::<NodeRef>(
        "Node",
        "A node of the lab: a network namespace of its own (a container's with its own UTS and \
         mount namespaces too), or an adopted process's. `${n}` is its name.",
    );
    api.property("name", "The node's name.", |n: &mut NodeRef| {
        n.node.name.clone()
    });
    api.engine()
        .register_fn("to_string", |n: &mut NodeRef| n.node.name.clone())
        .register_fn("to_debug", |n: &mut NodeRef| {
            format!("Node({})", n.node.name)
        });
    register_nodes(api, lab);
    register_handles(api, lab);
    register_links(api);
    register_settings(api);
}

static NODE_OPTIONS: [Opt; 1] = [Opt {
    key: "own_files",
    kind: Kind::Bool,
    doc: "true gives it files of its own, as a container has: its own /etc/resolv.conf, \
          /etc/hosts, /etc/hostname, and private /tmp and /run",
}];

static ATTACH_OPTIONS: [Opt; 1] = [Opt {
    key: "host_if",
    kind: Kind::Text,
    doc: "the bridge side's name (at most 15 bytes, not taken)",
}];

fn register_nodes(api: &mut Api, lab: &Rc<Lab>) {
    for (name, container, doc) in [
        ("node", false, "A fresh network namespace, loopback up."),
        (
            "container",
            true,
            "A fresh network and UTS namespace, hostname = name, loopback up.",
        ),
    ] {
        let lab = lab.clone();
        api.def(name, ["name"], doc, move |n: &str| -> Res<NodeRef> {
            let node = lab.add_node(n, container, false).map_err(fail)?;
            Ok(NodeRef {
                lab: lab.clone(),
                node,
            })
        });
    }
    let with = lab.clone();
    api.def_with(
        "node",
        ["name", "options"],
        ("A fresh network namespace, loopback up.", &NODE_OPTIONS),
        move |n: &str, opts: Map| -> Res<NodeRef> {
            let opts = options::parse("node", &NODE_OPTIONS, opts).map_err(fail)?;
            let own_files = opts.flag("own_files").unwrap_or(false);
            let node = with.add_node(n, false, own_files).map_err(fail)?;
            Ok(NodeRef {
                lab: with.clone(),
                node,
            })
        },
    );
    for (name, container, doc) in [
        (
            "nodes",
            false,
            "n fresh nodes named prefix1…prefixN, made in parallel; an array.",
        ),
        (
            "containers",
            true,
            "n fresh containers named prefix1…prefixN, made in parallel; an array.",
        ),
    ] {
        let lab = lab.clone();
        api.def(
            name,
            ["prefix", "n"],
            doc,
            move |prefix: &str, n: INT| -> Res<Array> {
                if !(1..=10_000).contains(&n) {
                    return Err(fail(format!(
                        "{name}(\"{prefix}\", {n}): n must be between 1 and 10000"
                    )));
                }
                let _step = lab.step(|| format!("{name}(\"{prefix}\", {n})"));
                let names: Vec<String> = (1..=n).map(|i| format!("{prefix}{i}")).collect();
                let made = lab.add_nodes(&names, container, false).map_err(fail)?;
                Ok(made
                    .into_iter()
                    .map(|node| {
                        Dynamic::from(NodeRef {
                            lab: lab.clone(),
                            node,
                        })
                    })
                    .collect())
            },
        );
    }
}

/// The handles of a node other programs use (its netns path, a PID), and
/// nodes made of what an engine started.
fn register_handles(api: &mut Api, lab: &Rc<Lab>) {
    let with = lab.clone();
    api.def(
        "cgroup_parent",
        [],
        "A cgroup parent of the lab's own (\"/scenario.PID.N\"), for an engine's containers \
         (dockerd --cgroup-parent, podman's cgroup_parent): the lab removes it, and all below \
         it, when it ends.",
        move || with.cgroup_parent().to_string(),
    );
    let with = lab.clone();
    api.def("adopt", ["name", "pid"], "A node for a process that already runs (a container an engine started), by its PID as the \
         scenario's commands see it: its network namespace, and its UTS and mount namespaces where \
         they are its own. Commands run its own programs, probes and state work as on any node.", move |n: &str, pid: INT| -> Res<NodeRef> {
            let pid = u32::try_from(pid)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| fail(format!("adopt(\"{n}\", {pid}): a PID is a positive number")))?;
            let node = with.adopt(n, pid).map_err(fail)?;
            Ok(NodeRef {
                lab: with.clone(),
                node,
            })
        });
    api.def("netns_path", ["node"], "A path another process can open to enter the node's network namespace (CNI_NETNS, nsenter --net=).", |n: &mut NodeRef| -> Res<String> { n.node.netns_path().map_err(fail) });
    api.def("pid", ["node"], "The PID of a process living in the node's namespaces, as the scenario's commands see it (ip link set DEV netns PID); an adopted node's process.", |n: &mut NodeRef| -> Res<INT> { Ok(INT::from(n.node.pid().map_err(fail)?)) });
}

fn register_links(api: &mut Api) {
    api.def(
        "link",
        ["a", "a_if", "b", "b_if"],
        "A veth pair between two nodes, both ends up.",
        |a: NodeRef, ai: &str, b: NodeRef, bi: &str| -> Res<()> {
            check_ifname(ai).map_err(fail)?;
            check_ifname(bi).map_err(fail)?;
            a.node.link(ai, &b.node, bi).map_err(fail)
        },
    );
    let bridge_doc = "A bridge, up, with an address if one is given; a fixed MAC and no multicast snooping (see the baseline).";
    let bridge = |n: &mut NodeRef, name: &str, cidr: Option<&str>| -> Res<()> {
        check_ifname(name).map_err(fail)?;
        let net = cidr.map(parse_cidr).transpose().map_err(fail)?;
        n.node.bridge(name, net).map_err(fail)
    };
    api.def(
        "bridge",
        ["node", "name"],
        bridge_doc,
        move |n: &mut NodeRef, name: &str| bridge(n, name, None),
    );
    api.def(
        "bridge",
        ["node", "name", "cidr"],
        bridge_doc,
        move |n: &mut NodeRef, name: &str, cidr: &str| bridge(n, name, Some(cidr)),
    );
    let attach_doc = "A veth from this node into a bridge of host: eth0, eth1… here, the peer enslaved to the bridge \
                      and named v-<node> (v-<node>-N for ethN; an error if that does not fit in 15 bytes or is taken); \
                      with a CIDR, a default route via the bridge's address when there is none. Returns the interface name.";
    let attach =
        |c: &mut NodeRef, h: NodeRef, bridge: &str, cidr: Option<&str>, opts: Map| -> Res<String> {
            let net = cidr.map(parse_cidr).transpose().map_err(fail)?;
            let host_if = attach_options(opts)?;
            c.node
                .attach(&h.node, bridge, net, host_if.as_deref())
                .map_err(fail)
        };
    let (c, h, b) = ("container", "host", "bridge");
    api.def(
        "attach",
        [c, h, b],
        attach_doc,
        move |c: &mut NodeRef, h: NodeRef, b: &str| attach(c, h, b, None, Map::new()),
    );
    api.def(
        "attach",
        [c, h, b, "cidr"],
        attach_doc,
        move |c: &mut NodeRef, h: NodeRef, b: &str, cidr: &str| {
            attach(c, h, b, Some(cidr), Map::new())
        },
    );
    api.def_with(
        "attach",
        [c, h, b, "options"],
        (attach_doc, &ATTACH_OPTIONS),
        move |c: &mut NodeRef, h: NodeRef, b: &str, o: Map| attach(c, h, b, None, o),
    );
    api.def_with(
        "attach",
        [c, h, b, "cidr", "options"],
        (attach_doc, &ATTACH_OPTIONS),
        move |c: &mut NodeRef, h: NodeRef, b: &str, cidr: &str, o: Map| {
            attach(c, h, b, Some(cidr), o)
        },
    );
    api.def(
        "host_if",
        ["container", "ifname"],
        "The bridge-side name of the veth attach made for this node's interface ifname (\"eth0\").",
        |c: &mut NodeRef, ifname: &str| c.node.host_if(ifname).map_err(fail),
    );
}

/// `#{ host_if: "v-web" }`, read once: the bridge side's name, checked as
/// Linux would check it, so that a name too long fails at the line.
fn attach_options(opts: Map) -> Res<Option<String>> {
    let opts = options::parse("attach", &ATTACH_OPTIONS, opts).map_err(fail)?;
    let host_if = opts.text("host_if");
    if let Some(name) = &host_if {
        check_ifname(name).map_err(|e| fail(format!("host_if: {e}")))?;
    }
    Ok(host_if)
}

fn register_settings(api: &mut Api) {
    api.def(
        "addr",
        ["node", "ifname", "cidr"],
        "Adds an IPv4 or IPv6 address (CIDR) to an interface.",
        |n: &mut NodeRef, ifname: &str, cidr: &str| -> Res<()> {
            check_ifname(ifname).map_err(fail)?;
            let net = parse_cidr(cidr).map_err(fail)?;
            n.node.addr(ifname, net).map_err(fail)
        },
    );
    api.def(
        "route",
        ["node", "dest", "via"],
        "A route to \"default\" or a CIDR, via a gateway address or an interface name.",
        |n: &mut NodeRef, dest: &str, via: &str| -> Res<()> {
            let dest = parse_destination(dest).map_err(fail)?;
            let via = parse_via(via).map_err(fail)?;
            n.node.route(dest, &via).map_err(fail)
        },
    );
    api.def("sysctl", ["node", "key"], "Reads a net.* sysctl of the node's network namespace: the value as the kernel shows it, trimmed.", |n: &mut NodeRef, key: &str| n.node.read_sysctl(key).map_err(fail));
    let sysctl_doc = "Sets a net.* sysctl of the node's network namespace.";
    api.def(
        "sysctl",
        ["node", "key", "value"],
        sysctl_doc,
        |n: &mut NodeRef, key: &str, value: &str| n.node.sysctl(key, value).map_err(fail),
    );
    api.def(
        "sysctl",
        ["node", "key", "value"],
        sysctl_doc,
        |n: &mut NodeRef, key: &str, value: INT| {
            n.node.sysctl(key, &value.to_string()).map_err(fail)
        },
    );
    api.def("neigh", ["node", "ifname", "ip", "peer", "peer_if"], "A permanent neighbour entry (static ARP/NDP) on ifname: ip is at the hardware address of peer's peer_if.", |n: &mut NodeRef, ifname: &str, ip: &str, peer: NodeRef, peer_if: &str| -> Res<()> {
            let ip = parse_ip(ip).map_err(fail)?;
            n.node.neigh(ifname, ip, &peer.node, peer_if).map_err(fail)
        });
}
