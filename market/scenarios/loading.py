"""Scenario files: where they are, reading them as TOML, and ``extends`` (a file starts from
another scenario and changes only what differs: tables merge key by key, arrays and other values
replace, a key set to ``"__delete__"`` is removed)."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from market.config import near_hint, safe_name

DEFAULT = "colossus-2026"
DELETE = "__delete__"


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used; the message says where and why."""


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


def read_toml(path: Path, error: type[Exception] = ScenarioError) -> dict[str, Any]:
    """A TOML file as a dict; a file that cannot be read or parsed raises ``error`` with a
    one-line message naming it (scenario files, study files)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise error(not_utf8(path, exc)) from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


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
    raw = read_toml(path)
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
