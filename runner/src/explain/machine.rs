//! Failures the machine causes, named as such. The neighbour tables (ARP
//! and NDP) are one per machine for every namespace, capped by
//! `gc_thresh3`: when another workload fills them, lab neighbours stay
//! unresolved and a probe fails for a reason no lab could fix. The kernel
//! counts each time a table was found full (`table_fulls` in
//! /proc/net/stat/arp_cache and ndisc_cache); read before and after the
//! replay, a rise names the machine.
//!
//! Conntrack is not such a limit: its count is kept per namespace against
//! `nf_conntrack_max`, so only the lab's own flows fill a lab's table.

use std::fmt::Write;

/// The kernel's table-full counts, read at one moment; `None` where a
/// table's statistics cannot be read (no IPv6, a restricted /proc).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub arp: Option<u64>,
    pub ndisc: Option<u64>,
}

/// Reads the counters now. Read-only, and the same from any namespace: the
/// tables, and so their statistics, are the machine's.
pub fn read() -> Counters {
    let fulls = |table| {
        std::fs::read_to_string(format!("/proc/net/stat/{table}"))
            .ok()
            .and_then(|t| table_fulls(&t))
    };
    Counters {
        arp: fulls("arp_cache"),
        ndisc: fulls("ndisc_cache"),
    }
}

/// The `table_fulls` column of a neighbour table's statistics, summed over
/// its rows (one per CPU, in hexadecimal).
pub fn table_fulls(text: &str) -> Option<u64> {
    let mut lines = text.lines();
    let column = lines
        .next()?
        .split_whitespace()
        .position(|h| h == "table_fulls")?;
    let mut sum = 0u64;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let field = line.split_whitespace().nth(column)?;
        sum = sum.checked_add(u64::from_str_radix(field, 16).ok()?)?;
    }
    Some(sum)
}

/// The `machine:` line when a neighbour table was full during the replay:
/// which table, by how much the count rose, and its cap (`gc_thresh3`,
/// `None` when it cannot be read).
pub fn neighbour_tables_full(
    before: Counters,
    after: Counters,
    gc_thresh3: impl Fn(bool) -> Option<String>,
) -> Option<String> {
    let rose = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) if a > b => Some(a - b),
        _ => None,
    };
    let mut full = Vec::new();
    for (v6, name, by) in [
        (false, "ARP", rose(before.arp, after.arp)),
        (true, "NDP", rose(before.ndisc, after.ndisc)),
    ] {
        let Some(by) = by else { continue };
        let mut text = format!("{name} table_fulls rose by {by}");
        let family = if v6 { "ipv6" } else { "ipv4" };
        match gc_thresh3(v6) {
            Some(cap) => {
                let _ = write!(text, "; net.{family}.neigh.default.gc_thresh3 = {cap}");
            }
            // In a container, the kernel shows the limit only in the
            // machine's first network namespace.
            None => {
                let _ = write!(
                    text,
                    "; its limit, net.{family}.neigh.default.gc_thresh3, cannot be read here \
                     (the kernel shows it only in the machine's first network namespace)"
                );
            }
        }
        full.push(text);
    }
    if full.is_empty() {
        return None;
    }
    Some(format!(
        "machine: the machine's neighbour table is full ({}); another workload on this machine \
         is using it, and no lab can fix that",
        full.join("; ")
    ))
}

/// The cap of the machine's ARP (or NDP) table, from the machine's own
/// settings (read only).
pub fn gc_thresh3(v6: bool) -> Option<String> {
    let family = if v6 { "ipv6" } else { "ipv4" };
    std::fs::read_to_string(format!("/proc/sys/net/{family}/neigh/default/gc_thresh3"))
        .ok()
        .map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from a 2-CPU machine; the second file as it would read after
    // 3 + 2 table-full events.
    const ARP: &str = "\
entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs unresolved_discards table_fulls
00000012 000086be 000090ef 00000002   000ad24a 0000289f 0000000a   00000000         00000000         00000119         00000000       000001af            00000000
00000012 0000936e 0000892b 00000006   000b25c8 00002ab4 00000007   00000000         00000000         00000000         00000000       000002ef            00000000
";
    const ARP_FULL: &str = "\
entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs unresolved_discards table_fulls
00000400 000086be 000090ef 00000002   000ad24a 0000289f 0000000a   00000000         00000000         00000119         00000003       000001af            00000003
00000400 0000936e 0000892b 00000006   000b25c8 00002ab4 00000007   00000000         00000000         00000000         00000002       000002ef            00000002
";

    #[test]
    fn table_fulls_is_summed_over_the_cpus_in_hex() {
        assert_eq!(table_fulls(ARP), Some(0));
        assert_eq!(table_fulls(ARP_FULL), Some(5));
        let big = ARP.replace(
            "000002ef            00000000",
            "000002ef            0000001a",
        );
        assert_eq!(table_fulls(&big), Some(26));
        assert_eq!(table_fulls("entries allocs\n00000001 00000002\n"), None);
        assert_eq!(table_fulls(""), None);
    }

    #[test]
    fn a_full_neighbour_table_is_named_as_the_machines() {
        let before = Counters {
            arp: table_fulls(ARP),
            ndisc: Some(7),
        };
        let after = Counters {
            arp: table_fulls(ARP_FULL),
            ndisc: Some(7),
        };
        let cap = |v6: bool| Some(if v6 { "2048" } else { "1024" }.to_string());
        assert_eq!(
            neighbour_tables_full(before, after, cap).unwrap(),
            "machine: the machine's neighbour table is full (ARP table_fulls rose by 5; \
             net.ipv4.neigh.default.gc_thresh3 = 1024); another workload on this machine is \
             using it, and no lab can fix that"
        );
        let ndp = Counters {
            arp: before.arp,
            ndisc: Some(9),
        };
        let line = neighbour_tables_full(before, ndp, |_| None).unwrap();
        assert!(
            line.contains(
                "(NDP table_fulls rose by 2; its limit, net.ipv6.neigh.default.gc_thresh3, \
                 cannot be read here"
            ),
            "{line}"
        );
    }

    #[test]
    fn nothing_is_blamed_on_the_machine_without_a_rise() {
        let same = Counters {
            arp: Some(4),
            ndisc: Some(0),
        };
        assert_eq!(neighbour_tables_full(same, same, |_| None), None);
        // Unreadable counters say nothing either way.
        let unread = Counters::default();
        assert_eq!(neighbour_tables_full(unread, same, |_| None), None);
        assert_eq!(neighbour_tables_full(same, unread, |_| None), None);
    }
}
