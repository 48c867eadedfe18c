//! `ip route` and `ip -o addr` output, normalized. Left out, because the
//! kernel derives them or changes them on its own time:
//! - the `local` table (it follows from the addresses, which `addrs` shows);
//! - IPv6 link-local routes and addresses (derived from random MACs, added
//!   when the link-watch worker gets to it);
//! - the `linkdown` flag, which follows carrier changes asynchronously;
//! - address lifetimes, DAD flags, broadcast addresses and interface indexes.
//!
//! Lines are sorted: routes and addresses are sets.

/// An IPv6 link-local address or prefix as `ip` prints it (`fe80::/64`).
fn is_ipv6_link_local(word: &str) -> bool {
    let addr = word.split('/').next().unwrap_or_default();
    addr.parse::<std::net::Ipv6Addr>()
        .is_ok_and(|a| crate::network::is_link_local(a.into()))
}

fn finish(mut lines: Vec<String>) -> String {
    lines.sort();
    lines.dedup();
    lines.into_iter().map(|l| l + "\n").collect()
}

/// Routes of every table but `local`, IPv4 then IPv6, from
/// `ip -4 route show table all` and `ip -6 route show table all`.
pub fn routes(v4: &str, v6: &str) -> String {
    let keep = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|line| {
                let words: Vec<&str> = line
                    .split_whitespace()
                    .filter(|w| *w != "linkdown")
                    .collect();
                let local = words.windows(2).any(|w| w == ["table", "local"]);
                let link_local = words.first().is_some_and(|w| is_ipv6_link_local(w));
                (!words.is_empty() && !local && !link_local).then(|| words.join(" "))
            })
            .collect()
    };
    format!("{}{}", finish(keep(v4)), finish(keep(v6)))
}

/// `name family address/prefix scope S` per address, from `ip -o addr show`.
pub fn addrs(text: &str) -> String {
    let lines = text
        .lines()
        .filter_map(|line| {
            // "2: br0    inet 172.29.0.1/24 brd … scope global br0\       valid_lft …"
            let line = line.split('\\').next()?;
            let mut words = line.split_whitespace().skip(1);
            let name = words.next()?.split('@').next()?;
            let family = words.next()?;
            let cidr = words.next()?;
            let rest: Vec<&str> = words.collect();
            let scope = rest
                .iter()
                .position(|w| *w == "scope")
                .and_then(|i| rest.get(i + 1));
            if is_ipv6_link_local(cidr) {
                return None;
            }
            Some(match scope {
                Some(s) => format!("{name} {family} {cidr} scope {s}"),
                None => format!("{name} {family} {cidr}"),
            })
        })
        .collect();
    finish(lines)
}

/// `name <flags> mtu N [master M]` per link, from `ip -o link show`.
/// Left out: indexes (`@if4` too), MACs, queues, operational state and the
/// carrier flags, which follow the peer asynchronously.
pub fn links(text: &str) -> String {
    let lines = text
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let name = words.get(1)?.trim_end_matches(':').split('@').next()?;
            let flags: Vec<&str> = words
                .get(2)?
                .trim_matches(|c| c == '<' || c == '>')
                .split(',')
                .filter(|f| !matches!(*f, "LOWER_UP" | "NO-CARRIER" | "M-DOWN" | "DORMANT"))
                .collect();
            let mut out = format!("{name} <{}>", flags.join(","));
            for key in ["mtu", "master"] {
                if let Some(i) = words.iter().position(|w| *w == key) {
                    out.push_str(&format!(" {key} {}", words.get(i + 1)?));
                }
            }
            Some(out)
        })
        .collect();
    finish(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real output of a namespace with a bridge, a veth, a policy routing
    /// table and IPv6; sections are split by "== <command>" lines.
    fn section(name: &str) -> &'static str {
        let all = include_str!("testdata/ip.txt");
        let start = all.find(&format!("== {name}\n")).unwrap() + name.len() + 4;
        let end = all[start..]
            .find("\n== ")
            .map_or(all.len(), |e| start + e + 1);
        &all[start..end]
    }

    #[test]
    fn routes_without_local_table_link_local_or_linkdown() {
        let out = routes(
            section("ip -4 route show table all"),
            section("ip -6 route show table all"),
        );
        assert_eq!(
            out,
            "10.1.0.0/16 via 172.29.0.3 dev br0 table 100\n\
             172.29.0.0/24 dev br0 proto kernel scope link src 172.29.0.1\n\
             default via 172.29.0.254 dev br0\n\
             default via fd00:29::ff dev br0 metric 1024 pref medium\n\
             fd00:29::/64 dev br0 proto kernel metric 256 pref medium\n"
        );
        assert_eq!(
            routes("10.0.0.0/8 dev x0 scope link linkdown \n", ""),
            "10.0.0.0/8 dev x0 scope link\n"
        );
    }

    #[test]
    fn links_without_indexes_macs_or_carrier() {
        let text = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n\
                    7: v-bird@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue master br0 state LOWERLAYERDOWN mode DEFAULT\\    link/ether 5a:1c:aa:00:11:22 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n";
        assert_eq!(
            links(text),
            "lo <LOOPBACK,UP> mtu 65536\nv-bird <BROADCAST,MULTICAST,UP> mtu 1500 master br0\n"
        );
    }

    #[test]
    fn addrs_without_lifetimes_link_local_or_indexes() {
        let out = addrs(section("ip -o addr show"));
        assert_eq!(
            out,
            "br0 inet 172.29.0.1/24 scope global\n\
             br0 inet6 fd00:29::1/64 scope global\n\
             br1 inet 172.30.0.1/24 scope global\n\
             lo inet 10.0.0.9/32 scope global\n\
             lo inet 127.0.0.1/8 scope host\n\
             lo inet6 ::1/128 scope host\n"
        );
        assert_eq!(addrs("5: eth0@if4    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\\  valid_lft forever\n"), "eth0 inet 10.0.0.2/24 scope global\n");
    }
}
