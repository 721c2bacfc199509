"""Shared harness of the experiment scripts ``experiments/q*_*.py`` (docs/model.md section 1).

Each script answers one of the eight questions with the public API of ``market`` only. This
module gives them one shape:

- :func:`parse_args`: ``--seeds N`` (default 20), ``--quick`` (the first 3 seeds of a full run, at
  its length, so its numbers lie within the full run's seed spread), ``--out`` (default
  ``results/<name>/``), ``--workers N`` (local processes; default all CPUs), ``--scheduler
  ADDRESS`` (a Dask cluster instead), ``--seed`` (base of the seed sequence), ``--months``.
- :func:`run_configs`: every (label, WorldConfig) over the same seeds (common random numbers, so
  differences between configurations are paired by seed), on the executors of the sweeps
  (``market.sweep.executors``: local worker processes, or Dask), with a tqdm progress bar. A
  script's module-level ``measure(frames, label)`` turns the four output frames of one run
  into scalars and monthly series; only those travel back from the workers
  (``market.ensemble.run_measured``).
- :func:`band` and :class:`KeyNumber`: mean and 90% band (5th to 95th percentile across seeds);
  :func:`bootstrap_interval`: the 90% interval of the mean across seeds (bootstrap over seeds,
  a fixed generator, so reruns give the same interval).
- :func:`sensitivity`: the script's headline rerun with its key parameters at the ends of their
  ranges (each configuration's world changed the same way, same seeds).
- :func:`write_report`: ``report.md`` (question, setup, key numbers with mean, band and the
  bootstrap interval of the mean, a two-sentence answer, the mechanism behind it, a sensitivity
  line, caveats, figures), ``key_numbers.json`` (``{name: {"mean", "p5", "p95", "ci90", "min",
  "max", "unit", "bounds"}}``, the sanity bounds declared beside each number in its script) and
  ``runs.csv`` (one row per run and scalar). A full run (not ``--quick``, default seeds and
  length) also copies ``key_numbers.json`` to ``experiments/answers/<name>.json`` and its
  figures to ``docs/gallery/``: the committed answers the README gallery quotes
  (``experiments/gallery.py``) and the tests hold quick runs to.
- Plot helpers with labelled axes and units: :func:`plot_band`, :func:`bar_band`, :func:`save`.

Seeds come from ``numpy.random.SeedSequence(base).spawn(n)`` (STYLE.md item 4).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from market.config import WorldConfig  # noqa: E402
from market.ensemble import measure_ref, run_measured  # noqa: E402
from market.hardware import HOURS_PER_MONTH  # noqa: E402
from market.terms import (  # noqa: E402
    COLOSSUS_LEASE_H100E,
    COLOSSUS_LEASE_MW,
    COLOSSUS_LEASE_USD_PER_H100E_MONTH,
    COLOSSUS_LEASE_USD_PER_MONTH,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEEDS = 20
QUICK_SEEDS = 3
QUICK_MONTHS: int | None = None
"""Months of a ``--quick`` run: None keeps the scenario's length (runs take a fraction of a
second), so a quick run is the first seeds of the full run."""
BASE_SEED = 2026
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 15
"""Seed of the bootstrap's generator: the interval of a set of values is always the same."""
ANSWERS = ROOT / "experiments" / "answers"
"""Committed key numbers of each script's full run (what the README gallery quotes)."""
GALLERY = ROOT / "docs" / "gallery"

H100E_PER_LEASE_MW = COLOSSUS_LEASE_H100E / COLOSSUS_LEASE_MW
"""H100e per MW of the Colossus lease's capacity (280,000 H100e on 300 MW): converts
$/H100e-month to $/MW-month for a block like the lease."""
DEAL_USD_PER_MW_MONTH = COLOSSUS_LEASE_USD_PER_MONTH / COLOSSUS_LEASE_MW
"""The deal's price per MW-month: $1.25B / 300 MW = $4.17M (cal:deal.unit_price)."""
DEAL_USD_PER_H100E_HOUR = COLOSSUS_LEASE_USD_PER_H100E_MONTH / HOURS_PER_MONTH
"""The deal's price per H100e-hour: about $6.1."""

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf"]

Scalars = dict[str, float]
Series = dict[str, pd.Series]
Measure = Callable[[dict[str, pd.DataFrame], str], tuple[Scalars, Series]]


# ----------------------------------------------------------------------------- options
@dataclasses.dataclass(frozen=True)
class Options:
    """What a script was asked to do."""

    name: str
    seeds: int
    quick: bool
    months: int | None
    """Months to simulate (None: the scenario's own length)."""
    out: Path
    workers: int | None
    """Local worker processes (None: all CPUs)."""
    base_seed: int
    argv: tuple[str, ...]
    scheduler: str | None = None
    """Address of a Dask scheduler to run on instead of local processes."""

    @property
    def seed_list(self) -> list[int]:
        """The run seeds, one per replicate, shared by every configuration."""
        return seed_list(self.seeds, self.base_seed)

    def command(self) -> str:
        """The command line that reproduces this output."""
        script = f"experiments/{self.name}.py"
        return " ".join(["python", script, *self.argv])


def seed_list(n: int, base: int = BASE_SEED) -> list[int]:
    """``n`` independent integer seeds spawned from ``SeedSequence(base)``."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(base).spawn(n)]


def parse_args(name: str, description: str | None, argv: Sequence[str] | None = None, *,
               quick_months: int | None = QUICK_MONTHS) -> Options:
    """Parse the common options of an experiment script.

    Args:
        name: the script's name (``q1_price_discovery``); the default output is
            ``results/<name>/``.
        description: help text (the script's docstring).
        argv: arguments (None: ``sys.argv[1:]``).
        quick_months: months a ``--quick`` run simulates; None keeps the scenario's length
            (for questions about 2028-2029).
    """
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"replicate seeds per configuration (default {DEFAULT_SEEDS}, "
                             f"--quick {QUICK_SEEDS})")
    parser.add_argument("--quick", action="store_true",
                        help="a small version: the first 3 seeds, well under a minute")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default results/{name}/)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: all CPUs)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run on a Dask cluster (tcp://HOST:PORT) whose workers can import "
                             "market and read this folder")
    parser.add_argument("--seed", type=int, default=BASE_SEED,
                        help=f"base of the seed sequence (default {BASE_SEED})")
    parser.add_argument("--months", type=int, default=None,
                        help="months to simulate (default: the scenario's)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    seeds = args.seeds if args.seeds is not None else (QUICK_SEEDS if args.quick
                                                       else DEFAULT_SEEDS)
    if seeds < 1:
        parser.error("--seeds must be >= 1")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be >= 1")
    months = args.months if args.months is not None else (quick_months if args.quick else None)
    if months is not None and months < 1:
        parser.error("--months must be >= 1")
    out = args.out if args.out is not None else ROOT / "results" / name
    return Options(name=name, seeds=seeds, quick=args.quick, months=months, out=Path(out),
                   workers=args.workers, base_seed=args.seed,
                   argv=tuple(sys.argv[1:] if argv is None else argv),
                   scheduler=args.scheduler)


def with_months(world: WorldConfig, months: int | None) -> WorldConfig:
    """The world cut (or extended) to ``months`` steps; unchanged for None."""
    if months is None or months == world.months:
        return world
    return dataclasses.replace(world, months=months)


# ----------------------------------------------------------------------------- running
@dataclasses.dataclass
class Results:
    """Measurements of every run: scalars as a table, series per (label, name)."""

    labels: list[str]
    seeds: list[int]
    scalars: pd.DataFrame
    """One row per run: ``label``, ``seed_index``, ``seed`` and a column per scalar."""
    series: dict[tuple[str, str], pd.DataFrame]
    """(label, series name) -> frame indexed by month with a column per seed index."""
    elapsed_s: float

    def values(self, label: str, metric: str) -> np.ndarray:
        """A scalar of one configuration across seeds, in seed order."""
        rows = self.scalars[self.scalars["label"] == label].sort_values("seed_index")
        return rows[metric].to_numpy(dtype=float)

    def paired(self, label: str, baseline: str, metric: str) -> np.ndarray:
        """Per-seed difference ``label - baseline`` of a scalar (common random numbers)."""
        return self.values(label, metric) - self.values(baseline, metric)

    def frame(self, label: str, name: str) -> pd.DataFrame:
        """A monthly series of one configuration: months x seeds."""
        return self.series[(label, name)]


def run_configs(configs: Sequence[tuple[str, WorldConfig]], opts: Options, measure: Measure,
                desc: str | None = None) -> Results:
    """Run every configuration over ``opts.seeds`` seeds and measure each run.

    The same seeds serve every configuration, so per-seed differences are paired. Runs go to
    the sweep executors (``opts.workers`` local processes, or the Dask cluster at
    ``opts.scheduler``; ``--workers 1`` runs them in this process); a tqdm bar shows
    progress. A run that fails stops the script with its traceback.
    """
    from market.sweep import executors

    seeds = opts.seed_list
    ref = measure_ref(measure)
    tasks = [{"run_id": f"{label}#{i}", "label": label, "index": i, "seed": seed,
              "world": with_months(world, opts.months), "measure": ref}
             for label, world in configs for i, seed in enumerate(seeds)]
    t0 = time.perf_counter()
    out: list[tuple[str, int, Scalars, Series]] = []
    bar = tqdm(total=len(tasks), desc=desc or opts.name, unit="run", file=sys.stderr,
               dynamic_ncols=True)

    def collect(task: dict[str, Any], result: dict[str, Any]) -> None:
        if result["status"] != "ok":
            raise RuntimeError(f"run {task['run_id']} (seed {task['seed']}) failed:\n"
                               f"{result['error']}")
        out.append((task["label"], task["index"], result["scalars"], result["series"]))
        bar.update(1)

    try:
        if opts.scheduler:
            executors.run_dask(tasks, collect, opts.scheduler, fn=run_measured)
        elif opts.workers == 1:  # in this process: the same unit of work, easy to debug
            for task in tasks:
                collect(task, run_measured(task))
        else:
            workers = min(opts.workers or executors.default_workers(), len(tasks))
            executors.run_local(tasks, collect, workers, fn=run_measured)
    finally:
        bar.close()
    rows = []
    collected: dict[tuple[str, str], dict[int, pd.Series]] = {}
    for label, index, scalars, series in out:
        rows.append({"label": label, "seed_index": index, "seed": seeds[index], **scalars})
        for name, s in series.items():
            collected.setdefault((label, name), {})[index] = s
    scalars_df = pd.DataFrame(rows).sort_values(["label", "seed_index"]).reset_index(drop=True)
    series = {key: pd.DataFrame(dict(sorted(cols.items()))).sort_index()
              for key, cols in collected.items()}
    return Results(labels=[label for label, _ in configs], seeds=seeds, scalars=scalars_df,
                   series=series, elapsed_s=time.perf_counter() - t0)


# ----------------------------------------------------------------------------- statistics
def finite(values: Any) -> np.ndarray:
    """The finite entries of an array-like, as floats."""
    a = np.asarray(values, dtype=float).ravel()
    return a[np.isfinite(a)]


def bootstrap_interval(values: Any, level: float = 0.9,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The ``level`` interval of the mean across seeds: percentiles of the means of
    ``resamples`` resamples of the finite values (with replacement), from a generator seeded
    with ``BOOTSTRAP_SEED``; NaNs if there are no values."""
    a = finite(values)
    if not a.size:
        return math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=1)
    tail = 50.0 * (1.0 - level)
    return float(np.percentile(means, tail)), float(np.percentile(means, 100.0 - tail))


def band(values: Any) -> tuple[float, float, float]:
    """Mean and 90% band (5th and 95th percentiles) of the finite values; NaNs if none."""
    a = finite(values)
    if not a.size:
        return math.nan, math.nan, math.nan
    return float(a.mean()), float(np.percentile(a, 5)), float(np.percentile(a, 95))


def band_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row of a (month x seed) frame: mean, p5 and p95 across seeds (NaNs ignored)."""
    a = frame.to_numpy(dtype=float)
    ok = np.isfinite(a)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.where(ok, a, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)
    lo = np.full(len(a), np.nan)
    hi = np.full(len(a), np.nan)
    for i in np.flatnonzero(n > 0):
        row = a[i][ok[i]]
        lo[i], hi[i] = np.percentile(row, 5), np.percentile(row, 95)
    return pd.DataFrame({"mean": mean, "p5": lo, "p95": hi}, index=frame.index)


@dataclasses.dataclass
class KeyNumber:
    """One reported number: its values across seeds, unit, and declared sanity bounds."""

    name: str
    values: np.ndarray
    unit: str
    bounds: tuple[float, float]
    """Sanity bounds on the mean, declared in the script beside the number."""
    label: str = ""
    """What it is, in words, for the report's table."""
    digits: int = 2

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float).ravel()
        lo, hi = self.bounds
        if not lo <= hi:
            raise ValueError(f"{self.name}: bounds {self.bounds} are not ordered")

    @property
    def stats(self) -> tuple[float, float, float]:
        """(mean, p5, p95) across seeds."""
        return band(self.values)

    def as_json(self) -> dict[str, Any]:
        mean, p5, p95 = self.stats

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        lo, hi = bootstrap_interval(self.values)
        a = finite(self.values)
        low, high = (float(a.min()), float(a.max())) if a.size else (math.nan, math.nan)
        median = float(np.median(a)) if a.size else math.nan
        return {"mean": num(mean), "median": num(median), "p5": num(p5), "p95": num(p95),
                "ci90": [num(lo), num(hi)], "min": num(low), "max": num(high), "unit": self.unit,
                "bounds": [float(self.bounds[0]), float(self.bounds[1])],
                "n": int(finite(self.values).size), "label": self.label}

    def in_bounds(self) -> bool:
        mean = self.stats[0]
        return math.isfinite(mean) and self.bounds[0] <= mean <= self.bounds[1]


def fmt(x: float, digits: int = 2) -> str:
    """A number for a table: thousands separators, ``digits`` decimals, "n/a" for NaN."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:,.{digits}f}"


# ----------------------------------------------------------------------------- output
def write_report(opts: Options, results: Results | None, *, title: str, question: str,
                 setup: Sequence[str], numbers: Sequence[KeyNumber], answer: str,
                 caveats: Sequence[str], figures: Sequence[tuple[str, str]],
                 tables: Sequence[tuple[str, str]] = (), mechanism: str = "",
                 sensitivity: str = "") -> Path:
    """Write ``report.md``, ``key_numbers.json`` and ``runs.csv`` to ``opts.out``.

    Args:
        setup: bullet lines describing scenarios and measurements.
        numbers: the key numbers (mean, 90% band, unit, sanity bounds).
        answer: the answer in two sentences.
        mechanism: which mechanism of the model produces the answer (a paragraph).
        sensitivity: whether the answer survives the ranges of its key parameters (a line,
            usually from :func:`sensitivity`).
        caveats: bullet lines on what the model leaves out or stylizes.
        figures: (file name in ``opts.out``, caption).
        tables: extra (heading, markdown table) sections.
    """
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    runs = results.scalars if results is not None else pd.DataFrame()
    n_runs = len(runs)
    lines = [f"# {title}", "", f"**Question.** {question}", "", "## Setup", ""]
    lines += [f"- {s}" for s in setup]
    months = "scenario length" if opts.months is None else f"{opts.months} months"
    lines += [f"- {opts.seeds} seeds per configuration (common random numbers: the same seeds "
              f"in every configuration; base seed {opts.base_seed}), {months}, "
              f"{n_runs} runs" + (f" in {results.elapsed_s:.0f} s" if results else "")
              + (" (quick mode: a smoke test, not a finding)" if opts.quick else "") + ".",
              f"- Reproduce: `{opts.command()}`", "",
              "## Key numbers", "",
              "Mean across seeds, 90% band (5th to 95th percentile across seeds: the seed "
              "spread) and 90% interval of the mean (bootstrap over seeds: how well the seeds "
              "pin the mean down). Sanity bounds are declared in the script and checked by the "
              "tests on the mean.", "",
              "| number | mean | 90% band | 90% interval of the mean | unit | sanity bounds |",
              "|---|---:|---:|---:|---|---|"]
    for k in numbers:
        mean, p5, p95 = k.stats
        lo, hi = bootstrap_interval(k.values)
        name = f"{k.label} (`{k.name}`)" if k.label else f"`{k.name}`"
        lines.append(f"| {name} | {fmt(mean, k.digits)} | {fmt(p5, k.digits)} to "
                     f"{fmt(p95, k.digits)} | {fmt(lo, k.digits)} to {fmt(hi, k.digits)} | "
                     f"{k.unit} | [{fmt(k.bounds[0], k.digits)}, {fmt(k.bounds[1], k.digits)}] |")
    for heading, table in tables:
        lines += ["", f"## {heading}", "", table.rstrip()]
    lines += ["", "## Answer", "", answer.strip()]
    if mechanism:
        lines += ["", "## Mechanism", "", mechanism.strip()]
    if sensitivity:
        lines += ["", "## Sensitivity", "", sensitivity.strip()]
    lines += ["", "## Caveats", ""]
    lines += [f"- {c}" for c in caveats]
    lines += ["", "## Figures", ""]
    for file, caption in figures:
        lines += [f"![{caption}]({file})", "", f"*{caption}*", ""]
    (out / "report.md").write_text("\n".join(lines).rstrip() + "\n")
    data = {k.name: k.as_json() for k in numbers}
    (out / "key_numbers.json").write_text(json.dumps(data, indent=2) + "\n")
    if results is not None:
        runs.to_csv(out / "runs.csv", index=False)
    if is_full_run(opts):
        ANSWERS.mkdir(parents=True, exist_ok=True)
        (ANSWERS / f"{opts.name}.json").write_text(json.dumps(data, indent=2) + "\n")
        GALLERY.mkdir(parents=True, exist_ok=True)
        for i, (file, _) in enumerate(figures):  # the first is the gallery's <name>.png
            target = f"{opts.name}.png" if i == 0 else f"{opts.name}_{file}"
            (GALLERY / target).write_bytes((out / file).read_bytes())
    outside = [k.name for k in numbers if not k.in_bounds()]
    if outside:
        print(f"WARNING: outside declared sanity bounds: {', '.join(outside)}", file=sys.stderr)
    return out / "report.md"


def is_full_run(opts: Options) -> bool:
    """A run whose numbers are the committed answer: default seeds, base seed and length."""
    return (not opts.quick and opts.seeds == DEFAULT_SEEDS and opts.base_seed == BASE_SEED
            and opts.months is None)


def sensitivity(configs: Sequence[tuple[str, WorldConfig]], opts: Options, measure: Measure,
                headline: Callable[[Results], str],
                variants: Sequence[tuple[str, Callable[[WorldConfig], WorldConfig]]]) -> str:
    """One line: the headline (``headline(results)``, a short text) with each variant applied
    to every configuration's world, same seeds: ``"name: headline; ..."``."""
    parts = []
    for name, change in variants:
        res = run_configs([(label, change(world)) for label, world in configs], opts, measure,
                          desc=f"{opts.name} [{name}]")
        parts.append(f"{name}: {headline(res)}")
    return "; ".join(parts)


def with_market(**changes: Any) -> Callable[[WorldConfig], WorldConfig]:
    """A world change for :func:`sensitivity`: market parameters set to ``changes``."""
    return lambda world: dataclasses.replace(world,
                                             market=dataclasses.replace(world.market, **changes))


def scaled_labs(field: str, factor: float) -> Callable[[WorldConfig], WorldConfig]:
    """A world change for :func:`sensitivity`: every lab's ``field`` times ``factor``."""
    return lambda world: dataclasses.replace(world, labs=tuple(
        dataclasses.replace(lab, **{field: getattr(lab, field) * factor}) for lab in world.labs))


def scaled_sellers(kind: str, field: str, factor: float) -> Callable[[WorldConfig], WorldConfig]:
    """A world change for :func:`sensitivity`: ``field`` of every seller of ``kind`` times
    ``factor``."""
    return lambda world: dataclasses.replace(world, sellers=tuple(
        dataclasses.replace(s, **{field: getattr(s, field) * factor}) if s.kind == kind else s
        for s in world.sellers))


SCARCITY_RANGE = (("scarcity markup 1.0", with_market(scarcity_markup=1.0)),
                  ("scarcity markup 2.0", with_market(scarcity_markup=2.0)))
"""Sellers' markup of a fully booked seller at the ends of its range (the default is 1.5): how
far asks rise above cost when capacity is short."""
GROWTH_RANGE = (("labs' demand growth x0.5", scaled_labs("growth_per_month", 0.5)),
                ("x1.5", scaled_labs("growth_per_month", 1.5)))
"""Labs' demand growth at half and one and a half times its calibrated pace."""


def markdown_table(df: pd.DataFrame, digits: int = 2) -> str:
    """A small frame as a markdown table (index as the first column)."""
    cols = [str(df.index.name or "")] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        cells = [str(idx)] + [fmt(v, digits) if isinstance(v, (int, float, np.floating))
                              else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_band_cell(values: Any, digits: int = 2) -> str:
    """"mean (p5 to p95)" for a table cell."""
    mean, p5, p95 = band(values)
    return f"{fmt(mean, digits)} ({fmt(p5, digits)} to {fmt(p95, digits)})"


# ----------------------------------------------------------------------------- figures
def figure(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 4.2):
    """A figure with readable defaults (one panel is 6.4 x 4.2 in)."""
    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
                         "legend.fontsize": 9, "figure.dpi": 110})
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False)
    return fig, axes.ravel()


def plot_band(ax, frame: pd.DataFrame, label: str, color: str, scale: float = 1.0,
              linestyle: str = "-") -> None:
    """Mean across seeds as a line and the 90% band as a shaded area (months x seeds)."""
    b = band_frame(frame) * scale
    x = pd.to_datetime(b.index)
    ax.plot(x, b["mean"], color=color, label=label, linestyle=linestyle, linewidth=1.8)
    ax.fill_between(x, b["p5"], b["p95"], color=color, alpha=0.18, linewidth=0)


def date_axis(ax) -> None:
    """Year ticks on a monthly time axis."""
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.xaxis.set_minor_locator(mdates.MonthLocator(bymonth=(4, 7, 10)))


def bar_band(ax, labels: Sequence[str], values: Sequence[Any], colors: Sequence[str] | None = None,
             horizontal: bool = True) -> None:
    """Bars at the mean with 90%-band whiskers, one per label (values: arrays across seeds).
    The mean can lie just outside its 5-95% band: by rounding when every seed gives the same
    value, or with a skewed spread (one seed far off, the rest alike). That side's whisker is
    then drawn as none."""
    stats = np.array([band(v) for v in values])
    mean, lo, hi = stats[:, 0], stats[:, 1], stats[:, 2]
    err = np.maximum(np.vstack([np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)]), 0.0)
    pos = np.arange(len(labels))
    colors = list(colors) if colors is not None else [COLORS[i % len(COLORS)]
                                                      for i in range(len(labels))]
    if horizontal:
        ax.barh(pos, np.nan_to_num(mean), xerr=err, color=colors, alpha=0.85, capsize=3)
        ax.set_yticks(pos, labels)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
    else:
        ax.bar(pos, np.nan_to_num(mean), yerr=err, color=colors, alpha=0.85, capsize=3)
        ax.set_xticks(pos, labels)
        ax.axhline(0, color="black", linewidth=0.8)


def save(fig, opts: Options, file: str, note: str | None = None) -> str:
    """Save a figure to ``opts.out/file`` (with a footnote on seeds and bands); return ``file``."""
    opts.out.mkdir(parents=True, exist_ok=True)
    text = note or (f"Lines: mean of {opts.seeds} seeds; shading/whiskers: 90% band "
                    f"(5th-95th percentile across seeds).")
    if opts.quick:
        text += " QUICK MODE (smoke test)."
    fig.text(0.01, 0.005, text, fontsize=7.5, color="#555555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(opts.out / file, dpi=110)
    plt.close(fig)
    return file


# ----------------------------------------------------------------------------- frames helpers
def agent_series(agents: pd.DataFrame, column: str, *, agent: str | None = None,
                 kind: str | None = None) -> pd.Series:
    """A column of the agents frame summed per month over one agent or one kind."""
    rows = agents
    if agent is not None:
        rows = rows[rows["agent"] == agent]
    if kind is not None:
        rows = rows[rows["kind"] == kind]
    return rows.groupby("month")[column].sum()


def market_series(market: pd.DataFrame, product: str, column: str) -> pd.Series:
    """A column of the market frame for one product, indexed by month."""
    return market[market["product"] == product].set_index("month")[column]


def between(series: pd.Series, start: str | None = None, end: str | None = None) -> pd.Series:
    """Rows of a month-indexed series with ``start <= month < end`` (``"YYYY-MM"`` strings)."""
    idx = pd.to_datetime(series.index)
    keep = np.ones(len(series), dtype=bool)
    if start is not None:
        keep &= idx >= pd.Timestamp(start)
    if end is not None:
        keep &= idx < pd.Timestamp(end)
    return series[keep]


def vwap(market: pd.DataFrame, product: str, start: str | None = None,
         end: str | None = None) -> float:
    """Volume-weighted clearing price of a product over [start, end), $/H100e-month."""
    rows = market[(market["product"] == product) & (market["volume_h100e"] > 0)]
    if start is not None:
        rows = rows[rows["month"] >= pd.Timestamp(start)]
    if end is not None:
        rows = rows[rows["month"] < pd.Timestamp(end)]
    w = rows["volume_h100e"].to_numpy()
    if not w.size or w.sum() <= 0:
        return math.nan
    return float((rows["price_usd_per_h100e_month"].to_numpy() * w).sum() / w.sum())


def per_hour(usd_per_h100e_month: float) -> float:
    """$/H100e-month -> $/H100e-hour."""
    return usd_per_h100e_month / HOURS_PER_MONTH


def per_mw_month_m(usd_per_h100e_month: float) -> float:
    """$/H100e-month -> $M per MW-month of capacity like the lease's (280,000 H100e on 300 MW)."""
    return usd_per_h100e_month * H100E_PER_LEASE_MW / 1e6


def elapsed_note(t0: float) -> str:
    """Seconds since ``t0``, for log lines."""
    return f"{time.perf_counter() - t0:.1f} s"


def cpu_count() -> int:
    """CPUs available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
