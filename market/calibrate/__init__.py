"""Calibration: fit a scenario's free parameters to observations by simulated moments.

    compute-market calibrate CAL.toml [--workers N] [--scheduler tcp://HOST:PORT] [--out DIR]

or ``market.calibrate.calibrate("cal.toml")``. The file format is in ``market.calibrate.spec``,
the series and moments in ``market.calibrate.moments``. The loss of a parameter point is

    J = sum_k w_k * ((mean over seeds of the simulated moment k - observed value k) / sd_k)^2

(seeds are the same at every point: common random numbers). A moment a run leaves undefined (a
price in a month without trade) counts as ``NAN_Z`` standard deviations off.

Search: ``init_points`` quasi-random (Halton) points in the ``init`` box, then batches of
``batch`` points proposed by optuna's multivariate TPE sampler given every point evaluated so
far. Runs go through ``market.sweep.executors`` (local processes; Dask when a scheduler address
is given). Every proposed point is written to ``points.csv`` before it runs and its loss when its
last seed returns (atomic rewrites), so a killed calibration resumes where it stopped and, since
a batch's proposals depend only on the earlier batches, ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market import exact
from market.calibrate.moments import SeriesError, series
from market.calibrate.spec import CalibrationError, Parameter, Spec, load_spec
from market.calibrate.outputs import write_piece
from market.calibrate.worker import run_point, world_raw

__all__ = ["CalibrationError", "CalibrationResult", "Spec", "calibrate", "load_spec",
           "point_loss", "simulate", "write_piece"]

NAN_Z = 100.0
"""A moment that a run leaves undefined counts as this many standard deviations off."""
POINTS = "points.csv"
SPEC = "calibration.json"
SLICES = "slices.csv"


@dataclasses.dataclass
class CalibrationResult:
    """What ``calibrate`` found; the files are in ``out``."""

    out: Path
    spec: Spec
    best: dict[str, float | int]
    loss: float
    points: pd.DataFrame
    identification: pd.DataFrame
    n_runs: int
    """Model runs of the search (points x seeds), all invocations together."""
    n_runs_now: int
    """Model runs executed by this invocation (search and band)."""
    elapsed_s: float
    """Wall time of this invocation."""
    slices: pd.DataFrame | None = None
    """The loss along each parameter through the best point (``slices.csv``)."""

    @property
    def identified(self) -> dict[str, bool]:
        return dict(zip(self.identification["parameter"], self.identification["identified"]))


# ----------------------------------------------------------------------------- loss
def point_loss(spec: Spec, per_seed: list[list[float]]) -> tuple[float, list[float]]:
    """The loss of a point from its runs' moments (one list per seed), and the mean moments."""
    arr = np.array(per_seed, dtype=float).reshape(len(per_seed), len(spec.moments))
    means = []
    for k in range(arr.shape[1]):
        col = arr[:, k][~np.isnan(arr[:, k])]
        means.append(exact.mean(col) if col.size else math.nan)
    terms = []
    for m, sim in zip(spec.moments, means):
        z = NAN_Z if math.isnan(sim) else (sim - m.value) / m.sd
        terms.append(m.weight * z * z)
    return exact.total(terms), means


# ----------------------------------------------------------------------------- proposals
def _halton(index: int, dim: int) -> list[float]:
    """Point ``index`` (1-based) of the Halton sequence in ``[0, 1)^dim``."""
    primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71]
    out = []
    for d in range(dim):
        base = primes[d % len(primes)] if d < len(primes) else primes[d % len(primes)] + 2 * d
        f, r, i = 1.0, 0.0, index
        while i > 0:
            f /= base
            r += f * (i % base)
            i //= base
        out.append(r)
    return out


def _scale(p: Parameter, u: float, lo: float, hi: float) -> float | int:
    if p.log:
        x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    else:
        x = lo + u * (hi - lo)
    return p.to_value(min(max(x, p.low), p.high))


def _distributions(spec: Spec) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    out = {}
    for p in spec.parameters:
        if p.integer:
            out[p.path] = IntDistribution(int(math.ceil(p.low)), int(math.floor(p.high)),
                                          log=p.log)
        else:
            out[p.path] = FloatDistribution(p.low, p.high, log=p.log)
    return out


def propose(spec: Spec, done: pd.DataFrame, start: int, n: int, batch: int
            ) -> list[dict[str, float | int]]:
    """Points ``start .. start + n - 1``: Halton in the init box for the first
    ``init_points``, then optuna's TPE given the evaluated points ``done`` (deterministic:
    the sampler's seed is the search seed and the batch number)."""
    out: list[dict[str, float | int]] = []
    dim = len(spec.parameters)
    while len(out) < n and start + len(out) < spec.init_points:
        u = _halton(start + len(out) + 1, dim)
        out.append({p.path: _scale(p, x, p.init_low, p.init_high)
                    for p, x in zip(spec.parameters, u)})
    if len(out) == n:
        return out
    try:
        import optuna
        from optuna.trial import TrialState, create_trial
    except ImportError as exc:
        raise CalibrationError(f"the search needs optuna: pip install "
                               f"'compute-market[calibrate]' ({exc})") from None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _distributions(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.TPESampler(
            seed=spec.search_seed * 1_000_003 + batch, n_startup_trials=0, multivariate=True,
            constant_liar=True)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        for row in done.to_dict("records"):
            params = {p.path: p.to_value(row[_col(p.path)]) for p in spec.parameters}
            ok = row["status"] == "done" and math.isfinite(row["loss"])
            study.add_trial(create_trial(params=params, distributions=dists,
                                         value=float(row["loss"]) if ok else None,
                                         state=TrialState.COMPLETE if ok else TrialState.FAIL))
        while len(out) < n:
            trial = study.ask(dists)
            out.append({p.path: p.to_value(trial.params[p.path]) for p in spec.parameters})
    return out


def _col(path: str) -> str:
    return "p:" + path


# ----------------------------------------------------------------------------- store
def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.to_csv(tmp, index=False, float_format="%.17g")
    os.replace(tmp, path)


def _load_points(spec: Spec, out: Path) -> pd.DataFrame:
    meta = out / SPEC
    cols = ["point", "batch", "phase", *(_col(p.path) for p in spec.parameters), "loss",
            "status", "n_ok", "elapsed_s", *("m:" + m.name for m in spec.moments)]
    if meta.exists():
        old = json.loads(meta.read_text())
        if old.get("fingerprint") != spec.fingerprint():
            raise CalibrationError(
                f"--out {out}: holds a calibration of a different file or scenario "
                f"(parameters, targets, seeds or search settings differ); use another --out or "
                f"delete the folder")
    if (out / POINTS).exists():
        df = pd.read_csv(out / POINTS, dtype={"status": str, "phase": str})
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise CalibrationError(f"--out {out}: {POINTS} lacks column(s) {missing}")
        return df[cols]
    return pd.DataFrame({c: pd.Series(dtype=float) for c in cols}).astype(
        {"status": object, "phase": object})


# ----------------------------------------------------------------------------- running
def _prepare(spec: Spec) -> tuple[dict[str, Any], str]:
    """The scenario dict with fixed overrides, checked with each parameter at both ends of its
    range, and with every target's series and months checked on the run's calendar."""
    from market.calendar import month_index
    from market.model import ComputeMarket
    from market.scenarios import ScenarioError, apply_override, build_world, load_raw

    try:
        raw, path = load_raw(spec.scenario)
        for i, assignment in enumerate(spec.overrides):
            apply_override(raw, assignment, source=f"overrides[{i}]")
    except ScenarioError as exc:
        raise CalibrationError(f"{spec.source}: scenario: {exc}") from None
    if spec.months is not None:
        raw["months"] = spec.months
    source = str(path)
    try:
        world = build_world(raw, source)
    except ScenarioError as exc:
        raise CalibrationError(f"{spec.source}: scenario: {exc}") from None
    for i, p in enumerate(spec.parameters):
        for v in (p.low, p.high):
            try:
                build_world(world_raw(raw, {p.path: p.to_value(v)}), source)
            except ScenarioError as exc:
                raise CalibrationError(f"{spec.source}: parameters[{i}].path = {p.path!r} "
                                       f"(at {v:g}): {exc}") from None
    first, last = world.start_month, world.start_month + world.months - 1
    for m in spec.moments:
        for month in filter(None, m.months()):
            if not first <= month_index(month) <= last:
                raise CalibrationError(
                    f"{spec.source}: target {m.name!r}: month {month} is outside the run "
                    f"({world.start} for {world.months} months)")
    import dataclasses as dc

    frames = ComputeMarket(dc.replace(world, months=1), rng=0).run().frames()
    for m in spec.moments:
        for name in filter(None, (m.series, m.denominator)):
            try:
                series(frames, name)
            except SeriesError as exc:
                raise CalibrationError(f"{spec.source}: target {m.name!r}: {exc}") from None
    return raw, source


def _execute(tasks: list[dict[str, Any]], on_result: Callable, workers: int | None,
             scheduler: str | None) -> None:
    from market.sweep.executors import default_workers, run_dask, run_local
    from market.sweep.study import StudyError

    try:
        if scheduler:
            run_dask(tasks, on_result, scheduler, fn=run_point)
        elif (workers or default_workers()) <= 1:
            for t in tasks:  # one worker: run in this process, no pool to start
                on_result(t, run_point(t))
        else:
            run_local(tasks, on_result, workers or default_workers(), fn=run_point)
    except StudyError as exc:
        raise CalibrationError(str(exc)) from None


def calibrate(spec: str | Path | dict[str, Any] | Spec, out: str | Path | None = None,
              workers: int | None = None, scheduler: str | None = None,
              budget: int | None = None, progress: bool = False,
              write_outputs: bool = True) -> CalibrationResult:
    """Calibrate the parameters a calibration file names and write the outputs into ``out``
    (default ``runs/calibrate-<name>/``). Rerunning with the same ``out`` resumes.

    ``budget`` (model runs) replaces the file's; a larger one extends a finished calibration.
    """
    t0 = time.perf_counter()
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    if budget is not None:
        if budget < len(spec.seeds):
            raise CalibrationError(f"budget = {budget}: must be at least the number of seeds "
                                   f"({len(spec.seeds)})")
        spec = dataclasses.replace(spec, budget=budget)
    out = Path(out) if out is not None else Path("runs") / f"calibrate-{spec.name}"
    if out.exists() and not out.is_dir():
        raise CalibrationError(f"--out {out}: exists and is not a folder")
    raw, source = _prepare(spec)
    out.mkdir(parents=True, exist_ok=True)
    points = _load_points(spec, out)
    (out / SPEC).write_text(json.dumps({"fingerprint": spec.fingerprint(),
                                        "spec": dataclasses.asdict(spec)}, indent=1, default=str))
    moments = [dataclasses.asdict(m) for m in spec.moments]
    n_now = 0

    def say(text: str) -> None:
        if progress:
            import sys

            print(text, file=sys.stderr, flush=True)

    while True:
        pending = points[points["status"] == "pending"]
        if pending.empty:
            n_points = len(points)
            if n_points >= spec.n_points:
                break
            batch = int(points["batch"].max()) + 1 if n_points else 0
            n = min(spec.batch, spec.n_points - n_points)
            new = propose(spec, points[points["status"] != "pending"], n_points, n, batch)
            rows = pd.DataFrame([{"point": n_points + i, "batch": batch,
                                  "phase": "init" if n_points + i < spec.init_points else "tpe",
                                  **{_col(k): v for k, v in p.items()}, "status": "pending"}
                                 for i, p in enumerate(new)])
            points = pd.concat([points, rows], ignore_index=True) if len(points) else rows.reindex(
                columns=points.columns)
            _write_atomic(points, out / POINTS)
            pending = points[points["status"] == "pending"]
        tasks, results = [], {}
        for row in pending.to_dict("records"):
            params = {p.path: p.to_value(row[_col(p.path)]) for p in spec.parameters}
            for seed in spec.seeds:
                tasks.append({"run_id": f"{int(row['point'])}:{seed}", "raw": raw,
                              "source": source, "params": params, "seed": seed,
                              "moments": moments, "series": []})
            results[int(row["point"])] = {}

        def on_result(task: dict[str, Any], result: dict[str, Any]) -> None:
            nonlocal points, n_now
            n_now += 1
            pid, seed = (int(x) for x in task["run_id"].split(":"))
            results[pid][seed] = result
            if len(results[pid]) < len(spec.seeds):
                return
            runs = [results[pid][s] for s in spec.seeds]
            ok = [r for r in runs if r["status"] == "ok"]
            i = points.index[points["point"] == pid][0]
            points.loc[i, "n_ok"] = len(ok)
            points.loc[i, "elapsed_s"] = sum(r["elapsed_s"] for r in runs)
            if not ok:
                points.loc[i, ["status", "loss"]] = ["failed", math.inf]
                say(f"point {pid}: every run failed:\n{runs[0]['error']}")
            else:
                loss, means = point_loss(spec, [r["moments"] for r in ok])
                points.loc[i, ["status", "loss"]] = ["done", loss]
                for m, v in zip(spec.moments, means):
                    points.loc[i, "m:" + m.name] = v
                say(f"point {pid}: loss {loss:.4g}")
            _write_atomic(points, out / POINTS)
            del results[pid]

        _execute(tasks, on_result, workers, scheduler)
    done = points[points["status"] == "done"]
    if done.empty:
        raise CalibrationError(f"every run failed; see {out / POINTS} and rerun one point with "
                               f"'compute-market run'")
    best_row = done.loc[done["loss"].astype(float).idxmin()]
    best = {p.path: p.to_value(best_row[_col(p.path)]) for p in spec.parameters}
    from market.calibrate.outputs import identification, write_outputs as write

    best_point = int(best_row["point"])
    slices = None
    if write_outputs:  # the slice runs through the best point, for identification
        slices, n_slice = _slices(spec, out, raw, source, best, best_point, workers, scheduler)
        n_now += n_slice
    ident = identification(spec, points, slices)
    if write_outputs:
        n_now += write(spec, out, raw, source, points, best, float(best_row["loss"]), ident,
                       workers, scheduler, elapsed_s=time.perf_counter() - t0, slices=slices)
    return CalibrationResult(out=out, spec=spec, best=best, loss=float(best_row["loss"]),
                             points=points, identification=ident,
                             n_runs=int(len(points) * len(spec.seeds)), n_runs_now=n_now,
                             elapsed_s=time.perf_counter() - t0, slices=slices)


def slice_values(spec: Spec, p: Parameter) -> list[float | int]:
    """The centres of the ``bins`` slices of a parameter's range (log scale if ``log``)."""
    n = spec.identification.bins
    return [_scale(p, (b + 0.5) / n, p.low, p.high) for b in range(n)]


def _slices(spec: Spec, out: Path, raw: dict[str, Any], source: str, best: dict[str, Any],
            best_point: int, workers: int | None, scheduler: str | None
            ) -> tuple[pd.DataFrame, int]:
    """The loss along each parameter through the best point (the others held at their best
    values), at the centre of each identification slice; kept in ``slices.csv`` and reused for
    the same best point."""
    path = out / SLICES
    want = [(p.path, v) for p in spec.parameters for v in slice_values(spec, p)]
    if path.exists():
        old = pd.read_csv(path)
        if len(old) == len(want) and (old["point"] == best_point).all():
            return old, 0
    moments = [dataclasses.asdict(m) for m in spec.moments]
    tasks = []
    for i, (name, v) in enumerate(want):
        for seed in spec.seeds:
            tasks.append({"run_id": f"{i}:{seed}", "raw": raw, "source": source,
                          "params": {**best, name: v}, "seed": seed, "moments": moments,
                          "series": []})
    results: dict[int, dict[int, dict]] = {i: {} for i in range(len(want))}

    def on_result(task: dict[str, Any], result: dict[str, Any]) -> None:
        i, seed = (int(x) for x in task["run_id"].split(":"))
        results[i][seed] = result

    _execute(tasks, on_result, workers, scheduler)
    rows = []
    for i, (name, v) in enumerate(want):
        ok = [r["moments"] for r in results[i].values() if r["status"] == "ok"]
        loss = point_loss(spec, ok)[0] if ok else math.inf
        rows.append({"point": best_point, "parameter": name, "value": v, "loss": loss})
    df = pd.DataFrame(rows)
    _write_atomic(df, path)
    return df, len(tasks)


def simulate(scenario: str | Path, params: dict[str, float | int] | None = None,
             seeds: list[int] | tuple[int, ...] = (0,), names: list[str] | tuple[str, ...] = (),
             overrides: list[str] | tuple[str, ...] = (), workers: int | None = None,
             scheduler: str | None = None) -> pd.DataFrame:
    """Run a scenario (with ``--set`` overrides and parameter values) over ``seeds`` on the same
    executors as a calibration and return the named series (``market.calibrate.moments``) in
    long form: ``seed, series, month, value``."""
    from market.scenarios import ScenarioError, apply_override, load_raw

    try:
        raw, path = load_raw(scenario)
        for assignment in overrides:
            apply_override(raw, assignment)
    except ScenarioError as exc:
        raise CalibrationError(str(exc)) from None
    tasks = [{"run_id": f"sim:{s}", "raw": raw, "source": str(path), "params": dict(params or {}),
              "seed": s, "moments": [], "series": list(names)} for s in seeds]
    rows: list[dict[str, Any]] = []
    errors: list[str] = []

    def on_result(task: dict[str, Any], result: dict[str, Any]) -> None:
        if result["status"] != "ok":
            errors.append(result["error"])
        for name, s in result["series"].items():
            rows.extend({"seed": task["seed"], "series": name, "month": m, "value": v}
                        for m, v in zip(s["month"], s["value"]))

    _execute(tasks, on_result, workers, scheduler)
    if errors:
        raise CalibrationError(f"{len(errors)} of {len(tasks)} runs failed; first error:\n"
                               f"{errors[0]}")
    df = pd.DataFrame(rows, columns=["seed", "series", "month", "value"])
    return df.sort_values(["series", "seed", "month"], kind="stable").reset_index(drop=True)
