"""The README's default-run figures are the ones ``compute-market run`` prints today."""

from __future__ import annotations

from pathlib import Path

from experiment_scripts import load_experiment

ROOT = Path(__file__).resolve().parents[1]


def test_readme_headline_matches_the_default_run():
    mod = load_experiment("readme_numbers")
    readme = mod.readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    run = mod.golden_block()
    assert readme == run, (
        "README's default-run block differs from `compute-market run`; regenerate it with "
        f"`python experiments/readme_numbers.py`.\n--- README\n{readme}\n--- run\n{run}")
    assert run.count("\n| ") == len(mod.HEADLINE) + 2  # header, rule and every headline row


def test_readme_gallery_quotes_the_committed_full_runs():
    """Every row of the results gallery is the sentence ``experiments/gallery.py`` writes from
    the committed full-run answers (experiments/answers/*.json), figure and command included."""
    gallery = load_experiment("gallery")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = gallery.rows()
    assert len(rows) == 8
    for row in rows:
        assert row in readme, (
            "README's gallery differs from the committed answers; regenerate it with "
            f"`python experiments/gallery.py`.\nexpected row:\n{row}")
    for name in gallery.ROWS:
        assert (ROOT / "docs" / "gallery" / f"{name}.png").exists()
        assert f"![](docs/gallery/{name}.png)" in readme


def test_readme_backtest_row_quotes_the_committed_fit():
    """The gallery's backtest row is the one experiments/backtest.py writes from its key numbers
    (docs/gallery/backtest.json), and its figure is committed beside them."""
    import json

    mod = load_experiment("backtest")
    key = json.loads((ROOT / "docs" / "gallery" / "backtest.json").read_text(encoding="utf-8"))
    rows = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").split("\n")
            if line.startswith(mod.ROW_START)]
    assert rows == [mod.readme_row(key)], (
        "README's backtest row differs from docs/gallery/backtest.json; regenerate both with "
        "`python experiments/backtest.py`")
    assert (ROOT / "docs" / "gallery" / "backtest.png").stat().st_size > 10_000
    assert key["identified"] and set(key["identified"]) <= set(key["best"])


def test_readme_performance_block_is_the_recorded_benchmark_output():
    """The Performance section quotes what the benchmark scripts printed (docs/perf/*.txt,
    written by experiments/perf_record.py), every benchmark with its command and date, and no
    other figure is typed between its markers."""
    mod = load_experiment("perf_record")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = mod.block()
    assert block in readme, (
        "README's Performance block differs from docs/perf/; rewrite it with "
        "`python experiments/perf_record.py --readme` (or rerun the benchmarks without --readme)")
    for name in mod.BENCHMARKS:
        record = (ROOT / "docs" / "perf" / f"{name}.txt").read_text(encoding="utf-8")
        assert record.startswith(f"$ python experiments/{name}.py"), name
        assert record.count("\n") >= 3, name  # the header and what the script printed
