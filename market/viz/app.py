"""The market in the browser: a Solara page built on Mesa's ``SolaraViz``.

Start it with ``compute-market viz`` (which first prepares the front-end files for offline use,
see ``market.viz.assets``) or ``solara run market.viz.app`` (offline only with
``SOLARA_ASSETS_PROXY_CACHE_DIR`` pointing at the prepared folder).

Mesa's ``SolaraViz`` gives the app bar and the sidebar: step, play, pause, reset, and the controls
(``MODEL_PARAMS``), which apply on Reset. The views beside it are this module's ``Dashboard``
rather than Mesa's draggable grid, which gives every view half the width and costs one render
pass of the whole page per view and step. The charts are Vega-Lite specs built as plain dicts
from a ``History`` that reads only the model's new output rows after each step
(``model.rows(table, start)``) and keeps pre-aggregated per-month series (a few series x one point
per month); each spec goes to its widget once a step, outside the element tree. So the cost of a
step grows only with the length of the lines drawn, never with the raw history. Every browser
session gets its own model (``Page`` creates it per session).
"""

from __future__ import annotations

import html
import inspect
from collections import defaultdict
from typing import Any

import numpy as np
import solara
import traitlets
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from market import kinds
from market.calendar import month_index, month_label
from market.config import WorldConfig
from market.hardware import HOURS_PER_MONTH, generations, newest_generation, usd_per_gpu_hour
from market.model import ComputeMarket
from market.products import SPOT
from market.scenarios import available, build_world, load_raw
from market.terms import TEMPLATES
from market.viz.bands import EnsembleBar, with_bands

__all__ = ["MODEL_PARAMS", "History", "Page", "VizMarket", "page", "world_from_controls"]

DEFAULT_SCENARIO = "colossus-2026"
ALL_TEMPLATES = "all term templates"
RULE_TEMPLATES = tuple(name for name in TEMPLATES if name != "spot")
LEASE = TEMPLATES["colossus_lease"]  # the sidebar's rule defaults are this template's own
NO_EXIT = "no early exit"
NOTICE_CHOICES = (NO_EXIT, "0", "30", "60", "90", "180", "365")
ORBITAL_SITE = "orbital_from_controls"
LAB_COLOURS = ("crimson", "royalblue", "darkgoldenrod", "mediumpurple", "teal", "slategray",
               "olive", "sienna")
CHART_HEIGHT = 230


# --------------------------------------------------------------------------- world from controls
def _sellers_of_scenarios() -> tuple[str, ...]:
    names: set[str] = set()
    for scenario in available():
        raw, _ = load_raw(scenario)
        names.update(raw.get("sellers", {}))
    return tuple(sorted(names))


def _notice_days(choice: str | int | None) -> int | None:
    if choice is None or choice == NO_EXIT:
        return None
    return int(choice)


def world_from_controls(
    *,
    scenario_name: str = DEFAULT_SCENARIO,
    months: int = 120,
    rules_template: str = "colossus_lease",
    buyer_notice: str = str(LEASE.buyer_notice_days),
    seller_notice: str = str(LEASE.seller_notice_days),
    recall: bool = LEASE.recall,
    recall_notice_days: int = LEASE.recall_notice_days,
    ramp_months: int = LEASE.ramp_months,
    ramp_discount: float = LEASE.ramp_discount,
    take_or_pay: bool = LEASE.take_or_pay,
    permit_delay_scale: float = 1.0,
    opposition_scale: float = 1.0,
    recall_shock_month: int = 0,
    recall_shock_share: float = 1.0,
    exit_shock_month: int = 0,
    exit_shock_seller: str = "neocloud_1",
    orbital_month: int = 0,
    orbital_mw: int = 300,
    orbital_probability: float = 1.0,
) -> tuple[WorldConfig, list[str]]:
    """The world the sidebar's controls describe, and notes on controls that did not apply.

    The contract rules replace those of ``rules_template`` (or of every term template); the
    defaults are the Colossus lease's own. Permit delays and opposition probabilities of every
    region are scaled. Shock and arrival months count from the scenario's first month (1 = the
    first month; 0 = none). A recall shock acts for every owner of the scenario; orbital supply
    is a scheduled site of the scenario's first owner (as in ``orbital-2028``), of the newest GPU
    generation at its arrival, outside the grid and GPU supply caps.
    """
    raw, path = load_raw(scenario_name)
    notes: list[str] = []
    raw["months"] = int(months)
    start = str(raw.get("start", "2026-01"))
    first = int(month_index(start))

    def label(k: int) -> str:
        return str(month_label(first + int(k) - 1))

    rules = {
        "buyer_notice_days": _notice_days(buyer_notice),
        "seller_notice_days": _notice_days(seller_notice),
        "recall": bool(recall),
        "recall_notice_days": int(recall_notice_days),
        "ramp_months": int(ramp_months),
        "ramp_discount": float(ramp_discount),
        "take_or_pay": bool(take_or_pay),
    }
    targets = RULE_TEMPLATES if rules_template == ALL_TEMPLATES else (rules_template,)
    terms = raw.setdefault("terms", {})
    for name in targets:
        terms[name] = {**terms.get(name, {}), **rules}
    for region in raw.get("regions", {}).values():
        region["permit_months_mean"] = float(region.get("permit_months_mean", 12.0)) * float(
            permit_delay_scale)
        region["opposition_probability"] = min(1.0, float(region.get(
            "opposition_probability", 0.05)) * float(opposition_scale))
    sellers = raw.get("sellers", {})
    shocks = list(raw.get("shocks", []))
    if recall_shock_month > 0:
        owners = [n for n, s in sellers.items() if s.get("kind") == "owner"]
        if not owners:
            notes.append("recall shock: this scenario has no owner")
        shocks += [{"kind": "recall", "month": label(recall_shock_month), "seller": n,
                    "share": float(recall_shock_share)} for n in owners]
    if exit_shock_month > 0:
        if exit_shock_seller in sellers:
            shocks.append({"kind": "seller_exit", "month": label(exit_shock_month),
                           "seller": exit_shock_seller})
        else:
            notes.append(f"seller exit: no seller {exit_shock_seller!r} in {scenario_name}")
    raw["shocks"] = shocks
    if orbital_month > 0:
        # like the orbital-2028 scenario: an owner's scheduled site, outside the grid caps
        owners = [n for n, s in sellers.items() if s.get("kind") == "owner"]
        if owners:
            owner = sellers[owners[0]]
            region = owner.get("region") or next(iter(raw.get("regions", {})), "us-south")
            owner.setdefault("sites", {})[ORBITAL_SITE] = {
                "mw": float(orbital_mw), "region": region, "status": "scheduled",
                "online": label(orbital_month), "arrival_probability": float(orbital_probability),
                "generation": newest_generation(first + int(orbital_month) - 1).name}
        else:
            notes.append("orbital supply: this scenario has no owner to bring it online")
    return build_world(raw, str(path)), notes


MAX_SEED = 2**63 - 1


def _seed(text: Any) -> int:
    """The seed box's value as a seed: a whole number from 0 to 2**63 - 1 (ValueError with a
    one-line message otherwise)."""
    try:
        value = int(str(text).strip()) if not isinstance(text, (bool, float)) else -1
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"Seed = {str(text)[:40]!r}: must be a whole number from 0 to 2**63 - 1")
    return value


def _check_control(name: str, spec: dict[str, Any], value: Any) -> None:
    """Raise ValueError (one line, naming the control) unless ``value`` is one the sidebar
    offers for control ``name``: an offered choice, a number within the slider's range, a
    true/false, or a seed."""
    label = spec.get("label", name)
    kind = spec["type"]
    shown = repr(value)[:60]
    if kind == "Select":
        if not isinstance(value, str) or value not in spec["values"]:
            raise ValueError(f"{label}: the page sent a value that is not one of the "
                             "offered choices")
    elif kind == "Checkbox":
        if not isinstance(value, bool):
            raise ValueError(f"{label} = {shown}: must be on or off")
    elif kind in ("SliderInt", "SliderFloat"):
        number = (int,) if kind == "SliderInt" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number) or not (
                spec["min"] <= value <= spec["max"]):
            raise ValueError(f"{label} = {shown}: must be a number from {spec['min']} to "
                             f"{spec['max']}")
    elif name == "seed":
        _seed(value)


def checked_controls(controls: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The controls with every value checked against what the sidebar offers (the page is not
    trusted: a forged message can set any value); a refused value is replaced by the control's
    default and explained in a one-line note, an unknown control is dropped."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    for name, value in controls.items():
        spec = MODEL_PARAMS.get(name)
        if spec is None:
            notes.append(f"ignored an unknown control {name[:40]!r}")
            continue
        try:
            _check_control(name, spec, value)
        except ValueError as exc:
            notes.append(f"{exc}; used the default {spec['value']!r}")
            value = spec["value"]
        out[name] = value
    return out, notes


def _public(message: str, path: Any, scenario: str) -> str:
    """An error message for the page: one line, the scenario's name instead of its file."""
    return " ".join(str(message).replace(str(path), scenario).split())[:300]


# --------------------------------------------------------------------------- history
class History:
    """Per-month series for the views, updated from the model's new output rows only.

    ``sync`` costs O(new rows); the chart rows are appended, never recomputed.
    """

    def __init__(self, model: ComputeMarket) -> None:
        self.model = model
        self._seen = {"market": 0, "agents": 0, "events": 0}
        self.months: list[int] = []
        self.price_rows: list[dict] = []
        self.capacity_rows: list[dict] = []
        self.utilization_rows: list[dict] = []
        self.lab_rows: list[dict] = []
        self.event_rows: list[dict] = []
        self._event_index: dict[tuple[int, str], int] = {}
        self.event_counts: dict[str, int] = defaultdict(int)
        self.last: dict[str, float] = {}
        self.lab_names = [lab.name for lab in model.labs]

    @staticmethod
    def date(month: int) -> str:
        """Vega-Lite date of a month index (first day, read as UTC)."""
        return f"{month_label(month)}-01"

    def sync(self) -> None:
        """Read the rows the model added since the last call."""
        m = self.model
        market = m.rows("market", self._seen["market"])
        agents = m.rows("agents", self._seen["agents"])
        events = m.rows("events", self._seen["events"])
        self._seen["market"] += len(market)
        self._seen["agents"] += len(agents)
        self._seen["events"] += len(events)
        for row in market:
            name = "spot index" if row["product"] == SPOT else (
                f"{row['tenor_months']}-month term index")
            value = row["index_usd_per_h100e_month"] / HOURS_PER_MONTH
            self.price_rows.append({"month": self.date(row["month"]), "series": name,
                                    "usd_per_h100e_hour": round(value, 4)})
            self.last[name] = value
        by_month: dict[int, list[dict]] = defaultdict(list)
        for row in agents:
            by_month[row["month"]].append(row)
        for month, rows in sorted(by_month.items()):
            self._add_agent_month(month, rows)
        for row in events:
            self._add_event(row)

    def _add_agent_month(self, month: int, rows: list[dict]) -> None:
        date = self.date(month)
        self.months.append(month)
        capacity = dict.fromkeys(kinds.labels("seller"), 0.0)
        used = 0.0
        for row in rows:
            if row["kind"] in capacity:
                capacity[row["kind"]] += row["capacity_owned_h100e"]
                used += row["used_h100e"]
        for kind, h100e in capacity.items():
            self.capacity_rows.append({"month": date, "kind": kind,
                                       "million_h100e": round(h100e / 1e6, 5)})
        total = sum(capacity.values())
        utilization = used / total if total > 0 else 0.0
        self.utilization_rows.append({"month": date, "utilization_pct": round(
            100 * min(utilization, 1.0), 3)})
        served = unmet = 0.0
        for row in rows:
            if row["kind"].endswith("_lab"):
                demand = row["demand_h100e"]
                share = 100 * row["used_h100e"] / demand if demand > 0 else 100.0
                self.lab_rows.append({
                    "month": date, "lab": row["agent"], "served_pct": round(share, 3),
                    "served_h100e": round(row["used_h100e"]), "unmet_h100e": round(
                        row["unmet_h100e"])})
                served += row["used_h100e"]
                unmet += row["unmet_h100e"]
        self.last.update(capacity_h100e=total, utilization=utilization,
                         unmet_share=unmet / (served + unmet) if served + unmet > 0 else 0.0,
                         unmet_h100e=unmet)

    def _add_event(self, row: dict) -> None:
        kind = row["event"]
        self.event_counts[kind] += 1
        key = (row["month"], kind)
        i = self._event_index.get(key)
        if i is None:
            self._event_index[key] = len(self.event_rows)
            self.event_rows.append({"month": self.date(row["month"]), "event": kind,
                                    "count": 1, "h100e": round(row["h100e"]),
                                    "example": f"{row['agent']} {row['detail']}".strip()})
        else:
            self.event_rows[i] = {**self.event_rows[i], "count": self.event_rows[i]["count"] + 1,
                                  "h100e": self.event_rows[i]["h100e"] + round(row["h100e"])}


# --------------------------------------------------------------------------- the model
class VizMarket(ComputeMarket):
    """``ComputeMarket`` built from the sidebar's controls, with a ``History`` for the views.

    Keyword arguments are those of :func:`world_from_controls` plus ``seed`` (text or number).
    Mesa's Reset passes a ``scenario`` object of its own (a Mesa experiment scenario, not a
    scenario file): it is ignored.
    """

    def __init__(self, seed: str | int = "42", **controls: Any) -> None:
        controls.pop("scenario", None)
        controls, refused = checked_controls({"seed": seed, **controls})
        self.seed_value = _seed(controls.pop("seed"))
        try:
            world, notes = world_from_controls(**controls)
        except ValueError as exc:  # a combination the scenario refuses: run the defaults
            name = controls.get("scenario_name", DEFAULT_SCENARIO)
            refused.append(f"these settings cannot run ({_public(exc, _scenario_file(name), name)}"
                           "); showing the default settings")
            controls = {}
            world, notes = world_from_controls()
        self.controls = {**{name: p.default for name, p in inspect.signature(
            world_from_controls).parameters.items()}, **controls}
        super().__init__(world, rng=self.seed_value)
        self.notes = [*refused, *notes, *world.outside_run()]
        self.history = History(self)

    def step(self) -> None:
        """One month, then the new output rows into the history."""
        super().step()
        self.history.sync()

    @property
    def months_done(self) -> int:
        """Months simulated so far."""
        return self.month - self.start_month


def _scenario_file(name: str) -> Any:
    try:
        return load_raw(name)[1]
    except ValueError:
        return name


def _default(name: str) -> Any:
    if name == "seed":
        return "42"
    return inspect.signature(world_from_controls).parameters[name].default


MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "scenario_name": {"type": "Select", "label": "Scenario", "value": _default("scenario_name"),
                      "values": list(available())},
    "seed": {"type": "InputText", "label": "Seed", "value": _default("seed")},
    "months": {"type": "SliderInt", "label": "Months to simulate", "value": _default("months"),
               "min": 12, "max": 120, "step": 12},
    "rules_template": {"type": "Select", "label": "Contract rules apply to",
                       "value": _default("rules_template"),
                       "values": [*RULE_TEMPLATES, ALL_TEMPLATES]},
    "buyer_notice": {"type": "Select", "label": "Buyer exit notice (days)",
                     "value": _default("buyer_notice"), "values": list(NOTICE_CHOICES)},
    "seller_notice": {"type": "Select", "label": "Seller exit notice (days)",
                      "value": _default("seller_notice"), "values": list(NOTICE_CHOICES)},
    "recall": {"type": "Checkbox", "label": "Owner recall right", "value": _default("recall")},
    "recall_notice_days": {"type": "SliderInt", "label": "Recall notice (days)",
                           "value": _default("recall_notice_days"), "min": 0, "max": 360,
                           "step": 30},
    "ramp_discount": {"type": "SliderFloat", "label": "Ramp discount (share of the fee)",
                      "value": _default("ramp_discount"), "min": 0.0, "max": 1.0, "step": 0.05},
    "ramp_months": {"type": "SliderInt", "label": "Ramp months", "value": _default("ramp_months"),
                    "min": 0, "max": 12, "step": 1},
    "take_or_pay": {"type": "Checkbox", "label": "Take-or-pay",
                    "value": _default("take_or_pay")},
    "permit_delay_scale": {"type": "SliderFloat", "label": "Permit delay (x scenario)",
                           "value": _default("permit_delay_scale"), "min": 0.25, "max": 4.0,
                           "step": 0.25},
    "opposition_scale": {"type": "SliderFloat", "label": "Opposition probability (x scenario)",
                         "value": _default("opposition_scale"), "min": 0.0, "max": 10.0,
                         "step": 0.5},
    "recall_shock_month": {"type": "SliderInt", "label": "Owner recall shock at month (0 = none)",
                           "value": _default("recall_shock_month"), "min": 0, "max": 120,
                           "step": 1},
    "recall_shock_share": {"type": "SliderFloat", "label": "Share recalled",
                           "value": _default("recall_shock_share"), "min": 0.0, "max": 1.0,
                           "step": 0.1},
    "exit_shock_month": {"type": "SliderInt", "label": "Seller exit at month (0 = none)",
                         "value": _default("exit_shock_month"), "min": 0, "max": 120, "step": 1},
    "exit_shock_seller": {"type": "Select", "label": "Exiting seller",
                          "value": _default("exit_shock_seller"),
                          "values": list(_sellers_of_scenarios())},
    "orbital_month": {"type": "SliderInt", "label": "Orbital supply arrives at month (0 = none)",
                      "value": _default("orbital_month"), "min": 0, "max": 120, "step": 1},
    "orbital_mw": {"type": "SliderInt", "label": "Orbital supply (MW)",
                   "value": _default("orbital_mw"), "min": 50, "max": 2000, "step": 50},
    "orbital_probability": {"type": "SliderFloat", "label": "Orbital arrival probability",
                            "value": _default("orbital_probability"), "min": 0.0, "max": 1.0,
                            "step": 0.05},
}
"""The sidebar's controls (Mesa ``model_params``); they apply on Reset."""


# --------------------------------------------------------------------------- Vega-Lite specs
def _month_axis() -> dict:
    return {"field": "month", "type": "temporal", "timeUnit": "utcyearmonth",
            "axis": {"title": "Month (YYYY-MM)", "format": "%Y-%m", "labelAngle": -40,
                     "tickCount": 8}}


def _base(title: str, **datasets: list[dict]) -> dict:
    """A chart's common part. The rows go in named ``datasets`` (copied: the history keeps
    growing), so that a redraw with new rows changes only them (``VegaChart`` then reuses its
    Vega view); the first dataset is the chart's data."""
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "title": title,
            "width": "container", "height": CHART_HEIGHT,
            "autosize": {"type": "fit-x", "contains": "padding"},
            "datasets": {name: list(rows) for name, rows in datasets.items()}}
    if datasets:
        spec["data"] = {"name": next(iter(datasets))}
    return spec


def dataset_rows(spec: dict) -> int:
    """Rows of data in a spec (named datasets and inline values)."""
    inline = len(spec.get("data", {}).get("values", []))
    return inline + sum(len(rows) for rows in spec.get("datasets", {}).values())


def price_spec(history: History) -> dict:
    """Spot and term price indices, $/H100e-hour, one line each."""
    return {**_base("Price index ($/H100e-hour)", prices=history.price_rows),
            "mark": {"type": "line", "strokeWidth": 2},
            "encoding": {
                "x": _month_axis(),
                "y": {"field": "usd_per_h100e_hour", "type": "quantitative",
                      "axis": {"title": "$/H100e-hour"}, "scale": {"zero": False}},
                "color": {"field": "series", "type": "nominal", "title": None,
                          "legend": {"orient": "bottom"}},
                "tooltip": [{"field": "month", "type": "temporal", "timeUnit": "utcyearmonth",
                             "title": "month"}, {"field": "series"},
                            {"field": "usd_per_h100e_hour", "format": "$.2f",
                             "title": "$/H100e-hour"}]}}


def capacity_spec(history: History) -> dict:
    """Online capacity stacked by seller kind (million H100e) and sellers' utilization (%)."""
    sellers = kinds.kinds("seller")
    return {**_base("Capacity by seller kind and utilization",
                    capacity=history.capacity_rows, utilization=history.utilization_rows),
            "layer": [
                {"data": {"name": "capacity"},
                 "mark": {"type": "area", "opacity": 0.75},
                 "encoding": {
                     "x": _month_axis(),
                     "y": {"field": "million_h100e", "type": "quantitative", "stack": "zero",
                           "axis": {"title": "Online capacity (million H100e)"}},
                     "color": {"field": "kind", "type": "nominal", "title": None,
                               "scale": {"domain": [k.label for k in sellers],
                                         "range": [k.colour for k in sellers]},
                               "legend": {"orient": "bottom"}},
                     "tooltip": [{"field": "month", "type": "temporal",
                                  "timeUnit": "utcyearmonth", "title": "month"},
                                 {"field": "kind"}, {"field": "million_h100e",
                                                     "title": "million H100e",
                                                     "format": ".3f"}]}},
                {"data": {"name": "utilization"},
                 "mark": {"type": "line", "color": "black", "strokeDash": [4, 3]},
                 "encoding": {
                     "x": _month_axis(),
                     "y": {"field": "utilization_pct", "type": "quantitative",
                           "scale": {"domain": [0, 100]},
                           "axis": {"title": "Utilization (%, dashed)", "orient": "right"}},
                     "tooltip": [{"field": "month", "type": "temporal",
                                  "timeUnit": "utcyearmonth", "title": "month"},
                                 {"field": "utilization_pct", "title": "utilization %",
                                  "format": ".1f"}]}}],
            "resolve": {"scale": {"y": "independent"}}}


def _lab_encoding(history: History) -> tuple[dict, list[dict]]:
    labs = history.lab_names
    colour = {"field": "lab", "type": "nominal", "title": None,
              "scale": {"domain": labs, "range": [LAB_COLOURS[i % len(LAB_COLOURS)]
                                                  for i in range(len(labs))]},
              "legend": {"orient": "bottom", "columns": 5}}
    tooltip = [{"field": "month", "type": "temporal", "timeUnit": "utcyearmonth",
                "title": "month"}, {"field": "lab"},
               {"field": "served_h100e", "title": "served H100e", "format": ",.0f"},
               {"field": "unmet_h100e", "title": "unmet H100e", "format": ",.0f"},
               {"field": "served_pct", "title": "served %", "format": ".1f"}]
    return colour, tooltip


def served_spec(history: History) -> dict:
    """Per lab: share of its demand served (%)."""
    colour, tooltip = _lab_encoding(history)
    return {**_base("Served share of demand by lab (%)", labs=history.lab_rows),
            "height": CHART_HEIGHT // 2, "mark": {"type": "line"},
            "encoding": {"x": _month_axis(),
                         "y": {"field": "served_pct", "type": "quantitative",
                               "axis": {"title": "Served (% of demand)"},
                               "scale": {"domain": [0, 100]}},
                         "color": {**colour, "legend": None}, "tooltip": tooltip}}


def unmet_spec(history: History) -> dict:
    """Per lab: unmet demand (H100e), stacked."""
    colour, tooltip = _lab_encoding(history)
    return {**_base("Unmet demand by lab (H100e)", labs=history.lab_rows),
            "height": CHART_HEIGHT // 2, "mark": {"type": "area", "opacity": 0.8},
            "encoding": {"x": _month_axis(),
                         "y": {"field": "unmet_h100e", "type": "quantitative", "stack": "zero",
                               "axis": {"title": "Unmet (H100e)", "format": "~s"}},
                         "color": colour, "tooltip": tooltip}}


def events_spec(history: History) -> dict:
    """Contract, site and default events per month: one row per kind, dot size = count."""
    return {**_base("Contract and market events", events=history.event_rows),
            "mark": {"type": "circle", "opacity": 0.7},
            "encoding": {
                "x": _month_axis(),
                "y": {"field": "event", "type": "nominal", "axis": {"title": "Event"}},
                "size": {"field": "count", "type": "quantitative",
                         "legend": {"title": "events / month", "orient": "bottom"}},
                "color": {"field": "event", "type": "nominal", "legend": None},
                "tooltip": [{"field": "month", "type": "temporal", "timeUnit": "utcyearmonth",
                             "title": "month"}, {"field": "event"}, {"field": "count"},
                            {"field": "h100e", "title": "H100e", "format": ",.0f"},
                            {"field": "example"}]}}


def _labels(months: np.ndarray) -> np.ndarray:
    return np.asarray(month_label(np.asarray(months, dtype=np.int64)), dtype=object).reshape(-1)


LIVE_COLUMNS = ("buyer", "seller", "template", "H100e", "$/H100e-hour", "start", "end",
                "recall", "notice")


def live_contracts(model: ComputeMarket, limit: int = 200) -> dict[str, list]:
    """Contracts live in the last simulated month, largest first (at most ``limit``), as
    columns of ``LIVE_COLUMNS``."""
    month = model.month - 1
    book = model.book
    if len(book) == 0 or month < model.start_month:
        return {c: [] for c in LIVE_COLUMNS}
    ids = np.flatnonzero(book.live(month))
    ids = ids[np.argsort(-book.h100e[ids], kind="stable")][:limit]
    names = [p.name for p in model.parties]
    templates = book.template_names
    notice = book.notice_month[ids]
    return {
        "buyer": [names[i] for i in book.buyer[ids]],
        "seller": [names[i] for i in book.seller[ids]],
        "template": [templates[i] for i in book.template[ids]],
        "H100e": [f"{q:,.0f}" for q in book.h100e[ids]],
        "$/H100e-hour": [f"{p / HOURS_PER_MONTH:.2f}" for p in book.usd_per_h100e_month[ids]],
        "start": list(_labels(book.start_month[ids])),
        "end": list(_labels(book.ended_month[ids])),
        "recall": ["yes" if r else "no" for r in book.has_recall[ids]],
        "notice": list(np.where(notice >= 0, _labels(np.maximum(notice, 0)), "")),
    }


def metrics(model: VizMarket) -> dict[str, str]:
    """Key figures of the last simulated month, formatted for the cards."""
    h = model.history
    last = h.last
    month = model.month - 1
    out: dict[str, str] = {}
    out["Spot index"] = f"${last['spot index']:.2f}/H100e-h" if "spot index" in last else "-"
    out["Spot per GPU-hour"] = (" · ".join(
        f"{g.name} ${usd_per_gpu_hour(last['spot index'] * HOURS_PER_MONTH, g):.2f}"
        for g in generations().values()) if "spot index" in last else "-")
    terms = sorted((k for k in last if k.endswith("term index")),
                   key=lambda k: int(k.split("-")[0]))
    out["Longest term index"] = (f"${last[terms[-1]]:.2f}/H100e-h ({terms[-1].split()[0]})"
                                 if terms else "-")
    out["Utilization"] = f"{100 * last['utilization']:.1f}%" if "utilization" in last else "-"
    out["Unmet lab demand"] = (f"{100 * last['unmet_share']:.1f}% "
                               f"({last['unmet_h100e'] / 1e3:,.0f}k H100e)"
                               if "unmet_share" in last else "-")
    if h.months:
        live = model.book.live(month)
        h100e = float(model.book.h100e[live].sum()) if len(model.book) else 0.0
        delivered = (model.book.delivered_share(month, model.sites.online_h100e())
                     if len(model.book) else None)
        fees = (float(model.book.monthly_fee_usd(month, delivered_share=delivered).sum())
                if len(model.book) else 0.0)
        out["Live contracts"] = f"{int(live.sum())} ({h100e / 1e6:.2f}M H100e)"
        out["Contract fees this month"] = f"${fees / 1e9:.3f}B"
    else:
        out["Live contracts"] = "-"
        out["Contract fees this month"] = "-"
    counts = h.event_counts
    notices = counts.get("buyer_notice", 0) + counts.get("seller_notice", 0)
    defaults = counts.get("lab_default", 0) + counts.get("seller_default", 0)
    out["Recalls / notices / defaults"] = (f"{counts.get('recall_notice', 0)} / {notices} / "
                                           f"{defaults}")
    return out


# --------------------------------------------------------------------------- the chart widget
# The Vue side of Solara's VegaLite widget (solara/widgets/vue/vegalite.vue, MIT licence,
# Widgetti), changed for a chart that redraws every step: (1) when only the data of a spec
# changed (its "datasets"), the existing Vega view gets the new rows and reruns, instead of a new
# embed (no Vega-Lite compile, no new view); (2) a new embed first finalizes the previous view
# and disconnects its ResizeObserver (the original keeps one view and one observer per redraw
# alive for the life of the page).
VEGA_VUE = """
<template>
    <div><div ref="plotElement"></div></div>
</template>
<script>
module.exports = {
    created() {
        this.vegaLoaded = this.loadVega();
        this.queue = Promise.resolve();
        this.do_plot_debounced = _.debounce(() => {
            this.queue = this.queue.then(async () => {
                await this.vegaLoaded;
                await this.do_plot();
            }).catch((e) => console.error(e));
        }, 30);
    },
    mounted() { this.do_plot_debounced(); },
    destroyed() { this.release(); },
    unmounted() { this.release(); },
    watch: { spec() { this.do_plot_debounced(); } },
    methods: {
        release() {
            if (this.observer) { this.observer.disconnect(); this.observer = null; }
            if (this.view) { this.view.finalize(); this.view = null; }
        },
        async do_plot() {
            const spec = this.spec;
            if (!spec || !Object.keys(spec).length) { return; }
            const {datasets, ...shape} = spec;
            const key = JSON.stringify(shape);
            if (this.view && datasets && key === this.key) {
                for (const [name, values] of Object.entries(datasets)) {
                    this.view.data(name, values);
                }
                await this.view.resize().runAsync();  // resize: redo the autosize layout
                return;
            }
            const [vegaEmbed] = await new Promise(
                (resolve) => require(['vega-embed'], (...m) => resolve(m)));
            this.release();
            const el = this.$refs.plotElement;
            const { view } = await vegaEmbed(el, JSON.parse(JSON.stringify(spec)),
                                             {renderer: "canvas"});
            this.view = view;
            this.key = key;
            if (spec.width === "container") {
                el.classList.add("width-container");
                this.observer = new ResizeObserver(() => { if (this.view) this.view.resize(); });
                this.observer.observe(el);
            }
        },
        async loadVega() {
            await this.loadRequire();
            requirejs.undef("vega");
            requirejs.undef("vega-lite");
            requirejs.undef("vega-embed");
            require.config({
                map: {
                    '*': {
                        'vega': `${this.getCdn()}/vega@5/build/vega.min.js`,
                        'vega-lite': `${this.getCdn()}/vega-lite@5/build/vega-lite.min.js`,
                        'vega-embed': `${this.getCdn()}/vega-embed@6/build/vega-embed.min.js`,
                    }
                }
            });
            await new Promise((resolve, reject) => {
                require(['vega', 'vega-lite', 'vega-embed'], () => resolve(), reject);
            });
        },
        loadRequire() {
            if (window.requirejs) { return Promise.resolve(); }
            return new Promise((resolve, reject) => {
                const script = document.createElement('script');
                script.src = `${this.getCdn()}/requirejs@2.3.6/require.js`;
                script.onload = resolve;
                script.onerror = reject;
                document.head.appendChild(script);
            });
        },
        getJupyterBaseUrl() {
            if (document.getElementsByTagName("base").length) { return "./"; }
            const labConfigData = document.getElementById('jupyter-config-data');
            if (labConfigData) { return JSON.parse(labConfigData.textContent).baseUrl; }
            let base = document.body.dataset.baseUrl || document.baseURI;
            if (!base.endsWith('/')) { base += '/'; }
            return base;
        },
        getCdn() {
            return this.cdn || (window.solara ? window.solara.cdn
                                : `${this.getJupyterBaseUrl()}_solara/cdn`);
        }
    },
}
</script>
<style id="vega-embed-container-width">
.width-container.vega-embed { width: 100%; }
</style>
"""


class VegaChart(solara.widgets.VegaLite):
    """Solara's Vega-Lite widget with ``VEGA_VUE`` as its Vue template: data-only updates
    reuse the Vega view, and no view or observer outlives its redraw."""

    template_file = None

    @traitlets.default("template")
    def _default_template(self) -> str:
        return VEGA_VUE


# --------------------------------------------------------------------------- components
def month_readout(model: VizMarket) -> str:
    """'2026-03 (month 3 of 120)': the last simulated month, or the first month before any."""
    total = model.end_month - model.start_month
    if model.months_done == 0:
        return f"{month_label(model.start_month)} (month 0 of {total}, not started)"
    return f"{month_label(model.month - 1)} (month {model.months_done} of {total})"


def settings_text(model: VizMarket) -> str:
    """What the current run uses (the sidebar's controls apply only on Reset)."""
    c = model.controls

    def notice(choice) -> str:
        return "no exit" if choice == NO_EXIT else f"{choice} d"

    recall = f"recall on {c['recall_notice_days']} d" if c["recall"] else "no recall"
    shocks = []
    if c["recall_shock_month"]:
        shocks.append(f"recall of {c['recall_shock_share']:.0%} at month "
                      f"{c['recall_shock_month']}")
    if c["exit_shock_month"]:
        shocks.append(f"{c['exit_shock_seller']} exits at month {c['exit_shock_month']}")
    if c["orbital_month"]:
        shocks.append(f"orbital {c['orbital_mw']} MW at month {c['orbital_month']} "
                      f"(p = {c['orbital_probability']:.2f})")
    return (f"Run: {c['scenario_name']}, seed {model.seed_value}, {c['months']} months. "
            f"Rules of {c['rules_template']}: buyer notice {notice(c['buyer_notice'])}, "
            f"seller notice {notice(c['seller_notice'])}, {recall}, ramp {c['ramp_months']} "
            f"months at {c['ramp_discount']:.0%} off, "
            f"{'take-or-pay' if c['take_or_pay'] else 'pay for use'}. Permit delay x"
            f"{c['permit_delay_scale']:g}, opposition x{c['opposition_scale']:g}. Shocks: "
            f"{'; '.join(shocks) or 'none'}. Controls apply on Reset.")


def cards_html(model: VizMarket) -> str:
    """The month readout and the metric cards as one HTML fragment (one widget to update)."""
    cards = "".join(
        f'<div class="metric-card" style="border:1px solid lightgray;border-radius:6px;'
        f'padding:6px 10px;background:whitesmoke"><div style="font-size:12px;color:dimgray">'
        f'{html.escape(name)}</div><div class="metric-value" style="font-size:17px;'
        f'font-weight:600">{html.escape(value)}</div></div>'
        for name, value in metrics(model).items())
    notes = "".join(f'<div style="color:darkorange">{html.escape(n)}</div>' for n in model.notes)
    return (f'<div class="month-readout" style="font-size:20px;font-weight:600;'
            f'margin-bottom:2px">Month: {html.escape(month_readout(model))}</div>'
            f'<div class="run-settings" style="font-size:12px;color:dimgray;margin-bottom:8px">'
            f'{html.escape(settings_text(model))}</div>'
            f'<div style="display:grid;gap:8px;grid-template-columns:'
            f'repeat(auto-fill,minmax(170px,1fr))">{cards}</div>{notes}')


def table_html(columns: dict[str, list]) -> str:
    """A plain HTML table of equal-length columns (it scrolls inside its card)."""
    head = "".join(f'<th style="text-align:left;padding:2px 8px;position:sticky;top:0;'
                   f'background:white">{html.escape(str(c))}</th>' for c in columns)
    rows = zip(*columns.values(), strict=True)
    body = "".join("<tr>" + "".join(f'<td style="padding:1px 8px">{html.escape(str(v))}</td>'
                                    for v in row) + "</tr>" for row in rows)
    return (f'<table class="live-contracts" style="border-collapse:collapse;font-size:12px">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def waiting_spec(title: str) -> dict:
    """What a chart shows before the first step."""
    return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "title": title,
            "width": "container", "height": 40,
            "data": {"values": [{"text": "press Step or \u25b6 to run the market"}]},
            "mark": {"type": "text", "fontSize": 13, "color": "gray"},
            "encoding": {"text": {"field": "text", "type": "nominal"}}}

_CARD = {"border": "1px solid lightgray", "border-radius": "6px", "padding": "6px",
         "min-width": "0", "background": "white"}


@solara.component
def StatusCards(model: VizMarket, count: int):
    """The calendar month and the key metric cards (one HTML widget, rebuilt once a step)."""
    fragment = solara.use_memo(lambda: cards_html(model), [count, model])
    solara.HTML(tag="div", unsafe_innerHTML=fragment, classes=["status-cards"])


@solara.component
def VegaView(model: VizMarket, spec_of, count: int, bands=None):
    """A Vega-Lite chart of ``spec_of(model.history)`` (with the ensemble's ``bands``, see
    ``market.viz.bands``). The spec goes to the widget in an effect, once a step; the element
    never names it, so the data does not pass through the element tree (a re-render neither
    walks the growing data nor resets the widget's spec)."""
    element = VegaChart.element()

    def push():
        spec = spec_of(model.history)
        if not model.history.months:
            spec = waiting_spec(spec.get("title", ""))
        else:
            spec = with_bands(spec, bands, spec_of)
        solara.get_widget(element).spec = spec

    solara.use_effect(push, [count, model, spec_of, bands])
    return element


def _table_fragment(model: VizMarket) -> tuple[str, str]:
    columns = live_contracts(model)
    shown = len(columns["buyer"])
    total = int(model.book.live(model.month - 1).sum()) if model.months_done else 0
    count = f"{total}" if shown == total else f"{total}, the {shown} largest shown"
    return count, table_html(columns)


@solara.component
def ContractsTable(model: VizMarket, count: int):
    """Contracts live in the last simulated month."""
    n, fragment = solara.use_memo(lambda: _table_fragment(model), [count, model])
    solara.Text(f"Live contracts: {n} (H100e; $/H100e-hour; months YYYY-MM)",
                style={"font-weight": "600"})
    solara.HTML(tag="div", unsafe_innerHTML=fragment,
                style={"max-height": f"{CHART_HEIGHT + 60}px", "overflow-y": "auto"})


@solara.component
def Dashboard(model: VizMarket):
    """The market views. The only component that listens to Mesa's step counter: the views
    below get the count as a prop, so a step costs one render pass, whatever the number of
    views (one listener per view would cost one pass each)."""
    count = update_counter.get()
    bands = solara.use_reactive(None)  # the ensemble mode's bands, per session
    grid = {"display": "grid", "gap": "12px", "width": "100%",
            "grid-template-columns": "repeat(auto-fit, minmax(480px, 1fr))"}
    with solara.Column(style={"padding": "4px 12px", "width": "100%"}, gap="12px"):
        StatusCards(model, count)
        EnsembleBar(model, bands)
        with solara.Div(style=grid):
            with solara.Div(style=_CARD, classes=["view-prices"]):
                VegaView(model, price_spec, count, bands.value)
            with solara.Div(style=_CARD, classes=["view-capacity"]):
                VegaView(model, capacity_spec, count, bands.value)
            with solara.Div(style=_CARD, classes=["view-demand"]):
                VegaView(model, served_spec, count)
                VegaView(model, unmet_spec, count)
            with solara.Div(style=_CARD, classes=["view-events"]):
                VegaView(model, events_spec, count)
        with solara.Div(style=_CARD, classes=["view-contracts"]):
            ContractsTable(model, count)


@solara.component
def Page():
    """The app: Mesa's ``SolaraViz`` for the app bar and the sidebar (step, play, pause, reset,
    the controls), and the market views beside it. One model per browser session: the
    reactive model is created here, per session, and Mesa's Reset replaces its value."""
    first = solara.use_memo(VizMarket, [])
    model = solara.use_reactive(first)
    with solara.Column(style={"width": "100%"}, gap="0px"):
        # components=[]: Mesa's draggable grid gives every view half the width and one render
        # pass per view and step; Dashboard lays the views out itself
        SolaraViz(model, components=[], model_params=MODEL_PARAMS,
                  name="compute-market: the market for AI compute", play_interval=50)
        Dashboard(model.value)


page = Page
