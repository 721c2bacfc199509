"""Global sensitivity analysis of a study through SALib: Sobol indices and Morris screening.

- ``method = "saltelli"``: Saltelli's design (``SALib.sample.sobol``, without second-order
  terms) over the study's ranges; ``SALib.analyze.sobol`` gives per parameter the first-order
  index ``S1`` (share of the metric's variance explained by the parameter alone) and the
  total-order index ``ST`` (including all its interactions; ``ST - S1`` is the interaction
  part).
- ``method = "morris"``: ``samples`` one-at-a-time trajectories on a ``MORRIS_LEVELS`` grid
  (``SALib.sample.morris``); ``SALib.analyze.morris`` gives ``mu_star`` (mean absolute
  elementary effect: importance), ``mu`` (signed mean: direction) and ``sigma`` (spread of the
  effects: non-linearity or interactions), per unit of the parameter's range.

Each ``*_conf`` column is the half-width of a ``CONF_LEVEL`` bootstrap interval
(``RESAMPLES`` resamples, seeded with the study's ``seed``, so it is deterministic). Both
designs run on the unit cube and are mapped onto the ranges by ``market.sweep.study``; a
metric's value at a design point is its mean over the study's replicate seeds (common random
numbers), so seed noise is averaged out of the indices, not attributed to a parameter.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from market.sweep.study import MORRIS_LEVELS, Study

if TYPE_CHECKING:
    from market.sweep.study import Plan

CONF_LEVEL = 0.95
RESAMPLES = 1000
SOBOL_COLUMNS = ["S1", "S1_conf", "ST", "ST_conf"]
MORRIS_COLUMNS = ["mu_star", "mu_star_conf", "mu", "sigma"]


def problem(study: Study) -> dict:
    """SALib's problem over the unit cube: one variable per ranged parameter."""
    names = [p.path for p in study.parameters if p.range is not None]
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def salib_sample(study: Study, d: int, n: int) -> np.ndarray:
    """The unit-cube design of a SALib method: N * (d + 2) Saltelli rows, or n Morris
    trajectories of d + 1 rows."""
    from SALib.sample import morris, sobol

    prob = problem(study)
    if study.method == "saltelli":
        return sobol.sample(prob, n, calc_second_order=False, seed=study.seed)
    return morris.sample(prob, n, num_levels=MORRIS_LEVELS, seed=study.seed)


def columns(method: str) -> list[str]:
    """The index columns a method reports."""
    return SOBOL_COLUMNS if method == "saltelli" else MORRIS_COLUMNS


def indices(study: Study, y: np.ndarray, unit: np.ndarray | None = None) -> pd.DataFrame:
    """Indices of one output ``y`` (a value per design row) for every ranged parameter.

    ``unit`` is the design over the unit cube (``market.sweep.study.unit_design``; Morris
    needs it, and it is recomputed when not given). A constant output or one with a missing
    value has no indices (NaN).
    """
    from SALib.analyze import morris, sobol

    prob = problem(study)
    cols = columns(study.method)
    y = np.asarray(y, dtype=float)
    if not np.isfinite(y).all() or np.ptp(y) == 0:
        return pd.DataFrame({"parameter": prob["names"], **{c: np.nan for c in cols}})
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # SALib's notes on small samples; the conf says it
        if study.method == "saltelli":
            res = sobol.analyze(prob, y, calc_second_order=False, num_resamples=RESAMPLES,
                                conf_level=CONF_LEVEL, seed=study.seed)
        else:
            if unit is None:
                from market.sweep.study import unit_design

                unit = unit_design(study)
            res = morris.analyze(prob, unit, y, num_resamples=RESAMPLES,
                                 conf_level=CONF_LEVEL, num_levels=MORRIS_LEVELS,
                                 seed=study.seed)
    return pd.DataFrame({"parameter": prob["names"],
                         **{c: np.asarray(res[c], dtype=float) for c in cols}})


def design_outputs(frame: pd.DataFrame, plan: Plan, metric: str) -> np.ndarray:
    """A metric per design row: the mean over replicate seeds of the successful runs at the
    row's point (NaN where none succeeded)."""
    point = {r.run_id: r.point for r in plan.runs}
    ok = frame[frame["status"] == "ok"]
    means = ok[metric].groupby(ok["run_id"].map(point)).mean()
    return means.reindex(list(plan.design_rows)).to_numpy(dtype=float)


def study_indices(frame: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Indices of every metric of a study run with a SALib method: a row per metric and
    parameter, with the method and the number of design rows and seeds behind them."""
    from market.sweep.study import unit_design

    study = plan.study
    unit = unit_design(study) if study.method == "morris" else None
    parts = []
    for metric in plan.metrics:
        table = indices(study, design_outputs(frame, plan, metric), unit)
        parts.append(table.assign(metric=metric))
    out = pd.concat(parts, ignore_index=True)
    out = out.assign(method=study.method, design_rows=len(plan.design_rows),
                     seeds=len(study.seeds))
    return out[["metric", "parameter", *columns(study.method), "method", "design_rows",
                "seeds"]]
