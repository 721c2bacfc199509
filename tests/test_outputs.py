"""Self-describing outputs: every run table says which scenario, seed and run it holds; one dtype
for months everywhere (run tables in memory and on disk, sweep series); categorical names;
run.json enough to rebuild the run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from market import metrics
from market.cli import main
from market.model import CATEGORICAL_COLUMNS, MONTH_DTYPE, ComputeMarket
from market.report import TABLES
from market.scenarios import build_world, load_scenario
from market.sweep import run_study

IDS = ["scenario", "seed", "run_id"]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["run", "recall-shock", "--months", "4", "--seed", "3", "--out", str(out),
                 "--set", "market.k=0.4", "--no-charts", "--quiet"]) == 0
    return out


def _check_tidy(frame: pd.DataFrame, name: str) -> None:
    assert list(frame.columns[:3]) == IDS, name
    dates = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    assert dates, name
    for col in dates:
        assert frame[col].dtype == MONTH_DTYPE, (name, col)
    names = CATEGORICAL_COLUMNS & set(frame.columns)
    assert names, name
    for col in names | {"scenario", "run_id"}:
        assert isinstance(frame[col].dtype, pd.CategoricalDtype), (name, col)


def test_run_tables_carry_scenario_seed_and_run_id_on_disk(cli_run):
    run = json.loads((cli_run / "run.json").read_text())
    for name in TABLES:
        frame = pd.read_parquet(cli_run / f"{name}.parquet")
        _check_tidy(frame, name)
        assert frame["scenario"].astype(str).unique().tolist() == ["recall-shock"], name
        assert frame["seed"].unique().tolist() == [3], name
        assert frame["run_id"].astype(str).unique().tolist() == [run["run_id"]], name


def test_run_json_holds_the_metrics_and_rebuilds_the_run(cli_run):
    run = json.loads((cli_run / "run.json").read_text())
    frames = {name: pd.read_parquet(cli_run / f"{name}.parquet") for name in TABLES}
    assert run["metrics"] == pytest.approx(metrics.summary(frames))
    world = build_world(run["resolved_scenario"])
    assert world == load_scenario("recall-shock", ["market.k=0.4", "months=4"])
    again = ComputeMarket(world, rng=run["seed"])
    assert again.run_id == run["run_id"]  # same world and seed: same id and tables
    pd.testing.assert_frame_equal(again.run().frames()["market"], frames["market"])


def test_tables_of_many_runs_stack_without_tagging():
    runs = [ComputeMarket(scenario=s, months=2, rng=seed).run()
            for s in ("colossus-2026", "no-deal") for seed in (0, 1)]
    assert len({m.run_id for m in runs}) == 4
    assert ComputeMarket(scenario="no-deal", months=2, rng=1).run_id == runs[3].run_id
    stacked = pd.concat([m.frames()["agents"] for m in runs], ignore_index=True)
    per_run = stacked.groupby(["scenario", "seed"], observed=True)["run_id"].nunique()
    assert per_run.tolist() == [1, 1, 1, 1]
    for name, frame in runs[0].frames().items():
        _check_tidy(frame, name)


def test_sweep_series_months_have_the_run_tables_dtype(tmp_path):
    study = tmp_path / "one.toml"
    study.write_text('scenario = "no-deal"\nseeds = 1\nmonths = 3\nseries = ["spot_index"]\n'
                     '[parameters."market.k"]\nvalues = [0.5]\n')
    result = run_study(study, workers=1, out=tmp_path / "out", progress=False)
    series = pd.read_parquet(result.out / "series")
    assert series["month"].dtype == MONTH_DTYPE
    market = ComputeMarket(scenario="no-deal", months=3, rng=int(series["seed"].iloc[0])).run()
    expected = metrics.index_series(market.frames()["market"])
    assert series["month"].tolist() == expected.index.tolist()
    assert series["value"].tolist() == pytest.approx(expected.tolist())


def test_run_command_loads_no_app_or_cluster_packages(tmp_path):
    """The quick command stays quick: the browser app's and Dask's packages load only for
    ``viz`` and ``sweep``; the installed script exits 0 and writes the charts."""
    script = Path(sys.executable).with_name("compute-market")
    done = subprocess.run([str(script), "run", "--months", "2", "--out", str(tmp_path), "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "price_index.png").stat().st_size > 0
    probe = ("import sys; from market.cli import main; "
             f"main(['run', '--months', '2', '--out', {str(tmp_path / 'probe')!r}, '-q']); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'solara', 'altair', 'ipyvuetify', 'dask', 'distributed', 'playwright'}))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, check=True).stdout.splitlines()[-1]
    assert loaded == "[]"


def test_cli_benchmark_prints_its_figures():
    """experiments/bench_cli.py --quick times the installed command and prints the median."""
    script = Path(__file__).resolve().parents[1] / "experiments" / "bench_cli.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    wall = re.search(r"wall: (\d+\.\d+) s  \(min (\d+\.\d+), .*max (\d+\.\d+); n=3\)", out)
    cpu = re.search(r"CPU: (\d+\.\d+) s", out)
    assert wall and cpu, out
    median, low, high = map(float, wall.groups())
    assert 0.1 < low <= median <= high < 120
    assert "target: median wall under 2.5 s:" in out
