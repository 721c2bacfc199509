"""Record the benchmarks' printed figures and write the README's Performance block from them.

The README quotes no timing typed by hand: each benchmark under ``experiments/`` prints its own
table and PASS/FAIL lines. This script runs them, each as its own process, and keeps what they
print in ``docs/perf/<name>.txt`` (with the command, the date, the CPU count and the load
average when it started). It then rewrites the block of the README between
``<!-- perf:start -->`` and ``<!-- perf:end -->`` from those files. ``tests/test_readme.py``
checks that the README holds exactly that block, so every figure in it is one a run printed.

    python experiments/perf_record.py                 # all (about 5 minutes), then the README
    python experiments/perf_record.py bench_contracts # rerun one, then the README
    python experiments/perf_record.py --readme        # rewrite the README from the files only

Timings depend on the machine and on what else runs on it: compare figures measured side by
side in one run (each benchmark's ratios), not figures of two recordings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from market.sweep.store import write_file_atomic

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RECORDS = ROOT / "docs" / "perf"
START, END = "<!-- perf:start -->", "<!-- perf:end -->"

BENCHMARKS: dict[str, tuple[list[str], str]] = {
    "bench_cli": ([], "**The command**: `compute-market run` as typed (default scenario, 48 "
                  "months, tables, summary and the four charts), a fresh process per repeat. "
                  "Target: under 2.5 s wall."),
    "bench_clearing": ([], "**Clearing core**: one `clear()` call against `np.lexsort` of the same "
                       "(price, product) keys and against the loop-based reference (best of "
                       "repeats). Targets: 1e6 orders over 1e3 products within 3x of lexsort; "
                       "100x faster than the reference at 1e5 orders; peak extra memory within "
                       "10x the inputs."),
    "bench_contracts": ([], "**Contract book** (CPU time): one month's update (expiry, buyer "
                        "notices on 2% of contracts, billing) against a per-contract Python loop "
                        "doing the same work, and against a *floor* month that only reads what "
                        "the month depends on. Target: 50x the loop at 1e5 contracts."),
    "bench_model": ([], "**Market model**: scaled copies of the default world, each size in a "
                    "fresh process. Targets: the default world over 48 months in under 3 s; cost "
                    "per agent-month flat or falling with size; 10,000 agents over 120 months in "
                    "under 15 s (median of 3 fresh runs, build plus `run()`) and 4 GB."),
    "bench_sweep": ([], "**Sweeps**: runs per minute of the default scenario on 1 and 2 local "
                    "workers and on a preloaded 2-worker loopback Dask cluster (best of rounds). "
                    "Targets: 2 workers at least 1.6x one; Dask within 15% of local."),
    "bench_viz": (["--browser"], "**Browser app**: server time per Step at month 1 and month 120, "
                  "and, in Chromium, Step click to updated readout and charts."),
}
"""Each benchmark recorded: its arguments and the line the README puts above its output."""


def header(name: str, args: list[str]) -> str:
    """The first lines of a record: the command, when, and how busy the machine was."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"$ python experiments/{name}.py{''.join(' ' + a for a in args)}\n"
            f"# {when}; {os.cpu_count()} CPUs; load average {load} at the start\n")


def record(name: str) -> Path:
    """Run one benchmark and write its record whole (a failed run leaves the old one)."""
    args, _ = BENCHMARKS[name]
    head = header(name, args)
    print(f"running {name} ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), *args],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    RECORDS.mkdir(parents=True, exist_ok=True)
    path = RECORDS / f"{name}.txt"
    text = head + done.stdout.rstrip() + "\n"
    write_file_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def block() -> str:
    """The README's Performance block, from the records."""
    parts = [START]
    for name, (_, intro) in BENCHMARKS.items():
        path = RECORDS / f"{name}.txt"
        if not path.exists():
            raise SystemExit(f"no record of {name}: run python experiments/perf_record.py {name}")
        parts += ["", intro, "", "```text", path.read_text(encoding="utf-8").rstrip(), "```"]
    parts += ["", END]
    return "\n".join(parts)


def write_readme() -> bool:
    """Replace the README's block; True when it changed."""
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    new = head + block() + rest.split(END, 1)[1]
    if new != text:
        README.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", metavar="BENCHMARK",
                    help=f"which to rerun (default: all): {', '.join(BENCHMARKS)}")
    ap.add_argument("--readme", action="store_true", help="only rewrite the README")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"BENCHMARK: no benchmark named {unknown[0]!r}; choose from "
                 f"{', '.join(BENCHMARKS)}")
    if not args.readme:
        for name in args.names or BENCHMARKS:
            print(record(name))
    print("README.md " + ("updated" if write_readme() else "unchanged"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
