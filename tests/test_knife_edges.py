"""No knife edges: a perturbation of every float of the default scenario by one part in 1e9
moves no headline metric by more than 1% (median over seeds).

The perturbed world is the TOML that ``compute-market describe`` prints, with every float
literal scaled by (1 - 1e-9), loaded back as a scenario file.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np

from market import metrics
from market.cli import main
from market.model import ComputeMarket
from market.scenarios import load_scenario

SEEDS = range(5)
EPS = 1e-9
TOLERANCE = 0.01
FLOAT = re.compile(r"(?<![\w.\"'-])(\d[\d_]*\.\d*(?:[eE][+-]?\d+)?|\d[\d_]*[eE][+-]?\d+)(?![\w.])")


def perturb_toml(text: str, eps: float = EPS) -> tuple[str, int]:
    """Scale every float literal of a TOML text (values only, not comments or strings) by
    (1 - eps); return the text and how many floats changed."""
    count = 0

    def scale(match: re.Match) -> str:
        nonlocal count
        count += 1
        return repr(float(match.group(1).replace("_", "")) * (1.0 - eps))

    out = []
    for line in text.splitlines():
        value, hash_, comment = line.partition("#")
        if "=" not in value or value.lstrip().startswith("["):
            out.append(line)
            continue
        key, eq, rhs = value.partition("=")
        # leave quoted strings alone: split on quotes, perturb the unquoted parts
        parts = re.split(r'("[^"]*")', rhs)
        parts = [p if p.startswith('"') else FLOAT.sub(scale, p) for p in parts]
        out.append(key + eq + "".join(parts) + hash_ + comment)
    return "\n".join(out) + "\n", count


def describe(name: str) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["describe", "--all", name]) == 0  # defaults too: every float of the world
    return buf.getvalue()


def relative_moves(base_world, other_world, seeds=SEEDS) -> dict[str, float]:
    """Per metric of ``metrics.summary`` (what ``compute-market run`` prints): the median over
    seeds of |change| / |base value|."""
    moves: dict[str, list[float]] = {}
    for seed in seeds:
        a = metrics.summary(ComputeMarket(base_world, rng=seed).run().frames())
        b = metrics.summary(ComputeMarket(other_world, rng=seed).run().frames())
        for key, va in a.items():
            vb = b[key]
            scale = max(abs(va), 1e-12)
            moves.setdefault(key, []).append(abs(vb - va) / scale)
    return {k: float(np.median(v)) for k, v in moves.items()}


def test_perturbing_every_float_by_1e_9_moves_no_metric_by_1_percent(tmp_path):
    text = describe("colossus-2026")
    plain = tmp_path / "described.toml"
    plain.write_text(text)
    perturbed_text, n = perturb_toml(text)
    assert n > 100, n  # every float of the world, not a handful
    perturbed = tmp_path / "perturbed.toml"
    perturbed.write_text(perturbed_text)
    base, other = load_scenario(str(plain)), load_scenario(str(perturbed))
    assert base != other
    moves = relative_moves(base, other)
    worst = max(moves, key=moves.get)
    assert moves[worst] <= TOLERANCE, (worst, moves)
