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

    buyers = model.party_table.buyers

    def pad(lab_values: np.ndarray) -> np.ndarray:
        out = np.zeros(n)  # a lab quantity per party, zero for sellers
        out[buyers] = lab_values
        return out

    served = pad(model.lab_state["served_h100e"])
    unmet = pad(model.lab_state["unmet_h100e"])
    is_lab = model.party_table.is_buyer(np.arange(n))
    model._agent_cols.append({
        "month": np.full(n, m),
        "capacity_owned_h100e": model.online_by_party.copy(),
        "contracted_h100e": np.where(is_lab, committed_in, committed_out),
        "spot_h100e": np.where(is_lab, model._spot_bought, model._spot_sold),
        "used_h100e": np.where(is_lab, served, committed_out + model._spot_sold + own_used),
        "demand_h100e": np.where(is_lab, served + unmet, own_need),
        "unmet_h100e": np.where(is_lab, unmet, own_need - own_used),
        "revenue_usd": np.where(is_lab, pad(model.lab_state["revenue_usd"]),
                                model.seller_revenue),
        "cost_usd": np.where(is_lab, model._paid, model.seller_cost),
        "value_usd": pad(model.lab_state["value_usd"]),
        "cash_usd": model.cash.copy(),
        "defaulted": model.defaulted.copy(),
    })

