"""Importing a search space into the form (issue 12, item 3): the text is checked by the engine
before anything is replaced, a failed import changes nothing and names the wrong field, and
the last import or preset can be undone in one step."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from hpo_widget import SklearnPreset
from hpo_widget.presets import load_dataset
from hpo_widget.ui import Panel, SpaceForm

NINE = {f"p{i}": {"type": "int", "low": 0, "high": 10 + i} for i in range(9)}


def text(widget: Any) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", widget.value))


def rows(form: SpaceForm) -> list[tuple[str, dict[str, Any]]]:
    return [(r.param_name, r.spec()) for r in form.rows]


@pytest.mark.parametrize(
    ("pasted", "says"),
    [
        ('{"a": {"type": "float", "low": 0, "high": 1}, "b": {"type": "int"', "Could not read"),
        ('{"x": {"type": "floatt", "low": 0, "high": 1}}', "x.type: unknown type 'floatt'"),
        ('{"x": {"type": "float", "low": 0, "high": 1}, "y": {"low": 1}}', "y.type: missing"),
        ("{x: {type: float, low: 1, high: 0}}", "x.high: must be greater than low"),
        ("{}", "no parameter to import"),
    ],
)
def test_a_failed_import_changes_nothing_and_says_why(pasted: str, says: str) -> None:
    form = SpaceForm(NINE)
    form.rows[0].editor.high.value = "99"  # typed by hand, not yet exported anywhere
    before, space = rows(form), form.space
    assert not form.import_text(pasted)
    assert rows(form) == before and form.space == space and form.valid
    message = text(form.io_message)
    assert "Nothing was imported" in message and says in message, message
    assert form.can_undo is None and form.undo_button.layout.display == "none"


def test_an_import_can_be_undone_in_one_step() -> None:
    form = SpaceForm(NINE)
    form.rows[2].name.value = "renamed"
    before = rows(form)
    assert form.import_text('{"x": {"type": "float", "low": 0, "high": 1}}')
    assert [r.param_name for r in form.rows] == ["x"]
    assert form.can_undo == "import" and form.undo_button.description == "Undo import"
    form.undo_button.click()
    assert rows(form) == before and form.valid
    assert form.can_undo is None and not form.undo()  # one step only


def test_a_preset_can_be_undone_in_the_form() -> None:
    X, y = load_dataset("iris")
    panel = Panel(SklearnPreset(["LogisticRegression"], X, y, cv=2), storage="memory")
    try:
        form = panel.form
        assert form.can_undo is None  # the panel's own start is not an undoable step
        before = rows(form)
        assert form.import_text('{"x": {"type": "float", "low": 0, "high": 1}}')
        preset_panel = Panel(storage="memory")
        try:
            assert preset_panel.use_preset(["SVC"], "iris", 2) is not None
            assert preset_panel.form.can_undo == "preset"
            assert preset_panel.form.undo() and not preset_panel.form.rows
        finally:
            preset_panel.close()
        form.undo()
        assert rows(form) == before
    finally:
        panel.close()
