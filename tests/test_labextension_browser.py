"""The JupyterLab front end (labextension/) in a real headless Chromium against a real JupyterLab.

One JupyterLab on 127.0.0.1 (free port, random token, a tmp root) and one browser page serve the
whole module, in order: a study started by ``hpo-widget run`` in a subprocess shows in the
"Studies" sidebar and its counts rise live (the latency from a trial finishing to the sidebar
showing it is measured in the page and printed); the status bar item shows while it runs; Stop in
the sidebar ends that CLI run (seconds printed); the launcher card creates the notebook and its
cell opens a panel; "insert cell" adds a cell that runs; the dashboard of a 1,000-trial study
draws its figures and table (open time printed); the dark theme restyles the figures.  No console
errors and no "Unsatisfied version" warnings, from first load to the end.

Screenshots go to tmp; ``HPO_WIDGET_SCREENSHOTS=docs`` writes the README's into docs/ instead.
Chromium comes from the system (``/usr/bin/chromium``), as in tests/test_browser.py.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._lab import CHROMIUM, CHROMIUM_ARGS, lab_env, run_lab, write_finished_study

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS_ENV = "HPO_WIDGET_SCREENSHOTS"
LABEXT = REPO / "hpo_widget" / "labextension" / "static" / "style.js"

OBJECTIVE = """
import time


def objective(params):
    time.sleep(params["sleep"])
    return (params["x"] - 2) ** 2 + params["n"] / 10
"""

SPEC = """
objective: slow_objective:objective
direction: minimize
space:
  x: {type: float, low: -10, high: 10}
  n: {type: int, low: 1, high: 5}
  sleep: {type: categorical, choices: [0.25]}
backend: {name: threading, n_workers: 2}
sampler: {name: random}
seed: 0
n_trials: 400
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A JupyterLab server on 127.0.0.1 for this module: its URL, token, root and log."""
    if not LABEXT.exists():
        pytest.fail(
            f"{LABEXT} is missing: build the extension (bash scripts/setup.sh, or "
            "`cd labextension && npm ci && npm run build`)"
        )
    tmp = tmp_path_factory.mktemp("labext")
    root = tmp / "root"
    root.mkdir()
    (root / "slow_objective.py").write_text(OBJECTIVE)
    (root / "slow.yaml").write_text(SPEC)
    write_finished_study(root / "big.journal", "big1k", 1000)
    env = lab_env(tmp)
    env.pop("HPO_WIDGET_STORAGE", None)
    with run_lab(root, env, tmp / "jupyter.log") as lab:
        yield {
            "base": lab.base,
            "token": lab.token,
            "root": root,
            "env": env,
            "tmp": tmp,
            "log": lab.log,
        }


@pytest.fixture(scope="module")
def page(lab: dict[str, Any]) -> Iterator[Any]:
    """One page for the module, with every console message and page error collected."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/setup.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 900})
            pg.set_default_timeout(30_000)
            messages: list[tuple[str, str]] = []
            pg.on("console", lambda m: messages.append((m.type, m.text)))
            pg.on("pageerror", lambda e: messages.append(("pageerror", f"{e}\n{e.stack}")))
            pg.messages = messages  # type: ignore[attr-defined]
            pg.goto(f"{lab['base']}/lab?token={lab['token']}")
            pg.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.commands"
                ".hasCommand('hpo-widget:new-search')",
                timeout=90_000,
            )
            # The restored layout activates the file browser: act only after it.
            pg.evaluate("window.jupyterapp.restored.then(() => true)")
            yield pg
        finally:
            browser.close()


def _screenshot_dir(lab: dict[str, Any]) -> Path:
    wanted = os.environ.get(SCREENSHOTS_ENV)
    out = REPO / wanted if wanted else lab["tmp"] / "shots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _exec(page: Any, command: str, args: dict[str, Any] | None = None) -> None:
    page.evaluate(
        "([c, a]) => { window.__hpoLast = window.jupyterapp.commands.execute(c, a); }",
        [command, args or {}],
    )


# JS: record (Date.now(), done) each time the study's row changes, from a MutationObserver.
OBSERVE = """
(name) => {
  window.__hpoSeen = [];
  const read = () => {
    const row = document.querySelector(`.hpo-StudyRow[data-name="${name}"] .hpo-StudyRow-done`);
    if (!row) return;
    const done = parseInt(row.textContent, 10);
    const seen = window.__hpoSeen;
    if (!seen.length || seen[seen.length - 1][1] !== done) seen.push([Date.now() / 1000, done]);
  };
  new MutationObserver(read).observe(document.querySelector('.hpo-Sidebar'),
    {subtree: true, childList: true, characterData: true});
  read();
}
"""


def test_sidebar_shows_cli_run_live_status_item_and_stop(lab: dict[str, Any], page: Any) -> None:
    import optuna

    from hpo_widget.storage import open_storage, resolve_storage

    started = time.monotonic()
    _exec(page, "hpo-widget:show-sidebar")
    page.wait_for_selector(".hpo-Sidebar .hpo-StorageGroup", timeout=30_000)
    page.evaluate(OBSERVE, "slow")
    run = subprocess.Popen(
        [sys.executable, "-m", "hpo_widget", "run", "slow.yaml", "-q"],
        cwd=lab["root"],
        env=lab["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        row = '.hpo-StudyRow[data-name="slow"]'
        page.wait_for_selector(f"{row}.hpo-mod-running", timeout=60_000)
        # The status bar item appears while it runs.
        page.wait_for_function(
            "() => { const s = document.querySelector('.hpo-StatusItem');"
            " return s && s.offsetParent !== null && /1 running · \\d+\\/400/.test(s.textContent);"
            " }",
            timeout=30_000,
        )
        # Counts rise live: 30 more trials counted after the row first showed, in several steps.
        first = page.evaluate("window.__hpoSeen[0][1]")
        page.wait_for_function(
            f"() => parseInt(document.querySelector('{row} .hpo-StudyRow-done').textContent)"
            f" >= {first + 30}",
            timeout=90_000,
        )
        seen: list[list[float]] = page.evaluate("window.__hpoSeen")
        assert len({d for _, d in seen}) >= 4, seen

        # Stop from the sidebar: the CLI run (another process) ends.
        clicked = time.time()
        page.locator(f"{row} .hpo-action-stop").click()
        try:
            run.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail("the CLI run did not end within 60 s of Stop")
        stop_s = time.time() - clicked
        out = run.stdout.read() if run.stdout else ""
        page.wait_for_selector(f"{row}.hpo-mod-stopped", timeout=30_000)
        # The status item goes once nothing runs.
        page.wait_for_function(
            "() => { const s = document.querySelector('.hpo-StatusItem');"
            " return !s || s.offsetParent === null; }",
            timeout=30_000,
        )
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(10)

    # Latency: each trial's finish (from storage) to the first time the sidebar counted it.
    seen = page.evaluate("window.__hpoSeen")
    storage = open_storage(resolve_storage(str(lab["root"] / "hpo_studies.journal")))
    study = optuna.load_study(study_name="slow", storage=storage)
    finished = sorted(
        t.datetime_complete.timestamp()
        for t in study.get_trials(deepcopy=False)
        if t.datetime_complete is not None and t.state != optuna.trial.TrialState.WAITING
    )
    latencies = []
    first_seen = seen[0][0]
    for k, t_done in enumerate(finished, start=1):
        shown = next((ts for ts, d in seen if d >= k), None)
        if shown is not None and t_done >= first_seen:
            latencies.append(shown - t_done)
    assert latencies, (seen, finished[:5])
    print(
        f"\nsidebar latency after a trial finishes: median {statistics.median(latencies):.2f} s,"
        f" max {max(latencies):.2f} s over {len(latencies)} trials"
    )
    print(f"stop from the sidebar to the CLI run's exit: {stop_s:.2f} s (exit {run.returncode})")
    print(f"sidebar test body took {time.monotonic() - started:.1f} s")
    assert run.returncode is not None
    assert "stop" in out.lower(), out[-2000:]


def test_launcher_creates_notebook_whose_cell_opens_a_panel(lab: dict[str, Any], page: Any) -> None:
    _exec(page, "launcher:create")
    card = page.locator(".jp-LauncherCard:visible", has_text="New hyperparameter search")
    card.first.click()
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return w && w.content && w.content.widgets && w.content.widgets.length"
        " && w.content.widgets[0].model.sharedModel.getSource()"
        ".startsWith('%load_ext hpo_widget'); }",
        timeout=60_000,
    )
    # The first cell runs once the kernel is up and opens the panel.
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .hpo-panel", timeout=120_000)


def test_insert_cell_adds_a_cell_that_runs(lab: dict[str, Any], page: Any) -> None:
    count = "() => window.jupyterapp.shell.currentWidget.content.widgets.length"
    before = page.evaluate(count)
    _exec(
        page,
        "hpo-widget:insert-load-cell",
        {"storage": _storage_id(lab, "big.journal"), "name": "big1k"},
    )
    page.wait_for_function(f"() => ({count})() === {before + 1}", timeout=30_000)
    source = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.activeCell.model.sharedModel"
        ".getSource()"
    )
    assert "optuna.load_study(" in source and "'big1k'" in source, source
    _exec(page, "notebook:run-cell")
    # It runs: the trials dataframe's tail is shown, no error output.
    try:
        page.wait_for_function(
            "() => { const c = window.jupyterapp.shell.currentWidget.content.activeCell;"
            " return c && c.model.outputs && c.model.outputs.length > 0; }",
            timeout=60_000,
        )
    except Exception:
        page.screenshot(path=str(lab["tmp"] / "insert.png"))
        state = page.evaluate(
            "() => { const w = window.jupyterapp.shell.currentWidget; return {"
            " active: w.content.activeCellIndex, n: w.content.widgets.length,"
            " kernel: w.sessionContext.session && w.sessionContext.session.kernel.status,"
            " cells: w.content.widgets.map(c => [c.model.type,"
            " c.model.sharedModel.getSource().slice(0, 60),"
            " c.model.outputs ? c.model.outputs.length : null])}; }"
        )
        pytest.fail(f"the inserted cell gave no output: {state} ({lab['tmp']}/insert.png)")
    outputs = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.activeCell.model.outputs.toJSON()"
    )
    assert not [o for o in outputs if o.get("output_type") == "error"], outputs
    assert any(o.get("output_type") == "execute_result" for o in outputs), outputs


def _storage_id(lab: dict[str, Any], label: str) -> str:
    url = f"{lab['base']}/hpo-widget/api/storages?token={lab['token']}"
    with urllib.request.urlopen(url, timeout=10) as r:
        storages = json.load(r)["storages"]
    return next(s["id"] for s in storages if s["label"] == label)


def test_dashboard_draws_figures_and_table_then_dark_theme(lab: dict[str, Any], page: Any) -> None:
    storage = _storage_id(lab, "big.journal")
    # Save the notebooks first: closing a changed one asks, in a dialog over everything.  Through
    # their contexts, not `docmanager:save`: that asks to rename an untitled notebook, in a dialog
    # the command's promise waits on.
    page.evaluate(
        "() => { for (const w of window.jupyterapp.shell.widgets('main'))"
        " if (w.context && w.context.model.dirty) void w.context.save(); }"
    )
    page.wait_for_function(
        "() => Array.from(window.jupyterapp.shell.widgets('main'))"
        ".every(w => !w.context || !w.context.model.dirty)",
        timeout=30_000,
    )
    # The notebooks stay open (behind the dashboard's tab), as a user's would.  Closing them
    # with their kernels running leaves the widgets' views of plotly's FigureWidget (an
    # anywidget) behind, and at the theme switch below they log "Could not send widget sync
    # message": ipywidgets' and plotly's business, not this extension's.
    t0 = time.monotonic()
    _exec(page, "hpo-widget:open-dashboard", {"storage": storage, "name": "big1k"})
    dash = ".hpo-Dashboard:not(.lm-mod-hidden)"
    page.wait_for_selector(f"{dash}[data-open-ms]", timeout=60_000)
    wall = time.monotonic() - t0
    open_ms = int(page.locator(dash).get_attribute("data-open-ms"))
    timing = page.locator(dash).get_attribute("data-timing")
    assert page.locator(f"{dash} .hpo-TrialsTable tbody tr").count() == 100
    assert "of 1000" in page.locator(f"{dash} .hpo-Dashboard-pageInfo").inner_text()
    # It keeps polling while it shows (the study is finished: the idle interval).
    updates = int(page.locator(dash).get_attribute("data-updates"))
    page.wait_for_function(
        f'() => parseInt(document.querySelector("{dash}").dataset.updates) > {updates}',
        timeout=30_000,
    )
    print(
        f"\ndashboard of 1000 trials: ready {open_ms} ms after the tab opened"
        f" ({wall:.2f} s wall; marks {timing})"
    )
    # Every (fast) figure kind draws when its tab is picked.
    kinds = page.evaluate(
        f"() => Array.from(document.querySelectorAll('{dash} .hpo-FigureTab'))"
        ".filter(t => !t.title.includes('takes a few')).map(t => t.dataset.kind)"
    )
    assert "history" in kinds and len(kinds) >= 5, kinds
    draw_ms = {}
    for kind in kinds:
        page.locator(f"{dash} .hpo-FigureTab[data-kind='{kind}']").click()
        box = f"{dash} .hpo-FigureBox[data-kind='{kind}']"
        page.wait_for_selector(f"{box} .js-plotly-plot .main-svg", timeout=90_000)
        draw_ms[kind] = int(page.locator(box).get_attribute("data-draw-ms"))
    print(f"figure draw ms (headless, software rendering): {draw_ms}")
    page.locator(f"{dash} .hpo-FigureTab[data-kind='history']").click()
    page.wait_for_selector(f"{dash} .hpo-FigureBox[data-kind='history']", timeout=30_000)

    shots = _screenshot_dir(lab)
    # Dark theme: the figure is redrawn with the theme's text colour on a transparent paper.
    _exec(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_function(
        f'() => {{ const d = document.querySelector("{dash} .js-plotly-plot");'
        " const want = getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color1')"
        ".trim(); return d && d._fullLayout && d._fullLayout.font.color === want"
        " && d._fullLayout.paper_bgcolor.replace(/ /g, '') === 'rgba(0,0,0,0)'; }",
        timeout=30_000,
    )
    _exec(page, "hpo-widget:show-sidebar")
    # The sidebar narrows the main area: wait until plotly's relayout fits the plot to its box.
    page.wait_for_function(
        "() => { const s = document.querySelector('.hpo-Sidebar');"
        f' const d = document.querySelector("{dash} .js-plotly-plot");'
        " const svg = d && d.querySelector('.main-svg');"
        " return s && s.offsetParent !== null && svg"
        " && Math.abs(svg.getBoundingClientRect().width - d.clientWidth) <= 2; }",
        timeout=30_000,
    )
    page.screenshot(path=str(shots / "labextension_dark.png"))
    page.locator(".hpo-Sidebar").screenshot(path=str(shots / "labextension_sidebar.png"))
    for name in ("labextension_dark.png", "labextension_sidebar.png"):
        size = (shots / name).stat().st_size
        assert 5_000 < size < 400_000, (name, size)
    _exec(page, "apputils:change-theme", {"theme": "JupyterLab Light"})


def test_no_console_errors_or_unsatisfied_versions(page: Any) -> None:
    """Runs last: everything the page logged since it loaded."""
    messages: list[tuple[str, str]] = page.messages
    unsatisfied = [t for _, t in messages if "Unsatisfied version" in t]
    errors = [(k, t) for k, t in messages if k in ("error", "pageerror")]
    # pytest.fail, not assert: an assertion's repr cuts the stack traces short.
    if unsatisfied:
        pytest.fail("\n".join(unsatisfied))
    if errors:
        pytest.fail("\n\n".join(f"{k}: {t}" for k, t in errors))
