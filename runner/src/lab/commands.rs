//! What runs in a node: commands (the script's, and the runner's own
//! readings), the node's own files, and services.

use std::rc::Rc;

use super::service::{self, Service};
use super::{Node, Result};
use crate::exec::{self, Output};
use crate::netns::Namespaces;

impl Node {
    /// Runs one of the machine's programs in the node, within the lab's
    /// command time limit: the runner's own reading of a node (its state,
    /// the diagnosis). In an adopted container that is not the container's
    /// program of that name (see `tools_ns`).
    pub fn exec(&self, argv: &[String]) -> Result<Output> {
        self.run_in(self.tools_ns(), argv, &exec::Options::default())
    }

    /// Runs `argv` in the node with a script's options (stdin, environment,
    /// time limit).
    pub fn exec_with(&self, argv: &[String], opts: &exec::Options) -> Result<Output> {
        self.ctx.touched();
        let _step = self
            .ctx
            .step(|| format!("{}: {}", self.name, argv.join(" ")));
        self.run_in(&self.ns, argv, opts)
    }

    /// Runs `argv` in `ns` (the node's, or its tools' view) within the
    /// lab's command time limit, unless the options set their own.
    fn run_in(&self, ns: &Namespaces, argv: &[String], opts: &exec::Options) -> Result<Output> {
        self.alive()?;
        exec::run(
            &self.ctx.rt,
            (ns, self.ctx.dir.as_ref()),
            argv,
            &self.ctx.env,
            self.ctx.limits.get().exec_timeout,
            opts,
        )
    }

    /// Writes one of the node's own files (see `files`), inside its mount
    /// namespace.
    pub fn write_file(&self, path: &str, text: &str) -> Result<()> {
        let _step = self
            .ctx
            .step(|| format!("{}.write_file({path})", self.name));
        let Some(files) = self.ns.files() else {
            return Err(self.no_own_files());
        };
        self.ns
            .run_in_files(|| files.write(path, text))
            .map_err(|e| format!("cannot enter node '{}': {e}", self.name))?
    }

    /// Reads a file as the node sees it.
    pub fn read_file(&self, path: &str) -> Result<String> {
        self.alive()?;
        self.ns
            .run_in_files(|| crate::files::read(path))
            .map_err(|e| format!("cannot enter node '{}': {e}", self.name))?
    }

    /// Starts a service: `argv` keeps running in the node until it is
    /// stopped or the lab ends. `command` is how the script wrote it.
    pub fn spawn(
        &self,
        argv: &[String],
        command: &str,
        opts: &exec::Options,
    ) -> Result<Rc<Service>> {
        self.alive()?;
        // A daemon may make links of its own (a CNI plugin's, a DHCP
        // client's): the next probe waits for them to settle.
        self.ctx.touched();
        let _step = self
            .ctx
            .step(|| format!("{}: start service `{command}`", self.name));
        let service = Rc::new(Service::start(
            self,
            service::Start {
                argv,
                command,
                env: &self.ctx.env,
                opts,
                ready_timeout: opts.timeout.unwrap_or(self.ctx.limits.get().probe_timeout),
            },
        )?);
        self.ctx.services.borrow_mut().push(service.clone());
        Ok(service)
    }

    /// Stops a service (SIGTERM, SIGKILL after the grace period): its exit
    /// status and everything it printed.
    pub fn stop(&self, service: &Service) -> (i32, String) {
        let began = std::time::Instant::now();
        let (code, output) = service.stop(super::STOP_GRACE);
        let _step = self.ctx.step_since(began, || {
            format!(
                "{}: stop service `{}`: code {code}",
                self.name, service.command
            )
        });
        (code, output)
    }

    fn no_own_files(&self) -> String {
        format!(
            "node '{}' has no files of its own, and the machine's are never written: \
             create it with node(\"{}\", #{{ own_files: true }}) (a container always has them)",
            self.name, self.name
        )
    }
}
