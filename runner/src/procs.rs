//! The machine's processes as /proc shows them: who is whose parent, for
//! finding every process of a service, daemons that forked away included
//! (their supervisor adopts them, see `supervise`).

use std::collections::HashMap;

/// One line of /proc/PID/stat, the fields that matter here.
struct Stat {
    ppid: i32,
    zombie: bool,
    start: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields start
    // after its last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        zombie: fields.first()? == &"Z",
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

fn all() -> HashMap<i32, Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .collect()
}

/// SIGKILL to every process `scan` finds, scanning again until it finds
/// none: a process may fork between a scan and the kill, and a dying one
/// lingers a moment, so the passes repeat, at most `passes` times.
pub fn kill_until_gone(passes: usize, scan: impl Fn() -> Vec<i32>) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for _ in 0..passes {
        let pids = scan();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Every living (not yet reaped is not living) descendant of `root`.
pub fn descendants(root: i32) -> Vec<i32> {
    let procs = all();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (pid, s) in &procs {
        children.entry(s.ppid).or_default().push(*pid);
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for c in children.get(&p).into_iter().flatten() {
            queue.push(*c);
            if !procs[c].zombie {
                found.push(*c);
            }
        }
    }
    found
}

/// Children of `parent` that have exited and wait to be reaped.
pub fn zombie_children(parent: i32) -> Vec<i32> {
    all()
        .into_iter()
        .filter(|(_, s)| s.ppid == parent && s.zombie)
        .map(|(pid, _)| pid)
        .collect()
}

/// The oldest living child of `parent`: the first one it started.
pub fn first_child(parent: i32) -> Option<i32> {
    all()
        .into_iter()
        .filter(|(_, s)| s.ppid == parent && !s.zombie)
        .min_by_key(|(pid, s)| (s.start, *pid))
        .map(|(pid, _)| pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_a_descendant() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        let pid = child.id() as i32;
        assert!(descendants(me).contains(&pid));
        assert!(!descendants(pid).contains(&me));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!descendants(me).contains(&pid));
    }
}
