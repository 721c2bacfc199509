"""Fuzzing the inputs a user writes (issue 17): Hypothesis mutates the shipped scenario files and
study files (types, signs, sizes, names, dates, deleted and unknown keys, encodings) and runs
each through the command line in-process. Every input must either run to the end (exit 0) or
be refused with exit status 2 and one line that names the file and the offending key; never a
traceback, never a run that starts and then fails (exit 1: a validation gap).

Derandomized (the same inputs on every CI run) and sized to about a minute on 2 cores. Each
test asserts how many inputs it tried and that both outcomes occurred, and writes the tally
to ``build/fuzz-report.json``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import json
import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import cli
from market.scenarios import scenario_dir, toml_value
from market.sweep import cli as sweep_cli
from market.sweep import executors

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "build" / "fuzz-report.json"
SCENARIOS = sorted(scenario_dir().glob("*.toml"))
STUDIES = [ROOT / "experiments" / "studies" / "contract-rules.toml"]
SCENARIO_EXAMPLES = 1000
STUDY_EXAMPLES = 300
FUZZ = settings(max_examples=SCENARIO_EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
TALLY: dict[str, Counter] = {"scenario": Counter(), "study": Counter()}

# ----------------------------------------------------------------------------- mutations
ODD_VALUES = st.sampled_from([
    None, True, False, 0, -1, 1, 2**63, -(2**70), 0.0, -0.0, -1e-9, 1e-300, 1e300,
    float("inf"), float("-inf"), float("nan"), "", " ", "x" * 300, "../../etc/passwd",
    "/tmp/abs", "é名", "\u202e", "none", "__delete__", "2026-13", "1900-01", "9999-12",
    "2026-1", "2026-05-01", datetime.date(2026, 5, 1), [], [1, 2], ["a", "a"], [12, 12, 36],
    {}, {"x": 1}, [{}],
])
ODD_NAMES = st.sampled_from(["renamed_by_fuzz", "", ".", "..", "a.b", "a/b", "../x", " ", "é",
                             "frontier_a",
                             "colossus_owner", "us-south", "neocloud_1", "x" * 120, "0"])


def leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Every key path of a parsed TOML document (tables, arrays and values)."""
    out = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += leaves(value, (*path, i))
    return out


def _parent(doc: Any, path: tuple) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def mutate(data: st.DataObject, doc: dict[str, Any]) -> str:
    """Apply one random mutation to ``doc`` in place; returns the key it touched (its last
    name) for the message check."""
    paths = leaves(doc)
    path = data.draw(st.sampled_from(paths)) if paths else ()
    kind = data.draw(st.sampled_from(["value", "sign", "size", "delete", "unknown", "rename",
                                      "date", "nudge", "nudge", "nudge"]))
    if not path:
        kind = "unknown"
    parent = _parent(doc, path) if path else doc
    key = path[-1] if path else None
    old = parent[key] if path else None
    if kind == "value":
        parent[key] = copy.deepcopy(data.draw(ODD_VALUES))  # later mutations edit it
    elif kind == "sign" and isinstance(old, (int, float)) and not isinstance(old, bool):
        parent[key] = -old if old else -1
    elif kind == "size" and isinstance(old, (int, float)) and not isinstance(old, bool):
        parent[key] = old * data.draw(st.sampled_from([0, 1e-12, 1e6, 1e12, 1e300]))
    elif kind == "size" and isinstance(old, list) and old:
        parent[key] = data.draw(st.sampled_from([[], old * 2, old[:1] * 50]))
    elif kind == "nudge" and isinstance(old, (int, float)) and not isinstance(old, bool):
        factor = data.draw(st.sampled_from([0.5, 0.9, 1.1, 2]))  # a plausible edit
        parent[key] = type(old)(old * factor) if isinstance(old, float) else round(old * factor)
    elif kind == "delete" and isinstance(parent, dict):
        del parent[key]
    elif kind == "rename" and isinstance(parent, dict):
        new = data.draw(ODD_NAMES)
        parent[new] = parent.pop(key)
        return str(new)
    elif kind == "date":
        parent[key] = data.draw(st.sampled_from(["2026-00", "2026-13", "1999-12", "2200-01",
                                                 "May 2026", "2026/05", 202605]))
    else:  # unknown key, or a mutation that does not apply here: add an unknown key
        target = parent[key] if path and isinstance(old, dict) else doc
        target[data.draw(st.sampled_from(["colour", "montsh", "h100", "x.y"]))] = 1
        return "unknown"
    return str(key)


def to_toml(doc: dict[str, Any]) -> str:
    """A document as TOML with inline tables (any value Hypothesis put in it)."""
    lines = []
    for key, value in doc.items():
        if value is None:
            continue  # TOML has no null: the key is absent
        lines.append(f"{json.dumps(key)} = {toml_value(_no_nulls(value))}")
    return "\n".join(lines) + "\n"


def _no_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value if v is not None]
    return value


def encode(data: st.DataObject, text: str) -> bytes:
    """The file's bytes: usually UTF-8, sometimes damaged (a bad byte, a BOM, a NUL, UTF-16,
    truncated)."""
    raw = text.encode("utf-8")
    how = data.draw(st.sampled_from(["utf-8"] * 15 + ["bad byte", "bom", "nul", "utf-16",
                                                      "truncated"]))
    at = data.draw(st.integers(0, max(0, len(raw) - 1)))
    if how == "bad byte":
        return raw[:at] + b"\xff\xfe\xe9" + raw[at:]
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "nul":
        return raw[:at] + b"\x00" + raw[at:]
    if how == "utf-16":
        return text.encode("utf-16")
    if how == "truncated":
        return raw[:at]
    return raw


def call(main, args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


KEY_NAMED = re.compile(r"[\w\-\"é]+(\.[\w\-\"é]+|\[\d+\])* = "
                       r"|[\w\-\"é]+(\.[\w\-\"é.]+|\[\d+\])+(: | must )"
                       r"|unknown key|missing key|not valid TOML|not UTF-8|must be a table|"
                       r"'extends'")
"""What a message names a key with: ``KEY.PATH = VALUE``, ``KEY.PATH: why``, ``KEY.PATH must``,
or says the file is not TOML or not UTF-8 (then there is no key to name)."""


def check_outcome(kind: str, path: Path, touched: str, code: int, err: str) -> None:
    """Exit 0, or exit 2 with one line naming the file and a key; tally the outcome."""
    assert code in (0, 2), f"exit {code} for {path.read_bytes()[:2000]!r}:\n{err}"
    if code == 0:
        TALLY[kind]["ran"] += 1
        return
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0], lines[0]
    assert KEY_NAMED.search(lines[0].split(str(path), 1)[1]), lines[0]
    TALLY[kind]["refused"] += 1
    TALLY[kind]["refused naming the mutated key"] += touched in lines[0]


def write_report() -> None:
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps({k: dict(v) for k, v in TALLY.items()}, indent=1) + "\n")


# ----------------------------------------------------------------------------- scenarios
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def scenario_doc(path: Path) -> dict[str, Any]:
    """A shipped scenario as a document, four months long (short runs keep the suite fast)."""
    return {**tomllib.loads(path.read_text(encoding="utf-8")), "months": 4}


@FUZZ
@given(data=st.data(), which=st.sampled_from(SCENARIOS), n=st.integers(1, 3))
def fuzz_scenarios(workdir: Path, data, which: Path, n: int) -> None:
    doc = scenario_doc(which)
    touched = [mutate(data, doc) for _ in range(n)][-1]
    path = workdir / f"{which.stem}.toml"
    path.write_bytes(encode(data, to_toml(doc)))
    out = workdir / "out"
    code, _, err = call(cli.main, ["run", str(path), "--out", str(out), "--force", "-q",
                                   "--no-charts"])
    TALLY["scenario"]["tried"] += 1
    check_outcome("scenario", path, touched, code, err)
    if code == 0:
        assert json.loads((out / "run.json").read_text())["status"] == "completed"


def test_mutated_scenarios_run_or_are_refused_in_one_line(workdir):
    """Every input ran or was refused in one line; both outcomes happened (a fuzzer whose
    inputs are all refused, or all accepted, tests little)."""
    TALLY["scenario"].clear()
    fuzz_scenarios(workdir)
    tally = TALLY["scenario"]
    write_report()
    assert tally["tried"] == SCENARIO_EXAMPLES, tally
    assert tally["ran"] >= 10 and tally["refused"] >= 30, tally


# ----------------------------------------------------------------------------- studies
def serial(tasks, on_result, workers, fn=executors.run_one):
    """``run_local`` without processes: the same runs, in this process (the pool itself is
    tested in test_sweep.py and test_safety.py)."""
    for task in tasks:
        on_result(task, fn(task))


def study_doc(path: Path) -> dict[str, Any]:
    """A study made small: 2 months, one seed, two samples (2-6 runs)."""
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    doc |= {"months": 2, "seeds": 1, "samples": 2, "sensitivity": False}
    doc["parameters"] = dict(list(doc["parameters"].items())[1:])  # drop the 3-value axis
    return doc


@settings(FUZZ, max_examples=STUDY_EXAMPLES)
@given(data=st.data(), which=st.sampled_from(STUDIES), n=st.integers(1, 2))
def fuzz_studies(workdir: Path, data, which: Path, n: int) -> None:
    doc = study_doc(which)
    touched = [mutate(data, doc) for _ in range(n)][-1]
    path = workdir / "study.toml"
    path.write_bytes(encode(data, to_toml(doc)))
    out = workdir / f"sweep-{TALLY['study']['tried']}"
    TALLY["study"]["tried"] += 1
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(executors, "run_local", serial)
        code, _, err = call(sweep_cli, [str(path), "--out", str(out), "--no-progress",
                                        "--no-report"])
    check_outcome("study", path, touched, code, err.replace("error: ", "", 1))


def test_mutated_studies_run_or_are_refused_in_one_line(workdir):
    TALLY["study"].clear()
    fuzz_studies(workdir)
    tally = TALLY["study"]
    write_report()
    assert tally["tried"] == STUDY_EXAMPLES, tally
    assert tally["ran"] >= 5 and tally["refused"] >= 10, tally


# ----------------------------------------------------------------------------- what it found
@pytest.mark.parametrize(("text", "needle"), [
    ("[sellers.colossus_owner]\nlead_time_months = 1.3e301\n",
     "sellers.colossus_owner.lead_time_months = 1.3e+301: out of range"),  # was an OverflowError
    ("[sellers.new_seller]\nregion = 'us-south'\n",
     "sellers.new_seller.kind = (missing): this key is required"),  # was a TypeError text
    (f"extends = {json.dumps('x' * 300)}\n", "cannot be read: File name too long"),  # OSError
])
def test_inputs_the_fuzzer_found(tmp_path, text, needle):
    path = tmp_path / "s.toml"
    body = text if text.startswith("extends") else 'extends = "colossus-2026"\n' + text
    path.write_text(body)
    code, _, err = call(cli.main, ["run", str(path), "--out", str(tmp_path / "o")])
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err


def test_a_study_too_large_to_plan_is_refused_at_once(tmp_path):
    """``seeds = 1000000`` and ``samples = 1000000`` made prepare() run for minutes."""
    path = tmp_path / "big.toml"
    base = ('scenario = "colossus-2026"\nmonths = 2\n[parameters."market.k"]\n'
            'range = [0.1, 0.9]\n')
    for head, needle in (("seeds = 1000000\nsamples = 2\n", "seeds = 1000000: must be from 1 "
                          "to 10,000"),
                         ("seeds = 100\nsamples = 1000000\n", "the design has 100,000,000 "
                          "runs, more than 100,000")):
        path.write_text(head + base)
        code, _, err = call(sweep_cli, [str(path), "--out", str(tmp_path / "o")])
        assert code == 2 and needle in err and not (tmp_path / "o").exists(), err
