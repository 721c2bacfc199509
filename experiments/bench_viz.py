"""Benchmark: render time per step of the browser app at month 1 and month 120.

Two measures of one press of Step, all 120 months of the default controls:

- server (always): in-process ``solara.render`` of the page, time of a Step click: the model's
  month, the history update, the chart specs and the page's re-render, until the widgets hold the
  new state (what the server does before the browser gets the update). CPU time of this process
  (``time.process_time``): on a shared machine wall time counts other processes.
- browser (``--browser``): the real app in Debian's chromium, wall time from the click on Step
  until the month readout shows the next month and the price chart has redrawn (server, network
  and drawing together); then, in the same page, the time Vega alone takes to draw the five
  charts of month 1 and of month 120: the cost of drawing the longer lines, to compare with the
  growth of the step time.

    python experiments/bench_viz.py [--browser]

Prints the time at month 1 and month 120 and the median of months 1-10 and 111-120. The target
(issue 8): the time per step does not grow with the history beyond what drawing the longer lines
costs (a few series x one point per month): compare the growth of the browser step with the
growth of Vega's drawing alone.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time


def server_times(months: int = 120) -> list[float]:
    """CPU seconds of each Step click of an in-process render of the page."""
    import ipyvuetify as v
    import solara

    from market.viz import app

    # Solara prints the app bar's elements when a page is rendered outside its app: to stderr,
    # so that stdout holds only the figures (experiments/perf_record.py records it)
    with contextlib.redirect_stdout(sys.stderr):
        _, rc = solara.render(solara.AppLayout(children=[app.Page()]), handle_error=False)
    step = rc.find(v.Btn, children=["Step"]).widget
    times = []
    for _ in range(months):
        start = time.process_time()
        step.click()
        times.append(time.process_time() - start)
    rc.close()
    return times


def browser_times(months: int = 120) -> tuple[list[float], dict[int, float]]:
    """Wall seconds from Step click to the new month shown and the price chart redrawn, and
    the seconds Vega alone takes to draw the charts of month 1 and of the last month."""
    import os
    import re
    import signal
    import subprocess

    from playwright.sync_api import sync_playwright

    from market.viz import assets

    assets.prepare(log=lambda msg: print(msg, file=sys.stderr))
    code = "import sys; from market.viz import cli; sys.exit(cli(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "--port", "0"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = None
        for line in proc.stdout:
            found = re.search(r"serving at (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        if url is None:
            raise SystemExit("the app did not start")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1500, "height": 1900})
            page.goto(url, timeout=120_000)
            button = page.get_by_role("button", name="Step", exact=True)
            button.wait_for(timeout=120_000)
            page.wait_for_function(
                "() => document.querySelectorAll('.vega-embed canvas.marks').length >= 5",
                timeout=60_000)
            times = []
            for month in range(1, months + 1):
                before = page.evaluate(
                    "() => document.querySelector('.view-prices canvas.marks').toDataURL()")
                start = time.perf_counter()
                button.click()
                page.wait_for_function(
                    "([text, before]) => document.querySelector('.month-readout').innerText"
                    ".includes(text) && document.querySelector('.view-prices canvas.marks')"
                    ".toDataURL() !== before", arg=[f"(month {month} of", before],
                    timeout=60_000, polling=5)
                times.append(time.perf_counter() - start)
            drawing = draw_times(page, (1, months))
            browser.close()
        return times, drawing
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()


DRAW_JS = """async (specs) => {
    const embed = await new Promise((resolve) => require(['vega-embed'], resolve));
    const box = document.createElement('div');
    box.style.width = '700px';
    document.body.appendChild(box);
    const start = performance.now();
    for (const spec of specs) {
        const result = await embed(box, spec, {actions: false});
        result.finalize();
    }
    box.remove();
    return (performance.now() - start) / 1000;
}"""


def draw_times(page, months: tuple[int, ...], reps: int = 7) -> dict[int, float]:
    """Median seconds the browser takes to draw the five charts of each month (Vega alone,
    after a warm-up; months alternate): the cost of drawing the lines, without server, network
    or page updates."""
    from market.viz import app

    specs = {}
    for month in months:
        model = app.VizMarket()
        model.run(month)
        specs[month] = [spec_of(model.history) for spec_of in (
            app.price_spec, app.capacity_spec, app.served_spec, app.unmet_spec,
            app.events_spec)]
    for month in months:  # warm-up
        page.evaluate(DRAW_JS, specs[month])
    times: dict[int, list[float]] = {m: [] for m in months}
    for _ in range(reps):
        for month in months:
            times[month].append(page.evaluate(DRAW_JS, specs[month]))
    return {m: statistics.median(t) for m, t in times.items()}


def report(name: str, times: list[float]) -> None:
    """One line: month 1, month 120, medians of the first and last ten months."""
    first, last = statistics.median(times[:10]), statistics.median(times[-10:])
    print(f"{name:8s} month 1: {1e3 * times[0]:7.1f} ms   month {len(times)}: "
          f"{1e3 * times[-1]:7.1f} ms   median months 1-10: {1e3 * first:7.1f} ms   "
          f"median months {len(times) - 9}-{len(times)}: {1e3 * last:7.1f} ms   "
          f"(late / early {last / first:.2f})")


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true", help="also time the real browser")
    parser.add_argument("--months", type=int, default=120)
    args = parser.parse_args()
    report("server", server_times(args.months))
    if args.browser:
        times, drawing = browser_times(args.months)
        report("browser", times)
        first, last = drawing[1], drawing[args.months]
        print(f"drawing the five charts alone (Vega): month 1: {1e3 * first:.1f} ms   month "
              f"{args.months}: {1e3 * last:.1f} ms   (difference {1e3 * (last - first):.1f} ms; "
              f"browser step difference {1e3 * (statistics.median(times[-10:]) - statistics.median(times[:10])):.1f} ms)")


if __name__ == "__main__":
    main()
