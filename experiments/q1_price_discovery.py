"""Question 1, price discovery: is ~$4.2M per MW-month a plausible market price for a large block?

    python experiments/q1_price_discovery.py [--quick] [--seeds N] [--out DIR]
        [--workers N | --scheduler ADDRESS]

docs/model.md section 1, question 1: is ~$1.25B a month for ~300 MW (~$4.2M per MW-month, ~$7.8 per
GPU-hour) a plausible market price for a large block of capacity when demand outruns supply?

Setup: the ``no-deal`` world (the default world without the preloaded Colossus lease) lets the
market price 36-month blocks on its own; ``colossus-2026`` (the lease preloaded) is shown beside
it. The block price is the volume-weighted clearing price of the 36-month term product, converted
to $ per MW-month with the lease's own density (280,000 H100e on 300 MW, so x 933.3), over the
tight years (2026-02 to 2027-12: the opening month, whose book starts empty, is left out) and
over the whole run; the largest single 36-month block a frontier lab signs is reported too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import KeyNumber  # noqa: E402

from market.hardware import HOURS_PER_MONTH, generation, usd_per_gpu_hour  # noqa: E402
from market.scenarios import load_scenario  # noqa: E402

NAME = "q1_price_discovery"
NO_DEAL = "no-deal"
DEAL = "colossus-2026 (lease preloaded)"
FILED = "colossus-2026-filed (lease at its filed size)"
SIZES = {"announced": "colossus-2026", "filed": "colossus-2026-filed"}
"""The lease as announced (over 220k GPUs: 280k H100e) and as filed (~325k GPUs: 470k H100e)."""
TIGHT = ("2026-02", "2028-01")
"""The tight years: demand outruns supply before the 2027-2028 build-out lands."""
DEAL_M = common.DEAL_USD_PER_MW_MONTH / 1e6


def measure(frames: dict[str, pd.DataFrame], label: str):
    """Block prices ($M per MW-month), spot prices ($/H100e-hour), the largest frontier block."""
    market, contracts = frames["market"], frames["contracts"]
    scalars = {
        "block_tight_m": common.per_mw_month_m(common.vwap(market, "term_36m", *TIGHT)),
        "block_all_m": common.per_mw_month_m(common.vwap(market, "term_36m")),
        "term12_tight_m": common.per_mw_month_m(common.vwap(market, "term_12m", *TIGHT)),
        "spot_tight_h": common.per_hour(common.vwap(market, "spot", *TIGHT)),
        "spot_all_h": common.per_hour(common.vwap(market, "spot")),
    }
    # the largest block a frontier lab signed on the market in the tight years (preloaded
    # contracts and the opening month excluded): one buyer, one seller, one month, 36 months
    c = contracts[(contracts["tenor_months"] == 36) & contracts["buyer"].str.startswith("frontier")
                  & (contracts["signed"] >= pd.Timestamp(TIGHT[0]))
                  & (contracts["signed"] < pd.Timestamp(TIGHT[1]))]
    if label != NO_DEAL:
        c = c[c["start"] > pd.Timestamp("2026-05-01")]  # the preloaded lease's pieces
    if len(c):
        c = c.assign(usd=c["h100e"] * c["usd_per_h100e_month"])
        blocks = c.groupby(["buyer", "seller", "signed"])[["h100e", "usd"]].sum()
        top = blocks.sort_values("h100e").iloc[-1]
        scalars["largest_block_h100e"] = float(top["h100e"])
        scalars["largest_block_m"] = common.per_mw_month_m(float(top["usd"] / top["h100e"]))
    else:
        scalars["largest_block_h100e"] = 0.0
        scalars["largest_block_m"] = float("nan")
    series = {
        "term36_index_m": common.market_series(market, "term_36m", "index_usd_per_h100e_month")
        * common.H100E_PER_LEASE_MW / 1e6,
        "spot_index_m": common.market_series(market, "spot", "index_usd_per_h100e_month")
        * common.H100E_PER_LEASE_MW / 1e6,
    }
    return scalars, series


def configs() -> list[tuple[str, object]]:
    return [(NO_DEAL, load_scenario("no-deal")), (DEAL, load_scenario("colossus-2026")),
            (FILED, load_scenario("colossus-2026-filed"))]


def lease_size(size: str) -> dict[str, float]:
    """The preloaded lease at one size: H100e, MW, GPUs and price per H100e-month, per
    H100e-hour and per MW-month (from the scenario's contracts, one per site)."""
    world = load_scenario(SIZES[size])
    h100e = sum(c.h100e for c in world.contracts)
    mw = sum(c.mw for c in world.contracts)
    usd = sum(c.usd_per_month for c in world.contracts)
    gens = {s.name: generation(s.generation) for seller in world.sellers for s in seller.sites}
    gpus = sum(c.h100e / gens[c.site].h100e_per_gpu for c in world.contracts)
    return {"h100e": h100e, "mw": mw, "gpus": gpus, "usd_per_h100e_month": usd / h100e,
            "usd_per_h100e_hour": usd / h100e / HOURS_PER_MONTH,
            "usd_per_gpu_hour": usd / gpus / HOURS_PER_MONTH, "usd_m_per_mw_month": usd / mw / 1e6}


def headline(res: common.Results) -> str:
    """The no-deal block price 2026-27 over the deal's, for the sensitivity line."""
    m = common.band(res.values(NO_DEAL, "block_tight_m"))[0]
    return f"{m:.2f}M per MW-month ({m / DEAL_M:.2f}x the deal)"


def plot(res: common.Results, opts: common.Options) -> str:
    fig, (ax, ax2) = common.figure(ncols=2, width=6.0)
    common.plot_band(ax, res.frame(NO_DEAL, "term36_index_m"), "36-month block, no-deal world",
                     common.COLORS[0])
    common.plot_band(ax, res.frame(NO_DEAL, "spot_index_m"), "spot, no-deal world",
                     common.COLORS[2], linestyle="--")
    common.plot_band(ax, res.frame(DEAL, "term36_index_m"), "36-month block, lease preloaded",
                     common.COLORS[3], linestyle=":")
    ax.axhline(DEAL_M, color=common.COLORS[1], linewidth=2)
    ax.axhspan(DEAL_M / 2, DEAL_M * 2, color=common.COLORS[1], alpha=0.05)
    ax.text(ax.get_xlim()[0], DEAL_M * 1.03, "  the deal: $4.17M per MW-month",
            color=common.COLORS[1], fontsize=9, va="bottom")
    ax.set_ylim(0, DEAL_M * 1.6)
    common.date_axis(ax)
    ax.set_xlabel("month")
    ax.set_ylabel("price index, $M per MW-month")
    ax.set_title("Market price of capacity vs the Colossus lease")
    ax.legend(loc="lower left")

    labels = ["block price 2026-27\n(no-deal)", "block price all run\n(no-deal)",
              "largest frontier block\n(no-deal)", "block price 2026-27\n(lease preloaded)"]
    values = [res.values(NO_DEAL, "block_tight_m"), res.values(NO_DEAL, "block_all_m"),
              res.values(NO_DEAL, "largest_block_m"), res.values(DEAL, "block_tight_m")]
    common.bar_band(ax2, labels, values, colors=[common.COLORS[0], common.COLORS[0],
                                                  common.COLORS[4], common.COLORS[3]])
    for i, v in enumerate(values):
        ax2.plot(common.finite(v), np.full(common.finite(v).size, i + 0.3), "k|",
                 markersize=6, alpha=0.7)
    ax2.axvline(DEAL_M, color=common.COLORS[1], linewidth=2, label="the deal ($4.17M)")
    ax2.axvspan(DEAL_M / 2, DEAL_M * 2, color=common.COLORS[1], alpha=0.06,
                label="within a factor of two")
    ax2.set_xlim(0, DEAL_M * 2.1)
    ax2.set_xlabel("$M per MW-month (ticks: one seed each)")
    ax2.set_title("36-month block price, mean and 90% band")
    ax2.legend(loc="lower right")
    return common.save(fig, opts, "price_discovery.png")


def main(argv: list[str] | None = None) -> int:
    opts = common.parse_args(NAME, __doc__, argv)
    res = common.run_configs(configs(), opts, measure)
    tight = res.values(NO_DEAL, "block_tight_m")
    numbers = [
        # sanity bounds, not a hypothesis: the market may price a block well below the deal,
        # which sits 2-6x above later deals per MW-month (stylized fact 1)
        KeyNumber("block_price_tight_no_deal", tight, "$M per MW-month", (DEAL_M / 8, DEAL_M * 2),
                  "36-month block price 2026-02 to 2027-12, no-deal world"),
        KeyNumber("block_price_ratio_to_deal", tight / DEAL_M, "x the deal's $4.17M",
                  (1 / 8, 2.0), "that price over the deal's"),
        KeyNumber("block_price_all_no_deal", res.values(NO_DEAL, "block_all_m"),
                  "$M per MW-month", (0.5, DEAL_M * 2), "36-month block price, whole run, "
                  "no-deal world"),
        KeyNumber("largest_block_h100e_no_deal", res.values(NO_DEAL, "largest_block_h100e"),
                  "H100e", (1e3, 2e6), "largest 36-month block one frontier lab signed with one "
                  "seller in one month of 2026-02 to 2027-12, no-deal world", digits=0),
        KeyNumber("largest_block_price_no_deal", res.values(NO_DEAL, "largest_block_m"),
                  "$M per MW-month", (0.5, DEAL_M * 2), "its price"),
        KeyNumber("term12_price_tight_no_deal", res.values(NO_DEAL, "term12_tight_m"),
                  "$M per MW-month", (0.3, DEAL_M * 2), "12-month term price 2026-02 to 2027-12, "
                  "no-deal world"),
        KeyNumber("spot_price_tight_no_deal", res.values(NO_DEAL, "spot_tight_h"),
                  "$ per H100e-hour", (1.0, 10.0), "spot price 2026-02 to 2027-12, no-deal "
                  "world"),
        KeyNumber("block_price_tight_with_deal", res.values(DEAL, "block_tight_m"),
                  "$M per MW-month", (0.5, DEAL_M * 2), "36-month block price 2026-02 to "
                  "2027-12 with the lease preloaded"),
    ]
    sizes = {size: lease_size(size) for size in SIZES}
    block_h100e_month = tight * 1e6 / common.H100E_PER_LEASE_MW  # $/H100e-month per seed
    for size, lease in sizes.items():
        numbers += [
            KeyNumber(f"lease_usd_per_h100e_hour_{size}",
                      np.full(len(tight), lease["usd_per_h100e_hour"]), "$ per H100e-hour",
                      (1.0, 10.0), f"the lease's price per H100e-hour, {size} size "
                      f"({lease['h100e'] / 1e3:,.0f}k H100e)"),
            KeyNumber(f"lease_usd_m_per_mw_month_{size}",
                      np.full(len(tight), lease["usd_m_per_mw_month"]), "$M per MW-month",
                      (0.5, 10.0), f"its price per MW-month ({lease['mw']:,.0f} MW)"),
            KeyNumber(f"lease_premium_{size}", lease["usd_per_h100e_month"] / block_h100e_month,
                      "x the no-deal block price per H100e", (0.5, 8.0),
                      f"its price per H100e over the no-deal 36-month block's, {size} size"),
        ]
    numbers.append(KeyNumber("block_price_tight_filed", res.values(FILED, "block_tight_m"),
                             "$M per MW-month", (0.5, DEAL_M * 2), "36-month block price "
                             "2026-02 to 2027-12 with the lease at its filed size"))
    m, lo, hi = common.band(tight)
    ratio = m / DEAL_M
    spot = common.band(res.values(NO_DEAL, "spot_tight_h"))[0]
    spot_m = common.per_mw_month_m(spot * common.HOURS_PER_MONTH)
    within = "within" if DEAL_M / 2 <= m <= DEAL_M * 2 else "outside"
    tenant = load_scenario("no-deal").lab("frontier_a")
    must_serve_m = common.per_mw_month_m(tenant.usd_per_served_h100e_month
                                         * (1 + tenant.growth_premium))
    answer = (
        f"Without the deal, the model's market clears 36-month blocks at ${m:.2f}M per MW-month "
        f"in 2026-27 (90% band ${lo:.2f}M to ${hi:.2f}M), {ratio:.2f} times the deal's $4.17M, "
        f"{within} a factor of two of it, and {'below' if m < spot_m else 'above'} spot "
        f"(${spot:.2f} per H100e-hour, ${spot_m:.2f}M per MW-month) while demand outruns supply. "
        f"The deal's price is therefore plausible only as an upper-end price, not as what "
        f"competitive clearing produces: it is {1 / ratio:.1f}x the emergent block price and "
        f"{DEAL_M / spot_m:.1f}x spot, a premium the tenant can afford (its must-serve capacity "
        f"is worth ${must_serve_m:.1f}M per MW-month to it) but that the model's market does not "
        f"charge.")
    caveats = [
        "Conversion: every H100e-month is priced at the lease's density (933 H100e per MW). "
        "Blocks of newer GPUs carry more H100e per MW, so per-MW prices of GB200/GB300 blocks "
        "would be higher than shown at the same price per H100e.",
        "The market clears each tenor as one uniform-price call auction: a 300 MW block and a "
        "small block clear at the same price per H100e in the same month. The model has no "
        "bilateral negotiation, no premium for capacity available at once in one place, and no "
        "price for the exit and recall options (the lease has both).",
        "The whole-run block price includes 2028-29, when the build-out lands and prices fall; "
        "the tight-years window is the one the question asks about.",
        "Labs' willingness to pay is calibrated (revenue per H100e x (1 + growth premium)); the "
        "block price is bounded above by it and below by sellers' levelized cost (about $1.1M "
        "per MW-month for an H100 site).",
    ]
    announced, filed = sizes["announced"], sizes["filed"]
    prem_a = common.band(announced["usd_per_h100e_month"] / block_h100e_month)[0]
    prem_f = common.band(filed["usd_per_h100e_month"] / block_h100e_month)[0]
    answer += (
        f" The premium rests on the unit count: as announced (280k H100e over "
        f"{announced['gpus'] / 1e3:,.0f}k GPUs) the lease costs "
        f"${announced['usd_per_h100e_hour']:.2f} per H100e-hour, {prem_a:.1f}x the block price; "
        f"at the filed ~325k GPUs (470k H100e) it costs ${filed['usd_per_h100e_hour']:.2f}, "
        f"{prem_f:.1f}x.")
    block_h = common.band(block_h100e_month)[0] / HOURS_PER_MONTH
    per_gpu = ", ".join(f"{g} ${usd_per_gpu_hour(block_h * HOURS_PER_MONTH, generation(g)):.2f}"
                        for g in ("H100", "H200", "B200", "GB200"))
    mechanism = (
        "Sellers ask cost plus a markup that rises with their own utilization and backlog; labs "
        "bid down continuous demand curves (must-serve inference at revenue x (1 + growth "
        "premium), then training at a decaying value). A uniform-price call auction per tenor "
        "clears where those meet: in 2026-27 the marginal 36-month seller is a hyperscaler or "
        "neocloud asking its levelized cost less the term discount plus scarcity, which puts "
        "blocks below spot (term sellers give 12% a year of tenor). Nothing in the clearing "
        "prices block size, one site or the exit and recall options, so a 300 MW block clears "
        "at the price of a small one. The lease's premium is then a matter of units: the same "
        "$1.25B a month over more H100e (the filed size) is a smaller premium. The block price "
        f"per GPU-hour by generation: {per_gpu} (H100e factors from market price ratios).")
    sens = common.sensitivity(configs()[:1], opts, measure, headline,
                              common.SCARCITY_RANGE + common.GROWTH_RANGE)
    sensitivity = (f"No-deal block price 2026-27 at the default: {headline(res)}; {sens}. The "
                   "deal stays above the market's block price per H100e across the range "
                   "as announced.")
    if opts.quick:
        caveats.insert(0, "QUICK MODE: 3 seeds; a smoke test, not a finding.")
    fig = plot(res, opts)
    common.write_report(
        opts, res, title="Q1 Price discovery: what does a large 36-month block clear at?",
        question="Is ~$1.25B a month for ~300 MW (~$4.2M per MW-month, ~$7.8 per GPU-hour) a "
                 "plausible market price for a large block of capacity when demand outruns "
                 "supply? (docs/model.md section 1, question 1)",
        setup=[
            "`no-deal`: the default world without the preloaded Colossus lease; the owner's "
            "idle Colossus capacity, the hyperscalers and the neoclouds offer 12- and 36-month "
            "blocks and spot, labs bid (reference strategy); `colossus-2026` with the lease "
            "preloaded beside it.",
            "Block price: volume-weighted clearing price of the 36-month term product, "
            "$/H100e-month x 280,000 / 300 = $ per MW-month (the lease's density), over "
            "2026-02 to 2027-12 (tight years; the opening month is left out because the book "
            "starts empty) and over the whole run.",
            "Largest block: the biggest 36-month purchase by one frontier lab from one seller "
            "in one month (the preloaded lease excluded).",
        ],
        numbers=numbers, answer=answer, caveats=caveats, mechanism=mechanism,
        sensitivity=sensitivity,
        figures=[(fig, "Left: 36-month block and spot price indices in $M per MW-month, the "
                       "deal's $4.17M and the factor-of-two range. Right: block prices per "
                       "seed, mean and 90% band.")])
    print(f"{NAME}: block price 2026-27 ${m:.2f}M per MW-month (90% band {lo:.2f} to {hi:.2f}); "
          f"report in {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
