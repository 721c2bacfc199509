"""``ComputeMarket``: the monthly market for scarce AI compute (MODEL.md section 8).

``step`` reads as the step order, one line per stage. Agents are thin; the model gathers their
orders into arrays, clears every product of a market with one call of ``market.clearing.clear``,
pairs fills with ``market.matching.match`` and keeps every term contract in a
``market.book.ContractBook``. Money moves only through ``_pay`` (between parties) and
``_external`` (customers, funding, opex, capex, debt service), so conservation can be checked.
"""

from __future__ import annotations

import math
from collections import defaultdict

import mesa
import numpy as np
import pandas as pd

from market.agents import Lab, Seller, seller_class
from market.agents.lab import exit_signal
from market.agents.sellers import Neocloud, Owner, ask_reference, recall_order
from market.book import END_REASONS, ContractBook
from market.calendar import month_index, month_start
from market.clearing import clear
from market.config import WorldConfig
from market.hardware import (
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
TERM_DISCOUNT_PER_YEAR = 0.05
"""Sellers' term asks track the spot index less this much per year of tenor (longer is cheaper,
cal:px.blocks)."""


def tenor_weights(ask_depth_h100e: np.ndarray, preferred: int) -> np.ndarray:
    """How a lab splits its term demand across tenors: in proportion to last month's offered
    depth of each tenor, with double weight on its preferred tenor (all of it there if nothing
    was offered)."""
    w = np.asarray(ask_depth_h100e, dtype=float).copy()
    w[preferred] *= 1.0 + PREFERRED_TENOR_TILT
    total = w.sum()
    if total <= 0:
        w = np.zeros_like(w)
        w[preferred] = 1.0
        return w
    return w / total


class ComputeMarket(mesa.Model):
    """Labs, owners, hyperscalers and neoclouds trading H100e-months month by month.

    Args:
        world: the configuration; ``None`` loads the default scenario ``colossus-2026``.
        rng: seed or numpy Generator; every random draw of the run comes from it.
        check_invariants: verify capacity, money and cash invariants after every step.
    """

    def __init__(self, world: WorldConfig | None = None, *, rng=None,
                 check_invariants: bool = False, **kwargs) -> None:
        if world is None:
            from market.scenarios import load_scenario

            world = load_scenario("colossus-2026")
        super().__init__(rng=rng, **kwargs)
        self.world = world
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
        self.cash = np.array([p.cfg.cash_usd for p in self.parties], dtype=float)
        self.initial_cash_usd = float(self.cash.sum())
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
        self.term_index = np.array([self.spot_index * (1 - TERM_DISCOUNT_PER_YEAR * t / 12)
                                    for t in tenors])
        self._seller_product = np.array([self._product_of(s) for s in self.sellers])
        self._lab_product = np.array([tenors.index(lab.cfg.tenor_months) for lab in self.labs])
        self._ask_depth = np.zeros(len(tenors))

        self.book = ContractBook()
        self._expensive_months = np.zeros(0, dtype=np.int64)
        self._rows_market: list[dict] = []
        self._rows_agents: list[dict] = []
        self._events: list[dict] = []
        self._spot_bought = np.zeros(len(self.parties))
        self._spot_sold = np.zeros(len(self.parties))
        self._served_usd = np.zeros(len(self.parties))
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
                       exogenous=status == SCHEDULED)

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
        """One month, in the order of MODEL.md section 8."""
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

    def run(self, months: int | None = None, progress=None) -> ComputeMarket:
        """Step ``months`` times (default: to the scenario's end); ``progress`` is called after
        each step with the model."""
        n = self.end_month - self.month if months is None else months
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
        lead = np.array([self.parties[o].cfg.lead_time_months for o in self.sites.owner],
                        dtype=np.int64) if len(self.sites) else np.zeros(0, dtype=np.int64)
        events, self._headroom, self._gpu_room = self.sites.advance(
            m, lead_months=lead, headroom_mw=self._headroom, gpu_room_h100e=self._gpu_room,
            life_months=self.costs.life_months)
        for ev in events:
            owner = self.parties[self.sites.owner[ev.site]]
            self._event(f"site_{ev.kind}", owner.name, site=self.sites.names[ev.site],
                        h100e=float(self.sites.h100e[ev.site]))
        self.online_by_party = self.sites.online_h100e_by_owner(len(self.parties))
        for shock in self._shocks.get(m, []):
            seller = self.by_name[shock.seller]
            if shock.kind == "recall":
                self._recall(seller, share=shock.share, reason="recall_shock")
            elif shock.kind == "seller_exit":
                self._seller_exit(seller)

    # 2 ------------------------------------------------------------------
    def _expire(self) -> None:
        ended = self.book.expire(self.month)
        if len(ended):
            for cid in ended:
                reason = END_REASONS[self.book.end_reason[cid]]
                self._event(f"contract_ended_{reason}", self.parties[self.book.buyer[cid]].name,
                            counterparty=self.parties[self.book.seller[cid]].name,
                            contract=int(cid), h100e=float(self.book.h100e[cid]))

    # 3 ------------------------------------------------------------------
    def _decide_notices(self) -> None:
        for seller in self.sellers:
            if isinstance(seller, Owner) and not seller.defaulted:
                self._owner_recall_if_short(seller)
                self._owner_opportunism(seller)
        self._lab_exits()

    def _recallable(self, seller: Seller) -> np.ndarray:
        b = self.book
        live = b.live(self.month) | (b.start_month > self.month)
        return np.flatnonzero(live & (b.seller[: len(b)] == seller.party) & b.has_recall
                              & (b.notice_month[: len(b)] < 0))

    def _owner_recall_if_short(self, owner: Owner) -> None:
        """Recall leases (lowest price first) when internal need outgrows what the owner kept."""
        ahead = self.month + 4  # once a 90-day recall has taken effect
        committed = float(self.book.committed_h100e(ahead, by="seller",
                                                    n=len(self.parties))[owner.party])
        arriving = (self.sites.owner == owner.party) & np.isin(
            self.sites.status, [CONSTRUCTION, AWAITING]) & (self.sites.ready_month <= ahead + 2)
        capacity = self.online_by_party[owner.party] + float(self.sites.h100e[arriving].sum())
        deficit = owner.reserve_h100e() - (capacity - committed)
        if deficit > 0:
            self._recall(owner, h100e=deficit, reason="own_need")

    def _recall(self, seller: Seller, *, h100e: float | None = None, share: float = 1.0,
                reason: str) -> None:
        ids = self._recallable(seller)
        if not ids.size:
            return
        ids = ids[recall_order(self.book.usd_per_h100e_month[ids])]
        qty = self.book.h100e[ids]
        want = share * qty.sum() if h100e is None else h100e
        take = ids[np.concatenate([[True], np.cumsum(qty)[:-1] < want])] if want > 0 else ids[:0]
        if not take.size:
            return
        self._apply(self.book.recall(take, self.month).transfers)
        for cid in take:
            self._event("recall_notice", seller.name, contract=int(cid),
                        counterparty=self.parties[self.book.buyer[cid]].name,
                        h100e=float(self.book.h100e[cid]), detail=reason)

    def _owner_opportunism(self, owner: Owner) -> None:
        if owner.cfg.opportunism <= 0:
            return
        b = self.book
        ids = np.flatnonzero(b.live(self.month) & (b.seller[: len(b)] == owner.party)
                             & (b.seller_notice_days[: len(b)] >= 0)
                             & (b.notice_month[: len(b)] < 0))
        if ids.size:
            exit_ids = ids[owner.wants_to_exit(b.usd_per_h100e_month[ids], self.spot_index)]
            self._notice(exit_ids, "seller", owner.name, "opportunism")

    def _seller_exit(self, seller: Seller) -> None:
        b = self.book
        ids = np.flatnonzero((b.live(self.month) | (b.start_month > self.month))
                             & (b.seller[: len(b)] == seller.party)
                             & (b.notice_month[: len(b)] < 0))
        self._notice(ids, "seller", seller.name, "seller_exit_shock")

    def _notice(self, ids: np.ndarray, by: str, who: str, reason: str) -> None:
        if not ids.size:
            return
        result = self.book.give_notice(ids, by=by, month=self.month)
        self._apply(result.transfers)
        for cid in result.ids[result.accepted]:
            other = self.book.seller[cid] if by == "buyer" else self.book.buyer[cid]
            self._event(f"{by}_notice", who, counterparty=self.parties[other].name,
                        contract=int(cid), h100e=float(self.book.h100e[cid]), detail=reason)

    def _lab_exits(self) -> None:
        """Buyers exit contracts priced above spot x (1 + exit premium) for too long, or when
        their cash runway is short."""
        b = self.book
        n = len(b)
        if self._expensive_months.size < n:
            self._expensive_months = np.concatenate(
                [self._expensive_months, np.zeros(n - self._expensive_months.size, np.int64)])
        if not n or not self.labs:
            return
        candidates = (b.live(self.month) & (b.buyer_notice_days[:n] >= 0)
                      & (b.notice_month[:n] < 0) & (b.buyer[:n] < len(self.labs)))
        premium = np.array([lab.cfg.exit_premium for lab in self.labs])
        patience = np.array([lab.cfg.exit_patience_months for lab in self.labs])
        buyer = np.where(candidates, b.buyer[:n], 0)
        signal = candidates & exit_signal(b.usd_per_h100e_month[:n], self.spot_index,
                                          premium[buyer])
        self._expensive_months = np.where(signal, self._expensive_months + 1, 0)
        exits = np.flatnonzero(signal & (self._expensive_months >= patience[buyer]))
        for lab in self.labs:
            if lab.defaulted:
                continue
            spend = self._committed_usd(lab)
            if spend > 0 and self.cash[lab.party] < lab.cfg.runway_floor_months * spend - (
                    lab.revenue_usd * lab.cfg.runway_floor_months):
                mine = np.flatnonzero(candidates & (b.buyer[:n] == lab.party))
                if mine.size:
                    exits = np.union1d(exits, mine[np.argmax(b.usd_per_h100e_month[mine])])
        for lab in self.labs:
            mine = exits[b.buyer[exits] == lab.party]
            self._notice(mine, "buyer", lab.name, "price_or_runway")

    def _committed_usd(self, lab: Lab) -> float:
        b = self.book
        n = len(b)
        live = b.live(self.month) & (b.buyer[:n] == lab.party)
        return float(np.dot(b.h100e[:n][live], b.usd_per_h100e_month[:n][live]))

    # 4 and 5 -------------------------------------------------------------
    def _site_costs(self) -> tuple[np.ndarray, np.ndarray]:
        return self._opex_by_gen[self.sites.gen], self._levelized_by_gen[self.sites.gen]

    def _spare_by_site(self, month: int, reserve_of, until: int | None = None) -> np.ndarray:
        """Uncommitted online H100e per site from ``month`` (to ``until``: the most committed
        month, counting contracts that start later) after each seller's own reserve."""
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
        for seller in self.sellers:
            reserve = reserve_of(seller)
            if seller.defaulted:
                spare[self.sites.owner == seller.party] = 0.0
            elif reserve > 0:
                mine = np.flatnonzero(self.sites.owner == seller.party)
                cum = np.cumsum(spare[mine])
                spare[mine] = np.clip(cum - reserve, 0.0, spare[mine])
        return spare

    def _clear_term(self) -> None:
        """Term market: labs bid for their preferred tenor, sellers offer spare capacity of
        their template's tenor; contracts start next month."""
        nxt = self.month + 1
        n_sites = len(self.sites)
        if not n_sites or not self.labs:
            return
        spare = self._spare_by_site(nxt, lambda s: s.reserve_h100e(),
                                    until=nxt + int(self.tenors[:-1].max()))
        # a term offer must not outlive its site
        product_of_site = self._seller_product[self.sites.owner - len(self.labs)]
        tenor_of_site = np.where(product_of_site >= 0, self.tenors[product_of_site], 10**6)
        spare[(product_of_site < 0) | (self.sites.retire_month < nxt + tenor_of_site)] = 0.0
        opex, levelized = self._site_costs()
        held_next = self.book.committed_h100e(nxt, by="buyer", n=len(self.parties))
        prod, side, price, qty, who = [], [], [], [], []
        for lab in self.labs:
            target = lab.cfg.term_share * lab.forecast_need_h100e(FORECAST_MONTHS)
            inference = (lab.cfg.term_share * lab.inference_h100e
                         * (1 + lab.growth()) ** FORECAST_MONTHS)
            committed_usd = self._committed_usd(lab)
            weights = tenor_weights(self._ask_depth, self._lab_product[lab.party])
            for p in np.flatnonzero(weights > 0):
                q, lim, _ = lab.orders(held_next[lab.party], target, inference,
                                       self.term_index[p], committed_usd)
                q, lim = q[:2] * weights[p], lim[:2]  # no opportunistic tranche in term
                prod += [p] * len(q)
                side += [1] * len(q)
                price += list(lim)
                qty += list(q)
                who += [lab.party] * len(q)
        sites = np.flatnonzero(spare > 0)
        site_of_order = [-1] * len(qty)
        for seller in self.sellers:
            mine = sites[self.sites.owner[sites] == seller.party]
            if not mine.size:
                continue
            p = self._seller_product[seller.party - len(self.labs)]
            asks = seller.strategy.ask(seller.term_floor(opex[mine], levelized[mine]),
                                       ask_reference(self.term_index[p],
                                                     seller.unsold_share["term"]))
            prod += [p] * mine.size
            side += [-1] * mine.size
            price += list(asks)
            qty += list(spare[mine])
            who += [seller.party] * mine.size
            site_of_order += list(mine)
        result, pairs, arrays = self._auction(prod, side, price, qty, who)
        self._record_market(result, arrays, term=True)
        if not pairs.quantity.size:
            return
        a_prod, a_side, a_price, a_qty, a_who = arrays
        site_arr = np.array(site_of_order)
        for p in np.unique(a_prod[pairs.buy]):
            sel = a_prod[pairs.buy] == p
            pb, ps, pq = pairs.buy[sel], pairs.sell[sel], pairs.quantity[sel]
            sellers = np.unique(a_who[ps])
            for s in sellers:  # one contract template per seller
                ss = a_who[ps] == s
                terms = self.market_cfg.terms(self.parties[s].cfg.lease_template)
                contract_price = (np.full(ss.sum(), result.price[p])
                                  if result.paid is None else result.paid[pb[ss]])
                self._sign(a_who[pb[ss]], a_who[ps[ss]], site_arr[ps[ss]], pq[ss],
                           contract_price, terms, start=nxt)

    def _clear_spot(self) -> None:
        """Spot market for this month: what term contracts leave uncovered."""
        self._spot_bought[:] = 0.0
        self._spot_sold[:] = 0.0
        n_sites = len(self.sites)
        if not n_sites or not self.labs:
            return
        spare = self._spare_by_site(self.month, lambda s: s.own_need_h100e)
        opex, levelized = self._site_costs()
        held = self.book.committed_h100e(self.month, by="buyer", n=len(self.parties))
        prod, side, price, qty, who = [], [], [], [], []
        sp = self.spot_product
        for lab in self.labs:
            q, lim, _ = lab.orders(held[lab.party], lab.need_h100e, lab.inference_h100e,
                                   self.spot_index, self._committed_usd(lab))
            prod += [sp] * len(q)
            side += [1] * len(q)
            price += list(lim)
            qty += list(q)
            who += [lab.party] * len(q)
        sites = np.flatnonzero(spare > 0)
        for seller in self.sellers:
            mine = sites[self.sites.owner[sites] == seller.party]
            if not mine.size:
                continue
            asks = seller.strategy.ask(seller.spot_floor(opex[mine], levelized[mine]),
                                       ask_reference(self.spot_index,
                                                     seller.unsold_share["spot"]))
            prod += [sp] * mine.size
            side += [-1] * mine.size
            price += list(asks)
            qty += list(spare[mine])
            who += [seller.party] * mine.size
        result, pairs, arrays = self._auction(prod, side, price, qty, who)
        self._record_market(result, arrays, term=False)
        if not pairs.quantity.size:
            return
        a_prod, a_side, a_price, a_qty, a_who = arrays
        pay_price = (np.full(pairs.quantity.size, result.price[sp]) if result.paid is None
                     else result.paid[pairs.buy])
        usd = pairs.quantity * pay_price
        np.add.at(self._spot_bought, a_who[pairs.buy], pairs.quantity)
        np.add.at(self._spot_sold, a_who[pairs.sell], pairs.quantity)
        self._pay(a_who[pairs.buy], a_who[pairs.sell], usd)

    def _auction(self, prod, side, price, qty, who):
        """Clear one market's orders (all its products in one call) and pair the fills."""
        arrays = (np.array(prod, dtype=np.int64), np.array(side, dtype=np.int64),
                  np.array(price, dtype=float), np.array(qty, dtype=float),
                  np.array(who, dtype=np.int64))
        a_prod, a_side, a_price, a_qty, _ = arrays
        result = clear(a_prod, a_side, a_price, a_qty, n_products=len(self.products),
                       k=self.market_cfg.k, rule=self.market_cfg.rule)
        pairs = match(a_prod, a_side, result.filled)
        market = "spot" if np.all(a_prod == self.spot_product) else "term"
        sell = a_side < 0
        n = len(self.parties)
        offered = np.bincount(arrays[4][sell], weights=a_qty[sell], minlength=n)
        sold = np.bincount(arrays[4][sell], weights=result.filled[sell], minlength=n)
        for seller in self.sellers:
            o = offered[seller.party]
            seller.unsold_share[market] = 1.0 - sold[seller.party] / o if o > 0 else 0.0
        return result, pairs, arrays

    def _record_market(self, result, arrays, *, term: bool) -> None:
        """Append one row per product of this market and update the reference price index."""
        a_prod, a_side, _, a_qty, _ = arrays
        bids = np.bincount(a_prod[a_side > 0], weights=a_qty[a_side > 0],
                           minlength=len(self.products))
        asks = np.bincount(a_prod[a_side < 0], weights=a_qty[a_side < 0],
                           minlength=len(self.products))
        products = range(self.spot_product) if term else [self.spot_product]
        if term:
            self._ask_depth = asks[: self.spot_product].copy()
        w = self.market_cfg.price_memory
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

    def _sign(self, buyer, seller, site, h100e, price, terms, *, start: int,
              mw=None, check: bool = True) -> None:
        """Sign a batch of contracts; the book refuses any that would over-commit a site."""
        if mw is None:
            mw = h100e / np.array([generations()[g].h100e_per_mw
                                   for g in np.array(list(generations()))[self.sites.gen[site]]])
        self.book.sign(buyer, seller, site, h100e, start_month=start, terms=terms,
                       usd_per_h100e_month=price, mw=mw, signed_month=self.month,
                       site_capacity_h100e=self.sites.h100e * (self.sites.status == ONLINE)
                       if check else None)
        for b, s, q, p in zip(buyer, seller, h100e, price, strict=True):
            self._event("contract_signed", self.parties[b].name,
                        counterparty=self.parties[s].name, h100e=float(q),
                        detail=f"{terms.name} {terms.tenor_months}m at ${p:,.0f}/H100e-month")

    # 6 ------------------------------------------------------------------
    def _settle(self) -> None:
        m = self.month
        n = len(self.parties)
        self._apply(self.book.bill(m).transfers)
        held = self.book.committed_h100e(m, by="buyer", n=n) + self._spot_bought
        for lab in self.labs:
            if lab.defaulted:
                lab.settle(0.0)
                continue
            self._external(lab.party, "customer_revenue", lab.settle(float(held[lab.party])))
            if m in lab.funding:
                self._external(lab.party, "funding", lab.funding[m])
                self._event("funding", lab.name, detail=f"${lab.funding[m] / 1e9:.1f}B")
        opex_site = self.sites.online_h100e() * self._opex_by_gen[self.sites.gen]
        capital_site = self.sites.online_h100e() * self._capital_by_gen[self.sites.gen]
        opex = np.bincount(self.sites.owner, weights=opex_site, minlength=n)
        capital = np.bincount(self.sites.owner, weights=capital_site, minlength=n)
        for seller in self.sellers:
            if seller.defaulted:
                continue
            self._external(seller.party, "opex", -float(opex[seller.party]))
            if seller.debt_usd > 0:
                interest = seller.debt_usd * seller.cfg.interest_per_year / 12.0
                payment = min(seller.debt_payment_usd, seller.debt_usd + interest)
                seller.debt_usd -= payment - interest
                self._external(seller.party, "debt_service", -payment)
            seller.revenue_usd = float(self._received[seller.party])
            seller.cost_usd = float(opex[seller.party] + capital[seller.party])
        self._defaults()
        for lab in self.labs:
            lab.grow()
        for seller in self.sellers:
            seller.grow_own_need()

    def _defaults(self) -> None:
        """Labs default when cash turns negative; sellers after ``default_patience_months``."""
        for lab in self.labs:
            if not lab.defaulted and self.cash[lab.party] < 0:
                lab.defaulted = True
                self.book.default_buyer(lab.party, self.month + 1)
                self._event("lab_default", lab.name, detail=f"cash ${self.cash[lab.party]:,.0f}")
        for seller in self.sellers:
            if seller.defaulted:
                continue
            seller.negative_cash_months = (seller.negative_cash_months + 1
                                           if self.cash[seller.party] < 0 else 0)
            if seller.negative_cash_months >= seller.cfg.default_patience_months:
                self._default_seller(seller)

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
        value = float(np.sum(self.sites.capex_usd[mine] * remaining)) * SITE_SALE_DISCOUNT
        buyer = max(others, key=lambda s: self.cash[s.party])
        if self.cash[buyer.party] < value:
            self.sites.status[mine] = 4  # RETIRED: taken offline
            self._event("sites_offline", seller.name, h100e=float(self.sites.h100e[mine].sum()))
            return
        self._external(buyer.party, "site_purchase", -value)
        self.sites.owner[mine] = buyer.party
        self._event("sites_sold", seller.name, counterparty=buyer.name,
                    h100e=float(self.sites.h100e[mine].sum()), detail=f"${value / 1e9:.2f}B")
        self.online_by_party = self.sites.online_h100e_by_owner(len(self.parties))

    # 7 ------------------------------------------------------------------
    def _invest(self) -> None:
        m = self.month
        gen = newest_generation(m)
        gi = list(generations()).index(gen.name)
        levelized = float(self._levelized_by_gen[gi])
        committed_now = self.book.committed_h100e(m, by="seller", n=len(self.parties))
        committed_next = self.book.committed_h100e(m + 1, by="seller", n=len(self.parties))
        for seller in self.sellers:
            if seller.defaulted:
                continue
            cfg = seller.cfg
            online = float(self.online_by_party[seller.party])
            used = committed_now[seller.party] + self._spot_sold[seller.party] + min(
                seller.own_need_h100e, online)
            utilization = used / online if online > 0 else 1.0
            backlog = committed_next[seller.party] / online if online > 0 else 0.0
            p = self._seller_product[seller.party - len(self.labs)]
            forward = float(self.term_index[p]) if p >= 0 else self.spot_index
            if not seller.wants_to_build(forward, utilization, levelized, backlog):
                continue
            capex = cfg.build_site_mw * gen.h100e_per_mw * gen.capex_usd_per_h100e
            affordable = isinstance(seller, Neocloud) or capex <= self.cash[seller.party]
            if capex > seller.capex_room_usd(m // 12) or not affordable:
                continue
            seller.capex_this_year_usd += capex
            name = f"{seller.name}-build-{m // 12}-{m % 12 + 1:02d}"
            ready, cancel = self._permit_draw(cfg.region)
            self.sites.add(name, owner=seller.party, region=self.region_index[cfg.region],
                           gen=gen, mw=cfg.build_site_mw, status=PERMITTING, ready_month=ready,
                           online_month=ready + cfg.lead_time_months,
                           life_months=self.costs.life_months, cancel=cancel)
            if isinstance(seller, Neocloud):
                seller.borrow(capex)
            else:
                self._external(seller.party, "capex", -capex)
            self._event("site_started", seller.name, site=name,
                        h100e=cfg.build_site_mw * gen.h100e_per_mw,
                        detail=f"{gen.name} {cfg.build_site_mw:.0f} MW, ${capex / 1e9:.1f}B")

    # 8 ------------------------------------------------------------------
    def _collect(self) -> None:
        m = self.month
        n = len(self.parties)
        committed_out = self.book.committed_h100e(m, by="seller", n=n)
        committed_in = self.book.committed_h100e(m, by="buyer", n=n)
        for lab in self.labs:
            i = lab.party
            self._rows_agents.append({
                "month": m, "agent": lab.name, "kind": f"{lab.kind}_lab",
                "capacity_owned_h100e": 0.0, "contracted_h100e": float(committed_in[i]),
                "spot_h100e": float(self._spot_bought[i]),
                "used_h100e": lab.served_h100e, "demand_h100e": lab.served_h100e
                + lab.unmet_h100e, "unmet_h100e": lab.unmet_h100e,
                "revenue_usd": lab.revenue_usd, "cost_usd": float(self._paid[i]),
                "value_usd": lab.value_usd, "cash_usd": float(self.cash[i]),
                "defaulted": lab.defaulted,
            })
        for s in self.sellers:
            i = s.party
            online = float(self.online_by_party[i])
            own_used = min(s.own_need_h100e, max(online - committed_out[i], 0.0))
            self._rows_agents.append({
                "month": m, "agent": s.name, "kind": s.kind,
                "capacity_owned_h100e": online, "contracted_h100e": float(committed_out[i]),
                "spot_h100e": float(self._spot_sold[i]),
                "used_h100e": float(committed_out[i] + self._spot_sold[i] + own_used),
                "demand_h100e": s.own_need_h100e, "unmet_h100e": s.own_need_h100e - own_used,
                "revenue_usd": s.revenue_usd, "cost_usd": s.cost_usd, "value_usd": 0.0,
                "cash_usd": float(self.cash[i]), "defaulted": s.defaulted,
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

    def _external(self, party: int, kind: str, usd: float) -> None:
        """Money entering (+) or leaving (-) the simulated economy."""
        self.cash[party] += usd
        self.external_usd[kind] += usd

    def _event(self, kind: str, agent: str, *, counterparty: str = "", contract: int = -1,
               site: str = "", h100e: float = 0.0, detail: str = "") -> None:
        self._events.append({"month": self.month, "event": kind, "agent": agent,
                             "counterparty": counterparty, "contract": contract, "site": site,
                             "h100e": h100e, "detail": detail})

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
        assert math.isclose(float(self.cash.sum()), expected, rel_tol=1e-9,
                            abs_tol=1.0), "money not conserved"
        for p in self.parties:
            assert self.cash[p.party] >= 0 or p.defaulted or isinstance(p, Seller), (
                f"{p.name} has negative cash without a default")
            if isinstance(p, Seller) and self.cash[p.party] < 0:
                assert p.negative_cash_months > 0 or p.defaulted
        for lab in self.labs:
            assert lab.unmet_h100e >= -1e-6, f"{lab.name} unmet demand negative"

    # outputs -------------------------------------------------------------
    def _months_to_timestamps(self, months: pd.Series) -> pd.Series:
        return pd.to_datetime(month_start(months.to_numpy()))

    def rows(self, table: str, start: int = 0) -> list[dict]:
        """Raw output rows of ``table`` ("market", "agents" or "events") from position
        ``start`` on, months as integer indices: cheap incremental reads for live views."""
        source = {"market": self._rows_market, "agents": self._rows_agents,
                  "events": self._events}
        if table not in source:
            raise ValueError(f"unknown table {table!r}; valid: {', '.join(source)}")
        return source[table][start:]

    def market_frame(self) -> pd.DataFrame:
        """Step x product: price, volume and depth; prices per H100e-month and per hour."""
        df = pd.DataFrame(self._rows_market)
        if df.empty:
            return df
        df["price_usd_per_h100e_hour"] = df["price_usd_per_h100e_month"] / 730.0
        df["month"] = self._months_to_timestamps(df["month"])
        return df

    def agents_frame(self) -> pd.DataFrame:
        """Step x agent: capacity, contracts, use, demand, unmet demand, money."""
        df = pd.DataFrame(self._rows_agents)
        if not df.empty:
            df["month"] = self._months_to_timestamps(df["month"])
        return df

    def contracts_frame(self) -> pd.DataFrame:
        """One row per contract with its whole life."""
        return self.book.to_frame(agent_names=[p.name for p in self.parties],
                                  site_names=self.sites.names)

    def events_frame(self) -> pd.DataFrame:
        """Notices, recalls, defaults, site events and signings, in order."""
        df = pd.DataFrame(self._events, columns=["month", "event", "agent", "counterparty",
                                                 "contract", "site", "h100e", "detail"])
        if not df.empty:
            df["month"] = self._months_to_timestamps(df["month"])
        return df

    def frames(self) -> dict[str, pd.DataFrame]:
        """The four output tables of MODEL.md section 9: market, agents, contracts, events."""
        return {"market": self.market_frame(), "agents": self.agents_frame(),
                "contracts": self.contracts_frame(), "events": self.events_frame()}
