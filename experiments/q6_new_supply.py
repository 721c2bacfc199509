"""Question 6, new supply: what orbital compute or an owner's own chips change by 2029.

    python experiments/q6_new_supply.py [--quick] [--seeds N] [--out DIR]
        [--workers N | --scheduler ADDRESS]

docs/model.md section 1, question 6: what do orbital compute or an owner's own GPUs change by 2029,
if they arrive?

Setup (SPECULATIVE supply; sizes and dates are scenario choices, not calibrated figures): the
default world; ``orbital-2028`` with its 400 MW of orbital GB300 compute forced to arrive in
2028-01 (``arrival_probability=1``); ``orbital-2028`` as shipped (a coin flip per run); and the
owner's own chips: 300 MW of GB200-class accelerators of its own design arriving 2027-07 outside
the grid and GPU supply caps (a scheduled site added with ``dataclasses.replace``). Effects are
measured over calendar 2029 against the default world, per seed. A ``--quick`` run keeps all 48
months (the supply arrives late) and cuts only seeds.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import KeyNumber  # noqa: E402

from market.config import SiteConfig, WorldConfig  # noqa: E402
from market.hardware import generation  # noqa: E402
from market.scenarios import load_scenario  # noqa: E402

NAME = "q6_new_supply"
OWNER = "colossus_owner"
BASE = "no new supply (colossus-2026)"
ORBITAL = "orbital arrives 2028-01"
COIN = "orbital, 50% chance (orbital-2028)"
CHIPS = "owner's own chips 2027-07"
YEAR = ("2029-01", "2030-01")
CHIPS_MW = 300.0
CHIPS_GEN = "GB200"
CHIPS_ONLINE = "2027-07"
ORBITAL_MW = 400.0


def own_chips(world: WorldConfig) -> WorldConfig:
    """The owner's own accelerators as exogenous supply: a scheduled site that arrives for sure."""
    site = SiteConfig(name="own_chips_1", mw=CHIPS_MW, generation=CHIPS_GEN, region="us-south",
                      status="scheduled", online=CHIPS_ONLINE, arrival_probability=1.0)
    sellers = tuple(dataclasses.replace(s, sites=(*s.sites, site)) if s.name == OWNER else s
                    for s in world.sellers)
    return dataclasses.replace(world, sellers=sellers, name=f"{world.name}+own-chips")


def measure(frames: dict[str, pd.DataFrame], label: str):
    """Prices, unmet demand, capacity and the owner's revenue over 2029."""
    agents, market = frames["agents"], frames["market"]
    in_year = (agents["month"] >= pd.Timestamp(YEAR[0])) & (agents["month"] < pd.Timestamp(YEAR[1]))
    labs = agents[in_year & agents["kind"].isin(["frontier_lab", "small_lab"])]
    small = labs[labs["kind"] == "small_lab"]
    sellers = agents[in_year & agents["kind"].isin(["owner", "hyperscaler", "neocloud"])]
    owner = agents[in_year & (agents["agent"] == OWNER)]
    n_months = max(agents.loc[in_year, "month"].nunique(), 1)
    spot = common.market_series(market, "spot", "index_usd_per_h100e_month")
    scalars = {
        "spot_h": common.per_hour(common.vwap(market, "spot", *YEAR)),
        "term36_h": common.per_hour(common.vwap(market, "term_36m", *YEAR)),
        "unmet_pct": 100 * labs["unmet_h100e"].sum() / max(labs["demand_h100e"].sum(), 1e-9),
        "small_unmet_pct": 100 * small["unmet_h100e"].sum() / max(small["demand_h100e"].sum(),
                                                                  1e-9),
        "capacity_m": sellers["capacity_owned_h100e"].sum() / n_months / 1e6,
        "owner_capacity_m": owner["capacity_owned_h100e"].sum() / n_months / 1e6,
        "owner_revenue_busd": owner["revenue_usd"].sum() / 1e9,
    }
    series = {"spot_index_h": spot / common.HOURS_PER_MONTH}
    return scalars, series


def configs() -> list[tuple[str, WorldConfig]]:
    base = load_scenario("colossus-2026")
    return [(BASE, base),
            (ORBITAL, load_scenario("orbital-2028", overrides=[
                "sellers.colossus_owner.sites.orbital_1.arrival_probability=1"])),
            (COIN, load_scenario("orbital-2028")),
            (CHIPS, own_chips(base))]


def headline(res: common.Results) -> str:
    """The 2029 spot price with orbital supply against none, for the sensitivity line."""
    d = common.band(100 * res.paired(ORBITAL, BASE, "spot_h") / res.values(BASE, "spot_h"))
    return f"orbital moves 2029 spot {d[0]:+.0f}%"


def plot(res: common.Results, opts: common.Options) -> str:
    fig, (ax, ax2) = common.figure(ncols=2, width=6.0)
    colors = {BASE: "black", ORBITAL: common.COLORS[0], CHIPS: common.COLORS[3],
              COIN: common.COLORS[4]}
    for label in (BASE, ORBITAL, CHIPS):
        common.plot_band(ax, res.frame(label, "spot_index_h"), label, colors[label])
    for when, text in ((CHIPS_ONLINE, "own chips arrive "), ("2028-01", "orbital arrives ")):
        ax.axvline(pd.Timestamp(when), color="gray", linestyle="--", linewidth=1)
        ax.text(pd.Timestamp(when), ax.get_ylim()[1], text, fontsize=8, va="top", ha="right",
                rotation=90, color="gray")
    ax.axvspan(pd.Timestamp(YEAR[0]), pd.Timestamp("2029-12"), color="gray", alpha=0.08)
    common.date_axis(ax)
    ax.set_xlabel("month (shaded: 2029, where effects are measured)")
    ax.set_ylabel("spot price index, $ per H100e-hour")
    ax.set_title("Spot price with and without new supply")
    ax.legend(loc="lower left")
    labels, values, cols = [], [], []
    for label in (ORBITAL, COIN, CHIPS):
        labels += [f"spot price, %\n{label}", f"labs' unmet demand, pp\n{label}"]
        values += [100 * res.paired(label, BASE, "spot_h") / res.values(BASE, "spot_h"),
                   res.paired(label, BASE, "unmet_pct")]
        cols += [colors[label]] * 2
    common.bar_band(ax2, labels, values, colors=cols)
    ax2.set_xlabel("change in 2029 vs no new supply")
    ax2.set_title("What the new supply changes by 2029")
    return common.save(fig, opts, "new_supply.png")


def main(argv: list[str] | None = None) -> int:
    opts = common.parse_args(NAME, __doc__, argv)
    res = common.run_configs(configs(), opts, measure)

    def pct(label: str, metric: str = "spot_h"):
        return 100 * res.paired(label, BASE, metric) / res.values(BASE, metric)

    orbital_h100e = ORBITAL_MW * generation("GB300").h100e_per_mw
    chips_h100e = CHIPS_MW * generation(CHIPS_GEN).h100e_per_mw
    numbers = [
        KeyNumber("spot_2029_base", res.values(BASE, "spot_h"), "$ per H100e-hour", (0.3, 10),
                  "spot price in 2029, no new supply"),
        KeyNumber("spot_2029_orbital", res.values(ORBITAL, "spot_h"), "$ per H100e-hour",
                  (0.3, 10), "spot price in 2029, orbital arrives"),
        KeyNumber("spot_change_orbital_pct", pct(ORBITAL), "%", (-80, 20),
                  "spot price change in 2029, orbital arrives", digits=1),
        KeyNumber("term36_change_orbital_pct", pct(ORBITAL, "term36_h"), "%", (-80, 30),
                  "36-month term price change in 2029, orbital arrives", digits=1),
        KeyNumber("unmet_change_orbital_pp", res.paired(ORBITAL, BASE, "unmet_pct"),
                  "percentage points", (-40, 5), "labs' unmet demand change in 2029, orbital",
                  digits=1),
        KeyNumber("spot_change_coin_pct", pct(COIN), "%", (-80, 20),
                  "spot price change in 2029, orbital with a 50% chance", digits=1),
        KeyNumber("spot_change_chips_pct", pct(CHIPS), "%", (-80, 20),
                  "spot price change in 2029, owner's own chips", digits=1),
        KeyNumber("unmet_change_chips_pp", res.paired(CHIPS, BASE, "unmet_pct"),
                  "percentage points", (-40, 5), "labs' unmet demand change in 2029, own chips",
                  digits=1),
        KeyNumber("owner_revenue_change_orbital", res.paired(ORBITAL, BASE, "owner_revenue_busd"),
                  "$B in 2029", (-20, 40), "owner's lease and spot revenue change, orbital"),
        KeyNumber("capacity_change_orbital", res.paired(ORBITAL, BASE, "capacity_m"),
                  "million H100e", (-1, 2), "average capacity online in 2029, change, orbital"),
    ]
    rows = []
    for label in (BASE, ORBITAL, COIN, CHIPS):
        rows.append({"world": label,
                     "spot 2029 $/h": common.mean_band_cell(res.values(label, "spot_h"), 2),
                     "36m term 2029 $/h": common.mean_band_cell(res.values(label, "term36_h"), 2),
                     "labs' unmet 2029 %": common.mean_band_cell(res.values(label, "unmet_pct"), 1),
                     "small labs' unmet 2029 %": common.mean_band_cell(
                         res.values(label, "small_unmet_pct"), 1),
                     "capacity 2029, M H100e": common.mean_band_cell(
                         res.values(label, "capacity_m"), 2),
                     "owner revenue 2029 $B": common.mean_band_cell(
                         res.values(label, "owner_revenue_busd"), 1)})
    om, ol, oh = common.band(pct(ORBITAL))
    cm, cl, ch = common.band(pct(CHIPS))
    km, kl, kh = common.band(pct(COIN))
    cap0 = common.band(res.values(BASE, "capacity_m"))[0]
    cap_pct = 100 * common.band(res.paired(ORBITAL, BASE, "capacity_m"))[0] / cap0
    small0 = common.band(res.values(BASE, "small_unmet_pct"))[0]
    small1 = common.band(res.values(ORBITAL, "small_unmet_pct"))[0]
    answer = (
        f"If the 400 MW of orbital GB300 compute arrives in 2028 ({orbital_h100e / 1e3:,.0f}k "
        f"H100e), the 2029 spot price moves {om:+.0f}% (90% band {ol:+.0f} to {oh:+.0f}) and "
        f"labs' unmet demand {common.band(res.paired(ORBITAL, BASE, 'unmet_pct'))[0]:+.1f} "
        f"points; the owner's own chips ({chips_h100e / 1e3:,.0f}k H100e from 2027-07) move it "
        f"{cm:+.0f}% ({cl:+.0f} to {ch:+.0f}). "
        f"As a coin flip the orbital supply moves the 2029 price {km:+.0f}% on average "
        f"({kl:+.0f}% to {kh:+.0f}%); new supply adding about {cap_pct:.0f}% to the "
        f"{cap0:.1f}M H100e online in 2029 moves prices {abs(om) / max(cap_pct, 1e-9):.1f} times "
        f"as much in percent, and it mostly serves demand that went unmet before (small labs' "
        f"unmet share in 2029 {small0:.0f}% -> {small1:.0f}% with orbital).")
    mechanism = (
        "New supply adds sellers' capacity outside the grid and GPU caps. The owner offers it "
        "at cost plus its markup; with more capacity idle, sellers' utilization and backlog "
        "fall and so do their scarcity markups, so spot falls. Labs then buy further down "
        "their demand curves: the added capacity mostly serves training that went unmet, "
        "which is why unmet demand falls more than price. Sellers also build a little less "
        "when expected prices fall, which offsets part of the supply.")
    sens = common.sensitivity([c for c in configs() if c[0] in (BASE, ORBITAL)], opts,
                              measure, headline, common.GROWTH_RANGE + common.SCARCITY_RANGE)
    sensitivity = f"Default: {headline(res)}; {sens}."
    caveats = [
        "SPECULATIVE: no orbital data center exists and docs/calibration.md has no row for one; "
        "the owner's own chips are likewise a scenario choice (300 MW, GB200-class, 2027-07). "
        "Both arrive outside the grid and GPU supply caps.",
        "The orbital site is modelled as an ordinary GB300 site with ordinary costs; launch, "
        "latency, radiation and maintenance are not modelled.",
        "The new supply belongs to the owner, which serves its own need first and leases the "
        "rest; other sellers do not anticipate it and keep building.",
        "The 50% world draws arrival once per run from the seed, so its band mixes runs with "
        "and without the supply.",
    ]
    if opts.quick:
        caveats.insert(0, "QUICK MODE: 3 seeds; a smoke test, not a finding.")
    fig = plot(res, opts)
    common.write_report(
        opts, res, title="Q6 New supply: orbital compute and an owner's own chips",
        question="What do orbital compute or an owner's own GPUs change by 2029, if they "
                 "arrive? (docs/model.md section 1, question 6)",
        setup=[
            "`colossus-2026` (no new supply); `orbital-2028` with "
            "`sellers.colossus_owner.sites.orbital_1.arrival_probability=1` (400 MW GB300 from "
            "2028-01); `orbital-2028` as shipped (arrival probability 0.5); the default world "
            f"plus a scheduled site of the owner's own chips ({CHIPS_MW:.0f} MW {CHIPS_GEN}-"
            f"class from {CHIPS_ONLINE}, arrival probability 1).",
            "Effects over calendar 2029, per-seed differences against the default world.",
        ],
        numbers=numbers, answer=answer, caveats=caveats, mechanism=mechanism,
        sensitivity=sensitivity,
        tables=[("Side by side (mean and 90% band)",
                 common.markdown_table(pd.DataFrame(rows).set_index("world")))],
        figures=[(fig, "Spot price with and without the new supply, and the 2029 changes in "
                       "price and unmet demand.")])
    print(f"{NAME}: orbital {om:+.1f}%, own chips {cm:+.1f}% spot in 2029; report in {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
