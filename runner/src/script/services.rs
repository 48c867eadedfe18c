//! Services in a script: `n.spawn(cmd)` and `n.spawn_sh(cmd)` start a
//! command that keeps running (see `lab::Service`); the handle waits for
//! it to be ready, reads its output and stops it.

use std::rc::Rc;

use rhai::{Dynamic, Engine, Map, INT};

use super::args::{def, fail, port, NodeRef, Res};
use super::commands::options;
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
    opts: &Map,
    what: &str,
) -> Res<ServiceRef> {
    let opts = options(opts, what)?;
    let service = n.node.spawn(&argv, command, &opts).map_err(fail)?;
    Ok(ServiceRef {
        node: n.node.clone(),
        service,
    })
}

type Spawn = fn(&mut NodeRef, &str, Map) -> Res<ServiceRef>;

pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<ServiceRef>("Service")
        .register_fn("to_string", |s: &mut ServiceRef| s.service.describe())
        .register_fn("to_debug", |s: &mut ServiceRef| {
            format!("Service({})", s.service.describe())
        });
    let starts: [(&str, &str, Spawn); 2] = [
        (
            "spawn",
            "Starts a service: a program (split like a shell, no shell) that keeps running in the node, in the foreground or \
             as a daemon, until stop() or the end of the lab.",
            |n, c, o| spawn(n, exec::split(c).map_err(fail)?, c, &o, "spawn"),
        ),
        (
            "spawn_sh",
            "Starts a service through /bin/sh -c; like spawn.",
            |n, c, o| {
                let argv = vec!["sh".into(), "-c".into(), c.to_string()];
                spawn(n, argv, c, &o, "spawn_sh")
            },
        ),
    ];
    for (name, doc, f) in starts {
        def(
            engine,
            name,
            doc,
            &["node: &mut Node", "command: &str", "Service"],
            move |n: &mut NodeRef, c: &str| f(n, c, Map::new()),
        );
        let with = format!(
            "{doc} Options: #{{ stdin: text fed to it, env: #{{ NAME: value }}, \
             timeout: seconds its readiness waits may take (default: the probe timeout) }}."
        );
        def(
            engine,
            name,
            &with,
            &[
                "node: &mut Node",
                "command: &str",
                "options: Map",
                "Service",
            ],
            f,
        );
    }
    def(
        engine,
        "wait_tcp",
        "Waits until something listens on this TCP port in the service's node; fails if the service exits first or \
         the time runs out, with its command, exit status and last output.",
        &["service: &mut Service", "port: int", "()"],
        |s: &mut ServiceRef, p: INT| s.wait_port(Proto::Tcp, p),
    );
    def(
        engine,
        "wait_udp",
        "Waits until a UDP socket is bound to this port in the service's node; fails like wait_tcp.",
        &["service: &mut Service", "port: int", "()"],
        |s: &mut ServiceRef, p: INT| s.wait_port(Proto::Udp, p),
    );
    def(
        engine,
        "wait_output",
        "Waits until a line of the service's output (stdout and stderr) contains the text; fails like wait_tcp.",
        &["service: &mut Service", "text: &str", "()"],
        |s: &mut ServiceRef, text: &str| s.service.wait_output(text).map_err(fail),
    );
    def(
        engine,
        "stop",
        "Stops the service: SIGTERM to each of its processes, SIGKILL to those left after 2 s. \
         Returns #{ code, output }: its exit status (128+N for signal N) and all it printed.",
        &["service: &mut Service", "Map"],
        ServiceRef::stop,
    );
    def(
        engine,
        "output",
        "What the service printed so far, stdout and stderr as they came.",
        &["service: &mut Service", "String"],
        |s: &mut ServiceRef| s.service.output(),
    );
    def(
        engine,
        "running",
        "Whether a process of the service is still alive.",
        &["service: &mut Service", "bool"],
        |s: &mut ServiceRef| s.service.running(),
    );
    def(
        engine,
        "pid",
        "The PID of the service's command (as the machine numbers it); 0 if it could not start.",
        &["service: &mut Service", "int"],
        |s: &mut ServiceRef| s.service.pid.map_or(0, INT::from),
    );
}
