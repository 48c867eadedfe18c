//! Services: commands that keep running in a node until they are stopped
//! or the lab ends, in the foreground or as daemons. Each runs under a
//! supervisor (`crate::supervise`) that adopts whatever it forks away, so
//! that every process of a service can be found, stopped and ended, and
//! dies when the runner dies. Their output (stdout and stderr, in the
//! order it came) is kept for readiness waits and failure reports.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Node, Result};
use crate::exec;
use crate::probe::Proto;
use crate::procs;
use crate::supervise;

/// How long a stopped service has between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// At most this much output is kept per service; the oldest goes first.
const KEPT: usize = 1 << 20;

/// Lines of output a report shows.
const SHOWN: usize = 20;

/// What a service printed, as it arrives.
#[derive(Default)]
struct Captured {
    state: Mutex<(Vec<u8>, bool)>,
    arrived: Condvar,
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.state.lock().unwrap().0).into_owned()
    }
}

pub struct Service {
    pub node: String,
    /// The command as the script wrote it.
    pub command: String,
    supervisor: RefCell<Child>,
    /// The command's own process (the supervisor's first child), as the
    /// lab's commands see it.
    pub pid: Option<u32>,
    captured: Arc<Captured>,
    reader: RefCell<Option<JoinHandle<()>>>,
    /// The exit status once every process of the service is gone.
    code: Cell<Option<i32>>,
    /// Readiness waits give up after this.
    pub ready_timeout: Duration,
}

/// How a service is started.
pub struct Start<'a> {
    pub argv: &'a [String],
    pub command: &'a str,
    pub env: &'a [(String, String)],
    pub opts: &'a exec::Options,
    pub ready_timeout: Duration,
}

impl Service {
    /// Starts `start.argv` in `node` under a supervisor.
    pub fn start(node: &Node, start: Start) -> Result<Service> {
        if crate::stop::requested() {
            return Err("the run is being interrupted".into());
        }
        let located = exec::locate_for(node.ns(), &start.argv[0], node.ctx.dir.as_ref())?;
        let program = &located.path;
        let me = own_binary()?;
        let (read, write): (OwnedFd, OwnedFd) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
        let mut cmd = std::process::Command::new(me);
        std::os::unix::process::CommandExt::arg0(&mut cmd, "scenario");
        // The supervisor checks that its parent is still the runner, as
        // it sees the runner: from inside a PID namespace, not at all.
        let parent = match node.ns().has_pid_ns() {
            true => 0,
            false => std::process::id(),
        };
        cmd.arg(supervise::ARG)
            .arg(parent.to_string())
            .arg(program)
            .args(&start.argv[1..])
            .envs(start.env.iter().chain(&start.opts.env).map(|(k, v)| (k, v)))
            .stdin(match start.opts.stdin {
                Some(_) => Stdio::piped(),
                None => Stdio::null(),
            })
            .stdout(Stdio::from(
                write
                    .try_clone()
                    .map_err(|e| format!("cannot start: {e}"))?,
            ))
            .stderr(Stdio::from(write));
        // The supervisor ends the service when the runner dies.
        let enter = exec::in_node(
            node.ns(),
            node.ctx.dir.as_ref(),
            Signal::SIGTERM,
            located.held_fd(),
        )
        .map_err(|e| format!("cannot start the supervisor of `{}`: {e}", start.command))?;
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(enter);
        }
        let mut child = node
            .ns()
            .spawn(|| cmd.spawn())
            .and_then(|r| r)
            .map_err(|e| format!("cannot start the supervisor of `{}`: {e}", start.command))?;
        drop(cmd);
        if let (Some(mut w), Some(text)) = (child.stdin.take(), start.opts.stdin.clone()) {
            // A service that never reads its input must not hold the
            // scenario up.
            std::thread::spawn(move || {
                let _ = w.write_all(text.as_bytes());
            });
        }
        let captured = Arc::new(Captured::default());
        let sink = captured.clone();
        let reader = std::thread::Builder::new()
            .name("service-output".into())
            .spawn(move || read_into(std::fs::File::from(read), &sink))
            .map_err(|e| format!("cannot read the service's output: {e}"))?;
        let mut service = Service {
            node: node.name.clone(),
            command: start.command.to_string(),
            supervisor: RefCell::new(child),
            pid: None,
            captured,
            reader: RefCell::new(Some(reader)),
            code: Cell::new(None),
            ready_timeout: start.ready_timeout,
        };
        service.pid = service.main_pid().map(|p| node.ctx.inner_pid(p));
        Ok(service)
    }

    /// The command's process, once the supervisor has started it (briefly
    /// awaited); none when it could not start or is already gone.
    fn main_pid(&self) -> Option<u32> {
        let sup = self.supervisor.borrow().id() as i32;
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(2) {
            if let Some(pid) = procs::first_child(sup) {
                return Some(pid as u32);
            }
            if !self.running() {
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        None
    }

    /// Whether a process of the service is still alive.
    pub fn running(&self) -> bool {
        if self.code.get().is_some() {
            return false;
        }
        match self.supervisor.borrow_mut().try_wait() {
            Ok(Some(status)) => {
                self.code.set(Some(code_of(status)));
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// The exit status, once the service has ended.
    pub fn code(&self) -> Option<i32> {
        self.running();
        self.code.get()
    }

    pub fn output(&self) -> String {
        self.captured.text()
    }

    /// The last lines of its output, indented, or a note that there was none.
    pub fn tail(&self) -> String {
        let text = self.output();
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return "  (no output)".into();
        }
        let skip = lines.len().saturating_sub(SHOWN);
        let mut out = String::new();
        if skip > 0 {
            out.push_str(&format!("  … {skip} earlier lines\n"));
        }
        for l in &lines[skip..] {
            out.push_str(&format!("  > {l}\n"));
        }
        out.trim_end().to_string()
    }

    /// `service `cmd` in node 'n'`
    pub fn describe(&self) -> String {
        format!("service `{}` in node '{}'", self.command, self.node)
    }

    fn state(&self) -> String {
        match self.code() {
            None => "running".into(),
            Some(c) => format!("exited with code {c}"),
        }
    }

    /// For a failure report: what it is, whether it runs, what it said last.
    pub fn report(&self) -> String {
        format!(
            "output of {} ({}):\n{}",
            self.describe(),
            self.state(),
            self.tail()
        )
    }

    fn not_ready(&self, why: String) -> String {
        format!("{} {why}\nlast output:\n{}", self.describe(), self.tail())
    }

    /// Waits until something listens on `port` (TCP) or has it bound (UDP)
    /// in the service's node.
    pub fn wait_port(&self, node: &Node, proto: Proto, port: u16) -> Result<()> {
        let what = format!("{} port {port}", proto.name());
        self.wait(
            || {
                node.ns()
                    .run(|| listening(proto, port))
                    .map_err(|e| format!("cannot enter node '{}': {e}", node.name))
            },
            &format!("nothing listened on {what}"),
            &format!("waiting for {what}"),
        )
    }

    /// Waits until a line of its output contains `text`.
    pub fn wait_output(&self, text: &str) -> Result<()> {
        let deadline = Instant::now() + self.ready_timeout;
        let mut state = self.captured.state.lock().unwrap();
        loop {
            if String::from_utf8_lossy(&state.0).contains(text) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline || crate::stop::requested() {
                drop(state);
                return Err(self.not_ready(format!(
                    "did not print \"{text}\" within {} s",
                    self.ready_timeout.as_secs_f64()
                )));
            }
            if state.1 {
                // Its output is closed: what was not printed never will be.
                drop(state);
                self.settle();
                return Err(self.not_ready(match self.code() {
                    Some(c) => format!("exited with code {c} before it printed \"{text}\""),
                    None => format!("closed its output before it printed \"{text}\""),
                }));
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            state = self.captured.arrived.wait_timeout(state, wait).unwrap().0;
        }
    }

    /// Waits a moment for the supervisor to report an ended service.
    fn settle(&self) {
        let began = Instant::now();
        while self.running() && began.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn wait(&self, ready: impl Fn() -> Result<bool>, never: &str, waiting: &str) -> Result<()> {
        let began = Instant::now();
        loop {
            if ready()? {
                return Ok(());
            }
            if !self.running() {
                let c = self.code().unwrap_or(-1);
                return Err(self.not_ready(format!(
                    "exited with code {c} before it was ready ({waiting})"
                )));
            }
            if began.elapsed() >= self.ready_timeout {
                return Err(self.not_ready(format!(
                    "was not ready within {} s: {never}",
                    self.ready_timeout.as_secs_f64()
                )));
            }
            if crate::stop::requested() {
                return Err("the run is being interrupted".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM to every process of the service, SIGKILL to those left
    /// after `grace`; returns the exit status and the whole output.
    pub fn stop(&self, grace: Duration) -> (i32, String) {
        let sup = self.supervisor.borrow().id() as i32;
        if self.running() {
            for pid in procs::descendants(sup) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let began = Instant::now();
            while self.running() && began.elapsed() < grace {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        self.end();
        (self.code().unwrap_or(-1), self.output())
    }

    /// Ends every process of the service at once and waits for the last of
    /// them (the lab's teardown, or a stop whose grace has run out).
    pub fn end(&self) {
        let sup = self.supervisor.borrow().id() as i32;
        if self.running() {
            let _ = kill(Pid::from_raw(sup), Signal::SIGTERM);
            let began = Instant::now();
            while self.running() {
                if began.elapsed() > Duration::from_secs(5) {
                    // A supervisor that does not answer: end it and what
                    // it holds from here.
                    for pid in procs::descendants(sup) {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                    let _ = self.supervisor.borrow_mut().kill();
                    let _ = self
                        .supervisor
                        .borrow_mut()
                        .wait()
                        .map(|s| self.code.set(Some(code_of(s))));
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Every writer of its output is gone with it.
        if let Some(reader) = self.reader.borrow_mut().take() {
            let _ = reader.join();
        }
    }
}

/// The runner's own binary, as a path that works in any node: its file
/// may lie where a node's own /tmp hides it (a copy under /tmp), but a
/// descriptor the child inherits names the file itself.
fn own_binary() -> Result<String> {
    static EXE: std::sync::OnceLock<std::io::Result<std::fs::File>> = std::sync::OnceLock::new();
    let exe = EXE.get_or_init(|| std::fs::File::open("/proc/self/exe"));
    match exe {
        Ok(f) => Ok(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(f)
        )),
        Err(e) => Err(format!("cannot open the runner's own binary: {e}")),
    }
}

fn code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn read_into(mut pipe: std::fs::File, into: &Captured) {
    let mut buf = [0u8; 8192];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        let mut state = into.state.lock().unwrap();
        if n == 0 {
            state.1 = true;
            into.arrived.notify_all();
            return;
        }
        state.0.extend_from_slice(&buf[..n]);
        if state.0.len() > KEPT {
            let cut = state.0.len() - KEPT;
            state.0.drain(..cut);
        }
        into.arrived.notify_all();
    }
}

/// Whether a socket in the calling thread's network namespace listens on
/// (TCP) or is bound to (UDP) `port`, IPv4 or IPv6.
fn listening(proto: Proto, port: u16) -> bool {
    let (files, state) = match proto {
        Proto::Tcp => (["tcp", "tcp6"], "0A"),
        Proto::Udp => (["udp", "udp6"], "07"),
    };
    let port = format!("{port:04X}");
    files.iter().any(|f| {
        std::fs::read_to_string(format!("/proc/thread-self/net/{f}"))
            .map(|text| {
                text.lines().skip(1).any(|l| {
                    let fields: Vec<&str> = l.split_whitespace().collect();
                    fields.get(3) == Some(&state)
                        && fields
                            .get(1)
                            .and_then(|local| local.rsplit(':').next())
                            .is_some_and(|p| p == port)
                })
            })
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_socket_is_seen_and_a_closed_one_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listening(Proto::Tcp, port));
        drop(l);
        assert!(!listening(Proto::Tcp, port));
        // IPv6 without ::1: a container of Docker before 26 has none.
        let Ok(u) = std::net::UdpSocket::bind("[::]:0") else {
            return;
        };
        assert!(listening(Proto::Udp, u.local_addr().unwrap().port()));
    }
}
