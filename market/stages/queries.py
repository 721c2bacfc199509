"""Read-only views of the model's state that several stages share: reserves, spare capacity
per site, labs' targets and budgets, committed fees and backlogs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from market import exact
from market.agents.lab import (
    budget_usd_per_month,
    funding_per_year,
    growth_rate,
    outside_h100e,
)

if TYPE_CHECKING:
    from market.model import ComputeMarket


def committed_usd_by_party(model: ComputeMarket) -> np.ndarray:
    """Full monthly fees of each buyer's live contracts this month (kept while the book's
    live ids of the month, the same array, stand)."""
    b = model.book
    live = b.live_ids(model.month)
    cached = model.__dict__.get("_committed_usd_cache")
    if cached is None or cached[0] is not live:
        fees = np.bincount(b.buyer[live], weights=b.h100e[live] * b.usd_per_h100e_month[live],
                           minlength=len(model.parties))
        fees.flags.writeable = False
        cached = model._committed_usd_cache = (live, fees)
    return cached[1]


def site_costs(model: ComputeMarket) -> tuple[np.ndarray, np.ndarray]:
    return model._opex_by_gen[model.sites.gen], model._levelized_by_gen[model.sites.gen]


def spare_by_site(model: ComputeMarket, month: int, reserve: np.ndarray, until: int | None = None
                  ) -> np.ndarray:
    """Uncommitted online H100e per site from ``month`` (to ``until``: the most committed
    month, counting contracts that start later), after each owner's ``reserve`` (H100e per
    party) is kept back from its sites in order."""
    n_sites = len(model.sites)
    online = model.sites.online_h100e()
    committed = model.book.committed_h100e(month, by="site", n=n_sites)
    if until is not None:
        b = model.book
        rows = b.open_ids(month)
        start = b.start_month[rows]
        later = np.unique(start[(start > month) & (start < until)
                                & (b.ended_month[rows] > start)])
        for m in later:  # the few months at which pre-signed contracts begin
            committed = np.maximum(committed,
                                   model.book.committed_h100e(int(m), by="site", n=n_sites))
    spare = np.maximum(online - committed, 0.0)
    owner = model.sites.owner
    spare[model.defaulted[owner]] = 0.0
    # keep each owner's reserve on its first sites: cumulative spare within each owner
    order, group_start = _sites_by_owner(model)
    cum = np.cumsum(spare[order])
    before = np.concatenate([[0.0], cum])[group_start]
    within = cum - before
    kept = np.clip(within - reserve[owner[order]], 0.0, spare[order])
    spare[order] = kept
    return spare


def _sites_by_owner(model: ComputeMarket) -> tuple[np.ndarray, np.ndarray]:
    """Sites grouped by owner (a stable sort) and, at each place of that order, where its
    owner's run starts; kept until a site is added or changes hands."""
    owner = model.sites.owner
    cached = model.__dict__.get("_sites_by_owner")
    if cached is None or not np.array_equal(cached[0], owner):
        order = np.argsort(owner, kind="stable")
        sorted_owner = owner[order]
        starts = np.flatnonzero(np.concatenate([[True], sorted_owner[1:] != sorted_owner[:-1]]))
        group_start = np.repeat(starts, np.diff(np.append(starts, order.size)))
        cached = model._sites_by_owner = (owner.copy(), order, group_start)
    return cached[1], cached[2]


def delivered_h100e(model: ComputeMarket) -> np.ndarray:
    """Per party: H100e its live contracts deliver this month (contracted H100e times the
    share its site has online, ``ContractBook.delivered_share``)."""
    b = model.book
    online = model.sites.online_h100e()
    live = b.live_ids(model.month)  # the others deliver nothing
    cached = model.__dict__.get("_delivered_cache")
    # the same month, contracts live (the book's cached array itself: the book drops it when
    # who is live this month changes) and sites online deliver the same; contracts signed
    # since then are not live this month: they deliver nothing yet
    if (cached is not None and cached[0] == model.month and cached[1] is live
            and np.array_equal(cached[2], online)):
        signed = len(b) - len(cached[3])
        model._delivered = np.append(cached[3], np.zeros(signed)) if signed else cached[3]
        return cached[4].copy()
    model._delivered = b.delivered_share(model.month, online)
    out = np.bincount(b.buyer[live], weights=b.h100e[live] * model._delivered[live],
                      minlength=len(model.parties))
    model._delivered_cache = (model.month, live, online, model._delivered, out)
    return out.copy()


def reserves(model: ComputeMarket, margin: bool) -> np.ndarray:
    """Own capacity each party keeps: internal need, with the reserve margin for term."""
    return (model.own_need * (1.0 + model.party_table.reserve_margin) if margin
            else model.own_need.copy())


def lab_growth(model: ComputeMarket) -> np.ndarray:
    """This month's trend of demand growth of every lab (computed once a month: it depends on
    the month and the labs' fixed parameters only; read-only)."""
    cached = model.__dict__.get("_lab_growth")
    if cached is None or cached[0] != model.month:
        p, labs = model.party_table, model.party_table.buyers
        rate = growth_rate(p.growth_per_month[labs], p.growth_halflife_months[labs],
                           model.months_elapsed)
        rate.flags.writeable = False
        cached = (model.month, rate)
        model._lab_growth = cached
    return cached[1]


def expected_growth(model: ComputeMarket) -> np.ndarray:
    """Demand growth each lab, and its investors, expect for next month: its trend
    (``lab_growth``) plus what will persist of its share growth."""
    mk = model.world.market
    persist = float(exact.power(0.5, 1.0 / mk.share_halflife_months))
    return lab_growth(model) + persist * model.party_table.share_growth[
        model.party_table.buyers]


def funding_offered(model: ComputeMarket) -> np.ndarray:
    """Funding investors offer each lab per year at today's appetite (``funding_per_year``)."""
    annual = exact.power(1.0 + expected_growth(model), 12) - 1.0
    return funding_per_year(model.party_table.revenue_usd[model.party_table.buyers],
                            annual, model.appetite)


def outside(model: ComputeMarket) -> tuple[np.ndarray, np.ndarray]:
    """H100e each lab runs outside this market this month, and what it costs (USD)."""
    p, labs = model.party_table, model.party_table.buyers
    h100e = outside_h100e(p.inference_h100e[labs], p.training_share[labs],
                          p.outside_share[labs])
    return h100e, h100e * p.outside_usd_per_h100e_month[labs]


def lab_arrays(model: ComputeMarket, months_ahead: int):
    """Targets, inference needs and budgets of all labs, ``months_ahead`` forward."""
    inference = model.party_table.inference_h100e[model.party_table.buyers]
    if months_ahead:  # (x ** 0 is 1 for every x: this month's need as it is)
        inference = inference * exact.power(1.0 + expected_growth(model), months_ahead)
    need = inference * (1.0 + model.party_table.training_share[model.party_table.buyers])
    buyers = model.party_table.buyers
    upcoming = (model._funding_month > model.month) & (model._funding_month <= model.month + 12)
    funding = np.bincount(model.party_table.row[model._funding_lab[upcoming]],
                          weights=model._funding_usd[upcoming],
                          minlength=buyers.size) + funding_offered(model)
    budget = (budget_usd_per_month(model.party_table.revenue_usd[buyers], model.cash[buyers],
                                   funding)
              - committed_usd_by_party(model)[buyers] - outside(model)[1])
    return need, inference, budget


def backlog_usd(model: ComputeMarket) -> np.ndarray:
    """Per party: revenue its signed contracts will still pay as a seller (full-use fees
    from this month to each contract's end)."""
    b = model.book
    n = len(b)
    if not n:
        return np.zeros(len(model.parties))
    rows = b.open_ids(model.month)  # the others have ended
    start = np.maximum(b.start_month[rows], model.month)
    months = np.maximum(b.ended_month[rows] - start, 0)
    return np.bincount(b.seller[rows], weights=b.fee_usd_month[rows] * months,
                       minlength=len(model.parties))

