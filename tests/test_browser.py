"""End to end in a real headless Chromium: JupyterLab renders the panel and it updates live.

The test starts its own JupyterLab on 127.0.0.1 (free port, random token, a tmp root), opens a
notebook that loads the extension and builds a panel, presses Run *in the browser* and checks
that the form, the progress bar and the Plotly figure render and change while trials finish.
It saves a screenshot of the panel mid-run; ``HPO_WIDGET_SCREENSHOT=docs/panel.png`` keeps it for
the README.

Chromium comes from the system (``apt-get install chromium``; scripts/setup.sh does it in CI):
no browser is downloaded.  Without ``/usr/bin/chromium`` the test fails and says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._lab import CHROMIUM, CHROMIUM_ARGS, lab_env, run_lab

REPO = Path(__file__).resolve().parents[1]
# Tests never write into the checkout: set HPO_WIDGET_SCREENSHOT=docs/panel.png to refresh the
# README's screenshot on purpose.
SCREENSHOT_ENV = "HPO_WIDGET_SCREENSHOT"
EXAMPLES = REPO / "example_notebooks"

NOTEBOOK_SOURCE = [
    "%load_ext hpo_widget\n"
    "import time\n"
    "import warnings\n"
    "import hpo_widget\n"
    "from hpo_widget import SearchSpace\n"
    "\n"
    "space = SearchSpace.from_dict({\n"
    '    "learning_rate": {"type": "float", "low": 1e-4, "high": 0.3, "log": True},\n'
    '    "depth": {"type": "int", "low": 2, "high": 12},\n'
    '    "booster": {"type": "categorical", "choices": ["gbtree", "dart"]},\n'
    '    "dropout": {"type": "float", "low": 0.0, "high": 0.5,\n'
    '                "condition": {"booster": ["dart"]}},\n'
    "})\n"
    "\n"
    "def objective(params):\n"
    "    time.sleep(0.3)\n"
    '    if params["depth"] <= 5:  # raised in a worker thread: must land in the panel\n'
    '        warnings.warn("a shallow tree", UserWarning)\n'
    '    penalty = 0.05 if params["booster"] == "dart" else 0.0\n'
    '    return (params["learning_rate"] - 0.05) ** 2 * 40 + abs(params["depth"] - 6) / 10 + penalty\n'
    "\n"
    "panel = hpo_widget.Panel(objective, space=space, storage='memory', study_name='browser',\n"
    "                         n_trials=50, n_workers=2, seed=0)\n"
    "panel",
]


def _notebook(path: Path) -> None:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "panel-cell",
                "metadata": {},
                "outputs": [],
                "source": NOTEBOOK_SOURCE,
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 for this test; yields the notebook URL with token."""
    root = tmp_path / "root"
    root.mkdir()
    _notebook(root / "panel.ipynb")
    for nb in EXAMPLES.glob("*.ipynb"):  # opened as saved, never executed here
        shutil.copy(nb, root / nb.name)
    with run_lab(root, lab_env(tmp_path), tmp_path / "jupyter.log") as lab:
        yield f"{lab.base}/lab/tree/panel.ipynb?token={lab.token}"


def _progress(page: object) -> str:
    loc = page.locator(".hpo-progress-text")  # type: ignore[attr-defined]
    return loc.first.inner_text() if loc.count() else ""


def _finished(text: str) -> int:
    m = re.match(r"(\d+)", text)
    return int(m.group(1)) if m else 0


def _launch(p: Any) -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` "
            "(scripts/setup.sh does this); the browser test needs a real Chromium"
        )
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _plotly_outputs(path: Path) -> int:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return sum(
        "application/vnd.plotly.v1+json" in out.get("data", {})
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
    )


@pytest.mark.browser
def test_saved_example_notebooks_show_their_figures_when_opened(jupyter_lab: str) -> None:
    """What a person sees on opening a committed notebook: every saved figure is drawn by
    JupyterLab's Plotly renderer, without running anything."""
    from playwright.sync_api import sync_playwright

    base, _, query = jupyter_lab.partition("panel.ipynb")
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(60_000)
            for i, path in enumerate(sorted(EXAMPLES.glob("*.ipynb"))):
                want = _plotly_outputs(path)
                assert want >= 1, f"{path.name} has no saved figure"
                if i == 0:  # JupyterLab loads once; the others open as a user opens a file
                    page.goto(f"{base}{path.name}{query}")
                else:
                    page.evaluate(
                        "name => window.jupyterapp.commands.execute('docmanager:open', "
                        "{path: name})",
                        path.name,
                    )
                # Count inside this notebook's own panel, not whatever else is still in the DOM.
                current = (
                    "(() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                    f" return w && w.context && w.context.path.endsWith({path.name!r})"
                    " ? w.node : null; })()"
                )
                page.wait_for_function(
                    f"() => {{ const n = {current}; return n && n.querySelectorAll("
                    f"'.jp-OutputArea .js-plotly-plot').length >= {want}; }}",
                    timeout=90_000,
                )
                drawn = page.evaluate(
                    f"() => {current}.querySelectorAll('.jp-OutputArea .js-plotly-plot').length"
                )
                stderr = page.evaluate(
                    f"() => Array.from({current}.querySelectorAll("
                    "'[data-mime-type=\"application/vnd.jupyter.stderr\"]'))"
                    ".map(e => e.innerText)"
                )
                assert drawn == want, f"{path.name}: {drawn} figures drawn, {want} saved"
                assert not stderr, f"{path.name}: {stderr[0][:300]}"
                # Close it (and its kernel) before the next one.
                page.evaluate("window.jupyterapp.commands.execute('application:close-all')")
                page.wait_for_function(
                    "() => document.querySelectorAll('.jp-NotebookPanel').length === 0"
                )
        finally:
            browser.close()


@pytest.mark.browser
def _param_names(page: Any) -> list[str]:
    names = page.locator('.hpo-param-row input[placeholder="name"]')
    return [names.nth(i).input_value() for i in range(names.count())]


def _broken_import_changes_nothing(page: Any) -> None:
    """Pasting a broken space and pressing Import leaves the form as it was and says why."""
    before = _param_names(page)
    assert before == ["learning_rate", "depth", "booster", "dropout"], before
    page.locator(".hpo-panel .jupyter-widget-Collapse-header", has_text="Import / export").click()
    area = page.locator(".hpo-panel textarea[placeholder^='Paste a search space']")
    for pasted, says in (
        ('{"x": {"type": "float", "low": 0', "Nothing was imported"),  # not JSON/YAML
        ('{"x": {"type": "floatt", "low": 0, "high": 1}}', "did you mean 'float'"),
    ):
        area.fill(pasted)
        area.blur()
        page.locator(".hpo-panel").get_by_role("button", name="Import", exact=True).click()
        page.wait_for_selector(f'.hpo-panel .hpo-error:has-text("{says}")', timeout=10_000)
        assert _param_names(page) == before
    page.locator(".hpo-panel .jupyter-widget-Collapse-header", has_text="Import / export").click()


def _best_trial_buttons(page: Any) -> None:
    """Best trial card: "Insert code cell" puts the current best trial's code in a new cell
    right below the panel's cell; "Copy params" puts its params on the clipboard."""
    page.locator(".hpo-panel .widget-tab .lm-TabBar-tab", has_text="Best trial").click()
    page.wait_for_selector(".hpo-best-actions button.hpo-insert:enabled", timeout=30_000)
    best = page.evaluate(
        """async () => {
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            const future = kernel.requestExecute({
                code: "import json; print(json.dumps(panel.runner.study.best_params))",
                silent: false, store_history: false});
            let out = "";
            future.onIOPub = msg => { if (msg.header.msg_type === "stream") out += msg.content.text; };
            await future.done;
            return JSON.parse(out);
        }"""
    )
    assert set(best) >= {"learning_rate", "depth", "booster"}, best
    notebook = "window.jupyterapp.shell.currentWidget.content"
    # Two cells below the panel's, the last one active: the code must land right under the
    # panel's cell, not under the active cell nor at the end.
    page.evaluate(
        f"""() => {{
            for (const text of ["# second", "# third"]) {{
                {notebook}.model.sharedModel.insertCell({notebook}.widgets.length,
                    {{cell_type: "markdown", source: text}});
            }}
            {notebook}.activeCellIndex = {notebook}.widgets.length - 1;
        }}"""
    )
    page.wait_for_function(f"() => {notebook}.widgets.length === 3", timeout=10_000)
    page.locator(".hpo-best-actions button.hpo-insert").click()
    page.wait_for_function(f"() => {notebook}.widgets.length === 4", timeout=10_000)
    sources = page.evaluate(f"{notebook}.widgets.map(c => c.model.sharedModel.getSource())")
    assert sources[2:] == ["# second", "# third"], sources
    source = sources[1]
    assert "best_params = " in source and "result = objective(best_params)" in source, source
    for name, value in best.items():
        assert repr(name) in source and repr(value) in source, (name, value, source)
    page.wait_for_selector(".hpo-panel .hpo-note:has-text('Inserted a cell below the panel')")

    page.locator(".hpo-best-actions button.hpo-copy").click()
    page.wait_for_selector(".hpo-panel .hpo-note:has-text('to the clipboard')", timeout=10_000)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("best_params = {"), copied
    for name, value in best.items():
        assert f"{name!r}: {value!r}" in copied, (name, value, copied)


#: WCAG contrast ratio of an element's text on the first opaque background behind it.
_CONTRAST_JS = """(selector) => {
    const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
        const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const el = document.querySelector(selector);
    let bg = null;
    for (let n = el; n && !bg; n = n.parentElement) {
        const c = rgb(getComputedStyle(n).backgroundColor);
        if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) { bg = c; }
    }
    const fg = rgb(getComputedStyle(el).color);
    const [a, b] = [lum(fg), lum(bg || [255, 255, 255])].sort((x, y) => y - x);
    return { ratio: (a + 0.05) / (b + 0.05), background: lum(bg || [255, 255, 255]) };
}"""


def _dark_theme(page: Any, screenshot: Path) -> None:
    """Light and dark themes: the trials table's header reads (contrast >= 4.5) and the
    figure's background follows the theme."""
    page.locator(".hpo-panel .widget-tab .lm-TabBar-tab", has_text="Trials").click()
    header = ".hpo-panel table.hpo-table th"
    page.wait_for_selector(header, timeout=10_000)
    light = page.evaluate(_CONTRAST_JS, header)
    assert light["ratio"] >= 4.5 and light["background"] > 0.5, light
    figure_bg = (
        "() => { const s = document.querySelector('.hpo-figure .main-svg');"
        " return s && getComputedStyle(s).backgroundColor; }"
    )
    assert page.evaluate(figure_bg) in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme: 'JupyterLab Dark'})")  # fmt: skip
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_function(
        f"""() => {{ const c = ({figure_bg})(); if (!c) return false;
            const [r, g, b] = c.match(/\\d+/g).map(Number); return r + g + b < 200; }}""",
        timeout=30_000,
    )
    dark = page.evaluate(_CONTRAST_JS, header)
    assert dark["ratio"] >= 4.5 and dark["background"] < 0.1, dark
    page.locator(".hpo-panel").screenshot(path=str(screenshot))
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme: 'JupyterLab Light'})")  # fmt: skip
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=30_000)


def test_panel_renders_and_updates_in_jupyterlab(jupyter_lab: str, tmp_path: Path) -> None:
    wanted = os.environ.get(SCREENSHOT_ENV)
    screenshot = REPO / wanted if wanted else tmp_path / "panel.png"  # relative: to the repo
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            # The clipboard as a user's browser grants it to a page they click in.
            context = browser.new_context(
                viewport={"width": 1280, "height": 1900},
                permissions=["clipboard-read", "clipboard-write"],
            )
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(jupyter_lab)
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
                timeout=90_000,
            )
            page.evaluate("window.jupyterapp.shell.collapseLeft()")  # room for the panel
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

            # The panel renders: form rows, settings, progress, one Plotly figure.
            page.wait_for_selector(".hpo-panel", timeout=120_000)
            page.wait_for_selector(".hpo-space-form .hpo-param-row", timeout=30_000)
            assert page.locator(".hpo-param-row").count() == 4
            page.wait_for_selector(".hpo-progress-text", timeout=30_000)
            page.wait_for_selector(".hpo-figure .js-plotly-plot", timeout=60_000)
            assert page.locator(".js-plotly-plot").count() == 1
            before = _progress(page)
            assert before.startswith("0 / 50 finished"), before

            # Validation round trip: a wrong bound typed in the browser shows its message
            # next to the row and disables Run; fixing it enables Run again.
            high = page.locator(".hpo-param-row").nth(1).locator('input[placeholder="high"]')
            high.fill("1")
            high.press("Enter")
            page.wait_for_selector(".hpo-row-error:has-text('high: must be greater than low')")
            page.wait_for_selector("button.hpo-run:disabled")
            high.fill("12")
            high.press("Enter")
            page.wait_for_selector("button.hpo-run:enabled")
            assert page.locator(".hpo-row-error .hpo-error").count() == 0

            _broken_import_changes_nothing(page)

            # Press Run in the browser: the click travels over the comm to the kernel.
            page.locator("button.hpo-run").click()
            deadline = time.monotonic() + 90
            shot = False
            seen = {before}
            while time.monotonic() < deadline:
                text = _progress(page)
                seen.add(text)
                done = _finished(text)
                if not shot and 15 <= done <= 35:
                    page.wait_for_timeout(300)  # let plotly draw the last restyle
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    page.locator(".hpo-panel").screenshot(path=str(screenshot))
                    shot = True
                if done >= 50:
                    break
                page.wait_for_timeout(200)
            final = _progress(page)
            assert _finished(final) == 50, f"progress never reached 50: {sorted(seen)}"
            assert len(seen) >= 4, f"progress text barely changed: {sorted(seen)}"
            assert shot, "no mid-run screenshot was taken"
            page.wait_for_function(
                "() => document.querySelector('.hpo-status')"
                " && document.querySelector('.hpo-status').innerText.includes('Finished')",
                timeout=30_000,
            )
            # The figure shows the trials: plotly drew one marker per complete trial.
            page.wait_for_function(
                "() => document.querySelectorAll('.hpo-figure .scatterlayer .point').length >= 50",
                timeout=30_000,
            )
            # Switching the tab swaps the same figure's content (still one plot).
            page.locator(".hpo-figure-tabs button", has_text="Timeline").click()
            page.wait_for_function(
                "() => document.querySelectorAll('.hpo-figure .barlayer .point').length >= 50",
                timeout=30_000,
            )
            assert page.locator(".js-plotly-plot").count() == 1
            _best_trial_buttons(page)
            _dark_theme(page, tmp_path / "panel-dark.png")
            # A warning raised in a worker thread is shown in the panel, not in the cell.
            page.wait_for_selector(".hpo-log:has-text('a shallow tree')", timeout=10_000)
            stderr = page.locator(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
            )
            assert stderr.count() == 0, stderr.first.inner_text()
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    print(f"browser test body took {time.monotonic() - started:.1f} s")
