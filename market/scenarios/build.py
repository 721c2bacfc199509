"""Validation: a raw scenario dict (``load_raw``, overrides applied) checked key by key against
the config classes and built into a ``WorldConfig``; the schema of the tables a file may hold."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import types
import typing
from collections.abc import Sequence
from typing import Any

from market.config import (
    Funding,
    LabConfig,
    MarketConfig,
    PreloadedContract,
    RegionConfig,
    SellerConfig,
    ShockConfig,
    SiteConfig,
    WorldConfig,
    near_hint,
)
from market.hardware import CostParams, generations
from market.scenarios.loading import ScenarioError
from market.terms import ContractTerms, template

INT_LIMIT = 36_500
"""Largest whole number a scenario may give (every integer key counts months or days)."""
NONE = "none"
"""Written for a value that may be absent (notice days of a side that cannot exit)."""
NAMED_TABLES: dict[str, type] = {"labs": LabConfig, "sellers": SellerConfig,
                                 "regions": RegionConfig}
ARRAYS: dict[str, type] = {"contracts": PreloadedContract, "shocks": ShockConfig}
TABLES: dict[str, type] = {"market": MarketConfig, "costs": CostParams}
HIDDEN: dict[type, frozenset[str]] = {
    LabConfig: frozenset({"name"}), SellerConfig: frozenset({"name"}),
    RegionConfig: frozenset({"name"}), SiteConfig: frozenset({"name"}),
    ContractTerms: frozenset({"name"}), MarketConfig: frozenset({"term_overrides"}),
}
"""Fields a file may not set: names come from table keys, term overrides from ``[terms.X]``."""


def schema(parts: Sequence[str]) -> type | None:
    """The config class of the table at key path ``parts`` (``[]`` is the world), or None."""
    n = len(parts)
    if n == 0:
        return WorldConfig
    head = parts[0]
    if head in NAMED_TABLES and n == 2:
        return NAMED_TABLES[head]
    if head == "sellers" and n == 4 and parts[2] == "sites":
        return SiteConfig
    if head == "labs" and n == 4 and parts[2] == "funding":
        return Funding
    if head in ARRAYS and n == 2:
        return ARRAYS[head]
    if head in TABLES and n == 1:
        return TABLES[head]
    if head == "terms" and n == 2:
        return ContractTerms
    return None


def valid_keys(cls: type) -> list[str]:
    """Keys a scenario may set in a table of class ``cls``."""
    return list(_valid_keys(cls))


@functools.cache
def _valid_keys(cls: type) -> tuple[str, ...]:
    if cls is WorldConfig:
        return (*(f.name for f in dataclasses.fields(WorldConfig)), "terms")
    hidden = HIDDEN.get(cls, frozenset())
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in hidden)


def build_world(raw: dict[str, Any], source: str = "<dict>") -> WorldConfig:
    """Validate a raw scenario dict and build the world; errors name ``source`` and the key.

    ``raw`` is not changed (only a shallow copy of its top level is consumed: nested tables are
    read, never written, so no deep copy is needed)."""
    try:
        _need_table(raw, "the scenario")
        raw = dict(raw)
        _check_keys(WorldConfig, raw, "")
        data: dict[str, Any] = {}
        for key, cls in NAMED_TABLES.items():
            tables = raw.pop(key, {})
            _need_table(tables, key)
            items = []
            for name, body in tables.items():
                where = f"{key}.{name}"
                body = dict(_table(body, where))
                _check_keys(cls, body, where)
                if key == "sellers":
                    sites = body.pop("sites", {})
                    _need_table(sites, f"{where}.sites")
                    body["sites"] = tuple(_site(n, s, f"{where}.sites.{n}")
                                          for n, s in sites.items())
                if key == "labs" and "funding" in body:
                    body["funding"] = tuple(
                        _build(Funding, _table(f, f"{where}.funding[{i}]"),
                               f"{where}.funding[{i}]")
                        for i, f in enumerate(_list(body["funding"], f"{where}.funding")))
                items.append(_build(cls, {**body, "name": name}, where, check=False))
            data[key] = tuple(items)
        terms = raw.pop("terms", {})
        _need_table(terms, "terms")
        overrides = tuple(_build_terms(name, body) for name, body in terms.items())
        market = _table(raw.pop("market", {}), "market")
        _check_keys(MarketConfig, market, "market")
        data["market"] = _build(MarketConfig, {**market, "term_overrides": overrides}, "market",
                                check=False)
        data["costs"] = _build(CostParams, _table(raw.pop("costs", {}), "costs"), "costs")
        for key, cls in ARRAYS.items():
            data[key] = tuple(
                _build(cls, _table(c, f"{key}[{i}]"), f"{key}[{i}]")
                for i, c in enumerate(_list(raw.pop(key, []), key)))
        world = _build(WorldConfig, {**raw, **data}, "", check=False)
        return world
    except (ScenarioError, ValueError, TypeError) as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def _site(name: str, body: Any, where: str) -> SiteConfig:
    _check_keys(SiteConfig, _table(body, where), where)
    return _build(SiteConfig, {**body, "name": name}, where, check=False)


def _table(value: Any, where: str) -> dict[str, Any]:
    _need_table(value, where)
    return value


def _need_table(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where} = {value!r}: must be a table")


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(f"{where} = {value!r}: must be an array of tables")
    return value


def _build_terms(name: str, body: Any) -> ContractTerms:
    where = f"terms.{name}"
    _need_table(body, where)
    try:
        base = template(name)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(ContractTerms)}
    _check_keys(ContractTerms, body, where)
    return _build(ContractTerms, {**fields, **body}, where, check=False)


def _check_keys(cls: type, body: dict[str, Any], where: str) -> None:
    valid = _valid_keys(cls)
    for key in body:
        path = f"{where}.{key}" if where else key
        if key in HIDDEN.get(cls, ()) and key == "name":
            raise ScenarioError(f"{path} = {body[key]!r}: the name is the table's key "
                                f"({where}); remove this line")
        if key not in valid:
            raise ScenarioError(f"unknown key {path!r} = {body[key]!r}{near_hint(key, valid)} "
                                f"(valid keys: {', '.join(valid)})")


_OWN_PREFIX = {Funding: "funding", PreloadedContract: "contracts", ShockConfig: "shocks",
               ContractTerms: "ContractTerms", WorldConfig: "world"}


def _relabel(msg: str, cls: type, where: str) -> str:
    """Rewrite a config class's own key prefix (``sites.X``, ``contracts``) as the full path."""
    own = f"sites.{where.rsplit('.', 1)[-1]}" if cls is SiteConfig else _OWN_PREFIX.get(cls)
    if own and msg.startswith(own + "."):
        rest = msg[len(own) + 1:]
        return f"{where}.{rest}" if where else rest
    if where and not msg.startswith(where):
        return f"{where}: {msg}"
    return msg


def _choices() -> dict[tuple[type, str], list[str]]:
    """String fields with a closed set of values, for suggestions."""
    from market import kinds
    from market.config import SHOCK_KINDS, SITE_STATUSES

    return {(ShockConfig, "kind"): list(SHOCK_KINDS), (SiteConfig, "status"): list(SITE_STATUSES),
            (LabConfig, "kind"): list(kinds.names("buyer")),
            (SellerConfig, "kind"): list(kinds.names("seller")),
            (SiteConfig, "generation"): list(generations()),
            (MarketConfig, "rule"): ["uniform", "pay_as_bid"]}


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a config class (resolving them costs ~0.5 ms: once per
    class, not once per table, keeps validation linear and fast for thousands of agents)."""
    return typing.get_type_hints(cls)


def _build(cls: type, body: dict[str, Any], where: str, check: bool = True) -> Any:
    """Construct ``cls`` from ``body`` after checking keys, value types and named choices."""
    if check:
        _check_keys(cls, body, where)
    for (owner, key), options in _choices().items():
        value = body.get(key)
        if owner is cls and isinstance(value, str) and value not in options:
            raise ScenarioError(f"{where}.{key} = {value!r}: must be one of {', '.join(options)}"
                                f"{near_hint(value, options)}")
    for key in _required(cls):
        if key not in body:
            path = f"{where}.{key}" if where else key
            raise ScenarioError(f"{path} = (missing): this key is required here")
    hints = _type_hints(cls)
    kwargs = {}
    for key, value in body.items():
        path = f"{where}.{key}" if where else key
        kwargs[key] = _coerce(value, hints[key], path)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(_relabel(str(exc), cls, where)) from None


@functools.cache
def _required(cls: type) -> tuple[str, ...]:
    """Fields of a config class that have no default (a table must set them)."""
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.default is dataclasses.MISSING
                 and f.default_factory is dataclasses.MISSING)


@functools.cache
def _shape(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """``typing.get_origin`` and ``get_args`` of a type hint, computed once per hint."""
    return typing.get_origin(hint), typing.get_args(hint)


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Check one value against its declared type; ints are accepted where floats are."""
    origin, args = _shape(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or value == NONE):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], path)
    if origin is typing.Literal:
        if value not in args:
            raise ScenarioError(f"{path} = {value!r}: must be one of "
                                f"{', '.join(map(str, args))}"
                                f"{near_hint(str(value), map(str, args))}")
        return value
    if origin is tuple:
        if isinstance(value, tuple) and all(dataclasses.is_dataclass(v) for v in value):
            return value
        if not isinstance(value, (list, tuple)):
            raise ScenarioError(f"{path} = {value!r}: must be an array")
        return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{path} = {value!r}: must be true or false")
        return value
    if hint is int:
        given = value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{path} = {value!r}: must be an integer")
        if abs(value) > INT_LIMIT:
            raise ScenarioError(f"{path} = {given!r}: out of range (whole numbers here count "
                                f"months or days: at most {INT_LIMIT:,}, a century of days)")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"{path} = {value!r}: must be a number")
        if not math.isfinite(value):
            raise ScenarioError(f"{path} = {value!r}: must be finite")
        return float(value)
    if hint is str:
        if isinstance(value, datetime.date):  # an unquoted TOML date: 2026-05-01
            return value.isoformat()[:10]
        if not isinstance(value, str):
            raise ScenarioError(f"{path} = {value!r}: must be a string")
        return value
    return value
