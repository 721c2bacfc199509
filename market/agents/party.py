"""What every agent of the market shares: a view of its row of the party table
(``market.parties``), by its party id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from market.model import ComputeMarket


class Party(mesa.Agent):
    """A lab or a seller; ``party`` is its row of ``model.party_table`` (cash, defaulted, its
    parameters) and its id in the book's buyer and seller columns."""

    model: ComputeMarket
    party: int

    @property
    def cash_usd(self) -> float:
        """Cash now (USD), from its row."""
        return float(self.model.party_table.cash_usd[self.party])

    @property
    def defaulted(self) -> bool:
        """Whether it has defaulted (its contracts ended; a seller's sites sold or offline)."""
        return bool(self.model.party_table.defaulted[self.party])

    @defaulted.setter
    def defaulted(self, value: bool) -> None:
        self.model.party_table.defaulted[self.party] = value


def row_property(column: str, doc: str) -> property:
    """A party attribute stored in its row of the party table's ``column`` (a float)."""

    def get(self: Party) -> float:
        return float(getattr(self.model.party_table, column)[self.party])

    def set(self: Party, value: float) -> None:
        getattr(self.model.party_table, column)[self.party] = value

    return property(get, set, doc=doc)
