"""Stage 1, the calendar: sites move through the pipeline, shocks fall due; and the random
draws of the pipeline (permits, delivery delays) that set-up and investment share."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from market.calendar import month_index
from market.agents.lab import funding_climate
from market.hardware import generation
from market.stages import contracts
from market.supply import CONSTRUCTION, ONLINE, PERMITTING, SCHEDULED

if TYPE_CHECKING:
    from market.agents import Seller
    from market.model import ComputeMarket


def configured_site(model: ComputeMarket, seller: Seller, site) -> dict:
    """The keyword set of ``Sites.extend`` for a site of the scenario (a permitting site draws
    its delay and opposition, a scheduled one whether it arrives)."""
    gen = generation(site.generation)
    online = month_index(site.online)
    status = {"online": ONLINE, "construction": CONSTRUCTION, "permitting": PERMITTING,
              "planned": PERMITTING, "scheduled": SCHEDULED}[site.status]
    ready = online
    cancel = False
    if status == PERMITTING:
        ready, cancel = permit_draw(model, site.region)
    if status == SCHEDULED:
        cancel = bool(model.rng.random() >= site.arrival_probability)
    return dict(name=site.name, owner=seller.party, region=model.region_index[site.region],
                gen=gen, mw=site.mw, status=status, ready_month=ready, online_month=online,
                life_months=model.costs.life_months, cancel=cancel,
                exogenous=status == SCHEDULED, ramp_months=site.ramp_months)


def delivery_delay(model: ComputeMarket) -> int:
    """Extra months before a new site is ready (late equipment, slow trades): Poisson. Sites
    of the scenario keep their announced dates."""
    return int(model.rng.poisson(model.world.delivery_delay_months_mean))


def permit_draw(model: ComputeMarket, region: str) -> tuple[int, bool]:
    """Permitting delay (lognormal around the regional mean) and opposition outcome."""
    cfg = model.world.regions[model.region_index[region]]
    sigma = cfg.permit_months_sigma
    delay = cfg.permit_months_mean * math.exp(sigma * model.rng.standard_normal()
                                              - 0.5 * sigma**2)
    cancel = bool(model.rng.random() < cfg.opposition_probability)
    return model.month + max(1, round(delay)), cancel


def calendar(model: ComputeMarket) -> None:
    m = model.month
    if m % 12 == 0 or m == model.start_month:
        model._headroom = np.array([r.power_headroom_mw_per_year for r in model.world.regions])
    if m % 3 == 0 or m == model.start_month:
        model._gpu_room = model.world.gpu_supply_h100e_per_quarter
    lead = model.party_table.lead_time_months[model.sites.owner]
    events, model._headroom, model._gpu_room = model.sites.advance(
        m, lead_months=lead, headroom_mw=model._headroom, gpu_room_h100e=model._gpu_room,
        life_months=model.costs.life_months)
    if events:
        sites = [ev.site for ev in events]
        model._many_events([f"site_{ev.kind}" for ev in events],
                           [model._names[o] for o in model.sites.owner[sites].tolist()],
                           site=[model.sites.names[i] for i in sites],
                           h100e=model.sites.h100e[sites].tolist())
    model.online_by_party = model.sites.online_h100e_by_owner(len(model.parties))
    for shock in model._shocks.get(m, []):
        if shock.kind == "investor_appetite":
            model.appetite_level *= shock.factor
            model._event("investor_appetite", "market", detail=f"x{shock.factor:g}")
            continue
        seller = model.by_name[shock.seller]
        if shock.kind == "recall":
            # the owner takes capacity back for its own models: its internal need rises by
            # what it recalls
            recalled = contracts.recall(model, seller, share=shock.share, reason="recall_shock")
            model.own_need[seller.party] += recalled
            model.own_need_fixed[seller.party] += recalled
        elif shock.kind == "seller_exit":
            contracts.seller_exit(model, seller)
    climate(model)


def climate(model: ComputeMarket) -> None:
    """The funding climate moves on (one draw a month from its own stream; the first month's
    is drawn at set-up) and sets investor appetite: its level times the climate's factor."""
    if model.month != model.start_month:
        mk = model.world.market
        model.climate, factor = funding_climate(
            model.climate, mk.appetite_halflife_months, mk.appetite_volatility_per_month,
            float(model.climate_rng.standard_normal()))
        model._climate_factor = factor
    model.appetite = model.appetite_level * model._climate_factor
