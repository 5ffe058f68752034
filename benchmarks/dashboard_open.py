"""The JupyterLab dashboard tab: open time at 1,000 and 10,000 trials, and bytes per live update.

Run: ``python benchmarks/dashboard_open.py`` (after ``bash scripts/setup.sh``: it needs the built
extension, Playwright and the system Chromium).  Starts JupyterLab on 127.0.0.1 (tests/_lab.py)
over a tmp root holding two finished, seeded studies (1k and 10k trials, journal files) and opens
each study's dashboard in headless Chromium:

* **first open**: the first dashboard request for that study (the server read the storage when
  it started); the very first, opened as soon as the page has loaded, also waits for plotly.js
  (a 4.8 MB chunk the page otherwise loads when idle);
* **sidebar listed it first**: a storage the server had not read (copied in after it started)
  was listed by the sidebar before the tab opened, as when a user clicks a study in it;
* **reopened**: the tab closed and opened again (the server's table and figures cached).

"Open" is the dashboard's own ``data-open-ms``: from the tab's creation to the trials table and
the first figure drawn.  Then a study is run by ``hpo-widget run`` in a subprocess (2 threads,
0.1 s trials) with its dashboard open, and every response of the dashboard's requests is
recorded for 20 s: the bytes of each live table update (``since`` cursor) and figure refresh,
and how many polls were answered 304.  Prints Markdown tables.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests._lab import CHROMIUM, CHROMIUM_ARGS, lab_env, run_lab, write_finished_study  # noqa: E402

LIVE_SPEC = """
objective: live_objective:objective
direction: minimize
space:
  x: {type: float, low: -10, high: 10}
  n: {type: int, low: 1, high: 5}
backend: {name: threading, n_workers: 2}
sampler: {name: random}
seed: 0
n_trials: 2000
storage: live.journal
"""

LIVE_OBJECTIVE = """
import time


def objective(params):
    time.sleep(0.1)
    return (params["x"] - 2) ** 2 + params["n"] / 10
"""

DASH = ".hpo-Dashboard:not(.lm-mod-hidden)"


def _storage_ids(base: str, token: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{base}/hpo-widget/api/storages?token={token}", timeout=30) as r:
        return {s["label"]: s["id"] for s in json.load(r)["storages"]}


def _open(page: Any, storage: str, name: str) -> tuple[int, dict[str, int]]:
    page.evaluate(
        # Nothing returned: Playwright would serialize the widget, on the page's main thread.
        "([s, n]) => { void window.jupyterapp.commands.execute('hpo-widget:open-dashboard',"
        " {storage: s, name: n}); }",
        [storage, name],
    )
    page.wait_for_selector(f"{DASH}[data-open-ms]", timeout=120_000)
    loc = page.locator(DASH)
    timing = json.loads(loc.get_attribute("data-timing"))
    timing["draw"] = int(page.locator(f"{DASH} .hpo-FigureBox").get_attribute("data-draw-ms"))
    types = page.evaluate(
        f"() => document.querySelector('{DASH} .js-plotly-plot')._fullData.map(t => t.type)"
    )
    timing[",".join(dict.fromkeys(types))] = 0
    return int(loc.get_attribute("data-open-ms")), timing


def _close_all(page: Any) -> None:
    page.evaluate("() => { void window.jupyterapp.commands.execute('application:close-all'); }")
    page.wait_for_function("() => !document.querySelector('.hpo-Dashboard')", timeout=30_000)


def _marks(timing: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in timing.items())


def main() -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="hpo-dash-bench-"))
    root = tmp / "root"
    root.mkdir()
    # 10k first: its open is also the page's first, which loads plotly.js (the worst case).
    sizes = {"big10k.journal": ("big10k", 10_000), "big1k.journal": ("big1k", 1000)}
    for file, (name, n) in sizes.items():
        write_finished_study(root / file, name, n)
    (root / "live_objective.py").write_text(LIVE_OBJECTIVE)
    (root / "live.yaml").write_text(LIVE_SPEC)
    env = lab_env(tmp)
    env.pop("HPO_WIDGET_STORAGE", None)
    opened: list[tuple[str, int, str, int, str]] = []
    with run_lab(root, env, tmp / "jupyter.log") as lab, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{lab.base}/lab?token={lab.token}")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands"
            ".hasCommand('hpo-widget:open-dashboard')",
            timeout=120_000,
        )
        page.evaluate("window.jupyterapp.restored.then(() => true)")
        ids = _storage_ids(lab.base, lab.token)
        for k, (file, (name, n)) in enumerate(sizes.items()):
            ms, timing = _open(page, ids[file], name)
            case = "opened as the page finished loading" if not k else "first open"
            opened.append((case, n, name, ms, _marks(timing)))
            _close_all(page)
            ms, timing = _open(page, ids[file], name)
            opened.append(("reopened", n, name, ms, _marks(timing)))
            _close_all(page)
        # Sidebar first: a fresh server state is not available without a restart, so this one
        # lists a storage the server has not read yet (a copy of the 10k journal), waits for
        # its row, then opens the study.
        for file in sizes:
            copy = root / f"copy-{file}"
            copy.write_bytes((root / file).read_bytes())
        page.evaluate(
            "() => { void window.jupyterapp.commands.execute('hpo-widget:show-sidebar'); }"
        )
        for name, _n in sizes.values():
            page.wait_for_selector(f'.hpo-StudyRow[data-name="{name}"]', timeout=120_000)
        page.wait_for_function(
            "() => document.querySelectorAll('.hpo-StudyRow').length >= 4", timeout=120_000
        )
        ids = _storage_ids(lab.base, lab.token)
        for file, (name, n) in sizes.items():
            ms, timing = _open(page, ids[f"copy-{file}"], name)
            opened.append(("sidebar listed it first", n, name, ms, _marks(timing)))
            _close_all(page)

        # Live updates: record every response the dashboard gets while a CLI run goes on.
        responses: list[tuple[str, int, int]] = []

        def on_response(r: Any) -> None:
            if "/hpo-widget/api/storages/" in r.url and "/studies/live" in r.url:
                try:
                    body = len(r.body()) if r.status == 200 else 0
                except Exception:  # a response the page dropped
                    body = -1
                responses.append((r.url, r.status, body))

        run = subprocess.Popen(
            [sys.executable, "-m", "hpo_widget", "run", "live.yaml", "-q"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while "live.journal" not in (ids := _storage_ids(lab.base, lab.token)):
                if time.monotonic() > deadline:
                    raise RuntimeError("the live run wrote no journal within 120 s")
                time.sleep(0.5)
            page.wait_for_selector('.hpo-StudyRow[data-name="live"]', timeout=120_000)
            _open(page, ids["live.journal"], "live")
            page.on("response", on_response)
            updates0 = int(page.locator(DASH).get_attribute("data-updates"))
            page.wait_for_timeout(20_000)  # not time.sleep: events need the loop
            page.remove_listener("response", on_response)
            updates = int(page.locator(DASH).get_attribute("data-updates")) - updates0
        finally:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(60)
        browser.close()

    print(f"Dashboard open (headless Chromium, software rendering); {os.cpu_count()} CPUs\n")
    print("| study | trials | case | open ms (table + first figure drawn) | marks (ms) |")
    print("|---|---:|---|---:|---|")
    for case, n, name, ms, marks in opened:
        print(f"| {name} | {n:,} | {case} | {ms} | {marks} |")
    table = [(u, s, b) for u, s, b in responses if "/figures" not in u]
    figures = [(u, s, b) for u, s, b in responses if "/figures" in u]
    table_200 = [b for _, s, b in table if s == 200]
    fig_200 = [b for _, s, b in figures if s == 200]
    print(
        f"\nLive updates over 20 s of a running CLI study (2 threads, 0.1 s trials):"
        f" {updates} dashboard updates\n"
    )
    print("| request | responses | 304 | bytes per 200, median | max |")
    print("|---|---:|---:|---:|---:|")
    for label, got, ok in (
        ("table (since=cursor)", table, table_200),
        ("figure", figures, fig_200),
    ):
        med = f"{statistics.median(ok):,.0f}" if ok else "-"
        top = f"{max(ok):,}" if ok else "-"
        n304 = sum(1 for _, s, _ in got if s == 304)
        print(f"| {label} | {len(got)} | {n304} | {med} | {top} |")


if __name__ == "__main__":
    main()
