"""The ``compute-market`` command: run a scenario, list and describe scenarios, sweep, view.

    compute-market run [SCENARIO|FILE] [--months N] [--seed S] [--out DIR] [--set KEY=VALUE ...]
    compute-market run [SCENARIO|FILE] --seeds N [--workers W | --scheduler ADDRESS] ...
    compute-market compare A [B] --seeds N [--set KEY=VALUE ...] [--set-a KEY=VALUE ...]
    compute-market scenarios
    compute-market describe SCENARIO [--set KEY=VALUE ...] [--all]
    compute-market calibrate CAL.toml [--workers N] [--scheduler tcp://...] [--out DIR]
    compute-market sweep ...      (market.sweep)
    compute-market viz ...        (market.viz)

``run`` validates the scenario and the output folder before anything runs (a bad file,
``--set`` or ``--out`` stops with one line naming it, exit status 2), runs it with a progress bar
on stderr, and writes into ``--out`` (default ``runs/<scenario>-seed<seed>/``, plus
``-set<HASH>`` when overrides apply) the tables ``market``, ``agents``, ``contracts`` and
``events`` as Parquet (each starting with ``scenario``, ``seed`` and ``run_id``),
``summary.md``, four PNG charts and ``run.json`` (what was run: the settings, the run id, the
headline metrics and the resolved scenario). The files
are written into a staging folder and renamed into place at the end (``market.outputs``), so an
earlier folder is never lost. A run that fails midway or is interrupted (Ctrl-C, SIGTERM, SIGHUP)
keeps what it computed plus ``stopped.md`` (why), apart from any completed run, and exits with
status 1 (128 + the signal when interrupted: 130, 143). The same scenario, overrides and seed
give identical tables.

``run --seeds N`` runs seeds ``S .. S+N-1`` in parallel (``market.ensemble``) and writes the
mean and 90% interval of each metric and fan charts instead; ``compare`` runs two scenarios on
common seeds and reports paired differences with bootstrap intervals.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_SEED = 0
"""Seed of ``run`` when ``--seed`` is not given: runs are reproducible by default."""
RUN_FORMAT = "compute-market-run/1"
"""``format`` of a run's ``run.json``: how ``run`` recognizes a folder it may replace."""
EXTERNAL = {"sweep": ("market.sweep", "parameter sweeps over seeds and scenarios"),
            "viz": ("market.viz", "the interactive Solara app")}
"""Commands implemented in other modules: ``compute-market NAME ARGS`` calls
``MODULE.cli(ARGS)`` with the arguments unchanged."""
OUTPUT_FILES = ("market.parquet", "agents.parquet", "contracts.parquet", "events.parquet",
                "summary.md", "price_index.png", "capacity_utilization.png",
                "demand_served_unmet.png", "contract_events.png", "run.json", "stopped.md")


def console() -> None:
    """The installed ``compute-market`` script: ``main``, then exit with its status.

    What is still alive is frozen out of the garbage collector first, so the interpreter's
    final collection does not walk every object of pandas, Mesa and matplotlib (about 0.2 s of
    a default run's wall time); exit handlers still run and every file is already closed."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``compute-market``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    problem = _environment_problem()
    if problem:
        _error(problem)
        return 2
    from market._memory import keep_freed_memory

    keep_freed_memory()  # this process is ours: keep freed heap for reuse (market/_memory.py)
    if args and args[0] in EXTERNAL:
        return _external(args[0], args[1:])
    parser = _parser()
    try:
        ns = parser.parse_args(args or ["--help"])
    except SystemExit as exc:  # --help, --version or a usage error (status 2)
        return _exit_code(exc)
    try:
        return int(ns.handler(ns) or 0)
    except BrokenPipeError:  # e.g. piped into head
        return 0


def _environment_problem() -> str:
    """A one-line message for an environment variable of this package that cannot be used
    ("" when all are fine)."""
    from market._memory import trim_mb_from_env

    try:
        trim_mb_from_env()
    except ValueError as exc:
        return str(exc)
    return ""


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _parser() -> argparse.ArgumentParser:
    from market import __version__

    parser = argparse.ArgumentParser(
        prog="compute-market",
        description="Agent-based simulator of the market for scarce AI compute: labs, owners, "
                    "hyperscalers and neoclouds trading H100e-months under term contracts.",
        epilog="Run 'compute-market COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run a scenario and write tables, summary and charts",
        description="Run a scenario (shipped name or .toml file) and write the market, agents, "
                    "contracts and events tables (Parquet), summary.md, four PNG charts and "
                    "run.json into the output folder. The scenario is validated before anything "
                    "runs. Exit status: 0 done, 1 stopped midway (partial results kept), "
                    "2 invalid scenario, option or output folder, 130/143 interrupted "
                    "(Ctrl-C/SIGTERM).")
    run.add_argument("scenario", nargs="?", default="colossus-2026",
                     help="shipped scenario name (see 'compute-market scenarios') or path to a "
                          ".toml file (default: colossus-2026)")
    run.add_argument("--months", type=_positive_int, metavar="N",
                     help="months to simulate (default: the scenario's 'months')")
    run.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="S",
                     help=f"random seed (default: {DEFAULT_SEED}); the same scenario, "
                          "overrides and seed give identical tables")
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="output folder (default: runs/<scenario>-seed<seed>/, with "
                          "-set<HASH> added when --set or --months applies); written whole "
                          "when the run completes")
    run.add_argument("--force", action="store_true",
                     help="replace an output folder that holds a different run (by default the "
                          "run refuses before it starts); a folder with other files is never "
                          "replaced")
    _add_set(run)
    run.add_argument("--seeds", type=_seed_count, metavar="N",
                     help="run an ensemble of N seeds (S .. S+N-1, in parallel) and write the "
                          "mean and 90%% interval of each metric (summary.md, summary.csv) and "
                          "fan charts (fan_chart.png) into --out (default: "
                          "runs/<scenario>-seeds<S>-<S+N-1>/)")
    _add_executor(run)
    run.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    run.add_argument("--quiet", "-q", action="store_true",
                     help="no progress bar and no summary table (paths are still printed)")
    run.set_defaults(handler=_cmd_run)

    cmp = sub.add_parser(
        "compare", help="compare two scenarios on common seeds (paired differences)",
        description="Run scenario A and scenario B on the same seeds and report, for every "
                    "metric, the mean of A, of B and of the per-seed difference B - A with a "
                    "95% bootstrap interval (compare.md, compare.csv, compare.png). B defaults "
                    "to A, so 'compare A --set KEY=VALUE' measures the effect of one change. "
                    "Exit status: 0 done, 1 some runs failed, 2 invalid scenario or option.")
    cmp.add_argument("a", metavar="A", help="baseline scenario (shipped name or .toml file)")
    cmp.add_argument("b", metavar="B", nargs="?", default=None,
                     help="variant scenario (default: A again, changed by --set)")
    cmp.add_argument("--seeds", type=_seed_count, default=8, metavar="N",
                     help="common seeds S .. S+N-1 (default: 8)")
    cmp.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                     help=f"first seed (default: {DEFAULT_SEED})")
    cmp.add_argument("--months", type=_positive_int, metavar="N",
                     help="months to simulate (default: each scenario's 'months')")
    cmp.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE", help="override a parameter of B (repeatable)")
    cmp.add_argument("--set-a", dest="overrides_a", action="append", default=[],
                     metavar="KEY=VALUE", help="override a parameter of A (repeatable)")
    cmp.add_argument("--out", type=Path, metavar="DIR",
                     help="output folder (default: runs/compare-<A>-<B>-seeds<S>-<S+N-1>/)")
    _add_executor(cmp)
    cmp.add_argument("--no-charts", action="store_true", help="skip compare.png")
    cmp.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no table")
    cmp.set_defaults(handler=_cmd_compare)

    scen = sub.add_parser("scenarios", help="list the shipped scenarios",
                          description="List the shipped scenarios, one line each.")
    scen.set_defaults(handler=_cmd_scenarios)

    desc = sub.add_parser(
        "describe", help="print a scenario's parameters with their sources",
        description="Print every parameter of a scenario ('extends' resolved, --set applied) "
                    "with the comment that gives its source (cal:TAG rows of docs/calibration.md), "
                    "including comments inherited from the scenario it extends. The output is "
                    "a valid, self-contained scenario file.")
    desc.add_argument("scenario", help="shipped scenario name or path to a .toml file")
    _add_set(desc)
    desc.add_argument("--all", action="store_true",
                      help="also list the keys left at their defaults (market/config.py)")
    desc.set_defaults(handler=_cmd_describe)

    cal = sub.add_parser(
        "calibrate", help="fit a scenario's parameters to observations (simulated moments)",
        description="Calibrate the free parameters a calibration file names (--set paths with "
                    "ranges) to its targets (a CSV of date, series, value, sd and optional "
                    "moments) by the method of simulated moments, searching with optuna's TPE "
                    "after a quasi-random start. Writes best.toml (a scenario extending the "
                    "base), points.csv, the loss by iteration, the fit with its 90%% band, the "
                    "loss against each parameter and report.md (which parameters the targets "
                    "identify). Rerun the same command to resume. See "
                    "docs/calibration-howto.md. Exit status: 0 done, 2 invalid file or option, "
                    "130 interrupted.")
    cal.add_argument("calibration", type=Path, help="calibration file (.toml)")
    cal.add_argument("--workers", type=_positive_int, metavar="N",
                     help="local worker processes (default: the CPUs of this machine)")
    cal.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                     help="run on this Dask cluster instead of local processes")
    cal.add_argument("--out", type=Path, metavar="DIR",
                     help="output folder (default: runs/calibrate-<name>/); an existing one "
                          "is resumed")
    cal.add_argument("--budget", type=_positive_int, metavar="RUNS",
                     help="model runs of the search (default: the file's 'budget')")
    cal.add_argument("--write-piece", action="store_true",
                     help="write the best values into the file's 'piece' (a scenario piece "
                          "that the calibrated scenario and the default read)")
    cal.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    cal.set_defaults(handler=_cmd_calibrate)

    for name, (module, text) in EXTERNAL.items():
        sub.add_parser(name, help=f"{text} (see 'compute-market {name} --help')", add_help=False,
                       description=f"{text}; implemented in {module}.")
    return parser


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a parameter, e.g. --set "
                             "labs.frontier_a.growth_per_month=0.1 or --set 'contracts=[]' "
                             "(TOML values; repeatable; validated like the file)")


def _add_executor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=_seed_count, metavar="W",
                        help="local worker processes for the seeds (default: all CPUs)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the seeds on a Dask cluster, e.g. tcp://10.0.0.5:8786")


def _seed_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def _positive_int(text: str) -> int:
    from market.config import MAX_MONTHS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of months") from None
    if not 1 <= value <= MAX_MONTHS:
        raise argparse.ArgumentTypeError(f"{value} months: must be at least 1 and at most "
                                         f"{MAX_MONTHS}")
    return value


MAX_SEED = 2**63 - 1


def _seed(text: str) -> int:
    """A seed for numpy: a whole number from 0 to 2**63 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value}: must be from 0 to 2**63 - 1")
    return value


def _error(message: str) -> None:
    print(f"compute-market: error: {message}", file=sys.stderr)


def _external(name: str, rest: list[str]) -> int:
    import importlib

    module_name = EXTERNAL[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, *module_name.split(".")[:1]):
            raise
        _error(f"'{name}' is not available: {module_name} is not installed")
        return 2
    try:
        result = module.cli(rest)
    except SystemExit as exc:
        return _exit_code(exc)
    return int(result or 0)


# ----------------------------------------------------------------------------- scenarios
def _cmd_calibrate(ns: argparse.Namespace) -> int:
    from market.calibrate import CalibrationError, calibrate, write_piece
    from market.scenarios import ScenarioError

    try:
        r = calibrate(ns.calibration, out=ns.out, workers=ns.workers, scheduler=ns.scheduler,
                      budget=ns.budget, progress=not ns.quiet)
        piece = write_piece(r) if ns.write_piece else None
    except (CalibrationError, ScenarioError) as exc:
        _error(str(exc).replace("\n", " "))
        return 2
    except KeyboardInterrupt:
        _error("interrupted; rerun the same command to resume")
        return 130
    free = [k for k, v in r.identified.items() if not v]
    print(f"{r.spec.name}: best loss {r.loss:.4g} after {r.n_runs} search runs "
          f"({r.n_runs_now} run now, {r.elapsed_s:.1f} s); results in {r.out}/")
    for k, v in r.best.items():
        print(f"  {k} = {v:.6g}{'' if r.identified[k] else '  (not identified)'}")
    print(f"  wrote best.toml, report.md, fit.png, loss_by_parameter.png, loss_by_iteration.png"
          f"{'; not identified: ' + ', '.join(free) if free else ''}")
    if piece is not None:
        print(f"  wrote the best values into {piece}")
    return 0


def _cmd_scenarios(ns: argparse.Namespace) -> int:
    from market.scenarios import DEFAULT, available

    scenarios = available()
    width = max(map(len, scenarios), default=0)
    for name, text in scenarios.items():
        mark = " (default)" if name == DEFAULT else ""
        print(f"{name:<{width}}  {text}{mark}")
    return 0


def _cmd_describe(ns: argparse.Namespace) -> int:
    from market.scenarios import (
        ScenarioError,
        header_comment,
        load_raw,
        load_scenario,
        parameters,
        to_toml,
    )

    try:
        load_scenario(ns.scenario, ns.overrides)  # validate first
        params = parameters(ns.scenario, ns.overrides)
        raw, path = load_raw(ns.scenario)
    except ScenarioError as exc:
        _error(str(exc))
        return 2
    if ns.all:
        params = _with_defaults(params)
    header = [f"Scenario {raw['name']} as resolved by 'compute-market describe' from {path}",
              "Each key is followed by its source: its comment in the file that set it "
              "(cal:TAG = a row of docs/calibration.md);",
              "[FILE] marks a value set by another file of the 'extends' chain, [--set] a "
              "command-line override, [default] a default of market/config.py, [template X] "
              "a term of contract template X (market/terms.py)."]
    opening = header_comment(path)
    if opening:
        header += ["", *_wrap(opening, 96)]
    this = str(path)

    def origin(p: Any) -> str:
        if p.origin == "--set":
            return "[--set]"
        if p.origin == "default" or p.origin.startswith("template "):
            return f"[{p.origin}]"
        if p.origin != this:
            return f"[{Path(p.origin).stem}]"
        return ""

    sys.stdout.write(to_toml(params, header, origin_of=origin))
    return 0


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


def _with_defaults(params: list[Any]) -> list[Any]:
    """Add the keys a scenario leaves at their defaults, right after each table's own keys."""
    import dataclasses

    from market.scenarios import Parameter, schema, valid_keys

    present = {p.path for p in params}
    tables: dict[str, Any] = {"": None}
    for p in params:
        if isinstance(p.value, dict):
            tables[p.path] = p.value
    extra: list[Any] = []
    skip = {"labs", "sellers", "regions", "contracts", "shocks", "market", "costs", "terms",
            "sites", "funding"}
    for table in tables:
        parts = _parts(table)
        cls = schema(parts)
        if cls is None:
            continue
        if cls.__name__ == "ContractTerms":  # unset keys of [terms.X] come from template X
            from market.terms import template

            base = template(parts[1])
            defaults = {f.name: getattr(base, f.name) for f in dataclasses.fields(cls)}
            origin = f"template {parts[1]}"
        else:
            defaults = {f.name: f.default for f in dataclasses.fields(cls)
                        if f.default is not dataclasses.MISSING}
            origin = "default"
        for key in valid_keys(cls):
            path = f"{table}.{key}" if table else key
            if key in skip or path in present or key not in defaults:
                continue
            extra.append(Parameter(path, defaults[key], "", origin))
    out = list(params)
    for p in extra:  # insert into the table dicts so that to_toml places them
        parent, _, key = p.path.rpartition(".")
        if parent:
            tables[parent][key] = p.value
        else:
            out.insert(next(i for i, q in enumerate(out) if isinstance(q.value, dict)), p)
            continue
        out.append(p)
    return out


def _parts(path: str) -> list[str]:
    from market.scenarios import split_key

    return split_key(path) if path else []


# ----------------------------------------------------------------------------- run
def _cmd_run(ns: argparse.Namespace) -> int:
    from market import outputs
    from market.scenarios import ScenarioError, load_scenario

    if ns.seeds is not None:
        return _cmd_run_seeds(ns)
    if ns.workers is not None or ns.scheduler is not None:
        _error("--workers and --scheduler go with --seeds N (an ensemble)")
        return 2
    overrides = list(ns.overrides)
    if ns.months is not None:
        overrides.append(f"months={ns.months}")
    try:
        world = load_scenario(ns.scenario, overrides)
    except ScenarioError as exc:
        _error(str(exc))
        return 2
    warnings = world.outside_run()
    target = ns.out if ns.out is not None else default_out(world.name, ns.seed, overrides)
    identity = _identity(ns, world, overrides)
    if (target / "manifest.json").is_file():  # an ensemble's folder: its files are not ours
        _error(f"--out {target} holds an ensemble (manifest.json); choose another --out")
        return 2
    try:
        outputs.check_writable(target)
        with outputs.locked(target):
            _check_replace(target, identity, ns.force)
            for text in warnings:
                print(f"compute-market: warning: {text}", file=sys.stderr)
            staging = outputs.staging_folder(target)
            try:
                with outputs.signals_raise():
                    written = _simulate(ns, world, staging, overrides, warnings, identity)
                where = target if written.completed or _state(target)[0] != "run" or \
                    _state(target)[1].get("status") != "completed" else _stopped_folder(target)
                outputs.publish(staging, where)
            except BaseException:
                outputs.discard(staging)
                raise
    except outputs.OutputError as exc:
        _error(str(exc))
        return 2
    return _print_result(ns, world, written, where, target)


def default_out(name: str, seed: int, overrides: Sequence[str]) -> Path:
    """``runs/<scenario>-seed<seed>``, plus ``-set<HASH>`` (8 hex digits of the overrides, in
    order; ``run.json`` lists them) when any ``--set`` or ``--months`` applies, so that runs
    that differ never share a default folder."""
    import hashlib

    folder = f"{name}-seed{seed}"
    if overrides:
        digest = hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:8]
        folder += f"-set{digest}"
    return Path("runs") / folder


def _identity(ns: argparse.Namespace, world: Any, overrides: list[str]) -> dict[str, Any]:
    """What makes two runs the same run (and their tables identical)."""
    return {"scenario": world.name, "file": str(_scenario_path(ns.scenario)), "seed": ns.seed,
            "months": world.months, "overrides": overrides}


def _state(folder: Path) -> tuple[str, dict[str, Any]]:
    """What a folder holds: ("absent" | "empty" | "run" | "foreign", the run's run.json or
    {"files": the unexpected names, "outputs_only": whether all its names are OUTPUT_FILES}).
    A run is a folder of OUTPUT_FILES only, with a run.json of this format."""
    if not folder.is_dir():
        return "absent", {}
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        return "empty", {}
    foreign = [n for n in names if n not in OUTPUT_FILES]
    meta: Any = None
    if not foreign:
        try:
            meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
    if isinstance(meta, dict) and meta.get("format") == RUN_FORMAT:
        return "run", meta
    return "foreign", {"files": foreign or ["run.json"], "outputs_only": not foreign}


def _check_replace(target: Path, identity: dict[str, Any], force: bool) -> None:
    """Refuse, unless ``--force``, to replace a folder that holds other files or another run
    (a rerun of the same scenario, file, seed, months and overrides replaces its own)."""
    from market.outputs import OutputError

    kind, info = _state(target)
    if kind in ("absent", "empty"):
        return
    if kind == "foreign" and (info["outputs_only"] and force):
        return  # a run's file names only (e.g. an older run.json): --force may replace them
    if kind == "foreign":
        shown = ", ".join(info["files"][:3]) + (", ..." if len(info["files"]) > 3 else "")
        how = ("pass --force to replace it" if info["outputs_only"] else
               "--force does not replace a folder of other files; move them first")
        raise OutputError(f"--out {target}: holds files that are not a compute-market run "
                          f"({shown}); choose another --out, or {how}")
    if force:
        return
    differs = [k for k in identity if info.get(k) != identity[k]]
    if differs:
        was = ", ".join(f"{k} {info.get(k)!r}" for k in differs)
        raise OutputError(f"--out {target}: holds a different run ({was}); choose another "
                          "--out, or pass --force to replace it")


def _stopped_folder(target: Path) -> Path:
    """Where a stopped run goes when ``target`` holds a completed one: ``NAME.stopped`` beside
    it (replacing an earlier stopped run there; another kind of folder there is kept and a
    timestamped name is used)."""
    import datetime as dt

    folder = target.with_name(f"{target.name}.stopped")
    if _state(folder)[0] in ("absent", "empty", "run"):
        return folder
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return target.with_name(f"{target.name}.stopped-{stamp}")


class _Written(typing.NamedTuple):
    """What ``_simulate`` left in the staging folder."""

    completed: bool
    status: int
    names: list[str]
    """File names, in the order written."""
    message: str
    """Why the run stopped ("" when completed)."""
    model: Any
    elapsed_s: float
    values: dict[str, float]
    """The headline metrics (``market.metrics.summary``; {} when no month completed)."""


def _simulate(ns: argparse.Namespace, world: Any, folder: Path, overrides: list[str],
              warnings: list[str], identity: dict[str, Any]) -> _Written:
    """Run the model and write its files into ``folder``; an error or an interrupt (Ctrl-C,
    SIGTERM) stops the run and the files then hold the months completed before it."""
    from market.model import ComputeMarket
    from market.outputs import exit_status

    started = time.perf_counter()
    model = None
    failure: BaseException | None = None
    trace = ""
    status = 0
    try:
        model = ComputeMarket(world, rng=ns.seed)
        _run_with_progress(model, world, quiet=ns.quiet)
    except (Exception, KeyboardInterrupt) as exc:  # keep what was computed, say why it stopped
        failure = exc
        trace = traceback.format_exc()
        status = exit_status(exc) if isinstance(exc, KeyboardInterrupt) else 1
    elapsed = time.perf_counter() - started
    return _write_outputs(ns, world, model, folder, overrides, warnings, identity,
                          (failure, trace, status), elapsed)


def _run_with_progress(model: Any, world: Any, quiet: bool) -> None:
    from tqdm import tqdm

    from market.calendar import month_label

    with tqdm(total=world.months, desc=world.name, unit="month", file=sys.stderr,
              disable=quiet, dynamic_ncols=True, leave=True) as bar:
        def progress(m: Any) -> None:
            bar.set_postfix_str(f"{month_label(m.month - 1)} spot "
                                f"${m.spot_index / 730.0:,.2f}/H100e-h", refresh=False)
            bar.update(1)

        model.run(progress=progress)


def _completed_frames(model: Any) -> tuple[dict[str, Any], str]:
    """Frames of a model that stopped midway: rows of the month that did not finish are dropped
    from the per-month tables (the contracts and events tables keep everything)."""
    import pandas as pd

    from market.calendar import month_label, month_start

    frames = model.frames()
    cut = pd.Timestamp(month_start(model.month))
    for name in ("market", "agents"):
        df = frames[name]
        if not df.empty and "month" in df:
            frames[name] = df[pd.to_datetime(df["month"]) < cut].reset_index(drop=True)
    return frames, month_label(model.month)


def _write_outputs(ns: argparse.Namespace, world: Any, model: Any, out: Path,
                   overrides: list[str], warnings: list[str], identity: dict[str, Any],
                   stop: tuple[BaseException | None, str, int], elapsed: float) -> _Written:
    from market import __version__, report
    from market.scenarios import resolve

    failure, trace, status = stop
    written: list[Path] = []
    values: dict[str, float] = {}
    note = ""
    stopped_at = None
    if failure is not None:
        why = (f"interrupted ({failure})" if isinstance(failure, KeyboardInterrupt) and
               str(failure) else "interrupted" if isinstance(failure, KeyboardInterrupt)
               else f"{type(failure).__name__}: {failure}")
        if model is None:
            note = f"Run stopped before the first month: {why}"
        else:
            done = model.month - model.start_month
            from market.calendar import month_label

            stopped_at = month_label(model.month)
            note = (f"Run stopped in {stopped_at} after {done} of {world.months} months: {why}. "
                    "The tables hold the months completed before it.")
    report_error = None
    try:
        if model is not None:
            frames = _completed_frames(model)[0] if failure is not None else model.frames()
            values = _metrics(frames)
            written += report.write_tables(frames, out).values()
            written.append(report.write_summary(frames, world, ns.seed, out, overrides=overrides,
                                                note=note, warnings=warnings))
            if not ns.no_charts:
                written += report.write_charts(frames, out).values()
    except Exception as exc:  # the report itself failed: keep what was written, say so
        report_error = f"{type(exc).__name__}: {exc}"
        trace += "\n" + traceback.format_exc()
        status = status or 1
    meta = {"format": RUN_FORMAT, **identity, "version": __version__,
            "run_id": model.run_id if model is not None else None,
            "status": "completed" if failure is None and report_error is None else "stopped",
            "stopped_at": stopped_at, "error": note or report_error, "warnings": warnings,
            "elapsed_s": round(elapsed, 3),
            "metrics": {k: None if math.isnan(v) else v for k, v in values.items()},
            "resolved_scenario": resolve(ns.scenario, overrides)}
    (out / "run.json").write_text(json.dumps(meta, indent=2, default=_json_value) + "\n",
                                  encoding="utf-8")
    written.append(out / "run.json")
    message = ""
    if failure is not None or report_error is not None:
        text = "\n\n".join(t for t in (note, report_error and f"Writing the report failed: "
                                       f"{report_error}") if t)
        (out / "stopped.md").write_text(f"# Run stopped\n\n{text}\n\n```\n{trace}```\n",
                                        encoding="utf-8")
        written.append(out / "stopped.md")
        message = " ".join(t.rstrip(".") + "." for t in (
            note, report_error and f"writing the report failed: {report_error}") if t)
    return _Written(completed=not message, status=status, names=[p.name for p in written],
                    message=message, model=model, elapsed_s=elapsed, values=values)


def _print_result(ns: argparse.Namespace, world: Any, written: _Written, folder: Path,
                  target: Path) -> int:
    """Say where the files are (and why the run stopped, or its key metrics)."""
    if not written.completed:
        apart = "" if folder == target else f" (kept apart from the completed run in {target}/)"
        _error(f"{written.message} Partial results in {folder}/{apart}")
    elif not ns.quiet:
        _print_summary(written.values, world, ns.seed, written.elapsed_s)
    print(f"Wrote {folder}/")
    for name in written.names:
        print(f"  {folder / name}")
    return written.status


def _metrics(frames: dict[str, Any]) -> dict[str, float]:
    """The headline metrics of a run (``market.metrics.summary``); {} when no month
    completed."""
    from market import metrics

    return {} if frames["market"].empty else metrics.summary(frames)


def _json_value(value: Any) -> Any:
    """Dates of a scenario (TOML dates) as ISO text in run.json."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _scenario_path(name: str) -> Path | str:
    from market.scenarios import ScenarioError, load_raw

    try:
        return load_raw(name)[1]
    except ScenarioError:
        return name


def _print_summary(values: dict[str, float], world: Any, seed: int, elapsed: float) -> None:
    from market import report

    rows = [report.format_metric(k, v) for k, v in values.items()]
    width = max(len(label) for label, _ in rows)
    print(f"{world.name}, seed {seed}: {world.months} months from {world.start} "
          f"({elapsed:.1f} s)")
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>10}")


# ----------------------------------------------------------------------------- ensembles
def _seeds_of(ns: argparse.Namespace) -> list[int] | None:
    from market.ensemble import seed_range

    if ns.seed < 0:
        _error(f"--seed {ns.seed}: an ensemble's first seed must be >= 0")
        return None
    return seed_range(ns.seed, ns.seeds)


def _command_line() -> str:
    return "compute-market " + " ".join(sys.argv[1:])


def _guarded(work: Any) -> tuple[Any, int]:
    """Call ``work()`` of an ensemble command: a bad scenario, option, scheduler or folder is
    one line and status 2, an interrupt status 130 (finished runs stay for a resume)."""
    from market.scenarios import ScenarioError

    try:
        return work(), 0
    except ScenarioError as exc:  # StudyError included
        _error(str(exc))
        return None, 2
    except KeyboardInterrupt:
        _error("interrupted; rerun the same command to resume (finished runs are kept)")
        return None, 130


def _print_written(out: Path, written: Sequence[Path]) -> None:
    print(f"Wrote {out}/")
    for path in written:
        print(f"  {path}")


def _cmd_run_seeds(ns: argparse.Namespace) -> int:
    """``run --seeds N``: an ensemble through the sweep executor, its summary and fan charts."""
    from market import ensemble
    from market.scenarios import load_scenario

    seeds = _seeds_of(ns)
    if seeds is None:
        return 2

    def work() -> tuple[Path, Any, list[Path]]:
        world = load_scenario(ns.scenario, [*ns.overrides, *(
            [f"months={ns.months}"] if ns.months else [])])
        out = ns.out or Path("runs") / (f"{world.name}{ensemble.overrides_tag(ns.overrides)}"
                                        f"-seeds{seeds[0]}-{seeds[-1]}")
        ens = ensemble.run_ensemble(ns.scenario, seeds, overrides=ns.overrides,
                                    months=ns.months, out=out, workers=ns.workers,
                                    scheduler=ns.scheduler, progress=not ns.quiet)
        return out, ens, ensemble.write_ensemble_report(ens, charts=not ns.no_charts,
                                                        command=_command_line())

    done, status = _guarded(work)
    if status:
        return status
    out, ens, written = done
    if not ns.quiet:
        print(f"{ens.name}: {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), {ens.n_failed} "
              f"failed, {ens.elapsed_s:.1f} s")
        _print_intervals(ens)
    _print_written(out, written)
    return 1 if ens.n_failed else 0


def _print_intervals(ens: Any) -> None:
    from market.ensemble import interval_rows, metric_intervals

    rows = interval_rows(metric_intervals(ens.results, ens.metrics))
    width = max(len(r[0]) for r in rows)
    print(f"  {'metric':<{width}}  {'mean':>10}  90% interval across seeds")
    for label, mean, interval, _ in rows:
        print(f"  {label:<{width}}  {mean:>10}  {interval}")


def _cmd_compare(ns: argparse.Namespace) -> int:
    """``compare A [B]``: both on common seeds, paired differences with bootstrap intervals."""
    from market import ensemble
    from market.scenarios import load_scenario

    seeds = _seeds_of(ns)
    if seeds is None:
        return 2
    b = ns.b if ns.b is not None else ns.a
    if b == ns.a and ns.overrides == ns.overrides_a:
        _error(f"A and B are the same scenario ({ns.a!r}) with the same overrides: name a "
               "second scenario or change B with --set KEY=VALUE")
        return 2
    months = [f"months={ns.months}"] if ns.months else []

    def work() -> tuple[Path, Any, list[Path]]:
        name_a = load_scenario(ns.a, [*ns.overrides_a, *months]).name
        name_b = load_scenario(b, [*ns.overrides, *months]).name
        tag = ensemble.overrides_tag([*ns.overrides_a, "|", *ns.overrides]) if (
            ns.overrides_a or ns.overrides) else ""
        out = ns.out or Path("runs") / (f"compare-{name_a}-{name_b}{tag}"
                                        f"-seeds{seeds[0]}-{seeds[-1]}")
        cmp = ensemble.run_compare(ns.a, b, seeds, overrides_a=ns.overrides_a,
                                   overrides_b=ns.overrides, months=ns.months, out=out,
                                   workers=ns.workers, scheduler=ns.scheduler,
                                   progress=not ns.quiet)
        return out, cmp, ensemble.write_compare_report(cmp, charts=not ns.no_charts,
                                                       command=_command_line())

    done, status = _guarded(work)
    if status:
        return status
    out, cmp, written = done
    if not ns.quiet:
        _print_compare(cmp)
    _print_written(out, written)
    return 1 if cmp.a.n_failed or cmp.b.n_failed else 0


def _print_compare(cmp: Any) -> None:
    from market.ensemble import CI_LEVEL, difference_interval, signed_difference
    from market.report import format_metric

    print(f"A = {cmp.labels[0]}\nB = {cmp.labels[1]}\n{len(cmp.a.seeds)} common seeds; "
          f"B - A with its {int(100 * CI_LEVEL)}% bootstrap interval")
    rows = [(format_metric(r.metric, r.mean_a)[0], signed_difference(r.metric, r.mean_diff),
             difference_interval(r.metric, r.ci_lo, r.ci_hi)) for r in cmp.diffs.itertuples()]
    width = max(len(r[0]) for r in rows)
    for label, diff, interval in rows:
        print(f"  {label:<{width}}  {diff:>10}  {interval}")
