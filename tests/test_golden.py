"""Behaviour pinned: every output table of the default scenario, 12 and 48 months, seeds 0-2.

The digests in ``tests/golden/colossus-2026.txt`` are of each table's raw values (see
``experiments/fingerprint.py``); they are the same on every machine (``test_determinism``).
A refactoring must leave them unchanged. A change that means to change behaviour regenerates
them and says why in its commit:

    python experiments/fingerprint.py --golden > tests/golden/colossus-2026.txt
"""

from __future__ import annotations

from pathlib import Path

from experiment_scripts import load_experiment

ROOT = Path(__file__).resolve().parents[1]


def test_every_table_matches_the_golden_run():
    mod = load_experiment("fingerprint")
    stored = (ROOT / "tests" / "golden" / "colossus-2026.txt").read_text().splitlines()
    now = mod.golden_lines()
    assert len(stored) == len(now) == 2 * 3 * 4
    diff = [f"stored {a}\n   now {b}" for a, b in zip(stored, now) if a != b]
    assert not diff, "tables changed:\n" + "\n".join(diff)
