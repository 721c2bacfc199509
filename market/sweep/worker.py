"""The unit of work of a sweep: one run in, plain rows out.

``run_one`` is the only function that local worker processes and Dask workers execute. It takes
plain data (the scenario dict, the parameter point, the seed) and returns plain data, never
raises for a failing run (the error text comes back instead), and draws every random number
from the seed, so a run gives the same numbers wherever it runs.
"""

from __future__ import annotations

import copy
import time
import traceback
from typing import Any

import pandas as pd

from market.metrics import series_values, summary
from market.model import ComputeMarket
from market.scenarios import build_world, set_value


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """Run one simulation of a study and return its metrics and series as plain data.

    Args:
        task: ``run_id``, ``raw`` (scenario dict), ``source``, ``params`` (KEY.PATH -> value),
            ``seed``, ``months``, ``metrics`` and ``series`` (names), as made by
            ``Plan.task``.

    Returns:
        ``run_id``, ``status`` ("ok" or "failed"), ``error`` (traceback text or ""),
        ``metrics`` (name -> float), ``series`` (name -> {"month": [...], "value": [...]}),
        ``elapsed_s``.
    """
    t0 = time.perf_counter()
    out: dict[str, Any] = {"run_id": task["run_id"], "status": "ok", "error": "",
                           "metrics": {}, "series": {}}
    try:
        raw = copy.deepcopy(task["raw"])
        for path, value in task["params"].items():
            set_value(raw, path, value)
        raw["months"] = task["months"]
        model = ComputeMarket(build_world(raw, task["source"]), rng=task["seed"]).run()
        frames = model.frames()
        values = summary(frames)
        for name in task["metrics"]:
            if name not in values:
                raise KeyError(f"metric {name!r} not produced by this run "
                               f"(it produced: {', '.join(values)})")
            out["metrics"][name] = float(values[name])
        for name in task["series"]:
            s = series_values(frames, name)
            out["series"][name] = {"month": list(pd.DatetimeIndex(s.index).as_unit("ms")),
                                   "value": [float(v) for v in s.to_numpy()]}
    except Exception:  # a failed run is data, not a crash of the study
        out.update(status="failed", error=traceback.format_exc(limit=8), metrics={}, series={})
    out["elapsed_s"] = time.perf_counter() - t0
    return out

