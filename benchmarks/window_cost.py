"""Cost of one measurement window (open + close) with the meters this machine has.

Usage: python benchmarks/window_cost.py [--n 20000] [--fresh-proc]
Prints the median and IQR of the wall time of `with monitor.window(): pass` and of one `snapshot()`, in µs.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.energy import contention


def quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], statistics.median(values), q[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="windows to time")
    parser.add_argument(
        "--fresh-proc", action="store_true", help="read /proc at both ends of every window (PROC_MAX_AGE_S = 0)"
    )
    args = parser.parse_args()
    if args.fresh_proc:
        contention.PROC_MAX_AGE_S = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monitor = EnergyMonitor()
    windows, snaps = [], []
    for _ in range(args.n):
        t0 = time.perf_counter()
        with monitor.window("w"):
            pass
        t1 = time.perf_counter()
        monitor.snapshot()
        t2 = time.perf_counter()
        windows.append((t1 - t0) * 1e6)
        snaps.append((t2 - t1) * 1e6)
    monitor.close()
    for label, values in (("window open+close", windows), ("snapshot", snaps)):
        q1, med, q3 = quantiles(values)
        print(f"{label:>18}: median {med:.2f} µs (IQR {q1:.2f}-{q3:.2f} µs) over {len(values)} runs")


if __name__ == "__main__":
    main()
