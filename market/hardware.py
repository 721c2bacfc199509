"""GPU generations and the unit conversions between GPUs, MW, H100e and dollars.

The traded unit is the H100-equivalent (H100e): one GPU of generation g counts
``h100e_per_gpu`` H100e, the market's price ratio per GPU-hour to an H100 where one is published
(B200 and GB200: about 2.0, cal:px.b200 against cal:px.h100_index), each with its source in the
``h100e_source`` column of ``data/gpu_generations.csv``. GPUs per MW come from all-in facility
power per GPU (``facility_kw_per_gpu``, cal:hw.facility).

Seller cost (docs/model.md section 5): the capex of one H100e (GPU plus facility share) recovered
as an annuity over the useful life at the seller's cost of capital, plus power and operations per
month. For an H100 at the defaults this is about $1.2k per H100e-month, $1.6 per hour, which
matches the published break-even of about $1.65 per hour (cal:px.breakeven).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from market.calendar import month_index

HOURS_PER_MONTH = 730.0
"""Average hours in a month (8,760 / 12), used for every $/hour <-> $/month conversion."""

FACILITY_CAPEX_USD_PER_MW = 10.5e6
"""Facility share of capex per MW of IT load (shell, power, cooling, network), so that an H100 site
comes to about $30M per MW all-in: 650 GPUs x $30k = $19.5M plus $10.5M (cal:hw.capex_mw, Epoch's
$27M to $32M per MW)."""


@dataclass(frozen=True)
class Generation:
    """One GPU generation, as in ``data/gpu_generations.csv``."""

    name: str
    available_month: int
    it_kw_per_gpu: float
    gpus_per_mw: float
    h100e_per_gpu: float
    usd_per_gpu: float

    @property
    def h100e_per_mw(self) -> float:
        """H100e per MW of all-in facility power (cal:hw.facility)."""
        return self.gpus_per_mw * self.h100e_per_gpu

    @property
    def capex_usd_per_h100e(self) -> float:
        """Installed capex per H100e: GPU and server plus the facility share."""
        return self.usd_per_gpu / self.h100e_per_gpu + FACILITY_CAPEX_USD_PER_MW / self.h100e_per_mw


@dataclass(frozen=True)
class CostParams:
    """Economy-wide cost parameters (cal:hw.pue, cal:hw.life, cal:px.breakeven)."""

    power_usd_per_kwh: float = 0.08
    pue: float = 1.2
    ops_usd_per_gpu_month: float = 120.0
    wacc_per_year: float = 0.10
    life_months: int = 60

    def __post_init__(self) -> None:
        for field in ("power_usd_per_kwh", "pue", "ops_usd_per_gpu_month", "wacc_per_year"):
            value = getattr(self, field)
            if not value >= 0:
                raise ValueError(f"costs.{field} = {value!r}: must be >= 0")
        if self.pue < 1:
            raise ValueError(f"costs.pue = {self.pue!r}: must be >= 1")
        if self.life_months < 1:
            raise ValueError(f"costs.life_months = {self.life_months!r}: must be >= 1")


def annuity_factor(rate_per_year: float, months: int) -> float:
    """Monthly payment per dollar of capex repaid over ``months`` at ``rate_per_year``."""
    r = rate_per_year / 12.0
    if r == 0:
        return 1.0 / months
    return r / (1.0 - (1.0 + r) ** (-months))


def opex_usd_per_h100e_month(gen: Generation, costs: CostParams) -> float:
    """Cash cost of running one H100e for a month: power at PUE plus operations."""
    power = gen.it_kw_per_gpu * costs.pue * HOURS_PER_MONTH * costs.power_usd_per_kwh
    return (power + costs.ops_usd_per_gpu_month) / gen.h100e_per_gpu


def capital_usd_per_h100e_month(gen: Generation, costs: CostParams) -> float:
    """Capital charge per H100e-month: the capex annuity over the useful life."""
    return gen.capex_usd_per_h100e * annuity_factor(costs.wacc_per_year, costs.life_months)


def levelized_usd_per_h100e_month(gen: Generation, costs: CostParams) -> float:
    """Full cost per H100e-month at full use: capital charge plus opex."""
    return capital_usd_per_h100e_month(gen, costs) + opex_usd_per_h100e_month(gen, costs)


def usd_per_hour(usd_per_h100e_month: float) -> float:
    """Convert a price per H100e-month into dollars per H100e-hour."""
    return usd_per_h100e_month / HOURS_PER_MONTH


def usd_per_gpu_hour(usd_per_h100e_month: float, gen: Generation) -> float:
    """Convert a price per H100e-month into dollars per GPU-hour of generation ``gen``."""
    return usd_per_h100e_month * gen.h100e_per_gpu / HOURS_PER_MONTH


def usd_per_mw_month(usd_per_h100e_month: float, gen: Generation) -> float:
    """Convert a price per H100e-month into dollars per MW-month for capacity of ``gen``."""
    return usd_per_h100e_month * gen.h100e_per_mw


@cache
def generations() -> dict[str, Generation]:
    """The generation table shipped in ``market/data/gpu_generations.csv`` (Epoch AI, CC-BY)."""
    out: dict[str, Generation] = {}
    text = resources.files("market").joinpath("data/gpu_generations.csv").read_text()
    for row in csv.DictReader(text.splitlines()):
        name = row["generation"]
        out[name] = Generation(
            name=name,
            available_month=month_index(row["available"]),
            it_kw_per_gpu=float(row["it_kw_per_gpu"]),
            gpus_per_mw=1000.0 / float(row["facility_kw_per_gpu"]),
            h100e_per_gpu=float(row["h100e_per_gpu"]),
            usd_per_gpu=float(row["price_per_gpu_usd"]),
        )
    return out


def generation(name: str) -> Generation:
    """Look up a generation by name; the error lists the valid names."""
    table = generations()
    if name not in table:
        raise ValueError(f"unknown GPU generation {name!r}; valid: {', '.join(table)}")
    return table[name]


def newest_generation(month: int) -> Generation:
    """The most recent generation available at ``month`` (what a new site installs)."""
    available = [g for g in generations().values() if g.available_month <= month]
    if not available:
        raise ValueError(f"no GPU generation is available at month index {month}")
    return max(available, key=lambda g: g.available_month)
