"""What a calibration writes: the best point as a scenario file, the loss by iteration, the fit
with its 90% band over seeds, the loss against each parameter, and ``report.md``.

Identification (the criterion of ``report.md``). Split each parameter's range into ``bins`` equal
slices (log scale for log parameters). Its *profile* in a slice is the lower of two estimates of
the lowest loss reachable with the parameter in that slice: the lowest loss of any point the
search evaluated there, and the loss at the slice's centre with every other parameter at its best
value (the *slice* runs, ``slices.csv``). A slice is *excluded* when its profile exceeds the best
loss by more than ``delta`` (2.71 by default: with the loss a sum of squared z-scores, the 90%
point of a chi-square with one degree of freedom). The parameter is *identified* when the slices
not excluded cover at most ``max_share`` (default half) of its range; otherwise the targets leave
it free. Both estimates lie above the true profile, so a parameter reported free is free; one
reported identified is identified as far as the search and the slices looked (a ridge that
needs two parameters to move together may be missed with a small budget).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market.calibrate.spec import Spec

BAND = "band.csv"


def _col(path: str) -> str:
    return "p:" + path


def identification(spec: Spec, points: pd.DataFrame,
                   slices: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per parameter: best value, the interval not excluded, its share of the range,
    the profile's rise over the range, and whether the targets identify it."""
    done = points[(points["status"] == "done") & np.isfinite(points["loss"].astype(float))]
    rows = []
    if done.empty:
        return pd.DataFrame(columns=["parameter", "best", "low", "high", "kept_low", "kept_high",
                                     "kept_share", "profile_rise", "identified"])
    loss = done["loss"].to_numpy(dtype=float)
    jmin = float(loss.min())
    best = done.iloc[int(np.argmin(loss))]
    ident = spec.identification
    for p in spec.parameters:
        x = done[_col(p.path)].to_numpy(dtype=float)
        if p.log:
            u = (np.log(x) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
        else:
            u = (x - p.low) / (p.high - p.low)
        k = np.clip((u * ident.bins).astype(int), 0, ident.bins - 1)
        profile = np.full(ident.bins, np.nan)
        for b in range(ident.bins):
            if (k == b).any():
                profile[b] = loss[k == b].min()
        if slices is not None and len(slices):
            sl = slices[slices["parameter"] == p.path]["loss"].to_numpy(dtype=float)
            if len(sl) == ident.bins:
                profile = np.fmin(profile, sl)
        kept = ~(profile > jmin + ident.delta)  # NaN (no point) is kept
        share = float(kept.mean())
        kb = np.flatnonzero(kept)

        def edge(b: float) -> float:
            t = b / ident.bins
            if p.log:
                return math.exp(math.log(p.low) + t * (math.log(p.high) - math.log(p.low)))
            return p.low + t * (p.high - p.low)

        rise = float(np.nanmax(profile) - jmin) if np.isfinite(profile).any() else 0.0
        rows.append({"parameter": p.path, "best": float(best[_col(p.path)]), "low": p.low,
                     "high": p.high, "kept_low": edge(kb.min()), "kept_high": edge(kb.max() + 1),
                     "kept_share": share, "profile_rise": rise,
                     "identified": bool(share <= ident.max_share)})
    return pd.DataFrame(rows)


def _band_seeds(spec: Spec) -> list[int]:
    seeds = list(spec.seeds)
    s = 0
    while len(seeds) < max(spec.band_seeds, len(spec.seeds)):
        if s not in seeds:
            seeds.append(s)
        s += 1
    return seeds[: max(spec.band_seeds, len(spec.seeds))]


def _band(spec: Spec, out: Path, raw: dict, source: str, best: dict, point: int,
          workers: int | None, scheduler: str | None) -> tuple[pd.DataFrame, int]:
    """The series of the targets at the best point over the band seeds (reused when
    ``band.csv`` already holds this point)."""
    from market.calibrate import _execute, _write_atomic
    from market.calibrate.worker import run_point  # noqa: F401  (the executor's function)

    seeds = _band_seeds(spec)
    names = sorted({m.series for m in spec.moments})
    path = out / BAND
    if path.exists():
        old = pd.read_csv(path, dtype={"month": str, "series": str})
        if (len(old) and int(old["point"].iloc[0]) == point
                and sorted(set(old["seed"])) == sorted(seeds)
                and set(names) <= set(old["series"])):
            return old, 0
    rows: list[dict[str, Any]] = []
    tasks = [{"run_id": f"band:{s}", "raw": raw, "source": source, "params": best, "seed": s,
              "moments": [], "series": names} for s in seeds]

    def on_result(task: dict, result: dict) -> None:
        for name, s in result["series"].items():
            rows.extend({"point": point, "seed": task["seed"], "series": name, "month": m,
                         "value": v} for m, v in zip(s["month"], s["value"]))

    _execute(tasks, on_result, workers, scheduler)
    df = pd.DataFrame(rows, columns=["point", "seed", "series", "month", "value"])
    df = df.sort_values(["series", "seed", "month"], kind="stable").reset_index(drop=True)
    _write_atomic(df, path)
    return df, len(tasks)


def scenario_toml(spec: Spec, raw: dict, best: dict, out: Path, loss: float) -> str:
    """The best point as a scenario that ``extends`` the base and sets the fixed overrides and
    the calibrated parameters."""
    from market.calibrate.worker import world_raw
    from market.scenarios import split_key, toml_value

    base = spec.scenario
    if base.endswith(".toml"):
        try:
            base = os.path.relpath(base, out.resolve())
        except ValueError:
            pass
    final = world_raw(raw, best)
    base_name = Path(spec.scenario).stem
    lines = [f"# Calibrated by 'compute-market calibrate {spec.source}' (loss {loss:.4g}).",
             "# The parameters below are the best point found; see report.md for which of them",
             "# the targets identify.",
             f"extends = {toml_value(base)}",
             f"name = {toml_value(base_name + '-calibrated')}"]
    written: set[str] = set()
    for path in [*(o.split("=", 1)[0].strip() for o in spec.overrides), *best]:
        parts = split_key(path)
        digit = next((i for i, x in enumerate(parts) if x.isdigit()), None)
        if digit is not None:
            key, parts = parts[0], parts[:1]
        else:
            key = ".".join(_key(x) for x in parts)
        if key in written:
            continue
        written.add(key)
        node: Any = final
        for x in parts:
            node = node[int(x)] if isinstance(node, list) else node[x]
        note = "  # calibrated" if path in best and digit is None else ""
        lines.append(f"{key} = {toml_value(node)}{note}")
    return "\n".join(lines) + "\n"


def _key(k: str) -> str:
    import json
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def write_outputs(spec: Spec, out: Path, raw: dict, source: str, points: pd.DataFrame,
                  best: dict, loss: float, ident: pd.DataFrame, workers: int | None,
                  scheduler: str | None, elapsed_s: float,
                  slices: pd.DataFrame | None = None) -> int:
    """Write every output file; returns the model runs it made (the band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from market.calibrate import _write_atomic
    from market.scenarios import load_scenario

    done = points[points["status"] == "done"].copy()
    best_point = int(done.loc[done["loss"].astype(float).idxmin(), "point"])
    # best scenario
    text = scenario_toml(spec, raw, best, out, loss)
    (out / "best.toml").write_text(text, encoding="utf-8")
    load_scenario(out / "best.toml")  # must load: the error would name the key
    pd.DataFrame([{"parameter": k, "value": v} for k, v in best.items()]).to_csv(
        out / "best_params.csv", index=False, float_format="%.10g")
    # loss by iteration
    it = points[points["status"] != "pending"][["point", "batch", "phase", "loss"]].copy()
    it["runs"] = (it["point"] + 1) * len(spec.seeds)
    it["best_so_far"] = it["loss"].astype(float).cummin()
    _write_atomic(it, out / "loss_by_iteration.csv")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(it["runs"], it["loss"], s=10, color="0.6", label="point")
    ax.plot(it["runs"], it["best_so_far"], color="C0", label="best so far")
    ax.set_yscale("log")
    ax.set_xlabel("model runs")
    ax.set_ylabel("loss (weighted sum of squared z-scores)")
    ax.set_title(f"{spec.name}: loss by iteration")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss_by_iteration.png", dpi=110)
    plt.close(fig)
    # loss against each parameter
    n = len(spec.parameters)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.6), squeeze=False)
    jmin = float(done["loss"].min())
    for ax, p, row in zip(axes[0], spec.parameters, ident.itertuples()):
        ax.scatter(done[_col(p.path)], done["loss"], s=10, color="0.5", label="points")
        if slices is not None:
            sl = slices[slices["parameter"] == p.path]
            ax.plot(sl["value"], sl["loss"], "-o", color="C1", ms=3,
                    label="slice through best")
        ax.axhline(jmin + spec.identification.delta, color="C3", lw=1,
                   label=f"best + {spec.identification.delta:g}")
        ax.axvspan(row.kept_low, row.kept_high, color="C2", alpha=0.15, label="not excluded")
        ax.axvline(row.best, color="C0", lw=1, label="best")
        ax.set_yscale("log")
        if p.log:
            ax.set_xscale("log")
        ax.set_xlim(p.low, p.high)
        ax.set_xlabel(p.path, fontsize=8)
        ax.set_title("identified" if row.identified else "not identified", fontsize=9)
    axes[0][0].set_ylabel("loss")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "loss_by_parameter.png", dpi=110)
    plt.close(fig)
    # the fit with its band
    band, n_band = _band(spec, out, raw, source, best, best_point, workers, scheduler)
    levels = [m for m in spec.moments if m.kind == "level"]
    others = [m for m in spec.moments if m.kind != "level"]
    names = list(dict.fromkeys(m.series for m in levels))
    best_row = done.loc[done["loss"].astype(float).idxmin()]
    if names or others:
        import matplotlib.dates as mdates

        panels = len(names) + (1 if others else 0)
        cols = min(3, panels)
        rows_n = math.ceil(panels / cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 3.3 * rows_n), squeeze=False)
        for ax, name in zip(axes.flat, names):
            b = band[band["series"] == name]
            wide = b.pivot(index="month", columns="seed", values="value").sort_index()
            x = pd.to_datetime(wide.index)
            arr = wide.to_numpy(dtype=float)
            with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
                __import__("warnings").simplefilter("ignore")
                ax.fill_between(x, np.nanquantile(arr, 0.05, axis=1),
                                np.nanquantile(arr, 0.95, axis=1), color="C0", alpha=0.25,
                                label="simulated 90% band")
                ax.plot(x, np.nanmedian(arr, axis=1), color="C0", label="simulated median")
            obs = [m for m in levels if m.series == name]
            ax.errorbar(pd.to_datetime([m.month for m in obs]), [m.value for m in obs],
                        yerr=[m.sd for m in obs], fmt="o", color="C3", ms=4, label="observed ± sd")
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=7)
            step = max(1, math.ceil(len(wide) / 6))
            loc = mdates.MonthLocator(bymonth=range(1, 13, step) if 12 % step == 0 else None,
                                      interval=1 if 12 % step == 0 else step)
            ax.xaxis.set_major_locator(loc)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        if others:
            ax = axes.flat[len(names)]
            z = [(float(best_row["m:" + m.name]) - m.value) / m.sd for m in others]
            ax.barh(range(len(others)), z, color=["C0" if abs(v) <= 2 else "C3" for v in z])
            ax.set_yticks(range(len(others)), [m.name for m in others], fontsize=6)
            ax.axvline(0, color="black", lw=0.8)
            for v in (-2, 2):
                ax.axvline(v, color="0.6", lw=0.8, ls="--")
            ax.set_xlabel("(simulated - observed) / sd, mean over the search seeds", fontsize=7)
            ax.set_title("moments (mean, growth, ratio) at the best point", fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[panels:]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"{spec.name}: observed and simulated ({len(set(band['seed']))} seeds)")
        fig.tight_layout()
        fig.savefig(out / "fit.png", dpi=110)
        plt.close(fig)
    # report
    lines = [f"# Calibration: {spec.name}", "",
             f"Scenario `{Path(spec.scenario).stem}`; {len(spec.parameters)} free parameters; "
             f"{len(spec.moments)} targets; seeds {list(spec.seeds)} per point.", "",
             f"- points evaluated: {len(done)} ({int((points['status'] == 'failed').sum())} "
             f"failed); model runs in the search: {len(points[points['status'] != 'pending']) * len(spec.seeds)} "
             f"(budget {spec.budget}); slice runs: "
             f"{0 if slices is None else len(slices) * len(spec.seeds)}; band runs: "
             f"{len(set(band['seed']))}",
             f"- best loss: {loss:.4g} (point {best_point}); with {len(spec.moments)} targets a "
             f"loss near {len(spec.moments)} means the fit is within the observations' sd on "
             f"average",
             f"- wall time of the last invocation: {elapsed_s:.1f} s "
             f"(before the band and the charts)", "",
             "## Parameters", "",
             "Identified: the values whose profile loss stays within "
             f"{spec.identification.delta:g} of the best cover at most "
             f"{spec.identification.max_share:.0%} of the range. The profile in each of "
             f"{spec.identification.bins} slices of the range is the lower of the best point "
             "the search found there and the loss at the slice's centre with the other "
             "parameters at their best values. Both lie above the true profile: a parameter "
             "reported free is free; one reported identified is so as far as the search looked "
             "(two parameters that can trade off along a ridge may look identified with a "
             "small budget).", "",
             "| parameter | best | range | not excluded | share of range | profile rise | "
             "identified |", "|---|---|---|---|---|---|---|"]
    for r in ident.itertuples():
        lines.append(f"| `{r.parameter}` | {r.best:.4g} | [{r.low:.4g}, {r.high:.4g}] | "
                     f"[{r.kept_low:.4g}, {r.kept_high:.4g}] | {r.kept_share:.0%} | "
                     f"{r.profile_rise:.3g} | {'yes' if r.identified else '**no**'} |")
    pinned = [r.parameter for r in ident.itertuples() if r.identified]
    free = [r.parameter for r in ident.itertuples() if not r.identified]
    lines += ["", f"The targets pin down: {', '.join(f'`{x}`' for x in pinned) or 'none'}.",
              (f"They leave free: {', '.join(f'`{x}`' for x in free)} (their best values are "
               "one choice among many that fit as well)." if free else
               "They leave none free by this criterion."), "",
              "## Targets at the best point", "",
              "| target | kind | observed | sd | simulated (mean over seeds) | z | weight |",
              "|---|---|---|---|---|---|---|"]
    for m in spec.moments:
        sim = float(best_row["m:" + m.name])
        z = (sim - m.value) / m.sd if math.isfinite(sim) else math.nan
        lines.append(f"| `{m.name}` | {m.kind} | {m.value:.4g} | {m.sd:.3g} | {sim:.4g} | "
                     f"{z:+.2f} | {m.weight:g} |")
    lines += ["", "Files: `best.toml` (run it with `compute-market run best.toml`), "
              "`best_params.csv`, `points.csv` (every point), `loss_by_iteration.csv/.png`, "
              "`loss_by_parameter.png`, `slices.csv`, `fit.png`, `band.csv`, `identification.csv`.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    ident.to_csv(out / "identification.csv", index=False, float_format="%.10g")
    return n_band


PIECE_FINGERPRINT = "# fingerprint of the calibration file: "


def piece_toml(spec: Spec, best: dict, loss: float, identified: dict[str, bool],
               n_runs: int) -> str:
    """The scenario piece of a fit (``spec.piece``): every fitted value, each noted as shared
    with other scenarios or not and as identified by the targets or not."""
    from market.scenarios import Parameter as ScenarioParameter
    from market.scenarios import split_key, to_toml

    nested: dict[str, Any] = {}
    leaves = []
    shared = {p.path: p.shared for p in spec.parameters}
    for path, value in best.items():
        parts = split_key(path)
        node = nested
        for x in parts[:-1]:
            node = node.setdefault(x, {})
        node[parts[-1]] = value
        leaves.append(ScenarioParameter(
            ".".join(parts), value,
            f"derived: fitted ({'identified' if identified.get(path) else 'not identified'}); "
            + ("shared: colossus-2026 reads it" if shared[path] else
               f"{spec.name} only"), spec.piece or ""))
    tops = [ScenarioParameter(k, v, "", "") for k, v in nested.items()]
    header = [f"Calibrated values: written by the fit of {Path(spec.source).name} "
              f"(market.calibrate.write_piece);",
              "do not edit by hand: refit instead (docs/calibration-howto.md).",
              f"Fit: loss {loss:.4g} over {len(spec.moments)} targets, {n_runs} search runs "
              f"({len(spec.seeds)} seeds per point).",
              "Scenarios that extend this piece and leave a key unset take the fitted value."]
    return (to_toml([*tops, *leaves], header) .replace("\n", f"\n{PIECE_FINGERPRINT}"
            f"{spec.fingerprint()}\n", 1))


def write_piece(result: Any) -> Path:
    """Write a calibration result's scenario piece (``spec.piece``), whole or not at all, and
    check that the calibrated scenario still loads."""
    from market.calibrate import CalibrationError
    from market.scenarios import load_scenario
    from market.sweep.store import write_file_atomic

    spec = result.spec
    if spec.piece is None:
        raise CalibrationError(f"{spec.source}: names no 'piece' to write the fit into")
    path = Path(spec.piece)
    text = piece_toml(spec, result.best, result.loss, result.identified, result.n_runs)
    write_file_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    load_scenario(spec.scenario)
    return path
