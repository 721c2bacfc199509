"""Bidding strategies: how an agent turns its private values and costs into limit prices.

A strategy is a pair of pure, vectorized functions: ``bid`` maps a buyer's values per tranche to
limit prices, ``ask`` maps a seller's cost floor to limit prices, both given the market's
reference price. Agents look strategies up by name in ``STRATEGIES``; add your own with
``register`` and name it in a scenario (``strategy = "mine"``) without touching the agents.

Tranches (docs/model.md section 5): 0 must-serve (current customers), 1 growth and training,
2 opportunistic.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MUST_SERVE, GROWTH, OPPORTUNISTIC = 0, 1, 2

BidFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(value_usd_per_h100e_month, tranche, reference_price) -> limit price per H100e-month;
arrays of one shape (reference broadcast per order)."""
AskFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(cost_floor_usd_per_h100e_month, reference_price) -> limit price per H100e-month."""


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


GROWTH_CAP = 1.25
"""Reference strategy: growth tranches bid at most 25% over the reference price."""
OPPORTUNISTIC_CAP = 0.9
"""Reference strategy: opportunistic tranches bid at most 90% of the reference price."""
UNDERCUT = 0.95
"""Reference strategy: sellers ask 5% under the reference price, never under their floor."""


def reference_bid(value: np.ndarray, tranche: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Must-serve bids its value; growth and opportunistic tranches shade toward the index."""
    value = np.asarray(value, dtype=float)
    reference = np.broadcast_to(np.asarray(reference, dtype=float), value.shape)
    cap = np.where(tranche == GROWTH, GROWTH_CAP * reference,
                   np.where(tranche == OPPORTUNISTIC, OPPORTUNISTIC_CAP * reference, np.inf))
    return np.minimum(value, cap)


def reference_ask(floor: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Ask just under the reference price, never below the cost floor."""
    return np.maximum(np.asarray(floor, dtype=float), UNDERCUT * reference)


STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Add a strategy to the registry (its name must be new)."""
    if strategy.name in STRATEGIES:
        raise ValueError(f"strategy {strategy.name!r} is already registered")
    STRATEGIES[strategy.name] = strategy
    return strategy


register(Strategy("reference", "must-serve at value, the rest shaded toward "
                  "the price index; sellers undercut the index down to their floor",
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
