"""black-it vs optuna (market.calibrate) on the recovery problem of tests/test_calibrate.py:
same targets, same loss (market.calibrate.point_loss), same seeds per point (0 and 1), the full
ranges as the starting information for both, 72 model runs (36 points) each, 4 search seeds.
Best loss so far after 12, 24, 48 and 72 runs, and the largest error of the recovered values
(share of their range), go to compare_searchers.json.

black-it 0.3 pins numpy < 1.27 and Python < 3.13, so it cannot share the project's environment;
run this in a separate one (the 2026-12 run used Python 3.12, numpy 1.26.4, black-it 0.3.3,
optuna 5.1.0):

    python -m venv /tmp/bi && /tmp/bi/bin/pip install black-it "mesa>=3.5.1,<4" networkx \
        pyarrow tqdm optuna pytest
    PYTHONPATH=. /tmp/bi/bin/python experiments/calibration/compare_searchers.py
"""
import sys, time, json
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "tests"))
import numpy as np
from pathlib import Path
from test_calibrate import make_targets, spec_dict, TRUTH
from market.calibrate import calibrate, load_spec, point_loss
from market.calibrate.worker import run_point
from market.calibrate import _prepare
import dataclasses

tmp = Path(__import__("tempfile").mkdtemp()); targets = tmp / "targets.csv"; make_targets(targets)
d = spec_dict(targets, budget=72, init_points=12, batch=8)
for p in d["parameters"]:
    p.pop("init", None)   # same starting information for both: the full ranges
spec = load_spec(d)
raw, source = _prepare(spec)
moments = [dataclasses.asdict(m) for m in spec.moments]
paths = [p.path for p in spec.parameters]
BUDGET_POINTS = 36

def loss_at(theta):
    params = {p.path: p.to_value(x) for p, x in zip(spec.parameters, theta)}
    per_seed = []
    for s in spec.seeds:
        r = run_point({"run_id": "x", "raw": raw, "source": source, "params": params, "seed": s, "moments": moments, "series": []})
        per_seed.append(r["moments"])
    return point_loss(spec, per_seed)

def err(theta):
    return max(abs(theta[i] - TRUTH[p.path]) / (p.high - p.low) for i, p in enumerate(spec.parameters) if p.path in TRUTH)

results = {"optuna": [], "black-it": []}
for rs in (0, 1, 2, 3):
    t0 = time.perf_counter()
    res = calibrate(dataclasses.replace(spec, search_seed=rs), out=tmp / f"optfull{rs}", workers=1, write_outputs=False)
    losses = res.points["loss"].astype(float).to_numpy()
    best = np.minimum.accumulate(losses)
    bi = int(np.argmin(losses)); theta = [res.points["p:" + p].iloc[bi] for p in paths]
    results["optuna"].append({"seed": rs, "best_at_runs": {n*2: float(best[n-1]) for n in (6, 12, 24, 36)}, "param_err": err(theta), "s": time.perf_counter() - t0})
    print("optuna", results["optuna"][-1], flush=True)

from black_it.calibrator import Calibrator
from black_it.samplers.halton import HaltonSampler
from black_it.samplers.random_forest import RandomForestSampler
from black_it.samplers.best_batch import BestBatchSampler
from black_it.loss_functions.base import BaseLoss

obs = np.array([m.value for m in spec.moments]); sd = np.array([m.sd for m in spec.moments])
class MSM(BaseLoss):
    def compute_loss(self, sim_data_ensemble, real_data):
        sim = sim_data_ensemble.mean(axis=0)[:, 0]
        return float((((sim - real_data[:, 0]) / sd) ** 2).sum())
    def compute_loss_1d(self, a, b):
        raise NotImplementedError

calls = []
def model(theta, N, seed):
    _, means = loss_at(theta)
    calls.append(1)
    return np.array(means, dtype=float).reshape(N, 1)

bounds = [[p.low for p in spec.parameters], [p.high for p in spec.parameters]]
prec = [0.0005, 1.0, 1.0]
for rs in (0, 1, 2, 3):
    t0 = time.perf_counter(); calls.clear()
    samplers = [HaltonSampler(batch_size=4, random_state=rs), RandomForestSampler(batch_size=4, random_state=rs), BestBatchSampler(batch_size=4, random_state=rs)]
    cal = Calibrator(loss_function=MSM(), real_data=obs.reshape(-1, 1), model=model, parameters_bounds=bounds, parameters_precision=prec, ensemble_size=1, samplers=samplers, sim_length=len(obs), verbose=False, random_state=rs, n_jobs=1)
    params, losses = cal.calibrate(n_batches=9)
    # black-it returns all points sorted by loss; its history in evaluation order:
    hist = cal.losses_samp  # in evaluation order
    best = np.minimum.accumulate(np.asarray(hist, dtype=float))
    results["black-it"].append({"seed": rs, "points": len(hist), "best_at_runs": {n*2: float(best[min(n, len(best))-1]) for n in (6, 12, 24, 36)}, "param_err": err(params[0]), "s": time.perf_counter() - t0})
    print("black-it", results["black-it"][-1], flush=True)
json.dump(results, open(Path(__file__).with_suffix(".json"), "w"), indent=1)
