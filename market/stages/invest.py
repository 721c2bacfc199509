"""Stage 7, investment: sellers whose investment rule fires start one site each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from market.agents.sellers import build_signal, debt_room, expected_price, should_invest
from market.hardware import generations, newest_generation
from market.stages import calendar, queries
from market.stages.auction import PRICE_DECLINE_PER_YEAR
from market.supply import PERMITTING

if TYPE_CHECKING:
    from market.model import ComputeMarket


def invest(model: ComputeMarket) -> None:
    """Sellers whose investment rule fires start one site each, within budget and cash."""
    m = model.month
    gen = newest_generation(m)
    levelized = float(model._levelized_by_gen[list(generations()).index(gen.name)])
    n = len(model.parties)
    committed_now = model.book.committed_h100e(m, by="seller", n=n)
    committed_next = model.book.committed_h100e(m + 1, by="seller", n=n)
    online = model.online_by_party
    own = queries.reserves(model, margin=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        utilization = np.where(online > 0, (committed_now + model._spot_sold
                                            + np.minimum(own, online)) / online, 1.0)
        backlog = np.where(online > 0, committed_next / online, 0.0)
    products = model.products
    column = model._seller_term_column
    product = np.where(column >= 0, products.term_ids[np.maximum(column, 0)], products.spot_id)
    term = products.index_usd_per_h100e_month[product]
    forward = expected_price(term, model.spot_index, PRICE_DECLINE_PER_YEAR,
                             model.costs.life_months)
    t = model.party_table
    sellers = t.sellers
    invests = should_invest(forward, utilization[sellers], levelized, t.hurdle_rate[sellers])
    room = debt_room(queries.backlog_usd(model)[sellers], t.debt_to_backlog[sellers],
                     t.debt_usd[sellers])
    wants = build_signal(t.kind[sellers], invests, queries.reserves(model, margin=True)[sellers],
                         online[sellers], backlog[sellers], t.presale_ratio[sellers])
    wants &= ~model.defaulted[sellers]
    # within the year's capex budget, and affordable: from debt room or from cash
    pos = np.flatnonzero(wants)
    cand = sellers[pos]
    t.capex_this_year_usd[cand] = np.where(t.capex_year[cand] == m // 12,
                                           t.capex_this_year_usd[cand], 0.0)
    t.capex_year[cand] = m // 12
    capex = t.build_site_mw[cand] * gen.h100e_per_mw * gen.capex_usd_per_h100e
    borrows = np.array([model.sellers[j].borrows_to_build for j in pos], dtype=bool)
    builds = ((capex <= t.capex_budget_usd_per_year[cand] - t.capex_this_year_usd[cand])
              & np.where(borrows, capex <= room[pos], capex <= model.cash[cand]))
    new_sites, owners, spend = [], [], capex[builds].tolist()
    label = f"-build-{m // 12}-{m % 12 + 1:02d}"
    for j, capex in zip(pos[builds].tolist(), spend, strict=True):
        seller = model.sellers[j]
        i = seller.party
        cfg = seller.cfg
        t.capex_this_year_usd[i] += capex
        ready, cancel = calendar.permit_draw(model, cfg.region)
        ready += calendar.delivery_delay(model)
        new_sites.append(dict(name=seller.name + label, owner=i,
                              region=model.region_index[cfg.region], gen=gen,
                              mw=cfg.build_site_mw, status=PERMITTING, ready_month=ready,
                              online_month=ready + cfg.lead_time_months,
                              life_months=model.costs.life_months, cancel=cancel))
        owners.append(seller)
        if seller.borrows_to_build:
            seller.borrow(capex)
        else:
            model._external(i, "capex", -capex)
    mw = [s.cfg.build_site_mw for s in owners]
    model._many_events("site_started", [s.name for s in owners],
                       site=[s["name"] for s in new_sites],
                       h100e=[x * gen.h100e_per_mw for x in mw],
                       detail=[f"{gen.name} {x:.0f} MW, ${usd / 1e9:.1f}B"
                               for x, usd in zip(mw, spend, strict=True)])
    model.sites.extend(new_sites)

