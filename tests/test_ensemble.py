"""Ensembles and comparisons: ``compute-market run --seeds N`` and ``compute-market compare``.

Small worlds (6 months, 2-3 seeds) keep this to about half a minute on 2 cores. The Dask test
starts a real scheduler and two workers on 127.0.0.1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from market import cli, ensemble
from market.metrics import summary
from market.model import ComputeMarket
from market.scenarios import load_scenario
from market.sweep.cluster import LoopbackCluster

PNG = b"\x89PNG\r\n\x1a\n"
QUANTILES = ["q05", "q25", "q50", "q75", "q95"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def seeds3(tmp_path_factory):
    """``run no-deal --seeds 3 --seed 4 --months 6`` on two local processes."""
    out = tmp_path_factory.mktemp("ens") / "out"
    code = cli.main(["run", "no-deal", "--seeds", "3", "--seed", "4", "--months", "6",
                     "--workers", "2", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_seeds_writes_summary_fans_and_chart(seeds3):
    results = pd.read_csv(seeds3 / "results.csv")
    assert list(results["seed"]) == [4, 5, 6] and (results["status"] == "ok").all()
    table = pd.read_csv(seeds3 / "summary.csv")
    metrics = [c for c in results.columns if c in set(table["metric"])]
    assert len(metrics) == len(table) >= 10
    for row in table.itertuples():  # the interval is the 5th-95th percentile of the seeds
        y = results[row.metric].to_numpy(float)
        assert row.mean == pytest.approx(y.mean(), rel=1e-12)
        assert row.p5 == pytest.approx(np.quantile(y, 0.05), rel=1e-12)
        assert row.p95 == pytest.approx(np.quantile(y, 0.95), rel=1e-12)
        assert row.n == 3
    fans = pd.read_csv(seeds3 / "fans.csv")
    assert {"spot_index", "term_12m_index", "capacity_h100e", "unmet_share"} <= set(
        fans["series"])
    assert (fans.groupby("series").size() == 6).all()  # one row per month
    q = fans[QUANTILES].to_numpy()
    assert (np.diff(q, axis=1) >= -1e-12).all() and (fans["n"] == 3).all()
    text = (seeds3 / "summary.md").read_text()
    assert "90% interval" in text and "seeds 4..6" in text and "fan_chart.png" in text
    assert (seeds3 / "fan_chart.png").read_bytes().startswith(PNG)


def test_seed_k_of_an_ensemble_is_run_seed_k(seeds3):
    results = pd.read_csv(seeds3 / "results.csv").set_index("seed")
    world = load_scenario("no-deal", ["months=6"])
    single = summary(ComputeMarket(world, rng=5).run().frames())
    for metric, value in single.items():
        assert results.loc[5, metric] == pytest.approx(value, rel=1e-12, nan_ok=True), metric
    fans = pd.read_csv(seeds3 / "fans.csv")
    cap = fans[fans["series"] == "capacity_h100e"]
    agents = ComputeMarket(world, rng=5).run().frames()["agents"]
    owned = agents[agents["kind"].isin(("owner", "hyperscaler", "neocloud"))].groupby(
        "month")["capacity_owned_h100e"].sum()
    assert (cap["q05"].to_numpy() <= owned.to_numpy() + 1e-6).all()
    assert (owned.to_numpy() <= cap["q95"].to_numpy() + 1e-6).all()


def test_rerun_resumes_and_rewrites_the_same_report(seeds3, capsys):
    before = (seeds3 / "summary.csv").read_bytes()
    parts = sorted(p.stat().st_mtime_ns for p in (seeds3 / "runs").glob("part-*.parquet"))
    code, out, _ = run(capsys, "run", "no-deal", "--seeds", "3", "--seed", "4", "--months",
                       "6", "--out", str(seeds3))
    assert code == 0 and "3 seeds (4..6), 0 failed" in out and "90% interval" in out
    assert sorted(p.stat().st_mtime_ns for p in (seeds3 / "runs").glob("part-*.parquet")) == \
        parts  # nothing was run again
    assert (seeds3 / "summary.csv").read_bytes() == before


def test_seeds_on_dask_match_local_processes(seeds3, tmp_path):
    cluster = LoopbackCluster(n_workers=2, timeout_s=90)
    try:
        cluster.start()
        out = tmp_path / "dask"
        assert cli.main(["run", "no-deal", "--seeds", "3", "--seed", "4", "--months", "6",
                         "--scheduler", cluster.address, "--out", str(out), "--quiet",
                         "--no-charts"]) == 0
    finally:
        cluster.close()
    local = pd.read_csv(seeds3 / "results.csv").drop(columns="elapsed_s")
    remote = pd.read_csv(out / "results.csv").drop(columns="elapsed_s")
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    assert not (out / "fan_chart.png").exists()


@pytest.mark.parametrize("args, message", [
    (["run", "--seeds", "2", "--months", "2", "--set", "market.kk=1"], "market.kk"),
    (["run", "--seeds", "2", "--seed", "-1"], "--seed: -1"),
    (["run", "--workers", "2"], "--workers and --scheduler go with --seeds"),
    (["compare", "colossus-2026", "--seeds", "2"], "same scenario"),
    (["compare", "colossus-2026", "nowhere-2030", "--seeds", "2"], "nowhere-2030"),
    (["compare", "no-deal", "--set", "market.k=-5", "--seeds", "2"], "market.k"),
])
def test_bad_ensemble_options_exit_2_with_one_line(capsys, tmp_path, monkeypatch, args,
                                                    message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.csv"))


def test_ensemble_and_single_run_folders_are_not_mixed(seeds3, tmp_path, capsys):
    single = tmp_path / "single"
    assert cli.main(["run", "no-deal", "--months", "2", "--out", str(single), "-q",
                     "--no-charts"]) == 0
    summary = (single / "summary.md").read_text()
    code, _, err = run(capsys, "run", "no-deal", "--seeds", "2", "--months", "2", "--out",
                       str(single))
    assert code == 2 and "holds other files" in err
    assert (single / "summary.md").read_text() == summary  # untouched
    before = (seeds3 / "summary.md").read_text()
    code, _, err = run(capsys, "run", "no-deal", "--months", "2", "--out", str(seeds3))
    assert code == 2 and "holds an ensemble" in err
    assert (seeds3 / "summary.md").read_text() == before


# ----------------------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "out"
    code = cli.main(["compare", "colossus-2026", "no-deal", "--seeds", "3", "--months", "6",
                     "--workers", "2", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_compare_pairs_seeds_and_bootstraps_the_mean_difference(compared):
    a = pd.read_csv(compared / "a" / "results.csv").set_index("seed")
    b = pd.read_csv(compared / "b" / "results.csv").set_index("seed")
    assert list(a.index) == list(b.index) == [0, 1, 2]  # common seeds
    table = pd.read_csv(compared / "compare.csv").set_index("metric")
    revenue = table.loc["owner_revenue_usd"]
    d = (b["owner_revenue_usd"] - a["owner_revenue_usd"]).to_numpy()
    assert revenue["mean_diff"] == pytest.approx(d.mean(), rel=1e-12)
    assert revenue["mean_b"] - revenue["mean_a"] == pytest.approx(d.mean(), rel=1e-9)
    assert revenue["mean_diff"] < 0  # no preloaded lease: the owner earns less
    assert revenue["ci_hi"] < 0 and revenue["n_pairs"] == 3
    for row in table.itertuples():  # the interval lies within the range of the differences
        diffs = (b[row.Index] - a[row.Index]).to_numpy(float)
        if np.isfinite(diffs).all():
            # a resample of one seed thrice has mean (x + x + x) / 3, x within rounding
            tol = 1e-12 * max(1.0, float(np.abs(diffs).max()))
            assert diffs.min() - tol <= row.ci_lo <= row.mean_diff <= row.ci_hi \
                <= diffs.max() + tol
    md = (compared / "compare.md").read_text()
    assert "95% interval" in md and "compare.png" in md
    assert (compared / "compare.png").read_bytes().startswith(PNG)


def test_compare_report_is_deterministic(compared):
    cmp = ensemble.Comparison(*_arms(compared), labels=("x", "y"), diffs=None, out=compared)
    metrics = [m for m in cmp.a.metrics]
    first = ensemble.paired_differences(cmp.a.results, cmp.b.results, metrics)
    again = ensemble.paired_differences(cmp.a.results, cmp.b.results, metrics)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    saved = pd.read_csv(compared / "compare.csv")
    np.testing.assert_allclose(saved["ci_lo"], first["ci_lo"], rtol=1e-12, equal_nan=True)


def _arms(folder):
    arms = []
    for arm in ("a", "b"):
        results = pd.read_csv(folder / arm / "results.csv")
        metrics = [c for c in results.columns
                   if c not in ("run_id", "seed", "status", "error", "elapsed_s")]
        arms.append(ensemble.Ensemble(arm, folder / arm, list(results["seed"]), results,
                                      pd.DataFrame(), metrics, 0, 0.0))
    return arms


def test_compare_default_b_is_a_with_set(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "compare", "no-deal", "--set", "market.k=0.6", "--seeds", "2",
                       "--months", "3", "--workers", "2", "--no-charts")
    assert code == 0 and "B = no-deal market.k=0.6" in out
    folders = list((tmp_path / "runs").glob("compare-no-deal-no-deal-set*-seeds0-1"))
    assert len(folders) == 1 and (folders[0] / "compare.csv").is_file()


# ----------------------------------------------------------------------------- statistics
def test_bootstrap_interval_matches_the_normal_theory_for_many_values():
    x = np.random.default_rng(7).normal(10.0, 2.0, size=400)
    lo, hi = ensemble.bootstrap_mean_interval(x)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - half, abs=0.03)
    assert hi == pytest.approx(x.mean() + half, abs=0.03)
    assert (lo, hi) == ensemble.bootstrap_mean_interval(x)  # seeded: the same interval
    assert all(math.isnan(v) for v in ensemble.bootstrap_mean_interval([1.0]))


def test_fan_table_quantiles_across_runs():
    months = ["2026-01", "2026-02"]
    rows = [{"run_id": f"r{i}", "seed": i, "series": "spot_index", "unit": "u", "month": m,
             "value": float(i + 10 * j)} for i in range(21) for j, m in enumerate(months)]
    fans = ensemble.fan_table(pd.DataFrame(rows))
    assert list(fans["q50"]) == [10.0, 20.0] and list(fans["q05"]) == [1.0, 11.0]
    assert list(fans["q95"]) == [19.0, 29.0] and list(fans["n"]) == [21, 21]


def test_help_of_the_ensemble_options(capsys):
    code, out, _ = run(capsys, "compare", "--help")
    out = " ".join(out.split())  # argparse wraps at the terminal's width
    assert code == 0 and "95% bootstrap interval" in out and "%%" not in out
    code, out, _ = run(capsys, "run", "--help")
    out = " ".join(out.split())
    assert code == 0 and "--seeds N" in out and "90% interval" in out and "--scheduler" in out
