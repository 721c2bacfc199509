"""Pair buy fills with sell fills of the same product, to turn an auction result into contracts.

A uniform-price auction says how much each order trades, not with whom. Within each product the
buy fills and the sell fills are laid end to end (in order of the order arrays) and each
overlap of a buyer's interval with a seller's interval becomes one pair. Every buyer's fill and
every seller's fill is split exactly, with at most (buyers + sellers - 1) pairs per product, and
without a Python loop over orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pairs:
    """Matched trades: indices into the order arrays and the quantity of each pair."""

    buy: np.ndarray
    sell: np.ndarray
    quantity: np.ndarray


def match(product: np.ndarray, side: np.ndarray, filled: np.ndarray) -> Pairs:
    """Pair buy and sell fills per product (the same total per product on both sides)."""
    product = np.asarray(product, dtype=np.int64)
    filled = np.asarray(filled, dtype=float)
    traded = filled > 0
    buys = np.flatnonzero(traded & (side > 0))
    sells = np.flatnonzero(traded & (side < 0))
    buys = buys[np.argsort(product[buys], kind="stable")]
    sells = sells[np.argsort(product[sells], kind="stable")]
    if buys.size == 0 or sells.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, np.zeros(0))
    # cumulative positions within each product: global cumsum plus product offset
    b_end = np.cumsum(filled[buys])
    s_end = np.cumsum(filled[sells])
    b_start = b_end - filled[buys]
    s_start = s_end - filled[sells]
    # both sides carry the same volume per product, so one global line serves all products;
    # cut points are the union of both sides' interval ends
    cuts = np.unique(np.concatenate([b_end, s_end]))
    lo = np.concatenate([[0.0], cuts[:-1]])
    qty = cuts - lo
    mid = lo + 0.5 * qty
    bi = np.searchsorted(b_end, mid, side="right")
    si = np.searchsorted(s_end, mid, side="right")
    ok = (qty > 1e-9 * max(1.0, cuts[-1])) & (bi < buys.size) & (si < sells.size)
    bi, si, qty = bi[ok], si[ok], qty[ok]
    # guard: a pair must be inside both intervals (true when per-product volumes balance)
    inside = (b_start[bi] <= lo[ok] + 1e-6) & (s_start[si] <= lo[ok] + 1e-6)
    same = product[buys[bi]] == product[sells[si]]
    if not (inside.all() and same.all()):
        raise ValueError("match: buy and sell volumes differ within a product")
    return Pairs(buys[bi], sells[si], qty)
