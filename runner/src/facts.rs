//! The facts about the machine that change results, for the run header and
//! the JUnit properties.

use crate::sandbox::Mode;

/// Whether this kernel has bridge netfilter, module or built in, read
/// where scenarios run: in a fresh network namespace (a module nothing
/// loaded leaves no sysctl there; the runner never loads one). None when
/// no namespace could be made.
pub fn bridge_netfilter() -> Option<bool> {
    static KNOWN: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    *KNOWN.get_or_init(|| {
        crate::netns::Namespaces::create(None, None, None, || {
            Ok(std::path::Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables").exists())
        })
        .ok()
        .map(|(_, present)| present)
    })
}

/// Whether a lab gets a PID namespace of its own here (see `pidns`), or
/// why not.
pub fn pid_namespace() -> Result<(), String> {
    let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    crate::pidns::LabPids::start(std::os::fd::AsFd::as_fd(&null))
        .map(drop)
        .map_err(|e| e.to_string())
}

pub struct Facts {
    pub kernel: String,
    pub iptables: String,
    pub br_netfilter: String,
    /// How a lab's processes are ended.
    pub endings: String,
    pub mode: Mode,
}

impl Facts {
    pub fn gather(mode: Mode) -> Facts {
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        // The iptables that scenarios will run, with its backend:
        // "iptables v1.8.9 (nf_tables)".
        let iptables = crate::exec::locate("iptables")
            .ok()
            .and_then(|p| std::process::Command::new(p).arg("--version").output().ok())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .trim_start_matches("iptables ")
                    .to_string()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "not installed".into());
        let br_netfilter = match bridge_netfilter() {
            Some(true) => "present (bridged traffic passes iptables: bridge-nf-call-* pinned to 1 in every node)",
            Some(false) => "absent (bridged traffic skips iptables; scenarios that require br_netfilter are skipped)",
            None => "unknown (no namespace could be made to read it)",
        }
        .to_string();
        let endings = match pid_namespace() {
            Ok(()) => "a PID namespace per lab".to_string(),
            Err(why) => format!(
                "no PID namespace per lab ({why}): what a daemon starts in namespaces of its own \
                 may outlive a killed run"
            ),
        };
        Facts {
            kernel,
            iptables,
            br_netfilter,
            endings,
            mode,
        }
    }

    pub fn pairs(&self) -> [(&'static str, String); 5] {
        [
            ("kernel", self.kernel.clone()),
            ("iptables", self.iptables.clone()),
            ("br_netfilter", self.br_netfilter.clone()),
            ("processes", self.endings.clone()),
            ("privileges", self.mode.describe().to_string()),
        ]
    }

    pub fn line(&self) -> String {
        format!(
            "kernel {}, iptables {}, br_netfilter {}, {}, {}",
            self.kernel,
            self.iptables,
            self.br_netfilter,
            self.endings,
            self.mode.describe()
        )
    }
}
