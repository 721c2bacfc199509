"""Labs: buyers of compute, frontier or small (docs/model.md section 5, Lab).

A lab needs H100e to serve its customers (inference) and to train (a share of inference). Served
inference earns ``r`` per H100e-month; unserved inference is partly lost to competitors (churn),
so shortage has a lasting cost. It bids in price tranches: must-serve (today's customers, valued
at r x (1 + growth premium)), growth and training (its strategic value), opportunistic (a little
extra at half the training value), all capped by its monthly budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from market.agents.party import Party
from market.calendar import month_index
from market.config import LabConfig
from market.strategies import GROWTH, MUST_SERVE, OPPORTUNISTIC, strategy

if TYPE_CHECKING:
    from market.model import ComputeMarket

BUDGET_RUNWAY_MONTHS = 24.0
"""Labs plan to spend their cash and next year's funding over two years."""
OPPORTUNISTIC_SHARE = 0.1
"""Extra capacity, as a share of need, that a lab takes if it is cheap."""
OPPORTUNISTIC_VALUE_SHARE = 0.5
"""Value of opportunistic capacity as a share of the training value."""


def growth_rate(initial_per_month, halflife_months, months_elapsed):
    """Monthly demand growth, decaying with a half-life (scalars or arrays)."""
    return initial_per_month * 0.5 ** (months_elapsed / halflife_months)


def next_inference_need(need_h100e, unmet_inference_h100e, growth, churn):
    """Next month's inference need: churned customers leave, the rest grows."""
    return np.maximum(0.0, need_h100e - churn * unmet_inference_h100e) * (1.0 + growth)


def serve(held_h100e: np.ndarray, inference_h100e: np.ndarray, training_share: np.ndarray,
          usd_per_served: np.ndarray, training_value: np.ndarray) -> tuple[np.ndarray, ...]:
    """Serve inference first, then training, with the capacity held this month.

    Returns served and unmet H100e, revenue (served inference x r) and value (revenue plus
    served training at its strategic value), all per lab.
    """
    need = inference_h100e * (1.0 + training_share)
    served = np.minimum(held_h100e, need)
    inference_served = np.minimum(held_h100e, inference_h100e)
    training_served = np.clip(held_h100e - inference_h100e, 0.0, need - inference_h100e)
    revenue = inference_served * usd_per_served
    return served, need - served, revenue, revenue + training_served * training_value


def budget_usd_per_month(revenue_usd: np.ndarray, cash_usd: np.ndarray,
                         funding_next_year_usd: np.ndarray) -> np.ndarray:
    """What each lab can spend per month: revenue plus cash and the next year's committed
    funding spread over ``BUDGET_RUNWAY_MONTHS``."""
    return np.maximum(0.0, revenue_usd + (cash_usd + funding_next_year_usd)
                      / BUDGET_RUNWAY_MONTHS)


def tranche_split(inference_gap_h100e: np.ndarray, total_gap_h100e: np.ndarray,
                  need_h100e: np.ndarray) -> np.ndarray:
    """Quantities (labs x 3) of the must-serve, growth and opportunistic tranches.

    Capacity a lab already holds serves inference first, so the must-serve tranche is the
    inference still uncovered; the rest of the gap is growth and training; opportunistic adds a
    share of the need on top.
    """
    total = np.maximum(np.asarray(total_gap_h100e, dtype=float), 0.0)
    must = np.minimum(np.maximum(np.asarray(inference_gap_h100e, dtype=float), 0.0), total)
    return np.stack([must, total - must, OPPORTUNISTIC_SHARE * np.asarray(need_h100e)], axis=-1)


def tranche_values(cfg: LabConfig) -> np.ndarray:
    """Value per H100e-month of the must-serve, growth and opportunistic tranches."""
    return np.array([
        cfg.usd_per_served_h100e_month * (1.0 + cfg.growth_premium),
        cfg.training_value_usd_per_h100e_month,
        OPPORTUNISTIC_VALUE_SHARE * cfg.training_value_usd_per_h100e_month,
    ])


def budget_cap(values: np.ndarray, quantities: np.ndarray, budget_usd: np.ndarray) -> np.ndarray:
    """Scale each lab's values (rows) down so buying everything at value fits its budget."""
    spend = np.sum(values * quantities, axis=-1)
    budget = np.maximum(np.asarray(budget_usd, dtype=float), 0.0)
    over = spend > budget
    scale = np.where(over, budget / np.where(over, spend, 1.0), 1.0)
    return values * scale[..., None]


TRANCHES = np.array([MUST_SERVE, GROWTH, OPPORTUNISTIC])


def lab_bids(labs: list[Lab], held_h100e: np.ndarray, target_h100e: np.ndarray,
             inference_h100e: np.ndarray, reference: np.ndarray, budget_usd: np.ndarray,
             tranches: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bids of all labs at once: (lab position, quantity, limit price) per non-empty tranche.

    ``held_h100e``, ``target_h100e``, ``inference_h100e``, ``reference`` and ``budget_usd`` are
    arrays over ``labs``; the first ``tranches`` tranches are bid (term markets skip the
    opportunistic one). Each lab's registered strategy turns values into limits.
    """
    if not labs:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    qty = tranche_split(inference_h100e - held_h100e, target_h100e - held_h100e, target_h100e)
    values = budget_cap(np.array([lab.values for lab in labs]), qty, budget_usd)
    qty, values = qty[:, :tranches], values[:, :tranches]
    limits = np.empty_like(values)
    names = np.array([lab.strategy.name for lab in labs])
    tranche = np.broadcast_to(TRANCHES[:tranches], values.shape)
    ref = np.broadcast_to(np.asarray(reference, dtype=float)[:, None], values.shape)
    for name in np.unique(names):
        rows = names == name
        limits[rows] = strategy(str(name)).bid(values[rows], tranche[rows], ref[rows])
    alive = ~np.array([lab.defaulted for lab in labs])
    keep = (qty > 0) & alive[:, None]
    pos = np.broadcast_to(np.arange(len(labs))[:, None], qty.shape)
    return pos[keep], qty[keep], limits[keep]


def exit_signal(price: np.ndarray, spot_index: float, exit_premium: np.ndarray) -> np.ndarray:
    """True where a contract's price exceeds the spot index by more than the exit premium."""
    return price > spot_index * (1.0 + exit_premium)


def _state(name: str, doc: str) -> property:
    """A lab attribute stored in the model's per-lab arrays (vectorized each step)."""

    def get(self: Lab) -> float:
        return float(self.model.lab_state[name][self.party])

    def set(self: Lab, value: float) -> None:
        self.model.lab_state[name][self.party] = value

    return property(get, set, doc=doc)


LAB_STATE = ("inference_h100e", "served_h100e", "unmet_h100e", "revenue_usd", "value_usd")


class Lab(Party):
    """A frontier or small lab. Its demand and money state live in the model's arrays so that
    every lab is settled at once; the properties below read and write them."""

    model: ComputeMarket
    inference_h100e = _state("inference_h100e", "Inference need this month (H100e).")
    served_h100e = _state("served_h100e", "Capacity used this month (H100e).")
    unmet_h100e = _state("unmet_h100e", "Need not served this month (H100e).")
    revenue_usd = _state("revenue_usd", "Revenue this month (USD).")
    value_usd = _state("value_usd", "Value of served compute this month (USD).")

    def __init__(self, model: ComputeMarket, cfg: LabConfig, party: int) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.name = cfg.name
        self.kind = cfg.kind
        self.party = party
        self.strategy = strategy(cfg.strategy)
        self.funding = {month_index(f.month): f.usd for f in cfg.funding}
        self.values = tranche_values(cfg)

    @property
    def need_h100e(self) -> float:
        """Inference plus training need this month."""
        return self.inference_h100e * (1.0 + self.cfg.training_share)
