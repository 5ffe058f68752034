"""Slice, contour, rank and EDF figures; the objective selector; themes; wide parallel coordinates.

Every asserted value comes from a seeded study or hand-made trials, so a failure means the
extraction changed, not the sampler's luck.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import optuna
import plotly.graph_objects as go
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo_widget.plots import (
    EMPTY_ANNOTATION,
    EMPTY_MESSAGE,
    FIGURES,
    FigureOptions,
    apply_theme,
    build_figures,
    contour_data,
    contour_figure,
    edf_data,
    edf_figure,
    figures_for_study,
    importance_data,
    parallel_coordinates_data,
    parallel_coordinates_figure,
    rank_data,
    rank_figure,
    resolve_objective,
    slice_data,
    slice_figure,
    template,
)
from hpo_widget.plots.contour import TOO_FEW_PARAMS
from hpo_widget.plots.edf import edf_steps
from hpo_widget.plots.parallel_coordinates import shorten
from hpo_widget.plots.rank import rank_fractions
from hpo_widget.plots.slice import jitter
from hpo_widget.plots.theme import check_theme


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    n_layers = trial.suggest_int("n_layers", 1, 4)
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop"])
    if optimizer == "sgd":
        trial.suggest_float("momentum", 0.0, 0.99)  # conditional
    if trial.number % 9 == 4:
        raise ValueError("boom")
    if trial.number % 11 == 6:
        raise optuna.TrialPruned()
    return (x - 1.0) ** 2 + abs(math.log10(lr) + 3) + 0.1 * n_layers


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    s = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    s.optimize(_objective, n_trials=60, catch=(ValueError,))
    return s


@pytest.fixture(scope="module")
def mo_study() -> optuna.Study:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_float("y", 0.0, 1.0)
        return x, (1.0 - x) ** 2 + 10 * y

    s = optuna.create_study(
        directions=["minimize", "maximize"], sampler=optuna.samplers.RandomSampler(seed=3)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        s.set_metric_names(["loss", "gain"])
    s.optimize(objective, n_trials=40)
    return s


def _trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False)


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in _trials(study) if t.state == TrialState.COMPLETE]


def _empty_text(fig: go.Figure) -> str | None:
    return next((str(a.text) for a in fig.layout.annotations if a.name == EMPTY_ANNOTATION), None)


def _uids(fig: go.Figure) -> list[str]:
    return [t.uid for t in fig.data]


_DISTS: dict[str, BaseDistribution] = {
    "a": FloatDistribution(0.0, 1.0),
    "b": FloatDistribution(0.0, 1.0),
}


def _trial(
    value: float, constraints: dict[str, float] | None = None, **params: float
) -> FrozenTrial:
    dists = {k: _DISTS[k] for k in params}
    return create_trial(value=value, params=params, distributions=dists, constraints=constraints)


def _grid_trials(points: list[tuple[float, float, float]]) -> list[FrozenTrial]:
    return [_trial(v, a=a, b=b) for a, b, v in points]


# -- slice ------------------------------------------------------------------------------------
def test_slice_columns_kinds_and_conditional_params(study: optuna.Study) -> None:
    data = slice_data(_trials(study), study.direction)
    complete = _complete(study)
    assert data.numbers == [t.number for t in complete]
    assert data.objective == [t.value for t in complete]
    cols = {c.name: c for c in data.params}
    # Suggestion order without importances; every parameter gets a panel.
    assert [c.name for c in data.params] == ["x", "lr", "n_layers", "optimizer", "momentum"]
    assert not data.ranked and data.n_params == 5
    assert cols["lr"].kind == "log" and cols["n_layers"].kind == "int"
    assert cols["optimizer"].labels == ["adam", "sgd", "rmsprop"]
    for t, v in zip(complete, cols["optimizer"].values, strict=True):
        assert cols["optimizer"].labels[int(v or 0)] == t.params["optimizer"]
    for t, v in zip(complete, cols["momentum"].values, strict=True):
        assert (v is None) == (t.params["optimizer"] != "sgd")

    fig = slice_figure(data)
    assert _uids(fig)[:2] == ["slice-p0", "slice-infeasible0"] and len(fig.data) == 10
    assert fig.layout.xaxis2.type == "log"  # lr
    assert list(fig.layout.xaxis4.ticktext) == ["adam", "sgd", "rmsprop"]
    n_sgd = sum(t.params["optimizer"] == "sgd" for t in complete)
    assert len(fig.data[8].x) == n_sgd  # the momentum panel holds only trials that had it
    assert fig.layout.yaxis2.matches == "y"  # one objective scale for every panel
    assert fig.layout.xaxis3.dtick == 1  # n_layers: whole-number ticks
    # Categorical points are spread, but never across to the neighbouring choice.
    opt = np.asarray(fig.data[6].x)
    assert np.all(np.abs(opt - np.rint(opt)) <= 0.15 + 1e-9)
    assert not fig.layout.meta["empty"]


def test_slice_order_cap_and_objective(study: optuna.Study, mo_study: optuna.Study) -> None:
    ranked = slice_data(_trials(study), param_order=["optimizer", "nope", "lr"], max_params=3)
    assert [c.name for c in ranked.params] == ["optimizer", "lr", "x"] and ranked.ranked
    fig = slice_figure(ranked)
    assert fig.layout.title.text == "Slice plot"
    assert fig.layout.title.subtitle.text == "The most important 3 of 5 parameters"
    assert [c.name for c in slice_data(_trials(study), params=["lr"]).params] == ["lr"]

    gain = slice_data(_trials(mo_study), mo_study.directions, target_index=1, target_name="gain")
    assert gain.direction == "maximize" and gain.target_name == "gain"
    assert gain.objective == [t.values[1] for t in _trials(mo_study)]
    with pytest.raises(ValueError, match="out of range"):
        slice_data(_trials(mo_study), mo_study.directions, target_index=2)


def test_slice_jitter_is_stable_per_trial() -> None:
    a = jitter(np.array([0, 1, 2, 3, 10_000]))
    assert np.array_equal(a, jitter(np.array([0, 1, 2, 3, 10_000])))
    assert np.all(np.abs(a) <= 0.15) and len(set(a.tolist())) == 5
    assert jitter(np.array([3]))[0] == a[3]  # the same trial lands at the same place


def test_slice_empty_one_trial_failed_and_infeasible() -> None:
    assert _empty_text(slice_figure(slice_data([]))) == EMPTY_MESSAGE
    failed = [create_trial(state=TrialState.FAIL), create_trial(state=TrialState.PRUNED)]
    assert slice_data(failed).is_empty
    no_params = slice_figure(slice_data([create_trial(value=1.0)]))
    assert _empty_text(no_params) == "No parameters to show"
    one = slice_data(_grid_trials([(0.5, 0.5, 2.0)]))
    assert not one.is_empty and slice_figure(one).data[0].x.tolist() == [0.5]
    s = optuna.create_study()
    s.add_trial(_trial(1.0, a=0.1))
    s.add_trial(_trial(0.5, {"c": 1.0}, a=0.2))
    fig = slice_figure(slice_data(_trials(s)))
    assert list(fig.data[0].x) == [0.1] and list(fig.data[1].x) == [0.2]  # infeasible apart
    assert fig.data[1].showlegend


# -- contour ----------------------------------------------------------------------------------
def test_contour_pairs_follow_importances_then_suggestion_order(study: optuna.Study) -> None:
    first = contour_data(_trials(study))
    assert [c.name for c in first.params] == ["x", "lr", "n_layers"] and not first.ranked
    assert [(p.x, p.y) for p in first.pairs] == [(0, 1), (0, 2), (1, 2)]
    imp = importance_data(study)
    ranked = contour_data(_trials(study), param_order=imp.params)
    assert [c.name for c in ranked.params] == imp.params[:3] and ranked.ranked
    four = contour_data(_trials(study), max_params=4)
    assert len(four.pairs) == 6
    fig = contour_figure(first)
    parts = ("z", "points", "infeasible")
    assert _uids(fig) == [f"contour-{p}{i}" for i in range(3) for p in parts]
    assert fig.layout.xaxis.type is None and fig.layout.yaxis.type == "log"  # x vs lr
    assert fig.layout.coloraxis.reversescale is True  # minimizing: best is darkest
    assert fig.layout.title.subtitle.text == "Pairs of the first 3 of 5 parameters"


def test_contour_cells_hold_the_mean_of_their_feasible_trials() -> None:
    # A 3 x 3 grid of distinct values gives exactly three grid points per axis.
    points = [(a, b, 10 * a + b) for a in (0.0, 0.5, 1.0) for b in (0.0, 0.5, 1.0)]
    points.append((0.0, 0.0, 4.0))  # a second trial in the corner cell
    data = contour_data(_grid_trials(points))
    (pair,) = data.pairs
    assert pair.xs == [0.0, 0.5, 1.0] and pair.ys == [0.0, 0.5, 1.0]
    assert pair.z[0][0] == pytest.approx(2.0)  # mean of 0.0 and 4.0
    assert pair.z[2][1] == pytest.approx(6.0)  # a=0.5, b=1.0
    assert pair.rows == list(range(10))
    # At most ``bins`` grid points however many distinct values.
    rng = np.random.default_rng(0)
    many = _grid_trials([(float(a), float(b), 1.0) for a, b in rng.random((500, 2))])
    (big,) = contour_data(many, bins=12).pairs
    assert len(big.xs) == 12 and len(big.z) == 12 and len(big.z[0]) == 12


def test_contour_log_categorical_conditional_and_degenerate_axes(study: optuna.Study) -> None:
    data = contour_data(_trials(study), params=["lr", "optimizer", "momentum"])
    lr_opt, lr_mom, opt_mom = data.pairs
    assert lr_opt.ys == [0.0, 1.0, 2.0]  # one grid point per choice
    logs = np.log10(lr_opt.xs)
    assert np.allclose(np.diff(logs), logs[1] - logs[0])  # log-spaced grid points
    sgd = [i for i, t in enumerate(_complete(study)) if t.params["optimizer"] == "sgd"]
    assert lr_mom.rows == sgd and opt_mom.rows == sgd  # only trials having both
    assert len(opt_mom.xs) == 3 and all(  # momentum only exists for "sgd"
        v is None for row in opt_mom.z for i, v in enumerate(row) if i != 1
    )
    same = contour_data(_grid_trials([(0.5, 0.1, 1.0), (0.5, 0.9, 2.0)]))
    assert same.pairs[0].z == []  # a single value of "a": no surface, points only
    assert not contour_figure(same).layout.meta["empty"]


def test_contour_empty_states() -> None:
    assert _empty_text(contour_figure(contour_data([]))) == EMPTY_MESSAGE
    one_param = [_trial(v, a=v) for v in (0.1, 0.2)]
    fig = contour_figure(contour_data(one_param))
    assert _empty_text(fig) == TOO_FEW_PARAMS
    assert _uids(fig) == ["contour-z0", "contour-points0", "contour-infeasible0"]


# -- rank -------------------------------------------------------------------------------------
def test_rank_fractions_ties_and_direction() -> None:
    assert rank_fractions([3.0, 1.0, 2.0], maximize=False) == [1.0, 0.0, 0.5]
    assert rank_fractions([3.0, 1.0, 2.0], maximize=True) == [0.0, 1.0, 0.5]
    assert rank_fractions([1.0, 1.0, 2.0], maximize=False) == [0.25, 0.25, 1.0]
    assert rank_fractions([5.0], maximize=False) == [0.5]
    assert rank_fractions([], maximize=False) == []


def test_rank_data_and_figure(study: optuna.Study, mo_study: optuna.Study) -> None:
    data = rank_data(_trials(study))
    best = data.objective.index(min(data.objective))
    assert data.rank[best] == 0.0 and max(data.rank) == 1.0
    assert data.pairs == [(0, 1), (0, 2), (1, 2)]
    assert data.ticks[0] == (0.0, min(data.objective))
    assert data.ticks[-1] == (1.0, max(data.objective))
    fig = rank_figure(data)
    assert _uids(fig) == [f"rank-{p}{i}" for i in range(3) for p in ("p", "infeasible")]
    assert list(fig.layout.coloraxis.colorbar.tickvals) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert fig.layout.yaxis.type == "log"
    gain = rank_data(_trials(mo_study), mo_study.directions, target_index=1)
    best_gain = gain.objective.index(max(gain.objective))
    assert gain.rank[best_gain] == 0.0  # maximizing: the largest value ranks best
    assert gain.ticks[0][1] == max(gain.objective)
    assert _empty_text(rank_figure(rank_data([]))) == EMPTY_MESSAGE


# -- EDF --------------------------------------------------------------------------------------
def test_edf_steps_match_the_definition() -> None:
    values = [3.0, 1.0, 2.0, 2.0, 5.0]
    x, y = edf_steps(values)
    assert x == [1.0, 2.0, 3.0, 5.0]
    assert y == [sum(v <= xi for v in values) / len(values) for xi in x]
    rng = np.random.default_rng(1)
    many = rng.normal(size=10_000).tolist()
    xs, ys = edf_steps(many, max_points=500)
    assert len(xs) <= 500 and xs[-1] == max(many) and ys[-1] == 1.0
    assert xs == sorted(xs) and ys == sorted(ys)
    assert edf_steps([]) == ([], [])


def test_edf_lines_latest_quarter_and_objective(
    study: optuna.Study, mo_study: optuna.Study
) -> None:
    data = edf_data(_trials(study))
    complete = _complete(study)
    all_line, latest = data.lines
    assert all_line.n_trials == len(complete) and all_line.y[-1] == 1.0
    assert latest.name == "Latest 25%" and latest.n_trials == round(len(complete) / 4)
    latest_values = sorted(t.value for t in complete[-latest.n_trials :])
    assert latest.x == sorted(set(latest_values))
    fig = edf_figure(data)
    assert _uids(fig) == ["edf-all", "edf-latest"]
    assert fig.layout.xaxis.title.text == "Objective value (min)"
    few = edf_data(complete[:5])
    assert len(few.lines) == 1 and not edf_figure(few).data[1].showlegend
    gain = edf_data(_trials(mo_study), mo_study.directions, target_index=1, target_name="gain")
    assert edf_figure(gain).layout.xaxis.title.text == "gain (max)"
    assert _empty_text(edf_figure(edf_data([create_trial(state=TrialState.FAIL)]))) is not None


# -- registry: objective selector and importance order ----------------------------------------
def test_resolve_objective_by_index_name_and_query_string() -> None:
    names = ("loss", "gain")
    assert resolve_objective(None, 2, names) is None
    assert resolve_objective(1, 2, names) == 1
    assert resolve_objective("gain", 2, names) == 1
    assert resolve_objective("1", 2, names) == 1
    with pytest.raises(ValueError, match="unknown objective 'cost'; choose loss, gain"):
        resolve_objective("cost", 2, names)
    with pytest.raises(ValueError, match="out of range"):
        resolve_objective(2, 2, names)


def test_per_objective_kinds_follow_the_selected_objective(mo_study: optuna.Study) -> None:
    trials, directions = _trials(mo_study), list(mo_study.directions)
    per_objective = [n for n, k in FIGURES.items() if k.per_objective]
    assert per_objective == [
        "history",
        "importance",
        "parallel_coordinates",
        "slice",
        "contour",
        "rank",
        "edf",
    ]
    kinds = [FIGURES[n] for n in per_objective]
    for objective in (1, "gain"):
        options = FigureOptions(("loss", "gain"), objective=objective)
        figs = build_figures(trials, directions, options, kinds=kinds)
        assert figs["history"].layout.yaxis.title.text == "gain"
        assert max(figs["history"].data[0].y) == max(t.values[1] for t in trials)
        assert "gain" in figs["importance"].layout.xaxis.title.text
        assert figs["parallel_coordinates"].data[0].dimensions[0].label == "gain"
        assert figs["edf"].layout.xaxis.title.text == "gain (max)"
    default = build_figures(trials, directions, FigureOptions(("loss", "gain")), kinds=kinds)
    assert default["history"].layout.yaxis.title.text == "loss"
    assert "Pareto front" in default["importance"].layout.xaxis.title.text
    with pytest.raises(ValueError, match="unknown objective"):
        FIGURES["history"].build(trials, directions, FigureOptions(("loss",), objective="x"))


def test_build_figures_hands_importances_to_the_parameter_figures(study: optuna.Study) -> None:
    imp = importance_data(study)
    figs = build_figures(_trials(study), study.directions)
    assert figs["contour"].data[0].name == f"{imp.params[0]} \u00d7 {imp.params[1]}"
    assert figs["slice"].layout.xaxis.title.text == imp.params[0]
    assert "most important" in figs["rank"].layout.title.subtitle.text
    # Without the importances (not computed): the first parameters in suggestion order.
    fast = build_figures(_trials(study), study.directions, compute_slow=False)
    assert fast["contour"].data[0].name == "x \u00d7 lr"
    # A caller's own order wins over the computed one.
    mine = build_figures(
        _trials(study), study.directions, FigureOptions(param_order=("optimizer", "x"))
    )
    assert mine["contour"].data[0].name == "optimizer \u00d7 x"


def test_figures_for_study_passes_objective_and_theme(mo_study: optuna.Study) -> None:
    figs = figures_for_study(mo_study, importance=False, objective="gain", theme="dark")
    assert {"slice", "contour", "rank", "edf"} <= set(figs)
    assert all(f.layout.meta["theme"] == "dark" for f in figs.values())
    assert figs["edf"].layout.xaxis.title.text == "gain (max)"


# -- themes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FIGURES))
def test_every_kind_builds_in_the_dark_theme(name: str, study: optuna.Study) -> None:
    kind = FIGURES[name]
    directions = list(study.directions) if kind.applies(study.directions) else ["min", "max"]
    directions = ["minimize", "minimize"] if name == "pareto" else directions
    trials = _trials(study) if name != "pareto" else []
    fig = kind.build(trials, directions, theme="dark")
    assert fig.layout.meta["theme"] == "dark"
    assert fig.layout.template.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert fig.layout.template.layout.plot_bgcolor == "rgba(0,0,0,0)"
    assert fig.to_plotly_json()  # serializable as sent to the browser


def test_theme_templates_and_switching() -> None:
    light, dark = template("light"), template("dark")
    assert template() is light and light.layout.paper_bgcolor == "white"
    assert dark.layout.font.color == "#e5e7eb" and dark.layout.xaxis.gridcolor == "#334155"
    assert dark.layout.annotationdefaults.font.color != light.layout.annotationdefaults.font.color
    fig = edf_figure(edf_data([]))
    assert fig.layout.template.layout.paper_bgcolor == "white"
    apply_theme(fig, "dark")
    assert fig.layout.template.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert fig.layout.meta["theme"] == "dark" and fig.layout.meta["kind"] == "edf"
    with pytest.raises(ValueError, match="unknown theme 'blue'; choose one of light, dark"):
        check_theme("blue")
    with pytest.raises(ValueError, match="unknown theme"):
        FIGURES["edf"].build([], ["minimize"], theme="blue")


# -- parallel coordinates with many parameters ------------------------------------------------
def _wide_trials(n_params: int, n_trials: int = 12) -> list[FrozenTrial]:
    dists: dict[str, BaseDistribution] = {
        f"RandomForest__param_number_{i}": FloatDistribution(0.0, 1.0) for i in range(n_params)
    }
    dists["RandomForest__criterion"] = CategoricalDistribution(["gini", "entropy"])
    dists["RandomForest__max_depth"] = IntDistribution(1, 32, log=True)
    rng = np.random.default_rng(5)
    out = []
    for i in range(n_trials):
        params: dict[str, object] = {name: float(rng.random()) for name in list(dists)[:n_params]}
        params["RandomForest__criterion"] = ["gini", "entropy"][i % 2]
        params["RandomForest__max_depth"] = int(rng.integers(1, 33))
        out.append(create_trial(value=float(i), params=params, distributions=dists))
    return out


def test_parallel_coordinates_stay_readable_at_twelve_parameters() -> None:
    data = parallel_coordinates_data(_wide_trials(10))
    fig = parallel_coordinates_figure(data)
    (trace,) = fig.data
    labels = [d.label for d in trace.dimensions]
    full = fig.layout.meta["axis_names"]
    assert len(labels) == len(full) == 13
    assert full[1:] == [a.name + (" (log)" if a.kind == "log" else "") for a in data.axes]
    assert all(len(label) <= 18 for label in labels)
    assert len(set(labels)) == len(labels)  # shortened, still distinct (ends are kept)
    assert trace.labelangle == -35
    assert fig.layout.width == 70 + 130 + 96 * 13 and fig.layout.height >= 500
    note = next(a for a in fig.layout.annotations if a.name == "axis-names")
    for short, name in zip(labels, full, strict=True):
        if short != name:
            assert f"{short} = {name}" in note.text.replace("<br>", " ")
    few = parallel_coordinates_figure(parallel_coordinates_data(_wide_trials(2)))
    assert few.data[0].labelangle == -20 and few.layout.width is None


def test_shorten_keeps_both_ends() -> None:
    assert shorten("RandomForest__max_depth", 18) == "Random\u2026__max_depth"
    assert len(shorten("RandomForest__max_depth", 18)) == 18
    assert shorten("short", 18) == "short"


# -- the server's figures route ---------------------------------------------------------------
class _Entry:
    """Just what ``figures_json`` reads of a ``StorageEntry``: a lock, a cache, a storage."""

    def __init__(self, storage: optuna.storages.BaseStorage) -> None:
        import threading

        self.lock = threading.RLock()
        self.cache: dict[object, object] = {}
        self._storage = storage

    def open(self) -> optuna.storages.BaseStorage:
        return self._storage


def test_server_figures_follow_objective_and_theme(mo_study: optuna.Study) -> None:
    import json

    from hpo_widget.server._figures import figures_json

    storage = optuna.storages.InMemoryStorage()
    served = optuna.create_study(storage=storage, study_name="mo", directions=mo_study.directions)
    served.add_trials(_trials(mo_study))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        served.set_metric_names(mo_study.metric_names)
    entry = _Entry(storage)
    kinds = ["history", "edf", "contour"]
    default, _ = figures_json(entry, "mo", kinds, "t1")  # type: ignore[arg-type]
    gain, _ = figures_json(entry, "mo", kinds, "t1", objective="gain", theme="dark")  # type: ignore[arg-type]
    assert json.loads(default["edf"])["layout"]["xaxis"]["title"]["text"] == "loss (min)"
    dark = json.loads(gain["edf"])["layout"]
    assert dark["xaxis"]["title"]["text"] == "gain (max)" and dark["meta"]["theme"] == "dark"
    again, _ = figures_json(entry, "mo", kinds, "t1", objective=1, theme="dark")  # type: ignore[arg-type]
    assert again == gain  # the same objective by index: served from the cache
    with pytest.raises(ValueError, match="unknown objective"):
        figures_json(entry, "mo", kinds, "t1", objective="cost")  # type: ignore[arg-type]


def test_report_has_the_new_sections_with_their_subtitles(study: optuna.Study) -> None:
    from hpo_widget.plots import report_html

    text = report_html(study)
    for name in ("slice", "contour", "rank", "edf"):
        assert f'<section id="{name}"><h2>{FIGURES[name].title}</h2>' in text
    assert '<p class="meta">Pairs of the most important 3 of 5 parameters</p>' in text
