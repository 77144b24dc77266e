"""Draw the long-run benchmark's chart from the CSVs e2e/benchlongrun writes.

Three panels against commit number, one line per run (named after its CSV):
commit latency (rolling median over --window commits), the size of the
current metadata.json, and the size of the table's metadata/ directory.

usage: python chart.py -o docs/benchmarks/longrun.png /tmp/floe-longrun/p64-off.csv ...
Runs in the test bed's venv (matplotlib is pinned in e2e/testbed/python/requirements.txt).
"""
import argparse
import csv
import os
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def read(path):
    commits, latency, sampled, md_json, md_dir = [], [], [], [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            n = int(row["commit"])
            commits.append(n)
            latency.append(float(row["latency_ms"]))
            if row["metadata_json_bytes"]:
                sampled.append(n)
                md_json.append(int(row["metadata_json_bytes"]) / 2**20)
                md_dir.append(int(row["metadata_dir_bytes"]) / 2**20)
    return commits, latency, sampled, md_json, md_dir


def rolling_median(xs, window):
    return [statistics.median(xs[max(0, i - window + 1) : i + 1]) for i in range(len(xs))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", required=True, help="PNG to write")
    ap.add_argument("--window", type=int, default=20, help="commits in the rolling median")
    ap.add_argument("--title", default="floe long run: REST catalog, file:// warehouse, commit-interval 250ms")
    ap.add_argument("csv", nargs="+")
    args = ap.parse_args()

    fig, (lat, js, dr) = plt.subplots(3, 1, figsize=(10, 11), sharex=True)
    for path in args.csv:
        name = os.path.splitext(os.path.basename(path))[0]
        commits, latency, sampled, md_json, md_dir = read(path)
        line = lat.plot(commits, rolling_median(latency, args.window), label=name, linewidth=1.4)[0]
        js.plot(sampled, md_json, label=name, marker=".", color=line.get_color())
        dr.plot(sampled, md_dir, label=name, marker=".", color=line.get_color())
    lat.set_ylabel(f"commit latency, ms\n(rolling p50 over {args.window} commits)")
    js.set_ylabel("current metadata.json, MiB")
    dr.set_ylabel("table's metadata/ directory, MiB")
    dr.set_xlabel("commit number")
    for ax in (lat, js, dr):
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left")
    lat.set_title(args.title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
