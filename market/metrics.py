"""Summary metrics of a run (docs/model.md section 9), computed from the output frames only.

Every function takes the tidy frames of ``ComputeMarket.frames()`` (or frames read back from
Parquet) and returns plain numbers or small frames, so a sweep, an experiment and the command
line compute the same figures the same way. The per-month series of sweeps, ensembles and
the app's bands (``available_series``, ``series_values``) are here too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from market import exact, kinds
from market.hardware import HOURS_PER_MONTH
from market.products import SPOT


def price_series(market: pd.DataFrame, product: str = SPOT) -> pd.Series:
    """Clearing price per month of a product in $/H100e-hour (NaN where nothing traded)."""
    rows = market[market["product"] == product]
    return rows.set_index("month")["price_usd_per_h100e_month"] / HOURS_PER_MONTH


def index_series(market: pd.DataFrame, product: str = SPOT) -> pd.Series:
    """The reference price index per month of a product in $/H100e-hour (always defined)."""
    rows = market[market["product"] == product]
    return rows.set_index("month")["index_usd_per_h100e_month"] / HOURS_PER_MONTH


def volume_weighted_price(market: pd.DataFrame, product: str) -> float:
    """Average clearing price of a product over the run, weighted by volume, $/H100e-hour."""
    rows = market[(market["product"] == product) & (market["volume_h100e"] > 0)]
    if rows.empty:
        return float("nan")
    w = rows["volume_h100e"]
    return exact.dot(rows["price_usd_per_h100e_month"], w) / exact.total(w) / HOURS_PER_MONTH


def price_volatility(market: pd.DataFrame, product: str = SPOT) -> float:
    """Standard deviation of monthly log changes of the price index."""
    s = index_series(market, product)
    r = np.diff(exact.log(s.to_numpy()))
    r = r[~np.isnan(r)]
    return exact.std(r) if len(r) > 1 else 0.0


def utilization(agents: pd.DataFrame) -> float:
    """Used over owned capacity across all sellers and months."""
    s = agents[agents["kind"].isin(kinds.labels("seller"))]
    owned = exact.total(s["capacity_owned_h100e"])
    return exact.total(s["used_h100e"]) / owned if owned > 0 else float("nan")


def unmet_share(agents: pd.DataFrame, kind: str | None = None) -> float:
    """Unmet over total demand of labs (of one kind, e.g. ``small_lab``), over the run."""
    labs = agents[agents["kind"].isin(kinds.labels("buyer") if kind is None else (kind,))]
    demand = exact.total(labs["demand_h100e"])
    return exact.total(labs["unmet_h100e"]) / demand if demand > 0 else 0.0


def fill_rate(agents: pd.DataFrame, agent: str | None = None, kind: str | None = None) -> float:
    """Served over demanded H100e-months of one lab or one kind of lab."""
    labs = agents[agents["kind"].isin(kinds.labels("buyer"))]
    if agent is not None:
        labs = labs[labs["agent"] == agent]
    if kind is not None:
        labs = labs[labs["kind"] == kind]
    demand = exact.total(labs["demand_h100e"])
    return exact.total(labs["used_h100e"]) / demand if demand > 0 else float("nan")


def unit_cost(agents: pd.DataFrame, kind: str = "small_lab") -> float:
    """What labs of a kind paid per H100e-month they used, in $/H100e-hour."""
    labs = agents[agents["kind"] == kind]
    used = exact.total(labs["used_h100e"])
    return exact.total(labs["cost_usd"]) / used / HOURS_PER_MONTH if used > 0 else float("nan")


def hhi(shares: pd.Series) -> float:
    """Herfindahl-Hirschman index (0 to 10,000) of a set of quantities."""
    total = exact.total(shares)
    if total <= 0:
        return 0.0
    pct = 100.0 * shares.to_numpy(dtype=float) / total
    return exact.dot(pct, pct)


def hhi_supply(agents: pd.DataFrame) -> float:
    """HHI of owned capacity among sellers in the last month."""
    last = agents[agents["month"] == agents["month"].max()]
    sellers = last[last["kind"].isin(kinds.labels("seller"))]
    return hhi(sellers.set_index("agent")["capacity_owned_h100e"])


def hhi_purchases(agents: pd.DataFrame) -> float:
    """HHI of capacity used by labs over the run."""
    labs = agents[agents["kind"].isin(kinds.labels("buyer"))]
    return hhi(labs.groupby("agent")["used_h100e"].sum())


def lease_revenue_usd(agents: pd.DataFrame, kind: str = "owner") -> float:
    """Revenue of sellers of a kind over the run (owners: lease and spot revenue)."""
    return exact.total(agents.loc[agents["kind"] == kind, "revenue_usd"])


def spend_over_revenue(agents: pd.DataFrame) -> pd.Series:
    """Compute spend over revenue per lab over the run."""
    labs = agents[agents["kind"].isin(kinds.labels("buyer"))].groupby("agent")
    return labs["cost_usd"].sum() / labs["revenue_usd"].sum().replace(0, np.nan)


def total_surplus_usd(agents: pd.DataFrame) -> float:
    """Labs' value of served compute less sellers' cost of their capacity, over the run."""
    labs = agents[agents["kind"].isin(kinds.labels("buyer"))]
    sellers = agents[agents["kind"].isin(kinds.labels("seller"))]
    return exact.total(labs["value_usd"]) - exact.total(sellers["cost_usd"])


def _need_frames(frames: object) -> None:
    """Refuse what is not the frames of a run with at least one month (a clear error instead
    of a KeyError or IndexError deep inside pandas)."""
    if not isinstance(frames, dict) or not all(
            isinstance(frames.get(k), pd.DataFrame) for k in ("market", "agents")):
        raise TypeError(f"frames must be the dict of DataFrames of model.frames() (market, "
                        f"agents, ...), got {type(frames).__name__}")
    if frames["market"].empty or frames["agents"].empty:
        raise ValueError("frames hold no simulated month (an empty 'market' or 'agents' "
                         "table): run the model first, e.g. ComputeMarket(world).run().frames()")


def summary_keys(term_tenors_months: Sequence[int]) -> list[str]:
    """The keys of ``summary`` for a world with these term tenors, in its order (known before
    a run, e.g. for Mesa's model reporters)."""
    products = sorted(f"term_{t}m" for t in term_tenors_months)
    return ["spot_price_mean_usd_per_h100e_hour", "spot_index_final_usd_per_h100e_hour",
            *(f"{p}_price_mean_usd_per_h100e_hour" for p in products),
            "spot_price_volatility", "utilization", "idle_share", "unmet_share_frontier",
            "unmet_share_small", "small_lab_cost_usd_per_h100e_hour",
            "frontier_lab_cost_usd_per_h100e_hour", "hhi_supply", "hhi_purchases",
            "owner_revenue_usd", "total_surplus_usd"]


SUMMARY_AGENT_COLUMNS = ("month", "agent", "kind", "capacity_owned_h100e", "used_h100e",
                         "demand_h100e", "unmet_h100e", "revenue_usd", "cost_usd", "value_usd")
"""The agents table's columns the summary reads."""


def summary(frames: dict[str, pd.DataFrame]) -> dict[str, float]:
    """The key metrics of a run, one number each (units in the names)."""
    _need_frames(frames)
    market = frames["market"]
    # only the columns read below: every metric filters rows, and each filter copies these
    agents = frames["agents"][[c for c in SUMMARY_AGENT_COLUMNS if c in frames["agents"]]]
    used = utilization(agents)
    out = {
        "spot_price_mean_usd_per_h100e_hour": volume_weighted_price(market, SPOT),
        "spot_index_final_usd_per_h100e_hour": float(index_series(market, SPOT).iloc[-1]),
    }
    for product in sorted(set(market["product"]) - {SPOT}):
        out[f"{product}_price_mean_usd_per_h100e_hour"] = volume_weighted_price(market, product)
    out |= {
        "spot_price_volatility": price_volatility(market, SPOT),
        "utilization": used,
        "idle_share": 1.0 - used,
        "unmet_share_frontier": unmet_share(agents, "frontier_lab"),
        "unmet_share_small": unmet_share(agents, "small_lab"),
        "small_lab_cost_usd_per_h100e_hour": unit_cost(agents, "small_lab"),
        "frontier_lab_cost_usd_per_h100e_hour": unit_cost(agents, "frontier_lab"),
        "hhi_supply": hhi_supply(agents),
        "hhi_purchases": hhi_purchases(agents),
        "owner_revenue_usd": lease_revenue_usd(agents, "owner"),
        "total_surplus_usd": total_surplus_usd(agents),
    }
    return out


# per-month series of a run (sweep and ensemble series, the app's bands) ------------------
SERIES_MARKET_FIELDS = {
    "price": "usd_per_h100e_hour",      # clearing price (NaN where nothing traded)
    "index": "usd_per_h100e_hour",      # reference price index
    "volume": "h100e",                  # cleared volume
    "bid_depth": "h100e",
    "ask_depth": "h100e",
}
SERIES_AGENT = {"utilization": "share", "unmet_share": "share", "capacity_h100e": "h100e"}
"""Market-wide series per month: sellers' used over owned capacity, labs' unmet over demanded
compute, and sellers' capacity online (owned) in H100e."""


def available_series(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Series names a run can report, with their units: ``PRODUCT_FIELD`` for every traded
    product (``spot_index``, ``term_12m_price``, ...) and the market-wide ``utilization`` and
    ``unmet_share`` per month."""
    products = list(dict.fromkeys(frames["market"]["product"]))
    out = {f"{p}_{f}": unit for p in products for f, unit in SERIES_MARKET_FIELDS.items()}
    return out | SERIES_AGENT


def series_values(frames: dict[str, pd.DataFrame], name: str) -> pd.Series:
    """One per-month series of a run, indexed by month."""
    market, agents = frames["market"], frames["agents"]
    if name in SERIES_AGENT:
        if name in ("utilization", "capacity_h100e"):
            s = agents[agents["kind"].isin(kinds.labels("seller"))].groupby("month")
            owned = s["capacity_owned_h100e"].sum()
            if name == "capacity_h100e":
                return owned.astype(float)
            return s["used_h100e"].sum() / owned.replace(0, np.nan)
        labs = agents[agents["kind"].isin(kinds.labels("buyer"))].groupby("month")
        return labs["unmet_h100e"].sum() / labs["demand_h100e"].sum().replace(0, np.nan)
    for field in SERIES_MARKET_FIELDS:
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
