"""The browser app in-process (``solara.render``, no browser): controls to world, the incremental
history, the chart specs, the page (step, reset, per-session models), the offline-asset
preparation and the ``viz`` command's arguments. The real-browser test is test_viz_browser.py."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
import tarfile
from pathlib import Path

import ipyvuetify as v
import numpy as np
import pandas as pd
import pytest
import solara

from market import kinds, viz
from market.model import ComputeMarket
from market.scenarios import available, build_world, load_raw
from market.viz import app, assets, bands


def world_months(months: int = 120):
    raw, path = load_raw("colossus-2026")
    raw["months"] = months
    return build_world(raw, str(path))


# ----------------------------------------------------------------------------- controls -> world
def test_default_controls_reproduce_the_scenario():
    """With every control at its default the app runs the scenario as written (120 months)."""
    ours = app.VizMarket()
    plain = ComputeMarket(world_months(120), rng=42)
    for _ in range(8):
        ours.step()
        plain.step()
    for table in ("market", "agents", "events"):
        pd.testing.assert_frame_equal(pd.DataFrame(ours.rows(table)),
                                      pd.DataFrame(plain.rows(table)))


def test_default_rule_controls_are_the_lease_templates_own():
    """The sidebar's rule defaults leave the Colossus lease's terms as the scenario writes them."""
    world, notes = app.world_from_controls()
    written = build_world(*_raw_and_path()).market.terms("colossus_lease")
    assert world.market.terms("colossus_lease") == written
    assert notes == []


def _raw_and_path():
    raw, path = load_raw("colossus-2026")
    return raw, str(path)


def test_contract_rules_replace_the_chosen_template():
    world, notes = app.world_from_controls(buyer_notice="no early exit", seller_notice="30",
                                           recall=False, recall_notice_days=180, ramp_months=4,
                                           ramp_discount=0.25, take_or_pay=False)
    terms = world.market.terms("colossus_lease")
    assert (terms.buyer_notice_days, terms.seller_notice_days) == (None, 30)
    assert (terms.recall, terms.recall_notice_days) == (False, 180)
    assert (terms.ramp_months, terms.ramp_discount, terms.take_or_pay) == (4, 0.25, False)
    assert world.market.terms("hyperscaler_reservation").buyer_notice_days == 90
    assert notes == []
    every, _ = app.world_from_controls(rules_template=app.ALL_TEMPLATES, ramp_discount=0.1)
    for name in app.RULE_TEMPLATES:
        assert every.market.terms(name).ramp_discount == 0.1


def test_friction_and_shocks():
    base, _ = app.world_from_controls()
    world, notes = app.world_from_controls(
        permit_delay_scale=2.0, opposition_scale=3.0, recall_shock_month=14,
        recall_shock_share=0.5, exit_shock_month=20, exit_shock_seller="neocloud_2",
        orbital_month=25, orbital_mw=400, orbital_probability=0.5)
    assert notes == []
    for a, b in zip(base.regions, world.regions, strict=True):
        assert b.permit_months_mean == pytest.approx(2 * a.permit_months_mean)
        assert b.opposition_probability == pytest.approx(min(1.0, 3 * a.opposition_probability))
    shocks = {(s.kind, s.month, s.seller, s.share) for s in world.shocks}
    assert ("recall", "2027-02", "colossus_owner", 0.5) in shocks
    assert ("seller_exit", "2027-08", "neocloud_2", 1.0) in shocks
    owner = world.seller("colossus_owner")
    orbital = [s for s in owner.sites if s.name == app.ORBITAL_SITE]
    assert len(orbital) == 1
    site = orbital[0]
    assert (site.status, site.online, site.mw, site.arrival_probability) == (
        "scheduled", "2028-01", 400.0, 0.5)


@pytest.mark.parametrize("scenario", sorted(available()))
def test_every_scenario_runs_with_extreme_controls(scenario):
    model = app.VizMarket(
        scenario_name=scenario, months=12, rules_template=app.ALL_TEMPLATES,
        buyer_notice="0", seller_notice=app.NO_EXIT, recall=True, recall_notice_days=0,
        ramp_months=12, ramp_discount=1.0, take_or_pay=False, permit_delay_scale=0.25,
        opposition_scale=10.0, recall_shock_month=2, exit_shock_month=3, orbital_month=4,
        orbital_probability=1.0)
    model.run()
    assert not model.running and len(model.history.months) == 12
    assert app.metrics(model)["Spot index"].startswith("$")


def test_a_seller_missing_from_the_scenario_is_a_note_not_an_error():
    world, notes = app.world_from_controls(exit_shock_month=3, exit_shock_seller="nobody")
    assert not world.shocks and notes and "nobody" in notes[0]


def test_seed_text():
    assert app.VizMarket(seed=" 7 ").seed_value == 7
    assert app.VizMarket(seed=" 7 ").notes == []
    for bad in ("seven", "-1", "1.5", str(2**63)):  # refused, said in one line, default used
        model = app.VizMarket(seed=bad)
        assert model.seed_value == 42
        assert model.notes == [f"Seed = {bad!r}: must be a whole number from 0 to 2**63 - 1; "
                               "used the default '42'"]


def test_every_control_is_a_keyword_of_the_model():
    names = set(app.world_from_controls.__code__.co_varnames[
        :app.world_from_controls.__code__.co_kwonlyargcount])
    assert set(app.MODEL_PARAMS) == names | {"seed"}
    for name, spec in app.MODEL_PARAMS.items():
        if "values" in spec:
            assert spec["value"] in spec["values"], name
        if "min" in spec:
            assert spec["min"] <= spec["value"] <= spec["max"], name


# ----------------------------------------------------------------------------- history and specs
def test_history_reads_each_row_once():
    model = app.VizMarket(months=12)
    for _ in range(6):
        model.step()
    h = model.history
    h.sync()  # nothing new: no duplicates
    n_products = len(model.products)
    assert len(h.months) == 6
    assert len(h.price_rows) == 6 * n_products
    assert len(h.capacity_rows) == 6 * len(kinds.labels("seller"))
    assert len(h.lab_rows) == 6 * len(model.labs)
    assert sum(r["count"] for r in h.event_rows) == len(model.rows("events"))
    assert len({(r["month"], r["event"]) for r in h.event_rows}) == len(h.event_rows)
    last_spot = model.rows("market")[-1]
    assert h.last["spot index"] == pytest.approx(last_spot["index_usd_per_h100e_month"] / 730)


def _axes(spec: dict):
    for part in [spec, *spec.get("layer", []), *spec.get("vconcat", [])]:
        for channel in ("x", "y"):
            enc = part.get("encoding", {}).get(channel)
            if enc is not None:
                yield channel, enc


SPECS = [app.price_spec, app.capacity_spec, app.served_spec, app.unmet_spec, app.events_spec]


@pytest.mark.parametrize("spec_of", SPECS, ids=lambda f: f.__name__)
def test_specs_have_titled_axes_dates_and_small_data(spec_of):
    model = app.VizMarket(months=24)
    model.run()
    spec = spec_of(model.history)
    json.dumps(spec)  # plain JSON for the widget
    assert spec["title"]
    axes = list(_axes(spec))
    assert axes
    for channel, enc in axes:
        title = enc.get("axis", {}).get("title")
        assert title, (channel, enc)
        if channel == "x":
            assert enc["type"] == "temporal" and enc["axis"]["format"] == "%Y-%m"
            assert "Month" in title
    rows = app.dataset_rows(spec)
    assert 0 < rows <= 24 * 20  # pre-aggregated per month, never raw rows
    names = {p["data"]["name"] for p in [spec, *spec.get("layer", [])] if "data" in p}
    assert names <= set(spec["datasets"])  # named data: a redraw changes only the datasets
    colours = json.dumps(spec)
    assert "#" not in colours  # CSS colour names


def test_metrics_and_live_contracts():
    model = app.VizMarket(months=12)
    assert app.month_readout(model) == "2026-01 (month 0 of 12, not started)"
    for _ in range(5):
        model.step()
    assert app.month_readout(model) == "2026-05 (month 5 of 12)"
    cards = app.metrics(model)
    assert cards["Spot index"].endswith("/H100e-h") and cards["Spot index"].startswith("$")
    live = app.live_contracts(model)
    assert set(live) == set(app.LIVE_COLUMNS)
    n = int(model.book.live(model.month - 1).sum())
    assert len(live["buyer"]) == min(n, 200) > 0
    assert "frontier_a" in live["buyer"]  # the Colossus lease, live from 2026-05
    table = app.table_html(live)
    assert table.count("<tr>") == len(live["buyer"]) + 1


# ----------------------------------------------------------------------------- the page
def render_page():
    return solara.render(solara.AppLayout(children=[app.Page()]), handle_error=False)


def readout(rc) -> str:
    fragment = rc.find(solara.widgets.HTML, attributes={"class": "status-cards"}).widget
    return fragment.unsafe_innerHTML


def month_of(rc) -> str:
    return re.search(r"Month: ([^<]*)", readout(rc)).group(1)


def card(rc, name: str) -> str:
    found = re.search(re.escape(name) + r'</div><div class="metric-value"[^>]*>([^<]*)<',
                      readout(rc))
    return found.group(1)


def button(rc, label: str):
    return rc.find(v.Btn, children=[label]).widget


def test_hooks_valid():
    """The app's components pass solara's hook rules (no conditional hooks)."""
    import warnings

    from solara.validate_hooks import HookValidator

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for component in (app.Page, app.Dashboard, app.VegaView, app.StatusCards,
                          app.ContractsTable):
            HookValidator(component.f).run()


def test_page_steps_resets_and_applies_controls():
    _, rc = render_page()
    assert month_of(rc) == "2026-01 (month 0 of 120, not started)"
    charts = rc.find(app.VegaChart).widgets
    assert len(charts) == 5
    for _ in range(6):
        button(rc, "Step").click()
    assert month_of(rc) == "2026-06 (month 6 of 120)"
    assert app.dataset_rows(charts[0].spec) == 6 * 3  # spot + two term indices
    fees = card(rc, "Contract fees this month")
    # a contract rule: no ramp discount for the Colossus lease, whose GB200 share is being
    # delivered in 2026-06
    rc.find(v.Slider, label="Ramp discount (share of the fee)").widget.v_model = 0.0
    button(rc, "Reset").click()
    assert month_of(rc) == "2026-01 (month 0 of 120, not started)"
    assert "press Step" in json.dumps(charts[0].spec)
    for _ in range(6):
        button(rc, "Step").click()
    assert month_of(rc) == "2026-06 (month 6 of 120)"
    assert card(rc, "Contract fees this month") != fees
    rc.close()


def test_each_session_has_its_own_model():
    _, first = render_page()
    _, second = render_page()
    button(first, "Step").click()
    assert "month 1 of" in month_of(first)
    assert "month 0 of" in month_of(second)
    first.close()
    second.close()


# ----------------------------------------------------------------------------- offline assets
def test_requested_files_are_pinned_packages():
    files = assets.requested_files()
    assert any(f.startswith("@widgetti/solara-vuetify-app@") for f in files)
    for needed in ("vega@5/build/vega.min.js", "vega-lite@5/build/vega-lite.min.js",
                   "vega-embed@6/build/vega-embed.min.js", "requirejs@2.3.6/require.js"):
        assert needed in files
    # a Solara upgrade that requests other packages fails here: update PINNED
    assert {assets._spec_of(f) for f in files} <= set(assets.PINNED)
    assert not any("vuetify3" in f for f in files)  # ipyvue<2: the Vue 2 page


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_prepare_unpacks_verifies_and_reports(tmp_path, monkeypatch):
    files = ["pkg@1/dist/app.js", "pkg@1/dist/app.min.js", "@s/other@2.0.0/x.css"]
    monkeypatch.setattr(assets, "requested_files", lambda: files)
    blobs = {"pkg@1": _tarball({"dist/app.js": b"js"}),
             "@s/other@2.0.0": _tarball({"x.css": b"css"})}
    digest = "sha512-" + base64.b64encode(hashlib.sha512(blobs["pkg@1"]).digest()).decode()
    monkeypatch.setattr(assets, "PINNED", {"pkg@1": assets.Pinned("pkg@1", "1.4.0", digest)})
    asked = []

    def fake_pack(spec, workdir: Path) -> Path:
        asked.append(spec)
        key = "pkg@1" if spec.startswith("pkg@") else spec
        target = workdir / "p.tgz"
        target.write_bytes(blobs[key])
        return target

    monkeypatch.setattr(assets, "_npm_pack", fake_pack)
    folder = tmp_path / "cdn"
    assert assets.missing_files(folder) == files
    assert assets.prepare(folder, log=lambda m: None) == folder
    assert asked == ["@s/other@2.0.0", "pkg@1.4.0"]  # pinned: the exact version
    assert (folder / "pkg@1/dist/app.min.js").read_bytes() == b"js"  # jsDelivr-style .min
    assert (folder / "@s/other@2.0.0/x.css").read_bytes() == b"css"
    assert assets.is_ready(folder)
    asked.clear()
    assets.prepare(folder, log=lambda m: None)
    assert asked == []  # nothing fetched twice
    # a tarball that does not match its pin is refused
    blobs["pkg@1"] = _tarball({"dist/app.js": b"evil"})
    with pytest.raises(assets.AssetsError, match="integrity"):
        assets.prepare(tmp_path / "other", log=lambda m: None)


def test_no_npm_and_no_pin_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "requested_files", lambda: ["unpinned@3/a.js"])
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    with pytest.raises(assets.AssetsError, match="npm") as err:
        assets.prepare(tmp_path, log=lambda m: None)
    assert "\n" not in str(err.value)


def test_cache_dir_follows_solara_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("SOLARA_ASSETS_PROXY_CACHE_DIR", str(tmp_path))
    assert assets.cache_dir() == tmp_path
    monkeypatch.delenv("SOLARA_ASSETS_PROXY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert assets.cache_dir() == tmp_path / "xdg" / "compute-market" / "solara-cdn"


# ----------------------------------------------------------------------------- the command
def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        viz.cli(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--host" in out and "compute-market viz" in out


def test_cli_missing_assets_is_one_line(capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise assets.AssetsError("vega@5 is needed and npm is not installed")

    monkeypatch.setattr(assets, "prepare", fail)
    assert viz.cli(["--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "npm" in err


def test_server_command_and_env(tmp_path):
    cmd = viz.server_command("127.0.0.1", 8999)
    assert cmd[1:5] == ["-m", "solara", "run", "market.viz.app"]
    assert "--production" in cmd and "8999" in cmd
    env = viz.server_env(tmp_path)
    assert env["SOLARA_ASSETS_PROXY_CACHE_DIR"] == str(tmp_path)
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "false"


def test_render_time_does_not_grow_with_history():
    """The Python side of a step (model step, history, specs, render): late steps cost about
    what early ones do; only the longer lines add (a few series x one point per month)."""
    import time

    _, rc = render_page()
    step = button(rc, "Step")

    def timed(n: int) -> float:
        times = []
        for _ in range(n):
            start = time.process_time()  # CPU time: other processes do not count
            step.click()
            times.append(time.process_time() - start)
        return float(np.median(times))

    early = timed(10)
    interval = rc.find(v.Slider, label="Render Interval (steps)").widget
    interval.v_model = 100  # Mesa's render interval: one click runs 100 months
    step.click()
    interval.v_model = 1
    late = timed(10)
    assert "month 120 of 120" in month_of(rc)
    assert late < 3 * early + 0.05, (early, late)
    rc.close()


# ----------------------------------------------------------------------------- ensemble mode
@pytest.fixture(scope="module")
def bands6():
    """The default world and the no-deal baseline over seeds 1 and 2, 6 months, on 2 local
    worker processes."""
    world = world_months(6)
    baseline = app.world_from_controls(scenario_name="no-deal", months=6)[0]
    return world, bands.run_bands(world, [1, 2], baseline, workers=2)


def _layers(spec: dict):
    for part in spec.get("layer", []):
        yield part
        yield from _layers(part)


def test_bands_are_the_fans_of_the_seeds(bands6):
    from market.metrics import series_values

    world, b = bands6
    assert (b.seeds, b.scenario, b.baseline) == ((1, 2), "colossus-2026", "no-deal")
    rows = pd.DataFrame(b.rows)
    assert len(rows) == 2 * 2 * 6  # arms x series x months
    q = rows[["q05", "q25", "q50", "q75", "q95"]].to_numpy()
    assert (np.diff(q, axis=1) >= -1e-9).all()
    runs = [ComputeMarket(world, rng=seed).run().frames() for seed in (1, 2)]
    spot = np.vstack([series_values(f, "spot_index").to_numpy() for f in runs])
    ours = rows[(rows["arm"] == "ensemble") & (rows["series"] == "spot_index")]
    np.testing.assert_allclose(ours["q50"], np.median(spot, axis=0), atol=1e-4)
    np.testing.assert_allclose(ours["q95"], np.quantile(spot, 0.95, axis=0), atol=1e-4)
    assert list(ours["month"])[:2] == ["2026-01-01", "2026-02-01"]
    assert "2 seeds (1..2)" in b.describe() and "baseline no-deal" in b.describe()


def test_bands_layer_behind_the_price_and_capacity_lines(bands6):
    _, b = bands6
    model = app.VizMarket(months=6)
    for _ in range(3):
        model.step()
    for spec_of, series in ((app.price_spec, "spot_index"), (app.capacity_spec,
                                                              "capacity_h100e")):
        plain = spec_of(model.history)
        spec = bands.with_bands(plain, b, spec_of)
        json.dumps(spec)
        assert "#" not in json.dumps(spec)  # CSS colour names
        assert {r["series"] for r in spec["datasets"]["bands"]} == {series}
        banded = [p for p in _layers(spec) if p.get("data", {}).get("name") == "bands"]
        assert len(banded) == 4  # ensemble 90% and 50%, baseline 90% and median
        for part in banded:
            assert part["encoding"]["x"]["type"] == "temporal"
            assert part["encoding"]["y"]["axis"]["title"]
        assert spec["title"]["subtitle"] == [
            f"bands: {'spot index' if series == 'spot_index' else 'total capacity'}, 2 seeds "
            "(1..2), 50% and 90%", "dashed: no-deal median (grey: its 90%)"]
        assert app.dataset_rows(spec) == app.dataset_rows(plain) + 2 * 6
    assert bands.with_bands(app.served_spec(model.history), b, app.served_spec) == \
        app.served_spec(model.history)
    assert bands.with_bands(app.price_spec(model.history), None, app.price_spec) == \
        app.price_spec(model.history)


def test_page_runs_seeds_in_the_background():
    import time

    from solara.validate_hooks import HookValidator

    HookValidator(bands.EnsembleBar.f).run()
    _, rc = render_page()
    rc.find(v.Slider, label="Months to simulate").widget.v_model = 12  # (the slider's least)
    button(rc, "Reset").click()
    for _ in range(2):
        button(rc, "Step").click()
    status = rc.find(v.Html, class_="ensemble-status")
    assert "one seed shown" in str(status.widget.children)
    rc.find(v.Slider, label="Seeds in the bands").widget.v_model = 3
    rc.find(v.Select, label="Baseline scenario").widget.v_model = "no-deal"
    button(rc, "Run seeds").click()
    charts = rc.find(app.VegaChart).widgets
    deadline = time.monotonic() + 120
    while (not all("bands" in c.spec.get("datasets", {}) for c in charts[:2])
           and time.monotonic() < deadline):  # each chart's effect pushes its own spec
        time.sleep(0.1)
    rows = charts[0].spec["datasets"]["bands"]
    assert len(rows) == 2 * 12 and len(charts[1].spec["datasets"]["bands"]) == 2 * 12
    assert "bands" not in charts[2].spec.get("datasets", {})
    status = rc.find(v.Html, class_="ensemble-status").widget
    assert "bands: 3 seeds (42..44) of colossus-2026" in str(status.children)
    button(rc, "Step").click()  # the bands stay while the run goes on
    assert "month 3 of 12" in month_of(rc)
    assert charts[0].spec["datasets"]["bands"] == rows
    button(rc, "Reset").click()  # new settings may follow: the old bands go
    button(rc, "Step").click()
    assert "bands" not in charts[0].spec["datasets"]
    status = rc.find(v.Html, class_="ensemble-status").widget
    assert "one seed shown" in str(status.children)
    rc.close()


# ----------------------------------------------------------------------- the page is not trusted
def test_page_refuses_control_values_it_did_not_offer(tmp_path):
    """Issue 17, case 6: a forged Scenario value (a server file) and an out-of-range slider set
    from the page, then Reset: the file is never read, each refusal is one line on the page (no
    traceback, no path), and the run uses the defaults for those controls (the seed box is
    checked alike: test_seed_text)."""
    secret = tmp_path / "secret.toml"
    secret.write_text('extends = "colossus-2026"\ndescription = "hunter2"\n')
    _, rc = render_page()
    rc.find(v.Select, label="Scenario").widget.v_model = str(secret)
    rc.find(v.Slider, label="Months to simulate").widget.v_model = 10_000
    button(rc, "Reset").click()
    page = readout(rc)
    assert "hunter2" not in page and str(tmp_path) not in page and "Traceback" not in page
    for note in ("Scenario: the page sent a value that is not one of the offered choices; "
                 "used the default 'colossus-2026'",
                 "Months to simulate = 10000: must be a number from 12 to 120; used the "
                 "default 120"):
        assert f'<div style="color:darkorange">{html.escape(note)}</div>' in page
    assert month_of(rc) == "2026-01 (month 0 of 120, not started)"
    button(rc, "Step").click()
    assert month_of(rc) == "2026-01 (month 1 of 120)"
    rc.close()


def test_controls_out_of_range_or_of_the_wrong_type_are_refused():
    model = app.VizMarket(scenario_name="../../etc/passwd", months=12.5, recall="yes",
                          opposition_scale=float("nan"), exit_shock_seller=["x"],
                          unknown_control=1)
    assert [re.split(r" = |: ", n)[0] for n in model.notes] == [
        "Scenario", "Months to simulate", "Owner recall right",
        "Opposition probability (x scenario)", "Exiting seller",
        "ignored an unknown control 'unknown_control'"]
    assert "passwd" not in " ".join(model.notes)
    assert model.world.name == "colossus-2026" and model.world.months == 120
    # a valid combination the scenario itself refuses is one line too, with no server path
    model = app.VizMarket(recall_shock_month=120, months=12)
    assert model.notes == ["shocks[0].month = '2035-12' is after the last simulated month "
                           "2026-12: the recall shock never happens in this run"]


def test_cached_front_end_files_are_verified_at_every_start(tmp_path, monkeypatch):
    """Issue 17, case 6: a truncated cached file no longer passes on existence alone. A package
    without a pinned digest gets one recorded when fetched; a damaged package is fetched again,
    and where it cannot be, the start stops with one line."""
    files = ["pkg@1/dist/app.js"]
    monkeypatch.setattr(assets, "requested_files", lambda: files)
    monkeypatch.setattr(assets, "PINNED", {})
    packed = []

    def fake_pack(spec, workdir: Path) -> Path:
        packed.append(spec)
        target = workdir / "p.tgz"
        target.write_bytes(_tarball({"dist/app.js": b"x" * 1000}))
        return target

    monkeypatch.setattr(assets, "_npm_pack", fake_pack)
    folder = tmp_path / "cdn"
    assets.prepare(folder, log=lambda m: None)
    recorded = json.loads((folder / assets.DIGESTS_FILE).read_text())
    assert recorded == {"pkg@1": assets.tree_sha256(folder / "pkg@1")}
    assert assets.is_ready(folder) and packed == ["pkg@1"]
    (folder / files[0]).write_bytes(b"x" * 10)  # truncated
    assert assets.damaged_packages(folder) == ["pkg@1"] and not assets.is_ready(folder)
    logged = []
    assets.prepare(folder, log=logged.append)
    assert (folder / files[0]).read_bytes() == b"x" * 1000 and packed == ["pkg@1", "pkg@1"]
    assert "do not match their digest" in logged[0]
    (folder / files[0]).write_bytes(b"")
    monkeypatch.setattr(assets, "_npm_pack", _no_npm)  # no npm: it cannot be fetched again
    with pytest.raises(assets.AssetsError) as err:
        assets.prepare(folder, log=lambda m: None)
    assert "\n" not in str(err.value) and "npm" in str(err.value)


def _no_npm(spec, workdir):
    raise FileNotFoundError("npm")


def test_pinned_digests_match_the_prepared_cache():
    """The tree digests in PINNED are those of the packages in the real cache (which
    ``viz --prepare-only`` in .ci/test fills and checks against npm's sha512 integrity)."""
    assert assets.requested_files() and assets.missing_files() == []
    assert assets.damaged_packages() == []
    for spec in {assets._spec_of(f) for f in assets.requested_files()}:
        assert len(assets.PINNED[spec].tree_sha256) == 64, spec


def test_cli_refuses_a_remote_host_a_bad_port_and_a_busy_port(capsys, monkeypatch, tmp_path):
    """Issue 17, case 6: no non-loopback --host without --allow-remote (and a warning with it);
    --port 99999 is a usage error, not uvicorn tracebacks; a busy port is refused before any
    URL is printed."""
    import socket

    monkeypatch.setattr(assets, "prepare", lambda folder, log: tmp_path)
    assert viz.cli(["--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-remote" in err and "no login" in err
    with pytest.raises(SystemExit) as exc:
        viz.cli(["--port", "99999"])
    assert exc.value.code == 2
    assert "99999: a port is from 0 to 65535" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert viz.cli(["--port", str(port)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1
        assert f"cannot listen on 127.0.0.1 port {port}" in err and "--port 0" in err

    class Exited:  # a server process that stops at once: nothing is served
        returncode = 3

        def __init__(self, cmd, env):
            self.cmd = cmd

        def poll(self):
            return 3

        def wait(self, timeout=None):
            return 3

        def terminate(self):
            pass

    monkeypatch.setattr(viz.subprocess, "Popen", Exited)
    assert viz.cli(["--host", "0.0.0.0", "--allow-remote", "--port", "0"]) == 3
    out, err = capsys.readouterr()
    assert "warning: listening on 0.0.0.0, beyond this machine" in err and "serving" not in out
