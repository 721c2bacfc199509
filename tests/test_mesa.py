"""Mesa conventions: the keyword constructor, the DataCollector and ``mesa.batch_run``."""

import multiprocessing

import mesa
import pandas as pd
import pytest

from market import metrics
from market.model import ComputeMarket
from market.scenarios import ScenarioError, load_scenario


@pytest.fixture
def keep_start_method():
    """``mesa.batch_run`` forces the ``spawn`` start method on the whole process: put it back."""
    before = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(before, force=True)


def _same_tables(a: ComputeMarket, b: ComputeMarket) -> None:
    for name, frame in a.frames().items():
        pd.testing.assert_frame_equal(frame, b.frames()[name], obj=name)


def test_keyword_constructor_is_the_scenario_with_its_overrides():
    world = load_scenario("no-deal", ["market.k=0.4", "terms.spot.buyer_notice_days=0",
                                      "months=3"])
    reference = ComputeMarket(world, rng=7).run()
    by_keywords = ComputeMarket(scenario="no-deal", months=3, rng=7, market__k=0.4,
                                terms__spot__buyer_notice_days=0).run()
    by_dict = ComputeMarket("no-deal", months=3, rng=7, overrides={
        "market.k": 0.4, "terms.spot.buyer_notice_days": 0}).run()
    by_strings = ComputeMarket("no-deal", rng=7, overrides=[
        "market.k=0.4", "terms.spot.buyer_notice_days=0", "months=3"]).run()
    assert by_keywords.world == world
    for model in (by_keywords, by_dict, by_strings):
        _same_tables(reference, model)


def test_default_constructor_is_the_default_scenario():
    assert ComputeMarket().world == load_scenario("colossus-2026")


def test_constructor_rejects_a_bad_override_and_a_world_with_overrides():
    with pytest.raises(ScenarioError, match=r"no table 'markett'.*did you mean 'market'"):
        ComputeMarket(markett__k=0.4)
    with pytest.raises(ScenarioError, match="months"):
        ComputeMarket(months=0)
    with pytest.raises(TypeError, match="not both"):
        ComputeMarket(load_scenario("no-deal"), months=3)


def test_datacollector_reports_the_headline_metrics_once_at_the_end():
    model = ComputeMarket(scenario="recall-shock", months=4, rng=2)
    assert list(model.datacollector.model_reporters) == metrics.summary_keys((12, 36))
    model.run()
    collected = model.datacollector.get_model_vars_dataframe()
    assert len(collected) == 1
    assert collected.iloc[0].to_dict() == pytest.approx(metrics.summary(model.frames()),
                                                        nan_ok=True)


def test_frames_after_the_collector_equal_tables_built_afresh():
    """The collector builds only the market and agents tables for the headline metrics; the
    next ``frames()`` hands those over and builds the contracts and events tables: all four
    equal what each table's own builder makes afresh, and the collector's metrics are the
    summary of them."""
    model = ComputeMarket(scenario="recall-shock", months=5, rng=1).run()
    frames = model.frames()
    fresh = {"market": model.market_frame(), "agents": model.agents_frame(),
             "contracts": model.contracts_frame(), "events": model.events_frame()}
    assert list(frames) == list(fresh)
    for name, table in fresh.items():
        assert not table.empty
        pd.testing.assert_frame_equal(frames[name], table, check_exact=True)
    collected = model.datacollector.get_model_vars_dataframe().iloc[0].to_dict()
    assert collected == pytest.approx(metrics.summary(fresh), nan_ok=True)
    assert model.frames()["agents"] is not frames["agents"]  # handed over once only


def test_summary_keys_match_the_summary():
    frames = ComputeMarket(scenario="no-deal", months=2, rng=0).run().frames()
    assert list(metrics.summary(frames)) == metrics.summary_keys((12, 36))


def test_batch_run_runs_a_grid_of_scenarios_and_seeds(keep_start_method):
    rows = mesa.batch_run(ComputeMarket,
                          parameters={"scenario": ["colossus-2026", "no-deal"], "months": 3,
                                      "market__k": [0.5]},
                          rng=[0, 1], number_processes=1, display_progress=False)
    table = pd.DataFrame(rows)
    assert sorted(zip(table["scenario"], table["rng"], strict=True)) == [
        ("colossus-2026", 0), ("colossus-2026", 1), ("no-deal", 0), ("no-deal", 1)]
    assert table["RunId"].nunique() == 4
    for row in rows:  # each row is the run itself: same metrics as a run done by hand
        alone = ComputeMarket(scenario=row["scenario"], months=3, rng=row["rng"]).run()
        expected = metrics.summary(alone.frames())
        assert {k: row[k] for k in expected} == pytest.approx(expected, nan_ok=True)
    lease = table.set_index(["scenario", "rng"])["owner_revenue_usd"]
    assert lease["colossus-2026", 0] > lease["no-deal", 0]  # the preloaded lease bills


def test_frames_after_collection_are_the_collected_ones_then_fresh():
    """The collector's tables go to the first frames() call (no rebuild); later calls build
    new tables, so no two callers share (and could alter) the same objects."""
    model = ComputeMarket(scenario="no-deal", months=2, rng=4).run()
    first, second = model.frames(), model.frames()
    assert first["agents"] is not second["agents"]
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
    first["agents"].loc[:, "cash_usd"] = 0.0  # a caller may change its own copy
    assert model.frames()["agents"]["cash_usd"].ne(0.0).any()
