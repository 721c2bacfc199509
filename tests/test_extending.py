"""The recipes of docs/extending.md, done from a test: a new kind of buyer and of seller
registered from outside the package, a new term product and a regional one from the scenario
alone, and a
contract clause (``escalation_per_year``, added in ``market/terms.py`` alone) set from the
scenario."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from market import kinds, metrics
from market.agents import Owner
from market.hardware import HOURS_PER_MONTH
from market.model import ComputeMarket
from market.products import SPOT
from market.terms import BILLED_CLAUSES, CLAUSES, ContractTerms
from market.scenarios import load_scenario
from market.stages import auction as auction_stage

SEEDS = (0, 1, 2)


class Frugal(Owner):
    """A test-only seller kind: an owner that never builds (its own ``wants_to_build``)."""

    @staticmethod
    def wants_to_build(invests, own_short, backlog_share, presale_ratio):
        return np.zeros(np.shape(invests), dtype=bool)


@pytest.fixture
def registered():
    """A "sovereign" buyer (a state buying compute, with the labs' behaviour) and a "frugal"
    seller, registered for one test and removed after it."""
    added = [kinds.register(kinds.Kind("sovereign", "buyer", "sovereign_lab", "gold",
                                       "market.agents.lab:Lab")),
             kinds.register(kinds.Kind("frugal", "seller", "frugal", "grey",
                                       f"{__name__}:Frugal"))]
    yield added
    for k in added:
        kinds.unregister(k.name)


def test_a_registered_buyer_kind_trades_and_is_counted(registered):
    world = load_scenario("colossus-2026", ["months=12"])
    labs = (dataclasses.replace(world.labs[-1], kind="sovereign"), *world.labs[:-1])
    world = dataclasses.replace(world, labs=labs)
    for seed in SEEDS:
        model = ComputeMarket(world, rng=seed, check_invariants=True).run()
        agents = model.agents_frame()
        sovereign = agents[agents["kind"] == "sovereign_lab"]
        assert len(sovereign) == 12 and sovereign["agent"].nunique() == 1
        assert sovereign["used_h100e"].sum() > 0  # it bought capacity
        # the metrics read the registry: its demand is part of the labs' unmet share
        buyers = agents[agents["kind"].isin(kinds.labels("buyer"))]
        expected = buyers["unmet_h100e"].sum() / buyers["demand_h100e"].sum()
        assert metrics.unmet_share(agents) == pytest.approx(expected, rel=1e-12)
        assert buyers["agent"].nunique() == len(world.labs)


def test_a_registered_seller_kind_decides_through_its_class(registered):
    base = load_scenario("colossus-2026", ["months=36"])
    builders = [s.name for s in base.sellers if s.kind == "owner"]
    assert builders
    sellers = tuple(dataclasses.replace(s, kind="frugal") if s.kind == "owner" else s
                    for s in base.sellers)
    world = dataclasses.replace(base, sellers=sellers)
    built_before = built_after = 0
    for seed in SEEDS:
        before = ComputeMarket(base, rng=seed).run().events_frame()
        model = ComputeMarket(world, rng=seed, check_invariants=True).run()
        after = model.events_frame()
        built_before += int(((before["event"] == "site_started")
                             & before["agent"].isin(builders)).sum())
        built_after += int(((after["event"] == "site_started")
                            & after["agent"].isin(builders)).sum())
        agents = model.agents_frame()
        assert set(agents.loc[agents["agent"].isin(builders), "kind"]) == {"frugal"}
        assert all(isinstance(model.by_name[n], Frugal) for n in builders)
    assert built_before > 0 and built_after == 0


def test_unregistered_kinds_are_refused_with_the_registered_ones_named():
    world = load_scenario()
    with pytest.raises(ValueError, match=r"labs\.\S+\.kind = 'sovereign': must be one of "
                                         r"frontier, small"):
        dataclasses.replace(world.labs[0], kind="sovereign")


def test_a_new_term_product_comes_from_the_scenario_alone():
    world = load_scenario("colossus-2026", ["months=12", "market.term_tenors_months=[12, 24, 36]"])
    model = ComputeMarket(world, rng=0).run()
    assert model.products.names == ["term_12m", "term_24m", "term_36m", SPOT]
    market = model.market_frame()
    assert set(market["product"]) == {"term_12m", "term_24m", "term_36m", SPOT}
    index = metrics.index_series(market, "term_24m")
    assert len(index) == 12 and np.isfinite(index.to_numpy()).all()
    assert model.spot_index == pytest.approx(
        metrics.index_series(market, SPOT).iloc[-1] * HOURS_PER_MONTH, rel=1e-12)


def test_a_clause_declared_in_terms_binds_in_billing_from_the_scenario():
    # the recipe's three declarations, all in market/terms.py
    assert "escalation_per_year" in CLAUSES and "escalation_per_year" in BILLED_CLAUSES
    assert ContractTerms("t", 12, 1.0).escalation_per_year == 0.0  # off unless a template sets it
    months, escalation = 24, 0.05
    for seed in SEEDS:
        base = ComputeMarket(load_scenario("colossus-2026", [f"months={months}"]), rng=seed,
                             check_invariants=True).run()
        world = load_scenario("colossus-2026", [
            f"months={months}", f"terms.colossus_lease.escalation_per_year={escalation}"])
        model = ComputeMarket(world, rng=seed, check_invariants=True).run()
        after = model.contracts_frame().set_index("id")
        before = base.contracts_frame().set_index("id")
        lease = before.index[(before["template"] == "colossus_lease")
                             & (before["start"] == "2026-05-01")]
        last_billed = world.start_month + months - 1
        checked = 0
        for cid in lease:
            start = model.book.start_month[cid]
            billed = min(model.book.ended_month[cid] - 1, last_billed) - start + 1
            fee = model.book.fee_usd_month[cid]
            if before.at[cid, "billed_usd"] != pytest.approx(fee * billed, rel=1e-12):
                continue  # not all delivered in some month: checked by the others
            past_anniversary = max(billed - 12, 0)
            assert past_anniversary > 0
            # 12 months at the signed fee, then 5% more each month of the second year
            assert after.at[cid, "billed_usd"] == pytest.approx(
                fee * (billed + escalation * past_anniversary), rel=1e-12)
            checked += 1
        assert checked >= 1


def test_a_regional_term_product_is_offered_and_filled_from_its_region_only(monkeypatch):
    region, name = "us-east", "term_12m_us-east"
    world = load_scenario("colossus-2026",
                          ["months=24", f"regions.{region}.term_tenors_months=[12]"])
    books = []  # every term auction's order book and fills
    real = auction_stage.auction

    def spy(model, parts, market):
        out = real(model, parts, market)
        if market == "term":
            books.append((model, *out))
        return out

    monkeypatch.setattr(auction_stage, "auction", spy)
    for seed in SEEDS:
        model = ComputeMarket(world, rng=seed, check_invariants=True).run()
        product = model.products.names.index(name)
        assert model.products.region[product] == region and not model.products.spot[product]
        home = model.region_index[region]
        offered = filled = outside = 0.0
        for m, _result, pairs, orders in books:
            if m is not model:
                continue
            asks = (orders.product == product) & (orders.side < 0)
            in_home = model.sites.region[np.maximum(orders.site, 0)] == home
            offered += orders.qty[asks & in_home].sum()
            outside += orders.qty[asks & ~in_home].sum()
            fills = pairs.sell[orders.product[pairs.sell] == product]
            assert (model.sites.region[orders.site[fills]] == home).all()
            filled += pairs.quantity[orders.product[pairs.sell] == product].sum()
        assert outside == 0.0 and offered > 0 and filled > 0
        # the other regions' sites still sell term capacity, in the market-wide products
        market = model.market_frame()
        assert market.loc[market["product"] == "term_12m", "volume_h100e"].sum() > 0
        assert metrics.index_series(market, name).notna().all()


def test_a_regional_product_needs_whole_distinct_tenors():
    with pytest.raises(ValueError, match=r"regions\.us-east\.term_tenors_months = \(12, 12\)"):
        load_scenario("colossus-2026", ["regions.us-east.term_tenors_months=[12, 12]"])
    with pytest.raises(ValueError, match=r"regions\.us-east\.term_tenors_months = \(600,\): "
                                         r"must leave a positive price"):
        load_scenario("colossus-2026", ["regions.us-east.term_tenors_months=[600]"])
