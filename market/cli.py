"""The ``compute-market`` command: run a scenario, list and describe scenarios, sweep, view.

    compute-market run [SCENARIO|FILE] [--months N] [--seed S] [--out DIR] [--set KEY=VALUE ...]
    compute-market scenarios
    compute-market describe SCENARIO [--set KEY=VALUE ...] [--all]
    compute-market sweep ...      (market.sweep)
    compute-market viz ...        (market.viz)

``run`` validates the scenario before anything runs (a bad file or ``--set`` stops with the
file, key path and value, exit status 2), runs it with a progress bar on stderr, and writes into
``--out`` (default ``runs/<scenario>-seed<seed>/``) the tables ``market``, ``agents``,
``contracts`` and ``events`` as Parquet (each starting with ``scenario``, ``seed`` and
``run_id``), ``summary.md``, four PNG charts and ``run.json`` (what was run: the settings, the
run id, the headline metrics and the resolved scenario). A run that fails midway writes what it
computed so far plus ``stopped.md`` (why) and exits with status 1 (130 when interrupted). The
same scenario, overrides and seed give identical tables.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_SEED = 0
"""Seed of ``run`` when ``--seed`` is not given: runs are reproducible by default."""
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
                    "2 invalid scenario or option, 130 interrupted.")
    run.add_argument("scenario", nargs="?", default="colossus-2026",
                     help="shipped scenario name (see 'compute-market scenarios') or path to a "
                          ".toml file (default: colossus-2026)")
    run.add_argument("--months", type=_positive_int, metavar="N",
                     help="months to simulate (default: the scenario's 'months')")
    run.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                     help=f"random seed (default: {DEFAULT_SEED}); the same scenario, "
                          "overrides and seed give identical tables")
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="output folder (default: runs/<scenario>-seed<seed>/)")
    _add_set(run)
    run.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    run.add_argument("--quiet", "-q", action="store_true",
                     help="no progress bar and no summary table (paths are still printed)")
    run.set_defaults(handler=_cmd_run)

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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of months") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} months: must be at least 1")
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
    from market.scenarios import ScenarioError, load_scenario

    overrides = list(ns.overrides)
    if ns.months is not None:
        overrides.append(f"months={ns.months}")
    try:
        world = load_scenario(ns.scenario, overrides)
    except ScenarioError as exc:
        _error(str(exc))
        return 2
    out = ns.out if ns.out is not None else Path("runs") / f"{world.name}-seed{ns.seed}"
    for name in OUTPUT_FILES:  # files of an earlier run here would be mistaken for this one's
        if (out / name).is_file():
            (out / name).unlink()

    from market.model import ComputeMarket

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
        status = 130 if isinstance(exc, KeyboardInterrupt) else 1
    elapsed = time.perf_counter() - started
    return _write_outputs(ns, world, model, out, overrides, failure, trace, status, elapsed)


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
                   overrides: list[str], failure: BaseException | None, trace: str,
                   status: int, elapsed: float) -> int:
    from market import __version__, report
    from market.scenarios import resolve

    written: list[Path] = []
    frames: dict[str, Any] = {}
    values: dict[str, float] = {}
    note = ""
    stopped_at = None
    if failure is not None:
        why = ("interrupted" if isinstance(failure, KeyboardInterrupt)
               else f"{type(failure).__name__}: {failure}")
        if model is None:
            note = f"Run stopped before the first month: {why}"
        else:
            done = model.month - model.start_month
            from market.calendar import month_label

            stopped_at = month_label(model.month)
            note = (f"Run stopped in {stopped_at} after {done} of {world.months} months: {why}. "
                    "The tables hold the months completed before it.")
    out.mkdir(parents=True, exist_ok=True)
    report_error = None
    try:
        if model is not None:
            frames = _completed_frames(model)[0] if failure is not None else model.frames()
            values = _metrics(frames)
            written += report.write_tables(frames, out).values()
            written.append(report.write_summary(frames, world, ns.seed, out, overrides=overrides,
                                                note=note))
            if not ns.no_charts:
                written += report.write_charts(frames, out).values()
    except Exception as exc:  # the report itself failed: keep what was written, say so
        report_error = f"{type(exc).__name__}: {exc}"
        trace += "\n" + traceback.format_exc()
        status = status or 1
    meta = {"scenario": world.name, "file": str(_scenario_path(ns.scenario)), "seed": ns.seed,
            "run_id": model.run_id if model is not None else None,
            "months": world.months, "overrides": overrides, "version": __version__,
            "status": "completed" if failure is None and report_error is None else "stopped",
            "stopped_at": stopped_at, "error": note or report_error,
            "elapsed_s": round(elapsed, 3),
            "metrics": {k: None if math.isnan(v) else v for k, v in values.items()},
            "resolved_scenario": resolve(ns.scenario, overrides)}
    (out / "run.json").write_text(json.dumps(meta, indent=2, default=_json_value) + "\n",
                                  encoding="utf-8")
    written.append(out / "run.json")
    if failure is not None or report_error is not None:
        text = "\n\n".join(t for t in (note, report_error and f"Writing the report failed: "
                                       f"{report_error}") if t)
        (out / "stopped.md").write_text(f"# Run stopped\n\n{text}\n\n```\n{trace}```\n",
                                        encoding="utf-8")
        written.append(out / "stopped.md")
        why = " ".join(t.rstrip(".") + "." for t in (
            note, report_error and f"writing the report failed: {report_error}") if t)
        _error(f"{why} Partial results in {out}/")
    elif not ns.quiet:
        _print_summary(values, world, ns.seed, elapsed)
    print(f"Wrote {out}/")
    for path in written:
        print(f"  {path}")
    return status


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
