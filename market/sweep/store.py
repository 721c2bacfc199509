"""Where a study's results live, and how they survive a crash.

Layout of an output folder::

    manifest.json            the study, its fingerprint and every run (id, seed, parameters)
    runs/part-<RUNID>.parquet    one file per finished run: a row per metric
    series/part-<RUNID>.parquet  per-month series of that run (when the study asks)
    results.csv, summary.csv, tornado.png, sensitivity.csv   the report (market.sweep.report)

Invariant: a run is finished exactly when ``runs/part-<RUNID>.parquet`` exists, and that file is
complete. Every file is written to a hidden ``.NAME.tmp`` (which ``pyarrow.dataset`` and
``pandas.read_parquet(folder)`` skip), flushed to disk, then renamed over its final name with
``os.replace`` (atomic on POSIX). The series part is written before the runs part, so a kill at
any instant leaves either nothing or a complete run; a resume reruns exactly the runs without a
runs part, and a rewritten part replaces, never duplicates. One writer at a time: the folder is
locked with ``flock`` while a sweep writes (the kernel drops the lock if the process dies).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from market import __version__
from market.sweep.study import FORMAT, Plan, Run, StudyError

ARROW_TYPES = {"bool": pa.bool_(), "int64": pa.int64(), "float64": pa.float64(),
               "string": pa.string(), "json": pa.string()}


def write_file_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a hidden ``.NAME.tmp`` beside ``path``, flush it to disk and
    rename it over ``path``: the file is either absent, its old self, or complete."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file so that ``path`` is either absent, its old self, or complete."""
    write_file_atomic(path, lambda tmp: pq.write_table(table, tmp))


def write_json_atomic(obj: Any, path: Path) -> None:
    """Write JSON through a temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


OWN_FILES = ("manifest.json", "results.csv", "summary.csv", "tornado.png", "sensitivity.csv")
"""Files of a sweep's folder besides its part files (their temporaries are ``.NAME.tmp``)."""
_FRESH = {".lock", "runs", "series"}
"""What a sweep leaves before its manifest is written (a kill right after it started)."""


def _refuse_foreign(out: Path) -> None:
    """Refuse an existing ``out`` that is a file, or a folder with content but no manifest."""
    if out.exists() and not out.is_dir():
        raise StudyError(f"--out {out}: is a file, not a folder; choose a folder")
    if not out.is_dir() or (out / "manifest.json").exists():
        return
    names = sorted(p.name for p in out.iterdir())
    parts = [p for d in ("runs", "series") if (out / d).is_dir() for p in (out / d).iterdir()]
    if set(names) <= _FRESH and not parts:
        return
    shown = ", ".join([*(n for n in names if n not in _FRESH), *(
        f"{p.parent.name}/{p.name}" for p in parts)][:3])
    raise StudyError(f"--out {out}: holds files ({shown}, ...) but no manifest.json, so it is "
                     "not the folder of a sweep; choose another --out (results of different "
                     "studies must not mix)")


class Store:
    """The output folder of one study (see the module docstring for the layout)."""

    def __init__(self, out: str | Path, plan: Plan) -> None:
        self.out = Path(out)
        self.plan = plan
        self.runs_dir = self.out / "runs"
        self.series_dir = self.out / "series"
        self._lock_fd: int | None = None
        params = [(p.path, ARROW_TYPES[plan.param_types[p.path]])
                  for p in plan.study.parameters]
        self.params = [name for name, _ in params]
        self.run_schema = pa.schema([("run_id", pa.string()), ("status", pa.string()),
                                     ("seed", pa.int64()), *params, ("metric", pa.string()),
                                     ("value", pa.float64()), ("error", pa.string()),
                                     ("elapsed_s", pa.float64())])
        self.series_schema = pa.schema([("run_id", pa.string()), ("seed", pa.int64()), *params,
                                        ("series", pa.string()), ("unit", pa.string()),
                                        ("month", pa.timestamp("ms")), ("value", pa.float64())])

    # ---------------------------------------------------------------- opening
    def open(self) -> None:
        """Create or reopen the folder: take the lock, check the manifest, drop stray temps.

        A folder that holds anything but the remains of a sweep that had not yet written its
        manifest is refused: it is not a sweep's folder, and its files would be mixed into the
        results or overwritten."""
        _refuse_foreign(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(exist_ok=True)
        self.series_dir.mkdir(exist_ok=True)
        fd = os.open(self.out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StudyError(f"{self.out}: another sweep is writing to this folder") from None
        self._lock_fd = fd
        manifest = self.out / "manifest.json"
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                self.close()
                raise StudyError(f"{manifest}: cannot be read ({exc}); choose another --out")
            if not isinstance(old, dict):
                old = {}
            if old.get("fingerprint") != self.plan.fingerprint:
                self.close()
                raise StudyError(
                    f"{self.out} holds results of a different study or scenario (fingerprint "
                    f"{old.get('fingerprint', '?')[:12]} there, {self.plan.fingerprint[:12]} "
                    "now); choose another --out or delete the folder")
            created = old.get("created_utc", created)
        write_json_atomic(self.manifest(created), manifest)
        for d in (self.runs_dir, self.series_dir, self.out):
            for tmp in d.glob(".*.tmp"):
                if tmp.name[1:-len(".tmp")] in OWN_FILES or tmp.name.startswith(".part-"):
                    tmp.unlink()  # left by a kill in the middle of a write; we hold the lock

    def close(self) -> None:
        """Release the folder's lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def manifest(self, created: str) -> dict[str, Any]:
        """The study, its scenario and its runs, as written to ``manifest.json``."""
        plan = self.plan
        return {
            "format": FORMAT, "fingerprint": plan.fingerprint, "created_utc": created,
            "package_version": __version__, "study": plan.study.as_dict(),
            "study_file": plan.study.source, "scenario_source": plan.scenario_source,
            "scenario_sha256": plan.scenario_sha256, "months": plan.months,
            "metrics": list(plan.metrics), "series": list(plan.series),
            "series_units": plan.series_units, "parameter_types": plan.param_types,
            "n_runs": len(plan.runs),
            "runs": [{"run_id": r.run_id, "point": r.point, "seed": r.seed, "params": r.params}
                     for r in plan.runs],
        }

    # ---------------------------------------------------------------- state
    def finished(self) -> set[str]:
        """Ids of the runs that have a (complete) runs part."""
        return {p.name[len("part-"):-len(".parquet")] for p in self.runs_dir.glob(
            "part-*.parquet")}

    def failed(self) -> set[str]:
        """Ids of finished runs whose status is "failed"."""
        frame = self.read_runs(columns=["run_id", "status"])
        return set(frame.loc[frame["status"] == "failed", "run_id"])

    # ---------------------------------------------------------------- writing
    def _param_value(self, name: str, value: Any) -> Any:
        kind = self.plan.param_types[name]
        if kind == "json":
            return json.dumps(value)
        if kind == "float64":
            return float(value)
        return value

    def write(self, run: Run, result: dict[str, Any]) -> None:
        """Persist one run's result (series first, then the runs part that marks it done)."""
        params = {k: self._param_value(k, run.params[k]) for k in self.params}
        if result["status"] == "ok" and self.plan.series:
            cols: dict[str, list[Any]] = {f.name: [] for f in self.series_schema}
            for name in self.plan.series:
                s = result["series"][name]
                n = len(s["value"])
                cols["run_id"] += [run.run_id] * n
                cols["seed"] += [run.seed] * n
                for k, v in params.items():
                    cols[k] += [v] * n
                cols["series"] += [name] * n
                cols["unit"] += [self.plan.series_units[name]] * n
                cols["month"] += s["month"]
                cols["value"] += s["value"]
            write_atomic(pa.table(cols, schema=self.series_schema),
                         self.series_dir / f"part-{run.run_id}.parquet")
        metrics = list(self.plan.metrics)
        n = len(metrics)
        ok = result["status"] == "ok"
        cols = {"run_id": [run.run_id] * n, "status": [result["status"]] * n,
                "seed": [run.seed] * n, **{k: [v] * n for k, v in params.items()},
                "metric": metrics,
                "value": [result["metrics"][m] if ok else None for m in metrics],
                "error": [result["error"]] * n, "elapsed_s": [result["elapsed_s"]] * n}
        write_atomic(pa.table(cols, schema=self.run_schema),
                     self.runs_dir / f"part-{run.run_id}.parquet")

    # ---------------------------------------------------------------- reading
    def read_runs(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The runs dataset (a row per run and metric), in the study's run order."""
        return read_dataset(self.runs_dir, self.run_schema, columns, self.plan)

    def read_series(self) -> pd.DataFrame:
        """The series dataset (a row per run, series and month)."""
        return read_dataset(self.series_dir, self.series_schema, None, self.plan)


def read_dataset(folder: Path, schema: pa.Schema, columns: list[str] | None,
                 plan: Plan) -> pd.DataFrame:
    """Read a folder of part files with a fixed schema, sorted by run order."""
    import pyarrow.dataset as ds

    files = sorted(str(p) for p in folder.glob("part-*.parquet"))
    if not files:
        return schema.empty_table().to_pandas()[columns or schema.names]
    table = ds.dataset(files, schema=schema, format="parquet").to_table(columns=columns)
    frame = table.to_pandas()
    if "run_id" in frame:
        order = {r.run_id: r.index for r in plan.runs}
        key = frame["run_id"].map(order)
        frame = frame.iloc[key.argsort(kind="stable")].reset_index(drop=True)
    return frame
