"""The products a market trades, as a table: name, tenor, spot or term, region and (for later)
GPU generation, with one reference price index per product.

Code asks the table which products are spot or term (``spot``, ``term_ids``, ``spot_id``), never
a position. The market trades one term product per tenor of ``market.term_tenors_months``, one
per tenor of each region's ``term_tenors_months`` (filled from that region's sites only) and one
spot product (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from market.config import MarketConfig, RegionConfig

SPOT = "spot"
"""Name of the (one) spot product of the default market."""


@dataclass(frozen=True)
class Product:
    """One product: a named right to H100e for ``tenor_months`` (1 for spot)."""

    name: str
    tenor_months: int
    spot: bool
    region: str | None = None
    """Region it delivers in (``None``: anywhere)."""
    generation: str | None = None
    """GPU generation it delivers (``None``: any, in H100e)."""


def term_name(tenor_months: int) -> str:
    """Name of the term product of a tenor (``term_12m``)."""
    return f"term_{tenor_months}m"


class ProductTable:
    """Products as struct-of-arrays; ``index_usd_per_h100e_month`` is each product's reference
    price index (an exponential average of its clearing prices, ``MarketConfig.price_memory``)."""

    def __init__(self, products: Sequence[Product], index_usd_per_h100e_month: Sequence[float]):
        self.rows = tuple(products)
        self.names = [p.name for p in self.rows]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"products: names must be unique, got {self.names}")
        self.tenor_months = np.array([p.tenor_months for p in self.rows], dtype=np.int64)
        self.spot = np.array([p.spot for p in self.rows], dtype=bool)
        self.region = [p.region for p in self.rows]
        """Region each product delivers in (``None``: any)."""
        self.index_usd_per_h100e_month = np.array(index_usd_per_h100e_month, dtype=float)
        if self.index_usd_per_h100e_month.shape != (len(self.rows),):
            raise ValueError(f"products: one index per product, got "
                             f"{self.index_usd_per_h100e_month.shape} for {len(self.rows)}")
        self.term_ids = np.flatnonzero(~self.spot)
        """Ids of the term products, in table order (the columns of per-tenor arrays)."""
        spot_ids = np.flatnonzero(self.spot)
        if spot_ids.size != 1:
            raise ValueError(f"products: the market needs exactly one spot product, got "
                             f"{[self.names[i] for i in spot_ids]}")
        self.spot_id = int(spot_ids[0])
        """Id of the spot product."""

    @classmethod
    def for_market(cls, market: MarketConfig,
                   regions: Sequence[RegionConfig] = ()) -> ProductTable:
        """One term product per tenor of the market, then each region's own term products
        (``RegionConfig.term_tenors_months``), then spot; term indices start at the initial spot
        index less the term discount of their tenor."""
        from market.agents.sellers import term_discount

        rows = [Product(term_name(t), int(t), spot=False) for t in market.term_tenors_months]
        rows += [Product(f"{term_name(t)}_{r.name}", int(t), spot=False, region=r.name)
                 for r in regions for t in r.term_tenors_months]
        tenors = np.array([p.tenor_months for p in rows])
        spot = market.initial_spot_usd_per_h100e_month
        term_index = spot * (1.0 - term_discount(tenors, market.term_discount_per_year))
        return cls([*rows, Product(SPOT, 1, spot=True)], [*term_index, spot])

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def spot_index(self) -> float:
        """The spot product's price index, USD per H100e-month."""
        return float(self.index_usd_per_h100e_month[self.spot_id])

    def term_column(self, tenor_months: int) -> int:
        """Position among the term products of the one with this tenor, delivered anywhere
        (-1 if none)."""
        anywhere = np.array([self.region[p] is None for p in self.term_ids], dtype=bool)
        hits = np.flatnonzero((self.tenor_months[self.term_ids] == tenor_months) & anywhere)
        return int(hits[0]) if hits.size else -1
