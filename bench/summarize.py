#!/usr/bin/env python3
"""Prints the comparison table from a bench/compare.sh results file (JSON lines).

For each scenario: median and min..max over the rounds for every server, the ratio of
natsd to the better reference server, the target from the benchmark issue, and whether it
is met. Server CPU per message (from /proc/<pid>/stat) is shown where measured.
"""
import json
import statistics
import sys
from collections import defaultdict

REFS = ["nats-server-2.15.1", "nats-server-2.9.10"]
# bench, metric, higher is better, target ratio (natsd / best reference), label
ROWS = [
    ("pub-16b", "pub_msgs_per_sec", True, 2.0, "pub only 16 B, msgs/s"),
    ("pubsub-16b", "delivered_msgs_per_sec", True, 2.0, "pub/sub 1:1 16 B, delivered/s"),
    ("pubsub-1k", "delivered_msgs_per_sec", True, 1.3, "pub/sub 1:1 1 KB, delivered/s"),
    ("fanout10-16b", "delivered_msgs_per_sec", True, 1.5, "fan-out 1:10 16 B, delivered/s"),
    ("queue4-16b", "delivered_msgs_per_sec", True, 1.5, "queue group of 4 16 B, delivered/s"),
    ("reqrep-1k", "p50_us", False, None, "req/rep 1 KB p50, us"),
    ("reqrep-1k", "p99_us", False, 0.5, "req/rep 1 KB p99, us"),
    ("reqrep-1k", "p99_9_us", False, 0.3, "req/rep 1 KB p99.9, us"),
    ("latency-1k-100k", "p50_us", False, None, "one-way 1 KB @100k/s p50, us"),
    ("latency-1k-100k", "p99_9_us", False, 0.3, "one-way 1 KB @100k/s p99.9, us"),
    ("conns-10k", "rss_per_conn_bytes", False, None, "RSS per idle connection, bytes"),
    ("startup", "startup_ms_median", False, 0.5, "startup to first PONG, ms"),
    ("startup", "idle_rss_bytes_median", False, None, "idle RSS at start, bytes"),
    ("startup", "binary_bytes", False, 0.5, "binary size, bytes"),
]
CPU_ROWS = ["pub-16b", "pubsub-16b", "pubsub-1k", "fanout10-16b", "queue4-16b"]


def fmt(value):
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def cell(values):
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}..{fmt(max(values))})"


def main(path):
    data = defaultdict(lambda: defaultdict(list))
    failures = []
    for line in open(path):
        record = json.loads(line)
        if record.get("failed"):
            failures.append(f"{record['server']} {record['bench']} round {record['round']}")
            continue
        for key, value in record["result"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                data[(record["bench"], record["server"])][key].append(value)
    servers = ["natsd"] + REFS
    print("| scenario | " + " | ".join(servers) + " | natsd / best ref | target | met |")
    print("|---" * (len(servers) + 4) + "|")
    for bench, metric, higher, target, label in ROWS:
        cells = [cell(data[(bench, s)][metric]) for s in servers]
        medians = {s: statistics.median(data[(bench, s)][metric]) for s in servers if data[(bench, s)][metric]}
        ratio, met = "-", "-"
        refs = [medians[r] for r in REFS if r in medians]
        if "natsd" in medians and refs:
            best = max(refs) if higher else min(refs)
            if best:
                value = medians["natsd"] / best
                ratio = f"{value:.2f}x"
                if target is not None:
                    met = "yes" if (value >= target if higher else value <= target) else "NO"
        if bench == "conns-10k" and "natsd" in medians:
            met = "yes" if medians["natsd"] <= 5 * 1024 else "NO"
            target_text = "<= 5 KB"
        else:
            target_text = "-" if target is None else (f">= {target}x" if higher else f"<= {target}x")
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio} | {target_text} | {met} |")
    print()
    print("Server CPU per message, ns (median over rounds; per delivered message where there are subscribers):")
    print()
    print("| scenario | " + " | ".join(servers) + " |")
    print("|---" * (len(servers) + 1) + "|")
    for bench in CPU_ROWS:
        cells = [cell(data[(bench, s)]["server_cpu_ns_per_msg"]) for s in servers]
        print(f"| {bench} | " + " | ".join(cells) + " |")
    gen = [v for (b, s), m in data.items() for v in m.get("generator_cpu_pct", []) if s == "natsd"]
    if gen:
        print(f"\nLoad generator CPU share during natsd runs: median {statistics.median(gen):.0f}%, max {max(gen):.0f}% of one core.")
    if failures:
        print("\nFailed runs: " + "; ".join(failures))


if __name__ == "__main__":
    main(sys.argv[1])
