"""Tests of market._memory: the allocator setting made when the package is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from market._memory import keep_freed_memory, trim_mb_from_env


def test_zero_leaves_the_allocator_alone(monkeypatch):
    monkeypatch.setenv("COMPUTE_MARKET_TRIM_MB", "0")
    assert keep_freed_memory() is False
    assert keep_freed_memory(0) is False


@pytest.mark.parametrize("setting", ["lots", "-5", "1e3", "99999"])
def test_bad_setting_names_the_variable(monkeypatch, setting):
    """An invalid value is refused with a message (the command line exits 2 with it); the
    import-time call leaves the allocator alone instead of breaking every import."""
    monkeypatch.setenv("COMPUTE_MARKET_TRIM_MB", setting)
    with pytest.raises(ValueError, match=rf"COMPUTE_MARKET_TRIM_MB={setting!r}: must be"):
        trim_mb_from_env()
    assert keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_import_keeps_freed_memory_without_page_faults():
    """After the import, freeing and re-allocating 4 MB arrays does not fault their pages in
    again (glibc's default returns them to the system and faults them back on each round)."""
    code = (
        "import resource, numpy as np, market\n"
        "def flt(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(3): a = np.ones(500_000); b = np.ones(500_000); del a, b\n"
        "f0 = flt()\n"
        "for _ in range(20): a = np.ones(500_000); b = np.ones(500_000); del a, b\n"
        "print((flt() - f0) / 20)\n"
    )
    def faults(setting: str) -> float:
        env = {"COMPUTE_MARKET_TRIM_MB": setting, "PATH": ""}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True)
        return float(out.stdout.strip())
    assert faults("64") < 5
