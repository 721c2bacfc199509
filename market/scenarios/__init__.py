"""Scenario files: TOML in this folder (or any path) parsed strictly into a ``WorldConfig``.

Layout of a file (see ``colossus-2026.toml``): top-level world fields, then named tables
``[regions.NAME]``, ``[labs.NAME]``, ``[sellers.NAME]`` with ``[sellers.NAME.sites.SITE]``,
``[terms.TEMPLATE]`` (overrides of a contract template), ``[market]``, ``[costs]``, and arrays of
tables ``[[contracts]]`` and ``[[shocks]]``. ``extends = "colossus-2026"`` starts from another
scenario and changes only what differs (tables merge key by key; a key set to ``"__delete__"``
removes it). Any key can be overridden with ``KEY.PATH=VALUE`` (the command line's ``--set``).

Every error names the file, the key path and the value, and suggests the nearest valid key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import tomllib
import types
import typing
from importlib import resources
from pathlib import Path
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
)
from market.hardware import CostParams
from market.terms import ContractTerms, template

DELETE = "__delete__"
NAMED_TABLES = {"labs": LabConfig, "sellers": SellerConfig, "regions": RegionConfig}


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used; the message says where and why."""


def scenario_dir() -> Path:
    """The folder of the scenarios shipped with the package."""
    return Path(str(resources.files("market").joinpath("scenarios")))


def available() -> dict[str, str]:
    """Shipped scenario names and their one-line descriptions."""
    out = {}
    for path in sorted(scenario_dir().glob("*.toml")):
        raw = _read(path)
        out[path.stem] = str(raw.get("description", "")).strip().splitlines()[0:1][0] if raw.get(
            "description") else ""
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise ScenarioError(f"scenario file {str(path)!r} does not exist")
        return path
    shipped = scenario_dir() / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    names = [p.stem for p in scenario_dir().glob("*.toml")]
    near = difflib.get_close_matches(str(name_or_path), names, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ScenarioError(f"unknown scenario {str(name_or_path)!r}{hint}; shipped: "
                        f"{', '.join(sorted(names))}, or pass a path to a .toml file")


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` into a copy of ``base`` (tables merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if value == DELETE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_raw(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> tuple[dict, Path]:
    """The scenario as a plain dict with ``extends`` resolved, and the file it came from."""
    path = _resolve(name_or_path)
    if path.resolve() in _seen:
        raise ScenarioError(f"{path}: 'extends' forms a cycle")
    raw = _read(path)
    parent = raw.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ScenarioError(f"{path}: extends = {parent!r}: must be a scenario name or path")
        target = (path.parent / parent) if parent.endswith(".toml") else parent
        base, _ = load_raw(target, (*_seen, path.resolve()))
        raw = merge(base, raw)
    return raw, path


def parse_value(text: str) -> Any:
    """Parse an override's value as TOML (numbers, booleans, arrays, quoted strings) or keep it
    as a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(raw: dict[str, Any], assignment: str, source: str = "--set") -> None:
    """Apply ``a.b.c=VALUE`` to the raw scenario dict (validated later with the rest)."""
    if "=" not in assignment:
        raise ScenarioError(f"{source} {assignment!r}: expected KEY.PATH=VALUE")
    key, text = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        if part not in node or not isinstance(node[part], dict):
            where = ".".join(parts[: i + 1])
            options = [k for k, v in node.items() if isinstance(v, dict)]
            near = difflib.get_close_matches(part, options, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ScenarioError(f"{source} {key}: no table {where!r}{hint}; "
                                f"tables here: {', '.join(options) or 'none'}")
        node = node[part]
    node[parts[-1]] = parse_value(text.strip())


def load_scenario(name_or_path: str | Path = "colossus-2026",
                  overrides: typing.Iterable[str] = ()) -> WorldConfig:
    """Load, merge, override and validate a scenario into a ``WorldConfig``."""
    raw, path = load_raw(name_or_path)
    for assignment in overrides:
        apply_override(raw, assignment)
    return build_world(raw, str(path))


def build_world(raw: dict[str, Any], source: str = "<dict>") -> WorldConfig:
    """Validate a raw scenario dict and build the world; errors name ``source`` and the key."""
    raw = copy.deepcopy(raw)
    try:
        data: dict[str, Any] = {}
        for key, cls in NAMED_TABLES.items():
            tables = raw.pop(key, {})
            _need_table(tables, key)
            items = []
            for name, body in tables.items():
                _need_table(body, f"{key}.{name}")
                body = dict(body)
                if key == "sellers":
                    sites = body.pop("sites", {})
                    _need_table(sites, f"{key}.{name}.sites")
                    body["sites"] = tuple(
                        _build(SiteConfig, {**_table(s, f"{key}.{name}.sites.{n}"), "name": n},
                               f"{key}.{name}.sites.{n}") for n, s in sites.items())
                if key == "labs" and "funding" in body:
                    body["funding"] = tuple(
                        _build(Funding, _table(f, f"{key}.{name}.funding[{i}]"),
                               f"{key}.{name}.funding[{i}]")
                        for i, f in enumerate(_list(body["funding"], f"{key}.{name}.funding")))
                items.append(_build(cls, {**body, "name": name}, f"{key}.{name}"))
            data[key] = tuple(items)
        terms = raw.pop("terms", {})
        _need_table(terms, "terms")
        overrides = tuple(_build_terms(name, body) for name, body in terms.items())
        market = _table(raw.pop("market", {}), "market")
        data["market"] = _build(MarketConfig, {**market, "term_overrides": overrides}, "market")
        data["costs"] = _build(CostParams, _table(raw.pop("costs", {}), "costs"), "costs")
        data["contracts"] = tuple(
            _build(PreloadedContract, _table(c, f"contracts[{i}]"), f"contracts[{i}]")
            for i, c in enumerate(_list(raw.pop("contracts", []), "contracts")))
        data["shocks"] = tuple(
            _build(ShockConfig, _table(s, f"shocks[{i}]"), f"shocks[{i}]")
            for i, s in enumerate(_list(raw.pop("shocks", []), "shocks")))
        return _build(WorldConfig, {**raw, **data}, "")
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    except ValueError as exc:
        raise ScenarioError(f"{source}: {exc}") from None


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
    return _build(ContractTerms, {**fields, **body}, where)


def _check_keys(cls: type, body: dict[str, Any], where: str) -> None:
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in body:
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            path = f"{where}.{key}" if where else key
            raise ScenarioError(f"unknown key {path!r} = {body[key]!r}{hint} "
                                f"(valid keys: {', '.join(valid)})")


def _build(cls: type, body: dict[str, Any], where: str) -> Any:
    """Construct ``cls`` from ``body`` after checking keys and value types."""
    _check_keys(cls, body, where)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in body.items():
        path = f"{where}.{key}" if where else key
        kwargs[key] = _coerce(value, hints[key], path)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        msg = str(exc)
        raise ScenarioError(msg if msg.startswith(where.split(".")[0] or "~") else
                            f"{where}: {msg}" if where else msg) from None


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Check one value against its declared type; ints are accepted where floats are."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], path)
    if origin is typing.Literal:
        if value not in args:
            raise ScenarioError(f"{path} = {value!r}: must be one of {', '.join(map(str, args))}")
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
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{path} = {value!r}: must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"{path} = {value!r}: must be a number")
        if not math.isfinite(value):
            raise ScenarioError(f"{path} = {value!r}: must be finite")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{path} = {value!r}: must be a string")
        return value
    return value
