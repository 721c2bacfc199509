"""ContractBook: the Colossus lease's life, ledger invariants, and a property test against a
slow per-contract reference (docs/model.md sections 2 and 6)."""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.book import END_REASONS, TRANSFER_KINDS, ContractBook, Transfers
from market.calendar import month_index, month_label
from market.terms import (
    COLOSSUS_LEASE_H100E,
    COLOSSUS_LEASE_MW,
    COLOSSUS_LEASE_SIGNED,
    COLOSSUS_LEASE_START_MONTH,
    ContractTerms,
    template,
)

LEASE = template("colossus_lease")
LAB, OWNER = 0, 1  # agent indices
M = month_index


def colossus_book(**kwargs: Any) -> tuple[ContractBook, int]:
    """A book holding the Colossus lease from 2026-05 on Colossus (site 0)."""
    book = ContractBook()
    ids = book.sign(
        LAB,
        OWNER,
        0,
        COLOSSUS_LEASE_H100E,
        COLOSSUS_LEASE_START_MONTH,
        LEASE,
        mw=COLOSSUS_LEASE_MW,
        signed_month=COLOSSUS_LEASE_SIGNED,
        site_capacity_h100e=[COLOSSUS_LEASE_H100E],
        **kwargs,
    )
    return book, int(ids[0])


def bills_by_month(book: ContractBook, first: str, last: str) -> dict[str, float]:
    """Bill every month from first to last (inclusive); total USD per month label."""
    return {month_label(m): book.bill(m).total_usd for m in range(M(first), M(last) + 1)}


# --- The Colossus lease ----------------------------------------------------------------------
def test_colossus_lease_runs_36_months_from_may_2026() -> None:
    book, cid = colossus_book()
    # 36 months from 2026-05: last bill 2029-04, exclusive end 2029-05. cal:deal.term says the
    # deal (announced 2026-05-06) "runs through May 2029": 36 months of fees end in May 2029.
    assert month_label(book.start_month[cid]) == "2026-05"
    assert month_label(book.end_month[cid]) == "2029-05"
    assert book.end_month[cid] - book.start_month[cid] == 36
    bills = bills_by_month(book, "2026-01", "2029-12")
    billed = [label for label, usd in bills.items() if usd > 0]
    assert len(billed) == 36 and billed[0] == "2026-05" and billed[-1] == "2029-04"
    # all delivered from the start: no ramp discount (it follows delivery, not the calendar)
    assert bills["2026-05"] == pytest.approx(1.25e9) and bills["2026-07"] == pytest.approx(1.25e9)
    expected = LEASE.full_term_value(COLOSSUS_LEASE_H100E)
    assert expected > 40e9
    assert expected == pytest.approx(36 * 1.25e9, rel=1e-12)
    assert sum(bills.values()) == pytest.approx(expected, rel=1e-12)
    assert book.billed_usd[cid] == pytest.approx(expected, rel=1e-12)
    assert book.expire("2029-05").tolist() == [cid]
    assert END_REASONS[book.end_reason[cid]] == "expired"


def test_colossus_buyer_notice_ends_billing_after_may_2027() -> None:
    book, cid = colossus_book()
    bills_by_month(book, "2026-05", "2027-01")
    notice = book.give_notice([cid], "buyer", "2027-02")  # dated 2027-02-01
    assert notice.accepted.tolist() == [True]
    assert month_label(notice.ended_month[0]) == "2027-06"
    assert len(notice.transfers) == 0  # no exit fee in this template
    assert month_label(book.notice_month[cid]) == "2027-02"
    bills = bills_by_month(book, "2027-02", "2027-12")
    assert bills["2027-05"] == pytest.approx(1.25e9)  # the last bill
    assert bills["2027-06"] == 0.0 and sum(bills.values()) == pytest.approx(4 * 1.25e9)
    assert book.bill("2027-06").contract.size == 0
    assert book.expire("2027-05").size == 0
    assert book.expire("2027-06").tolist() == [cid]
    assert END_REASONS[book.end_reason[cid]] == "buyer_notice"
    assert book.billed_usd[cid] == pytest.approx(13 * 1.25e9)  # 2026-05..2027-05


def test_colossus_recall_ends_the_same_day_and_pays_compensation() -> None:
    book, cid = colossus_book()
    recall = book.recall([cid], "2027-02", date="2027-02-01")
    assert recall.accepted.tolist() == [True]
    assert month_label(recall.ended_month[0]) == "2027-06"
    fee = recall.transfers
    assert fee.payer.tolist() == [OWNER] and fee.payee.tolist() == [LAB]
    assert fee.usd.tolist() == pytest.approx([1.25e9])  # 1 month of full fees (scenario choice)
    assert [TRANSFER_KINDS[k] for k in fee.kind] == ["recall_compensation"]
    assert book.compensation_usd[cid] == pytest.approx(1.25e9)
    bills = bills_by_month(book, "2026-05", "2027-12")
    assert bills["2027-05"] > 0 and bills["2027-06"] == 0.0
    book.expire("2027-06")
    assert END_REASONS[book.end_reason[cid]] == "recall"
    assert book.received_by_buyers_usd == pytest.approx(1.25e9)
    net = book.net_usd(2)
    assert net.sum() == pytest.approx(0.0, abs=1e-3)
    assert net[LAB] == pytest.approx(-13 * 1.25e9 + 1.25e9)


def test_take_or_pay_bills_in_full_without_use() -> None:
    book = ContractBook()
    flexible = ContractTerms("flexible", 12, 100.0, take_or_pay=False)
    book.sign([0, 0], [1, 1], 0, 10.0, "2027-01", [template("neocloud_take_or_pay"), flexible],
              usd_per_h100e_month=100.0)  # fmt: skip
    bill = book.bill("2027-01", used_share=np.array([0.0, 0.25]))
    assert bill.contract.tolist() == [0, 1]
    assert bill.usd.tolist() == pytest.approx([1000.0, 250.0])
    assert book.bill("2027-02", used_share=0.0).usd.tolist() == pytest.approx([1000.0, 0.0])
    with pytest.raises(ValueError, match="used_share"):
        book.bill("2027-03", used_share=np.array([1.5, 0.5]))


# --- Signing ---------------------------------------------------------------------------------
def snapshot(book: ContractBook) -> dict[str, np.ndarray]:
    return {name: np.array(book._col(name)) for name in book._cols}


def test_signing_never_overcommits_a_site() -> None:
    book = ContractBook(capacity=2)
    spot = template("spot").with_tenor(12)
    cap = np.array([100.0, 50.0])
    book.sign(0, 5, 0, 60.0, "2027-01", spot, usd_per_h100e_month=1.0, site_capacity_h100e=cap)
    book.sign(1, 5, 1, 50.0, "2027-06", spot, usd_per_h100e_month=1.0, site_capacity_h100e=cap)
    before, n = snapshot(book), len(book)
    with pytest.raises(ValueError) as err:  # 60 + 30 fits site 0, but site 1 has no room
        book.sign([2, 3], [5, 5], [0, 1], [30.0, 10.0], ["2027-02", "2027-07"], spot,
                  usd_per_h100e_month=1.0, site_capacity_h100e=cap)  # fmt: skip
    message = str(err.value)
    for part in ("site 1", "2027-07", "committed 50.0", "requested 10.0", "capacity 50.0"):
        assert part in message
    assert len(book) == n and book.template_names == ["spot"]
    for name, values in snapshot(book).items():
        np.testing.assert_array_equal(values, before[name], err_msg=name)
    # filling exactly to capacity is allowed, and capacity frees up when a contract ends
    book.sign(2, 5, 0, 40.0, "2027-02", spot, usd_per_h100e_month=1.0, site_capacity_h100e=cap)
    with pytest.raises(ValueError, match="site 0 over-committed in 2027-12"):
        book.sign(3, 5, 0, 1.0, "2027-12", spot, usd_per_h100e_month=1.0, site_capacity_h100e=cap)
    book.sign(3, 5, 0, 60.0, "2028-01", spot, usd_per_h100e_month=1.0, site_capacity_h100e=cap)
    assert book.committed_h100e("2027-12", n=2).tolist() == [100.0, 50.0]
    assert book.committed_h100e("2028-01", n=2).tolist() == [100.0, 50.0]
    assert book.committed_h100e("2028-06", n=2).tolist() == [60.0, 0.0]


def test_a_batch_cannot_overcommit_by_itself() -> None:
    book = ContractBook()
    with pytest.raises(ValueError, match="site 0 over-committed in 2027-01"):
        book.sign([0, 1], [2, 2], 0, [60.0, 60.0], "2027-01", LEASE, site_capacity_h100e=[100.0])
    assert len(book) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"h100e": [10.0, -5.0]}, r"h100e\[1\]"),
        ({"h100e": [10.0, np.nan]}, r"h100e\[1\]"),
        ({"usd_per_h100e_month": [np.nan, 1.0]}, r"usd_per_h100e_month\[0\]"),
        ({"usd_per_h100e_month": [1.0, -1.0]}, r"usd_per_h100e_month\[1\]"),
        ({"signed_month": "2027-03"}, r"start_month\[0\]"),
        ({"mw": [-1.0, 0.0]}, r"mw\[0\]"),
        ({"seller": [0, 1]}, r"seller\[0\]"),
        ({"buyer": [-1, 0]}, r"buyer\[0\]"),
        ({"buyer": [0.0, 1.0]}, "buyer must be integer"),
        ({"site": [0, 3], "site_capacity_h100e": [100.0]}, r"site\[1\]"),
        ({"site_capacity_h100e": [np.nan]}, r"site_capacity_h100e\[0\]"),
    ],
)
def test_sign_validates_inputs_naming_field_and_index(changes: dict[str, Any], field: str) -> None:
    book = ContractBook()
    args: dict[str, Any] = {
        "buyer": [0, 0],
        "seller": [1, 1],
        "site": 0,
        "h100e": [10.0, 10.0],
        "start_month": "2027-02",
        "terms": LEASE,
    }
    args.update(changes)
    with pytest.raises(ValueError, match=field):
        book.sign(**args)
    assert len(book) == 0


def test_sign_batches_prices_terms_and_growth() -> None:
    book = ContractBook(capacity=1)
    reserved = template("hyperscaler_reservation")
    ids = book.sign(np.arange(5), 9, 0, 1.0, "2027-01", reserved,
                    usd_per_h100e_month=np.array([1.0, 2.0, 3.0, 4.0, 5.0]))  # fmt: skip
    more = book.sign([0, 1], 9, 1, 2.0, "2027-03", [LEASE, template("spot").with_price(7.0)])
    assert ids.tolist() == [0, 1, 2, 3, 4] and more.tolist() == [5, 6] and len(book) == 7
    assert book.usd_per_h100e_month.tolist() == pytest.approx(
        [1, 2, 3, 4, 5, LEASE.usd_per_h100e_month, 7]
    )
    assert book.end_month.tolist() == [M("2028-01")] * 5 + [M("2030-03"), M("2027-04")]
    assert book.template_names == ["hyperscaler_reservation", "colossus_lease", "spot"]
    assert book.buyer_notice_days.tolist() == [90] * 6 + [-1]
    assert book.seller_notice_days.tolist() == [-1] * 5 + [90, -1]
    assert book.signed_month.tolist() == book.start_month.tolist()
    with pytest.raises(ValueError, match="read-only"):
        book.h100e[0] = 5.0


# --- Notices, recalls, expiry, defaults ---------------------------------------------------------
def test_contracts_without_an_exit_right_refuse_notice() -> None:
    book = ContractBook()
    neo, reserved = template("neocloud_take_or_pay"), template("hyperscaler_reservation")
    book.sign([0, 0], [1, 2], 0, 10.0, "2027-01", [neo, reserved], usd_per_h100e_month=100.0)
    by_buyer = book.give_notice([0, 1], "buyer", "2027-03")
    assert by_buyer.accepted.tolist() == [False, True]
    assert by_buyer.ended_month.tolist() == [M("2030-01"), M("2027-06")]  # 2027-03-01 + 90 days
    fee = by_buyer.transfers  # reservation exit fee: 3 months of full fees, buyer -> seller
    assert fee.contract.tolist() == [1] and fee.payer.tolist() == [0]
    assert fee.payee.tolist() == [2] and fee.usd.tolist() == pytest.approx([3000.0])
    assert [TRANSFER_KINDS[k] for k in fee.kind] == ["exit_fee"]
    assert book.exit_fee_usd.tolist() == pytest.approx([0.0, 3000.0])
    assert book.give_notice([0, 1], "seller", "2027-03").accepted.tolist() == [False, False]
    assert book.recall([0, 1], "2027-03").accepted.tolist() == [False, False]
    assert book.end_reason.tolist() == [0, END_REASONS.index("buyer_notice")]
    assert book.paid_by_buyers_usd == pytest.approx(3000.0)


def test_second_notice_keeps_the_earlier_end_and_charges_once() -> None:
    book = ContractBook()
    terms = ContractTerms("t", 24, 100.0, buyer_notice_days=28, seller_notice_days=180,
                          early_exit_fee_months=1.0)  # fmt: skip
    book.sign(0, 1, 0, 1.0, "2027-01", terms)
    first = book.give_notice([0], "buyer", "2027-02")
    assert first.accepted.tolist() == [True] and month_label(first.ended_month[0]) == "2027-03"
    again = book.give_notice([0], "buyer", "2027-02")
    later = book.give_notice([0], "seller", "2027-02")
    assert again.accepted.tolist() == [False] and later.accepted.tolist() == [False]
    assert month_label(book.ended_month[0]) == "2027-03"
    assert END_REASONS[book.end_reason[0]] == "buyer_notice"
    assert book.exit_fee_usd[0] == pytest.approx(100.0)


def test_notice_near_the_end_is_capped_and_refused_when_it_changes_nothing() -> None:
    book = ContractBook()
    book.sign(0, 1, 0, 1.0, "2027-01", dataclasses.replace(LEASE, ramp_months=0).with_tenor(3))
    assert book.give_notice([0], "buyer", "2027-02").accepted.tolist() == [False]
    assert month_label(book.ended_month[0]) == "2027-04"
    assert book.give_notice([0], "seller", "2027-01", date="2027-01-01").accepted.tolist() == [
        False  # 2027-04-01: the scheduled end anyway
    ]


def test_notice_errors() -> None:
    book, cid = colossus_book()
    with pytest.raises(ValueError, match="by must be"):
        book.give_notice([cid], "owner", "2027-02")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ids\[1\] = 5"):
        book.give_notice([cid, 5], "buyer", "2027-02")
    with pytest.raises(ValueError, match="duplicates"):
        book.recall([cid, cid], "2027-02")
    with pytest.raises(ValueError, match="integer"):
        book.give_notice([0.0], "buyer", "2027-02")
    assert book.give_notice([], "buyer", "2027-02").accepted.size == 0


def test_ended_contracts_never_bill_again() -> None:
    book = ContractBook()
    book.sign([0, 0], [1, 1], 0, 1.0, "2027-01", template("spot").with_price(10.0))
    assert book.bill("2027-01").usd.tolist() == [10.0, 10.0]
    assert book.bill("2027-01").contract.size == 0  # same month twice: nothing new
    assert book.billed_usd.tolist() == [10.0, 10.0]
    assert book.last_billed_month.tolist() == [M("2027-01")] * 2
    assert book.expire("2027-02").tolist() == [0, 1]
    assert book.expire("2027-02").size == 0
    for m in range(M("2027-02"), M("2028-01")):
        assert book.bill(m).contract.size == 0
    assert book.billed_usd.tolist() == [10.0, 10.0]


def test_seller_default_ends_all_its_contracts() -> None:
    book = ContractBook()
    spot = template("spot").with_tenor(24).with_price(1.0)
    book.sign([0, 1, 2, 0], [5, 5, 6, 5], 0, 1.0, ["2027-01", "2027-01", "2027-01", "2027-09"],
              spot)  # fmt: skip
    book.bill("2027-01")
    ended = book.default_seller(5, "2027-02")
    assert ended.tolist() == [0, 1, 3]
    assert [END_REASONS[r] for r in book.end_reason] == ["seller_default"] * 2 + ["live"] + [
        "seller_default"
    ]
    assert book.ended.tolist() == [True, True, False, True]
    assert book.ended_month.tolist() == [M("2027-02"), M("2027-02"), M("2029-01"), M("2027-09")]
    assert book.bill("2027-02").contract.tolist() == [2]
    assert book.bill("2027-10").contract.tolist() == [2]  # the forward contract never bills
    assert book.default_seller(5, "2027-03").size == 0
    assert book.default_buyer([2], "2027-11").tolist() == [2]
    assert END_REASONS[book.end_reason[2]] == "buyer_default"
    assert book.committed_h100e("2027-11").sum() == 0.0


# --- Queries, transfers and output -------------------------------------------------------------
def test_committed_and_held_capacity() -> None:
    book = ContractBook()
    book.sign([0, 1, 1], [2, 2, 3], [0, 0, 1], [10.0, 20.0, 5.0], ["2027-01", "2027-02", "2027-01"],
              template("spot").with_tenor(6))  # fmt: skip
    assert book.committed_h100e("2027-01", n=2).tolist() == [10.0, 5.0]
    assert book.committed_h100e("2027-02", by="seller", n=4).tolist() == [0, 0, 30.0, 5.0]
    assert book.held_h100e("2027-02", n_buyers=2).tolist() == [10.0, 25.0]
    assert book.live("2027-07").tolist() == [False, True, False]
    assert book.ramping("2027-01").tolist() == [False, False, False]
    with pytest.raises(ValueError, match="by must be"):
        book.committed_h100e("2027-01", by="region")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n=2"):
        book.committed_h100e("2027-02", by="seller", n=2)


def test_monthly_fee_and_ramping_follow_delivery() -> None:
    book, cid = colossus_book()
    # the ramp discount applies while the capacity is not all delivered, within the ramp months
    assert book.ramping("2026-06").tolist() == [False]  # all delivered
    assert book.ramping("2026-06", delivered_share=[0.5]).tolist() == [True]
    assert book.ramping("2027-06", delivered_share=[0.5]).tolist() == [False]  # past 12 months
    assert book.monthly_fee_usd("2026-05")[cid] == pytest.approx(1.25e9)
    assert book.monthly_fee_usd("2026-05", delivered_share=[0.5])[cid] == pytest.approx(0.3125e9)
    assert book.monthly_fee_usd("2027-06", delivered_share=[0.5])[cid] == pytest.approx(0.625e9)
    assert book.monthly_fee_usd("2026-04")[cid] == 0.0


def test_delivered_share_is_online_over_committed_per_site() -> None:
    book = ContractBook()
    # site 0: 100 H100e committed in two contracts, 50 online; site 1: 30 committed, 60 online
    book.sign([0, 2, 0], [1, 1, 1], [0, 0, 1], [60.0, 40.0, 30.0], "2027-01", LEASE)
    share = book.delivered_share("2027-01", [50.0, 60.0])
    assert share.tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert book.delivered_share("2026-12", [50.0, 60.0]).tolist() == [0.0, 0.0, 0.0]  # not live
    bill = book.bill("2027-01", delivered_share=share)
    price = LEASE.usd_per_h100e_month
    # half delivered inside the ramp: half the fee at 50% off; all delivered: the full fee
    assert bill.usd.tolist() == pytest.approx([60 * price * 0.25, 40 * price * 0.25, 30 * price])
    with pytest.raises(ValueError, match="delivered_share"):
        book.bill("2027-02", delivered_share=[1.5, 1.0, 1.0])


def test_recall_order_follows_priority_then_notice_then_end_not_price() -> None:
    book = ContractBook()
    cheap_long = LEASE.with_tenor(36)
    dear_short = LEASE.with_tenor(12)
    last = dataclasses.replace(LEASE, recall_priority=1)
    ids = book.sign([0, 0, 0, 0], 1, 0, 10.0, "2027-01", [cheap_long, dear_short, last, cheap_long],
                    usd_per_h100e_month=[100.0, 900.0, 50.0, 100.0],
                    signed_month=["2026-01", "2026-06", "2026-06", "2026-09"])
    # the 12-month lease ends first; of the two equal 36-month ones the newest (id 3) goes
    # first; the priority-1 lease last, although it is the cheapest
    assert book.recall_order(ids).tolist() == [1, 3, 0, 2]
    assert book.recall_order(ids[::-1]).tolist() == [1, 3, 0, 2]


def test_seller_notice_pays_the_seller_exit_fee() -> None:
    book = ContractBook()
    terms = dataclasses.replace(LEASE, seller_exit_fee_months=0.5)
    cid = book.sign(0, 1, 0, 10.0, "2027-01", terms, usd_per_h100e_month=100.0)[0]
    result = book.give_notice([cid], "seller", "2027-03")
    assert result.accepted.tolist() == [True]
    assert result.transfers.payer.tolist() == [1] and result.transfers.payee.tolist() == [0]
    assert result.transfers.usd.tolist() == pytest.approx([500.0])
    assert [TRANSFER_KINDS[k] for k in result.transfers.kind] == ["seller_exit_fee"]
    assert book.seller_exit_fee_usd[cid] == pytest.approx(500.0)
    assert book.net_usd(2).tolist() == pytest.approx([500.0, -500.0])


def test_transfers_move_money_between_agents() -> None:
    transfers = Transfers.concat(
        [
            Transfers(np.array([0, 1]), np.array([0, 0]), np.array([2, 3]), np.array([5.0, 7.0]),
                      np.zeros(2, dtype=np.int8)),  # fmt: skip
            Transfers.empty(),
            Transfers(np.array([2]), np.array([3]), np.array([0]), np.array([1.0]),
                      np.full(1, 2, dtype=np.int8)),  # fmt: skip
        ]
    )
    cash = np.full(4, 100.0)
    transfers.apply(cash)
    assert cash.tolist() == [89.0, 100.0, 105.0, 106.0]
    assert transfers.net_usd(4).tolist() == [-11.0, 0.0, 5.0, 6.0]
    assert len(transfers) == 3 and transfers.total_usd == 13.0
    with pytest.raises(ValueError, match="payee"):
        Transfers(np.array([0]), np.array([0]), np.array([1, 2]), np.array([1.0]),
                  np.zeros(1, dtype=np.int8))  # fmt: skip


def test_to_frame_one_row_per_contract() -> None:
    book, cid = colossus_book()
    book.sign(2, OWNER, 1, 100.0, "2026-06", template("spot").with_price(3000.0))
    bills_by_month(book, "2026-05", "2026-08")
    book.recall([cid], "2026-08")
    book.expire("2026-08")
    frame = book.to_frame(agent_names=["lab", "owner", "small_lab"], site_names=["colossus", "x"])
    assert len(frame) == 2
    row = frame.iloc[0]
    assert row["template"] == "colossus_lease" and row["buyer"] == "lab"
    assert row["seller"] == "owner" and row["site"] == "colossus"
    assert row["start"] == pd.Timestamp("2026-05-01")
    assert row["signed"] == pd.Timestamp("2026-05-01")
    assert row["scheduled_end"] == pd.Timestamp("2029-05-01")
    assert row["end"] == pd.Timestamp("2026-11-01")  # 2026-08-01 + 90 days = 2026-10-30
    assert row["notice"] == pd.Timestamp("2026-08-01")
    assert row["end_reason"] == "recall" and not row["ended"]
    assert row["billed_usd"] == pytest.approx(1.25e9 * 4)  # all delivered: no ramp discount
    assert row["compensation_usd"] == pytest.approx(1.25e9) and row["exit_fee_usd"] == 0.0
    assert row["mw"] == COLOSSUS_LEASE_MW and row["tenor_months"] == 36
    spot_row = frame.iloc[1]
    assert spot_row["end_reason"] == "expired" and spot_row["ended"]
    assert pd.isna(spot_row["notice"]) and spot_row["billed_usd"] == pytest.approx(300_000.0)
    for column in ("signed", "start", "scheduled_end", "end", "notice"):
        assert pd.api.types.is_datetime64_any_dtype(frame[column])
    assert ContractBook().to_frame().empty


# --- Property test against a slow reference ---------------------------------------------------
N_AGENTS = 5
CAPACITY = [60.0, 40.0, 100.0]
TERMS = [
    ContractTerms("lease", 6, 10.0, ramp_months=2, ramp_discount=0.5, recall=True,
                  recall_notice_days=30, recall_compensation_months=1.0),  # fmt: skip
    ContractTerms("flex", 4, 5.0, take_or_pay=False, buyer_notice_days=0, seller_notice_days=45,
                  early_exit_fee_months=0.5, minimum_use_share=0.25,
                  seller_exit_fee_months=0.25),  # fmt: skip
    ContractTerms("locked", 5, 3.0, ramp_months=1, ramp_discount=0.25, buyer_notice_days=None,
                  seller_notice_days=None),  # fmt: skip
    ContractTerms("spot", 1, 8.0, buyer_notice_days=None, seller_notice_days=None),
]
REASON = {name: code for code, name in enumerate(END_REASONS)}


@dataclass
class Ref:
    """One contract of the slow reference ledger."""

    buyer: int
    seller: int
    site: int
    h100e: float
    price: float
    start: int
    end: int
    terms: ContractTerms
    ended_month: int
    reason: str = "live"
    ended: bool = False
    notice_month: int = -1
    last_billed: int = -1
    billed: float = 0.0
    exit_fee: float = 0.0
    compensation: float = 0.0
    seller_fee: float = 0.0


def ref_end(month: int, day: int, days: int) -> int:
    due = date(month // 12, month % 12 + 1, 1) + timedelta(days=day + days)
    return due.year * 12 + due.month - 1 + (0 if due.day == 1 else 1)


def ref_notice(refs: list[Ref], ids: list[int], kind: str, month: int, day: int) -> list[float]:
    """Apply notices/recalls one contract at a time; returns the USD each one moved."""
    moved = []
    for i in ids:
        c = refs[i]
        if kind == "buyer":
            days, fee_months = c.terms.buyer_notice_days, c.terms.early_exit_fee_months
        elif kind == "seller":
            days, fee_months = c.terms.seller_notice_days, c.terms.seller_exit_fee_months
        else:
            days = c.terms.recall_notice_days if c.terms.recall else None
            fee_months = c.terms.recall_compensation_months
        if days is None:
            continue
        new_end = min(max(ref_end(month, day, days), month, c.start), c.end)
        if new_end >= c.ended_month:
            continue
        c.ended_month, c.notice_month = new_end, month
        c.reason = {"buyer": "buyer_notice", "seller": "seller_notice"}.get(kind, "recall")
        usd = fee_months * c.h100e * c.price
        if kind == "recall":
            c.compensation += usd
        elif kind == "seller":
            c.seller_fee += usd
        else:
            c.exit_fee += usd
        if usd > 0:
            moved.append(usd)
    return moved


op_contract = st.tuples(
    st.integers(0, N_AGENTS - 1),  # buyer
    st.integers(1, N_AGENTS - 1),  # seller offset from the buyer
    st.integers(0, len(CAPACITY) - 1),  # site
    st.integers(1, 45),  # h100e (integers: sums are exact)
    st.integers(0, 3),  # start, months after now
    st.integers(0, len(TERMS) - 1),
    st.one_of(st.none(), st.integers(0, 50)),  # price override
)
notice_op = st.tuples(st.sampled_from(["buyer", "seller", "recall"]), st.integers(0, 2**31),
                      st.integers(0, 27))  # fmt: skip
default_op = st.tuples(st.sampled_from(["seller", "buyer"]), st.integers(0, N_AGENTS - 1))
# one month: maybe expire, sign a batch, give notices, default, bill, then move on 0 to 2 months
# (0: the same month is billed again, which must bill nothing new)
month_step = st.tuples(
    st.booleans(),
    st.lists(op_contract, max_size=3),
    st.one_of(st.none(), notice_op),
    st.one_of(st.none(), st.none(), st.none(), default_op),
    st.integers(0, 2**31),
    st.integers(0, 2),
)


class Harness:
    """Runs the same operations on a ContractBook and on the slow per-contract reference."""

    def __init__(self) -> None:
        self.book, self.refs = ContractBook(capacity=2), []
        self.month = M("2027-01")
        self.transfers: list[Transfers] = []

    def sign(self, rows: list[tuple]) -> None:
        book, refs, month = self.book, self.refs, self.month
        buyer = [r[0] for r in rows]
        seller = [(r[0] + r[1]) % N_AGENTS for r in rows]
        site = [r[2] for r in rows]
        h100e = [float(r[3]) for r in rows]
        start = [month + r[4] for r in rows]
        terms = [TERMS[r[5]] for r in rows]
        price = [float(TERMS[r[5]].usd_per_h100e_month if r[6] is None else r[6]) for r in rows]
        new = [
            Ref(b, s, si, q, p, m, m + t.tenor_months, t, m + t.tenor_months)
            for b, s, si, q, p, m, t in zip(buyer, seller, site, h100e, price, start, terms)
        ]
        over = any(
            sum(c.h100e for c in refs + new if c.site == n.site and c.start <= m < c.ended_month)
            > CAPACITY[n.site]
            for n in new
            for m in range(n.start, n.end)
        )
        n_before = len(book)
        try:
            ids = book.sign(buyer, seller, site, h100e, start, terms, usd_per_h100e_month=price,
                            signed_month=month, site_capacity_h100e=CAPACITY)  # fmt: skip
        except ValueError as err:
            assert over, str(err)
            assert "over-committed" in str(err) and len(book) == n_before
        else:
            assert not over
            assert ids.tolist() == list(range(n_before, n_before + len(rows)))
            refs.extend(new)

    def notice(self, who: str, seed: int, day: int) -> None:
        if not self.refs:
            return
        rng = np.random.default_rng(seed)
        ids = rng.choice(len(self.refs), size=rng.integers(1, len(self.refs) + 1), replace=False)
        month = self.month
        when = np.datetime64(date(month // 12, month % 12 + 1, 1)) + day
        if who == "recall":
            result = self.book.recall(ids, month, date=when)
        else:
            result = self.book.give_notice(ids, who, month, date=when)
        moved = ref_notice(self.refs, ids.tolist(), who, month, day)
        assert result.transfers.usd.tolist() == pytest.approx(moved)
        assert result.ended_month.tolist() == [self.refs[i].ended_month for i in ids]
        self.transfers.append(result.transfers)

    def bill(self, seed: int) -> None:
        book, month = self.book, self.month
        rng = np.random.default_rng(seed)
        share = rng.integers(0, 5, len(book)) / 4.0
        delivered = rng.integers(0, 3, len(book)) / 2.0
        ended_before = set(np.flatnonzero(book.ended).tolist())
        bill = book.bill(month, used_share=share, delivered_share=delivered)
        expected = {}
        for i, c in enumerate(self.refs):
            if c.start <= month < c.ended_month and c.last_billed < month:
                fee = c.h100e * c.price * delivered[i]
                if month - c.start < c.terms.ramp_months and delivered[i] < 1:
                    fee *= 1.0 - c.terms.ramp_discount
                if not c.terms.take_or_pay:
                    fee *= max(share[i], c.terms.minimum_use_share)
                c.billed += fee
                c.last_billed = month
                expected[i] = fee
        order = sorted(expected)
        assert bill.contract.tolist() == order
        assert bill.usd.tolist() == pytest.approx([expected[i] for i in order])
        assert not ended_before & set(order)  # an ended contract never bills again
        assert bill.buyer.tolist() == [self.refs[i].buyer for i in order]
        assert bill.seller.tolist() == [self.refs[i].seller for i in order]
        self.transfers.append(bill.transfers)

    def expire(self) -> None:
        done, expected = self.book.expire(self.month), []
        for i, c in enumerate(self.refs):
            if not c.ended and c.ended_month <= self.month:
                c.ended = True
                c.reason = "expired" if c.reason == "live" else c.reason
                expected.append(i)
        assert done.tolist() == expected

    def default(self, side: str, agent: int) -> None:
        method = self.book.default_seller if side == "seller" else self.book.default_buyer
        done, expected = method(agent, self.month), []
        for i, c in enumerate(self.refs):
            party = c.seller if side == "seller" else c.buyer
            if party == agent and not c.ended and c.ended_month > self.month:
                c.ended_month = max(self.month, c.start)
                c.reason, c.ended = f"{side}_default", True
                expected.append(i)
        assert done.tolist() == expected

    def check(self) -> None:
        """The whole ledger agrees with the reference; no site is over-committed."""
        book, refs = self.book, self.refs
        assert len(book) == len(refs)
        assert book.ended_month.tolist() == [c.ended_month for c in refs]
        assert [END_REASONS[r] for r in book.end_reason] == [c.reason for c in refs]
        assert book.ended.tolist() == [c.ended for c in refs]
        assert book.notice_month.tolist() == [c.notice_month for c in refs]
        assert book.billed_usd.tolist() == pytest.approx([c.billed for c in refs])
        assert book.exit_fee_usd.tolist() == pytest.approx([c.exit_fee for c in refs])
        assert book.compensation_usd.tolist() == pytest.approx([c.compensation for c in refs])
        assert book.seller_exit_fee_usd.tolist() == pytest.approx([c.seller_fee for c in refs])
        assert book.last_billed_month.tolist() == [c.last_billed for c in refs]
        # the open index and the per-month cache of live ids answer as a scan of every
        # contract would, for months before the last expiry too
        for m in range(self.month - 3, self.month + 10):
            live = [i for i, c in enumerate(refs) if c.start <= m < c.ended_month]
            assert book.live_ids(m).tolist() == live
            assert np.flatnonzero(book.live(m)).tolist() == live
        for m in range(self.month, self.month + 10):
            assert (book.committed_h100e(m, n=len(CAPACITY)) <= np.asarray(CAPACITY)).all()
        # committed H100e per seller (kept per month until who is live then changes) as a
        # scan of every contract adds it up
        for m in range(self.month - 3, self.month + 10):
            scan = np.zeros(N_AGENTS)
            for c in refs:
                if c.start <= m < c.ended_month:
                    scan[c.seller] += c.h100e
            assert book.committed_h100e(m, by="seller", n=N_AGENTS).tolist() == pytest.approx(
                scan.tolist())

    def check_money(self) -> None:
        """Every dollar paid by one agent is received by another; totals match the ledger."""
        book = self.book
        moved = Transfers.concat(self.transfers)
        net = moved.net_usd(N_AGENTS)
        assert net.sum() == pytest.approx(0.0, abs=1e-6)
        np.testing.assert_allclose(net, book.net_usd(N_AGENTS), atol=1e-6)
        paid = book.billed_usd.sum() + book.exit_fee_usd.sum()
        back = book.compensation_usd.sum() + book.seller_exit_fee_usd.sum()
        assert moved.usd[moved.kind <= 1].sum() == pytest.approx(paid)
        assert book.paid_by_buyers_usd == pytest.approx(paid)
        assert book.received_by_sellers_usd == pytest.approx(paid)
        assert book.paid_by_sellers_usd == pytest.approx(back)
        assert book.received_by_buyers_usd == pytest.approx(back)
        cash = np.zeros(N_AGENTS)
        moved.apply(cash)
        np.testing.assert_allclose(cash, net, atol=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(month_step, min_size=1, max_size=10))
def test_book_matches_slow_reference(steps: list[tuple]) -> None:
    run = Harness()
    for expire_first, rows, notice, default, bill_seed, advance in steps:
        if expire_first:
            run.expire()
        if rows:
            run.sign(rows)
        if notice is not None:
            run.notice(*notice)
        if default is not None:
            run.default(*default)
        run.bill(bill_seed)
        run.check()
        run.month += advance
    run.check_money()
