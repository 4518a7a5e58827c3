#!/usr/bin/env python3
"""Throughput of the embedded engine per partition count: the scaling curve of issue 15.

Runs `kassa-loadgen --target embedded` once per (workload, partition count, repetition),
alternating partition counts within each repetition so that a drift of the machine touches
every count alike. While each run measures, it samples the CPU time of every thread of the
load generator's process (/proc/PID/task/*/stat) and reports how busy each partition's
executor (`kassa-exec-N`) and the writer were over the busiest stretch of the run.

    scripts/scaling_curve.py --loadgen target/release/kassa-loadgen --out /tmp/curve \
        --partitions 1,2,4,8,16 --repeat 2 --duration 8

`--loadgen before=PATH1,after=PATH2` alternates two builds run by run (before/after figures
from one sitting).

Writes OUT/curve.json (every run: command, throughput, latency line, thread CPU shares),
OUT/curve.md (a table for BENCHMARKS.md) and, where matplotlib is installed, OUT/curve.png.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

WORKLOADS = {
    "1000 submitters": ["--connections", "1000"],
    "64 x batches of 1000": ["--connections", "64", "--batch", "1000"],
    # Holds (place, then capture or void): most cross partitions, in three steps each.
    # Not run unless named (`--workloads "holds by 1000 submitters"`).
    "holds by 1000 submitters": ["--connections", "1000", "--mix", "holds"],
}
DEFAULT_WORKLOADS = ["1000 submitters", "64 x batches of 1000"]


def thread_times(pid):
    """Maps thread name to CPU seconds (user + system) summed over its threads."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return totals
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        group = re.sub(r"-\d+$", "-N", name) if not name.startswith("kassa-exec") else name
        totals[group] = totals.get(group, 0.0) + seconds
    return totals


def busiest_window(samples, width):
    """CPU share per thread group over the `width`-second stretch with the most CPU in all."""
    best, best_total = {}, -1.0
    for i in range(len(samples)):
        j = i
        while j < len(samples) and samples[j][0] - samples[i][0] < width:
            j += 1
        if j >= len(samples):
            break
        (t0, a), (t1, b) = samples[i], samples[j]
        shares = {k: (b.get(k, 0.0) - a.get(k, 0.0)) / (t1 - t0) for k in b}
        total = sum(shares.values())
        if total > best_total:
            best, best_total = shares, total
    return best


def run_one(args, build, workload, partitions, repetition):
    label, loadgen = build
    command = [
        loadgen, "--target", "embedded", "--data-dir", args.data_dir, "--quiet",
        "--accounts", str(args.accounts), "--duration", str(args.duration),
        "--warmup", str(args.warmup), "--partitions", str(partitions),
    ] + WORKLOADS[workload]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples = []
    while process.poll() is None:
        samples.append((time.monotonic(), thread_times(process.pid)))
        time.sleep(0.5)
    output = process.stdout.read()
    throughput = re.search(r"^throughput\s+(\d+)", output, re.M)
    latency = re.search(r"^latency\s+(.*)$", output, re.M)
    shares = busiest_window(samples, min(4.0, args.duration / 2))
    return {
        "build": label, "workload": workload, "partitions": partitions, "repetition": repetition,
        "command": " ".join(command), "exit": process.returncode,
        "throughput": int(throughput.group(1)) if throughput else None,
        "latency": latency.group(1) if latency else None,
        "cpu_shares": {k: round(v, 3) for k, v in sorted(shares.items()) if v >= 0.02},
        "output_tail": output[-2000:] if process.returncode else "",
    }


def table(runs, counts, chosen, builds):
    lines = ["| build | workload | " + " | ".join(f"{p} partition{'s' if p > 1 else ''}" for p in counts) + " |",
             "|---|---|" + "---|" * len(counts)]
    for label, _ in builds:
        for workload in chosen:
            cells = []
            for p in counts:
                figures = [r["throughput"] for r in runs
                           if r["build"] == label and r["workload"] == workload and r["partitions"] == p]
                cells.append(" / ".join(f"{f:,}" if f else "failed" for f in figures) or "-")
            lines.append(f"| {label} | {workload} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("CPU of each executor (cores) over the busiest stretch of each run:")
    for r in runs:
        executors = {k: v for k, v in r["cpu_shares"].items() if k.startswith("kassa-exec")}
        rest = {k: v for k, v in r["cpu_shares"].items() if not k.startswith("kassa-exec")}
        lines.append(f"- {r['build']} {r['workload']}, {r['partitions']} partitions, run {r['repetition']}: "
                     f"executors {executors}; others {rest}")
    return "\n".join(lines) + "\n"


def plot(runs, counts, chosen, builds, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, _ in builds:
        for workload in chosen:
            name = f"{label} {workload}".strip()
            best = [max((r["throughput"] or 0) for r in runs
                        if r["build"] == label and r["workload"] == workload and r["partitions"] == p)
                    for p in counts]
            axis.plot(counts, best, marker="o", label=f"{name} (best run)")
            axis.plot(counts, [best[0] * p for p in counts], linestyle=":", color=axis.lines[-1].get_color(),
                      label=f"{name}: linear from 1 partition")
    axis.set_xscale("log", base=2)
    axis.set_xticks(counts, [str(p) for p in counts])
    axis.set_ylim(0, max(max(r["throughput"] or 0 for r in runs) * 1.3, 1))
    axis.set_xlabel("partitions")
    axis.set_ylabel("durable transfers/s")
    axis.set_title(f"kassa embedded, {os.cpu_count()} CPUs")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loadgen", default="target/release/kassa-loadgen")
    parser.add_argument("--out", required=True)
    parser.add_argument("--data-dir", default="/tmp/kassa-curve")
    parser.add_argument("--partitions", default="1,2,4,8")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument(
        "--workloads", default=",".join(DEFAULT_WORKLOADS), help="comma-separated, of: " + ", ".join(WORKLOADS)
    )
    args = parser.parse_args()
    counts = [int(p) for p in args.partitions.split(",")]
    chosen = [w for w in WORKLOADS if w in args.workloads.split(",")]
    builds = [tuple(b.split("=", 1)) if "=" in b else ("", b) for b in args.loadgen.split(",")]
    os.makedirs(args.out, exist_ok=True)
    runs = []
    for repetition in range(1, args.repeat + 1):
        for workload in chosen:
            for p in counts:
                for build in builds:
                    run = run_one(args, build, workload, p, repetition)
                    runs.append(run)
                    print(f"{build[0]:>6} {workload:>22} p={p:<2} run {repetition}: {run['throughput']}/s exit {run['exit']} "
                          f"exec {[v for k, v in run['cpu_shares'].items() if k.startswith('kassa-exec')]}",
                          flush=True)
    with open(os.path.join(args.out, "curve.json"), "w") as f:
        json.dump({"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "runs": runs}, f, indent=1)
    with open(os.path.join(args.out, "curve.md"), "w") as f:
        f.write(table(runs, counts, chosen, builds))
    plot(runs, counts, chosen, builds, os.path.join(args.out, "curve.png"))
    print(table(runs, counts, chosen, builds))


if __name__ == "__main__":
    main()
