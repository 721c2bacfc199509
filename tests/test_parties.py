"""The party table (market/parties.py): roles, rows and the columns the model and agents share."""

from __future__ import annotations

import numpy as np
import pytest

from market import kinds
from market.config import LabConfig, SellerConfig
from market.model import ComputeMarket
from market.parties import BUYER, COLUMNS, SELLER, PartyTable
from market.scenarios import load_scenario


def _world():
    return load_scenario("colossus-2026", ["months=24"])


def test_rows_follow_roles_not_positions():
    """Buyers and sellers may come in any order: each party's row is its place among its role,
    and each column takes its role's field (``exit_premium`` is a seller's ``opportunism``)."""
    world = _world()
    lab_a, lab_b = world.labs[:2]
    owner, neo = world.sellers[0], world.sellers[-1]
    t = PartyTable([SELLER, BUYER, SELLER, BUYER], [owner, lab_a, neo, lab_b])
    assert t.buyers.tolist() == [1, 3] and t.sellers.tolist() == [0, 2]
    assert t.row.tolist() == [0, 0, 1, 1]
    assert t.is_buyer(np.array([3, 0])).tolist() == [True, False]
    assert t.kind.tolist() == [owner.kind, lab_a.kind, neo.kind, lab_b.kind]
    assert t.exit_premium.tolist() == [owner.opportunism, lab_a.exit_premium, neo.opportunism,
                                       lab_b.exit_premium]
    assert t.markup.tolist() == [owner.markup, 0.0, neo.markup, 0.0]
    assert t.churn.tolist() == [0.0, lab_a.churn, 0.0, lab_b.churn]
    assert len(t) == 4 and not t.defaulted.any()


def test_every_column_is_declared_once_with_a_filled_array():
    names = [c.name for c in COLUMNS]
    assert len(names) == len(set(names))
    world = _world()
    t = PartyTable([BUYER, SELLER], [world.labs[0], world.sellers[0]])
    for c in COLUMNS:
        column = getattr(t, c.name)
        assert column.shape == (2,) and column.dtype.type is np.dtype(c.dtype).type, c
        assert c.buyer is None or c.buyer in LabConfig.__dataclass_fields__, c
        assert c.seller is None or c.seller in SellerConfig.__dataclass_fields__, c


def test_configs_of_another_length_are_refused():
    with pytest.raises(ValueError, match="2 roles and 1 configs"):
        PartyTable([BUYER, SELLER], _world().labs[:1])


def test_the_model_and_its_agents_read_the_table():
    """Cash and defaults live in the table: the model's arrays are its columns through a whole
    run, and each agent is a view of its row."""
    model = ComputeMarket(_world(), rng=1)
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
    assert [p.cash_usd for p in model.parties] == t.cash_usd.tolist()
    seller = model.sellers[0]
    seller.defaulted = True
    assert t.defaulted[seller.party]
