"""Tests of market.clearing: the vectorized uniform-price call auction."""

from __future__ import annotations

import io
import math
from contextlib import contextmanager, redirect_stdout

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import market.clearing as clearing_module
import market.clearing._window as window_module
from market.clearing import ClearingResult, clear
from market.clearing._core import lot_size, to_lots
from experiment_scripts import load_experiment
from reference_clearing import clear_reference, default_tol, exact_clear

INF = float("inf")


# ---------------------------------------------------------------------------------------
# An independent, obvious per-product reference written here (not shared with the module).


def naive_clear(product, side, price, quantity, n_products, priority=None, k=0.5):
    """Plain loops: per product, expand the two queues into step curves and scan them.

    The volume is found by trying every candidate price p (every limit) and taking the
    largest min(demand(p), supply(p)); priority (non-ordinary) orders count at every price.
    """
    n = len(product)
    prio = [0] * n if priority is None else list(priority)
    filled = [0.0] * n
    prices = [math.nan] * n_products
    volumes = [0.0] * n_products
    for j in range(n_products):
        mine = [i for i in range(n) if product[i] == j and quantity[i] > 0]
        if not mine:
            continue
        top = max(prio[i] for i in mine)
        best = 0.0
        for cand in [price[i] for i in mine]:
            demand = sum(
                quantity[i] for i in mine if side[i] == 1 and (prio[i] < top or price[i] >= cand)
            )
            supply = sum(
                quantity[i] for i in mine if side[i] == -1 and (prio[i] < top or price[i] <= cand)
            )
            best = max(best, min(demand, supply))
        volumes[j] = best
        if best == 0:
            continue
        for s in (1, -1):
            orders = [i for i in mine if side[i] == s]
            keys = sorted({(prio[i], -s * price[i]) for i in orders})
            left = best
            for key in keys:
                grp = [i for i in orders if (prio[i], -s * price[i]) == key]
                tot = sum(quantity[i] for i in grp)
                take = min(tot, left)
                for i in grp:
                    filled[i] = quantity[i] * take / tot
                left -= take
        lo, hi = -INF, INF
        for i in mine:
            if prio[i] != top:
                continue
            if side[i] == 1:
                if filled[i] > 0:
                    hi = min(hi, price[i])
                if filled[i] < quantity[i]:
                    lo = max(lo, price[i])
            else:
                if filled[i] > 0:
                    lo = max(lo, price[i])
                if filled[i] < quantity[i]:
                    hi = min(hi, price[i])
        if lo == -INF:
            lo = hi
        if hi == INF:
            hi = lo
        prices[j] = lo + k * (hi - lo)
    return np.array(prices), np.array(volumes), np.array(filled)


def max_surplus(product, side, price, quantity, n_products):
    """Maximum gains from trade, product by product: sort-and-walk (buyers high to low meet
    sellers low to high, trading while the buyer values the unit more than the seller)."""
    total = 0.0
    for j in range(n_products):
        buys = sorted(
            ([price[i], quantity[i]] for i in range(len(product))
             if product[i] == j and side[i] == 1),
            reverse=True,
        )
        sells = sorted(
            [price[i], quantity[i]] for i in range(len(product))
            if product[i] == j and side[i] == -1
        )
        bi = si = 0
        while bi < len(buys) and si < len(sells) and buys[bi][0] > sells[si][0]:
            t = min(buys[bi][1], sells[si][1])
            total += t * (buys[bi][0] - sells[si][0])
            buys[bi][1] -= t
            sells[si][1] -= t
            if buys[bi][1] == 0:
                bi += 1
            if sells[si][1] == 0:
                si += 1
    return total


def check_invariants(product, side, price, quantity, res, priority=None):
    """Invariants of a clearing result (see the module docstring of market.clearing)."""
    product = np.asarray(product)
    side = np.asarray(side)
    price = np.asarray(price, float)
    quantity = np.asarray(quantity, float)
    prio = np.zeros(len(product), int) if priority is None else np.asarray(priority)
    f = res.filled
    assert f.shape == quantity.shape
    assert np.all(f >= 0) and np.all(f <= quantity)
    lot = lot_size(float(quantity.max()), len(quantity)) if len(quantity) else 1.0
    whole = to_lots(quantity, lot) * lot  # an order's quantity in whole lots
    for j in range(len(res.volume)):
        m = product == j
        v = res.volume[j]
        # exact balance: the fills of each side add up to the volume, in any order
        buys, sells = f[m & (side == 1)], f[m & (side == -1)]
        assert math.fsum(buys) == math.fsum(sells) == v
        assert buys.sum() == v and sells[::-1].sum() == v
        tol = lot * default_tol(whole[m & (side == 1)].sum() / lot,
                                whole[m & (side == -1)].sum() / lot, int(m.sum()))
        if v == 0:
            assert np.isnan(res.price[j])
            assert np.all(f[m] == 0)
            continue
        p = res.price[j]
        assert np.isfinite(p)
        pos = m & (quantity > 0)
        top = prio[pos].max()
        ordn = pos & (prio == top)
        traded = f > tol
        full = f >= whole - tol
        buy, sell = side == 1, side == -1
        # clearing-interval conditions for ordinary orders
        assert np.all(price[ordn & buy & traded] >= p)
        assert np.all(price[ordn & sell & traded] <= p)
        assert np.all(full[ordn & buy & (price > p)])
        assert np.all(full[ordn & sell & (price < p)])
        for s in (1, -1):
            mine = pos & (side == s)
            # lower classes first: if a class trades, every lower class is (almost) full
            for c in np.unique(prio[mine]):
                if np.any(traded[mine & (prio == c)]):
                    lower = mine & (prio < c)
                    assert np.allclose(f[lower], quantity[lower], rtol=1e-9)
            # pro rata inside each tie group; at most one partially filled group
            partial = 0
            for c, lim in {(prio[i], price[i]) for i in np.flatnonzero(mine)}:
                g = mine & (prio == c) & (price == lim)
                # pro rata within one lot (the group's traded lots are whole lots)
                share = whole[g] * (f[g].sum() / whole[g].sum())
                assert np.all(np.abs(f[g] - share) <= lot * (1 + 1e-9))
                frac = f[g].sum() / whole[g].sum()
                partial += bool(1e-9 < frac < 1 - 1e-9)
            assert partial <= 1


# ---------------------------------------------------------------------------------------
# strategies


@st.composite
def books(draw, max_orders=24, ties=True, priority=None, max_products=4):
    """Random books; ``ties`` draws prices from a few integers; quantities are multiples of
    0.5 (exact in float) including zeros; extra, empty products are added at random."""
    used = draw(st.integers(1, max_products))
    n = draw(st.integers(0, max_orders))
    product = draw(st.lists(st.integers(0, used - 1), min_size=n, max_size=n))
    side = draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n))
    if ties:
        price = [float(x) for x in draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))]
    else:
        price = draw(
            st.lists(
                st.floats(-50, 50, allow_nan=False, allow_infinity=False, width=32),
                min_size=n, max_size=n,
            )
        )
    quantity = [0.5 * x for x in draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))]
    if priority is None:
        priority = draw(st.booleans())
    prio = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)) if priority else None
    n_products = used + draw(st.integers(0, 2))
    return product, side, price, quantity, n_products, prio


KS = st.sampled_from([0.0, 0.25, 0.5, 1.0])


def identical(res, ref):
    """Bit for bit: the core, the windowed path and the reference share the lot semantics."""
    np.testing.assert_array_equal(res.volume, ref.volume)
    np.testing.assert_array_equal(res.filled, ref.filled)
    np.testing.assert_array_equal(res.price, ref.price)


def same(res, ref):
    np.testing.assert_allclose(res.volume, ref[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.filled, ref[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.price, ref[0], rtol=1e-12, atol=1e-12, equal_nan=True)


# ---------------------------------------------------------------------------------------
# textbook schedules, computed by hand


TEXTBOOK = dict(
    product=[0, 0, 0, 0, 0, 0],
    side=[1, 1, 1, -1, -1, -1],
    price=[10.0, 8.0, 6.0, 5.0, 7.0, 9.0],
    quantity=[10.0, 10.0, 10.0, 10.0, 10.0, 10.0],
)


@pytest.mark.parametrize("k,expected", [(0.5, 7.5), (0.0, 7.0), (1.0, 8.0)])
def test_textbook_equilibrium(k, expected):
    # Demand: 10 @ 10, 10 @ 8, 10 @ 6.  Supply: 10 @ 5, 10 @ 7, 10 @ 9.
    # Walking the queues: units 0-10 bid 10 >= ask 5 (trade); units 10-20 bid 8 >= ask 7
    # (trade); units 20-30 bid 6 < ask 9 (stop), so the volume is 20.
    # lower = max(last accepted ask 7, first rejected bid 6) = 7
    # upper = min(last accepted bid 8, first rejected ask 9) = 8
    # price = 7 + k * (8 - 7): 7.5 at k=0.5, 7 at k=0, 8 at k=1.
    # Surplus = 10 * (10 - 5) + 10 * (8 - 7) = 60.
    res = clear(**TEXTBOOK, k=k)
    assert isinstance(res, ClearingResult)
    assert res.price.tolist() == [expected]
    assert res.volume.tolist() == [20.0]
    assert res.filled.tolist() == [10.0, 10.0, 0.0, 10.0, 10.0, 0.0]
    assert res.paid is None
    assert res.surplus == 60.0


@pytest.mark.parametrize("k", [0.0, 0.5, 1.0])
def test_textbook_rationed_seller_pins_price(k):
    # Demand: 10 @ 10, 10 @ 8, 10 @ 6.  Supply: 15 @ 5, 10 @ 7.
    # Units 0-15 meet ask 5 (bids 10 then 8), units 15-20 bid 8 vs ask 7 (trade),
    # units 20+ bid 6 < ask 7: volume 20, the seller @ 7 gets 5 of its 10.
    # lower = max(last accepted ask 7, first rejected bid 6) = 7
    # upper = min(last accepted bid 8, first rejected ask 7 (rationed)) = 7 -> price 7 for all k.
    res = clear([0] * 5, [1, 1, 1, -1, -1], [10, 8, 6, 5, 7], [10, 10, 10, 15, 10], k=k)
    assert res.price.tolist() == [7.0]
    assert res.volume.tolist() == [20.0]
    assert res.filled.tolist() == [10.0, 10.0, 0.0, 15.0, 5.0]


def test_pro_rata_at_the_margin():
    # One buyer of 10 @ 10 meets 20 units offered @ 5 in three orders (4, 6, 10): each seller
    # gets half of its quantity; the rationed ask pins the price at 5.
    res = clear([0] * 4, [1, -1, -1, -1], [10, 5, 5, 5], [10, 4, 6, 10])
    assert res.filled.tolist() == [10.0, 2.0, 3.0, 5.0]
    assert res.price.tolist() == [5.0]


def test_zero_surplus_ties_take_max_volume():
    # bid 5 == ask 5 for the second block: the larger volume (20) is chosen, price 5.
    res = clear([0] * 4, [1, 1, -1, -1], [9, 5, 1, 5], [10, 10, 10, 10])
    assert res.volume.tolist() == [20.0]
    assert res.price.tolist() == [5.0]


# ---------------------------------------------------------------------------------------
# vectorized vs the plain references


@settings(max_examples=300, deadline=None)
@given(books(ties=True), KS)
def test_matches_naive_reference_with_ties(book, k):
    product, side, price, quantity, n_products, prio = book
    res = clear(product, side, price, quantity, n_products=n_products, priority=prio, k=k)
    same(res, naive_clear(product, side, price, quantity, n_products, prio, k))
    check_invariants(product, side, price, quantity, res, prio)


@settings(max_examples=150, deadline=None)
@given(books(ties=False), KS)
def test_matches_naive_reference_distinct_prices(book, k):
    product, side, price, quantity, n_products, prio = book
    res = clear(product, side, price, quantity, n_products=n_products, priority=prio, k=k)
    same(res, naive_clear(product, side, price, quantity, n_products, prio, k))


@settings(max_examples=200, deadline=None)
@given(books(ties=True, max_orders=40), KS)
def test_matches_module_reference(book, k):
    product, side, price, quantity, n_products, prio = book
    res = clear(product, side, price, quantity, n_products=n_products, priority=prio, k=k)
    ref = clear_reference(product, side, price, quantity, n_products=n_products,
                          priority=prio, k=k)
    same(res, (ref.price, ref.volume, ref.filled))
    assert res.surplus == pytest.approx(ref.surplus, abs=1e-9)


def test_one_sided_and_empty_products():
    res = clear([0, 0, 2, 2], [1, 1, 1, -1], [5, 6, 5, 4], [1, 2, 3, 0], n_products=4)
    assert np.isnan(res.price).all()
    assert res.volume.tolist() == [0.0] * 4
    assert res.filled.tolist() == [0.0] * 4


def test_empty_book():
    res = clear([], [], [], [])
    assert res.price.shape == (0,) and res.volume.shape == (0,) and res.filled.shape == (0,)
    res = clear([], [], [], [], n_products=3, rule="pay_as_bid")
    assert np.isnan(res.price).all() and res.volume.tolist() == [0.0] * 3
    assert res.paid.shape == (0,)


def test_no_cross_gives_nan():
    res = clear([0, 0], [1, -1], [4, 5], [1, 1])
    assert np.isnan(res.price[0]) and res.volume[0] == 0 and res.filled.tolist() == [0, 0]


# ---------------------------------------------------------------------------------------
# invariants and efficiency on float books


def random_book(rng, n, n_products, priority=False):
    product = rng.integers(0, n_products, n)
    side = rng.choice([-1, 1], n)
    price = np.round(rng.normal(50, 10, n), rng.choice([0, 3]))
    quantity = rng.exponential(5.0, n) * (rng.random(n) > 0.1)
    prio = rng.choice([0, 1, 1, 1], n) if priority else None
    return product, side, price, quantity, prio


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("priority", [False, True])
def test_invariants_random_float_books(seed, priority):
    rng = np.random.default_rng(seed)
    product, side, price, quantity, prio = random_book(rng, 400, 7, priority)
    for k in (0.0, 0.3, 1.0):
        res = clear(product, side, price, quantity, n_products=8, priority=prio, k=k)
        check_invariants(product, side, price, quantity, res, prio)


@settings(max_examples=150, deadline=None)
@given(books(ties=True, priority=False), KS)
def test_truthful_bidders_reach_full_efficiency(book, k):
    product, side, price, quantity, n_products, _ = book
    res = clear(product, side, price, quantity, n_products=n_products, k=k)
    best = max_surplus(product, side, price, quantity, n_products)
    realised = sum(
        res.filled[i] * (price[i] if side[i] == 1 else -price[i]) for i in range(len(price))
    )
    assert realised == pytest.approx(best, abs=1e-9)
    assert res.surplus == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_full_efficiency_float_books(seed):
    rng = np.random.default_rng(100 + seed)
    product, side, price, quantity, _ = random_book(rng, 500, 5)
    res = clear(product, side, price, quantity, n_products=5)
    best = max_surplus(product.tolist(), side.tolist(), price.tolist(), quantity.tolist(), 5)
    assert res.surplus == pytest.approx(best, rel=1e-9)


# ---------------------------------------------------------------------------------------
# priority classes


def test_priority_buy_served_before_higher_limit():
    # Supply 10 @ 5 (class 1). A class-0 buy of 8 @ 1 is served before a class-1 buy of
    # 10 @ 20, although its limit is far lower: it gets 8, the ordinary buy the last 2.
    # The ordinary buy @ 20 is rationed, so it pins the price at 20 (the priority buy is a
    # price-taker and pays 20 > its limit 1).
    res = clear([0, 0, 0], [1, 1, -1], [1, 20, 5], [8, 10, 10], priority=[0, 1, 1])
    assert res.filled.tolist() == [8.0, 2.0, 10.0]
    assert res.price.tolist() == [20.0]
    # without priority, price decides
    res = clear([0, 0, 0], [1, 1, -1], [1, 20, 5], [8, 10, 10])
    assert res.filled.tolist() == [0.0, 10.0, 10.0]


def test_priority_sell_served_before_cheaper_sell():
    # Demand 6 @ 50 (class 1). A class-0 sell of 4 @ 100 goes first, then 2 of the class-1
    # sell @ 1 (rationed: price 1).
    res = clear([0, 0, 0], [1, -1, -1], [50, 100, 1], [6, 4, 10], priority=[1, 0, 1])
    assert res.filled.tolist() == [6.0, 4.0, 2.0]
    assert res.price.tolist() == [1.0]


def test_owner_own_use_then_market():
    # An owner's own use (class-0 buy 10 @ 0) on its own capacity (class-0 sell 10 @ 50) is
    # matched whatever the limits; the ordinary buy 5 @ 30 and sell 5 @ 10 then trade.
    # Ordinary bounds: lower = accepted ask 10, upper = accepted bid 30 -> price 20 at k=0.5.
    res = clear([0] * 4, [1, -1, 1, -1], [0, 50, 30, 10], [10, 10, 5, 5], priority=[0, 0, 1, 1])
    assert res.filled.tolist() == [10.0, 10.0, 5.0, 5.0]
    assert res.volume.tolist() == [15.0]
    assert res.price.tolist() == [20.0]


def test_priority_classes_in_order():
    # Three buy classes, supply 5: class 0 (3 units) full, class 1 (4 units) gets 2, class 2 none.
    res = clear([0] * 4, [1, 1, 1, -1], [1, 2, 9, 3], [3, 4, 4, 5], priority=[0, 1, 2, 2])
    assert res.filled.tolist() == [3.0, 2.0, 0.0, 5.0]
    # the ordinary class (2) sets the interval: rejected bid 9 >= price, accepted ask 3 <= price
    assert res.price.tolist() == [9.0]


def test_all_zero_priority_equals_none():
    rng = np.random.default_rng(3)
    product, side, price, quantity, _ = random_book(rng, 200, 4)
    a = clear(product, side, price, quantity, priority=np.zeros(200, int))
    b = clear(product, side, price, quantity)
    np.testing.assert_array_equal(a.filled, b.filled)
    np.testing.assert_array_equal(a.price, b.price)


def test_single_class_in_product_is_ordinary():
    # Product 0 has only class-0 orders: they are its ordinary class and respect their limits.
    res = clear([0, 0, 1, 1], [1, -1, 1, -1], [4, 5, 9, 1], [1, 1, 1, 1], priority=[0, 0, 1, 1])
    assert res.filled.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert np.isnan(res.price[0]) and res.price[1] == 5.0


# ---------------------------------------------------------------------------------------
# pay as bid


@settings(max_examples=100, deadline=None)
@given(books(ties=True))
def test_pay_as_bid(book):
    product, side, price, quantity, n_products, prio = book
    u = clear(product, side, price, quantity, n_products=n_products, priority=prio)
    r = clear(product, side, price, quantity, n_products=n_products, priority=prio,
              rule="pay_as_bid")
    np.testing.assert_array_equal(r.filled, u.filled)
    np.testing.assert_array_equal(r.volume, u.volume)
    traded = r.filled > 0
    np.testing.assert_array_equal(r.paid[traded], np.asarray(price, float)[traded])
    assert np.isnan(r.paid[~traded]).all()


def test_pay_as_bid_textbook():
    res = clear(**TEXTBOOK, rule="pay_as_bid")
    assert np.array_equal(res.paid, [10, 8, np.nan, 5, 7, np.nan], equal_nan=True)


# ---------------------------------------------------------------------------------------
# multi-product independence, determinism


@settings(max_examples=100, deadline=None)
@given(books(ties=True, max_orders=40), KS)
def test_products_cleared_independently(book, k):
    product, side, price, quantity, n_products, prio = book
    res = clear(product, side, price, quantity, n_products=n_products, priority=prio, k=k)
    product = np.asarray(product, int)
    # each fill is within one lot of its exact pro-rata share, and a batch's lot is at least
    # that of any part of it (market/clearing/_core.py: lot_size)
    lot = lot_size(max(quantity, default=0.0), len(quantity))
    for j in range(n_products):
        m = product == j
        alone = clear(
            np.zeros(m.sum(), int), np.asarray(side)[m], np.asarray(price)[m],
            np.asarray(quantity)[m], n_products=1,
            priority=None if prio is None else np.asarray(prio)[m], k=k,
        )
        np.testing.assert_allclose(res.filled[m], alone.filled, rtol=0, atol=2 * lot)
        np.testing.assert_allclose(res.price[j], alone.price[0], equal_nan=True)
        assert res.volume[j] == pytest.approx(alone.volume[0])


def test_deterministic_and_permutation_invariant():
    rng = np.random.default_rng(7)
    n = 1000
    product = rng.integers(0, 20, n)
    side = rng.choice([-1, 1], n)
    price = rng.integers(1, 8, n).astype(float)
    quantity = rng.integers(0, 5, n).astype(float)
    prio = rng.integers(0, 3, n)
    a = clear(product, side, price, quantity, priority=prio)
    b = clear(product, side, price, quantity, priority=prio)
    np.testing.assert_array_equal(a.filled, b.filled)
    np.testing.assert_array_equal(a.price, b.price)
    perm = rng.permutation(n)
    c = clear(product[perm], side[perm], price[perm], quantity[perm], priority=prio[perm])
    # a rationed tie group is shared in index order by a cumulative floor: pro rata within
    # one lot, so a permutation may move one lot between the orders of the group
    lot = lot_size(float(quantity.max()), n)
    np.testing.assert_allclose(c.filled, a.filled[perm], rtol=0, atol=lot)
    np.testing.assert_array_equal(c.volume, a.volume)
    np.testing.assert_array_equal(c.price, a.price)


def test_result_is_frozen():
    res = clear(**TEXTBOOK)
    with pytest.raises(AttributeError):
        res.price = None


# ---------------------------------------------------------------------------------------
# validation


def good(**over):
    args = dict(product=[0, 0, 1], side=[1, -1, 1], price=[1.0, 2.0, 3.0],
                quantity=[1.0, 1.0, 1.0])
    args.update(over)
    return args


@pytest.mark.parametrize(
    "over,match",
    [
        (dict(price=[1.0, np.nan, 3.0]), r"price\[1\] is nan: prices must be finite"),
        (dict(price=[1.0, 2.0, np.inf]), r"price\[2\] is inf: prices must be finite"),
        (dict(price=[-np.inf, 2.0, 3.0]), r"price\[0\] is -inf"),
        (dict(quantity=[1.0, -1.0, 1.0]), r"quantity\[1\] is -1\.0"),
        (dict(quantity=[np.nan, 1.0, 1.0]), r"quantity\[0\] is nan"),
        (dict(quantity=[1.0, 1.0, np.inf]), r"quantity\[2\] is inf"),
        (dict(side=[1, 0, 1]), r"side\[1\] is 0"),
        (dict(side=[1, -1, 2]), r"side\[2\] is 2"),
        (dict(product=[0, -1, 1]), r"product\[1\] is -1"),
        (dict(product=[0, 0, 1.5]), r"product\[2\] is 1\.5"),
        (dict(product=[0, 0, 3], n_products=2), r"product\[2\] is 3.*0\.\.1"),
        (dict(priority=[0, -2, 1]), r"priority\[1\] is -2"),
        (dict(price=[1.0, 2.0]), r"product has length 3 but price has length 2"),
        (dict(side=[1, 1, 1, 1]), r"product has length 3 but side has length 4"),
        (dict(quantity=[1.0]), r"product has length 3 but quantity has length 1"),
        (dict(priority=[0]), r"product has length 3 but priority has length 1"),
        (dict(k=1.5), r"k=1\.5 is outside \[0, 1\]"),
        (dict(k=-0.1), r"k=-0\.1 is outside"),
        (dict(k=np.nan), r"k=nan is outside"),
        (dict(rule="vickrey"), r"unknown rule 'vickrey'.*'uniform', 'pay_as_bid'"),
        (dict(n_products=-1), r"n_products"),
    ],
)
def test_validation(over, match):
    with pytest.raises(ValueError, match=match):
        clear(**good(**over))
    with pytest.raises(ValueError, match=match):
        clear_reference(**good(**over))


def test_validation_first_bad_index():
    price = np.ones(30)
    price[[17, 21]] = np.nan
    with pytest.raises(ValueError, match=r"price\[17\] is nan: prices must be finite"):
        clear(np.zeros(30, int), np.ones(30, int), price, np.ones(30))


# ---------------------------------------------------------------------------------------
# the benchmark script's quick mode runs


# ---------------------------------------------------------------------------------------
# the windowed path (large batches without priority classes)


@contextmanager
def windowed_path():
    """Send every batch without priority classes through ``clear_windowed``."""
    saved = window_module.WINDOW_MIN_ORDERS, window_module.WINDOW_MIN_DEPTH
    window_module.WINDOW_MIN_ORDERS, window_module.WINDOW_MIN_DEPTH = 1, 0
    try:
        yield
    finally:
        window_module.WINDOW_MIN_ORDERS, window_module.WINDOW_MIN_DEPTH = saved


def test_large_batches_take_the_windowed_path(monkeypatch):
    calls = []
    real = window_module.clear_windowed
    monkeypatch.setattr(window_module, "clear_windowed",
                        lambda *a: calls.append(len(a[0])) or real(*a))
    rng = np.random.default_rng(5)
    n = window_module.WINDOW_MIN_ORDERS
    product = rng.integers(0, n // window_module.WINDOW_MIN_DEPTH, n)
    side = np.where(rng.random(n) < 0.5, 1, -1)
    price = np.round(100 + rng.normal(0, 10, n), 1)
    quantity = rng.integers(0, 10, n).astype(float)
    res = clear(product, side, price, quantity)
    assert calls == [n]
    clear(product, side, price, quantity, priority=np.zeros(n, int) + (product % 2))
    assert calls == [n]  # priority classes: the exact core on the whole batch
    ref = clear_reference(product, side, price, quantity)
    identical(res, ref)
    assert res.surplus == pytest.approx(ref.surplus, rel=1e-12)
    for dtype in (np.int8, np.float64):  # the side's dtype does not matter
        again = clear(product, side.astype(dtype), price, quantity)
        assert np.array_equal(again.filled, res.filled) and again.surplus == res.surplus
        np.testing.assert_array_equal(again.price, res.price)
    assert len(calls) == 3


@settings(max_examples=450, deadline=None)
@given(st.one_of(books(ties=True, priority=False), books(ties=False, priority=False)), KS)
def test_windowed_matches_naive_reference(book, k):
    """Small books, with and without tied prices, through the windowed path."""
    product, side, price, quantity, n_products, prio = book
    with windowed_path():
        res = clear(product, side, price, quantity, n_products=n_products, k=k)
    same(res, naive_clear(product, side, price, quantity, n_products, None, k))
    check_invariants(product, side, price, quantity, res)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.sampled_from([0.01, 0.5, 5.0]), KS)
def test_windowed_matches_reference_deep_books(seed, n_products, tick, k):
    """Deep books (hundreds of orders per product) on a price grid of ``tick``, with zero
    quantities, plus a product with only buys (product P) and one whose buys all sit below
    its sells (P + 1): the windowed path equals the loop-based reference."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 3000))
    product = rng.integers(0, n_products, n)
    side = np.where(rng.random(n) < rng.uniform(0.2, 0.8), 1, -1)
    centre = np.where(side == 1, 100.0, 100.0 - rng.uniform(-10, 20))
    price = np.round((centre + rng.normal(0, rng.uniform(0.1, 15), n)) / tick) * tick
    quantity = rng.integers(0, 20, n) * rng.choice([0.5, 1.0, 7.0])
    extra = rng.integers(0, 30)
    product = np.concatenate((product, np.full(extra, n_products), np.full(extra, n_products + 1)))
    side = np.concatenate((side, np.ones(extra, int), np.r_[np.ones(extra // 2, int),
                                                            -np.ones(extra - extra // 2, int)]))
    price = np.concatenate((price, np.full(extra, 50.0),
                            np.r_[np.full(extra // 2, 10.0), np.full(extra - extra // 2, 20.0)]))
    quantity = np.concatenate((quantity, np.ones(2 * extra)))
    P = n_products + 2
    with windowed_path():
        res = clear(product, side, price, quantity, n_products=P, k=k)
    ref = clear_reference(product, side, price, quantity, n_products=P, k=k)
    identical(res, ref)
    assert res.surplus == pytest.approx(ref.surplus, rel=1e-9, abs=1e-6)
    check_invariants(product, side, price, quantity, res)


@pytest.mark.parametrize("offset, spread", [(-1e3, 5.0), (1e9, 0.5), (1e15, 64.0), (0.0, 1e-9)])
def test_windowed_matches_reference_at_any_price_scale(offset, spread):
    """Prices far from zero relative to their range, negative or tiny: the buckets stay
    monotone in the price and the result equals the reference."""
    rng = np.random.default_rng(7)
    n, n_products = 3000, 5
    product = rng.integers(0, n_products, n)
    side = np.where(rng.random(n) < 0.5, 1, -1)
    price = offset + spread * np.round(rng.normal(0, 1, n) * 8) / 8
    quantity = rng.integers(1, 9, n).astype(float)
    with windowed_path():
        res = clear(product, side, price, quantity, n_products=n_products)
    ref = clear_reference(product, side, price, quantity, n_products=n_products)
    identical(res, ref)
    assert res.volume.min() > 0


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.sampled_from([0.01, 0.5, 5.0]), KS,
       st.sampled_from(["sells", "buys"]))
def test_windowed_matches_reference_when_a_side_is_used_up(seed, n_products, tick, k, short):
    """Deep books in which one side is far smaller than the other, mostly inside the other's
    prices, so it trades in full (the term market's usual state when capacity is scarce),
    with some of it beyond the other side's prices at times: the window settles such a
    product without clearing it again, and equals the loop-based reference bit for bit."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(500, 3000))
    product = rng.integers(0, n_products, n)
    few = rng.random(n) < rng.uniform(0.02, 0.2)  # the small side
    side = np.where(few, -1, 1) if short == "sells" else np.where(few, 1, -1)
    # the small side sits well inside the big one (sells cheap or buys dear), a few beyond
    inside = np.where(side == -1, 80.0, 120.0) if short == "sells" else np.where(
        side == 1, 120.0, 80.0)
    centre = np.where(few & (rng.random(n) < rng.uniform(0.0, 0.1)), 200.0 - inside, inside)
    price = np.round((centre + rng.normal(0, rng.uniform(0.5, 15), n)) / tick) * tick
    quantity = rng.integers(0, 20, n) * rng.choice([0.5, 1.0, 7.0])
    with windowed_path():
        res = clear(product, side, price, quantity, n_products=n_products, k=k)
    ref = clear_reference(product, side, price, quantity, n_products=n_products, k=k)
    identical(res, ref)
    check_invariants(product, side, price, quantity, res)


def core_calls(monkeypatch) -> list[list[int]]:
    """The products of each book the windowed path hands to the core, as they come."""
    seen: list[list[int]] = []
    real = window_module.clear_levels
    monkeypatch.setattr(window_module, "clear_levels",
                        lambda *a: seen.append(np.unique(a[0]).tolist()) or real(*a))
    return seen


def test_windowed_settles_a_used_up_side_in_the_window(monkeypatch):
    """Sells all trade (a side used up, none above the window): the window book alone
    settles the product, with the reference's result."""
    seen = core_calls(monkeypatch)
    rng = np.random.default_rng(3)
    n = 2000
    side = np.where(rng.random(n) < 0.1, -1, 1)
    price = np.round(np.where(side == 1, 120.0, 80.0) + rng.normal(0, 10, n), 2)
    product = np.zeros(n, int)
    quantity = rng.integers(1, 9, n).astype(float)
    with windowed_path():
        res = clear(product, side, price, quantity)
    ref = clear_reference(product, side, price, quantity)
    identical(res, ref)
    assert res.filled[side == -1].tolist() == quantity[side == -1].tolist()  # all sold
    assert len(seen) == 1  # the window book only


def test_windowed_rechecks_products_it_cannot_settle(monkeypatch):
    """A product whose window holds no trade (only buys) is cleared again from all its
    orders; the crossing product next to it is settled by its window alone."""
    seen = core_calls(monkeypatch)
    rng = np.random.default_rng(1)
    n = 400
    product = np.r_[np.zeros(n, int), np.ones(20, int)]
    side = np.r_[np.where(rng.random(n) < 0.5, 1, -1), np.ones(20, int)]
    price = np.r_[np.round(100 + rng.normal(0, 5, n), 2), np.full(20, 90.0)]
    quantity = np.ones(n + 20)
    with windowed_path():
        res = clear(product, side, price, quantity)
    ref = clear_reference(product, side, price, quantity)
    identical(res, ref)
    assert len(seen) == 2 and seen[1] == [1]  # the window book, then product 1 alone
    assert res.volume[0] > 0 and res.volume[1] == 0


def test_bench_quick_smoke():
    mod = load_experiment("bench_clearing")
    buf = io.StringIO()
    with redirect_stdout(buf):
        mod.main(["--quick"])
    out = buf.getvalue()
    assert "lexsort ms" in out and "peak extra memory" in out


def test_bench_against_times_both_trees():
    """``bench_clearing --against`` times clear in fresh interpreters for both trees (here the
    same tree twice) and prints one row per size with the ratio of the two."""
    mod = load_experiment("bench_clearing")
    buf = io.StringIO()
    with redirect_stdout(buf):
        mod.against(mod.ROOT, [(40, 3), (200, 2)], 1)
    rows = [line.split() for line in buf.getvalue().splitlines() if line[:9].strip().isdigit()]
    assert [r[:2] for r in rows] == [["40", "3"], ["200", "2"]]
    for r in rows:
        a, b, ratio = map(float, r[2:])
        # (each time is printed to 3 decimals of a ms)
        assert a > 0 and b > 0 and ratio == pytest.approx(b / a, rel=0.02)
