"""Calendar months as integer indices, real dates, and notice periods.

A month is the integer ``m = year * 12 + (month - 1)`` (so 2026-05 is ``24316``): month
arithmetic is integer arithmetic, and arrays of months are plain ``int64`` arrays. Dates are
``numpy.datetime64[D]`` so that notice periods count real days (month lengths, leap years).

docs/model.md section 2: a notice given on a date ends the contract at the first month boundary (the
first day of a month) on or after ``date + notice_days``; the month that starts on that boundary
is the contract's exclusive end, so the month before it is the last one billed.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "as_month",
    "month_index",
    "month_label",
    "month_start",
    "months_between",
    "notice_end_month",
    "to_date",
]

_EPOCH_MONTH = 1970 * 12  # month index of numpy's datetime64 epoch, 1970-01
_DATE_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})(?:-(\d{1,2}))?\s*$")

IntOrArray = int | npt.NDArray[np.int64]


def _parse_day(text: str) -> np.datetime64:
    """Parse 'YYYY-MM' (first of the month) or 'YYYY-MM-DD' into a datetime64[D]."""
    match = _DATE_RE.match(text)
    if match is None:
        raise ValueError(f"cannot read {text!r} as a date: expected 'YYYY-MM' or 'YYYY-MM-DD'")
    year, month = int(match.group(1)), int(match.group(2))
    day = int(match.group(3)) if match.group(3) is not None else 1
    try:
        parsed = date(year, month, day)
    except ValueError as err:
        raise ValueError(f"cannot read {text!r} as a date: {err}") from None
    return np.datetime64(parsed, "D")


def _scalar_to_day(value: Any) -> np.datetime64:
    """One date-like value (str, date, datetime, datetime64) as a datetime64[D]."""
    if isinstance(value, str):
        return _parse_day(value)
    if isinstance(value, datetime):  # before date: datetime is a subclass of date
        return np.datetime64(value.date(), "D")
    if isinstance(value, date):
        return np.datetime64(value, "D")
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError("cannot use NaT as a date")
        return value.astype("datetime64[D]")
    raise TypeError(
        f"cannot read {value!r} (type {type(value).__name__}) as a date: pass 'YYYY-MM', "
        "'YYYY-MM-DD', a datetime.date or a numpy datetime64"
    )


def to_date(value: Any) -> np.datetime64 | npt.NDArray[np.datetime64]:
    """Date-like value(s) as numpy ``datetime64[D]``; 'YYYY-MM' means the first of the month.

    Accepts a string, ``datetime.date``/``datetime``, ``numpy.datetime64``, or a list/array of
    them (returned as an array of the same shape).
    """
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.datetime64):
        if np.isnat(value).any():
            raise ValueError("cannot use NaT as a date")
        return value.astype("datetime64[D]", copy=False)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = np.asarray(value, dtype=object)
        out = np.array([_scalar_to_day(v) for v in items.ravel()], dtype="datetime64[D]")
        return out.reshape(items.shape)
    return _scalar_to_day(value)


@functools.lru_cache(maxsize=4096)
def _month_of_text(text: str) -> int:
    """Month index of a 'YYYY-MM[-DD]' string (cached: scenario files repeat their dates)."""
    return int(_parse_day(text).astype("datetime64[M]").astype(np.int64)) + _EPOCH_MONTH


def month_index(value: Any) -> IntOrArray:
    """Month index ``year * 12 + month - 1`` of a date-like value ("2026-05", "2026-05-01", a date).

    Integers are refused (2026 is a year, not a month): use :func:`as_month` to accept both.
    """
    if isinstance(value, (bool, int, np.integer)):
        raise TypeError(f"month_index: {value!r} is not a date; pass 'YYYY-MM' or a date")
    if isinstance(value, str):
        return _month_of_text(value)
    day = to_date(value)
    months = day.astype("datetime64[M]").astype(np.int64) + _EPOCH_MONTH
    return int(months) if np.ndim(months) == 0 else months


def as_month(value: Any) -> IntOrArray:
    """A month index from a month index (int or int array) or anything :func:`month_index` reads."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"as_month: {value!r} is not a month")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer):
        return value.astype(np.int64)
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        return np.asarray(value, dtype=np.int64)
    return month_index(value)


def _months_array(m: Any, who: str) -> npt.NDArray[np.int64]:
    arr = np.asarray(m)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{who}: month index must be an integer, got {m!r}")
    return arr.astype(np.int64)


def month_start(m: Any) -> np.datetime64 | npt.NDArray[np.datetime64]:
    """First day of month index ``m`` as ``datetime64[D]`` (vectorized)."""
    if isinstance(m, (int, np.integer)) and not isinstance(m, bool):  # fast scalar path
        return np.datetime64(int(m) - _EPOCH_MONTH, "M").astype("datetime64[D]")
    arr = _months_array(m, "month_start")
    days = (arr - _EPOCH_MONTH).astype("datetime64[M]").astype("datetime64[D]")
    return days[()] if days.ndim == 0 else days


def month_label(m: Any) -> str | npt.NDArray[np.str_]:
    """'YYYY-MM' label of month index ``m`` (an array of labels for an array)."""
    arr = _months_array(m, "month_label")
    labels = np.datetime_as_string((arr - _EPOCH_MONTH).astype("datetime64[M]"), unit="M")
    return str(labels) if labels.ndim == 0 else labels


def months_between(a: Any, b: Any) -> IntOrArray:
    """Whole months from ``a`` to ``b`` (``b - a``); either may be a month index or a date-like."""
    diff = np.asarray(as_month(b)) - np.asarray(as_month(a))
    return int(diff) if diff.ndim == 0 else diff


_TABLE_MIN = 1024
"""``notice_end_month`` looks the end up in a table of every notice length in range when it
gets more notice lengths than this for one date, spanning fewer days than this."""


def notice_end_month(notice_date: Any, notice_days: Any) -> IntOrArray:
    """Exclusive end month of a notice given on ``notice_date`` with ``notice_days`` of notice.

    The contract ends at the first month boundary (first day of a month) on or after
    ``notice_date + notice_days``: 2027-02-01 + 90 days = 2027-05-02, so it ends on 2027-06-01
    and the result is the index of 2027-06 (2027-05 is the last billed month). A notice that
    lands exactly on the first of a month ends the contract that day. Vectorized over both
    arguments (numpy broadcasting).
    """
    day = to_date(notice_date)
    days = np.asarray(notice_days)
    if not np.issubdtype(days.dtype, np.integer):
        raise TypeError(f"notice_end_month: notice_days must be integers, got {notice_days!r}")
    if days.size and days.min() < 0:
        raise ValueError(f"notice_end_month: notice_days must be >= 0, got {days.min()}")
    if np.ndim(day) == 0 and days.ndim == 1 and days.size > _TABLE_MIN:
        lo, hi = int(days.min()), int(days.max())
        if hi - lo < _TABLE_MIN:  # many contracts, few notice lengths: one lookup table
            return notice_end_month(notice_date, np.arange(lo, hi + 1))[days - lo]
    # The first month boundary on or after day + days is the start of the month after the one
    # holding the day before it: (day + days - 1) -> its month -> + 1.
    last_day = day + (days - 1)
    end = np.asarray(last_day.astype("datetime64[M]")).view(np.int64) + (_EPOCH_MONTH + 1)
    return int(end) if end.ndim == 0 else end
