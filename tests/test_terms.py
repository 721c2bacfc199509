"""ContractTerms validation, fees, and the named templates (docs/model.md section 6, cal:deal.*)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from market.calendar import month_index, month_label
from market.terms import (
    CLAUSES,
    COLOSSUS_LEASE_FILED_GPUS,
    COLOSSUS_LEASE_FILED_H100E,
    COLOSSUS_LEASE_GPUS,
    COLOSSUS_LEASE_H100E,
    COLOSSUS_LEASE_MW,
    COLOSSUS_LEASE_SIGNED,
    COLOSSUS_LEASE_START_MONTH,
    COLOSSUS_LEASE_USD_PER_H100E_MONTH,
    COLOSSUS_LEASE_USD_PER_MONTH,
    TEMPLATES,
    ContractTerms,
    bill_usd,
    template,
)

HOURS_PER_MONTH = 730.0


def make(**changes: Any) -> ContractTerms:
    base: dict[str, Any] = {"name": "t", "tenor_months": 12, "usd_per_h100e_month": 1000.0}
    base.update(changes)
    return ContractTerms(**base)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("tenor_months", 0),
        ("tenor_months", -3),
        ("tenor_months", 1.5),
        ("tenor_months", True),
        ("usd_per_h100e_month", -1.0),
        ("usd_per_h100e_month", math.nan),
        ("usd_per_h100e_month", math.inf),
        ("usd_per_h100e_month", "1000"),
        ("ramp_months", 13),
        ("ramp_months", -1),
        ("ramp_discount", 1.5),
        ("ramp_discount", -0.1),
        ("ramp_discount", math.nan),
        ("take_or_pay", 1),
        ("buyer_notice_days", -1),
        ("seller_notice_days", 30.5),
        ("recall", "yes"),
        ("recall_notice_days", -5),
        ("recall_notice_days", None),
        ("recall_compensation_months", -1.0),
        ("early_exit_fee_months", math.nan),
    ],
)
def test_invalid_field_raises_naming_it(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        make(**{field: value})


def test_valid_terms_normalise_numpy_scalars() -> None:
    terms = make(tenor_months=np.int64(24), usd_per_h100e_month=np.float32(2.5), ramp_months=2)
    assert type(terms.tenor_months) is int and terms.tenor_months == 24
    assert type(terms.usd_per_h100e_month) is float and terms.usd_per_h100e_month == 2.5
    assert make(buyer_notice_days=None).buyer_can_exit is False
    assert make().seller_can_exit is True


def test_terms_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().tenor_months = 3  # type: ignore[misc]


def test_with_price_and_with_tenor_copy_and_validate() -> None:
    terms = make(ramp_months=2, ramp_discount=0.5)
    cheaper = terms.with_price(800.0)
    assert cheaper.usd_per_h100e_month == 800.0 and terms.usd_per_h100e_month == 1000.0
    assert cheaper.ramp_months == 2 and cheaper.name == "t"
    assert terms.with_tenor(36).tenor_months == 36
    with pytest.raises(ValueError, match="usd_per_h100e_month"):
        terms.with_price(-1.0)
    with pytest.raises(ValueError, match="ramp_months"):
        terms.with_tenor(1)  # the 2-month ramp no longer fits


def test_monthly_fee_ramp_by_delivery_and_term() -> None:
    terms = make(ramp_months=2, ramp_discount=0.25)
    # all delivered: no discount, ramp months or not
    assert terms.monthly_fee(10.0, 0) == pytest.approx(10000.0)
    # half delivered inside the ramp months: half the capacity billed, 25% off
    assert terms.monthly_fee(10.0, 1, delivered_share=0.5) == pytest.approx(3750.0)
    # half delivered after the ramp months: half billed, full rate
    assert terms.monthly_fee(10.0, 2, delivered_share=0.5) == pytest.approx(5000.0)
    assert terms.monthly_fee(10.0, 0, delivered_share=0.0) == 0.0  # nothing built, nothing billed
    assert terms.monthly_fee(10.0, 11) == pytest.approx(10000.0)
    assert terms.monthly_fee(10.0, 12) == 0.0  # after the tenor
    assert terms.monthly_fee(10.0, -1) == 0.0  # before the start
    fees = terms.monthly_fee(np.array([1.0, 2.0, 3.0]), np.array([0, 2, 12]),
                             delivered_share=np.array([0.5, 0.5, 1.0]))
    assert fees.tolist() == pytest.approx([375.0, 1000.0, 0.0])


def test_take_or_pay_bills_the_commitment_pay_as_used_bills_use() -> None:
    used = 0.3
    take = make(take_or_pay=True)
    flexible = make(take_or_pay=False)
    floor = make(take_or_pay=False, minimum_use_share=0.5)
    assert take.monthly_fee(10.0, 3, used_share=used) == pytest.approx(10000.0)
    assert flexible.monthly_fee(10.0, 3, used_share=used) == pytest.approx(3000.0)
    assert floor.monthly_fee(10.0, 3, used_share=used) == pytest.approx(5000.0)  # the minimum
    assert floor.monthly_fee(10.0, 3, used_share=0.8) == pytest.approx(8000.0)
    # use is a share of what is delivered
    assert flexible.monthly_fee(10.0, 3, delivered_share=0.5, used_share=0.5) == pytest.approx(
        2500.0)


def test_bill_usd_is_the_one_formula() -> None:
    fee = bill_usd(np.array([100.0, 100.0, 100.0, 100.0]),
                   delivered_share=np.array([1.0, 0.5, 0.5, 1.0]),
                   used_share=np.array([0.2, 0.2, 0.2, 0.2]),
                   month_of_contract=np.array([0, 0, 1, 1]), ramp_months=1, ramp_discount=0.5,
                   take_or_pay=np.array([True, True, False, False]),
                   minimum_use_share=np.array([0.0, 0.0, 0.0, 0.6]))
    assert fee.tolist() == pytest.approx([100.0, 25.0, 10.0, 60.0])


def test_escalation_raises_the_fee_at_each_anniversary_not_compounded() -> None:
    terms = make(tenor_months=36, escalation_per_year=0.1)
    fees = terms.monthly_fee(10.0, np.arange(36))
    assert fees[:12].tolist() == pytest.approx([10000.0] * 12)
    assert fees[12:24].tolist() == pytest.approx([11000.0] * 12)
    assert fees[24:].tolist() == pytest.approx([12000.0] * 12)  # +10% of the signed fee, twice
    assert terms.full_term_value(10.0) == pytest.approx(fees.sum(), rel=1e-12)
    with pytest.raises(ValueError, match=r"escalation_per_year must be in \[0.0, 1.0\]"):
        make(escalation_per_year=-0.01)


def test_every_clause_is_a_field_of_the_terms() -> None:
    fields = {f.name for f in dataclasses.fields(ContractTerms)}
    assert set(CLAUSES) <= fields
    assert fields - set(CLAUSES) == {"name", "tenor_months"}
    for name, (_dtype, _init, doc) in CLAUSES.items():
        assert doc, name


def test_full_term_value_is_the_sum_of_monthly_fees() -> None:
    terms = make(tenor_months=36, ramp_months=3, ramp_discount=0.4)
    monthly = terms.monthly_fee(50.0, np.arange(36))
    assert terms.full_term_value(50.0) == pytest.approx(monthly.sum(), rel=1e-12)
    assert terms.full_term_value(50.0) == pytest.approx(50 * 1000.0 * 36)


def test_templates_exist_with_their_rules() -> None:
    assert set(TEMPLATES) == {
        "colossus_lease",
        "hyperscaler_reservation",
        "neocloud_take_or_pay",
        "spot",
    }
    for name, terms in TEMPLATES.items():
        assert terms.name == name
        assert template(name) is terms
    lease = template("colossus_lease")
    assert (lease.tenor_months, lease.ramp_months, lease.ramp_discount) == (36, 12, 0.5)
    assert lease.buyer_notice_days == lease.seller_notice_days == 90
    assert lease.recall and lease.recall_notice_days == 90
    assert lease.recall_compensation_months == 1.0 and lease.take_or_pay
    reserved = template("hyperscaler_reservation")
    assert reserved.tenor_months == 12 and not reserved.recall
    assert reserved.buyer_notice_days == 90 and reserved.early_exit_fee_months == 3.0
    assert reserved.seller_notice_days is None and reserved.take_or_pay
    neocloud = template("neocloud_take_or_pay")
    assert neocloud.tenor_months == 36 and neocloud.take_or_pay and not neocloud.recall
    assert neocloud.buyer_notice_days is None and neocloud.seller_notice_days is None
    spot = template("spot")
    assert spot.tenor_months == 1 and not spot.recall
    assert spot.buyer_notice_days is None and spot.seller_notice_days is None
    for name in ("hyperscaler_reservation", "neocloud_take_or_pay", "spot"):
        assert template(name).usd_per_h100e_month == 0.0  # set by the market via with_price


def test_unknown_template_names_the_nearest() -> None:
    with pytest.raises(ValueError, match="colosus_lease") as err:
        template("colosus_lease")
    message = str(err.value)
    assert "did you mean 'colossus_lease'?" in message
    for name in TEMPLATES:
        assert name in message
    with pytest.raises(ValueError, match="did you mean 'spot'"):
        template("spott")


def test_colossus_lease_price_arithmetic() -> None:
    # cal:deal.price $1.25B/month; cal:deal.capacity 300 MW, over 220k GPUs (230k here: 150k
    # H100, 50k H200, 30k GB200); 280k H100e at the market factors 1.0 / 1.4 / 2.0
    assert COLOSSUS_LEASE_MW == 300 and COLOSSUS_LEASE_GPUS == 230_000
    assert COLOSSUS_LEASE_H100E == 150_000 * 1.0 + 50_000 * 1.4 + 30_000 * 2.0
    # filed: ~325k GPUs, all 125k GB200 of Colossus 2
    assert COLOSSUS_LEASE_FILED_H100E == 150_000 * 1.0 + 50_000 * 1.4 + 125_000 * 2.0
    assert COLOSSUS_LEASE_FILED_GPUS == 150_000 + 50_000 + 125_000
    assert COLOSSUS_LEASE_USD_PER_H100E_MONTH == COLOSSUS_LEASE_USD_PER_MONTH / 280_000
    lease = template("colossus_lease")
    assert lease.usd_per_h100e_month == COLOSSUS_LEASE_USD_PER_H100E_MONTH
    assert lease.usd_per_h100e_month == pytest.approx(4464.29, abs=0.01)
    per_hour = lease.usd_per_h100e_month / HOURS_PER_MONTH
    assert 3.1 <= per_hour <= 6.2  # cal:deal.unit_price
    per_mw_month = COLOSSUS_LEASE_USD_PER_MONTH / COLOSSUS_LEASE_MW
    assert per_mw_month == pytest.approx(4.17e6, rel=1e-3)  # cal:deal.unit_price
    assert lease.monthly_fee(COLOSSUS_LEASE_H100E, 5) == pytest.approx(1.25e9, rel=1e-12)
    value = lease.full_term_value(COLOSSUS_LEASE_H100E)
    assert value > 40e9  # cal:deal.price "worth more than $40B if run to term"
    assert value == pytest.approx(36 * 1.25e9, rel=1e-12)
    assert month_label(COLOSSUS_LEASE_START_MONTH) == "2026-05"
    assert COLOSSUS_LEASE_SIGNED == month_index("2026-05")  # announced 2026-05-06
