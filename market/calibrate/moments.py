"""Series and moments of a run: what a calibration compares with observations.

A *series* is a per-month quantity read from a run's output tables:

* market series ``PRODUCT_FIELD``: ``spot_index``, ``spot_price``, ``term_12m_index``,
  ``term_36m_price``, ``spot_volume`` ... (prices in $/H100e-hour; for an H100, one GPU is one
  H100e, so the same number is $/GPU-hour);
* agent series ``FIELD`` or ``FIELD:WHO``, where ``FIELD`` is a column of the agents table
  (``capacity_owned_h100e``, ``used_h100e``, ``demand_h100e``, ``revenue_usd``, ``cost_usd``,
  ...) or one of the derived fields ``capacity_online_h100e`` (= ``capacity_owned_h100e``),
  ``revenue_runrate_usd`` (12 x the month's revenue: an annualized run rate) and
  ``spend_over_revenue`` (cost over revenue in the month); ``WHO`` is an agent name, an agent kind
  (``frontier_lab``, ``small_lab``, ``owner``, ``hyperscaler``, ``neocloud``), ``labs`` or
  ``sellers``; without ``WHO`` lab fields sum over labs and the rest over sellers.

A *moment* is one number made from a series: ``level`` (its value in one month), ``mean`` over a
window, ``growth`` over a window (last over first month, minus 1), or ``ratio`` (the sum of one
series over a window divided by the sum of another over the same window).

Everything here is a pure function of the frames; sums go through ``market.exact``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from market import exact, kinds
from market.hardware import HOURS_PER_MONTH

MARKET_FIELDS = {"price": "price_usd_per_h100e_month", "index": "index_usd_per_h100e_month",
                 "volume": "volume_h100e", "bid_depth": "bid_depth_h100e",
                 "ask_depth": "ask_depth_h100e"}
AGENT_FIELDS = ("capacity_owned_h100e", "contracted_h100e", "spot_h100e", "used_h100e",
                "demand_h100e", "unmet_h100e", "revenue_usd", "cost_usd", "value_usd", "cash_usd")
DERIVED = {"capacity_online_h100e": "capacity_owned_h100e", "revenue_runrate_usd": "revenue_usd"}
LAB_FIELDS = {"demand_h100e", "unmet_h100e", "value_usd", "revenue_runrate_usd",
              "spend_over_revenue"}
MOMENT_KINDS = ("level", "mean", "growth", "ratio")


class SeriesError(ValueError):
    """A series name that the output tables cannot give."""


def _month_labels(index: Any) -> list[str]:
    return [str(pd.Timestamp(m))[:7] for m in index]


def _agent_rows(agents: pd.DataFrame, who: str | None, field: str) -> pd.DataFrame:
    if who is None:
        role = "buyer" if field in LAB_FIELDS else "seller"
        return agents[agents["kind"].isin(kinds.labels(role))]
    if who == "labs":
        return agents[agents["kind"].isin(kinds.labels("buyer"))]
    if who == "sellers":
        return agents[agents["kind"].isin(kinds.labels("seller"))]
    if who in kinds.labels():
        return agents[agents["kind"] == who]
    rows = agents[agents["agent"] == who]
    if rows.empty:
        names = sorted(set(agents["agent"]))
        raise SeriesError(f"no agent or kind {who!r}; agents: {', '.join(names)}; kinds: "
                          f"{', '.join(kinds.labels())}, labs, sellers")
    return rows


def _monthly_total(rows: pd.DataFrame, column: str, months: list) -> np.ndarray:
    by_month = {m: g[column].to_numpy(dtype=float) for m, g in rows.groupby("month", sort=True)}
    return np.array([exact.total(by_month[m]) if m in by_month else 0.0 for m in months])


def series(frames: dict[str, pd.DataFrame], name: str) -> pd.Series:
    """The per-month values of series ``name``, indexed by ``"YYYY-MM"``."""
    market, agents = frames["market"], frames["agents"]
    field, _, who = name.partition(":")
    who = who or None
    if who is None:
        for f, column in MARKET_FIELDS.items():
            if field.endswith("_" + f):
                product = field[: -len(f) - 1]
                rows = market[market["product"] == product]
                if rows.empty:
                    products = list(dict.fromkeys(market["product"]))
                    raise SeriesError(f"series {name!r}: no product {product!r}; products: "
                                      f"{', '.join(products)}")
                values = rows[column].to_numpy(dtype=float)
                if f in ("price", "index"):
                    values = values / HOURS_PER_MONTH
                return pd.Series(values, index=_month_labels(rows["month"]), name=name)
    months = sorted(set(agents["month"]))
    labels = _month_labels(months)
    if field == "spend_over_revenue":
        rows = _agent_rows(agents, who, field)
        cost = _monthly_total(rows, "cost_usd", months)
        revenue = _monthly_total(rows, "revenue_usd", months)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(revenue > 0, cost / np.where(revenue > 0, revenue, 1.0), np.nan)
        return pd.Series(values, index=labels, name=name)
    column = DERIVED.get(field, field)
    if column not in AGENT_FIELDS:
        known = [f"PRODUCT_{f}" for f in MARKET_FIELDS] + list(AGENT_FIELDS) + [
            *DERIVED, "spend_over_revenue"]
        raise SeriesError(f"unknown series {name!r}; series are {', '.join(known)} "
                          f"(agent fields optionally ':WHO')")
    values = _monthly_total(_agent_rows(agents, who, field), column, months)
    if field == "revenue_runrate_usd":
        values = 12.0 * values
    return pd.Series(values, index=labels, name=name)


@dataclass(frozen=True)
class Moment:
    """One observed number and how to compute it from a run."""

    name: str
    kind: str
    series: str
    value: float
    sd: float
    weight: float = 1.0
    month: str = ""
    """``level``: the month."""
    window: tuple[str, str] = ("", "")
    """``mean``, ``growth``, ``ratio``: first and last month, inclusive."""
    denominator: str = ""
    """``ratio``: the series divided by."""

    def months(self) -> tuple[str, str]:
        return (self.month, self.month) if self.kind == "level" else self.window


def evaluate(frames: dict[str, pd.DataFrame], moments: list[Moment] | tuple[Moment, ...]
             ) -> list[float]:
    """The simulated value of each moment in one run (NaN where the run does not define it,
    e.g. a price in a month without trade)."""
    cache: dict[str, pd.Series] = {}

    def get(name: str) -> pd.Series:
        if name not in cache:
            cache[name] = series(frames, name)
        return cache[name]

    out = []
    for m in moments:
        s = get(m.series)
        lo, hi = m.months()
        window = s[(s.index >= lo) & (s.index <= hi)]
        if window.empty:
            out.append(math.nan)
            continue
        v = window.to_numpy(dtype=float)
        if m.kind == "level" or m.kind == "mean":
            out.append(exact.mean(v) if not np.isnan(v).any() else math.nan)
        elif m.kind == "growth":
            out.append(v[-1] / v[0] - 1.0 if v[0] != 0 else math.nan)
        else:  # ratio
            d = get(m.denominator)
            dv = d[(d.index >= lo) & (d.index <= hi)].to_numpy(dtype=float)
            den = exact.total(dv)
            out.append(exact.total(v) / den if den != 0 else math.nan)
    return out
