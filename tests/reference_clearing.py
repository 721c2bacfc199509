"""A slow, loop-based reference with the semantics of :func:`market.clearing.clear`.

Written independently of the vectorized core, for tests and benchmarks: for each product,
plain Python lists of exact numbers (whole lots as ints, or Fractions) are walked price level
by price level. ``exact_clear`` works on any exact number type and any tolerance, so a test can
clear the book a user *meant* (decimal quantities as Fractions, no tolerance) and compare.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from market.clearing import ClearingResult
from market.clearing._core import REL_TOL, lot_size, to_lots
from market.clearing._validate import check

INF = float("inf")


def clear_reference(product, side, price, quantity, *, n_products=None, priority=None,
                    k: float = 0.5, rule: str = "uniform") -> ClearingResult:
    """:func:`market.clearing.clear` by loops over Python ints (whole lots)."""
    product, side, price, quantity, P, prio, k, _, qmax, _ = check(
        product, side, price, quantity, n_products, priority, k, rule)
    n = len(price)
    lot = lot_size(qmax, n)
    lots = [int(x) for x in to_lots(quantity, lot)] if n else []
    out_price, volume, filled = exact_clear(
        [int(x) for x in product], [int(x) == 1 for x in side], [float(x) for x in price],
        lots, P, None if prio is None else [int(x) for x in prio], k)
    filled_a = np.array([float(f) * lot for f in filled], dtype=np.float64)
    surplus = math.fsum(f * p if int(s) == 1 else -f * p
                        for f, p, s in zip(filled_a.tolist(), price.tolist(), side.tolist()))
    paid = np.where(filled_a > 0, price, np.nan) if rule == "pay_as_bid" else None
    return ClearingResult(np.array(out_price, dtype=np.float64),
                          np.array([float(v) * lot for v in volume], dtype=np.float64),
                          filled_a, paid, surplus)


def default_tol(buy_total, sell_total, n_orders):
    """The core's tolerance: ``max(floor(REL_TOL * min(totals)), number of orders)``."""
    return max(math.floor(REL_TOL * float(min(buy_total, sell_total))), n_orders)


def exact_clear(product, is_buy, price, qty, P, prio=None, k=0.5, tol=None):
    """Clear exact quantities (ints or Fractions). ``tol`` None: the core's tolerance rule;
    a number: that tolerance for every product. Returns (price, volume, filled) lists."""
    n = len(price)
    prio = [0] * n if prio is None else prio
    out_price, volume, filled = [math.nan] * P, [0] * P, [0] * n
    for j in range(P):
        mine = [i for i in range(n) if product[i] == j]
        idx = [i for i in mine if qty[i] > 0]
        if not idx:
            continue
        top = max(prio[i] for i in idx)
        buys = [i for i in idx if is_buy[i]]
        sells = [i for i in idx if not is_buy[i]]
        t = tol if tol is not None else default_tol(
            sum(qty[i] for i in buys), sum(qty[i] for i in sells), len(mine))

        # demand and supply at each ordinary price level, ascending: priority orders count
        # at every price, ordinary buys at and below their limit, sells at and above
        levels = sorted({price[i] for i in idx if prio[i] == top})
        at = {p: x for x, p in enumerate(levels)}
        buy_at, sell_at = [0] * len(levels), [0] * len(levels)
        base_d = base_s = 0
        for i in buys:
            if prio[i] < top:
                base_d += qty[i]
            else:
                buy_at[at[price[i]]] += qty[i]
        for i in sells:
            if prio[i] < top:
                base_s += qty[i]
            else:
                sell_at[at[price[i]]] += qty[i]
        d_at, s_at = [0] * len(levels), [0] * len(levels)
        run = base_d
        for x in range(len(levels) - 1, -1, -1):
            run += buy_at[x]
            d_at[x] = run
        run = base_s
        for x in range(len(levels)):
            run += sell_at[x]
            s_at[x] = run

        def demand(p):
            return d_at[at[p]]

        def supply(p):
            return s_at[at[p]]

        m = next((x for x, p in enumerate(levels) if supply(p) >= demand(p) - t), len(levels))
        cands = []
        if m < len(levels):
            cands.append(min(demand(levels[m]), supply(levels[m])))
        if m > 0:
            cands.append(supply(levels[m - 1]))
        v = max(cands) if cands else 0
        if len(cands) == 2 and abs(cands[0] - cands[1]) <= t:
            v = min(cands)
        if v <= t:
            v = 0
        volume[j] = v
        if v == 0:
            continue

        # hand out v on each side in queue order, group by group
        traded_groups = []
        for queue, sign in ((buys, 1), (sells, -1)):
            queue = sorted(queue, key=lambda i: (prio[i], -sign * price[i], i))
            left = v
            pos = 0
            while pos < len(queue):
                key = (prio[queue[pos]], price[queue[pos]])
                group = []
                while pos < len(queue) and (prio[queue[pos]], price[queue[pos]]) == key:
                    group.append(queue[pos])
                    pos += 1
                total = sum(qty[i] for i in group)
                take = min(total, left)
                _share(group, qty, take, total, filled)
                left -= take
                traded_groups.append((sign, key, take, total))

        lower, upper = -INF, INF
        for sign, (cls, lim), take, total in traded_groups:
            if cls != top:
                continue
            traded, short = take > t, total - take > t
            if (sign == -1 and traded) or (sign == 1 and short):
                lower = max(lower, lim)
            if (sign == 1 and traded) or (sign == -1 and short):
                upper = min(upper, lim)
        if lower == -INF:
            lower = upper
        if upper == INF:
            upper = lower
        out_price[j] = min(max(k * upper + (1 - k) * lower, lower), upper)
    return out_price, volume, filled


def _share(group, qty, take, total, filled):
    """Split ``take`` over a tie group: pro rata, by a cumulative floor for whole lots."""
    if take >= total:
        for i in group:
            filled[i] = qty[i]
        return
    c = 0
    for i in group:
        before, c = c, c + qty[i]
        if isinstance(take, int) and isinstance(total, int):
            filled[i] = c * take // total - before * take // total
        else:
            filled[i] = Fraction(qty[i]) * take / total
