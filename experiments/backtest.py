"""Backtest: calibrate history-2024 on quantities and spring-2026 prices, then show the 2024-26
price path the model produces (its out-of-sample test).

    python experiments/backtest.py [--big] [--budget RUNS] [--seeds N] [--workers N]
                                   [--scheduler tcp://HOST:PORT] [--out results/backtest]

This is the refit command. Besides ``--out`` it rewrites what follows the fit: the calibrated
piece ``market/scenarios/calibrated/history-2024.toml`` (which history-2024 and colossus-2026
extend, so the default follows), the README gallery's backtest row with its figure
``docs/gallery/backtest.png`` and key numbers ``docs/gallery/backtest.json`` (checked by
tests/test_readme.py). The default's behaviour pin then moves: regenerate it and the README's
default-run block with ``experiments/fingerprint.py --golden`` and ``experiments/readme_numbers.py``
(docs/calibration-howto.md has the whole sequence). ``--big`` writes only into ``--out``.

Writes into ``--out``:

- ``calibration/``: the calibration's own outputs (``report.md``, ``best.toml``, ``fit.png``,
  ``loss_by_parameter.png``, ``loss_by_iteration.*``, ``points.csv``; rerunning resumes);
- ``paths.csv``: per month and product (spot, 12- and 36-month term), the median and 90% band
  (5th-95th percentile over seeds) of the reference price index in $/H100e-hour and $/GPU-hour
  for an H100 (H100e per H100 GPU from market/data/gpu_generations.csv);
- ``paths.png``: those paths, with the spring-2026 targets marked; everything before 2026-03 is
  out of sample;
- ``parameters.csv``: every parameter value of the calibrated scenario (calibrated ones marked);
- ``report.md``: the fit, which parameters are identified, and the path at a few dates;
- ``key_numbers.json``: what the README row quotes (also copied to ``docs/gallery/``).

The out-of-sample rule: no 2024 or 2025 GPU rental price, index or list price is a target or
chose a value (see docs/calibration-howto.md). Compare the path with published 2024-25 H100
rental indices yourself; none is shipped here.

Default budget: the calibration file's (480 model runs in the search, plus ~170 for the slices,
the band and the paths: about 10 minutes on two cores); ``--big`` uses 800 runs and 5 seeds per
point. With two seeds per point
the search can favour points where those two seeds happen to fit; the 10-seed band of the paths
shows how much (compare its median with the targets).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from market.calibrate import calibrate, load_spec, simulate, write_piece  # noqa: E402
from market.hardware import generation  # noqa: E402
from market.scenarios import parameters  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CAL = ROOT / "experiments" / "calibration" / "history-2024.toml"
PRODUCTS = ("spot", "term_12m", "term_36m")
DATES = ("2024-01", "2024-06", "2024-12", "2025-06", "2025-12", "2026-04", "2026-12")
GALLERY = ROOT / "docs" / "gallery"
README = ROOT / "README.md"
ROW_START = "| **Backtest 2024-26**"
LABS = ("frontier_a", "frontier_b")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", action="store_true", help="800 search runs, 5 seeds per point, "
                    "20 seeds for the paths")
    ap.add_argument("--budget", type=int, help="model runs of the search (default 160; --big 800)")
    ap.add_argument("--seeds", type=int, help="seeds of the price paths (default 10; --big 20)")
    ap.add_argument("--workers", type=int, help="local processes (default: all CPUs)")
    ap.add_argument("--scheduler", help="Dask scheduler address")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "backtest")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    spec = load_spec(CAL)
    if args.big:
        import dataclasses

        spec = dataclasses.replace(spec, seeds=(0, 1, 2, 3, 4), band_seeds=20)
    budget = args.budget or (800 if args.big else spec.budget)
    n_seeds = args.seeds or (20 if args.big else 10)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    cal_out = out / ("calibration-big" if args.big else "calibration")
    result = calibrate(spec, out=cal_out, workers=args.workers,
                       scheduler=args.scheduler, budget=budget, progress=False)
    t_cal = time.perf_counter() - t0
    if not args.big:
        write_piece(result)
    names = [f"{p}_index" for p in PRODUCTS] + [f"{p}_price" for p in PRODUCTS]
    labs = [f"{k}:{lab}" for lab in LABS for k in ("cost_usd", "revenue_usd",
                                                     "revenue_runrate_usd")]
    best_toml = cal_out / "best.toml"
    sims = simulate(best_toml, seeds=list(range(n_seeds)), names=names + labs,
                    workers=args.workers, scheduler=args.scheduler)
    default = simulate("colossus-2026", seeds=list(range(n_seeds)), names=["spot_index"] + labs,
                       workers=args.workers, scheduler=args.scheduler)
    gpu = generation("H100").h100e_per_gpu
    rows = []
    for name, g in sims[sims["series"].isin(names)].groupby("series", sort=True):
        wide = g.pivot(index="month", columns="seed", values="value").sort_index()
        arr = wide.to_numpy(dtype=float)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                q = {"p5": np.nanquantile(arr, 0.05, axis=1),
                     "median": np.nanmedian(arr, axis=1),
                     "p95": np.nanquantile(arr, 0.95, axis=1)}
        product, _, field = name.rpartition("_")
        for i, month in enumerate(wide.index):
            for stat, v in q.items():
                rows.append({"month": month, "product": product, "field": field, "stat": stat,
                             "usd_per_h100e_hour": float(v[i]),
                             "usd_per_gpu_hour_h100": float(v[i]) * gpu})
    paths = pd.DataFrame(rows)
    paths.to_csv(out / "paths.csv", index=False, float_format="%.6g")
    # parameters of the calibrated scenario
    params = parameters(best_toml)
    pd.DataFrame([{"parameter": p.path, "value": p.value,
                   "calibrated": p.path in result.best,
                   "identified": result.identified.get(p.path, ""),
                   "source": p.comment} for p in params
                  if not isinstance(p.value, dict)]).to_csv(out / "parameters.csv", index=False)
    # figure
    fig, ax = plt.subplots(figsize=(9, 4.5))
    idx = paths[paths["field"] == "index"]
    for k, product in enumerate(PRODUCTS):
        d = idx[idx["product"] == product].pivot(index="month", columns="stat",
                                                 values="usd_per_h100e_hour")
        x = pd.to_datetime(d.index)
        ax.fill_between(x, d["p5"], d["p95"], color=f"C{k}", alpha=0.2)
        ax.plot(x, d["median"], color=f"C{k}", label=f"{product} index (median, 90% band)")
    targets = {m.series: m for m in spec.moments if m.kind == "mean" and "index" in m.series}
    for k, product in enumerate(PRODUCTS):
        m = targets.get(f"{product}_index")
        if m is not None:
            mid = pd.to_datetime(m.window[0]) + (pd.to_datetime(m.window[1])
                                                 - pd.to_datetime(m.window[0])) / 2
            ax.errorbar([mid], [m.value], yerr=[m.sd], fmt="s", color=f"C{k}", ms=6,
                        mec="black", label=f"{product} target, spring 2026 (cal:px.h100_index)")
    ax.axvspan(pd.to_datetime("2024-01"), pd.to_datetime("2026-02-28"), color="0.9", zorder=0,
               label="out of sample (no price targets)")
    ax.set_ylabel(r"\$ per H100e-hour" + (r" (= \$ per H100 GPU-hour)" if gpu == 1 else ""))
    ax.set_title("history-2024, calibrated: price index 2024-26")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "paths.png", dpi=120)
    plt.close(fig)
    # report
    med = idx[idx["stat"] == "median"].pivot(index="month", columns="product",
                                             values="usd_per_h100e_hour")
    lo = idx[idx["stat"] == "p5"].pivot(index="month", columns="product",
                                        values="usd_per_h100e_hour")
    hi = idx[idx["stat"] == "p95"].pivot(index="month", columns="product",
                                         values="usd_per_h100e_hour")
    lines = ["# Backtest: history-2024", "",
             f"Calibration: best loss {result.loss:.4g} over {len(spec.moments)} targets after "
             f"{result.n_runs} search runs ({len(spec.seeds)} seeds per point); this invocation "
             f"ran {result.n_runs_now} runs in {t_cal:.0f} s (search, slices, band) and "
             f"{n_seeds} runs for the paths; total {time.perf_counter() - t0:.0f} s.", "",
             "| parameter | value | identified |", "|---|---|---|"]
    for k, v in result.best.items():
        lines.append(f"| `{k}` | {v:.4g} | {'yes' if result.identified[k] else 'no'} |")
    lines += ["", f"Price index, median [90% band over seeds], $ per H100e-hour (x {gpu:g} for "
              "$ per H100 GPU-hour). Before 2026-03 nothing about prices was fitted:", "",
              "| month | " + " | ".join(PRODUCTS) + " |", "|---|" + "---|" * len(PRODUCTS)]
    for d in DATES:
        if d in med.index:
            lines.append(f"| {d} | " + " | ".join(
                f"{med.loc[d, p]:.2f} [{lo.loc[d, p]:.2f}-{hi.loc[d, p]:.2f}]"
                for p in PRODUCTS) + " |")
    lines += ["", "Files: `paths.csv`, `paths.png`, `parameters.csv`, `calibration/report.md` "
              "(the fit, identification), `calibration/fit.png`, "
              "`calibration/loss_by_parameter.png`.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    key = key_numbers(result, med, lo, hi, sims, default, gpu,
                      wall_s=time.perf_counter() - t0, n_seeds=n_seeds)
    (out / "key_numbers.json").write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")
    if not args.big:
        GALLERY.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "paths.png", GALLERY / "backtest.png")
        shutil.copyfile(out / "key_numbers.json", GALLERY / "backtest.json")
        text = README.read_text(encoding="utf-8")
        README.write_text(with_row(text, readme_row(key)), encoding="utf-8")
    print("\n".join(lines))
    return 0


def _spend_over_revenue(sims: pd.DataFrame, lab: str, year: str) -> list[float]:
    """Median and 5th-95th percentile over seeds of a lab's compute spend over revenue in a
    calendar year."""
    g = sims[sims["month"].str.startswith(year)]
    per_seed = (g[g["series"] == f"cost_usd:{lab}"].groupby("seed")["value"].sum()
                / g[g["series"] == f"revenue_usd:{lab}"].groupby("seed")["value"].sum())
    return [round(float(per_seed.quantile(q)), 3) for q in (0.5, 0.05, 0.95)]


def _at(sims: pd.DataFrame, series: str, month: str) -> list[float]:
    v = sims[(sims["series"] == series) & (sims["month"] == month)]["value"]
    return [float(v.quantile(q)) for q in (0.5, 0.05, 0.95)]


def key_numbers(result, med, lo, hi, sims, default, gpu, wall_s: float, n_seeds: int) -> dict:
    """What the README row and the closing note quote, rounded as quoted."""
    spring = [m for m in med.index if "2026-03" <= m <= "2026-05"]
    return {
        "loss": round(result.loss, 2),
        "targets": len(result.spec.moments),
        "search_runs": result.n_runs,
        "seeds_per_point": len(result.spec.seeds),
        "wall_s": round(wall_s),
        "path_seeds": n_seeds,
        "best": {k: float(v) for k, v in result.best.items()},
        "identified": [k for k, v in result.identified.items() if v],
        "free": [k for k, v in result.identified.items() if not v],
        "h100e_per_h100_gpu": gpu,
        "spot_usd_per_h100e_hour": {m: [round(float(med.loc[m, "spot"]), 2),
                                        round(float(lo.loc[m, "spot"]), 2),
                                        round(float(hi.loc[m, "spot"]), 2)]
                                    for m in DATES if m in med.index},
        "spot_2024_25_range": [round(float(med.loc[[m for m in med.index if m < "2026"],
                                                   "spot"].min()), 2),
                               round(float(med.loc[[m for m in med.index if m < "2026"],
                                                   "spot"].max()), 2)],
        "spot_spring_2026": round(float(med.loc[spring, "spot"].mean()), 2),
        "history_spend_over_revenue_2026": {lab: _spend_over_revenue(sims, lab, "2026")
                                            for lab in LABS},
        "history_frontier_a_runrate_2026_04_usd_b": [
            round(v / 1e9, 1) for v in _at(sims, "revenue_runrate_usd:frontier_a", "2026-04")],
        "default_spend_over_revenue_2026": {lab: _spend_over_revenue(default, lab, "2026")
                                            for lab in LABS},
        "default_frontier_a_runrate_2026_04_usd_b": [
            round(v / 1e9, 1) for v in _at(default, "revenue_runrate_usd:frontier_a", "2026-04")],
    }


def readme_row(key: dict) -> str:
    """The README gallery's backtest row, from the key numbers."""
    lo_, hi_ = key["spot_2024_25_range"]
    ident = ", ".join(f"`{p.split('.', 1)[1]}`" for p in key["identified"]) or "none"
    sr = key["history_spend_over_revenue_2026"]
    return (f"{ROW_START} ![](docs/gallery/backtest.png) | Fitted on 2024-26 capacity, lab "
            f"revenues, spend over revenue and spring-2026 H100 prices only (loss {key['loss']:g} "
            f"over {key['targets']} targets, {key['search_runs']} runs, {key['wall_s']} s), the "
            f"model's out-of-sample 2024-25 spot index runs ${lo_:.2f}-{hi_:.2f} per H100e-hour "
            f"(median of {key['path_seeds']} seeds), ${key['spot_spring_2026']:.2f} in spring 2026; "
            f"identified: {ident}. Its frontier labs spend {sr['frontier_a'][0]:.2f}x and "
            f"{sr['frontier_b'][0]:.2f}x their 2026 revenue (cal:dem.spend_ratio: 1.5-3x). | "
            f"`python experiments/backtest.py` |")


def with_row(readme: str, row: str) -> str:
    """The README with its backtest row replaced (or added after the gallery's last row)."""
    lines = readme.split("\n")
    mine = [i for i, line in enumerate(lines) if line.startswith(ROW_START)]
    if mine:
        lines[mine[0]] = row
    else:
        last = max(i for i, line in enumerate(lines) if line.startswith("| **Q"))
        lines.insert(last + 1, row)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
