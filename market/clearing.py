"""Uniform-price call auctions for many products at once (pure numpy).

``clear`` clears a batch of divisible limit orders, each for one of ``P`` products, in a
single vectorized pass: one sort of the orders by ``(product, priority class, price)`` (a
quicksort of the prices refined by stable radix sorts of the small integer keys, i.e. the
order ``np.lexsort((price, priority, product))`` gives) followed by O(N) numpy passes
(segment-wise cumulative sums, ``reduceat``). There is no Python loop over orders or over
products. ``clear_reference`` is a slow, loop-based
reference with the same semantics, written independently for tests and benchmarks.

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
    bad = ~np.isfinite(price)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"price[{i}] is {price[i].item()!r}: prices must be finite")

    quantity = _as_float("quantity", arrays["quantity"])
    bad = ~(np.isfinite(quantity) & (quantity >= 0))
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(
            f"quantity[{i}] is {quantity[i].item()!r}: quantities must be finite and >= 0"
        )

    side = _as_1d("side", arrays["side"])
    if side.size and not np.issubdtype(side.dtype, np.number):
        raise ValueError(f"side must be a numeric array, got dtype {side.dtype}")
    bad = (side != 1) & (side != -1)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"side[{i}] is {side[i].item()!r}: side must be +1 (buy) or -1 (sell)")
    is_buy = side == 1

    product = _as_int("product", arrays["product"], "products")
    if n_products is None:
        n_products = int(product.max()) + 1 if n > 0 else 0
        n_products = max(n_products, 0)
    else:
        if int(n_products) != n_products or n_products < 0:
            raise ValueError(f"n_products={n_products!r} must be an integer >= 0")
        n_products = int(n_products)
    if n:
        bad = (product < 0) | (product >= n_products)
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(
                f"product[{i}] is {product[i].item()!r}: products must be integers in "
                f"0..{n_products - 1} (n_products={n_products})"
            )
    product = product.astype(np.intp, copy=False)

    if priority is not None:
        prio = _as_int("priority", arrays["priority"], "priority classes")
        bad = prio < 0
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(f"priority[{i}] is {prio[i].item()!r}: priority classes must be >= 0")
        if n == 0 or not prio.any():
            prio = None
    else:
        prio = None
    return product, is_buy, price, quantity, n_products, prio, k


# ---------------------------------------------------------------------------------------
# vectorized clearing


def _stable_key_sort(order: np.ndarray, key: np.ndarray, kmax: int) -> np.ndarray:
    """Refine ``order`` by a stable sort on integer ``key[order]`` (radix sort when small)."""
    kk = key[order]
    if kmax < 2**16:
        kk = kk.astype(np.uint16)
    return order[np.argsort(kk, kind="stable")]


def _sort_orders(product, price, prio, n_products):
    """Order of the batch by (product, class, price); deterministic."""
    order = np.argsort(price)
    if prio is not None:
        order = _stable_key_sort(order, prio, int(prio.max()))
    return _stable_key_sort(order, product, n_products - 1)


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
    product, is_buy, price, quantity, P, prio, k = _validate(
        product, side, price, quantity, n_products, priority, k, rule
    )
    n = len(price)
    out_price = np.full(P, np.nan)
    volume = np.zeros(P)
    filled = np.zeros(n)
    if n == 0 or P == 0:
        paid = np.full(n, np.nan) if rule == "pay_as_bid" else None
        return ClearingResult(out_price, volume, filled, paid, 0.0)

    order = _sort_orders(product, price, prio, P)
    counts = np.bincount(product, minlength=P)
    ps = np.zeros(P + 1, np.intp)  # product j occupies sorted positions ps[j]:ps[j+1]
    np.cumsum(counts, out=ps[1:])
    g = np.repeat(np.arange(P), counts)  # == product[order]
    del counts
    p = price[order]
    q = quantity[order]
    b = is_buy[order]

    # segment-wise cumulative quantities: cb[i] (cs[i]) = buy (sell) quantity at sorted
    # positions < i; a segment's sums are differences, so no per-product offsets are stored.
    qb = np.where(b, q, 0.0)
    cb = np.empty(n + 1)
    cb[0] = 0.0
    np.cumsum(qb, out=cb[1:])
    np.subtract(q, qb, out=qb)  # qb now holds the sell quantities
    cs = np.empty(n + 1)
    cs[0] = 0.0
    np.cumsum(qb, out=cs[1:])
    del qb

    # class blocks and levels (tie groups of both sides at one product, class and price)
    new_level = np.empty(n, bool)
    new_level[0] = True
    np.not_equal(g[1:], g[:-1], out=new_level[1:])
    if prio is not None:
        c = prio[order]
        new_level[1:] |= c[1:] != c[:-1]
        new_block = new_level.copy()
    new_level[1:] |= p[1:] != p[:-1]
    del g

    s = np.flatnonzero(new_level)  # level starts
    del new_level
    nl = len(s)
    e = np.empty(nl, np.intp)  # level ends (exclusive)
    e[:-1] = s[1:]
    e[-1] = n
    pos = q > 0
    has_b = np.logical_or.reduceat(pos & b, s)  # level holds a buy with positive quantity
    np.logical_and(pos, ~b, out=pos)
    has_s = np.logical_or.reduceat(pos, s)
    del pos
    gl = np.repeat(np.arange(P), np.diff(np.searchsorted(s, ps)))  # product of each level
    first_level = np.searchsorted(s, ps[:-1])  # first level of each product
    lev_prods = np.flatnonzero(ps[:-1] < ps[1:])  # products with orders
    first_level = first_level[lev_prods]
    pl = p[s]  # price of each level
    del p
    psl = ps[gl]  # product start of each level

    if prio is not None:
        bstart = np.flatnonzero(new_block)
        del new_block
        bend = np.empty_like(bstart)
        bend[:-1] = bstart[1:]
        bend[-1] = n
        bid = np.searchsorted(bstart, s, side="right") - 1  # class block of each level
        csl, cel = bstart[bid], bend[bid]
        del bid, bstart, bend
        # ordinary class per product: highest class among positive-quantity orders
        cmax = np.zeros(P, c.dtype)
        cmax[lev_prods] = np.maximum.reduceat(np.where(q > 0, c, 0), ps[lev_prods])
        ordinary = c[s] == cmax[gl]
        del c, cmax
    else:
        csl, cel = psl, ps[gl + 1]
        ordinary = None

    # queue positions of each level's buy and sell groups: buys are queued by
    # (class asc, price desc), sells by (class asc, price asc)
    x = cb[csl] - cb[psl]  # buys of lower classes
    ahead_b = x + (cb[cel] - cb[e])
    end_b = np.add(x, cb[cel] - cb[s], out=x)
    del csl, cel, cb
    ahead_s = cs[s] - cs[psl]
    end_s = cs[e] - cs[psl]
    del psl, cs, e

    # volume: max over ordinary levels of min(D(p), S(p))
    f = np.minimum(end_b, end_s)
    if ordinary is not None:
        f[~ordinary] = 0.0
    volume[lev_prods] = np.maximum.reduceat(f, first_level)
    del f
    vl = volume[gl]
    frac_b = _fraction(vl, ahead_b, end_b)
    del ahead_b, end_b
    frac_s = _fraction(vl, ahead_s, end_s)
    del ahead_s, end_s, vl, gl

    size = np.diff(np.append(s, n))
    del s
    fill_sorted = np.repeat(frac_b, size)
    np.copyto(fill_sorted, np.repeat(frac_s, size), where=~b)
    np.multiply(fill_sorted, q, out=fill_sorted)
    del size, b, q
    filled[order] = fill_sorted
    del fill_sorted, order

    # price: bounds of the clearing interval from the ordinary levels
    lo_c = (has_s & (frac_s > 0)) | (has_b & (frac_b < 1))
    hi_c = (has_b & (frac_b > 0)) | (has_s & (frac_s < 1))
    if ordinary is not None:
        lo_c &= ordinary
        hi_c &= ordinary
    lo = np.maximum.reduceat(np.where(lo_c, pl, -np.inf), first_level)
    hi = np.minimum.reduceat(np.where(hi_c, pl, np.inf), first_level)
    lo_f = np.isfinite(lo)
    hi_f = np.isfinite(hi)
    hi = np.where(hi_f, hi, lo)
    lo = np.where(lo_f, lo, hi)
    with np.errstate(invalid="ignore"):  # both bounds infinite only where nothing trades
        mid = np.clip(k * hi + (1.0 - k) * lo, lo, hi)
    trades = volume[lev_prods] > 0
    out_price[lev_prods[trades]] = mid[trades]

    paid = None
    if rule == "pay_as_bid":
        paid = np.where(filled > 0, price, np.nan)
    surplus = float(np.dot(filled, np.where(is_buy, price, -price)))
    return ClearingResult(out_price, volume, filled, paid, surplus)


def _fraction(v, ahead, end):
    """Filled fraction of each tie group: 1 if the group ends by ``v``, 0 if it starts at or
    after ``v``, else pro rata ``(v - ahead) / (end - ahead)``."""
    full = end <= v
    marginal = ~full & (ahead < v)  # implies end > ahead
    frac = full.astype(np.float64)
    np.divide(v - ahead, end - ahead, out=frac, where=marginal)
    np.clip(frac, 0.0, 1.0, out=frac)
    return frac


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
