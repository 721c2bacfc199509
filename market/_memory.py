"""Keep freed memory for reuse instead of handing it back to the operating system at once.

glibc returns the top of its heap to the system as soon as more than ``M_TRIM_THRESHOLD`` of it
is free (by default twice the largest block it has lately handed out with ``mmap``). The
clearing core and the contract book allocate and free arrays of a few MB on every call, so
with the default each call faults those pages back in: clearing 1e5 orders over 1e3 products
took ~360 page faults and ~0.8 ms of a ~6 ms call (``experiments/bench_clearing.py``). Keeping
up to ``COMPUTE_MARKET_TRIM_MB`` (default 64) MB of free heap, and serving blocks up to half
that size from the heap rather than from fresh ``mmap`` pages (setting the trim threshold turns
glibc's adaptive ``mmap`` threshold off, so both are set), removes them. Linux with glibc only;
elsewhere, or with ``COMPUTE_MARKET_TRIM_MB=0``, the allocator is left as it is.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import sys

_M_TRIM_THRESHOLD = -1  # mallopt parameters, glibc's malloc.h
_M_MMAP_THRESHOLD = -3
DEFAULT_TRIM_MB = 64


MAX_TRIM_MB = 2_047
"""Largest value: glibc takes the thresholds as a C ``int`` of bytes."""


def trim_mb_from_env() -> int:
    """``COMPUTE_MARKET_TRIM_MB`` as a whole number of MB from 0 to ``MAX_TRIM_MB`` (default 64).

    Raises ValueError with a one-line message naming the variable and its value.
    """
    raw = os.environ.get("COMPUTE_MARKET_TRIM_MB", str(DEFAULT_TRIM_MB))
    try:
        mb = int(raw.strip())
    except ValueError:
        mb = -1
    if not 0 <= mb <= MAX_TRIM_MB:
        raise ValueError(f"COMPUTE_MARKET_TRIM_MB={raw!r}: must be a whole number of MB from 0 "
                         f"to {MAX_TRIM_MB} (0 leaves the allocator alone; default "
                         f"{DEFAULT_TRIM_MB})")
    return mb


def keep_freed_memory(mb: int | None = None) -> bool:
    """Raise glibc's trim threshold to ``mb`` MB (default: ``COMPUTE_MARKET_TRIM_MB`` or 64).

    Returns whether the allocator was changed. Process-wide and harmless: freed memory up to
    that size stays with the process for its next allocations. An invalid
    ``COMPUTE_MARKET_TRIM_MB`` leaves the allocator alone here (this runs at import); the
    command line refuses it with a message (``trim_mb_from_env``).
    """
    if mb is None:
        try:
            mb = trim_mb_from_env()
        except ValueError:
            return False
    if not 0 < mb <= MAX_TRIM_MB or not sys.platform.startswith("linux"):
        return False
    try:
        # the running process's own symbols, libc's among them (find_library would spawn
        # ldconfig: ~25 ms on every import)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    size = int(mb) * 1024 * 1024
    return bool(mallopt(_M_MMAP_THRESHOLD, size // 2)) and bool(mallopt(_M_TRIM_THRESHOLD, size))


def gc_paused(fn):
    """Run ``fn`` with Python's cyclic garbage collector paused, then restore its state.

    Building a world allocates tens of thousands of objects that all stay alive (agents, rows,
    configs); each allocation burst triggers collections that find nothing to free and cost up
    to 0.9 s of a 20,000-lab build. Reference counting still frees what is dropped; the state
    is restored whatever ``fn`` raises.
    """
    @functools.wraps(fn)
    def paused(*args, **kwargs):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()
    return paused
