//! Services in a script: `n.spawn(cmd)` and `n.spawn_sh(cmd)` start a
//! command that keeps running (see `lab::Service`); the handle waits for
//! it to be ready, reads its output and stops it.

use std::rc::Rc;

use rhai::{Dynamic, Map, INT};

use super::args::{fail, port, NodeRef, Res};
use super::commands::{command, command_options, ENV, STDIN};
use super::declare::Api;
use super::options::{Kind, Opt};
use crate::exec;
use crate::lab::{Node, Service};
use crate::probe::Proto;

/// A service as scripts hold it.
#[derive(Clone)]
pub struct ServiceRef {
    node: Rc<Node>,
    service: Rc<Service>,
}

impl ServiceRef {
    fn wait_port(&mut self, proto: Proto, p: INT) -> Res<()> {
        let p = port(p)?;
        self.service.wait_port(&self.node, proto, p).map_err(fail)
    }

    fn stop(&mut self) -> Map {
        let (code, output) = self.node.stop(&self.service);
        let mut m = Map::new();
        m.insert("code".into(), Dynamic::from(code as INT));
        m.insert("output".into(), output.into());
        m
    }
}

fn spawn(
    n: &mut NodeRef,
    argv: Vec<String>,
    command: &str,
    opts: Map,
    what: &str,
) -> Res<ServiceRef> {
    let opts = command_options(what, &SERVICE_OPTIONS, opts)?;
    let service = n.node.spawn(&argv, command, &opts).map_err(fail)?;
    Ok(ServiceRef {
        node: n.node.clone(),
        service,
    })
}

/// What a service takes: a command's options, its `timeout` bounding the
/// readiness waits.
static SERVICE_OPTIONS: [Opt; 3] = [
    STDIN,
    ENV,
    Opt {
        key: "timeout",
        kind: Kind::Number,
        doc: "seconds its readiness waits may take (default: the probe timeout)",
    },
];

type Spawn = fn(&mut NodeRef, &str, Map) -> Res<ServiceRef>;

pub fn register(api: &mut Api) {
    api.object::<ServiceRef>(
        "Service",
        "A command that keeps running in a node, started by spawn or spawn_sh.",
    );
    api.engine()
        .register_fn("to_string", |s: &mut ServiceRef| s.service.describe())
        .register_fn("to_debug", |s: &mut ServiceRef| {
            format!("Service({})", s.service.describe())
        });
    let starts: [(&str, &str, Spawn); 2] = [
        (
            "spawn",
            "Starts a service: a program (split like a shell, no shell) that keeps running in the node, in the foreground or \
             as a daemon, until stop() or the end of the lab.",
            |n, c, o| spawn(n, exec::split(c).map_err(fail)?, c, o, "spawn"),
        ),
        (
            "spawn_sh",
            "Starts a service through /bin/sh -c; like spawn.",
            |n, c, o| {
                let argv = vec!["sh".into(), "-c".into(), c.to_string()];
                spawn(n, argv, c, o, "spawn_sh")
            },
        ),
    ];
    for (name, doc, f) in starts {
        command(api, name, (doc, &SERVICE_OPTIONS), f);
    }
    api.def("wait_tcp", ["service", "port"], "Waits until something listens on this TCP port in the service's node; fails if the service exits first or \
         the time runs out, with its command, exit status and last output.", |s: &mut ServiceRef, p: INT| s.wait_port(Proto::Tcp, p));
    api.def("wait_udp", ["service", "port"], "Waits until a UDP socket is bound to this port in the service's node; fails like wait_tcp.", |s: &mut ServiceRef, p: INT| s.wait_port(Proto::Udp, p));
    api.def("wait_output", ["service", "text"], "Waits until a line of the service's output (stdout and stderr) contains the text; fails like wait_tcp.", |s: &mut ServiceRef, text: &str| s.service.wait_output(text).map_err(fail));
    api.def(
        "stop",
        ["service"],
        "Stops the service: SIGTERM to each of its processes, SIGKILL to those left after 2 s. \
         Returns #{ code, output }: its exit status (128+N for signal N) and all it printed.",
        ServiceRef::stop,
    );
    api.def(
        "output",
        ["service"],
        "What the service printed so far, stdout and stderr as they came.",
        |s: &mut ServiceRef| s.service.output(),
    );
    api.def(
        "running",
        ["service"],
        "Whether a process of the service is still alive.",
        |s: &mut ServiceRef| s.service.running(),
    );
    api.def(
        "pid",
        ["service"],
        "The PID of the service's command (as the machine numbers it); 0 if it could not start.",
        |s: &mut ServiceRef| s.service.pid.map_or(0, INT::from),
    );
}
