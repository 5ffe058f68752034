"""The inputs of one parameter kind: :class:`RangeEditor` (float, int), :class:`ChoicesEditor`
(categorical).

Each kind has its own editor class, the way ipywidgets' ``interact`` picks a widget per
abbreviation; a :class:`~.param_row.ParamRow` swaps them when its kind changes.  Bounds are text
boxes, not sliders: a slider rounds (``FloatSlider`` with step 0.1 shows 0.95 as 1.00 and writes
1.0 back) and cannot hold ``1e-5``.  An editor loads and dumps the dict form of
:mod:`hpo_widget.space`; it checks nothing itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets

from ._common import fmt_list, fmt_number, parse_list, parse_number

__all__ = ["KINDS", "ChoicesEditor", "Editor", "RangeEditor", "make_editor", "text_input"]

KINDS = ("float", "int", "categorical")


def text_input(placeholder: str, width: str, tooltip: str = "") -> widgets.Text:
    """A text box that reports its value when the user leaves it (not on every key)."""
    return widgets.Text(
        placeholder=placeholder,
        tooltip=tooltip or placeholder,
        layout=widgets.Layout(width=width),
        continuous_update=False,
    )


class RangeEditor:
    """Inputs of a float or int parameter: low, high, optional step, log scale."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.low = text_input("low", "95px", "lower bound (inclusive)")
        self.high = text_input("high", "95px", "upper bound (inclusive)")
        step_tip = "step between values (empty: continuous)" if kind == "float" else "step (1)"
        self.step = text_input("step", "70px", step_tip)
        self.log = widgets.Checkbox(
            description="log", indent=False, layout=widgets.Layout(width="52px")
        )
        self.box = widgets.HBox([self.low, self.high, self.step, self.log])

    @property
    def fields(self) -> dict[str, widgets.DOMWidget]:
        return {"low": self.low, "high": self.high, "step": self.step, "log": self.log}

    def load(self, spec: Mapping[str, Any]) -> None:
        self.low.value = fmt_number(spec.get("low"))
        self.high.value = fmt_number(spec.get("high"))
        step = spec.get("step")
        self.step.value = "" if step is None or (self.kind == "int" and step == 1) else str(step)
        self.log.value = bool(spec.get("log", False))

    def copy_from(self, other: RangeEditor) -> None:
        """Keep the bounds when the kind switches between float and int."""
        for name in ("low", "high", "step"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if not mine.value:
                mine.value = theirs.value
        self.log.value = other.log.value

    def dump(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.kind}
        for name in ("low", "high", "step"):
            value = parse_number(getattr(self, name).value, self.kind)
            if value is not None:
                spec[name] = value
        if self.log.value:
            spec["log"] = True
        return spec


class ChoicesEditor:
    """Inputs of a categorical parameter: its choices, comma separated (or a JSON list)."""

    kind = "categorical"

    def __init__(self) -> None:
        self.choices = text_input(
            "choices: a, b, c", "318px", 'comma separated; quote "1" to keep it a string'
        )
        self.box = widgets.HBox([self.choices])

    @property
    def fields(self) -> dict[str, widgets.DOMWidget]:
        return {"choices": self.choices}

    def load(self, spec: Mapping[str, Any]) -> None:
        choices = spec.get("choices")
        self.choices.value = fmt_list(choices) if isinstance(choices, list | tuple) else ""

    def dump(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": parse_list(self.choices.value)}


Editor = RangeEditor | ChoicesEditor


def make_editor(kind: str) -> Editor:
    """The editor of ``kind`` (one of :data:`KINDS`)."""
    return ChoicesEditor() if kind == "categorical" else RangeEditor(kind)
