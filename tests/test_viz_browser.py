"""The app in a real browser: Debian's chromium driven by Playwright, with every host but this
machine unreachable (so the page must render from the prepared offline files).

Starts ``python -m market viz --port 0`` (which prepares the offline front-end files, fetching them
with npm on a fresh machine), waits for the URL it prints, then: presses Step and checks the month
readout and that a chart changes; changes a contract rule, resets, steps again and checks that the
outcome differs; plays all 120 months. Screenshots go to ``build/viz-browser*.png`` (and to
``$VIZ_SCREENSHOT`` when set, e.g. ``docs/viz.png`` for the README). Fails, never skips, when
chromium is missing.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from market.viz import assets

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
START_TIMEOUT_S = 240.0
READOUT = ".month-readout"


@pytest.fixture(scope="module")
def app_url():
    """The app served by the real command on a free port; stopped after the module."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y "
                    "chromium; .ci/test does it) - the browser tests never skip")
    try:
        assets.prepare(log=lambda msg: print(f"assets: {msg}", file=sys.stderr))
    except assets.AssetsError as exc:
        pytest.fail(f"offline front-end files: {exc}")
    proc = subprocess.Popen([sys.executable, "-m", "market", "viz", "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump():
        for line in proc.stdout:
            log.append(line)
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    url = None
    deadline = time.monotonic() + START_TIMEOUT_S
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        found = re.search(r"serving at (http://\S+)", line)
        if found:
            url = found.group(1)
    try:
        if url is None:
            pytest.fail("compute-market viz did not print its URL:\n" + "".join(log[-40:]))
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the command and the server it started
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(timeout=10)
        proc.stdout.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


class Session:
    """One browser page on the app, recording what went wrong."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1500, "height": 1900})
        self.external: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        local = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?/")

        def route(r):
            if local.match(r.request.url):
                r.continue_()
            else:
                self.external.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.goto(url, timeout=120_000)
        self.step_button.wait_for(timeout=120_000)

    @property
    def step_button(self):
        return self.page.get_by_role("button", name="Step", exact=True)

    def readout(self) -> str:
        return self.page.locator(READOUT).inner_text()

    def wait_month(self, n: int, timeout_ms: float = 60_000) -> None:
        self.page.wait_for_function(
            "([sel, text]) => { const e = document.querySelector(sel);"
            " return e !== null && e.innerText.includes(text); }",
            arg=[READOUT, f"(month {n} of"], timeout=timeout_ms)

    def step(self, n: int) -> None:
        for _ in range(n):
            current = int(re.search(r"month (\d+) of", self.readout()).group(1))
            self.step_button.click()
            self.wait_month(current + 1)

    def card(self, name: str) -> str:
        card = self.page.locator(".metric-card", has_text=name)
        return card.locator(".metric-value").inner_text()

    def chart_image(self, view: str) -> str:
        """The pixels of a view's chart (Vega draws on a canvas) as a data URL."""
        return self.page.evaluate(
            "(sel) => { const c = document.querySelector(sel); return c ? c.toDataURL() : ''; }",
            f".{view} canvas.marks")

    def wait_chart_change(self, view: str, before: str, timeout_ms: float = 30_000) -> None:
        self.page.wait_for_function(
            "([sel, before]) => { const c = document.querySelector(sel);"
            " return c !== null && c.toDataURL() !== before; }",
            arg=[f".{view} canvas.marks", before], timeout=timeout_ms)

    def screenshot(self, name: str) -> Path:
        BUILD.mkdir(exist_ok=True)
        path = BUILD / name
        self.page.screenshot(path=str(path))
        return path

    def check_clean(self) -> None:
        cdn_failures = [u for u in self.failed if "/_solara/" in u]
        assert not cdn_failures, f"front-end files failed to load: {cdn_failures}"
        assert not self.errors, f"errors in the page: {self.errors}"
        body = self.page.locator("body").inner_text()
        assert "error in step" not in body and "Traceback" not in body

    def close(self) -> None:
        self.context.close()


def test_step_change_rule_reset(app_url, browser):
    s = Session(browser, app_url)
    try:
        assert "month 0 of 120" in s.readout()
        # rendered with the network off: every chart drew (on a canvas) from the local files
        s.page.wait_for_function(
            "() => document.querySelectorAll('.vega-embed canvas.marks').length >= 5",
            timeout=60_000)
        blank = s.chart_image("view-prices")

        s.step(1)
        assert s.readout().startswith("Month: 2026-01 (month 1 of 120)")
        s.wait_chart_change("view-prices", blank)
        first = s.chart_image("view-prices")
        s.step(1)
        assert s.readout().startswith("Month: 2026-02 (month 2 of 120)")
        s.wait_chart_change("view-prices", first)
        s.step(4)  # the lease's GB200 share is being delivered in 2026-06, at the ramp discount
        assert s.readout().startswith("Month: 2026-06")
        fees_before = s.card("Contract fees this month")

        # a contract rule: no ramp discount (keyboard on the slider: Home = its minimum)
        slider = s.page.locator(".v-input", has_text="Ramp discount").get_by_role("slider")
        slider.focus()
        slider.press("Home")
        assert slider.get_attribute("aria-valuenow") == "0"
        s.page.get_by_role("button", name="Reset", exact=True).click()
        s.wait_month(0)
        assert "ramp 12 months at 0% off" in s.page.locator(".run-settings").inner_text()
        s.step(6)
        assert s.readout().startswith("Month: 2026-06")
        fees_after = s.card("Contract fees this month")
        assert fees_after != fees_before, fees_before
        s.screenshot("viz-browser-step.png")
        s.check_clean()
        assert not s.external, f"the page asked for other hosts: {s.external}"
    finally:
        s.close()


def test_plays_120_months(app_url, browser):
    s = Session(browser, app_url)
    try:
        assert "month 0 of 120" in s.readout()
        s.page.get_by_role("button", name="▶", exact=True).click()
        s.wait_month(120, timeout_ms=480_000)
        assert s.readout().startswith("Month: 2035-12 (month 120 of 120)")
        # the model stopped: Play and Step are disabled at the end
        s.page.wait_for_function(
            "() => [...document.querySelectorAll('button')].some("
            "b => b.innerText.trim().toLowerCase() === 'step' && b.disabled)", timeout=30_000)
        time.sleep(1.5)  # let the last chart redraw (debounced) before the picture
        path = s.screenshot("viz-browser.png")
        target = os.environ.get("VIZ_SCREENSHOT")
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        s.check_clean()
    finally:
        s.close()


def test_ensemble_bands_and_baseline(app_url, browser):
    """Ensemble mode: 2 seeds of the current settings and the no-deal baseline run in the
    background; the price chart redraws with its bands, and Vega reports no error."""
    s = Session(browser, app_url)
    console: list[str] = []
    s.page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        s.step(2)
        before = s.chart_image("view-prices")
        slider = s.page.locator(".v-input", has_text="Seeds in the bands").get_by_role("slider")
        slider.focus()
        slider.press("Home")  # the minimum: 2 seeds
        assert slider.get_attribute("aria-valuenow") == "2"
        s.page.locator(".v-select", has_text="Baseline scenario").click()
        s.page.locator(".v-menu__content .v-list-item", has_text="no-deal").click()
        s.page.get_by_role("button", name="Run seeds", exact=True).click()
        s.page.wait_for_function(
            "() => { const e = document.querySelector('.ensemble-status');"
            " return e !== null && e.innerText.includes('bands: 2 seeds'); }",
            timeout=240_000)
        status = s.page.locator(".ensemble-status").inner_text()
        assert "baseline no-deal" in status, status
        s.wait_chart_change("view-prices", before)
        s.step(1)  # the run goes on over its bands
        time.sleep(1.5)
        s.screenshot("viz-browser-bands.png")
        s.check_clean()
        assert not console, f"console errors: {console}"
    finally:
        s.close()
