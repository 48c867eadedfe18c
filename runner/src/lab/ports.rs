//! A node's bridges and bridge ports as `attach` sees them: the port
//! `attach` made for each of the node's interfaces, and a bridge looked
//! up by name.

use ipnetwork::IpNetwork;

use super::{Node, Result};
use crate::network::Netlink;

impl Node {
    /// The bridge-side name of the veth whose end here is `ifname`, as
    /// `attach` named it.
    pub fn host_if(&self, ifname: &str) -> Result<String> {
        let ports = self.ports.borrow();
        ports
            .iter()
            .find(|(eth, _)| eth == ifname)
            .map(|(_, port)| port.clone())
            .ok_or_else(|| {
                let made: Vec<&str> = ports.iter().map(|(eth, _)| eth.as_str()).collect();
                match made.is_empty() {
                    true => format!("node '{}' was never attached to a bridge", self.name),
                    false => format!(
                        "node '{}' has no interface '{ifname}' made by attach; attach made {}",
                        self.name,
                        made.join(", ")
                    ),
                }
            })
    }

    /// The index of the bridge `name`, or an error that says how to make one.
    /// A bridge is asked for its kind once: an index names one interface
    /// for as long as the kernel runs (it hands out new ones counting up),
    /// so the same name at the same index is the same bridge.
    pub(super) async fn bridge_index(&self, name: &str) -> Result<u32> {
        let known = |index| {
            self.bridges
                .borrow()
                .iter()
                .any(|(n, i)| n == name && *i == index)
        };
        if let Some(index) = self.nl.index(name).await? {
            if known(index) {
                return Ok(index);
            }
        }
        match self.nl.link(name).await? {
            Some(l) if l.kind.as_deref() == Some("bridge") => {
                self.bridges.borrow_mut().push((name.to_string(), l.index));
                Ok(l.index)
            }
            Some(l) => Err(format!(
                "'{name}' in node '{}' is a {} interface, not a bridge",
                self.name,
                l.kind.as_deref().unwrap_or("plain")
            )),
            None => Err(format!(
                "node '{}' has no bridge named '{name}'; create it first with {}.bridge(\"{name}\", \"<cidr>\")",
                self.name, self.name
            )),
        }
    }

    /// The addresses of one of this node's bridges, of one family. Asked
    /// on a socket of the node's second, opened on first use, whose
    /// listings the kernel filters (see `Netlink::open_strict`): on the
    /// node's own, every `attach` walked all of the host's interfaces, a
    /// cost that grew with the bridge.
    pub(super) async fn bridge_addrs(&self, index: u32, v6: bool) -> Result<Vec<IpNetwork>> {
        if self.strict.get().is_none() {
            let nl = self
                .ctx
                .netlink_in(&self.ns, Netlink::open_strict)
                .map_err(|e| format!("cannot open netlink in node '{}': {e}", self.name))?;
            let _ = self.strict.set(nl);
        }
        let strict = self.strict.get().expect("set above");
        strict.addrs_of(index, v6).await
    }
}
