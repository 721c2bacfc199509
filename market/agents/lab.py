"""Labs: buyers of compute, frontier or small (docs/model.md section 5, Lab).

A lab needs H100e to serve its customers (inference) and to train (a share of inference). Served
inference earns ``r`` per H100e-month; unserved inference is partly lost to competitors (churn),
so shortage has a lasting cost. Its willingness to pay falls continuously with the quantity it
holds (``marginal_value``): serving today's customers is worth the most, from r x (1 + growth
premium) for the first H100e down to r for the last customer; training and growth compute then
follow a curve that starts at the lab's training value and decays by ``value_decay`` (in logs)
over the training need, and continues beyond the need for opportunistic capacity. The lab bids
this curve as ``CURVE_STEPS`` equal quantity steps, so its steps and every other lab's differ
because the labs' parameters and holdings differ. Where in its step each price is read is drawn
each month (``curve_steps``): on average a step is priced at the curve's mean over it, and
prices are not pinned to a few levels by the steps. Where it cannot pay its values for all it
bids, it bids what its budget buys at each price (``budget_limits``). Investors fund it in
proportion to its revenue and growth (``funding_per_year``, ``funding_rounds``). A share
of its need runs on compute outside this market (``outside_h100e``), paid at its own cost: its
revenue and spend are the whole lab's, its bids here only the rest.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from market import exact
from market.agents.party import Party, row_value
from market.calendar import month_index
from market.config import LabConfig
from market.strategies import GROWTH, MUST_SERVE, OPPORTUNISTIC, TERM, strategy

if TYPE_CHECKING:
    from market.model import ComputeMarket

BUDGET_RUNWAY_MONTHS = 24.0
"""Labs plan to spend their cash and next year's funding over two years."""
OPPORTUNISTIC_SHARE = 0.1
"""Extra capacity, as a share of need, that a lab takes if it is cheap."""
CURVE_STEPS = 12
"""Price steps per lab and product: enough that no single value forms a wall of demand."""


def growth_rate(initial_per_month, halflife_months, months_elapsed):
    """Monthly demand growth, decaying with a half-life (scalars or arrays)."""
    return initial_per_month * exact.power(0.5, np.divide(months_elapsed, halflife_months))


def next_inference_need(need_h100e, unmet_inference_h100e, growth, churn):
    """Next month's inference need: churned customers leave, the rest grows."""
    return np.maximum(0.0, need_h100e - churn * unmet_inference_h100e) * (1.0 + growth)


def share_shift(drift, standing_log, weights_before, weights_after, halflife_months,
                volatility, draws):
    """One month of share shifts between labs (arrays over labs): returns the new drift, the
    new log standing and each lab's share growth this month.

    A lab's drift (per month) keeps what persists of last month's (half of it fades in
    ``halflife_months``) plus a new shock (``draws`` standard normals from the share stream,
    ``volatility`` their sd); its standing grows by the drift. What a lab gains is its
    standing relative to the mean standing, weighted by the labs' demand on their trends
    (``weights_before`` this month, ``weights_after`` next), so that mean stays 1: the shifts
    move customers between labs and add none. They depend on the draws and the trends only,
    so two runs of a seed that differ in a treatment see the same fortunes (common random
    numbers)."""
    drift = (float(exact.power(0.5, 1.0 / halflife_months)) * np.asarray(drift, dtype=float)
             + volatility * np.asarray(draws, dtype=float))
    before = exact.exp(standing_log)
    standing_log = np.asarray(standing_log, dtype=float) + drift
    after = exact.exp(standing_log)
    growth = ((after / exact.dot(weights_after, after))
              / (before / exact.dot(weights_before, before)) - 1.0)
    return drift, standing_log, growth


def demand_shock(growth, volatility, draws):
    """This month's growth with a random shock: ``draws`` are standard normals from the model's
    RNG, ``volatility`` the monthly standard deviation of demand growth (arrays over labs)."""
    return np.maximum(growth + volatility * draws, -0.5)


def surplus_exits(buyer, price, h100e, candidates, surplus_h100e):
    """Contracts (a mask over the book) that buyers give notice on to shed capacity they hold
    and do not need (``surplus_h100e`` over buyers; ``candidates`` may be exited): each buyer's
    most expensive first, passing over any larger than its whole surplus, while the running
    total fits in the surplus. What a buyer keeps still covers its need."""
    candidates = np.asarray(candidates) & (h100e <= surplus_h100e[buyer])
    ids = np.flatnonzero(candidates)
    out = np.zeros(np.asarray(candidates).size, dtype=bool)
    if not ids.size:
        return out
    order = ids[np.lexsort((ids, -price[ids], buyer[ids]))]
    b, q = buyer[order], h100e[order]
    cum = np.cumsum(q)
    first = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    start = np.repeat(cum[first] - q[first], np.diff(np.r_[first, b.size]))
    out[order] = (cum - start) <= surplus_h100e[b]
    return out


def outside_h100e(inference_h100e, training_share, outside_share):
    """H100e each lab runs outside this market this month: a fixed share of its need (arrays
    over labs). Frontier labs run much of their compute on their cloud partners' own fleets and
    custom chips (cal:sup.ownership: labs mostly rent, from hyperscalers holding ~71% of H100e);
    it covers the top of the lab's value curve, and the lab bids here for the rest."""
    return outside_share * inference_h100e * (1.0 + training_share)


def serve(held_h100e: np.ndarray, inference_h100e: np.ndarray, training_share: np.ndarray,
          usd_per_served: np.ndarray, training_value: np.ndarray) -> tuple[np.ndarray, ...]:
    """Serve inference first, then training, with the capacity held this month.

    Returns served and unmet H100e, revenue (served inference x r) and value (revenue plus
    served training at its strategic value), all per lab.
    """
    need = inference_h100e * (1.0 + training_share)
    served = np.minimum(held_h100e, need)
    inference_served = np.minimum(held_h100e, inference_h100e)
    training_served = np.clip(held_h100e - inference_h100e, 0.0, need - inference_h100e)
    revenue = inference_served * usd_per_served
    return served, need - served, revenue, revenue + training_served * training_value


def budget_usd_per_month(revenue_usd: np.ndarray, cash_usd: np.ndarray,
                         funding_next_year_usd: np.ndarray) -> np.ndarray:
    """What each lab can spend per month: revenue plus cash and the next year's expected
    funding spread over ``BUDGET_RUNWAY_MONTHS``."""
    return np.maximum(0.0, revenue_usd + (cash_usd + funding_next_year_usd)
                      / BUDGET_RUNWAY_MONTHS)


RAISE_SIZE_SIGMA = 0.3
"""Log-sd of a funding round's size around its expected value."""
RAISE_RUNWAY_MONTHS = 6.0
"""A lab goes to investors at once when its cash covers fewer months of burn than this."""


def funding_per_year(revenue_usd_month, annual_growth, appetite):
    """Funding investors offer a lab per year: ``appetite`` x its annual revenue x its annual
    growth rate (they finance growth; cal:dem.spend_ratio)."""
    return (appetite * 12.0 * np.asarray(revenue_usd_month)
            * np.maximum(np.asarray(annual_growth, dtype=float), 0.0))


def funding_climate(deviation, halflife_months, volatility, draw, *, start: bool = False):
    """Next month's funding climate: the log deviation of investor appetite from its level, a
    mean-reverting random walk (``draw`` a standard normal from the model's RNG; at the
    ``start`` it is drawn from the walk's stationary spread). Returns the new deviation and the
    factor on appetite, exp(deviation - var / 2), whose stationary mean is 1."""
    persistence = float(exact.power(0.5, 1.0 / halflife_months))
    stationary_sd = volatility / math.sqrt(1.0 - persistence * persistence)
    deviation = (stationary_sd * draw if start
                 else persistence * deviation + volatility * draw)
    return deviation, float(exact.exp(deviation - 0.5 * stationary_sd * stationary_sd))


def funding_rounds(offered_per_year, interval_months, cash_usd, burn_usd_month, chance_draws,
                   size_draws):
    """USD each lab raises this month (arrays over labs). A lab closes a round with chance
    1 / ``interval_months`` (``chance_draws`` uniform), or for sure once its cash covers fewer
    than ``RAISE_RUNWAY_MONTHS`` of its burn; a round is what investors offer for the interval
    times a lognormal draw (``size_draws`` standard normal)."""
    short = np.asarray(cash_usd) < RAISE_RUNWAY_MONTHS * np.asarray(burn_usd_month)
    hit = (np.asarray(chance_draws) < 1.0 / interval_months) | short
    size = exact.exp(RAISE_SIZE_SIGMA * np.asarray(size_draws)
                     - 0.5 * RAISE_SIZE_SIGMA * RAISE_SIZE_SIGMA)
    return np.where(hit, offered_per_year * interval_months / 12.0 * size, 0.0)


def marginal_value(q_h100e, inference_h100e, need_h100e, usd_per_served, growth_premium,
                   training_value, value_decay):
    """Value per H100e-month of the H100e at position ``q_h100e`` of a lab's holdings (arrays
    broadcast; rows are labs).

    Below ``inference_h100e`` it serves customers: r x (1 + premium) for the first, falling
    linearly to r for the last (the most loyal, highest-margin customers are served first).
    Above it, training and growth: the training value (at most r) decaying as
    exp(-value_decay x x), where x is the share of the training need already covered; beyond
    the need the same curve goes on (opportunistic capacity).
    """
    inference = np.maximum(inference_h100e, 1e-9)
    training = np.maximum(need_h100e - inference_h100e, 1e-9 * inference)
    serving = usd_per_served * (1.0 + growth_premium * np.clip(1.0 - q_h100e / inference,
                                                                0.0, 1.0))
    top = np.minimum(training_value, usd_per_served)
    beyond = np.maximum(q_h100e - inference_h100e, 0.0) / training
    exponent = np.broadcast_to(-value_decay * beyond, np.broadcast(serving, beyond).shape)
    # exp only where the training curve is read and its exponent is not 0 (exp(0) = 1)
    decay = np.ones(exponent.shape)
    tail = (q_h100e >= inference_h100e) & (exponent != 0.0)
    decay[tail] = exact.exp(exponent[tail])
    return np.where(q_h100e < inference_h100e, serving, top * decay)


def curve_steps(held_h100e, top_h100e, steps: int = CURVE_STEPS, phase=0.5):
    """Split each lab's gap from ``held_h100e`` to ``top_h100e`` into ``steps`` equal steps:
    the points where each step is priced and the quantities (labs x steps).

    ``phase`` (per lab, in [0, 1)) places the pricing point within each step: 0.5 is the
    midpoint. The model draws it uniformly each month (dithering): a step is then priced, on
    average over draws, at the curve's mean over the step, and a small change in a lab's need
    moves prices a little rather than leaving them on one step's value until a step boundary
    is crossed."""
    gap = np.maximum(np.asarray(top_h100e, dtype=float) - held_h100e, 0.0)
    size = gap / steps
    at = np.arange(steps) + np.asarray(phase, dtype=float).reshape(-1, 1)
    mid = np.asarray(held_h100e, dtype=float)[:, None] + at * size[:, None]
    return mid, np.broadcast_to(size[:, None], mid.shape).copy()


def step_tranche(mid_h100e, inference_h100e, need_h100e):
    """Which tranche a step belongs to: serving customers, training and growth, or
    opportunistic (beyond the need); strategies may treat them differently."""
    return np.where(mid_h100e < inference_h100e[:, None], MUST_SERVE,
                    np.where(mid_h100e < need_h100e[:, None], GROWTH, OPPORTUNISTIC))


def budget_limits(limits: np.ndarray, quantities: np.ndarray, budget_usd: np.ndarray
                  ) -> np.ndarray:
    """Limits (labs x steps) of a lab that cannot spend more than ``budget_usd`` this month.

    The market clears at one price, so a lab that holds Q H100e at price p pays p x Q: its
    demand is the lesser of its value curve and its budget's hyperbola, B / p. A step is kept
    at its value where the lab can pay that for every step above it and itself, and is bid at
    B / Q (Q the quantity up to the step's end) where it cannot. So what a lab buys never costs
    more than its budget, and where the budget binds its demand has unit price elasticity:
    10% less capacity on offer raises its price by about 10%."""
    order = np.argsort(-limits, axis=-1, kind="stable")
    lim = np.take_along_axis(limits, order, axis=-1)
    qty = np.take_along_axis(quantities, order, axis=-1)
    upto = np.cumsum(qty, axis=-1)
    budget = np.maximum(np.asarray(budget_usd, dtype=float), 0.0)[:, None]
    affordable = np.divide(budget, upto, out=np.full(upto.shape, np.inf), where=upto > 0)
    out = np.empty_like(lim)
    np.put_along_axis(out, order, np.minimum(lim, affordable), axis=-1)
    return out


CURVE_PARAMS = ("usd_per_served_h100e_month", "growth_premium",
                "training_value_usd_per_h100e_month", "value_decay")


class BidCurves:
    """What shapes the labs' bids, read once from their configs: the value-curve parameters
    (``CURVE_PARAMS``, each an array over the labs, as a column) and each lab's strategy."""

    def __init__(self, labs: list[Lab]) -> None:
        self.n = len(labs)
        self.params = {f: np.array([getattr(lab.cfg, f) for lab in labs], dtype=float)[:, None]
                       for f in CURVE_PARAMS}
        self.strategy_names = np.array([lab.strategy.name for lab in labs])
        self.by_strategy = [(strategy(str(name)), self.strategy_names == name)
                            for name in np.unique(self.strategy_names)]
        """Each strategy the labs use and the rows of its labs (found once, not per bid)."""


def bid_curve(labs: BidCurves, held_h100e: np.ndarray, target_h100e: np.ndarray,
              inference_h100e: np.ndarray, tranches: int = 3, phase=0.5
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The steps of every lab's bid curve (see ``lab_bids``): quantities, values per
    H100e-month (unscaled) and tranches, each labs x steps; the same for every product of a
    market, so it is computed once per market and month. ``phase``: see ``curve_steps``."""
    target = np.asarray(target_h100e, dtype=float)
    inference = np.asarray(inference_h100e, dtype=float)
    top = target * (1.0 + OPPORTUNISTIC_SHARE) if tranches >= 3 else target
    mid, qty = curve_steps(held_h100e, top, phase=phase)
    p = labs.params
    values = marginal_value(mid, inference[:, None], target[:, None],
                            p["usd_per_served_h100e_month"], p["growth_premium"],
                            p["training_value_usd_per_h100e_month"], p["value_decay"])
    tranche = step_tranche(mid, inference, target)
    if tranches < 3:
        # a term block serves the need months ahead and could be bought on spot instead
        tranche = np.full_like(tranche, TERM)
    return qty, values, tranche


def lab_bids(labs: BidCurves, alive: np.ndarray, held_h100e: np.ndarray,
             target_h100e: np.ndarray, inference_h100e: np.ndarray, reference: np.ndarray,
             budget_usd: np.ndarray, tranches: int = 3, value_scale: float = 1.0,
             curve: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, phase=0.5
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bids of all labs at once: (lab position, quantity, limit price) per non-empty step.

    ``labs`` holds the labs' curves, ``alive`` whether each has not defaulted;
    ``held_h100e``, ``target_h100e`` (inference plus training need), ``inference_h100e``,
    ``reference`` and ``budget_usd`` are arrays over the labs. With ``tranches`` = 3 the curve
    goes on past the need by ``OPPORTUNISTIC_SHARE`` (term markets stop at the need). Each lab's
    registered strategy turns values into limits; the budget then caps them (``budget_limits``).
    ``value_scale`` scales every value (a term block's months are worth less when prices are
    expected to fall over its tenor). ``curve``: the ``bid_curve`` of these arguments, when
    already computed; ``phase``: where each step is priced (``curve_steps``).
    """
    if not labs.n:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    if curve is None:
        curve = bid_curve(labs, held_h100e, target_h100e, inference_h100e, tranches, phase)
    qty, values, tranche = curve
    values = values * value_scale
    limits = np.empty_like(values)
    ref = np.broadcast_to(np.asarray(reference, dtype=float)[:, None], values.shape)
    for rule, rows in labs.by_strategy:
        limits[rows] = rule.bid(values[rows], tranche[rows], ref[rows])
    limits = budget_limits(limits, qty, budget_usd)
    keep = (qty > 0) & (limits > 0) & np.asarray(alive, dtype=bool)[:, None]
    pos = np.broadcast_to(np.arange(labs.n)[:, None], qty.shape)
    return pos[keep], qty[keep], limits[keep]


def exit_signal(price: np.ndarray, spot_index: float, exit_premium: np.ndarray) -> np.ndarray:
    """True where a contract's price exceeds the spot index by more than the exit premium."""
    return price > spot_index * (1.0 + exit_premium)


class Lab(Party):
    """A frontier or small lab. Its demand and money state are columns of the party table so
    that every lab is settled at once; the properties below read and write its row."""

    model: ComputeMarket
    inference_h100e = row_value("inference_h100e", "Inference need this month (H100e).")
    served_h100e = row_value("served_h100e", "Capacity used this month (H100e).")
    unmet_h100e = row_value("unmet_h100e", "Need not served this month (H100e).")
    revenue_usd = row_value("revenue_usd", "Revenue this month (USD).")
    value_usd = row_value("value_usd", "Value of served compute this month (USD).")

    def __init__(self, model: ComputeMarket, cfg: LabConfig, party: int) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.name = cfg.name
        self.kind = cfg.kind
        self.party = party
        self.strategy = strategy(cfg.strategy)
        self.funding = {month_index(f.month): f.usd for f in cfg.funding}

    @property
    def need_h100e(self) -> float:
        """Inference plus training need this month."""
        return self.inference_h100e * (1.0 + self.cfg.training_share)
