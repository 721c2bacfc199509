"""Batch parameter studies: many runs of a scenario over a grid, a Latin hypercube, a
quasi-random sequence or a Sobol/Morris design of parameters and seeds, on local processes or
a Dask cluster, with resumable Parquet results.

    compute-market sweep STUDY.toml [--workers N] [--scheduler tcp://HOST:PORT] [--out DIR]

or ``market.sweep.run_study("study.toml")``. The study format is in ``market.sweep.study``, the
output folder (and why a resume neither loses nor duplicates a run) in ``market.sweep.store``,
the estimators of the report in ``market.sweep.report``.

Failed runs (the model raised) are recorded with their error and the study goes on; a resume
does not retry them (a run is deterministic, so it would fail again) unless asked with
``retry_failed=True`` / ``--retry-failed``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd

from market.sweep.study import Plan, Study, StudyError, load_study, prepare

__all__ = ["Study", "StudyError", "StudyResult", "cli", "prepare", "run_study"]


@dataclasses.dataclass
class StudyResult:
    """What ``run_study`` did and found.

    ``results`` has a row per run and a column per metric; ``summary`` the effect of each
    parameter on each metric; ``sensitivity`` the binned first-order indices (when the study
    asks) or, for a ``saltelli`` or ``morris`` study, SALib's Sobol or Morris indices.
    """

    out: Path
    plan: Plan
    n_runs: int
    n_failed: int
    n_executed: int
    n_resumed: int
    run_elapsed_s: float
    elapsed_s: float
    results: pd.DataFrame
    summary: pd.DataFrame | None
    sensitivity: pd.DataFrame | None

    @property
    def runs_per_minute(self) -> float:
        """Throughput of this invocation's execution phase (pool start, runs and writes)."""
        return 60.0 * self.n_executed / self.run_elapsed_s if self.run_elapsed_s > 0 else 0.0

    def long(self) -> pd.DataFrame:
        """The runs dataset: a row per run and metric (``pandas.read_parquet(out / "runs")``
        gives the same rows)."""
        from market.sweep.store import Store

        return Store(self.out, self.plan).read_runs()

    def series(self) -> pd.DataFrame:
        """The series dataset: a row per run, series and month."""
        from market.sweep.store import Store

        return Store(self.out, self.plan).read_series()


def default_out(study: Study) -> Path:
    """``results/sweeps/<study name>`` under the current folder."""
    return Path("results") / "sweeps" / study.name


def run_study(study: Study | str | Path, *, workers: int | None = None,
              scheduler: str | None = None, out: str | Path | None = None,
              progress: bool = True, retry_failed: bool = False,
              report: bool = True) -> StudyResult:
    """Run every missing run of a study and write its results and report.

    Args:
        study: a ``Study`` or the path of a study TOML file.
        workers: local worker processes (default: the CPUs available); ignored with
            ``scheduler``.
        scheduler: address of an existing Dask scheduler (``tcp://HOST:PORT``) to run on
            instead of local processes; results are identical.
        out: output folder (default ``results/sweeps/<study name>``); rerunning into the same
            folder resumes: only runs without a result execute.
        progress: show a progress bar (runs done, failures, ETA) on stderr.
        retry_failed: rerun runs recorded as failed.
        report: write ``results.csv``, ``summary.csv``, ``tornado.png``,
            ``sensitivity.csv`` and ``series_fans.png`` at the end.

    Raises:
        StudyError: the study is invalid (before any run starts), or the output folder holds
            another study or is in use.
    """
    from market.sweep import executors, report as rep
    from market.sweep.store import Store

    t0 = time.perf_counter()
    if workers is not None and workers < 1:
        raise StudyError(f"workers = {workers}: must be >= 1")
    study = load_study(study)
    plan = prepare(study)
    out = Path(out) if out is not None else default_out(study)
    _check_out(out)
    store = Store(out, plan)
    store.open()
    try:
        finished = store.finished()
        if retry_failed:
            finished -= store.failed()
        todo = [r for r in plan.runs if r.run_id not in finished]
        by_id = {r.run_id: r for r in plan.runs}
        n_failed = len(store.failed()) if finished and not retry_failed else 0
        bar = _bar(study.name, len(plan.runs), len(plan.runs) - len(todo), n_failed, progress)
        counts = {"failed": n_failed}

        def on_result(task: dict, result: dict) -> None:
            store.write(by_id[task["run_id"]], result)
            if result["status"] != "ok":
                counts["failed"] += 1
                bar.set_postfix(failed=counts["failed"], refresh=False)
            bar.update(1)

        t_run = time.perf_counter()
        try:
            if todo:
                tasks = [plan.task(r) for r in todo]
                if scheduler:
                    executors.run_dask(tasks, on_result, scheduler)
                else:
                    n = min(workers or executors.default_workers(), len(todo))
                    executors.run_local(tasks, on_result, n)
        finally:
            bar.close()
        run_elapsed = time.perf_counter() - t_run
        frame = rep.wide(store.read_runs(), plan)
        summary = sens = None
        if report:
            series = store.read_series() if plan.series else None
            summary, sens = rep.write_report(frame, plan, out, series)
    finally:
        store.close()
    return StudyResult(out=out, plan=plan, n_runs=len(plan.runs),
                       n_failed=int((frame["status"] != "ok").sum()), n_executed=len(todo),
                       n_resumed=len(plan.runs) - len(todo), run_elapsed_s=run_elapsed,
                       elapsed_s=time.perf_counter() - t0, results=frame, summary=summary,
                       sensitivity=sens)


def _check_out(out: Path) -> None:
    """The output folder can be created and written (checked before any run starts)."""
    from market.outputs import OutputError, check_writable

    try:
        check_writable(out)
    except OutputError as exc:
        raise StudyError(str(exc)) from None


def _bar(name: str, total: int, initial: int, failed: int, enabled: bool):
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, desc=f"sweep {name}", unit="run",
               disable=not enabled, dynamic_ncols=True, file=sys.stderr)
    bar.set_postfix(failed=failed, refresh=False)
    return bar


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compute-market sweep",
        description="Run a parameter study: every (parameter point, seed) of STUDY.toml, on "
                    "local processes or a Dask cluster. Results stream to Parquet in the "
                    "output folder; rerunning the same command resumes (only missing runs "
                    "execute). At the end: results.csv, summary.csv, tornado.png (whiskers: seed "
                    "noise), series_fans.png when the study has series, and sensitivity.csv "
                    "when it asks (Sobol S1/ST for method 'saltelli', Morris mu*/sigma for "
                    "'morris', with bootstrap intervals).")
    p.add_argument("study", help="study file (TOML); see experiments/studies/")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: all CPUs)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: results/sweeps/<study name>)")
    p.add_argument("--retry-failed", action="store_true",
                   help="rerun runs recorded as failed (by default a resume keeps them)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true",
                   help="skip summary.csv, tornado.png, series_fans.png and sensitivity.csv")
    return p


def cli(argv: list[str] | None = None) -> int:
    """``compute-market sweep ARGS``: returns 0 when every run succeeded, 1 when some failed,
    2 for a bad study or command line."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help or a usage error
        return int(exc.code or 0)
    from market.outputs import exit_status, signals_raise

    try:
        with signals_raise():
            result = run_study(args.study, workers=args.workers, scheduler=args.scheduler,
                               out=args.out, progress=not args.no_progress,
                               retry_failed=args.retry_failed, report=not args.no_report)
    except StudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the pool is already stopped
        print(f"interrupted{f' ({exc})' if str(exc) else ''}: finished runs are kept; rerun "
              "the same command to resume", file=sys.stderr)
        return exit_status(exc)
    r = result
    print(f"{r.plan.study.name}: {r.n_runs} runs ({r.n_executed} run now, {r.n_resumed} "
          f"already done, {r.n_failed} failed) in {r.elapsed_s:.1f} s; results in {r.out}/")
    if r.n_executed:
        print(f"  {r.runs_per_minute:.0f} runs/minute")
    if r.summary is not None and len(r.summary):
        top = r.summary.drop_duplicates("metric")  # sorted: largest |effect| first
        print("  largest effect per metric (high - low level):")
        for row in top.itertuples():
            print(f"    {row.metric}: {row.parameter} {row.effect:+.4g} {row.unit}")
        _print_indices(r)
        print(f"  wrote results.csv, summary.csv, tornado.png"
              f"{', series_fans.png' if r.plan.series else ''}"
              f"{', sensitivity.csv' if r.sensitivity is not None else ''}")
    if r.n_failed:
        print(f"  {r.n_failed} runs failed: see the 'error' column of {r.out}/results.csv",
              file=sys.stderr)
    return 1 if r.n_failed else 0


def _print_indices(r: StudyResult) -> None:
    """For a Sobol or Morris study: the most influential parameter of each metric."""
    from market.sweep.study import SALIB_METHODS

    if r.sensitivity is None or r.plan.study.method not in SALIB_METHODS:
        return
    key = "ST" if r.plan.study.method == "saltelli" else "mu_star"
    top = r.sensitivity.sort_values(key, ascending=False, kind="stable").drop_duplicates(
        "metric").set_index("metric").reindex(r.plan.metrics).dropna(subset=[key])
    top = top.reset_index()
    print(f"  largest {key} per metric (+- half-width of its 95% bootstrap interval):")
    for row in top.itertuples():
        print(f"    {row.metric}: {row.parameter} {getattr(row, key):.3g} "
              f"+- {getattr(row, key + '_conf'):.2g}")
