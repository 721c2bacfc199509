"""Question 3, dual monetization: does leasing the surplus recover the owner's capex?

    python experiments/q3_dual_monetization.py [--quick] [--seeds N] [--out DIR]
        [--workers N | --scheduler ADDRESS]

docs/model.md section 1, question 3: does an owner that overbuilt for its own models recover
its capex by leasing the surplus, and what does the recall right cost the tenant?

Setup: the owner (``colossus_owner``) in four worlds on the same seeds: ``colossus-2026`` (the
lease preloaded at $1.25B a month), ``no-deal`` (it leases its surplus at market prices),
``colossus-2026`` with ``terms.colossus_lease.recall=false`` (its leases carry no recall right)
and ``recall-shock`` (it recalls the whole lease book in 2027-02). Capex recovery: the owner's
revenue from leases and spot over the levelized cost (capital annuity at 10% over 5 years plus
power and operations) of the capacity it did not use itself. Cost of the recall right to the
tenant: the tenant's net surplus (value of served compute less what it paid) without the right
less with it, per seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import KeyNumber  # noqa: E402

from market.scenarios import load_scenario  # noqa: E402

NAME = "q3_dual_monetization"
OWNER = "colossus_owner"
TENANT = "frontier_a"
DEAL = "lease preloaded (colossus-2026)"
MARKET = "market leases only (no-deal)"
NO_RECALL = "lease without recall right"
SHOCK = "lease recalled in 2027-02 (recall-shock)"


def measure(frames: dict[str, pd.DataFrame], label: str):
    """Owner: revenue, cost, cost of the capacity it did not use itself; tenant: value, spend."""
    agents = frames["agents"]
    owner = agents[agents["agent"] == OWNER].set_index("month")
    tenant = agents[agents["agent"] == TENANT].set_index("month")
    own_used = (owner["demand_h100e"] - owner["unmet_h100e"]).clip(lower=0)
    cap = owner["capacity_owned_h100e"]
    surplus_share = (1.0 - own_used / cap.where(cap > 0)).fillna(0.0).clip(0, 1)
    surplus_cost = owner["cost_usd"] * surplus_share
    sold = (owner["contracted_h100e"] + owner["spot_h100e"]) / cap.where(cap > 0)
    scalars = {
        "owner_revenue_busd": owner["revenue_usd"].sum() / 1e9,
        "owner_cost_busd": owner["cost_usd"].sum() / 1e9,
        "owner_surplus_cost_busd": surplus_cost.sum() / 1e9,
        "owner_own_unmet_pct": 100 * owner["unmet_h100e"].sum()
        / max(owner["demand_h100e"].sum(), 1e-9),
        "owner_sold_share_pct": 100 * float(sold.mean()),
        "owner_surplus_share_pct": 100 * float(surplus_share.mean()),
        "owner_cash_change_busd": (owner["cash_usd"].iloc[-1] - owner["cash_usd"].iloc[0]) / 1e9,
        "tenant_value_busd": tenant["value_usd"].sum() / 1e9,
        "tenant_spend_busd": tenant["cost_usd"].sum() / 1e9,
        "tenant_revenue_busd": tenant["revenue_usd"].sum() / 1e9,
    }
    scalars["owner_recovery"] = (scalars["owner_revenue_busd"]
                                 / scalars["owner_surplus_cost_busd"]
                                 if scalars["owner_surplus_cost_busd"] > 0 else np.nan)
    scalars["owner_revenue_over_cost"] = (scalars["owner_revenue_busd"]
                                          / scalars["owner_cost_busd"])
    scalars["tenant_net_busd"] = scalars["tenant_value_busd"] - scalars["tenant_spend_busd"]
    compensation = frames["contracts"]
    scalars["tenant_compensation_busd"] = float(
        compensation.loc[compensation["buyer"] == TENANT, "compensation_usd"].sum() / 1e9)
    series = {"owner_revenue": owner["revenue_usd"] / 1e9,
              "owner_surplus_cost": surplus_cost / 1e9}
    return scalars, series


def cost_phrase(stats: tuple[float, float, float], where: str) -> str:
    """Words for a cost in $B with its band; a negative cost is a gain."""
    mean, lo, hi = stats
    if mean >= 0:
        return (f"costs the tenant ${mean:.1f}B of net surplus {where} (90% band {lo:+.1f} to "
                f"{hi:+.1f})")
    return (f"leaves the tenant ${-mean:.1f}B better off {where} (90% band of the gain "
            f"{-hi:+.1f} to {-lo:+.1f})")


def configs() -> list[tuple[str, object]]:
    return [(DEAL, load_scenario("colossus-2026")),
            (MARKET, load_scenario("no-deal")),
            (NO_RECALL, load_scenario("colossus-2026",
                                      overrides=["terms.colossus_lease.recall=false"])),
            (SHOCK, load_scenario("recall-shock"))]


def headline(res: common.Results) -> str:
    """Owner's recovery with the deal and at market prices, and the tenant's cost of the recall
    right in the baseline, for the sensitivity line."""
    cost = common.band(res.paired(NO_RECALL, DEAL, "tenant_net_busd"))[0]
    return (f"{common.band(res.values(DEAL, 'owner_recovery'))[0]:.2f}x with the deal, "
            f"{common.band(res.values(MARKET, 'owner_recovery'))[0]:.2f}x at market prices, "
            f"recall right costs the tenant ${cost:+.1f}B")


def plot(res: common.Results, opts: common.Options, cost_exp, cost_worst) -> str:
    fig, (ax, ax2) = common.figure(ncols=2, width=6.0)
    for label, color in ((DEAL, common.COLORS[0]), (MARKET, common.COLORS[2])):
        common.plot_band(ax, res.frame(label, "owner_revenue").cumsum(),
                         f"lease + spot revenue, {label}", color)
        common.plot_band(ax, res.frame(label, "owner_surplus_cost").cumsum(),
                         f"cost of its surplus capacity, {label}", color, linestyle="--")
    common.date_axis(ax)
    ax.set_xlabel("month")
    ax.set_ylabel("cumulative $B")
    ax.set_title("Owner: does leasing the surplus pay for it?")
    ax.legend(loc="upper left", fontsize=8)

    labels = ["expected cost of the recall\nright (baseline world)",
              "cost when the owner recalls\nthe whole book (recall-shock)",
              "compensation received\n(recall-shock)"]
    values = [cost_exp, cost_worst, res.values(SHOCK, "tenant_compensation_busd")]
    common.bar_band(ax2, labels, values, colors=[common.COLORS[3], common.COLORS[1],
                                                  common.COLORS[7]])
    ax2.set_xlabel("$B over the run: tenant's net surplus without the right - with it")
    ax2.set_title("Tenant: what the recall right costs")
    return common.save(fig, opts, "dual_monetization.png")


def main(argv: list[str] | None = None) -> int:
    opts = common.parse_args(NAME, __doc__, argv)
    res = common.run_configs(configs(), opts, measure)
    cost_exp = res.paired(NO_RECALL, DEAL, "tenant_net_busd")
    cost_worst = res.paired(NO_RECALL, SHOCK, "tenant_net_busd")
    owner_gain = res.paired(DEAL, NO_RECALL, "owner_revenue_busd")
    numbers = [
        KeyNumber("owner_recovery_deal", res.values(DEAL, "owner_recovery"), "x", (0.2, 20),
                  "owner revenue / levelized cost of its surplus capacity, lease preloaded"),
        KeyNumber("owner_recovery_market", res.values(MARKET, "owner_recovery"), "x", (0.2, 20),
                  "the same, leasing at market prices (no-deal)"),
        KeyNumber("owner_revenue_over_total_cost_deal",
                  res.values(DEAL, "owner_revenue_over_cost"), "x", (0.1, 20),
                  "owner revenue / cost of all its capacity, lease preloaded"),
        KeyNumber("owner_revenue_deal", res.values(DEAL, "owner_revenue_busd"), "$B", (1, 500),
                  "owner revenue from leases and spot, lease preloaded", digits=1),
        KeyNumber("owner_surplus_cost_deal", res.values(DEAL, "owner_surplus_cost_busd"), "$B",
                  (0.5, 500), "levelized cost of the capacity it did not use itself", digits=1),
        KeyNumber("owner_surplus_share_deal", res.values(DEAL, "owner_surplus_share_pct"),
                  "% of capacity", (0, 100), "average share of its capacity not used by its own "
                  "models", digits=0),
        KeyNumber("owner_own_unmet_no_recall", res.values(NO_RECALL, "owner_own_unmet_pct"),
                  "% of own need", (0, 100), "owner's own need left unmet without the recall "
                  "right", digits=1),
        KeyNumber("owner_own_unmet_deal", res.values(DEAL, "owner_own_unmet_pct"),
                  "% of own need", (0, 100), "owner's own need left unmet with it", digits=1),
        KeyNumber("recall_right_cost_expected", cost_exp, "$B", (-20, 50),
                  "tenant's cost of the recall right, baseline world (net surplus without "
                  "minus with)"),
        KeyNumber("recall_right_cost_worst", cost_worst, "$B", (-20, 80),
                  "tenant's cost when the whole book is recalled in 2027-02"),
        KeyNumber("recall_compensation_worst", res.values(SHOCK, "tenant_compensation_busd"),
                  "$B", (0, 20), "recall compensation the tenant receives then"),
        KeyNumber("recall_right_owner_revenue", owner_gain, "$B", (-50, 50),
                  "owner's revenue with the right minus without"),
    ]
    dm, dl, dh = common.band(res.values(DEAL, "owner_recovery"))
    mm, ml, mh = common.band(res.values(MARKET, "owner_recovery"))
    ce, cw = common.band(cost_exp), common.band(cost_worst)
    tenant_spend = common.band(res.values(DEAL, "tenant_spend_busd"))[0]
    if ml >= 1:
        verdict = "Yes in the model, with or without the deal"
    elif dl >= 1:
        verdict = "Only with the deal's price"
    else:
        verdict = "Not reliably in the model"
    answer = (
        f"{verdict}: leasing the surplus brings the owner {dm:.2f}x the levelized cost "
        f"(capital and operations) of the capacity its own models do not use with the lease at "
        f"$1.25B a month (90% band {dl:.2f} to {dh:.2f}), and {mm:.2f}x ({ml:.2f} to {mh:.2f}) "
        f"when it leases at market prices instead. "
        f"The recall right {cost_phrase(ce, 'in the baseline world')} and "
        f"{cost_phrase(cw, 'when the owner recalls the whole book')}, net of the "
        f"${common.band(res.values(SHOCK, 'tenant_compensation_busd'))[0]:.1f}B compensation "
        f"(its compute spend is ${tenant_spend:.0f}B): a recall also ends lease payments above "
        f"the market price.")
    caveats = [
        "Capex recovery is on a levelized basis (the model charges each online site a capital "
        "annuity at 10% a year over 5 years plus power and operations each month); over a "
        "48-month run that covers 4 of the 5 years of an annuity, not a full payback.",
        "The cost of the surplus is each month's site cost times the share of capacity the "
        "owner's own models did not use; the owner's own models earn nothing in the model, so "
        "the value of the capacity it keeps is not counted.",
        "Without the recall right the owner's own need goes partly unmet (see "
        "`owner_own_unmet_no_recall`); the model does not price what that costs the owner's "
        "own products, so the right's value to the owner is understated.",
        "The baseline world already has recalls: the owner's own need grows 6% a month with "
        "8% volatility and it recalls in the order its contracts give (soonest end first, then "
        "newest), which reaches the Colossus lease in about half the seeds.",
    ]
    mechanism = (
        "The owner's surplus is what its own models do not use; leasing it earns the lease's "
        "fees or market prices, against the levelized cost (capital annuity plus power and "
        "operations) of that surplus. Recovery above 1x at market prices comes from scarcity: "
        "asks carry a markup over cost while sellers are busy. The recall right matters to the "
        "tenant through two opposite channels: it loses capacity it values (training first), "
        "but a recall also ends payments of $4,464 per H100e-month for capacity the market "
        "sells for about half that, plus one month of compensation. With the lease priced "
        "well above the market, the second channel wins, so the right costs the tenant "
        "nothing, or pays it, in the model.")
    sens = common.sensitivity(configs(), opts, measure, headline,
                              (("owner's own-need growth 4% a month",
                                common.scaled_sellers("owner", "own_need_growth_per_month",
                                                      4 / 6)),
                               ("8% a month", common.scaled_sellers(
                                   "owner", "own_need_growth_per_month", 8 / 6)),
                               *common.SCARCITY_RANGE))
    sensitivity = f"Default: {headline(res)}; {sens}."
    if opts.quick:
        caveats.insert(0, "QUICK MODE: 3 seeds; a smoke test, not a finding.")
    fig = plot(res, opts, cost_exp, cost_worst)
    rows = []
    for label in (DEAL, MARKET, NO_RECALL, SHOCK):
        rows.append({"world": label,
                     "owner revenue $B": common.mean_band_cell(
                         res.values(label, "owner_revenue_busd"), 1),
                     "surplus cost $B": common.mean_band_cell(
                         res.values(label, "owner_surplus_cost_busd"), 1),
                     "recovery x": common.mean_band_cell(res.values(label, "owner_recovery"), 2),
                     "own need unmet %": common.mean_band_cell(
                         res.values(label, "owner_own_unmet_pct"), 1),
                     "tenant net surplus $B": common.mean_band_cell(
                         res.values(label, "tenant_net_busd"), 1)})
    common.write_report(
        opts, res, title="Q3 Dual monetization: leasing the surplus, and the recall right",
        question="Does an owner that overbuilt for its own models recover its capex by leasing "
                 "the surplus, and what does the recall right cost the tenant? (docs/model.md "
                 "section 1, question 3)",
        setup=[
            "Owner `colossus_owner` (Colossus 1 and 2, own need 35k H100e growing ~6% a month); "
            "tenant `frontier_a`.",
            "Worlds: `colossus-2026` (lease preloaded), `no-deal` (surplus leased at market "
            "prices), `colossus-2026` with `terms.colossus_lease.recall=false`, `recall-shock`.",
            "Recovery = owner's lease and spot revenue / sum over months of (site cost x share "
            "of capacity its own models did not use).",
            "Cost of the recall right = tenant's (value of served compute - compute spend) in "
            "the no-recall world minus the same with the right, per seed.",
        ],
        numbers=numbers, answer=answer, caveats=caveats, mechanism=mechanism,
        sensitivity=sensitivity,
        tables=[("Side by side (mean and 90% band)",
                 common.markdown_table(pd.DataFrame(rows).set_index("world")))],
        figures=[(fig, "Left: the owner's cumulative revenue against the cumulative cost of "
                       "the capacity it does not use itself. Right: the recall right's cost to "
                       "the tenant.")])
    print(f"{NAME}: owner recovery {dm:.2f}x (deal), {mm:.2f}x (market); report in {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
