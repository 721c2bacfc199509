"""Overrides: ``KEY.PATH=VALUE`` (the command line's ``--set``, a sweep's or a study's
parameter) applied to a raw scenario before it is validated with the rest; values written back
as TOML text."""

from __future__ import annotations

import datetime
import json
import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from market.config import WorldConfig, near_hint
from market.scenarios.build import NONE, TABLES, build_world, schema, valid_keys
from market.scenarios.loading import DEFAULT, ScenarioError, load_raw


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
