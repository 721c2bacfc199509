"""Uniform-price call auctions for many products at once (pure numpy).

``clear`` clears a batch of divisible limit orders, each for one of ``P`` products, with
whole-array numpy steps and no Python loop over orders or over products:

* ``_core.clear_levels``, the exact core: one sort by ``(product, priority class, price)``
  (one ``np.sort`` of packed 64-bit keys, checked, with an exact fallback; below
  ``_core.LEXSORT_MAX`` orders one stable ``np.lexsort``; ``sort_orders``)
  cuts the batch into price levels; prefix sums of buy and sell quantity at the level
  boundaries give every level's place in its side's queue, each product's crossing is counted
  with one ``reduceat``, and fills and the bounds of the clearing interval follow level by
  level.
* ``_window.clear_windowed``, for large batches without priority classes and with many orders per
  product: a histogram of quantity over (product, price bucket) brackets each product's
  volume, only the orders in the buckets that can hold the margin (the *window*, typically an
  eighth of the batch) are sorted and cleared by the core, with the orders above and below it
  folded into one order each; a per-product check falls back to all of the product's orders
  where the window cannot settle it. Exact, not an approximation: same result as the core.

A slow, loop-based reference with the same semantics lives with the tests
(``tests/reference_clearing.py``).

Exact quantities
----------------
Quantities are counted in whole *lots*: a power of two chosen per batch so that the batch
holds fewer than 2**52 lots (``_core.lot_size``), each order rounded down to whole lots (by
less than one lot, about ``N * max(quantity) * 2**-52``). Every cumulative quantity the
clearing compares is then a whole number below 2**53, exact in float64, and every fill is a
whole number of lots: on each product the buy fills and the sell fills add up to the volume
exactly, in any order of addition (and so on any machine). Inside the one rationed tie group
of each side, the traded lots are shared by a cumulative floor
``fill_i = floor(C_i * t / Q) - floor(C_{i-1} * t / Q)`` (``C_i`` the group's lots through
order ``i`` in index order, ``t`` the lots the group trades, ``Q`` its size): pro rata within
one lot, and telescoping to ``t``.

Residuals do not price
----------------------
A float sum such as 0.1 + 0.2 against 0.3 leaves a residual of 1e-17 on one side. On each
product, two cumulative quantities that differ by at most the tolerance
``tol = max(1e-12 * min(buy total, sell total), number of the product's orders)`` lots count
as equal (``_core.REL_TOL``): the crossing is the first level where the sells reach the buys
less ``tol``; where the two candidate volumes at the crossing are within ``tol`` the smaller is
taken; a volume of at most ``tol`` is no trade; and a level counts as *traded* or as *short*
(not fully filled) for the clearing interval only by more than ``tol``. So a residual never
makes a far-away order marginal: the result is the one exact arithmetic on the intended
quantities gives.

Orders and classes
------------------
Order ``i`` wants to buy (``side[i] == +1``) or sell (``side[i] == -1``) up to
``quantity[i] >= 0`` units of product ``product[i]`` at limit ``price[i]``. It belongs to
priority class ``priority[i] >= 0`` (0 for every order when ``priority`` is None).

Within a product the *ordinary class* ``C`` is the highest class among the product's orders
with positive quantity (0 when there is none). Orders of class ``C`` are *ordinary*; orders of
a lower class are *priority* orders (class 0 models an owner's own use of its own capacity).
Orders with zero quantity never trade and never constrain anything.

Each side is served in queue order: buys by ``(class asc, price desc)``, sells by
``(class asc, price asc)``. Orders with the same product, side, class and price form a tie
group; a tie group is filled pro rata to quantity (every order of the group gets the same
fraction of its quantity). Priority orders are *price-takers*: for the volume they count as
buys with limit +inf / sells with limit -inf, so their own limit only ranks them within their
class (and is what they pay under ``pay_as_bid``).

Volume
------
With effective limits (ordinary: own limit; priority buy: +inf; priority sell: -inf) the
traded volume of a product is the largest ``V`` such that the marginal buy limit at ``V`` is
>= the marginal sell limit at ``V``, i.e. ``V = max_p min(D(p), S(p))`` with ``D(p)`` the buy
quantity with effective limit >= p and ``S(p)`` the sell quantity with effective limit <= p.
This maximizes the realised surplus; where the last units add zero surplus (marginal buy limit
== marginal sell limit) the larger volume is chosen. ``V`` units are then allocated on each
side in queue order, pro rata within the one tie group at which ``V`` is reached.

Price (rule="uniform")
----------------------
For a product with ``V > 0`` the clearing interval ``[lower, upper]`` is the set of prices
``p`` at which, for **ordinary** orders,

* every traded buyer (filled > 0) has limit >= p and every traded seller has limit <= p;
* every buyer whose limit is strictly above p and every seller whose limit is strictly
  below p is fully filled.

Hence ``lower = max(limit of traded ordinary sells, limit of ordinary buys not fully filled)``
("last accepted ask", "first rejected bid") and ``upper = min(limit of traded ordinary buys,
limit of ordinary sells not fully filled)`` ("last accepted bid", "first rejected ask"). An
order rationed at the margin is both traded and not fully filled, so it pins the price to its
limit (``lower == upper``). The interval is never empty. The price is the k-rule
``price = lower + k * (upper - lower)`` (computed as ``k*upper + (1-k)*lower`` clipped to the
interval, so ``k=0`` gives exactly ``lower`` and ``k=1`` exactly ``upper``): ``k=1`` favours
sellers, ``k=0`` buyers. When one bound is unconstrained (possible only when priority orders
exhaust one side) the price is the finite bound. ``price`` is NaN where ``V == 0``.

What holds for priority orders: a priority order is served before every order of a higher
class on its side, whatever the limits (between two priority orders of one class the better
limit goes first, ties pro rata). It is left (partly) unfilled only when the opposite side's
entire quantity, all classes together, is used up; its side is then rationed in queue order.
Its limit is not checked against the uniform price: a priority buy may pay more than its limit
and a priority sell receive less. The clearing-interval conditions hold for the ordinary class
only, and the realised ``surplus`` (computed from limits) may be lower than the maximum, or
negative, when priority orders trade.

Invariants
----------
* ``0 <= filled <= quantity``; for each product, sum of buy fills == sum of sell fills ==
  ``volume``, exactly;
* ordinary orders satisfy the clearing-interval conditions at ``price``;
* a tie group is filled pro rata; at most one tie group per product and side is partially
  filled;
* without priority orders the realised surplus equals the maximum achievable surplus;
* products are cleared independently: clearing a batch equals clearing each product alone;
* the result is deterministic and the same on every machine: the sorts are stable (ties in
  index order), sums are of whole lots, and ``surplus`` adds its terms in sorted order.

The clearing-interval conditions, "fully filled" and "traded" read with the tolerance above;
an order's full fill is its quantity rounded down to whole lots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from market import exact
from market.clearing import _window
from market.clearing._core import clear_levels, lot_size, to_lots
from market.clearing._validate import RULES, check

__all__ = ["ClearingResult", "RULES", "clear"]

@dataclass(frozen=True)
class ClearingResult:
    """Outcome of one call auction over ``P`` products and ``N`` orders.

    ``price`` (P,) uniform clearing price, NaN where nothing trades; ``volume`` (P,) traded
    quantity; ``filled`` (N,) quantity filled per order; ``paid`` (N,) each filled order's own
    limit under ``rule="pay_as_bid"`` (NaN where unfilled), else None; ``surplus`` realised
    gains from trade, ``sum(filled * limit)`` over buys minus the same over sells.
    """

    price: np.ndarray
    volume: np.ndarray
    filled: np.ndarray
    paid: np.ndarray | None = None
    _surplus: float | None = None
    _gains: tuple | None = field(default=None, repr=False, compare=False)
    """(filled in sorted order, signed, and the sorted prices) or (filled, side, price): what
    ``surplus`` is computed from when first read (the model never reads it)."""

    @property
    def surplus(self) -> float:
        """Realised gains from trade, terms added in a fixed order (computed once, on demand)."""
        if self._surplus is None:
            a, b, *c = self._gains
            gains = np.multiply(a, b, dtype=np.float64)
            if c:
                np.multiply(gains, c[0], out=gains)
            object.__setattr__(self, "_surplus", exact.total(gains))
        return self._surplus


def clear(
    product,
    side,
    price,
    quantity,
    *,
    n_products: int | None = None,
    priority=None,
    k: float = 0.5,
    rule: str = "uniform",
) -> ClearingResult:
    """Clear a uniform-price call auction for every product of the batch at once.

    Parameters
    ----------
    product : int array (N,), product index in ``0..n_products-1``.
    side : int array (N,), +1 buy, -1 sell.
    price : float array (N,), finite limit price.
    quantity : float array (N,), divisible quantity >= 0.
    n_products : number of products P (default ``max(product) + 1``, 0 for empty input).
    priority : optional int array (N,) of classes >= 0; lower classes are served first.
    k : in [0, 1], position of the price in the clearing interval (see module docstring).
    rule : "uniform" (default) or "pay_as_bid" (same allocation; each filled order pays or
        receives its own limit, reported in ``paid``).

    Returns
    -------
    ClearingResult with ``price`` and ``volume`` (P,), ``filled`` (N,), ``paid`` and
    ``surplus``. Raises ValueError naming the field and first bad index on invalid input.
    """
    big = priority is None and len(price) >= _window.WINDOW_MIN_ORDERS  # (then counted)
    product, side, price, quantity, P, prio, k, prange, qmax, counts = check(
        product, side, price, quantity, n_products, priority, k, rule, count=big
    )
    n = len(price)
    if n == 0 or P == 0:
        out_price, volume, filled, gains = np.full(P, np.nan), np.zeros(P), np.zeros(n), None
    else:
        lot = lot_size(qmax, n)
        lots = to_lots(quantity, lot)
        if big and counts is not None and n >= _window.WINDOW_MIN_DEPTH * P:
            out_price, volume, filled, gains = _window.clear_windowed(
                product, side, price, lots, P, k, prange, counts)
        else:
            out_price, volume, filled, gains = clear_levels(
                product, side, price, lots, P, prio, k, prange)
        volume *= lot  # whole lots times a power of two: exact
        filled *= lot
    paid = None
    if rule == "pay_as_bid":
        paid = np.where(filled > 0, price, np.nan)
    if gains is None:
        return ClearingResult(out_price, volume, filled, paid, 0.0)
    if len(gains) == 2:  # (signed lots, price) in sorted order: scale the lots
        gains = (gains[0], lot, gains[1])
    else:  # (filled, side, price), filled already scaled
        gains = (filled, gains[1], gains[2])
    return ClearingResult(out_price, volume, filled, paid, None, gains)
