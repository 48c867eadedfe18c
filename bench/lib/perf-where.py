#!/usr/bin/env python3
"""Where a run's CPU time goes, from a system-wide perf profile.

    perf record -a -g -o run.data -- scenario run -q bench/scale-1000.rhai
    perf script -i run.data -F comm,tid,time,ip,sym > run.script
    python3 bench/lib/perf-where.py run.script [COMM] [PERIOD_MS]

Each sample of the runner's threads (COMM, default "scenario") counts for
the first category whose kernel function is on its stack; PERIOD_MS is the
sampling period (perf's default 4000 Hz: 0.25). The kernel's own workers
(namespace cleanup) are counted apart.
"""
import collections
import sys

RULES = [
    ("namespaces: made (unshare, the kernel's setup)",
     ["copy_net_ns", "unshare_nsproxy_namespaces", "__x64_sys_unshare", "__x64_sys_sethostname",
      "__do_sys_clone", "__do_sys_clone3"]),
    ("namespaces: own files (mounts)", ["__x64_sys_mount", "__x64_sys_umount", "__x64_sys_mkdir"]),
    ("sysctls (/proc/sys lookups, reads, writes)",
     ["proc_sys_call_handler", "proc_sys_lookup", "proc_sys_compare", "proc_sys_open",
      "proc_sys_permission", "proc_sys_revalidate", "__x64_sys_openat"]),
    ("links: veth pairs made", ["veth_newlink"]),
    ("bridge ports", ["br_add_if", "br_port_slave_changelink", "br_setport"]),
    ("links brought up", ["dev_change_flags", "__dev_change_flags", "netif_change_flags"]),
    ("addresses, routes, neighbours",
     ["inet_rtm_newaddr", "inet6_rtm_newaddr", "inet_rtm_newroute", "inet6_rtm_newroute", "neigh_add"]),
    ("netlink: lookups and the rest of the kernel's side",
     ["rtnl_getlink", "rtnl_dump_ifinfo", "netlink_dump", "netlink_recvmsg", "netlink_sendmsg",
      "netlink_rcv_skb"]),
    ("probes", ["ping_v4_sendmsg", "ping_recvmsg", "raw_sendmsg", "icmp_rcv", "ping_rcv", "inet_create"]),
    ("teardown: closing, exits", ["do_exit", "__x64_sys_exit_group", "__x64_sys_close", "task_work_run", "__fput"]),
    ("kernel: namespace cleanup", ["cleanup_net", "unregister_netdevice_many"]),
    ("other system calls, page faults", ["do_syscall_64", "asm_exc_page_fault"]),
]


def category(stack, otherwise):
    frames = set(stack)
    for name, keys in RULES:
        if any(k in frames for k in keys):
            return name
    return otherwise


def main():
    path = sys.argv[1]
    comm_prefix = sys.argv[2] if len(sys.argv) > 2 else "scenario"
    period = float(sys.argv[3]) if len(sys.argv) > 3 else 0.25
    runner, workers = collections.Counter(), collections.Counter()
    comm, stack = None, []

    def flush():
        if not stack or comm is None:
            return
        if comm.startswith(comm_prefix):
            runner[category(stack, "runner in user space (netlink parsing, Rhai, tokio)")] += 1
        elif comm.startswith("kworker") or comm.startswith("netns"):
            workers[category(stack, "other")] += 1

    for line in open(path, errors="replace"):
        if line.strip() and not line.startswith("\t"):
            flush()
            comm, stack = line.split()[0], []
        elif line.strip():
            parts = line.split(None, 1)
            if len(parts) == 2:
                stack.append(parts[1].strip())
    flush()
    total = sum(runner.values())
    print(f"runner: {total * period:.0f} ms CPU")
    for name, n in runner.most_common():
        print(f"  {name:55s} {n * period:6.0f} ms  {100 * n / max(total, 1):4.1f}%")
    print("kernel workers:")
    for name, n in workers.most_common():
        print(f"  {name:55s} {n * period:6.0f} ms")


main()
