"""Benchmark: one month's contract-book update, vectorized ``ContractBook`` vs a per-contract loop.

One month = expiry, buyer notices on a random ~2% of contracts, then billing (the order of
docs/model.md section 8). The naive reference does the same work over plain Python objects, one
contract at a time. Both are checked to produce the same bills, ends and fees. Timings are steady
state, as inside a simulation: each implementation first runs the previous month (untimed), then
the month is timed; they are CPU times (``time.process_time``), best of several fresh worlds.

    python experiments/bench_contracts.py [--quick]

``--quick`` runs 1e3 and 1e4 contracts only. Target: at least 50x faster at 1e5 contracts.
At 1e5 it also times a *floor*: a month that only finds the contracts ending, reads what the
notices depend on and builds the bill's four arrays (see :func:`floor_month`), an upper bound
on the speed-up any vectorized book over these columns can reach on the machine at hand.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import numpy as np

from market._memory import keep_freed_memory
from market.book import ContractBook
from market.calendar import month_index
from market.terms import ContractTerms

TARGET_SPEEDUP = 50.0
# CPU time of this process, not wall time: on a shared machine a 100 ms loop is time-sliced
# with other processes while a 2 ms call is not, which would flatter the book.
clock = time.process_time
MONTH = month_index("2027-02")
NOTICE_SHARE = 0.02
TERMS = (
    ContractTerms("lease", 36, 0.0, ramp_months=2, ramp_discount=0.5, early_exit_fee_months=1.0),
    ContractTerms("reserved", 36, 0.0, buyer_notice_days=None, seller_notice_days=None),
)


class NaiveContract:
    """One contract as a plain Python object (the reference implementation's row)."""

    __slots__ = (
        "id", "buyer", "seller", "h100e", "price", "start", "end", "ended_month", "ramp",
        "discount", "notice_days", "exit_fee_months", "ended", "reason", "notice_month",
        "last_billed", "billed_usd", "exit_fee_usd", "delivered",
    )  # fmt: skip

    def __init__(self, i: int, buyer: int, seller: int, h100e: float, price: float, start: int,
                 terms: ContractTerms, delivered: float = 1.0) -> None:  # fmt: skip
        self.id, self.buyer, self.seller = i, buyer, seller
        self.delivered = delivered  # share of its capacity online (a site still ramping: < 1)
        self.h100e, self.price, self.start = h100e, price, start
        self.end = self.ended_month = start + terms.tenor_months
        self.ramp, self.discount = terms.ramp_months, terms.ramp_discount
        notice = terms.buyer_notice_days
        self.notice_days = -1 if notice is None else notice
        self.exit_fee_months = terms.early_exit_fee_months
        self.ended, self.reason, self.notice_month = False, "live", -1
        self.last_billed, self.billed_usd, self.exit_fee_usd = -1, 0.0, 0.0


def naive_month(contracts: list[NaiveContract], month: int, notice_ids: np.ndarray) -> tuple:
    """Expiry, buyer notices and billing for one month, one contract at a time."""
    expired = []
    for c in contracts:
        if not c.ended and c.ended_month <= month:
            c.ended = True
            if c.reason == "live":
                c.reason = "expired"
            expired.append(c.id)
    fees = []
    first_day = date(month // 12, month % 12 + 1, 1)
    for i in notice_ids.tolist():
        c = contracts[i]
        if c.notice_days < 0 or c.ended or c.ended_month <= month:
            continue
        due = first_day + timedelta(days=c.notice_days)
        due_month = due.year * 12 + due.month - 1 + (0 if due.day == 1 else 1)
        new_end = min(max(due_month, month, c.start), c.end)
        if new_end < c.ended_month:
            c.ended_month, c.reason, c.notice_month = new_end, "buyer_notice", month
            fee = c.exit_fee_months * c.h100e * c.price
            if fee > 0:
                c.exit_fee_usd += fee
                fees.append((c.id, c.buyer, c.seller, fee))
    bills = []
    for c in contracts:
        if c.start <= month < c.ended_month and c.last_billed < month:
            fee = c.h100e * c.price * c.delivered
            if month - c.start < c.ramp and c.delivered < 1.0:
                fee *= 1.0 - c.discount
            c.billed_usd += fee
            c.last_billed = month
            bills.append((c.id, c.buyer, c.seller, fee))
    return expired, fees, bills


def make_world(
    n: int, seed: int
) -> tuple[ContractBook, list[NaiveContract], list[np.ndarray], np.ndarray]:
    """``n`` contracts live around MONTH (a few expire at it), as a book and as naive objects.

    Also returns the contracts given notice in MONTH - 1 and in MONTH (2% each), and each
    contract's delivered share (a tenth of them on sites still coming online, as the model
    bills them: ``ContractBook.bill``'s ``delivered_share``).
    """
    rng = np.random.default_rng(seed)
    buyer = rng.integers(0, 50, n)
    seller = rng.integers(50, 80, n)
    h100e = rng.uniform(100.0, 20_000.0, n)
    price = rng.uniform(1_000.0, 5_000.0, n)
    start = MONTH - rng.integers(0, 37, n)  # about 1 in 37 reaches its scheduled end at MONTH
    kind = rng.integers(0, len(TERMS), n)
    terms = [TERMS[k] for k in kind]
    book = ContractBook(capacity=n)
    book.sign(buyer, seller, 0, h100e, start, terms, usd_per_h100e_month=price)
    delivered = np.where(rng.random(n) < 0.1, rng.uniform(0.3, 1.0, n), 1.0)
    naive = [
        NaiveContract(i, int(b), int(s), float(q), float(p), int(m), t, float(d))
        for i, (b, s, q, p, m, t, d) in enumerate(zip(buyer, seller, h100e, price, start, terms,
                                                      delivered))
    ]
    k = max(1, int(NOTICE_SHARE * n))
    notice_ids = [rng.choice(n, size=k, replace=False) for _ in range(2)]
    return book, naive, notice_ids, delivered


def book_month(book: ContractBook, month: int, notice_ids: np.ndarray,
               delivered: np.ndarray) -> tuple:
    """Expiry, buyer notices and billing for one month, vectorized."""
    expired = book.expire(month)
    notice = book.give_notice(notice_ids, "buyer", month)
    bill = book.bill(month, delivered_share=delivered)
    return expired, notice, bill


def book_summary(out: tuple) -> tuple[list, ...]:
    """Contracts and dollars of one book month, as lists (the arrays can then be freed)."""
    expired, notice, bill = out
    fees = notice.transfers
    return (expired.tolist(), fees.contract.tolist(), fees.usd.tolist(), bill.contract.tolist(),
            bill.usd.tolist())  # fmt: skip


def naive_summary(out: tuple) -> tuple[list, ...]:
    """Same as :func:`book_summary` for the naive reference."""
    expired, fees, bills = out
    return (expired, [f[0] for f in fees], [f[3] for f in fees], [b[0] for b in bills],
            [b[3] for b in bills])  # fmt: skip


def check_same(book: tuple[list, ...], naive: tuple[list, ...]) -> None:
    """Both implementations did the same work (same contracts, same dollars)."""
    for i in (0, 1, 3):
        assert book[i] == naive[i], "book and naive reference differ"
    for i in (2, 4):
        assert np.allclose(book[i], naive[i], rtol=1e-12), "book and naive reference differ"


def floor_month(book: ContractBook, month: int, notice_ids: np.ndarray,
                delivered: np.ndarray) -> tuple:
    """What any vectorized month over these columns must at least do, and nothing else: find
    the contracts ending now (one compare of one column), read what a buyer's notice depends
    on (notice days, start, scheduled and current end, fee) for the contracts given notice, and
    build the bill's four arrays (contracts live now, from two columns; their buyer, seller,
    fee and delivered share gathered). No writes, no bookkeeping. Its time bounds the speed-up any such book
    can reach on this machine."""
    ended = book.ended_month
    expired = np.flatnonzero(ended == month)
    notice = [col.take(notice_ids) for col in (book.buyer_notice_days, book.start_month,
                                               book.end_month, ended, book.fee_usd_month)]
    rows = np.flatnonzero((book.start_month <= month) & (ended > month))
    return (expired, notice, rows, book.buyer.take(rows), book.seller.take(rows),
            book.fee_usd_month.take(rows), delivered.take(rows))  # fmt: skip


def time_floor(n: int, repeats: int) -> float:
    """Best-of-``repeats`` seconds of :func:`floor_month`, under the same conditions as the
    book's month (fresh world, previous month run first)."""
    best = float("inf")
    for r in range(repeats):
        book, _, (warm_ids, notice_ids), delivered = make_world(n, seed=r)
        book_summary(book_month(book, MONTH - 1, warm_ids, delivered))
        t0 = clock()
        out = floor_month(book, MONTH, notice_ids, delivered)
        best = min(best, clock() - t0)
        del out
    return best


def time_size(n: int, repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` seconds for one month: (book, naive), on fresh worlds each time.

    Each implementation first runs the previous month (untimed warm-up, as inside a running
    model, whose results are consumed and freed), then the timed month.
    """
    best_book = best_naive = float("inf")
    for r in range(repeats):
        book, naive, (warm_ids, notice_ids), delivered = make_world(n, seed=r)
        warm_book = book_summary(book_month(book, MONTH - 1, warm_ids, delivered))
        t0 = clock()
        out = book_month(book, MONTH, notice_ids, delivered)
        t1 = clock()
        book_out = book_summary(out)
        del out
        warm_naive = naive_summary(naive_month(naive, MONTH - 1, warm_ids))
        t2 = clock()
        out = naive_month(naive, MONTH, notice_ids)
        t3 = clock()
        naive_out = naive_summary(out)
        del out
        check_same(warm_book, warm_naive)
        check_same(book_out, naive_out)
        best_book, best_naive = min(best_book, t1 - t0), min(best_naive, t3 - t2)
    return best_book, best_naive


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # a benchmark owns its process (market/_memory.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e3 and 1e4 contracts only")
    args = parser.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    print(
        "one month of the contract book: expire + buyer notices on 2% + bill "
        "(steady state, CPU time, best of runs)"
    )
    header = (
        f"{'contracts':>10} {'book ms':>9} {'naive ms':>9} {'speed-up':>9} "
        f"{'book us/ctr':>12} {'naive us/ctr':>13} {'book time x':>12} {'naive time x':>13}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for n in sizes:
        t_book, t_naive = time_size(n, repeats=7 if n <= 10_000 else 5)
        prev = rows[-1] if rows else None
        grow_b = f"x{t_book / prev[1]:.1f}/x{n // prev[0]}" if prev else "-"
        grow_n = f"x{t_naive / prev[2]:.1f}/x{n // prev[0]}" if prev else "-"
        rows.append((n, t_book, t_naive))
        print(
            f"{n:>10,} {t_book * 1e3:>9.3f} {t_naive * 1e3:>9.2f} {t_naive / t_book:>8.1f}x "
            f"{t_book / n * 1e6:>12.4f} {t_naive / n * 1e6:>13.3f} {grow_b:>12} {grow_n:>13}"
        )
    print("(time x: time ratio to the previous size / size ratio; x10/x10 = linear growth)")
    n, t_book, t_naive = rows[-1]
    if n < 100_000:
        print(f"target {TARGET_SPEEDUP:.0f}x at 1e5: not measured (--quick); "
              f"{t_naive / t_book:.1f}x at {n:,}")  # fmt: skip
        return 0
    verdict = "PASS" if t_naive / t_book >= TARGET_SPEEDUP else "FAIL"
    print(f"{verdict}: {t_naive / t_book:.1f}x at 1e5 (target >= {TARGET_SPEEDUP:.0f}x)")
    t_floor = time_floor(n, repeats=5)
    print(f"floor at 1e5 (find who ends, read what the notices need, build the bill's four "
          f"arrays, nothing else): "
          f"{t_floor * 1e3:.3f} ms, so at most {t_naive / t_floor:.0f}x over the loop on this "
          f"machine; the book's month is {t_book / t_floor:.1f}x the floor")
    return 0  # a report, not a gate: timings depend on the machine


if __name__ == "__main__":
    raise SystemExit(main())
