"""What every agent of the market shares: a party index into the model's per-party arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from market.model import ComputeMarket


class Party(mesa.Agent):
    """A lab or a seller; ``party`` indexes ``model.cash``, ``model.defaulted`` and the book's
    buyer and seller columns."""

    model: ComputeMarket
    party: int

    @property
    def defaulted(self) -> bool:
        """Whether it has defaulted (its contracts ended; a seller's sites sold or offline)."""
        return bool(self.model.defaulted[self.party])

    @defaulted.setter
    def defaulted(self, value: bool) -> None:
        self.model.defaulted[self.party] = value
