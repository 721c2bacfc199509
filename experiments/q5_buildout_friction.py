"""Question 5, build-out friction: how permits, power limits and opposition move prices.

    python experiments/q5_buildout_friction.py [--quick] [--seeds N] [--out DIR]
        [--workers N | --scheduler ADDRESS]

docs/model.md section 1, question 5: how do permitting delays, power limits and local opposition
move prices?

Setup: the default world and the ``slow-buildout`` variant (permits and grid twice as slow, more
local opposition, half the power headroom and GPU supply, construction at the long end of 13-29
months), plus one friction at a time: each takes only its own fields from ``slow-buildout`` and
leaves the rest at the default (built with ``dataclasses.replace`` on the WorldConfig). Prices
are measured from 2027-01 on, when sites started in the run can first arrive.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import KeyNumber  # noqa: E402

from market import kinds, metrics  # noqa: E402
from market.config import WorldConfig  # noqa: E402
from market.scenarios import load_scenario  # noqa: E402

NAME = "q5_buildout_friction"
DEFAULT = "default (colossus-2026)"
SLOW = "all frictions (slow-buildout)"
FROM = "2027-01"


def one_friction(base: WorldConfig, slow: WorldConfig, what: str) -> WorldConfig:
    """The default world with one friction taken from ``slow-buildout``."""
    slow_regions = {r.name: r for r in slow.regions}
    if what in ("permit_months_mean", "opposition_probability", "power_headroom_mw_per_year"):
        regions = tuple(dataclasses.replace(r, **{what: getattr(slow_regions[r.name], what)})
                        if r.name in slow_regions else r for r in base.regions)
        return dataclasses.replace(base, regions=regions, name=f"{base.name}+{what}")
    if what == "gpu_supply_h100e_per_quarter":
        return dataclasses.replace(
            base, gpu_supply_h100e_per_quarter=slow.gpu_supply_h100e_per_quarter,
            name=f"{base.name}+{what}")
    if what == "lead_time_months":
        lead = {s.name: s.lead_time_months for s in slow.sellers}
        sellers = tuple(dataclasses.replace(s, lead_time_months=lead.get(s.name,
                                                                         s.lead_time_months))
                        for s in base.sellers)
        return dataclasses.replace(base, sellers=sellers, name=f"{base.name}+{what}")
    raise ValueError(f"unknown friction {what!r}")


FRICTIONS = {
    "permits twice as slow": "permit_months_mean",
    "more local opposition": "opposition_probability",
    "half the power headroom": "power_headroom_mw_per_year",
    "half the GPU supply": "gpu_supply_h100e_per_quarter",
    "slower construction": "lead_time_months",
}


def measure(frames: dict[str, pd.DataFrame], label: str):
    """Prices from 2027, capacity online, unmet demand, sites cancelled."""
    agents, market, events = frames["agents"], frames["market"], frames["events"]
    sellers = agents[agents["kind"].isin(kinds.labels("seller"))]
    online = sellers.groupby("month")["capacity_owned_h100e"].sum()
    last_year = market["month"].max() - pd.DateOffset(months=11)
    spot = common.market_series(market, "spot", "index_usd_per_h100e_month")
    scalars = {
        "spot_h": common.per_hour(common.vwap(market, "spot", FROM)),
        "term36_h": common.per_hour(common.vwap(market, "term_36m", FROM)),
        "spot_last_year_h": common.per_hour(float(spot[spot.index >= last_year].mean())),
        "online_end_m": float(online.iloc[-1] / 1e6),
        "unmet_pct": 100 * metrics.unmet_share(agents),
        "cancelled_sites": float((events["event"] == "site_cancelled_by_opposition").sum()),
        "utilization_pct": 100 * metrics.utilization(agents),
    }
    series = {"spot_index_h": spot / common.HOURS_PER_MONTH, "online_m": online / 1e6}
    return scalars, series


def configs() -> list[tuple[str, WorldConfig]]:
    base, slow = load_scenario("colossus-2026"), load_scenario("slow-buildout")
    return ([(DEFAULT, base)] + [(label, one_friction(base, slow, what))
                                 for label, what in FRICTIONS.items()] + [(SLOW, slow)])


def headline(res: common.Results) -> str:
    """Spot from 2027 with all frictions against the default, for the sensitivity line."""
    d = common.band(100 * res.paired(SLOW, DEFAULT, "spot_h") / res.values(DEFAULT, "spot_h"))
    return f"all frictions raise spot {d[0]:+.0f}%"


def plot(res: common.Results, opts: common.Options) -> str:
    fig, axes = common.figure(ncols=3, width=4.9, height=4.3)
    ax, ax2, ax3 = axes
    for label, color in ((DEFAULT, "black"), ("permits twice as slow", common.COLORS[3]),
                         (SLOW, common.COLORS[1])):
        common.plot_band(ax, res.frame(label, "spot_index_h"), label, color)
        common.plot_band(ax2, res.frame(label, "online_m"), label, color)
    for a in (ax, ax2):
        common.date_axis(a)
        a.set_xlabel("month")
        a.legend(loc="upper left" if a is ax2 else "lower left")
    ax.set_ylabel("spot price index, $ per H100e-hour")
    ax.set_title("Spot price")
    ax2.set_ylabel("capacity online at all sellers, million H100e")
    ax2.set_title("Capacity online")
    labels, values, cols = [], [], []
    for label in [*FRICTIONS, SLOW]:
        short = "all (slow-buildout)" if label == SLOW else label
        for metric, name, color in (("spot_h", "spot", common.COLORS[0]),
                                    ("term36_h", "36m term", common.COLORS[3])):
            labels.append(f"{short}: {name}")
            values.append(100 * res.paired(label, DEFAULT, metric) / res.values(DEFAULT, metric))
            cols.append(color)
    common.bar_band(ax3, labels, values, colors=cols)
    ax3.tick_params(axis="y", labelsize=8)
    ax3.set_xlabel(f"price change {FROM} on vs default, %")
    ax3.set_title("Which friction moves prices")
    return common.save(fig, opts, "buildout_friction.png")


def main(argv: list[str] | None = None) -> int:
    opts = common.parse_args(NAME, __doc__, argv)
    res = common.run_configs(configs(), opts, measure)

    def change(label: str, metric: str) -> object:
        return 100 * res.paired(label, DEFAULT, metric) / res.values(DEFAULT, metric)

    numbers = [
        KeyNumber("spot_default", res.values(DEFAULT, "spot_h"), "$ per H100e-hour", (0.5, 10),
                  f"spot price {FROM} on, default world"),
        KeyNumber("spot_slow", res.values(SLOW, "spot_h"), "$ per H100e-hour", (0.5, 15),
                  f"spot price {FROM} on, slow-buildout"),
        KeyNumber("spot_change_slow_pct", change(SLOW, "spot_h"), "%", (-10, 300),
                  "spot price change, all frictions", digits=1),
        KeyNumber("term36_change_slow_pct", change(SLOW, "term36_h"), "%", (-30, 300),
                  "36-month term price change, all frictions", digits=1),
        KeyNumber("online_end_default", res.values(DEFAULT, "online_end_m"), "million H100e",
                  (1, 50), "capacity online at the end, default"),
        KeyNumber("online_end_slow", res.values(SLOW, "online_end_m"), "million H100e",
                  (1, 50), "capacity online at the end, slow-buildout"),
        KeyNumber("unmet_change_slow_pp", res.paired(SLOW, DEFAULT, "unmet_pct"),
                  "percentage points", (-5, 60), "labs' unmet demand share change, all frictions",
                  digits=1),
    ]
    for label, what in FRICTIONS.items():
        numbers.append(KeyNumber(f"spot_change_{what}_pct", change(label, "spot_h"), "%",
                                 (-20, 300), f"spot price change, {label} only", digits=1))
    rows = []
    for label in [DEFAULT, *FRICTIONS, SLOW]:
        rows.append({"world": label,
                     f"spot $/h {FROM}+": common.mean_band_cell(res.values(label, "spot_h"), 2),
                     "spot $/h last 12 months": common.mean_band_cell(
                         res.values(label, "spot_last_year_h"), 2),
                     "36m term $/h": common.mean_band_cell(res.values(label, "term36_h"), 2),
                     "online at end, M H100e": common.mean_band_cell(
                         res.values(label, "online_end_m"), 2),
                     "labs' unmet %": common.mean_band_cell(res.values(label, "unmet_pct"), 1),
                     "sites cancelled": common.mean_band_cell(
                         res.values(label, "cancelled_sites"), 1)})
    sm, sl, sh = common.band(change(SLOW, "spot_h"))
    effects = {label: common.band(change(label, "spot_h"))[0] for label in FRICTIONS}
    top = max(effects, key=lambda k: effects[k])
    low = min(effects, key=lambda k: abs(effects[k]))
    total = sum(effects.values())
    if abs(total - sm) <= 0.15 * max(abs(sm), 1.0):
        how = "about their joint effect: they add up"
    elif total > sm:
        how = "more than their joint effect: they overlap"
    else:
        how = "less than their joint effect: they compound"
    term_all = common.band(change(SLOW, "term36_h"))[0]
    term_fx = {label: common.band(change(label, "term36_h"))[0] for label in FRICTIONS}
    order = sorted(term_fx, key=lambda k: -term_fx[k])
    answer = (
        f"All frictions of `slow-buildout` together raise the spot price from {FROM} on by "
        f"{sm:+.0f}% (90% band {sl:+.0f} to {sh:+.0f}) and leave "
        f"{common.band(res.values(SLOW, 'online_end_m'))[0]:.1f}M instead of "
        f"{common.band(res.values(DEFAULT, 'online_end_m'))[0]:.1f}M H100e online at the end. "
        f"One at a time, {top} moves spot most ({effects[top]:+.0f}%) and {low} least "
        f"({effects[low]:+.0f}%), adding up to {total:+.0f}% ({how}), while 36-month term "
        f"prices rise {term_all:+.0f}% and labs' unmet demand "
        f"{common.band(res.paired(SLOW, DEFAULT, 'unmet_pct'))[0]:+.0f} points: friction shows "
        f"up in rationing and term prices more than in spot, where {order[0]} "
        f"({term_fx[order[0]]:+.0f}%) and {order[1]} ({term_fx[order[1]]:+.0f}%) matter most "
        f"and {order[-1]} least ({term_fx[order[-1]]:+.0f}%).")
    mechanism = (
        "Frictions delay or cancel sites in the pipeline (permits, opposition, construction, "
        "power headroom, GPU supply). Fewer H100e online means sellers run fuller: their asks "
        "carry a scarcity markup that rises with utilization and backlog, and labs' demand "
        "curves ration the shortfall, training first. Permits and construction delays push "
        "every new site back months, which is what binds; power headroom rarely binds at the "
        "build rates sellers choose here, so halving it moves little. Sellers build from "
        "expected profit, so higher prices call forth more building, which caps the rise.")
    sens = common.sensitivity([c for c in configs() if c[0] in (DEFAULT, SLOW)], opts, measure,
                              headline, common.GROWTH_RANGE + common.SCARCITY_RANGE)
    sensitivity = f"Default: {headline(res)}; {sens}."
    caveats = [
        "Frictions are at the slow end of the published ranges (cal:sup.grid, cal:sup.build, "
        "cal:sup.opposition, cal:hw.lead); the one-at-a-time worlds take exactly one group of "
        "fields from `slow-buildout`.",
        "Sellers do not anticipate friction: their investment rule looks at today's prices and "
        "utilization, so slow permits delay supply without making anyone build earlier.",
        "Opposition cancels a site during permitting with a fixed probability per site; there "
        "is no learning or relocation to friendlier regions.",
        "The GPU cap binds on every site coming online, including the pipeline already under "
        "construction at the start.",
    ]
    if opts.quick:
        caveats.insert(0, "QUICK MODE: 3 seeds; a smoke test, not a finding.")
    fig = plot(res, opts)
    common.write_report(
        opts, res, title="Q5 Build-out friction: permits, power, opposition and prices",
        question="How do permitting delays, power limits and local opposition move prices? "
                 "(docs/model.md section 1, question 5)",
        setup=[
            "`colossus-2026` (default) and `slow-buildout` (all frictions), plus five worlds "
            "with one friction each taken from `slow-buildout`: permit months, opposition "
            "probability, power headroom (per region), GPU supply per quarter, construction "
            "lead times (per seller).",
            f"Prices are volume-weighted clearing prices from {FROM} to the end; changes are "
            "per-seed differences against the default world.",
        ],
        numbers=numbers, answer=answer, caveats=caveats, mechanism=mechanism,
        sensitivity=sensitivity,
        tables=[("Side by side (mean and 90% band)",
                 common.markdown_table(pd.DataFrame(rows).set_index("world")))],
        figures=[(fig, "Spot price and capacity online with and without frictions, and the "
                       "price effect of each friction alone.")])
    print(f"{NAME}: spot {sm:+.1f}% with all frictions; report in {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
