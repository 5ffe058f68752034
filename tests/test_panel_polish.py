"""Smaller panel items of issue 12: the trials table (pruned values apart, stable columns, state
cells that are not links, long names on hover), tooltips that say something (never "null"),
distinct "startup trials" labels, and disabled Run/Stop that look disabled."""

from __future__ import annotations

import re

import optuna
from ipywidgets import Widget
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpo_widget.ui import Panel
from hpo_widget.ui.settings import Settings
from hpo_widget.ui.trials_table import PRUNED_VALUE_NOTE, TrialsTable

LONG = "RandomForest__min_samples_leaf_fraction"


def _study() -> optuna.Study:
    study = optuna.create_study()
    dist = {"x": FloatDistribution(0, 1)}
    for x, value in [(0.5, 3.0), (0.1, 2.0), (0.9, 5.0)]:
        study.add_trial(create_trial(params={"x": x}, distributions=dist, value=value))
    # Pruned trials carry their last intermediate value: better than every complete one.
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED, params={"x": 0.3}, distributions=dist, value=0.1,
            intermediate_values={0: 0.1},
        )
    )  # fmt: skip
    both = {"x": FloatDistribution(0, 1), LONG: FloatDistribution(0, 1)}
    study.add_trial(create_trial(params={LONG: 0.2, "x": 0.4}, distributions=both, value=1.0))
    return study


def test_pruned_trials_are_ranked_apart_and_shown_apart() -> None:
    table = TrialsTable()
    table.update(_study().trials, ["minimize"])
    table.sort.value = "value"
    order = [(t.state.name, t.values[0]) for t in table.rows()]
    assert order == [
        ("COMPLETE", 1.0), ("COMPLETE", 2.0), ("COMPLETE", 3.0), ("COMPLETE", 5.0),
        ("PRUNED", 0.1),
    ]  # fmt: skip
    table.sort.value = "-value"
    assert table.rows()[-1].state == TrialState.PRUNED  # still after the complete ones
    assert f'class="hpo-pruned" title="{PRUNED_VALUE_NOTE}"' in table.html.value


def test_columns_keep_their_order_whatever_the_sort() -> None:
    table = TrialsTable()
    table.update(_study().trials, ["minimize"])
    heads = []
    for key in ("number", "value", "-value", "-duration"):
        table.sort.value = key
        heads.append(re.findall(r'<th[^>]*title="([^"]*)"', table.html.value))
    assert all(h == heads[0] for h in heads) and heads[0][:4] == ["#", "state", "value", "x"]
    # The long name is truncated by CSS, its full text on hover (the title attribute).
    assert f'title="{LONG}"><span class="hpo-trunc">{LONG}</span>' in table.html.value


def test_state_cells_are_not_coloured_like_links() -> None:
    table = TrialsTable()
    table.update(_study().trials, ["minimize"])
    cells = re.findall(r'<td class="hpo-left hpo-state">(.*?)</td>', table.html.value)
    assert cells and all(re.fullmatch(r'<span style="color:#\w+">●</span> \w+', c) for c in cells)


def _all_widgets(root: Widget) -> list[Widget]:
    out, stack = [], [root]
    while stack:
        w = stack.pop()
        out.append(w)
        stack.extend(getattr(w, "children", ()) or ())
    return out


def test_no_tooltip_reads_null_or_repeats_its_label() -> None:
    panel = Panel(storage="memory")
    try:
        assert panel.use_preset(["SVC"], "iris", 2) is not None
        settings = panel.settings
        option_widgets = [
            w
            for choices in (settings.sampler_options, settings.pruner_options)
            for options in choices.values()
            for w, _ in options.items.values()
        ]
        for w in _all_widgets(panel.widget) + option_widgets:
            if w.has_trait("tooltip"):
                assert w.tooltip is not None, f"{type(w).__name__} {w.description!r}"
                label = getattr(w, "description", "") or ""
                assert not label or w.tooltip.strip().lower() != label.strip().lower()
        for w in option_widgets:  # every option says what it does
            assert w.tooltip, w.description
    finally:
        panel.close()


def test_sampler_and_pruner_startup_trials_have_different_labels() -> None:
    s = Settings(sampler="tpe", pruner="median")
    sampler = s.sampler_options["tpe"].items["n_startup_trials"][0]
    pruner = s.pruner_options["median"].items["n_startup_trials"][0]
    assert sampler.description != pruner.description
    assert "random" in sampler.description and "pruning" in pruner.description


def test_disabled_run_and_stop_lose_their_colour() -> None:
    panel = Panel(storage="memory")  # no objective yet: Run disabled, nothing to stop
    try:
        run, stop = panel.run_button, panel.stop_button
        assert run.disabled and run.button_style == ""
        assert stop.disabled and stop.button_style == ""
        assert panel.use_preset(["LogisticRegression"], "iris", 2) is not None
        assert not run.disabled and run.button_style == "success"
    finally:
        panel.close()
