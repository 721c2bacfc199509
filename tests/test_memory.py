"""Tests of market._memory: the allocator setting, made only where the project owns the process
(the command line, sweep worker processes, benchmarks), never by ``import market``."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from market._memory import gc_paused, keep_freed_memory, trim_mb_from_env


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
def test_keep_freed_memory_avoids_page_faults():
    """After the call, freeing and re-allocating 4 MB arrays does not fault their pages in
    again (glibc's default returns them to the system and faults them back on each round)."""
    code = (
        "import resource, numpy as np\n"
        "from market._memory import keep_freed_memory\n"
        "keep_freed_memory()\n"
        "def flt(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(3): a = np.ones(500_000); b = np.ones(500_000); del a, b\n"
        "f0 = flt()\n"
        "for _ in range(20): a = np.ones(500_000); b = np.ones(500_000); del a, b\n"
        "print((flt() - f0) / 20)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"COMPUTE_MARKET_TRIM_MB": "64", "PATH": ""}, check=True)
    assert float(out.stdout.strip()) < 5


def test_import_market_leaves_the_allocator_alone():
    """A user's process (a notebook) that imports the package, the model and the clearing core
    never reaches glibc's mallopt: ``ctypes.CDLL(None)`` (how _memory finds it) is not called."""
    code = (
        "import ctypes\n"
        "calls = []\n"
        "real = ctypes.CDLL\n"
        "ctypes.CDLL = lambda name, *a, **k: (calls.append(name), real(name, *a, **k))[1]\n"
        "import market, market.model, market.clearing, market.sweep, market.ensemble\n"
        "print(sum(name is None for name in calls))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "0"


def test_the_command_line_sets_the_allocator(monkeypatch):
    from market import _memory, cli

    calls = []
    monkeypatch.setattr(_memory, "keep_freed_memory", lambda: calls.append(1) or True)
    assert cli.main(["scenarios"]) == 0
    assert calls == [1]


def test_building_pauses_the_garbage_collector_and_restores_it():
    """World validation and model construction run with the cyclic collector paused (fewer
    collections while building many live objects) and leave it as they found it, enabled or
    disabled, also when they raise."""
    from market.config import WorldConfig
    from market.model import ComputeMarket

    seen = []

    @gc_paused
    def probe(fail: bool):
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("boom")

    assert gc.isenabled()
    probe(False)
    with pytest.raises(ValueError, match="boom"):
        probe(True)
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        probe(False)
        assert not gc.isenabled()                       # a disabled collector stays disabled
    finally:
        gc.enable()
    assert getattr(ComputeMarket.__init__, "__wrapped__", None) is not None
    assert getattr(WorldConfig.__post_init__, "__wrapped__", None) is not None
    ComputeMarket(months=1)
    assert gc.isenabled()
