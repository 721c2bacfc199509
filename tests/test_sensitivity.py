"""Sensitivity analysis of studies: the samplers (legacy LHS, scipy.stats.qmc, SALib designs),
Sobol and Morris indices checked on analytic functions with known answers, small studies of
the model, and the seed-noise whiskers of the tornado."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from market.sweep import Study, StudyError, prepare, run_study
from market.sweep import sensitivity as sens
from market.sweep.report import seed_sd
from market.sweep.study import Parameter, _lhs, design, unit_design

PNG = b"\x89PNG\r\n\x1a\n"


def study(method: str, samples: int, ranges: dict[str, list[float]], **extra) -> Study:
    """A study over ``ranges`` (the scenario is only read by ``prepare``)."""
    return Study.from_dict({"scenario": "colossus-2026", "seeds": 1, "seed": 3,
                            "method": method, "samples": samples,
                            "parameters": {k: {"range": v} for k, v in ranges.items()},
                            **extra})


def matrix(points: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[pt[n] for n in names] for pt in points], dtype=float)


# ----------------------------------------------------------------------------- samplers
def test_legacy_lhs_draws_are_unchanged_so_run_ids_still_resume():
    """The points the first (hand-written) LHS drew for seed 11, recorded from that code."""
    params = [Parameter("a.x", range=(0.02, 0.2)), Parameter("b.y", range=(3, 40))]
    assert _lhs(params, 5, np.random.default_rng(11)) == [
        {"a.x": 0.0570328043, "b.y": 21}, {"a.x": 0.169325339, "b.y": 29},
        {"a.x": 0.1254155968, "b.y": 38}, {"a.x": 0.1305351407, "b.y": 5},
        {"a.x": 0.02467186218, "b.y": 11}]


@pytest.mark.parametrize("method", ["sobol", "halton", "optimized-lhs"])
def test_qmc_samplers_fill_the_ranges_and_are_seeded(method):
    ranges = {"a.x": [0.02, 0.2], "b.y": [10.0, 20.0], "c.z": [1, 8]}
    points = design(study(method, 8, ranges))
    assert len(points) == 8 and points == design(study(method, 8, ranges))
    assert points != design(study(method, 8, ranges, seed=4))
    x = matrix(points, list(ranges))
    lo, hi = np.array([r[0] for r in ranges.values()]), np.array([r[1] for r in ranges.values()])
    assert ((x >= lo) & (x <= hi)).all()
    assert all(isinstance(pt["c.z"], int) for pt in points)
    u = unit_design(study(method, 8, ranges))
    if method != "halton":  # Sobol (base 2) and LHS put one point in each of 8 strata
        assert all(sorted(np.floor(u[:, j] * 8).astype(int)) == list(range(8))
                   for j in range(3))


def test_optimized_lhs_decorrelates_the_columns_better_than_the_legacy_lhs():
    params = [Parameter(f"p{i}.x", range=(0.0, 1.0)) for i in range(4)]
    names = [p.path for p in params]

    def worst(points):
        c = np.corrcoef(matrix(points, names), rowvar=False)
        return np.abs(c[np.triu_indices(4, 1)]).max()

    ranges = {n: [0.0, 1.0] for n in names}
    legacy = np.mean([worst(_lhs(params, 8, np.random.default_rng(s))) for s in range(20)])
    optimized = np.mean([worst(design(study("optimized-lhs", 8, ranges, seed=s)))
                         for s in range(20)])
    assert optimized < legacy


@pytest.mark.parametrize("edit, message", [
    ({"method": "sobol", "samples": 6}, "method 'sobol' needs a power of 2 (e.g. 4 or 8)"),
    ({"method": "saltelli", "samples": 12}, "method 'saltelli' needs a power of 2"),
    ({"method": "morris", "samples": 1}, "at least 2 trajectories"),
    ({"method": "saltelli", "samples": 4,
      "parameters": {"terms.colossus_lease.recall": {"values": [True, False]},
                     "market.k": {"range": [0.3, 0.7]}}},
     "method 'saltelli' takes parameters with a 'range' only"),
    ({"method": "latin"}, "method = 'latin': must be one of lhs, grid, sobol"),
])
def test_bad_method_settings_name_the_key(edit, message):
    data = {"scenario": "colossus-2026", "seeds": 1, "samples": 4,
            "parameters": {"market.k": {"range": [0.3, 0.7]}}} | edit
    with pytest.raises(StudyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Study.from_dict(data)


# ----------------------------------------------------------------------------- analytic checks
ISHIGAMI_S1 = (0.3139, 0.4424, 0.0)
ISHIGAMI_ST = (0.5576, 0.4424, 0.2437)
"""Known indices of Ishigami's function with a = 7, b = 0.1 on [-pi, pi]^3."""


def ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_of_ishigami_match_the_known_values():
    ranges = {f"x.{i}": [-math.pi, math.pi] for i in range(3)}
    st = study("saltelli", 1024, ranges)
    points = design(st)
    assert len(points) == 1024 * (3 + 2)  # Saltelli without second-order terms
    table = sens.indices(st, ishigami(matrix(points, list(ranges))))
    np.testing.assert_allclose(table["S1"], ISHIGAMI_S1, atol=0.04)
    np.testing.assert_allclose(table["ST"], ISHIGAMI_ST, atol=0.04)
    assert (table["S1_conf"] > 0).all() and (table["S1_conf"] < 0.1).all()
    for col in ("S1", "ST"):  # the known value lies in the bootstrap interval
        known = ISHIGAMI_S1 if col == "S1" else ISHIGAMI_ST
        assert (np.abs(table[col] - known) <= 2 * table[f"{col}_conf"] + 0.01).all()
    again = sens.indices(st, ishigami(matrix(design(st), list(ranges))))
    pd.testing.assert_frame_equal(table, again, check_exact=True)  # seeded bootstrap


def test_morris_screens_a_linear_a_curved_and_an_inert_input():
    """f = 6 x1 + 10 x2^2 + 0 x3 on [0, 1]^2 x [0, 2]: elementary effects of x1 are exactly 6
    (no spread), of x2 vary with x2 (sigma > 0), of x3 are 0."""
    ranges = {"x.1": [0.0, 1.0], "x.2": [0.0, 1.0], "x.3": [0.0, 2.0]}
    st = study("morris", 20, ranges)
    x = matrix(design(st), list(ranges))
    table = sens.indices(st, 6 * x[:, 0] + 10 * x[:, 1] ** 2).set_index("parameter")
    assert table.loc["x.1", "mu_star"] == pytest.approx(6.0, rel=1e-9)
    assert table.loc["x.1", "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["x.2", "sigma"] > 1.0 and table.loc["x.2", "mu"] > 0
    assert table.loc["x.3", "mu_star"] == 0.0


def test_constant_or_failed_outputs_have_no_indices():
    st = study("saltelli", 4, {"a.x": [0.0, 1.0], "b.y": [0.0, 1.0]})
    n = len(design(st))
    assert sens.indices(st, np.ones(n))[["S1", "ST"]].isna().all().all()
    y = np.arange(n, dtype=float)
    y[2] = np.nan
    assert sens.indices(st, y)[["S1", "ST"]].isna().all().all()


# ----------------------------------------------------------------------------- the model
MODEL_RANGES = {"market.k": [0.2, 0.8],
                "labs.frontier_a.growth_per_month": [0.0, 0.15]}
METRICS = ["spot_price_mean_usd_per_h100e_hour", "unmet_share_frontier", "owner_revenue_usd"]


def model_study(method: str, samples: int, seeds: int = 1) -> Study:
    return study(method, samples, MODEL_RANGES, months=4, seeds=seeds, metrics=METRICS,
                 series=["spot_index"], name=f"tiny-{method}")


def test_sobol_study_of_the_model(tmp_path):
    st = model_study("saltelli", 4)
    result = run_study(st, workers=2, out=tmp_path / "sobol", progress=False)
    assert result.n_failed == 0 and result.n_runs == 4 * (2 + 2)
    table = pd.read_csv(tmp_path / "sobol" / "sensitivity.csv")
    assert len(table) == len(METRICS) * 2 and set(table["method"]) == {"saltelli"}
    assert list(table.columns[:6]) == ["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    growth = table[(table["parameter"] == "labs.frontier_a.growth_per_month")
                   & (table["metric"] == "unmet_share_frontier")].iloc[0]
    assert growth["ST"] > 0.3  # frontier_a's demand growth moves its unmet share
    # the indices are SALib's on the seed-averaged outputs in design order
    y = sens.design_outputs(result.results, result.plan, "unmet_share_frontier")
    assert np.isfinite(y).all() and len(y) == 16
    direct = sens.indices(st, y).set_index("parameter")
    assert direct.loc["labs.frontier_a.growth_per_month", "ST"] == pytest.approx(growth["ST"])
    assert (tmp_path / "sobol" / "series_fans.png").read_bytes().startswith(PNG)


def test_sweep_command_prints_the_largest_index(tmp_path, capsys):
    from market.sweep import cli

    path = tmp_path / "morris.toml"
    path.write_text(f"""name = "tiny-morris"
scenario = "colossus-2026"
seeds = 1
months = 3
method = "morris"
samples = 2
metrics = {json.dumps(METRICS)}
""" + "".join(f'[parameters."{k}"]\nrange = {v}\n' for k, v in MODEL_RANGES.items()))
    assert cli([str(path), "--workers", "2", "--no-progress", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "largest mu_star per metric (+- half-width of its 95% bootstrap interval)" in out
    table = pd.read_csv(tmp_path / "o" / "sensitivity.csv")
    top = table.sort_values("mu_star", ascending=False).iloc[0]
    assert f"{top['metric']}: {top['parameter']} {top['mu_star']:.3g} +-" in out


def test_morris_study_runs_each_distinct_point_once(tmp_path):
    st = model_study("morris", 3)
    plan = prepare(st)
    assert len(plan.design_rows) == 3 * (2 + 1)
    assert len(plan.runs) == len(set(plan.design_rows)) <= 9
    assert len({r.run_id for r in plan.runs}) == len(plan.runs)
    result = run_study(st, workers=2, out=tmp_path / "morris", progress=False)
    table = result.sensitivity
    assert list(table.columns[2:6]) == ["mu_star", "mu_star_conf", "mu", "sigma"]
    assert (table["mu_star"] >= table["mu"].abs() - 1e-12).all()
    manifest = json.loads((tmp_path / "morris" / "manifest.json").read_text())
    assert manifest["study"]["method"] == "morris"


def test_tornado_whiskers_are_the_pooled_seed_noise(tmp_path):
    st = model_study("halton", 2, seeds=3)
    result = run_study(st, workers=2, out=tmp_path / "halton", progress=False)
    frame = result.results
    metric = "owner_revenue_usd"
    by_point = frame.groupby([*MODEL_RANGES])[metric]
    pooled = math.sqrt(by_point.var(ddof=1).mean())  # equal seeds per point
    assert pooled > 0  # the seeds do move the metric
    points = frame["run_id"].map({r.run_id: r.point for r in result.plan.runs})
    assert seed_sd(frame[metric], points) == pytest.approx(pooled, rel=1e-12)
    summary = pd.read_csv(tmp_path / "halton" / "summary.csv")
    row = summary[summary["metric"] == metric].iloc[0]
    assert row["seed_sd"] == pytest.approx(pooled * 1e-9, rel=1e-9)  # in $ billion
    assert row["effect_seed_ci95"] == pytest.approx(
        1.96 * row["seed_sd"] * math.sqrt(1 / row["n_low"] + 1 / row["n_high"]))
    assert (tmp_path / "halton" / "tornado.png").read_bytes().startswith(PNG)


def test_example_sobol_study_is_valid():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "studies" / "sobol-drivers.toml"
    plan = prepare(Study.load(path))
    assert plan.study.method == "saltelli" and len(plan.design_rows) == 32 * (3 + 2)
    assert len(plan.runs) == len(set(plan.design_rows)) * 2  # distinct points x 2 seeds
