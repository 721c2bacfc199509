"""Stages 2 and 3, contracts: expiries; owners' recalls, buyers' and sellers' notices; and
the signing of new contracts (preloaded at set-up, matched fills of the term market)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from market import exact
from market.agents.lab import exit_signal, surplus_exits
from market.agents.sellers import seller_exit_signal
from market.book import END_REASONS
from market.calendar import month_index, month_start, notice_end_month
from market.stages import queries
from market.supply import AWAITING, CONSTRUCTION
from market.terms import ContractTerms

if TYPE_CHECKING:
    from market.agents import Seller
    from market.model import ComputeMarket


def preload(model: ComputeMarket) -> None:
    """Sign the world's preloaded contracts in one batch (no capacity check), with the events
    of one signing each, in the order the world lists them."""
    given = model.world.contracts
    if not given:
        return
    table: dict[ContractTerms, int] = {}
    term_index = np.array([table.setdefault(model.market_cfg.terms(c.template), len(table))
                           for c in given], dtype=np.int64)
    terms = list(table)
    h100e = np.array([c.h100e for c in given], dtype=float)
    price = np.array([c.usd_per_month / c.h100e if c.usd_per_month is not None
                      else terms[t].usd_per_h100e_month for c, t in zip(given, term_index,
                                                                       strict=True)])
    site_of = {name: i for i, name in enumerate(model.sites.names)}
    model.book.sign(np.array([model.by_name[c.buyer].party for c in given]),
                    np.array([model.by_name[c.seller].party for c in given]),
                    np.array([site_of[c.site] for c in given]), h100e,
                    start_month=np.array([month_index(c.start) for c in given]), terms=terms,
                    usd_per_h100e_month=price, mw=np.array([c.mw for c in given], dtype=float),
                    signed_month=model.month, term_index=term_index)
    spend = h100e * price
    names = [terms[t].name for t in term_index.tolist()]
    per_unit = (spend / h100e).tolist()
    # two events per contract, in the world's order: its signing, then its preloading
    model._many_events(
        ["contracts_signed", "contract_preloaded"] * len(given),
        [c.buyer for c in given for _ in range(2)],
        counterparty=[c.seller for c in given for _ in range(2)],
        h100e=[x for c, q in zip(given, h100e.tolist(), strict=True) for x in (q, c.h100e)],
        detail=[x for c, name, u, p in zip(given, names, per_unit, price.tolist(), strict=True)
                for x in (f"{name}: 1 contract(s) at ${u:,.0f}/H100e-month on average",
                          f"{c.template} at ${p:,.0f}/H100e-month")])


def expire(model: ComputeMarket) -> None:
    """End contracts whose end month has come; early ends become events (expiries are in
    the contracts table)."""
    ended = model.book.expire(model.month)
    if not len(ended):
        return
    b = model.book
    reason = b.end_reason[ended]
    early = ended[reason != END_REASONS.index("expired")]
    names = model._names
    model._many_events([f"contract_ended_{END_REASONS[c]}" for c in b.end_reason[early].tolist()],
                       [names[p] for p in b.buyer[early].tolist()],
                       counterparty=[names[p] for p in b.seller[early].tolist()],
                       contract=early.tolist(), h100e=b.h100e[early].tolist())


def decide_notices(model: ComputeMarket) -> None:
    parties = model._seller_party
    owners = model._recalls_for_own_need & ~model.defaulted[parties]
    if owners.any():
        short = owner_shortfall_h100e(model)
        recall_own_need(model, [model.sellers[j] for j in
                                np.flatnonzero(owners & (short[parties] > 0)).tolist()], short)
    seller_exits(model)
    lab_exits(model)


def recall_index(model: ComputeMarket) -> tuple[np.ndarray, np.ndarray]:
    """This month's leases with the recall right not yet under notice at the month's start,
    grouped by seller (stable): their ids and sellers. Built once a month."""
    if model._recall_cache_month != model.month:
        b = model.book
        ids = open_unnoticed(model)
        ids = ids[b.has_recall[ids]]
        ids = ids[np.argsort(b.seller[ids], kind="stable")]
        model._recall_cache = (ids, b.seller[ids])
        model._recall_cache_month = model.month
    return model._recall_cache


def covering(qty: np.ndarray, want: float) -> int:
    """How many of the first leases (H100e ``qty``, in recall order) a seller recalls to cover
    ``want`` H100e: up to and including the one that reaches it; none if ``want`` <= 0."""
    return 1 + int(np.count_nonzero(np.cumsum(qty)[:-1] < want)) if want > 0 and qty.size else 0


def recallable(model: ComputeMarket, seller: Seller) -> np.ndarray:
    """Ids of the seller's leases it may still recall (live or not yet started)."""
    ids, owner = recall_index(model)
    lo, hi = np.searchsorted(owner, [seller.party, seller.party + 1])
    mine = ids[lo:hi]
    return mine[model.book.notice_month[mine] < 0]


def owner_shortfall_h100e(model: ComputeMarket) -> np.ndarray:
    """Per party: how far internal need (with reserve) exceeds the capacity it will have
    free once a 90-day recall takes effect, counting sites about to come online."""
    ahead = model.month + 4
    n = len(model.parties)
    committed = model.book.committed_h100e(ahead, by="seller", n=n)
    arriving = (np.isin(model.sites.status, [CONSTRUCTION, AWAITING])
                & (model.sites.ready_month <= ahead + 2))
    capacity = model.online_by_party + np.bincount(
        model.sites.owner[arriving], weights=model.sites.h100e[arriving], minlength=n)
    return queries.reserves(model, margin=True) - (capacity - committed)


def recall(model: ComputeMarket, seller: Seller, *, h100e: float | None = None, share: float = 1.0,
           reason: str) -> float:
    """Recall leases with the recall right, in the order their terms give
    (``ContractBook.recall_order``), until ``h100e`` (or ``share`` of them) is covered;
    return the H100e recalled."""
    ids = recallable(model, seller)
    if not ids.size:
        return 0.0
    return _recall_first(model, seller, model.book.recall_order(ids), h100e, share, reason)


def recall_own_need(model: ComputeMarket, owners: list[Seller], short_h100e: np.ndarray) -> None:
    """Each of ``owners`` recalls leases until its shortfall (``short_h100e``, per party) is
    covered, as ``recall`` does, for all of them in one batch: one sort, one recall."""
    if not owners:
        return
    b = model.book
    ids, seller = recall_index(model)
    party = np.array([o.party for o in owners])
    lo, hi = np.searchsorted(seller, party), np.searchsorted(seller, party + 1)
    ids = np.concatenate([ids[a:z] for a, z in zip(lo.tolist(), hi.tolist(), strict=True)])
    ids = b.recall_order(ids[b.notice_month[ids] < 0], by_seller=True)
    seller = b.seller[ids]
    qty = b.h100e[ids]
    takes, names = [], []
    lo, hi = np.searchsorted(seller, party).tolist(), np.searchsorted(seller, party + 1).tolist()
    for owner, p, a, z in zip(owners, party.tolist(), lo, hi, strict=True):
        if z > a:
            n = covering(qty[a:z], short_h100e[p])
            takes.append(ids[a:a + n])
            names += [owner.name] * n
    if not takes:
        return
    take = np.concatenate(takes)
    transfers = b.recall(take, model.month).transfers
    if np.intersect1d(transfers.payer, transfers.payee).size:
        # a party pays and is paid: keep each owner's money moves in turn
        for t in takes:
            mine = np.isin(transfers.contract, t)
            model._pay(transfers.payer[mine], transfers.payee[mine], transfers.usd[mine])
    else:
        model._apply(transfers)
    model._many_events("recall_notice", names, contract=take.tolist(),
                       counterparty=[model._names[p] for p in b.buyer[take].tolist()],
                       h100e=b.h100e[take].tolist(), detail="own_need")


def _recall_first(model: ComputeMarket, seller: Seller, ids: np.ndarray, h100e: float | None,
                  share: float, reason: str) -> float:
    """Recall the first of ``ids`` (in recall order) until ``h100e`` (or ``share`` of them)
    is covered; return the H100e recalled."""
    qty = model.book.h100e[ids]
    want = share * exact.total(qty) if h100e is None else h100e
    take = ids[:covering(qty, want)]
    if not take.size:
        return 0.0
    model._apply(model.book.recall(take, model.month).transfers)
    taken = qty[:take.size]
    model._many_events("recall_notice", [seller.name] * take.size, contract=take.tolist(),
                       counterparty=[model._names[p] for p in model.book.buyer[take].tolist()],
                       h100e=taken.tolist(), detail=reason)
    return exact.total(taken)


def open_unnoticed(model: ComputeMarket) -> np.ndarray:
    """Ids of the contracts live this month or not yet started, with no notice given."""
    b = model.book
    ids = b.open_ids(model.month)
    ended, start = b.ended_month[ids], b.start_month[ids]
    keep = (((start <= model.month) & (model.month < ended)) | (start > model.month))
    return ids[keep & (b.notice_month[ids] < 0)]


def streak(months: np.ndarray, n: int, live: np.ndarray, signal: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Count the months in a row ``signal`` has held on each of the ``live`` contracts
    (a contract is live over one run of months, so the others need no update); return
    ``months`` (one count per contract, grown by doubling to ``n`` or more) and the counts of
    ``live``."""
    if months.size < n:
        months = np.concatenate([months, np.zeros(max(n, 2 * months.size) - months.size,
                                                  np.int64)])
    months[live] = np.where(signal, months[live] + 1, 0)
    return months, months[live]


def seller_exits(model: ComputeMarket) -> None:
    """Sellers give notice on leases that spot, net of their exit fee, has paid more than
    the lease by their exit premium (``opportunism``) for ``exit_patience_months``."""
    b = model.book
    if not len(b):
        return
    ids = b.live_ids(model.month)
    seller = b.seller[ids]
    candidates = np.flatnonzero((b.seller_notice_days[ids] >= 0) & (b.notice_month[ids] < 0)
                                & ~model.defaulted[seller])
    # the signal on the leases a seller may exit only (a few in a hundred)
    mine = ids[candidates]
    freed = b.ended_month[mine] - notice_end_month(month_start(model.month),
                                                   b.seller_notice_days[mine])
    signal = np.zeros(ids.size, dtype=bool)
    signal[candidates] = seller_exit_signal(
        b.usd_per_h100e_month[mine], model.spot_index,
        model.party_table.exit_premium[seller[candidates]], b.seller_exit_fee_months[mine], freed)
    model._rich_months, rich = streak(model._rich_months, len(b), ids, signal)
    exits = signal & (rich >= model.party_table.exit_patience_months[seller])
    notice(model, ids[exits], "seller", "opportunity")


def seller_exit(model: ComputeMarket, seller: Seller) -> None:
    b = model.book
    ids = open_unnoticed(model)
    notice(model, ids[b.seller[ids] == seller.party], "seller", "seller_exit_shock")


def notice(model: ComputeMarket, ids: np.ndarray, by: str, reason: str) -> None:
    """Give notice on ``ids`` (by "buyer" or "seller"); accepted ones become events."""
    if not ids.size:
        return
    result = model.book.give_notice(ids, by=by, month=model.month)
    model._apply(result.transfers)
    b = model.book
    done = result.ids[result.accepted]
    who, other = (b.buyer[done], b.seller[done]) if by == "buyer" else (b.seller[done],
                                                                        b.buyer[done])
    names = model._names
    model._many_events(f"{by}_notice", [names[p] for p in who.tolist()],
                       counterparty=[names[p] for p in other.tolist()], contract=done.tolist(),
                       h100e=b.h100e[done].tolist(), detail=reason)


def lab_exits(model: ComputeMarket) -> None:
    """Buyers exit contracts priced above spot x (1 + exit premium) for too long, or their
    most expensive one when their cash runway is short, or (``surplus_exits``) capacity they
    have held beyond their need for too long."""
    b = model.book
    if not len(b) or not model.labs:
        return
    parties = model.party_table
    ids = b.live_ids(model.month)
    buyer, price = b.buyer[ids], b.usd_per_h100e_month[ids]
    candidates = ((b.buyer_notice_days[ids] >= 0) & (b.notice_month[ids] < 0)
                  & parties.is_buyer(buyer))
    signal = candidates & exit_signal(price, model.spot_index, parties.exit_premium[buyer])
    model._expensive_months, expensive = streak(model._expensive_months, len(b), ids, signal)
    exits = signal & (expensive >= parties.exit_patience_months[buyer])
    spend = queries.committed_usd_by_party(model)[parties.buyers]
    revenue = parties.revenue_usd[parties.buyers]
    floor = parties.runway_floor_months[parties.buyers]
    short = (spend > 0) & (model.cash[parties.buyers] < floor * (spend - revenue))
    short &= ~model.defaulted[parties.buyers]
    # a short lab exits its dearest candidate (the first of equal prices)
    is_short = np.zeros(len(model.parties), dtype=bool)
    is_short[parties.buyers[short]] = True
    mine = np.flatnonzero(candidates & is_short[buyer])
    if mine.size:
        mine = mine[np.lexsort((mine, -price[mine], buyer[mine]))]
        first = np.concatenate([[True], buyer[mine][1:] != buyer[mine][:-1]])
        exits[mine[first]] = True
    notice(model, ids[exits], "buyer", "price_or_runway")
    # capacity held under contract beyond the need (after outside compute), for too long
    labs = parties.buyers
    need = parties.inference_h100e[labs] * (1.0 + parties.training_share[labs])
    live = b.live_ids(model.month)
    leaving = live[b.notice_month[live] >= 0]  # notice given, not yet ended
    pending = np.bincount(b.buyer[leaving], weights=b.h100e[leaving],
                          minlength=len(model.parties))
    surplus = np.zeros(len(model.parties))
    surplus[labs] = np.maximum(queries.delivered_h100e(model)[labs] - pending[labs]
                               - np.maximum(need - queries.outside(model)[0], 0.0), 0.0)
    surplus = np.where(model.defaulted, 0.0, surplus)
    model._surplus_months = np.where(surplus > 0, model._surplus_months + 1, 0)
    patient = model._surplus_months >= parties.exit_patience_months
    shed = surplus_exits(buyer, price, b.h100e[ids],
                         candidates & (b.notice_month[ids] < 0) & patient[buyer],
                         np.where(patient, surplus, 0.0))
    notice(model, ids[shed], "buyer", "surplus")


def sign_pairs(model: ComputeMarket, result, pairs, orders, *, start: int) -> None:
    """Turn matched term fills into contracts on the sellers' templates, one batch."""
    seller = orders.who[pairs.sell]
    price = (result.price[orders.product[pairs.buy]] if result.paid is None
             else result.paid[pairs.buy])
    product = orders.product[pairs.sell]
    terms = model._lease_term_index[model.party_table.row[seller], product]
    sign(model, orders.who[pairs.buy], seller, orders.site[pairs.sell], pairs.quantity,
         price, model._lease_term_table, start=start, term_index=terms)


def sign(model: ComputeMarket, buyer, seller, site, h100e, price, terms, *, start: int,
         mw=None, check: bool = True, term_index=None) -> None:
    """Sign a batch of contracts (on ``terms``, or on ``terms[term_index]`` per contract);
    the book refuses any that would over-commit a site."""
    if mw is None:
        mw = h100e / model._h100e_per_mw_by_gen[model.sites.gen[site]]
    model.book.sign(buyer, seller, site, h100e, start_month=start, terms=terms,
                    usd_per_h100e_month=price, mw=mw, signed_month=model.month,
                    site_capacity_h100e=model.sites.online_h100e() if check else None,
                    term_index=term_index)
    # one event per buyer and month (the contracts table holds each contract)
    buyers, first, count = np.unique(buyer, return_index=True, return_counts=True)
    volume = np.bincount(np.searchsorted(buyers, buyer), weights=h100e)
    spend = np.bincount(np.searchsorted(buyers, buyer), weights=h100e * price)
    if isinstance(terms, ContractTerms):
        names = [terms.name] * buyers.size
    else:
        names = [terms[t].name for t in (first if term_index is None
                                         else np.asarray(term_index)[first]).tolist()]
    party = model._names
    count, volume = count.tolist(), volume.tolist()
    model._many_events(
        "contracts_signed", [party[b] for b in buyers.tolist()],
        counterparty=[party[s] if c == 1 else f"{c} sellers"
                      for s, c in zip(np.asarray(seller)[first].tolist(), count, strict=True)],
        h100e=volume, detail=[f"{name}: {c} contract(s) at ${usd / q:,.0f}/H100e-month on average"
                              for name, c, q, usd in zip(names, count, volume, spend.tolist(),
                                                         strict=True)])

