"""Ensembles: a scenario over many seeds, and two scenarios compared on common seeds.

One run is one draw of a stochastic model, so the commands report distributions:

- ``run_ensemble`` runs a scenario over seeds ``first, first + 1, ..., first + n - 1`` through
  the sweep executor (``market.sweep.run_study``: local processes, or Dask with a scheduler;
  results stream to a resumable folder). Member ``k`` is the very run that
  ``compute-market run --seed first+k`` makes. ``write_ensemble_report`` writes the mean and the
  90% interval (5th to 95th percentile across seeds) of every metric (``summary.md``,
  ``summary.csv``, ``results.csv``) and fan charts of the main monthly series (median line,
  50% and 90% bands across seeds; ``fans.csv``, ``fan_chart.png``).
- ``run_compare`` runs scenarios A and B on the same seeds (common random numbers), so each
  seed gives a paired difference B - A of every metric; ``paired_differences`` reports the
  mean difference with a percentile bootstrap interval over seeds (resampling seeds with a
  fixed generator, so the interval is deterministic), and ``write_compare_report`` writes
  ``compare.md``, ``compare.csv`` and ``compare.png``.

Every report file is written whole or not at all (a temporary file renamed over the target).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market import exact

FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Quantiles across seeds drawn by a fan chart: the 90% band, the 50% band and the median."""
INTERVAL = (0.05, 0.95)
"""The 90% interval of a metric across seeds (5th and 95th percentile)."""
BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 0
"""Seed of the bootstrap's generator: the same runs always give the same interval."""
CI_LEVEL = 0.95
"""Confidence level of the bootstrap interval of a mean paired difference."""


# ----------------------------------------------------------------------------- running
@dataclasses.dataclass
class Ensemble:
    """The runs of one scenario over seeds: a row per seed and metric columns (``results``),
    and the monthly series of every run in long form (``series``: run_id, seed, series, unit,
    month, value)."""

    name: str
    out: Path
    seeds: list[int]
    results: pd.DataFrame
    series: pd.DataFrame
    metrics: list[str]
    n_failed: int
    elapsed_s: float


def seed_range(first: int, n: int) -> list[int]:
    """The seeds of an ensemble: ``first, first + 1, ..., first + n - 1``."""
    return list(range(first, first + n))


def main_series(world: Any) -> list[str]:
    """The series a fan chart shows: spot and term price indices, capacity online, unmet share
    of demand and utilization (names of ``market.metrics.available_series``)."""
    terms = [f"term_{t}m_index" for t in world.market.term_tenors_months]
    return ["spot_index", *terms, "capacity_h100e", "unmet_share", "utilization"]


def overrides_tag(overrides: Sequence[str]) -> str:
    """A short stable tag of a list of ``--set`` overrides for folder names ("" for none)."""
    if not overrides:
        return ""
    return "-set" + hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:6]


def run_ensemble(scenario: str, seeds: Sequence[int], *, overrides: Sequence[str] = (),
                 months: int | None = None, out: str | Path, name: str | None = None,
                 workers: int | None = None, scheduler: str | None = None,
                 progress: bool = True) -> Ensemble:
    """Run ``scenario`` (shipped name or .toml path) once per seed through the sweep executor.

    The runs land in ``out`` as a sweep folder (``manifest.json``, ``runs/``, ``series/``);
    rerunning into the same folder only runs the seeds without a result.

    Raises:
        market.sweep.StudyError: the scenario, an override or the folder is invalid (a
            ``ScenarioError``: the message names the key and value).
    """
    from market.scenarios import load_scenario
    from market.sweep import Study, StudyError, run_study

    bad = [s for s in seeds if s < 0]
    if bad:
        raise StudyError(f"seed {bad[0]}: seeds must be >= 0")
    check_out(Path(out), Path(out) / "manifest.json")
    world = load_scenario(scenario, [*overrides, *([f"months={months}"] if months else [])])
    label = name or world.name
    plain = re.sub(r"[^\w.+-]+", "-", label).strip("-.")[:100] or "ensemble"  # a folder name
    study = Study.from_dict({"name": plain, "scenario": str(scenario),
                             "seeds": list(seeds), "series": main_series(world),
                             "set": list(overrides),
                             **({"months": months} if months else {})},
                            source=f"ensemble of {scenario}")
    result = run_study(study, workers=workers, scheduler=scheduler, out=out,
                       progress=progress, report=False)
    return Ensemble(name=label, out=Path(out), seeds=list(seeds), results=result.results,
                    series=result.series(), metrics=list(result.plan.metrics),
                    n_failed=result.n_failed, elapsed_s=result.elapsed_s)


# ----------------------------------------------------------------------------- statistics
def metric_intervals(results: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per metric: mean, 5th and 95th percentile, standard deviation across the seeds that
    finished (NaN values left out), and how many seeds that is."""
    ok = results[results["status"] == "ok"]
    rows = []
    for metric in metrics:
        y = ok[metric].to_numpy(dtype=float)
        y = y[np.isfinite(y)]
        if y.size:
            lo, hi = np.quantile(y, INTERVAL)
            rows.append({"metric": metric, "mean": exact.mean(y), "p5": lo, "p95": hi,
                         "sd": exact.std(y) if y.size > 1 else math.nan, "n": y.size})
        else:
            rows.append({"metric": metric, "mean": math.nan, "p5": math.nan, "p95": math.nan,
                         "sd": math.nan, "n": 0})
    return pd.DataFrame(rows, columns=["metric", "mean", "p5", "p95", "sd", "n"])


def fan_table(series: pd.DataFrame) -> pd.DataFrame:
    """Per series and month: the ``FAN_QUANTILES`` across runs (columns ``q05`` ... ``q95``),
    the mean and the number of runs with a value."""
    if series.empty:
        cols = ["series", "unit", "month", *_qnames(), "mean", "n"]
        return pd.DataFrame(columns=cols)
    data = series.dropna(subset=["value"]).assign(month=lambda d: pd.to_datetime(d["month"]))
    g = data.groupby(["series", "unit", "month"], sort=False)["value"]
    q = g.quantile(list(FAN_QUANTILES)).unstack()
    q.columns = _qnames()
    out = q.join(g.mean().rename("mean")).join(g.size().rename("n")).reset_index()
    order = {name: i for i, name in enumerate(dict.fromkeys(series["series"]))}
    out = out.sort_values(["series", "month"], key=lambda c: c.map(order) if c.name == "series"
                          else c, kind="stable")
    return out.reset_index(drop=True)


def _qnames() -> list[str]:
    return [f"q{round(100 * q):02d}" for q in FAN_QUANTILES]


def bootstrap_mean_interval(values: np.ndarray, *, level: float = CI_LEVEL,
                            resamples: int = BOOTSTRAP_RESAMPLES,
                            seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled with replacement by
    ``numpy.random.default_rng(seed)``); NaNs for fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = exact.total(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1) / x.size
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def paired_differences(a: pd.DataFrame, b: pd.DataFrame, metrics: Sequence[str], *,
                       level: float = CI_LEVEL, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Per metric: means of A and B and of the per-seed difference B - A over the seeds both
    finished, with a bootstrap interval of the mean difference, and the difference relative to
    A's mean (%)."""
    cols = ["seed", *metrics]
    left = a.loc[a["status"] == "ok", cols]
    right = b.loc[b["status"] == "ok", cols]
    both = left.merge(right, on="seed", suffixes=("_a", "_b"))
    rows = []
    for metric in metrics:
        ya, yb = both[f"{metric}_a"].to_numpy(float), both[f"{metric}_b"].to_numpy(float)
        keep = np.isfinite(ya) & np.isfinite(yb)
        d = yb[keep] - ya[keep]
        lo, hi = bootstrap_mean_interval(d, level=level, seed=seed)
        mean_a = exact.mean(ya[keep])
        mean_d = exact.mean(d)
        per_a = 100.0 / abs(mean_a) if math.isfinite(mean_a) and mean_a != 0 else math.nan
        rows.append({"metric": metric, "mean_a": mean_a,
                     "mean_b": exact.mean(yb[keep]),
                     "mean_diff": mean_d, "ci_lo": lo, "ci_hi": hi,
                     "rel_diff_pct": mean_d * per_a, "rel_ci_lo_pct": lo * per_a,
                     "rel_ci_hi_pct": hi * per_a, "n_pairs": int(d.size)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- files
def write_whole(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a hidden temporary file next to ``path``, then rename it over
    ``path``: the file is either complete or untouched."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _write_text(path: Path, text: str) -> Path:
    return write_whole(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return write_whole(path, lambda tmp: frame.to_csv(tmp, index=False))


def _value(metric: str, value: float) -> str:
    from market.report import format_metric

    return format_metric(metric, value)[1]


def interval_rows(table: pd.DataFrame) -> list[list[str]]:
    """Rows of ``metric_intervals`` as text: label with unit, mean, 'p5 to p95', seeds."""
    from market.report import format_metric

    return [[format_metric(r.metric, r.mean)[0], _value(r.metric, r.mean),
             f"{_value(r.metric, r.p5)} to {_value(r.metric, r.p95)}", str(r.n)]
            for r in table.itertuples()]


def write_ensemble_report(ens: Ensemble, *, charts: bool = True,
                          command: str = "") -> list[Path]:
    """Write ``results.csv`` (a row per seed), ``summary.csv``/``summary.md`` (mean and 90%
    interval of each metric), ``fans.csv`` and ``fan_chart.png`` into the ensemble's folder."""
    from market.report import _md_table

    out = ens.out
    table = metric_intervals(ens.results, ens.metrics)
    fans = fan_table(ens.series)
    written = [_write_csv(out / "results.csv", ens.results),
               _write_csv(out / "summary.csv", table), _write_csv(out / "fans.csv", fans)]
    seeds = f"{ens.seeds[0]}..{ens.seeds[-1]}" if len(ens.seeds) > 1 else str(ens.seeds[0])
    lines = [f"# compute-market ensemble: {ens.name}", "",
             f"{len(ens.seeds)} runs, seeds {seeds} (the run of seed k is `compute-market run "
             f"--seed k` with the same scenario and options); "
             f"{ens.n_failed} failed.", ""]
    if command:
        lines += [f"Made by `{command}`.", ""]
    lines += ["Mean across seeds and 90% interval (5th to 95th percentile across seeds): the "
              "spread of outcomes the model's randomness gives, not a confidence interval of "
              "the mean.", ""]
    lines += _md_table(["metric", "mean", "90% interval", "seeds"], interval_rows(table))
    if charts and not fans.empty:
        lines += ["", "![Fan charts](fan_chart.png)"]
        written.append(write_whole(out / "fan_chart.png",
                                   lambda tmp: chart_fans(fans, tmp, ens.name, len(ens.seeds),
                                                                  runs="seeds")))
    written.insert(2, _write_text(out / "summary.md", "\n".join(lines) + "\n"))
    return written


# ----------------------------------------------------------------------------- charts
PANELS = (
    ("Price indices", "$ per H100e-hour", "index", 1.0),
    ("Capacity online, all sellers", "million H100e", "capacity_h100e", 1e-6),
    ("Unmet share of labs' demand", "% of demand", "unmet_share", 100.0),
    ("Utilization of sellers' capacity", "% of capacity", "utilization", 100.0),
)
"""Panels of a fan chart: title, y label, which series (a name, or ``index`` for every price
index) and the factor from the series' unit to the label's."""


def _series_label(name: str) -> str:
    from market.report import _product_label

    return _product_label(name[: -len("_index")]) if name.endswith("_index") else name


def draw_fan(ax: Any, fan: pd.DataFrame, color: str, label: str, scale: float = 1.0) -> None:
    """One series' fan on ``ax``: median line, 50% band (dark) and 90% band (light)."""
    x = pd.to_datetime(fan["month"])
    ax.fill_between(x, fan["q05"] * scale, fan["q95"] * scale, color=color, alpha=0.15, lw=0)
    ax.fill_between(x, fan["q25"] * scale, fan["q75"] * scale, color=color, alpha=0.35, lw=0)
    ax.plot(x, fan["q50"] * scale, color=color, lw=1.8, label=label)


def chart_fans(fans: pd.DataFrame, path: Path, title: str, n_runs: int,
               panels: Sequence[tuple[str, str, str, float]] = PANELS,
               runs: str = "runs") -> Path:
    """Fan charts of the series in ``fans`` (from ``fan_table``), a panel per ``panels`` entry
    that has data, to a PNG; every price index ($/H100e-hour) shares one panel, and a series
    no panel names gets its own."""
    from market.report import _dates, _empty, _figure

    names = list(dict.fromkeys(fans["series"]))
    used = [p for p in panels if any(_in_panel(n, p[2]) for n in names)]
    units = dict(zip(fans["series"], fans["unit"], strict=True))
    used += [(n, units[n], n, 1.0) for n in names if not any(_in_panel(n, p[2]) for p in panels)]
    ncols = 2 if len(used) > 1 else 1
    nrows = max(1, math.ceil(len(used) / ncols))
    fig, axes = _figure(nrows, ncols, size=(6.0 * ncols, 3.6 * nrows + 0.6), sharex=True)
    for ax in axes.flat[len(used):]:
        ax.set_visible(False)
    for ax, (panel_title, ylabel, key, scale) in zip(axes.flat, used, strict=False):
        members = [n for n in names if _in_panel(n, key)]
        for i, name in enumerate(members):
            draw_fan(ax, fans[fans["series"] == name], f"C{i}", _series_label(name), scale)
        if not members:
            _empty(ax)
        ax.set_title(panel_title, fontsize=10)
        ax.set_ylabel(ylabel)
        if len(members) > 1:
            ax.legend(fontsize=8, loc="best")
        _dates(ax)
    fig.suptitle(f"{title}: median (line), 50% and 90% bands across {n_runs} {runs}",
                 fontsize=10)
    fig.savefig(path, format="png")
    return path


def _in_panel(name: str, key: str) -> bool:
    return name.endswith("_index") if key == "index" else name == key


def chart_compare(diffs: pd.DataFrame, fans_a: pd.DataFrame, fans_b: pd.DataFrame,
                  labels: tuple[str, str], path: Path, n_seeds: int) -> Path:
    """Left: the spot index of A and B as fans. Right: the mean paired difference B - A of each
    metric in % of A's mean, with its bootstrap interval."""
    from market.report import _dates, _figure, _label

    rows = diffs[np.isfinite(diffs["rel_diff_pct"])].iloc[::-1]
    fig, axes = _figure(1, 2, size=(13.0, 1.6 + 0.32 * max(len(rows), 8)))
    left, right = axes[0, 0], axes[0, 1]
    for fans, label, color in ((fans_a, labels[0], "C0"), (fans_b, labels[1], "C3")):
        draw_fan(left, fans[fans["series"] == "spot_index"], color, f"{label}")
    left.set_title("Spot price index: median, 50% and 90% bands", fontsize=10)
    left.set_ylabel("$ per H100e-hour")
    left.legend(fontsize=8, loc="best")
    _dates(left)
    y = np.arange(len(rows))
    err = np.vstack([(rows["rel_diff_pct"] - rows["rel_ci_lo_pct"]).to_numpy(),
                     (rows["rel_ci_hi_pct"] - rows["rel_diff_pct"]).to_numpy()])
    err = np.nan_to_num(err)
    clear = ((rows["rel_ci_lo_pct"] > 0) | (rows["rel_ci_hi_pct"] < 0)).to_numpy()
    for keep, color, label in ((clear, "C3", "interval excludes 0"),
                               (~clear, "gray", "interval includes 0")):
        if keep.any():
            right.errorbar(rows["rel_diff_pct"][keep], y[keep], xerr=err[:, keep], fmt="o",
                           color=color, capsize=3, label=label)
    right.legend(fontsize=8, loc="lower right")
    right.axvline(0, color="black", lw=0.8)
    right.set_yticks(y, [_label(m) for m in rows["metric"]], fontsize=7)
    right.set_xlabel(f"B - A, % of A's mean ({int(100 * CI_LEVEL)}% bootstrap interval)")
    right.set_title(f"Paired difference over {n_seeds} common seeds", fontsize=10)
    right.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"A = {labels[0]}   vs   B = {labels[1]}", fontsize=10)
    fig.savefig(path, format="png")
    return path


# ----------------------------------------------------------------------------- compare
@dataclasses.dataclass
class Comparison:
    """Two ensembles on common seeds and their paired differences."""

    a: Ensemble
    b: Ensemble
    labels: tuple[str, str]
    diffs: pd.DataFrame
    out: Path


def check_out(out: Path, marker: Path) -> None:
    """Refuse an output folder that holds something else: it must be missing, empty, or hold
    ``marker`` (the file an earlier ensemble or comparison there left), so that nothing another
    command wrote is overwritten."""
    from market.sweep import StudyError

    if out.is_dir() and any(out.iterdir()) and not marker.is_file():
        raise StudyError(f"--out {out}: the folder holds other files (not an ensemble or "
                         "comparison of this command); choose another --out or empty it")


def run_compare(a: str, b: str, seeds: Sequence[int], *, overrides_a: Sequence[str] = (),
                overrides_b: Sequence[str] = (), months: int | None = None, out: str | Path,
                workers: int | None = None, scheduler: str | None = None,
                progress: bool = True) -> Comparison:
    """Run scenario ``a`` with ``overrides_a`` and scenario ``b`` with ``overrides_b`` over the
    same seeds (into ``out/a`` and ``out/b``) and pair them seed by seed."""
    out = Path(out)
    check_out(out, out / "a" / "manifest.json")
    labels = (_arm_label(a, overrides_a), _arm_label(b, overrides_b))
    ens_a = run_ensemble(a, seeds, overrides=overrides_a, months=months, out=out / "a",
                         name=labels[0], workers=workers, scheduler=scheduler,
                         progress=progress)
    ens_b = run_ensemble(b, seeds, overrides=overrides_b, months=months, out=out / "b",
                         name=labels[1], workers=workers, scheduler=scheduler,
                         progress=progress)
    metrics = [m for m in ens_a.metrics if m in ens_b.metrics]
    diffs = paired_differences(ens_a.results, ens_b.results, metrics)
    return Comparison(ens_a, ens_b, labels, diffs, out)


def _arm_label(scenario: str, overrides: Sequence[str]) -> str:
    stem = Path(scenario).stem if scenario.endswith(".toml") else scenario
    return stem + "".join(f" {o}" for o in overrides)


def write_compare_report(cmp: Comparison, *, charts: bool = True,
                         command: str = "") -> list[Path]:
    """Write ``compare.csv``, ``compare.md`` (and ``compare.png``) into the comparison's
    folder, and each arm's ensemble report into ``a/`` and ``b/``."""
    from market.report import _md_table, format_metric

    d = cmp.diffs
    written = [*write_ensemble_report(cmp.a, charts=charts),
               *write_ensemble_report(cmp.b, charts=charts),
               _write_csv(cmp.out / "compare.csv", d)]
    n = len(cmp.a.seeds)
    pct = int(100 * CI_LEVEL)
    lines = [f"# compute-market compare: {cmp.labels[0]} vs {cmp.labels[1]}", "",
             f"A = `{cmp.labels[0]}`, B = `{cmp.labels[1]}`, both on the same {n} seeds "
             f"({cmp.a.seeds[0]}..{cmp.a.seeds[-1]}): each seed gives a paired difference "
             f"B - A. The interval is a {pct}% percentile bootstrap of the mean difference "
             f"over seeds ({BOOTSTRAP_RESAMPLES} resamples, generator seed {BOOTSTRAP_SEED}); "
             "with few seeds it is rough.", ""]
    if command:
        lines += [f"Made by `{command}`.", ""]
    rows = []
    for r in d.itertuples():
        label = format_metric(r.metric, r.mean_a)[0]
        rows.append([label, _value(r.metric, r.mean_a), _value(r.metric, r.mean_b),
                     signed_difference(r.metric, r.mean_diff),
                     difference_interval(r.metric, r.ci_lo, r.ci_hi),
                     "n/a" if not math.isfinite(r.rel_diff_pct) else f"{r.rel_diff_pct:+.1f}%",
                     str(r.n_pairs)])
    lines += _md_table(["metric", "A", "B", "B - A", f"{pct}% interval", "B - A (% of A)",
                        "pairs"], rows)
    if charts:
        fans_a, fans_b = fan_table(cmp.a.series), fan_table(cmp.b.series)
        written.append(write_whole(cmp.out / "compare.png", lambda tmp: chart_compare(
            d, fans_a, fans_b, cmp.labels, tmp, n)))
        lines += ["", "![Comparison](compare.png)"]
    written.append(_write_text(cmp.out / "compare.md", "\n".join(lines) + "\n"))
    return written


def difference_interval(metric: str, lo: float, hi: float) -> str:
    """'lo to hi' of a difference, as ``signed_difference`` writes each end."""
    return f"{signed_difference(metric, lo)} to {signed_difference(metric, hi)}"


def signed_difference(metric: str, value: float) -> str:
    """A difference in the metric's display unit (that of ``format_metric``: $B for dollars,
    percentage points for shares), signed, to 3 significant digits."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if metric.endswith("_usd"):
        value /= 1e9
    elif "share" in metric or metric == "utilization":
        value *= 100.0
    return f"{value:+.3g}"


# ----------------------------------------------------------------------------- measured runs
_MEASURES: dict[tuple[str, str], Callable[..., Any]] = {}
"""Measure functions loaded in this (worker) process, by (file, name)."""


def measure_ref(measure: Callable[..., Any]) -> tuple[str, str]:
    """Where a module-level function lives, as (source file, name): a worker process or a Dask
    worker loads it from there, even from a script run as ``__main__``."""
    import sys

    module = sys.modules[measure.__module__]
    return str(Path(module.__file__).resolve()), measure.__qualname__


def _load_measure(ref: tuple[str, str]) -> Callable[..., Any]:
    """Import ``ref``'s file as a module (its folder first on ``sys.path``, so its sibling
    imports work; not as ``__main__``, so a script's main block does not run)."""
    import importlib.util
    import sys

    if ref not in _MEASURES:
        file, name = ref
        folder = str(Path(file).parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module_name = f"_measure_{Path(file).stem}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        _MEASURES[ref] = getattr(module, name)
    return _MEASURES[ref]


def run_measured(task: dict[str, Any]) -> dict[str, Any]:
    """The unit of work of a measured ensemble (the experiment scripts): run ``world`` with
    ``seed`` and return what ``measure(frames, label)`` makes of it, as the executors of
    ``market.sweep`` expect (``status`` and ``error`` instead of an exception).

    Args:
        task: ``run_id``, ``world`` (a ``WorldConfig``), ``seed``, ``label`` and ``measure``:
            a function ``(frames, label) -> (scalars, series)`` importable by the workers, or
            the ``measure_ref`` of one (e.g. in a script).

    Returns:
        ``run_id``, ``status``, ``error``, ``scalars`` (name -> float), ``series`` (name ->
        ``pandas.Series`` by month) and ``elapsed_s``.
    """
    import time
    import traceback

    from market.model import ComputeMarket

    t0 = time.perf_counter()
    out: dict[str, Any] = {"run_id": task["run_id"], "status": "ok", "error": "",
                           "scalars": {}, "series": {}}
    try:
        measure = task["measure"] if callable(task["measure"]) else _load_measure(
            tuple(task["measure"]))
        frames = ComputeMarket(task["world"], rng=task["seed"]).run().frames()
        scalars, series = measure(frames, task["label"])
        out["scalars"] = {k: float(v) for k, v in scalars.items()}
        out["series"] = dict(series)
    except Exception:  # reported to the parent, which says which run failed
        out.update(status="failed", error=traceback.format_exc(limit=8))
    out["elapsed_s"] = time.perf_counter() - t0
    return out
