"""The exact core of :func:`market.clearing.clear`: quantities in whole lots, one sort, then
arithmetic over price levels (see the package docstring for the rules it implements)."""

from __future__ import annotations

import math

import numpy as np

LOT_BITS = 52
"""A batch's quantities are counted in lots of a power of two chosen so that the whole batch
holds fewer than ``2**LOT_BITS`` lots: every sum of lots is then a whole number below
``2**53``, exact in float64 whatever the order of the additions."""

REL_TOL = 1e-12
"""Two cumulative quantities of one product count as equal when they differ by at most
``max(REL_TOL * min(buy total, sell total), number of the product's orders)`` lots: the first
term absorbs float-sum residuals (0.1 + 0.2 against 0.3), the second the rounding of each
order down to whole lots. A difference that small never trades on its own and never prices."""


def lot_size(qmax: float, n: int) -> float:
    """The lot (a power of two) for a batch of ``n`` orders of at most ``qmax`` each."""
    if not qmax > 0:
        return 1.0
    e = math.frexp(qmax)[1] + int(n).bit_length()  # qmax * n < 2**e, without overflow
    return math.ldexp(1.0, max(e - LOT_BITS, -1022))


def to_lots(quantity: np.ndarray, lot: float) -> np.ndarray:
    """Whole lots in each quantity, rounded down (float64 holding whole numbers; the scaling by
    a power of two is exact)."""
    lots = np.multiply(quantity, 1.0 / lot)
    return np.floor(lots, out=lots)


def prorata_floor(c: np.ndarray, t: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``floor(c * t / q)`` exactly, for whole numbers ``0 <= c <= q``, ``0 <= t <= q`` and
    ``q > 0`` below ``2**53`` (float64 in and out).

    The float quotient is within 3 of the answer, so the remainder ``r = c*t - e*q`` of its
    floor ``e`` is below ``2**62`` in size: computed with int64 products that wrap modulo
    ``2**64`` it comes out exact, and ``e + r // q`` is the answer."""
    e = np.floor(np.multiply(c, t) / q).astype(np.int64)
    qi = q.astype(np.int64)
    r = np.multiply(c, t, dtype=np.int64, casting="unsafe")  # c * t modulo 2**64
    r -= np.multiply(e, qi)
    e += np.floor_divide(r, qi, out=r)
    return e.astype(np.float64)


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


LEXSORT_MAX = 2048
"""Batches of fewer orders are sorted by one stable ``np.lexsort`` of (group key, price), which
costs less than the packed-key sort's dozen calls there; both give the same permutation (by
product, class and price, ties in index order)."""


def sort_orders(product, price, prio, n_products, prange):
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
    if n < LEXSORT_MAX and bg <= 62:  # small batch: one stable lexsort, same permutation
        gkey = product.astype(np.int64)
        if bc:
            np.left_shift(gkey, bc, out=gkey)
            np.bitwise_or(gkey, prio, out=gkey)
        order = np.lexsort((price, gkey))
        gkey = gkey.take(order)
        return order, gkey, price.take(order), gkey[1:] != gkey[:-1]
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

    order = np.argsort(price, kind="stable")  # ties in index order, as the fast path
    if prio is not None:
        order = _stable_key_sort(order, prio, int(prio.max()))
    order = _stable_key_sort(order, product, n_products - 1)
    gkey = product[order].astype(np.int64)
    if bc:
        np.left_shift(gkey, bc, out=gkey)
        np.bitwise_or(gkey, prio[order], out=gkey)
    return order, gkey, price[order], gkey[1:] != gkey[:-1]


def clear_levels(product, side, price, lots, P, prio, k, prange, tol=None):
    """Clear validated orders (``n >= 1``, ``P >= 1``) whose quantities are whole ``lots``;
    returns ``(price, volume, filled, gains)`` with volume and fills in lots and
    ``gains`` what the surplus is computed from (signed lots and prices, in sorted order).

    One sort by (product, class, price) cuts the batch into *levels*: the orders of one
    product, class and price. Everything else is arithmetic on arrays over levels, from prefix
    sums of buy and sell lots taken at level boundaries (exact: whole numbers below 2**53):
    each level's place in its side's queue (``ahead`` and ``end``), each product's crossing
    (the first ordinary level where the sells at or below it reach the buys at or above it,
    within the tolerance, counted per product with one ``reduceat``), the volume, the lots
    each level trades, and the bounds of the clearing interval (a ``reduceat`` over the
    ordinary levels). Inside the one rationed level of each side, the traded lots are shared
    pro rata by a cumulative floor, so fills are whole lots that add up to the volume exactly.
    ``tol`` (P,) is the tolerance in lots per product; None computes it from this book.
    """
    n_all = len(price)
    keep = n_orders = None
    if prio is not None:
        # the ordinary class is the highest class with positive quantity: orders with none
        # never trade nor constrain anything, so they are set aside (filled 0)
        if int(prio.max()).bit_length() + (P - 1).bit_length() > 40:
            prio = np.unique(prio, return_inverse=True)[1]  # only the order of classes matters
        prio = prio.astype(np.int64, copy=False)
        if lots.min() <= 0:
            n_orders = np.bincount(product, minlength=P)  # the tolerance counts every order
            keep = (lots > 0).nonzero()[0]
            product, side, price, lots, prio = (
                product[keep], side[keep], price[keep], lots[keep], prio[keep])
            if len(keep) == 0:
                return np.full(P, np.nan), np.zeros(P), np.zeros(n_all), None
            prange = (float(price.min()), float(price.max()))
        if not prio.any():
            prio = None
    n = len(price)
    order, g, p, gchg = sort_orders(product, price, prio, P, prange)
    bc = int(prio.max()).bit_length() if prio is not None else 0
    # lots in queue order: + buys, - sells
    if side.dtype.kind in "iuf":
        sq = np.multiply(lots, side, dtype=np.float64).take(order)
    else:
        sq = np.where(side == 1, lots, -lots).take(order)
    qb = np.maximum(sq, 0.0)
    qs = np.subtract(qb, sq)

    # levels: positions ls[j]:ls[j+1]; blocks (one product and class): levels bf:bl;
    # products: levels pf:pl
    new = np.empty(n, bool)
    new[0] = True
    np.not_equal(p[1:], p[:-1], out=new[1:])
    new[1:] |= gchg
    ls = new.nonzero()[0]
    lg = g[ls]  # group key (product << bc | class) of each level
    bf = _starts(lg)
    bl = np.concatenate((bf[1:], [len(ls)]))
    bprod = lg[bf] >> bc
    if prio is None:  # one block per product, all of it ordinary
        pf, pl, prods, o_first, ordinary = bf, bl, bprod, bf, None
    else:
        last_block = np.concatenate((bprod[1:] != bprod[:-1], [True]))
        pf = bf[np.concatenate(([True], last_block[:-1]))]  # first level of each product
        pl = bl[last_block]
        prods = bprod[last_block]
        o_first = bf[last_block]  # the ordinary block is the product's last
        ordinary = np.repeat(last_block, bl - bf)
    pcnt = pl - pf

    # buy (real) and sell (imag) lots before each position: whole numbers, so exact
    cum = np.empty(n + 1, np.complex128)
    cum[0] = 0.0
    cum[1:].real = qb
    cum[1:].imag = qs
    np.cumsum(cum[1:], out=cum[1:])
    level_end = np.concatenate((ls, [n]))
    at = cum[level_end]
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

    # tolerance (lots) per product: residuals of float sums and of rounding to lots
    if tol is None:
        tol_p = np.minimum(cb[pl] - cb[pf], cs[pl] - cs[pf])
        tol_p *= REL_TOL
        np.floor(tol_p, out=tol_p)
        np.maximum(tol_p, level_end[pl] - level_end[pf] if n_orders is None
                   else n_orders[prods], out=tol_p)
    else:
        tol_p = tol[prods]
    tol_l = np.repeat(tol_p, pcnt)

    # volume: over the ordinary levels (priority orders count at every price), with m the
    # first level where S >= D - tol: the larger of min(D[m], S[m]) and S[m - 1], or the
    # smaller where the two are within the tolerance (a residual must not trade)
    below = end_s < end_b - tol_l
    if ordinary is not None:
        below &= ordinary
    m = o_first + np.add.reduceat(below, pf, dtype=np.intp)
    at_m = np.minimum(m, pl - 1)
    cand_a = np.where(m < pl, np.minimum(end_b[at_m], end_s[at_m]), 0.0)
    cand_b = np.where(m > o_first, end_s[np.maximum(m - 1, 0)], 0.0)
    big, vol = np.maximum(cand_a, cand_b), np.minimum(cand_a, cand_b)
    vol = np.where(big - vol > tol_p, big, vol)  # (an absent candidate is 0: never close)
    vol = np.where(vol > tol_p, vol, 0.0)

    # lots filled by each order: all of a level the volume passes, none of one it does not
    # reach, and the one level per product and side it ends inside rationed
    v = np.repeat(vol, pcnt)
    lengths = level_end[1:] - level_end[:-1]
    fill = _level_fills(sq, v, ahead_b, end_b, ahead_s, end_s, cum, at, level_end, lengths)
    del cum
    gains = (fill, p)  # the surplus, when read: signed lots x price in sorted order
    filled = np.empty(n)
    filled[order] = fill
    np.abs(filled, out=filled)

    # clearing interval from the ordinary levels, counting a level as traded (lots traded
    # min(v, end) - ahead), or as short (lots left end - max(v, ahead)), only by more than the
    # tolerance: lower = max(limit of traded sells, of short buys), upper = min(limit of traded
    # buys, of short sells)
    lv_price = p[ls]
    bounds_lower = np.less(ahead_s + tol_l, np.minimum(v, end_s))
    bounds_lower |= np.less(np.maximum(v, ahead_b, out=v) + tol_l, end_b)
    v = np.repeat(vol, pcnt)
    bounds_upper = np.less(ahead_b + tol_l, np.minimum(v, end_b))
    bounds_upper |= np.less(np.maximum(v, ahead_s, out=v) + tol_l, end_s)
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
    t = (vol > 0).nonzero()[0]
    lower, upper = lower[t], upper[t]
    upper = np.where(np.isfinite(upper), upper, lower)
    lower = np.where(np.isfinite(lower), lower, upper)
    out_price[prods[t]] = np.minimum(np.maximum(k * upper + (1.0 - k) * lower, lower), upper)
    if keep is not None:
        full = np.zeros(n_all)
        full[keep] = filled
        filled = full
    return out_price, volume, filled, gains


def _level_fills(sq, v, ahead_b, end_b, ahead_s, end_s, cum, at, level_end, lengths):
    """Signed lots filled at each sorted position (``sq``: + buy lots, - sell lots) at volume
    ``v`` (per level): all of an order whose level's queue segment ``ahead..end`` on its side
    ends by ``v``, none where it starts at or after ``v``, and in the (at most one per product)
    level of each side that ``v`` ends inside, the traded lots ``t = v - ahead`` shared by the
    cumulative floor ``floor(c * t / q_level)`` differenced along the level, so the level's
    fills are whole lots, pro rata within one lot, and add up to ``t`` exactly. ``cum`` and
    ``at``: buy (real) and sell (imag) lots before each position and each level boundary."""
    full_b, full_s = np.less_equal(end_b, v), np.less_equal(end_s, v)
    # bit 0: the level's buys are filled in full, bit 1: its sells; each order reads its side's
    code = np.repeat(np.add(full_b, full_s, dtype=np.uint8) + full_s, lengths)
    np.right_shift(code, np.less(sq, 0.0).view(np.uint8), out=code)
    np.bitwise_and(code, 1, out=code)
    fill = np.where(code.view(bool), sq, 0.0)
    part_b = (np.less(ahead_b, v) > full_b).nonzero()[0]
    part_s = (np.less(ahead_s, v) > full_s).nonzero()[0]
    if not (len(part_b) or len(part_s)):
        return fill
    # the rationed levels, buys' then sells', and the lots they trade
    part = np.concatenate((part_b, part_s))
    ahead = np.concatenate((ahead_b[part_b], ahead_s[part_s]))
    traded = v[part] - ahead
    size = lengths[part]
    start = level_end[part]
    if (size == 1).all():  # one order per rationed level (the usual case): it takes the lot
        traded[len(part_b):] *= -1.0
        fill[start] = traded
        return fill
    q_level = np.concatenate((end_b[part_b], end_s[part_s])) - ahead
    first = np.cumsum(size) - size  # where each level's orders start among those below
    lvl = np.repeat(np.arange(len(part)), size)
    pos = np.arange(len(lvl)) + (start - first)[lvl]
    # the level's lots on its side through each of its orders
    through = cum[pos + 1] - at[part][lvl]
    n_b = first[len(part_b)] if len(part_b) < len(part) else len(pos)
    c = np.concatenate((through.real[:n_b], through.imag[n_b:]))
    share = prorata_floor(c, traded[lvl], q_level[lvl])
    head = share[first]  # each level starts from nothing: its first order keeps its share
    share[1:] = share[1:] - share[:-1]
    share[first] = head
    # (a level rationed on both sides appears twice: add each side's fills separately)
    fill[pos[:n_b]] += share[:n_b]
    fill[pos[n_b:]] -= share[n_b:]
    return fill


def _starts(key):
    """Indices where a sorted key array starts a new run (0 included)."""
    new = np.empty(len(key), bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    return new.nonzero()[0]
