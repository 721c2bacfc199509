"""The unit of work of a calibration: one model run at one parameter point and seed.

``run_point`` is what local worker processes and Dask workers execute (through
``market.sweep.executors``). Plain data in, plain data out; a failing run returns its error
instead of raising.
"""

from __future__ import annotations

import copy
import time
import traceback
from typing import Any

from market.calibrate.moments import Moment, evaluate, series
from market.model import ComputeMarket
from market.scenarios import apply_override, build_world, toml_value


def world_raw(raw: dict[str, Any], params: dict[str, float | int]) -> dict[str, Any]:
    """The raw scenario with the point's parameter values set (as ``--set`` would)."""
    raw = copy.deepcopy(raw)
    for path, value in params.items():
        apply_override(raw, f"{path}={toml_value(value)}", source="parameter")
    return raw


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Run one simulation and return its moments (and, when ``task['series']`` names any,
    those series month by month).

    Args:
        task: ``run_id``, ``raw`` (scenario dict), ``source``, ``params`` (path -> value),
            ``seed``, ``moments`` (``Moment`` fields as dicts), ``series`` (names).
    """
    t0 = time.perf_counter()
    out: dict[str, Any] = {"run_id": task["run_id"], "status": "ok", "error": "",
                           "moments": [], "series": {}}
    try:
        raw = world_raw(task["raw"], task["params"])
        frames = ComputeMarket(build_world(raw, task["source"]), rng=task["seed"]).run().frames()
        moments = [Moment(**{**m, "window": tuple(m["window"])}) for m in task["moments"]]
        out["moments"] = [float(v) for v in evaluate(frames, moments)]
        for name in task.get("series", ()):
            s = series(frames, name)
            out["series"][name] = {"month": list(s.index), "value": [float(v) for v in s]}
    except Exception:  # a failed run is data, not a crash of the calibration
        out.update(status="failed", error=traceback.format_exc(limit=8), moments=[], series={})
    out["elapsed_s"] = time.perf_counter() - t0
    return out
