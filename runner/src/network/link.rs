//! One interface as the runner reads it from a link dump.

use rtnetlink::packet_route::link::{
    BridgePortState, InfoBridgePort, InfoData, InfoMacVlan, InfoPortData, InfoVxlan, LinkAttribute,
    LinkFlags, LinkInfo, State,
};

use super::mac_text;

#[derive(Debug, Clone, Default)]
pub struct LinkDetail {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub master: Option<u32>,
    pub peer: Option<u32>,
    pub peer_nsid: Option<i32>,
    /// Up and with carrier, but the kernel has not yet taken the link's
    /// new state in: it does that later, from a work queue shared by the
    /// whole machine, and until then a bridge does not forward on it.
    pub settling: bool,
    /// A vxlan device: its VNI, and the index of the device it sends
    /// through (in its own namespace), if it names one.
    pub vni: Option<u32>,
    pub vxlan_dev: Option<u32>,
    /// A macvlan: its mode ("bridge", "vepa", …); its parent is `peer`.
    pub macvlan_mode: Option<String>,
    /// Set up (`UP`), and with a carrier where up (`NO-CARRIER` otherwise).
    pub up: bool,
    pub carrier: bool,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// A bridge's port: its STP state (`forwarding`, `disabled`, …) and
    /// whether it sends frames back out of the port they came in by.
    pub port: Option<BridgePort>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BridgePort {
    pub state: String,
    pub hairpin: bool,
}

impl From<&rtnetlink::packet_route::link::LinkMessage> for LinkDetail {
    fn from(l: &rtnetlink::packet_route::link::LinkMessage) -> LinkDetail {
        let mut d = LinkDetail {
            index: l.header.index,
            ..LinkDetail::default()
        };
        let flags = l.header.flags;
        let carrier = flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp);
        d.up = flags.contains(LinkFlags::Up);
        d.carrier = flags.contains(LinkFlags::Running);
        for a in &l.attributes {
            match a {
                LinkAttribute::IfName(n) => d.name = n.clone(),
                LinkAttribute::Address(m) => d.mac = Some(mac_text(m)),
                LinkAttribute::Mtu(m) => d.mtu = Some(*m),
                LinkAttribute::Controller(m) => d.master = Some(*m),
                LinkAttribute::Link(p) => d.peer = Some(*p),
                LinkAttribute::LinkNetNsId(n) => d.peer_nsid = Some(*n),
                LinkAttribute::OperState(state) => {
                    d.settling = carrier
                        && matches!(state, State::Down | State::LowerLayerDown | State::Dormant);
                }
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => d.kind = Some(k.to_string()),
                            LinkInfo::Data(InfoData::Vxlan(v)) => {
                                for a in v {
                                    match a {
                                        InfoVxlan::Id(id) => d.vni = Some(*id),
                                        InfoVxlan::Link(l) => d.vxlan_dev = Some(*l),
                                        _ => {}
                                    }
                                }
                            }
                            LinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                                d.port = Some(bridge_port(p));
                            }
                            LinkInfo::Data(InfoData::MacVlan(m)) => {
                                d.macvlan_mode = m.iter().find_map(|a| match a {
                                    InfoMacVlan::Mode(mode) => {
                                        Some(format!("{mode:?}").to_lowercase())
                                    }
                                    _ => None,
                                });
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        d
    }
}

fn bridge_port(attrs: &[InfoBridgePort]) -> BridgePort {
    let mut port = BridgePort {
        state: "forwarding".to_string(),
        hairpin: false,
    };
    for a in attrs {
        match a {
            InfoBridgePort::State(s) => {
                port.state = match s {
                    BridgePortState::Other(n) => format!("state {n}"),
                    s => format!("{s:?}").to_lowercase(),
                }
            }
            InfoBridgePort::HairpinMode(on) => port.hairpin = *on,
            _ => {}
        }
    }
    port
}
