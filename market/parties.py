"""The party table: every party of the market, buyer or seller, as one row of a struct-of-arrays.

Each column is declared once in ``COLUMNS`` with its unit. Stages select parties by role
(``buyers``, ``sellers``) and find a party's place among its role's per-kind arrays through
``row``, never by position: no code assumes that buyers come first. Mesa agents are views of
their rows (``market.agents.party.Party``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = ["BUYER", "COLUMNS", "SELLER", "Column", "PartyTable"]

BUYER = 0
"""``role`` of a party that buys compute (a lab)."""
SELLER = 1
"""``role`` of a party that sells compute (an owner, a hyperscaler, a neocloud)."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of the party table: its name, NumPy type, unit and meaning."""

    name: str
    dtype: type
    unit: str
    doc: str


COLUMNS = (
    Column("role", np.int8, "", "BUYER or SELLER"),
    Column("kind", np.str_, "", "the kind's registry name (market.kinds)"),
    Column("row", np.int64, "", "place among the parties of the same role (their per-kind "
           "arrays: the model's lab state, the sellers' parameters)"),
    Column("cash_usd", np.float64, "USD", "cash now; money moves only through the model's "
           "_pay and _external"),
    Column("defaulted", np.bool_, "", "whether the party has defaulted"),
)


class PartyTable:
    """Every party as a row; ``party`` ids are row numbers (the book's buyer and seller
    columns, the sites' owners)."""

    role: np.ndarray
    kind: np.ndarray
    row: np.ndarray
    cash_usd: np.ndarray
    defaulted: np.ndarray

    def __init__(self, roles: Sequence[int], kinds: Sequence[str],
                 cash_usd: Sequence[float]) -> None:
        n = len(roles)
        if not len(kinds) == len(cash_usd) == n:
            raise ValueError(f"PartyTable: {n} roles, {len(kinds)} kinds and {len(cash_usd)} "
                             "cash values: one of each per party")
        values = {"role": roles, "kind": kinds, "row": np.zeros(n), "cash_usd": cash_usd,
                  "defaulted": np.zeros(n)}
        for col in COLUMNS:
            setattr(self, col.name, np.asarray(values[col.name], dtype=col.dtype))
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
