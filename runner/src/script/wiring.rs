//! Building the lab: nodes and containers, veth pairs, bridges, addresses,
//! routes, sysctls, neighbour entries, and the handles other programs use
//! to reach a node (its netns path, a PID).

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, Map, INT};

use super::args::{
    check_ifname, def, fail, parse_cidr, parse_destination, parse_ip, parse_via, NodeRef, Res,
};
use crate::lab::Lab;

pub fn register(engine: &mut Engine, lab: &Rc<Lab>) {
    engine
        .register_type_with_name::<NodeRef>("Node")
        .register_get("name", |n: &mut NodeRef| n.node.name.clone())
        .register_fn("to_string", |n: &mut NodeRef| n.node.name.clone())
        .register_fn("to_debug", |n: &mut NodeRef| {
            format!("Node({})", n.node.name)
        });
    register_nodes(engine, lab);
    register_handles(engine, lab);
    register_links(engine);
    register_settings(engine);
}

fn register_nodes(engine: &mut Engine, lab: &Rc<Lab>) {
    for (name, container, doc) in [
        ("node", false, "A fresh network namespace, loopback up."),
        (
            "container",
            true,
            "A fresh network and UTS namespace, hostname = name, loopback up.",
        ),
    ] {
        let lab = lab.clone();
        def(
            engine,
            name,
            doc,
            &["name: &str", "Node"],
            move |n: &str| -> Res<NodeRef> {
                let node = lab.add_node(n, container, false).map_err(fail)?;
                Ok(NodeRef {
                    lab: lab.clone(),
                    node,
                })
            },
        );
    }
    let with = lab.clone();
    def(
        engine,
        "node",
        "A fresh network namespace, loopback up; #{ own_files: true } gives it files of its own, as a container has: \
         its own /etc/resolv.conf, /etc/hosts, /etc/hostname, and private /tmp and /run.",
        &["name: &str", "options: Map", "Node"],
        move |n: &str, options: Map| -> Res<NodeRef> {
            let mut own_files = false;
            for (key, value) in options {
                match key.as_str() {
                    "own_files" => {
                        own_files = value.as_bool().map_err(|t| {
                            fail(format!("node option own_files must be true or false, not {t}"))
                        })?
                    }
                    other => {
                        return Err(fail(format!(
                            "unknown node option '{other}'; the options are: own_files"
                        )))
                    }
                }
            }
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
        def(
            engine,
            name,
            doc,
            &["prefix: &str", "n: int", "Array"],
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
fn register_handles(engine: &mut Engine, lab: &Rc<Lab>) {
    let with = lab.clone();
    def(
        engine,
        "cgroup_parent",
        "A cgroup parent of the lab's own (\"/scenario.PID.N\"), for an engine's containers \
         (dockerd --cgroup-parent, podman's cgroup_parent): the lab removes it, and all below \
         it, when it ends.",
        &["String"],
        move || with.cgroup_parent().to_string(),
    );
    let with = lab.clone();
    def(
        engine,
        "adopt",
        "A node for a process that already runs (a container an engine started), by its PID as the \
         scenario's commands see it: its network namespace, and its UTS and mount namespaces where \
         they are its own. Commands run its own programs, probes and state work as on any node.",
        &["name: &str", "pid: int", "Node"],
        move |n: &str, pid: INT| -> Res<NodeRef> {
            let pid = u32::try_from(pid)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| fail(format!("adopt(\"{n}\", {pid}): a PID is a positive number")))?;
            let node = with.adopt(n, pid).map_err(fail)?;
            Ok(NodeRef {
                lab: with.clone(),
                node,
            })
        },
    );
    def(
        engine,
        "netns_path",
        "A path another process can open to enter the node's network namespace (CNI_NETNS, nsenter --net=).",
        &["node: &mut Node", "String"],
        |n: &mut NodeRef| -> Res<String> { n.node.netns_path().map_err(fail) },
    );
    def(
        engine,
        "pid",
        "The PID of a process living in the node's namespaces, as the scenario's commands see it (ip link set DEV netns PID); an adopted node's process.",
        &["node: &mut Node", "int"],
        |n: &mut NodeRef| -> Res<INT> { Ok(INT::from(n.node.pid().map_err(fail)?)) },
    );
}

fn register_links(engine: &mut Engine) {
    def(
        engine,
        "link",
        "A veth pair between two nodes, both ends up.",
        &["a: Node", "a_if: &str", "b: Node", "b_if: &str", "()"],
        |a: NodeRef, ai: &str, b: NodeRef, bi: &str| -> Res<()> {
            check_ifname(ai).map_err(fail)?;
            check_ifname(bi).map_err(fail)?;
            a.node.link(ai, &b.node, bi).map_err(fail)
        },
    );
    let bridge_doc = "A bridge, up, with an address if one is given.";
    let bridge = |n: &mut NodeRef, name: &str, cidr: Option<&str>| -> Res<()> {
        check_ifname(name).map_err(fail)?;
        let net = cidr.map(parse_cidr).transpose().map_err(fail)?;
        n.node.bridge(name, net).map_err(fail)
    };
    let one = ["node: &mut Node", "name: &str", "()"];
    def(
        engine,
        "bridge",
        bridge_doc,
        &one,
        move |n: &mut NodeRef, name: &str| bridge(n, name, None),
    );
    let two = ["node: &mut Node", "name: &str", "cidr: &str", "()"];
    def(
        engine,
        "bridge",
        bridge_doc,
        &two,
        move |n: &mut NodeRef, name: &str, cidr: &str| bridge(n, name, Some(cidr)),
    );
    let attach_doc = "A veth from this node into a bridge of host: eth0, eth1… here, the peer enslaved to the bridge \
                      and named v-<node> (v-<node>-N for ethN; an error if that does not fit in 15 bytes or is taken); \
                      with a CIDR, a default route via the bridge's address when there is none. Returns the interface name.";
    let with_doc = "The same, with options: #{ host_if: the bridge side's name (at most 15 bytes, not taken) }.";
    let attach =
        |c: &mut NodeRef, h: NodeRef, bridge: &str, cidr: Option<&str>, opts: Map| -> Res<String> {
            let net = cidr.map(parse_cidr).transpose().map_err(fail)?;
            let host_if = attach_options(&opts)?;
            c.node
                .attach(&h.node, bridge, net, host_if.as_deref())
                .map_err(fail)
        };
    let (c, h, b) = ("container: &mut Node", "host: Node", "bridge: &str");
    def(
        engine,
        "attach",
        attach_doc,
        &[c, h, b, "String"],
        move |c: &mut NodeRef, h: NodeRef, b: &str| attach(c, h, b, None, Map::new()),
    );
    def(
        engine,
        "attach",
        attach_doc,
        &[c, h, b, "cidr: &str", "String"],
        move |c: &mut NodeRef, h: NodeRef, b: &str, cidr: &str| {
            attach(c, h, b, Some(cidr), Map::new())
        },
    );
    def(
        engine,
        "attach",
        with_doc,
        &[c, h, b, "options: Map", "String"],
        move |c: &mut NodeRef, h: NodeRef, b: &str, o: Map| attach(c, h, b, None, o),
    );
    def(
        engine,
        "attach",
        with_doc,
        &[c, h, b, "cidr: &str", "options: Map", "String"],
        move |c: &mut NodeRef, h: NodeRef, b: &str, cidr: &str, o: Map| {
            attach(c, h, b, Some(cidr), o)
        },
    );
    def(
        engine,
        "host_if",
        "The bridge-side name of the veth attach made for this node's interface ifname (\"eth0\").",
        &["container: &mut Node", "ifname: &str", "String"],
        |c: &mut NodeRef, ifname: &str| c.node.host_if(ifname).map_err(fail),
    );
}

/// `#{ host_if: "v-web" }`, read once: the bridge side's name, checked as
/// Linux would check it, so that a name too long fails at the line.
fn attach_options(opts: &Map) -> Res<Option<String>> {
    let mut host_if = None;
    for (key, value) in opts {
        match key.as_str() {
            "host_if" => {
                let name = value.clone().into_string().map_err(|t| {
                    fail(format!("attach option host_if must be a string, not {t}"))
                })?;
                check_ifname(&name).map_err(|e| fail(format!("host_if: {e}")))?;
                host_if = Some(name);
            }
            other => {
                return Err(fail(format!(
                    "unknown attach option '{other}'; the options are: host_if"
                )))
            }
        }
    }
    Ok(host_if)
}

fn register_settings(engine: &mut Engine) {
    def(
        engine,
        "addr",
        "Adds an IPv4 or IPv6 address (CIDR) to an interface.",
        &["node: &mut Node", "ifname: &str", "cidr: &str", "()"],
        |n: &mut NodeRef, ifname: &str, cidr: &str| -> Res<()> {
            check_ifname(ifname).map_err(fail)?;
            let net = parse_cidr(cidr).map_err(fail)?;
            n.node.addr(ifname, net).map_err(fail)
        },
    );
    def(
        engine,
        "route",
        "A route to \"default\" or a CIDR, via a gateway address or an interface name.",
        &["node: &mut Node", "dest: &str", "via: &str", "()"],
        |n: &mut NodeRef, dest: &str, via: &str| -> Res<()> {
            let dest = parse_destination(dest).map_err(fail)?;
            let via = parse_via(via).map_err(fail)?;
            n.node.route(dest, &via).map_err(fail)
        },
    );
    def(
        engine,
        "sysctl",
        "Reads a net.* sysctl of the node's network namespace: the value as the kernel shows it, trimmed.",
        &["node: &mut Node", "key: &str", "String"],
        |n: &mut NodeRef, key: &str| n.node.read_sysctl(key).map_err(fail),
    );
    let sysctl_doc = "Sets a net.* sysctl of the node's network namespace.";
    let text = ["node: &mut Node", "key: &str", "value: &str", "()"];
    def(
        engine,
        "sysctl",
        sysctl_doc,
        &text,
        |n: &mut NodeRef, key: &str, value: &str| n.node.sysctl(key, value).map_err(fail),
    );
    let int = ["node: &mut Node", "key: &str", "value: int", "()"];
    def(
        engine,
        "sysctl",
        sysctl_doc,
        &int,
        |n: &mut NodeRef, key: &str, value: INT| {
            n.node.sysctl(key, &value.to_string()).map_err(fail)
        },
    );
    def(
        engine,
        "neigh",
        "A permanent neighbour entry (static ARP/NDP) on ifname: ip is at the hardware address of peer's peer_if.",
        &["node: &mut Node", "ifname: &str", "ip: &str", "peer: Node", "peer_if: &str", "()"],
        |n: &mut NodeRef, ifname: &str, ip: &str, peer: NodeRef, peer_if: &str| -> Res<()> {
            let ip = parse_ip(ip).map_err(fail)?;
            n.node.neigh(ifname, ip, &peer.node, peer_if).map_err(fail)
        },
    );
}
