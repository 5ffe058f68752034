"""``%load_ext hpo_widget`` and ``%hpo``, driven through IPython's test shell (no kernel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.testing import globalipapp

from hpo_widget import SearchSpace
from hpo_widget.ui import Panel, close_all


@pytest.fixture
def ip() -> Iterator[Any]:
    shell = globalipapp.get_ipython()  # the module attribute is the real shell after 1st call
    shell.run_line_magic("load_ext", "hpo_widget")
    shell.user_ns["space"] = SearchSpace.from_dict(
        {"x": {"type": "float", "low": -5, "high": 5}, "n": {"type": "int", "low": 1, "high": 3}}
    )
    shell.user_ns["objective"] = lambda params: (params["x"] - 1) ** 2 + params["n"]
    shell.user_ns["space_dict"] = {"y": {"type": "categorical", "choices": ["a", "b"]}}
    yield shell
    close_all()
    for name in ("space", "objective", "space_dict", "hpo_panel", "not_callable"):
        shell.user_ns.pop(name, None)


def test_hpo_opens_a_prefilled_panel_and_runs(ip: Any) -> None:
    ip.run_line_magic(
        "hpo",
        "objective --space space --n-trials 12 --study demo --storage memory "
        "--direction minimize --sampler random --pruner median --workers 2 --seed 4 --run",
    )
    panel = ip.user_ns["hpo_panel"]
    assert isinstance(panel, Panel)
    assert panel.study_name == "demo" and panel.form.space == ip.user_ns["space"]
    s = panel.settings
    assert (s.sampler.value, s.pruner.value, s.seed.value, s.workers.value) == (
        "random",
        "median",
        "4",
        "2",
    )
    study = panel.wait(timeout=60)
    assert study is not None and len(study.trials) == 12
    assert "Finished" in panel.status.value


def test_hpo_alone_opens_the_preset_form(ip: Any) -> None:
    ip.run_line_magic("hpo", "")
    panel = ip.user_ns["hpo_panel"]
    assert panel.objective is None and panel.preset_box is not None
    assert len(panel.form.rows) == 0 and panel.run_button.disabled
    assert panel.config.titles[0] == "Preset"
    assert "SVC" in panel.preset_estimators.options


def test_space_from_a_dict_variable_and_several_directions(ip: Any) -> None:
    ip.run_line_magic(
        "hpo", "objective --space space_dict --direction minimize,maximize --storage memory"
    )
    panel = ip.user_ns["hpo_panel"]
    assert panel.form.space.names == ["y"]
    assert panel.settings.directions_list() == ["minimize", "maximize"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("objectiv --space space", "objective: no variable named 'objectiv'"),
        ("objectiv --space space", "did you mean 'objective'?"),
        ("objective --space spce", "--space: no variable named 'spce'"),
        ("not_callable --space space", "objective: 'not_callable' is a int, not a function"),
        ("objective --space space --backend sprak", "--backend: unknown 'sprak'"),
        ("objective --space space --backend sprak", "did you mean 'spark'?"),
        ("objective --space space --sampler tpee", "--sampler: unknown 'tpee'"),
        ("objective --space space --pruner medain", "--pruner: unknown 'medain'"),
        (
            "objective --space space --direction maximise",
            "--direction: must be 'minimize' or 'maximize', got 'maximise'",
        ),
        ("objective --space space --direction min,maximise", "--direction: must be 'minimize'"),
        ("objective --space space --n-trials many", "argument --n-trials: invalid int value"),
        ("objective --space space --bogus 1", "unrecognized arguments: --bogus"),
        ("objective --space space --patience 0", "--patience: must be a whole number >= 1"),
        ("objective --space space --max-failed -2", "--max-failed: must be a whole number >= 1"),
        ("objective --space space --n-trials -3", "--n-trials: must be a whole number >= 1"),
        ("objective --space space --workers -1", "--workers: must be a whole number >= 0"),
        (
            "objective --space space --goal 1 --direction min,max",
            "--goal: needs a single objective",
        ),
        ("objective --space space --storage ftp://u:pw@h/x", "--storage: cannot use"),
    ],
)
def test_mistakes_are_usage_errors_naming_the_flag(ip: Any, line: str, message: str) -> None:
    ip.user_ns["not_callable"] = 3
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("hpo", line)
    assert message in str(info.value)
    assert "pw@" not in str(info.value)  # passwords masked in messages too


def test_stop_rule_flags_reach_the_panel(ip: Any) -> None:
    ip.run_line_magic(
        "hpo", "objective --space space --storage memory --goal 1.5 --patience 4 --max-failed 2"
    )
    s = ip.user_ns["hpo_panel"].settings
    assert [s.stop_boxes[k].value for k in ("goal", "patience", "max_failed")] == ["1.5", "4", "2"]
    assert s.config().stop.to_dict() == {"goal": 1.5, "patience": 4, "max_failed": 2}
    ip.run_line_magic("hpo", "objective --space space --storage memory --pruner default")
    assert ip.user_ns["hpo_panel"].settings.config().pruner is None


def test_help_prints_the_usage(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ip.user_ns.pop("hpo_panel", None)
    ip.run_line_magic("hpo", "--help")
    out = capsys.readouterr().out
    assert "usage: %hpo" in out and "--max-failed" in out and "--goal" in out
    assert "hpo_panel" not in ip.user_ns  # no panel opened
    for line in ("-h", "objective --n-trials x --help", "--bogus --help"):
        ip.run_line_magic("hpo", line)  # the help, whatever else is on the line
        assert "usage: %hpo" in capsys.readouterr().out
    assert "hpo_panel" not in ip.user_ns


def test_magic_errors_show_no_traceback(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_cell("%hpo objective --space nowhere")
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "UsageError: --space: no variable named 'nowhere'" in text
    assert "Traceback" not in text


def test_reloading_the_extension_is_harmless(ip: Any) -> None:
    ip.run_line_magic("reload_ext", "hpo_widget")
    assert "hpo" in ip.magics_manager.magics["line"]
