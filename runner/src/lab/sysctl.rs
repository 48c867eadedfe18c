//! A node's sysctls: only `net.*` keys, which belong to its network
//! namespace; every other sysctl is the whole machine's.

use std::io;

use super::{Node, Result};
use crate::netns;

impl Node {
    /// A sysctl of the node's network namespace, as the kernel shows it
    /// (trimmed): the runner's own reading (state, diagnosis).
    pub fn sysctl_value(&self, key: &str) -> Result<String> {
        self.ns
            .run(|| netns::read_sysctl(key))
            .and_then(|r| r)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    format!("sysctl '{key}' does not exist in a network namespace")
                }
                _ => format!("cannot read sysctl {key} in node '{}': {e}", self.name),
            })
    }

    /// The same, as a script asks for it: only `net.*` keys, as the others
    /// are the machine's, not the node's.
    pub fn read_sysctl(&self, key: &str) -> Result<String> {
        let _step = self.ctx.step(|| format!("{}.sysctl({key})", self.name));
        if !is_net_key(key) {
            return Err(format!(
                "sysctl '{key}' is not a network-namespace setting; only net.* keys belong to a node"
            ));
        }
        self.sysctl_value(key)
    }

    /// Sets a sysctl of the node's network namespace; only `net.*` keys, as
    /// every other sysctl belongs to the whole machine.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let _step = self
            .ctx
            .step(|| format!("{}.sysctl({key}={value})", self.name));
        if !is_net_key(key) {
            return Err(format!(
                "sysctl '{key}' is not a network-namespace setting; only net.* keys can be set, \
                 the others would change the whole machine"
            ));
        }
        self.ns
            .run(|| netns::write_sysctl(key, value))
            .and_then(|r| r)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    format!("sysctl '{key}' does not exist in a network namespace")
                }
                _ => format!(
                    "cannot set sysctl {key}={value} in node '{}': {e}",
                    self.name
                ),
            })
    }
}

/// A key under net.: `net.ipv4.ip_forward`, or with slashes `net/ipv4/…`,
/// which must not climb out of net/ with `..`.
fn is_net_key(key: &str) -> bool {
    (key.starts_with("net.") || key.starts_with("net/")) && !key.split('/').any(|part| part == "..")
}

#[cfg(test)]
mod tests {
    use super::is_net_key;

    #[test]
    fn only_keys_under_net_belong_to_a_node() {
        assert!(is_net_key("net.ipv4.ip_forward"));
        assert!(is_net_key("net/ipv4/conf/eth0.100/forwarding"));
        assert!(!is_net_key("kernel.hostname"));
        assert!(!is_net_key("network.x"));
        assert!(!is_net_key("net/../kernel/hostname"));
    }
}
