"""Files of a run: Parquet tables, a Markdown summary and PNG charts (docs/model.md section 9).

Pure functions over the frames of ``ComputeMarket.frames()`` (or frames read back from Parquet),
so the command line, experiments and sweeps write the same files the same way. Charts use
matplotlib's object API on the Agg canvas (no pyplot, no global backend switch), with labelled
axes, units and real dates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market import exact, kinds, metrics
from market.config import WorldConfig
from market.hardware import HOURS_PER_MONTH, generation, generations, usd_per_gpu_hour
from market.products import SPOT

__all__ = [
    "CHARTS",
    "TABLES",
    "format_metric",
    "metric_rows",
    "write_charts",
    "write_summary",
    "write_tables",
]

TABLES = ("market", "agents", "contracts", "events")
"""The output tables, written as ``NAME.parquet``."""
CHARTS = ("price_index", "capacity_utilization", "demand_served_unmet", "contract_events")
"""The charts, written as ``NAME.png``."""

DPI = 110


# ----------------------------------------------------------------------------- tables
def write_tables(frames: dict[str, pd.DataFrame], out: str | Path) -> dict[str, Path]:
    """Write each frame as ``out/NAME.parquet`` (no index); returns the paths by table name.

    The ``contracts`` table has one row per contract with its whole life (signed, start,
    scheduled end, end, end reason, notice) and the total billed over it (``billed_usd``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in TABLES:
        if name not in frames:
            continue
        path = out / f"{name}.parquet"
        frames[name].to_parquet(path, index=False)
        paths[name] = path
    return paths


# ----------------------------------------------------------------------------- numbers
_LABELS = {
    "spot_price_mean_usd_per_h100e_hour": "Spot price, volume-weighted mean",
    "spot_index_final_usd_per_h100e_hour": "Spot price index, last month",
    "spot_price_volatility": "Spot index volatility (sd of monthly log change)",
    "utilization": "Utilization of sellers' capacity",
    "idle_share": "Idle share of sellers' capacity",
    "unmet_share_frontier": "Unmet demand, frontier labs",
    "unmet_share_small": "Unmet demand, small labs",
    "small_lab_cost_usd_per_h100e_hour": "What small labs paid",
    "frontier_lab_cost_usd_per_h100e_hour": "What frontier labs paid",
    "hhi_supply": "HHI of supply, last month (0-10,000)",
    "hhi_purchases": "HHI of purchases (0-10,000)",
    "owner_revenue_usd": "Owner revenue (leases and spot)",
    "total_surplus_usd": "Total surplus",
}


def _label(key: str) -> str:
    if key in _LABELS:
        return _LABELS[key]
    if key.startswith("term_") and key.endswith("_price_mean_usd_per_h100e_hour"):
        tenor = key[len("term_"): -len("_price_mean_usd_per_h100e_hour")].rstrip("m")
        return f"Term price, {tenor}-month contracts, volume-weighted mean"
    return key.replace("_", " ")


def format_metric(key: str, value: float) -> tuple[str, str]:
    """A metric as (label with unit, formatted value), units read from the key's suffix."""
    label = _label(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return label, "n/a"
    if key.endswith("_usd_per_h100e_hour"):
        return f"{label} ($/H100e-hour)", f"{value:,.2f}"
    if key.endswith("_usd_per_h100e_month"):
        return f"{label} ($/H100e-month)", f"{value:,.0f}"
    if key.endswith("_usd"):
        return f"{label} ($B)", f"{value / 1e9:,.1f}"
    if "share" in key or key == "utilization":
        return f"{label} (%)", f"{100 * value:.1f}"
    if key.startswith("hhi"):
        return label, f"{value:,.0f}"
    return label, f"{value:.4g}"


def metric_rows(frames: dict[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """The key metrics of ``market.metrics.summary`` as (label with unit, value) rows."""
    return [format_metric(k, v) for k, v in metrics.summary(frames).items()]


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]],
              align: str | None = None) -> list[str]:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _hour(usd_per_h100e_month: float) -> str:
    if usd_per_h100e_month is None or not np.isfinite(usd_per_h100e_month):
        return "n/a"
    return f"{usd_per_h100e_month / HOURS_PER_MONTH:,.2f}"


def _billions(usd: float) -> str:
    return f"{usd / 1e9:,.2f}"


def price_by_year(market: pd.DataFrame) -> pd.DataFrame:
    """Per calendar year and product: volume-weighted clearing price, the index at the year's
    last month (both $/H100e-hour) and the mean monthly volume (H100e)."""
    if market.empty:
        return pd.DataFrame()
    df = market.assign(year=pd.to_datetime(market["month"]).dt.year,
                       value=market["price_usd_per_h100e_month"].fillna(0.0)
                       * market["volume_h100e"])
    rows = []
    for (year, product), g in df.groupby(["year", "product"], sort=True):
        volume = exact.total(g["volume_h100e"])
        rows.append({
            "year": int(year), "product": product,
            "price_usd_per_h100e_hour": exact.total(g["value"]) / volume / HOURS_PER_MONTH
            if volume > 0 else float("nan"),
            "index_end_usd_per_h100e_hour": float(g.sort_values("month")[
                "index_usd_per_h100e_month"].iloc[-1]) / HOURS_PER_MONTH,
            "volume_h100e_per_month": volume / g["month"].nunique(),
        })
    return pd.DataFrame(rows)


def _preloaded(contracts: pd.DataFrame, world: WorldConfig | None) -> pd.DataFrame:
    """Rows of the contracts table that are the world's preloaded contracts."""
    if world is None or contracts.empty or not world.contracts:
        return contracts.iloc[:0]
    keep = np.zeros(len(contracts), dtype=bool)
    for c in world.contracts:
        keep |= ((contracts["template"] == c.template) & (contracts["buyer"] == c.buyer)
                 & (contracts["seller"] == c.seller) & (contracts["site"] == c.site)
                 & (pd.to_datetime(contracts["start"]) == pd.Timestamp(c.start))).to_numpy()
    return contracts[keep]


def _weighted(contracts: pd.DataFrame) -> float:
    return exact.dot(contracts["usd_per_h100e_month"], contracts["h100e"]) / exact.total(
        contracts["h100e"])


def _months_billed(row: pd.Series, last_month: pd.Timestamp) -> int:
    start = pd.Timestamp(row["start"])
    end = pd.Timestamp(row["end"]) if pd.notna(row["end"]) else pd.Timestamp(row["scheduled_end"])
    end = min(end, last_month + pd.offsets.MonthBegin(1))
    return max(0, (end.year - start.year) * 12 + end.month - start.month)


def _lab_table(agents: pd.DataFrame) -> list[list[str]]:
    labs = agents[agents["kind"].isin(kinds.labels("buyer"))]
    rows = []
    for name, g in labs.groupby("agent", sort=False):
        demand, used, unmet, revenue, cost = (
            exact.total(g[c]) for c in ("demand_h100e", "used_h100e", "unmet_h100e",
                                        "revenue_usd", "cost_usd"))
        rows.append([
            name, g["kind"].iloc[0].removesuffix("_lab"),
            f"{demand / len(g) / 1e3:,.0f}", f"{used / len(g) / 1e3:,.0f}",
            f"{unmet / len(g) / 1e3:,.0f}",
            f"{100 * unmet / demand:.1f}" if demand > 0 else "n/a",
            _hour(cost / used) if used > 0 else "n/a",
            f"{cost / revenue:.2f}" if revenue > 0 else "n/a",
            "yes" if bool(g["defaulted"].iloc[-1]) else "no",
        ])
    return rows


def write_summary(frames: dict[str, pd.DataFrame], world: WorldConfig | None, seed: Any,
                  out: str | Path, *, overrides: Sequence[str] = (), note: str = "",
                  warnings: Sequence[str] = ()) -> Path:
    """Write ``out/summary.md``: scenario, seed, months, the metrics of section 9, the spot and
    term prices by year, the preloaded (Colossus) lease and its revenue, unmet demand by lab,
    event counts. ``note`` (e.g. why a run stopped) and ``warnings`` (e.g. shocks after the
    last month) go on top."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    market, agents = frames["market"], frames["agents"]
    contracts, events = frames["contracts"], frames["events"]
    name = world.name if world is not None else "custom"
    lines = [f"# compute-market run: {name}", ""]
    if note:
        lines += [f"> **{note}**", ""]
    lines += [line for text in warnings for line in (f"> Warning: {text}", "")]
    if world is not None and world.description:
        lines += [world.description, ""]
    months = sorted(pd.to_datetime(agents["month"]).unique()) if not agents.empty else []
    span = (f"{months[0]:%Y-%m} to {months[-1]:%Y-%m} ({len(months)} months)" if months
            else "no month completed")
    lines += _md_table(["", ""], [
        ["scenario", f"`{name}`"], ["seed", f"`{seed}`"], ["months", span],
        ["overrides", ", ".join(f"`{o}`" for o in overrides) or "none"],
    ], "ll")
    if market.empty or agents.empty:
        lines += ["", "No month completed: no metrics."]
        path = out / "summary.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    lines += ["", "## Key metrics", "", "Over the whole run; prices per H100e-hour "
              f"({HOURS_PER_MONTH:.0f} hours a month).", ""]
    lines += _md_table(["metric", "value"], metric_rows(frames))

    lines += ["", "## Prices by year", "",
              "Clearing price weighted by volume, the price index in the year's last month "
              "($/H100e-hour), and the mean monthly volume traded.", ""]
    by_year = price_by_year(market)
    lines += _md_table(
        ["year", "product", "price ($/H100e-h)", "index at year end ($/H100e-h)",
         "volume (k H100e/month)"], align="llrrr", rows=
        [[r.year, r.product, f"{r.price_usd_per_h100e_hour:,.2f}"
          if np.isfinite(r.price_usd_per_h100e_hour) else "n/a",
          f"{r.index_end_usd_per_h100e_hour:,.2f}", f"{r.volume_h100e_per_month / 1e3:,.0f}"]
         for r in by_year.itertuples()])

    lines += ["", "Per GPU-hour of each generation (H100e per GPU from market price ratios, "
              "market/data/gpu_generations.csv), the volume-weighted price by year:", ""]
    gens = list(generations().values())
    lines += _md_table(
        ["year", "product", "$/H100e-h", *(f"{g.name} $/GPU-h" for g in gens)],
        align="llr" + "r" * len(gens), rows=[
            [r.year, r.product, f"{r.price_usd_per_h100e_hour:,.2f}",
             *(f"{usd_per_gpu_hour(r.price_usd_per_h100e_hour * HOURS_PER_MONTH, g):,.2f}"
               for g in gens)]
            for r in by_year.itertuples() if np.isfinite(r.price_usd_per_h100e_hour)])

    lines += ["", "## The preloaded lease", ""]
    pre = _preloaded(contracts, world)
    last = pd.Timestamp(months[-1])
    if pre.empty:
        lines += ["No contract is preloaded in this scenario."]
    else:
        rows = []
        gen_of = {s.name: generation(s.generation) for seller in world.sellers
                  for s in seller.sites}
        for _, r in pre.iterrows():
            end = (f"{pd.Timestamp(r['end']):%Y-%m} ({r['end_reason']})" if bool(r["ended"])
                   else f"live (scheduled end {pd.Timestamp(r['scheduled_end']):%Y-%m})")
            rows.append([f"{r['template']} #{r['id']}", f"{r['buyer']} from {r['seller']}",
                         f"{r['h100e'] / 1e3:,.0f}", _hour(r["usd_per_h100e_month"]),
                         f"{usd_per_gpu_hour(r['usd_per_h100e_month'], gen_of[r['site']]):,.2f}"
                         f" ({gen_of[r['site']].name})",
                         f"{pd.Timestamp(r['start']):%Y-%m}", end,
                         _months_billed(r, last), _billions(r["billed_usd"]),
                         _billions(r.get("compensation_usd", 0.0) + r.get("exit_fee_usd", 0.0))])
        lines += _md_table(["contract", "parties", "k H100e", "$/H100e-h", "$/GPU-h", "start",
                            "end", "months billed", "billed ($B)", "fees + compensation ($B)"],
                           rows, "llrrrllrrr")
    owner_names = agents.loc[agents["kind"] == "owner", "agent"].unique()
    if len(owner_names) and not contracts.empty:
        term = contracts[contracts["seller"].isin(owner_names)]
        billed = exact.total(term["billed_usd"])
        lines += ["", f"Owners' term contracts over the run: {len(term)} contracts, "
                  f"${_billions(billed)}B billed"
                  + (f", H100e-weighted price ${_hour(_weighted(term))}/H100e-hour"
                     if exact.total(term["h100e"]) > 0 else "") + "."]
        own = agents[agents["kind"] == "owner"].assign(
            year=lambda d: pd.to_datetime(d["month"]).dt.year)
        rev = own.groupby("year")["revenue_usd"].sum()
        lines += ["", "Owner revenue by year ($B): "
                  + ", ".join(f"{y}: {_billions(v)}" for y, v in rev.items()) + "."]

    lines += ["", "## Demand by lab", "",
              "Monthly means in thousand H100e; unmet share over the run; what the lab paid per "
              "H100e-hour it used; compute spend over its revenue.", ""]
    lines += _md_table(["lab", "kind", "demand", "served", "unmet", "unmet (%)",
                        "paid ($/H100e-h)", "spend / revenue", "defaulted"], _lab_table(agents),
                       "llrrrrrrl")

    lines += ["", "## Events", ""]
    if events.empty:
        lines += ["No events."]
    else:
        counts = events["event"].value_counts()
        lines += _md_table(["event", "count"], [[k, int(v)] for k, v in counts.items()])
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- charts
class _Canvas:
    """One Agg figure reused for every chart of a run: cleared and resized per chart, laid out
    with fixed margins (constrained layout draws each figure several times over)."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(dpi=DPI)
        FigureCanvasAgg(self.fig)

    def axes(self, nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (9.0, 5.0),
             *, bottom_in: float = 0.55, top_in: float = 0.45, left_in: float = 0.8,
             hspace: float = 0.45, **kw: Any) -> tuple[Any, np.ndarray]:
        """A fresh grid of axes on the cleared figure; margins in inches (``size`` too)."""
        fig = self.fig
        fig.clear()
        fig.set_size_inches(*size)
        width, height = size
        axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw={
            "left": left_in / width, "right": 1 - 0.25 / width, "bottom": bottom_in / height,
            "top": 1 - top_in / height, "hspace": hspace, "wspace": 0.3}, **kw)
        return fig, axes


def _figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (9.0, 5.0), **kw: Any):
    """A new Agg figure of its own with constrained layout (the ensemble and sweep charts,
    whose panels vary; a run's four charts share ``_Canvas``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _dates(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)


def _empty(ax: Any, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _save(fig: Any, path: Path) -> Path:
    # zlib level 1: a third of the encoding time of the default for a few % more bytes
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 1})
    return path


def _product_label(product: str) -> str:
    """``term_12m`` -> ``12-month term``; ``spot`` stays."""
    if product.startswith("term_") and product.endswith("m"):
        return f"{product[5:-1]}-month term"
    return product


def chart_price_index(frames: dict[str, pd.DataFrame], path: Path,
                      canvas: _Canvas | None = None) -> Path:
    """Spot and term price indices and spot clearing prices, $/H100e-hour, with the preloaded
    lease's price for reference."""
    market, contracts = frames["market"], frames["contracts"]
    fig, axes = (canvas or _Canvas()).axes(size=(9.0, 5.5), bottom_in=1.05)
    ax = axes[0, 0]
    if market.empty:
        _empty(ax)
    else:
        for i, (product, g) in enumerate(market.groupby("product", sort=False)):
            g = g.sort_values("month")
            color = f"C{i}"
            label = _product_label(product)
            ax.plot(g["month"], g["index_usd_per_h100e_month"] / HOURS_PER_MONTH, color=color,
                    lw=2.2 if product == SPOT else 1.6, label=f"{label} index")
            traded = g[g["volume_h100e"] > 0]
            ax.scatter(traded["month"], traded["price_usd_per_h100e_month"] / HOURS_PER_MONTH,
                       color=color, s=9, alpha=0.45, label=f"{label} clearing price")
        first = pd.to_datetime(market["month"]).min()
        if not contracts.empty and "template" in contracts:
            lease = contracts[(contracts["template"] == "colossus_lease")
                              & (pd.to_datetime(contracts["signed"]) == first)]
            if not lease.empty:
                r = lease.iloc[0]
                end = r["end"] if pd.notna(r["end"]) else r["scheduled_end"]
                ax.hlines(r["usd_per_h100e_month"] / HOURS_PER_MONTH, r["start"],
                          min(pd.Timestamp(end), pd.to_datetime(market["month"]).max()),
                          colors="black", linestyles="--", lw=1.2,
                          label="Colossus lease (preloaded)")
        ax.set_ylim(bottom=0)
        fig.legend(fontsize=8, ncols=4, loc="lower center")
        _dates(ax)
    ax.set_xlabel("month")
    ax.set_ylabel("$ per H100e-hour")
    ax.set_title("Price index of compute")
    return _save(fig, path)


def chart_capacity_utilization(frames: dict[str, pd.DataFrame], path: Path,
                               canvas: _Canvas | None = None) -> Path:
    """Capacity owned by seller kind (stacked, million H100e) and utilization by kind (%)."""
    agents = frames["agents"]
    fig, axes = (canvas or _Canvas()).axes(2, 1, size=(9.0, 7.0), hspace=0.08,
                                           sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    sellers = agents[agents["kind"].isin(kinds.labels("seller"))] if not agents.empty else agents
    if sellers.empty:
        _empty(top)
        _empty(bottom)
    else:
        g = sellers.groupby(["month", "kind"])[["capacity_owned_h100e", "used_h100e"]].sum()
        seller_kinds = kinds.labels("seller")
        cap = g["capacity_owned_h100e"].unstack("kind").reindex(columns=seller_kinds).fillna(0)
        used = g["used_h100e"].unstack("kind").reindex(columns=seller_kinds).fillna(0)
        top.stackplot(cap.index, *(cap[k] / 1e6 for k in seller_kinds), labels=seller_kinds,
                      alpha=0.8)
        top.plot(used.index, used.sum(axis=1) / 1e6, color="black", lw=1.5, label="used, all")
        top.legend(fontsize=8, loc="upper left")
        for k in kinds.labels("seller"):
            share = (used[k] / cap[k].where(cap[k] > 0)) * 100
            bottom.plot(share.index, share, lw=1.6, label=k)
        total = used.sum(axis=1) / cap.sum(axis=1).where(cap.sum(axis=1) > 0) * 100
        bottom.plot(total.index, total, color="black", lw=1.5, ls="--", label="all sellers")
        bottom.set_ylim(0, 105)
        bottom.legend(fontsize=8, loc="lower left")
        _dates(top)
        _dates(bottom)
    top.set_ylabel("capacity online (million H100e)")
    top.set_title("Capacity and utilization by seller kind")
    bottom.set_ylabel("utilization (% of capacity used)")
    bottom.set_xlabel("month")
    return _save(fig, path)


def chart_demand_served_unmet(frames: dict[str, pd.DataFrame], path: Path,
                              canvas: _Canvas | None = None) -> Path:
    """Per lab: served and unmet demand (stacked, thousand H100e), one panel per lab; the
    panels share the time axis, dated under the lowest panel of each column."""
    agents = frames["agents"]
    labs = agents[agents["kind"].isin(kinds.labels("buyer"))] if not agents.empty else agents
    names = list(dict.fromkeys(labs["agent"])) if not labs.empty else []
    ncols = min(3, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / ncols))
    fig, axes = (canvas or _Canvas()).axes(nrows, ncols, size=(4.0 * ncols, 3.0 * nrows + 0.6),
                                           top_in=0.75, sharex=True)
    if not names:
        _empty(axes[0, 0])
        axes[0, 0].set_xlabel("month")
        axes[0, 0].set_ylabel("thousand H100e")
    for i, name in enumerate(names):
        ax = axes[i // ncols, i % ncols]
        g = labs[labs["agent"] == name].sort_values("month")
        ax.stackplot(g["month"], g["used_h100e"] / 1e3, g["unmet_h100e"].clip(lower=0) / 1e3,
                     labels=["served", "unmet"], colors=["tab:green", "tab:red"], alpha=0.75)
        ax.set_title(f"{name} ({g['kind'].iloc[0].replace('_', ' ')})", fontsize=10)
        ax.set_ylabel("thousand H100e")
        ax.set_ylim(bottom=0)
        _dates(ax)
        if i == 0:
            ax.legend(fontsize=8, loc="upper left")
        ax.set_xlim(labs["month"].min(), labs["month"].max())
        if i + ncols >= len(names):  # lowest panel of its column
            ax.set_xlabel("month")
            ax.xaxis.set_tick_params(labelbottom=True)
    for j in range(len(names), nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    fig.suptitle("Demand served and unmet, by lab")
    return _save(fig, path)


_EVENT_COLORS = {"contract": "tab:blue", "recall": "tab:red", "notice": "tab:orange",
                 "default": "black", "site": "tab:green", "funding": "tab:purple"}
_NOTABLE = ("contract_preloaded", "recall_notice", "buyer_notice", "seller_notice",
            "lab_default", "seller_default", "sites_sold", "sites_offline")


def _event_color(kind: str) -> str:
    for key in ("default", "recall", "notice", "funding", "site", "contract"):
        if key in kind:
            return _EVENT_COLORS[key]
    return "grey"


def chart_contract_events(frames: dict[str, pd.DataFrame], path: Path,
                          canvas: _Canvas | None = None) -> Path:
    """Events on a timeline: one row per event kind, marker area by H100e involved; notices,
    recalls and defaults labelled with who gave them."""
    events = frames["events"]
    kinds = sorted(events["event"].unique(), key=lambda k: (_event_color(k), k)) if (
        not events.empty) else []
    fig, axes = (canvas or _Canvas()).axes(size=(10.0, max(3.5, 0.42 * len(kinds) + 1.8)),
                                           left_in=1.9)
    ax = axes[0, 0]
    if not kinds:
        _empty(ax, "no events")
    else:
        row = {k: i for i, k in enumerate(kinds)}
        size = np.sqrt(events["h100e"].clip(lower=0).to_numpy() / 1e3) * 6 + 6
        ax.scatter(events["month"], events["event"].map(row), s=size,
                   c=[_event_color(k) for k in events["event"]], alpha=0.45, edgecolors="none")
        notable = events[events["event"].isin(_NOTABLE)].sort_values("h100e", ascending=False)
        notable = notable.drop_duplicates(["event", "agent", "counterparty"]).head(10)
        placed: dict[str, list[pd.Timestamp]] = {}
        for r in notable.itertuples():  # largest first; none within 6 months of another
            when = pd.Timestamp(r.month)
            near = placed.setdefault(r.event, [])
            if any(abs((when - t).days) < 183 for t in near):
                continue
            near.append(when)
            who = f"{r.agent}" + (f" -> {r.counterparty}" if r.counterparty else "")
            ax.annotate(who, (r.month, row[r.event]), xytext=(4, 5), textcoords="offset points",
                        fontsize=7)
        ax.set_yticks(range(len(kinds)), [k.replace("_", " ") for k in kinds], fontsize=8)
        ax.set_ylim(-0.7, len(kinds) - 0.3)
        _dates(ax)
    ax.set_xlabel("month")
    ax.set_ylabel("event")
    ax.set_title("Contract and site events (marker area ~ H100e involved)")
    return _save(fig, path)


_CHARTS = {"price_index": chart_price_index, "capacity_utilization": chart_capacity_utilization,
           "demand_served_unmet": chart_demand_served_unmet,
           "contract_events": chart_contract_events}


def write_charts(frames: dict[str, pd.DataFrame], out: str | Path) -> dict[str, Path]:
    """Write the four PNG charts of a run into ``out`` (one figure, redrawn for each);
    returns the paths by chart name."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    canvas = _Canvas()
    return {name: _CHARTS[name](frames, out / f"{name}.png", canvas) for name in CHARTS}
