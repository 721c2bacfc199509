"""Print a digest of every output table of one run, for comparing runs across machines.

``python experiments/fingerprint.py [SCENARIO] --seeds 0 1 2 [--months N] [--set K=V ...]``
prints the SIMD targets numpy uses, then one line per (seed, table): the SHA-256 of the table's Parquet-independent bytes
(column names, dtypes and the raw values) and, with ``--metrics``, the printed metrics with
all 17 significant digits. Two machines (or two ``NPY_DISABLE_CPU_FEATURES`` settings) that
print the same lines produced bit-identical tables. ``tests/test_determinism.py`` runs it under
three SIMD levels.
"""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import pandas as pd


def table_digest(df: pd.DataFrame) -> str:
    """SHA-256 over column names, dtypes and values (floats by their bits)."""
    h = hashlib.sha256()
    for name in df.columns:
        col = df[name]
        h.update(f"{name}:{col.dtype}\n".encode())
        values = col.to_numpy()
        if values.dtype.kind in "fiub":
            h.update(np.ascontiguousarray(values).tobytes())
        elif values.dtype.kind == "M":
            h.update(values.astype("datetime64[ns]").view(np.int64).tobytes())
        else:
            h.update(json.dumps([repr(v) for v in values]).encode())
    return h.hexdigest()[:16]


def fingerprint(scenario: str, seeds: list[int], months: int | None = None,
                overrides: list[str] | None = None, metrics: bool = False) -> list[str]:
    """One line per (seed, table) and, with ``metrics``, per (seed, metric)."""
    from market.metrics import summary
    from market.model import ComputeMarket
    from market.scenarios import load_scenario

    overrides = list(overrides or [])
    if months is not None:
        overrides.append(f"months={months}")
    world = load_scenario(scenario, overrides)
    lines = []
    for seed in seeds:
        frames = ComputeMarket(world, rng=seed).run().frames()
        for name in sorted(frames):
            lines.append(f"seed {seed} {name:<10} {len(frames[name]):>6} rows "
                         f"{table_digest(frames[name])}")
        if metrics:
            for key, value in summary(frames).items():
                lines.append(f"seed {seed} {key} {value!r}")
    return lines


def golden_lines() -> list[str]:
    """The lines ``tests/test_golden.py`` pins: the default scenario at 12 and 48 months,
    seeds 0-2, every table."""
    return [f"months {months} {line}" for months in (12, 48)
            for line in fingerprint("colossus-2026", [0, 1, 2], months)]


def simd_level() -> str:
    """The SIMD targets numpy dispatches to in this process (after NPY_DISABLE_CPU_FEATURES)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return " ".join(f for f in __cpu_dispatch__ if __cpu_features__.get(f)) or "baseline"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="colossus-2026")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--months", type=int, default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--metrics", action="store_true")
    ap.add_argument("--golden", action="store_true",
                    help="print the lines tests/test_golden.py pins (and nothing else)")
    ns = ap.parse_args()
    if ns.golden:
        print("\n".join(golden_lines()))
        return
    print(f"simd: {simd_level()}")
    print("\n".join(fingerprint(ns.scenario, ns.seeds, ns.months, ns.overrides, ns.metrics)))


if __name__ == "__main__":
    main()
