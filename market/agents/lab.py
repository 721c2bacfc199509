"""Labs: buyers of compute, frontier or small (MODEL.md section 5, Lab).

A lab needs H100e to serve its customers (inference) and to train (a share of inference). Served
inference earns ``r`` per H100e-month; unserved inference is partly lost to competitors (churn),
so shortage has a lasting cost. It bids in price tranches: must-serve (today's customers, valued
at r x (1 + growth premium)), growth and training (its strategic value), opportunistic (a little
extra at half the training value), all capped by its monthly budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

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


def growth_rate(initial_per_month: float, halflife_months: float, months_elapsed: float) -> float:
    """Monthly demand growth, decaying with a half-life."""
    return initial_per_month * 0.5 ** (months_elapsed / halflife_months)


def next_inference_need(need_h100e: float, unmet_inference_h100e: float, growth: float,
                        churn: float) -> float:
    """Next month's inference need: churned customers leave, the rest grows."""
    return max(0.0, need_h100e - churn * unmet_inference_h100e) * (1.0 + growth)


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
    alive = np.array([not lab.defaulted for lab in labs])
    keep = (qty > 0) & alive[:, None]
    pos = np.broadcast_to(np.arange(len(labs))[:, None], qty.shape)
    return pos[keep], qty[keep], limits[keep]


def exit_signal(price: np.ndarray, spot_index: float, exit_premium: np.ndarray) -> np.ndarray:
    """True where a contract's price exceeds the spot index by more than the exit premium."""
    return price > spot_index * (1.0 + exit_premium)


class Lab(mesa.Agent):
    """A frontier or small lab. Its money and demand state is read by the model each step."""

    model: ComputeMarket

    def __init__(self, model: ComputeMarket, cfg: LabConfig, party: int) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.name = cfg.name
        self.kind = cfg.kind
        self.party = party
        self.strategy = strategy(cfg.strategy)
        self.inference_h100e = cfg.inference_h100e
        self.funding = {month_index(f.month): f.usd for f in cfg.funding}
        self.values = tranche_values(cfg)
        self.served_h100e = 0.0
        self.unmet_h100e = 0.0
        self.revenue_usd = 0.0
        self.value_usd = 0.0
        self.defaulted = False

    @property
    def need_h100e(self) -> float:
        """Inference plus training need this month."""
        return self.inference_h100e * (1.0 + self.cfg.training_share)

    def growth(self) -> float:
        """This month's demand growth rate."""
        return growth_rate(self.cfg.growth_per_month, self.cfg.growth_halflife_months,
                           self.model.months_elapsed)

    def forecast_need_h100e(self, months_ahead: int) -> float:
        """Need ``months_ahead`` months from now if growth continues and nothing churns."""
        return self.need_h100e * (1.0 + self.growth()) ** months_ahead

    def budget_usd_per_month(self) -> float:
        """What it can spend per month: revenue plus cash and the next year's committed funding
        spread over ``BUDGET_RUNWAY_MONTHS``."""
        month = self.model.month
        funding = sum(v for m, v in self.funding.items() if month < m <= month + 12)
        return max(0.0, self.revenue_usd
                   + (self.model.cash[self.party] + funding) / BUDGET_RUNWAY_MONTHS)

    def settle(self, held_h100e: float) -> float:
        """Serve customers with what it holds this month; return revenue earned (USD)."""
        need = self.need_h100e
        self.served_h100e = min(held_h100e, need)
        self.unmet_h100e = need - self.served_h100e
        inference_served = min(held_h100e, self.inference_h100e)
        training_served = min(max(held_h100e - self.inference_h100e, 0.0),
                              need - self.inference_h100e)
        self.revenue_usd = inference_served * self.cfg.usd_per_served_h100e_month
        self.value_usd = (self.revenue_usd
                          + training_served * self.cfg.training_value_usd_per_h100e_month)
        return self.revenue_usd

    def grow(self) -> None:
        """Update demand for next month: churn on unserved inference, then growth."""
        unmet_inference = max(self.inference_h100e - self.served_h100e, 0.0)
        self.inference_h100e = next_inference_need(self.inference_h100e, unmet_inference,
                                                   self.growth(), self.cfg.churn)
