"""Arithmetic whose result does not depend on the CPU.

numpy picks its inner loops by the SIMD level of the machine it runs on. Element-wise ``+ - *
/`` and ``sqrt`` are correctly rounded, so they give the same bits everywhere, but two kinds
of call do not:

* **reductions** (``sum``, ``mean``, ``dot``, ``@``, ``std``, pandas' ``Series.sum``): the
  order in which the terms are added follows the vector width, so the last bit of a sum
  differs between, say, an AVX-512 and an AVX2 machine;
* **transcendental functions** (``np.exp``, ``np.log``, ``np.power`` / ``**`` on arrays): on
  AVX-512 numpy uses its own vectorized kernels, elsewhere the C library's, and the two can
  differ in the last bit.

A last bit is enough: a lab whose bid ties a seller's ask by 1e-16 either trades or does not.
So every quantity that feeds a decision or an output goes through this module, which adds
terms in a fixed order (``np.cumsum`` and ``np.bincount`` are sequential on every machine, and
a reduction down the rows of a 2-D array adds row by row) and
evaluates ``exp``/``log``/``pow`` element by element with Python's ``math`` (the C library's
scalar functions, which numpy's SIMD dispatch does not touch). ``tests/test_determinism.py``
runs the default scenario under three SIMD levels and compares every table bit for bit.

The arrays these functions see are per party, per site or per contract: thousands of entries
at most in a month, so sequential sums cost no more than numpy's own.
"""

from __future__ import annotations

import array
import math

import numpy as np

__all__ = ["total", "dot", "mean", "std", "exp", "log", "power"]


_LANES = 64
"""Long sums run in this many interleaved lanes: lane ``j`` adds entries ``j, j + 64, ...`` in
order (a reduction down the rows of a (rows, 64) array, which numpy performs row by row on any
CPU), then the 64 lane sums and the last ``len % 64`` entries are added in order. Five times
faster than one ``cumsum``."""


def total(x, axis: int | None = None):
    """Sum of ``x`` in a fixed order (along ``axis``, or of all entries); 0.0 when empty.

    Returns a Python float for ``axis=None``, else an array with ``axis`` removed."""
    a = np.asarray(x, dtype=np.float64)
    if axis is None:
        a = a.ravel()
        if a.size <= 4 * _LANES:
            return float(np.cumsum(a)[-1]) if a.size else 0.0
        body = a.size - a.size % _LANES
        lanes = np.add.reduce(a[:body].reshape(-1, _LANES), axis=0)
        return float(np.cumsum(np.concatenate([lanes, a[body:]]))[-1])
    if a.shape[axis] == 0:
        return np.zeros(np.delete(a.shape, axis))
    return np.take(np.cumsum(a, axis=axis), -1, axis=axis)


def dot(a, b) -> float:
    """Inner product of two 1-D arrays, terms added in index order."""
    return total(np.multiply(a, b, dtype=np.float64))


def mean(x) -> float:
    """Arithmetic mean in index order; NaN when empty."""
    a = np.asarray(x, dtype=np.float64).ravel()
    return total(a) / a.size if a.size else math.nan


def std(x, ddof: int = 1) -> float:
    """Standard deviation (sample, ``ddof=1``, as pandas); NaN with fewer than ``ddof + 1``
    entries."""
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size <= ddof:
        return math.nan
    d = a - total(a) / a.size
    return math.sqrt(total(d * d) / (a.size - ddof))


def _elementwise(fn, *args) -> np.ndarray:
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in args))
    if not arrays[0].size:
        return np.zeros(arrays[0].shape)
    # the results straight into a C double buffer (faster than np.fromiter)
    out = np.frombuffer(array.array("d", map(fn, *(a.ravel().tolist() for a in arrays))),
                        dtype=np.float64)
    return out.reshape(arrays[0].shape)


def exp(x) -> np.ndarray:
    """``e**x`` element-wise through the C library (see the module docstring)."""
    return _elementwise(math.exp, x)


def log(x) -> np.ndarray:
    """Natural logarithm element-wise through the C library; -inf at 0, NaN below."""
    def _log(v: float) -> float:
        if v > 0:
            return math.log(v)
        return -math.inf if v == 0 else math.nan
    return _elementwise(_log, x)


def power(base, exponent) -> np.ndarray:
    """``base**exponent`` element-wise through the C library."""
    return _elementwise(math.pow, base, exponent)
