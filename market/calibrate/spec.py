"""The calibration file: a scenario, free parameters with ranges, targets, seeds and a budget.

    scenario = "history-2024"              # shipped name, or a path relative to this file
    overrides = ["months=36"]              # optional fixed --set assignments
    targets = "history-2024-targets.csv"   # optional CSV: date, series, value, sd [, weight]
    seeds = 3                              # seeds 0..2 per point, or a list such as [0, 5, 7]
    budget = 240                           # model runs (points x seeds)
    batch = 8                              # points proposed at a time (default 8)
    init_points = 16                       # quasi-random points before the model-based search
    search_seed = 0                        # seed of the search itself
    band_seeds = 10                        # seeds of the best point's 90% band (default 10)
    piece = "../../market/scenarios/calibrated/history-2024.toml"   # optional, see below

    [[parameters]]
    path = "labs.frontier_a.growth_per_month"   # any --set path with a numeric value
    range = [0.02, 0.12]
    init = [0.02, 0.05]                    # optional: where the initial design starts
    log = false                            # optional: search on a log scale
    integer = false                        # optional
    shared = false                         # optional: other scenarios read this value (piece)

    [[moments]]                            # optional extra moments
    name = "openai_spend_over_revenue_2025"
    kind = "ratio"                         # level | mean | growth | ratio
    series = "cost_usd:frontier_b"
    denominator = "revenue_usd:frontier_b"
    window = ["2025-01", "2025-12"]
    value = 1.22
    sd = 0.3
    weight = 1.0

    [identification]                       # optional (defaults shown)
    delta = 2.71
    max_share = 0.5
    bins = 10

``piece`` names a scenario piece (a partial scenario file) that ``write_piece`` fills with the
best values of every parameter, with the fit's loss and the calibration file's fingerprint. The
calibrated scenario ``extends`` it and sets none of the fitted keys itself; other scenarios that
``extend`` it take the ``shared`` values (those that do not depend on the period fitted) and set
the rest themselves. Refitting rewrites the piece, so every scenario that reads it follows.

Every error is a ``CalibrationError`` whose message names the file and the key.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from market.calibrate.moments import MOMENT_KINDS, Moment

TOP_KEYS = ("scenario", "overrides", "targets", "seeds", "budget", "batch", "init_points",
            "search_seed", "band_seeds", "months", "parameters", "moments", "identification",
            "name", "description", "piece")
PARAM_KEYS = ("path", "range", "init", "log", "integer", "shared")
MOMENT_KEYS = ("name", "kind", "series", "denominator", "month", "window", "value", "sd",
               "weight")
ID_KEYS = ("delta", "max_share", "bins")
CSV_COLUMNS = ("date", "series", "value", "sd")
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-\d{2})?$")


class CalibrationError(ValueError):
    """A calibration file, targets file or output folder that cannot be used."""


@dataclass(frozen=True)
class Parameter:
    path: str
    low: float
    high: float
    init_low: float
    init_high: float
    log: bool = False
    integer: bool = False
    shared: bool = False
    """Other scenarios read this value from the piece (it does not depend on the period)."""

    def to_value(self, x: float) -> float | int:
        return int(round(x)) if self.integer else float(x)


@dataclass(frozen=True)
class Identification:
    delta: float = 2.71
    """A value is not excluded while its profile loss is within ``delta`` of the minimum
    (2.71: the 90% point of a chi-square with one degree of freedom)."""
    max_share: float = 0.5
    """Identified when the values not excluded cover at most this share of the range."""
    bins: int = 10


@dataclass(frozen=True)
class Spec:
    name: str
    source: str
    """The calibration file ('<dict>' when given as a dict)."""
    scenario: str
    """Shipped scenario name or absolute path of its file."""
    overrides: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    moments: tuple[Moment, ...]
    seeds: tuple[int, ...]
    budget: int
    batch: int = 8
    init_points: int = 16
    search_seed: int = 0
    band_seeds: int = 10
    months: int | None = None
    identification: Identification = field(default_factory=Identification)
    description: str = ""
    piece: str | None = None
    """Absolute path of the scenario piece that ``write_piece`` fills (None: no piece)."""

    @property
    def n_points(self) -> int:
        """Points the budget buys."""
        return max(1, self.budget // len(self.seeds))

    def fingerprint(self) -> str:
        """A hash of what determines the points and their losses (not the budget)."""
        d = asdict(self)
        for k in ("budget", "name", "source", "description", "band_seeds", "piece"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _err(where: str, key: str, value: Any, why: str) -> CalibrationError:
    return CalibrationError(f"{where}: {key} = {value!r}: {why}")


def _month(text: Any, where: str, key: str) -> str:
    m = _MONTH.match(str(text).strip()) if isinstance(text, str) else None
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise _err(where, key, text, "not a month like '2026-05' or a date like '2026-05-31'")
    return f"{m.group(1)}-{m.group(2)}"


def _number(value: Any, where: str, key: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _err(where, key, value, "must be a finite number")
    if positive and value <= 0:
        raise _err(where, key, value, "must be > 0")
    return float(value)


def _int(value: Any, where: str, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _err(where, key, value, f"must be a whole number >= {minimum}")
    return value


def _unknown(body: dict, allowed: tuple[str, ...], where: str, prefix: str) -> None:
    import difflib

    for k in body:
        if k not in allowed:
            near = difflib.get_close_matches(k, allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise CalibrationError(f"{where}: unknown key {prefix}{k!r}{hint}; valid keys: "
                                   f"{', '.join(allowed)}")


def read_targets(path: Path, where: str) -> list[Moment]:
    """Level moments from a CSV with columns ``date, series, value, sd`` (and optionally
    ``weight``; other columns such as ``source`` are kept out of the fit)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"{where}: targets = {str(path)!r}: cannot read: "
                               f"{exc.strerror}") from None
    rows = list(csv.DictReader(line for line in text.splitlines()
                               if line.strip() and not line.lstrip().startswith("#")))
    if not rows:
        raise CalibrationError(f"{path}: no observations (expected columns "
                               f"{', '.join(CSV_COLUMNS)})")
    missing = [c for c in CSV_COLUMNS if c not in rows[0]]
    if missing:
        raise CalibrationError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                               f"{', '.join(CSV_COLUMNS)} [, weight]")
    out = []
    for i, row in enumerate(rows, start=2):
        at = f"{path} line {i}"

        def num(key: str, positive: bool = False, default: float | None = None) -> float:
            text = (row.get(key) or "").strip()
            if not text and default is not None:
                return default
            try:
                v = float(text)
            except ValueError:
                raise _err(at, key, text, "must be a number") from None
            return _number(v, at, key, positive)

        month = _month(row["date"], at, "date")
        name = (row["series"] or "").strip()
        if not name:
            raise _err(at, "series", name, "must name a series")
        out.append(Moment(name=f"{name}@{month}", kind="level", series=name,
                          value=num("value"), sd=num("sd", positive=True),
                          weight=num("weight", default=1.0), month=month))
    return out


def _moment(body: Any, i: int, where: str) -> Moment:
    key = f"moments[{i}]"
    if not isinstance(body, dict):
        raise _err(where, key, body, "must be a table")
    _unknown(body, MOMENT_KEYS, where, f"{key}.")
    for k in ("name", "kind", "series", "value", "sd"):
        if k not in body:
            raise CalibrationError(f"{where}: {key}.{k} is missing")
    kind = body["kind"]
    if kind not in MOMENT_KINDS:
        raise _err(where, f"{key}.kind", kind, f"must be one of {', '.join(MOMENT_KINDS)}")
    month, window, denominator = "", ("", ""), ""
    if kind == "level":
        if "month" not in body:
            raise CalibrationError(f"{where}: {key}.month is missing (a level moment)")
        month = _month(body["month"], where, f"{key}.month")
    else:
        w = body.get("window")
        if not isinstance(w, list) or len(w) != 2:
            raise _err(where, f"{key}.window", w, "must be [FIRST_MONTH, LAST_MONTH]")
        window = (_month(w[0], where, f"{key}.window"), _month(w[1], where, f"{key}.window"))
        if window[0] > window[1]:
            raise _err(where, f"{key}.window", w, "first month after last")
    if kind == "ratio":
        denominator = body.get("denominator", "")
        if not isinstance(denominator, str) or not denominator:
            raise CalibrationError(f"{where}: {key}.denominator is missing (a ratio moment)")
    weight = _number(body.get("weight", 1.0), where, f"{key}.weight")
    if weight < 0:
        raise _err(where, f"{key}.weight", weight, "must be >= 0")
    return Moment(name=str(body["name"]), kind=kind, series=str(body["series"]),
                  value=_number(body["value"], where, f"{key}.value"),
                  sd=_number(body["sd"], where, f"{key}.sd", positive=True), weight=weight,
                  month=month, window=window, denominator=denominator)


def _parameter(body: Any, i: int, where: str) -> Parameter:
    key = f"parameters[{i}]"
    if not isinstance(body, dict):
        raise _err(where, key, body, "must be a table")
    _unknown(body, PARAM_KEYS, where, f"{key}.")
    path = body.get("path")
    if not isinstance(path, str) or not path.strip():
        raise _err(where, f"{key}.path", path, "must be a --set path such as "
                   "'labs.frontier_a.growth_per_month'")

    def pair(k: str) -> tuple[float, float]:
        v = body[k]
        if not isinstance(v, list) or len(v) != 2:
            raise _err(where, f"{key}.{k}", v, "must be [LOW, HIGH]")
        lo, hi = (_number(x, where, f"{key}.{k}") for x in v)
        if not lo < hi:
            raise _err(where, f"{key}.{k}", v, "LOW must be below HIGH")
        return lo, hi

    if "range" not in body:
        raise CalibrationError(f"{where}: {key}.range is missing")
    lo, hi = pair("range")
    ilo, ihi = pair("init") if "init" in body else (lo, hi)
    if ilo < lo or ihi > hi:
        raise _err(where, f"{key}.init", body["init"], f"must lie inside range [{lo}, {hi}]")
    log = body.get("log", False)
    integer = body.get("integer", False)
    shared = body.get("shared", False)
    for k, v in (("log", log), ("integer", integer), ("shared", shared)):
        if not isinstance(v, bool):
            raise _err(where, f"{key}.{k}", v, "must be true or false")
    if log and lo <= 0:
        raise _err(where, f"{key}.range", body["range"], "a log-scale range must be > 0")
    return Parameter(path=path.strip(), low=lo, high=hi, init_low=ilo, init_high=ihi, log=log,
                     integer=integer, shared=shared)


def load_spec(spec: str | Path | dict[str, Any], base_dir: Path | None = None) -> Spec:
    """Read and check a calibration file (or the same content as a dict); relative paths in it
    are read from its folder (``base_dir`` for a dict, default the current folder)."""
    if isinstance(spec, dict):
        raw, where, folder = copy.deepcopy(spec), "<calibration>", base_dir or Path.cwd()
    else:
        path = Path(spec)
        where, folder = str(path), path.parent
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise CalibrationError(f"calibration file {str(path)!r} does not exist") from None
        except IsADirectoryError:
            raise CalibrationError(f"{str(path)!r} is a folder, not a calibration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise CalibrationError(f"{path}: not valid TOML: {exc}") from None
    _unknown(raw, TOP_KEYS, where, "")
    if "scenario" not in raw or not isinstance(raw["scenario"], str):
        raise _err(where, "scenario", raw.get("scenario"), "must name a shipped scenario or a "
                   ".toml file")
    scenario = raw["scenario"]
    if scenario.endswith(".toml"):
        p = Path(scenario)
        scenario = str((p if p.is_absolute() else folder / p).resolve())
        if not Path(scenario).exists():
            raise _err(where, "scenario", raw["scenario"], f"no such file {scenario}")
    overrides = raw.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise _err(where, "overrides", overrides, "must be a list of 'KEY.PATH=VALUE' strings")
    params = raw.get("parameters")
    if not isinstance(params, list) or not params:
        raise _err(where, "parameters", params, "need at least one [[parameters]] table")
    parameters = tuple(_parameter(b, i, where) for i, b in enumerate(params))
    paths = [p.path for p in parameters]
    dup = sorted({p for p in paths if paths.count(p) > 1})
    if dup:
        raise _err(where, "parameters.path", dup[0], "named twice")
    moments: list[Moment] = []
    if "targets" in raw:
        t = raw["targets"]
        if not isinstance(t, str):
            raise _err(where, "targets", t, "must be the path of a CSV file")
        tp = Path(t)
        moments += read_targets(tp if tp.is_absolute() else folder / tp, where)
    extra = raw.get("moments", [])
    if not isinstance(extra, list):
        raise _err(where, "moments", extra, "must be an array of [[moments]] tables")
    moments += [_moment(b, i, where) for i, b in enumerate(extra)]
    if not moments:
        raise CalibrationError(f"{where}: no targets: give 'targets' (a CSV) or [[moments]]")
    names = [m.name for m in moments]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _err(where, "moments.name", dup[0], "two targets share this name")
    seeds_raw = raw.get("seeds", 3)
    if isinstance(seeds_raw, int) and not isinstance(seeds_raw, bool):
        seeds = tuple(range(_int(seeds_raw, where, "seeds", 1)))
    elif isinstance(seeds_raw, list) and seeds_raw and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds_raw):
        seeds = tuple(seeds_raw)
        if len(set(seeds)) != len(seeds):
            raise _err(where, "seeds", seeds_raw, "seeds repeat")
    else:
        raise _err(where, "seeds", seeds_raw, "must be a count (>= 1) or a list of seeds >= 0")
    if "budget" not in raw:
        raise CalibrationError(f"{where}: budget is missing (the number of model runs)")
    budget = _int(raw["budget"], where, "budget", len(seeds))
    ident = raw.get("identification", {})
    if not isinstance(ident, dict):
        raise _err(where, "identification", ident, "must be a table")
    _unknown(ident, ID_KEYS, where, "identification.")
    identification = Identification(
        delta=_number(ident.get("delta", 2.71), where, "identification.delta", positive=True),
        max_share=_number(ident.get("max_share", 0.5), where, "identification.max_share",
                          positive=True),
        bins=_int(ident.get("bins", 10), where, "identification.bins", 2))
    months = raw.get("months")
    if months is not None:
        months = _int(months, where, "months", 1)
    name = raw.get("name", Path(where).stem if where != "<calibration>" else "calibration")
    piece = raw.get("piece")
    if piece is not None:
        if not isinstance(piece, str) or not piece.endswith(".toml"):
            raise _err(where, "piece", piece, "must be the path of a .toml file")
        pp = Path(piece)
        piece = str((pp if pp.is_absolute() else folder / pp).resolve())
    return Spec(name=str(name), source=where, scenario=scenario, overrides=tuple(overrides),
                parameters=parameters, moments=tuple(moments), seeds=seeds, budget=budget,
                batch=_int(raw.get("batch", 8), where, "batch", 1),
                init_points=_int(raw.get("init_points", 16), where, "init_points", 0),
                search_seed=_int(raw.get("search_seed", 0), where, "search_seed", 0),
                band_seeds=_int(raw.get("band_seeds", 10), where, "band_seeds", 1),
                months=months, identification=identification,
                description=str(raw.get("description", "")), piece=piece)
