"""``ComputeMarket``: the monthly market for scarce AI compute (docs/model.md section 8).

``step`` reads as the step order, one line per stage. Agents are thin; the model gathers their
orders into arrays, clears every product of a market with one call of ``market.clearing.clear``,
pairs fills with ``market.matching.match`` and keeps every term contract in a
``market.book.ContractBook``. Money moves only through ``_pay`` (between parties) and
``_external`` (customers, funding, opex, capex, debt service), so conservation can be checked.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import mesa
import numpy as np
import pandas as pd

from market import exact, metrics
from market.agents import Lab, Seller, seller_class
from market.agents.lab import (
    LAB_STATE,
    budget_usd_per_month,
    demand_shock,
    funding_per_year,
    funding_rounds,
    exit_signal,
    growth_rate,
    lab_bids,
    next_inference_need,
    surplus_exits,
    outside_h100e,
    serve,
)
from market.agents.sellers import (
    Neocloud,
    Owner,
    build_signal,
    debt_room,
    expected_price,
    internal_need_next,
    scarcity_markup,
    seller_asks,
    seller_exit_signal,
    should_invest,
    term_discount,
)
from market.book import END_REASONS, ContractBook
from market.calendar import month_index, month_start, notice_end_month
from market.clearing import clear
from market.config import WorldConfig
from market.terms import ContractTerms
from market.hardware import (
    HOURS_PER_MONTH,
    capital_usd_per_h100e_month,
    generations,
    levelized_usd_per_h100e_month,
    newest_generation,
    opex_usd_per_h100e_month,
)
from market.matching import match
from market.supply import AWAITING, CONSTRUCTION, ONLINE, PERMITTING, SCHEDULED, Sites

SPOT = "spot"
FORECAST_MONTHS = 6
"""Labs size term purchases on their need this many months ahead."""
PREFERRED_TENOR_TILT = 1.0
"""Extra weight a lab puts on its preferred tenor when splitting term demand."""
SITE_SALE_DISCOUNT = 0.5
"""A defaulted seller's sites sell at this share of their remaining book value."""
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
    total = exact.total(w, axis=1)[:, None]
    fallback = np.zeros_like(w)
    fallback[rows, preferred] = 1.0
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), fallback)


class Orders(NamedTuple):
    """One market's order book as arrays (``site`` is -1 for bids)."""

    product: np.ndarray
    side: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    who: np.ndarray
    site: np.ndarray


def _world_from(world: WorldConfig | str | Path | None, scenario: str | Path | None,
                months: int | None, overrides: Mapping[str, Any] | Sequence[str] | None,
                settings: Mapping[str, Any]) -> WorldConfig:
    """The world of ``ComputeMarket(...)``: a ``WorldConfig`` as given, or a scenario loaded
    with ``months``, ``overrides`` and the double-underscore ``settings`` applied."""
    if isinstance(world, WorldConfig):
        if scenario is not None or months is not None or overrides or settings:
            raise TypeError("ComputeMarket(world): give either a WorldConfig or a scenario with "
                            "months and overrides, not both")
        return world
    if world is not None and not isinstance(world, (str, Path)):
        raise TypeError(f"world must be a WorldConfig (market.scenarios.load_scenario(...) "
                        f"or build_world(dict)) or a scenario name, got {type(world).__name__}")
    if world is not None and scenario is not None:
        raise TypeError(f"ComputeMarket: scenario given twice ({world!r} and {scenario!r})")
    from market.scenarios import DEFAULT, load_scenario, toml_value

    if isinstance(overrides, Mapping):
        assignments = [f"{k}={toml_value(v)}" for k, v in overrides.items()]
    else:
        assignments = list(overrides or ())
    assignments += [f"{k.replace('__', '.')}={toml_value(v)}" for k, v in settings.items()]
    if months is not None:
        assignments.append(f"months={toml_value(months)}")
    return load_scenario(world or scenario or DEFAULT, assignments)


MONTH_DTYPE = "datetime64[ms]"
"""The dtype of every month and date column of the output tables and sweep series (the unit
Parquet stores, so tables read back keep it): the first day of the month."""
CATEGORICAL_COLUMNS = frozenset({"product", "agent", "kind", "template", "buyer", "seller",
                                 "site", "end_reason", "event", "counterparty"})
"""Name and kind columns of the output tables, stored as pandas categoricals."""


def run_id(world: WorldConfig, rng: np.random.Generator) -> str:
    """A run's id: a hash of its whole configuration and the generator's state before the
    first draw, so equal ids mean equal tables."""
    text = repr((world, rng.bit_generator.state))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def headline_metric(model: ComputeMarket, name: str) -> float:
    """One headline metric (a key of ``market.metrics.summary``) of the months run so far;
    the summary is computed once per month and shared by the reporters."""
    cached = getattr(model, "_headline_cache", None)
    if cached is None or cached[0] != model.month:
        frames = model.frames()
        cached = (model.month, metrics.summary(frames))
        model._headline_cache = cached
        model._frames_handoff = (model.month, frames)  # the next frames() call takes them
    return cached[1][name]


class ComputeMarket(mesa.Model):
    """Labs, owners, hyperscalers and neoclouds trading H100e-months month by month.

    Either ``ComputeMarket(world)`` with a ``WorldConfig``, or, the Mesa way,
    ``ComputeMarket(scenario="no-deal", months=24, rng=3, market__k=0.4)``: keyword arguments
    other than those below are ``--set`` paths with dots written as double underscores
    (``terms__colossus_lease__recall=False``); ``overrides`` takes the same as a dict of paths
    (dots allowed) or a list of ``KEY=VALUE`` strings. So ``mesa.batch_run(ComputeMarket,
    parameters={"scenario": [...], "market__k": [...]}, rng=[...])`` runs a grid.

    Args:
        world: the configuration, or a scenario name or .toml path (like ``scenario``).
        scenario: shipped scenario name or path to a .toml file (default ``colossus-2026``).
        months: months to simulate (default: the scenario's).
        rng: seed or numpy Generator; every random draw of the run comes from it.
        overrides: parameter overrides, validated like the scenario file.
        check_invariants: verify capacity, money and cash invariants after every step.

    Raises:
        market.scenarios.ScenarioError: a bad scenario, path or value (one line naming it).
    """

    def __init__(self, world: WorldConfig | str | Path | None = None, *,
                 scenario: str | Path | None = None, months: int | None = None, rng=None,
                 overrides: Mapping[str, Any] | Sequence[str] | None = None,
                 check_invariants: bool = False, **settings: Any) -> None:
        world = _world_from(world, scenario, months, overrides, settings)
        super().__init__(rng=rng)
        self.world = world
        self.seed: int | None = int(rng) if isinstance(rng, (int, np.integer)) else None
        """The integer seed of the run (``None`` when ``rng`` was a Generator or entropy)."""
        self.run_id = run_id(world, self.rng)
        self.datacollector = mesa.DataCollector(model_reporters={
            name: functools.partial(headline_metric, name=name)
            for name in metrics.summary_keys(world.market.term_tenors_months)})
        """Mesa's collector of the headline metrics (``market.metrics.summary``); it collects
        once, when the run ends, over the whole run (a row per run in ``mesa.batch_run``)."""
        self.check = check_invariants
        self.start_month = world.start_month
        self.month = self.start_month
        self.end_month = self.start_month + world.months
        self.costs = world.costs
        self.market_cfg = world.market

        self.labs = [Lab(self, cfg, party=i) for i, cfg in enumerate(world.labs)]
        n_labs = len(self.labs)
        self.sellers: list[Seller] = [seller_class(cfg.kind)(self, cfg, party=n_labs + j)
                                      for j, cfg in enumerate(world.sellers)]
        self.parties: list[Lab | Seller] = [*self.labs, *self.sellers]
        self.by_name = {p.name: p for p in self.parties}
        self.defaulted = np.zeros(len(self.parties), dtype=bool)
        self.unsold = {"spot": np.zeros(len(self.sellers)), "term": np.zeros(len(self.sellers))}
        self._seller_markup = np.array([s.cfg.markup for s in self.sellers])
        self._seller_strategy = np.array([s.strategy.name for s in self.sellers])
        self._seller_party = np.array([s.party for s in self.sellers], dtype=np.int64)
        self._default_patience = np.array([s.cfg.default_patience_months for s in self.sellers])
        self.negative_cash_months = np.zeros(len(self.sellers), dtype=np.int64)
        self._own_growth = np.array([s.cfg.own_need_growth_per_month for s in self.sellers])
        self._own_volatility = np.array([s.cfg.own_need_volatility for s in self.sellers])
        self.lab_state = {name: np.zeros(n_labs) for name in LAB_STATE}
        # the starting level of demand is itself uncertain: one draw per lab
        vol = np.array([c.growth_volatility for c in world.labs])
        self.lab_state["inference_h100e"] = np.array([c.inference_h100e for c in world.labs]) * (
            1.0 + demand_shock(0.0, vol, self.rng.standard_normal(n_labs)))
        self._lab_volatility = vol
        # labs enter with their revenue run rate (it sets their first budget and funding)
        self.lab_state["revenue_usd"] = self.lab_state["inference_h100e"] * np.array(
            [c.usd_per_served_h100e_month for c in world.labs])
        self.appetite = world.market.investor_appetite
        """Investor appetite now (the scenario's, moved by investor_appetite shocks)."""
        self._lab_param = {f: np.array([getattr(c, f) for c in world.labs], dtype=float)
                           for f in ("growth_per_month", "growth_halflife_months", "churn",
                                     "training_share", "usd_per_served_h100e_month",
                                     "training_value_usd_per_h100e_month", "outside_share",
                                     "outside_usd_per_h100e_month")}
        self._debt_to_backlog = np.array([s.cfg.debt_to_backlog for s in self.sellers])
        self._scarcity = {"spot": np.zeros(len(self.sellers)),
                          "term": np.zeros(len(self.sellers))}
        funding = [(lab.party, m, usd) for lab in self.labs for m, usd in lab.funding.items()]
        self._funding_lab, self._funding_month, self._funding_usd = (
            np.array([f[i] for f in funding], dtype=dt)
            for i, dt in ((0, np.int64), (1, np.int64), (2, float)))
        self.own_need = np.array([0.0 if isinstance(p, Lab) else p.cfg.own_need_h100e
                                  for p in self.parties])
        self.own_need_fixed = np.zeros(len(self.parties))
        """Part of internal need that does not grow (capacity recalled for a fixed project)."""
        self.seller_revenue = np.zeros(len(self.parties))
        self._seller_kind = np.array([s.kind for s in self.sellers])
        self._hurdle = np.array([s.cfg.hurdle_rate for s in self.sellers])
        self._presale_ratio = np.array([s.cfg.presale_ratio for s in self.sellers])
        self._reserve_margin = np.array([0.0 if isinstance(p, Lab) else p.cfg.reserve_margin
                                         for p in self.parties])
        self.seller_cost = np.zeros(len(self.parties))
        self.cash = np.array([p.cfg.cash_usd for p in self.parties], dtype=float)
        self.initial_cash_usd = exact.total(self.cash)
        self.external_usd: dict[str, float] = defaultdict(float)

        gens = list(generations().values())
        self._opex_by_gen = np.array([opex_usd_per_h100e_month(g, self.costs) for g in gens])
        self._levelized_by_gen = np.array(
            [levelized_usd_per_h100e_month(g, self.costs) for g in gens])
        self._capital_by_gen = np.array(
            [capital_usd_per_h100e_month(g, self.costs) for g in gens])

        self.region_index = {r.name: i for i, r in enumerate(world.regions)}
        self._headroom = np.array([r.power_headroom_mw_per_year for r in world.regions])
        self._gpu_room = world.gpu_supply_h100e_per_quarter
        self.sites = Sites()
        for seller in self.sellers:
            for site in seller.cfg.sites:
                self._add_configured_site(seller, site)

        tenors = list(world.market.term_tenors_months)
        self.products = [f"term_{t}m" for t in tenors] + [SPOT]
        self.tenors = np.array([*tenors, 1])
        self.spot_product = len(tenors)
        self.spot_index = world.market.initial_spot_usd_per_h100e_month
        self.term_index = self.spot_index * (
            1.0 - term_discount(np.array(tenors), world.market.term_discount_per_year))
        self._seller_product = np.array([self._product_of(s) for s in self.sellers])
        self._lab_product = np.array([tenors.index(lab.cfg.tenor_months) for lab in self.labs])
        self._ask_depth = np.zeros(len(tenors))
        self._bid_depth = np.zeros(len(tenors))
        # each seller's template at each term tenor (one object per pair, shared by contracts)
        self._lease_terms = [[self.market_cfg.terms(s.cfg.lease_template).with_tenor(int(t))
                              for t in tenors] for s in self.sellers]
        self._lab_exit_premium = np.array([lab.cfg.exit_premium for lab in self.labs])
        self._lab_exit_patience = np.array([lab.cfg.exit_patience_months for lab in self.labs])
        self._lab_runway_floor = np.array([lab.cfg.runway_floor_months for lab in self.labs])
        self._lead_by_party = np.array([0 if isinstance(p, Lab) else p.cfg.lead_time_months
                                        for p in self.parties], dtype=np.int64)
        self._h100e_per_mw_by_gen = np.array([g.h100e_per_mw for g in gens])

        self.book = ContractBook()
        self._expensive_months = np.zeros(0, dtype=np.int64)
        self._surplus_months = np.zeros(len(self.labs), dtype=np.int64)
        """Per lab: months in a row it has held contract capacity beyond its need."""
        self._rich_months = np.zeros(0, dtype=np.int64)
        """Per contract: months in a row spot has paid its seller enough more to exit it."""
        self._exit_premium = np.array([0.0 if isinstance(p, Lab) else p.cfg.opportunism
                                       for p in self.parties])
        self._exit_patience = np.array([1 if isinstance(p, Lab) else p.cfg.exit_patience_months
                                        for p in self.parties])
        self._recall_cache_month = -1
        self._recall_cache = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._rows_market: list[dict] = []
        self._agent_cols: list[dict[str, np.ndarray]] = []
        self._agent_names = np.array([p.name for p in self.parties])
        self._agent_kinds = np.array([f"{p.kind}_lab" if isinstance(p, Lab) else p.kind
                                      for p in self.parties])
        self._events: list[tuple] = []
        self._spot_bought = np.zeros(len(self.parties))
        self._spot_sold = np.zeros(len(self.parties))
        self.online_by_party = np.zeros(len(self.parties))
        self._paid = np.zeros(len(self.parties))
        self._received = np.zeros(len(self.parties))
        self._preload_contracts()
        self._shocks = defaultdict(list)
        for shock in world.shocks:
            self._shocks[month_index(shock.month)].append(shock)
        self.running = True

    # ------------------------------------------------------------------ set-up helpers
    @property
    def months_elapsed(self) -> int:
        """Months since the scenario start."""
        return self.month - self.start_month

    def _product_of(self, seller: Seller) -> int:
        terms = self.market_cfg.terms(seller.cfg.lease_template)
        tenors = list(self.market_cfg.term_tenors_months)
        if terms.tenor_months in tenors:
            return tenors.index(terms.tenor_months)
        return -1  # sells spot only

    def _add_configured_site(self, seller: Seller, site) -> None:
        from market.hardware import generation

        gen = generation(site.generation)
        online = month_index(site.online)
        status = {"online": ONLINE, "construction": CONSTRUCTION, "permitting": PERMITTING,
                  "planned": PERMITTING, "scheduled": SCHEDULED}[site.status]
        ready = online
        cancel = False
        if status == PERMITTING:
            ready, cancel = self._permit_draw(site.region)
        if status == SCHEDULED:
            cancel = bool(self.rng.random() >= site.arrival_probability)
        self.sites.add(site.name, owner=seller.party, region=self.region_index[site.region],
                       gen=gen, mw=site.mw, status=status, ready_month=ready,
                       online_month=online, life_months=self.costs.life_months, cancel=cancel,
                       exogenous=status == SCHEDULED, ramp_months=site.ramp_months)

    def _delivery_delay(self) -> int:
        """Extra months before a new site is ready (late equipment, slow trades): Poisson. Sites
        of the scenario keep their announced dates."""
        return int(self.rng.poisson(self.world.delivery_delay_months_mean))

    def _permit_draw(self, region: str) -> tuple[int, bool]:
        """Permitting delay (lognormal around the regional mean) and opposition outcome."""
        cfg = self.world.regions[self.region_index[region]]
        sigma = cfg.permit_months_sigma
        delay = cfg.permit_months_mean * math.exp(sigma * self.rng.standard_normal()
                                                   - 0.5 * sigma**2)
        cancel = bool(self.rng.random() < cfg.opposition_probability)
        return self.month + max(1, round(delay)), cancel

    def _preload_contracts(self) -> None:
        for c in self.world.contracts:
            terms = self.market_cfg.terms(c.template)
            price = (c.usd_per_month / c.h100e if c.usd_per_month is not None
                     else terms.usd_per_h100e_month)
            site = self.sites.names.index(c.site)
            self._sign(np.array([self.by_name[c.buyer].party]),
                       np.array([self.by_name[c.seller].party]), np.array([site]),
                       np.array([c.h100e]), np.array([price]), terms,
                       start=month_index(c.start), mw=np.array([c.mw]), check=False)
            self._event("contract_preloaded", c.buyer, counterparty=c.seller, h100e=c.h100e,
                        detail=f"{c.template} at ${price:,.0f}/H100e-month")

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """One month, in the order of docs/model.md section 8."""
        self._paid = np.zeros(len(self.parties))
        self._received = np.zeros(len(self.parties))
        self._calendar()          # 1. sites come online, opposition, shocks
        self._expire()            # 2. notices and recalls that fall due end contracts
        self._decide_notices()    # 3. owners recall; buyers and sellers give notice
        self._clear_term()        # 4. term market: new contracts start next month
        self._clear_spot()        # 5. spot market: one-month allocations
        self._settle()            # 6. billing, revenue, costs, cash, defaults
        self._invest()            # 7. new sites enter the pipeline
        self._collect()           # 8. data collection
        if self.check:
            self.check_invariants()
        self.month += 1
        if self.month >= self.end_month:
            self.running = False
            self.datacollector.collect(self)

    def run(self, months: int | None = None, progress=None) -> ComputeMarket:
        """Step ``months`` times (default: to the scenario's end); ``progress`` is called after
        each step with the model."""
        left = self.end_month - self.month
        n = left if months is None else months
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= left:
            raise ValueError(f"months = {months!r}: must be a whole number from 0 to the "
                             f"{left} month(s) left of this run ({self.world.months} in all)")
        for _ in range(n):
            self.step()
            if progress is not None:
                progress(self)
        return self

    # 1 ------------------------------------------------------------------
    def _calendar(self) -> None:
        m = self.month
        if m % 12 == 0 or m == self.start_month:
            self._headroom = np.array([r.power_headroom_mw_per_year for r in self.world.regions])
        if m % 3 == 0 or m == self.start_month:
            self._gpu_room = self.world.gpu_supply_h100e_per_quarter
        lead = self._lead_by_party[self.sites.owner]
        events, self._headroom, self._gpu_room = self.sites.advance(
            m, lead_months=lead, headroom_mw=self._headroom, gpu_room_h100e=self._gpu_room,
            life_months=self.costs.life_months)
        for ev in events:
            owner = self.parties[self.sites.owner[ev.site]]
            self._event(f"site_{ev.kind}", owner.name, site=self.sites.names[ev.site],
                        h100e=float(self.sites.h100e[ev.site]))
        self.online_by_party = self.sites.online_h100e_by_owner(len(self.parties))
        for shock in self._shocks.get(m, []):
            if shock.kind == "investor_appetite":
                self.appetite *= shock.factor
                self._event("investor_appetite", "market", detail=f"x{shock.factor:g}")
                continue
            seller = self.by_name[shock.seller]
            if shock.kind == "recall":
                # the owner takes capacity back for its own models: its internal need rises by
                # what it recalls
                recalled = self._recall(seller, share=shock.share, reason="recall_shock")
                self.own_need[seller.party] += recalled
                self.own_need_fixed[seller.party] += recalled
            elif shock.kind == "seller_exit":
                self._seller_exit(seller)

    # 2 ------------------------------------------------------------------
    def _expire(self) -> None:
        """End contracts whose end month has come; early ends become events (expiries are in
        the contracts table)."""
        ended = self.book.expire(self.month)
        if not len(ended):
            return
        b = self.book
        reason = b.end_reason[ended]
        early = ended[reason != END_REASONS.index("expired")]
        for cid, code, buyer, seller, h100e in zip(early, b.end_reason[early], b.buyer[early],
                                                   b.seller[early], b.h100e[early], strict=True):
            self._event(f"contract_ended_{END_REASONS[code]}", self.parties[buyer].name,
                        counterparty=self.parties[seller].name, contract=int(cid),
                        h100e=float(h100e))

    # 3 ------------------------------------------------------------------
    def _decide_notices(self) -> None:
        owners = [s for s in self.sellers if isinstance(s, Owner) and not s.defaulted]
        if owners:
            short = self._owner_shortfall_h100e()
            for owner in owners:
                if short[owner.party] > 0:
                    self._recall(owner, h100e=float(short[owner.party]), reason="own_need")
        self._seller_exits()
        self._lab_exits()

    def _recallable(self, seller: Seller) -> np.ndarray:
        """Ids of the seller's leases it may still recall (live or not yet started)."""
        if self._recall_cache_month != self.month:
            b = self.book
            ids = np.flatnonzero((b.live(self.month) | (b.start_month > self.month))
                                 & b.has_recall & (b.notice_month < 0))
            ids = ids[np.argsort(b.seller[ids], kind="stable")]
            self._recall_cache = (ids, b.seller[ids])
            self._recall_cache_month = self.month
        ids, owner = self._recall_cache
        lo, hi = np.searchsorted(owner, [seller.party, seller.party + 1])
        mine = ids[lo:hi]
        return mine[self.book.notice_month[mine] < 0]

    def _owner_shortfall_h100e(self) -> np.ndarray:
        """Per party: how far internal need (with reserve) exceeds the capacity it will have
        free once a 90-day recall takes effect, counting sites about to come online."""
        ahead = self.month + 4
        n = len(self.parties)
        committed = self.book.committed_h100e(ahead, by="seller", n=n)
        arriving = (np.isin(self.sites.status, [CONSTRUCTION, AWAITING])
                    & (self.sites.ready_month <= ahead + 2))
        capacity = self.online_by_party + np.bincount(
            self.sites.owner[arriving], weights=self.sites.h100e[arriving], minlength=n)
        return self._reserves(margin=True) - (capacity - committed)

    def _recall(self, seller: Seller, *, h100e: float | None = None, share: float = 1.0,
                reason: str) -> float:
        """Recall leases with the recall right, in the order their terms give
        (``ContractBook.recall_order``), until ``h100e`` (or ``share`` of them) is covered;
        return the H100e recalled."""
        ids = self._recallable(seller)
        if not ids.size:
            return 0.0
        ids = self.book.recall_order(ids)
        qty = self.book.h100e[ids]
        want = share * exact.total(qty) if h100e is None else h100e
        take = ids[np.concatenate([[True], np.cumsum(qty)[:-1] < want])] if want > 0 else ids[:0]
        if not take.size:
            return 0.0
        self._apply(self.book.recall(take, self.month).transfers)
        for cid in take:
            self._event("recall_notice", seller.name, contract=int(cid),
                        counterparty=self.parties[self.book.buyer[cid]].name,
                        h100e=float(self.book.h100e[cid]), detail=reason)
        return exact.total(self.book.h100e[take])

    def _seller_exits(self) -> None:
        """Sellers give notice on leases that spot, net of their exit fee, has paid more than
        the lease by their exit premium (``opportunism``) for ``exit_patience_months``."""
        b = self.book
        n = len(b)
        if self._rich_months.size < n:
            self._rich_months = np.concatenate(
                [self._rich_months, np.zeros(n - self._rich_months.size, np.int64)])
        if not n:
            return
        days = np.maximum(b.seller_notice_days, 0)
        freed = b.ended_month - notice_end_month(month_start(self.month), days)
        candidates = (b.live(self.month) & (b.seller_notice_days >= 0) & (b.notice_month < 0)
                      & ~self.defaulted[b.seller])
        signal = candidates & seller_exit_signal(b.usd_per_h100e_month, self.spot_index,
                                                 self._exit_premium[b.seller],
                                                 b.seller_exit_fee_months, freed)
        self._rich_months = np.where(signal, self._rich_months + 1, 0)
        exits = signal & (self._rich_months >= self._exit_patience[b.seller])
        self._notice(np.flatnonzero(exits), "seller", "opportunity")

    def _seller_exit(self, seller: Seller) -> None:
        b = self.book
        ids = np.flatnonzero((b.live(self.month) | (b.start_month > self.month))
                             & (b.seller[: len(b)] == seller.party)
                             & (b.notice_month[: len(b)] < 0))
        self._notice(ids, "seller", "seller_exit_shock")

    def _notice(self, ids: np.ndarray, by: str, reason: str) -> None:
        """Give notice on ``ids`` (by "buyer" or "seller"); accepted ones become events."""
        if not ids.size:
            return
        result = self.book.give_notice(ids, by=by, month=self.month)
        self._apply(result.transfers)
        b = self.book
        done = result.ids[result.accepted]
        who, other = (b.buyer[done], b.seller[done]) if by == "buyer" else (b.seller[done],
                                                                            b.buyer[done])
        for cid, w, o, h100e in zip(done, who, other, b.h100e[done], strict=True):
            self._event(f"{by}_notice", self.parties[w].name,
                        counterparty=self.parties[o].name, contract=int(cid),
                        h100e=float(h100e), detail=reason)

    def _lab_exits(self) -> None:
        """Buyers exit contracts priced above spot x (1 + exit premium) for too long, or their
        most expensive one when their cash runway is short."""
        b = self.book
        n = len(b)
        if self._expensive_months.size < n:
            self._expensive_months = np.concatenate(
                [self._expensive_months, np.zeros(n - self._expensive_months.size, np.int64)])
        if not n or not self.labs:
            return
        candidates = (b.live(self.month) & (b.buyer_notice_days >= 0) & (b.notice_month < 0)
                      & (b.buyer < len(self.labs)))
        buyer = np.where(candidates, b.buyer, 0)
        signal = candidates & exit_signal(b.usd_per_h100e_month, self.spot_index,
                                          self._lab_exit_premium[buyer])
        self._expensive_months = np.where(signal, self._expensive_months + 1, 0)
        exits = signal & (self._expensive_months >= self._lab_exit_patience[buyer])
        spend = self._committed_usd_by_party()[: len(self.labs)]
        revenue = np.array([lab.revenue_usd for lab in self.labs])
        floor = self._lab_runway_floor
        short = (spend > 0) & (self.cash[: len(self.labs)] < floor * (spend - revenue))
        short &= ~self.defaulted[: len(self.labs)]
        for lab_pos in np.flatnonzero(short):
            mine = np.flatnonzero(candidates & (b.buyer == lab_pos))
            if mine.size:
                exits[mine[np.argmax(b.usd_per_h100e_month[mine])]] = True
        self._notice(np.flatnonzero(exits), "buyer", "price_or_runway")
        # capacity held under contract beyond the need (after outside compute), for too long
        state = self.lab_state
        need = state["inference_h100e"] * (1.0 + self._lab_param["training_share"])
        leaving = b.live(self.month) & (b.notice_month >= 0)  # notice given, not yet ended
        pending = np.bincount(b.buyer[:n][leaving], weights=b.h100e[:n][leaving],
                              minlength=len(self.parties))[: len(self.labs)]
        surplus = np.maximum(self._delivered_h100e()[: len(self.labs)] - pending
                             - np.maximum(need - self._outside()[0], 0.0), 0.0)
        surplus = np.where(self.defaulted[: len(self.labs)], 0.0, surplus)
        self._surplus_months = np.where(surplus > 0, self._surplus_months + 1, 0)
        patient = self._surplus_months >= self._lab_exit_patience
        free = candidates & (b.notice_month < 0)
        shed = surplus_exits(b.buyer[:n], b.usd_per_h100e_month[:n], b.h100e[:n],
                             free & patient[buyer], np.where(patient, surplus, 0.0))
        self._notice(np.flatnonzero(shed), "buyer", "surplus")

    def _committed_usd_by_party(self) -> np.ndarray:
        """Full monthly fees of each buyer's live contracts this month."""
        b = self.book
        live = b.live(self.month)
        return np.bincount(b.buyer[live], weights=b.h100e[live] * b.usd_per_h100e_month[live],
                           minlength=len(self.parties))

    # 4 and 5 -------------------------------------------------------------
    def _site_costs(self) -> tuple[np.ndarray, np.ndarray]:
        return self._opex_by_gen[self.sites.gen], self._levelized_by_gen[self.sites.gen]

    def _spare_by_site(self, month: int, reserve: np.ndarray, until: int | None = None
                       ) -> np.ndarray:
        """Uncommitted online H100e per site from ``month`` (to ``until``: the most committed
        month, counting contracts that start later), after each owner's ``reserve`` (H100e per
        party) is kept back from its sites in order."""
        n_sites = len(self.sites)
        online = self.sites.online_h100e()
        committed = self.book.committed_h100e(month, by="site", n=n_sites)
        if until is not None:
            b = self.book
            later = np.unique(b.start_month[(b.start_month > month) & (b.start_month < until)
                                            & (b.ended_month > b.start_month)])
            for m in later:  # the few months at which pre-signed contracts begin
                committed = np.maximum(committed,
                                       self.book.committed_h100e(int(m), by="site", n=n_sites))
        spare = np.maximum(online - committed, 0.0)
        owner = self.sites.owner
        spare[self.defaulted[owner]] = 0.0
        # keep each owner's reserve on its first sites: cumulative spare within each owner
        order = np.argsort(owner, kind="stable")
        cum = np.cumsum(spare[order])
        group_start = np.searchsorted(owner[order], owner[order], side="left")
        before = np.concatenate([[0.0], cum])[group_start]
        within = cum - before
        kept = np.clip(within - reserve[owner[order]], 0.0, spare[order])
        spare[order] = kept
        return spare

    def _delivered_h100e(self) -> np.ndarray:
        """Per party: H100e its live contracts deliver this month (contracted H100e times the
        share its site has online, ``ContractBook.delivered_share``)."""
        b = self.book
        self._delivered = b.delivered_share(self.month, self.sites.online_h100e())
        return np.bincount(b.buyer, weights=b.h100e * self._delivered,
                           minlength=len(self.parties))

    def _reserves(self, margin: bool) -> np.ndarray:
        """Own capacity each party keeps: internal need, with the reserve margin for term."""
        return self.own_need * (1.0 + self._reserve_margin) if margin else self.own_need.copy()

    def _lab_growth(self) -> np.ndarray:
        """This month's demand growth rate of every lab."""
        p = self._lab_param
        return growth_rate(p["growth_per_month"], p["growth_halflife_months"],
                           self.months_elapsed)

    def _outside(self) -> tuple[np.ndarray, np.ndarray]:
        """H100e each lab runs outside this market this month, and what it costs (USD)."""
        p = self._lab_param
        h100e = outside_h100e(self.lab_state["inference_h100e"], p["training_share"],
                              p["outside_share"])
        return h100e, h100e * p["outside_usd_per_h100e_month"]

    def _lab_arrays(self, months_ahead: int, share: np.ndarray | float = 1.0):
        """Targets, inference needs and budgets of all labs, ``months_ahead`` forward."""
        grow = exact.power(1.0 + self._lab_growth(), months_ahead)
        inference = self.lab_state["inference_h100e"] * grow * share
        need = inference * (1.0 + self._lab_param["training_share"])
        n_labs = len(self.labs)
        upcoming = (self._funding_month > self.month) & (self._funding_month <= self.month + 12)
        funding = np.bincount(self._funding_lab[upcoming], weights=self._funding_usd[upcoming],
                              minlength=n_labs) + funding_per_year(
            self.lab_state["revenue_usd"], self._lab_growth(), self.appetite)
        budget = (budget_usd_per_month(self.lab_state["revenue_usd"], self.cash[:n_labs],
                                       funding)
                  - self._committed_usd_by_party()[:n_labs] - self._outside()[1])
        return need, inference, budget

    def _clear_term(self) -> None:
        """Term market: labs and sellers split their term demand and spare capacity across
        tenors (mostly their preferred one: a lab's own, a seller's template tenor) in
        proportion to the other side's depth last month; contracts start next month."""
        nxt = self.month + 1
        self._price_scarcity()
        if not len(self.sites) or not self.labs:
            return
        spare = self._spare_by_site(nxt, self._reserves(margin=True),
                                    until=nxt + int(self.tenors[:-1].max()))
        n_labs = len(self.labs)
        held_next = (self.book.committed_h100e(nxt, by="buyer", n=len(self.parties))[:n_labs]
                     + self._outside()[0])
        share = np.array([lab.cfg.term_share for lab in self.labs])
        target, inference, budget = self._lab_arrays(FORECAST_MONTHS, share)
        weights = tenor_weights(self._ask_depth, self._lab_product)
        parts = []
        for p in range(self.spot_product):
            # a block's months are worth what spot is expected to cost over its tenor
            scale = float(expected_price(1.0, 1.0, PRICE_DECLINE_PER_YEAR, self.tenors[p]))
            pos, q, lim = lab_bids(self.labs, held_next, target, inference,
                                   np.full(n_labs, self.spot_index * scale), budget,
                                   tranches=2, value_scale=scale)
            q = q * weights[pos, p]
            parts.append((np.full(pos.size, p), np.ones(pos.size, np.int64), lim, q, pos, -1))
        opex, levelized = self._site_costs()
        sites = np.flatnonzero(spare > 0)
        owner_pos = self.sites.owner[sites] - n_labs
        sells_term = self._seller_product[owner_pos] >= 0
        sites, owner_pos = sites[sells_term], owner_pos[sells_term]
        split = tenor_weights(self._bid_depth, self._seller_product[owner_pos])
        for p in range(self.spot_product):
            # a term offer must not outlive its site
            offer = spare[sites] * split[:, p] * (
                self.sites.retire_month[sites] >= nxt + self.tenors[p])
            discount = term_discount(self.tenors[p], self.market_cfg.term_discount_per_year)
            asks = self._asks(owner_pos, opex[sites], levelized[sites], "term", discount)
            parts.append((np.full(sites.size, p), -np.ones(sites.size, np.int64), asks, offer,
                          self.sites.owner[sites], sites))
        result, pairs, orders = self._auction(parts, "term")
        if pairs.quantity.size:
            self._sign_pairs(result, pairs, orders, start=nxt)

    def _clear_spot(self) -> None:
        """Spot market for this month: what term contracts leave uncovered."""
        self._spot_bought[:] = 0.0
        self._spot_sold[:] = 0.0
        if not len(self.sites) or not self.labs:
            return
        n_labs = len(self.labs)
        spare = self._spare_by_site(self.month, self._reserves(margin=False))
        held = self._delivered_h100e()[:n_labs] + self._outside()[0]
        need, inference, budget = self._lab_arrays(0)
        sp = self.spot_product
        pos, q, lim = lab_bids(self.labs, held, need, inference,
                               np.full(n_labs, self.spot_index), budget)
        opex, levelized = self._site_costs()
        sites = np.flatnonzero(spare > 0)
        asks = self._asks(self.sites.owner[sites] - n_labs, opex[sites], levelized[sites],
                          "spot")
        parts = [(np.full(pos.size, sp), np.ones(pos.size, np.int64), lim, q, pos, -1),
                 (np.full(sites.size, sp), -np.ones(sites.size, np.int64), asks, spare[sites],
                  self.sites.owner[sites], sites)]
        result, pairs, orders = self._auction(parts, "spot")
        if not pairs.quantity.size:
            return
        price = (np.full(pairs.quantity.size, result.price[sp]) if result.paid is None
                 else result.paid[pairs.buy])
        buyer, seller = orders.who[pairs.buy], orders.who[pairs.sell]
        np.add.at(self._spot_bought, buyer, pairs.quantity)
        np.add.at(self._spot_sold, seller, pairs.quantity)
        self._pay(buyer, seller, pairs.quantity * price)

    def _asks(self, pos: np.ndarray, opex: np.ndarray, levelized: np.ndarray, market: str,
              discount: float = 0.0) -> np.ndarray:
        """Sellers' asks for offers whose seller positions are ``pos``."""
        return seller_asks(self._seller_kind[pos], self._seller_markup[pos],
                           self._seller_strategy[pos], self._scarcity[market][pos], opex,
                           levelized, market, discount)

    def _price_scarcity(self) -> None:
        """Each seller's scarcity markup for this month's term and spot asks, from its
        utilization last month, its backlog a year ahead and the share of its last offer in
        each market that sat idle."""
        n = len(self.parties)
        sp = self._seller_party
        online = self.online_by_party[sp]
        committed = self.book.committed_h100e(self.month, by="seller", n=n)[sp]
        ahead = self.book.committed_h100e(self.month + 12, by="seller", n=n)[sp]
        used = committed + np.minimum(self.own_need[sp], online) + self._spot_sold[sp]
        safe = np.where(online > 0, online, 1.0)
        utilization = np.where(online > 0, used / safe, 1.0)
        backlog = np.where(online > 0, ahead / safe, 0.0)
        ceiling = self.market_cfg.scarcity_markup
        self._scarcity = {m: scarcity_markup(utilization, backlog, self.unsold[m], ceiling)
                          for m in ("term", "spot")}

    def _auction(self, parts, market: str):
        """Clear one market's orders (all its products in one call), pair the fills, record the
        market rows and each seller's unsold share."""
        orders = Orders(*(np.concatenate([np.broadcast_to(np.asarray(part[i]), part[0].shape)
                                          for part in parts]) for i in range(6)))
        result = clear(orders.product, orders.side, orders.price, orders.qty,
                       n_products=len(self.products), k=self.market_cfg.k,
                       rule=self.market_cfg.rule)
        pairs = match(orders.product, orders.side, result.filled)
        sell = orders.side < 0
        n = len(self.parties)
        offered = np.bincount(orders.who[sell], weights=orders.qty[sell], minlength=n)
        sold = np.bincount(orders.who[sell], weights=result.filled[sell], minlength=n)
        o, q = offered[self._seller_party], sold[self._seller_party]
        self.unsold[market] = np.where(o > 0, 1.0 - q / np.where(o > 0, o, 1.0), 0.0)
        self._record_market(result, orders, term=market == "term")
        return result, pairs, orders

    def _record_market(self, result, orders, *, term: bool) -> None:
        """Append one row per product of this market and update the reference price index."""
        buy, sell = orders.side > 0, orders.side < 0
        bids = np.bincount(orders.product[buy], weights=orders.qty[buy],
                           minlength=len(self.products))
        asks = np.bincount(orders.product[sell], weights=orders.qty[sell],
                           minlength=len(self.products))
        products = range(self.spot_product) if term else [self.spot_product]
        w = self.market_cfg.price_memory
        if term:
            # smoothed depths: splitting on last month's alone makes both sides chase each other
            self._ask_depth = (1 - w) * self._ask_depth + w * asks[: self.spot_product]
            self._bid_depth = (1 - w) * self._bid_depth + w * bids[: self.spot_product]
        for p in products:
            price = float(result.price[p])
            if not math.isnan(price):
                if p == self.spot_product:
                    self.spot_index = (1 - w) * self.spot_index + w * price
                else:
                    self.term_index[p] = (1 - w) * self.term_index[p] + w * price
            index = self.spot_index if p == self.spot_product else float(self.term_index[p])
            self._rows_market.append({
                "month": self.month, "product": self.products[p],
                "tenor_months": int(self.tenors[p]),
                "price_usd_per_h100e_month": price,
                "volume_h100e": float(result.volume[p]),
                "bid_depth_h100e": float(bids[p]), "ask_depth_h100e": float(asks[p]),
                "index_usd_per_h100e_month": index,
            })

    def _sign_pairs(self, result, pairs, orders, *, start: int) -> None:
        """Turn matched term fills into contracts on the sellers' templates, one batch."""
        seller = orders.who[pairs.sell]
        price = (result.price[orders.product[pairs.buy]] if result.paid is None
                 else result.paid[pairs.buy])
        product = orders.product[pairs.sell]
        terms = [self._lease_terms[s - len(self.labs)][p] for s, p in zip(seller, product,
                                                                          strict=True)]
        self._sign(orders.who[pairs.buy], seller, orders.site[pairs.sell], pairs.quantity,
                   price, terms, start=start)

    def _sign(self, buyer, seller, site, h100e, price, terms, *, start: int,
              mw=None, check: bool = True) -> None:
        """Sign a batch of contracts; the book refuses any that would over-commit a site."""
        if mw is None:
            mw = h100e / self._h100e_per_mw_by_gen[self.sites.gen[site]]
        self.book.sign(buyer, seller, site, h100e, start_month=start, terms=terms,
                       usd_per_h100e_month=price, mw=mw, signed_month=self.month,
                       site_capacity_h100e=self.sites.online_h100e() if check else None)
        # one event per buyer and month (the contracts table holds each contract)
        buyers, first, count = np.unique(buyer, return_index=True, return_counts=True)
        volume = np.bincount(np.searchsorted(buyers, buyer), weights=h100e)
        spend = np.bincount(np.searchsorted(buyers, buyer), weights=h100e * price)
        for b, i, c, q, usd in zip(buyers, first, count, volume, spend, strict=True):
            name = terms.name if isinstance(terms, ContractTerms) else terms[i].name
            self._event("contracts_signed", self.parties[b].name,
                        counterparty=self.parties[seller[i]].name if c == 1 else f"{c} sellers",
                        h100e=float(q), detail=f"{name}: {c} contract(s) at "
                        f"${usd / q:,.0f}/H100e-month on average")

    # 6 ------------------------------------------------------------------
    def _settle(self) -> None:
        """Bills, spot already paid; labs earn revenue and funding; sellers pay opex and debt;
        defaults; then demand and internal need move on to next month."""
        m = self.month
        n = len(self.parties)
        n_labs = len(self.labs)
        outside, outside_usd = self._outside()
        own = (self._delivered_h100e() + self._spot_bought)[:n_labs]
        state, param = self.lab_state, self._lab_param
        own = np.where(self.defaulted[:n_labs], 0.0, own)
        outside = np.where(self.defaulted[:n_labs], 0.0, outside)
        held = own + outside
        if outside_usd.any():
            outside_usd = np.where(self.defaulted[:n_labs], 0.0, outside_usd)
            self._external_many(np.arange(n_labs), "outside_compute", -outside_usd)
            self._paid[:n_labs] += outside_usd
        (state["served_h100e"], state["unmet_h100e"], state["revenue_usd"],
         state["value_usd"]) = serve(held, state["inference_h100e"], param["training_share"],
                                     param["usd_per_served_h100e_month"],
                                     param["training_value_usd_per_h100e_month"])
        # compute outside this market serves first; each lab uses the same share of all it
        # holds here (its demand may fall below it)
        used = np.ones(n)
        used[:n_labs] = np.where(own > 0, np.minimum(
            np.maximum(state["served_h100e"] - outside, 0.0) / np.where(own > 0, own, 1.0),
            1.0), 1.0)
        self._apply(self.book.bill(m, used_share=used[self.book.buyer],
                                   delivered_share=self._delivered).transfers)
        self._external_many(np.arange(n_labs), "customer_revenue", state["revenue_usd"])
        due = self._funding_month == m
        self._external_many(self._funding_lab[due], "funding", self._funding_usd[due])
        for lab, usd in zip(self._funding_lab[due], self._funding_usd[due], strict=True):
            self._event("funding", self.labs[lab].name, detail=f"${usd / 1e9:.1f}B")
        self._raise_funding()
        online = self.sites.online_h100e()
        opex = np.bincount(self.sites.owner, weights=online * self._opex_by_gen[self.sites.gen],
                           minlength=n)
        capital = np.bincount(self.sites.owner,
                              weights=online * self._capital_by_gen[self.sites.gen], minlength=n)
        parties = self._seller_party[~self.defaulted[self._seller_party]]
        self._external_many(parties, "opex", -opex[parties])
        for seller in self.sellers:
            if seller.debt_usd > 0 and not seller.defaulted:
                interest = seller.debt_usd * seller.cfg.interest_per_year / 12.0
                payment = min(seller.debt_payment_usd, seller.debt_usd + interest)
                seller.debt_usd -= payment - interest
                self._external(seller.party, "debt_service", -payment)
        self.seller_revenue[parties] = self._received[parties]
        self.seller_cost[parties] = opex[parties] + capital[parties]
        self._defaults()
        unmet_inference = np.maximum(state["inference_h100e"] - state["served_h100e"], 0.0)
        growth = demand_shock(self._lab_growth(), self._lab_volatility,
                              self.rng.standard_normal(n_labs))
        state["inference_h100e"] = next_inference_need(
            state["inference_h100e"], unmet_inference, growth, param["churn"])
        committed_out = self.book.committed_h100e(m, by="seller", n=n)
        self._own_need_now = self.own_need.copy()
        self._own_used = np.minimum(self._own_need_now, np.maximum(
            self.online_by_party - committed_out - self._spot_sold, 0.0))
        self._grow_own_need()

    def _raise_funding(self) -> None:
        """Funding rounds (``lab.funding_rounds``), drawn for every lab every month so that
        seeds stay aligned across scenarios."""
        n_labs = len(self.labs)
        usd = funding_rounds(
            funding_per_year(self.lab_state["revenue_usd"], self._lab_growth(), self.appetite),
            self.world.market.raise_interval_months, self.cash[:n_labs],
            np.maximum(self._paid[:n_labs] - self.lab_state["revenue_usd"], 0.0),
            self.rng.random(n_labs), self.rng.standard_normal(n_labs))
        raise_now = np.flatnonzero((usd > 0) & ~self.defaulted[:n_labs])
        if not raise_now.size:
            return
        self._external_many(raise_now, "funding", usd[raise_now])
        for lab in raise_now:
            self._event("funding", self.labs[lab].name, detail=f"${usd[lab] / 1e9:.1f}B round")

    def _grow_own_need(self) -> None:
        """Random growth of sellers' internal need: one draw per seller from the model RNG."""
        shocks = self.rng.standard_normal(len(self.sellers))
        parties = self._seller_party
        fixed = self.own_need_fixed[parties]
        self.own_need[parties] = fixed + internal_need_next(
            self.own_need[parties] - fixed, self._own_growth, self._own_volatility, shocks)

    def _defaults(self) -> None:
        """Labs default when cash turns negative; sellers after ``default_patience_months``."""
        n_labs = len(self.labs)
        for i in np.flatnonzero(~self.defaulted[:n_labs] & (self.cash[:n_labs] < 0)):
            self.defaulted[i] = True
            self.book.default_buyer(i, self.month + 1)
            self._event("lab_default", self.labs[i].name, detail=f"cash ${self.cash[i]:,.0f}")
        parties = self._seller_party
        negative = self.cash[parties] < 0
        self.negative_cash_months = np.where(negative, self.negative_cash_months + 1, 0)
        due = (~self.defaulted[parties] & negative
               & (self.negative_cash_months >= self._default_patience))
        for j in np.flatnonzero(due):
            self._default_seller(self.sellers[j])

    def _default_seller(self, seller: Seller) -> None:
        """Contracts end; sites go at a discount to the richest other seller, or offline."""
        seller.defaulted = True
        self.book.default_seller(seller.party, self.month + 1)
        self._event("seller_default", seller.name, detail=f"cash ${self.cash[seller.party]:,.0f}")
        mine = np.flatnonzero((self.sites.owner == seller.party)
                              & np.isin(self.sites.status, [ONLINE, CONSTRUCTION, AWAITING]))
        others = [s for s in self.sellers if not s.defaulted]
        if not mine.size or not others:
            return
        remaining = np.clip((self.sites.retire_month[mine] - self.month)
                            / self.costs.life_months, 0.0, 1.0)
        value = exact.dot(self.sites.capex_usd[mine], remaining) * SITE_SALE_DISCOUNT
        buyer = max(others, key=lambda s: self.cash[s.party])
        if self.cash[buyer.party] < value:
            self.sites.status[mine] = 4  # RETIRED: taken offline
            self._event("sites_offline", seller.name, h100e=exact.total(self.sites.h100e[mine]))
            return
        self._external(buyer.party, "site_purchase", -value)
        self.sites.owner[mine] = buyer.party
        self._event("sites_sold", seller.name, counterparty=buyer.name,
                    h100e=exact.total(self.sites.h100e[mine]), detail=f"${value / 1e9:.2f}B")
        self.online_by_party = self.sites.online_h100e_by_owner(len(self.parties))

    # 7 ------------------------------------------------------------------
    def _invest(self) -> None:
        """Sellers whose investment rule fires start one site each, within budget and cash."""
        m = self.month
        gen = newest_generation(m)
        levelized = float(self._levelized_by_gen[list(generations()).index(gen.name)])
        n = len(self.parties)
        committed_now = self.book.committed_h100e(m, by="seller", n=n)
        committed_next = self.book.committed_h100e(m + 1, by="seller", n=n)
        online = self.online_by_party
        own = self._reserves(margin=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            utilization = np.where(online > 0, (committed_now + self._spot_sold
                                                + np.minimum(own, online)) / online, 1.0)
            backlog = np.where(online > 0, committed_next / online, 0.0)
        term = np.where(self._seller_product >= 0,
                        np.append(self.term_index, self.spot_index)[self._seller_product],
                        self.spot_index)
        forward = expected_price(term, self.spot_index, PRICE_DECLINE_PER_YEAR,
                                 self.costs.life_months)
        sellers = self._seller_party
        invests = should_invest(forward, utilization[sellers], levelized, self._hurdle)
        room = debt_room(self._backlog_usd()[sellers], self._debt_to_backlog,
                         np.array([s.debt_usd for s in self.sellers]))
        wants = build_signal(self._seller_kind, invests, self._reserves(margin=True)[sellers],
                             online[sellers], backlog[sellers], self._presale_ratio)
        wants &= ~self.defaulted[sellers]
        new_sites = []
        for j in np.flatnonzero(wants):
            seller = self.sellers[j]
            i = seller.party
            cfg = seller.cfg
            capex = cfg.build_site_mw * gen.h100e_per_mw * gen.capex_usd_per_h100e
            affordable = (capex <= room[j] if isinstance(seller, Neocloud)
                          else capex <= self.cash[i])
            if capex > seller.capex_room_usd(m // 12) or not affordable:
                continue
            seller.capex_this_year_usd += capex
            name = f"{seller.name}-build-{m // 12}-{m % 12 + 1:02d}"
            ready, cancel = self._permit_draw(cfg.region)
            ready += self._delivery_delay()
            new_sites.append(dict(name=name, owner=i, region=self.region_index[cfg.region],
                                  gen=gen, mw=cfg.build_site_mw, status=PERMITTING,
                                  ready_month=ready, online_month=ready + cfg.lead_time_months,
                                  life_months=self.costs.life_months, cancel=cancel))
            if isinstance(seller, Neocloud):
                seller.borrow(capex)
            else:
                self._external(i, "capex", -capex)
            self._event("site_started", seller.name, site=name,
                        h100e=cfg.build_site_mw * gen.h100e_per_mw,
                        detail=f"{gen.name} {cfg.build_site_mw:.0f} MW, ${capex / 1e9:.1f}B")
        self.sites.extend(new_sites)

    def _backlog_usd(self) -> np.ndarray:
        """Per party: revenue its signed contracts will still pay as a seller (full-use fees
        from this month to each contract's end)."""
        b = self.book
        n = len(b)
        if not n:
            return np.zeros(len(self.parties))
        start = np.maximum(b.start_month, self.month)
        months = np.maximum(b.ended_month - start, 0)
        return np.bincount(b.seller, weights=b.fee_usd_month * months,
                           minlength=len(self.parties))

    # 8 ------------------------------------------------------------------
    def _collect(self) -> None:
        """Append this month's agent table (one column array per field)."""
        m = self.month
        n = len(self.parties)
        labs, sellers = self.labs, self.sellers
        committed_out = self.book.committed_h100e(m, by="seller", n=n)
        committed_in = self.book.committed_h100e(m, by="buyer", n=n)
        own_need, own_used = self._own_need_now, self._own_used

        def pad(lab_values: np.ndarray) -> np.ndarray:
            return np.concatenate([lab_values, np.zeros(len(sellers))])

        served = pad(self.lab_state["served_h100e"])
        unmet = pad(self.lab_state["unmet_h100e"])
        is_lab = np.arange(n) < len(labs)
        self._agent_cols.append({
            "month": np.full(n, m),
            "capacity_owned_h100e": self.online_by_party.copy(),
            "contracted_h100e": np.where(is_lab, committed_in, committed_out),
            "spot_h100e": np.where(is_lab, self._spot_bought, self._spot_sold),
            "used_h100e": np.where(is_lab, served, committed_out + self._spot_sold + own_used),
            "demand_h100e": np.where(is_lab, served + unmet, own_need),
            "unmet_h100e": np.where(is_lab, unmet, own_need - own_used),
            "revenue_usd": np.where(is_lab, pad(self.lab_state["revenue_usd"]),
                                    self.seller_revenue),
            "cost_usd": np.where(is_lab, self._paid, self.seller_cost),
            "value_usd": pad(self.lab_state["value_usd"]),
            "cash_usd": self.cash.copy(),
            "defaulted": self.defaulted.copy(),
        })

    # money ---------------------------------------------------------------
    def _pay(self, payer: np.ndarray, payee: np.ndarray, usd: np.ndarray) -> None:
        """Move money between parties (contract bills, fees, spot payments)."""
        np.subtract.at(self.cash, payer, usd)
        np.add.at(self.cash, payee, usd)
        np.add.at(self._paid, payer, usd)
        np.add.at(self._received, payee, usd)

    def _apply(self, transfers) -> None:
        if len(transfers.usd):
            self._pay(transfers.payer, transfers.payee, transfers.usd)

    def _external_many(self, parties: np.ndarray, kind: str, usd: np.ndarray) -> None:
        """Money entering (+) or leaving (-) the economy for many parties at once."""
        np.add.at(self.cash, parties, usd)
        self.external_usd[kind] += exact.total(usd)

    def _external(self, party: int, kind: str, usd: float) -> None:
        """Money entering (+) or leaving (-) the simulated economy."""
        self.cash[party] += usd
        self.external_usd[kind] += usd

    EVENT_COLUMNS = ("month", "event", "agent", "counterparty", "contract", "site", "h100e",
                     "detail")

    def _event(self, kind: str, agent: str, *, counterparty: str = "", contract: int = -1,
               site: str = "", h100e: float = 0.0, detail: str = "") -> None:
        self._events.append((self.month, kind, agent, counterparty, contract, site, h100e,
                             detail))

    # invariants ----------------------------------------------------------
    def check_invariants(self) -> None:
        """Raise AssertionError if capacity, money or cash invariants are broken."""
        n_sites = len(self.sites)
        online = self.sites.online_h100e()
        assert np.all(online >= 0), "negative capacity"
        for m in (self.month, self.month + 1):
            committed = self.book.committed_h100e(m, by="site", n=n_sites)
            over = committed - np.where(self.sites.status == ONLINE, self.sites.h100e,
                                        np.where(committed > 0, self.sites.h100e, 0.0))
            assert np.all(over <= 1e-6 * np.maximum(1.0, committed)), (
                f"site committed beyond capacity at month {m}")
        expected = self.initial_cash_usd + sum(self.external_usd.values())
        assert math.isclose(exact.total(self.cash), expected, rel_tol=1e-9,
                            abs_tol=1.0), "money not conserved"
        for p in self.parties:
            assert self.cash[p.party] >= 0 or p.defaulted or isinstance(p, Seller), (
                f"{p.name} has negative cash without a default")
            if isinstance(p, Seller) and self.cash[p.party] < 0:
                assert p.negative_cash_months > 0 or p.defaulted, f"{p.name} cash not tracked"
        for lab in self.labs:
            assert lab.unmet_h100e >= -1e-6, f"{lab.name} unmet demand negative"

    # outputs -------------------------------------------------------------
    def _months_to_timestamps(self, months: pd.Series) -> pd.Series:
        return pd.to_datetime(month_start(months.to_numpy())).astype(MONTH_DTYPE)

    def _tidy(self, df: pd.DataFrame) -> pd.DataFrame:
        """An output table made self-describing: ``scenario``, ``seed`` and ``run_id`` in front,
        every date column as ``MONTH_DTYPE``, names and kinds categorical."""
        n = len(df)
        ids = {"scenario": pd.Categorical([self.world.name] * n),
               "seed": pd.array([self.seed] * n, dtype="Int64"),
               "run_id": pd.Categorical([self.run_id] * n)}
        out = pd.DataFrame(ids, index=df.index)
        for col in df.columns:
            values = df[col]
            if pd.api.types.is_datetime64_any_dtype(values):
                values = values.astype(MONTH_DTYPE)
            elif col in CATEGORICAL_COLUMNS:
                values = values.astype("category")
            out[col] = values
        return out

    def rows(self, table: str, start: int = 0) -> list[dict]:
        """Raw output rows of ``table`` ("market", "agents" or "events") from position
        ``start`` on, months as integer indices: cheap incremental reads for live views."""
        if table == "market":
            return self._rows_market[start:]
        if table == "events":
            return [dict(zip(self.EVENT_COLUMNS, e, strict=True)) for e in self._events[start:]]
        if table == "agents":
            n = len(self.parties)
            out = []
            for step in range(start // n if n else 0, len(self._agent_cols)):
                cols = self._agent_cols[step]
                for i in range(n):
                    row = {"month": int(cols["month"][i]), "agent": str(self._agent_names[i]),
                           "kind": str(self._agent_kinds[i])}
                    row |= {k: v[i].item() for k, v in cols.items() if k != "month"}
                    out.append(row)
            return out[start % n if n else 0:]
        raise ValueError(f"unknown table {table!r}; valid: market, agents, events")

    def market_frame(self) -> pd.DataFrame:
        """Step x product: price, volume and depth; prices per H100e-month and per hour."""
        df = pd.DataFrame(self._rows_market)
        if df.empty:
            return df
        df["price_usd_per_h100e_hour"] = df["price_usd_per_h100e_month"] / HOURS_PER_MONTH
        df["month"] = self._months_to_timestamps(df["month"])
        return self._tidy(df)

    def agents_frame(self) -> pd.DataFrame:
        """Step x agent: capacity, contracts, use, demand, unmet demand, money."""
        if not self._agent_cols:
            return pd.DataFrame()
        steps = len(self._agent_cols)
        cols = {k: np.concatenate([c[k] for c in self._agent_cols])
                for k in self._agent_cols[0]}
        df = pd.DataFrame({"month": cols.pop("month"),
                           "agent": np.tile(self._agent_names, steps),
                           "kind": np.tile(self._agent_kinds, steps), **cols})
        df["month"] = self._months_to_timestamps(df["month"])
        return self._tidy(df)

    def contracts_frame(self) -> pd.DataFrame:
        """One row per contract with its whole life."""
        return self._tidy(self.book.to_frame(agent_names=[p.name for p in self.parties],
                                             site_names=self.sites.names))

    def events_frame(self) -> pd.DataFrame:
        """Notices, recalls, defaults, site events and signings, in order."""
        df = pd.DataFrame(self._events, columns=list(self.EVENT_COLUMNS))
        if not df.empty:
            df["month"] = self._months_to_timestamps(df["month"])
        return self._tidy(df)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The four output tables of docs/model.md section 9: market, agents, contracts, events.

        Each call returns new tables, except that the first call after the data collector has
        read them at the same month gets those (read-only until then), saving a rebuild."""
        handoff = self.__dict__.pop("_frames_handoff", None)
        if handoff is not None and handoff[0] == self.month:
            return handoff[1]
        return {"market": self.market_frame(), "agents": self.agents_frame(),
                "contracts": self.contracts_frame(), "events": self.events_frame()}
