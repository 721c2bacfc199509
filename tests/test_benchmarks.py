"""The benchmark scripts under experiments/ run, and their reference checks hold. Their
timings are not asserted here (timed unit tests measure the machine, not the code); the README's
Performance block quotes what they printed (experiments/perf_record.py, tests/test_readme.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> str:
    return subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=300, check=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout


def test_contract_benchmark_bills_as_its_reference():
    """bench_contracts checks, size by size, that the book and the per-contract loop end,
    charge and bill the same contracts and dollars (a tenth of the contracts on sites still
    coming online, so the ramp discount and billing by delivery are compared too)."""
    out = run_script("bench_contracts", "--quick")
    assert "     1,000 " in out and "    10,000 " in out, out


def test_model_benchmark_runs_its_quick_sizes():
    out = run_script("bench_model", "--quick")
    assert "default world, 48 months in" in out, out
