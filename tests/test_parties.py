"""The party table (market/parties.py): roles, rows and the columns the model and agents share."""

from __future__ import annotations

import numpy as np
import pytest

from market import kinds
from market.model import ComputeMarket
from market.parties import BUYER, SELLER, PartyTable
from market.scenarios import load_scenario


def test_rows_follow_roles_not_positions():
    """Buyers and sellers may come in any order: each party's row is its place among its role."""
    roles = [SELLER, BUYER, SELLER, SELLER, BUYER]
    t = PartyTable(roles, ["owner", "frontier", "neocloud", "owner", "small"], [1.0] * 5)
    assert t.buyers.tolist() == [1, 4] and t.sellers.tolist() == [0, 2, 3]
    assert t.row.tolist() == [0, 0, 1, 2, 1]
    assert t.is_buyer(np.array([4, 0])).tolist() == [True, False]
    assert len(t) == 5 and not t.defaulted.any() and t.cash_usd.dtype == np.float64


def test_columns_of_unequal_length_are_refused():
    with pytest.raises(ValueError, match="2 roles, 1 kinds and 2 cash values"):
        PartyTable([BUYER, SELLER], ["frontier"], [1.0, 2.0])


def test_the_model_and_its_agents_read_the_table():
    """Cash and defaults live in the table: the model's arrays are its columns through a whole
    run, and each agent is a view of its row."""
    model = ComputeMarket(load_scenario("colossus-2026", ["months=24"]), rng=1)
    t = model.party_table
    for p in model.parties:
        role = kinds.kind(p.kind).role
        assert t.role[p.party] == (BUYER if role == "buyer" else SELLER)
        assert t.kind[p.party] == p.kind
        assert t.cash_usd[p.party] == p.cfg.cash_usd
        group = model.labs if role == "buyer" else model.sellers
        assert group[t.row[p.party]] is p
    model.run()
    assert model.cash is t.cash_usd and model.defaulted is t.defaulted
    assert not np.array_equal(t.cash_usd, [p.cfg.cash_usd for p in model.parties])
    seller = model.sellers[0]
    seller.defaulted = True
    assert t.defaulted[seller.party]
