"""Benchmark the command as typed: wall time of ``compute-market run`` (default scenario, 48
months, tables, summary and the four charts), each repeat a fresh process.

    python experiments/bench_cli.py              # 15 repeats, plus a --no-charts variant
    python experiments/bench_cli.py --repeats 5  # fewer
    python experiments/bench_cli.py --quick      # 3 repeats (what the tests run)

Prints the median, the spread (min, quartiles, max) and, from one extra run with
``python -X importtime``, the import time of the heaviest top-level packages. Other processes
on the machine move the figures: the median over many repeats is the number to quote.
Target (issue 18): under 2.5 s wall on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 2.5
SCRIPT = Path(sys.executable).with_name("compute-market")


def timings(args: list[str], repeats: int, folder: Path) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of ``compute-market ARGS`` run ``repeats`` times in
    ``folder``, each a fresh process, exactly as typed (it writes ``runs/colossus-2026-seed0/``
    there, prints the summary and draws the progress bar into a discarded pipe). CPU time moves
    less than wall time when other processes compete for the cores."""
    wall, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([str(SCRIPT), *args], cwd=folder, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def spread(times: list[float]) -> str:
    """``median (min / q1 / q3 / max)`` in seconds."""
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (times[0],) * 3
    return (f"{statistics.median(times):.2f} s  (min {min(times):.2f}, q1 {q1:.2f}, "
            f"q3 {q3:.2f}, max {max(times):.2f}; n={len(times)})")


def import_times(folder: Path, top: int = 6) -> list[tuple[str, float]]:
    """Cumulative import seconds of the top-level packages a run loads (``-X importtime``)."""
    code = "from market.cli import main; main(['run', '--quiet', '--out', %r])" % str(
        folder / "importtime")  # the same run, in-process so that every import is logged
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], check=True,
                         capture_output=True, text=True).stderr
    found: dict[str, float] = {}
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)$", line)  # top level: no indent
        if m:
            name = m.group(2).split(".")[0]
            found[name] = found.get(name, 0.0) + int(m.group(1)) / 1e6
    return sorted(found.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 repeats, no variant")
    ns = parser.parse_args()
    repeats = 3 if ns.quick else ns.repeats
    if not SCRIPT.exists():
        sys.exit(f"{SCRIPT} not found: install the project (pip install -e .) in this Python")
    print(f"compute-market run, default scenario, on {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        timings(["run"], 1, folder)  # warm the file cache and the font cache
        full, full_cpu = timings(["run"], repeats, folder)
        print(f"  run (charts included), wall: {spread(full)}")
        print(f"                          CPU: {spread(full_cpu)}")
        if not ns.quick:
            bare, bare_cpu = timings(["run", "--no-charts"], repeats, folder)
            print(f"  run --no-charts,       wall: {spread(bare)}")
            print(f"                          CPU: {spread(bare_cpu)}")
            print("  imports (one run, cumulative seconds): " + ", ".join(
                f"{name} {s:.2f}" for name, s in import_times(folder)))
    verdict = "met" if statistics.median(full) < TARGET_S else "NOT met"
    print(f"target: median wall under {TARGET_S} s: {verdict}; load average at the end "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
