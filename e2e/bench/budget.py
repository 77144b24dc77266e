"""Draw the memory-budget sweep's chart from the CSV e2e/bench -budgets writes.

Peak RSS (MiB, with the budget itself as a dashed line) and throughput
(records/s end to end) against kafka.memory-budget, one point per run.

usage: python budget.py -o docs/benchmarks/budget.png /tmp/floe-bench/budget.csv
Runs in the test bed's venv (matplotlib is pinned in e2e/testbed/python/requirements.txt).
"""
import argparse
import csv
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

UNITS = {"": 1, "B": 1, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9}


def mib(size):
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", size)
    if not m or m.group(2).upper() not in UNITS:
        raise ValueError(f"not a size: {size!r}")
    return float(m.group(1)) * UNITS[m.group(2).upper()] / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", required=True, help="PNG to write")
    ap.add_argument("--title", default="floe drain: peak RSS and throughput against kafka.memory-budget")
    ap.add_argument("csv")
    args = ap.parse_args()

    with open(args.csv, newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: mib(r["budget"]))
    if not rows:
        raise SystemExit(f"{args.csv}: no runs")
    budget = [mib(r["budget"]) for r in rows]
    rss = [float(r["peak_rss_mib"]) for r in rows]
    rate = [float(r["records_per_s"]) / 1000 for r in rows]
    labels = [r["budget"] for r in rows]

    fig, ax = plt.subplots(figsize=(9, 5.5))
    ax.plot(budget, rss, marker="o", color="tab:blue", label="peak RSS")
    ax.plot(budget, budget, linestyle="--", color="tab:blue", alpha=0.4, label="memory-budget")
    ax.set_xscale("log", base=2)
    ax.set_xticks(budget, labels)
    ax.minorticks_off()
    ax.set_xlabel("kafka.memory-budget")
    ax.set_ylabel("peak RSS, MiB", color="tab:blue")
    ax.set_ylim(0, max(rss + budget) * 1.3)  # room for the legend above the lines
    ax.grid(True, alpha=0.3)
    tp = ax.twinx()
    tp.plot(budget, rate, marker="s", color="tab:orange", label="records/s end to end")
    tp.set_ylabel("thousand records/s, end to end", color="tab:orange")
    tp.set_ylim(0, max(rate) * 1.3)
    lines = ax.get_lines() + tp.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="upper left")
    ax.set_title(f"{args.title}\n({rows[0]['records']} records, {rows[0]['mb']} MB of JSON per run)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
