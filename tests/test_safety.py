"""Issue 17: no lost results, no leaked files. A test per numbered case of the issue (the browser
app's, case 6, are in test_viz.py): outputs written whole or not at all, SIGTERM handled like
Ctrl-C, names that cannot escape the output folder, no silent overwrite or mixing, no silent
wrong result, one-line errors instead of tracebacks, a sweep that stops within seconds,
validation linear in the number of agents, and a README that says how to keep Dask private.

Signals are tested on real processes (``python -m market ...``), with a model slowed down by a
few lines of ``python -c`` so that the signal lands mid-run.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from market import cli, metrics, outputs
from market.model import ComputeMarket
from market.stages import settle as settle_stage
from market.scenarios import ScenarioError, build_world, load_raw, load_scenario
from market.sweep import Study, StudyError, prepare, run_study

from test_sweep import METRICS, write_study  # the sweep tests' tiny study

ROOT = Path(__file__).resolve().parents[1]

RUN_FILES = {"market.parquet", "agents.parquet", "contracts.parquet", "events.parquet",
             "summary.md", "run.json"}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (hidden ones included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def scenario_file(folder: Path, text: str, name: str = "s.toml") -> Path:
    path = folder / name
    path.write_text('extends = "colossus-2026"\n' + text, encoding="utf-8")
    return path


def one_line_error(err: str, *needles: str) -> None:
    """A single line on stderr naming what it must, never a traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


SLOW_RUN = """
import pathlib, sys, time
import market.model as m
step, mark = m.ComputeMarket.step, pathlib.Path(sys.argv[1])
def slow(self):
    step(self)
    if self.month - self.start_month == 3:
        mark.touch()
    time.sleep(0.05)
m.ComputeMarket.step = slow
from market.cli import main
raise SystemExit(main(sys.argv[2:]))
"""
"""``python -c SLOW_RUN MARK ARGS...``: ``compute-market ARGS`` with 50 ms per month, touching
MARK after the third month."""


def wait_until(proc: subprocess.Popen, ready, timeout_s: float = 120) -> None:
    """Poll ``ready()`` until it is true; fail if the process ends first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"not ready after {timeout_s} s"
        time.sleep(0.02)


def signal_mid_run(tmp_path: Path, signum: int, *args: str) -> subprocess.CompletedProcess:
    mark = tmp_path / "third-month-done"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(mark), *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(proc, mark.exists)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# ----------------------------------------------------------------------------- case 1
def test_1_a_failed_run_never_destroys_an_earlier_run(tmp_path, capsys, monkeypatch):
    keep = tmp_path / "o" / "keep"
    code, _, _ = run(capsys, "run", "--months", "12", "--out", str(keep), "-q", "--no-charts")
    assert code == 0 and {p.name for p in keep.iterdir()} == RUN_FILES
    before = snapshot(keep)

    code, out, err = run(capsys, "run", "--seed", "-1", "--out", str(keep))
    assert code == 2 and out == "" and "--seed: -1: must be from 0" in err
    assert snapshot(keep) == before

    start = load_scenario().start_month  # the same run again, failing in its fifth month
    settle = settle_stage.settle

    def broken(model):
        if model.month == start + 4:
            raise RuntimeError("settlement exploded")
        settle(model)

    monkeypatch.setattr(settle_stage, "settle", broken)
    code, out, err = run(capsys, "run", "--months", "12", "--out", str(keep), "-q",
                         "--no-charts")
    assert code == 1 and "settlement exploded" in err
    assert snapshot(keep) == before  # untouched
    stopped = tmp_path / "o" / "keep.stopped"
    assert f"Partial results in {stopped}/ (kept apart from the completed run in {keep}/)" in err
    assert (stopped / "stopped.md").is_file()
    assert pd.read_parquet(stopped / "agents.parquet")["month"].nunique() == 4
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["keep", "keep.stopped"]

    monkeypatch.setattr(settle_stage, "settle", settle)  # a rerun replaces it whole
    code, _, _ = run(capsys, "run", "--months", "12", "--out", str(keep), "-q", "--no-charts")
    assert code == 0 and snapshot(keep).keys() == before.keys()
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["keep", "keep.stopped"]


def test_1_a_killed_writer_leaves_the_earlier_run_and_its_leftovers_are_cleaned(tmp_path,
                                                                               capsys):
    keep = tmp_path / "keep"
    assert run(capsys, "run", "--months", "3", "--out", str(keep), "-q", "--no-charts")[0] == 0
    before = snapshot(keep)
    # what a SIGKILL leaves: a staging folder, or the old folder set aside mid-rename
    (tmp_path / ".keep.tmp-abc123").mkdir()
    (tmp_path / ".keep.tmp-abc123" / "market.parquet").write_bytes(b"half")
    aside = tmp_path / ".keep.old-def456"
    aside.mkdir()
    keep.rename(aside / "previous")
    with outputs.locked(keep):  # the next writer puts the old folder back, drops the rest
        assert snapshot(keep) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]


def test_1_publish_replaces_a_folder_only_once_the_new_one_is_complete(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    (target / "old").write_text("old")
    with outputs.locked(target):
        staging = outputs.staging_folder(target)
        (staging / "new").write_text("new")
        assert (target / "old").exists()  # nothing is touched before publish
        outputs.publish(staging, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    assert [p.name for p in target.iterdir()] == ["new"]


# ----------------------------------------------------------------------------- case 2
def test_2_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    out = tmp_path / "out"
    done = signal_mid_run(tmp_path, signal.SIGTERM, "run", "--out", str(out), "--no-charts")
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert "interrupted (SIGTERM)" in done.stderr and "Traceback" not in done.stderr
    assert (out / "stopped.md").is_file() and "SIGTERM" in (out / "stopped.md").read_text()
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "stopped" and meta["stopped_at"] is not None
    assert pd.read_parquet(out / "agents.parquet")["month"].nunique() >= 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "third-month-done"]


def test_2_sigint_too_and_months_have_an_upper_bound(tmp_path, capsys):
    done = signal_mid_run(tmp_path, signal.SIGINT, "run", "--out", "o", "--no-charts", "-q")
    assert done.returncode == 130 and (tmp_path / "o" / "stopped.md").is_file()
    code, out, err = run(capsys, "run", "--months", "100000", "--out", str(tmp_path / "x"))
    assert code == 2 and "at most 1200" in err and not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- case 3
def test_3_names_cannot_escape_the_output_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("../../evil_run", "/tmp/evil", ".hidden", "a/b", "x" * 101, ""):
        path = scenario_file(tmp_path, f"name = {json.dumps(name)}\n")
        code, _, err = run(capsys, "run", str(path), "--months", "1")
        assert code == 2, name
        one_line_error(err, f"name = {name!r}: must be a plain name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]
    # a name taken from the file name is made safe instead
    odd = scenario_file(tmp_path, "", name="my scenario (v2).toml")
    assert run(capsys, "run", str(odd), "--months", "1", "-q", "--no-charts")[0] == 0
    folder = cli.default_out("my_scenario__v2_", 0, ["months=1"])
    assert (tmp_path / folder / "run.json").is_file()


def test_3_a_study_name_cannot_be_a_path(tmp_path):
    victim = tmp_path / "mine"
    victim.mkdir()
    (victim / "summary.csv").write_text("my own table\n")
    (victim / ".draft.tmp").write_text("my draft\n")
    study = write_study(tmp_path, extra="")
    study.write_text(f"name = {json.dumps(str(victim))}\n" + study.read_text().replace(
        'name = "tiny"\n', ""))
    with pytest.raises(StudyError, match=r"name = '/.*/mine': must be a plain name"):
        Study.load(study)
    assert snapshot(victim) == {"summary.csv": b"my own table\n", ".draft.tmp": b"my draft\n"}


# ----------------------------------------------------------------------------- case 4
def test_4_out_at_a_folder_of_other_files_is_refused_without_force(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.md").write_text("my notes")
    (mine / "run.json").write_text('{"mine": true}')
    code, out, err = run(capsys, "run", "--months", "1", "--out", str(mine))
    assert code == 2 and out == ""
    one_line_error(err, f"--out {mine}: holds files that are not a compute-market run",
                   "--force")
    assert snapshot(mine) == {"run.json": b'{"mine": true}', "summary.md": b"my notes"}
    # --force replaces what has a run's file names only; other files are never deleted
    code, _, _ = run(capsys, "run", "--months", "1", "--out", str(mine), "--force", "-q",
                     "--no-charts")
    assert code == 0 and {p.name for p in mine.iterdir()} == RUN_FILES
    (mine / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "run", "--months", "2", "--out", str(mine), "--force")
    assert code == 2
    one_line_error(err, "(notes.txt)", "--force does not replace a folder of other files")
    code, _, err = run(capsys, "run", "--months", "1", "--out", str(tmp_path), "--force")
    assert code == 2 and (mine / "notes.txt").read_text() == "mine"


def test_4_runs_that_differ_never_share_a_default_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ("--months", "2", "-q", "--no-charts")
    assert run(capsys, "run", *common)[0] == 0
    assert run(capsys, "run", *common, "--set", "market.k=0.3")[0] == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    overrides = sorted(json.loads((f / "run.json").read_text())["overrides"] for f in folders)
    assert overrides == [["market.k=0.3", "months=2"], ["months=2"]]
    # and an explicit --out holding another run is refused, not replaced
    code, _, err = run(capsys, "run", *common, "--seed", "5", "--out", str(folders[0]))
    assert code == 2 and "holds a different run (seed 0)" in err


def test_4_one_writer_per_output_folder(tmp_path, capsys):
    out = tmp_path / "out"
    with outputs.locked(out):  # another run holds the folder
        code, _, err = run(capsys, "run", "--months", "1", "--out", str(out))
    assert code == 2 and not out.exists()
    one_line_error(err, "another run is writing this folder now")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the lock file went with it


def test_4_two_runs_at_once_into_one_folder_never_mix(tmp_path):
    """Two real processes: one completes, the other is refused before it simulates; the
    folder holds one run's tables and charts, never a mixture."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", SLOW_RUN, str(tmp_path / "mark"), "run", "--months", "8",
           "--out", str(out), "-q"]
    first = subprocess.Popen(cmd + ["--seed", "1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    wait_until(first, (tmp_path / "mark").exists)
    second = subprocess.run([sys.executable, "-m", "market", *cmd[4:], "--seed", "2"],
                            capture_output=True, text=True, timeout=120)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 2 and "another run is writing this folder" in second.stderr
    assert json.loads((out / "run.json").read_text())["seed"] == 1


def test_4_sweep_refuses_a_folder_with_parts_but_no_manifest(tmp_path):
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    foreign = pd.DataFrame({"run_id": ["x"], "metric": ["utilization"], "value": [9.0]})
    foreign.to_parquet(out / "runs" / "part-x.parquet")
    before = snapshot(out)
    with pytest.raises(StudyError, match="holds files .*runs/part-x.parquet.* but no "
                                         "manifest.json"):
        run_study(write_study(tmp_path, months=2, samples=1), workers=1, out=out,
                  progress=False)
    assert snapshot(out) == before


# ----------------------------------------------------------------------------- case 5
def test_5_a_lab_and_a_seller_cannot_share_a_name(tmp_path, capsys):
    raw, path = load_raw("colossus-2026")
    raw["labs"]["colossus_owner"] = raw["labs"].pop("frontier_a")  # the lease's tenant...
    for contract in raw["contracts"]:
        contract["buyer"] = "colossus_owner"  # ...would resolve to the seller
    with pytest.raises(ScenarioError, match=r"labs and sellers = \['colossus_owner'\]: a lab "
                                            "and a seller share a name"):
        build_world(raw, str(path))


def test_5_tenors_are_unique(capsys, tmp_path):
    code, _, err = run(capsys, "run", "--set", "market.term_tenors_months=[12,12,36]",
                       "--out", str(tmp_path / "o"))
    assert code == 2
    one_line_error(err, "market.term_tenors_months = (12, 12, 36): lists a tenor twice")


def test_5_shocks_and_contracts_after_the_run_are_warned_about(tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = run(capsys, "run", "recall-shock", "--months", "12", "--out", str(out),
                       "-q", "--no-charts")
    warning = ("shocks[0].month = '2027-02' is after the last simulated month 2026-12: the "
               "recall shock never happens in this run")
    assert code == 0 and f"compute-market: warning: {warning}" in err
    assert f"> Warning: {warning}" in (out / "summary.md").read_text()
    assert json.loads((out / "run.json").read_text())["warnings"] == [warning]
    late = scenario_file(tmp_path, "months = 3\n")
    world = load_scenario(late, ["contracts[0].start='2026-05'"])
    assert world.outside_run() == [
        f"contracts[{i}].start = '2026-05' is after the last simulated month 2026-03: the "
        "contract never starts in this run" for i in range(3)]
    assert load_scenario("recall-shock").outside_run() == []


# ----------------------------------------------------------------------------- case 7
@pytest.mark.parametrize(("text", "needle"), [
    ("[[contracts]]\ntemplate = 'colossus_lease'\nbuyer = 'frontier_a'\n"
     "seller = 'colossus_owner'\nsite = 'colossus_1'\nh100e = 0\nstart = '2026-05'\n",
     "contracts[0].h100e = 0.0: must be > 0"),
    ("labs = '__delete__'\ncontracts = []\n", "a world needs at least one lab and one seller"),
    ("sellers = '__delete__'\ncontracts = []\nshocks = []\n",
     "a world needs at least one lab and one seller"),
])
def test_7_bad_worlds_are_one_line_errors(tmp_path, capsys, text, needle):
    path = scenario_file(tmp_path, text)
    code, out, err = run(capsys, "run", str(path), "--out", str(tmp_path / "o"))
    assert code == 2 and out == "" and not (tmp_path / "o").exists()
    one_line_error(err, str(path), needle)


def test_7_an_empty_file_and_a_non_utf8_file_are_one_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    code, _, err = run(capsys, "run", str(empty))
    assert code == 2
    one_line_error(err, "labs and sellers = '0 labs, 0 sellers'")
    latin = tmp_path / "latin.toml"
    latin.write_bytes('extends = "colossus-2026"\ndescription = "café"\n'.encode("latin-1"))
    code, _, err = run(capsys, "run", str(latin))
    assert code == 2
    one_line_error(err, f"{latin}: not UTF-8 text: byte(s) e9 on line 2 (position 44)")
    study = tmp_path / "study.toml"
    study.write_bytes(b'scenario = "colossus-2026"\nname = "\xff"\n')
    with pytest.raises(StudyError, match="not UTF-8 text: byte.s. ff"):
        Study.load(study)


def test_7_out_is_checked_before_anything_is_simulated(tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model must not be built")

    monkeypatch.setattr(ComputeMarket, "__init__", never)
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    for out, needle in ((a_file, "is a file, not a folder"),
                        (a_file / "sub", "a part of the path is a file"),
                        (Path("/proc/compute-market-test"), "cannot create its lock file")):
        code, stdout, err = run(capsys, "run", "--out", str(out))
        assert code == 2 and stdout == ""
        one_line_error(err, f"--out {out}", needle)
    assert a_file.read_text() == "mine"


def test_7_a_bad_environment_value_is_a_message_for_every_command(tmp_path):
    env = {**os.environ, "COMPUTE_MARKET_TRIM_MB": "abc"}
    for args in (["scenarios"], ["run", "--months", "1"], ["sweep", "--help"]):
        done = subprocess.run([sys.executable, "-m", "market", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=120)
        assert done.returncode == 2 and done.stdout == ""
        one_line_error(done.stderr, "COMPUTE_MARKET_TRIM_MB='abc': must be a whole number")
    done = subprocess.run([sys.executable, "-c", "import market.model"], env=env, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""  # importing never breaks


def test_7_python_api_misuse_gives_clear_errors():
    world = load_scenario("colossus-2026", ["months=3"])
    empty = ComputeMarket(world, rng=0).frames()
    with pytest.raises(ValueError, match="frames hold no simulated month.*run the model first"):
        metrics.summary(empty)
    with pytest.raises(TypeError, match="frames must be the dict of DataFrames"):
        metrics.summary(ComputeMarket(world, rng=0))
    with pytest.raises(ScenarioError, match=r"overrides = 'months=12': must be a list of "
                                            r"'KEY=VALUE' strings, e.g. \['months=12'\]"):
        load_scenario("colossus-2026", "months=12")
    with pytest.raises(ScenarioError, match=r"overrides\[0\] = 12"):
        load_scenario("colossus-2026", [12])
    raw, _ = load_raw("colossus-2026")
    with pytest.raises(TypeError, match="world must be a WorldConfig.*got dict"):
        ComputeMarket(raw)
    model = ComputeMarket(world, rng=0)
    with pytest.raises(ValueError, match=r"months = 6: must be a whole number from 0 to the 3 "
                                         r"month\(s\) left"):
        model.run(6)
    assert model.month == model.start_month  # nothing stepped
    model.run(2)
    with pytest.raises(ValueError, match="from 0 to the 1 month"):
        model.run(2)
    assert metrics.summary(model.run(1).frames())["utilization"] > 0


# ----------------------------------------------------------------------------- case 8
def _alive(session: int) -> list[str]:
    """Processes of a session that are still running (zombies waiting for a reaper are not)."""
    ps = subprocess.run(["ps", "-o", "stat=,pid=,args=", "-s", str(session)],
                        capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if line.strip() and not line.startswith("Z")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_8_a_signalled_sweep_stops_its_pool_within_seconds_and_keeps_finished_runs(
        tmp_path, signum):
    study = write_study(tmp_path, months=48, samples=8)  # 32 runs of ~0.3 s
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "market.sweep", str(study), "--workers", "2", "--out",
           str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(proc, lambda: len(list((out / "runs").glob("part-*.parquet"))) >= 2)
        sent = time.monotonic()
        proc.send_signal(signum)  # to the parent only, as a scheduler or timeout does
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
        time.sleep(0.5)
        left = _alive(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signum, err
    assert took < 5, f"took {took:.1f} s to stop"
    assert left == [], left  # no worker and no fork server left behind
    assert "finished runs are kept; rerun the same command to resume" in err
    kept = len(list((out / "runs").glob("part-*.parquet")))
    assert 2 <= kept < 32 and not list(out.rglob("*.tmp"))
    if signum == signal.SIGTERM:  # the resume runs exactly the rest
        rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert f"{32 - kept} run now, {kept} already done" in rerun.stdout
        runs = pd.read_parquet(out / "runs")
        assert runs.groupby("run_id").size().eq(len(METRICS)).all() and runs.run_id.nunique() \
            == 32


# ----------------------------------------------------------------------------- case 9
def test_9_validation_is_linear_in_the_number_of_agents():
    raw, path = load_raw("colossus-2026")
    body = raw["labs"]["small_1"]
    for n in (2_000, 20_000):
        big = {**raw, "labs": {**raw["labs"], **{f"lab_{i}": copy.deepcopy(body)
                                                 for i in range(n)}}}
        started = time.perf_counter()
        world = build_world(big, str(path))
        elapsed = time.perf_counter() - started
        assert len(world.labs) == n + 5
        if n == 2_000:
            small = elapsed
    assert elapsed < 2.0, f"20,000 labs took {elapsed:.2f} s"
    assert elapsed < 10 * small * 2.5, (small, elapsed)  # ~10x the agents, ~10x the time
    dup = {**raw, "labs": {**raw["labs"], **{f"lab_{i}": copy.deepcopy(body)
                                             for i in range(20_000)}}}
    dup["sellers"] = {**raw["sellers"], "lab_7": raw["sellers"]["neocloud_1"]}
    started = time.perf_counter()
    with pytest.raises(ScenarioError, match=r"\['lab_7'\]: a lab and a seller share a name"):
        build_world(dup, str(path))
    assert time.perf_counter() - started < 2.0


# ----------------------------------------------------------------------------- case 10
def test_10_the_readme_says_how_to_keep_a_dask_scheduler_private():
    """The Dask section warns that a scheduler runs what its clients send, and its commands
    keep it on loopback, reach it through an SSH tunnel, or use TLS with settings that
    distributed really has."""
    import dask.config
    import distributed  # noqa: F401  (registers its configuration)

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Dask: the scheduler"):readme.index("## Results gallery")]
    assert "runs whatever" in section and "remote code execution" in section
    assert "dask scheduler --host 127.0.0.1" in section
    assert re.search(r"ssh -N -L 8786:127\.0\.0\.1:8786 \S+", section)
    assert "tls://" in section
    for key in re.findall(r"`(distributed\.comm\.[a-z.-]+)`", section):
        assert dask.config.get(key, default="missing") != "missing", key
    assert len(re.findall(r"`distributed\.comm\.[a-z.-]+`", section)) >= 3


def test_a_sweep_removes_only_its_own_temporary_files(tmp_path):
    """Issue 17, case 3: a resume used to delete every ``.*.tmp`` of the folder."""
    study = write_study(tmp_path, months=2, samples=1)
    out = tmp_path / "out"
    run_study(study, workers=1, out=out, progress=False, report=False)
    (out / ".draft.tmp").write_text("my draft")
    (out / "runs" / ".part-0123456789abcdef.parquet.tmp").write_bytes(b"PAR1 cut")
    (out / ".results.csv.tmp").write_text("half")
    again = run_study(study, workers=1, out=out, progress=False)
    assert again.n_executed == 0 and (out / ".draft.tmp").read_text() == "my draft"
    assert sorted(p.name for p in out.rglob("*.tmp")) == [".draft.tmp"]


def test_sweep_output_location_is_checked_first(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("mine")
    study = write_study(tmp_path, months=2, samples=1)
    with pytest.raises(StudyError, match="is a file, not a folder"):
        run_study(study, workers=1, out=a_file, progress=False)
    plan = prepare(Study.load(study))
    assert plan.study.name == "tiny" and a_file.read_text() == "mine"
