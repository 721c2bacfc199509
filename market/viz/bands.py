"""Ensemble mode of the browser app: the current settings over N seeds, and a baseline.

One run shows one draw of the market. ``EnsembleBar`` runs, in the background (a thread of the
server that hands the runs to the sweep executor's local worker processes), the world of the
current run (its controls as of the last Reset) over seeds ``seed, seed + 1, ..., seed + N - 1``
and, when chosen, a baseline scenario with default controls over the same seeds (common random
numbers). The price and capacity charts then draw, behind the live run, the 50% and 90% bands
across seeds of the spot index and of the capacity online (``with_bands``), and the baseline's
median (dashed) and 90% band (grey). Bands are kept per browser session until the next "Run
seeds" or Reset (which may change the settings they describe).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import solara

from market.config import WorldConfig

DEFAULT_SEEDS = 8
MAX_SEEDS = 32
NO_BASELINE = "no baseline"
BAND_SERIES = {"spot_index": "usd_per_h100e_hour", "capacity_h100e": "million_h100e"}
"""Series drawn as bands, and the unit their rows carry (capacity in million H100e)."""
ENSEMBLE_COLOUR = "steelblue"
BASELINE_COLOUR = "dimgray"


@dataclasses.dataclass(frozen=True)
class Bands:
    """Fans (``market.ensemble.fan_table`` rows, as chart rows) of an ensemble and its
    baseline, with what they were run with."""

    rows: tuple[dict, ...]
    seeds: tuple[int, ...]
    scenario: str
    baseline: str | None
    elapsed_s: float

    def describe(self) -> str:
        """One line for the panel and the chart subtitles."""
        base = (f"; baseline {self.baseline} (dashed: median, grey: 90%)" if self.baseline
                else "")
        return (f"bands: {len(self.seeds)} seeds ({self.seeds[0]}..{self.seeds[-1]}) of "
                f"{self.scenario} with this run's settings, 50% and 90%{base}")


def band_series(frames: dict[str, pd.DataFrame], label: str) -> tuple[dict, dict]:
    """What a background run returns: the banded series per month (no scalars)."""
    from market.metrics import series_values

    series = {name: series_values(frames, name) for name in BAND_SERIES}
    series["capacity_h100e"] = series["capacity_h100e"] / 1e6
    return {}, series


def run_bands(world: WorldConfig, seeds: list[int], baseline: WorldConfig | None = None,
              scenario: str = "", workers: int | None = None) -> Bands:
    """Run ``world`` (and ``baseline``) over ``seeds`` on local worker processes and reduce
    each arm to fans of ``BAND_SERIES``."""
    from market.ensemble import fan_table, run_measured
    from market.sweep import executors

    arms = {"ensemble": world, **({"baseline": baseline} if baseline is not None else {})}
    tasks = [{"run_id": f"{arm}#{seed}", "label": arm, "world": w, "seed": seed,
              "measure": band_series} for arm, w in arms.items() for seed in seeds]
    long: list[pd.DataFrame] = []
    errors: list[str] = []

    def collect(task: dict[str, Any], result: dict[str, Any]) -> None:
        if result["status"] != "ok":
            errors.append(f"{task['run_id']}: {result['error'].strip().splitlines()[-1]}")
            return
        for name, s in result["series"].items():
            long.append(pd.DataFrame({"arm": task["label"], "series": name,
                                      "unit": BAND_SERIES[name], "month": s.index,
                                      "value": s.to_numpy(dtype=float)}))

    t0 = time.perf_counter()
    n = min(workers or executors.default_workers(), len(tasks))
    executors.run_local(tasks, collect, n, fn=run_measured)
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(tasks)} runs failed; first: {errors[0]}")
    data = pd.concat(long, ignore_index=True)
    rows = []
    for arm in arms:
        fans = fan_table(data[data["arm"] == arm].drop(columns="arm"))
        fans["month"] = pd.to_datetime(fans["month"]).dt.strftime("%Y-%m-01")
        rows += [{"arm": arm, **r} for r in fans.drop(columns=["unit", "n"]).round(5).to_dict(
            "records")]
    return Bands(tuple(rows), tuple(seeds), scenario or world.name,
                 baseline.name if baseline is not None else None, time.perf_counter() - t0)


# --------------------------------------------------------------------------- chart layers
def _band_layers(series: str, y_title: str, baseline: bool) -> list[dict]:
    """Area layers of the ensemble's 90% and 50% bands of ``series`` and, with a baseline, its
    90% band and median line; they read the ``bands`` dataset."""
    from market.viz.app import _month_axis

    def layer(arm: str, lo: str, hi: str | None, mark: dict) -> dict:
        y = {"field": lo, "type": "quantitative", "axis": {"title": y_title}}
        enc: dict[str, Any] = {"x": _month_axis(), "y": y}
        if hi is not None:
            enc["y2"] = {"field": hi}
        return {"data": {"name": "bands"},
                "transform": [{"filter": {"and": [{"field": "arm", "equal": arm},
                                                  {"field": "series", "equal": series}]}}],
                "mark": mark, "encoding": enc}

    out = []
    if baseline:
        out += [layer("baseline", "q05", "q95", {"type": "area", "opacity": 0.15,
                                                   "color": BASELINE_COLOUR}),
                layer("baseline", "q50", None, {"type": "line", "strokeDash": [6, 4],
                                                  "color": "black", "strokeWidth": 1.5})]
    out += [layer("ensemble", "q05", "q95", {"type": "area", "opacity": 0.18,
                                               "color": ENSEMBLE_COLOUR}),
            layer("ensemble", "q25", "q75", {"type": "area", "opacity": 0.3,
                                               "color": ENSEMBLE_COLOUR})]
    return out


def subtitle(bands: Bands, what: str) -> list[str]:
    """Two short lines under a banded chart's title: what the bands and the dashed line are."""
    lines = [f"bands: {what}, {len(bands.seeds)} seeds ({bands.seeds[0]}..{bands.seeds[-1]}), "
             "50% and 90%"]
    if bands.baseline:
        lines.append(f"dashed: {bands.baseline} median (grey: its 90%)")
    return lines


def _titled(spec: dict, bands: Bands, what: str) -> dict:
    return {**spec, "title": {"text": spec["title"], "subtitle": subtitle(bands, what),
                              "subtitleFontSize": 10}}


def with_bands(spec: dict, bands: Bands | None, spec_of: Callable[..., dict]) -> dict:
    """``spec`` (made by ``spec_of``) with the bands behind its lines: the spot index on the
    price chart, the total capacity online on the capacity chart; other charts, or no bands:
    unchanged."""
    from market.viz.app import capacity_spec, price_spec

    if bands is None or spec_of not in (price_spec, capacity_spec):
        return spec
    series, what = (("spot_index", "spot index") if spec_of is price_spec
                    else ("capacity_h100e", "total capacity"))
    rows = [r for r in bands.rows if r["series"] == series]
    out = _titled({**spec, "datasets": {**spec["datasets"], "bands": rows}}, bands, what)
    if spec_of is price_spec:
        main = {"mark": out.pop("mark"), "encoding": out.pop("encoding")}
        y_title = main["encoding"]["y"]["axis"]["title"]
        out["layer"] = [*_band_layers("spot_index", y_title, bands.baseline is not None), main]
        return out
    stacked, *rest = out["layer"]
    y_title = stacked["encoding"]["y"]["axis"]["title"]
    shared = {"layer": [stacked, *_band_layers("capacity_h100e", y_title,
                                                bands.baseline is not None)]}
    out["layer"] = [shared, *rest]
    return out


# --------------------------------------------------------------------------- the panel
def _baseline_world(name: str, months: int) -> WorldConfig | None:
    from market.viz.app import world_from_controls

    if name == NO_BASELINE:
        return None
    return world_from_controls(scenario_name=name, months=months)[0]


@solara.component
def EnsembleBar(model: Any, bands: solara.Reactive):
    """Seeds and baseline controls, a "Run seeds" button and the status of the background
    runs; sets ``bands`` when they finish (the charts draw them)."""
    from market.scenarios import available

    n_seeds = solara.use_reactive(DEFAULT_SEEDS)
    baseline = solara.use_reactive(NO_BASELINE)
    request = solara.use_reactive(None)

    def work() -> Bands | None:
        if request.value is None:
            return None
        world, seeds, base, months, scenario = request.value
        return run_bands(world, seeds, _baseline_world(base, months), scenario=scenario)

    # a thread per request; solara keeps only the result of the latest one
    result = solara.use_thread(work, dependencies=[request.value], intrusive_cancel=False)

    def publish() -> None:
        if result.state == solara.ResultState.FINISHED and result.value is not None:
            bands.set(result.value)

    def forget() -> None:  # a Reset made a new model: bands of the old settings would mislead
        request.set(None)
        bands.set(None)

    solara.use_effect(publish, [result.value, result.state])
    solara.use_effect(forget, [model])

    def start() -> None:
        seeds = list(range(model.seed_value, model.seed_value + int(n_seeds.value)))
        request.set((model.world, seeds, baseline.value, int(model.controls["months"]),
                     model.controls["scenario_name"]))

    running = result.state == solara.ResultState.RUNNING and request.value is not None
    if running:
        status = (f"running {len(request.value[1])} seeds"
                  f"{'' if request.value[2] == NO_BASELINE else ' and the baseline'} "
                  "in the background...")
    elif result.state == solara.ResultState.ERROR:
        status = f"the seeds failed: {result.error}"
    elif bands.value is not None:
        status = f"{bands.value.describe()} ({bands.value.elapsed_s:.1f} s)"
    else:
        status = "one seed shown; run more for bands on the price and capacity charts"
    with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}, gap="12px",
                    classes=["ensemble-bar"]):
        with solara.Div(style={"min-width": "220px"}):
            solara.SliderInt("Seeds in the bands", value=n_seeds, min=2, max=MAX_SEEDS)
        solara.Select("Baseline scenario", value=baseline,
                      values=[NO_BASELINE, *available()], style={"min-width": "200px"})
        solara.Button("Run seeds", on_click=start, disabled=running, color="primary",
                      outlined=True)
        solara.Text(status, classes=["ensemble-status"],
                    style={"font-size": "12px", "color": "dimgray"})
