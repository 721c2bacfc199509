"""Exact balance and residual-proof prices of market.clearing (issue: trustworthy numbers).

* every product's buy fills and sell fills add up to its volume exactly, in any order of
  addition, on the exact core and on the windowed path, for quantities from 1e-6 to 1e9;
* a float-sum residual (0.1 + 0.2 against 0.3) never makes a far-away order marginal: the
  price is the one exact arithmetic on the intended decimal quantities gives.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import market.clearing._core as core_module
import market.clearing._window as window_module
from market.clearing import clear
from reference_clearing import exact_clear
from test_clearing import KS, books, windowed_path


def assert_balanced(product, side, res):
    """Per product: sum of buy fills == sum of sell fills == volume, bit for bit, whether
    added exactly (fsum), left to right or right to left."""
    product, side = np.asarray(product), np.asarray(side)
    for j, v in enumerate(res.volume):
        buys = res.filled[(product == j) & (side == 1)]
        sells = res.filled[(product == j) & (side == -1)]
        assert math.fsum(buys) == math.fsum(sells) == v
        assert sum(buys.tolist()) == sum(sells[::-1].tolist()) == v


# ---------------------------------------------------------------------------------------
# worked cases: a residual of 5.5e-17 on one side, at k = 0, 0.5 and 1


# buys 0.1 @ 10 and 0.2 @ 9 add up to 0.30000000000000004 against a sell of 0.3 @ 1; a far
# sell of 100 @ 8 must not trade the residual and pin the price at 8. Exactly, the clearing
# interval is [1, 8]: the last accepted ask (1) and the first rejected ask (8).
BUY_SIDE_RESIDUAL = dict(product=[0, 0, 0, 0], side=[1, 1, -1, -1],
                         price=[10.0, 9.0, 1.0, 8.0], quantity=[0.1, 0.2, 0.3, 100.0])
# sells 0.1 @ 1 and 0.2 @ 2 add up to 0.30000000000000004 against a buy of 0.3 @ 10; the seller
# at 2 must not count as rationed by the residual (which would pin the price at 2). Exactly,
# the interval is [2, 10]: the last accepted ask (2) and the last accepted bid (10); the far
# buy of 100 @ 1.5 is the first rejected bid, below it.
SELL_SIDE_RESIDUAL = dict(product=[0, 0, 0, 0], side=[1, -1, -1, 1],
                          price=[10.0, 1.0, 2.0, 1.5], quantity=[0.3, 0.1, 0.2, 100.0])


@pytest.mark.parametrize("book, k, expected", [
    pytest.param(BUY_SIDE_RESIDUAL, 0.0, 1.0, id="buy-residual-k0"),
    pytest.param(BUY_SIDE_RESIDUAL, 0.5, 4.5, id="buy-residual-k0.5"),
    pytest.param(BUY_SIDE_RESIDUAL, 1.0, 8.0, id="buy-residual-k1"),
    pytest.param(SELL_SIDE_RESIDUAL, 0.0, 2.0, id="sell-residual-k0"),
    pytest.param(SELL_SIDE_RESIDUAL, 0.5, 6.0, id="sell-residual-k0.5"),
    pytest.param(SELL_SIDE_RESIDUAL, 1.0, 10.0, id="sell-residual-k1"),
])
@pytest.mark.parametrize("path", ["core", "windowed"])
def test_residual_does_not_price(book, k, expected, path):
    assert 0.1 + 0.2 != 0.3  # the residual is real
    if path == "windowed":
        with windowed_path():
            res = clear(**book, k=k)
    else:
        res = clear(**book, k=k)
    assert res.price[0] == expected
    assert res.volume[0] == pytest.approx(0.3, rel=1e-12)
    far = int(np.argmax(book["quantity"]))
    assert res.filled[far] == 0.0  # the far order does not trade the residual
    assert_balanced(book["product"], book["side"], res)


def test_residual_within_a_tie_group_is_shared_not_priced():
    """Two sells at one price that add up to a buy only up to a residual: fully filled for
    the price (the interval stays open up to the buy's limit)."""
    res = clear([0, 0, 0], [1, -1, -1], [7.0, 3.0, 3.0], [0.3, 0.1, 0.2], k=1.0)
    assert res.price[0] == 7.0
    assert_balanced([0, 0, 0], [1, -1, -1], res)


# ---------------------------------------------------------------------------------------
# Hypothesis: books whose quantities are float sums of decimal fractions


DECIMALS = st.integers(1, 99).map(lambda c: Decimal(c) / 100)


@st.composite
def decimal_books(draw, max_orders=12):
    """Orders whose quantity is a sum of 1-4 decimals (0.01 .. 0.99), added in float, and
    the same book in exact arithmetic (Fractions of the decimals)."""
    n = draw(st.integers(2, max_orders))
    product, side, price, q_float, q_exact = [], [], [], [], []
    for _ in range(n):
        parts = draw(st.lists(DECIMALS, min_size=1, max_size=4))
        total = 0.0
        for d in parts:
            total += float(d)
        product.append(draw(st.integers(0, 1)))
        side.append(draw(st.sampled_from([1, -1])))
        price.append(float(draw(st.integers(1, 6))))
        q_float.append(total)
        q_exact.append(Fraction(sum(parts)))
    return product, side, price, q_float, q_exact


@settings(max_examples=300, deadline=None)
@given(decimal_books(), st.sampled_from([0.0, 0.5, 1.0]), st.booleans())
def test_decimal_sums_clear_as_the_exact_book(book, k, windowed):
    product, side, price, q_float, q_exact = book
    if windowed:
        with windowed_path():
            res = clear(product, side, price, q_float, n_products=2, k=k)
    else:
        res = clear(product, side, price, q_float, n_products=2, k=k)
    want_price, want_volume, _ = exact_clear(product, [s == 1 for s in side], price, q_exact,
                                             2, None, k, tol=0)
    np.testing.assert_array_equal(res.price, np.array(want_price, dtype=float))
    np.testing.assert_allclose(res.volume, [float(v) for v in want_volume], rtol=1e-12)
    assert_balanced(product, side, res)


# ---------------------------------------------------------------------------------------
# exact balance at every scale and size


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1.0, 1e3, 1e6, 1e9])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("path", ["core", "windowed"])
def test_fills_balance_exactly_at_every_scale(scale, ties, path):
    rng = np.random.default_rng(int(math.log10(scale) + 10) + 100 * ties)
    n, P = 3000, 7
    product = rng.integers(0, P, n)
    side = np.where(rng.random(n) < 0.5, 1, -1)
    price = rng.integers(90, 110, n).astype(float) if ties else 100 + rng.normal(0, 5, n)
    quantity = scale * rng.lognormal(0, 1.5, n) * (rng.random(n) > 0.05)
    if path == "windowed":
        with windowed_path():
            res = clear(product, side, price, quantity, n_products=P)
    else:
        res = clear(product, side, price, quantity, n_products=P)
    assert (res.volume > 0).all()
    assert np.all(res.filled <= quantity)
    assert_balanced(product, side, res)


def test_fills_balance_exactly_on_a_large_batch():
    """2e5 orders over 300 products, on the real windowed path, quantities spanning 1e-6 to
    1e9 within each product."""
    rng = np.random.default_rng(11)
    n, P = 200_000, 300
    assert n >= window_module.WINDOW_MIN_ORDERS and n >= window_module.WINDOW_MIN_DEPTH * P
    product = rng.integers(0, P, n)
    side = np.where(rng.random(n) < 0.5, 1, -1)
    price = np.round(100 + rng.normal(0, 5, n), 2)
    quantity = 10.0 ** rng.uniform(-6, 9, n)
    res = clear(product, side, price, quantity, n_products=P)
    order = np.argsort(product, kind="stable")
    cut = np.searchsorted(product[order], np.arange(P + 1))
    f, s = res.filled[order], side[order]
    for j in range(P):
        seg = slice(cut[j], cut[j + 1])
        assert math.fsum(f[seg][s[seg] == 1]) == math.fsum(f[seg][s[seg] == -1]) == res.volume[j]


def test_model_growth_override_balances():
    """The run that stopped with "buy and sell volumes differ within a product" before fills
    were exact: frontier_a growing 300% a month, 12 months."""
    from market.model import ComputeMarket
    from market.scenarios import load_scenario

    world = load_scenario("colossus-2026", ["labs.frontier_a.growth_per_month=3.0", "months=12"])
    for seed in (0, 1):
        frames = ComputeMarket(world, rng=seed, check_invariants=True).run().frames()
        assert len(frames["market"]) > 0


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_prorata_floor_is_exact_up_to_2_pow_53(data):
    """floor(c * t / q) over whole numbers below 2**53 equals Python's integer result, also
    where c * t is far beyond int64 (the remainder is computed modulo 2**64)."""
    from market.clearing._core import prorata_floor

    n = data.draw(st.integers(1, 20))
    q = data.draw(st.lists(st.integers(1, 2**53 - 1), min_size=n, max_size=n))
    c = [data.draw(st.integers(0, x)) for x in q]
    t = [data.draw(st.integers(0, x)) for x in q]
    got = prorata_floor(np.array(c, float), np.array(t, float), np.array(q, float))
    assert got.tolist() == [float(a * b // d) for a, b, d in zip(c, t, q)]


def test_prorata_floor_edges():
    """At c = q the share is t and at c = 0 it is 0; and two cases next to 2**53 where the
    float quotient is one too high and one too low, corrected by the exact remainder."""
    from market.clearing._core import prorata_floor

    cases = [  # (c, t, q, float estimate floor(c * t / q) in float64)
        (2**53 - 1, 2**53 - 3, 2**53 - 1, None),
        (0, 2**53 - 1, 2**53 - 1, None),
        (8014687441826181, 8014687441826360, 8014687441826738, 8014687441825804),
        (7685610234599996, 7685610234600457, 7685610234600526, 7685610234599926),
    ]
    c, t, q = (np.array([x[i] for x in cases], float) for i in range(3))
    estimate = np.floor(c * t / q)
    exact = [a * b // d for a, b, d, _ in cases]
    assert [estimate[i] for i in (2, 3)] == [exact[2] + 1, exact[3] - 1]  # the estimate misses
    assert prorata_floor(c, t, q).tolist() == [float(x) for x in exact]


# ---------------------------------------------------------------------------------------
# the shortcuts for small batches give the same bits as the general code


def _bits(res):
    """Every output of a clearing as bytes (signed zeros and NaN payloads included)."""
    surplus = np.float64(res.surplus)
    return [a.tobytes() for a in (res.price, res.volume, res.filled, surplus)]


@settings(max_examples=300, deadline=None)
@given(books(max_orders=40, max_products=3), KS, st.sampled_from([1e-3, 1.0, 7e8]))
def test_small_batch_sort_matches_the_general_code_bit_for_bit(book, k, scale):
    """The lexsort of small batches (``LEXSORT_MAX``) against the packed-key sort."""
    product, side, price, quantity, n_products, prio = book
    quantity = [q * scale for q in quantity]
    args = (product, side, price, quantity)
    kw = dict(n_products=n_products, priority=prio, k=k)
    fast = _bits(clear(*args, **kw))
    saved = core_module.LEXSORT_MAX
    core_module.LEXSORT_MAX = 0
    try:
        general = _bits(clear(*args, **kw))
    finally:
        core_module.LEXSORT_MAX = saved
    assert fast == general
