"""``ComputeMarket``: the monthly market for scarce AI compute (docs/model.md section 8).

The model builds the state (parties, sites, the contract book, price indices), runs ``step``
(one line per stage of ``market.stages``) and hands out the output tables. Agents are thin; the
stages gather their orders into arrays, clear every product of a market with one call of
``market.clearing.clear``, pair fills with ``market.matching.match`` and keep every term
contract in a ``market.book.ContractBook``. Money moves only through ``_pay`` (between parties)
and ``_external`` (customers, funding, opex, capex, debt service), so conservation can be
checked.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from market import exact, kinds, metrics
from market._memory import gc_paused
from market.agents import Lab, Seller
from market.agents.lab import BidCurves, demand_shock, funding_climate
from market.book import ContractBook, coded_categorical
from market.calendar import month_index, month_start
from market.config import WorldConfig
from market.hardware import (
    HOURS_PER_MONTH,
    capital_usd_per_h100e_month,
    generations,
    levelized_usd_per_h100e_month,
    opex_usd_per_h100e_month,
)
from market.parties import BUYER, SELLER, PartyTable
from market.products import ProductTable
from market.stages import auction, calendar, collect, contracts, invest, settle
from market.supply import ONLINE, Sites


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


def run_id(world: WorldConfig, rng_state: dict) -> str:
    """A run's id: a hash of its whole configuration and the generator's state before the
    first draw (``bit_generator.state``), so equal ids mean equal tables."""
    text = repr((world, rng_state))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def headline_metric(model: ComputeMarket, name: str) -> float:
    """One headline metric (a key of ``market.metrics.summary``) of the months run so far;
    the summary is computed once per month and shared by the reporters."""
    cached = getattr(model, "_headline_cache", None)
    if cached is None or cached[0] != model.month:
        # the summary reads the market and agents tables only (not contracts or events)
        frames = {"market": model.market_frame(), "agents": model.agents_frame()}
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

    @gc_paused
    def __init__(self, world: WorldConfig | str | Path | None = None, *,
                 scenario: str | Path | None = None, months: int | None = None, rng=None,
                 overrides: Mapping[str, Any] | Sequence[str] | None = None,
                 check_invariants: bool = False, **settings: Any) -> None:
        world = _world_from(world, scenario, months, overrides, settings)
        super().__init__(rng=rng)
        self.world = world
        self.seed: int | None = int(rng) if isinstance(rng, (int, np.integer)) else None
        """The integer seed of the run (``None`` when ``rng`` was a Generator or entropy)."""
        self._rng_state_at_start = self.rng.bit_generator.state
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

        configs = (*world.labs, *world.sellers)
        self.party_table = PartyTable(
            [BUYER] * len(world.labs) + [SELLER] * len(world.sellers), configs)
        """Every party as a row (``market.parties``): role, kind, cash, defaulted and the
        per-kind parameters; party ids are its row numbers."""
        t = self.party_table
        self.labs: list[Lab] = [
            kinds.kind(cfg.kind, "buyer").agent_class(self, cfg, party=int(party))
            for cfg, party in zip(world.labs, self.party_table.buyers, strict=True)]
        self.sellers: list[Seller] = [
            kinds.kind(cfg.kind, "seller").agent_class(self, cfg, party=int(party))
            for cfg, party in zip(world.sellers, self.party_table.sellers, strict=True)]
        self.parties: list[Lab | Seller] = sorted([*self.labs, *self.sellers],
                                                  key=lambda p: p.party)
        self.by_name = {p.name: p for p in self.parties}
        self.defaulted = t.defaulted
        self.cash = t.cash_usd
        self.own_need = t.own_need_h100e
        self.unsold = {"spot": np.zeros(len(self.sellers)), "term": np.zeros(len(self.sellers))}
        self._seller_strategy = np.array([s.strategy.name for s in self.sellers])
        self._seller_party = t.sellers
        self._recalls_for_own_need = np.array([s.recalls_for_own_need for s in self.sellers],
                                              dtype=bool)
        """Per seller: whether it recalls leases for its own need (its kind's rule)."""
        n_labs = len(self.labs)
        # the starting level of demand is itself uncertain: one draw per lab
        t.inference_h100e[t.buyers] = t.inference_h100e[t.buyers] * (
            1.0 + demand_shock(0.0, t.growth_volatility[t.buyers],
                               self.rng.standard_normal(n_labs)))
        # labs enter with their revenue run rate (it sets their first budget and funding)
        t.revenue_usd[t.buyers] = t.inference_h100e[t.buyers] * t.usd_per_served_h100e_month[
            t.buyers]
        self.appetite_level = world.market.investor_appetite
        """Investor appetite's level: the scenario's, moved by investor_appetite shocks."""
        mk = world.market
        self.climate_rng = self.rng.spawn(1)[0]
        """The funding climate's own stream (a child of the model's RNG): turning the climate on
        or off leaves every other draw of a seed as it was."""
        # the funding climate starts from its stationary spread: one draw before the first month
        self.climate, factor = funding_climate(
            0.0, mk.appetite_halflife_months, mk.appetite_volatility_per_month,
            float(self.climate_rng.standard_normal()), start=True)
        """Log deviation of investor appetite from its level (the funding climate)."""
        self._climate_factor = factor
        self.appetite = self.appetite_level * factor
        """Investor appetite now: its level times the funding climate."""
        self.bid_rng = self.rng.spawn(1)[0]
        """The stream of the labs' monthly step phases (``agents.lab.curve_steps``), a child of
        the model's RNG like the climate's: every other draw of a seed is as it was."""
        self._bid_phase = np.full(n_labs, 0.5)
        """Where in each step this month's bids are priced, per lab (drawn each month)."""
        # the trend of AI demand is uncertain: one factor on every lab's growth rate per run,
        # from a stream of its own (mean 1; with growth_trend_sd = 0 it is exactly 1)
        sd = mk.growth_trend_sd
        self.growth_trend = float(exact.exp(sd * self.rng.spawn(1)[0].standard_normal()
                                            - 0.5 * sd * sd))
        """This run's factor on the labs' demand growth rates (market.growth_trend_sd)."""
        self.trend_demand = np.maximum(t.inference_h100e[t.buyers].copy(), 1e-300)
        """Each lab's inference demand had it grown on its trend alone: share shifts keep the
        labs' mean standing, weighted by it, at 1 (``agents.lab.share_shift``)."""
        self.share_rng = self.rng.spawn(1)[0]
        """The stream of the labs' share shocks (market.share_volatility_per_month), a child of
        the model's RNG: turning share shifts on leaves every other draw of a seed as it was."""
        if sd > 0:
            t.growth_per_month[t.buyers] = t.growth_per_month[t.buyers] * self.growth_trend
        self._scarcity = {"spot": np.zeros(len(self.sellers)),
                          "term": np.zeros(len(self.sellers))}
        funding = [(lab.party, m, usd) for lab in self.labs for m, usd in lab.funding.items()]
        self._funding_lab, self._funding_month, self._funding_usd = (
            np.array([f[i] for f in funding], dtype=dt)
            for i, dt in ((0, np.int64), (1, np.int64), (2, float)))
        self.own_need_fixed = np.zeros(len(self.parties))
        """Part of internal need that does not grow (capacity recalled for a fixed project)."""
        self.seller_revenue = np.zeros(len(self.parties))
        self.seller_cost = np.zeros(len(self.parties))
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
        # all at once (one append per column); draws in the scenario's order of sites
        self.sites.extend([calendar.configured_site(self, seller, site)
                           for seller in self.sellers for site in seller.cfg.sites])

        self.products = ProductTable.for_market(world.market, world.regions)
        """Products traded, with their price indices."""
        term_tenors = self.products.tenor_months[self.products.term_ids]
        tenor_of = {name: self.market_cfg.terms(name).tenor_months
                    for name in {s.cfg.lease_template for s in self.sellers}}
        column = {t: self.products.term_column(t)  # one lookup per distinct tenor
                  for t in {*tenor_of.values(), *(lab.cfg.tenor_months for lab in self.labs)}}
        self._seller_term_column = np.array(
            [column[tenor_of[s.cfg.lease_template]] for s in self.sellers], dtype=np.int64)
        """Per seller: the term product of its template's tenor, as a term column (-1: it
        sells spot only)."""
        self._lab_term_column = np.array([column[lab.cfg.tenor_months] for lab in self.labs],
                                         dtype=np.int64)
        self._bid_curves = BidCurves(self.labs)
        """The labs' value curves and strategies, for their bids."""
        self._ask_depth = np.zeros(len(term_tenors))
        self._bid_depth = np.zeros(len(term_tenors))
        # the distinct (template, tenor) terms sellers lease on, and per seller and term
        # column the index of its terms there: contracts are signed by index, not per object
        table: dict = {}
        by_template = {name: [table.setdefault(self.market_cfg.terms(name).with_tenor(int(t)),
                                               len(table)) for t in term_tenors]
                       for name in dict.fromkeys(s.cfg.lease_template for s in self.sellers)}
        self._lease_term_index = np.array(
            [by_template[s.cfg.lease_template] for s in self.sellers],
            dtype=np.int64).reshape(len(self.sellers), len(term_tenors))
        self._lease_term_table = list(table)
        self._h100e_per_mw_by_gen = np.array([g.h100e_per_mw for g in gens])

        self.book = ContractBook()
        self._expensive_months = np.zeros(0, dtype=np.int64)
        self._surplus_months = np.zeros(len(self.parties), dtype=np.int64)
        """Per party: months in a row a lab has held contract capacity beyond its need."""
        self._rich_months = np.zeros(0, dtype=np.int64)
        """Per contract: months in a row spot has paid its seller enough more to exit it."""
        self._recall_cache_month = -1
        self._recall_cache = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._rows_market: list[dict] = []
        self._agent_cols: list[dict[str, np.ndarray]] = []
        self._names = [p.name for p in self.parties]
        """Party names by party id (a list: events take them as they are)."""
        self._agent_names = np.array(self._names)
        self._agent_kinds = np.array([kinds.kind(p.kind).label for p in self.parties])
        self._events: list[tuple] = []
        if world.market.growth_trend_sd > 0:  # the run's demand trend, for the analyst
            self._event("demand_trend", "market", detail=f"growth x{self.growth_trend:.3f}")
        self._spot_bought = np.zeros(len(self.parties))
        self._spot_sold = np.zeros(len(self.parties))
        self.online_by_party = np.zeros(len(self.parties))
        self._paid = np.zeros(len(self.parties))
        self._received = np.zeros(len(self.parties))
        contracts.preload(self)
        self._shocks = defaultdict(list)
        for shock in world.shocks:
            self._shocks[month_index(shock.month)].append(shock)
        self.running = True

    # ------------------------------------------------------------------ set-up helpers
    @property
    def months_elapsed(self) -> int:
        """Months since the scenario start."""
        return self.month - self.start_month

    @property
    def spot_index(self) -> float:
        """The spot price index now, USD per H100e-month."""
        return self.products.spot_index

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """One month, in the order of docs/model.md section 8."""
        self._paid = np.zeros(len(self.parties))
        self._received = np.zeros(len(self.parties))
        calendar.calendar(self)         # 1. sites come online, opposition, shocks
        contracts.expire(self)          # 2. notices and recalls that fall due end contracts
        contracts.decide_notices(self)  # 3. owners recall; buyers and sellers give notice
        auction.clear_term(self)        # 4. term market: new contracts start next month
        auction.clear_spot(self)        # 5. spot market: one-month allocations
        settle.settle(self)             # 6. billing, revenue, costs, cash, defaults
        invest.invest(self)             # 7. new sites enter the pipeline
        collect.collect(self)           # 8. data collection
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

    def _many_events(self, kind: str | list[str], agent: list[str], *,
                     counterparty: str | list[str] = "", contract: int | list[int] = -1,
                     site: str | list[str] = "", h100e: float | list[float] = 0.0,
                     detail: str | list[str] = "") -> None:
        """Events in order, one per entry of ``agent``: every other field is one value for
        all of them or a list (Python ints, floats and strings, as ``_event`` takes)."""
        n = len(agent)
        fields = [v if isinstance(v, list) else itertools.repeat(v, n)
                  for v in (kind, agent, counterparty, contract, site, h100e, detail)]
        self._events.extend(zip(itertools.repeat(self.month, n), *fields))

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
        one = np.zeros(n, dtype=np.int8)  # every row the same: codes, no string per row
        ids = {"scenario": pd.Categorical.from_codes(one, categories=pd.Index([self.world.name])),
               "seed": pd.arrays.IntegerArray(np.full(n, self.seed or 0, dtype=np.int64),
                                              np.full(n, self.seed is None)),
               "run_id": pd.Categorical.from_codes(one, categories=pd.Index([self.run_id]))}
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

    @functools.cached_property
    def run_id(self) -> str:
        """The run's id (``run_id``): hashed when first asked for, from the configuration and
        the generator's state before the first draw."""
        return run_id(self.world, self._rng_state_at_start)

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
        first = self._agent_cols[0]
        # the float columns straight into one (columns x rows) block that the frame takes as
        # it is (pandas would copy separate columns into such a block once more)
        floats = [k for k, v in first.items() if v.dtype == np.float64]
        block = np.empty((len(floats), steps * len(first["month"])))
        for row, k in zip(block, floats, strict=True):
            np.concatenate([c[k] for c in self._agent_cols], out=row)
        df = pd.DataFrame(block.T, columns=floats, copy=False)
        parties = np.arange(len(self.parties))  # every party, every month: codes repeat

        def named(labels: np.ndarray) -> pd.Categorical:
            once = coded_categorical(parties, labels)
            return pd.Categorical.from_codes(np.tile(once.codes, steps),
                                             categories=once.categories)

        month = np.concatenate([c["month"] for c in self._agent_cols])
        df.insert(0, "month", self._months_to_timestamps(pd.Series(month)))
        df.insert(1, "agent", named(self._agent_names))
        df.insert(2, "kind", named(self._agent_kinds))
        for i, k in enumerate(first):  # the other columns in their place
            if k != "month" and k not in floats:
                df.insert(i + 2, k, np.concatenate([c[k] for c in self._agent_cols]))
        return self._tidy(df)

    def contracts_frame(self) -> pd.DataFrame:
        """One row per contract with its whole life."""
        return self._tidy(self.book.to_frame(agent_names=[p.name for p in self.parties],
                                             site_names=self.sites.names))

    def events_frame(self) -> pd.DataFrame:
        """Notices, recalls, defaults, site events and signings, in order."""
        if self._events:  # by column: names straight to categoricals, no string column first
            df = pd.DataFrame({name: pd.Categorical(values) if name in CATEGORICAL_COLUMNS
                               else list(values) for name, values in
                               zip(self.EVENT_COLUMNS, zip(*self._events), strict=True)})
        else:
            df = pd.DataFrame(self._events, columns=list(self.EVENT_COLUMNS))
        if not df.empty:
            df["month"] = self._months_to_timestamps(df["month"])
        return self._tidy(df)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The four output tables of docs/model.md section 9: market, agents, contracts, events.

        Each call returns new tables, except that the first call after the data collector has
        read the market and agents tables at the same month gets those (read-only until then),
        saving a rebuild."""
        handoff = self.__dict__.pop("_frames_handoff", None)
        done = handoff[1] if handoff is not None and handoff[0] == self.month else {}
        build = {"market": self.market_frame, "agents": self.agents_frame,
                 "contracts": self.contracts_frame, "events": self.events_frame}
        return {name: done[name] if name in done else table() for name, table in build.items()}
