"""``ContractBook``: the vectorized ledger of every contract (docs/model.md section 6).

One numpy array per field (struct of arrays), grown by doubling; a contract's id is its row.
Every operation (bill, notice, recall, expiry, default, queries) works on all contracts at once,
with no Python loop over contracts.

Months are integer month indices (``market.calendar``). A contract is *live* at month ``m`` when
``start_month <= m < ended_month``; ``end_month`` is the scheduled exclusive end
(``start_month + tenor``) and ``ended_month`` the actual one, moved earlier by a notice, a recall
or a default. ``end_reason`` is set when a notice or recall is accepted (the reason the contract
*will* end) and ``ended`` when the end month has come (:meth:`ContractBook.expire`). ``live`` is
a pure month test, so it also answers for past months. Operations assume months move forward.

Money fields are cumulative USD per contract: ``billed_usd`` (buyer to seller), ``exit_fee_usd``
(buyer to seller, charged once when a buyer's notice is accepted), ``compensation_usd`` (seller
to buyer, once per accepted recall) and ``seller_exit_fee_usd`` (seller to buyer, once per
accepted seller notice); all are non-negative. What a contract bills in a month is
``market.terms.bill_usd``: it follows the capacity delivered at its site
(:meth:`ContractBook.delivered_share`) and, for pay-as-used contracts, the buyer's use.

Invariants (checked by the tests):
- signing never commits more H100e at a site, in any month, than ``site_capacity_h100e`` allows;
- a contract bills at most once per month, and never outside ``[start_month, ended_month)``;
- every dollar moves between two agents and is returned as ``Transfers``: bills and exit fees from
  buyer to seller, recall compensation from seller to buyer, so money is conserved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from market import exact
from market.calendar import as_month, month_label, month_start, notice_end_month, to_date
from market.terms import BILLED_CLAUSES, CLAUSES, NO_EXIT, ContractTerms, bill_usd

__all__ = [
    "END_REASONS",
    "TRANSFER_KINDS",
    "Bill",
    "ContractBook",
    "NoticeResult",
    "Transfers",
]

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: ``end_reason`` codes. "live" = no early end scheduled (yet).
END_REASONS: tuple[str, ...] = (
    "live",
    "expired",
    "buyer_notice",
    "seller_notice",
    "recall",
    "seller_default",
    "buyer_default",
)
LIVE, EXPIRED, BUYER_NOTICE, SELLER_NOTICE, RECALL, SELLER_DEFAULT, BUYER_DEFAULT = range(7)

#: ``Transfers.kind`` codes.
TRANSFER_KINDS: tuple[str, ...] = ("bill", "exit_fee", "recall_compensation", "seller_exit_fee")
BILL, EXIT_FEE, RECALL_COMPENSATION, SELLER_EXIT_FEE = range(4)
#: per-contract money column of each one-off transfer kind
_FEE_COLUMN = {EXIT_FEE: "exit_fee_usd", RECALL_COMPENSATION: "compensation_usd",
               SELLER_EXIT_FEE: "seller_exit_fee_usd"}

NO_MONTH = -1  # notice_month / last_billed_month when none
DELIVERY_TOLERANCE = 1e-6
"""A contract counts as fully delivered when its site holds all but this share of it."""

# name -> (dtype, initial value, description with units)
_FIELDS: dict[str, tuple[type, Any, str]] = {
    "buyer": (np.int64, 0, "buyer's agent index"),
    "seller": (np.int64, 0, "seller's agent index"),
    "site": (np.int64, 0, "site index the capacity sits at"),
    "h100e": (np.float64, 0.0, "contracted capacity in H100-equivalents"),
    "mw": (np.float64, 0.0, "IT MW behind the capacity"),
    "signed_month": (np.int64, 0, "month index the contract was signed"),
    "start_month": (np.int64, 0, "first month billed"),
    "end_month": (np.int64, 0, "scheduled exclusive end: start_month + tenor"),
    "ended_month": (np.int64, 0, "actual exclusive end (notice, recall, default)"),
    **CLAUSES,
    "template": (np.int64, 0, "code into ContractBook.template_names"),
    "end_reason": (np.int8, LIVE, "code into END_REASONS"),
    "ended": (np.bool_, False, "the contract's end month has come"),
    "notice_month": (np.int64, NO_MONTH, "month the accepted notice/recall was given; -1 none"),
    "next_bill_month": (np.int64, 0, "first month not yet billed: max(start, last billed + 1)"),
    "fee_usd_month": (np.float64, 0.0, "full monthly fee in USD: h100e x usd_per_h100e_month"),
    "ramp_end_month": (np.int64, 0, "first month past the ramp: start_month + ramp_months"),
    "billed_usd": (np.float64, 0.0, "cumulative USD billed, buyer to seller"),
    "exit_fee_usd": (np.float64, 0.0, "early-exit fee in USD paid by the buyer to the seller"),
    "compensation_usd": (np.float64, 0.0, "recall compensation in USD paid seller to buyer"),
    "seller_exit_fee_usd": (np.float64, 0.0, "seller's exit fee in USD paid seller to buyer"),
}

_INT = np.int64
_FLOAT = np.float64


def _empty(dtype: type) -> npt.NDArray[Any]:
    return np.zeros(0, dtype=dtype)


@dataclass(frozen=True)
class Transfers:
    """Money movements: ``usd[i]`` goes from agent ``payer[i]`` to agent ``payee[i]``.

    ``kind`` codes index ``TRANSFER_KINDS``; ``contract`` is the contract each one comes from.
    Apply to a cash array with :meth:`apply` (``np.add.at``, so repeated agents add up).
    """

    contract: Int64Array
    payer: Int64Array
    payee: Int64Array
    usd: FloatArray
    kind: npt.NDArray[np.int8]

    def __post_init__(self) -> None:
        n = len(self.usd)
        for name in ("contract", "payer", "payee", "kind"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Transfers.{name} has {len(getattr(self, name))} rows, not {n}")

    @classmethod
    def empty(cls) -> Transfers:
        """No transfers."""
        return cls(_empty(_INT), _empty(_INT), _empty(_INT), _empty(_FLOAT), _empty(np.int8))

    @classmethod
    def concat(cls, parts: Sequence[Transfers]) -> Transfers:
        """All transfers of ``parts`` in order."""
        if not parts:
            return cls.empty()
        return cls(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("contract", "payer", "payee", "usd", "kind")
            )
        )

    def __len__(self) -> int:
        return len(self.usd)

    @property
    def total_usd(self) -> float:
        """Sum of all amounts."""
        return exact.total(self.usd)

    def net_usd(self, n_agents: int) -> FloatArray:
        """Net USD received per agent (received minus paid); sums to zero."""
        received = np.bincount(self.payee, weights=self.usd, minlength=n_agents)
        paid = np.bincount(self.payer, weights=self.usd, minlength=n_agents)
        if len(received) > n_agents or len(paid) > n_agents:
            raise ValueError(f"Transfers.net_usd: an agent index is >= n_agents={n_agents}")
        return received - paid

    def apply(self, cash_usd: FloatArray) -> None:
        """Move the money in ``cash_usd`` (indexed by agent), in place."""
        np.subtract.at(cash_usd, self.payer, self.usd)
        np.add.at(cash_usd, self.payee, self.usd)


@dataclass(frozen=True)
class Bill:
    """One month's bills: ``contract[i]`` bills ``buyer[i]`` ``usd[i]``, paid to ``seller[i]``."""

    month: int
    contract: Int64Array
    buyer: Int64Array
    seller: Int64Array
    usd: FloatArray

    def __len__(self) -> int:
        return len(self.usd)

    @property
    def total_usd(self) -> float:
        """Sum billed this month."""
        return exact.total(self.usd)

    @property
    def transfers(self) -> Transfers:
        """The bills as buyer-to-seller transfers."""
        kind = np.full(len(self.usd), BILL, dtype=np.int8)
        return Transfers(self.contract, self.buyer, self.seller, self.usd, kind)


@dataclass(frozen=True)
class NoticeResult:
    """Outcome of a notice or recall on ``ids``.

    ``accepted[i]`` says whether the notice on ``ids[i]`` took effect; ``ended_month[i]`` is the
    contract's exclusive end afterwards; ``transfers`` holds the exit fees (buyer to seller) or
    recall compensation (seller to buyer) it triggered.
    """

    ids: Int64Array
    accepted: BoolArray
    ended_month: Int64Array
    transfers: Transfers


def coded_categorical(index: npt.NDArray[np.integer], labels: Sequence[str]) -> pd.Categorical:
    """``labels[index]`` as a categorical of the labels used, sorted (what
    ``astype("category")`` makes of the strings), built from the codes: no string per row."""
    used = np.unique(index)
    categories, code = np.unique(np.asarray(labels, dtype=object)[used].astype(str),
                                 return_inverse=True)
    return pd.Categorical.from_codes(code[np.searchsorted(used, index)],
                                     categories=pd.Index(categories))


def _column_property(name: str, doc: str) -> property:
    def get(self: ContractBook) -> npt.NDArray[Any]:
        view = self._cols[name][: self._n].view()
        view.flags.writeable = False
        return view

    return property(get, doc=f"{doc} (read-only view, one row per contract)")


class ContractBook:
    """Vectorized ledger of contracts: one array per field, one row per contract (id = row).

    Read fields as attributes (``book.h100e``, ``book.ended_month``...; read-only views; the
    recall-right column is ``has_recall`` since ``recall`` is the operation). Change them only
    through the operations, which return every money movement as ``Transfers`` and keep running
    totals (``paid_by_buyers_usd``, ``received_by_sellers_usd``, ``paid_by_sellers_usd``,
    ``received_by_buyers_usd``) so that conservation can be asserted. Derived columns kept for
    the monthly hot path: ``fee_usd_month`` (h100e x price), ``ramp_end_month`` and
    ``next_bill_month`` (``last_billed_month`` is computed from it).
    """

    # column attributes are generated below the class from _FIELDS
    buyer: Int64Array
    seller: Int64Array
    site: Int64Array
    h100e: FloatArray
    mw: FloatArray
    signed_month: Int64Array
    start_month: Int64Array
    end_month: Int64Array
    ended_month: Int64Array
    usd_per_h100e_month: FloatArray
    ramp_months: Int64Array
    ramp_discount: FloatArray
    take_or_pay: BoolArray
    minimum_use_share: FloatArray
    recall_priority: Int64Array
    seller_exit_fee_months: FloatArray
    seller_exit_fee_usd: FloatArray
    buyer_notice_days: Int64Array
    seller_notice_days: Int64Array
    recall_notice_days: Int64Array
    recall_compensation_months: FloatArray
    early_exit_fee_months: FloatArray
    template: Int64Array
    end_reason: npt.NDArray[np.int8]
    ended: BoolArray
    notice_month: Int64Array
    next_bill_month: Int64Array
    fee_usd_month: FloatArray
    ramp_end_month: Int64Array
    billed_usd: FloatArray
    exit_fee_usd: FloatArray
    compensation_usd: FloatArray

    def __init__(self, capacity: int = 1024) -> None:
        self._n = 0
        self._cols: dict[str, npt.NDArray[Any]] = {
            name: np.full(max(int(capacity), 1), init, dtype=dtype)
            for name, (dtype, init, _) in _FIELDS.items()
        }
        self.template_names: list[str] = []
        self._template_codes: dict[str, int] = {}
        # the open index: sorted ids of every contract with ended_month > _floor_month (and
        # maybe some that end earlier), so that queries at months >= _floor_month scale with
        # the contracts still open, not with all ever signed. An end month only moves earlier,
        # so rows dropped by expire() never come back.
        self._open = np.zeros(0, dtype=np.int64)
        self._floor_month: int | None = None
        # live ids per month, until the next change of who is live (a sign or an end moved)
        self._live_cache: dict[int, Int64Array] = {}
        # committed H100e per (month, by, n) until the next such change
        self._committed_cache: dict[tuple[int, str, int | None], FloatArray] = {}
        self.version = 0
        """Counts the changes of who is live and until when (signs, accepted notices and
        recalls, defaults): equal versions, equal live sets."""
        self.paid_by_buyers_usd = 0.0
        self.received_by_sellers_usd = 0.0
        self.paid_by_sellers_usd = 0.0
        self.received_by_buyers_usd = 0.0

    # --- storage -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"ContractBook({self._n} contracts)"

    @property
    def id(self) -> Int64Array:
        """Contract ids (= row indices)."""
        return np.arange(self._n, dtype=np.int64)

    @property
    def last_billed_month(self) -> Int64Array:
        """Last month billed per contract; -1 if never billed."""
        nxt, start = self._col("next_bill_month"), self._col("start_month")
        return np.where(nxt > start, nxt - 1, NO_MONTH)

    @property
    def has_recall(self) -> BoolArray:
        """Whether the seller holds a recall right (the ``recall`` field)."""
        return self._col("recall").copy()

    def _col(self, name: str) -> npt.NDArray[Any]:
        """Writable view of the live rows of a column (internal)."""
        return self._cols[name][: self._n]

    def _grow(self, extra: int) -> None:
        need = self._n + extra
        size = len(self._cols["buyer"])
        if need <= size:
            return
        while size < need:
            size *= 2
        for name, (dtype, init, _) in _FIELDS.items():
            # zeros come from fresh (lazily mapped) pages: the tail costs nothing until used
            grown = np.zeros(size, dtype=dtype) if init == 0 else np.full(size, init, dtype)
            grown[: self._n] = self._cols[name][: self._n]
            self._cols[name] = grown

    def _changed(self, from_month: int) -> None:
        """Who is live from ``from_month`` on has changed (a sign, or an end moved to it or
        later): drop the per-month caches of those months (earlier months keep theirs)."""
        self.version += 1
        self._drop_cached(lambda month: month >= from_month)

    def _drop_cached(self, drop) -> None:
        """Forget the per-month caches (live ids, committed H100e) of the months ``drop``
        picks."""
        for m in [m for m in self._live_cache if drop(m)]:
            del self._live_cache[m]
        for key in [key for key in self._committed_cache if drop(key[0])]:
            del self._committed_cache[key]

    def _template_code(self, name: str) -> int:
        if name not in self._template_codes:
            self._template_codes[name] = len(self.template_names)
            self.template_names.append(name)
        return self._template_codes[name]

    def _ids(self, ids: Any, who: str) -> Int64Array:
        arr = np.atleast_1d(np.asarray(ids))
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{who}: ids must be a 1-D array of integer contract ids, got {ids!r}")
        if arr.min() < 0 or arr.max() >= self._n:
            i = int(np.flatnonzero((arr < 0) | (arr >= self._n))[0])
            raise ValueError(
                f"{who}: ids[{i}] = {arr[i]} is not a contract id (the book has {self._n})"
            )
        ordered = np.sort(arr)
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        if repeated.size:
            raise ValueError(f"{who}: ids contain duplicates (e.g. {repeated[0]})")
        return arr.astype(np.int64, copy=False)

    # --- signing -----------------------------------------------------------------------------
    def sign(
        self,
        buyer: Any,
        seller: Any,
        site: Any,
        h100e: Any,
        start_month: Any,
        terms: ContractTerms | Sequence[ContractTerms],
        usd_per_h100e_month: Any = None,
        mw: Any = 0.0,
        signed_month: Any = None,
        site_capacity_h100e: Any = None,
        term_index: Any = None,
    ) -> Int64Array:
        """Sign a batch of contracts (arguments broadcast together) and return their ids.

        ``terms`` is one ``ContractTerms`` for all or one per contract, or with ``term_index``
        a table of terms and the index of each contract's terms in it; ``usd_per_h100e_month``
        (e.g. a market-cleared price per contract) overrides the terms' price. Months may be
        indices or labels; ``signed_month`` defaults to ``start_month``. With
        ``site_capacity_h100e`` (online H100e available to lease, indexed by site) the batch is
        refused as a whole, book unchanged, if any site would hold more committed H100e than its
        capacity in any month the new contracts are live. Raises ValueError naming the field and
        index of any invalid input.
        """
        if term_index is not None:
            # a table of terms and an index into it per contract (no object per contract)
            term_list = list(terms)
            term_idx = np.asarray(term_index)
            if not term_list or not all(isinstance(t, ContractTerms) for t in term_list):
                raise ValueError("sign: with term_index, terms must be a sequence of "
                                 "ContractTerms")
            if term_idx.size and (not np.issubdtype(term_idx.dtype, np.integer)
                                  or term_idx.min() < 0 or term_idx.max() >= len(term_list)):
                raise ValueError(f"sign: term_index must index the {len(term_list)} terms, "
                                 f"got {term_index!r}")
        elif isinstance(terms, ContractTerms):
            term_list = [terms]
            term_idx = 0
        else:
            given = list(terms)
            if not given or not all(isinstance(t, ContractTerms) for t in given):
                raise ValueError("sign: terms must be a ContractTerms or a sequence of them")
            # one row of term fields per distinct terms object, not per contract
            position: dict[int, int] = {}
            term_list = []
            for t in given:
                if id(t) not in position:
                    position[id(t)] = len(term_list)
                    term_list.append(t)
            term_idx = np.array([position[id(t)] for t in given], dtype=np.int64)
        price_given = usd_per_h100e_month is not None
        start = as_month(start_month)
        signed = start if signed_month is None else as_month(signed_month)
        named = {
            "buyer": np.asarray(buyer),
            "seller": np.asarray(seller),
            "site": np.asarray(site),
            "h100e": np.asarray(h100e, dtype=float),
            "start_month": np.asarray(start),
            "signed_month": np.asarray(signed),
            "mw": np.asarray(mw, dtype=float),
            "usd_per_h100e_month": np.asarray(
                usd_per_h100e_month if price_given else np.nan, dtype=float
            ),
            "terms": np.asarray(term_idx),
        }
        try:
            args = np.broadcast_arrays(*named.values())
        except ValueError:
            shapes = ", ".join(f"{k} {v.shape}" for k, v in named.items() if v.ndim)
            raise ValueError(f"sign: arguments do not broadcast to one length: {shapes}") from None
        if args[0].ndim > 1:
            raise ValueError(f"sign: arguments must be scalars or 1-D, got shape {args[0].shape}")
        buyer_a, seller_a, site_a, qty, start_a, signed_a, mw_a, price_a, tix = (
            np.atleast_1d(a).copy() for a in args
        )
        n = len(qty)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        for name, arr in (("buyer", buyer_a), ("seller", seller_a), ("site", site_a)):
            if not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"sign: {name} must be integer indices, got dtype {arr.dtype}")
        t_fields = {
            f: np.array([NO_EXIT if getattr(t, f) is None else getattr(t, f) for t in term_list])
            for f in ("tenor_months", *CLAUSES)
        }
        if not price_given:
            price_a = t_fields["usd_per_h100e_month"][tix].astype(float)
        end_a = start_a + t_fields["tenor_months"][tix]

        def refuse(name: str, bad: BoolArray, arr: npt.NDArray[Any], rule: str) -> None:
            where = np.flatnonzero(bad)
            if where.size:
                i = where[0]
                raise ValueError(f"sign: {name}[{i}] = {arr[i].item()!r} {rule}")

        refuse("buyer", buyer_a < 0, buyer_a, "must be >= 0")
        refuse("seller", seller_a < 0, seller_a, "must be >= 0")
        refuse("seller", seller_a == buyer_a, seller_a, "must differ from the buyer")
        refuse("site", site_a < 0, site_a, "must be >= 0")
        refuse("h100e", ~(np.isfinite(qty) & (qty > 0)), qty, "must be finite and > 0")
        refuse("mw", ~(np.isfinite(mw_a) & (mw_a >= 0)), mw_a, "must be finite and >= 0")
        refuse(
            "usd_per_h100e_month",
            ~(np.isfinite(price_a) & (price_a >= 0)),
            price_a,
            "must be finite and >= 0",
        )
        refuse(
            "start_month",
            start_a < signed_a,
            start_a,
            f"is before signed_month ({signed_a[np.argmax(start_a < signed_a)]})",
        )
        if site_capacity_h100e is not None:
            self._check_capacity(site_a, qty, start_a, end_a, site_capacity_h100e)

        # template codes in order of first use in this batch
        used, first = np.unique(np.broadcast_to(tix, (n,)), return_index=True)
        codes = np.zeros(len(term_list), dtype=np.int64)
        for t in used[np.argsort(first, kind="stable")]:
            codes[t] = self._template_code(term_list[t].name)
        self._grow(n)
        rows = slice(self._n, self._n + n)
        values: dict[str, npt.NDArray[Any]] = {
            "buyer": buyer_a,
            "seller": seller_a,
            "site": site_a,
            "h100e": qty,
            "mw": mw_a,
            "signed_month": signed_a,
            "start_month": start_a,
            "end_month": end_a,
            "ended_month": end_a,
            "next_bill_month": start_a,
            "fee_usd_month": qty * price_a,
            "ramp_end_month": start_a + t_fields["ramp_months"][tix],
            "usd_per_h100e_month": price_a,
            "template": codes[tix],
        }
        for f in CLAUSES:
            if f != "usd_per_h100e_month":
                values[f] = t_fields[f][tix]
        for name, arr in values.items():
            self._cols[name][rows] = arr
        ids = np.arange(self._n, self._n + n, dtype=np.int64)
        self._n += n
        self._open = np.concatenate([self._open, ids])
        self._changed(int(start_a.min()))  # live from their start on
        return ids

    def _check_capacity(
        self,
        site: Int64Array,
        qty: FloatArray,
        start: Int64Array,
        end: Int64Array,
        capacity: Any,
    ) -> None:
        """Refuse (ValueError) if old + new commitments exceed a site's capacity in any month."""
        cap = np.asarray(capacity, dtype=float)
        if cap.ndim != 1:
            raise ValueError("sign: site_capacity_h100e must be a 1-D array indexed by site")
        bad = np.flatnonzero(~(np.isfinite(cap) & (cap >= 0)))
        if bad.size:
            raise ValueError(
                f"sign: site_capacity_h100e[{bad[0]}] = {cap[bad[0]]} must be finite and >= 0"
            )
        beyond = np.flatnonzero(site >= len(cap))
        if beyond.size:
            i = beyond[0]
            raise ValueError(
                f"sign: site[{i}] = {site[i]} has no entry in site_capacity_h100e "
                f"(length {len(cap)})"
            )
        m0, m1 = int(start.min()), int(end.max())
        span = m1 - m0
        # only the sites this batch touches, renumbered 0..n_sites-1
        touched = np.unique(site)
        n_sites = len(touched)

        def profile(s: Int64Array, q: FloatArray, a: Int64Array, b: Int64Array) -> FloatArray:
            """H100e committed per (site, month in [m0, m1)) by contracts live in [a, b)."""
            a = np.clip(a - m0, 0, span)
            b = np.clip(b - m0, 0, span)
            width = span + 1
            diff = np.bincount(s * width + a, weights=q, minlength=n_sites * width)
            diff -= np.bincount(s * width + b, weights=q, minlength=n_sites * width)
            return np.cumsum(diff.reshape(n_sites, width), axis=1)[:, :span]

        s_old, q_old = self._col("site"), self._col("h100e")
        a_old, b_old = self._col("start_month"), self._col("ended_month")
        rows = self.open_ids(m0)  # the others ended by m0
        keep = rows[(b_old[rows] > m0) & (a_old[rows] < m1)]
        # each site's place among the touched ones (-1: untouched), by lookup
        place = np.full(max(int(touched[-1]), int(s_old[keep].max(initial=0))) + 1, -1,
                        dtype=np.int64)
        place[touched] = np.arange(n_sites)
        pos = place[s_old[keep]]
        hit = pos >= 0
        keep, pos = keep[hit], pos[hit]
        old = profile(pos, q_old[keep], a_old[keep], b_old[keep])
        new = profile(np.searchsorted(touched, site), qty, start, end)
        cap_t = cap[touched]
        over = (new > 0) & (old + new > cap_t[:, None] * (1 + 1e-9) + 1e-9)
        if over.any():
            t, j = np.argwhere(over.T)[0]  # earliest month, then lowest site
            s = touched[j]
            raise ValueError(
                f"sign: refused, site {s} over-committed in {month_label(m0 + int(t))}: "
                f"committed {old[j, t]:,.1f} H100e + requested {new[j, t]:,.1f} H100e "
                f"> capacity {cap[s]:,.1f} H100e"
            )

    # --- state queries -----------------------------------------------------------------------
    def open_ids(self, month: Any) -> Int64Array:
        """Sorted ids of every contract that may be live at ``month`` or later (a superset:
        the open index when ``month`` is not before the last expiry, else every id)."""
        m = as_month(month)
        if self._floor_month is None or m < self._floor_month:
            return np.arange(self._n, dtype=np.int64)
        return self._open

    def live_ids(self, month: Any) -> Int64Array:
        """Sorted ids of the contracts live at ``month`` (``live(month)`` as ids)."""
        m = as_month(month)
        if not isinstance(m, int):
            raise ValueError(f"live_ids: month must be one month, got {month!r}")
        live = self._live_cache.get(m)
        if live is None:
            ids = self.open_ids(m)
            live = ids[(self._col("start_month")[ids] <= m) & (m < self._col("ended_month")[ids])]
            live.flags.writeable = False
            self._live_cache[m] = live
        return live

    def live(self, month: Any) -> BoolArray:
        """Contracts live at ``month``: ``start_month <= month < ended_month``."""
        m = as_month(month)
        if not isinstance(m, int):  # a month per contract
            return (self._col("start_month") <= m) & (m < self._col("ended_month"))
        mask = np.zeros(self._n, dtype=np.bool_)
        mask[self.live_ids(month)] = True
        return mask

    def delivered_share(self, month: Any, site_online_h100e: Any) -> FloatArray:
        """Share of each contract's H100e its site delivers at ``month`` (0 where not live).

        ``site_online_h100e`` is the capacity online per site index; where a site holds less
        than its live contracts commit (a site not built yet, or ramping in phases), every
        contract on it gets the same share, online / committed.
        """
        online = np.asarray(site_online_h100e, dtype=float)
        committed = self.committed_h100e(month, by="site", n=len(online))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(committed > 0, np.minimum(online / committed, 1.0), 1.0)
        # a site short by rounding only (MW x GPUs per MW x H100e per GPU) delivers in full
        share = np.where(share >= 1.0 - DELIVERY_TOLERANCE, 1.0, share)
        out = np.zeros(self._n)
        ids = self.live_ids(month)
        out[ids] = share[self._col("site")[ids]]
        return out

    def ramping(self, month: Any, delivered_share: Any = None) -> BoolArray:
        """Live contracts billed at the ramp discount at ``month``: within their ramp months and
        with their capacity not all delivered (``delivered_share``; default all delivered)."""
        m = as_month(month)
        delivered = 1.0 if delivered_share is None else np.asarray(delivered_share, dtype=float)
        return self.live(m) & (m < self._col("ramp_end_month")) & (delivered < 1.0)

    def monthly_fee_usd(self, month: Any, delivered_share: Any = None,
                        used_share: Any = None) -> FloatArray:
        """What each contract bills at ``month`` (0 where not live): ``market.terms.bill_usd``
        with ``delivered_share`` and ``used_share`` per contract (default 1)."""
        m = as_month(month)
        delivered = 1.0 if delivered_share is None else np.asarray(delivered_share, dtype=float)
        fee = bill_usd(self._col("fee_usd_month"), month_of_contract=m - self._col("start_month"),
                       delivered_share=delivered,
                       used_share=1.0 if used_share is None else used_share,
                       **{clause: self._col(clause) for clause in BILLED_CLAUSES})
        return np.where(self.live(m), fee, 0.0)

    def recall_order(self, ids: Any, by_seller: bool = False) -> Int64Array:
        """``ids`` in the order their seller recalls them: the terms' ``recall_priority`` first,
        then the shortest recall notice, the soonest scheduled end (the least term given up),
        the newest signing, and the id (stable). With ``by_seller``, the ids of many sellers
        grouped by seller index, each group in that order."""
        idx = self._ids(ids, "recall_order")
        keys = (idx, -self._col("signed_month")[idx], self._col("end_month")[idx],
                self._col("recall_notice_days")[idx], self._col("recall_priority")[idx])
        if by_seller:
            keys += (self._col("seller")[idx],)
        return idx[np.lexsort(keys)]

    def committed_h100e(
        self, month: Any, by: Literal["site", "seller", "buyer"] = "site", n: int | None = None
    ) -> FloatArray:
        """H100e under live contracts at ``month``, summed per site, seller or buyer index."""
        if by not in ("site", "seller", "buyer"):
            raise ValueError(f"committed_h100e: by must be 'site', 'seller' or 'buyer', got {by!r}")
        m = as_month(month)
        key = (m, by, n) if isinstance(m, int) else None  # live_ids refuses the others
        out = self._committed_cache.get(key)
        if out is None:
            live = self.live_ids(month)
            index = self._col(by)[live]
            out = np.bincount(index, weights=self._col("h100e")[live], minlength=n or 0)
            if n is not None and len(out) > n:
                raise ValueError(f"committed_h100e: a {by} index is >= n={n}")
            self._committed_cache[key] = out
        return out.copy()

    def held_h100e(self, month: Any, n_buyers: int | None = None) -> FloatArray:
        """H100e held per buyer at ``month`` (``committed_h100e(month, by="buyer")``)."""
        return self.committed_h100e(month, by="buyer", n=n_buyers)

    # --- billing -----------------------------------------------------------------------------
    def bill(self, month: Any, used_share: Any = None, delivered_share: Any = None) -> Bill:
        """Bill every contract live at ``month`` and not yet billed for it (or a later month).

        Each bills ``market.terms.bill_usd``: its full fee (h100e x price) times the
        ``delivered_share`` of its capacity (per contract, in [0, 1], default 1; see
        :meth:`delivered_share`), less the ramp discount while not all is delivered within its
        ramp months; take-or-pay contracts bill all delivered capacity, the others its
        ``used_share`` (per contract, in [0, 1], default 1) but at least their minimum. Billing
        the same month twice bills nothing the second time.
        """
        m = as_month(month)
        n = self._n
        shares = {}
        for name, given in (("used_share", used_share), ("delivered_share", delivered_share)):
            if given is None:
                continue
            share = np.broadcast_to(np.asarray(given, dtype=float), (n,))
            if not np.all((share >= 0) & (share <= 1)):
                i = int(np.flatnonzero(~((share >= 0) & (share <= 1)))[0])
                raise ValueError(f"bill: {name}[{i}] = {share[i]} must be in [0, 1]")
            shares[name] = share
        # only the open rows can be due; compute the fee on the due rows only
        next_bill = self._col("next_bill_month")
        rows = self.open_ids(m)  # a row not open has ended_month <= m: nothing due
        ids = rows[(next_bill[rows] <= m) & (self._col("ended_month")[rows] > m)]
        delivered = shares["delivered_share"][ids] if "delivered_share" in shares else 1.0
        usd = bill_usd(
            self._col("fee_usd_month").take(ids),
            month_of_contract=m - self._col("start_month").take(ids), delivered_share=delivered,
            used_share=shares["used_share"][ids] if "used_share" in shares else 1.0,
            **{clause: self._col(clause).take(ids) for clause in BILLED_CLAUSES})
        self._col("billed_usd")[ids] += usd
        next_bill[ids] = m + 1  # due rows have next_bill <= m
        total = exact.total(usd)
        self.paid_by_buyers_usd += total
        self.received_by_sellers_usd += total
        return Bill(m, ids, self._col("buyer").take(ids), self._col("seller").take(ids), usd)

    # --- notices, recalls, expiry, defaults --------------------------------------------------
    def _end_early(
        self,
        ids: Int64Array,
        days: Int64Array,
        month: int,
        date: Any,
        reason: int,
        fee_months: FloatArray | None,
        kind: int,
    ) -> NoticeResult:
        """Shared notice/recall logic; money flows buyer->seller (exit fee) or seller->buyer.

        Months move forward: a contract ended by ``month`` has ``ended_month <= month``, so the
        clipped new end (never before ``month``) cannot move it earlier and it is refused.
        """
        when = month_start(month) if date is None else to_date(date)
        if np.ndim(when) not in (0, 1) or np.size(when) not in (1, len(ids)):
            raise ValueError(f"date must be one date or one per id, got shape {np.shape(when)}")
        due = notice_end_month(when, np.maximum(days, 0))
        new_end = np.maximum(due, month)
        np.maximum(new_end, self._col("start_month")[ids], out=new_end)
        np.minimum(new_end, self._col("end_month")[ids], out=new_end)
        ended_month = self._col("ended_month")
        current = ended_month[ids]
        accepted = new_end < current
        accepted &= days >= 0
        hit = ids[accepted]
        ended_month[hit] = new_end[accepted]
        if hit.size:  # no longer live from their new end on
            self._changed(int(new_end[accepted].min()))
        self._col("end_reason")[hit] = reason
        self._col("notice_month")[hit] = month
        result_end = np.where(accepted, new_end, current)
        if fee_months is None:
            return NoticeResult(ids, accepted, result_end, Transfers.empty())
        usd = fee_months[accepted] * self._col("fee_usd_month")[hit]
        pay = usd > 0
        hit, usd = hit[pay], usd[pay]
        buyer, seller = self._col("buyer")[hit], self._col("seller")[hit]
        total = exact.total(usd)
        self._col(_FEE_COLUMN[kind])[hit] += usd
        if kind == EXIT_FEE:
            self.paid_by_buyers_usd += total
            self.received_by_sellers_usd += total
            payer, payee = buyer, seller
        else:
            self.paid_by_sellers_usd += total
            self.received_by_buyers_usd += total
            payer, payee = seller, buyer
        transfers = Transfers(hit, payer, payee, usd, np.full(len(usd), kind, dtype=np.int8))
        return NoticeResult(ids, accepted, result_end, transfers)

    def give_notice(
        self, ids: Any, by: Literal["buyer", "seller"], month: Any, date: Any = None
    ) -> NoticeResult:
        """``by`` gives notice on ``ids`` at ``month``, dated its first day unless ``date`` given.

        The contract ends at ``notice_end_month(date, notice_days)``, capped at its scheduled
        end and never before ``month``. A notice is accepted only if that side may exit
        (notice days != -1), the contract has not ended and the notice ends it earlier than it
        is already due to end (so a second notice keeps the earlier end); refusals are reported
        in ``accepted``, not raised. A buyer's accepted notice charges the early-exit fee
        (``early_exit_fee_months`` x full monthly fee) once, buyer to seller; a seller's its
        ``seller_exit_fee_months`` x full monthly fee, seller to buyer.
        """
        m = as_month(month)
        idx = self._ids(ids, "give_notice")
        if by == "buyer":
            days = self._col("buyer_notice_days")[idx]
            fee = self._col("early_exit_fee_months")[idx]
            return self._end_early(idx, days, m, date, BUYER_NOTICE, fee, EXIT_FEE)
        if by == "seller":
            days = self._col("seller_notice_days")[idx]
            fee = self._col("seller_exit_fee_months")[idx]
            return self._end_early(idx, days, m, date, SELLER_NOTICE, fee, SELLER_EXIT_FEE)
        raise ValueError(f"give_notice: by must be 'buyer' or 'seller', got {by!r}")

    def recall(self, ids: Any, month: Any, date: Any = None) -> NoticeResult:
        """The seller recalls contracts ``ids`` for its own use (only those with the recall right).

        Ends at ``notice_end_month(date, recall_notice_days)`` with the same acceptance rules as
        :meth:`give_notice`; pays ``recall_compensation_months`` x full monthly fee, seller to
        buyer, once per accepted recall.
        """
        m = as_month(month)
        idx = self._ids(ids, "recall")
        days = np.where(self._col("recall")[idx], self._col("recall_notice_days")[idx], NO_EXIT)
        comp = self._col("recall_compensation_months")[idx]
        return self._end_early(idx, days, m, date, RECALL, comp, RECALL_COMPENSATION)

    def expire(self, month: Any) -> Int64Array:
        """Mark ended every contract with ``ended_month <= month``; return the ids ended now.

        Those that ran to their scheduled end get reason "expired"; the others keep the reason
        of the notice or recall that ended them.
        """
        m = as_month(month)
        ended = self._col("ended")
        rows = self.open_ids(m)  # rows not open have ended_month <= the last expiry: ended
        ended_month = self._col("ended_month")[rows]
        idx = rows[(ended_month <= m) & ~ended[rows]]
        ended[idx] = True
        reason = self._col("end_reason")
        reason[idx] = np.where(reason[idx] == LIVE, EXPIRED, reason[idx])
        if self._floor_month is None or m >= self._floor_month:
            self._open = rows[ended_month > m]
            self._floor_month = m
        # months move forward: the cached months before this one are let go (asked again,
        # they are computed again)
        self._drop_cached(lambda month: month < m)
        return idx

    def _default(self, column: str, party: Any, month: Any, reason: int) -> Int64Array:
        m = as_month(month)
        parties = np.atleast_1d(np.asarray(party))
        if not np.issubdtype(parties.dtype, np.integer):
            raise ValueError(f"default: {column} must be integer agent indices, got {party!r}")
        ended_month = self._col("ended_month")
        rows = self.open_ids(m)
        who = self._col(column)[rows]
        # membership by lookup over agent indices (what np.isin does, without a sort)
        failed = np.zeros(max(int(parties.max(initial=-1)), int(who.max(initial=-1))) + 1,
                          dtype=bool)
        failed[parties[parties >= 0]] = True
        hit = rows[failed[who] & ~self._col("ended")[rows] & (ended_month[rows] > m)]
        ended_month[hit] = np.maximum(m, self._col("start_month")[hit])
        if hit.size:  # no longer live from their new end on
            self._changed(int(ended_month[hit].min()))
        self._col("end_reason")[hit] = reason
        self._col("ended")[hit] = True
        return hit

    def default_seller(self, seller: Any, month: Any) -> Int64Array:
        """End every unfinished contract of ``seller`` (one or many) at ``month``; return ids.

        No bill from ``month`` on; contracts not yet started never bill. Reason "seller_default".
        """
        return self._default("seller", seller, month, SELLER_DEFAULT)

    def default_buyer(self, buyer: Any, month: Any) -> Int64Array:
        """End every unfinished contract of ``buyer`` at ``month``; reason "buyer_default"."""
        return self._default("buyer", buyer, month, BUYER_DEFAULT)

    # --- accounting and output ---------------------------------------------------------------
    def net_usd(self, n_agents: int) -> FloatArray:
        """Net USD each agent received over the book's life (bills, fees, compensation); sums to 0.

        Computed from the per-contract totals, so it can be checked against the transfers.
        """
        flows = (
            (self._col("billed_usd") + self._col("exit_fee_usd"), "buyer", "seller"),
            (self._col("compensation_usd") + self._col("seller_exit_fee_usd"), "seller", "buyer"),
        )
        net = np.zeros(n_agents)
        for usd, payer, payee in flows:
            net += np.bincount(self._col(payee), weights=usd, minlength=n_agents)[:n_agents]
            net -= np.bincount(self._col(payer), weights=usd, minlength=n_agents)[:n_agents]
        return net

    def to_frame(
        self,
        agent_names: Sequence[str] | None = None,
        site_names: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One row per contract with its whole life; dates are month-start Timestamps, names
        (given ``agent_names`` and ``site_names``), templates and end reasons categorical."""

        def when(col: str) -> pd.DatetimeIndex:
            months = self._col(col)
            days = month_start(np.where(months == NO_MONTH, 0, months))
            days = np.where(months == NO_MONTH, np.datetime64("NaT"), days)
            return pd.DatetimeIndex(np.asarray(days, dtype="datetime64[s]"))

        def named(col: str, names: Sequence[str] | None) -> Any:
            index = self._col(col)
            return index.copy() if names is None else coded_categorical(index, names)

        return pd.DataFrame(
            {
                "id": self.id,
                "template": coded_categorical(self._col("template"), self.template_names + [""]),
                "buyer": named("buyer", agent_names),
                "seller": named("seller", agent_names),
                "site": named("site", site_names),
                "h100e": self._col("h100e").copy(),
                "mw": self._col("mw").copy(),
                "usd_per_h100e_month": self._col("usd_per_h100e_month").copy(),
                "tenor_months": self._col("end_month") - self._col("start_month"),
                "take_or_pay": self._col("take_or_pay").copy(),
                "recall": self._col("recall").copy(),
                "signed": when("signed_month"),
                "start": when("start_month"),
                "scheduled_end": when("end_month"),
                "end": when("ended_month"),
                "ended": self._col("ended").copy(),
                "end_reason": coded_categorical(self._col("end_reason"), END_REASONS),
                "notice": when("notice_month"),
                "billed_usd": self._col("billed_usd").copy(),
                "exit_fee_usd": self._col("exit_fee_usd").copy(),
                "compensation_usd": self._col("compensation_usd").copy(),
                "seller_exit_fee_usd": self._col("seller_exit_fee_usd").copy(),
            }
        )


for _name, (_dtype, _init, _doc) in _FIELDS.items():
    if _name != "recall":  # the recall method owns that name; the column is ``has_recall``
        setattr(ContractBook, _name, _column_property(_name, _doc))
del _name, _dtype, _init, _doc
