"""Scenario files: shipped scenarios, ``extends``, strict validation, overrides, comments."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from market.calendar import month_index
from market.model import ComputeMarket
from market.scenarios import (
    DEFAULT,
    ScenarioError,
    apply_override,
    available,
    build_world,
    cal_tags,
    file_comments,
    load_raw,
    load_scenario,
    parameters,
    scenario_dir,
    to_toml,
)

SHIPPED = ["colossus-2026", "no-deal", "recall-shock", "seller-exit", "slow-buildout",
           "orbital-2028"]
VARIANTS = SHIPPED[1:]


def write(tmp_path: Path, text: str, name: str = "custom.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(*args, **kwargs)
    return str(info.value)


# ----------------------------------------------------------------------------- shipped files
def test_shipped_scenarios_are_listed_with_descriptions():
    listed = available()
    assert set(SHIPPED) <= set(listed)
    for name in SHIPPED:
        assert listed[name] and not listed[name].startswith("(invalid"), name
    assert DEFAULT == "colossus-2026"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_runs_to_its_end(name):
    world = load_scenario(name)
    assert world.name == name
    model = ComputeMarket(world, rng=0).run()
    assert model.month == model.end_month and not model.running
    frames = model.frames()
    assert frames["agents"]["month"].nunique() == world.months
    events = frames["events"]
    month = events["month"].dt.strftime("%Y-%m")
    if name == "no-deal":
        assert "contract_preloaded" not in set(events["event"])
    else:
        assert (events["event"] == "contract_preloaded").sum() == len(world.contracts) >= 3
    if name == "recall-shock":
        shock = events[(events["detail"] == "recall_shock") & (month == "2027-02")]
        assert (shock["event"] == "recall_notice").any()
        lease = frames["contracts"].iloc[0]
        assert lease["end_reason"] == "recall" and lease["end"] == pd_ts("2027-06")
    if name == "seller-exit":
        shock = events[(events["detail"] == "seller_exit_shock") & (month == "2027-02")]
        assert (shock["event"] == "seller_notice").any()
        assert frames["contracts"].iloc[0]["end_reason"] == "seller_notice"
    if name == "orbital-2028":
        orbital = events[events["site"] == "orbital_1"]
        assert set(orbital["event"]) & {"site_online", "site_did_not_arrive"}
        assert set(month[orbital.index]) == {"2028-01"}


def pd_ts(text: str):
    import pandas as pd

    return pd.Timestamp(text)


def test_variants_change_only_what_differs():
    base = load_scenario("colossus-2026")

    def same_but(world, **changes):
        keep = {"name": world.name, "description": world.description}
        return dataclasses.replace(base, **keep, **changes) == world

    assert same_but(load_scenario("no-deal"), contracts=())
    recall = load_scenario("recall-shock")
    assert same_but(recall, shocks=recall.shocks) and recall.shocks[0].kind == "recall"
    assert recall.shocks[0].seller == "colossus_owner" and recall.shocks[0].share == 1.0
    exit_ = load_scenario("seller-exit")
    assert same_but(exit_, shocks=exit_.shocks) and exit_.shocks[0].kind == "seller_exit"
    orbital = load_scenario("orbital-2028")
    owner = orbital.seller("colossus_owner")
    site = owner.sites[-1]
    assert site.status == "scheduled" and site.online == "2028-01"
    assert 0 < site.arrival_probability < 1 and site.mw >= 200
    slow = load_scenario("slow-buildout")
    for fast, slow_region in zip(base.regions, slow.regions, strict=True):
        assert slow_region.permit_months_mean > fast.permit_months_mean
        assert slow_region.opposition_probability > fast.opposition_probability
        assert slow_region.power_headroom_mw_per_year < fast.power_headroom_mw_per_year
    assert slow.gpu_supply_h100e_per_quarter < base.gpu_supply_h100e_per_quarter


def test_orbital_scenario_says_it_is_speculative():
    text = (scenario_dir() / "orbital-2028.toml").read_text()
    assert "speculative" in load_raw("orbital-2028")[0]["description"].lower()
    assert "SPECULATIVE" in text


_MONTH_RE = re.compile(r"^\d{4}-\d{2}$")


def _is_figure(value) -> bool:
    """A number, a "YYYY-MM" date, or an inline array holding one (funding, tenors)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        return bool(_MONTH_RE.match(value))
    if isinstance(value, list):
        return any(_is_figure(v) for v in value)
    if isinstance(value, dict):  # only reached inside an array: tables are not figures
        return any(_is_figure(v) for v in value.values())
    return False


@pytest.mark.parametrize("name", SHIPPED)
def test_every_figure_of_a_scenario_cites_its_source(name):
    """Every number or date a shipped file sets (the default world and each variant) has a
    comment citing an existing cal:TAG, or saying it is a choice or derived (issue 5)."""
    path = scenario_dir() / f"{name}.toml"
    comments = file_comments(path.read_text())
    own: dict = {}
    from market.scenarios.describe import _flatten

    _flatten(tomllib.loads(path.read_text()), "", own)
    # tables, and arrays of tables whose elements are flattened as KEY[i] (contracts, shocks),
    # are not figures themselves
    figures = [k for k, v in own.items()
               if not isinstance(v, dict) and f"{k}[0]" not in own and _is_figure(v)]
    assert figures or name == "no-deal", name
    tags = _calibration_tags()
    for key in figures:
        note = comments.get(key, "")
        cited = cal_tags(note)
        assert cited or "choice" in note or "derived" in note, (
            f"{name}: {key} = {own[key]!r} has no source: {note!r}")
        for tag in cited:
            assert _known(tag, tags), f"{name}: {key} cites unknown tag cal:{tag}"
    if name in VARIANTS:
        for key in ("description", "extends"):
            assert key in own


def test_default_scenario_figures_include_dates_and_site_sizes():
    """The source check above reaches every kind of figure of colossus-2026.toml."""
    text = (scenario_dir() / "colossus-2026.toml").read_text()
    comments = file_comments(text)
    for key in ("start", "market.k", "regions.us-south.permit_months_sigma",
                "labs.frontier_a.term_share", "labs.small_3.churn", "market.raise_interval_months",
                "sellers.neocloud_1.debt_usd", "sellers.neocloud_1.presale_ratio",
                "sellers.hyperscaler_1.capex_budget_usd_per_year",
                "sellers.colossus_owner.sites.colossus_2b.mw",
                "sellers.hyperscaler_3.sites.hs3_h100.online", "contracts[0].start"):
        note = comments.get(key, "")
        assert cal_tags(note) or "choice" in note or "derived" in note, (key, note)


ROOT = Path(__file__).resolve().parents[1]


def _calibration_tags() -> set[str]:
    """The tags with a row in the project's calibration page, docs/calibration.md."""
    text = (ROOT / "docs" / "calibration.md").read_text()
    return set(re.findall(r"^\| ([a-z_]+\.[a-z_0-9]+) \|", text, flags=re.M))


def _known(tag: str, tags: set[str]) -> bool:
    return (any(t.startswith(tag[:-1]) for t in tags) if tag.endswith(".*")
            else tag in tags)


@pytest.mark.parametrize("name", SHIPPED)
def test_cited_tags_have_a_row_in_docs_calibration(name):
    tags = _calibration_tags()
    cited = {t for p in parameters(name) for t in p.tags}
    cited |= set(cal_tags((scenario_dir() / f"{name}.toml").read_text()))
    assert cited, name
    unknown = sorted(t for t in cited if not _known(t, tags))
    assert not unknown, f"{name} cites tags with no row in docs/calibration.md: {unknown}"


def test_every_tag_cited_in_the_repository_has_a_row():
    """The package, the experiments, the README and the docs cite only documented tags."""
    tags = _calibration_tags()
    files = [*ROOT.glob("market/**/*.py"), *ROOT.glob("market/scenarios/*.toml"),
             *ROOT.glob("experiments/**/*.py"), *ROOT.glob("experiments/**/*.toml"),
             ROOT / "README.md", *ROOT.glob("docs/*.md")]
    cited = {(t, f.name) for f in files for t in cal_tags(f.read_text())}
    assert len({t for t, _ in cited}) >= 25  # the scan found the scenarios' citations
    unknown = sorted((t, f) for t, f in cited if not _known(t, tags))
    assert not unknown, unknown


# ----------------------------------------------------------------------------- extends
def test_user_file_extends_a_shipped_scenario_and_is_named_after_itself(tmp_path):
    path = write(tmp_path, 'extends = "colossus-2026"\n[labs.small_1]\nchurn = 0.5\n',
                 "my-variant.toml")
    world = load_scenario(path)
    assert world.name == "my-variant"
    assert world.lab("small_1").churn == 0.5
    assert world.lab("small_2") == load_scenario().lab("small_2")


def test_extends_by_relative_path_and_delete(tmp_path):
    write(tmp_path, 'extends = "colossus-2026"\nname = "base"\nmonths = 12\n', "base.toml")
    path = write(tmp_path, 'extends = "base.toml"\n[sellers.neocloud_3]\n'
                 'presale_ratio = "__delete__"\n', "child.toml")
    world = load_scenario(path)
    assert world.name == "child" and world.months == 12
    assert world.seller("neocloud_3").presale_ratio == 0.0  # back to the default


def test_extends_cycle_and_unknown_parent(tmp_path):
    write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    assert "cycle" in error_of(tmp_path / "a.toml")
    path = write(tmp_path, 'extends = "colossus-2062"\n')
    msg = error_of(path)
    assert str(path) in msg and "colossus-2062" in msg and "did you mean 'colossus-2026'" in msg


def test_unknown_scenario_name_suggests_nearest():
    msg = error_of("no-dael")
    assert "unknown scenario 'no-dael'" in msg and "did you mean 'no-deal'" in msg
    assert "does not exist" in error_of("missing.toml")


def test_invalid_toml_names_the_file(tmp_path):
    path = write(tmp_path, "months = = 3\n")
    msg = error_of(path)
    assert str(path) in msg and "not valid TOML" in msg


# ----------------------------------------------------------------------------- validation
def variant(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, 'extends = "colossus-2026"\n' + body)


@pytest.mark.parametrize(("body", "expected"), [
    # unknown keys, with the nearest valid key
    ("[labs.frontier_a]\ngrowth_per_mnth = 0.1\n",
     ["'labs.frontier_a.growth_per_mnth' = 0.1", "did you mean 'growth_per_month'"]),
    ("gpu_suply_h100e_per_quarter = 5\n",
     ["'gpu_suply_h100e_per_quarter' = 5", "did you mean 'gpu_supply_h100e_per_quarter'"]),
    ("[sellers.colossus_owner.sites.colossus_1]\nmegawatts = 3.0\n",
     ["'sellers.colossus_owner.sites.colossus_1.megawatts' = 3.0"]),
    ("[market]\nkk = 0.5\n", ["'market.kk' = 0.5", "did you mean 'k'"]),
    ("[costs]\npeu = 1.2\n", ["'costs.peu' = 1.2", "did you mean 'pue'"]),
    ("[terms.colossus_lease]\nramp_month = 3\n",
     ["'terms.colossus_lease.ramp_month' = 3", "did you mean 'ramp_months'"]),
    ("[[shocks]]\nkind = \"recall\"\nmonth = \"2027-01\"\nseler = \"colossus_owner\"\n",
     ["'shocks[0].seler'", "did you mean 'seller'"]),
    ("[labs.frontier_a]\nname = \"x\"\n", ["labs.frontier_a.name = 'x'", "table's key"]),
    # wrong types
    ("[labs.frontier_a]\ngrowth_per_month = \"fast\"\n",
     ["labs.frontier_a.growth_per_month = 'fast'", "must be a number"]),
    ("months = 4.5\n", ["months = 4.5", "must be an integer"]),
    ("[terms.spot]\ntake_or_pay = 1\n", ["terms.spot.take_or_pay = 1", "true or false"]),
    ("[market]\nterm_tenors_months = 12\n", ["market.term_tenors_months = 12", "array"]),
    ("labs = 3\n", ["labs = 3", "must be a table"]),
    # impossible values
    ("[sellers.colossus_owner.sites.colossus_1]\nmw = -300.0\n",
     ["sellers.colossus_owner.sites.colossus_1.mw = -300.0", "must be > 0"]),
    ("[regions.us-south]\npower_headroom_mw_per_year = -1.0\n",
     ["regions.us-south.power_headroom_mw_per_year = -1.0", ">= 0"]),
    ("[labs.small_1]\nchurn = 1.5\n", ["labs.small_1.churn = 1.5", "[0, 1]"]),
    ("[sellers.neocloud_1]\nkind = \"neoclod\"\n",
     ["sellers.neocloud_1.kind = 'neoclod'", "did you mean 'neocloud'"]),
    ("[sellers.neocloud_1.sites.nc1_h100]\ngeneration = \"H10\"\n",
     ["sellers.neocloud_1.sites.nc1_h100.generation = 'H10'", "did you mean 'H100'"]),
    ("[sellers.neocloud_1]\nregion = \"us-sout\"\n",
     ["sellers.neocloud_1.region = 'us-sout'", "did you mean 'us-south'"]),
    ("[[contracts]]\ntemplate = \"colossus_leas\"\nbuyer = \"small_1\"\nseller = "
     "\"neocloud_1\"\nsite = \"nc1_h100\"\nh100e = 10.0\nstart = \"2026-02\"\n",
     ["contracts[0].template = 'colossus_leas'", "did you mean 'colossus_lease'"]),
    ("[sellers.neocloud_1]\nlease_template = \"take_or_pay\"\n",
     ["sellers.neocloud_1.lease_template = 'take_or_pay'", "unknown contract template"]),
    ("[terms.colosus_lease]\nramp_months = 1\n",
     ["terms.colosus_lease", "did you mean 'colossus_lease'"]),
    ("[terms.colossus_lease]\nramp_months = 40\n",
     ["terms.colossus_lease.ramp_months", "40"]),
    ("[[shocks]]\nkind = \"recall\"\nmonth = \"2027-01\"\nseller = \"colossus_ownr\"\n",
     ["shocks[0].seller = 'colossus_ownr'", "did you mean 'colossus_owner'"]),
    ("[labs.frontier_a]\ntenor_months = 24\n",
     ["labs.frontier_a.tenor_months = 24", "term tenors"]),
    ("start = \"2026-13\"\n", ["start = '2026-13'", "not a month"]),
    ("[market]\nappetite_volatility_per_month = -0.1\n",
     ["market.appetite_volatility_per_month = -0.1", "monthly rate in [0, 1]"]),
    ("[market]\nshare_volatility_per_month = 1.5\n",
     ["market.share_volatility_per_month = 1.5", "monthly rate in [0, 1]"]),
    ("[market]\nshare_halflife_months = -2\n",
     ["market.share_halflife_months = -2", "> 0"]),
    ("[market]\ngrowth_trend_sd = 3.0\n",
     ["market.growth_trend_sd = 3.0", "must lie in [0, 2]"]),
    ("[sellers.colossus_owner]\nown_need_growth_per_month = 1e6\n",
     ["sellers.colossus_owner.own_need_growth_per_month = 1000000.0", "monthly rate in [-1, 1]"]),
    ("[sellers.hyperscaler_2]\nown_need_volatility = 3.0\n",
     ["sellers.hyperscaler_2.own_need_volatility = 3.0", "monthly rate in [0, 1]"]),
    ("[market]\nappetite_halflife_months = 0\n",
     ["market.appetite_halflife_months = 0", "> 0"]),
    ("[sellers.neocloud_1]\npayout_above_months = -1\n",
     ["sellers.neocloud_1.payout_above_months = -1", ">= 0"]),
])
def test_bad_file_names_file_key_and_value(tmp_path, body, expected):
    path = variant(tmp_path, body)
    msg = error_of(path)
    assert msg.startswith(str(path)), msg
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"


@pytest.mark.parametrize(("body", "expected"), [
    ("[sellers.colossus_owner.sites.colossus_2a]\nonline = \"2025-03\"\n",
     ["colossus_2a.online = '2025-03'", "GB200 is first available in 2025-06"]),
    ("[sellers.colossus_owner.sites.colossus_1_h100]\nonline = \"2026-08\"\n",
     ["colossus_1_h100.online = '2026-08'", "after the start '2026-01'", "status = 'online'"]),
    ("[sellers.colossus_owner.sites.colossus_2b]\nonline = \"2025-08\"\n",
     ["colossus_2b.online = '2025-08'", "before the start"]),
    ("[labs.small_1]\nfunding = [{ month = \"2027-06\", usd = 1e9 }, "
     "{ month = \"2027-01\", usd = 1e9 }]\n",
     ["labs.small_1.funding[1].month = '2027-01'", "not after funding[0]"]),
    ("[labs.small_1]\nfunding = [{ month = \"2025-06\", usd = 1e9 }]\n",
     ["labs.small_1.funding[0].month = '2025-06'", "before the start"]),
    ("[[shocks]]\nkind = \"recall\"\nmonth = \"2025-12\"\nseller = \"colossus_owner\"\n",
     ["shocks[0].month = '2025-12'", "before the start"]),
    ("contracts = [{ template = \"colossus_lease\", buyer = \"frontier_a\", seller = "
     "\"colossus_owner\", site = \"colossus_1_h100\", h100e = 1.0, start = \"2025-05\" }]\n",
     ["contracts[0].start = '2025-05'", "before the start"]),
])
def test_dates_out_of_order(tmp_path, body, expected):
    path = variant(tmp_path, body)
    msg = error_of(path)
    assert msg.startswith(str(path)) and "dates out of order" in msg, msg
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_contract_larger_than_its_site():
    msg = error_of("colossus-2026", ["contracts[0].h100e=400000"])
    assert "contracts[0].h100e = 400000.0" in msg and "more than it holds" in msg
    assert "(set by --set contracts[0].h100e=400000)" in msg
    assert "more than site colossus_1_h100 has" in error_of("colossus-2026",
                                                             ["contracts[0].mw=500"])


def test_a_world_built_in_python_is_checked_like_a_scenario_file():
    """One validation: the checks of a scenario file hold for a ``WorldConfig`` made in Python
    (a preloaded contract ten times its site, a misspelt region, an out-of-order date)."""
    world = load_scenario()
    big = dataclasses.replace(world.contracts[0], h100e=world.contracts[0].h100e * 10)
    with pytest.raises(ValueError, match=r"contracts\[0\]\.h100e = .* more than it holds"):
        dataclasses.replace(world, contracts=(big, *world.contracts[1:]))
    seller = dataclasses.replace(world.sellers[0], region="us-sout")
    with pytest.raises(ValueError, match=r"sellers\.\w+\.region = 'us-sout'.*did you mean"):
        dataclasses.replace(world, sellers=(seller, *world.sellers[1:]))
    late = dataclasses.replace(world.contracts[0], start="2025-05")
    with pytest.raises(ValueError, match=r"contracts\[0\]\.start = '2025-05': dates out"):
        dataclasses.replace(world, contracts=(late, *world.contracts[1:]))


def test_an_investor_appetite_shock_in_a_file_names_no_seller(tmp_path):
    """Only recall and seller_exit shocks name a seller (the file loader used to ask every
    shock for one, so a funding winter could not be written in a scenario file)."""
    path = variant(tmp_path, '[[shocks]]\nkind = "investor_appetite"\nmonth = "2026-07"\n'
                             'factor = 0.5\n')
    assert load_scenario(path).shocks[-1].factor == 0.5
    bad = variant(tmp_path, '[[shocks]]\nkind = "recall"\nmonth = "2026-07"\n'
                            'seller = "colossus_ownr"\n')
    assert "did you mean 'colossus_owner'" in error_of(bad)


def test_contract_names_must_exist():
    msg = error_of("colossus-2026", ["contracts[0].buyer='frontier_c'"])
    assert "contracts[0].buyer = 'frontier_c'" in msg and "unknown lab" in msg
    msg = error_of("colossus-2026", ["contracts[0].site='nc1_h100'"])
    assert "site of seller colossus_owner" in msg


def test_build_world_reports_its_source():
    raw, _ = load_raw("colossus-2026")
    raw["months"] = -1
    with pytest.raises(ScenarioError, match=r"^<mine>: months = -1"):
        build_world(raw, "<mine>")


# ----------------------------------------------------------------------------- overrides
def test_overrides_change_values():
    world = load_scenario("colossus-2026", [
        "labs.frontier_a.growth_per_month=0.1", "months=12", "market.rule=pay_as_bid",
        "start=2026-02", "contracts[0].usd_per_month=1e9",
        "sellers.colossus_owner.sites.colossus_1_h100.mw=320",
        "market.term_tenors_months=[12, 24]",
        "labs.frontier_a.tenor_months=24", "labs.frontier_b.tenor_months=24",
        "terms.hyperscaler_reservation.seller_notice_days=30",
        "terms.colossus_lease.buyer_notice_days=none", "description=a bare string"])
    assert world.lab("frontier_a").growth_per_month == 0.1
    assert world.months == 12 and world.market.rule == "pay_as_bid"
    assert world.start_month == month_index("2026-02")
    assert world.contracts[0].usd_per_month == 1e9
    assert world.seller("colossus_owner").sites[0].mw == 320.0
    assert world.market.terms("hyperscaler_reservation").seller_notice_days == 30
    assert world.market.terms("colossus_lease").buyer_notice_days is None
    assert world.market.terms("colossus_lease").ramp_months == 12  # rest of the template kept
    assert world.description == "a bare string"
    assert load_scenario("colossus-2026", ["contracts=[]"]).contracts == ()


def test_override_errors_name_the_file_key_and_suggestion():
    msg = error_of("colossus-2026", ["labs.frontier_a.growth_per_mont=0.1"])
    assert msg.startswith(str(scenario_dir() / "colossus-2026.toml"))
    assert "unknown key 'labs.frontier_a.growth_per_mont'" in msg
    assert "did you mean 'growth_per_month'" in msg
    msg = error_of("colossus-2026", ["labs.frontiera.churn=0.1"])
    assert "no lab 'frontiera'" in msg and "did you mean 'frontier_a'" in msg
    msg = error_of("colossus-2026", ["labs.frontier_a.growth_per_month=-1"])
    assert "labs.frontier_a.growth_per_month = -1" in msg and ">= 0" in msg
    assert "(set by --set labs.frontier_a.growth_per_month=-1)" in msg
    msg = error_of("colossus-2026", ["labs.frontier_a.growth_per_month=fast"])
    assert "labs.frontier_a.growth_per_month = 'fast': must be a number" in msg
    assert "expected KEY.PATH=VALUE" in error_of("colossus-2026", ["months"])
    assert "contracts has 3 element" in error_of("colossus-2026", ["contracts[3].h100e=1"])
    assert "is a table" in error_of("colossus-2026", ["market=3"])
    assert "did you mean 'colossus_lease'" in error_of(
        "colossus-2026", ["terms.colossus_leas.ramp_months=1"])
    assert "did you mean 'labs'" in error_of("colossus-2026", ["lab=1"])


def test_apply_override_on_a_raw_dict():
    raw, _ = load_raw("no-deal")
    apply_override(raw, "sellers.neocloud_1.markup = 0.3")
    assert raw["sellers"]["neocloud_1"]["markup"] == 0.3
    apply_override(raw, "sellers.neocloud_1.opportunism=0.2")  # valid key not in the file
    assert raw["sellers"]["neocloud_1"]["opportunism"] == 0.2
    with pytest.raises(ScenarioError, match="unknown key 'sellers.neocloud_1.oportunism'"):
        apply_override(raw, "sellers.neocloud_1.oportunism=0.2")


# ----------------------------------------------------------------------------- comments
def test_file_comments():
    text = """# Opening block of the file
# on two lines.

name = "x"   # the name
# a block directly above
months = 12
# ------------------------------------ separator
description = "has a # inside"   # real comment

# detached block

start = "2026-01"
tenors = [
    12,   # one year (cal:px.blocks)
    36,   # three years
]
[labs.a]   # lab a (cal:dem.small)
churn = 0.3   # cal:dem.small
[[contracts]]
h100e = 1.0   # first
[[contracts]]
h100e = 2.0   # second
"""
    c = file_comments(text)
    assert c[""] == "Opening block of the file on two lines."
    assert c["name"] == "the name"
    assert c["months"] == "a block directly above"
    assert c["description"] == "real comment"
    assert c["start"] == ""
    assert c["tenors"] == "one year (cal:px.blocks) three years"
    assert c["labs.a"] == "lab a (cal:dem.small)"
    assert c["labs.a.churn"] == "cal:dem.small"
    assert c["contracts[0].h100e"] == "first" and c["contracts[1].h100e"] == "second"
    assert cal_tags("x (cal:deal.price, cal:deal.*) cal:hw.pue.") == ["deal.price", "deal.*",
                                                                   "hw.pue"]


def test_file_comments_after_a_hash_inside_a_multi_line_string():
    """A ``#`` inside a multi-line string is text: the keys after it keep their ``cal:``
    sources (the line-by-line reader tomlkit replaced took the closing quotes after it for
    part of a comment and read the rest of the file as the string)."""
    text = '''description = """
Variant for issue #13 of the tracker."""   # what it is
months = 12   # cal:dem.small
# a block above (cal:sup.grid)
[labs.a]   # lab a
churn = 0.3   # it's 30% (cal:dem.small)
'''
    c = file_comments(text)
    assert c["description"] == "what it is"
    assert c["months"] == "cal:dem.small"
    assert c["labs.a"] == "a block above (cal:sup.grid) lab a"
    assert cal_tags(c["labs.a.churn"]) == ["dem.small"]


def test_parameters_carry_inherited_comments(tmp_path):
    params = {p.path: p for p in parameters("slow-buildout")}
    base = str(scenario_dir() / "colossus-2026.toml")
    own = str(scenario_dir() / "slow-buildout.toml")
    assert params["regions.us-east.permit_months_mean"].origin == own
    assert "sup.grid" in params["regions.us-east.permit_months_mean"].tags
    inherited = params["costs.pue"]
    assert inherited.origin == base and "hw.pue" in inherited.tags
    assert params["contracts[0].usd_per_month"].tags == ["deal.price"]
    set_ = {p.path: p for p in parameters("no-deal", ["labs.small_1.churn=0.5"])}
    assert set_["labs.small_1.churn"].origin == "--set" and set_["labs.small_1.churn"].value == 0.5
    assert "contracts[0].h100e" not in set_  # the variant replaced the array


@pytest.mark.parametrize("name", SHIPPED)
def test_parameters_written_back_give_the_same_world(tmp_path, name):
    params = parameters(name)
    text = to_toml(params, ["resolved"])
    path = write(tmp_path, text, f"{name}-resolved.toml")
    assert dataclasses.replace(load_scenario(path), name=name) == load_scenario(name)
    # and every comment, the cal: sources with them, is read back from where it was written
    written = file_comments(text)
    assert {p.path: p.comment for p in params if p.comment} == {
        p.path: written[p.path] for p in params if p.comment}
