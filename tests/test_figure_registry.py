"""The figure registry: every kind builds for every kind of study, and every view uses them all.

A figure that is registered but missing from the live panel or the report (or one that only
works on the studies its author tried) is what the registry exists to prevent.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import warnings
from collections.abc import Sequence
from types import MappingProxyType

import optuna
import plotly.graph_objects as go
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, create_trial

from hpo_widget import plots
from hpo_widget.events import TrialFinished
from hpo_widget.plots import EMPTY_ANNOTATION, registry, report_html
from hpo_widget.plots._common import Direction, mark_empty, new_figure
from hpo_widget.plots.registry import FIGURES, FigureKind, FigureOptions, kinds_for
from hpo_widget.ui.live_figure import TAB_LABELS, LiveFigure


def _single(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -3.0, 3.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    for step in range(3):
        trial.report(x * x + step, step)
    return x * x + (kind == "b")


def _multi(trial: optuna.Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    return x, (1.0 - x) ** 2 + y


@pytest.fixture(scope="module")
def single() -> optuna.Study:
    s = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=11))
    s.optimize(_single, n_trials=15)
    return s


@pytest.fixture(scope="module")
def multi() -> optuna.Study:
    s = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=5)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        s.set_metric_names(["loss", "cost"])
    s.optimize(_multi, n_trials=15)
    return s


def _trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False)


def _empty_text(fig: go.Figure) -> str | None:
    return next((str(a.text) for a in fig.layout.annotations if a.name == EMPTY_ANNOTATION), None)


def _check_shape(kind: FigureKind, fig: go.Figure) -> None:
    assert fig.layout.meta["kind"] == kind.name
    assert fig.layout.title.text == kind.title
    uids = [t.uid for t in fig.data]
    assert uids and len(uids) == len(set(uids))
    assert all(re.fullmatch(rf"{kind.name}-[A-Za-z0-9_-]+", u) for u in uids), uids


# -- every kind builds ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FIGURES))
@pytest.mark.parametrize("directions", [["minimize"], ["minimize", "maximize"]])
def test_every_kind_builds_its_empty_state_for_an_empty_study(
    name: str, directions: list[str]
) -> None:
    kind = FIGURES[name]
    if not kind.applies(directions):
        assert name == "pareto" and len(directions) == 1
        return
    fig = kind.build([], directions)
    _check_shape(kind, fig)
    assert fig.layout.meta["empty"] is True
    assert _empty_text(fig)


@pytest.mark.parametrize("name", list(FIGURES))
@pytest.mark.parametrize("which", ["single", "multi"])
def test_every_kind_builds_for_a_study_with_trials(
    name: str, which: str, request: pytest.FixtureRequest
) -> None:
    study: optuna.Study = request.getfixturevalue(which)
    kind = FIGURES[name]
    trials, directions = _trials(study), list(study.directions)
    if not kind.applies(directions):
        assert name == "pareto" and which == "single"
        return
    options = FigureOptions(tuple(study.metric_names or ()), default_worker="here")
    fig = kind.build(trials, directions, options)
    _check_shape(kind, fig)
    # Drawn when the trials hold its data: the multi study reports no intermediate values.
    assert fig.layout.meta["empty"] is not kind.has_data(trials)
    assert kind.has_data(trials) == (name != "intermediate" or which == "single")


def test_slow_kinds_have_a_placeholder_that_says_why() -> None:
    slow = [k for k in FIGURES.values() if k.slow]
    assert [k.name for k in slow] == ["importance"]
    for kind in slow:
        fig = kind.placeholder_figure("Not yet.")
        _check_shape(kind, fig)
        assert _empty_text(fig) == "Not yet."
    with pytest.raises(ValueError, match="not slow"):
        FIGURES["history"].placeholder_figure("x")


# -- registry rules ---------------------------------------------------------------------------
def test_every_figure_module_is_registered_and_its_builder_exported() -> None:
    """A figure module (one with ``NAME`` and ``TITLE``) left out of :data:`FIGURES` would be
    missing from every view; its builder is public as ``hpo_widget.plots.<builder>``."""
    modules = {}
    for info in pkgutil.iter_modules(plots.__path__):
        module = importlib.import_module(f"{plots.__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "TITLE"):
            modules[module.NAME] = module
    assert set(modules) == set(FIGURES)
    for name, kind in FIGURES.items():
        assert kind.title == modules[name].TITLE
        assert getattr(plots, kind.figure.__name__) is kind.figure
        assert kind.figure.__name__ in plots.__all__


def test_registry_names_titles_and_order() -> None:
    assert all(name == kind.name for name, kind in FIGURES.items())
    assert {name: kind.title for name, kind in FIGURES.items()} == registry.TITLES
    assert {name: kind.label for name, kind in FIGURES.items()} == TAB_LABELS
    with pytest.raises(TypeError):
        FIGURES["x"] = FIGURES["history"]  # type: ignore[index]
    with pytest.raises(ValueError, match="unknown figure 'nope'; choose one of pareto, history"):
        registry.figure_kind("nope")


def test_kinds_for_objectives_and_summaries() -> None:
    single = [k.name for k in kinds_for(["minimize"])]
    assert single == [n for n in FIGURES if n != "pareto"]
    multi = [k.name for k in kinds_for(["minimize", "maximize"])]
    assert multi == list(FIGURES)  # an interactive view offers the history of objective 0 too
    summary = [k.name for k in kinds_for(["minimize", "maximize"], summary=True)]
    assert summary == [n for n in FIGURES if n != "history"]
    assert [k.name for k in kinds_for(["maximize"], summary=True)] == single


def test_parameter_figures_come_after_the_kind_that_ranks_parameters() -> None:
    """build_figures hands the importances to later kinds only: a parameter figure listed
    before them would silently fall back to suggestion order in the report."""
    names = list(FIGURES)
    rankers = [names.index(n) for n, k in FIGURES.items() if k.ranks_params is not None]
    wanting = [names.index(n) for n, k in FIGURES.items() if k.wants_param_order]
    assert rankers == [names.index("importance")]
    assert [names[i] for i in wanting] == ["slice", "contour", "rank"]
    assert max(rankers) < min(wanting)


def test_figure_kind_validates_needs_and_slow_placeholders() -> None:
    history = FIGURES["history"]
    with pytest.raises(ValueError, match="unknown needs"):
        FigureKind("bad", "Bad", "Bad", history.data, history.figure, needs=frozenset({"gpu"}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a placeholder"):
        FigureKind("slow", "Slow", "Slow", history.data, history.figure, slow=True)
    only_one = FigureKind(
        "one", "One", "One", history.data, history.figure, needs=frozenset({"single_objective"})
    )
    assert only_one.applies(["minimize"]) and not only_one.applies(["minimize", "minimize"])


def test_kinds_sharing_a_data_function_extract_once(single: optuna.Study) -> None:
    calls: list[int] = []
    timeline = FIGURES["timeline"]

    def counted(
        trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
    ) -> object:
        calls.append(len(trials))
        return timeline.data(trials, directions, options)

    kinds = [
        FigureKind("timeline", "A", "A", counted, timeline.figure),
        FigureKind("worker_counts", "B", "B", counted, FIGURES["worker_counts"].figure),
    ]
    figs = registry.build_figures(_trials(single), single.directions, kinds=kinds)
    assert list(figs) == ["timeline", "worker_counts"]
    assert calls == [len(_trials(single))]


def test_build_figures_can_skip_slow_kinds(single: optuna.Study) -> None:
    figs = registry.build_figures(_trials(single), single.directions, compute_slow=False)
    assert _empty_text(figs["importance"]) == "Hyperparameter importance not computed."
    assert not figs["history"].layout.meta["empty"]


# -- every view uses every kind ---------------------------------------------------------------
def _show_every_tab(live: LiveFigure) -> list[str]:
    shown = []
    for _, name in live.tabs.options:
        live.select(name)
        if name in live.background:
            assert live.background[name].wait_idle(30)
        assert live.figure.layout.meta["kind"] == name
        assert live.figure.layout.title.text == FIGURES[name].title
        shown.append(name)
    return shown


def test_live_figure_offers_and_draws_every_registered_kind(
    single: optuna.Study, multi: optuna.Study
) -> None:
    seen: set[str] = set()
    for study in (single, multi):
        directions = [d.name.lower() for d in study.directions]
        live = LiveFigure(directions, importance_interval=0.0)
        try:
            live.set_source(lambda s=study: _trials(s), directions, study.metric_names)
            names = [k.name for k in kinds_for(directions)]
            assert [v for _, v in live.tabs.options] == names
            assert _show_every_tab(live) == names
            live.select("importance")
            assert live.importance.wait_idle(30)
            assert set(live.figure.data[0].y) == {p for t in _trials(study) for p in t.params}
        finally:
            live.close()
        seen.update(names)
    assert seen == set(FIGURES)


def test_live_figure_objective_selector_follows_per_objective_tabs(multi: optuna.Study) -> None:
    directions = [d.name.lower() for d in multi.directions]
    complete = [t for t in _trials(multi) if t.values]
    live = LiveFigure(directions, importance_interval=0.0, min_interval=0.0)
    try:
        live.set_source(lambda: _trials(multi), directions, multi.metric_names)
        assert list(live.objective.options) == [("loss", 0), ("cost", 1)]
        for name in ("history", "slice", "edf", "timeline", "pareto"):
            live.select(name)
            shown = live.objective.layout.display != "none"
            assert shown == FIGURES[name].per_objective, name
        live.select("history")
        live.objective.value = 1  # what a click does
        assert live.objective_index == 1
        assert list(live.figure.data[0].y) == [t.values[1] for t in complete]
        assert live.figure.layout.yaxis.title.text == "cost"
        # New trials are appended with the selected objective too.
        live.notify(TrialFinished(99, "COMPLETE", (0.5, -5.0), {}, 0.1, "w"))
        assert live.flush(force=True)
        assert live.figure.data[0].y[-1] == -5.0
        live.set_objective("loss")
        assert live.objective.value == 0 and live.figure.layout.yaxis.title.text == "loss"
        with pytest.raises(ValueError, match="unknown objective 'nope'"):
            live.set_objective("nope")
    finally:
        live.close()
    single = LiveFigure(["minimize"])
    try:
        assert single.objective.layout.display == "none"  # one objective: nothing to choose
    finally:
        single.close()


def test_live_figure_switches_theme_and_ranks_contours_by_importance(
    single: optuna.Study,
) -> None:
    live = LiveFigure(["minimize"], importance_interval=0.0)
    try:
        live.set_source(lambda: _trials(single))
        live.select("contour")
        assert live.importance.wait_idle(30) and live.importance.runs >= 1
        imp = plots.importance_data(single)
        assert live.figure.data[0].name == f"{imp.params[0]} \u00d7 {imp.params[1]}"
        assert live.figure.layout.template.layout.paper_bgcolor == "white"
        live.set_theme("dark")
        assert live.theme == "dark" and live.figure.layout.meta["theme"] == "dark"
        assert live.figure.layout.template.layout.paper_bgcolor == "rgba(0,0,0,0)"
        live.select("timeline")  # other tabs are drawn dark from now on
        assert live.figure.layout.meta["theme"] == "dark"
        with pytest.raises(ValueError, match="unknown theme"):
            live.set_theme("sepia")
    finally:
        live.close()


def _sections(text: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"><h2>', text)


def test_report_has_a_section_for_every_kind(single: optuna.Study, multi: optuna.Study) -> None:
    seen: set[str] = set()
    for study in (single, multi):
        text = report_html(study)
        trials = _trials(study)
        expected = [k for k in kinds_for(study.directions, summary=True) if k.has_data(trials)]
        assert _sections(text) == [k.name for k in expected]
        for kind in expected:
            assert f"<h2>{kind.title}</h2>" in text
        seen.update(_sections(text))
    assert seen == set(FIGURES)


# -- adding a figure is one module plus one registry entry ------------------------------------
def _count_data(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def _count_figure(data: dict[str, int], *, theme: str = "light") -> go.Figure:
    bars = go.Bar(uid="trial_count-bars", x=list(data), y=list(data.values()))
    fig = new_figure("trial_count", "Trials by state", [bars], theme=theme)
    return mark_empty(fig, "No trials yet") if not data else fig


def test_a_new_registry_entry_reaches_the_panel_and_the_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = FigureKind("trial_count", "Trials by state", "Counts", _count_data, _count_figure)
    monkeypatch.setattr(registry, "FIGURES", MappingProxyType({**FIGURES, extra.name: extra}))
    s = optuna.create_study(study_name="plugged")
    s.add_trial(
        create_trial(value=1.0, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)})
    )

    live = LiveFigure(["minimize"], min_interval=0.0)
    try:
        live.set_source(lambda: _trials(s))
        assert ("Counts", "trial_count") in live.tabs.options
        live.select("trial_count")
        assert list(live.figure.data[0].y) == [1]
        s.add_trial(
            create_trial(value=2.0, params={"x": 0.1}, distributions={"x": FloatDistribution(0, 1)})
        )
        live.notify(TrialFinished(1, "COMPLETE", (2.0,), {"x": 0.1}, 0.1, "w"))
        assert live.flush(force=True)
        assert list(live.figure.data[0].y) == [2]
    finally:
        live.close()

    text = report_html(s)
    assert _sections(text)[-1] == "trial_count"
    assert "<h2>Trials by state</h2>" in text
