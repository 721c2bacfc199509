"""Question 2, exit and recall risk: how fast can the lab replace lost capacity, at what price?

    python experiments/q2_exit_recall_risk.py [--quick] [--seeds N] [--out DIR]
        [--workers N | --scheduler ADDRESS]

docs/model.md section 1, question 2: when either side exits on 90 days' notice, or the owner
reclaims capacity for its own models (priority reallocation), how fast can the lab replace it, at
what price, and how much revenue does it lose meanwhile?

Setup: three worlds on the same seeds: ``colossus-2026`` (baseline), ``recall-shock`` (in
2027-02 the owner recalls every lease with a recall right, the Colossus lease included, on 90
days' notice, and uses the capacity for its own models) and ``seller-exit`` (in 2027-02 the owner
gives 90 days' notice on every lease it sold). The tenant is ``frontier_a``. Every effect is a
per-seed difference against the baseline (common random numbers).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import KeyNumber  # noqa: E402

from market.scenarios import load_scenario  # noqa: E402

NAME = "q2_exit_recall_risk"
TENANT = "frontier_a"
OWNER = "colossus_owner"
BASE = "baseline (colossus-2026)"
RECALL = "recall (recall-shock)"
EXIT = "seller exit (seller-exit)"
SHOCKS = {RECALL: "recall-shock", EXIT: "seller-exit"}
ENDED = ("recall", "seller_notice")
AFTER_MONTHS = 6
"""Window after the capacity goes for the price and revenue measures."""
REPLACED = 0.9
"""Capacity counts as replaced when the tenant holds at least this share of what it lost back
(relative to the baseline run of the same seed)..."""
PERSIST = 3
"""...for this many months in a row."""


def measure(frames: dict[str, pd.DataFrame], label: str):
    """The tenant's monthly use, revenue, value and spend; what it lost and what it paid after."""
    agents, market, contracts = frames["agents"], frames["market"], frames["contracts"]
    tenant = agents[agents["agent"] == TENANT].set_index("month")
    spot_price = common.market_series(market, "spot", "price_usd_per_h100e_month")
    series = {
        "used": tenant["used_h100e"], "unmet": tenant["unmet_h100e"],
        "demand": tenant["demand_h100e"], "revenue": tenant["revenue_usd"],
        "value": tenant["value_usd"], "cost": tenant["cost_usd"],
        "spot_index_h": common.market_series(market, "spot", "index_usd_per_h100e_month")
        / common.HOURS_PER_MONTH,
    }
    mine = contracts[contracts["buyer"] == TENANT]
    # the preloaded lease: signed at the start, months before it starts (market contracts start
    # the month after they are signed)
    lease = mine[mine["start"] > mine["signed"] + pd.DateOffset(months=1)]
    scalars: dict[str, float] = {"lost_h100e": np.nan, "end_month": np.nan,
                                 "notice_month": np.nan, "replacement_price_h": np.nan,
                                 "compensation_busd": 0.0,
                                 "lease_recalled": float((lease["end_reason"] == "recall").any()),
                                 "tenant_defaulted": float(tenant["defaulted"].any())}
    # the contracts the shock ended: noticed or recalled in the shock's month (the owner also
    # recalls leases for its own need at other times, in every world)
    first_notice = shock_month(label)
    if first_notice is None:
        return scalars, series
    hit = mine[mine["end_reason"].isin(ENDED) & (mine["notice"] == first_notice)]
    if len(hit):
        end = hit["end"].min()
        scalars["lost_h100e"] = float(hit["h100e"].sum())
        scalars["notice_month"] = float(first_notice.value)
        scalars["end_month"] = float(end.value)
        scalars["compensation_busd"] = float(hit["compensation_usd"].sum() / 1e9)
        # price of what the tenant bought from the notice to AFTER_MONTHS after the end:
        # new term contracts and spot purchases
        until = end + pd.DateOffset(months=AFTER_MONTHS)
        new = mine[(mine["signed"] >= first_notice) & (mine["signed"] < until)]
        spot_q = common.between(tenant["spot_h100e"], str(end.date()), str(until.date()))
        spot_p = spot_price.reindex(spot_q.index).fillna(0.0)
        qty = float(new["h100e"].sum() + spot_q.sum())
        usd = float((new["h100e"] * new["usd_per_h100e_month"]).sum() + (spot_q * spot_p).sum())
        scalars["replacement_price_h"] = usd / qty / common.HOURS_PER_MONTH if qty > 0 else np.nan
    return scalars, series


@functools.cache
def shock_month(label: str) -> pd.Timestamp | None:
    """Month of the scripted shock of a world (None for the baseline)."""
    if label not in SHOCKS:
        return None
    return pd.Timestamp(load_scenario(SHOCKS[label]).shocks[0].month)


def months_word(n: float) -> str:
    return f"{n:.0f} month" + ("" if round(n) == 1 else "s")


def lose_or_gain(busd: float) -> str:
    """"loses $xB" or "gains $xB" for a loss in $B (negative: a gain)."""
    return f"loses ${busd:.1f}B" if busd >= 0 else f"gains ${-busd:.1f}B"


def signed_pct(x: float) -> str:
    """"+5%", "-3%", or "0%" where it rounds to zero."""
    text = f"{x:+.0f}"
    return ("0" if text in ("+0", "-0") else text) + "%"


def revenue_change(lost_busd: float) -> str:
    """What a loss of customer revenue in $B amounts to, in words (negative: a gain)."""
    if abs(lost_busd) < 0.5:
        return f"barely moves (${-lost_busd:+.2f}B)"
    return f"{'falls' if lost_busd > 0 else 'rises'} by ${abs(lost_busd):.1f}B"


def configs() -> list[tuple[str, object]]:
    return [(BASE, load_scenario("colossus-2026"))] + [(label, load_scenario(name))
                                                       for label, name in SHOCKS.items()]


def headline(res: common.Results) -> str:
    """Share of the recalled capacity the tenant holds back over 12 months, and the value it
    loses, for the sensitivity line."""
    r = paired(res, RECALL)
    return (f"{common.band(r['replaced_12m'] * 100)[0]:.0f}% replaced in 12 months, "
            f"${common.band(r['value_lost_total'])[0]:.1f}B of value lost")


def paired(res: common.Results, label: str) -> dict[str, np.ndarray]:
    """Per-seed effects of a shock against the baseline."""
    n = len(res.seeds)
    out = {k: np.full(n, np.nan) for k in (
        "replaced_0", "replaced_3", "replaced_6", "replaced_12m", "months_to_replace",
        "censored",
        "revenue_lost_6m", "value_lost_6m", "revenue_lost_total", "value_lost_total",
        "spot_premium_6m", "unmet_share_6m_shock", "unmet_share_6m_base")}
    # the tenant's fate: defaults in the baseline but not after the shock (the shock rescues
    # it, by ending the lease's payments) or the reverse
    base_default, shock_default = (res.values(x, "tenant_defaulted") for x in (BASE, label))
    out["rescues"] = ((base_default > 0) & (shock_default == 0)).astype(float)
    out["sinks"] = ((base_default == 0) & (shock_default > 0)).astype(float)
    lost = res.values(label, "lost_h100e")
    end = res.values(label, "end_month")
    used_b, used_s = res.frame(BASE, "used"), res.frame(label, "used")
    for i in range(n):
        if not np.isfinite(end[i]) or not lost[i] > 0:
            continue
        e = pd.Timestamp(int(end[i]))
        gap = (used_b[i] - used_s[i])[used_b.index >= e]
        replaced = 1.0 - gap.to_numpy() / lost[i]
        for k in (0, 3, 6):
            if k < replaced.size:
                out[f"replaced_{k}"][i] = replaced[k]
        out["replaced_12m"][i] = float(replaced[:12].mean())
        # replaced for good: REPLACED or more for PERSIST months in a row
        held = np.convolve((replaced >= REPLACED).astype(float), np.ones(PERSIST), "valid")
        ok = np.flatnonzero(held >= PERSIST)
        out["months_to_replace"][i] = ok[0] if ok.size else replaced.size
        out["censored"][i] = 0.0 if ok.size else 1.0
        w = slice(e, e + pd.DateOffset(months=AFTER_MONTHS - 1))
        for what in ("revenue", "value"):
            b, s = res.frame(BASE, what)[i], res.frame(label, what)[i]
            out[f"{what}_lost_6m"][i] = float((b - s).loc[w].sum() / 1e9)
            notice = pd.Timestamp(int(res.values(label, "notice_month")[i]))
            out[f"{what}_lost_total"][i] = float((b - s)[b.index >= notice].sum() / 1e9)
        sb, ss = res.frame(BASE, "spot_index_h")[i], res.frame(label, "spot_index_h")[i]
        out["spot_premium_6m"][i] = float((ss.loc[w] / sb.loc[w] - 1.0).mean() * 100)
        for tag, lab in (("shock", label), ("base", BASE)):
            unmet = res.frame(lab, "unmet")[i].loc[w].sum()
            demand = res.frame(lab, "demand")[i].loc[w].sum()
            out[f"unmet_share_6m_{tag}"][i] = float(unmet / demand * 100) if demand else np.nan
    return out


def plot(res: common.Results, opts: common.Options, effects: dict) -> str:
    fig, axes = common.figure(ncols=3, width=4.9, height=4.3)
    ax, ax2, ax3 = axes
    colors = {RECALL: common.COLORS[1], EXIT: common.COLORS[0]}
    ends = []
    for label in SHOCKS:
        diff = (res.frame(label, "used") - res.frame(BASE, "used")) / 1e3
        common.plot_band(ax, diff, label, colors[label])
        common.plot_band(ax3, (res.frame(BASE, "value") - res.frame(label, "value")).cumsum()
                         / 1e9, label, colors[label])
        ends += list(common.finite(res.values(label, "end_month")))
    lost = common.band(np.concatenate([res.values(label, "lost_h100e") for label in SHOCKS]))[0]
    ax.axhline(-lost / 1e3, color="gray", linestyle=":", linewidth=1)
    ax.text(ax.get_xlim()[0], -lost / 1e3, f" capacity lost: {lost / 1e3:,.0f}k H100e",
            fontsize=8, va="bottom", color="gray")
    common.plot_band(ax2, res.frame(BASE, "spot_index_h"), BASE, "black")
    for label in SHOCKS:
        common.plot_band(ax2, res.frame(label, "spot_index_h"), label, colors[label])
    for a in axes:
        if ends:
            notice = pd.Timestamp(int(common.finite(res.values(RECALL, "notice_month"))[0]))
            a.axvline(notice, color="gray", linestyle="--", linewidth=1)
            a.axvline(pd.Timestamp(int(min(ends))), color="gray", linestyle="-", linewidth=1)
        common.date_axis(a)
        a.set_xlabel("month (dashed: notice, solid: capacity gone)")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("tenant's served capacity vs baseline, thousand H100e")
    ax.set_title("How fast the tenant replaces the capacity")
    ax.legend(loc="upper left")
    ax2.set_ylabel("spot price index, $ per H100e-hour")
    ax2.set_title("At what price: the spot index")
    ax2.legend(loc="lower left")
    ax3.set_ylabel("cumulative value lost vs baseline, $B")
    ax3.set_title("What it loses: revenue + training value")
    ax3.legend(loc="upper left")
    return common.save(fig, opts, "exit_recall_risk.png")


def main(argv: list[str] | None = None) -> int:
    opts = common.parse_args(NAME, __doc__, argv)
    res = common.run_configs(configs(), opts, measure)
    eff = {label: paired(res, label) for label in SHOCKS}
    r, x = eff[RECALL], eff[EXIT]
    deal_h = common.DEAL_USD_PER_H100E_HOUR
    numbers = [
        KeyNumber("recall_lost_h100e", res.values(RECALL, "lost_h100e"), "H100e", (1e5, 1.5e6),
                  "capacity the recall takes from the tenant", digits=0),
        KeyNumber("recall_replaced_share_at_end", r["replaced_0"] * 100, "% of lost", (-50, 100),
                  "share replaced in the first month without it, recall", digits=0),
        KeyNumber("recall_replaced_share_6m", r["replaced_6"] * 100, "% of lost", (-50, 150),
                  "share replaced 6 months later, recall", digits=0),
        KeyNumber("recall_replaced_share_12m", r["replaced_12m"] * 100, "% of lost", (-50, 150),
                  "share replaced on average over the 12 months after, recall", digits=0),
        KeyNumber("recall_months_to_replace", r["months_to_replace"], "months", (0, 48),
                  f"months until {REPLACED:.0%} is replaced for {PERSIST} months in a row, "
                  "recall (censored at run end)", digits=1),
        KeyNumber("recall_never_replaced", r["censored"] * 100, "% of seeds", (0, 100),
                  "seeds where the recall is never replaced that way", digits=0),
        KeyNumber("recall_spot_premium_6m", r["spot_premium_6m"], "% over baseline", (-20, 100),
                  "spot index premium in the 6 months after, recall", digits=1),
        KeyNumber("recall_replacement_price", res.values(RECALL, "replacement_price_h"),
                  "$ per H100e-hour", (0.5, 15), "price of what the tenant buys after the "
                  f"notice (lease: ${deal_h:.2f})"),
        KeyNumber("recall_revenue_lost_6m", r["revenue_lost_6m"], "$B", (-5, 30),
                  "tenant's customer revenue lost in the 6 months after, recall"),
        KeyNumber("recall_value_lost_total", r["value_lost_total"], "$B", (-60, 100),
                  "tenant's revenue + training value lost, notice to run end, recall"),
        KeyNumber("recall_rescues_tenant", r["rescues"] * 100, "% of seeds", (0, 100),
                  "seeds where the tenant defaults in the baseline and not after the recall",
                  digits=0),
        KeyNumber("recall_sinks_tenant", r["sinks"] * 100, "% of seeds", (0, 100),
                  "seeds where the tenant defaults after the recall and not in the baseline",
                  digits=0),
        KeyNumber("recall_compensation", res.values(RECALL, "compensation_busd"), "$B",
                  (0, 10), "recall compensation the tenant receives"),
        KeyNumber("exit_replaced_share_6m", x["replaced_6"] * 100, "% of lost", (-50, 200),
                  "share replaced 6 months later, seller exit", digits=0),
        KeyNumber("exit_replaced_share_12m", x["replaced_12m"] * 100, "% of lost", (-50, 200),
                  "share replaced on average over the 12 months after, seller exit", digits=0),
        KeyNumber("exit_months_to_replace", x["months_to_replace"], "months", (0, 48),
                  f"months until {REPLACED:.0%} is replaced for {PERSIST} months in a row, "
                  "seller exit (censored at run end)", digits=1),
        KeyNumber("exit_spot_premium_6m", x["spot_premium_6m"], "% over baseline", (-20, 100),
                  "spot index premium in the 6 months after, seller exit", digits=1),
        KeyNumber("exit_replacement_price", res.values(EXIT, "replacement_price_h"),
                  "$ per H100e-hour", (0.5, 15), "price of what the tenant buys after the "
                  "notice, seller exit"),
        KeyNumber("exit_revenue_lost_6m", x["revenue_lost_6m"], "$B", (-5, 30),
                  "tenant's customer revenue lost in the 6 months after, seller exit"),
        KeyNumber("exit_value_lost_total", x["value_lost_total"], "$B", (-60, 100),
                  "tenant's revenue + training value lost, notice to run end, seller exit"),
    ]
    rows = []
    for label in SHOCKS:
        e = eff[label]
        rows.append({"shock": label,
                     "replaced after 3 months, %": common.mean_band_cell(e["replaced_3"] * 100, 0),
                     "unmet share 6 months after, % (baseline)":
                         f"{common.fmt(common.band(e['unmet_share_6m_shock'])[0], 0)} "
                         f"({common.fmt(common.band(e['unmet_share_6m_base'])[0], 0)})",
                     "replaced on average over 12 months, %": common.mean_band_cell(
                         e["replaced_12m"] * 100, 0),
                     f"never 90% replaced for {PERSIST} months, share of seeds":
                         common.fmt(float(np.nanmean(e["censored"])) * 100, 0) + "%",
                     "value lost in 6 months, $B": common.mean_band_cell(e["value_lost_6m"], 2)})
    table = common.markdown_table(pd.DataFrame(rows).set_index("shock"))
    xm = common.band(x["months_to_replace"])[0]
    rp = common.band(res.values(RECALL, "replacement_price_h"))[0]
    xp = common.band(x["spot_premium_6m"])[0]
    r12 = common.band(r["replaced_12m"] * 100)
    never = float(np.nanmean(r["censored"])) * 100
    done = r["months_to_replace"][r["censored"] == 0]
    replaced_text = (f"it holds 90% again for {PERSIST} months in a row within the run in "
                     f"{100 - never:.0f}% of seeds, after a median of "
                     f"{months_word(float(np.median(done)))}" if done.size else
                     f"it never holds 90% again for {PERSIST} months in a row within the run")
    value_median = float(np.nanmedian(r["value_lost_total"]))
    exit_median = float(np.nanmedian(x["value_lost_total"]))
    rescues, sinks = (float(np.nanmean(r[k])) * 100 for k in ("rescues", "sinks"))
    mean_lost = common.band(r["value_lost_total"])[0]
    mean_word = "loss" if mean_lost >= 0 else "gain"
    fate = (f" In {rescues:.0f}% of seeds the recall rescues a tenant that defaults in the "
            f"baseline, by ending the lease's payments far above the market price"
            + (f" (and in {sinks:.0f}% it tips one into default)" if sinks else "")
            + f"; these seeds move the mean to a {mean_word} of ${abs(mean_lost):.1f}B."
            if rescues or sinks
            else "")
    answer = (
        f"After a recall of {common.band(res.values(RECALL, 'lost_h100e'))[0] / 1e3:,.0f}k "
        f"H100e the tenant gets back on average {r12[0]:.0f}% of it over the next 12 "
        f"months (90% band {r12[1]:.0f}% to {r12[2]:.0f}%; {replaced_text}), "
        f"buys what it gets at ${rp:.2f} per H100e-hour while spot runs "
        f"{signed_pct(common.band(r['spot_premium_6m'])[0])} against the baseline, and in the "
        f"median "
        f"seed {lose_or_gain(value_median)} of revenue and training value to the end of the "
        f"run, against ${common.band(res.values(RECALL, 'compensation_busd'))[0]:.2f}B of "
        f"compensation; its customer revenue in the first six months "
        f"{revenue_change(common.band(r['revenue_lost_6m'])[0])}.{fate} "
        f"A seller exit costs it {'less' if exit_median < value_median else 'more'} "
        f"({months_word(xm)} to 90%, spot {signed_pct(xp)}; in the median seed the tenant "
        f"{lose_or_gain(exit_median)} of value) because the capacity returns to the market, "
        f"where the tenant buys it back below the lease's price, while a recall takes it off "
        f"the market for the owner's own models for good.")
    base_recalls = common.band(res.values(BASE, "lease_recalled"))[0] * 100
    mechanism = (
        "A recall takes the capacity out of the market for good: the owner keeps it for its own "
        "models, so the tenant can only buy back what other sellers have spare, at asks that "
        "rise with their utilization. The tenant serves inference first, so the loss falls on "
        "training, valued at the lab's decaying training value: hence value lost is large while "
        "customer revenue lost in the first six months is about nil. The compensation is one "
        "month of fees. The recall also ends the lease's payments, $1.25B a month, far above "
        "the market price: where the tenant's rival takes its customers (share shifts) and its "
        "funding dries up, those payments are what drives it into default, so in some seeds "
        "the recall rescues it and the value effect changes sign; the median seed shows the "
        "typical cost, the mean carries those rescues. A seller's exit instead returns the "
        "capacity to the market, where the "
        "tenant buys it back at the market's price, below the lease's. Since the owner now "
        "recalls for its own need in contract order, the baseline itself loses part or all of "
        f"the lease in {base_recalls:.0f}% of seeds, later: the scripted shock's effect is "
        "measured against that baseline.")
    sens = common.sensitivity(configs(), opts, measure, headline,
                              common.SCARCITY_RANGE + common.GROWTH_RANGE)
    sensitivity = f"Default: {headline(res)}; {sens}."
    caveats = [
        "The shocks are scripted worst cases (the whole lease book, nine months into the lease); "
        "in the baseline the owner also recalls leases, the Colossus lease included, when its "
        "own need grows, so the baseline is not risk-free.",
        "Replacement is measured on served capacity against the baseline run of the same seed; "
        "demand itself shrinks after a shortage (churn of unserved customers), so part of the "
        "'replacement' is customers the tenant no longer has.",
        "Customer revenue falls only when the shortfall reaches inference: the lab serves "
        "inference first and training absorbs the first losses (hence value lost > revenue "
        "lost).",
        "Shares replaced are against the baseline run of the same seed, so they can pass 100% "
        "or fall below 0: where the baseline tenant defaults or sheds capacity it has lost "
        "customers to its rival, the shocked one may hold more, or less, for reasons besides "
        "the shock.",
        "No search frictions: the tenant can bid for any offered capacity the next month; "
        "real replacement of 280k H100e in one place would be slower.",
    ]
    if opts.quick:
        caveats.insert(0, "QUICK MODE: 3 seeds; a smoke test, not a finding.")
    fig = plot(res, opts, eff)
    common.write_report(
        opts, res, title="Q2 Exit and recall risk: replacing lost capacity",
        question="When either side exits on 90 days' notice, or the owner reclaims capacity for "
                 "its own models, how fast can the lab replace it, at what price, and how much "
                 "revenue does it lose meanwhile? (docs/model.md section 1, question 2)",
        setup=[
            "`colossus-2026` (baseline), `recall-shock` (owner recalls every recallable lease "
            "in 2027-02, 90 days' notice, capacity goes to its own models) and `seller-exit` "
            "(owner gives 90 days' notice on all its leases in 2027-02); tenant `frontier_a`.",
            "All effects are per-seed differences against the baseline run with the same seed. "
            f"Replaced share k months after the capacity is gone = 1 - (baseline served - "
            f"shocked served) / capacity lost; 'months to replace' is the first month from "
            f"which {REPLACED:.0%} stays replaced for {PERSIST} months in a row.",
            "Replacement price: new term contracts signed from the notice on and spot bought "
            f"in the {AFTER_MONTHS} months after, volume-weighted.",
        ],
        numbers=numbers, answer=answer, caveats=caveats, mechanism=mechanism,
        sensitivity=sensitivity,
        tables=[("Side by side", table)],
        figures=[(fig, "Left: the tenant's served capacity against the baseline; middle: the "
                       "spot index; right: cumulative revenue and training value lost.")])
    print(f"{NAME}: recall {r12[0]:.0f}% replaced over 12 months; report in {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
