"""What a study found: the effect of each parameter on each metric.

- ``wide``: one row per run (parameters, seed, status, error, a column per metric).
- ``effects``: for every metric and parameter, the metric's mean over all successful runs at the
  parameter's lowest and highest level (grid values, or for a range the lowest and highest of
  its quantile bins), averaged over every other parameter and seed; ``effect = high - low``.
- ``sensitivity``: first-order variance-based indices ``S_i = Var(E[Y | X_i]) / Var(Y)`` by the
  binned correlation ratio, with the small-sample bias correction of epsilon-squared::

      S_i = (SS_between - (k - 1) * SS_within / (N - k)) / SS_total     (clipped at 0)

  over ``k`` levels (grid values, or ``min(distinct, max(2, floor(sqrt(N))))`` quantile bins of a
  range), ``N`` successful runs. ``eta2 = SS_between / SS_total`` is the uncorrected ratio. The
  replicate seed is reported as a factor too (its share is the noise of the simulation).
- ``tornado``: a panel per metric, a bar per parameter from its low-level to its high-level
  mean, relative to the study mean, in the metric's unit, with whiskers for seed noise: the
  95% interval ``+-1.96 * seed_sd / sqrt(n)`` of each level mean, where ``seed_sd`` is the
  pooled standard deviation across replicate seeds at a fixed parameter point (no whiskers
  with a single seed).
- For ``saltelli`` and ``morris`` studies, Sobol and Morris indices through SALib
  (``market.sweep.sensitivity``) instead of the binned first-order indices.
- ``series_fans.png``: fan charts (median, 50% and 90% bands over all runs) of the swept
  series.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from market import exact
from market.sweep.study import Plan

SEED = "(seed)"


def unit_of(metric: str) -> tuple[str, float]:
    """Display unit of a metric from its name, and the factor to convert to it."""
    if metric.endswith("_usd_per_h100e_hour"):
        return "$/H100e-hour", 1.0
    if metric.endswith("_usd"):
        return "$ billion", 1e-9
    if metric.startswith("hhi"):
        return "HHI points (0-10,000)", 1.0
    if metric.endswith("volatility"):
        return "std of monthly log change", 1.0
    if "share" in metric or metric == "utilization":
        return "share (0-1)", 1.0
    return "metric units", 1.0


def wide(runs: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """One row per run: run_id, seed, parameters, status, error, elapsed_s, a column per
    metric (in the study's run order)."""
    keys = ["run_id", "seed", *[p.path for p in plan.study.parameters]]
    base = runs.drop_duplicates("run_id")[[*keys, "status", "error", "elapsed_s"]]
    values = runs.pivot(index="run_id", columns="metric", values="value")
    values = values.reindex(columns=list(plan.metrics))
    out = base.merge(values, left_on="run_id", right_index=True, how="left")
    return out.reset_index(drop=True)


def _levels(x: pd.Series, n_runs: int, is_range: bool) -> pd.Series:
    """Level labels of a factor: its values, or quantile bins for a sampled range."""
    distinct = x.nunique()
    if not is_range or distinct <= 2:
        return x.astype(str) if x.dtype == object else x
    k = int(min(distinct, max(2, math.isqrt(max(n_runs, 1)))))
    ranks = x.rank(method="dense")
    return pd.Series(np.ceil(ranks / ranks.max() * k).astype(int), index=x.index)


def _factors(frame: pd.DataFrame, plan: Plan) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Per factor: the level of each run, and the ordering value of each run's level."""
    out = {}
    for p in plan.study.parameters:
        x = frame[p.path]
        levels = _levels(x, len(frame), p.range is not None)
        order = x if plan.param_types[p.path] in ("int64", "float64", "bool") else x.rank(
            method="dense")
        out[p.path] = (levels, order.astype(float))
    return out


def effects(frame: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """The tornado table: metric, unit, parameter, low and high level, means and effect."""
    ok = frame[frame["status"] == "ok"]
    rows = []
    points = ok["run_id"].map({r.run_id: r.point for r in plan.runs})
    for metric in plan.metrics:
        y = ok[metric]
        unit, scale = unit_of(metric)
        noise = seed_sd(y, points)
        for name, (levels, order) in _factors(ok, plan).items():
            valid = y.notna()
            if not valid.any():
                continue
            g = pd.DataFrame({"level": levels[valid], "order": order[valid], "y": y[valid]})
            by = g.groupby("level").agg(order=("order", "mean"), y=("y", "mean"),
                                        n=("y", "size")).sort_values("order")
            lo, hi = by.iloc[0], by.iloc[-1]
            xs = ok.loc[valid.index[valid], name]
            lo_x = xs[levels[valid] == by.index[0]]
            hi_x = xs[levels[valid] == by.index[-1]]
            rows.append({
                "metric": metric, "unit": unit, "parameter": name,
                "low": _span(lo_x), "high": _span(hi_x),
                "mean_at_low": lo["y"] * scale, "mean_at_high": hi["y"] * scale,
                "effect": (hi["y"] - lo["y"]) * scale,
                "study_mean": exact.mean(y[valid]) * scale,
                "n_low": int(lo["n"]), "n_high": int(hi["n"]),
                "seed_sd": noise * scale,
                "effect_seed_ci95": 1.96 * noise * scale * math.sqrt(1 / lo["n"] + 1 / hi["n"]),
            })
    out = pd.DataFrame(rows, columns=["metric", "unit", "parameter", "low", "high",
                                      "mean_at_low", "mean_at_high", "effect", "study_mean",
                                      "n_low", "n_high", "seed_sd", "effect_seed_ci95"])
    rank = out["metric"].map({m: i for i, m in enumerate(plan.metrics)})
    out = out.assign(_rank=rank, _abs=out["effect"].abs()).sort_values(
        ["_rank", "_abs"], ascending=[True, False], kind="stable")
    return out.drop(columns=["_rank", "_abs"]).reset_index(drop=True)


def seed_sd(y: pd.Series, points: pd.Series) -> float:
    """Pooled standard deviation of ``y`` across replicate seeds at the same parameter point:
    the simulation's own noise (NaN without two seeds at some point)."""
    g = pd.DataFrame({"y": y, "point": points}).dropna().groupby("point")["y"]
    dof = (g.size() - 1).clip(lower=0)
    if dof.sum() == 0:
        return float("nan")
    return math.sqrt(exact.dot(g.var(ddof=1).fillna(0), dof) / int(dof.sum()))


def _span(values: pd.Series) -> str:
    """A level as text: the value, or 'lo..hi' for a bin of a range."""
    vals = values.unique()
    if len(vals) > 1:
        return f"{float(np.min(vals)):.4g}..{float(np.max(vals)):.4g}"
    v = vals[0]
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float):
        return f"{v:.4g}"
    return v if isinstance(v, str) else json.dumps(v)


def sensitivity(frame: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """First-order indices per metric and factor (see the module docstring)."""
    ok = frame[frame["status"] == "ok"]
    factors = _factors(ok, plan)
    factors[SEED] = (ok["seed"], ok["seed"].astype(float))
    rows = []
    for metric in plan.metrics:
        y = ok[metric]
        valid = y.notna().to_numpy()
        yv = y.to_numpy()[valid]
        n = yv.size
        dev = yv - exact.mean(yv) if n else yv
        ss_total = exact.dot(dev, dev)
        for name, (levels, _) in factors.items():
            lv = levels.to_numpy()[valid]
            g = pd.DataFrame({"level": lv, "y": yv}).groupby("level")["y"]
            k = int(g.ngroups)
            gap = g.mean().to_numpy() - exact.mean(yv) if n else np.zeros(0)
            ss_between = exact.dot(g.size().to_numpy() * gap, gap)
            ss_between = min(ss_between, ss_total)  # (equal but for rounding when k == n)
            ss_within = ss_total - ss_between
            if ss_total <= 0 or n <= k:
                s1 = eta2 = float("nan")
            else:
                eta2 = ss_between / ss_total
                s1 = max(0.0, (ss_between - (k - 1) * ss_within / (n - k)) / ss_total)
            rows.append({"metric": metric, "parameter": name, "S1": s1, "eta2": eta2,
                         "levels": k, "n": n})
    return pd.DataFrame(rows, columns=["metric", "parameter", "S1", "eta2", "levels", "n"])


def tornado(table: pd.DataFrame, plan: Plan, path: Path) -> None:
    """Draw the tornado chart (a panel per metric) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    metrics = [m for m in plan.metrics if (table["metric"] == m).any()]
    n = max(1, len(metrics))
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    n_params = max(1, len(plan.study.parameters))
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, (1.0 + 0.45 * n_params) * rows + 1),
                             squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        t = table[table["metric"] == metric].iloc[::-1]  # largest effect on top
        mean = t["study_mean"].iloc[0]
        yy = np.arange(len(t))
        lo = t["mean_at_low"].to_numpy() - mean
        hi = t["mean_at_high"].to_numpy() - mean
        ax.barh(yy, lo, color="tab:blue", label="parameter at its lowest level",
                xerr=_whisker(t["seed_sd"], t["n_low"]), error_kw={"lw": 0.8, "capsize": 2})
        ax.barh(yy, hi, color="tab:orange", alpha=0.8, label="parameter at its highest level",
                xerr=_whisker(t["seed_sd"], t["n_high"]), error_kw={"lw": 0.8, "capsize": 2})
        ax.axvline(0, color="black", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_yticks(yy, [f"{p}\n[{a} .. {b}]" for p, a, b in
                           zip(t["parameter"], t["low"], t["high"], strict=True)], fontsize=7)
        ax.set_xlabel(f"change from study mean ({mean:.4g}), {t['unit'].iloc[0]}")
        ax.set_ylabel("parameter [low .. high]")
        ax.set_title(metric, fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8, ncols=2)
    noise = ("; whiskers: 95% interval of each mean from seed noise"
             if len(plan.study.seeds) > 1 else "")
    fig.suptitle(f"Study {plan.study.name}: effect of each parameter on each metric\n"
                 f"(means over the other parameters and {len(plan.study.seeds)} seeds{noise})",
                 fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)


def _whisker(sd: pd.Series, n: pd.Series) -> np.ndarray | None:
    """Half-widths of the 95% seed-noise interval of level means (None without seed noise)."""
    half = 1.96 * sd.to_numpy(float) / np.sqrt(n.to_numpy(float))
    return None if not np.isfinite(half).any() else np.nan_to_num(half)


def write_report(frame: pd.DataFrame, plan: Plan, out: Path,
                 series: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Write results.csv, summary.csv, tornado.png, sensitivity.csv (when asked, and always
    for a SALib design) and series_fans.png (when the study has series), each through a
    temporary file renamed into place (never half-written)."""
    from market.sweep.store import write_file_atomic
    from market.sweep.study import SALIB_METHODS

    def csv(df: pd.DataFrame, name: str) -> None:
        write_file_atomic(out / name, lambda tmp: df.to_csv(tmp, index=False))

    csv(frame, "results.csv")
    table = effects(frame, plan)
    csv(table, "summary.csv")
    if len(table):
        write_file_atomic(out / "tornado.png", lambda tmp: tornado(table, plan, tmp))
    sens = None
    if plan.study.method in SALIB_METHODS:
        from market.sweep.sensitivity import study_indices

        sens = study_indices(frame, plan)
    elif plan.study.sensitivity:
        sens = sensitivity(frame, plan)
    if sens is not None:
        csv(sens, "sensitivity.csv")
    if series is not None and not series.empty:
        from market.ensemble import chart_fans, fan_table

        tmp = out / ".series_fans.tmp.png"  # (the suffix tells matplotlib the format)
        chart_fans(fan_table(series), tmp, f"Study {plan.study.name}", frame["run_id"].nunique())
        tmp.replace(out / "series_fans.png")
    return table, sens
