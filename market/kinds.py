"""The kinds of party: the one list that configuration, agents, metrics, report and viz read.

A kind is a role (``buyer`` or ``seller``), the name a scenario gives it (``kind = "owner"``),
the name it has in the output tables (``label``: ``frontier_lab``, ``owner``), a chart colour,
and the agent class whose functions hold its behaviour (bidding, pricing, building, financing,
the recall right; see ``market.agents``). Add a kind with ``register`` (docs/extending.md).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Role = Literal["buyer", "seller"]


@dataclass(frozen=True)
class Kind:
    """One kind of party. ``agent`` is the ``module:Class`` path of its Mesa agent class
    (imported when first used, so that this module stays free of model imports)."""

    name: str
    role: Role
    label: str
    colour: str
    agent: str

    @cached_property
    def agent_class(self) -> type:
        """The agent class whose functions decide for this kind."""
        module, _, cls = self.agent.partition(":")
        return getattr(importlib.import_module(module), cls)


KINDS: dict[str, Kind] = {}
"""Every registered kind by scenario name, in registration order."""


def register(kind: Kind) -> Kind:
    """Add a kind (its name and label must be new)."""
    if kind.role not in ("buyer", "seller"):
        raise ValueError(f"kind {kind.name!r}: role must be 'buyer' or 'seller', "
                         f"got {kind.role!r}")
    if kind.name in KINDS or kind.label in labels():
        raise ValueError(f"kind {kind.name!r} ({kind.label}) is already registered")
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a kind (for tests and notebooks that register their own)."""
    KINDS.pop(name)


def kinds(role: Role | None = None) -> tuple[Kind, ...]:
    """Registered kinds of one role (or all), in registration order."""
    return tuple(k for k in KINDS.values() if role is None or k.role == role)


def names(role: Role | None = None) -> tuple[str, ...]:
    """Scenario names of the kinds of one role (or all)."""
    return tuple(k.name for k in kinds(role))


def labels(role: Role | None = None) -> tuple[str, ...]:
    """Output-table names (the agents table's ``kind`` column) of one role (or all)."""
    return tuple(k.label for k in kinds(role))


def kind(name: str, role: Role | None = None) -> Kind:
    """Look up a kind by scenario name; an unknown one gets the nearest valid one suggested."""
    found = KINDS.get(name)
    if found is None or (role is not None and found.role != role):
        valid = names(role)
        near = difflib.get_close_matches(name, valid, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"unknown {role or 'party'} kind {name!r}{hint}; "
                         f"registered: {', '.join(valid)}")
    return found


register(Kind("frontier", "buyer", "frontier_lab", "crimson", "market.agents.lab:Lab"))
register(Kind("small", "buyer", "small_lab", "mediumpurple", "market.agents.lab:Lab"))
register(Kind("owner", "seller", "owner", "darkorange", "market.agents.sellers:Owner"))
register(Kind("hyperscaler", "seller", "hyperscaler", "steelblue",
              "market.agents.sellers:Hyperscaler"))
register(Kind("neocloud", "seller", "neocloud", "seagreen", "market.agents.sellers:Neocloud"))
