"""Typed configuration of a simulated world: frozen dataclasses, validated on construction.

A world is labs (buyers), sellers (owners, hyperscalers, neoclouds) with their sites, regions
(permitting, opposition, power headroom), contract templates, preloaded contracts and shocks.
Scenario files (``market/scenarios/*.toml``) are parsed into these values by
``market.scenarios``; Python users can build or ``dataclasses.replace`` them directly.

Units are in the field names: ``h100e`` (H100-equivalents), ``mw`` (MW of IT load), ``usd``,
``_months``, ``_days``; dates are ``"YYYY-MM"`` strings.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from market import kinds
from market._memory import gc_paused
from market.calendar import month_index, month_label
from market.hardware import CostParams, generation, generations
from market.strategies import STRATEGIES
from market.terms import ContractTerms, template

SITE_STATUSES: tuple[str, ...] = ("planned", "permitting", "construction", "online", "scheduled")
SHOCK_KINDS: tuple[str, ...] = ("recall", "seller_exit", "investor_appetite")
MAX_MONTHS = 1_200
"""Longest run, in months (a century): a guard against typos such as ``months = 48000``."""
NAME_MAX_CHARS = 100
_SAFE_NAME = re.compile(r"[\w][\w.+-]*")


def _check(cond: bool, where: str, value: object, why: str) -> None:
    if not cond:
        raise ValueError(f"{where} = {value!r}: {why}")


def _monthly_rate(obj: object, prefix: str, *names: str, low: float = 0.0) -> None:
    """Monthly log growth rates and volatilities that enter an exponential: finite, in
    [``low``, 1] (1 is an e-fold a month; far beyond it the arithmetic overflows)."""
    for n in names:
        v = getattr(obj, n)
        _check(isinstance(v, (int, float)) and math.isfinite(v) and low <= v <= 1, f"{prefix}.{n}",
               v, f"must be a monthly rate in [{low:g}, 1]")


def _nonneg(obj: object, prefix: str, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        _check(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0, f"{prefix}.{n}", v,
               "must be a finite number >= 0")


def check_safe_name(where: str, value: object) -> str:
    """A name that becomes a file or folder name (scenario and study names): letters, digits,
    ``_``, ``-``, ``+`` and ``.`` (not first), at most ``NAME_MAX_CHARS``; never a path."""
    _check(isinstance(value, str) and len(value) <= NAME_MAX_CHARS
           and _SAFE_NAME.fullmatch(value) is not None, where, value,
           f"must be a plain name (letters, digits, '_', '-', '+', '.'; not starting with '.'; "
           f"at most {NAME_MAX_CHARS} characters): it names the output folder")
    return str(value)


def safe_name(text: str, fallback: str = "scenario") -> str:
    """``text`` made into a name that ``check_safe_name`` accepts (for names derived from file
    names): other characters become ``_``, leading dots go."""
    name = re.sub(r"[^\w.+-]", "_", text).lstrip(".")[:NAME_MAX_CHARS]
    return name or fallback


def near_hint(word: str, options: Iterable[str]) -> str:
    """``; did you mean 'X'?`` for the option nearest to a misspelt ``word`` (or "")."""
    near = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.5)
    return f"; did you mean {near[0]!r}?" if near else ""


def _duplicates(names: list[str]) -> list[str]:
    """Names listed more than once, sorted (linear in the number of names)."""
    return sorted(n for n, count in Counter(names).items() if count > 1)


def _month(where: str, value: str) -> int:
    try:
        return month_index(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where} = {value!r}: not a month like '2026-05' ({exc})") from None


@dataclass(frozen=True)
class Funding:
    """A committed raise of ``usd`` arriving at ``month``."""

    month: str
    usd: float

    def __post_init__(self) -> None:
        _month("funding.month", self.month)
        _nonneg(self, "funding", "usd")


@dataclass(frozen=True)
class LabConfig:
    """A lab: customer demand for inference, a training need, revenue and a budget
    (docs/model.md section 5)."""

    name: str
    kind: str = "frontier"
    """A buyer kind of ``market.kinds`` (``frontier``, ``small``)."""
    inference_h100e: float = 100_000.0
    """Inference need at the start, H100e (serving every customer)."""
    training_share: float = 0.8
    """Training need as a share of inference need (cal:dem.inference_share)."""
    growth_per_month: float = 0.08
    """Initial monthly growth of demand (cal:dem.anthropic: several-fold a year)."""
    growth_halflife_months: float = 24.0
    """Months for the growth rate to halve (demand growth decays)."""
    usd_per_served_h100e_month: float = 3_000.0
    """Revenue r per served inference H100e-month (about 1.4-1.8x the price, cal:dem.*)."""
    growth_premium: float = 0.5
    """Forward-looking premium on the value of inference capacity."""
    training_value_usd_per_h100e_month: float = 2_500.0
    """Strategic value of the first training H100e-month (at most r)."""
    value_decay: float = 1.0
    """How fast the value of training and growth compute falls: the last H100e of the training
    need is worth exp(-value_decay) of the first."""
    growth_volatility: float = 0.02
    """Monthly standard deviation of demand growth (a draw per lab and month, from the start)."""
    outside_share: float = 0.0
    """Share of its need the lab runs on compute outside this market (its cloud partners' own
    fleets, custom chips; cal:sup.ownership): it serves the most valuable needs first."""
    outside_usd_per_h100e_month: float = 0.0
    """What that outside compute costs the lab per H100e-month (spend, not a market price)."""
    cash_usd: float = 5e9
    funding: tuple[Funding, ...] = ()
    term_share: float = 0.7
    """Share of the forecast need the lab wants under term contracts."""
    tenor_months: int = 36
    """Preferred term tenor; must be one of the market's term tenors."""
    churn: float = 0.3
    """Share of unserved inference demand lost to competitors for good."""
    exit_premium: float = 0.5
    """Give notice when a contract's price exceeds the spot index by more than this share..."""
    exit_patience_months: int = 6
    """...for this many consecutive months."""
    runway_floor_months: float = 3.0
    """Give notice on term contracts when cash covers fewer months of spend than this."""
    strategy: str = "reference"

    def __post_init__(self) -> None:
        p = f"labs.{self.name}"
        _check(self.kind in kinds.names("buyer"), f"{p}.kind", self.kind,
               f"must be one of {', '.join(kinds.names('buyer'))}")
        _nonneg(self, p, "inference_h100e", "training_share", "growth_per_month",
                "value_decay", "growth_volatility",
                "usd_per_served_h100e_month", "growth_premium",
                "training_value_usd_per_h100e_month", "cash_usd", "runway_floor_months")
        _check(self.growth_halflife_months > 0, f"{p}.growth_halflife_months",
               self.growth_halflife_months, "must be > 0")
        _nonneg(self, p, "outside_usd_per_h100e_month")
        for n in ("term_share", "churn", "outside_share"):
            v = getattr(self, n)
            _check(0 <= v <= 1, f"{p}.{n}", v, "must lie in [0, 1]")
        _check(self.exit_premium >= 0, f"{p}.exit_premium", self.exit_premium, "must be >= 0")
        _check(self.exit_patience_months >= 1, f"{p}.exit_patience_months",
               self.exit_patience_months, "must be >= 1")


@dataclass(frozen=True)
class SiteConfig:
    """A data-center site: ``mw`` of IT load of one GPU ``generation`` in a region."""

    name: str
    mw: float
    generation: str = "H100"
    region: str = "us-south"
    status: str = "online"
    """planned, permitting, construction, online (at the scenario start), or scheduled:
    exogenous supply (orbital compute, an owner's own chips) that arrives at ``online`` with
    ``arrival_probability``, outside the grid and GPU caps."""
    online: str = "2025-01"
    """Month it came (or is scheduled to come) online; drives retirement after the useful life."""
    arrival_probability: float = 1.0
    """For exogenous supply (orbital, own chips): chance the scheduled site arrives at all."""
    ramp_months: int = 0
    """Months over which an energized site delivers its capacity, in equal phases (0: all at
    once); contracts on it bill only what is delivered (``market.book``)."""

    def __post_init__(self) -> None:
        p = f"sites.{self.name}"
        _check(math.isfinite(self.mw) and self.mw > 0, f"{p}.mw", self.mw, "must be > 0")
        try:
            generation(self.generation)
        except ValueError as exc:
            raise ValueError(f"{p}.generation = {self.generation!r}: {exc}") from None
        _check(self.status in SITE_STATUSES, f"{p}.status", self.status,
               f"must be one of {', '.join(SITE_STATUSES)}")
        _month(f"{p}.online", self.online)
        _check(0 <= self.arrival_probability <= 1, f"{p}.arrival_probability",
               self.arrival_probability, "must lie in [0, 1]")
        _check(self.ramp_months >= 0, f"{p}.ramp_months", self.ramp_months, "must be >= 0")


@dataclass(frozen=True)
class SellerConfig:
    """An owner, hyperscaler or neocloud with its sites and decision parameters
    (docs/model.md section 5)."""

    name: str
    kind: str
    """A seller kind of ``market.kinds`` (``owner``, ``hyperscaler``, ``neocloud``)."""
    sites: tuple[SiteConfig, ...] = ()
    cash_usd: float = 10e9
    own_need_h100e: float = 0.0
    """Internal need served first from own capacity (owner's models, hyperscaler's own AI work)."""
    own_need_growth_per_month: float = 0.0
    own_need_volatility: float = 0.0
    """Monthly log-volatility of the internal need."""
    reserve_margin: float = 0.1
    """Capacity kept above internal need before leasing the surplus."""
    markup: float = 0.3
    """Ask over cost for spot capacity (hyperscalers' list-price markup)."""
    hurdle_rate: float = 0.2
    """Invest when expected price x utilization beats levelized cost x (1 + hurdle)."""
    lead_time_months: int = 12
    """Construction lead time once permitted (owners fast, hyperscalers slow)."""
    build_site_mw: float = 200.0
    """Size of a new site when it invests."""
    capex_budget_usd_per_year: float = 0.0
    """Cap on new capex started per calendar year (0 = no new builds)."""
    lease_template: str = "spot"
    """Contract template of the term contracts it sells."""
    presale_ratio: float = 0.0
    """Neoclouds: share of existing capacity that must be under term contract before a new build."""
    debt_usd: float = 0.0
    interest_per_year: float = 0.0
    debt_to_backlog: float = 0.8
    """Neoclouds: lenders finance debt up to this share of the contracted backlog's revenue."""
    default_patience_months: int = 3
    """Months of negative cash before default (neoclouds)."""
    payout_above_months: float = 0.0
    """Cash it keeps, in months of opex and debt service; each month it pays out the rest to
    its owners (0: keeps all its cash)."""
    opportunism: float = 0.0
    """Exit premium: the seller gives notice on a lease once spot, net of the seller's exit fee
    spread over the months the notice frees, has stayed this share above the lease's price for
    ``exit_patience_months`` (0: never exits)."""
    exit_patience_months: int = 3
    """Months spot must stay above a lease by the exit premium before the seller gives notice."""
    region: str = "us-south"
    """Region of new builds."""
    strategy: str = "reference"

    def __post_init__(self) -> None:
        p = f"sellers.{self.name}"
        _check(self.kind in kinds.names("seller"), f"{p}.kind", self.kind,
               f"must be one of {', '.join(kinds.names('seller'))}")
        _monthly_rate(self, p, "own_need_volatility")
        _monthly_rate(self, p, "own_need_growth_per_month", low=-1.0)
        _nonneg(self, p, "cash_usd", "own_need_h100e", "reserve_margin",
                "markup", "hurdle_rate", "build_site_mw", "capex_budget_usd_per_year", "debt_usd",
                "interest_per_year", "debt_to_backlog", "payout_above_months")
        _check(self.lead_time_months >= 0, f"{p}.lead_time_months", self.lead_time_months,
               "must be >= 0")
        _check(0 <= self.presale_ratio <= 1, f"{p}.presale_ratio", self.presale_ratio,
               "must lie in [0, 1]")
        _check(math.isfinite(self.opportunism) and self.opportunism >= 0, f"{p}.opportunism",
               self.opportunism, "must be finite and >= 0")
        _check(self.exit_patience_months >= 1, f"{p}.exit_patience_months",
               self.exit_patience_months, "must be >= 1")
        try:
            template(self.lease_template)
        except ValueError as exc:
            raise ValueError(f"{p}.lease_template = {self.lease_template!r}: {exc}") from None


@dataclass(frozen=True)
class RegionConfig:
    """Permitting, opposition and power headroom of a region (cal:sup.grid, cal:sup.opposition)."""

    name: str
    permit_months_mean: float = 12.0
    permit_months_sigma: float = 0.5
    """Log-sd of the lognormal permitting delay."""
    opposition_probability: float = 0.05
    """Chance a site in permitting is cancelled by local opposition (cal:sup.opposition ~5%)."""
    power_headroom_mw_per_year: float = 2_000.0
    """MW of new IT load that the grid lets come online per calendar year."""
    term_tenors_months: tuple[int, ...] = ()
    """Tenors of the region's own term products (``term_12m_<region>``), filled from its sites
    only; none by default (the market's term products are filled from every region)."""

    def __post_init__(self) -> None:
        p = f"regions.{self.name}"
        _nonneg(self, p, "permit_months_mean", "permit_months_sigma", "power_headroom_mw_per_year")
        _check(all(isinstance(t, int) and t >= 2 for t in self.term_tenors_months)
               and not _duplicates(list(self.term_tenors_months)), f"{p}.term_tenors_months",
               self.term_tenors_months, "need distinct whole tenors >= 2 months")
        _check(0 <= self.opposition_probability <= 1, f"{p}.opposition_probability",
               self.opposition_probability, "must lie in [0, 1]")

    def __repr__(self) -> str:
        # a run's id hashes the world's repr: a region without products of its own keeps the
        # repr (and so the run ids) it had before regions could have them
        shown = [f.name for f in fields(self)
                 if f.name != "term_tenors_months" or self.term_tenors_months]
        return f"RegionConfig({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"


@dataclass(frozen=True)
class PreloadedContract:
    """A contract live at the start, such as the Colossus lease."""

    template: str
    buyer: str
    seller: str
    site: str
    h100e: float
    start: str
    usd_per_month: float | None = None
    """Full-rate fee per month; None keeps the template's price per H100e-month."""
    mw: float = 0.0

    def __post_init__(self) -> None:
        try:
            template(self.template)
        except ValueError as exc:
            raise ValueError(f"contracts.template = {self.template!r}: {exc}") from None
        _nonneg(self, "contracts", "h100e", "mw")
        _check(self.h100e > 0, "contracts.h100e", self.h100e, "must be > 0 (a contract of "
               "nothing has no price per H100e)")
        _month("contracts.start", self.start)


@dataclass(frozen=True)
class ShockConfig:
    """A scripted event at a month: an owner recall, or a seller exiting all its contracts."""

    kind: str
    month: str
    seller: str = ""
    """recall / seller_exit: the seller that acts."""
    share: float = 1.0
    """recall: share of the seller's recallable leased H100e it takes back."""
    factor: float = 1.0
    """investor_appetite: multiplies the market's investor appetite from this month on."""

    def __post_init__(self) -> None:
        _check(self.kind in SHOCK_KINDS, "shocks.kind", self.kind,
               f"must be one of {', '.join(SHOCK_KINDS)}")
        _month("shocks.month", self.month)
        _check(0 <= self.share <= 1, "shocks.share", self.share, "must lie in [0, 1]")
        _nonneg(self, "shocks", "factor")


@dataclass(frozen=True)
class MarketConfig:
    """Market design: term tenors, the k-rule, auction rule and price memory."""

    term_tenors_months: tuple[int, ...] = (12, 36)
    k: float = 0.5
    rule: str = "uniform"
    price_memory: float = 0.3
    """Weight of the newest clearing price in the reference price index (EMA)."""
    initial_spot_usd_per_h100e_month: float = 1_900.0
    """Reference spot price before the first clearing: $2.6 per H100e-hour (cal:px.h100_index)."""
    term_discount_per_year: float = 0.12
    """Sellers ask this much less per year of tenor for term capacity than for spot (reserved
    capacity is 30-50% below on-demand, cal:px.h100_2026)."""
    scarcity_markup: float = 1.5
    """Markup over levelized cost, as a multiple of it, that a fully used seller with a full
    backlog and nothing idle adds to its cost floor."""
    investor_appetite: float = 1.0
    """Funding per year as a multiple of a lab's annual revenue at its current growth
    (cal:dem.spend_ratio); shocks of kind investor_appetite move it."""
    raise_interval_months: float = 9.0
    """Mean months between a lab's funding rounds (the chance of a round is drawn monthly)."""
    appetite_volatility_per_month: float = 0.0
    """Monthly log-sd of the funding climate: investor appetite wanders around its level as a
    mean-reverting random walk (0: a fixed appetite, moved only by shocks)."""
    appetite_halflife_months: float = 12.0
    """Months for half of a deviation of the funding climate from its level to fade."""
    share_volatility_per_month: float = 0.0
    """Monthly sd of the shocks to the labs' shares of demand: one lab's model leads, another's
    lags, and customers move between them. The shocks sum to zero over the labs (weighted by
    demand), so the market's growth stays on its trend while each lab's wanders (0: no share
    shifts)."""
    share_halflife_months: float = 9.0
    """Months for half of a share shock to fade (a lead lasts about a model generation)."""
    growth_trend_sd: float = 0.0
    """Log-sd, across runs, of one factor on every lab's demand growth rate: whether AI demand
    keeps compounding or slows is the largest unknown of a forecast, and one draw per run
    spans it (0: the scenario's growth rates in every run)."""
    term_overrides: tuple[ContractTerms, ...] = ()
    """Replacement terms for named templates (contract-design experiments)."""

    def __post_init__(self) -> None:
        _check(len(self.term_tenors_months) >= 1 and all(t >= 2 for t in self.term_tenors_months),
               "market.term_tenors_months", self.term_tenors_months, "need tenors >= 2 months")
        _check(not _duplicates(list(self.term_tenors_months)), "market.term_tenors_months",
               self.term_tenors_months, "lists a tenor twice; each tenor is one product")
        _check(0 <= self.k <= 1, "market.k", self.k, "must lie in [0, 1]")
        _check(self.rule in ("uniform", "pay_as_bid"), "market.rule", self.rule,
               "must be 'uniform' or 'pay_as_bid'")
        _check(0 < self.price_memory <= 1, "market.price_memory", self.price_memory,
               "must lie in (0, 1]")
        _nonneg(self, "market", "initial_spot_usd_per_h100e_month", "term_discount_per_year",
                "scarcity_markup", "investor_appetite")
        _monthly_rate(self, "market", "appetite_volatility_per_month")
        _monthly_rate(self, "market", "share_volatility_per_month")
        _check(self.share_halflife_months > 0, "market.share_halflife_months",
               self.share_halflife_months, "must be > 0")
        _check(self.raise_interval_months >= 1, "market.raise_interval_months",
               self.raise_interval_months, "must be >= 1")
        _check(self.appetite_halflife_months > 0, "market.appetite_halflife_months",
               self.appetite_halflife_months, "must be > 0")
        _check(0 <= self.growth_trend_sd <= 2, "market.growth_trend_sd", self.growth_trend_sd,
               "must lie in [0, 2] (a log-sd)")
        _check(self.term_discount_per_year * max(self.term_tenors_months) / 12 < 1,
               "market.term_discount_per_year", self.term_discount_per_year,
               "must leave a positive price at the longest tenor")

    def terms(self, name: str) -> ContractTerms:
        """The template ``name`` with any override of this market applied."""
        for t in self.term_overrides:
            if t.name == name:
                return t
        return template(name)


@dataclass(frozen=True)
class WorldConfig:
    """Everything a run needs besides the seed."""

    name: str = "custom"
    start: str = "2026-01"
    months: int = 48
    labs: tuple[LabConfig, ...] = ()
    sellers: tuple[SellerConfig, ...] = ()
    regions: tuple[RegionConfig, ...] = (RegionConfig("us-south"),)
    contracts: tuple[PreloadedContract, ...] = ()
    shocks: tuple[ShockConfig, ...] = ()
    market: MarketConfig = field(default_factory=MarketConfig)
    costs: CostParams = field(default_factory=CostParams)
    gpu_supply_h100e_per_quarter: float = 3_000_000.0
    """Global cap on H100e that can be installed per quarter (cal:hw.lead, cal:sup.growth)."""
    delivery_delay_months_mean: float = 1.0
    """Mean extra months (Poisson) before a newly started site is ready: late equipment."""
    description: str = ""

    @gc_paused  # validating a large world allocates many objects that all stay alive
    def __post_init__(self) -> None:
        check_safe_name("name", self.name)
        _month("start", self.start)
        _check(isinstance(self.months, numbers.Integral) and 1 <= self.months <= MAX_MONTHS,
               "months", self.months, f"must be a whole number from 1 to {MAX_MONTHS}")
        _nonneg(self, "world", "gpu_supply_h100e_per_quarter", "delivery_delay_months_mean")
        _check(len(self.labs) >= 1 and len(self.sellers) >= 1, "labs and sellers",
               f"{len(self.labs)} labs, {len(self.sellers)} sellers",
               "a world needs at least one lab and one seller")
        for group in ("labs", "sellers", "regions"):
            dup = _duplicates([x.name for x in getattr(self, group)])
            _check(not dup, group, dup, "names must be unique")
        both = _duplicates([*{x.name for x in self.labs}, *{x.name for x in self.sellers}])
        _check(not both, "labs and sellers", both, "a lab and a seller share a name; contracts "
               "and shocks name parties, so every party needs its own name")
        dup = _duplicates([site.name for s in self.sellers for site in s.sites])
        _check(not dup, "sites", dup, "site names must be unique")
        for r in self.regions:
            _check(self.market.term_discount_per_year * max(r.term_tenors_months, default=0) / 12
                   < 1, f"regions.{r.name}.term_tenors_months", r.term_tenors_months,
                   "must leave a positive price at the longest tenor "
                   "(market.term_discount_per_year)")
        tenors = set(self.market.term_tenors_months)
        for lab in self.labs:
            _check(lab.tenor_months in tenors, f"labs.{lab.name}.tenor_months", lab.tenor_months,
                   f"must be one of the market's term tenors {sorted(tenors)}")
        _check_references(self)
        _check_dates_and_sizes(self)

    @property
    def start_month(self) -> int:
        """Month index of the first step."""
        return month_index(self.start)

    def outside_run(self) -> list[str]:
        """Warnings, one line each, for preloaded contracts and shocks dated after the last
        simulated month: valid, but they never act in this run (e.g. ``--months`` cut it)."""
        end = self.start_month + self.months
        last = month_label(end - 1)
        out = [f"contracts[{i}].start = {c.start!r} is after the last simulated month {last}: "
               "the contract never starts in this run"
               for i, c in enumerate(self.contracts) if month_index(c.start) >= end]
        out += [f"shocks[{i}].month = {sh.month!r} is after the last simulated month {last}: "
                f"the {sh.kind} shock never happens in this run"
                for i, sh in enumerate(self.shocks) if month_index(sh.month) >= end]
        return out

    def lab(self, name: str) -> LabConfig:
        for x in self.labs:
            if x.name == name:
                return x
        raise KeyError(name)

    def seller(self, name: str) -> SellerConfig:
        for x in self.sellers:
            if x.name == name:
                return x
        raise KeyError(name)


def field_names(cls: type) -> list[str]:
    """Field names of a config dataclass (for validation messages and scenario parsing)."""
    return [f.name for f in fields(cls)]


def scaled(world: WorldConfig, copies: int) -> WorldConfig:
    """``copies`` replicas of a world's labs, sellers, sites and contracts in one market, with
    power headroom and the GPU supply cap scaled alike (for scaling benchmarks)."""
    from dataclasses import replace

    if copies < 1:
        raise ValueError(f"copies = {copies!r}: must be >= 1")
    if copies == 1:
        return world

    def tag(name: str, c: int) -> str:
        return name if c == 0 else f"{name}#{c}"

    labs = tuple(replace(lab, name=tag(lab.name, c)) for c in range(copies) for lab in world.labs)
    sellers = tuple(
        replace(s, name=tag(s.name, c),
                sites=tuple(replace(site, name=tag(site.name, c)) for site in s.sites))
        for c in range(copies) for s in world.sellers)
    contracts = tuple(
        replace(k, buyer=tag(k.buyer, c), seller=tag(k.seller, c), site=tag(k.site, c))
        for c in range(copies) for k in world.contracts)
    shocks = tuple(replace(sh, seller=tag(sh.seller, c) if sh.seller else "")
                   for c in range(copies) for sh in world.shocks)
    regions = tuple(replace(r, power_headroom_mw_per_year=r.power_headroom_mw_per_year * copies)
                    for r in world.regions)
    return replace(world, name=f"{world.name}x{copies}", labs=labs, sellers=sellers,
                   contracts=contracts, shocks=shocks, regions=regions,
                   gpu_supply_h100e_per_quarter=world.gpu_supply_h100e_per_quarter * copies)


def _check_references(world: WorldConfig) -> None:
    """Names that point elsewhere (regions, labs, sellers, sites, generations, strategies)
    must exist; the error suggests the nearest one."""
    regions = {r.name: r for r in world.regions}
    labs = {x.name: x for x in world.labs}
    sellers = {s.name: s for s in world.sellers}
    gens = generations()

    def need(value: str, options: Mapping[str, Any], path: str, what: str) -> None:
        """``options``: a mapping keyed by the known names (membership in constant time)."""
        if value not in options:
            known = list(options)
            raise ValueError(f"{path} = {value!r}: unknown {what}{near_hint(value, known)} "
                             f"(known: {', '.join(known) or 'none'})")

    for lab in world.labs:
        need(lab.strategy, STRATEGIES, f"labs.{lab.name}.strategy", "strategy")
    for s in world.sellers:
        need(s.region, regions, f"sellers.{s.name}.region", "region")
        need(s.strategy, STRATEGIES, f"sellers.{s.name}.strategy", "strategy")
        for site in s.sites:
            where = f"sellers.{s.name}.sites.{site.name}"
            need(site.region, regions, f"{where}.region", "region")
            need(site.generation, gens, f"{where}.generation", "GPU generation")
    for i, c in enumerate(world.contracts):
        need(c.buyer, labs, f"contracts[{i}].buyer", "lab")
        need(c.seller, sellers, f"contracts[{i}].seller", "seller")
        need(c.site, {x.name: x for x in sellers[c.seller].sites}, f"contracts[{i}].site",
             f"site of seller {c.seller}")
    for i, sh in enumerate(world.shocks):
        if sh.kind in ("recall", "seller_exit"):  # an investor_appetite shock names no seller
            need(sh.seller, sellers, f"shocks[{i}].seller", "seller")


def _check_dates_and_sizes(world: WorldConfig) -> None:
    """Dates in order and sizes that fit: sites against their generation and the start,
    funding in date order, contracts and shocks within the run and within their sites."""
    start = world.start_month
    gens = generations()
    site_of: dict[str, tuple[str, SiteConfig]] = {}
    for s in world.sellers:
        for site in s.sites:
            where = f"sellers.{s.name}.sites.{site.name}"
            site_of[site.name] = (where, site)
            online = month_index(site.online)
            gen = gens[site.generation]
            if site.status in ("online", "construction", "scheduled") and \
                    online < gen.available_month:
                raise ValueError(
                    f"{where}.online = {site.online!r}: dates out of order: {site.generation} is "
                    f"first available in {month_label(gen.available_month)}")
            if site.status == "online" and online > start:
                raise ValueError(
                    f"{where}.online = {site.online!r}: dates out of order: after the start "
                    f"{world.start!r}, but status = 'online' means online at the start (use "
                    "status = 'construction' or 'scheduled')")
            if site.status in ("construction", "scheduled") and online < start:
                raise ValueError(
                    f"{where}.online = {site.online!r}: dates out of order: before the start "
                    f"{world.start!r}, but status = {site.status!r} means it is not online yet "
                    "(use status = 'online' or a later month)")
    for lab in world.labs:
        prev = None
        for i, f in enumerate(lab.funding):
            m = month_index(f.month)
            where = f"labs.{lab.name}.funding[{i}].month"
            if m < start:
                raise ValueError(f"{where} = {f.month!r}: dates out of order: before the "
                                    f"start {world.start!r}, so it would never arrive")
            if prev is not None and m <= prev:
                raise ValueError(f"{where} = {f.month!r}: dates out of order: not after "
                                    f"funding[{i - 1}] ({month_label(prev)}); list raises in "
                                    "date order, one per month")
            prev = m
    for i, sh in enumerate(world.shocks):
        if month_index(sh.month) < start:
            raise ValueError(f"shocks[{i}].month = {sh.month!r}: dates out of order: before "
                                f"the start {world.start!r}")
    used: dict[str, float] = {}
    for i, c in enumerate(world.contracts):
        where, site = site_of[c.site]
        gen = gens[site.generation]
        capacity = site.mw * gen.h100e_per_mw
        if month_index(c.start) < start:
            raise ValueError(f"contracts[{i}].start = {c.start!r}: dates out of order: before "
                                f"the start {world.start!r}")
        # a contract may start before its site under construction is online: it bills only
        # what the site delivers (market.book), like the lease's GB200 share (cal:deal.capacity)
        if site.status not in ("online", "construction"):
            raise ValueError(
                f"contracts[{i}].start = {c.start!r}: dates out of order: site {c.site} "
                f"({where}) is {site.status!r}, online {site.online!r}; a preloaded contract "
                "sits on a site online or under construction")
        if c.usd_per_month is not None and c.usd_per_month < 0:
            raise ValueError(f"contracts[{i}].usd_per_month = {c.usd_per_month!r}: must be "
                                ">= 0")
        if c.mw > site.mw:
            raise ValueError(f"contracts[{i}].mw = {c.mw!r}: more than site {c.site} has "
                                f"({site.mw:g} MW, {where}.mw)")
        used[c.site] = used.get(c.site, 0.0) + c.h100e
        if used[c.site] > capacity * (1 + 1e-9):
            raise ValueError(
                f"contracts[{i}].h100e = {c.h100e!r}: contracts on site {c.site} total "
                f"{used[c.site]:,.0f} H100e, more than it holds ({capacity:,.0f} H100e = "
                f"{site.mw:g} MW x {gen.h100e_per_mw:g} H100e/MW of {site.generation})")
