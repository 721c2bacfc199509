"""The README's results gallery, written from the committed full-run answers.

Each row quotes numbers of ``experiments/answers/<script>.json`` (the ``key_numbers.json`` of the
script's full run, copied there by ``common.write_report``), so the README says what the runs
say; ``tests/test_readme.py`` checks that the README holds exactly these rows.

    python experiments/gallery.py          # rewrite the gallery rows of README.md
    python experiments/gallery.py --print  # print them
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = ROOT / "experiments" / "answers"
README = ROOT / "README.md"


class Numbers:
    """One script's answers: ``n.mean("key")``, ``n.band("key")``, ``n.ci("key")``, formatted."""

    def __init__(self, name: str) -> None:
        self.data = json.loads((ANSWERS / f"{name}.json").read_text())

    def value(self, key: str, stat: str = "mean") -> float:
        return float(self.data[key][stat])

    def mean(self, key: str, fmt: str = ".2f", scale: float = 1.0) -> str:
        return number(self.value(key) * scale, fmt)

    def median(self, key: str, fmt: str = ".2f", scale: float = 1.0) -> str:
        return number(self.value(key, "median") * scale, fmt)

    def band(self, key: str, fmt: str = ".2f", scale: float = 1.0) -> str:
        """Seed spread: "[p5 to p95]"."""
        lo, hi = sorted((self.value(key, "p5") * scale, self.value(key, "p95") * scale))
        return f"[{number(lo, fmt)} to {number(hi, fmt)}]"

    def ci(self, key: str, fmt: str = ".2f", scale: float = 1.0) -> str:
        """Bootstrap 90% interval of the mean: "mean 90% CI lo to hi"."""
        lo, hi = sorted(x * scale for x in self.data[key]["ci90"])
        return f"mean 90% CI {number(lo, fmt)} to {number(hi, fmt)}"


def loses(busd: float) -> str:
    """"loses $xB" or "gains $xB" for a loss in $B (negative: a gain)."""
    return f"loses ${number(busd, '.1f')}B" if busd >= 0 else f"gains ${number(-busd, '.1f')}B"


def number(x: float, fmt: str) -> str:
    """``x`` formatted, without a sign on a value that rounds to zero ("-0.00" -> "0.00")."""
    text = format(x, fmt)
    return text.lstrip("+-") if float(text.replace(",", "")) == 0 else text


def q1(n: Numbers) -> str:
    return (f"Without the deal, 36-month blocks clear at ${n.mean('block_price_tight_no_deal')}M "
            f"per MW-month in 2026-27 {n.band('block_price_tight_no_deal')} "
            f"({n.ci('block_price_tight_no_deal')}), {n.mean('block_price_ratio_to_deal')}x the "
            f"lease's $4.17M. As announced (280k H100e) the lease costs "
            f"${n.mean('lease_usd_per_h100e_hour_announced')} per H100e-hour, "
            f"{n.mean('lease_premium_announced', '.1f')}x the market's block; at its filed size "
            f"(470k H100e) ${n.mean('lease_usd_per_h100e_hour_filed')}, "
            f"{n.mean('lease_premium_filed', '.1f')}x: the premium rests on the unit count.")


def q2(n: Numbers) -> str:
    revenue = n.value("recall_revenue_lost_6m")
    rescues = n.value("recall_rescues_tenant")
    exit_back = n.value("exit_replaced_share_6m")
    recall_lost = n.value("recall_value_lost_total", "median")
    exit_lost = n.value("exit_value_lost_total", "median")
    return (f"After a recall of {n.mean('recall_lost_h100e', ',.0f', 1e-3)}k H100e the tenant "
            f"gets back {n.mean('recall_replaced_share_12m', '.0f')}% of it over 12 months "
            f"{n.band('recall_replaced_share_12m', '.0f')} "
            f"({n.ci('recall_replaced_share_12m', '.0f')}), with spot "
            f"{n.mean('recall_spot_premium_6m', '+.0f')}%; in the median seed it "
            f"{loses(recall_lost)} of value, training not "
            f"customers (customer revenue in the first 6 months: "
            f"{'barely moves' if abs(revenue) < 0.5 else loses(revenue)}), against "
            f"${n.mean('recall_compensation', '.1f')}B of compensation"
            + (f". In {rescues:.0f}% of seeds the recall rescues a tenant that defaults in the "
               f"baseline, by ending the lease's payments" if rescues > 0 else "")
            + f"; a seller exit costs {'less' if exit_lost < recall_lost else 'more'} "
            f"(in the median seed it {loses(exit_lost)}; "
            + (f"within 6 months it holds {exit_back:.0f}% of what it lost, bought below the "
               f"lease's price" if exit_back >= 100 else
               f"{exit_back:.0f}% back within 6 months")
            + ") because the capacity returns to the market.")


def q3(n: Numbers) -> str:
    return (f"Leasing the surplus earns the owner {n.mean('owner_recovery_deal')}x "
            f"{n.band('owner_recovery_deal')} the levelized cost of capacity its models do not "
            f"use ({n.mean('owner_recovery_market')}x at market prices). The recall right "
            f"changes the tenant's net surplus by "
            f"${n.mean('recall_right_cost_expected', '+.1f', -1)}B "
            f"{n.band('recall_right_cost_expected', '+.1f', -1)} in the baseline and "
            f"${n.mean('recall_right_cost_worst', '+.1f', -1)}B when the owner recalls the whole "
            f"book: a recall also ends payments far above the market price.")


def q4(n: Numbers) -> str:
    return (f"Locking the 280k H100e block moves small labs' fill rate by "
            f"{n.mean('small_fill_change', '+.1f')} points {n.band('small_fill_change', '+.1f')} "
            f"({n.ci('small_fill_change', '+.1f')}) and their price by "
            f"{n.mean('small_price_change_pct', '+.1f')}%: no barrier. They miss "
            f"{100 - n.value('small_fill_no_block'):.0f}% of their demand either way, but only "
            f"{n.mean('small_unmet_inference_pct', '.0f')}% of their inference: "
            f"{n.mean('small_missed_training_pct', '.0f')}% of what they miss is training they "
            f"value below the price.")


def q5(n: Numbers) -> str:
    return (f"All frictions together raise spot from 2027 by "
            f"{n.mean('spot_change_slow_pct', '+.0f')}% {n.band('spot_change_slow_pct', '+.0f')} "
            f"({n.ci('spot_change_slow_pct', '+.0f')}), 36-month prices by "
            f"{n.mean('term36_change_slow_pct', '+.0f')}%, and leave "
            f"{n.mean('online_end_slow', '.1f')}M instead of "
            f"{n.mean('online_end_default', '.1f')}M "
            f"H100e online; permits ({n.mean('spot_change_permit_months_mean_pct', '+.0f')}%) "
            f"and construction ({n.mean('spot_change_lead_time_months_pct', '+.0f')}%) matter "
            f"most, power headroom least "
            f"({n.mean('spot_change_power_headroom_mw_per_year_pct', '+.0f')}%).")


def q6(n: Numbers) -> str:
    return (f"400 MW of orbital GB300 arriving in 2028 moves the 2029 spot price "
            f"{n.mean('spot_change_orbital_pct', '+.0f')}% "
            f"{n.band('spot_change_orbital_pct', '+.0f')} "
            f"({n.ci('spot_change_orbital_pct', '+.0f')}); the owner's own chips "
            f"{n.mean('spot_change_chips_pct', '+.0f')}%; it mostly serves demand that went "
            f"unmet before (labs' unmet demand {n.mean('unmet_change_orbital_pp', '+.1f')} "
            f"points).")


def q7(n: Numbers) -> str:
    return (f"Hyperscalers own {n.mean('cap_share_hyperscaler', '.0f')}% of capacity at the end, "
            f"neoclouds {n.mean('cap_share_neocloud', '.0f')}%, the owner "
            f"{n.mean('cap_share_owner', '.0f')}%. Neoclouds default in "
            f"{n.mean('neocloud_default_prob_base', '.0f')}% of runs as calibrated and "
            f"{n.mean('neocloud_default_prob_levered', '.0f')}% with doubled debt; at 3x debt "
            f"{n.mean('neocloud_default_prob_levered_3', '.0f')}% with demand growth and "
            f"{n.mean('neocloud_default_prob_bust_levered_3', '.0f')}% without: failures need "
            f"leverage well above the calibration, and come sooner when prices fall.")


def q8(n: Numbers) -> str:
    median = n.value("tenant_rar_deal_terms", "median")
    rescue = (" (below 0, a gain, where it rescues a tenant headed for default by ending the "
              "lease's payments)" if n.value("tenant_rar_deal_terms", "p5") < 0 else "")
    tenant = (f"an owner's recall or exit leaves the tenant's customer revenue unchanged in the "
              f"median seed (it serves customers first); with the recall right its loss to the "
              f"worse shock spans {n.band('tenant_rar_deal_terms', '.1f')} $B across "
              f"seeds{rescue}, "
              f"without it {n.band('tenant_rar_no_recall', '.1f')}"
              if abs(median) < 0.05 else
              f"with the recall right the worse owner shock costs the tenant "
              f"${number(median, '.1f')}B of revenue in the median seed "
              f"{n.band('tenant_rar_deal_terms', '.1f')}{rescue}, "
              f"${n.median('tenant_rar_no_recall', '.1f')}B without it")
    at_risk, no_exit = (n.value(k) for k in ("owner_rar_deal_terms", "owner_rar_no_early_exit"))
    owner = (f"when prices fall the owner has ${number(at_risk, '.1f')}B of revenue at risk "
             f"(${number(no_exit, '.1f')}B with no early exit: "
             + ("the tenant's exit right carries it)" if at_risk - no_exit > 0.15 * abs(at_risk)
                else "the market, not the tenant's exit right, carries it)"))
    return (f"Rules move risk more than welfare (surplus ${n.mean('surplus_deal_terms', ',.0f')}B, "
            f"changes within a few $B): {tenant}; {owner}; "
            f"take-or-pay and the ramp barely matter because the tenant uses "
            f"{n.mean('tenant_use_pct_deal_terms', '.0f')}% of what it holds.")


ROWS: dict[str, tuple[str, Callable[[Numbers], str], str]] = {
    "q1_price_discovery": ("Q1 Price discovery", q1, ""),
    "q2_exit_recall_risk": ("Q2 Exit and recall risk", q2, ""),
    "q3_dual_monetization": ("Q3 Dual monetization", q3, ""),
    "q4_barriers_to_entry": ("Q4 Barriers to entry", q4, ""),
    "q5_buildout_friction": ("Q5 Build-out friction", q5, ""),
    "q6_new_supply": ("Q6 New supply", q6, ""),
    "q7_industry_structure": ("Q7 Industry structure", q7, ""),
    "q8_contract_design": ("Q8 Contract design", q8, " --workers 2"),
}
"""Script -> (title, the answer's sentence from its numbers, extra arguments of the command)."""
SPECULATIVE = {"q6_new_supply"}
"""Questions whose title carries "(speculative)"."""


def rows() -> list[str]:
    """The gallery's table rows, in question order."""
    out = []
    for name, (title, sentence, extra) in ROWS.items():
        head = f"**{title}**" + (" (speculative)" if name in SPECULATIVE else "")
        out.append(f"| {head} ![](docs/gallery/{name}.png) | {sentence(Numbers(name))} | "
                   f"`python experiments/{name}.py{extra}` |")
    return out


ROW = re.compile(r"^\| \*\*Q\d .*$", re.MULTILINE)


def rewrite(text: str) -> str:
    """``text`` (the README) with its gallery rows replaced by :func:`rows`."""
    found = ROW.findall(text)
    if len(found) != len(ROWS):
        raise ValueError(f"README.md: expected {len(ROWS)} gallery rows, found {len(found)}")
    new = iter(rows())
    return ROW.sub(lambda _: next(new), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--print", action="store_true", help="print the rows, change nothing")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.print:
        print("\n".join(rows()))
        return 0
    README.write_text(rewrite(README.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
