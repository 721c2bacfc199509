"""Question 4, barriers to entry: what a large locked block does to small labs.

    python experiments/q4_barriers_to_entry.py [--quick] [--seeds N] [--out DIR]
        [--workers N | --scheduler ADDRESS]

docs/model.md section 1, question 4: when a frontier lab locks a large block, what happens to the
prices and fill rates of small labs?

Setup: the same world with no locked block (``no-deal``), a half-size block (140,000 H100e on
150 MW at $625M a month, same price per H100e as the deal) and the Colossus lease (280,000 H100e
on 300 MW at $1.25B a month, ``colossus-2026``), all on the same seeds. Small labs' price is what
they paid per H100e-hour they used (term and spot); fill rate is served over demanded
H100e-months. Effects are per-seed differences against the no-block world.
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
from market.scenarios import load_scenario  # noqa: E402

TRAINING_SHARE = {lab.name: lab.training_share for lab in load_scenario("colossus-2026").labs}
"""Each lab's training need per H100e of inference need (the same in every configuration)."""

NAME = "q4_barriers_to_entry"
NONE = "no block (no-deal)"
HALF = "140k H100e block"
FULL = "280k H100e block (colossus-2026)"
BLOCKS = {NONE: 0.0, HALF: 140_000.0, FULL: 280_000.0}
WINDOW = ("2026-05", "2028-01")
"""From the lease's start to the end of 2027: the tight years (also inside a --quick run)."""


def lab_window(agents: pd.DataFrame, kind: str) -> tuple[float, float, float]:
    """Price paid ($/H100e-hour), fill rate (%) and unmet share (%) of a kind of lab in WINDOW."""
    labs = agents[(agents["kind"] == kind) & (agents["month"] >= pd.Timestamp(WINDOW[0]))
                  & (agents["month"] < pd.Timestamp(WINDOW[1]))]
    used, demand = labs["used_h100e"].sum(), labs["demand_h100e"].sum()
    price = labs["cost_usd"].sum() / used / common.HOURS_PER_MONTH if used > 0 else np.nan
    return (price, 100 * used / demand if demand > 0 else np.nan,
            100 * labs["unmet_h100e"].sum() / demand if demand > 0 else np.nan)


def measure(frames: dict[str, pd.DataFrame], label: str):
    """Small and frontier labs' price, fill and unmet share; spot price; monthly series."""
    agents, market = frames["agents"], frames["market"]
    small = lab_window(agents, "small_lab")
    other = agents[agents["agent"] == "frontier_b"]
    scalars = {
        "small_price_h": small[0], "small_fill_pct": small[1], "small_unmet_pct": small[2],
        "small_price_run_h": metrics.unit_cost(agents, "small_lab"),
        "small_fill_run_pct": 100 * metrics.fill_rate(agents, kind="small_lab"),
        "frontier_b_fill_pct": lab_window(other, "frontier_lab")[1],
        "spot_h": common.per_hour(common.vwap(market, "spot", *WINDOW)),
        "term12_h": common.per_hour(common.vwap(market, "term_12m", *WINDOW)),
    }
    # unmet inference: labs serve inference first, so it is the shortfall below inference need
    # (demand / (1 + training share)); the rest of what they miss is training
    rows = common.between(agents[agents["kind"] == "small_lab"].set_index("month"), *WINDOW)
    inference = rows["demand_h100e"] / (1.0 + rows["agent"].map(TRAINING_SHARE).astype(float))
    missed_inference = (inference - rows["used_h100e"]).clip(lower=0.0)
    scalars["small_unmet_inference_pct"] = 100 * float(missed_inference.sum() / inference.sum())
    scalars["small_missed_training_pct"] = 100 * float(
        1.0 - missed_inference.sum() / max(rows["unmet_h100e"].sum(), 1e-9))
    sl = agents[agents["kind"] == "small_lab"].groupby("month")
    used = sl["used_h100e"].sum()
    series = {
        "small_fill": 100 * used / sl["demand_h100e"].sum(),
        "small_price": (sl["cost_usd"].sum() / used.where(used > 0)) / common.HOURS_PER_MONTH,
        "spot_index_h": common.market_series(market, "spot", "index_usd_per_h100e_month")
        / common.HOURS_PER_MONTH,
    }
    return scalars, series


def barrier_sentence(fill_pp: float, price_pct: float, spot_pct: float, fill0: float,
                     other_pp: float) -> str:
    """The second sentence of the answer, chosen by what the numbers show."""
    if fill_pp <= -1.0 or price_pct >= 3.0:
        how = ("through quantity more than price" if abs(fill_pp) >= abs(price_pct)
               else "mostly through price")
        return (f"The lock is a barrier {how}: small labs bid their own, lower values, so when "
                f"the block leaves the market they are rationed out at the margin.")
    return (f"So the lock is no measurable barrier in the model: without the deal the same "
            f"capacity goes to frontier labs on the market anyway, and with it spot is "
            f"{spot_pct:+.1f}% and the other frontier lab's fill rate {other_pp:+.1f} points, "
            f"consistent with the lease's fees absorbing the tenant's budget; small labs "
            f"are rationed (about {100 - fill0:.0f}% of their demand unserved) with or without "
            f"the block.")


def configs() -> list[tuple[str, object]]:
    full = load_scenario("colossus-2026")
    # half the block: 140k H100e on the H100 site at the same price per H100e
    lease = full.contracts[0]
    half = dataclasses.replace(lease, h100e=140_000.0, mw=lease.mw * 140_000.0 / lease.h100e,
                               usd_per_month=625e6)
    return [(NONE, load_scenario("no-deal")),
            (HALF, dataclasses.replace(full, contracts=(half,))),
            (FULL, full)]


def headline(res: common.Results) -> str:
    """Change in small labs' fill rate and price with the block, for the sensitivity line."""
    d_fill = common.band(res.paired(FULL, NONE, "small_fill_pct"))[0]
    d_price = common.band(100 * res.paired(FULL, NONE, "small_price_h")
                          / res.values(NONE, "small_price_h"))[0]
    return f"fill {d_fill:+.1f} points, price {d_price:+.1f}%"


def plot(res: common.Results, opts: common.Options) -> str:
    fig, axes = common.figure(ncols=3, width=4.9, height=4.3)
    ax, ax2, ax3 = axes
    colors = {NONE: common.COLORS[2], HALF: common.COLORS[3], FULL: common.COLORS[1]}
    for label in BLOCKS:
        common.plot_band(ax, res.frame(label, "small_fill"), label, colors[label])
        common.plot_band(ax2, res.frame(label, "small_price"), label, colors[label])
    for a in (ax, ax2):
        common.date_axis(a)
        a.set_xlabel("month")
        a.axvline(pd.Timestamp("2026-05"), color="gray", linestyle="--", linewidth=1)
    ax.set_ylabel("small labs' fill rate, % of demand served")
    ax.set_title("Small labs: fill rate")
    ax.legend(loc="upper left")
    ax2.set_ylabel("small labs' price paid, $ per H100e-hour")
    ax2.set_title("Small labs: price paid (dashed: lease start)")
    lo, hi = ax2.get_ylim()
    ax2.set_ylim(lo, hi + 0.4 * (hi - lo))
    ax2.legend(loc="upper right")
    labels, values, cols = [], [], []
    for label in (HALF, FULL):
        short = label.split(" (")[0]
        labels += [f"fill rate, pp\n{short}", f"price paid, %\n{short}"]
        values += [res.paired(label, NONE, "small_fill_pct"),
                   100 * res.paired(label, NONE, "small_price_h") / res.values(NONE,
                                                                                "small_price_h")]
        cols += [colors[label], colors[label]]
    common.bar_band(ax3, labels, values, colors=cols)
    ax3.set_xlabel(f"change vs no block, {WINDOW[0]} to 2027-12")
    ax3.set_title("Effect of the locked block on small labs")
    return common.save(fig, opts, "barriers_to_entry.png")


def main(argv: list[str] | None = None) -> int:
    opts = common.parse_args(NAME, __doc__, argv)
    res = common.run_configs(configs(), opts, measure)
    d_fill = res.paired(FULL, NONE, "small_fill_pct")
    d_price = 100 * res.paired(FULL, NONE, "small_price_h") / res.values(NONE, "small_price_h")
    d_spot = 100 * res.paired(FULL, NONE, "spot_h") / res.values(NONE, "spot_h")
    numbers = [
        KeyNumber("small_fill_no_block", res.values(NONE, "small_fill_pct"), "% of demand",
                  (10, 100), "small labs' fill rate 2026-05 to 2027-12, no block", digits=1),
        KeyNumber("small_fill_block", res.values(FULL, "small_fill_pct"), "% of demand",
                  (10, 100), "the same with the 280k H100e block locked", digits=1),
        KeyNumber("small_fill_change", d_fill, "percentage points", (-60, 10),
                  "change in small labs' fill rate (block - no block)", digits=1),
        KeyNumber("small_fill_change_half", res.paired(HALF, NONE, "small_fill_pct"),
                  "percentage points", (-60, 10), "the same for a 140k H100e block", digits=1),
        KeyNumber("small_price_no_block", res.values(NONE, "small_price_h"), "$ per H100e-hour",
                  (0.5, 10), "small labs' price paid 2026-05 to 2027-12, no block"),
        KeyNumber("small_price_block", res.values(FULL, "small_price_h"), "$ per H100e-hour",
                  (0.5, 10), "the same with the 280k H100e block locked"),
        KeyNumber("small_price_change_pct", d_price, "%", (-30, 100),
                  "change in small labs' price paid (block vs no block)", digits=1),
        KeyNumber("spot_price_change_pct", d_spot, "%", (-30, 100),
                  "change in the spot price 2026-05 to 2027-12", digits=1),
        KeyNumber("frontier_b_fill_change", res.paired(FULL, NONE, "frontier_b_fill_pct"),
                  "percentage points", (-60, 20), "change in the other frontier lab's fill rate",
                  digits=1),
    ]
    rows = []
    for label in BLOCKS:
        rows.append({"locked block": label,
                     "small labs' fill %": common.mean_band_cell(
                         res.values(label, "small_fill_pct"), 1),
                     "small labs' price $/h": common.mean_band_cell(
                         res.values(label, "small_price_h"), 2),
                     "spot $/h": common.mean_band_cell(res.values(label, "spot_h"), 2),
                     "frontier_b fill %": common.mean_band_cell(
                         res.values(label, "frontier_b_fill_pct"), 1),
                     "small labs' fill, whole run %": common.mean_band_cell(
                         res.values(label, "small_fill_run_pct"), 1)})
    fm, fl, fh = common.band(d_fill)
    pm, pl, ph = common.band(d_price)
    f0 = common.band(res.values(NONE, "small_fill_pct"))[0]
    f1 = common.band(res.values(FULL, "small_fill_pct"))[0]
    half = common.band(res.paired(HALF, NONE, "small_fill_pct"))[0]
    answer = (
        f"Locking the 280k H100e block moves small labs' fill rate from {f0:.0f}% to {f1:.0f}% "
        f"of their demand in 2026-05 to 2027-12 ({fm:+.1f} points, 90% band {fl:+.1f} to "
        f"{fh:+.1f}; a 140k block: {half:+.1f}) and their price paid by {pm:+.1f}% "
        f"({pl:+.1f} to {ph:+.1f}), with spot {common.band(d_spot)[0]:+.1f}%. "
        + barrier_sentence(fm, pm, common.band(d_spot)[0], f0,
                           common.band(res.paired(FULL, NONE, "frontier_b_fill_pct"))[0]))
    unmet_inf = common.band(res.values(NONE, "small_unmet_inference_pct"))[0]
    training = common.band(res.values(NONE, "small_missed_training_pct"))[0]
    mechanism = (
        "Small labs bid down their own demand curves: inference at revenue per H100e (with a "
        "small growth premium), then training at a value just below spot that decays with "
        "quantity. What they miss is mostly training they value below the clearing price: "
        f"without the block their unmet inference is {unmet_inf:.0f}% of their inference need "
        f"and {training:.0f}% of what they miss is training. The block's capacity, without the "
        "deal, goes to the highest bidders on the market, the frontier labs, so locking it "
        "changes little for small labs; the tenant's lease fees use up budget it would "
        "otherwise bid with. The 'rationing' is a price effect on low-value training, not a "
        "wall against entry.")
    sens = common.sensitivity(configs(), opts, measure, headline,
                              common.SCARCITY_RANGE + common.GROWTH_RANGE)
    sensitivity = f"Default: {headline(res)}; {sens}."
    numbers += [
        KeyNumber("small_unmet_inference_pct", res.values(NONE, "small_unmet_inference_pct"),
                  "% of inference need", (0, 100), "small labs' unmet inference 2026-05 to "
                  "2027-12, no block", digits=1),
        KeyNumber("small_missed_training_pct", res.values(NONE, "small_missed_training_pct"),
                  "% of unmet", (0, 100), "share of what they miss that is training", digits=0),
    ]
    caveats = [
        "Small labs here are three labs with $250M to $1.5B of cash and 3k to 12k H100e of "
        "inference need; they bid their own values (revenue per H100e x 1.2) and prefer "
        "12-month terms.",
        "The no-block world is `no-deal`: the owner's Colossus capacity then goes to whoever "
        "bids most on the market (mostly frontier labs too), so the comparison isolates the "
        "lock-up, not the frontier labs' demand.",
        "Price paid is spend over H100e used in the window, term and spot together; contracts "
        "signed before the window at other prices are included.",
        "Uniform-price clearing: small labs never pay more than the marginal price, and "
        "there is no minimum block size or credit screen that would exclude them.",
    ]
    if opts.quick:
        caveats.insert(0, "QUICK MODE: 3 seeds; a smoke test, not a finding.")
    fig = plot(res, opts)
    common.write_report(
        opts, res, title="Q4 Barriers to entry: a locked block and the small labs",
        question="When a frontier lab locks a large block, what happens to the prices and fill "
                 "rates of small labs? (docs/model.md section 1, question 4)",
        setup=[
            "Same world, three sizes of locked block: none (`no-deal`), 140k H100e on 150 MW at "
            "$625M a month (`colossus-2026` with `contracts[0].h100e=140000`, `.mw=150`, "
            "`.usd_per_month=625000000`), and the 280k H100e Colossus lease (`colossus-2026`).",
            f"Small labs' price paid and fill rate over {WINDOW[0]} to 2027-12 (the lease's "
            "first 20 months, while demand outruns supply); whole-run fill rates in the table.",
            "Effects are per-seed differences against the no-block world.",
        ],
        numbers=numbers, answer=answer, caveats=caveats, mechanism=mechanism,
        sensitivity=sensitivity,
        tables=[("Side by side (mean and 90% band)",
                 common.markdown_table(pd.DataFrame(rows).set_index("locked block")))],
        figures=[(fig, "Small labs' fill rate and price paid per month for three block sizes, "
                       "and the per-seed effect of the block.")])
    print(f"{NAME}: small labs' fill {fm:+.1f} pp, price {pm:+.1f}%; report in {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
