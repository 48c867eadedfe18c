//! Nothing outlives a run, however it ends: passed, failed, a script error,
//! a panic in the runner, SIGINT, SIGTERM, SIGKILL, and `--keep`. After
//! each: no process the scenario started is running, no network namespace
//! of the run is held, no mount is left, and the machine's own network
//! state is as it was.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{
    held_network_namespaces, machine_state, mounts, network_namespaces_held_by, processes_with,
    scenario, scenario_cmd, text, wait_until_gone,
};

/// The checks compare machine-wide state: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Set in the environment of the runs the tests start, which their labs'
/// processes and their watchdog inherit: what holds a namespace with it is
/// the test's, whatever other runs the machine has meanwhile.
const TAG: &str = "SCENARIO_ENDINGS_TEST";

fn tag() -> String {
    std::process::id().to_string()
}

struct Before {
    namespaces: BTreeSet<String>,
    state: String,
    mounts: String,
}

fn before() -> Before {
    Before {
        namespaces: held_network_namespaces(),
        state: machine_state(),
        mounts: mounts(),
    }
}

impl Before {
    /// The run's namespaces are those its tagged processes hold.
    fn assert_clean(&self, marker: &str) {
        self.assert_clean_of(marker, None);
    }

    /// `run` lists the run's namespaces when they could be seen during it,
    /// which holds even if the machine does other work meanwhile.
    fn assert_clean_of(&self, marker: &str, run: Option<&BTreeSet<String>>) {
        assert_eq!(
            wait_until_gone(marker),
            Vec::<String>::new(),
            "processes the scenario started are still running"
        );
        let mut leaked = Vec::new();
        for _ in 0..200 {
            let held = held_network_namespaces();
            leaked = match run {
                Some(run) => held.intersection(run).cloned().collect::<Vec<_>>(),
                None => held
                    .difference(&self.namespaces)
                    .filter(|ns| network_namespaces_held_by(TAG, &tag()).contains(*ns))
                    .cloned()
                    .collect(),
            };
            if leaked.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            leaked,
            Vec::<String>::new(),
            "network namespaces of the run are still held"
        );
        assert_eq!(mounts(), self.mounts, "a mount was left");
        assert_eq!(
            machine_state(),
            self.state,
            "the machine's own network state changed"
        );
    }
}

fn ends(fixture: &str, marker: &str, code: i32, expect: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let o = scenario_cmd(&["run", &format!("runner/tests/endings/{fixture}")])
        .env("SCENARIO_TEST_PANIC", "1")
        .env(TAG, tag())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(code), "{out}{err}");
    assert!(out.contains(expect), "{out}{err}");
    before.assert_clean(marker);
}

#[test]
fn a_passing_run_leaves_nothing() {
    ends("passes.rhai", "3129.1", 0, "1 passed, 0 failed");
}

#[test]
fn a_failed_assertion_leaves_nothing() {
    ends(
        "fails.rhai",
        "3129.2",
        1,
        "assert_ping(host, \"10.255.0.1\") failed",
    );
}

#[test]
fn a_script_error_leaves_nothing() {
    ends("leaky.rhai", "3127.", 1, "failing on purpose");
}

#[test]
fn a_panic_in_the_runner_leaves_nothing() {
    ends("panics.rhai", "3129.3", 1, "internal error in the runner");
}

/// The network namespaces a process holds open.
/// The network namespaces of runner `pid`'s nodes: its watchdog (a child
/// of its) holds a descriptor of every one; the runner holds them through
/// its netlink sockets, or by descriptor.
fn namespaces_of(pid: u32) -> BTreeSet<String> {
    let children = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                // pid (comm) state ppid …; comm may hold spaces.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        });
    std::iter::once(pid)
        .chain(children)
        .flat_map(|p| {
            std::fs::read_dir(format!("/proc/{p}/fd"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .map(|l| l.display().to_string())
        .filter(|l| l.starts_with("net:["))
        .collect()
}

/// Starts the long scenario and returns once its lab has processes.
fn start_long() -> Child {
    start_long_with(scenario_cmd(&["run", "runner/tests/endings/long.rhai"]))
}

/// The same as a CI job runs it: the leader of a session (and process
/// group) of its own, whose whole group or session is killed to cancel it.
fn start_long_in_own_session() -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = scenario_cmd(&["run", "runner/tests/endings/long.rhai"]);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(Into::into));
    }
    start_long_with(cmd)
}

fn start_long_with(mut cmd: std::process::Command) -> Child {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while processes_with("3128.1").is_empty() || processes_with("sleep 40.3128 ").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the long scenario did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Waits for the runner to exit, killing it if it hangs.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the runner did not stop");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().unwrap();
    let (out, err) = text(&o);
    (o.status.code(), format!("{out}{err}"))
}

fn stopped_by(signal: i32, name: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let child = start_long();
    let run = namespaces_of(child.id());
    assert!(
        run.len() >= 2,
        "the runner holds its nodes' namespaces: {run:?}"
    );
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::try_from(signal).unwrap(),
    )
    .unwrap();
    let (code, out) = finish(child);
    eprintln!(
        "{name}: the runner exited {:.3} s after the signal",
        sent.elapsed().as_secs_f64()
    );
    assert_eq!(code, Some(128 + signal), "{out}");
    assert!(out.contains(&format!("stopped by {name}")), "{out}");
    assert!(
        out.contains("FAIL  runner/tests/endings/long.rhai"),
        "the interrupted scenario is reported: {out}"
    );
    assert!(out.contains("0 passed, 1 failed"), "{out}");
    before.assert_clean_of("3128.1", Some(&run));
    assert!(processes_with("sleep 40.3128 ").is_empty());
}

#[test]
fn sigint_stops_the_run_and_leaves_nothing() {
    stopped_by(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_stops_the_run_and_leaves_nothing() {
    stopped_by(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigkill_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let mut child = start_long();
    let run = namespaces_of(child.id());
    assert!(
        run.len() >= 2,
        "the runner holds its nodes' namespaces: {run:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The watchdog ends what the runner can no longer end itself.
    before.assert_clean_of("3128.1", Some(&run));
    assert_eq!(wait_until_gone("sleep 40.3128 "), Vec::<String>::new());
}

/// PIDs of the processes of session `sid`.
fn session_members(sid: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // After the command name in parentheses: state ppid pgrp session.
            let after = &stat[stat.rfind(')')? + 2..];
            let session = after.split(' ').nth(3)?.parse::<u32>().ok()?;
            (session == sid).then_some(pid)
        })
        .collect()
}

/// Kills the runner the way a CI system cancels a job, then checks that
/// the watchdog, out of the group and session, ended what the lab left.
fn killed_whole(kill_all: impl Fn(i32)) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let mut child = start_long_in_own_session();
    let run = namespaces_of(child.id());
    assert!(
        run.len() >= 2,
        "the runner holds its nodes' namespaces: {run:?}"
    );
    let sent = Instant::now();
    kill_all(child.id() as i32);
    child.wait().unwrap();
    before.assert_clean_of("3128.1", Some(&run));
    assert_eq!(wait_until_gone("sleep 40.3128 "), Vec::<String>::new());
    eprintln!(
        "nothing of the lab left {:.3} s after the kill",
        sent.elapsed().as_secs_f64()
    );
    assert_eq!(
        wait_until_gone("endings/long.rhai"),
        Vec::<String>::new(),
        "the watchdog exits once it has cleaned up"
    );
}

#[test]
fn sigkill_of_the_process_group_leaves_nothing() {
    killed_whole(|pgid| {
        nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap()
    });
}

#[test]
fn sigkill_of_the_session_leaves_nothing() {
    killed_whole(|sid| {
        // Until none is left: a member may fork between a scan and a kill.
        for _ in 0..100 {
            let members = session_members(sid as u32);
            if members.is_empty() {
                break;
            }
            for pid in members {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    });
}

/// Starts `run --keep` on the failing fixture and reads its output up to
/// the prompt; returns the runner and the `ip netns exec` commands.
fn start_kept() -> (Child, Vec<String>) {
    let mut child = scenario_cmd(&["run", "--keep", "runner/tests/endings/keep.rhai"])
        .env(TAG, tag())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut names = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("ip netns exec ").nth(1) {
            names.push(rest.split_whitespace().next().unwrap().to_string());
        }
        if line.starts_with("press Enter") {
            break;
        }
    }
    // Keep reading so the runner never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, names)
}

#[test]
fn keep_holds_the_failed_lab_until_enter() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let (mut child, names) = start_kept();
    assert_eq!(
        names.len(),
        1,
        "node a is entered with ip netns exec: {names:?}"
    );
    let entered = std::process::Command::new("ip")
        .args(["netns", "exec", &names[0], "ip", "-o", "addr", "show", "x0"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&entered.stdout).contains("10.9.0.1/24"),
        "{entered:?}"
    );
    assert!(
        !processes_with("3129.4").is_empty(),
        "the lab is still alive"
    );
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1));
    assert!(!std::path::Path::new("/run/netns").join(&names[0]).exists());
    before.assert_clean("3129.4");
}

#[test]
fn clean_removes_what_a_crashed_keep_left_and_only_that() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let (mut child, names) = start_kept();
    child.kill().unwrap();
    child.wait().unwrap();
    let left = std::path::Path::new("/run/netns").join(&names[0]);
    assert!(left.exists(), "a crashed --keep leaves its entry");
    // Entries that are not a dead runner's: another tool's, a live runner's.
    let others = [
        format!("other.{}.x", std::process::id()),
        format!("scenario.{}.live", std::process::id()),
    ];
    for o in &others {
        std::fs::write(std::path::Path::new("/run/netns").join(o), "").unwrap();
    }
    let o = scenario(&["clean"]);
    let (out, err) = text(&o);
    let kept: Vec<bool> = others
        .iter()
        .map(|o| std::path::Path::new("/run/netns").join(o).exists())
        .collect();
    for o in &others {
        let _ = std::fs::remove_file(std::path::Path::new("/run/netns").join(o));
    }
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains(&format!("removed {}", left.display())),
        "{out}"
    );
    assert_eq!(kept, vec![true, true], "clean removed what was not its own");
    assert!(!left.exists());
    assert!(text(&scenario(&["clean"])).0.contains("nothing to clean"));
    let _ = std::fs::remove_dir("/run/netns");
    before.assert_clean("3129.4");
}

/// Mount namespaces a process holds open: a node with files of its own
/// has one, which must go with the run.
fn mount_namespaces_of(pid: u32) -> BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .map(|l| l.display().to_string())
                .filter(|l| l.starts_with("mnt:["))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether any process is in, or holds, one of `namespaces`.
fn still_held(namespaces: &BTreeSet<String>) -> Vec<String> {
    let mut held = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let links = std::fs::read_dir(e.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|fd| fd.path())
            .chain([e.path().join("ns/mnt")]);
        for l in links.filter_map(|p| std::fs::read_link(p).ok()) {
            let l = l.display().to_string();
            if namespaces.contains(&l) {
                held.push(format!("{}: {l}", e.file_name().to_string_lossy()));
            }
        }
    }
    held
}

/// The markers of the services fixtures: a foreground service, a daemon
/// that forked twice, one deaf to SIGTERM, one that left the node's
/// network namespace, one waited for.
fn service_markers(prefix: &str) -> Vec<String> {
    ["1", "2", "3", "4", "6"]
        .iter()
        .map(|n| format!("sleep {prefix}.{n}"))
        .collect()
}

fn assert_services_gone(markers: &[String]) {
    for m in markers {
        assert_eq!(
            wait_until_gone(m),
            Vec::<String>::new(),
            "{m} outlived the run"
        );
    }
}

#[test]
fn a_failed_run_with_services_leaves_nothing() {
    let markers = service_markers("3131");
    ends("services.rhai", "sleep 3131.", 1, "failing on purpose");
    assert_services_gone(&markers);
}

#[test]
fn a_panic_with_services_leaves_nothing() {
    let markers = service_markers("3132");
    ends(
        "services-panic.rhai",
        "sleep 3132.",
        1,
        "internal error in the runner",
    );
    assert_services_gone(&markers[..4]);
}

/// Starts the long services fixture, in a process group of its own, and
/// returns once every service and the command are running.
fn start_services_long(fixture: &str, prefix: &str, command: &str) -> Child {
    use std::os::unix::process::CommandExt;
    let child = scenario_cmd(&["run", &format!("runner/tests/endings/{fixture}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut markers = service_markers(prefix);
    markers.push(format!("sleep {prefix}.5"));
    markers.push(command.into());
    while markers.iter().any(|m| processes_with(m).is_empty()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the services fixture did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn services_stopped_by(signal: i32, name: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let child = start_services_long("services-long.rhai", "3133", "sleep 41.3133 ");
    let run = namespaces_of(child.id());
    let mounts_of_run = mount_namespaces_of(child.id());
    // The container's own, and the lab's (its /proc).
    assert_eq!(mounts_of_run.len(), 2, "the container has its own mounts");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::try_from(signal).unwrap(),
    )
    .unwrap();
    let (code, out) = finish(child);
    assert_eq!(code, Some(128 + signal), "{out}");
    assert!(out.contains(&format!("stopped by {name}")), "{out}");
    before.assert_clean_of("sleep 3133.", Some(&run));
    assert_eq!(still_held(&mounts_of_run), Vec::<String>::new());
}

#[test]
fn sigint_with_services_leaves_nothing() {
    services_stopped_by(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_with_services_leaves_nothing() {
    services_stopped_by(libc::SIGTERM, "SIGTERM");
}

/// SIGKILL to the runner alone: its watchdog and the services'
/// supervisors end what it can no longer end itself.
#[test]
fn sigkill_with_services_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let mut child = start_services_long("services-long.rhai", "3133", "sleep 41.3133 ");
    let run = namespaces_of(child.id());
    let mounts_of_run = mount_namespaces_of(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    before.assert_clean_of("sleep 3133.", Some(&run));
    assert_eq!(wait_until_gone("sleep 41.3133 "), Vec::<String>::new());
    assert_eq!(still_held(&mounts_of_run), Vec::<String>::new());
}

/// SIGKILL to the runner's whole process group, its watchdog included
/// (a CI job cancelled, `kill -9 -PGID`): each service's supervisor ends
/// its service; what a command left running (`sleep 3134.5`, a daemon
/// started with `sh`) is for the watchdog to find, which needs a watchdog
/// that outlives its process group. Whatever is left is ended here, by
/// PID, before the verdict, so that a failure leaks nothing either.
#[test]
fn sigkill_of_the_process_group_with_services_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let child = start_services_long("services-long-pg.rhai", "3134", "sleep 42.3134 ");
    let run = namespaces_of(child.id());
    let mounts_of_run = mount_namespaces_of(child.id());
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (code, _) = finish(child);
    assert_eq!(code, None, "killed by a signal");
    let mut left = Vec::new();
    for marker in ["sleep 3134.", "sleep 42.3134 "] {
        left.extend(wait_until_gone(marker));
    }
    for pid in pids_with("sleep 3134.")
        .into_iter()
        .chain(pids_with("sleep 42.3134 "))
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(left, Vec::<String>::new(), "processes outlived the run");
    before.assert_clean_of("sleep 3134.", Some(&run));
    assert_eq!(still_held(&mounts_of_run), Vec::<String>::new());
}

/// PIDs of processes whose command line contains `marker`.
fn pids_with(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .replace('\0', " ")
                .contains(marker)
                .then_some(pid)
        })
        .collect()
}

/// A process as /proc shows it: enough to tell it from a later one with
/// the same PID.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Seen {
    pid: i32,
    start: u64,
    comm: String,
    cmdline: String,
}

fn seen(pid: i32) -> Option<Seen> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(Seen {
        pid,
        start: fields.get(19)?.parse().ok()?,
        comm: stat[open + 1..close].to_string(),
        cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
    })
}

/// Every living process below `root` in the process tree (a daemon that
/// forked away is below the lab's init, a child of the runner's).
fn tree(root: i32) -> BTreeSet<Seen> {
    let mut parent = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        if let Some(ppid) = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split(' ').nth(1))
            .and_then(|p| p.parse::<i32>().ok())
        {
            parent.insert(pid, ppid);
        }
    }
    parent
        .keys()
        .filter(|pid| {
            let mut p = **pid;
            for _ in 0..64 {
                match parent.get(&p) {
                    Some(&pp) if pp == root => return true,
                    Some(&pp) if pp > 1 => p = pp,
                    _ => return false,
                }
            }
            false
        })
        .filter_map(|pid| seen(*pid))
        .collect()
}

/// Those of `procs` still running, after a moment for the kernel.
fn still_running(procs: &BTreeSet<Seen>) -> Vec<Seen> {
    let mut left = Vec::new();
    for _ in 0..500 {
        left = procs
            .iter()
            .filter(|p| seen(p.pid).is_some_and(|now| now.start == p.start))
            .cloned()
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    left
}

/// The cgroups the labs of runner `pid` made (`scenario.PID.N` in any
/// hierarchy) still there after a moment: the lab, or the watchdog after
/// a kill, removes them.
fn cgroups_left_by(pid: u32) -> Vec<String> {
    let prefix = format!("scenario.{pid}.");
    let mut left = Vec::new();
    for _ in 0..300 {
        left = std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|h| std::fs::read_dir(h.path()).into_iter().flatten().flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path().display().to_string())
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    left
}

/// Whether `procs` hold an engine's daemon and its container's process.
fn assert_engine_seen(procs: &BTreeSet<Seen>, daemons: &[&str], container: &str) {
    for d in daemons {
        assert!(
            procs.iter().any(|p| p.comm.starts_with(d)),
            "{d} was not running in the lab: {procs:#?}"
        );
    }
    assert!(
        procs.iter().any(|p| p.cmdline.contains(container)),
        "the container ({container}) was not running in the lab: {procs:#?}"
    );
}

/// Runs a failing engine fixture to its end, watching what runs below the
/// runner meanwhile; none of it may outlive the run.
fn engine_fails(fixture: &str, daemons: &[&str], container: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let mut child = scenario_cmd(&["run", &format!("runner/tests/endings/{fixture}")])
        .env(TAG, tag())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runner = child.id();
    let began = Instant::now();
    let mut procs = BTreeSet::new();
    while child.try_wait().unwrap().is_none() {
        assert!(began.elapsed() < Duration::from_secs(120), "the run hangs");
        procs.extend(tree(child.id() as i32));
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("failing on purpose"), "{out}{err}");
    assert_engine_seen(&procs, daemons, container);
    assert_eq!(still_running(&procs), Vec::new(), "outlived the run");
    assert_eq!(cgroups_left_by(runner), Vec::<String>::new());
    before.assert_clean(container);
}

/// Kills the runner (or its whole process group) while an engine's daemon
/// and container run in its lab; none of them may be left.
fn engine_killed(fixture: &str, daemons: &[&str], container: &str, group: bool) {
    use std::os::unix::process::CommandExt;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = before();
    let mut child = scenario_cmd(&["run", &format!("runner/tests/endings/{fixture}")])
        .env(TAG, tag())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let began = Instant::now();
    while processes_with(container).is_empty() || processes_with("sleep 40.3128 ").is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the fixture ended before its container ran"
        );
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "the engine did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let procs = tree(child.id() as i32);
    assert_engine_seen(&procs, daemons, container);
    let run = namespaces_of(child.id());
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let sent = Instant::now();
    if group {
        nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    } else {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }
    child.wait().unwrap();
    assert_eq!(still_running(&procs), Vec::new(), "outlived the run");
    let gone = sent.elapsed();
    assert_eq!(cgroups_left_by(pid.as_raw() as u32), Vec::<String>::new());
    eprintln!(
        "{fixture}: no process left {:.3} s after the kill, no cgroup {:.3} s after it",
        gone.as_secs_f64(),
        sent.elapsed().as_secs_f64()
    );
    before.assert_clean_of(container, Some(&run));
}

const DOCKER: [&str; 3] = ["dockerd", "containerd", "containerd-shim"];
const PODMAN: [&str; 1] = ["conmon"];

#[test]
fn a_failed_docker_run_leaves_nothing() {
    engine_fails("docker-fails.rhai", &DOCKER, "sleep 3137.2");
}

#[test]
fn sigkill_with_docker_leaves_nothing() {
    engine_killed("docker-long.rhai", &DOCKER, "sleep 3137.1", false);
}

#[test]
fn sigkill_of_the_process_group_with_docker_leaves_nothing() {
    engine_killed("docker-long.rhai", &DOCKER, "sleep 3137.1", true);
}

#[test]
fn a_failed_podman_run_leaves_nothing() {
    engine_fails("podman-fails.rhai", &PODMAN, "sleep 3138.2");
}

#[test]
fn sigkill_with_podman_leaves_nothing() {
    engine_killed("podman-long.rhai", &PODMAN, "sleep 3138.1", false);
}

#[test]
fn sigkill_of_the_process_group_with_podman_leaves_nothing() {
    engine_killed("podman-long.rhai", &PODMAN, "sleep 3138.1", true);
}
