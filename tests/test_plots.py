"""Plot data extraction, figure builders and the HTML report (``hpo_widget.plots``)."""

from __future__ import annotations

import datetime
import math
import random
import re
import time
from pathlib import Path

import optuna
import plotly
import plotly.graph_objects as go
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo_widget import _attrs
from hpo_widget.plots import (
    DISPLAY_STATES,
    EMPTY_ANNOTATION,
    EMPTY_MESSAGE,
    TITLES,
    ImportanceData,
    figures_for_study,
    history_data,
    history_figure,
    importance_data,
    importance_figure,
    intermediate_data,
    intermediate_figure,
    parallel_coordinates_data,
    parallel_coordinates_figure,
    pareto_data,
    pareto_figure,
    report_html,
    timeline_data,
    timeline_figure,
    worker_counts_figure,
    write_report,
)
from hpo_widget.plots.registry import FIGURES

N_TRIALS = 40
WORKERS = ("hostA:101:0", "hostA:101:1", "hostB:202:0")


def _set_system_attr(trial: optuna.Trial, key: str, value: str) -> None:
    # Optuna 5 has no public Trial.set_system_attr; the runner writes through the storage too.
    trial.study._storage.set_trial_system_attr(trial._trial_id, key, value)


def _objective(trial: optuna.Trial) -> float:
    _set_system_attr(trial, _attrs.WORKER, WORKERS[trial.number % len(WORKERS)])
    x = trial.suggest_float("x", -5.0, 5.0)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    n_layers = trial.suggest_int("n_layers", 1, 4)
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop"])
    if optimizer == "sgd":
        trial.suggest_float("momentum", 0.0, 0.99)  # conditional parameter
    if trial.number % 9 == 4:
        _set_system_attr(trial, _attrs.FAIL_REASON, "ValueError('boom')")
        raise ValueError("boom")
    value = (x - 1.0) ** 2 + abs(math.log10(lr) + 3) + 0.1 * n_layers
    for step in range(5):
        trial.report(value + (5 - step), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    s = optuna.create_study(
        study_name="plots-single",
        sampler=optuna.samplers.RandomSampler(seed=7),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    s.optimize(_objective, n_trials=N_TRIALS, catch=(ValueError,))
    return s


def _mo_objective(trial: optuna.Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    return x, (1.0 - x) ** 2 + y


@pytest.fixture(scope="module")
def mo_study() -> optuna.Study:
    s = optuna.create_study(
        study_name="plots-multi",
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=3),
    )
    s.optimize(_mo_objective, n_trials=60)
    return s


def _trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False)


def _states(study: optuna.Study) -> set[TrialState]:
    return {t.state for t in _trials(study)}


def test_fixture_study_has_every_interesting_state(study: optuna.Study) -> None:
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL} <= _states(study)


# ------------------------------------------------------------------------------------------
# history
# ------------------------------------------------------------------------------------------


def test_history_best_so_far_monotone_and_matches_study(study: optuna.Study) -> None:
    data = history_data(_trials(study), study.direction)
    trials = _trials(study)
    assert data.numbers == [t.number for t in trials]
    assert data.states == [t.state.name for t in trials]
    for t, v in zip(trials, data.values, strict=True):
        assert v == (t.value if t.state == TrialState.COMPLETE else None)
    best = [b for b in data.best if b is not None]
    assert best == sorted(best, reverse=True)  # non-increasing when minimizing
    assert data.best_value == study.best_value
    assert data.n_complete == sum(t.state == TrialState.COMPLETE for t in trials)
    # The best value appears first exactly at the best trial.
    first = data.best.index(study.best_value)
    assert data.numbers[first] == study.best_trial.number


def test_history_accepts_unsorted_trials_and_maximize(study: optuna.Study) -> None:
    trials = list(reversed(_trials(study)))
    data = history_data(trials, "maximize")
    assert data.numbers == sorted(data.numbers)
    best = [b for b in data.best if b is not None]
    assert best == sorted(best)
    completes = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    assert data.best_value == max(completes)


def test_history_ignores_infeasible_for_best() -> None:
    s = optuna.create_study()
    dists: dict[str, BaseDistribution] = {"x": FloatDistribution(0, 1)}
    s.add_trial(create_trial(value=5.0, params={"x": 0.5}, distributions=dists))
    s.add_trial(
        create_trial(value=1.0, params={"x": 0.1}, distributions=dists, constraints={"c": 1.0})
    )
    s.add_trial(
        create_trial(value=3.0, params={"x": 0.3}, distributions=dists, constraints={"c": -1.0})
    )
    data = history_data(_trials(s), s.direction)
    assert data.feasible == [True, False, True]
    assert data.best == [5.0, 5.0, 3.0]
    assert data.best_value == s.best_value == 3.0
    fig = history_figure(data)
    assert list(fig.data[1].x) == [1]  # the infeasible trace


def test_history_multi_objective_target_index(mo_study: optuna.Study) -> None:
    data = history_data(_trials(mo_study), mo_study.directions, target_index=1)
    assert data.target_name == "Objective 1"
    assert data.best_value == min(t.values[1] for t in _trials(mo_study))
    with pytest.raises(ValueError):
        history_data(_trials(mo_study), mo_study.directions, target_index=2)


def test_history_figure_traces(study: optuna.Study) -> None:
    data = history_data(_trials(study), study.direction)
    fig = history_figure(data)
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text == TITLES["history"]
    assert [t.uid for t in fig.data] == ["history-values", "history-infeasible", "history-best"]
    assert fig.layout.xaxis.title.text == "Trial"
    assert fig.layout.yaxis.title.text == "Objective value"
    assert len(fig.data[0].x) == data.n_complete
    assert fig.data[2].y[-1] == pytest.approx(study.best_value)
    assert not fig.layout.annotations
    assert fig.layout.meta == {"kind": "history", "empty": False, "theme": "light"}


# ------------------------------------------------------------------------------------------
# importance
# ------------------------------------------------------------------------------------------


def _param_names(study: optuna.Study) -> set[str]:
    return {p for t in _trials(study) if t.state == TrialState.COMPLETE for p in t.params}


def test_importance_keys_and_normalization(study: optuna.Study) -> None:
    data = importance_data(study)
    assert not data.is_empty, data.message
    assert set(data.params) == _param_names(study)  # PED-ANOVA includes conditional params
    assert "momentum" in data.params
    assert sum(data.importances) == pytest.approx(1.0)
    assert data.importances == sorted(data.importances, reverse=True)
    assert all(v >= 0 for v in data.importances)
    assert data.evaluator == "PedAnovaImportanceEvaluator"
    assert data.n_trials == sum(t.state == TrialState.COMPLETE for t in _trials(study))


def test_importance_from_trials_matches_study(study: optuna.Study) -> None:
    from_study = importance_data(study)
    from_trials = importance_data(_trials(study), study.directions)
    assert from_trials.params == from_study.params
    assert from_trials.importances == pytest.approx(from_study.importances)


def test_importance_params_filter_and_other_evaluator(study: optuna.Study) -> None:
    data = importance_data(study, params=["x", "lr", "nope"])
    assert set(data.params) == {"x", "lr"}
    mdi = importance_data(
        study, evaluator=optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0)
    )
    assert mdi.evaluator == "MeanDecreaseImpurityImportanceEvaluator"
    assert set(mdi.params) <= _param_names(study)
    assert sum(mdi.importances) == pytest.approx(1.0)


def test_importance_too_few_trials_and_no_params_are_empty() -> None:
    s = optuna.create_study()
    assert importance_data(s).is_empty
    s.add_trial(
        create_trial(value=1.0, params={"x": 0.1}, distributions={"x": FloatDistribution(0, 1)})
    )
    one = importance_data(s)
    assert one.is_empty and "Not enough" in one.message and one.n_trials == 1
    s2 = optuna.create_study()
    for v in (1.0, 2.0, 3.0):
        s2.add_trial(create_trial(value=v))
    none = importance_data(s2)
    assert none.is_empty and none.message == "No parameters to assess."
    fig = importance_figure(none)
    assert fig.layout.annotations[0].name == EMPTY_ANNOTATION
    assert fig.layout.annotations[0].text == "No parameters to assess."


def test_importance_multi_objective(mo_study: optuna.Study) -> None:
    pareto = importance_data(mo_study)
    assert pareto.target_name == "Pareto front"
    assert set(pareto.params) == {"x", "y"}
    per_obj = importance_data(mo_study, target_index=0)
    assert per_obj.target_name == "Objective 0"
    assert per_obj.params[0] == "x"  # objective 0 is x itself
    assert sum(per_obj.importances) == pytest.approx(1.0)


def test_importance_figure(study: optuna.Study) -> None:
    data = importance_data(study)
    fig = importance_figure(data)
    assert fig.layout.title.text == TITLES["importance"]
    (bars,) = fig.data
    assert bars.uid == "importance-bars"
    assert list(bars.y) == list(reversed(data.params))  # most important on top
    assert "PED-ANOVA" in fig.layout.xaxis.title.text


# ------------------------------------------------------------------------------------------
# parallel coordinates
# ------------------------------------------------------------------------------------------


def test_parallel_coordinates_categorical_log_conditional(study: optuna.Study) -> None:
    data = parallel_coordinates_data(_trials(study))
    complete = [t for t in _trials(study) if t.state == TrialState.COMPLETE]
    assert data.numbers == [t.number for t in complete]
    assert data.objective == [t.value for t in complete]
    axes = {a.name: a for a in data.axes}
    assert list(axes) == sorted(_param_names(study))
    assert axes["optimizer"].kind == "categorical"
    assert axes["optimizer"].ticktext == ["adam", "sgd", "rmsprop"]
    assert axes["optimizer"].tickvals == [0.0, 1.0, 2.0]
    for t, v in zip(complete, axes["optimizer"].values, strict=True):
        assert v is not None
        assert axes["optimizer"].ticktext[int(v)] == t.params["optimizer"]
    assert axes["lr"].kind == "log"
    for t, v in zip(complete, axes["lr"].values, strict=True):
        assert v == pytest.approx(math.log10(t.params["lr"]))
    assert all(10.0**lo >= 1e-5 * 0.999 for lo in axes["lr"].tickvals)
    assert axes["n_layers"].kind == "int"
    assert axes["x"].kind == "float"
    momentum = axes["momentum"]
    assert momentum.has_missing
    for t, v in zip(complete, momentum.values, strict=True):
        assert (v is None) == (t.params["optimizer"] != "sgd")

    fig = parallel_coordinates_figure(data)
    (trace,) = fig.data
    assert trace.uid == "parallel_coordinates-lines"
    labels = [a.name + (" (log)" if a.kind == "log" else "") for a in data.axes]
    assert [d.label for d in trace.dimensions] == ["Objective value", *labels]
    mom_dim = next(d for d in trace.dimensions if d.label == "momentum")
    assert mom_dim.ticktext[0] == "(inactive)"
    assert min(mom_dim.values) == mom_dim.tickvals[0]
    assert next(d for d in trace.dimensions if d.label == "lr (log)").ticktext


def test_parallel_coordinates_param_selection(study: optuna.Study) -> None:
    data = parallel_coordinates_data(_trials(study), params=["x", "optimizer", "unknown"])
    assert [a.name for a in data.axes] == ["x", "optimizer"]


# ------------------------------------------------------------------------------------------
# intermediate values
# ------------------------------------------------------------------------------------------


def test_intermediate_curves_match_reports(study: optuna.Study) -> None:
    data = intermediate_data(_trials(study))
    reported = [t for t in _trials(study) if t.intermediate_values]
    assert data.numbers == [t.number for t in reported]
    for t, steps, values, state in zip(reported, data.steps, data.values, data.states, strict=True):
        assert steps == sorted(t.intermediate_values)
        assert values == [t.intermediate_values[s] for s in steps]
        assert state == t.state.name
    assert "PRUNED" in data.states
    pruned = [s for s, st in zip(data.steps, data.states, strict=True) if st == "PRUNED"]
    assert all(len(s) < 5 for s in pruned)

    fig = intermediate_figure(data)
    assert [t.uid for t in fig.data] == [f"intermediate-{s}" for s in DISPLAY_STATES[:-1]]
    complete = next(t for t in fig.data if t.uid == "intermediate-COMPLETE")
    n_complete_points = sum(
        len(s) for s, st in zip(data.steps, data.states, strict=True) if st == "COMPLETE"
    )
    n_gaps = data.states.count("COMPLETE")
    assert len(complete.x) == n_complete_points + n_gaps
    assert fig.layout.xaxis.title.text == "Step"


# ------------------------------------------------------------------------------------------
# pareto
# ------------------------------------------------------------------------------------------


def test_pareto_front_equals_best_trials(mo_study: optuna.Study) -> None:
    data = pareto_data(_trials(mo_study), mo_study.directions)
    assert sorted(data.front_numbers) == sorted(t.number for t in mo_study.best_trials)
    assert len(data.front_numbers) + len(data.dominated_numbers) == len(_trials(mo_study))
    assert data.front_values[0] == sorted(data.front_values[0])
    by_number = {t.number: t for t in _trials(mo_study)}
    for i, n in enumerate(data.front_numbers):
        assert [data.front_values[k][i] for k in range(2)] == by_number[n].values

    fig = pareto_figure(data)
    assert fig.layout.title.text == TITLES["pareto"]
    assert [t.uid for t in fig.data] == ["pareto-front", "pareto-dominated", "pareto-infeasible"]
    assert len(fig.data[0].x) == len(data.front_numbers)
    assert fig.layout.xaxis.title.text == "Objective 0 (min)"


def test_pareto_mixed_directions() -> None:
    s = optuna.create_study(directions=["minimize", "maximize"])
    for values in ([1.0, 1.0], [2.0, 0.5], [0.0, 2.0]):
        s.add_trial(create_trial(values=values))
    data = pareto_data(_trials(s), s.directions)
    # Trial 2 is lower on the minimized and higher on the maximized objective than both others.
    assert data.front_numbers == [t.number for t in s.best_trials] == [2]
    assert data.dominated_numbers == [0, 1]
    assert data.dominated_values == [[1.0, 2.0], [1.0, 0.5]]


def test_pareto_constraints_and_three_objectives() -> None:
    s = optuna.create_study(directions=["minimize", "maximize", "minimize"])
    dists: dict[str, BaseDistribution] = {"x": FloatDistribution(0, 1)}
    rows = [((1.0, 1.0, 1.0), -1.0), ((0.5, 2.0, 0.5), 1.0), ((2.0, 0.5, 2.0), -1.0)]
    for values, c in rows:
        s.add_trial(
            create_trial(
                values=values, params={"x": 0.5}, distributions=dists, constraints={"c": c}
            )
        )
    data = pareto_data(_trials(s), s.directions)
    assert data.front_numbers == sorted(t.number for t in s.best_trials) == [0]
    assert data.infeasible_numbers == [1]
    assert data.dominated_numbers == [2]
    fig = pareto_figure(data)
    assert all(isinstance(t, go.Scatter3d) for t in fig.data)
    assert fig.layout.scene.yaxis.title.text == "Objective 1 (max)"
    flat = pareto_figure(data, axes=(0, 2))
    assert isinstance(flat.data[0], go.Scatter)


# ------------------------------------------------------------------------------------------
# timeline / workers
# ------------------------------------------------------------------------------------------


def test_timeline_per_worker(study: optuna.Study) -> None:
    trials = _trials(study)
    data = timeline_data(trials)
    assert data.numbers == [t.number for t in trials]
    assert data.workers == list(WORKERS)
    totals = data.totals()
    for i, w in enumerate(WORKERS):
        assert totals[w] == len(range(i, N_TRIALS, len(WORKERS)))
    for w in WORKERS:
        expected: dict[str, int] = {}
        for t in trials:
            if t.system_attrs[_attrs.WORKER] == w:
                expected[t.state.name] = expected.get(t.state.name, 0) + 1
        assert data.counts[w] == expected
    assert min(data.starts) == 0.0
    assert data.origin == pytest.approx(
        min(t.datetime_start.timestamp() for t in trials if t.datetime_start)
    )
    assert all(e >= s for s, e in zip(data.starts, data.ends, strict=True))
    fails = [r for r, st in zip(data.fail_reasons, data.states, strict=True) if st == "FAIL"]
    assert fails and all(r == "ValueError('boom')" for r in fails)

    fig = timeline_figure(data)
    assert fig.layout.title.text == TITLES["timeline"]
    assert [t.uid for t in fig.data] == [f"timeline-{s}" for s in DISPLAY_STATES]
    assert sum(len(t.y) for t in fig.data) == len(trials)
    assert fig.layout.barmode == "overlay"
    assert list(fig.layout.yaxis.ticktext) == list(WORKERS)
    complete_bars = next(t for t in fig.data if t.uid == "timeline-COMPLETE")
    rows = [
        data.workers.index(w)
        for w, s in zip(data.worker, data.states, strict=True)
        if s == "COMPLETE"
    ]
    assert list(complete_bars.y) == rows
    fail_bars = next(t for t in fig.data if t.uid == "timeline-FAIL")
    assert set(fail_bars.hovertext) == {"ValueError('boom')"}

    counts = worker_counts_figure(data)
    assert counts.layout.title.text == TITLES["worker_counts"]
    assert sum(sum(t.x) for t in counts.data) == len(trials)
    complete = next(t for t in counts.data if t.uid == "worker_counts-COMPLETE")
    assert list(complete.x) == [data.counts[w].get("COMPLETE", 0) for w in WORKERS]


def test_timeline_default_worker_running_waiting_and_lost() -> None:
    s = optuna.create_study()
    dists: dict[str, BaseDistribution] = {"x": FloatDistribution(0, 1)}
    s.add_trial(create_trial(value=1.0, params={"x": 0.1}, distributions=dists))
    s.add_trial(
        create_trial(
            state=TrialState.FAIL,
            system_attrs={_attrs.LOST: True, _attrs.WORKER: "w1"},
        )
    )
    s.enqueue_trial({"x": 0.5})  # WAITING: not started, not on the timeline
    running = s.ask()  # takes the enqueued trial
    s.enqueue_trial({"x": 0.7})
    now = time.time() + 5.0
    data = timeline_data(_trials(s), default_worker="driver", now=now)
    assert data.numbers == [0, 1, running.number]
    assert data.worker == ["driver", "w1", "driver"]
    assert data.states == ["COMPLETE", "LOST", "RUNNING"]
    assert data.counts == {"driver": {"COMPLETE": 1, "RUNNING": 1}, "w1": {"LOST": 1}}
    assert data.origin is not None
    assert data.origin + data.ends[2] == pytest.approx(now, abs=1e-3)


# ------------------------------------------------------------------------------------------
# empty states and figures_for_study
# ------------------------------------------------------------------------------------------


def _empty_text(fig: go.Figure) -> str | None:
    for a in fig.layout.annotations:
        if a.name == EMPTY_ANNOTATION:
            return str(a.text)
    return None


def test_empty_study_figures_show_empty_state() -> None:
    s = optuna.create_study(study_name="empty")
    figs = figures_for_study(s)
    assert list(figs) == [name for name in FIGURES if name != "pareto"]  # single objective
    for kind, fig in figs.items():
        assert fig.layout.title.text == TITLES[kind]
        assert fig.layout.meta["empty"] is True, kind
        assert _empty_text(fig), kind
    assert _empty_text(figs["history"]) == EMPTY_MESSAGE
    assert _empty_text(figs["parallel_coordinates"]) == EMPTY_MESSAGE
    # Same trace structure as a populated figure, so an updater can fill it in place.
    assert len(figs["history"].data) == 3
    assert len(figs["timeline"].data) == len(DISPLAY_STATES)
    assert _empty_text(pareto_figure(pareto_data([], ["minimize", "minimize"]))) == EMPTY_MESSAGE
    assert _empty_text(importance_figure(ImportanceData())) == EMPTY_MESSAGE


def test_only_failed_trials_is_empty_history() -> None:
    s = optuna.create_study()
    s.add_trial(create_trial(state=TrialState.FAIL))
    data = history_data(_trials(s), s.direction)
    assert data.is_empty and data.best == [None]
    assert _empty_text(history_figure(data)) == EMPTY_MESSAGE
    assert _empty_text(timeline_figure(timeline_data(_trials(s)))) is None


def test_figures_for_study(study: optuna.Study, mo_study: optuna.Study) -> None:
    single = figures_for_study(study)
    assert "history" in single and "pareto" not in single
    assert all(not f.layout.meta["empty"] for f in single.values())
    multi = figures_for_study(mo_study, importance=False)
    assert "pareto" in multi and "history" not in multi
    assert _empty_text(multi["intermediate"]) == "No intermediate values reported yet"
    uids = [t.uid for f in single.values() for t in f.data]
    assert len(uids) == len(set(uids))  # stable, unique trace ids across the figure set
    # plotly.js puts uids into CSS selectors (a ':' broke the parcoords colorbar).
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", u) for u in uids)


# ------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------

_SCRIPT_SRC = re.compile(r"<script[^>]*\ssrc\s*=", re.IGNORECASE)


def test_report_single_objective(study: optuna.Study, tmp_path: Path) -> None:
    path = write_report(study, tmp_path / "sub" / "report.html")
    assert path == tmp_path / "sub" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for kind in ("history", "importance", "parallel_coordinates", "intermediate", "timeline"):
        assert f"<h2>{TITLES[kind]}</h2>" in text
    assert "plots-single" in text
    for name, value in study.best_params.items():
        assert f"<td>{name}</td>" in text
        assert (f"{value:.6g}" if isinstance(value, float) else str(value)) in text
    assert f"{study.best_value:.6g}" in text
    # Offline: plotly.js inlined exactly once, no external scripts or stylesheets.
    assert not _SCRIPT_SRC.search(text)
    assert 'src="https://cdn.plot.ly' not in text
    assert not re.search(r"<link[^>]+href=\"https?://", text)
    assert text.count("Plotly.newPlot(") == len(figures_for_study(study))
    bundle_head = plotly.offline.get_plotlyjs()[:200]
    assert text.count(bundle_head) == 1


def test_report_escapes_user_strings_and_multi_objective(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    s = optuna.create_study(study_name=evil, directions=["minimize", "maximize"])
    s.add_trial(
        create_trial(
            values=[1.0, 2.0],
            params={"<b>p</b>": "a&b"},
            distributions={"<b>p</b>": CategoricalDistribution(["a&b", "c"])},
        )
    )
    text = report_html(s, title="T <i>")
    assert evil not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<title>T &lt;i&gt;</title>" in text
    assert "&lt;b&gt;p&lt;/b&gt;" in text and "a&amp;b" in text
    assert f"<h2>{TITLES['pareto']}</h2>" in text
    assert "Pareto-optimal trials (1)" in text
    assert not _SCRIPT_SRC.search(text)


def test_report_empty_study(tmp_path: Path) -> None:
    text = write_report(optuna.create_study(study_name="nothing"), tmp_path / "r.html").read_text()
    assert "No completed trials yet" in text
    assert f"<h2>{TITLES['intermediate']}</h2>" not in text  # only when values were reported


# ------------------------------------------------------------------------------------------
# speed
# ------------------------------------------------------------------------------------------


def _synthetic_trials(n: int) -> list[FrozenTrial]:
    rng = random.Random(0)
    dists: dict[str, BaseDistribution] = {
        "x": FloatDistribution(-5, 5),
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "n": IntDistribution(1, 8),
        "opt": CategoricalDistribution(["adam", "sgd"]),
    }
    t0 = datetime.datetime(2024, 1, 1, 12)
    out = []
    for i in range(n):
        complete = i % 10 != 0
        x = rng.uniform(-5, 5)
        params: dict[str, object] = {
            "x": x,
            "lr": 10 ** rng.uniform(-5, -1),
            "n": rng.randint(1, 8),
        }
        params["opt"] = rng.choice(["adam", "sgd"])
        out.append(
            FrozenTrial(
                number=i,
                state=TrialState.COMPLETE if complete else TrialState.PRUNED,
                value=x**2 if complete else None,
                datetime_start=t0 + datetime.timedelta(seconds=i),
                datetime_complete=t0 + datetime.timedelta(seconds=i + 0.5),
                params=params,
                distributions=dists,
                user_attrs={},
                system_attrs={_attrs.WORKER: f"host:{i % 8}:0"},
                intermediate_values={0: 1.0, 1: 0.5} if i % 20 == 0 else {},
                trial_id=i,
            )
        )
    return out


def test_extraction_is_right_at_10k_trials() -> None:
    # How fast it is: benchmarks/plot_extraction.py (speed is not a pass/fail test here).
    trials = _synthetic_trials(10_000)
    data = timeline_data(trials)
    assert data.totals() == {f"host:{i}:0": 1250 for i in range(8)}
    assert history_data(trials, "minimize").n_complete == 9000
