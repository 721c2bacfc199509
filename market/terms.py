"""Contract terms (immutable rules of one contract) and the named templates (docs/model.md 6).

``ContractTerms`` holds what a contract's parties agreed besides who, where, how much and when:
tenor, price per H100e-month, ramp discount, take-or-pay, exit notices, the owner's recall right,
and the fees attached to exits. The price of most templates is a placeholder (0.0): the market sets
it with :meth:`ContractTerms.with_price`.

The clauses are declared once, with their units, in :data:`CLAUSES` (the contract book stores one
column per clause from it), and what a contract bills in a month is written once, in
:func:`bill_usd`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from market.calendar import month_index

__all__ = [
    "BILLED_CLAUSES",
    "CLAUSES",
    "COLOSSUS_LEASE_FILED_GPUS",
    "COLOSSUS_LEASE_FILED_H100E",
    "COLOSSUS_LEASE_GPUS",
    "COLOSSUS_LEASE_H100E",
    "COLOSSUS_LEASE_MW",
    "COLOSSUS_LEASE_SIGNED",
    "COLOSSUS_LEASE_START_MONTH",
    "COLOSSUS_LEASE_USD_PER_H100E_MONTH",
    "COLOSSUS_LEASE_USD_PER_MONTH",
    "ContractTerms",
    "TEMPLATES",
    "bill_usd",
    "template",
]

NO_EXIT = -1
"""Notice days stored for a side that cannot exit (``None`` in ``ContractTerms``)."""

#: Every clause of a contract besides parties, site, quantity and dates: name -> (dtype of its
#: column in ``market.book.ContractBook``, value of an empty row, meaning with units).
CLAUSES: dict[str, tuple[type, Any, str]] = {
    "usd_per_h100e_month": (np.float64, 0.0, "price in USD per H100e-month"),
    "ramp_months": (np.int64, 0, "months from the start in which the ramp discount may apply"),
    "ramp_discount": (np.float64, 0.0, "fee discount, in [0, 1], while capacity is not all "
                      "delivered within the ramp months"),
    "take_or_pay": (np.bool_, True, "bills all delivered capacity whether or not used"),
    "minimum_use_share": (np.float64, 0.0, "share of delivered capacity a pay-as-used "
                          "contract bills at least, in [0, 1]"),
    "buyer_notice_days": (np.int64, NO_EXIT, "buyer's exit notice in days; -1 = cannot exit"),
    "seller_notice_days": (np.int64, NO_EXIT, "seller's exit notice in days; -1 = cannot exit"),
    "recall": (np.bool_, False, "seller may reclaim the capacity for its own use"),
    "recall_notice_days": (np.int64, 0, "notice of a recall in days"),
    "recall_priority": (np.int64, 0, "rank in the owner's recall order: lower goes first; "
                        "ties go by notice, then soonest scheduled end, then newest signing"),
    "recall_compensation_months": (np.float64, 0.0, "months of full fees the seller pays the "
                                   "buyer on a recall"),
    "early_exit_fee_months": (np.float64, 0.0, "months of full fees the buyer pays the seller "
                              "on its notice"),
    "seller_exit_fee_months": (np.float64, 0.0, "months of full fees the seller pays the buyer "
                               "on its notice"),
    "escalation_per_year": (np.float64, 0.0, "share of the signed price added to the monthly "
                            "fee at each anniversary of the start (a rent escalator, not "
                            "compounded), in [0, 1]"),
}


BILLED_CLAUSES: tuple[str, ...] = ("ramp_months", "ramp_discount", "take_or_pay",
                                   "minimum_use_share", "escalation_per_year")
"""The clauses :func:`bill_usd` reads; the contract book passes their columns by these names."""


def bill_usd(full_fee_usd: Any, *, month_of_contract: Any = 0, delivered_share: Any = 1.0,
             used_share: Any = 1.0, ramp_months: Any = 0, ramp_discount: Any = 0.0,
             take_or_pay: Any = True, minimum_use_share: Any = 0.0,
             escalation_per_year: Any = 0.0) -> Any:
    """USD a contract bills for one month: the one fee formula of the project (vectorized).

    ``full_fee_usd`` is contracted H100e x price, ``month_of_contract`` the month billed counted
    from the start (0 = first). Billing follows delivered capacity (``delivered_share`` of the
    contracted H100e, in [0, 1]); a take-or-pay contract bills all of it whatever is used, a
    pay-as-used one bills the ``used_share`` of it (share of the delivered capacity the buyer
    used) but at least ``minimum_use_share``; while ramping (capacity not yet all delivered,
    within the first ``ramp_months``) the fee is ``ramp_discount`` off; from each anniversary of
    the start it is ``escalation_per_year`` of the full fee higher (year ``y`` bills
    ``1 + y x escalation_per_year`` times it). The other arguments are the clauses of
    :data:`BILLED_CLAUSES`.
    """
    delivered = np.asarray(delivered_share, dtype=np.float64)
    ramping = (np.asarray(month_of_contract) < ramp_months) & (delivered < 1.0)
    billable = np.where(take_or_pay, 1.0, np.maximum(used_share, minimum_use_share))
    discount = np.where(ramping, 1.0 - np.asarray(ramp_discount, dtype=np.float64), 1.0)
    escalator = np.asarray(escalation_per_year, dtype=np.float64)
    escalation = 1.0
    if escalator.any():  # (none anywhere: the factor is 1 for every contract)
        escalation = 1.0 + escalator * (np.asarray(month_of_contract) // 12)
    return np.asarray(full_fee_usd, dtype=np.float64) * delivered * billable * discount * escalation


def _check_int(field: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"ContractTerms.{field} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"ContractTerms.{field} must be {bound}, got {value!r}")
    return int(value)


def _check_float(field: str, value: Any, low: float, high: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"ContractTerms.{field} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < low or (high is not None and number > high):
        bound = f"finite and >= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"ContractTerms.{field} must be {bound}, got {value!r}")
    return number


def _check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"ContractTerms.{field} must be True or False, got {value!r}")
    return bool(value)


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """The immutable rules of a contract; validated on construction (ValueError names the field).

    The fields are the clauses of :data:`CLAUSES` (meaning and units there) plus ``name`` and
    ``tenor_months``. Notice days of ``None`` mean that side cannot exit early. A recall lets the
    seller (an owner) take the capacity back for its own use, on ``recall_notice_days`` of
    notice, in ``recall_priority`` order, paying the buyer ``recall_compensation_months`` of full
    monthly fees. A buyer exiting on notice pays the seller ``early_exit_fee_months`` of full
    monthly fees, a seller ``seller_exit_fee_months``. Within the first ``ramp_months`` the fee is
    ``ramp_discount`` off while the capacity is not all delivered. Take-or-pay contracts bill all
    delivered capacity whether or not it is used; the others bill the used share, at least
    ``minimum_use_share``. From each anniversary of the start the fee rises by
    ``escalation_per_year`` of the signed one (:func:`bill_usd`); exit fees and recall
    compensation are months of the signed fee.
    """

    name: str
    tenor_months: int
    usd_per_h100e_month: float
    ramp_months: int = 0
    ramp_discount: float = 0.0
    take_or_pay: bool = True
    minimum_use_share: float = 0.0
    buyer_notice_days: int | None = 90
    seller_notice_days: int | None = 90
    recall: bool = False
    recall_notice_days: int = 90
    recall_priority: int = 0
    recall_compensation_months: float = 0.0
    early_exit_fee_months: float = 0.0
    seller_exit_fee_months: float = 0.0
    escalation_per_year: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ContractTerms.name must be a non-empty string, got {self.name!r}")
        clean: dict[str, Any] = {
            "tenor_months": _check_int("tenor_months", self.tenor_months, 1),
            "usd_per_h100e_month": _check_float(
                "usd_per_h100e_month", self.usd_per_h100e_month, 0.0
            ),
            "ramp_months": _check_int("ramp_months", self.ramp_months, 0, self.tenor_months),
            "ramp_discount": _check_float("ramp_discount", self.ramp_discount, 0.0, 1.0),
            "take_or_pay": _check_bool("take_or_pay", self.take_or_pay),
            "minimum_use_share": _check_float("minimum_use_share", self.minimum_use_share,
                                              0.0, 1.0),
            "recall": _check_bool("recall", self.recall),
            "recall_notice_days": _check_int("recall_notice_days", self.recall_notice_days, 0),
            "recall_priority": _check_int("recall_priority", self.recall_priority, 0),
            "recall_compensation_months": _check_float(
                "recall_compensation_months", self.recall_compensation_months, 0.0
            ),
            "early_exit_fee_months": _check_float(
                "early_exit_fee_months", self.early_exit_fee_months, 0.0
            ),
            "seller_exit_fee_months": _check_float(
                "seller_exit_fee_months", self.seller_exit_fee_months, 0.0
            ),
            "escalation_per_year": _check_float("escalation_per_year", self.escalation_per_year,
                                                0.0, 1.0),
        }
        for side in ("buyer_notice_days", "seller_notice_days"):
            value = getattr(self, side)
            clean[side] = None if value is None else _check_int(side, value, 0)
        for key, value in clean.items():  # normalise numpy scalars to Python types
            object.__setattr__(self, key, value)

    @property
    def buyer_can_exit(self) -> bool:
        """Whether the buyer may end the contract early on notice."""
        return self.buyer_notice_days is not None

    @property
    def seller_can_exit(self) -> bool:
        """Whether the seller may end the contract early on notice."""
        return self.seller_notice_days is not None

    def with_price(self, usd_per_h100e_month: float) -> ContractTerms:
        """A copy at another price per H100e-month (validated)."""
        return dataclasses.replace(self, usd_per_h100e_month=usd_per_h100e_month)

    def with_tenor(self, months: int) -> ContractTerms:
        """A copy with another tenor in months (validated; the ramp must still fit)."""
        return dataclasses.replace(self, tenor_months=months)

    def monthly_fee(self, h100e: Any, month_of_contract: Any, delivered_share: Any = 1.0,
                    used_share: Any = 1.0) -> float | npt.NDArray[np.float64]:
        """USD billed for ``h100e`` in month ``month_of_contract`` (0 = first month).

        :func:`bill_usd` with ``delivered_share`` of the capacity delivered and ``used_share`` of
        it used: the ramp discount applies while ``month_of_contract < ramp_months`` and not all
        is delivered; zero outside ``[0, tenor_months)``. Vectorized over all arguments.
        """
        k = np.asarray(month_of_contract)
        fee = bill_usd(
            np.where((k >= 0) & (k < self.tenor_months),
                     np.asarray(h100e, dtype=np.float64) * self.usd_per_h100e_month, 0.0),
            month_of_contract=k, delivered_share=delivered_share, used_share=used_share,
            **{clause: getattr(self, clause) for clause in BILLED_CLAUSES})
        return float(fee) if fee.ndim == 0 else fee

    def full_term_value(self, h100e: Any) -> float | npt.NDArray[np.float64]:
        """USD billed over the whole tenor with all capacity delivered and used."""
        years, months = divmod(self.tenor_months, 12)
        escalated_months = 6 * years * (years - 1) + months * years  # sum of whole years passed
        value = np.asarray(h100e, dtype=np.float64) * self.usd_per_h100e_month * (
            self.tenor_months + self.escalation_per_year * escalated_months)
        return float(value) if value.ndim == 0 else value


# --- The Colossus lease (docs/calibration.md, cal:deal.*) ----------------------------------
# cal:deal.capacity: more than 300 MW, over 220,000 NVIDIA GPUs (H100, H200, GB200).
COLOSSUS_LEASE_MW = 300.0
COLOSSUS_LEASE_GPUS = 230_000
# H100-equivalents behind the lease as announced (scenario colossus-2026): Colossus 1's 150k H100
# and 50k H200 (x 1.4) plus 30k GB200 (x 2.0, market price ratio, cal:px.b200) of Colossus 2
# ramping from June 2026: 150k + 70k + 60k = 280,000 H100e over 230k GPUs ("over 220,000").
# Then $1.25B/month / 280k H100e = $4,464 per H100e-month = $6.1 per H100e-hour (730 h/month),
# inside cal:deal.unit_price's $3.1 to $6.2 range. At the filed ~325k GPUs (scenario
# colossus-2026-filed: all of Colossus 2's 125k GB200) it is 470k H100e and $2,660.
COLOSSUS_LEASE_H100E = 280_000.0
COLOSSUS_LEASE_FILED_GPUS = 325_000
COLOSSUS_LEASE_FILED_H100E = 470_000.0
COLOSSUS_LEASE_USD_PER_MONTH = 1.25e9  # cal:deal.price
COLOSSUS_LEASE_USD_PER_H100E_MONTH = COLOSSUS_LEASE_USD_PER_MONTH / COLOSSUS_LEASE_H100E
COLOSSUS_LEASE_SIGNED = month_index("2026-05-06")  # cal:deal.term: announced 2026-05-06
COLOSSUS_LEASE_START_MONTH = month_index("2026-05")  # runs 2026-05 through 2029-05 (36 months)

TEMPLATES: dict[str, ContractTerms] = {
    # cal:deal.*: 36 months, 90 days' notice both sides (deal.exit), owner recall (deal.recall).
    # Scenario choices (not public): 50% off while the capacity ramps, within the first year
    # (deal.ramp: the GB200 share ramps from June 2026), and a recall on 90 days' notice
    # compensated with 1 month of fees.
    "colossus_lease": ContractTerms(
        name="colossus_lease",
        tenor_months=36,
        usd_per_h100e_month=COLOSSUS_LEASE_USD_PER_H100E_MONTH,
        ramp_months=12,
        ramp_discount=0.5,
        take_or_pay=True,
        buyer_notice_days=90,
        seller_notice_days=90,
        recall=True,
        recall_notice_days=90,
        recall_compensation_months=1.0,
    ),
    # docs/model.md section 5: reserved term, no recall, buyer exit only with a fee, seller bound.
    "hyperscaler_reservation": ContractTerms(
        name="hyperscaler_reservation",
        tenor_months=12,
        usd_per_h100e_month=0.0,
        take_or_pay=True,
        buyer_notice_days=90,
        seller_notice_days=None,
        early_exit_fee_months=3.0,
    ),
    # cal:sup.neocloud: backlog 96% to 98% take-or-pay; no early exit on either side.
    "neocloud_take_or_pay": ContractTerms(
        name="neocloud_take_or_pay",
        tenor_months=36,
        usd_per_h100e_month=0.0,
        take_or_pay=True,
        buyer_notice_days=None,
        seller_notice_days=None,
    ),
    # One month of capacity, no notice, no recall.
    "spot": ContractTerms(
        name="spot",
        tenor_months=1,
        usd_per_h100e_month=0.0,
        take_or_pay=True,
        buyer_notice_days=None,
        seller_notice_days=None,
    ),
}


def template(name: str) -> ContractTerms:
    """The registered template ``name``; ValueError names the nearest valid one otherwise."""
    try:
        return TEMPLATES[name]
    except (KeyError, TypeError):
        valid = sorted(TEMPLATES)
        nearest = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.0)
        hint = f" did you mean {nearest[0]!r}?" if nearest else ""
        raise ValueError(
            f"unknown contract template {name!r};{hint} valid templates: {', '.join(valid)}"
        ) from None
