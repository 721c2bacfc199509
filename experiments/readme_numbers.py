"""Regenerate the README's default-run figures from ``compute-market run``.

``python experiments/readme_numbers.py`` runs ``compute-market run`` (the default scenario,
seed 0) into a temporary folder and rewrites the block of the README between the markers
``<!-- golden-run:start -->`` and ``<!-- golden-run:end -->``: the headline table and the
sentence on the preloaded lease, and copies the run's price chart to ``docs/price_index.png``.
``--check`` rewrites nothing and exits 1 when the README
differs from what the run prints; ``tests/test_readme.py`` does the same check in CI, so the
README never shows numbers that no commit prints.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- golden-run:start -->", "<!-- golden-run:end -->"
HEADLINE = (
    "Spot price, volume-weighted mean",
    "Spot price index, last month",
    "Term price, 12-month contracts",
    "Term price, 36-month contracts",
    "Utilization of sellers' capacity",
    "Unmet demand, frontier labs",
    "Unmet demand, small labs",
    "What small labs paid",
    "What frontier labs paid",
    "Owner revenue",
)
"""Labels (as ``compute-market run`` prints them) of the README's headline rows, in order."""


def run_default(out: Path) -> list[tuple[str, str]]:
    """Run ``compute-market run --out OUT --quiet`` and return its printed (label, value) rows."""
    from market.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        status = main(["run", "--out", str(out)])
    if status != 0:
        raise SystemExit(f"compute-market run exited {status}:\n{buf.getvalue()}")
    rows = []
    for line in buf.getvalue().splitlines()[1:]:  # after the header, up to "Wrote ..."
        if not line.startswith("  "):
            break
        label, _, value = line.strip().rpartition("  ")
        rows.append((label.strip(), value.strip()))
    return rows


def lease_sentence(out: Path) -> str:
    """What the run says of the preloaded lease (the contracts preloaded at the start: one per
    site of the lease)."""
    import pandas as pd

    from market.hardware import HOURS_PER_MONTH

    contracts = pd.read_parquet(out / "contracts.parquet")
    market = pd.read_parquet(out / "market.parquet")
    first = contracts.iloc[0]
    pieces = contracts[(contracts["template"] == first["template"])
                       & (contracts["signed"] == first["signed"])
                       & (contracts["buyer"] == first["buyer"])]
    term36 = market[(market["product"] == "term_36m") & (market["volume_h100e"] > 0)]
    term36_price = ((term36["price_usd_per_h100e_month"] * term36["volume_h100e"]).cumsum().iloc[-1]
                    / term36["volume_h100e"].cumsum().iloc[-1])
    h100e = pieces["h100e"].cumsum().iloc[-1]
    monthly = (pieces["h100e"] * pieces["usd_per_h100e_month"]).cumsum().iloc[-1]
    price = monthly / h100e
    fate = _fate(pieces)
    return (f"The preloaded lease ({first['template']}, {h100e:,.0f} H100e in {len(pieces)} "
            f"contracts, one per site) bills ${monthly / 1e9:,.2f}B a month once delivered: "
            f"${price / HOURS_PER_MONTH:,.2f} per H100e-hour, "
            f"{price / term36_price:,.1f} times the 36-month term price "
            f"this run's market discovers (volume-weighted, "
            f"${term36_price / HOURS_PER_MONTH:,.2f}). In this run {fate}, after "
            f"${pieces['billed_usd'].cumsum().iloc[-1] / 1e9:,.1f}B billed.")


_ENDINGS = {"recall": "the owner recalls {h} H100e of it",
            "buyer_notice": "the tenant gives notice on {h} H100e of it",
            "seller_notice": "the owner gives notice on {h} H100e of it",
            "buyer_default": "the tenant defaults with {h} H100e of it still running",
            "seller_default": "the owner defaults with {h} H100e of it still running"}


def _fate(pieces) -> str:
    """How the lease's pieces ended, in words: every early ending, each with its H100e and
    first month, or that it runs to its end."""
    import pandas as pd

    reasons = pieces["end_reason"].astype(str)
    early = [(reason, pieces[reasons == reason]) for reason in _ENDINGS
             if (reasons == reason).any()]
    if not early:
        return "it runs to its end"
    return "; ".join(
        _ENDINGS[reason].format(h=f"{rows['h100e'].cumsum().iloc[-1]:,.0f}")
        + f" (from {pd.Timestamp(rows['end'].min()).strftime('%Y-%m')})"
        for reason, rows in early)


def golden_block(chart_to: Path | None = None) -> str:
    """The README block as the current code prints it; ``chart_to``: also copy the run's
    price chart there (the README shows it)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        rows = dict(run_default(out))
        table = ["| metric | value |", "| --- | ---: |"]
        for head in HEADLINE:
            label = next(k for k in rows if k.startswith(head))
            table.append(f"| {label} | {rows[label]} |")
        if chart_to is not None:
            shutil.copyfile(out / "price_index.png", chart_to)
        return "\n".join([START, *table, "", lease_sentence(out), END])


def readme_block(text: str) -> str:
    """The block between the markers in the README's text."""
    i, j = text.index(START), text.index(END) + len(END)
    return text[i:j]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    ns = ap.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    old = readme_block(text)
    new = golden_block(None if ns.check else ROOT / "docs" / "price_index.png")
    if ns.check:
        if old != new:
            print("README differs from the run:\n--- README\n" + old + "\n--- run\n" + new)
            return 1
        print("README matches the run")
        return 0
    if old != new:
        tmp = README.with_suffix(".md.tmp")
        tmp.write_text(text.replace(old, new), encoding="utf-8")
        tmp.replace(README)  # whole or not at all
    print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
