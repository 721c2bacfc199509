"""Question 7, industry structure: hyperscalers, neoclouds, owners; neocloud failures.

    python experiments/q7_industry_structure.py [--quick] [--seeds N] [--out DIR]
        [--workers N | --scheduler ADDRESS]

docs/model.md section 1, question 7: hyperscalers versus neoclouds versus owners; neocloud failures
when prices fall.

Setup: the default world, and worlds where prices fall because labs' demand grows more slowly
(every lab's initial growth rate x 0.5, or x 0), each with the neoclouds' debt as calibrated and
doubled (cash unchanged). Built with ``dataclasses.replace`` on the WorldConfig; all on the same
seeds. Reported: each seller kind's share of capacity and of revenue, its revenue over cost, the
HHI of supply, and how often neoclouds default.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import KeyNumber  # noqa: E402

from market import metrics  # noqa: E402
from market.config import WorldConfig  # noqa: E402
from market.scenarios import load_scenario  # noqa: E402

NAME = "q7_industry_structure"
KINDS = ("hyperscaler", "neocloud", "owner")
DEMAND = {"calibrated demand": 1.0, "demand growth halved": 0.5, "no demand growth": 0.0}
DEBT = {"": 1.0, ", neocloud debt x2": 2.0, ", neocloud debt x3": 3.0}
BASE = "calibrated demand"


def variant(world: WorldConfig, growth: float, debt: float) -> WorldConfig:
    """Labs' growth rates scaled by ``growth``; neoclouds' debt by ``debt``."""
    labs = tuple(dataclasses.replace(lab, growth_per_month=lab.growth_per_month * growth)
                 for lab in world.labs)
    sellers = tuple(dataclasses.replace(s, debt_usd=s.debt_usd * debt) if s.kind == "neocloud"
                    else s for s in world.sellers)
    return dataclasses.replace(world, labs=labs, sellers=sellers,
                               name=f"{world.name}-growth{growth}-debt{debt}")


def measure(frames: dict[str, pd.DataFrame], label: str):
    """Shares, margins, concentration, neocloud defaults and prices of one run."""
    agents, market, events = frames["agents"], frames["market"], frames["events"]
    sellers = agents[agents["kind"].isin(KINDS)]
    last = sellers[sellers["month"] == sellers["month"].max()]
    cap_end = last.groupby("kind")["capacity_owned_h100e"].sum()
    revenue = sellers.groupby("kind")["revenue_usd"].sum()
    cost = sellers.groupby("kind")["cost_usd"].sum()
    scalars: dict[str, float] = {}
    for kind in KINDS:
        scalars[f"cap_share_{kind}"] = 100 * float(cap_end.get(kind, 0.0) / cap_end.sum())
        scalars[f"rev_share_{kind}"] = 100 * float(revenue.get(kind, 0.0) / revenue.sum())
        scalars[f"margin_{kind}"] = float(revenue.get(kind, 0.0) / cost.get(kind, np.nan))
    defaults = events[(events["event"] == "seller_default")]
    neo = defaults[defaults["agent"].str.startswith("neocloud")]
    scalars["neocloud_defaults"] = float(len(neo))
    scalars["any_neocloud_default"] = float(len(neo) > 0)
    scalars["first_default_year"] = (float(neo["month"].min().year + (neo["month"].min().month - 1)
                                           / 12) if len(neo) else np.nan)
    scalars["hhi_supply"] = metrics.hhi_supply(agents)
    scalars["spot_h"] = common.per_hour(common.vwap(market, "spot"))
    spot = common.market_series(market, "spot", "index_usd_per_h100e_month")
    scalars["spot_last_year_h"] = common.per_hour(float(spot.iloc[-12:].mean()))
    by_kind = sellers.groupby(["month", "kind"])["capacity_owned_h100e"].sum().unstack("kind")
    share = by_kind.div(by_kind.sum(axis=1), axis=0) * 100
    series = {f"share_{kind}": share[kind] for kind in KINDS if kind in share}
    series["spot_index_h"] = spot / common.HOURS_PER_MONTH
    return scalars, series


def failure_sentence(base: float, bust: float, levered: float, both: float) -> str:
    """How to read the default probabilities (% of runs), chosen by their pattern; differences
    under 15 points (3 runs of 20) are read as noise."""
    if bust >= base + 15 or both >= levered + 15:
        return ("falling prices do cause failures in the model, most of all for leveraged "
                "neoclouds.")
    if levered >= base + 15:
        return ("failures come from debt taken on to build in the boom, not from falling "
                "prices; slower demand means fewer debt-financed builds, and take-or-pay "
                "backlogs signed at 2026-27 prices carry existing capacity through the fall.")
    return ("neoclouds rarely fail within the run in any of these worlds, because take-or-pay "
            "backlogs signed at 2026-27 prices carry them through the fall; leverage, not the "
            "price level, is what the few failures have in common." if levered + both > base + bust
            else
            "neoclouds rarely fail within the run in any of these worlds, because take-or-pay "
            "backlogs signed at 2026-27 prices carry them through the fall.")


def configs() -> list[tuple[str, WorldConfig]]:
    base = load_scenario("colossus-2026")
    return [(f"{d}{k}", variant(base, g, x)) for d, g in DEMAND.items() for k, x in DEBT.items()]


def monotone(p: dict[str, float]) -> bool:
    """Default rates never fall with more debt (same demand) or with less demand growth (same
    debt)."""
    debt, demand = list(DEBT), list(DEMAND)
    more_debt = all(p[f"{d}{a}"] <= p[f"{d}{b}"]
                    for d in demand for a, b in zip(debt, debt[1:], strict=False))
    less_growth = all(p[f"{a}{k}"] <= p[f"{b}{k}"]
                      for k in debt for a, b in zip(demand, demand[1:], strict=False))
    return more_debt and less_growth


def headline(res: common.Results) -> str:
    """Neocloud default rates at 3x debt, calibrated and without demand growth."""
    def p(label: str) -> float:
        return 100 * common.band(res.values(label, "any_neocloud_default"))[0]
    return (f"defaults at 3x debt {p(BASE + ', neocloud debt x3'):.0f}% calibrated, "
            f"{p('no demand growth, neocloud debt x3'):.0f}% without demand growth")


def plot(res: common.Results, opts: common.Options) -> str:
    fig, axes = common.figure(ncols=3, width=4.9, height=4.3)
    ax, ax2, ax3 = axes
    colors = {"hyperscaler": common.COLORS[0], "neocloud": common.COLORS[3],
              "owner": common.COLORS[2]}
    for kind in KINDS:
        common.plot_band(ax, res.frame(BASE, f"share_{kind}"), kind, colors[kind])
        common.plot_band(ax, res.frame("no demand growth", f"share_{kind}"),
                         f"{kind}, no demand growth", colors[kind], linestyle=":")
    common.date_axis(ax)
    ax.set_xlabel("month")
    ax.set_ylabel("share of capacity online, %")
    ax.set_title("Who owns the capacity")
    ax.legend(loc="center left", fontsize=7.5)
    common.bar_band(ax2, list(KINDS), [res.values(BASE, f"margin_{k}") for k in KINDS],
                    colors=[colors[k] for k in KINDS])
    ax2.axvline(1.0, color="gray", linestyle="--", linewidth=1)
    ax2.set_xlabel("revenue / cost (capital annuity + opex) over the run, x")
    ax2.set_title("Who earns its cost (calibrated demand)")
    labels = [label for label, _ in configs()]
    probs = [100 * res.values(label, "any_neocloud_default") for label in labels]
    spots = [common.band(res.values(label, "spot_h"))[0] for label in labels]
    pos = np.arange(len(labels))
    ax3.barh(pos, [np.mean(p) for p in probs],
             color=[common.COLORS[3] if "x2" in lab else common.COLORS[7] for lab in labels])
    for i, (pr, sp) in enumerate(zip(probs, spots, strict=True)):
        ax3.text(float(np.mean(pr)) + 1, i, f" {np.mean(pr):.0f}% (spot ${sp:.2f}/h)",
                 va="center", fontsize=8)
    ax3.set_yticks(pos, [lab.replace(", ", ",\n") for lab in labels], fontsize=8)
    ax3.invert_yaxis()
    ax3.set_xlim(0, 105)
    ax3.set_xlabel("runs with at least one neocloud default, %")
    ax3.set_title("Neocloud failures when prices fall")
    return common.save(fig, opts, "industry_structure.png",
                       note=f"Lines/bars: mean of {opts.seeds} seeds; shading/whiskers: 90% band "
                            "(5th-95th percentile); right: share of seeds, average spot price "
                            "over the run.")


def main(argv: list[str] | None = None) -> int:
    opts = common.parse_args(NAME, __doc__, argv)
    res = common.run_configs(configs(), opts, measure)
    bust, bust2 = "no demand growth", "no demand growth, neocloud debt x2"
    base2 = "calibrated demand, neocloud debt x2"
    numbers = [
        KeyNumber("cap_share_hyperscaler", res.values(BASE, "cap_share_hyperscaler"), "%",
                  (20, 95), "hyperscalers' share of capacity at the end", digits=1),
        KeyNumber("cap_share_neocloud", res.values(BASE, "cap_share_neocloud"), "%", (1, 60),
                  "neoclouds' share of capacity at the end", digits=1),
        KeyNumber("cap_share_owner", res.values(BASE, "cap_share_owner"), "%", (1, 60),
                  "the owner's share of capacity at the end", digits=1),
        KeyNumber("margin_hyperscaler", res.values(BASE, "margin_hyperscaler"), "x", (0.1, 10),
                  "hyperscalers' revenue / cost"),
        KeyNumber("margin_neocloud", res.values(BASE, "margin_neocloud"), "x", (0.1, 10),
                  "neoclouds' revenue / cost"),
        KeyNumber("margin_owner", res.values(BASE, "margin_owner"), "x", (0.1, 10),
                  "the owner's revenue / cost"),
        KeyNumber("hhi_supply", res.values(BASE, "hhi_supply"), "HHI (0-10,000)", (500, 5000),
                  "concentration of capacity at the end", digits=0),
        KeyNumber("neocloud_default_prob_base", 100 * res.values(BASE, "any_neocloud_default"),
                  "% of runs", (0, 100), "runs with a neocloud default, calibrated", digits=0),
        KeyNumber("neocloud_default_prob_bust", 100 * res.values(bust, "any_neocloud_default"),
                  "% of runs", (0, 100), "the same, no demand growth", digits=0),
        KeyNumber("neocloud_default_prob_bust_levered",
                  100 * res.values(bust2, "any_neocloud_default"), "% of runs", (0, 100),
                  "the same, no demand growth and neocloud debt x2", digits=0),
        KeyNumber("neocloud_default_prob_levered", 100 * res.values(base2, "any_neocloud_default"),
                  "% of runs", (0, 100), "calibrated demand, neocloud debt x2", digits=0),
        KeyNumber("neocloud_default_prob_levered_3",
                  100 * res.values(BASE + ", neocloud debt x3", "any_neocloud_default"),
                  "% of runs", (0, 100), "calibrated demand, neocloud debt x3", digits=0),
        KeyNumber("neocloud_default_prob_bust_levered_3",
                  100 * res.values(bust + ", neocloud debt x3", "any_neocloud_default"),
                  "% of runs", (0, 100), "no demand growth, neocloud debt x3", digits=0),
        KeyNumber("spot_base", res.values(BASE, "spot_h"), "$ per H100e-hour", (0.5, 10),
                  "spot price over the run, calibrated demand"),
        KeyNumber("spot_bust", res.values(bust, "spot_h"), "$ per H100e-hour", (0.05, 10),
                  "spot price over the run, no demand growth"),
        KeyNumber("margin_neocloud_bust", res.values(bust, "margin_neocloud"), "x", (0.05, 10),
                  "neoclouds' revenue / cost, no demand growth"),
    ]
    rows = []
    for label, _ in configs():
        rows.append({"world": label,
                     "spot $/h": common.mean_band_cell(res.values(label, "spot_h"), 2),
                     "spot $/h last 12 months": common.mean_band_cell(
                         res.values(label, "spot_last_year_h"), 2),
                     "neocloud default, % of runs": common.fmt(
                         100 * float(np.mean(res.values(label, "any_neocloud_default"))), 0),
                     "defaults per run": common.mean_band_cell(
                         res.values(label, "neocloud_defaults"), 2),
                     "neocloud rev/cost": common.mean_band_cell(
                         res.values(label, "margin_neocloud"), 2),
                     "neocloud capacity share %": common.mean_band_cell(
                         res.values(label, "cap_share_neocloud"), 1)})
    structure = []
    for kind in KINDS:
        structure.append({"kind": kind,
                          "capacity share at end %": common.mean_band_cell(
                              res.values(BASE, f"cap_share_{kind}"), 1),
                          "revenue share %": common.mean_band_cell(
                              res.values(BASE, f"rev_share_{kind}"), 1),
                          "revenue / cost": common.mean_band_cell(
                              res.values(BASE, f"margin_{kind}"), 2)})
    p = {label: 100 * float(np.mean(res.values(label, "any_neocloud_default")))
         for label, _ in configs()}
    hs = common.band(res.values(BASE, "cap_share_hyperscaler"))[0]
    ns = common.band(res.values(BASE, "cap_share_neocloud"))[0]
    os_ = common.band(res.values(BASE, "cap_share_owner"))[0]
    margins = {k: common.band(res.values(BASE, f"margin_{k}"))[0] for k in KINDS}
    best = max(margins, key=lambda k: margins[k])
    who = "the owner earns" if best == "owner" else f"{best}s earn"
    answer = (
        f"Hyperscalers own {hs:.0f}% of the capacity at the end, neoclouds {ns:.0f}% and the "
        f"owner {os_:.0f}%, and {who} the most over cost "
        f"({', '.join(f'{k} {v:.2f}x' for k, v in margins.items())}). "
        f"A neocloud defaults in {p[BASE]:.0f}% of runs as calibrated, {p[bust]:.0f}% with no "
        f"demand growth (spot ${common.band(res.values(bust, 'spot_h'))[0]:.2f} instead of "
        f"${common.band(res.values(BASE, 'spot_h'))[0]:.2f} per H100e-hour), {p[base2]:.0f}% "
        f"with doubled debt alone and {p[bust2]:.0f}% with both (one run of {opts.seeds} is "
        f"{100 / opts.seeds:.0f} points): "
        + failure_sentence(p[BASE], p[bust], p[base2], p[bust2])
        + f" At 3x debt they default in {p[BASE + ', neocloud debt x3']:.0f}% of runs as "
        f"calibrated and {p[bust + ', neocloud debt x3']:.0f}% with no demand growth"
        + (": failures rise with leverage and with falling prices, monotonically on this grid."
           if monotone(p) else ": not monotone on this grid, so no simple story holds."))
    mechanism = (
        "Neoclouds build on debt against their contracted backlog and pay it down monthly; "
        "their contracts are take-or-pay, so revenue holds while the backlog runs even if "
        "spot falls. A neocloud defaults after three months of negative cash, which needs "
        "debt service above what its backlog and spot sales bring: at the calibrated debt "
        "the 2026-27 backlog covers it in every world here; only at several times the debt "
        "does service outrun revenue, sooner when demand stops growing and spot falls. "
        "Hyperscalers hold most capacity because they start with it and build from cash "
        "within capex budgets; the owner earns most over cost through the lease's price.")
    sens = common.sensitivity([c for c in configs() if c[0].endswith("x3")], opts, measure,
                              headline, (("neocloud interest +30%", common.scaled_sellers(
                                  "neocloud", "interest_per_year", 1.3)),
                                  *common.SCARCITY_RANGE))
    sensitivity = f"Default: {headline(res)}; {sens}."
    caveats = [
        "Default probabilities are shares of seeds; with 20 seeds one run is 5 points, so "
        "differences of 5 to 10 points are within noise, and the 5th-95th percentile of a 0/1 "
        "outcome is not an informative band.",
        "Capacity shares cover the rentable pools in this world (hyperscalers' pools net of a "
        "large own need), not the whole industry (cal:sup.ownership).",
        "Cost is the model's levelized cost (capital annuity at 10% over 5 years plus opex); "
        "neocloud cash flows also pay debt service, which is what makes them default.",
        "Prices fall here because demand grows more slowly, not through a sudden shock; a "
        "neocloud whose term contracts roll off into a glut is the exposed case, and 48 months "
        "ends before most 36-month backlogs signed in 2027-28 roll off.",
        "A defaulted neocloud's sites go to the richest other seller at half of book value (or "
        "offline), so failures shift capacity to hyperscalers rather than removing it.",
    ]
    if opts.quick:
        caveats.insert(0, "QUICK MODE: 3 seeds; a smoke test, not a finding.")
    fig = plot(res, opts)
    common.write_report(
        opts, res, title="Q7 Industry structure: hyperscalers, neoclouds, owners",
        question="Hyperscalers versus neoclouds versus owners; neocloud failures when prices "
                 "fall. (docs/model.md section 1, question 7)",
        setup=[
            "`colossus-2026`, and variants with every lab's initial demand growth x 0.5 or x 0 "
            "(prices fall), each with neocloud debt as calibrated or doubled.",
            "Capacity share: capacity online by seller kind in the last month; revenue / cost: "
            "over the run; a default is a seller_default event of a neocloud.",
        ],
        numbers=numbers, answer=answer, caveats=caveats, mechanism=mechanism,
        sensitivity=sensitivity,
        tables=[("Structure, calibrated demand (mean and 90% band)",
                 common.markdown_table(pd.DataFrame(structure).set_index("kind"))),
                ("Neocloud failures when prices fall",
                 common.markdown_table(pd.DataFrame(rows).set_index("world")))],
        figures=[(fig, "Capacity shares by seller kind, revenue over cost by kind, and how "
                       "often a neocloud defaults as prices fall and leverage rises.")])
    print(f"{NAME}: neocloud default {p[BASE]:.0f}% -> {p[bust2]:.0f}% of runs; report in "
          f"{opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
