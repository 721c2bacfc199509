"""Uniform-price call auctions for many products at once (pure numpy).

``clear`` clears a batch of divisible limit orders, each for one of ``P`` products, with
whole-array numpy steps and no Python loop over orders or over products:

* ``_clear_levels``, the exact core: one sort by ``(product, priority class, price)`` (one
  ``np.sort`` of packed 64-bit keys, checked, with an exact fallback; see ``_sort_orders``)
  cuts the batch into price levels; prefix sums of buy and sell quantity at the level
  boundaries give every level's place in its side's queue, each product's crossing is counted
  with one ``reduceat``, and fills and the bounds of the clearing interval follow level by
  level.
* ``_clear_windowed``, for large batches without priority classes and with many orders per
  product: a histogram of quantity over (product, price bucket) brackets each product's
  volume, only the orders in the buckets that can hold the margin (the *window*, typically an
  eighth of the batch) are sorted and cleared by the core, with the orders above and below it
  folded into one order each; a per-product check falls back to all of the product's orders
  where the window cannot settle it. Exact, not an approximation: same result as the core.

``clear_reference`` is a slow, loop-based reference with the same semantics, written
independently for tests and benchmarks.

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
  ``volume`` (up to float rounding);
* ordinary orders satisfy the clearing-interval conditions at ``price``;
* a tie group is filled pro rata; at most one tie group per product and side is partially
  filled;
* without priority orders the realised surplus equals the maximum achievable surplus;
* products are cleared independently: clearing a batch equals clearing each product alone;
* the result is deterministic (no randomness); all arithmetic is float64.

Fills are computed from cumulative sums over the sorted batch, so on very large batches they
carry absolute rounding errors of order ``N * eps * total quantity``; ordinary tie groups away
from the margin are filled exactly (``quantity`` or 0), so the interval conditions hold exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ClearingResult", "RULES", "clear", "clear_reference"]

RULES = ("uniform", "pay_as_bid")


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
    surplus: float = 0.0


# ---------------------------------------------------------------------------------------
# validation


def _first_bad(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _as_1d(name: str, x) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got {a.ndim} dimensions")
    return a


def _as_int(name: str, a: np.ndarray, what: str) -> np.ndarray:
    """Integer view of ``a``; floats must be finite and integral."""
    if a.dtype == bool:
        return a.astype(np.int64)
    if np.issubdtype(a.dtype, np.integer):
        return a
    if np.issubdtype(a.dtype, np.floating):
        bad = ~np.isfinite(a)
        bad[~bad] = a[~bad] != np.floor(a[~bad])
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(f"{name}[{i}] is {a[i].item()!r}: {what} must be integers")
        return a.astype(np.int64)
    if a.size == 0:
        return a.astype(np.int64)
    raise ValueError(f"{name} must be an integer array, got dtype {a.dtype}")


def _as_float(name: str, a: np.ndarray) -> np.ndarray:
    if a.size == 0:
        return a.astype(np.float64)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.iscomplexobj(a):
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def _validate(product, side, price, quantity, n_products, priority, k, rule):
    product, side, price, quantity, n_products, prio, k, _ = _check(
        product, side, price, quantity, n_products, priority, k, rule
    )
    return product, side == 1, price, quantity, n_products, prio, k


def _check(product, side, price, quantity, n_products, priority, k, rule):
    """Validate and convert the inputs; returns the (numeric, +-1) ``side`` array itself and
    the (min, max) of the prices.

    Each array is checked by a few reductions (min, max, count); the element-wise masks that
    locate the first bad entry are built only when a check fails."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; valid rules: {', '.join(map(repr, RULES))}")
    k = float(k)
    if not 0.0 <= k <= 1.0:  # also rejects NaN
        raise ValueError(f"k={k!r} is outside [0, 1]")
    arrays = {
        "product": _as_1d("product", product),
        "side": _as_1d("side", side),
        "price": _as_1d("price", price),
        "quantity": _as_1d("quantity", quantity),
    }
    if priority is not None:
        arrays["priority"] = _as_1d("priority", priority)
    n = len(arrays["product"])
    for name, a in arrays.items():
        if len(a) != n:
            raise ValueError(
                f"arrays differ in length: product has length {n} but {name} has length {len(a)}"
            )

    price = _as_float("price", arrays["price"])
    prange = (float(price.min()), float(price.max())) if n else (0.0, 0.0)
    if not (math.isfinite(prange[0]) and math.isfinite(prange[1])):
        bad = ~np.isfinite(price)
        i = _first_bad(bad)
        raise ValueError(f"price[{i}] is {price[i].item()!r}: prices must be finite")

    quantity = _as_float("quantity", arrays["quantity"])
    if n and not (quantity.min() >= 0 and quantity.max() < math.inf):  # NaN fails too
        bad = ~(np.isfinite(quantity) & (quantity >= 0))
        i = _first_bad(bad)
        raise ValueError(
            f"quantity[{i}] is {quantity[i].item()!r}: quantities must be finite and >= 0"
        )

    side = arrays["side"]
    if side.size and not np.issubdtype(side.dtype, np.number):
        raise ValueError(f"side must be a numeric array, got dtype {side.dtype}")
    ok = (
        n == 0
        or side.dtype.kind in "iu"
        and side.min() >= -1
        and side.max() <= 1
        and np.count_nonzero(side) == n
    )
    if not ok:
        bad = (side != 1) & (side != -1)
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(
                f"side[{i}] is {side[i].item()!r}: side must be +1 (buy) or -1 (sell)"
            )

    product = _as_int("product", arrays["product"], "products")
    if n_products is None:
        n_products = int(product.max()) + 1 if n > 0 else 0
        n_products = max(n_products, 0)
    else:
        if int(n_products) != n_products or n_products < 0:
            raise ValueError(f"n_products={n_products!r} must be an integer >= 0")
        n_products = int(n_products)
    if n and (product.min() < 0 or product.max() >= n_products):
        bad = (product < 0) | (product >= n_products)
        i = _first_bad(bad)
        raise ValueError(
            f"product[{i}] is {product[i].item()!r}: products must be integers in "
            f"0..{n_products - 1} (n_products={n_products})"
        )
    product = product.astype(np.intp, copy=False)

    if priority is not None:
        prio = _as_int("priority", arrays["priority"], "priority classes")
        if n and prio.min() < 0:
            bad = prio < 0
            i = _first_bad(bad)
            raise ValueError(f"priority[{i}] is {prio[i].item()!r}: priority classes must be >= 0")
        if n == 0 or not prio.any():
            prio = None
    else:
        prio = None
    return product, side, price, quantity, n_products, prio, k, prange


# ---------------------------------------------------------------------------------------
# vectorized clearing


def _stable_key_sort(order: np.ndarray, key: np.ndarray, kmax: int) -> np.ndarray:
    """Refine ``order`` by a stable sort on integer ``key[order]`` (radix sort when small)."""
    kk = key[order]
    if kmax < 2**16:
        kk = kk.astype(np.uint16)
    return order[np.argsort(kk, kind="stable")]


_TWO52_BITS = int(np.float64(2.0**52).view(np.int64))


def _price_grid(price, lo, scale):
    """``(price - lo) * scale`` rounded to int64, a monotone (non-decreasing) image of the
    price for ``0 <= (price - lo) * scale < 2**52``: adding 2**52 rounds a float in that range
    to an integer held in its mantissa, then the exponent bits are cleared. A new array."""
    grid = np.subtract(price, lo)
    np.multiply(grid, scale, out=grid)
    np.add(grid, 2.0**52, out=grid)
    grid = grid.view(np.int64)
    return np.bitwise_xor(grid, _TWO52_BITS, out=grid)


def _sort_orders(product, price, prio, n_products, prange):
    """Order of the batch by (product, class, price); deterministic.

    Returns ``(order, gkey, p, gchg)``: the permutation, the group key ``product << bc |
    class`` and the price at each sorted position (``bc`` bits hold the class), and where the
    group key changes between neighbours. ``prio`` must be int64 (or None).

    Fast path: one ``np.sort`` of packed int64 keys ``group | bucket | index``, where
    ``bucket`` is a monotone (non-decreasing) integer image of the price with as many bits as
    are left, and the low bits hold the original index (so the permutation comes back with
    the sorted keys, and ties keep index order). A monotone bucket can only merge distinct
    prices, never reverse them, so the result is exact whenever the sorted prices come out
    non-decreasing within every group; that is checked, and in the (rare) case of a collision
    the batch is sorted again exactly by a quicksort of the prices refined by stable radix
    sorts of the group keys.
    """
    n = len(price)
    bn = max((n - 1).bit_length(), 1)
    bc = int(prio.max()).bit_length() if prio is not None else 0
    bg = (n_products - 1).bit_length() + bc
    bits = min(62 - bn - bg, 51)
    if bits >= 16:
        lo, hi = prange
        span = hi - lo
        scale = 2.0**bits * (1.0 - 2.0**-10) / span if span > 0 else 0.0
        if math.isfinite(span) and math.isfinite(scale):
            key = _price_grid(price, lo, scale)  # in [0, 2**bits), monotone in the price
            if bg:
                if bc:
                    g = np.left_shift(product, bc)
                    np.bitwise_or(g, prio, out=g)
                    np.left_shift(g, bits, out=g)
                else:
                    g = np.left_shift(product, bits)
                np.bitwise_or(key, g, out=key)
                del g
            np.left_shift(key, bn, out=key)
            order = np.arange(n, dtype=np.intp)
            np.bitwise_or(key, order, out=key)
            key.view(np.float64).sort()  # keys < 2**62: positive floats, same order
            np.bitwise_and(key, (1 << bn) - 1, out=order)
            np.right_shift(key, bits + bn, out=key)  # key now holds the group keys
            p = np.take(price, order)
            gchg = key[1:] != key[:-1]
            down = p[1:] < p[:-1]  # where the price falls, the group must change
            np.greater(down, gchg, out=down)
            if not down.any():
                return order, key, p, gchg
            del key, order, p, down, gchg

    order = np.argsort(price)
    if prio is not None:
        order = _stable_key_sort(order, prio, int(prio.max()))
    order = _stable_key_sort(order, product, n_products - 1)
    gkey = product[order].astype(np.int64)
    if bc:
        np.left_shift(gkey, bc, out=gkey)
        np.bitwise_or(gkey, prio[order], out=gkey)
    return order, gkey, price[order], gkey[1:] != gkey[:-1]


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
    product, side, price, quantity, P, prio, k, prange = _check(
        product, side, price, quantity, n_products, priority, k, rule
    )
    n = len(price)
    if n == 0 or P == 0:
        out_price, volume, filled, surplus = np.full(P, np.nan), np.zeros(P), np.zeros(n), 0.0
    elif prio is None and n >= WINDOW_MIN_ORDERS and n >= WINDOW_MIN_DEPTH * P:
        out_price, volume, filled, surplus = _clear_windowed(
            product, side, price, quantity, P, k, prange
        )
    else:
        out_price, volume, filled, surplus = _clear_levels(
            product, side, price, quantity, P, prio, k, prange
        )
    paid = None
    if rule == "pay_as_bid":
        paid = np.where(filled > 0, price, np.nan)
    return ClearingResult(out_price, volume, filled, paid, surplus)


def _clear_levels(product, side, price, quantity, P, prio, k, prange):
    """The exact core of :func:`clear` on validated input with ``n >= 1`` orders and ``P >= 1``;
    returns ``(price, volume, filled, surplus)``.

    One sort by (product, class, price) cuts the batch into *levels*: the orders of one
    product, class and price. Everything else is arithmetic on arrays over levels, from prefix
    sums of buy and sell quantity taken at level boundaries: each level's place in its side's
    queue (``ahead`` and ``end``: quantity queued before it and through it), each product's
    crossing (the first ordinary level where the sells at or below it reach the buys at or
    above it, counted per product with one ``reduceat``), the volume, each level's fill ratio
    (1 if the volume covers it, 0 if the volume stops before it, pro rata in between), and the
    bounds of the clearing interval (a ``reduceat`` over the ordinary levels). A fixed number of
    whole-array steps, whatever the number of products.
    """
    n_all = len(price)
    keep = None
    if prio is not None:
        # the ordinary class is the highest class with positive quantity: orders with none
        # never trade nor constrain anything, so they are set aside (filled 0)
        if int(prio.max()).bit_length() + (P - 1).bit_length() > 40:
            prio = np.unique(prio, return_inverse=True)[1]  # only the order of classes matters
        prio = prio.astype(np.int64, copy=False)
        if quantity.min() <= 0:
            keep = np.flatnonzero(quantity > 0)
            product, side, price, quantity, prio = (
                product[keep], side[keep], price[keep], quantity[keep], prio[keep])
            if len(keep) == 0:
                return np.full(P, np.nan), np.zeros(P), np.zeros(n_all), 0.0
            prange = (float(price.min()), float(price.max()))
        if not prio.any():
            prio = None
    n = len(price)
    order, g, p, gchg = _sort_orders(product, price, prio, P, prange)
    bc = int(prio.max()).bit_length() if prio is not None else 0
    # signed quantities in queue order: + buys, - sells
    if side.dtype.kind in "iuf":
        sq = np.multiply(quantity, side, dtype=np.float64).take(order)
    else:
        sq = np.where(side == 1, quantity, -quantity).take(order)
    qb = np.maximum(sq, 0.0)
    qs = np.subtract(qb, sq)

    # levels: positions ls[j]:ls[j+1]; blocks (one product and class): levels bf:bl;
    # products: levels pf:pl
    new = np.empty(n, bool)
    new[0] = True
    np.not_equal(p[1:], p[:-1], out=new[1:])
    new[1:] |= gchg
    ls = np.flatnonzero(new)
    lg = g[ls]  # group key (product << bc | class) of each level
    bf = _starts(lg)
    bl = np.append(bf[1:], len(ls))
    bprod = lg[bf] >> bc
    if prio is None:  # one block per product, all of it ordinary
        pf, pl, prods, o_first, ordinary = bf, bl, bprod, bf, None
    else:
        last_block = np.append(bprod[1:] != bprod[:-1], True)
        pf = bf[np.append(True, last_block[:-1])]  # first level of each product
        pl = bl[last_block]
        prods = bprod[last_block]
        o_first = bf[last_block]  # the ordinary block is the product's last
        ordinary = np.repeat(last_block, bl - bf)
    pcnt = pl - pf

    # buy (real) and sell (imag) quantity before each level boundary
    cum = np.empty(n + 1, np.complex128)
    cum[0] = 0.0
    cum[1:].real = qb
    cum[1:].imag = qs
    np.cumsum(cum[1:], out=cum[1:])
    level_end = np.append(ls, n)
    at = cum[level_end]
    del cum
    cb, cs = at.real, at.imag

    # queues: buys by (class asc, price desc), sells by (class asc, price asc); the buys of
    # lower classes are ahead of a block's, then those of the block above this level
    if prio is None:
        cb_blk = np.repeat(cb[pl], pcnt)
    else:
        block_product = np.cumsum(last_block) - last_block  # index into pf of each block
        cb_blk = np.repeat(cb[bl] + (cb[bf] - cb[pf][block_product]), bl - bf)
    end_b = cb_blk - cb[:-1]  # buys queued through this level
    ahead_b = cb_blk - cb[1:]  # ... before it
    cs_a = np.repeat(cs[pf], pcnt)
    ahead_s = cs[:-1] - cs_a
    end_s = cs[1:] - cs_a

    # volume: over the ordinary levels (priority orders count at every price), with m the
    # first level where S >= D, V = max(D[m], S[m - 1])
    below = end_s < end_b
    if ordinary is not None:
        below &= ordinary
    m = o_first + np.add.reduceat(below, pf, dtype=np.intp)
    vol = np.zeros(len(pf))
    i = np.flatnonzero(m < pl)
    vol[i] = end_b[m[i]]
    i = np.flatnonzero(m > o_first)
    vol[i] = np.maximum(vol[i], end_s[m[i] - 1])

    # fills, level by level
    v = np.repeat(vol, pcnt)
    r_b = _fill_ratio(v, ahead_b, end_b)
    r_s = _fill_ratio(v, ahead_s, end_s)
    lengths = np.diff(level_end)
    signed = np.multiply(qb, np.repeat(r_b, lengths))
    signed -= np.multiply(qs, np.repeat(r_s, lengths))
    fill = np.empty(n)
    fill[order] = signed
    surplus = float(np.dot(fill, price))
    np.abs(fill, out=fill)

    # clearing interval from the ordinary levels: lower = max(limit of traded sells, of buys
    # not fully filled), upper = min(limit of traded buys, of sells not fully filled)
    has_b = end_b > ahead_b
    has_s = end_s > ahead_s
    lv_price = p[ls]
    bounds_lower = (has_s & (r_s > 0)) | (has_b & (r_b < 1))
    bounds_upper = (has_b & (r_b > 0)) | (has_s & (r_s < 1))
    if ordinary is not None:
        bounds_lower &= ordinary
        bounds_upper &= ordinary
    lower = np.where(bounds_lower, lv_price, -np.inf)
    upper = np.where(bounds_upper, lv_price, np.inf)
    lower = np.maximum.reduceat(lower, pf)
    upper = np.minimum.reduceat(upper, pf)
    out_price = np.full(P, np.nan)
    volume = np.zeros(P)
    volume[prods] = vol
    t = np.flatnonzero(vol > 0)
    lower, upper = lower[t], upper[t]
    upper = np.where(np.isfinite(upper), upper, lower)
    lower = np.where(np.isfinite(lower), lower, upper)
    out_price[prods[t]] = np.clip(k * upper + (1.0 - k) * lower, lower, upper)
    if keep is not None:
        filled = np.zeros(n_all)
        filled[keep] = fill
        fill = filled
    return out_price, volume, fill, surplus


def _starts(key):
    """Indices where a sorted key array starts a new run (0 included)."""
    new = np.empty(len(key), bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    return np.flatnonzero(new)


def _fill_ratio(v, ahead, end):
    """Share filled of a queue segment from ``ahead`` to ``end`` at volume ``v``: exactly 1
    where ``end <= v``, 0 where ``ahead >= v``, pro rata in between (strictly between 0 and 1:
    rounding of the subtraction is monotone)."""
    r = np.less_equal(end, v).astype(np.float64)
    # the segments the volume ends inside: at most one per product and side
    i = np.flatnonzero((ahead < v) & (end > v))
    a = ahead[i]
    r[i] = (v[i] - a) / (end[i] - a)
    return r


WINDOW_MIN_ORDERS = 50_000
WINDOW_MIN_DEPTH = 64
"""Batches of at least ``WINDOW_MIN_ORDERS`` orders, ``WINDOW_MIN_DEPTH`` per product on
average and no priority classes are cleared by :func:`_clear_windowed`; the others by one
sort of the whole batch (``_clear_levels``), which is faster for them."""


def _window_buckets(n: int, n_products: int) -> int:
    """Price buckets per product for :func:`_clear_windowed`: a power of two near a quarter
    of the mean orders per product, within 8..128 (measured best at depths 100 to 10,000)."""
    depth = max(n // max(n_products, 1), 1)
    return 1 << min(max((depth // 4).bit_length(), 3), 7)


def _column_count(mask):
    """Number of true entries in each column of a boolean (buckets x products) grid with at
    most 255 rows (bytes summed as bytes: twice as fast as ``count_nonzero``)."""
    return np.add.reduce(mask.view(np.uint8), axis=0, dtype=np.uint8).astype(np.intp)


_FINE_CELLS = 4096  # resolution of the price grid the buckets are cut from


def _clear_windowed(product, side, price, quantity, P, k, prange):
    """:func:`clear` for a large batch without priority classes, exactly, sorting only a window.

    Prices are cut into buckets holding about equal numbers of the batch's orders, and a
    histogram of buy and sell quantity per (bucket, product) brackets each product's volume:
    with ``D[b]`` the
    buy quantity in buckets ``>= b`` and ``S[b]`` the sell quantity in buckets ``<= b``,
    ``max_b min(D[b+1], S[b-1]) <= V <= max_b min(D[b], S[b])``. The *window* is the range of
    buckets whose buys or sells can hold the queue position ``V`` or the orders next to it;
    only its orders are cleared exactly by :func:`_clear_levels`, with the buys above the
    window folded into one buy at the batch's highest price and the sells below it into one
    sell at the lowest. When the window holds, on both sides, an order that trades and an order
    left (partly) unfilled, the margin and both bounds of the clearing interval lie inside
    it, so the window's result is the product's: buys above the window and sells below it
    are filled in full, sells above and buys below not at all. Products for which that check
    fails (no trade, a side used up) are cleared again from all their orders.
    """
    n = len(price)
    lo, hi = prange
    if not hi > lo:
        return _clear_levels(product, side, price, quantity, P, None, k, prange)
    if side.dtype.kind not in "if":  # bool or unsigned sides: signed integers below
        side = side.astype(np.int8)
    nb = _window_buckets(n, P)
    pn = P * nb
    # buckets of about equal numbers of orders: a fine grid over the price range, merged into
    # nb buckets by the counts of a sample of the batch; the bucket is a monotone image of the
    # price
    fine = _price_grid(price, lo, (_FINE_CELLS - 1) / (hi - lo))
    counts = np.bincount(fine[:: max(n // 8192, 1)], minlength=_FINE_CELLS)
    below = np.cumsum(counts) - counts
    bucket = np.minimum(below * nb // max(int(counts.sum()), 1), nb - 1)
    # cell = is_sell * nb * P + bucket * P + product: the grids below are (bucket, product),
    # so that sums and extremes over buckets run down columns, vectorized across products
    cell = (bucket * P).take(fine)
    off = fine  # the fine grid's memory, reused
    del counts, below, bucket, fine
    cell += product
    np.subtract(1, side, out=off, casting="unsafe")  # 2 for a sell, 0 for a buy
    np.multiply(off, pn // 2, out=off)  # (pn is even: nb >= 8)
    cell += off
    hist = np.bincount(cell, weights=quantity, minlength=2 * pn)
    # prefix sums of buys (real) and sells (imag) over each product's buckets, in one pass
    cum = np.zeros((nb + 1, P), np.complex128)
    cum.real[1:] = hist[:pn].reshape(nb, P)
    cum.imag[1:] = hist[pn:].reshape(nb, P)
    del hist
    np.cumsum(cum, axis=0, out=cum)
    d = cum.real[-1] - cum.real  # d[b] = D[b], buy quantity in buckets >= b
    s = cum.imag  # s[b + 1] = S[b], sell quantity in buckets <= b
    v_lo = np.minimum(d[1:], s[:-1]).max(axis=0)  # max over b of min(D[b+1], S[b-1])
    v_hi = np.minimum(d[:-1], s[1:]).max(axis=0)  # max over b of min(D[b], S[b])
    # buys of bucket b hold queue positions D[b+1]..D[b], sells S[b-1]..S[b]: the window runs
    # from the first bucket whose buys or sells reach past v_lo to the last whose buys or
    # sells start before v_hi (counts of leading entries of monotone columns)
    first = np.minimum(_column_count(d[1:] > v_hi), _column_count(s[1:] < v_lo))
    last = np.maximum(_column_count(d[:-1] >= v_lo), _column_count(s[:-1] <= v_hi)) - 1
    np.clip(last, first, nb - 1, out=last)
    cols = np.arange(P)
    agg_buy = d[last + 1, cols]  # quantity folded into the two extra orders of each product
    agg_sell = s[first, cols]
    del cum, d, s, v_lo, v_hi
    # status of each cell: 2 in the window, 1 filled in full (buys above it, sells below), 0
    # not filled
    b = np.arange(nb)[:, None]
    status = np.empty((2, nb, P), np.int8)
    win = (b >= first) & (b <= last)
    np.add(win, win, out=status[0], dtype=np.int8)
    status[1] = status[0]
    status[0] += b > last
    status[1] += b < first
    del win
    status = status.ravel().take(cell)
    del cell
    inside = np.flatnonzero(status == 2)
    full = status == 1
    del status

    # the window's book: its orders, then the folded buys and sells
    has_b = np.flatnonzero(agg_buy > 0)
    has_s = np.flatnonzero(agg_sell > 0)
    m, mb = len(inside), len(inside) + len(has_b)
    w = mb + len(has_s)
    w_product, w_side = np.empty(w, product.dtype), np.empty(w, side.dtype)
    w_price, w_qty = np.empty(w), np.empty(w)
    for src, dst, folded_b, folded_s in ((product, w_product, has_b, has_s), (side, w_side, 1, -1),
                                         (price, w_price, hi, lo),
                                         (quantity, w_qty, agg_buy[has_b], agg_sell[has_s])):
        np.take(src, inside, out=dst[:m])
        dst[m:mb], dst[mb:] = folded_b, folded_s
    out_price, volume, w_filled, _ = _clear_levels(w_product, w_side, w_price, w_qty, P, None,
                                                   k, prange)
    # the check, per product: a traded and an unfilled order on each side in the window
    wf, wq = w_filled[:m], w_qty[:m]
    key = w_product[:m] * 2
    key += w_side[:m] > 0
    traded = np.bincount(key, weights=wf > 0, minlength=2 * P).reshape(P, 2)
    short = np.bincount(key, weights=wf < wq, minlength=2 * P).reshape(P, 2)
    redo = np.flatnonzero(~((traded > 0).all(axis=1) & (short > 0).all(axis=1)))

    filled = np.multiply(quantity, full)
    filled[inside] = wf
    again = np.flatnonzero(np.isin(product, redo)) if len(redo) else redo
    if len(again):  # (products without orders are settled already: no trade)
        r_price, r_volume, r_filled, _ = _clear_levels(
            product[again], side[again], price[again], quantity[again], P, None, k, prange
        )
        out_price[redo] = r_price[redo]
        volume[redo] = r_volume[redo]
        filled[again] = r_filled
    surplus = float(np.dot(np.multiply(filled, side, out=off.view(np.float64)), price))
    return out_price, volume, filled, surplus


# ---------------------------------------------------------------------------------------
# slow reference


def clear_reference(
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
    """Slow, loop-based reference with the semantics of :func:`clear`, for tests and benchmarks.

    Written independently of the vectorized path: for each product, plain Python lists are
    sorted into queues, the volume is found by walking the two queues while the marginal buy
    limit is >= the marginal sell limit, the volume is handed out group by group, and the price
    bounds are found by scanning the ordinary orders.
    """
    product, is_buy, price, quantity, P, prio, k = _validate(
        product, side, price, quantity, n_products, priority, k, rule
    )
    n = len(price)
    prio_l = [0] * n if prio is None else [int(x) for x in prio]
    prod_l = [int(x) for x in product]
    buy_l = [bool(x) for x in is_buy]
    price_l = [float(x) for x in price]
    qty_l = [float(x) for x in quantity]

    out_price = [float("nan")] * P
    volume = [0.0] * P
    filled = [0.0] * n
    members = [[] for _ in range(P)]
    for i in range(n):
        members[prod_l[i]].append(i)

    inf = float("inf")
    for j in range(P):
        idx = [i for i in members[j] if qty_l[i] > 0]
        if not idx:
            continue
        ordinary = max(prio_l[i] for i in idx)

        def eff(i):
            if prio_l[i] < ordinary:
                return inf if buy_l[i] else -inf
            return price_l[i]

        buys = sorted((i for i in idx if buy_l[i]), key=lambda i: (prio_l[i], -price_l[i]))
        sells = sorted((i for i in idx if not buy_l[i]), key=lambda i: (prio_l[i], price_l[i]))

        # walk the queues
        v = 0.0
        bi = si = 0
        rb = qty_l[buys[0]] if buys else 0.0
        rs = qty_l[sells[0]] if sells else 0.0
        while bi < len(buys) and si < len(sells):
            if eff(buys[bi]) < eff(sells[si]):
                break
            t = min(rb, rs)
            v += t
            rb -= t
            rs -= t
            if rb <= 0:
                bi += 1
                rb = qty_l[buys[bi]] if bi < len(buys) else 0.0
            if rs <= 0:
                si += 1
                rs = qty_l[sells[si]] if si < len(sells) else 0.0
        volume[j] = v
        if v <= 0:
            continue

        # hand out v on each side, group by group, pro rata within a group
        for queue in (buys, sells):
            left = v
            pos = 0
            while pos < len(queue) and left > 0:
                key = (prio_l[queue[pos]], price_l[queue[pos]])
                group = []
                while pos < len(queue) and (prio_l[queue[pos]], price_l[queue[pos]]) == key:
                    group.append(queue[pos])
                    pos += 1
                total = sum(qty_l[i] for i in group)
                if total <= left:
                    for i in group:
                        filled[i] = qty_l[i]
                    left -= total
                else:
                    for i in group:
                        filled[i] = qty_l[i] * left / total
                    left = 0.0

        # price bounds from ordinary orders
        lower, upper = -inf, inf
        for i in idx:
            if prio_l[i] != ordinary:
                continue
            traded = filled[i] > 0
            full = filled[i] >= qty_l[i]
            if buy_l[i]:
                if traded:
                    upper = min(upper, price_l[i])
                if not full:
                    lower = max(lower, price_l[i])
            else:
                if traded:
                    lower = max(lower, price_l[i])
                if not full:
                    upper = min(upper, price_l[i])
        if lower == -inf:
            lower = upper
        if upper == inf:
            upper = lower
        out_price[j] = min(max(k * upper + (1 - k) * lower, lower), upper)

    filled_a = np.array(filled, dtype=np.float64)
    paid = None
    if rule == "pay_as_bid":
        paid = np.where(filled_a > 0, price, np.nan)
    surplus = 0.0
    for i in range(n):
        surplus += filled[i] * price_l[i] if buy_l[i] else -filled[i] * price_l[i]
    return ClearingResult(
        np.array(out_price, dtype=np.float64), np.array(volume, dtype=np.float64), filled_a,
        paid, surplus,
    )
