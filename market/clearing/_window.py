"""The windowed path of :func:`market.clearing.clear`: for large batches, sort and clear only
the orders near each product's margin (exact: the same result as the core)."""

from __future__ import annotations

import numpy as np

from market.clearing._core import REL_TOL, _price_grid, clear_levels

WINDOW_MIN_ORDERS = 50_000
WINDOW_MIN_DEPTH = 64
"""Batches of at least ``WINDOW_MIN_ORDERS`` orders, ``WINDOW_MIN_DEPTH`` per product on
average and no priority classes are cleared by :func:`_clear_windowed`; the others by one
sort of the whole batch (``clear_levels``), which is faster for them."""


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


def clear_windowed(product, side, price, lots, P, k, prange, counts):
    """:func:`clear` for a large batch without priority classes, exactly, sorting only a window.

    Prices are cut into buckets holding about equal numbers of the batch's orders, and a
    histogram of buy and sell quantity per (bucket, product) brackets each product's volume:
    with ``D[b]`` the
    buy quantity in buckets ``>= b`` and ``S[b]`` the sell quantity in buckets ``<= b``,
    ``max_b min(D[b+1], S[b-1]) <= V <= max_b min(D[b], S[b])``. The *window* is the range of
    buckets whose buys or sells can hold the queue position ``V`` or the orders next to it;
    only its orders are cleared exactly by :func:`clear_levels`, with the buys above the
    window folded into one buy at the batch's highest price and the sells below it into one
    sell at the lowest. When the window holds, on both sides, an order that trades and an order
    left (partly) unfilled, the margin and both bounds of the clearing interval lie inside
    it, so the window's result is the product's: buys above the window and sells below it
    are filled in full, sells above and buys below not at all. Products for which that check
    fails (no trade, a side used up) are cleared again from all their orders. ``counts``
    (P,): the number of orders of each product.
    """
    n = len(price)
    lo, hi = prange
    if not hi > lo:
        return clear_levels(product, side, price, lots, P, None, k, prange)
    if side.dtype.kind not in "if":  # bool or unsigned sides: signed integers below
        side = side.astype(np.int8)
    nb = _window_buckets(n, P)
    pn = P * nb
    # buckets of about equal numbers of orders: a fine grid over the price range, merged into
    # nb buckets by the counts of a sample of the batch; the bucket is a monotone image of the
    # price
    fine = _price_grid(price, lo, (_FINE_CELLS - 1) / (hi - lo))
    sample = np.bincount(fine[:: max(n // 8192, 1)], minlength=_FINE_CELLS)
    below = np.cumsum(sample) - sample
    bucket = np.minimum(below * nb // max(int(sample.sum()), 1), nb - 1)
    # cell = is_sell * nb * P + bucket * P + product: the grids below are (bucket, product),
    # so that sums and extremes over buckets run down columns, vectorized across products
    cell = (bucket * P).take(fine)
    off = fine  # the fine grid's memory, reused
    del sample, below, bucket, fine
    cell += product
    np.subtract(1, side, out=off, casting="unsafe")  # 2 for a sell, 0 for a buy
    np.multiply(off, pn // 2, out=off)  # (pn is even: nb >= 8)
    cell += off
    hist = np.bincount(cell, weights=lots, minlength=2 * pn)  # whole lots: exact
    # prefix sums of buys (real) and sells (imag) over each product's buckets, in one pass
    cum = np.zeros((nb + 1, P), np.complex128)
    cum.real[1:] = hist[:pn].reshape(nb, P)
    cum.imag[1:] = hist[pn:].reshape(nb, P)
    del hist
    np.cumsum(cum, axis=0, out=cum)
    d = cum.real[-1] - cum.real  # d[b] = D[b], buy quantity in buckets >= b
    s = cum.imag  # s[b + 1] = S[b], sell quantity in buckets <= b
    # the tolerance of the whole book (the window's book has other totals)
    tol = np.minimum(d[0], s[-1]) * REL_TOL
    np.floor(tol, out=tol)
    np.maximum(tol, counts, out=tol)
    # max over b of min(D[b+1], S[b-1]), less the tolerance (the volume may stop short of the
    # largest crossing by up to it)
    v_lo = np.minimum(d[1:], s[:-1]).max(axis=0) - tol
    v_hi = np.minimum(d[:-1], s[1:]).max(axis=0)  # max over b of min(D[b], S[b])
    # buys of bucket b hold queue positions D[b+1]..D[b], sells S[b-1]..S[b]: the window runs
    # from the first bucket whose buys or sells reach past v_lo to the last whose buys or
    # sells start before v_hi (counts of leading entries of monotone columns)
    first = np.minimum(_column_count(d[1:] > v_hi), _column_count(s[1:] < v_lo))
    last = np.maximum(_column_count(d[:-1] >= v_lo), _column_count(s[:-1] <= v_hi)) - 1
    np.minimum(np.maximum(last, first, out=last), nb - 1, out=last)  # clip
    cols = np.arange(P)
    agg_buy = d[last + 1, cols]  # quantity folded into the two extra orders of each product
    agg_sell = s[first, cols]
    # per product: no sell above the window, no buy below it (the window then holds all of
    # that side but the folded orders)
    none_above = s[-1] == s[last + 1, cols]
    none_below = d[0] == d[first, cols]
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
    inside = (status == 2).nonzero()[0]
    full = status == 1
    del status

    # the window's book: its orders, then the folded buys and sells
    has_b = (agg_buy > 0).nonzero()[0]
    has_s = (agg_sell > 0).nonzero()[0]
    m, mb = len(inside), len(inside) + len(has_b)
    w = mb + len(has_s)
    w_product, w_side = np.empty(w, product.dtype), np.empty(w, side.dtype)
    w_price, w_qty = np.empty(w), np.empty(w)
    for src, dst, folded_b, folded_s in ((product, w_product, has_b, has_s), (side, w_side, 1, -1),
                                         (price, w_price, hi, lo),
                                         (lots, w_qty, agg_buy[has_b], agg_sell[has_s])):
        np.take(src, inside, out=dst[:m])
        dst[m:mb], dst[mb:] = folded_b, folded_s
    out_price, volume, w_filled, _ = clear_levels(w_product, w_side, w_price, w_qty, P, None,
                                                  k, prange, tol)
    # the check, per product: on each side, an order in the window that trades and one left
    # short, each by more than the tolerance (so the levels that price are inside), and the
    # folded orders filled in full (so no rationed level mixes them with the window's orders).
    # A side with no order outside the window but the folded ones (a side used up: no sell
    # above it, or no buy below it) needs no short order: the window holds that whole side,
    # the folded orders at the far end, filled in full, their limits beyond the traded
    # window order's, so they set no bound
    wf, wq = w_filled[:m], w_qty[:m]
    wtol = tol[w_product[:m]]
    key = w_product[:m] * 2
    key += w_side[:m] > 0
    traded = np.bincount(key, weights=wf > wtol, minlength=2 * P).reshape(P, 2)
    short = np.bincount(key, weights=wq - wf > wtol, minlength=2 * P).reshape(P, 2)
    ok = ((traded > 0).all(axis=1) & ((short[:, 0] > 0) | none_above)
          & ((short[:, 1] > 0) | none_below))
    ok[w_product[m:][w_filled[m:] < w_qty[m:]]] = False
    redo = (~ok).nonzero()[0]

    filled = np.multiply(lots, full)
    filled[inside] = wf
    again = np.flatnonzero(np.isin(product, redo)) if len(redo) else redo
    if len(again):  # (products without orders are settled already: no trade)
        r_price, r_volume, r_filled, _ = clear_levels(
            product[again], side[again], price[again], lots[again], P, None, k, prange, tol
        )
        out_price[redo] = r_price[redo]
        volume[redo] = r_volume[redo]
        filled[again] = r_filled
    return out_price, volume, filled, (filled, side, price)
