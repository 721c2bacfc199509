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

import numpy as np
import pandas as pd

from market import kinds
from market.metrics import index_series, price_series, summary
from market.model import ComputeMarket
from market.scenarios import build_world

MARKET_FIELDS = {
    "price": "usd_per_h100e_hour",      # clearing price (NaN where nothing traded)
    "index": "usd_per_h100e_hour",      # reference price index
    "volume": "h100e",                  # cleared volume
    "bid_depth": "h100e",
    "ask_depth": "h100e",
}
AGENT_SERIES = {"utilization": "share", "unmet_share": "share", "capacity_h100e": "h100e"}
"""Market-wide series per month: sellers' used over owned capacity, labs' unmet over demanded
compute, and sellers' capacity online (owned) in H100e."""


def available_series(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Series names a run can report, with their units: ``PRODUCT_FIELD`` for every traded
    product (``spot_index``, ``term_12m_price``, ...) and the market-wide ``utilization`` and
    ``unmet_share`` per month."""
    products = list(dict.fromkeys(frames["market"]["product"]))
    out = {f"{p}_{f}": unit for p in products for f, unit in MARKET_FIELDS.items()}
    return out | AGENT_SERIES


def series_values(frames: dict[str, pd.DataFrame], name: str) -> pd.Series:
    """One per-month series of a run, indexed by month."""
    market, agents = frames["market"], frames["agents"]
    if name in AGENT_SERIES:
        if name in ("utilization", "capacity_h100e"):
            s = agents[agents["kind"].isin(kinds.labels("seller"))].groupby("month")
            owned = s["capacity_owned_h100e"].sum()
            if name == "capacity_h100e":
                return owned.astype(float)
            return s["used_h100e"].sum() / owned.replace(0, np.nan)
        labs = agents[agents["kind"].isin(kinds.labels("buyer"))].groupby("month")
        return labs["unmet_h100e"].sum() / labs["demand_h100e"].sum().replace(0, np.nan)
    for field in MARKET_FIELDS:
        if name.endswith("_" + field):
            product = name[: -len(field) - 1]
            break
    else:
        raise KeyError(name)
    if field == "price":
        return price_series(market, product)
    if field == "index":
        return index_series(market, product)
    rows = market[market["product"] == product].set_index("month")
    if rows.empty:
        raise KeyError(name)
    return rows[{"volume": "volume_h100e", "bid_depth": "bid_depth_h100e",
                 "ask_depth": "ask_depth_h100e"}[field]].astype(float)


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
    from market.sweep.study import set_value

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

