"""Study files: which scenario, which parameters, which seeds, which outputs.

A study is a TOML file::

    name = "contract-rules"                 # optional; default: the file's stem
    scenario = "colossus-2026"              # shipped name, or a path relative to the study file
    seeds = 3                               # N replicate seeds, or a list of integers
    seed = 0                                # study seed: LHS draws and derived replicate seeds
    months = 48                             # optional: override the scenario's length
    method = "lhs"                          # how ranges are sampled (see METHODS)
    samples = 8                             # points drawn over the ranges
    metrics = ["utilization"]               # keys of market.metrics.summary; default: all
    series = ["spot_index"]                 # optional per-month series
    sensitivity = true                      # optional: first-order variance-based indices
    set = ["market.k=0.4"]                  # optional: fixed overrides for every run

    [parameters."terms.colossus_lease.recall"]
    values = [true, false]                  # a grid axis
    [parameters."regions.us-south.opposition_probability"]
    range = [0.02, 0.2]                     # a sampled range

The design is the full factorial of the grid axes crossed with the ``samples`` points over the
ranges, crossed with the replicate seeds (common random numbers: every point sees the same
seeds). The ``method`` draws the points over the ranges:

- ``lhs``: the original Latin hypercube from ``numpy.random.default_rng(seed)`` (kept as it was,
  so the run ids of existing studies still resume); ``grid``: an even ``linspace`` grid;
- ``sobol`` (scrambled, ``samples`` a power of 2), ``halton`` and ``optimized-lhs`` (a Latin
  hypercube improved for centred discrepancy): the samplers of ``scipy.stats.qmc``;
- ``saltelli`` (``samples`` = N, a power of 2, gives N * (D + 2) points) and ``morris``
  (``samples`` trajectories of D + 1 points on a 4-level grid): SALib's designs for Sobol
  first- and total-order indices and for Morris screening (``market.sweep.sensitivity``). They
  take ranges only; a point the design visits twice is run once.

An integer range maps the unit draw ``u`` onto ``lo + floor(u * (hi - lo + 1))``.
``seeds = N`` derives N seeds as ``SeedSequence(seed).spawn(N)``, one 32-bit integer each.

``prepare`` validates everything before any run starts: unknown keys name their path and the
nearest valid key; every parameter value is applied to the scenario (``apply_override``) and the
world is built (``build_world``); metric and series names are checked on a one-month probe run.
Each run has a stable id: a hash of the scenario's content, the months, the parameter point and
the seed, so a run is the same run locally, on Dask and after a resume.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from market.config import check_safe_name, safe_name
from market.scenarios import (
    ScenarioError,
    build_world,
    load_raw,
    parse_value,
    read_toml,
    set_value,
)

FORMAT = "compute-market-sweep/1"
METHODS = ("lhs", "grid", "sobol", "halton", "optimized-lhs", "saltelli", "morris")
QMC_METHODS = ("sobol", "halton", "optimized-lhs")
"""Space-filling samplers of ``scipy.stats.qmc``."""
SALIB_METHODS = ("saltelli", "morris")
"""Designs made for a sensitivity analysis: they take ranges only, and their indices come from
SALib (``market.sweep.sensitivity``)."""
POWER_OF_2_METHODS = ("sobol", "saltelli")
MORRIS_LEVELS = 4
"""Levels of the Morris grid over each range."""
TOP_KEYS = ("name", "description", "scenario", "seeds", "seed", "months", "method", "samples",
            "parameters", "metrics", "series", "sensitivity", "set")
PARAMETER_KEYS = ("values", "range")
MAX_RUNS = 100_000
"""Most runs a study may have (a guard against typos such as ``samples = 1e6``, checked before
the design is built)."""
MAX_SEEDS = 10_000
"""Most replicate seeds (deriving each costs ~40 us: checked before they are derived)."""
VALIDATE_ALL_POINTS_UP_TO = 100
"""Up to this many distinct points, every point's world is built before the study starts;
above it only each value on its own (other invalid combinations become failed runs)."""


class StudyError(ScenarioError):
    """A study file that cannot be run; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One varied scenario key: a grid axis (``values``) or a sampled ``range`` [lo, hi]."""

    path: str
    values: tuple[Any, ...] | None = None
    range: tuple[float, float] | None = None

    @property
    def is_int_range(self) -> bool:
        """A range whose bounds are both integers samples integers."""
        return self.range is not None and all(_is_int(v) for v in self.range)

    def as_dict(self) -> dict[str, Any]:
        """The parameter as written in a study file."""
        return {"values": list(self.values)} if self.values is not None else {
            "range": list(self.range)}


@dataclasses.dataclass(frozen=True)
class Study:
    """A parsed, key-checked study (scenario-dependent checks happen in ``prepare``)."""

    name: str
    scenario: str
    seeds: tuple[int, ...]
    parameters: tuple[Parameter, ...] = ()
    seed: int = 0
    months: int | None = None
    method: str = "lhs"
    samples: int | None = None
    metrics: tuple[str, ...] | None = None
    series: tuple[str, ...] = ()
    sensitivity: bool = False
    set: tuple[str, ...] = ()
    description: str = ""
    source: str = "<dict>"
    base_dir: str = "."

    @classmethod
    def load(cls, path: str | Path) -> Study:
        """Read and check a study TOML file."""
        path = Path(path)
        if not path.exists():
            raise StudyError(f"study file {str(path)!r} does not exist")
        data = read_toml(path, StudyError)
        return cls.from_dict(data, source=str(path), base_dir=path.parent,
                             default_name=safe_name(path.stem, "study"))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>",
                  base_dir: str | Path = ".", default_name: str = "study") -> Study:
        """Check a study given as a dict (the parsed TOML)."""
        try:
            return _parse(data, source, str(base_dir), default_name)
        except StudyError as exc:
            raise StudyError(f"{source}: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        """The study as a plain dict (what a study file would say)."""
        out: dict[str, Any] = {"name": self.name, "scenario": self.scenario,
                               "seeds": list(self.seeds), "seed": self.seed,
                               "method": self.method}
        for key in ("months", "samples"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["parameters"] = {p.path: p.as_dict() for p in self.parameters}
        if self.metrics is not None:
            out["metrics"] = list(self.metrics)
        out |= {"series": list(self.series), "sensitivity": self.sensitivity,
                "set": list(self.set), "description": self.description}
        return out


@dataclasses.dataclass(frozen=True)
class Run:
    """One simulation of a study: a parameter point and a seed."""

    run_id: str
    index: int
    point: int
    seed: int
    params: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated study ready to run: the scenario dict, the resolved outputs and the runs."""

    study: Study
    raw: dict[str, Any]
    scenario_source: str
    scenario_sha256: str
    months: int
    metrics: tuple[str, ...]
    series: tuple[str, ...]
    series_units: dict[str, str]
    runs: tuple[Run, ...]
    param_types: dict[str, str]
    fingerprint: str
    design_rows: tuple[int, ...] = ()
    """For a SALib design: the distinct point (``Run.point``) of each row of the design, in
    the design's order (a point visited twice is run once)."""

    def task(self, run: Run) -> dict[str, Any]:
        """The plain-data input of ``market.sweep.worker.run_one`` for a run."""
        return {"run_id": run.run_id, "raw": self.raw, "source": self.scenario_source,
                "params": run.params, "seed": run.seed, "months": self.months,
                "metrics": list(self.metrics), "series": list(self.series)}


# ---------------------------------------------------------------------------- parsing
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _unknown(key: str, valid: tuple[str, ...], where: str) -> StudyError:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean {where + near[0]!r}?" if near else ""
    return StudyError(f"unknown key {where + key!r}{hint} (valid keys: {', '.join(valid)})")


def _parse(data: dict[str, Any], source: str, base_dir: str, default_name: str) -> Study:
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown(key, TOP_KEYS, "")
    if "scenario" not in data:
        raise StudyError("missing key 'scenario' (a shipped scenario name or a .toml path)")
    kw: dict[str, Any] = {"source": source, "base_dir": base_dir}
    kw["scenario"] = _typed(data, "scenario", str)
    kw["name"] = _typed(data, "name", str, default_name)
    try:
        check_safe_name("name", kw["name"])
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    kw["description"] = _typed(data, "description", str, "")
    kw["seed"] = _typed(data, "seed", int, 0)
    if not 0 <= kw["seed"] < 2**63:
        raise StudyError(f"seed = {kw['seed']}: must be from 0 to 2**63 - 1")
    kw["seeds"] = _seeds(data.get("seeds"), kw["seed"])
    months = data.get("months")
    if months is not None and (not _is_int(months) or months < 1):
        raise StudyError(f"months = {months!r}: must be an integer >= 1")
    kw["months"] = months
    kw["method"] = _typed(data, "method", str, "lhs")
    if kw["method"] not in METHODS:
        raise StudyError(f"method = {kw['method']!r}: must be one of {', '.join(METHODS)}")
    params = data.get("parameters", {})
    if not isinstance(params, dict):
        raise StudyError(f"parameters = {params!r}: must be a table of "
                         '[parameters."KEY.PATH"] tables')
    kw["parameters"] = tuple(_parameter(path, body) for path, body in params.items())
    has_range = any(p.range is not None for p in kw["parameters"])
    samples = data.get("samples")
    if samples is not None and (not _is_int(samples) or samples < 1):
        raise StudyError(f"samples = {samples!r}: must be an integer >= 1")
    if has_range and samples is None:
        raise StudyError("missing key 'samples': how many points to draw over the ranges")
    if samples is not None and not has_range:
        raise StudyError(f"samples = {samples}: no parameter has a 'range' to sample")
    _check_method(kw["method"], samples, kw["parameters"])
    kw["samples"] = samples
    _check_size(kw["parameters"], samples, kw["method"], len(kw["seeds"]))
    metrics = data.get("metrics")
    kw["metrics"] = None if metrics is None else tuple(_str_list(metrics, "metrics"))
    if kw["metrics"] is not None and not kw["metrics"]:
        raise StudyError("metrics = []: name at least one metric, or leave the key out for all")
    kw["series"] = tuple(_str_list(data.get("series", []), "series"))
    kw["set"] = tuple(_str_list(data.get("set", []), "set"))
    kw["sensitivity"] = _typed(data, "sensitivity", bool, False)
    return Study(**kw)


def _check_method(method: str, samples: int | None, params: tuple[Parameter, ...]) -> None:
    """What a sampler needs: a power of 2 (Sobol sequences), ranges only (SALib designs)."""
    if method in POWER_OF_2_METHODS and samples is not None and samples & (samples - 1):
        raise StudyError(f"samples = {samples}: method {method!r} needs a power of 2 "
                         f"(e.g. {1 << max(1, samples.bit_length() - 1)} or "
                         f"{1 << samples.bit_length()})")
    if method in SALIB_METHODS:
        grid = [p.path for p in params if p.values is not None]
        if grid:
            raise StudyError(f"parameters.{json.dumps(grid[0])}: method {method!r} takes "
                             "parameters with a 'range' only, not 'values'")
        if not params:
            raise StudyError(f"method {method!r}: give at least one parameter with a 'range'")
        if method == "morris" and samples is not None and samples < 2:
            raise StudyError(f"samples = {samples}: method 'morris' needs at least 2 "
                             "trajectories")


def _check_size(params: tuple[Parameter, ...], samples: int | None, method: str,
                n_seeds: int) -> None:
    """Refuse a design of more than ``MAX_RUNS`` runs before it is built (grid axes x range
    points x seeds; a "grid" over k ranges has samples**k points)."""
    n = n_seeds
    for p in params:
        if p.values is not None:
            n *= len(p.values)
    ranges = sum(p.range is not None for p in params)
    if ranges and samples:
        n *= samples ** ranges if method == "grid" else samples
        n *= {"saltelli": 2 * ranges + 2, "morris": ranges + 1}.get(method, 1)
    if n > MAX_RUNS:
        raise StudyError(f"samples = {samples}, seeds = {n_seeds}: the design has {n:,} runs, "
                         f"more than {MAX_RUNS:,}; lower 'samples' or 'seeds'")


def _typed(data: dict[str, Any], key: str, kind: type, default: Any = None) -> Any:
    value = data.get(key, default)
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        name = {str: "a string", int: "an integer", bool: "true or false"}[kind]
        raise StudyError(f"{key} = {value!r}: must be {name}")
    return value


def _str_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list):
        raise StudyError(f"{key} = {value!r}: must be an array of strings")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise StudyError(f"{key}[{i}] = {v!r}: must be a string")
    if len(set(value)) != len(value):
        raise StudyError(f"{key} = {value!r}: names an entry twice")
    return value


def _seeds(value: Any, study_seed: int) -> tuple[int, ...]:
    if value is None:
        raise StudyError("missing key 'seeds': a number of replicates or a list of integer seeds")
    if _is_int(value):
        if not 1 <= value <= MAX_SEEDS:
            raise StudyError(f"seeds = {value}: must be from 1 to {MAX_SEEDS:,}")
        children = np.random.SeedSequence(study_seed).spawn(value)
        return tuple(int(c.generate_state(1)[0]) for c in children)
    if isinstance(value, list) and len(value) > MAX_SEEDS:
        raise StudyError(f"seeds: lists {len(value):,} seeds, more than {MAX_SEEDS:,}")
    if isinstance(value, list) and value and all(_is_int(v) and 0 <= v < 2**63 for v in value):
        if len(set(value)) != len(value):
            raise StudyError(f"seeds = {value!r}: lists a seed twice")
        return tuple(value)
    raise StudyError(f"seeds = {value!r}: must be an integer >= 1 or a non-empty list of "
                     "distinct integers from 0 to 2**63 - 1")


def _parameter(path: Any, body: Any) -> Parameter:
    where = f"parameters.{json.dumps(path)}."
    if not isinstance(body, dict):
        raise StudyError(f"{where[:-1]} = {body!r}: must be a table with 'values' or 'range'")
    for key in body:
        if key not in PARAMETER_KEYS:
            if isinstance(body[key], dict):
                raise StudyError(f"{where[:-1]}: quote the whole key path, e.g. "
                                 f'[parameters."{path}.{key}..."], not [parameters.{path}.'
                                 f"{key}...]")
            raise _unknown(key, PARAMETER_KEYS, where)
    if ("values" in body) == ("range" in body):
        raise StudyError(f"{where[:-1]}: give exactly one of 'values' (a grid) or 'range' "
                         "(sampled)")
    if not path or any(not part for part in path.split(".")):
        raise StudyError(f"{where[:-1]}: not a KEY.PATH like 'regions.us-south.x'")
    if "values" in body:
        values = body["values"]
        if not isinstance(values, list) or not values:
            raise StudyError(f"{where}values = {values!r}: must be a non-empty array")
        canon = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(canon)) != len(canon):
            raise StudyError(f"{where}values = {values!r}: lists a value twice")
        for i, v in enumerate(values):
            if isinstance(v, dict) or (isinstance(v, float) and not math.isfinite(v)):
                raise StudyError(f"{where}values[{i}] = {v!r}: must be a finite number, "
                                 "boolean, string or array")
        return Parameter(path, values=tuple(values))
    rng = body["range"]
    if not (isinstance(rng, list) and len(rng) == 2 and all(_is_number(v) for v in rng)
            and rng[0] < rng[1]):
        raise StudyError(f"{where}range = {rng!r}: must be [low, high] with finite numbers, "
                         "low < high")
    return Parameter(path, range=(rng[0], rng[1]))


# ---------------------------------------------------------------------------- the design
def _scaled(params: list[Parameter], unit: np.ndarray) -> list[dict[str, Any]]:
    """Points from unit draws (rows x parameters, in [0, 1]): floats keep 10 significant
    digits; integer ranges map ``u`` onto ``lo + floor(u * (hi - lo + 1))``."""
    cols = {}
    for j, p in enumerate(params):
        lo, hi = p.range
        u = unit[:, j]
        if p.is_int_range:
            cols[p.path] = [int(min(hi, lo + math.floor(x * (hi - lo + 1)))) for x in u]
        else:
            cols[p.path] = [float(f"{lo + x * (hi - lo):.10g}") for x in u]
    return [{k: cols[k][i] for k in cols} for i in range(len(unit))]


def _lhs(params: list[Parameter], n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Latin hypercube: each range cut into ``n`` equal strata, one draw per stratum, strata
    permuted independently per parameter (the draws of the first versions, so that existing
    run ids still resume)."""
    unit = np.column_stack([(rng.permutation(n) + rng.random(n)) / n for _ in params])
    return _scaled(params, unit)


def unit_design(study: Study) -> np.ndarray:
    """The draws of a ``scipy.stats.qmc`` or SALib method over the unit cube (rows x ranged
    parameters), seeded by the study's ``seed``."""
    from scipy.stats import qmc

    d = sum(p.range is not None for p in study.parameters)
    n = study.samples or 1
    rng = np.random.default_rng(study.seed)
    if study.method == "sobol":
        return qmc.Sobol(d, scramble=True, rng=rng).random_base2(n.bit_length() - 1)
    if study.method == "halton":
        return qmc.Halton(d, scramble=True, rng=rng).random(n)
    if study.method == "optimized-lhs":
        return qmc.LatinHypercube(d, optimization="random-cd", rng=rng).random(n)
    from market.sweep.sensitivity import salib_sample

    return salib_sample(study, d, n)


def _linspace(params: list[Parameter], n: int) -> list[dict[str, Any]]:
    axes = []
    for p in params:
        lo, hi = p.range
        xs = np.linspace(lo, hi, n) if n > 1 else np.array([(lo + hi) / 2])
        vals = sorted({int(round(x)) for x in xs}) if p.is_int_range else [
            float(f"{x:.10g}") for x in xs]
        axes.append([(p.path, v) for v in vals])
    return [dict(c) for c in itertools.product(*axes)]


def design(study: Study) -> list[dict[str, Any]]:
    """The parameter points, in a fixed order: grid axes (first parameter slowest) crossed with
    the range samples."""
    grid = [p for p in study.parameters if p.values is not None]
    ranged = [p for p in study.parameters if p.range is not None]
    if not ranged:
        samples: list[dict[str, Any]] = [{}]
    elif study.method == "lhs":
        samples = _lhs(ranged, study.samples or 1, np.random.default_rng(study.seed))
    elif study.method == "grid":
        samples = _linspace(ranged, study.samples or 1)
    else:
        samples = _scaled(ranged, unit_design(study))
    axes = [[(p.path, v) for v in p.values] for p in grid]
    order = [p.path for p in study.parameters]
    points = []
    for combo in itertools.product(*axes):
        for s in samples:
            point = dict(combo) | s
            points.append({k: point[k] for k in order})
    return points


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _sha(obj: Any) -> str:
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


def run_id(scenario_sha256: str, months: int, params: dict[str, Any], seed: int) -> str:
    """Stable id of a run: a hash of what determines its result."""
    return _sha({"scenario": scenario_sha256, "months": months, "params": params,
                 "seed": seed})[:16]


def _param_type(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(_is_int(v) for v in values):
        return "int64"
    if all(_is_number(v) for v in values):
        return "float64"
    if all(isinstance(v, str) for v in values):
        return "string"
    return "json"


# ---------------------------------------------------------------------------- validation
def prepare(study: Study) -> Plan:
    """Validate the study against its scenario and list its runs (nothing is run yet but a
    one-month probe of the scenario that resolves metric and series names)."""
    src = study.source
    ref = study.scenario
    if ref.endswith(".toml") and not Path(ref).is_absolute():
        ref = str(Path(study.base_dir) / ref)
    try:
        raw, path = load_raw(ref)
    except ScenarioError as exc:
        raise StudyError(f"{src}: scenario = {study.scenario!r}: {exc}") from None
    scenario_source = str(path)
    for i, assignment in enumerate(study.set):
        key = assignment.split("=", 1)[0].strip()
        try:
            if "=" not in assignment:
                raise ScenarioError("expected KEY.PATH=VALUE")
            set_value(raw, key, parse_value(assignment.split("=", 1)[1].strip()),
                      source=f"set[{i}]")
            build_world(raw, scenario_source)
        except ScenarioError as exc:
            raise StudyError(f"{src}: set[{i}] = {assignment!r}: {exc}") from None
    if study.months is not None:
        raw["months"] = study.months
    try:
        world = build_world(raw, scenario_source)
    except ScenarioError as exc:
        raise StudyError(f"{src}: {exc}") from None
    months = world.months

    for p in study.parameters:
        checks = list(p.values) if p.values is not None else list(p.range)
        for v in checks:
            _check_point(raw, {p.path: v}, scenario_source,
                         f"{src}: parameters.{json.dumps(p.path)} = {v!r}")
    points = design(study)
    rows: tuple[int, ...] = ()
    if study.method in SALIB_METHODS:  # run each distinct point once
        points, rows = _distinct(points)
    if len(points) <= VALIDATE_ALL_POINTS_UP_TO and len(study.parameters) > 1:
        for point in points:
            _check_point(raw, point, scenario_source, f"{src}: parameter point {point}")

    metrics, series, units = _probe(raw, study, scenario_source)
    scenario_sha = _sha(raw)
    runs = []
    for i, point in enumerate(points):
        for seed in study.seeds:
            rid = run_id(scenario_sha, months, point, seed)
            runs.append(Run(rid, len(runs), i, seed, point))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise StudyError(f"{src}: the design repeats a parameter point (an integer range with "
                         "fewer values than samples?); lower 'samples' or widen the range")
    types = {p.path: _param_type([pt[p.path] for pt in points]) for p in study.parameters}
    fingerprint = _sha({"format": FORMAT, "runs": ids, "metrics": metrics, "series": series,
                        "types": types})
    return Plan(study, raw, scenario_source, scenario_sha, months, tuple(metrics),
                tuple(series), units, tuple(runs), types, fingerprint, rows)


def _distinct(points: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], tuple[int, ...]]:
    """The distinct points in order of first visit, and the index of each row among them."""
    index: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    rows = []
    for pt in points:
        key = _canonical(pt)
        if key not in index:
            index[key] = len(kept)
            kept.append(pt)
        rows.append(index[key])
    return kept, tuple(rows)


def _check_point(raw: dict[str, Any], point: dict[str, Any], source: str, where: str) -> None:
    trial = copy.deepcopy(raw)
    try:
        for path, value in point.items():
            set_value(trial, path, value, source="parameter")
        build_world(trial, source)
    except ScenarioError as exc:
        raise StudyError(f"{where}: {exc}") from None


def _probe(raw: dict[str, Any], study: Study,
           source: str) -> tuple[list[str], list[str], dict[str, str]]:
    """Run the scenario one month to learn the metric and series names it produces."""
    from market.metrics import available_series, summary
    from market.model import ComputeMarket

    trial = copy.deepcopy(raw)
    trial["months"] = 1
    frames = ComputeMarket(build_world(trial, source), rng=0).run().frames()
    names = list(summary(frames))
    metrics = list(study.metrics) if study.metrics is not None else names
    for i, m in enumerate(metrics):
        if m not in names:
            near = difflib.get_close_matches(m, names, n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise StudyError(f"{study.source}: metrics[{i}] = {m!r}: not a summary metric"
                             f"{hint} (metrics: {', '.join(names)})")
    avail = available_series(frames)
    for i, s in enumerate(study.series):
        if s not in avail:
            near = difflib.get_close_matches(s, list(avail), n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise StudyError(f"{study.source}: series[{i}] = {s!r}: not a series{hint} "
                             f"(series: {', '.join(avail)})")
    return metrics, list(study.series), {s: avail[s] for s in study.series}


def load_study(study: Study | str | Path) -> Study:
    """A ``Study`` from a path (or the study itself)."""
    return study if isinstance(study, Study) else Study.load(study)
