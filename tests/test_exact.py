"""market.exact: sums in a documented fixed order, transcendental functions through libm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from market import exact


def lanes_reference(values: list[float], lanes: int = 64) -> float:
    """The documented order, in plain Python: lane j adds entries j, j + 64, ... in order,
    then the lane sums and the leftover tail are added in order."""
    if len(values) <= 4 * lanes:
        s = 0.0
        for v in values:
            s += v
        return s
    body = len(values) - len(values) % lanes
    acc = [0.0] * lanes
    for i in range(body):
        acc[i % lanes] += values[i]
    s = 0.0
    for v in acc + values[body:]:
        s += v
    return s


@pytest.mark.parametrize("n", [0, 1, 7, 256, 257, 1000, 12345])
def test_total_follows_the_documented_order(n):
    rng = np.random.default_rng(n)
    x = rng.random(n) * 10.0 ** rng.uniform(-8, 8, n) * rng.choice([-1, 1], n)
    assert exact.total(x) == lanes_reference(x.tolist())
    assert exact.dot(x, np.ones(n)) == exact.total(x)
    if n:
        assert exact.mean(x) == exact.total(x) / n
        assert exact.total(x) == pytest.approx(math.fsum(x.tolist()), rel=1e-9, abs=1e-9)


def test_total_along_an_axis_adds_in_index_order():
    x = np.random.default_rng(1).random((5, 9)) * 1e6
    rows = exact.total(x, axis=1)
    for i in range(5):
        s = 0.0
        for v in x[i].tolist():
            s += v
        assert rows[i] == s
    assert exact.total(np.zeros((3, 0)), axis=1).tolist() == [0.0, 0.0, 0.0]


def test_std_matches_the_textbook_formula():
    x = np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert exact.std(x) == pytest.approx(math.sqrt(32 / 7), rel=1e-15)
    assert math.isnan(exact.std([1.0]))
    assert math.isnan(exact.mean([]))


def test_transcendental_functions_are_libms():
    x = np.random.default_rng(2).uniform(-30, 30, 500)
    assert exact.exp(x).tolist() == [math.exp(v) for v in x.tolist()]
    y = np.abs(x)
    assert exact.log(y).tolist() == [math.log(v) for v in y.tolist()]
    assert exact.power(1.0 + y / 100, 12).tolist() == [math.pow(1 + v / 100, 12)
                                                       for v in y.tolist()]
    assert exact.log(np.array([0.0, -1.0]))[0] == -math.inf
    assert math.isnan(exact.log(np.array([-1.0]))[0])
    grid = exact.power(np.array([[0.5], [2.0]]), np.array([1.0, 2.0, 3.0]))  # broadcasts
    assert grid.shape == (2, 3) and grid[1, 2] == 8.0
