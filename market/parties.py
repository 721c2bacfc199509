"""The party table: every party of the market, buyer or seller, as one row of a struct-of-arrays.

Each column is declared once in ``COLUMNS`` with its unit. Stages select parties by role
(``buyers``, ``sellers``) and find a party's place among its role's per-kind arrays through
``row``, never by position: no code assumes that buyers come first. Mesa agents are views of
their rows (``market.agents.party.Party``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["BUYER", "COLUMNS", "SELLER", "Column", "PartyTable"]

BUYER = 0
"""``role`` of a party that buys compute (a lab)."""
SELLER = 1
"""``role`` of a party that sells compute (an owner, a hyperscaler, a neocloud)."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of the party table: its name, NumPy type, unit and meaning, and the config
    field each role fills it from (``None``: ``default`` for that role)."""

    name: str
    dtype: type
    unit: str
    doc: str
    buyer: str | None = None
    """The ``LabConfig`` field of a buyer's value."""
    seller: str | None = None
    """The ``SellerConfig`` field of a seller's value."""
    default: float = 0


def _both(name: str, dtype: type, unit: str, doc: str) -> Column:
    return Column(name, dtype, unit, doc, buyer=name, seller=name)


def _buyer(name: str, unit: str, doc: str) -> Column:
    return Column(name, np.float64, unit, doc, buyer=name)


def _seller(name: str, dtype: type, unit: str, doc: str) -> Column:
    return Column(name, dtype, unit, doc, seller=name)


COLUMNS = (
    Column("role", np.int8, "", "BUYER or SELLER"),
    _both("kind", np.str_, "", "the kind's registry name (market.kinds)"),
    Column("row", np.int64, "", "place among the parties of the same role (the order of "
           "model.labs and model.sellers and of per-role arrays such as bid curves)"),
    _both("cash_usd", np.float64, "USD", "cash now; money moves only through the model's _pay "
          "and _external"),
    Column("defaulted", np.bool_, "", "whether the party has defaulted"),
    # how a party leaves a contract when the market moves against it
    Column("exit_premium", np.float64, "share", "a buyer exits a contract priced this share "
           "above spot, a seller a lease spot (net of its exit fee) beats by this share",
           buyer="exit_premium", seller="opportunism"),
    _both("exit_patience_months", np.int64, "months", "months in a row the premium must hold"),
    # buyers (labs)
    _buyer("growth_per_month", "per month", "initial growth of demand"),
    _buyer("growth_halflife_months", "months", "months for the growth rate to halve"),
    _buyer("growth_volatility", "per month", "standard deviation of monthly demand growth"),
    _buyer("churn", "share", "share of unserved inference demand lost for good"),
    _buyer("training_share", "share", "training need as a share of inference need"),
    _buyer("usd_per_served_h100e_month", "USD per H100e-month", "revenue per served inference "
           "H100e-month"),
    _buyer("training_value_usd_per_h100e_month", "USD per H100e-month", "value of the first "
           "training H100e-month"),
    _buyer("outside_share", "share", "share of need run on compute outside this market"),
    _buyer("outside_usd_per_h100e_month", "USD per H100e-month", "cost of that outside compute"),
    _buyer("runway_floor_months", "months", "cash runway below which the lab exits its dearest "
           "contract"),
    # sellers
    _seller("own_need_h100e", np.float64, "H100e", "internal need served first from own "
            "capacity; it grows month by month"),
    _seller("own_need_growth_per_month", np.float64, "per month", "growth of internal need"),
    _seller("own_need_volatility", np.float64, "per month", "log-volatility of internal need"),
    _seller("reserve_margin", np.float64, "share", "capacity kept above internal need"),
    _seller("markup", np.float64, "share", "spot ask over cost"),
    _seller("hurdle_rate", np.float64, "share", "return over levelized cost that a build needs"),
    _seller("lead_time_months", np.int64, "months", "construction time once permitted"),
    _seller("build_site_mw", np.float64, "MW", "size of a site it starts"),
    _seller("capex_budget_usd_per_year", np.float64, "USD per year", "capex it may start in a "
            "calendar year"),
    _seller("presale_ratio", np.float64, "share", "share of capacity under term contract before a "
            "new build"),
    _seller("debt_to_backlog", np.float64, "share", "debt lenders finance against the contracted "
            "backlog's revenue"),
    _seller("default_patience_months", np.int64, "months", "months of negative cash before "
            "default"),
    _seller("payout_above_months", np.float64, "months", "cash kept, in months of opex and debt "
            "service; the rest is paid out"),
    _seller("interest_per_year", np.float64, "per year", "interest rate on a seller's debt"),
    # state that moves month by month (starting from the config where one is named)
    _buyer("inference_h100e", "H100e", "a lab's inference need this month (the scenario's level "
           "times a starting draw, then grown by settlement)"),
    Column("share_drift", np.float64, "per month", "how fast a lab's standing against its "
           "rivals grows (a mean-reverting walk: ``agents.lab.share_shift``)"),
    Column("share_log", np.float64, "", "log of a lab's standing against its rivals"),
    Column("share_growth", np.float64, "per month", "a lab's demand growth this month from "
           "winning (+) or losing (-) customers to its rivals, on top of its trend"),
    Column("served_h100e", np.float64, "H100e", "capacity a lab used this month"),
    Column("unmet_h100e", np.float64, "H100e", "a lab's need not served this month"),
    Column("revenue_usd", np.float64, "USD", "a lab's customer revenue this month (sellers' "
           "revenue is the model's seller_revenue)"),
    Column("value_usd", np.float64, "USD", "a lab's revenue plus served training at its value"),
    _seller("debt_usd", np.float64, "USD", "debt outstanding"),
    Column("debt_payment_usd", np.float64, "USD per month", "instalment of a seller's "
           "amortizing loans"),
    Column("capex_year", np.int64, "", "the year capex_this_year_usd counts (-1: none yet)",
           default=-1),
    Column("capex_this_year_usd", np.float64, "USD", "capex a seller started this year"),
    Column("negative_cash_months", np.int64, "months", "months in a row a seller's cash has "
           "been negative"),
)
"""Every column, declared once: its unit and where its values come from."""


class PartyTable:
    """Every party as a row; ``party`` ids are row numbers (the book's buyer and seller
    columns, the sites' owners). Each name of ``COLUMNS`` is an array attribute."""

    def __init__(self, roles: Sequence[int], configs: Sequence[Any]) -> None:
        n = len(roles)
        if len(configs) != n:
            raise ValueError(f"PartyTable: {n} roles and {len(configs)} configs: one config "
                             "per party")
        for col in COLUMNS:
            values = [getattr(cfg, field) if (field := col.buyer if role == BUYER
                                               else col.seller) else col.default
                      for role, cfg in zip(roles, configs, strict=True)]
            setattr(self, col.name, np.array(values, dtype=col.dtype) if n
                    else np.zeros(0, col.dtype))
        self.role[:] = roles
        self.buyers = np.flatnonzero(self.role == BUYER)
        """Party ids of the buyers, in party order."""
        self.sellers = np.flatnonzero(self.role == SELLER)
        """Party ids of the sellers, in party order."""
        self.row[self.buyers] = np.arange(self.buyers.size)
        self.row[self.sellers] = np.arange(self.sellers.size)

    def __len__(self) -> int:
        return self.role.size

    def is_buyer(self, party: np.ndarray) -> np.ndarray:
        """Whether each of ``party`` (ids) is a buyer."""
        return self.role[party] == BUYER
