"""The ``compute-market`` command, called in-process: run, scenarios, describe, sweep/viz."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pandas as pd
import pytest

from market import cli
from market.model import ComputeMarket
from market.stages import settle as settle_stage
from market.report import CHARTS, TABLES
from market.scenarios import load_scenario

PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}


# ----------------------------------------------------------------------------- run
def test_run_writes_tables_summary_and_charts(tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, "run", "--months", "6", "--seed", "3", "--out", str(out))
    assert code == 0, stderr
    for name in TABLES:
        assert (out / f"{name}.parquet").is_file()
    for name in CHARTS:
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, name
    frames = tables(out)
    assert frames["market"]["month"].nunique() == 6
    assert set(frames["market"]["product"]) >= {"spot"}
    assert frames["agents"]["month"].nunique() == 6
    contracts = frames["contracts"]
    assert contracts["id"].is_unique and len(contracts) > 1
    for col in ("signed", "start", "scheduled_end", "end", "end_reason", "billed_usd"):
        assert col in contracts
    lease = contracts.iloc[0]
    assert lease["template"] == "colossus_lease" and lease["buyer"] == "frontier_a"
    deal = load_scenario().contracts[0]
    # the H100 piece is delivered from the start: full fees in May and June, no ramp discount
    assert lease["billed_usd"] == pytest.approx(deal.usd_per_month * 2)
    assert "contract_preloaded" in set(frames["events"]["event"])

    summary = (out / "summary.md").read_text()
    for part in ("# compute-market run: colossus-2026", "| seed | `3` |",
                 "2026-01 to 2026-06 (6 months)", "## Key metrics", "$/H100e-hour",
                 "GB200 $/GPU-h", "$/GPU-h",
                 "## Prices by year", "## The preloaded lease", "colossus_lease",
                 "## Demand by lab", "frontier_a", "small_3", "## Events"):
        assert part in summary, part
    meta = json.loads((out / "run.json").read_text())
    assert meta["scenario"] == "colossus-2026" and meta["seed"] == 3 and meta["months"] == 6
    assert meta["status"] == "completed"
    assert not (out / "stopped.md").exists()

    assert "Spot price, volume-weighted mean ($/H100e-hour)" in stdout
    assert f"Wrote {out}/" in stdout and str(out / "summary.md") in stdout
    assert "colossus-2026" in stderr and "6/6" in stderr  # the progress bar


def test_run_is_reproducible_and_seeds_differ(tmp_path, capsys):
    def once(seed: int, name: str) -> dict[str, pd.DataFrame]:
        folder = tmp_path / name
        code, _, err = run(capsys, "run", "no-deal", "--months", "6", "--seed", str(seed),
                           "--out", str(folder), "--no-charts", "--quiet",
                           "--set", "labs.small_1.churn=0.5")
        assert code == 0, err
        return tables(folder)

    a, b, c = once(7, "a"), once(7, "b"), once(8, "c")
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert any(not a[name].equals(c[name]) for name in TABLES)
    assert (tmp_path / "a" / "summary.md").read_text() == (tmp_path / "b" / "summary.md"
                                                            ).read_text()


def test_tables_match_the_model_in_process(tmp_path, capsys):
    code, _, _ = run(capsys, "run", "recall-shock", "--months", "4", "--seed", "5", "--out",
                     str(tmp_path), "--no-charts", "--quiet")
    assert code == 0
    model = ComputeMarket(load_scenario("recall-shock", ["months=4"]), rng=5).run()
    for name, frame in model.frames().items():
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"), frame,
                                      check_dtype=False)


def test_default_out_dir_and_user_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = run(capsys, "run", "--months", "2", "--no-charts", "--quiet")
    assert code == 0
    folder = cli.default_out("colossus-2026", 0, ["months=2"])  # --months is an override
    assert folder.name.startswith("colossus-2026-seed0-set") and len(folder.name) == 31
    assert (tmp_path / folder / "agents.parquet").is_file()
    assert f"Wrote {folder}/" in stdout
    Path("mine.toml").write_text('extends = "colossus-2026"\nmonths = 3\n')
    code, _, _ = run(capsys, "run", "mine.toml", "--seed", "2", "--no-charts", "--quiet")
    assert code == 0
    agents = pd.read_parquet(tmp_path / "runs" / "mine-seed2" / "agents.parquet")
    assert agents["month"].nunique() == 3


def test_bad_scenario_runs_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "colossus-2026"\n[labs.small_1]\ngrowth_per_mnth = 0.1\n')
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, "run", str(bad), "--out", str(out))
    assert code == 2 and not out.exists() and stdout == ""
    assert str(bad) in stderr and "labs.small_1.growth_per_mnth" in stderr
    assert "0.1" in stderr and "did you mean 'growth_per_month'" in stderr

    code, _, stderr = run(capsys, "run", "--set", "labs.frontier_a.growth_per_month=-1",
                          "--out", str(out))
    assert code == 2 and not out.exists()
    assert "colossus-2026.toml" in stderr and "labs.frontier_a.growth_per_month = -1" in stderr
    code, _, stderr = run(capsys, "run", "--set", "labs.frontier_a.growth_per_mont=1",
                          "--out", str(out))
    assert code == 2 and "did you mean 'growth_per_month'" in stderr
    code, _, stderr = run(capsys, "run", "colossus-2062", "--out", str(out))
    assert code == 2 and "did you mean 'colossus-2026'" in stderr
    code, _, stderr = run(capsys, "run", "--months", "0", "--out", str(out))
    assert code == 2 and "at least 1" in stderr and not out.exists()


def test_run_that_fails_midway_keeps_what_it_computed(tmp_path, capsys, monkeypatch):
    start = load_scenario().start_month
    original = settle_stage.settle

    def broken_settle(model):
        if model.month == start + 3:
            raise RuntimeError("settlement exploded")
        original(model)

    monkeypatch.setattr(settle_stage, "settle", broken_settle)
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, "run", "--out", str(out), "--no-charts")
    assert code == 1
    assert "stopped in 2026-04 after 3 of 48 months" in stderr
    assert "RuntimeError: settlement exploded" in stderr and str(out) in stderr
    frames = tables(out)
    assert frames["agents"]["month"].nunique() == 3  # the unfinished month is dropped
    assert frames["market"]["month"].max() == pd.Timestamp("2026-03")
    note = (out / "stopped.md").read_text()
    assert "settlement exploded" in note and "Traceback" in note
    assert "Run stopped in 2026-04" in (out / "summary.md").read_text()
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "stopped" and meta["stopped_at"] == "2026-04"
    assert str(out / "stopped.md") in stdout

    # the same run again, now completing, replaces the stopped one (stale note included);
    # a different run needs --force
    monkeypatch.setattr(settle_stage, "settle", original)
    code, _, stderr = run(capsys, "run", "--months", "2", "--out", str(out), "--quiet")
    assert code == 2 and "holds a different run (months 48, overrides [])" in stderr
    code, _, _ = run(capsys, "run", "--out", str(out), "--no-charts", "--quiet")
    assert code == 0 and not (out / "stopped.md").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "completed"


def test_interrupted_run_exits_130(tmp_path, capsys, monkeypatch):
    original = ComputeMarket.step

    def interrupted(self):
        if self.month > self.start_month:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(ComputeMarket, "step", interrupted)
    code, _, stderr = run(capsys, "run", "--out", str(tmp_path), "--no-charts", "--quiet")
    assert code == 130 and "interrupted" in stderr
    assert pd.read_parquet(tmp_path / "agents.parquet")["month"].nunique() == 1


# ----------------------------------------------------------------------------- scenarios, describe
def test_scenarios_lists_one_line_each(capsys):
    code, stdout, _ = run(capsys, "scenarios")
    assert code == 0
    lines = stdout.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names)
    assert set(names) >= {"colossus-2026", "no-deal", "recall-shock", "seller-exit",
                          "slow-buildout", "orbital-2028"}
    assert all(len(line.split()) > 2 for line in lines)
    assert "(default)" in lines[names.index("colossus-2026")]


def test_describe_prints_parameters_with_inherited_sources(tmp_path, capsys):
    code, stdout, _ = run(capsys, "describe", "no-deal")
    assert code == 0
    assert "contracts = []" in stdout
    line = next(x for x in stdout.splitlines() if x.startswith("pue = "))
    assert "[colossus-2026]" in line and "cal:hw.pue" in line
    line = next(x for x in stdout.splitlines() if x.startswith("gpu_supply_h100e_per_quarter"))
    assert "cal:sup.growth" in line  # a comment block above the key counts
    assert "does a block price like the lease's" in stdout  # the file's opening comment
    path = tmp_path / "resolved.toml"
    path.write_text(stdout)
    assert tomllib.loads(stdout)["name"] == "no-deal"
    assert load_scenario(path) == load_scenario("no-deal")


def test_describe_with_overrides_and_defaults(tmp_path, capsys):
    code, stdout, _ = run(capsys, "describe", "recall-shock", "--all", "--set",
                          "labs.small_1.churn=0.45")
    assert code == 0
    churn = [x for x in stdout.splitlines() if x.startswith("churn = 0.45")]
    assert len(churn) == 1 and "[--set]" in churn[0]
    assert any(x.startswith("runway_floor_months = ") and "[default]" in x
               for x in stdout.splitlines())
    assert "[[shocks]]" in stdout and "cal:deal.recall" in stdout
    path = tmp_path / "resolved.toml"
    path.write_text(stdout)
    assert load_scenario(path) == load_scenario("recall-shock", ["labs.small_1.churn=0.45"])


def test_describe_rejects_a_bad_scenario(capsys):
    code, stdout, stderr = run(capsys, "describe", "no-deal", "--set", "months=-3")
    assert code == 2 and stdout == "" and "months = -3" in stderr


# ----------------------------------------------------------------------------- help, dispatch
@pytest.mark.parametrize("command", [[], ["--help"], ["run", "--help"], ["scenarios", "--help"],
                                     ["describe", "--help"]])
def test_help_on_every_command(capsys, command):
    code, stdout, _ = run(capsys, *command)
    assert code == 0 and "usage: compute-market" in stdout
    if not command or command == ["--help"]:
        for name in ("run", "scenarios", "describe", "sweep", "viz"):
            assert f"    {name}" in stdout
    if command[:1] == ["run"]:
        for option in ("--months", "--seed", "--out", "--set", "default: 0"):
            assert option in stdout


def test_unknown_command_is_a_usage_error(capsys):
    code, _, stderr = run(capsys, "simulate")
    assert code == 2 and "invalid choice" in stderr


@pytest.mark.parametrize("name", ["sweep", "viz"])
def test_sweep_and_viz_get_their_arguments_unchanged(capsys, monkeypatch, name):
    calls = []
    fake = types.ModuleType(f"market.{name}")

    def fake_cli(argv):
        calls.append(argv)
        return 3

    fake.cli = fake_cli
    monkeypatch.setitem(sys.modules, f"market.{name}", fake)
    args = ["--help", "--seed", "1", "study.toml", "--set", "a=b"]
    assert cli.main([name, *args]) == 3
    assert calls == [args]


def test_python_dash_m_market(tmp_path):
    result = subprocess.run([sys.executable, "-m", "market", "scenarios"], capture_output=True,
                            text=True, check=False, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "colossus-2026" in result.stdout
