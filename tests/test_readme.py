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
