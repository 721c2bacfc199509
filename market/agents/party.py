"""What every agent of the market shares: a view of its row of the party table
(``market.parties``), by its party id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from market.model import ComputeMarket


def row_value(column: str, doc: str, kind: type = float) -> property:
    """An agent attribute that is its row's value in the party table column ``column``."""

    def get(self: Party):
        return kind(getattr(self.model.party_table, column)[self.party])

    def set(self: Party, value) -> None:
        getattr(self.model.party_table, column)[self.party] = value

    return property(get, set, doc=doc)


class Party(mesa.Agent):
    """A lab or a seller; ``party`` is its row of ``model.party_table`` (cash, defaulted, its
    parameters) and its id in the book's buyer and seller columns."""

    model: ComputeMarket
    party: int

    @property
    def cash_usd(self) -> float:
        """Cash now (USD), from its row."""
        return float(self.model.party_table.cash_usd[self.party])

    defaulted = row_value("defaulted", "Whether it has defaulted (its contracts ended; a "
                          "seller's sites sold or offline).", bool)
