"""The notebook panel driven from Python: widget values in, model state and messages out.

No browser and no kernel: ipywidgets fall back to a dummy comm, so every widget works and its
state can be asserted directly.  Studies use in-memory storage or a journal file in tmp_path,
the threading backend and objectives that take milliseconds.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from ipywidgets import Widget
from ipywidgets.widgets.widget import _instances
from optuna.trial import TrialState

import hpo_widget
from hpo_widget import SearchSpace, SklearnPreset, _attrs
from hpo_widget.config import ConfigError, ConfigProblem
from hpo_widget.events import TrialFinished
from hpo_widget.plots.registry import FIGURES
from hpo_widget.presets import load_dataset
from hpo_widget.stop_rules import StopRules
from hpo_widget.ui import Panel, SpaceForm, close_all, live_panels
from hpo_widget.ui.live_figure import LiveFigure
from hpo_widget.ui.settings import Settings
from hpo_widget.ui.trials_table import TrialsTable

SPACE = {
    "x": {"type": "float", "low": -10.0, "high": 10.0},
    "n": {"type": "int", "low": 1, "high": 5},
    "kind": {"type": "categorical", "choices": ["a", "b"]},
}


def quadratic(params: dict) -> float:
    return (params["x"] - 2) ** 2 + params["n"]


def define_by_run(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    layers = trial.suggest_int("layers", 1, 3)
    return x * x + layers


def slow(params: dict) -> float:
    time.sleep(0.3)
    return params["x"] ** 2


def failing(params: dict) -> float:
    if params["n"] >= 3:
        raise ZeroDivisionError("boom in the objective")
    return params["x"]


@pytest.fixture(autouse=True)
def _close_panels() -> Iterator[None]:
    yield
    close_all()
    assert not live_panels()


def text(widget: Any) -> str:
    """What an HTML widget shows (entities decoded)."""
    return html.unescape(widget.value)


def wait_for(condition: Any, timeout: float = 10.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


# -- search-space form ---------------------------------------------------------------------


def test_form_prefills_from_a_space_a_dict_and_a_preset() -> None:
    form = SpaceForm(SearchSpace.from_dict(SPACE))
    assert [r.param_name for r in form.rows] == ["x", "n", "kind"]
    assert [r.kind.value for r in form.rows] == ["float", "int", "categorical"]
    assert form.rows[0].editor.low.value == "-10.0"
    assert form.rows[2].editor.choices.value == "a, b"
    assert form.valid and form.space is not None and form.space.to_dict() == SPACE

    assert SpaceForm(SPACE).space == SearchSpace.from_dict(SPACE)
    X, y = load_dataset("iris")
    preset = SklearnPreset(["SVC", "LogisticRegression"], X, y, cv=2)
    panel = Panel(preset, storage="memory")
    assert panel.form.space == preset.space
    assert panel.settings.direction.value == "maximize"
    svc_c = next(r for r in panel.form.rows if r.param_name == "SVC__C")
    assert svc_c.parent.value == "estimator" and svc_c.values.value == "SVC"
    assert svc_c.editor.log.value is True


def test_bounds_are_text_boxes_not_sliders() -> None:
    form = SpaceForm({"lr": {"type": "float", "low": 1e-5, "high": 0.95}})
    row = form.rows[0]
    for w in (row.editor.low, row.editor.high, row.editor.step):
        assert type(w).__name__ == "Text"
    assert row.editor.low.value == "1e-05" and row.editor.high.value == "0.95"
    assert form.space is not None and form.space["lr"].high == 0.95  # no slider rounding


def test_errors_appear_on_the_row_and_field_that_is_wrong_and_block_run() -> None:
    panel = Panel(quadratic, space=SPACE, storage="memory")
    form = panel.form
    assert not panel.run_button.disabled
    x = form.rows[0]
    x.editor.high.value = "-20"
    assert not form.valid
    assert "high: must be greater than low" in text(x.error)
    assert "hpo-invalid" in x.editor.high._dom_classes
    assert "hpo-invalid" not in x.editor.low._dom_classes
    assert form.rows[1].error.value == ""  # other rows untouched
    assert panel.run_button.disabled
    assert panel.run() is None and "search space has errors" in (panel.last_error or "")

    x.editor.high.value = "10"
    assert form.valid and not panel.run_button.disabled
    assert "hpo-invalid" not in x.editor.high._dom_classes and x.error.value == ""

    x.editor.log.value = True
    assert "low: must be > 0 when log=True" in text(x.error)
    x.editor.low.value = "1e-3"
    assert form.valid
    x.editor.low.value = "abc"
    assert "low: must be a number, got 'abc'" in text(x.error)

    form.rows[1].name.value = "x"  # duplicate name
    assert "defined more than once" in text(form.rows[1].error)
    assert "hpo-invalid" in form.rows[1].name._dom_classes


def test_kinds_choices_and_conditions() -> None:
    form = SpaceForm()
    assert form.valid and len(form.space or ()) == 0
    model = form.add("model", {"type": "categorical", "choices": ["svm", "tree"]})
    depth = form.add("depth", {"type": "int", "low": 1, "high": 8})
    assert [label for label, _ in depth.parent.options] == ["always", "if model"]
    depth.parent.value = "model"
    depth.values.value = "tree"
    assert form.valid
    assert form.space is not None and form.space["depth"].condition is not None
    assert form.space.to_dict()["depth"]["condition"] == {"model": ["tree"]}
    depth.values.value = "forest"
    assert "'forest' is not a choice of 'model'" in text(depth.error)
    assert "hpo-invalid" in depth.values._dom_classes
    depth.values.value = "tree"

    # Typed choices: numbers, booleans, null and a quoted number that stays a string.
    model.editor.choices.value = 'svm, tree, 3, 0.5, true, null, "7"'
    assert form.space is not None
    assert form.space["model"].choices == ("svm", "tree", 3, 0.5, True, None, "7")

    # Switching kind keeps the bounds between float and int and hides the other editor.
    depth.kind.value = "float"
    assert depth.editor.low.value == "1" and form.space is not None
    assert form.space["depth"].low == 1.0
    model.kind.value = "float"
    assert "low: missing required field" in text(model.error)
    model.editor.low.value, model.editor.high.value = "0", "1"
    assert "parent 'model' is a float parameter" in text(depth.error)
    model.kind.value = "categorical"  # the choices typed before come back
    assert form.valid


def test_add_remove_reorder() -> None:
    form = SpaceForm(SPACE)
    row = form.add()
    assert row.param_name == "param4" and form.valid
    form.move(row, -1)
    assert [r.param_name for r in form.rows] == ["x", "n", "param4", "kind"]
    row.up.click()
    assert [r.param_name for r in form.rows] == ["x", "param4", "n", "kind"]
    row.down.click()
    row.remove.click()
    assert [r.param_name for r in form.rows] == ["x", "n", "kind"]
    assert form.rows_box.children == tuple(r.widget for r in form.rows)
    form.add_button.click()
    assert len(form.rows) == 4


def test_import_export_json_and_yaml_round_trip() -> None:
    form = SpaceForm(SPACE)
    form.export_json.click()
    assert json.loads(form.io_text.value) == SPACE
    other = SpaceForm()
    other.io_text.value = form.io_text.value
    other.import_button.click()
    assert other.space == form.space and "Imported 3" in text(other.io_message)

    form.export_yaml.click()
    assert "kind:" in form.io_text.value
    third = SpaceForm()
    assert third.import_text(form.io_text.value) and third.space == form.space

    bad = SpaceForm()
    assert not bad.import_text("{x: {type: float, low: 5, high: 1}}")
    assert "x.high: must be greater than low" in text(bad.io_message) and not bad.rows
    assert not bad.import_text("[1, 2]")
    assert "Expected a mapping" in text(bad.io_message)


# -- settings ----------------------------------------------------------------------------


def test_password_never_appears_in_a_widget() -> None:
    url = "postgresql://alice:s3cret@db.example:5432/optuna"
    settings = Settings(storage=url)
    assert "s3cret" not in settings.storage.value and "***" in settings.storage.value
    assert settings.config().storage == url
    settings.storage.value = "postgresql://bob:hunter2@db2/optuna"  # typed by the user
    assert "hunter2" not in settings.storage.value
    assert settings.config().storage == "postgresql://bob:hunter2@db2/optuna"
    states = json.dumps([w.get_state() for w in settings._inputs()], default=str)
    assert "hunter2" not in states and "s3cret" not in states
    settings.storage.value = "memory"
    assert settings.config().storage == "memory"


def shown(settings: Settings) -> str:
    """Every message the settings show, rows and the rest."""
    return " ".join(text(box) for box in settings.errors)


def test_invalid_combinations_are_explained_at_their_fields() -> None:
    panel = Panel(quadratic, space=SPACE, storage="memory")
    s = panel.settings
    s.direction.value = "several objectives"
    s.pruner.value = "median"
    assert panel.run_button.disabled
    # RunConfig's own words, under the pruner's row.
    assert "pruner: Optuna cannot prune multi-objective studies" in text(s.error_of(s.pruner))
    assert "hpo-invalid" in s.pruner._dom_classes
    s.pruner.value = "none"
    assert not panel.run_button.disabled and shown(s).strip() == ""
    s.pruner.value = "default"  # Optuna's default: none for several objectives
    assert not panel.run_button.disabled and s.config().pruner is None
    assert "no pruning" in text(s.pruner_note)

    s.direction.value = "minimize"
    assert "median" in text(s.pruner_note)
    s.sampler.value = "grid"
    assert "grid cannot enumerate 'x' (a float without step)" in text(s.error_of(s.sampler))
    assert panel.run_button.disabled
    panel.form.rows[0].editor.step.value = "0.5"
    assert not panel.run_button.disabled

    s.seed.value = "abc"  # the text goes to the config, which names it in its one wording
    assert "seed: must be a whole number or empty, got 'abc'" in text(s.error_of(s.seed))
    assert "hpo-invalid" in s.seed._dom_classes
    s.seed.value = "7"
    s.workers.value = "-1"
    assert "n_workers: must be a whole number >= 0" in text(s.error_of(s.workers))
    s.workers.value = ""
    s.storage.value = "ftp://nowhere"
    assert "storage:" in text(s.error_of(s.storage)) and panel.run_button.disabled
    assert "hpo-invalid" in s.storage._dom_classes


def test_bad_stop_rule_values_show_at_their_boxes() -> None:
    panel = Panel(quadratic, space=SPACE, storage="memory")
    s = panel.settings
    rule = s.stop_boxes
    assert "best value" in rule["goal"].tooltip and "in a row" in rule["patience"].tooltip
    assert "raised an error" in rule["max_failed"].tooltip
    rule["goal"].value = "high"
    rule["patience"].value = "0"
    rule["max_failed"].value = "2.5"
    assert panel.run_button.disabled
    stop_row = text(s.error_of(rule["goal"]))
    assert "stop.goal: must be a finite number (the best value to reach), got 'high'" in stop_row
    assert "stop.patience: must be a whole number >= 1 or empty (no limit), got 0" in stop_row
    assert "stop.max_failed: must be a whole number >= 1" in stop_row
    for box in (rule["goal"], rule["patience"], rule["max_failed"]):
        assert "hpo-invalid" in box._dom_classes
    assert "hpo-invalid" not in s.seed._dom_classes
    rule["goal"].value, rule["patience"].value, rule["max_failed"].value = "0.5", "5", ""
    assert not panel.run_button.disabled
    assert s.config().stop == StopRules(goal=0.5, patience=5)
    assert "hpo-invalid" not in rule["goal"]._dom_classes and text(s.error_of(rule["goal"])) == ""
    # Goal and patience need one best value.
    s.direction.value = "several objectives"
    assert "stop.goal: needs a single objective" in text(s.error_of(rule["goal"]))
    assert "hpo-invalid" not in rule["max_failed"]._dom_classes
    # An option without a widget is still checked, in the settings' own message box.
    odd = Panel(quadratic, space=SPACE, storage="memory", retries=-1, patience=3)
    assert odd.run_button.disabled and "retries: must be a whole number >= 0" in text(
        odd.settings.error
    )
    assert odd.settings.stop_boxes["patience"].value == "3"


def test_sampler_and_pruner_options_reach_the_runner() -> None:
    s = Settings(sampler="tpe", pruner="median", seed=3, backend="spark")
    s.sampler_options["tpe"].items["n_startup_trials"][0].value = 5
    s.sampler_options["tpe"].items["multivariate"][0].value = True
    s.master.value = "local[2]"
    s.workers.value = "2"
    config = s.config()
    assert dict(config.sampler_options) == {"n_startup_trials": 5, "multivariate": True}
    assert config.pruner == "median" and dict(config.pruner_options) == {}
    assert config.seed == 3 and config.n_workers == 2
    assert config.backend == "spark" and dict(config.backend_options) == {"master": "local[2]"}
    assert s.workers.description == "slots" and s.master in s.backend_box.children
    # Options without a widget are passed on while their sampler stays chosen.
    s = Settings(sampler="tpe", sampler_options={"consider_endpoints": True, "n_startup_trials": 4})
    assert dict(s.config().sampler_options) == {"consider_endpoints": True, "n_startup_trials": 4}
    s.sampler.value = "random"
    assert dict(s.config().sampler_options) == {}
    # A typo is shown as it is, with the config's problem under it.
    s = Settings(sampler="tpee")
    assert s.sampler.value == "tpee"
    assert s.check(None) and "sampler: unknown 'tpee'" in text(s.error_of(s.sampler))


def test_a_panel_with_sampler_and_pruner_objects_runs() -> None:
    sampler = optuna.samplers.TPESampler(seed=1)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2)
    panel = Panel(
        quadratic, space=SPACE, storage="memory", n_trials=6, sampler=sampler, pruner=pruner
    )
    s = panel.settings
    assert s.sampler.label == "TPESampler" and s.sampler.disabled
    assert s.pruner.label == "MedianPruner" and s.pruner.disabled
    assert s.config().sampler is sampler and s.config().pruner is pruner
    assert not panel.run_button.disabled
    panel.run()
    study = panel.wait(timeout=60)
    assert study is not None and len(study.trials) == 6
    assert study.sampler is not None and panel.runner is not None
    assert panel.runner.config.sampler is sampler and "Finished" in text(panel.status)
    assert s.sampler.disabled  # an object stays locked after the run
    # A seed next to a sampler object: the config's rule, at the seed box.
    s_seed = Settings(sampler=sampler, seed=3)
    assert [p.field for p in s_seed.check(None)] == ["seed"]
    assert "give it to the TPESampler itself" in text(s_seed.error_of(s_seed.seed))


# -- running -----------------------------------------------------------------------------


def test_run_updates_progress_figure_table_and_best_trial() -> None:
    panel = Panel(quadratic, space=SPACE, storage="memory", n_trials=30, n_workers=2, seed=0)
    assert panel.runner is None and panel.live.kind == "history"
    assert len(panel.live.figure.data[0].x) == 0
    panel.run_button.click()
    runner = panel.runner
    assert runner is not None
    panel.wait(timeout=60)
    assert runner.status.value == "finished"
    assert len(panel.live.figure.data[0].x) == 30  # history-values: every complete trial
    assert list(panel.live.figure.data[0].x) == sorted(panel.live.figure.data[0].x)
    assert "30 / 30 finished" in text(panel.progress)
    assert "Finished" in text(panel.status)
    assert "1-30 of 30" in text(panel.table.page_label)
    assert panel.best.params == runner.study.best_params
    assert not panel.run_button.disabled and panel.stop_button.disabled

    # Same settings: Run reuses the runner and continues the same study to the new total.
    panel.settings.n_trials.value = 40
    panel.run()
    panel.wait(timeout=60)
    assert panel.runner is runner and len(runner.study.trials) == 40
    assert len(panel.live.figure.data[0].x) == 40
    # Changed settings: a new runner (same in-memory storage, so the study is still there).
    panel.settings.sampler.value = "random"
    panel.settings.resume.value = True
    panel.settings.n_trials.value = 45
    panel.run()
    panel.wait(timeout=60)
    assert panel.runner is not runner and len(panel.runner.study.trials) == 45


def test_a_finished_trial_reaches_the_figure_within_a_second() -> None:
    panel = Panel(slow, space={"x": SPACE["x"]}, storage="memory", n_trials=6, n_workers=1)
    panel.run()
    seen: list[float] = []
    lengths = [0]
    deadline = time.monotonic() + 30
    while panel.running and time.monotonic() < deadline:
        n = len(panel.live.figure.data[0].x)
        if n > lengths[-1]:
            seen.append(time.time())
            lengths.append(n)
        time.sleep(0.01)
    panel.wait(timeout=30)
    study = panel.study
    assert study is not None and len(seen) >= 3
    done = sorted(t.datetime_complete.timestamp() for t in study.trials if t.datetime_complete)
    # Each increase of the trace came less than 1 s after the trial it shows completed.
    for when, n in zip(seen, lengths[1:], strict=True):
        assert when - done[n - 1] < 1.0


def test_incremental_updates_append_instead_of_rebuilding() -> None:
    sent: list[str] = []
    live = LiveFigure(["minimize"], min_interval=0)
    orig = Widget._send

    def record(self: Widget, msg: dict, buffers: Any = None) -> None:
        if self is live.figure:
            sent.extend(msg.get("state", {}).keys())
        return orig(self, msg, buffers)

    trials: list[optuna.trial.FrozenTrial] = []
    live.set_source(lambda: trials)
    Widget._send = record  # type: ignore[method-assign]
    try:
        for i in range(5):
            live.notify(TrialFinished(i, "COMPLETE", (float(5 - i),), {"x": i}, 0.1, "w"))
            assert live.flush()
            assert len(live.figure.data[0].x) == i + 1
    finally:
        Widget._send = orig  # type: ignore[method-assign]
    assert "_py2js_addTraces" not in sent and "_py2js_deleteTraces" not in sent
    assert sent.count("_py2js_update") >= 5  # one restyle+relayout per flush
    best = live.figure.data[2]
    assert list(best.y) == [5.0, 4.0, 3.0, 2.0, 1.0]
    # Out-of-order completion keeps trial-number order and a correct best-so-far line.
    live.notify(TrialFinished(10, "COMPLETE", (9.0,), {}, 0.1, "w"))
    live.notify(TrialFinished(7, "COMPLETE", (0.5,), {}, 0.1, "w"))
    live.flush()
    assert list(live.figure.data[0].x) == [0, 1, 2, 3, 4, 7, 10]
    assert list(live.figure.data[2].x) == [0, 1, 2, 3, 4, 7, 10]
    assert list(live.figure.data[2].y) == [5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.5]
    live.close()


def test_tabs_swap_one_figure_widget() -> None:
    panel = Panel(quadratic, space=SPACE, storage="memory", n_trials=20, seed=1)
    panel.run()
    panel.wait(timeout=60)
    figure = panel.live.figure
    kinds = [v for _, v in panel.live.tabs.options]
    assert kinds == [name for name in FIGURES if name != "pareto"]  # all but multi-objective
    for kind in kinds:
        panel.live.tabs.value = kind
        assert panel.live.figure is figure and panel.live.kind == kind
        assert figure.layout.meta["kind"] == kind
    panel.live.tabs.value = "timeline"
    assert sum(len(t.y) for t in figure.data) == 20


def test_importances_are_computed_off_the_main_thread_and_throttled() -> None:
    panel = Panel(quadratic, space=SPACE, storage="memory", n_trials=25, seed=0)
    panel.run()
    panel.wait(timeout=60)
    live = panel.live
    live.importance.interval = 2.0
    start = time.monotonic()
    live.tabs.value = "importance"  # returns at once; computing happens elsewhere
    assert time.monotonic() - start < 0.5
    for _ in range(20):  # a burst of new trials asks again and again
        live.notify(TrialFinished(999, "COMPLETE", (1.0,), {}, 0.1, "w"))
        live.flush(force=True)
    assert live.importance.wait_idle(20)
    assert live.importance.thread_names
    assert set(live.importance.thread_names) == {"hpo-importance"}
    assert live.importance.runs <= 2  # at most every 2 s: the burst was coalesced
    assert set(live.figure.data[0].y) == {"x", "n", "kind"}
    assert not live.figure.layout.meta.get("empty")


def quadratic_slowly(params: dict) -> float:
    time.sleep(0.01)
    return quadratic(params)


def constant(params: dict) -> float:
    time.sleep(0.01)
    return 1.0


def always_fails(params: dict) -> float:
    time.sleep(0.01)
    raise ValueError("a broken objective")


@pytest.mark.parametrize(
    ("objective", "rule", "reason"),
    [
        (quadratic_slowly, {"goal": 5.0}, "reached the goal 5"),
        (constant, {"patience": 3}, "no improvement in the last"),
        (always_fails, {"max_failed": 3}, "trials of this run failed (max_failed 3)"),
    ],
    ids=["goal", "patience", "max_failed"],
)
def test_a_stop_rule_ends_the_run_and_says_why(
    tmp_path: Path, objective: Any, rule: dict[str, Any], reason: str
) -> None:
    panel = Panel(
        objective,
        space=SPACE,
        storage=str(tmp_path / "rules.journal"),
        backend="threading",
        n_workers=1,
        seed=0,
        n_trials=500,
        poll_interval=0.05,  # no widget: passed on to the runner as given
        **rule,
    )
    assert getattr(panel.settings.config().stop, next(iter(rule))) == next(iter(rule.values()))
    panel.run()
    study = panel.wait(timeout=120)
    runner = panel.runner
    assert study is not None and runner is not None
    assert runner.config.poll_interval == 0.05
    assert runner.stop_reason is not None and reason in runner.stop_reason
    assert f"Stopped: {runner.stop_reason}" in text(panel.status)
    trials = study.get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    finished = [t for t in trials if t.state.is_finished() and not t.system_attrs.get(_attrs.LOST)]
    assert 0 < len(finished) < 500
    if "patience" in rule:
        assert "(patience 3; best value 1)" in runner.stop_reason


def test_stop_leaves_nothing_running_and_resume_finishes(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    panel = Panel(slow, space={"x": SPACE["x"]}, storage=storage, n_trials=8, n_workers=2)
    panel.run()
    wait_for(lambda: panel.study is not None and len(panel.study.trials) >= 3, 20)
    assert not panel.stop_button.disabled and panel.run_button.disabled
    panel.stop_button.click()
    study = panel.study
    assert study is not None
    assert not [t for t in study.get_trials() if t.state == TrialState.RUNNING]
    assert "Stopped. Resume continues" in text(panel.status)
    assert panel.runner is not None and panel.runner.stop_reason is None
    assert not panel.resume_button.disabled and panel.stop_button.disabled
    panel.resume_button.click()
    panel.wait(timeout=60)
    finished = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert len(finished) == 8 and "Finished" in text(panel.status)


def test_failed_trial_traceback_is_viewable() -> None:
    panel = Panel(failing, space=SPACE, storage="memory", n_trials=20, seed=3)
    panel.run()
    panel.wait(timeout=60)
    table = panel.table
    failed = [v for _, v in table.failed.options if v >= 0]
    assert failed, "some trials should have failed"
    table.failed.value = failed[0]
    assert "ZeroDivisionError: boom in the objective" in text(table.traceback)
    assert "Traceback (most recent call last)" in text(table.traceback)
    table.state.value = "FAIL"
    assert all(t.state == TrialState.FAIL for t in table.rows())
    assert "FAIL" in text(table.html) and "COMPLETE" not in text(table.html)


def test_trials_table_sorts_filters_and_pages() -> None:
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=25)
    table = TrialsTable(page_size=10)
    table.update(study.get_trials(), ["minimize"])
    assert table.html.value.count("<tr>") == 11  # header + 10 rows
    assert "1-10 of 25" in text(table.page_label) and table.prev.disabled
    table.next.click()
    table.next.click()
    assert "21-25 of 25" in text(table.page_label) and table.next.disabled
    table.sort.value = "value"
    values = [t.values[0] for t in table.rows()]
    assert values == sorted(values) and table.page == 0
    table.sort.value = "-value"
    assert [t.values[0] for t in table.rows()] == sorted(values, reverse=True)


def test_best_trial_code_for_presets_and_plain_objectives() -> None:
    panel = Panel(quadratic, space=SPACE, storage="memory", n_trials=10, seed=0)
    assert not panel.best.actions.enabled  # nothing to copy before a trial completes
    panel.run()
    panel.wait(timeout=60)
    best = panel.runner.study.best_trial
    actions = panel.best.actions
    assert actions.enabled and panel.best.trial_number == best.number
    # What the browser's buttons hold (browser tests click them: tests/test_browser.py).
    assert actions.params_text.startswith("best_params = {")
    assert eval(actions.params_text.removeprefix("best_params = ")) == best.params
    assert "result = quadratic(best_params)" in actions.code
    # The browser reports back; where it could not help, the code is shown to copy.
    actions._message(actions, {"event": "inserted"}, [])
    assert f"trial {best.number}" in text(panel.best.message)
    assert panel.best.code.layout.display == "none"
    actions._message(actions, {"event": "insert_unhandled"}, [])
    assert panel.best.code.layout.display is None and panel.best.code.value == actions.code
    actions._message(actions, {"event": "copy_failed", "error": "NotAllowedError"}, [])
    assert "NotAllowedError" in text(panel.best.message)
    assert panel.best.code.value == actions.params_text
    assert panel.best.copy_params() == actions.params_text

    dbr = Panel(define_by_run, storage="memory", n_trials=5, seed=0)
    dbr.run()
    dbr.wait(timeout=60)
    assert "optuna.trial.FixedTrial(best_params)" in dbr.best.insert_code()

    preset_panel = Panel(storage="memory", n_trials=3)  # what `%hpo` alone shows
    assert preset_panel.run_button.disabled and preset_panel.preset_box is not None
    assert preset_panel.use_preset(["LogisticRegression"], "iris", 2) is not None
    assert not preset_panel.run_button.disabled
    preset_panel.run()
    preset_panel.wait(timeout=120)
    code = preset_panel.best.insert_code()
    assert "X, y = load_dataset('iris')" in code and "LogisticRegression(" in code
    exec(code, {})  # the cell it offers really runs


def test_define_by_run_space_is_discovered_and_read_only() -> None:
    panel = Panel(define_by_run, storage="memory", n_trials=8, seed=0)
    assert panel.define_by_run and panel.form.read_only and not panel.run_button.disabled
    assert "define-by-run" in text(panel.form.note)
    panel.run()
    panel.wait(timeout=60)
    assert [r.param_name for r in panel.form.rows] == ["x", "layers"]
    assert all(r.name.disabled and r.editor.low.disabled for r in panel.form.rows)
    assert panel.form.add_button.layout.display == "none"


def test_multi_objective_shows_the_pareto_front() -> None:
    def two(params: dict) -> tuple[float, float]:
        return params["x"] ** 2, (params["x"] - 2) ** 2

    panel = Panel(
        two, space={"x": SPACE["x"]}, storage="memory", directions=["minimize", "minimize"]
    )
    panel.settings.n_trials.value = 15
    panel.run()
    panel.wait(timeout=60)
    assert panel.live.kind == "pareto"
    assert len(panel.live.figure.data[0].x) >= 1  # the front
    assert "Pareto front" in text(panel.best.summary)


def test_resume_toggle_with_an_existing_study(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    first = Panel(quadratic, space=SPACE, storage=storage, study_name="demo", n_trials=5)
    first.run()
    first.wait(timeout=60)
    first.close()

    fresh = Panel(quadratic, space=SPACE, storage=storage, study_name="demo", n_trials=5)
    fresh.run()
    fresh.wait(timeout=60)
    assert fresh.runner is not None and fresh.runner.study_name == "demo-2"
    assert fresh.settings.study_name.value == "demo-2"
    fresh.close()

    resumed = Panel(
        quadratic, space=SPACE, storage=storage, study_name="demo", n_trials=8, resume=True
    )
    resumed.run()
    resumed.wait(timeout=60)
    assert resumed.runner is not None and resumed.runner.study_name == "demo"
    assert len(resumed.runner.study.trials) == 8
    assert len(resumed.live.figure.data[0].x) == 8  # the old trials are drawn too


def test_close_and_recreation_stop_the_runner() -> None:
    old = Panel(slow, space={"x": SPACE["x"]}, storage="memory", study_name="same", n_trials=50)
    old.run()
    wait_for(lambda: old.running)
    new = Panel(quadratic, space=SPACE, storage="memory", study_name="same")
    assert not old.running and "newer panel" in text(old.status)
    assert new in live_panels() and old in live_panels()
    new.run()
    new.close()
    assert new.closed and new not in live_panels()
    assert new.runner is None  # released: backend closed, nothing left running
    assert not [t for t in threading.enumerate() if t.name in ("hpo-runner", "hpo-backend")]


def test_interpreter_exit_stops_a_running_panel(tmp_path: Path) -> None:
    journal = tmp_path / "exit.journal"
    script = (
        "import time, hpo_widget\n"
        "def slow(params):\n"
        "    time.sleep(0.2)\n"
        "    return params['x']\n"
        "panel = hpo_widget.Panel(slow, space={'x': {'type': 'float', 'low': 0, 'high': 1}},\n"
        f"    storage={str(journal)!r}, study_name='exit', n_trials=1000, n_workers=2)\n"
        "panel.run()\n"
        # The script ends with the study still running, once a trial has finished (bounded).
        "end = time.monotonic() + 60\n"
        "while panel.runner.progress.complete < 1 and time.monotonic() < end:\n"
        "    time.sleep(0.05)\n"
    )
    # The timeout only turns a hang at exit into a failure.
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    trials = optuna.load_study(study_name="exit", storage=storage).get_trials()
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert 0 < len(finished) < 1000
    assert not [t for t in trials if t.state == TrialState.RUNNING], "orphan RUNNING trials"


def test_no_output_leaks_from_threads_and_the_repr_is_small() -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        panel = Panel(failing, space=SPACE, storage="memory", n_trials=15)
        panel.run()
        panel.wait(timeout=60)
        panel.live.tabs.value = "importance"
        panel.live.importance.wait_idle(20)
    assert out.getvalue() == "" and err.getvalue() == ""
    bundle = panel._repr_mimebundle_()
    assert bundle is not None and len(bundle["text/plain"]) < 200
    assert "application/vnd.jupyter.widget-view+json" in bundle


def warns_when_shallow(params: dict) -> float:
    if params["n"] <= 3:
        warnings.warn("a shallow tree", UserWarning, stacklevel=1)
    return params["x"]


def test_warnings_from_worker_threads_land_in_the_panel_counted() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("always")
        panel = Panel(warns_when_shallow, space=SPACE, storage="memory", n_trials=20, seed=0)
        panel.run()
        panel.wait(timeout=60)
    shown = text(panel.log)
    assert "UserWarning: a shallow tree" in shown
    shallow = sum(1 for t in panel.study.trials if t.params["n"] <= 3) if panel.study else 0
    assert shallow >= 2
    # One line with a count instead of a wall of copies.
    assert shown.count("a shallow tree") == 1 and f"({shallow} times)" in shown
    assert "shallow" not in err.getvalue()


def test_panel_is_exported_lazily_and_payload_is_near_one_bundle() -> None:
    assert hpo_widget.Panel is Panel
    before = set(_instances)
    panel = Panel(quadratic, space=SPACE, storage="memory")
    created = [_instances[k] for k in set(_instances) - before]
    figures = [w for w in created if type(w).__name__ == "FigureWidget"]
    assert figures == [panel.live.figure]
    esm = len(str(panel.live.figure.get_state()["_esm"]).encode())
    total = sum(len(json.dumps(w.get_state(), default=str).encode()) for w in created)
    assert total < esm * 1.1, f"panel opens with {total} bytes for a {esm}-byte bundle"


def test_unknown_options_and_objectives_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="Panel: unknown run option 'n_trails'; did you mean"):
        Panel(quadratic, space=SPACE, n_trails=5)
    with pytest.raises(TypeError, match="objective: expected a function"):
        Panel(42)
    with pytest.raises(ValueError, match=r"must look like 'package\.module:function'"):
        Panel("not-a-reference")
    panel = Panel(quadratic, storage="memory")  # params objective without a space
    assert panel.run_button.disabled
    assert "add at least one parameter" in text(panel.problems_html)


def test_errors_raised_at_start_show_on_the_fields_they_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = str(tmp_path / "s.journal")
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    optuna.create_study(study_name="up", storage=journal, direction="maximize")
    panel = Panel(quadratic, space=SPACE, storage=storage, study_name="up", resume=True)
    s = panel.settings
    assert panel.run() is None  # the study exists with another direction
    assert "direction: study 'up' already exists" in text(s.error_of(s.direction))
    assert "hpo-invalid" in s.direction._dom_classes and not panel.run_button.disabled

    # A ConfigError names each field: every one is shown at its box, the rest below.
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise ConfigError(
            [ConfigProblem("stop.patience", "too impatient"), ConfigProblem("retries", "no")]
        )

    monkeypatch.setattr("hpo_widget.ui.run_control.StudyRunner", refuse)
    s.direction.value = "maximize"
    assert panel.run() is None and "Could not start" in text(panel.status)
    assert "stop.patience: too impatient" in text(s.error_of(s.stop_boxes["patience"]))
    assert "hpo-invalid" in s.stop_boxes["patience"]._dom_classes
    assert "retries: no" in text(s.error)
    assert not panel.run_button.disabled  # retryable
    s.stop_boxes["patience"].value = "4"  # editing clears what the start reported
    assert (
        "too impatient" not in shown(s)
        and "hpo-invalid" not in s.stop_boxes["patience"]._dom_classes
    )


def test_a_storage_that_cannot_be_opened_is_reported_without_its_password() -> None:
    before = set(_instances)
    panel = Panel(quadratic, space=SPACE, storage="postgresql://u:topsecret@127.0.0.1:1/db")
    assert panel.run() is None and panel.runner is None
    assert "could not open postgresql://u:***@127.0.0.1:1/db" in text(panel.status)
    assert "storage: could not open" in text(panel.settings.error_of(panel.settings.storage))
    assert "hpo-invalid" in panel.settings.storage._dom_classes
    assert not panel.run_button.disabled  # a transient failure can be retried
    states = [_instances[k].get_state() for k in set(_instances) - before if k in _instances]
    assert "topsecret" not in json.dumps(states, default=str)
    panel.settings.storage.value = "memory"  # editing clears the reported error
    assert "could not open" not in shown(panel.settings)
