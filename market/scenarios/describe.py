"""Describe: every parameter of a resolved scenario with the comment that gives its source
(``# ... cal:TAG``, read through tomlkit), and a TOML writer that puts each key back with its
comment (``compute-market describe``, calibration outputs)."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Comment, Trivia

from market.scenarios.build import ARRAYS
from market.scenarios.loading import DEFAULT, _chain, _resolve
from market.scenarios.overrides import _path, _raw_with_overrides, _toml_key, split_key, toml_value

_CAL_RE = re.compile(r"cal:([a-z_][a-z0-9_]*(?:\.[a-z0-9_*]+)+)")


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


def file_comments(text: str) -> dict[str, str]:
    """Comments of a TOML text by key path: the comment at the end of a key's line (and of the
    lines of a multi-line array) plus a comment block directly above it; table headers likewise.

    The comment block that opens the file is stored under ``""``; separator comments (starting
    with ``---``) and blocks followed by a blank line belong to no key. The text is read by
    tomlkit, so a ``#`` inside a string (a multi-line one too) is never taken for a comment.
    """
    reader = _CommentReader()
    reader.read(tomlkit.parse(text).body, "")
    return reader.out


class _CommentReader:
    """Walks a tomlkit document in file order, giving each key and table header the comments
    that belong to it."""

    def __init__(self) -> None:
        self.out: dict[str, str] = {}
        self.pending: list[str] = []
        """The comment block read since the last blank line, key or header."""
        self.opening = True
        """No key or header read yet, nor a blank line after a comment."""
        self.lines = 0
        """Comment and blank lines read before the first key or header."""
        self.arrays: dict[str, int] = {}
        """Tables of each array of tables read so far."""

    def read(self, body: list[tuple[Any, Any]], prefix: str) -> None:
        for key, item in body:
            if key is None:
                self._loose(item)
                continue
            path = f"{prefix}.{key.key}" if prefix else key.key
            if isinstance(item, tomlkit.items.AoT):
                for table in item.body:
                    index = self.arrays.get(path, 0)
                    self.arrays[path] = index + 1
                    self._entry(f"{path}[{index}]", [_comment(table)])
                    self.read(table.value.body, f"{path}[{index}]")
            elif isinstance(item, tomlkit.items.Table):
                if not item.is_super_table():  # [a.b] declares b, not a
                    self._entry(path, [_comment(item)])
                self.read(item.value.body, path)
            else:
                self._entry(path, [*_array_comments(item), _comment(item)])

    def _loose(self, item: Any) -> None:
        """A comment line or blank lines between keys."""
        if isinstance(item, tomlkit.items.Comment):
            self.lines += 1
            body = _comment(item)
            if body.startswith(("---", "===")):
                self.pending = []
            else:
                self.pending.append(body)
            return
        blank = item.as_string().count("\n")
        if not blank:
            return
        self.lines += blank
        if self.opening and self.pending:
            self.out[""] = " ".join(self.pending)
        self.opening = self.opening and not self.pending
        self.pending = []

    def _entry(self, path: str, notes: list[str]) -> None:
        if self.opening and self.pending and self.lines == len(self.pending):
            self.out[""] = " ".join(self.pending)  # the file opens with it, not this key
            self.pending = []
        self.opening = False
        self.out[path] = " ".join(n for n in (*self.pending, *notes) if n)
        self.pending = []


def _comment(item: Any) -> str:
    """The text of an item's comment, without ``#``."""
    return item.trivia.comment.lstrip("#").strip()


def _array_comments(item: Any) -> list[str]:
    """The comments on the lines of a multi-line array (nested arrays too), in order."""
    if not isinstance(item, tomlkit.items.Array):
        return []
    out = []
    for group in item._value:  # tomlkit keeps each element with its comma and comment
        out += _array_comments(group.value)
        if group.comment is not None:
            out.append(_comment(group.comment))
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


def to_toml(params: Sequence[Parameter], header: Sequence[str] = (),
            origin_of: typing.Callable[[Parameter], str] | None = None,
            width: int = 44) -> str:
    """Write parameters (as returned by :func:`parameters`) back as a TOML document (tomlkit),
    each key followed by its comment; ``origin_of`` may add a note on where a value came
    from."""
    by_path = {p.path: p for p in params}
    raw = {p.path: p.value for p in params if "." not in p.path and "[" not in p.path}

    def note(path: str) -> str:
        p = by_path.get(path)
        if p is None:
            return ""
        extra = origin_of(p) if origin_of and not isinstance(p.value, dict) else ""
        return " ".join(t for t in (extra, p.comment) if t)

    def commented(item: Any, text: str, before: int = -2) -> Any:
        """``item`` with comment ``text``, aligned at ``width`` after a key of ``before``
        characters (a table header: right after it)."""
        if text:
            item.trivia.comment_ws = " " * max(width - before, 0) + "  " if before >= 0 else "  "
            item.trivia.comment = f"# {text}"
        return item

    def fill(container: Any, prefix: str, table: dict[str, Any]) -> None:
        subtables = []
        for key, value in table.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                subtables.append((key, path, value))
            elif not (not prefix and key in ARRAYS and value
                      and all(isinstance(v, dict) for v in value)):
                text = toml_value(value)
                container.add(key, commented(tomlkit.value(text), note(path),
                                             len(f"{_toml_key(key)} = {text}")))
        for key, path, value in subtables:
            n = note(path)
            own_keys = any(not isinstance(v, dict) for v in value.values())
            sub = commented(tomlkit.table(is_super_table=not (own_keys or n or not value)), n)
            fill(sub, path, value)
            container.add(key, sub)
        if not prefix:
            for key in ARRAYS:
                items = table.get(key)
                if isinstance(items, list) and items and all(isinstance(v, dict) for v in items):
                    aot = tomlkit.aot()
                    for i, item in enumerate(items):
                        element = commented(tomlkit.table(), note(f"{key}[{i}]"))
                        fill(element, f"{key}[{i}]", item)
                        aot.append(element)
                    container.add(key, aot)

    doc = tomlkit.document()
    for h in header:
        doc.add(Comment(Trivia(comment=f"# {h}" if h else "#", trail="\n")))
    fill(doc, "", raw)
    return doc.as_string()
