"""Stages 4 and 5, the auctions: the term market (contracts start next month) and the spot
market (this month), each cleared for all its products in one call; the price index."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from market import exact
from market.agents.lab import bid_curve, lab_bids
from market.agents.sellers import expected_price, scarcity_markup, seller_asks, term_discount
from market.clearing import clear
from market.matching import match
from market.stages import contracts, queries

if TYPE_CHECKING:
    from market.model import ComputeMarket

FORECAST_MONTHS = 6
"""Labs size term purchases on their need this many months ahead."""
PREFERRED_TENOR_TILT = 1.0
"""Extra weight a lab puts on its preferred tenor when splitting term demand."""
PRICE_DECLINE_PER_YEAR = 0.15
"""Sellers expect the price of an H100e-month to fall this much a year over a new site's life
as newer generations arrive (the cost per H100e of successive generations falls faster)."""


def tenor_weights(ask_depth_h100e: np.ndarray, preferred: np.ndarray) -> np.ndarray:
    """How labs split their term demand across tenors (labs x tenors): in proportion to last
    month's offered depth of each tenor, with extra weight on each lab's preferred tenor (all of
    it there if nothing was offered)."""
    preferred = np.asarray(preferred, dtype=np.int64)
    w = np.tile(np.asarray(ask_depth_h100e, dtype=float), (preferred.size, 1))
    rows = np.arange(preferred.size)
    w[rows, preferred] *= 1.0 + PREFERRED_TENOR_TILT
    return shares(w, preferred)


def shares(w: np.ndarray, preferred: np.ndarray) -> np.ndarray:
    """Rows of ``w`` scaled to sum to one; a row of zeros puts all on its ``preferred``
    column."""
    total = exact.total(w, axis=1)[:, None]
    fallback = np.zeros_like(w)
    fallback[np.arange(len(preferred)), preferred] = 1.0
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), fallback)


def regional_columns(model: ComputeMarket, sites: np.ndarray,
                     preferred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per site: the term column it prefers (its region's own product at the tenor of
    ``preferred``, its seller's column, when the region has one) and the term columns it may offer
    in (sites x term products: not another region's, ``Product.region``)."""
    products = model.products
    allowed = np.ones((len(sites), len(products.term_ids)), dtype=bool)
    region = model.sites.region[sites]
    tenor = products.tenor_months[products.term_ids[preferred]]
    for col, p in enumerate(products.term_ids):
        if products.region[p] is not None:
            home = region == model.region_index[products.region[p]]
            allowed[:, col] = home
            preferred = np.where(home & (tenor == products.tenor_months[p]), col, preferred)
    return preferred, allowed


def term_targets(need_h100e, inference_h100e, need_share_h100e, inference_share_h100e,
                 outside_share, term_share):
    """What labs aim to hold under term contracts at the forecast horizon (arrays over labs):
    the compute they will run outside this market (``outside_share`` of the need then), plus
    ``term_share`` of the rest. ``need_share_h100e`` and ``inference_share_h100e`` are the need
    and inference already scaled by ``term_share``. Returns the target, the inference boundary
    of the value curve (its part in this market scaled alike) and the outside compute then;
    with no outside compute they are the scaled need and inference, bit for bit."""
    outside = outside_share * need_h100e
    target = outside + need_share_h100e * (1.0 - outside_share)
    inference = np.where(inference_h100e > outside,
                         outside + inference_share_h100e - term_share * outside, inference_h100e)
    return target, inference, outside


class Orders(NamedTuple):
    """One market's order book as arrays (``site`` is -1 for bids)."""

    product: np.ndarray
    side: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    who: np.ndarray
    site: np.ndarray


def clear_term(model: ComputeMarket) -> None:
    """Term market: labs and sellers split their term demand and spare capacity across
    tenors (mostly their preferred one: a lab's own, a seller's template tenor) in
    proportion to the other side's depth last month; contracts start next month."""
    nxt = model.month + 1
    price_scarcity(model)
    # where in its steps each lab's bids are priced this month (both markets)
    model._bid_phase = model.bid_rng.random(len(model.labs))
    if not len(model.sites) or not model.labs:
        return
    products = model.products
    terms, tenors = products.term_ids, products.tenor_months
    spare = queries.spare_by_site(model, nxt, queries.reserves(model, margin=True),
                                  until=nxt + int(tenors[terms].max()))
    n_labs = len(model.labs)
    buyers = model.party_table.buyers
    share = np.array([lab.cfg.term_share for lab in model.labs])
    need, inference, budget = queries.lab_arrays(model, FORECAST_MONTHS)
    inference_share = inference * share  # the part each lab wants under term contracts
    target, inference, outside = term_targets(
        need, inference, inference_share * (1.0 + model.party_table.training_share[buyers]),
        inference_share, model.party_table.outside_share[buyers], share)
    held_next = (model.book.committed_h100e(nxt, by="buyer", n=len(model.parties))[buyers]
                 + outside)
    weights = tenor_weights(model._ask_depth, model._lab_term_column)
    curve = bid_curve(model._bid_curves, held_next, target, inference, tranches=2,
                      phase=model._bid_phase)
    parts = []
    for col, p in enumerate(terms):
        # a block's months are worth what spot is expected to cost over its tenor
        scale = float(expected_price(1.0, 1.0, PRICE_DECLINE_PER_YEAR, tenors[p]))
        pos, q, lim = lab_bids(model._bid_curves, ~model.defaulted[buyers], held_next, target,
                               inference, np.full(n_labs, model.spot_index * scale), budget,
                               tranches=2, value_scale=scale, curve=curve)
        q = q * weights[pos, col]
        parts.append((np.full(pos.size, p), np.ones(pos.size, np.int64), lim, q, pos, -1))
    opex, levelized = queries.site_costs(model)
    sites = np.flatnonzero(spare > 0)
    owner_pos = model.party_table.row[model.sites.owner[sites]]
    sells_term = model._seller_term_column[owner_pos] >= 0
    sites, owner_pos = sites[sells_term], owner_pos[sells_term]
    preferred, allowed = regional_columns(model, sites, model._seller_term_column[owner_pos])
    split = tenor_weights(model._bid_depth, preferred)
    if not allowed.all():  # no share in another region's products
        split = shares(np.where(allowed, split, 0.0), preferred)
    for col, p in enumerate(terms):
        # a term offer must not outlive its site
        offer = spare[sites] * split[:, col] * (
            model.sites.retire_month[sites] >= nxt + tenors[p])
        discount = term_discount(tenors[p], model.market_cfg.term_discount_per_year)
        asks = ask_prices(model, owner_pos, opex[sites], levelized[sites], "term", discount)
        parts.append((np.full(sites.size, p), -np.ones(sites.size, np.int64), asks, offer,
                      model.sites.owner[sites], sites))
    result, pairs, orders = auction(model, parts, "term")
    if pairs.quantity.size:
        contracts.sign_pairs(model, result, pairs, orders, start=nxt)


def clear_spot(model: ComputeMarket) -> None:
    """Spot market for this month: what term contracts leave uncovered."""
    model._spot_bought[:] = 0.0
    model._spot_sold[:] = 0.0
    if not len(model.sites) or not model.labs:
        return
    n_labs = len(model.labs)
    spare = queries.spare_by_site(model, model.month, queries.reserves(model, margin=False))
    held = queries.delivered_h100e(model)[model.party_table.buyers] + queries.outside(model)[0]
    need, inference, budget = queries.lab_arrays(model, 0)
    sp = model.products.spot_id
    pos, q, lim = lab_bids(model._bid_curves, ~model.defaulted[model.party_table.buyers],
                           held, need, inference,
                           np.full(n_labs, model.spot_index), budget, phase=model._bid_phase)
    opex, levelized = queries.site_costs(model)
    sites = np.flatnonzero(spare > 0)
    asks = ask_prices(model, model.party_table.row[model.sites.owner[sites]], opex[sites],
                      levelized[sites], "spot")
    parts = [(np.full(pos.size, sp), np.ones(pos.size, np.int64), lim, q, pos, -1),
             (np.full(sites.size, sp), -np.ones(sites.size, np.int64), asks, spare[sites],
              model.sites.owner[sites], sites)]
    result, pairs, orders = auction(model, parts, "spot")
    if not pairs.quantity.size:
        return
    price = (np.full(pairs.quantity.size, result.price[sp]) if result.paid is None
             else result.paid[pairs.buy])
    buyer, seller = orders.who[pairs.buy], orders.who[pairs.sell]
    np.add.at(model._spot_bought, buyer, pairs.quantity)
    np.add.at(model._spot_sold, seller, pairs.quantity)
    model._pay(buyer, seller, pairs.quantity * price)


def ask_prices(model: ComputeMarket, pos: np.ndarray, opex: np.ndarray, levelized: np.ndarray,
               market: str, discount: float = 0.0) -> np.ndarray:
    """Sellers' asks for offers whose seller positions are ``pos``."""
    party = model.party_table.sellers[pos]
    return seller_asks(model.party_table.kind[party], model.party_table.markup[party],
                       model._seller_strategy[pos], model._scarcity[market][pos], opex,
                       levelized, market, discount)


def price_scarcity(model: ComputeMarket) -> None:
    """Each seller's scarcity markup for this month's term and spot asks, from its
    utilization last month, its backlog a year ahead and the share of its last offer in
    each market that sat idle."""
    n = len(model.parties)
    sp = model._seller_party
    online = model.online_by_party[sp]
    committed = model.book.committed_h100e(model.month, by="seller", n=n)[sp]
    ahead = model.book.committed_h100e(model.month + 12, by="seller", n=n)[sp]
    used = committed + np.minimum(model.own_need[sp], online) + model._spot_sold[sp]
    safe = np.where(online > 0, online, 1.0)
    utilization = np.where(online > 0, used / safe, 1.0)
    backlog = np.where(online > 0, ahead / safe, 0.0)
    ceiling = model.market_cfg.scarcity_markup
    model._scarcity = {m: scarcity_markup(utilization, backlog, model.unsold[m], ceiling)
                       for m in ("term", "spot")}


def auction(model: ComputeMarket, parts, market: str):
    """Clear one market's orders (all its products in one call), pair the fills, record the
    market rows and each seller's unsold share."""
    orders = Orders(*(np.concatenate([np.broadcast_to(np.asarray(part[i]), part[0].shape)
                                      for part in parts]) for i in range(6)))
    result = clear(orders.product, orders.side, orders.price, orders.qty,
                   n_products=len(model.products), k=model.market_cfg.k,
                   rule=model.market_cfg.rule)
    pairs = match(orders.product, orders.side, result.filled)
    sell = orders.side < 0
    n = len(model.parties)
    offered = np.bincount(orders.who[sell], weights=orders.qty[sell], minlength=n)
    sold = np.bincount(orders.who[sell], weights=result.filled[sell], minlength=n)
    o, q = offered[model._seller_party], sold[model._seller_party]
    model.unsold[market] = np.where(o > 0, 1.0 - q / np.where(o > 0, o, 1.0), 0.0)
    record_market(model, result, orders, term=market == "term")
    return result, pairs, orders


def record_market(model: ComputeMarket, result, orders, *, term: bool) -> None:
    """Append one row per product of this market and update the reference price index."""
    buy, sell = orders.side > 0, orders.side < 0
    bids = np.bincount(orders.product[buy], weights=orders.qty[buy],
                       minlength=len(model.products))
    asks = np.bincount(orders.product[sell], weights=orders.qty[sell],
                       minlength=len(model.products))
    table = model.products
    products = table.term_ids if term else [table.spot_id]
    w = model.market_cfg.price_memory
    if term:
        # smoothed depths: splitting on last month's alone makes both sides chase each other
        model._ask_depth = (1 - w) * model._ask_depth + w * asks[table.term_ids]
        model._bid_depth = (1 - w) * model._bid_depth + w * bids[table.term_ids]
    index = table.index_usd_per_h100e_month
    for p in products:
        price = float(result.price[p])
        if not math.isnan(price):
            index[p] = (1 - w) * index[p] + w * price
        model._rows_market.append({
            "month": model.month, "product": table.names[p],
            "tenor_months": int(table.tenor_months[p]),
            "price_usd_per_h100e_month": price,
            "volume_h100e": float(result.volume[p]),
            "bid_depth_h100e": float(bids[p]), "ask_depth_h100e": float(asks[p]),
            "index_usd_per_h100e_month": float(index[p]),
        })

