"""Bidding strategies: how an agent turns its private values and costs into limit prices.

A strategy is a pair of pure, vectorized functions: ``bid`` maps a buyer's values per step to
limit prices given the market's price index, ``ask`` maps a seller's cost floor to limit prices
given the seller's own reference price (its cost plus a markup for scarcity, see
``market.agents.sellers``). Agents look strategies up by name in ``STRATEGIES``; add your own with
``register`` and name it in a scenario (``strategy = "mine"``) without touching the agents.

Tranches (docs/model.md section 5): 0 must-serve (current customers), 1 growth and training,
2 opportunistic, 3 a term block (bid against the spot price the buyer could pay instead).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MUST_SERVE, GROWTH, OPPORTUNISTIC, TERM = 0, 1, 2, 3

BidFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(value_usd_per_h100e_month, tranche, reference_price) -> limit price per H100e-month;
arrays of one shape (reference broadcast per order)."""
AskFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(cost_floor_usd_per_h100e_month, seller_reference_price) -> limit price per H100e-month."""


@dataclass(frozen=True)
class Strategy:
    """A named bidding strategy with a one-line description."""

    name: str
    description: str
    bid: BidFn
    ask: AskFn


def truthful_bid(value: np.ndarray, tranche: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Bid the true value of every tranche."""
    return np.asarray(value, dtype=float).copy()


def truthful_ask(floor: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Ask the true cost floor."""
    return np.asarray(floor, dtype=float).copy()


GROWTH_SHADE = 0.3
"""Reference strategy: growth and training steps worth more than the reference price bid 30% of
the way from their value down to it (a buyer keeps part of its surplus)."""
OPPORTUNISTIC_SHADE = 0.6
"""Reference strategy: opportunistic steps shade 60% of the way down to the reference price."""
TERM_SHADE = 0.7
"""Reference strategy: a term block is bid against the spot index (the buyer could rent the
same capacity month by month): it pays 30% of its surplus over spot for the security."""


def reference_bid(value: np.ndarray, tranche: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Must-serve bids its value; growth and opportunistic steps worth more than the reference
    price shade part of the way toward it (continuously, never to one shared cap)."""
    value = np.asarray(value, dtype=float)
    reference = np.broadcast_to(np.asarray(reference, dtype=float), value.shape)
    shade = np.select([tranche == GROWTH, tranche == OPPORTUNISTIC, tranche == TERM],
                      [GROWTH_SHADE, OPPORTUNISTIC_SHADE, TERM_SHADE], 0.0)
    return value - shade * np.maximum(value - reference, 0.0)


def reference_ask(floor: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Ask the seller's own reference price (cost plus a scarcity markup), never below the
    cost floor."""
    return np.maximum(np.asarray(floor, dtype=float), reference)


STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Add a strategy to the registry (its name must be new)."""
    if strategy.name in STRATEGIES:
        raise ValueError(f"strategy {strategy.name!r} is already registered")
    STRATEGIES[strategy.name] = strategy
    return strategy


register(Strategy("reference", "must-serve at value, the rest shaded part of the way toward the "
                  "price index; sellers ask cost plus a markup for their scarcity",
                  reference_bid, reference_ask))
register(Strategy("truthful", "baseline: buyers bid their values, sellers ask their cost floor",
                  truthful_bid, truthful_ask))


def strategy(name: str) -> Strategy:
    """Look up a registered strategy; an unknown name gets the nearest valid one suggested."""
    if name not in STRATEGIES:
        near = difflib.get_close_matches(name, STRATEGIES, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"unknown strategy {name!r}{hint}; registered: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
