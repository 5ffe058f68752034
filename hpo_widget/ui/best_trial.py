"""The best-trial card and the code it exports: the best trial (or a browsable Pareto front)
with "Copy params" and "Insert code cell", and the snippet that re-runs an objective with
given parameters.  Apart from the trials table because it answers a different question
("what do I keep?") and is bound to the objective, not to the rows."""

from __future__ import annotations

import keyword
import pprint
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
from optuna.trial import FrozenTrial, TrialState

from .._tickets import counts_towards_budget
from ._common import esc, fmt_value, note_html
from .best_actions import BestTrialActions

__all__ = ["BestTrialCard", "retrain_snippet"]


def _identifier(name: str | None) -> str | None:
    if name and name.isidentifier() and not keyword.iskeyword(name) and name != "<lambda>":
        return name
    return None


def retrain_snippet(
    params: dict[str, Any], objective: Any = None, *, takes_trial: bool = False
) -> str:
    """Code that re-evaluates the objective with ``params`` (for non-preset objectives)."""
    lines = ["best_params = " + pprint.pformat(params, sort_dicts=False, width=88)]
    name = _identifier(getattr(objective, "__name__", None))
    if name is None:
        lines.append("# use best_params to train your final model")
    elif takes_trial:
        lines += [
            "import optuna",
            "",
            "# FixedTrial replays the parameters through your objective's suggest_* calls",
            f"result = {name}(optuna.trial.FixedTrial(best_params))",
            "result",
        ]
    else:
        lines += ["", f"result = {name}(best_params)", "result"]
    return "\n".join(lines) + "\n"


class BestTrialCard:
    """The best trial (or a browsable Pareto front) with "Copy params" and "Insert code cell".

    ``code_for(params)`` is supplied by the panel: it knows whether the objective is a preset
    (retrain with :meth:`SklearnPreset.retrain_code`) or a plain function.  The buttons are
    front-end code (:class:`~.best_actions.BestTrialActions`) holding the code of the trial
    shown *now*: :meth:`update` regenerates it whenever the best trial (or the chosen Pareto
    trial) changes, so neither the clipboard nor an inserted cell is ever stale.
    """

    def __init__(self, code_for: Callable[[dict[str, Any]], str]) -> None:
        self.code_for = code_for
        self.params: dict[str, Any] | None = None
        self.trial_number: int | None = None
        self._front: dict[int, FrozenTrial] = {}
        self.summary = widgets.HTML(note_html("No completed trial yet."))
        self.summary.add_class("hpo-best")
        self.pareto = widgets.Dropdown(
            description="Pareto trial",
            options=[],
            tooltip="the trials no other trial beats on every objective",
            style={"description_width": "auto"},
            layout={"width": "auto", "display": "none"},
        )
        self.pareto.add_class("hpo-pareto-choice")
        self.pareto.observe(lambda _: self._show_pareto_choice(), "value")
        self.actions = BestTrialActions(self._on_action)
        self.code = widgets.Textarea(layout={"width": "98%", "height": "150px", "display": "none"})
        self.code.add_class("hpo-code")
        self.message = widgets.HTML()
        self.widget = widgets.VBox(
            [self.summary, self.pareto, self.actions, self.message, self.code]
        )
        self._head = ""
        self._directions: list[str] = []

    def update(self, trials: Sequence[FrozenTrial], directions: Sequence[str]) -> None:
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
        if not complete:
            return
        self._directions = list(directions)
        if len(directions) == 1:
            maximize = directions[0] == "maximize"
            best = (max if maximize else min)(complete, key=lambda t: t.values[0])
            self._head = (
                f"<b>Best value {esc(fmt_value(best.values[0]))}</b> "
                f"(trial {best.number} of {sum(1 for t in trials if counts_towards_budget(t))}"
                " finished)"
            )
            self._show(best)
            return
        from ..plots import pareto_data

        front = pareto_data(complete, list(directions)).front_numbers
        by_number = {t.number: t for t in complete}
        self._front = {n: by_number[n] for n in front}
        self._head = f"<b>{len(front)} trial(s) on the Pareto front</b>"
        options = [
            (f"trial {n}: " + ", ".join(fmt_value(v) for v in by_number[n].values), n)
            for n in front
        ]
        keep = self.pareto.value if self.pareto.value in self._front else front[0]
        if list(self.pareto.options) != options:
            self.pareto.options = options  # selects the first option (shown, then replaced)
            self.pareto.value = keep
        self.pareto.layout.display = None
        self._show(self._front[keep])

    def _show_pareto_choice(self) -> None:
        chosen = self._front.get(self.pareto.value) if self.pareto.value is not None else None
        if chosen is not None:
            self._show(chosen)

    def _show(self, trial: FrozenTrial) -> None:
        """Show ``trial`` and make the buttons act on it (the code regenerated if it changed)."""
        head = self._head
        if len(self._directions) > 1:
            values = ", ".join(fmt_value(v) for v in trial.values)
            head += f"; showing trial {trial.number} ({esc(values)})"
        rows = "".join(
            f'<tr><td class="hpo-left">{esc(k)}</td><td>{esc(fmt_value(v))}</td></tr>'
            for k, v in trial.params.items()
        )
        html = f'<div>{head}</div><table class="hpo-table">{rows}</table>'
        if self.summary.value != html:
            self.summary.value = html
        params = dict(trial.params)
        if params != self.params or trial.number != self.trial_number:
            self.params, self.trial_number = params, trial.number
            self.actions.params_text = self._params_text(params)
            self.actions.code = self.code_for(params)
            if self.code.layout.display is None:  # the shown code follows the best trial
                self.code.value = self.actions.code
        self.actions.enabled = True

    @staticmethod
    def _params_text(params: dict[str, Any]) -> str:
        return "best_params = " + pprint.pformat(params, sort_dicts=False, width=88) + "\n"

    def _on_action(self, event: str, error: str) -> None:
        """What the browser reports after a click."""
        n = self.trial_number
        if event == "copied":
            self.message.value = note_html(f"Copied trial {n}'s parameters to the clipboard.")
        elif event == "inserted":
            self.message.value = note_html(
                f"Inserted a cell below the panel with trial {n}'s code."
            )
        elif event == "copy_failed":
            self._reveal(
                self.actions.params_text,
                f"The browser did not allow the clipboard ({error}): select and copy the code.",
            )
        elif event == "insert_unhandled":
            self._reveal(
                self.actions.code,
                "Copy this code into a new cell (in JupyterLab with the hpo_widget extension "
                "enabled, the button inserts it below the panel).",
            )

    def copy_params(self) -> str:
        """The params as code, shown ready to select and copy (for use without a browser)."""
        if self.params is None:
            return ""
        self._reveal(self.actions.params_text, "Select the code below and copy it (Ctrl/Cmd+C).")
        return self.actions.params_text

    def insert_code(self) -> str:
        """The code that retrains with the shown trial's params (shown here too)."""
        if self.params is None:
            return ""
        self._reveal(self.actions.code, "Copy this code into a new cell:")
        return self.actions.code

    def _reveal(self, text: str, note: str) -> None:
        self.code.value = text
        self.code.layout.display = None
        self.message.value = note_html(note)

    def close(self) -> None:
        for w in (self.summary, self.pareto, self.actions, self.code, self.message):
            w.close()
        self.widget.close()
