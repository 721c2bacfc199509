"""One core per step: no call inside a model step may wake a multithreaded BLAS.

A BLAS thread pool (OpenBLAS, MKL, OpenMP) starts its worker threads when numpy loads and
they sleep until a matrix call wakes them. So the check is the CPU time of every thread of
the process except the main one, read from ``/proc/self/task`` before and after the steps of
a 1,000-agent world: it must not grow. The same probe then runs one large matrix product and
must see it grow, so a silent probe cannot pass the test. It runs in a fresh interpreter
with the BLAS thread settings removed from its environment (the default pool size).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os
import numpy as np

def others_ticks():
    # user + system clock ticks of every thread but the main one
    total = 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == os.getpid():
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total

from market.config import scaled
from market.model import ComputeMarket
from market.scenarios import load_scenario

model = ComputeMarket(scaled(load_scenario("colossus-2026", ["months=12"]), 83), rng=0)
threads = len(os.listdir("/proc/self/task"))
before = others_ticks()
model.run()
during_steps = others_ticks() - before
a = np.random.default_rng(0).random((1500, 1500))
before = others_ticks()
for _ in range(8):
    a = (a @ a) / 1500.0
print(json.dumps({"threads": threads, "steps": during_steps,
                  "matmul": others_ticks() - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_model_steps_wake_no_blas_thread() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                        "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         check=True, env=env, cwd=ROOT, timeout=300)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    if seen["threads"] < 2 or seen["matmul"] == 0:
        pytest.skip(f"no multithreaded BLAS here ({seen}): nothing a step could wake")
    # the probe sees a matrix product (above), and 12 months of 1,000 agents use no thread
    # but the main one
    assert seen["steps"] == 0, (
        f"other threads used {seen['steps']} clock ticks during the steps ({seen})")
