"""Stage 8, collection: this month's row of every party in the agents table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from market.model import ComputeMarket


def collect(model: ComputeMarket) -> None:
    """Append this month's agent table (one column array per field)."""
    m = model.month
    n = len(model.parties)
    committed_out = model.book.committed_h100e(m, by="seller", n=n)
    committed_in = model.book.committed_h100e(m, by="buyer", n=n)
    own_need, own_used = model._own_need_now, model._own_used

    t = model.party_table
    served, unmet = t.served_h100e.copy(), t.unmet_h100e.copy()  # zero for sellers
    is_lab = t.is_buyer(np.arange(n))
    model._agent_cols.append({
        "month": np.full(n, m),
        "capacity_owned_h100e": model.online_by_party.copy(),
        "contracted_h100e": np.where(is_lab, committed_in, committed_out),
        "spot_h100e": np.where(is_lab, model._spot_bought, model._spot_sold),
        "used_h100e": np.where(is_lab, served, committed_out + model._spot_sold + own_used),
        "demand_h100e": np.where(is_lab, served + unmet, own_need),
        "unmet_h100e": np.where(is_lab, unmet, own_need - own_used),
        "revenue_usd": np.where(is_lab, t.revenue_usd, model.seller_revenue),
        "cost_usd": np.where(is_lab, model._paid, model.seller_cost),
        "value_usd": t.value_usd.copy(),
        "cash_usd": model.cash.copy(),
        "defaulted": model.defaulted.copy(),
    })

