"""Thin Mesa agents: state plus small named decision functions (docs/model.md section 5).

- ``lab``: frontier and small labs (buyers).
- ``sellers``: infrastructure owners, hyperscalers and neoclouds.

Decisions that the model applies to every agent at once (demand curves, budgets, asks, exit
signals, investment and borrowing) are pure functions over arrays in these modules, so they can
be unit-tested without a model.
"""

from market.agents.lab import Lab
from market.agents.sellers import Hyperscaler, Neocloud, Owner, Seller

__all__ = ["Lab", "Seller", "Owner", "Hyperscaler", "Neocloud"]
