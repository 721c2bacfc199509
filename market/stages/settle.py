"""Stage 6, settlement: bills, lab revenue and funding, sellers' opex and debt service,
defaults (and the sale of a failed seller's sites); then demand and internal need move on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from market import exact
from market.agents.lab import (
    demand_shock,
    funding_rounds,
    share_shift,
    next_inference_need,
    serve,
)
from market.agents.sellers import internal_need_next, payout_usd
from market.stages import queries
from market.supply import AWAITING, CONSTRUCTION, ONLINE

if TYPE_CHECKING:
    from market.agents import Seller
    from market.model import ComputeMarket

SITE_SALE_DISCOUNT = 0.5
"""A defaulted seller's sites sell at this share of their remaining book value."""


def settle(model: ComputeMarket) -> None:
    """Bills, spot already paid; labs earn revenue and funding; sellers pay opex and debt;
    defaults; then demand and internal need move on to next month."""
    m = model.month
    n = len(model.parties)
    buyers = model.party_table.buyers
    outside, outside_usd = queries.outside(model)
    own = (queries.delivered_h100e(model) + model._spot_bought)[buyers]
    param = model.party_table
    own = np.where(model.defaulted[buyers], 0.0, own)
    outside = np.where(model.defaulted[buyers], 0.0, outside)
    held = own + outside
    if outside_usd.any():
        outside_usd = np.where(model.defaulted[buyers], 0.0, outside_usd)
        model._external_many(buyers, "outside_compute", -outside_usd)
        model._paid[buyers] += outside_usd
    inference = param.inference_h100e[buyers]
    served, unmet, revenue, value = serve(held, inference, param.training_share[buyers],
                                          param.usd_per_served_h100e_month[buyers],
                                          param.training_value_usd_per_h100e_month[buyers])
    param.served_h100e[buyers], param.unmet_h100e[buyers] = served, unmet
    param.revenue_usd[buyers], param.value_usd[buyers] = revenue, value
    # compute outside this market serves first; each lab uses the same share of all it
    # holds here (its demand may fall below it)
    used = np.ones(n)
    used[buyers] = np.where(own > 0, np.minimum(
        np.maximum(served - outside, 0.0) / np.where(own > 0, own, 1.0),
        1.0), 1.0)
    model._apply(model.book.bill(m, used_share=used[model.book.buyer],
                                 delivered_share=model._delivered).transfers)
    model._external_many(buyers, "customer_revenue", revenue)
    due = model._funding_month == m
    model._external_many(model._funding_lab[due], "funding", model._funding_usd[due])
    for lab, usd in zip(model._funding_lab[due], model._funding_usd[due], strict=True):
        model._event("funding", model.parties[lab].name, detail=f"${usd / 1e9:.1f}B")
    raise_funding(model)
    online = model.sites.online_h100e()
    opex = np.bincount(model.sites.owner, weights=online * model._opex_by_gen[model.sites.gen],
                       minlength=n)
    capital = np.bincount(model.sites.owner,
                          weights=online * model._capital_by_gen[model.sites.gen], minlength=n)
    parties = model._seller_party[~model.defaulted[model._seller_party]]
    model._external_many(parties, "opex", -opex[parties])
    t = model.party_table
    owing = parties[t.debt_usd[parties] > 0]
    interest = t.debt_usd[owing] * t.interest_per_year[owing] / 12.0
    payment = np.minimum(t.debt_payment_usd[owing], t.debt_usd[owing] + interest)
    t.debt_usd[owing] -= payment - interest
    model._external_many(owing, "debt_service", -payment)
    service = np.zeros(n)
    service[owing] = payment
    payout = payout_usd(model.cash[parties], opex[parties] + service[parties],
                        model.party_table.payout_above_months[parties])
    if payout.any():
        model._external_many(parties, "payout", -payout)
    model.seller_revenue[parties] = model._received[parties]
    model.seller_cost[parties] = opex[parties] + capital[parties]
    defaults(model)
    unmet_inference = np.maximum(inference - served, 0.0)
    mk = model.world.market
    if mk.share_volatility_per_month > 0:  # draws from a stream of its own (model.share_rng)
        before = model.trend_demand / exact.total(model.trend_demand)
        model.trend_demand = model.trend_demand * (1.0 + queries.lab_growth(model))
        param.share_drift[buyers], param.share_log[buyers], param.share_growth[buyers] = (
            share_shift(param.share_drift[buyers], param.share_log[buyers], before,
                        model.trend_demand / exact.total(model.trend_demand),
                        mk.share_halflife_months, mk.share_volatility_per_month,
                        model.share_rng.standard_normal(buyers.size)))
    growth = demand_shock(queries.lab_growth(model) + param.share_growth[buyers],
                          param.growth_volatility[buyers], model.rng.standard_normal(buyers.size))
    param.inference_h100e[buyers] = next_inference_need(
        inference, unmet_inference, growth, param.churn[buyers])
    committed_out = model.book.committed_h100e(m, by="seller", n=n)
    model._own_need_now = model.own_need.copy()
    model._own_used = np.minimum(model._own_need_now, np.maximum(
        model.online_by_party - committed_out - model._spot_sold, 0.0))
    grow_own_need(model)


def raise_funding(model: ComputeMarket) -> None:
    """Funding rounds (``lab.funding_rounds``), drawn for every lab every month so that
    seeds stay aligned across scenarios."""
    buyers = model.party_table.buyers
    usd = funding_rounds(
        queries.funding_offered(model),
        model.world.market.raise_interval_months, model.cash[buyers],
        np.maximum(model._paid[buyers] - model.party_table.revenue_usd[buyers], 0.0),
        model.rng.random(buyers.size), model.rng.standard_normal(buyers.size))
    raise_now = np.flatnonzero((usd > 0) & ~model.defaulted[buyers])
    if not raise_now.size:
        return
    model._external_many(buyers[raise_now], "funding", usd[raise_now])
    model._many_events("funding", [model._names[p] for p in buyers[raise_now].tolist()],
                       detail=[f"${u / 1e9:.1f}B round" for u in usd[raise_now].tolist()])


def grow_own_need(model: ComputeMarket) -> None:
    """Random growth of sellers' internal need: one draw per seller from the model RNG."""
    shocks = model.rng.standard_normal(len(model.sellers))
    parties = model._seller_party
    fixed = model.own_need_fixed[parties]
    model.own_need[parties] = fixed + internal_need_next(
        model.own_need[parties] - fixed, model.party_table.own_need_growth_per_month[parties],
        model.party_table.own_need_volatility[parties], shocks)


def defaults(model: ComputeMarket) -> None:
    """Labs default when cash turns negative; sellers after ``default_patience_months``."""
    buyers = model.party_table.buyers
    failing = buyers[~model.defaulted[buyers] & (model.cash[buyers] < 0)]
    if failing.size:
        model.defaulted[failing] = True
        model.book.default_buyer(failing, model.month + 1)  # all their contracts, one pass
        for i in failing.tolist():
            model._event("lab_default", model.parties[i].name,
                         detail=f"cash ${model.cash[i]:,.0f}")
    t = model.party_table
    parties = t.sellers
    negative = model.cash[parties] < 0
    t.negative_cash_months[parties] = np.where(negative, t.negative_cash_months[parties] + 1, 0)
    due = (~model.defaulted[parties] & negative
           & (t.negative_cash_months[parties] >= t.default_patience_months[parties]))
    failing = np.flatnonzero(due)
    if not failing.size:
        return
    # every failed seller's contracts end in one pass; their sites are sold in turn (a seller
    # failing later this month may buy an earlier one's)
    model.book.default_seller(parties[failing], model.month + 1)
    held = np.isin(model.sites.status, [ONLINE, CONSTRUCTION, AWAITING])
    if any([default_seller(model, model.sellers[j], held) for j in failing.tolist()]):
        model.online_by_party = model.sites.online_h100e_by_owner(len(model.parties))


def default_seller(model: ComputeMarket, seller: Seller, held: np.ndarray) -> bool:
    """A failed seller's sites go at a discount to the richest other seller, or offline
    (its contracts ended with ``ContractBook.default_seller``); ``held`` marks the sites
    online, in construction or awaiting power. Returns whether the sites were sold."""
    seller.defaulted = True
    model._event("seller_default", seller.name, detail=f"cash ${model.cash[seller.party]:,.0f}")
    mine = np.flatnonzero(held & (model.sites.owner == seller.party))
    others = model._seller_party[~model.defaulted[model._seller_party]]
    if not mine.size or not others.size:
        return False
    remaining = np.clip((model.sites.retire_month[mine] - model.month)
                        / model.costs.life_months, 0.0, 1.0)
    value = exact.dot(model.sites.capex_usd[mine], remaining) * SITE_SALE_DISCOUNT
    buyer = model.parties[others[np.argmax(model.cash[others])]]  # the first of the richest
    if model.cash[buyer.party] < value:
        model.sites.status[mine] = 4  # RETIRED: taken offline
        model._event("sites_offline", seller.name, h100e=exact.total(model.sites.h100e[mine]))
        return False
    model._external(buyer.party, "site_purchase", -value)
    model.sites.owner[mine] = buyer.party
    model._event("sites_sold", seller.name, counterparty=buyer.name,
                 h100e=exact.total(model.sites.h100e[mine]), detail=f"${value / 1e9:.2f}B")
    return True
