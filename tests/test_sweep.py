"""Tests of market.sweep: batch studies on local processes and on Dask, resumable Parquet
results, failed runs as data, strict study files.

Small studies (6-12 months, 2-16 runs) keep this under a minute on 2 cores. The Dask and
SIGKILL tests start real processes (a scheduler and two workers; a sweep killed with SIGKILL)
and always tear them down.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.sweep import Study, StudyError, cli, prepare, run_study
from market.sweep.cluster import LoopbackCluster
from market.sweep.study import Plan
from market.sweep.worker import run_one

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["spot_price_mean_usd_per_h100e_hour", "utilization", "owner_revenue_usd"]

TINY = """
name = "tiny"
scenario = "colossus-2026"
seeds = 2
seed = 11
months = {months}
samples = {samples}
metrics = {metrics}
series = ["spot_index", "utilization"]
sensitivity = true

[parameters."terms.colossus_lease.buyer_notice_days"]
values = [30, 180]

[parameters."regions.us-south.opposition_probability"]
range = [0.02, 0.2]
"""


def write_study(folder: Path, *, months: int = 6, samples: int = 2, name: str = "tiny.toml",
                extra: str = "") -> Path:
    """A 2 (grid) x samples (LHS) x 2 (seeds) study."""
    path = folder / name
    path.write_text(TINY.format(months=months, samples=samples, metrics=json.dumps(METRICS))
                    + extra)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def local(tiny, tmp_path_factory):
    """The tiny study on two local worker processes."""
    return run_study(tiny, workers=2, out=tmp_path_factory.mktemp("local") / "out",
                     progress=False)


def test_local_study_writes_every_run_once(local):
    assert (local.n_runs, local.n_failed, local.n_executed) == (8, 0, 8)
    out = local.out
    runs = pd.read_parquet(out / "runs")  # the whole dataset, as the README says
    assert len(runs) == 8 * len(METRICS)
    assert runs.groupby(["run_id", "metric"]).size().eq(1).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(r["run_id"] for r in manifest["runs"]) == sorted(runs["run_id"].unique())
    assert set(runs["status"]) == {"ok"} and runs["value"].notna().all()
    assert {"terms.colossus_lease.buyer_notice_days", "regions.us-south.opposition_probability",
            "seed"} <= set(runs.columns)
    series = pd.read_parquet(out / "series")
    assert len(series) == 8 * 2 * 6  # runs x series x months
    assert set(series["unit"]) == {"usd_per_h100e_hour", "share"}
    for name in ("results.csv", "summary.csv", "tornado.png", "sensitivity.csv"):
        assert (out / name).stat().st_size > 0, name
    wide = pd.read_csv(out / "results.csv")
    assert list(wide.columns[-3:]) == METRICS and len(wide) == 8
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == len(METRICS) * 2  # metric x parameter
    sens = pd.read_csv(out / "sensitivity.csv")
    assert set(sens["parameter"]) == {"terms.colossus_lease.buyer_notice_days",
                                      "regions.us-south.opposition_probability", "(seed)"}
    assert sens["S1"].dropna().between(0, 1).all()


def test_rerun_resumes_nothing_and_changes_nothing(local, tiny):
    again = run_study(tiny, workers=2, out=local.out, progress=False, report=False)
    assert (again.n_executed, again.n_resumed) == (0, 8)
    pd.testing.assert_frame_equal(again.results, local.results)


def test_design_is_lhs_and_ids_are_stable(tiny):
    plan = prepare(Study.load(tiny))
    assert len(plan.runs) == 8 and len({r.run_id for r in plan.runs}) == 8
    assert [r.run_id for r in prepare(Study.load(tiny)).runs] == [r.run_id for r in plan.runs]
    # one LHS draw per stratum of [0.02, 0.2] (2 samples: one in each half)
    values = sorted({r.params["regions.us-south.opposition_probability"] for r in plan.runs})
    strata = [int((v - 0.02) / 0.18 * 2) for v in values]
    assert strata == [0, 1]
    # replicate seeds come from SeedSequence(seed).spawn(n)
    expected = [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(11).spawn(2)]
    assert sorted({r.seed for r in plan.runs}) == sorted(expected)


@pytest.fixture
def cluster():
    """A Dask scheduler and two workers, each a separate process on 127.0.0.1 (torn down
    whatever happens: process groups get SIGTERM, then SIGKILL)."""
    c = LoopbackCluster(n_workers=2, timeout_s=90)
    try:
        c.start()
        yield c.address
    finally:
        c.close()


def test_dask_cluster_gives_identical_results(local, tiny, cluster, tmp_path):
    assert cluster.startswith("tcp://127.0.0.1:")
    remote = run_study(tiny, scheduler=cluster, out=tmp_path / "dask", progress=False)
    assert (remote.n_runs, remote.n_failed, remote.n_executed) == (8, 0, 8)
    cols = [c for c in local.results.columns if c != "elapsed_s"]
    pd.testing.assert_frame_equal(remote.results[cols], local.results[cols], check_exact=True)
    pd.testing.assert_frame_equal(remote.series(), local.series(), check_exact=True)


def test_sigkill_mid_study_then_resume_has_every_run_once(tmp_path):
    study = write_study(tmp_path, months=12, samples=4)  # 16 runs
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "market.sweep", str(study), "--workers", "1", "--out",
           str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "runs").glob("part-*.parquet"))) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no results after 120 s"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    done_at_kill = len(list((out / "runs").glob("part-*.parquet")))
    assert 3 <= done_at_kill < 16, "the kill must land mid-study"
    # what a kill in the middle of a write leaves behind: a hidden temporary part
    (out / "runs" / ".part-0000000000000000.parquet.tmp").write_bytes(b"PAR1 truncated")

    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{16 - done_at_kill} run now, {done_at_kill} already done" in rerun.stdout
    runs = pd.read_parquet(out / "runs")
    manifest = json.loads((out / "manifest.json").read_text())
    ids = [r["run_id"] for r in manifest["runs"]]
    assert len(ids) == manifest["n_runs"] == 16
    counts = runs.groupby("run_id").size()
    assert sorted(counts.index) == sorted(ids)
    assert counts.eq(len(METRICS)).all()  # each run exactly once (a row per metric)
    assert runs.groupby(["run_id", "metric"]).size().eq(1).all()
    assert not list(out.rglob("*.tmp"))
    assert len(pd.read_csv(out / "results.csv")) == 16


def test_failed_run_is_recorded_and_study_goes_on(tmp_path, monkeypatch):
    study = write_study(tmp_path, months=3, samples=1)  # 4 runs
    original = Plan.task

    def broken(self, run):  # a seed the model rejects, for one run only
        task = original(self, run)
        return task | {"seed": -1} if run.index == 1 else task

    monkeypatch.setattr(Plan, "task", broken)
    first = run_study(study, workers=1, out=tmp_path / "out", progress=False)
    assert (first.n_runs, first.n_failed) == (4, 1)
    failed = first.results[first.results["status"] == "failed"]
    assert "ValueError" in failed["error"].iloc[0]
    assert failed[METRICS].isna().all().all()
    assert first.results.loc[first.results["status"] == "ok", METRICS].notna().all().all()
    monkeypatch.setattr(Plan, "task", original)
    kept = run_study(study, workers=1, out=tmp_path / "out", progress=False, report=False)
    assert (kept.n_executed, kept.n_failed) == (0, 1)  # a resume keeps failures...
    retried = run_study(study, workers=1, out=tmp_path / "out", progress=False,
                        retry_failed=True)  # ...unless asked
    assert (retried.n_executed, retried.n_failed) == (1, 0)
    assert len(pd.read_parquet(tmp_path / "out" / "runs")) == 4 * len(METRICS)


def test_run_one_returns_errors_as_data():
    result = run_one({"run_id": "x", "raw": {"labs": "nonsense"}, "source": "<test>",
                      "params": {}, "seed": 0, "months": 2, "metrics": [], "series": []})
    assert result["status"] == "failed" and "labs" in result["error"]


@pytest.mark.parametrize(("edit", "message"), [
    (("samples = 2", "sample = 2"), "unknown key 'sample'; did you mean 'samples'?"),
    (("range = [0.02, 0.2]", "rnage = [0.02, 0.2]"),
     "unknown key 'parameters.\"regions.us-south.opposition_probability\".rnage'; "
     "did you mean 'parameters.\"regions.us-south.opposition_probability\".range'?"),
    (("regions.us-south.opposition_probability", "regions.us-south.oposition_probability"),
     "regions.us-south.oposition_probability"),
    (("values = [30, 180]", "values = [30, -5]"), "buyer_notice_days"),
    (("seeds = 2", "seeds = 0"), "seeds = 0"),
    (("range = [0.02, 0.2]", "range = [0.2, 0.02]"), "range = [0.2, 0.02]"),
    (('"utilization"', '"utilisation"'), "metrics[1] = 'utilisation'"),
    (('"spot_index"', '"spot_indx"'), "did you mean 'spot_index'?"),
])
def test_malformed_study_names_the_key(tmp_path, edit, message):
    path = write_study(tmp_path)
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(StudyError) as err:
        prepare(Study.load(path))
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_cli_reports_errors_and_help(tmp_path, capsys):
    path = write_study(tmp_path)
    path.write_text(path.read_text().replace("months = 6", "months = 6\nmonth = 7"))
    assert cli([str(path), "--workers", "1", "--out", str(tmp_path / "o")]) == 2
    assert "unknown key 'month'; did you mean 'months'?" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing ran, nothing written
    assert cli(["--help"]) == 0
    assert "--scheduler" in capsys.readouterr().out


def test_out_folder_of_another_study_is_refused(local, tmp_path):
    other = write_study(tmp_path, samples=3)
    with pytest.raises(StudyError, match="different study"):
        run_study(other, workers=1, out=local.out, progress=False)


def test_example_study_is_valid():
    plan = prepare(Study.load(ROOT / "experiments" / "studies" / "contract-rules.toml"))
    assert len(plan.runs) == 3 * 2 * 4 * 3
    assert plan.study.sensitivity
