//! Commands inside a node: the child enters the node's namespaces between
//! fork and exec, in its own process group, and dies with the runner.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::runtime::Runtime;

use crate::netns::{enter_raw, Namespaces};
use crate::stop;

mod locate;
pub use locate::{locate, locate_for, locate_in, package_for, Program};

#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Stdout of a command that succeeded; otherwise an error that names
    /// the command, the node, the exit code and what the command said.
    pub fn into_stdout(self, node: &str, command: &str) -> Result<String, String> {
        if self.code == 0 {
            return Ok(self.stdout);
        }
        let mut msg = format!(
            "`{command}` in node '{node}' exited with code {}",
            self.code
        );
        let stderr = self.stderr.trim_end();
        if !stderr.is_empty() {
            msg.push_str(&format!("\nstderr:\n{stderr}"));
        } else if !self.stdout.trim().is_empty() {
            // Some tools (CNI plugins) report errors on stdout.
            msg.push_str(&format!("\nstdout:\n{}", self.stdout.trim_end()));
        }
        Err(msg)
    }
}

/// Splits a command line like a shell would, without running one.
pub fn split(command: &str) -> Result<Vec<String>, String> {
    let argv = shell_words::split(command)
        .map_err(|e| format!("cannot split command `{command}`: {e}"))?;
    if argv.is_empty() {
        return Err("empty command".into());
    }
    Ok(argv)
}

/// The directory commands run in: the scenario's, so that `nft -f fw.nft`
/// finds the file next to the scenario whatever directory `scenario` was
/// started in. Held open: a node's own /tmp or /run may hide the path in
/// its mount namespace, and the open directory still leads there.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    c_path: CString,
    fd: OwnedFd,
    dev: u64,
    ino: u64,
}

impl WorkDir {
    pub fn open(path: &Path) -> std::io::Result<WorkDir> {
        use std::os::unix::ffi::OsStrExt;
        let path = path.canonicalize()?;
        let dir = std::fs::File::open(&path)?;
        let m = dir.metadata()?;
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(WorkDir {
            c_path,
            fd: dir.into(),
            dev: m.dev(),
            ino: m.ino(),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn raw(&self) -> RawWorkDir {
        RawWorkDir {
            path: self.c_path.clone(),
            fd: self.fd.as_raw_fd(),
            dev: self.dev,
            ino: self.ino,
        }
    }
}

/// A `WorkDir` as a child between fork and exec uses it.
struct RawWorkDir {
    path: CString,
    fd: RawFd,
    dev: u64,
    ino: u64,
}

impl RawWorkDir {
    /// Goes there by path, so that the command's `pwd` is the path; where
    /// the node's mount namespace has another directory (or none) there,
    /// by the descriptor. Async-signal-safe.
    fn enter(&self) -> std::io::Result<()> {
        // SAFETY: plain system calls on a valid C string and descriptor.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::chdir(self.path.as_ptr()) == 0
                && libc::stat(c".".as_ptr(), &mut st) == 0
                && st.st_dev == self.dev
                && st.st_ino == self.ino
            {
                return Ok(());
            }
            if libc::fchdir(self.fd) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }
    }
}

/// What a script may add to a command: text for its stdin, variables for
/// its environment, a time limit of its own.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub stdin: Option<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
}

/// Runs `argv` inside `ns`, capturing its output; kills its whole process
/// group when the time limit (the options' or `timeout`) passes.
pub fn run(
    rt: &Runtime,
    (ns, dir): (&Namespaces, Option<&WorkDir>),
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    opts: &Options,
) -> Result<Output, String> {
    if stop::requested() {
        return Err("the run is being interrupted".into());
    }
    let timeout = opts.timeout.unwrap_or(timeout);
    let located = locate_for(ns, &argv[0], dir)?;
    let program = &located.name;
    let mut cmd = tokio::process::Command::new(&located.path);
    cmd.arg0(program)
        .args(&argv[1..])
        .envs(env.iter().chain(&opts.env).map(|(k, v)| (k, v)))
        .stdin(match opts.stdin {
            Some(_) => Stdio::piped(),
            None => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let enter = in_node(ns, dir, Signal::SIGKILL, located.held_fd())
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(enter);
    }
    let _guard = rt.enter();
    let mut child = ns
        .spawn(|| {
            let _guard = rt.enter();
            cmd.spawn()
        })
        .and_then(|r| r)
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let pid = child.id().map(|p| Pid::from_raw(p as i32));
    let stdin = child.stdin.take();
    let input = opts.stdin.clone().unwrap_or_default();
    enum End {
        Exited(std::io::Result<std::process::Output>),
        TimedOut,
        Stopped,
    }
    let end = rt.block_on(async {
        // The input is written while the output is read, so that neither
        // side waits for the other with a full pipe; a command that does
        // not read it all is not an error of the runner's.
        let feed = async move {
            if let Some(mut w) = stdin {
                use tokio::io::AsyncWriteExt;
                let _ = w.write_all(input.as_bytes()).await;
            }
        };
        let wait = async { tokio::join!(feed, child.wait_with_output()).1 };
        tokio::pin!(wait);
        tokio::select! {
            out = &mut wait => End::Exited(out),
            _ = tokio::time::sleep(timeout) => End::TimedOut,
            _ = stop::wait() => {
                // The run is being stopped: the command gets a moment to
                // exit on SIGTERM, as it would at a terminal.
                if let Some(pid) = pid {
                    let _ = killpg(pid, Signal::SIGTERM);
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), &mut wait).await;
                End::Stopped
            }
        }
    });
    // Whatever the command left running in its group goes with it.
    if let Some(pid) = pid {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    let command = argv.join(" ");
    match end {
        End::Exited(Ok(out)) => {
            let code = out.status.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                128 + out.status.signal().unwrap_or(0)
            });
            Ok(Output {
                code,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
        End::Exited(Err(e)) => Err(format!("waiting for {}: {e}", program.display())),
        End::TimedOut => Err(format!(
            "`{command}` did not finish within {} s and was killed",
            timeout.as_secs_f64()
        )),
        End::Stopped => Err(format!(
            "`{command}` was stopped: the run is being interrupted"
        )),
    }
}

/// What a child does between fork and exec: get `death` when the runner
/// goes (where the node has no PID namespace whose end does that), lead a
/// process group of its own (so that what it leaves running can be ended
/// with it), enter the node's namespaces, and go to `dir` (without one,
/// the runner's own directory; in an adopted process's files, their root).
/// `keep` is a descriptor the command is exec'd through (see [`Program`]).
pub(crate) fn in_node(
    ns: &Namespaces,
    dir: Option<&WorkDir>,
    death: Signal,
    keep: Option<RawFd>,
) -> std::io::Result<impl FnMut() -> std::io::Result<()> + Send + Sync + 'static> {
    let (raw, net) = ns.for_child()?;
    let death = (!ns.has_pid_ns()).then_some(death);
    let (cwd, dir) = if ns.adopted_files() {
        (Some(CString::from(c"/")), None)
    } else {
        (crate::files::cwd(), dir.map(WorkDir::raw))
    };
    Ok(move || {
        // Open as long as the command that runs this is.
        let _ = &net;
        if let Some(death) = death {
            nix::sys::prctl::set_pdeathsig(death)?;
        }
        nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
        if let Some(fd) = keep {
            // SAFETY: a descriptor the parent holds open until the spawn.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        match &dir {
            Some(dir) => {
                enter_raw(raw, None)?;
                dir.enter()
            }
            None => enter_raw(raw, cwd.as_deref()),
        }
    })
}

/// Starts `sleep infinity` inside `ns` and leaves it running: a process
/// that lives in the node's namespaces, for tools that name a namespace by
/// PID (`ip link set DEV netns PID`). The lab ends it.
pub fn spawn_holder(ns: &Namespaces) -> Result<std::process::Child, String> {
    use std::os::unix::process::CommandExt;
    let sleep = locate("sleep")?;
    let mut cmd = std::process::Command::new(sleep);
    cmd.arg("infinity")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let enter = in_node(ns, None, Signal::SIGKILL, None)
        .map_err(|e| format!("cannot start a process in the node: {e}"))?;
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(enter);
    }
    ns.spawn(|| cmd.spawn())
        .and_then(|r| r)
        .map_err(|e| format!("cannot start a process in the node: {e}"))
}

/// Starts `argv` inside `ns` with its output on a pipe, for a tool that
/// reports as it goes (`nft monitor trace`). The caller ends it by its PID.
pub fn spawn_watching(ns: &Namespaces, argv: &[&str]) -> Result<std::process::Child, String> {
    use std::os::unix::process::CommandExt;
    let program = locate(argv[0])?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let enter = in_node(ns, None, Signal::SIGKILL, None)
        .map_err(|e| format!("cannot start `{}` in the node: {e}", argv.join(" ")))?;
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(enter);
    }
    ns.spawn(|| cmd.spawn())
        .and_then(|r| r)
        .map_err(|e| format!("cannot start `{}` in the node: {e}", argv.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split("iptables -t nat -A POSTROUTING -m comment --comment 'two words' -j MASQUERADE")
                .unwrap(),
            vec![
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-m",
                "comment",
                "--comment",
                "two words",
                "-j",
                "MASQUERADE"
            ]
        );
        assert!(split("echo 'unterminated")
            .unwrap_err()
            .contains("cannot split"));
        assert!(split("   ").is_err());
    }
}
