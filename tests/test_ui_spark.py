"""The issue's acceptance path, driven from Python: build "SVC vs RandomForest" by hand in the
panel's form, run it on local Spark, see the figures fill while the main thread keeps working,
Stop, Resume to the exact total."""

from __future__ import annotations

import html
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from optuna.trial import TrialState

from hpo_widget import _attrs
from hpo_widget.ui import Panel, close_all
from tests import spark_objectives as so
from tests.test_space import EXAMPLE

pytestmark = pytest.mark.spark


@pytest.fixture
def _panels() -> Iterator[None]:
    yield
    close_all()


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_hand_built_conditional_space_runs_on_local_spark_stops_and_resumes(_panels: None) -> None:
    from pyspark import SparkContext

    active = SparkContext._active_spark_context
    if active is not None:  # another module's session: this test wants its own local[2]
        active.stop()
    so.register_by_value()
    panel = Panel(so.iris_params_objective, storage="memory", study_name="iris-by-hand")
    form = panel.form
    assert form.space is not None and len(form.space) == 0

    clf = form.add("classifier", {"type": "categorical", "choices": ["SVC"]})
    clf.editor.choices.value = "SVC, RandomForest"
    svc_c = form.add("svc_c", {"type": "float", "low": 1.0, "high": 2.0})
    svc_c.editor.low.value, svc_c.editor.high.value = "1e-10", "1e10"
    svc_c.editor.log.value = True
    svc_c.parent.value, svc_c.values.value = "classifier", "SVC"
    depth = form.add("rf_max_depth", {"type": "int", "low": 2, "high": 32})
    depth.editor.log.value = True
    depth.parent.value, depth.values.value = "classifier", "RandomForest"
    assert form.valid, [html.unescape(r.error.value) for r in form.rows]
    assert form.space is not None
    assert form.space.to_dict() == EXAMPLE  # the SVC vs RandomForest space

    settings = panel.settings
    settings.direction.value = "maximize"
    settings.backend.value = "spark"
    settings.master.value = "local[2]"
    settings.workers.value = "2"
    settings.n_trials.value = 24
    settings.seed.value = "0"
    assert not panel.run_button.disabled
    # Choosing spark started the session in the background, before Run (issue 13, item 4).
    _wait(lambda: SparkContext._active_spark_context is not None, 120, "a session before Run")

    panel.run_button.click()
    runner = panel.runner
    assert runner is not None, html.unescape(panel.status.value)
    assert runner.backend is panel._control._prepared  # Run took the prepared one
    # The kernel's main thread is free meanwhile: this loop is "another cell".
    _wait(lambda: len(panel.live.figure.data[0].x) >= 4, 120, "4 trials in the history figure")
    panel.stop_button.click()
    study = panel.study
    assert study is not None
    assert not study.get_trials(states=(TrialState.RUNNING,))
    assert "Stopped" in html.unescape(panel.status.value)
    stopped_at = len(study.get_trials(states=(TrialState.COMPLETE,)))
    assert 4 <= stopped_at < 24

    panel.resume_button.click()
    assert panel.wait(timeout=120) is not None
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 24
    assert not study.get_trials(states=(TrialState.RUNNING,))
    assert "Finished" in html.unescape(panel.status.value)
    # Conditionals held on the executors: each trial has exactly its branch's parameter.
    for t in complete:
        branch = "svc_c" if t.params["classifier"] == "SVC" else "rf_max_depth"
        assert set(t.params) == {"classifier", branch}
    assert study.best_value > 0.9
    assert len(panel.live.figure.data[0].x) == 24
    # The trials came from Spark's Python workers (``host:pid:slot``), not from this process.
    panel.live.tabs.value = "worker_counts"
    bars = {t.name: t for t in panel.live.figure.data}
    assert sum(bars["Complete"].x) == 24
    pids = {int(str(t.system_attrs[_attrs.WORKER]).split(":")[1]) for t in complete}
    assert pids and os.getpid() not in pids
