"""Stylized facts of the compute market as tests with real thresholds, over sixteen seeds.
With eight, one fact as first stated held on seeds 0-7 and failed on seeds 8-15 (see the
price-fall test).

Each compares runs of the same seed with and without a change (a recall, a supply tranche,
more debt) or measures a ratio the world should show (term below spot). Runs are short (12-36
months) to keep the suite quick.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from market import metrics
from market.config import ShockConfig, SiteConfig
from market.model import ComputeMarket
from market.scenarios import load_scenario

SEEDS = range(16)


@pytest.fixture(scope="module")
def world():
    return load_scenario("colossus-2026")


def spot_prices(model: ComputeMarket) -> pd.Series:
    market = model.market_frame()
    return market[market["product"] == "spot"].set_index("month")["price_usd_per_h100e_month"]


def volume_weighted(market: pd.DataFrame, products: list[str]) -> float:
    rows = market[market["product"].isin(products) & (market["volume_h100e"] > 0)]
    return float((rows["price_usd_per_h100e_month"] * rows["volume_h100e"]).sum()
                 / rows["volume_h100e"].sum())


def test_term_is_10_to_40_percent_cheaper_than_spot(world):
    ratios = []
    for seed in SEEDS:
        market = ComputeMarket(replace(world, months=24), rng=seed).run().market_frame()
        ratios.append(volume_weighted(market, ["term_12m", "term_36m"])
                      / volume_weighted(market, ["spot"]))
    assert 0.6 <= np.mean(ratios) <= 0.9, ratios
    assert all(r < 1.0 for r in ratios), ratios


def test_spot_rises_5_percent_after_a_recall_of_5_percent_of_supply(world):
    base = replace(world, months=19)
    shocked = replace(base, shocks=(ShockConfig("recall", "2027-02", seller="colossus_owner"),))
    effect = pd.Timestamp("2027-06-01")  # notice 2027-02, 90 days, next month boundary
    rises = []
    for seed in SEEDS:
        a = ComputeMarket(base, rng=seed).run()
        b = ComputeMarket(shocked, rng=seed).run()
        recalled = b.events_frame().query("event == 'recall_notice'")["h100e"].sum()
        supply = float(b.agents_frame().query("month == @effect")["capacity_owned_h100e"].sum())
        assert recalled >= 0.05 * supply, (recalled, supply)
        rises.append(spot_prices(b)[effect] / spot_prices(a)[effect] - 1.0)
    assert np.median(rises) >= 0.05, rises
    assert sum(r >= 0.05 for r in rises) >= 12, rises


def with_tranche(world, month: str, h100e: float):
    """The world plus an exogenous GB200 tranche of ``h100e`` arriving at ``month`` at the
    second hyperscaler (its arrival draw shifts the seed's later draws: compare medians)."""
    site = SiteConfig("tranche", mw=h100e / 961.0, generation="GB200", status="scheduled",
                      online=month, region="us-midwest")
    return replace(world, sellers=tuple(
        replace(s, sites=(*s.sites, site)) if s.name == "hyperscaler_2" else s
        for s in world.sellers))


def test_spot_falls_when_a_large_supply_tranche_lands(world):
    base = replace(world, months=10)
    landed = with_tranche(base, "2026-09", 400_000.0)  # ~10% of supply
    month = pd.Timestamp("2026-09-01")
    moves = []
    for seed in SEEDS:
        a = spot_prices(ComputeMarket(base, rng=seed).run())
        b = spot_prices(ComputeMarket(landed, rng=seed).run())
        moves.append(b[month] / a[month] - 1.0)
    assert np.median(moves) <= -0.10, moves
    assert all(m < 0 for m in moves), moves


def with_leverage(world, factor: float):
    return replace(world, sellers=tuple(
        replace(s, debt_usd=s.debt_usd * factor) if s.kind == "neocloud" else s
        for s in world.sellers))


def neocloud_defaults(world) -> int:
    count = 0
    for seed in SEEDS:
        events = ComputeMarket(world, rng=seed).run().events_frame()
        count += int((events["event"] == "seller_default").sum())
    return count


def test_neocloud_defaults_rise_with_leverage_and_falling_prices(world):
    """More debt (the same sites) means more defaults; so do lower prices (demand that stops
    growing). Counts over eight seeds, 36 months. (With Blackwell counted at its market price
    ratio, 2.0 H100e per GPU, defaults start between 3x and 3.5x the calibrated debt.)"""
    base = replace(world, months=36)
    weak = replace(base, labs=tuple(replace(lab, growth_per_month=0.0) for lab in base.labs))
    factors = (1.0, 3.0, 3.5)
    normal = [neocloud_defaults(with_leverage(base, f)) for f in factors]
    low = [neocloud_defaults(with_leverage(weak, f)) for f in factors]
    assert normal == sorted(normal) and low == sorted(low), (normal, low)
    assert normal[-1] > normal[0] and low[-1] > low[0], (normal, low)
    assert all(lo >= hi for lo, hi in zip(low, normal, strict=True)), (normal, low)
    assert sum(low) > sum(normal), (normal, low)


def test_h100e_price_falls_when_build_out_outpaces_demand(world):
    """With demand growing at half the default pace, newer and cheaper generations and the
    build-out bring the spot index from 2028-07 on more than 20% below its 2026 level on
    average over 16 seeds, and at least 10% below in all but at most two of them (a real drop,
    not merely below an earlier peak). With an earlier default, seed 13 fell only 4% although
    seeds 0-7 all held, so every test here runs 16 seeds. In the default world demand doubles in
    the first year and the drop by 2029 is smaller (docs/model.md, known gaps). How far the
    price falls depends on the frontier labs' value decays, which are stated choices: the
    tenant's 1.3 instead of 1.6 gives a mean of 0.85 (docs/model.md, known gaps)."""
    slow = replace(world, labs=tuple(replace(lab, growth_per_month=0.5 * lab.growth_per_month)
                                     for lab in world.labs))
    ratios = []
    for seed in SEEDS:
        spot = metrics.index_series(ComputeMarket(slow, rng=seed).run().market_frame())
        ratios.append(spot["2028-07-01":].mean() / spot[:"2026-12-01"].mean())
    assert np.mean(ratios) <= 0.8, ratios
    assert sum(r <= 0.9 for r in ratios) >= 14, ratios


def test_small_labs_pay_more_per_h100e_than_frontier_labs_in_shortage():
    """In the shortage after the Colossus recall (recall-shock, 2027-06 to 2027-12) small labs,
    on 12-month terms and spot, pay more per H100e they hold than frontier labs, which hold
    36-month blocks signed before it. Per H100e held, not used: a frontier lab that has lost
    customers to its rival still pays for its take-or-pay blocks, so per H100e used it may pay
    more (seed 10: 0.94 per H100e used, 1.11 per H100e held)."""
    world = replace(load_scenario("recall-shock"), months=24)
    shortage = pd.date_range("2027-06-01", "2027-12-01", freq="MS")
    ratios = []
    for seed in SEEDS:
        agents = ComputeMarket(world, rng=seed).run().agents_frame()
        rows = agents[agents["month"].isin(shortage)]

        def unit_cost(kind: str) -> float:
            x = rows[rows["kind"] == kind]
            return x["cost_usd"].sum() / (x["contracted_h100e"] + x["spot_h100e"]).sum()

        ratios.append(unit_cost("small_lab") / unit_cost("frontier_lab"))
    assert np.median(ratios) >= 1.10, ratios
    assert all(r > 1.0 for r in ratios), ratios


def test_build_out_answers_to_prices(world):
    """Sellers build on expected profit at their forecast price: with slower demand growth
    (lower prices) fewer sites start, seed by seed."""
    def started(w, seed):
        events = ComputeMarket(w, rng=seed).run().events_frame()
        return int((events["event"] == "site_started").sum())

    base = replace(world, months=36)
    for seed in range(4):
        counts = [started(replace(base, labs=tuple(
            replace(lab, growth_per_month=g * lab.growth_per_month) for lab in base.labs)), seed)
            for g in (1.0, 0.5, 0.0)]
        assert counts[0] > counts[1] > counts[2], counts
