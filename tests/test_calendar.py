"""Month arithmetic and notice periods on the real calendar (docs/model.md section 2)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

from market.calendar import (
    as_month,
    month_index,
    month_label,
    month_start,
    months_between,
    notice_end_month,
    to_date,
)


def reference_end_month(day: date, notice_days: int) -> int:
    """First month boundary on or after day + notice_days, with Python's datetime."""
    due = day + timedelta(days=notice_days)
    return due.year * 12 + due.month - 1 + (0 if due.day == 1 else 1)


def test_month_index_reads_labels_days_and_dates() -> None:
    assert month_index("2026-05") == 2026 * 12 + 4
    assert month_index("2026-05-01") == month_index("2026-05")
    assert month_index("2026-05-31") == month_index("2026-05")
    assert month_index(date(2026, 5, 17)) == month_index("2026-05")
    assert month_index(datetime(2026, 5, 17, 23, 59)) == month_index("2026-05")
    assert month_index(np.datetime64("2026-05-17")) == month_index("2026-05")
    assert isinstance(month_index("2026-05"), int)
    months = month_index(["2025-12", "2026-01", "2026-01-31"])
    assert months.dtype == np.int64
    assert months.tolist() == [24311, 24312, 24312]


def test_labels_and_starts_round_trip() -> None:
    m = month_index("2026-05")
    assert month_label(m) == "2026-05"
    assert month_start(m) == np.datetime64("2026-05-01")
    assert month_start(m).dtype == np.dtype("datetime64[D]")
    months = np.arange(month_index("1999-11"), month_index("2000-03"))
    assert month_label(months).tolist() == ["1999-11", "1999-12", "2000-01", "2000-02"]
    assert month_start(months).tolist() == [
        date(1999, 11, 1),
        date(1999, 12, 1),
        date(2000, 1, 1),
        date(2000, 2, 1),
    ]
    assert month_index(month_label(months).tolist()).tolist() == months.tolist()


def test_months_between_counts_whole_months() -> None:
    assert months_between("2026-05", "2029-05") == 36
    assert months_between("2026-05", "2026-05-31") == 0
    assert months_between(month_index("2027-01"), "2026-12") == -1
    assert months_between("2026-01", ["2026-02", "2027-01"]).tolist() == [1, 12]


def test_as_month_accepts_indices_and_dates() -> None:
    assert as_month(24316) == 24316
    assert as_month(np.int64(24316)) == 24316
    assert as_month("2026-05") == 24316
    assert as_month(np.array([1, 2])).tolist() == [1, 2]


@pytest.mark.parametrize("bad", ["2026-13", "2026-02-30", "May 2026", "2026", "", "2026-05-01x"])
def test_bad_strings_raise_naming_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
        month_index(bad)


def test_non_dates_are_refused() -> None:
    with pytest.raises(TypeError, match="2026"):
        month_index(2026)
    with pytest.raises(TypeError):
        to_date(3.5)
    with pytest.raises(ValueError, match="NaT"):
        to_date(np.datetime64("NaT"))
    with pytest.raises(TypeError):
        month_start(24316.0)


def test_model_example_90_days_from_february_first() -> None:
    # docs/model.md section 2: 2027-02-01 + 90 days = 2027-05-02 -> ends 2027-06-01
    # (May is the last bill)
    assert np.datetime64("2027-02-01") + 90 == np.datetime64("2027-05-02")
    assert notice_end_month("2027-02-01", 90) == month_index("2027-06")


def test_due_date_exactly_on_a_month_boundary_ends_that_day() -> None:
    # 2027-01-02 + 30 days = 2027-02-01: the contract ends on 2027-02-01, January is the last bill
    assert notice_end_month("2027-01-02", 30) == month_index("2027-02")
    assert notice_end_month("2027-01-02", 31) == month_index("2027-03")
    assert notice_end_month("2027-03-01", 0) == month_index("2027-03")
    assert notice_end_month("2027-03-02", 0) == month_index("2027-04")


@pytest.mark.parametrize(
    ("day", "notice_days", "end"),
    [
        ("2027-01-31", 28, "2027-03"),  # 2027-02-28: February has 28 days in 2027
        ("2027-01-31", 29, "2027-03"),  # 2027-03-01, on the boundary
        ("2027-01-31", 30, "2027-04"),  # 2027-03-02
        ("2028-01-31", 29, "2028-03"),  # 2028-02-29: leap day, next boundary 2028-03-01
        ("2028-01-31", 30, "2028-03"),  # 2028-03-01, on the boundary
        ("2028-02-29", 0, "2028-03"),  # notice on the leap day itself
        ("2028-02-29", 1, "2028-03"),  # 2028-03-01
        ("2028-02-28", 1, "2028-03"),  # 2028-02-29 is not a boundary
        ("2100-02-28", 1, "2100-03"),  # 2100 is not a leap year: 2100-03-01
        ("2027-04-30", 1, "2027-05"),  # April has 30 days
        ("2027-12-31", 1, "2028-01"),  # year boundary
    ],
)
def test_month_lengths_and_leap_years(day: str, notice_days: int, end: str) -> None:
    assert notice_end_month(day, notice_days) == month_index(end)


def test_ninety_days_from_the_first_of_each_month() -> None:
    # From the first of month m, a 90-day notice ends the contract at m+3 unless the three months
    # from m hold fewer than 90 days (February to April in common years: 89), then at m+4.
    for year in (2027, 2028):
        for month in range(1, 13):
            m = month_index(f"{year}-{month:02d}")
            end = notice_end_month(month_start(m), 90)
            short = year == 2027 and month == 2
            assert end == m + (4 if short else 3), (year, month)


def test_vectorized_matches_python_datetime() -> None:
    rng = np.random.default_rng(7)
    first = np.datetime64("2024-01-01")
    days_from = rng.integers(0, 6 * 365, 500)
    notice = rng.integers(0, 400, 500)
    dates = first + days_from
    got = notice_end_month(dates, notice)
    assert got.shape == (500,)
    expected = [
        reference_end_month(date(2024, 1, 1) + timedelta(days=int(k)), int(d))
        for k, d in zip(days_from, notice)
    ]
    assert got.tolist() == expected
    # broadcasting a single date over many notice lengths, and a list of labels
    assert notice_end_month("2027-02-01", np.array([0, 27, 28, 90])).tolist() == [
        month_index("2027-02"),
        month_index("2027-03"),
        month_index("2027-03"),
        month_index("2027-06"),
    ]
    assert notice_end_month(["2027-02-01", "2027-01-02"], [90, 30]).tolist() == [
        month_index("2027-06"),
        month_index("2027-02"),
    ]


def test_notice_days_must_be_non_negative_integers() -> None:
    with pytest.raises(ValueError, match="-1"):
        notice_end_month("2027-02-01", -1)
    with pytest.raises(TypeError, match="integers"):
        notice_end_month("2027-02-01", 90.0)
