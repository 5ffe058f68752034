"""Smaller panel items of issue 12: the trials table (pruned values apart, stable columns, state
cells that are not links, long names on hover), tooltips that say something (never "null"),
distinct "startup trials" labels, and disabled Run/Stop that look disabled."""

from __future__ import annotations

import html
import re

import optuna
from ipywidgets import Widget
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpo_widget import StudyRunner
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
    assert all(h == heads[0] for h in heads) and heads[0][:5] == [
        "#",
        "state",
        "value",
        "duration",
        "x",
    ]
    # The long name is truncated by CSS, its full text on hover (the title attribute).
    assert f'title="{LONG}"><span class="hpo-trunc">{LONG}</span>' in table.html.value


def test_state_cells_are_not_coloured_like_links() -> None:
    table = TrialsTable()
    table.update(_study().trials, ["minimize"])
    cells = re.findall(r'<td[^>]* class="hpo-left hpo-state">(.*?)</td>', table.html.value)
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


def test_best_trial_code_follows_the_best_trial() -> None:
    from hpo_widget.ui.best_trial import BestTrialCard

    card = BestTrialCard(lambda params: f"retrain({params!r})\n")
    study = _study()
    card.update(study.trials, ["minimize"])
    assert card.trial_number == 4 and card.actions.code == f"retrain({study.trials[4].params!r})\n"
    card.insert_code()  # the code box is open: it must follow too
    dist = {"x": FloatDistribution(0, 1)}
    study.add_trial(create_trial(params={"x": 0.05}, distributions=dist, value=0.5))
    card.update(study.trials, ["minimize"])
    assert card.trial_number == 5
    assert card.actions.code == "retrain({'x': 0.05})\n" == card.code.value
    assert card.actions.params_text == "best_params = {'x': 0.05}\n"


def test_the_pareto_front_is_browsable_in_the_best_trial_card() -> None:
    from hpo_widget.ui.best_trial import BestTrialCard

    card = BestTrialCard(lambda params: f"retrain({params!r})\n")
    study = optuna.create_study(directions=["minimize", "minimize"])
    dist = {"x": FloatDistribution(0, 1)}
    for x, values in [(0.1, (1.0, 4.0)), (0.2, (2.0, 2.0)), (0.3, (4.0, 1.0)), (0.4, (5.0, 5.0))]:
        study.add_trial(create_trial(params={"x": x}, distributions=dist, values=list(values)))
    card.update(study.trials, ["minimize", "minimize"])
    assert card.pareto.layout.display is None
    assert [n for _, n in card.pareto.options] == [0, 1, 2]  # trial 3 is dominated
    assert "3 trial(s) on the Pareto front" in card.summary.value
    card.pareto.value = 2
    assert card.trial_number == 2 and "retrain({'x': 0.3})" in card.actions.code
    assert "showing trial 2" in card.summary.value
    card.update(study.trials, ["minimize", "minimize"])  # a refresh keeps the choice
    assert card.pareto.value == 2


def _rich_study() -> optuna.Study:
    def objective(trial: optuna.Trial) -> float:
        depth = trial.suggest_int("depth", 2, 9)
        booster = trial.suggest_categorical("booster", ["gbtree", "dart"])
        trial.set_user_attr("n_leaves", 2**depth)
        for step in range(3):
            trial.report(depth / (step + 1), step)
        if depth == 9:
            raise ValueError("depth 9 is broken")
        return depth + (0.5 if booster == "dart" else 0.0)

    # Through the runner (seeded): a failure keeps its traceback, as in the panel.
    runner = StudyRunner(objective, storage="memory", n_workers=1, sampler="random", seed=0)
    return runner.start(n_trials=30).wait(timeout=120)


def test_the_table_pins_its_key_columns_and_shows_user_attrs() -> None:
    table = TrialsTable()
    table.update(_rich_study().trials, ["minimize"])
    heads = re.findall(r'<span class="hpo-trunc">(.*?)</span>', table.html.value)
    assert heads == [
        "#",
        "state",
        "value",
        "duration",
        "depth",
        "booster",
        "attr: n_leaves",
        "worker",
    ]
    first_row = table.html.value.split("<tbody><tr>")[1].split("</tr>")[0]
    assert first_row.count("position:sticky") == 4  # number, state, value, duration


def test_filters_by_value_range_and_parameter() -> None:
    study = _rich_study()
    table = TrialsTable()
    table.update(study.trials, ["minimize"])
    table.value_range.value = "..4"
    assert table.rows() and all(t.values[0] <= 4 for t in table.rows())
    table.value_range.value = ""
    table.param.value = "booster"
    table.param_range.value = "dart"
    assert table.rows() and all(t.params["booster"] == "dart" for t in table.rows())
    table.param.value = "depth"
    table.param_range.value = "3..5"
    assert table.rows() and all(3 <= t.params["depth"] <= 5 for t in table.rows())
    table.param_range.value = "3..x"  # a typo: said, and the table keeps its rows
    assert "depth: '3..x' is not a range" in html.unescape(table.filter_message.value)
    assert len(table.rows()) == len([t for t in study.trials if "depth" in t.params])


def test_csv_export_holds_the_filtered_trials_with_attrs() -> None:
    import base64
    import csv
    import io

    study = _rich_study()
    table = TrialsTable()
    table.update(study.trials, ["minimize"])
    table.state.value = "COMPLETE"
    text = table.export_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert [int(r["number"]) for r in rows] == [t.number for t in complete]
    assert all(int(r["user_attrs_n_leaves"]) == 2 ** int(r["depth"]) for r in rows)
    href = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', table.download.value)
    assert href and base64.b64decode(href.group(1)).decode() == text


def test_a_trial_detail_view_shows_everything_about_it() -> None:
    study = _rich_study()
    table = TrialsTable()
    table.update(study.trials, ["minimize"])
    failed = next(t for t in study.trials if t.state == TrialState.FAIL)
    table.detail_number.value = failed.number
    shown = html.unescape(table.detail.value)
    assert f"Trial {failed.number}" in shown and "FAIL" in shown
    assert "n_leaves" in shown and "512" in shown  # user attribute
    assert "intermediate values" in shown and "ValueError: depth 9 is broken" in shown
    table.detail_number.value = 999
    assert "No trial 999" in table.detail.value
