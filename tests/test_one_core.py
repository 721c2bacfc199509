"""One core per step (issue: data-first core): no call inside a month may wake a multithreaded
BLAS, so concurrent runs (sweeps run one per process) do not slow each other down.

The check is real CPU time: in a fresh interpreter with BLAS free to use every core, the model
runs a 480-agent world for 24 months, and the CPU time of every thread but the main one must
not grow. A matrix product afterwards must make it grow (the control: the check can fail)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, os
import numpy as np

def other_threads_ticks():
    """utime + stime (clock ticks) of every thread of this process but the main one."""
    me = os.getpid()
    total = 0
    for tid in os.listdir(f"/proc/{me}/task"):
        if int(tid) != me:
            with open(f"/proc/{me}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total

from market.config import scaled
from market.model import ComputeMarket
from market.scenarios import load_scenario
model = ComputeMarket(scaled(load_scenario("colossus-2026", ["months=24"]), 40), rng=0)
before = other_threads_ticks()
model.run()
after = other_threads_ticks()
a = np.random.default_rng(0).random((1500, 1500))
for _ in range(6):
    a @ a
print(json.dumps({"model": after - before, "control": other_threads_ticks() - after}))
'''


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_month_runs_on_one_core():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: a multithreaded BLAS cannot be told apart (the control would fail)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         check=True, env=env, cwd=ROOT)
    ticks = json.loads(out.stdout.strip().splitlines()[-1])
    assert ticks["control"] > 0, ticks   # BLAS threads exist and do use CPU when woken
    # 24 months of 480 agents woke none of them (two 10 ms ticks allowed for a stray
    # housekeeping thread; a BLAS call per month would cost far more)
    assert ticks["model"] <= 2, ticks
