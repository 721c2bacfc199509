"""Sellers: infrastructure owners, hyperscalers and neoclouds (docs/model.md section 5).

They share one shape: sites, an internal need served first from own capacity, asks priced from
cost and load, and an investment rule. Asks (``seller_asks``) are the kind's cost floor plus a
markup over levelized cost that rises with the seller's utilization and backlog and falls with
its idle capacity (``scarcity_markup``); term asks give up ``term_discount`` per year of tenor.
No price index enters an ask. The subclasses differ only in the named functions that docs/model.md
(section 5) gives them:

- ``Owner`` builds for its own models, leases the surplus, recalls it when its need rises (in the
  order its contracts give, ``ContractBook.recall_order``), and may exit a lease when spot, net
  of its exit fee, stays well above it (``opportunism``, ``seller_exit_signal``).
- ``Hyperscaler`` lists at cost x markup and invests when its forecast price over a site's life
  (``expected_price``, read from the term curve) times expected utilization beats levelized cost
  x (1 + hurdle), within an annual capex budget.
- ``Neocloud`` builds to lease on debt, within what lenders finance against its contracted
  backlog (``debt_room``) and once term contracts cover ``presale_ratio`` of its capacity; it
  defaults after ``default_patience_months`` of negative cash.

Which of them starts a site in a month is ``build_signal``, one rule per kind over arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from market import exact, kinds
from market.agents.party import Party, row_value
from market.config import SellerConfig
from market.strategies import STRATEGIES, strategy

if TYPE_CHECKING:
    from market.model import ComputeMarket

NEOCLOUD_LOAN_MONTHS = 60
"""Neocloud capex is financed by an amortizing loan over this many months."""


def scarcity_markup(utilization, backlog_share, idle_share, ceiling):
    """Markup, as a multiple of levelized cost, that a seller adds to its cost floor.

    It rises with the seller's utilization (squared: little markup while much is free) and its
    contracted backlog, and falls with the share of its last offer that sat idle; ``ceiling`` is
    the markup of a seller fully used, fully booked and with nothing idle.
    """
    u = np.clip(utilization, 0.0, 1.0)
    return ceiling * u * u * (0.5 + 0.5 * np.clip(backlog_share, 0.0, 1.0)) * (
        1.0 - np.clip(idle_share, 0.0, 1.0))


def term_discount(tenor_months, discount_per_year):
    """Share of the spot ask a seller gives up for a term commitment of ``tenor_months``."""
    return discount_per_year * np.asarray(tenor_months, dtype=float) / 12.0


def internal_need_next(need_h100e, growth, volatility, shock):
    """Internal need next month: lognormal growth with a standard-normal ``shock``."""
    return need_h100e * exact.exp(growth + volatility * shock - 0.5 * volatility * volatility)


def should_invest(forward_price, utilization, levelized, hurdle):
    """Invest when expected revenue per H100e-month beats levelized cost x (1 + hurdle)."""
    return forward_price * utilization > levelized * (1.0 + hurdle)


def expected_price(term_price, spot_price, decline_per_year, life_months):
    """A seller's forecast of the average price over a new site's life: today's term price
    (the market's own forecast), or spot where no term trades, falling as newer generations
    arrive (``decline_per_year``, compounded, averaged over ``life_months``)."""
    base = np.where(np.isfinite(term_price) & (term_price > 0), term_price, spot_price)
    years = np.asarray(life_months, dtype=float) / 12.0
    keep = 1.0 - np.asarray(decline_per_year, dtype=float)
    # mean of keep**t over t in [0, years], in closed form
    falls = (keep < 1.0) & (years > 0)
    safe = np.where(falls, keep, 0.5)
    avg = np.where(falls, (exact.power(safe, years) - 1.0) / (exact.log(safe) * years), 1.0)
    return base * avg


def debt_room(backlog_usd, debt_to_backlog, debt_usd):
    """How much more a neocloud may borrow: lenders finance up to ``debt_to_backlog`` of the
    revenue its signed contracts will still pay, less the debt it already owes."""
    return np.maximum(backlog_usd * debt_to_backlog - debt_usd, 0.0)


OWN_NEED_BUILD_TRIGGER = 0.8
"""Owners build for themselves once internal need plus reserve passes this share of capacity."""


def build_signal(kind: np.ndarray, invests: np.ndarray, reserve_h100e: np.ndarray,
                 online_h100e: np.ndarray, backlog_share: np.ndarray,
                 presale_ratio: np.ndarray) -> np.ndarray:
    """Which sellers want to start a site this month (arrays over sellers): each kind's
    ``wants_to_build`` on its rows.

    Hyperscalers follow the investment rule (``invests``); owners also build when their own
    need nears their capacity; neoclouds only once term contracts cover ``presale_ratio`` of
    their capacity.
    """
    own_short = (online_h100e > 0) & (reserve_h100e > OWN_NEED_BUILD_TRIGGER * online_h100e)
    wants = np.zeros(np.shape(kind), dtype=bool)
    for k in kinds.kinds("seller"):
        rows = kind == k.name
        wants[rows] = k.agent_class.wants_to_build(invests[rows], own_short[rows],
                                                   backlog_share[rows], presale_ratio[rows])
    return wants


def seller_exit_signal(price, spot_index, exit_premium, exit_fee_months, months_freed):
    """Leases (arrays) whose seller would rather sell spot: spot, less the seller's exit fee
    (``exit_fee_months`` of the price) spread over the ``months_freed`` by the notice, exceeds
    the price by more than ``exit_premium`` (a share; 0 = never exits)."""
    price = np.asarray(price, dtype=float)
    fee_per_month = exit_fee_months * price / np.maximum(months_freed, 1)
    return ((np.asarray(exit_premium) > 0) & (months_freed > 0)
            & (spot_index - fee_per_month > price * (1.0 + exit_premium)))


def payout_usd(cash_usd, outgoings_usd_month, keep_months):
    """What sellers pay out to their owners this month (arrays over sellers): cash above
    ``keep_months`` of their monthly opex and debt service; none where ``keep_months`` is 0."""
    excess = np.asarray(cash_usd) - keep_months * np.asarray(outgoings_usd_month)
    return np.where((np.asarray(keep_months) > 0) & (excess > 0), excess, 0.0)


def amortizing_payment(principal: float, rate_per_year: float, months: int) -> float:
    """Monthly payment of a loan repaid in equal instalments."""
    r = rate_per_year / 12.0
    if r == 0:
        return principal / months
    return principal * r / (1.0 - (1.0 + r) ** (-months))


class Seller(Party):
    """Base seller: cash, internal need, revenue and cost live in the model's per-party arrays
    (``model.cash``, ``model.own_need``...), its sites in ``model.sites``."""

    model: ComputeMarket
    recalls_for_own_need = False
    """Whether it takes leased capacity back (with the recall right) when its own need rises,
    and may exit leases opportunistically."""
    borrows_to_build = False
    """Whether new sites are financed by debt against its backlog (else paid from cash)."""

    @property
    def own_need_h100e(self) -> float:
        """Internal need served first from own capacity (H100e)."""
        return float(self.model.own_need[self.party])

    @own_need_h100e.setter
    def own_need_h100e(self, value: float) -> None:
        self.model.own_need[self.party] = value

    negative_cash_months = row_value("negative_cash_months", "Consecutive months with negative "
                                     "cash (default after ``default_patience_months``).", int)
    debt_usd = row_value("debt_usd", "Debt outstanding (USD).")
    debt_payment_usd = row_value("debt_payment_usd", "Monthly instalment of its loans (USD).")

    @property
    def unsold_share(self) -> dict[str, float]:
        """Share of its last offer that did not sell, per market ("spot", "term")."""
        j = self.model.party_table.row[self.party]
        return {m: float(v[j]) for m, v in self.model.unsold.items()}

    @property
    def revenue_usd(self) -> float:
        """Revenue this month: bills, fees and spot sales received (USD)."""
        return float(self.model.seller_revenue[self.party])

    @property
    def cost_usd(self) -> float:
        """Cost this month: opex plus the capital charge of online capacity (USD)."""
        return float(self.model.seller_cost[self.party])

    def __init__(self, model: ComputeMarket, cfg: SellerConfig, party: int) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.name = cfg.name
        self.kind = cfg.kind
        self.party = party
        self.strategy = strategy(cfg.strategy)
        self.debt_payment_usd = amortizing_payment(cfg.debt_usd, cfg.interest_per_year,
                                                   NEOCLOUD_LOAN_MONTHS)

    @staticmethod
    def spot_floor(opex: np.ndarray, levelized: np.ndarray, markup: np.ndarray) -> np.ndarray:
        """Lowest spot price per H100e-month it accepts for sunk capacity: opex x (1 + markup)."""
        return opex * (1.0 + markup)

    @staticmethod
    def term_floor(opex: np.ndarray, levelized: np.ndarray, markup: np.ndarray) -> np.ndarray:
        """Lowest term price: the full levelized cost."""
        return levelized

    @staticmethod
    def wants_to_build(invests: np.ndarray, own_short: np.ndarray, backlog_share: np.ndarray,
                       presale_ratio: np.ndarray) -> np.ndarray:
        """Whether it starts a site (arrays over its kind's sellers): the investment rule."""
        return invests


class Owner(Seller):
    """Builds for its own models, leases the surplus, may recall it."""

    recalls_for_own_need = True

    @staticmethod
    def wants_to_build(invests: np.ndarray, own_short: np.ndarray, backlog_share: np.ndarray,
                       presale_ratio: np.ndarray) -> np.ndarray:
        """The investment rule, or its own need nearing its capacity."""
        return invests | own_short


class Hyperscaler(Seller):
    """Sells reserved capacity at cost x markup; builds slowly within a capex budget."""

    @staticmethod
    def spot_floor(opex: np.ndarray, levelized: np.ndarray, markup: np.ndarray) -> np.ndarray:
        """List price: levelized cost x (1 + markup)."""
        return levelized * (1.0 + markup)

    @staticmethod
    def term_floor(opex: np.ndarray, levelized: np.ndarray, markup: np.ndarray) -> np.ndarray:
        """Reserved price: levelized cost x (1 + markup / 2) (reserved is cheaper, px.h100_2026)."""
        return levelized * (1.0 + 0.5 * markup)


class Neocloud(Seller):
    """Builds to lease on debt; defaults when cash stays negative."""

    borrows_to_build = True

    @staticmethod
    def wants_to_build(invests: np.ndarray, own_short: np.ndarray, backlog_share: np.ndarray,
                       presale_ratio: np.ndarray) -> np.ndarray:
        """The investment rule, once term contracts cover ``presale_ratio`` of its capacity."""
        return invests & (backlog_share >= presale_ratio)

    def borrow(self, capex_usd: float) -> None:
        """Finance new capex with an amortizing loan."""
        self.debt_usd += capex_usd
        self.debt_payment_usd += amortizing_payment(capex_usd, self.cfg.interest_per_year,
                                                    NEOCLOUD_LOAN_MONTHS)


def seller_asks(kind: np.ndarray, markup: np.ndarray, strategy_name: np.ndarray,
                scarcity: np.ndarray, opex: np.ndarray, levelized: np.ndarray,
                market: str, discount: float | np.ndarray = 0.0) -> np.ndarray:
    """Limit prices for many offers at once (all arrays are per offer).

    The cost floor is the seller kind's ``spot_floor`` or ``term_floor`` (``market`` is "spot"
    or "term"). The seller's own reference price is its spot floor plus ``scarcity`` (a multiple
    of levelized cost, see ``scarcity_markup``), less ``discount`` (a share, see
    ``term_discount``) for term offers. The seller's registered strategy turns floor and
    reference into the ask. No price index enters: asks come from cost and the seller's load.
    """
    spot_floor = np.empty(kind.shape)
    floor = np.empty(kind.shape)
    for k in kinds.kinds("seller"):
        rows = kind == k.name
        cls = k.agent_class
        spot_floor[rows] = cls.spot_floor(opex[rows], levelized[rows], markup[rows])
        fn = cls.spot_floor if market == "spot" else cls.term_floor
        floor[rows] = fn(opex[rows], levelized[rows], markup[rows])
    reference = (spot_floor + scarcity * levelized) * (1.0 - np.asarray(discount, dtype=float))
    asks = np.empty(kind.shape)
    covered = 0
    for name, rule in STRATEGIES.items():  # the registered ones: no sort of the names
        rows = strategy_name == name
        covered += np.count_nonzero(rows)
        asks[rows] = rule.ask(floor[rows], reference[rows])
    if covered < asks.size:  # a name not registered: the lookup says which
        for name in np.unique(strategy_name):
            strategy(str(name))
    return asks

