//! The facts about the machine that change results, for the run header and
//! the JUnit properties.

use crate::sandbox::Mode;

pub struct Facts {
    pub kernel: String,
    pub iptables: String,
    pub br_netfilter: String,
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
        // Whether bridged traffic passes iptables: br_netfilter makes it so.
        let br_netfilter = if std::path::Path::new("/sys/module/br_netfilter").exists() {
            "loaded (bridged traffic passes iptables)"
        } else {
            "not loaded (bridged traffic skips iptables)"
        }
        .to_string();
        Facts {
            kernel,
            iptables,
            br_netfilter,
            mode,
        }
    }

    pub fn pairs(&self) -> [(&'static str, String); 4] {
        [
            ("kernel", self.kernel.clone()),
            ("iptables", self.iptables.clone()),
            ("br_netfilter", self.br_netfilter.clone()),
            ("privileges", self.mode.describe().to_string()),
        ]
    }

    pub fn line(&self) -> String {
        format!(
            "kernel {}, iptables {}, br_netfilter {}, {}",
            self.kernel,
            self.iptables,
            self.br_netfilter,
            self.mode.describe()
        )
    }
}
