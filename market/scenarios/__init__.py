"""Scenario files: TOML in this folder (or any path) parsed strictly into a ``WorldConfig``.

Layout of a file (see ``colossus-2026.toml``): top-level world fields, then named tables
``[regions.NAME]``, ``[labs.NAME]``, ``[sellers.NAME]`` with ``[sellers.NAME.sites.SITE]``,
``[terms.TEMPLATE]`` (overrides of a contract template), ``[market]``, ``[costs]``, and arrays of
tables ``[[contracts]]`` and ``[[shocks]]``. ``extends = "colossus-2026"`` starts from another
scenario and changes only what differs (tables merge key by key, arrays and other values replace;
a key set to ``"__delete__"`` removes it). A file that does not set ``name`` is named after itself.
Any key can be overridden with ``KEY.PATH=VALUE`` (the command line's ``--set``; array elements as
``contracts[0].h100e``). A key that may be absent (e.g. ``seller_notice_days`` of a side that
cannot exit) takes the string ``"none"``.

Validation is strict and happens before anything runs: an unknown key, a wrong type, an
impossible value (negative MW, a contract larger than its site), an unknown name (template,
generation, region, lab, seller, site, strategy) or dates out of order (a site online before its
GPU generation exists, an "online" site that comes online after the start, funding out of date
order, a contract or shock before the start) raise ``ScenarioError``. Every message names the
file, the key path and the value, and suggests the nearest valid key or name.

Comments are data too: the ``# ... cal:TAG`` comment next to a key is its source, and
:func:`parameters` returns every parameter with its value, its comment and the file that set it
(following ``extends``).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Sequence
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
    near_hint,
    safe_name,
)
from market.hardware import CostParams, generations
from market.terms import ContractTerms, template

__all__ = [
    "DEFAULT",
    "Parameter",
    "ScenarioError",
    "apply_override",
    "available",
    "build_world",
    "cal_tags",
    "file_comments",
    "load_raw",
    "load_scenario",
    "parameters",
    "scenario_dir",
    "set_value",
    "to_toml",
]

DEFAULT = "colossus-2026"
DELETE = "__delete__"
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

_CAL_RE = re.compile(r"cal:([a-z_][a-z0-9_]*(?:\.[a-z0-9_*]+)+)")


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used; the message says where and why."""


# ----------------------------------------------------------------------------- files
def scenario_dir() -> Path:
    """The folder of the scenarios shipped with the package."""
    return Path(str(resources.files("market").joinpath("scenarios")))


def available() -> dict[str, str]:
    """Shipped scenario names and their one-line descriptions (a broken file says so)."""
    out = {}
    for path in sorted(scenario_dir().glob("*.toml"), key=lambda p: p.stem):
        try:
            raw, _ = load_raw(path)
        except ScenarioError as exc:
            out[path.stem] = f"(invalid: {exc})"
            continue
        lines = str(raw.get("description", "")).strip().splitlines()
        out[path.stem] = lines[0] if lines else ""
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(not_utf8(path, exc)) from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None


def not_utf8(path: str | Path, exc: UnicodeDecodeError) -> str:
    """The one-line message for a file that is not UTF-8 text (TOML files must be)."""
    bad = exc.object[exc.start:exc.end].hex(" ")
    line = exc.object[:exc.start].count(b"\n") + 1
    return (f"{path}: not UTF-8 text: byte(s) {bad} on line {line} (position {exc.start}) "
            "cannot be read; save the file as UTF-8")


def _resolve(name_or_path: str | Path) -> Path:
    try:
        return _find(name_or_path)
    except OSError as exc:  # e.g. a name too long for the file system
        raise ScenarioError(f"scenario {str(name_or_path)[:80]!r}: cannot be read: "
                            f"{exc.strerror or exc}") from None


def _find(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise ScenarioError(f"scenario file {str(path)!r} does not exist")
        if path.is_dir():
            raise ScenarioError(f"{str(path)!r} is a folder, not a scenario file")
        return path
    shipped = scenario_dir() / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    names = sorted(p.stem for p in scenario_dir().glob("*.toml"))
    hint = near_hint(str(name_or_path), names)
    raise ScenarioError(f"unknown scenario {str(name_or_path)!r}{hint}"
                        f"; shipped: {', '.join(names)}, or pass a path to a .toml file")


def _chain(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict]]:
    """The files of a scenario from the root of its ``extends`` chain to itself, each with its
    own (unmerged) contents."""
    path = _resolve(name_or_path)
    if path.resolve() in _seen:
        raise ScenarioError(f"{path}: 'extends' forms a cycle")
    raw = _read(path)
    parent = raw.get("extends")
    if parent is None:
        return [(path, raw)]
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: extends = {parent!r}: must be a scenario name or path")
    target: str | Path = (path.parent / parent) if parent.endswith(".toml") else parent
    try:
        base = _chain(target, (*_seen, path.resolve()))
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: extends = {parent!r}: {exc}") from None
    return [*base, (path, raw)]


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


def load_raw(name_or_path: str | Path) -> tuple[dict[str, Any], Path]:
    """The scenario as a plain dict with ``extends`` resolved, and the file it came from.

    ``name`` is the file's own ``name`` or, when it sets none, its file name (a variant does not
    inherit its parent's name).
    """
    chain = _chain(name_or_path)
    raw: dict[str, Any] = {}
    for _, own in chain:
        raw = merge(raw, {k: v for k, v in own.items() if k != "extends"})
    path, own = chain[-1]
    raw["name"] = own.get("name", safe_name(path.stem))
    return raw, path


# ----------------------------------------------------------------------------- overrides
def parse_value(text: str) -> Any:
    """Parse an override's value as TOML (numbers, booleans, arrays, quoted strings) or keep it
    as a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def split_key(key: str) -> list[str]:
    """``contracts[0].h100e`` -> ``["contracts", "0", "h100e"]``."""
    parts = []
    for part in key.strip().split("."):
        m = re.fullmatch(r"([^\[\]]*)((?:\[\d+\])*)", part)
        if m is None:
            raise ScenarioError(f"cannot read key {key!r}: expected names joined by dots")
        if m.group(1):
            parts.append(m.group(1))
        parts += re.findall(r"\[(\d+)\]", m.group(2))
    if not parts or any(not p for p in parts):
        raise ScenarioError(f"cannot read key {key!r}: expected names joined by dots")
    return parts


def _path(parts: Sequence[str]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


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


def apply_override(raw: dict[str, Any], assignment: str, source: str = "--set") -> None:
    """Apply ``a.b.c=VALUE`` to the raw scenario dict; the key must exist or be a valid key of
    its table (the value is validated later with the rest of the scenario)."""
    if "=" not in assignment:
        raise ScenarioError(f"{source} {assignment!r}: expected KEY.PATH=VALUE")
    key, text = assignment.split("=", 1)
    try:
        parts = split_key(key)
    except ScenarioError as exc:
        raise ScenarioError(f"{source} {assignment!r}: {exc}") from None
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        where = _path(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"{source} {key}: no element {where!r}; "
                                    f"{_path(parts[:i])} has {len(node)} element(s)")
            node = node[int(part)]
        elif isinstance(node, dict) and isinstance(node.get(part), (dict, list)):
            node = node[part]
        elif isinstance(node, dict) and part not in node and _creatable(parts[: i + 1], source,
                                                                        key):
            node = node.setdefault(part, {})
        else:
            options = [k for k, v in node.items() if isinstance(v, (dict, list))] if isinstance(
                node, dict) else []
            group = {"labs": "lab", "sellers": "seller", "regions": "region",
                     "sites": "site", "terms": "template override"}.get(parts[i - 1] if i else "")
            what = f"no {group} {part!r} in {_path(parts[:i])}" if group else f"no table {where!r}"
            extra = "; new agents, sites or regions need a scenario file" if group else ""
            raise ScenarioError(f"{source} {key}: {what}{near_hint(part, options)}; "
                                f"here: {', '.join(options) or 'none'}{extra}")
        if not isinstance(node, (dict, list)):
            raise ScenarioError(f"{source} {key}: {where!r} is not a table")
    last = parts[-1]
    if isinstance(node, list):
        raise ScenarioError(f"{source} {key}: set a key of an element, e.g. "
                            f"{_path(parts)}.KEY=VALUE, or the whole array with "
                            f"{_path(parts[:-1])}=[...]")
    cls = schema(parts[:-1])
    if cls is not None and last not in node:
        valid = valid_keys(cls)
        if last not in valid:
            raise ScenarioError(f"{source} {key}: unknown key {_path(parts)!r}"
                                f"{near_hint(last, valid)}; valid keys: {', '.join(valid)}")
    if isinstance(node.get(last), dict):
        raise ScenarioError(f"{source} {key}: {_path(parts)!r} is a table; set one of its keys "
                            f"({', '.join(node[last])})")
    node[last] = parse_value(text.strip())


def set_value(raw: dict[str, Any], path: str, value: Any, source: str = "parameter") -> None:
    """Set ``path`` in a raw scenario dict to a Python value (a sweep's parameter, a study's
    ``set``) through ``apply_override``.

    ``terms.TEMPLATE.KEY`` may name a template the scenario does not override yet: its table is
    created (``build_world`` starts it from the named template and rejects unknown names).
    """
    if not _is_scalar_or_list(value):
        raise ScenarioError(f"{source} {path}: cannot write {value!r} as a scenario value")
    parts = path.split(".")
    if len(parts) >= 3 and parts[0] == "terms":
        terms = raw.setdefault("terms", {})
        if isinstance(terms, dict):
            terms.setdefault(parts[1], {})
    apply_override(raw, f"{path}={toml_value(value)}", source=source)


def _is_scalar_or_list(value: Any) -> bool:
    """A value a parameter may take: a bool, int, float or string, or a list of them."""
    if isinstance(value, (list, tuple)):
        return all(_is_scalar_or_list(v) for v in value)
    return isinstance(value, (bool, int, float, str))


def _creatable(parts: Sequence[str], source: str, key: str) -> bool:
    """Tables that ``--set`` may create: ``market``, ``costs``, ``terms`` and ``terms.X`` for a
    registered template X (agents, sites and regions need a scenario file)."""
    from market.terms import TEMPLATES

    if len(parts) == 1:
        return parts[0] in (*TABLES, "terms")
    if len(parts) == 2 and parts[0] == "terms":
        if parts[1] not in TEMPLATES:
            raise ScenarioError(f"{source} {key}: no contract template {parts[1]!r}"
                                f"{near_hint(parts[1], TEMPLATES)} (templates: "
                                f"{', '.join(TEMPLATES)})")
        return True
    return False


def override_list(overrides: Iterable[str]) -> list[str]:
    """The overrides as a list of ``KEY=VALUE`` strings; a single string (a common slip:
    ``load_scenario(name, "months=12")``) or a non-string item is refused."""
    if isinstance(overrides, (str, bytes)):
        raise ScenarioError(f"overrides = {overrides!r}: must be a list of 'KEY=VALUE' strings, "
                            f"e.g. [{overrides!r}], not a single string")
    out = list(overrides)
    for i, item in enumerate(out):
        if not isinstance(item, str):
            raise ScenarioError(f"overrides[{i}] = {item!r}: must be a 'KEY=VALUE' string")
    return out


def _raw_with_overrides(name_or_path: str | Path, overrides: Iterable[str]
                        ) -> tuple[dict[str, Any], Path, list[str]]:
    """The raw scenario with ``KEY=VALUE`` overrides applied; errors name the file."""
    raw, path = load_raw(name_or_path)
    overrides = override_list(overrides)
    for assignment in overrides:
        try:
            apply_override(raw, assignment)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: {exc}") from None
    return raw, path, overrides


def resolve(name_or_path: str | Path = DEFAULT, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """The scenario as one plain dict, ``extends`` resolved and overrides applied (what a run
    records of what it ran; ``load_scenario`` validates and builds it)."""
    return _raw_with_overrides(name_or_path, overrides)[0]


def load_scenario(name_or_path: str | Path = DEFAULT,
                  overrides: Iterable[str] = ()) -> WorldConfig:
    """Load, merge, override and validate a scenario into a ``WorldConfig``."""
    raw, path, overrides = _raw_with_overrides(name_or_path, overrides)
    try:
        return build_world(raw, str(path))
    except ScenarioError as exc:
        msg = str(exc)
        for assignment in overrides:
            key = assignment.split("=", 1)[0].strip()
            try:
                key = _path(split_key(key))
            except ScenarioError:
                continue
            if re.search(rf"(?<![\w.\[]){re.escape(key)}(?!\w)", msg):
                msg += f" (set by --set {assignment})"
                break
        raise ScenarioError(msg) from None


# ----------------------------------------------------------------------------- validation
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


# ----------------------------------------------------------------------------- comments
@dataclasses.dataclass(frozen=True)
class Parameter:
    """One key of a resolved scenario: its value, the comment next to it, and who set it."""

    path: str
    """Key path, e.g. ``labs.frontier_a.growth_per_month`` or ``contracts[0].h100e``; a table's
    own entry (its header comment) has a dict value."""
    value: Any
    comment: str
    """The comment on (or directly above) the key in the file that set it; "" when none."""
    origin: str
    """The file that set the value (a path), or ``--set`` for a command-line override."""

    @property
    def tags(self) -> list[str]:
        """The ``cal:`` tags cited in the comment."""
        return cal_tags(self.comment)


def cal_tags(text: str) -> list[str]:
    """The docs/calibration.md tags cited as ``cal:TAG`` in a text, in order, without duplicates."""
    return list(dict.fromkeys(m.rstrip(".") for m in _CAL_RE.findall(text)))


def _split_comment(line: str) -> tuple[str, str]:
    """Split a TOML line into code and comment, ignoring ``#`` inside strings."""
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i].rstrip(), line[i + 1:].strip()
        i += 1
    return line.rstrip(), ""


def _key_parts(key: str) -> list[str]:
    parts, buf, quote = [], "", ""
    for ch in key.strip():
        if quote:
            if ch == quote:
                quote = ""
            else:
                buf += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(buf.strip())
            buf = ""
        else:
            buf += ch
    parts.append(buf.strip())
    return parts


def _depth(code: str) -> int:
    depth, quote = 0, ""
    for ch in code:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


def file_comments(text: str) -> dict[str, str]:
    """Comments of a TOML text by key path: the comment at the end of a key's line (and of the
    lines of a multi-line value) plus a comment block directly above it; table headers likewise.

    The comment block that opens the file is stored under ``""``; separator comments (starting
    with ``---``) and blocks followed by a blank line belong to no key.
    """
    out: dict[str, str] = {}
    table: list[str] = []
    counts: dict[str, int] = {}
    pending: list[str] = []
    lines = text.splitlines()
    i = 0
    opening = True
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped:
            if opening and pending:
                out[""] = " ".join(pending)
            opening = opening and not pending
            pending = []
            i += 1
            continue
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            if body.startswith("---") or body.startswith("==="):
                pending = []
            else:
                pending.append(body)
            i += 1
            continue
        if opening and pending and i == len(pending):
            out[""] = " ".join(pending)
            pending = []
        opening = False
        code, comment = _split_comment(lines[i])
        notes = [*pending, comment]
        if code.startswith("[["):
            name = ".".join(_key_parts(code.strip()[2:-2]))
            index = counts.get(name, 0)
            counts[name] = index + 1
            table = [f"{name}[{index}]"]
            out[table[0]] = " ".join(n for n in notes if n)
        elif code.startswith("["):
            table = [".".join(_key_parts(code.strip()[1:-1]))]
            out[table[0]] = " ".join(n for n in notes if n)
        elif "=" in code:
            key, _, value = code.partition("=")
            depth = _depth(value)
            triple = value.count('"""') % 2 == 1 or value.count("'''") % 2 == 1
            while (depth > 0 or triple) and i + 1 < len(lines):
                i += 1
                more, more_comment = _split_comment(lines[i])
                if triple:
                    triple = (more.count('"""') + more.count("'''")) % 2 == 0
                    continue
                depth += _depth(more)
                notes.append(more_comment)
            path = ".".join([*table, ".".join(_key_parts(key))])
            out[path] = " ".join(n for n in notes if n)
        pending = []
        i += 1
    return out


def _flatten(value: Any, prefix: str, out: dict[str, Any], top: bool = False) -> None:
    if isinstance(value, dict):
        if prefix:
            out[prefix] = value
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else k, out, top=not prefix)
    elif top and prefix in ARRAYS and isinstance(value, list) and value and all(
            isinstance(v, dict) for v in value):
        out[prefix] = value
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value


def parameters(name_or_path: str | Path = DEFAULT,
               overrides: Iterable[str] = ()) -> list[Parameter]:
    """Every key of a scenario (``extends`` resolved, overrides applied), in file order, with the
    comment next to it in the file that set it (so inherited keys keep their parent's source).

    Tables appear as entries of their own (value: the table) carrying their header comment.
    """
    chain = _chain(name_or_path)
    raw, path, overrides = _raw_with_overrides(name_or_path, overrides)
    owner: dict[str, tuple[str, str]] = {}
    for file, own in chain:
        flat: dict[str, Any] = {}
        _flatten({k: v for k, v in own.items() if k != "extends"}, "", flat)
        comments = file_comments(file.read_text(encoding="utf-8"))
        for key in ARRAYS:  # an array of tables replaces its parent's whole array
            if key in own:
                owner = {k: v for k, v in owner.items() if not k.startswith(f"{key}[")}
        for key in flat:
            owner[key] = (comments.get(key, ""), str(file))
    for assignment in overrides:
        key = _path(split_key(assignment.split("=", 1)[0]))
        owner[key] = ("", "--set")
    flat = {}
    _flatten(raw, "", flat)
    return [Parameter(k, v, *owner.get(k, ("", str(path)))) for k, v in flat.items()]


def header_comment(name_or_path: str | Path) -> str:
    """The comment block that opens a scenario file ("" if none)."""
    path = _resolve(name_or_path)
    return file_comments(path.read_text(encoding="utf-8")).get("", "")


# ----------------------------------------------------------------------------- writing TOML
def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """A value as TOML text (readable numbers: ``1_200_000``, ``15_000_000_000.0``)."""
    if value is None:
        return json.dumps(NONE)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and 1e4 <= abs(value) < 1e18:
            return f"{int(value):_}.0"
        return repr(value) if math.isfinite(value) else ("nan" if value != value else
                                                         ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(params: Sequence[Parameter], header: Sequence[str] = (),
            origin_of: typing.Callable[[Parameter], str] | None = None,
            width: int = 44) -> str:
    """Write parameters (as returned by :func:`parameters`) back as a TOML document, each key
    followed by its comment; ``origin_of`` may add a note on where a value came from."""
    lines = [f"# {h}" if h else "#" for h in header]
    by_path = {p.path: p for p in params}
    raw: dict[str, Any] = {}
    for p in params:
        if "." not in p.path and "[" not in p.path:
            raw[p.path] = p.value

    def note(p: Parameter | None) -> str:
        if p is None:
            return ""
        extra = origin_of(p) if origin_of and not isinstance(p.value, dict) else ""
        return " ".join(t for t in (extra, p.comment) if t)

    def emit_table(prefix: str, table: dict[str, Any], header_line: str | None) -> None:
        n = note(by_path.get(prefix))
        own_keys = any(not isinstance(v, dict) for v in table.values())
        if header_line is not None and (own_keys or n or not table):
            if lines:
                lines.append("")
            lines.append(f"{header_line}{'  # ' + n if n else ''}")
        subtables = []
        for key, value in table.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                subtables.append((key, value))
                continue
            if not prefix and key in ARRAYS and value and all(isinstance(v, dict) for v in value):
                continue
            text = f"{_toml_key(key)} = {toml_value(value)}"
            n = note(by_path.get(path))
            lines.append(f"{text:<{width}}  # {n}" if n else text)
        for key, value in subtables:
            path = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            emit_table(f"{prefix}.{key}" if prefix else key, value, f"[{path}]")
        if not prefix:
            for key in ARRAYS:
                items = table.get(key)
                if isinstance(items, list) and items and all(isinstance(v, dict) for v in items):
                    for i, item in enumerate(items):
                        emit_table(f"{key}[{i}]", item, f"[[{key}]]")

    emit_table("", raw, None)
    return "\n".join(lines) + "\n"
