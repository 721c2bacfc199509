"""Same scenario and seed, bit-identical tables whatever SIMD level numpy dispatches to.

numpy picks its inner loops by the CPU; ``NPY_DISABLE_CPU_FEATURES`` makes it behave as on an
older one. The default scenario is run for three seeds at three levels (all features, no
AVX-512, neither AVX-512 nor AVX2) in fresh processes, and every output table and metric must
match bit for bit (``experiments/fingerprint.py`` hashes each table's raw values).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEVELS = {
    "all features": "",
    "no AVX-512": "AVX512_SPR AVX512_ICL X86_V4",
    "no AVX-512, no AVX2": "AVX512_SPR AVX512_ICL X86_V4 X86_V3",
}
_cache: dict[str, tuple[str, list[str]]] = {}


def fingerprint(level: str) -> tuple[str, list[str]]:
    """(SIMD targets in use, fingerprint lines) of the default scenario, seeds 0-2."""
    if level not in _cache:
        env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=LEVELS[level])
        out = subprocess.run(
            [sys.executable, str(ROOT / "experiments" / "fingerprint.py"), "colossus-2026",
             "--seeds", "0", "1", "2", "--metrics"],
            env=env, capture_output=True, text=True, timeout=600, check=True).stdout.splitlines()
        assert out[0].startswith("simd: ")
        _cache[level] = out[0].removeprefix("simd: "), out[1:]
    return _cache[level]


@pytest.mark.parametrize("level", ["no AVX-512", "no AVX-512, no AVX2"])
def test_tables_identical_across_simd_levels(level):
    full_simd, full = fingerprint("all features")
    simd, lines = fingerprint(level)
    print(f"\n[determinism] all features: {full_simd}\n[determinism] {level}: {simd}")
    if simd == full_simd:
        pytest.skip(f"this CPU dispatches to {full_simd!r} only, so '{level}' changes nothing "
                    f"here: the comparison needs a CPU with the features it turns off")
    assert sum(" rows " in x for x in full) == 3 * 4  # four tables for each of three seeds
    assert lines == full, "\n".join(a + "  !=  " + b for a, b in zip(full, lines) if a != b)
