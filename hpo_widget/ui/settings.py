"""Run settings: the widgets of a :class:`~hpo_widget.config.RunConfig` (study, direction(s),
sampler and pruner with their main options, budget, seed, storage, backend, stop rules) and the
resume switch.

The widgets hold no rules.  :meth:`Settings.config` reads them into a RunConfig and
:meth:`Settings.check` shows that config's own :meth:`~hpo_widget.config.RunConfig.problems`
under the row of the field each one names, so the panel says word for word what
``StudyRunner``, the YAML spec and the CLI say.  A box holding text that is not a number passes
the text on as it is, so the config's check names it in its one wording ("seed: must be a whole
number or empty, got 'abc'").

Storage URLs often carry a database password and notebooks get shared, so the storage box never
holds a password: the real URL stays in :attr:`Settings.storage_url` (Python only) and the box
shows it masked, also when the user types or pastes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ipywidgets as widgets
from optuna.storages import BaseStorage

from ..backends import BACKENDS
from ..config import ConfigProblem, RunConfig, StopRules
from ..samplers import PRUNERS, SAMPLERS, default_pruner_for
from ..space import SearchSpace
from ..storage import DEFAULT_STORAGE_FILE, describe_storage, mask_password, resolve_storage
from ._common import (
    Choice,
    OptionSpecs,
    close_tree,
    error_html,
    fmt_number,
    mark,
    note_html,
    parse_number,
    text_box,
)

__all__ = ["SAMPLER_LABELS", "Settings"]

SAMPLER_LABELS = {
    "tpe": "TPE",
    "random": "Random",
    "grid": "Grid",
    "cmaes": "CMA-ES",
    "qmc": "Quasi-Monte Carlo",
    "gp": "Gaussian process",
    "nsgaii": "NSGA-II",
}
PRUNER_LABELS = {
    "none": "no pruning",
    "median": "Median",
    "successive_halving": "Successive halving",
    "hyperband": "Hyperband",
}
MULTI = "several objectives"
#: The pruner choice that is ``pruner=None``: Optuna's default, which depends on the objectives.
DEFAULT = "default"
#: The main options of each sampler and pruner (see :class:`._common.Choice`).
_SAMPLER_OPTIONS: OptionSpecs = {
    # "random trials first" (the sampler's n_startup_trials) vs "trials before pruning" (the
    # pruner's): one Optuna name, two meanings, so two labels.
    "tpe": {
        "n_startup_trials": (
            "random trials first",
            10,
            "the sampler draws this many trials at random before modelling (n_startup_trials)",
        ),
        "multivariate": ("multivariate", False, "model the parameters jointly, not one by one"),
        "constant_liar": (
            "constant liar",
            True,
            "count running trials as bad, so parallel workers do not sample alike",
        ),
    },
    "cmaes": {
        "n_startup_trials": (
            "random trials first",
            1,
            "trials drawn at random before CMA-ES starts (n_startup_trials)",
        )
    },
    "qmc": {
        "qmc_type": ("", ("sobol", "halton"), "the low-discrepancy sequence"),
        "scramble": ("scramble", False, "randomise the sequence (with the seed)"),
    },
    "gp": {
        "n_startup_trials": (
            "random trials first",
            10,
            "trials drawn at random before the Gaussian process is fitted (n_startup_trials)",
        ),
        "deterministic_objective": (
            "deterministic objective",
            False,
            "the objective returns the same value for the same parameters (no noise model)",
        ),
    },
    "nsgaii": {"population_size": ("population", 50, "trials per generation")},
}
_PRUNER_OPTIONS: OptionSpecs = {
    "median": {
        "n_startup_trials": (
            "trials before pruning",
            5,
            "no trial is pruned until this many trials have finished (n_startup_trials)",
        ),
        "n_warmup_steps": (
            "warm-up steps",
            0,
            "steps each trial reports before it can be pruned (n_warmup_steps)",
        ),
    },
    "successive_halving": {
        "min_resource": ("min resource", "auto", "steps a trial gets before the first rung"),
        "reduction_factor": ("reduction factor", 4, "1 in this many trials goes up each rung"),
    },
    "hyperband": {
        "min_resource": ("min resource", 1, "steps a trial gets before the first rung"),
        "max_resource": ("max resource", "auto", "the most steps a trial reports"),
        "reduction_factor": ("reduction factor", 3, "1 in this many trials goes up each rung"),
    },
}
#: Stop rule -> (label, what it does).
_STOP_RULES = {
    "goal": ("goal", "end the run once the best value is this good (<= minimizing, >= maximizing)"),
    "patience": (
        "patience",
        "end the run once this many finished trials in a row found no better value",
    ),
    "max_failed": (
        "max failed",
        "end the run once this many of its trials raised an error (a broken objective must not "
        "burn the budget)",
    ),
    "min_trials": ("after", "goal and patience wait for this many finished trials"),
}
#: Backend -> its option that has a box of its own.
_BACKEND_BOXES = {"spark": "master", "dask": "address"}
_WIDE = {"description_width": "110px"}


class Settings:
    """The settings part of the panel; :meth:`config` is what :class:`StudyRunner` runs.

    ``config``, and ``options`` over it (as :meth:`RunConfig.from_options` takes them), fill
    the widgets; what has no widget (``retries``, ``storage_proxy``, ...) is passed on as is.

    Example::

        s = Settings(study_name="demo", storage="postgresql://me:secret@db/optuna")
        s.storage.value            # 'postgresql://me:***@db/optuna' (the password never shows)
        s.config().storage         # the real URL, for the runner only
    """

    def __init__(
        self, config: RunConfig | None = None, *, resume: bool = False, **options: Any
    ) -> None:
        config = RunConfig.from_options(config, **options)
        self._base = config
        self._callbacks: list[Callable[[Settings], None]] = []
        self._reported: list[ConfigProblem] = []
        self._quiet = True
        self.study_name = text_box("study", "420px", style=_WIDE)
        self.direction = widgets.Dropdown(
            options=["minimize", "maximize", MULTI], description="direction", style=_WIDE
        )
        tip = "one direction per objective the function returns"
        self.directions = text_box(
            "", "220px", tip, value="minimize, minimize", placeholder="minimize, maximize"
        )
        sampler_names = [(SAMPLER_LABELS.get(k, k), k) for k in SAMPLERS]
        self._sampler = Choice("sampler", sampler_names, _SAMPLER_OPTIONS, style=_WIDE)
        pruner_names = [(DEFAULT, DEFAULT), *((PRUNER_LABELS.get(k, k), k) for k in PRUNERS)]
        tip = "default: Optuna's median pruner; none for several objectives"
        self._pruner = Choice("pruner", pruner_names, _PRUNER_OPTIONS, tip, style=_WIDE)
        self._backend = Choice("backend", list(BACKENDS), {}, style=_WIDE)
        self.sampler, self.sampler_options = self._sampler.dropdown, self._sampler.options
        self.pruner, self.pruner_options = self._pruner.dropdown, self._pruner.options
        self.backend = self._backend.dropdown
        self.sampler_box, self.pruner_box = self._sampler.box, self._pruner.box
        self.backend_box = self._backend.box
        self.pruner_note, self.storage_note = widgets.HTML(), widgets.HTML()
        tip = "total finished trials of the study (0: no limit)"
        self.n_trials = widgets.IntText(
            description="trials", tooltip=tip, style=_WIDE, layout={"width": "220px"}
        )
        self.timeout = widgets.FloatText(
            description="timeout (s)",
            tooltip="seconds for this run (0: none)",
            style={"description_width": "initial"},
            layout={"width": "170px"},
        )
        self.seed = text_box("seed", "220px", placeholder="none", style=_WIDE)
        # Storage: the widget only ever holds the masked text.
        self._storage_object: BaseStorage | None = None
        self.storage_url: str | None = None
        where = f"embedded: ./{DEFAULT_STORAGE_FILE}  (or memory, sqlite:///…, postgresql://…)"
        self.storage = text_box(
            "storage", "560px", placeholder=where, style=_WIDE, continuous_update=False
        )
        tip = "concurrent workers (Spark: task slots); empty: one per core/slot"
        self.workers = text_box("workers", "160px", tip, placeholder="auto")
        where = "local[*] or spark://host:7077 (empty: active session)"
        # Committed on Enter or leaving the box: a panel starts a Spark session for it.
        self.master = text_box("master", "380px", placeholder=where, continuous_update=False)
        self.address = text_box("scheduler", "380px", placeholder="tcp://host:8786 (empty: local)")
        self._backend_boxes = {"spark": self.master, "dask": self.address}
        #: One box per stop rule, in the order of _STOP_RULES (a new rule needs only its entry).
        self.stop_boxes = {
            name: text_box(label, "150px", tip, placeholder="off")
            for name, (label, tip) in _STOP_RULES.items()
        }
        stop = list(self.stop_boxes.values())
        self.resume = widgets.Checkbox(
            value=resume,
            description="resume an existing study of this name",
            indent=False,
            tooltip="off: a study that already has trials is kept and a new one is started",
        )
        self.error = widgets.HTML()  # problems of the options that have no widget
        self.error.add_class("hpo-settings-error")
        #: Field path (or its top-level option) -> the inputs that set it.
        self._bound: dict[str, list[widgets.DOMWidget]] = {
            "study_name": [self.study_name],
            "direction": [self.direction, self.directions],
            "directions": [self.direction, self.directions],
            "sampler": [self.sampler],
            "pruner": [self.pruner],
            "n_trials": [self.n_trials],
            "timeout": [self.timeout],
            "seed": [self.seed],
            "storage": [self.storage],
            "backend": [self.backend],
            "backend_options": [self.backend],
            **{f"backend_options.{_BACKEND_BOXES[k]}": [b] for k, b in self._backend_boxes.items()},
            "n_workers": [self.workers],
            "stop": stop,
            **{f"stop.{name}": [w] for name, w in zip(_STOP_RULES, stop, strict=True)},
        }
        self._row_error: dict[int, widgets.HTML] = {}  # id(input) -> its row's message box
        rows = [
            self._row(self.study_name),
            self._row(self.direction, self.directions),
            self._row(self.sampler, self._sampler.box, inner=self._sampler.inputs()),
            self._row(self.pruner, self._pruner.box, inner=self._pruner.inputs()),
            self._row(self.n_trials, self.timeout),
            self._row(self.seed),
            self._row(self.storage),
            self.storage_note,
            self._row(
                self.backend, self.workers, self._backend.box, inner=[self.master, self.address]
            ),
            self._row(widgets.Label("Stop early", layout={"width": "114px"}), *stop),
        ]
        self.widget = widgets.VBox([*rows, self.resume, self.error])
        self.widget.add_class("hpo-settings")
        self._load(config)
        self._show_options()
        self._quiet = False

        self.storage.observe(self._on_storage, "value")
        for w in self._inputs():
            if w is not self.storage:
                w.observe(lambda _: self._show_options(), "value")

    # -- widgets --------------------------------------------------------------------------
    def _row(self, *children: widgets.Widget, inner: Iterable[Any] = ()) -> widgets.VBox:
        """A line of inputs with the messages of their fields under it; ``inner`` are inputs
        shown inside its boxes (option widgets), whose messages go there too."""
        error = widgets.HTML()
        error.add_class("hpo-field-error")
        for w in (*children, *inner):
            self._row_error[id(w)] = error
        return widgets.VBox([widgets.HBox(list(children)), error])

    @property
    def errors(self) -> list[widgets.HTML]:
        """Every message box: one per row, then the one for options without a widget."""
        return [*dict.fromkeys(self._row_error.values()), self.error]

    def error_of(self, widget: widgets.Widget) -> widgets.HTML:
        """The message box under ``widget``'s row."""
        return self._row_error.get(id(widget), self.error)

    def _inputs(self) -> list[widgets.ValueWidget]:
        bound = dict.fromkeys(w for ws in self._bound.values() for w in ws)
        return [*bound, self.resume, *self._sampler.inputs(), *self._pruner.inputs()]

    def _locked(self) -> set[int]:
        """Inputs showing an object: never editable."""
        choices = (self._sampler, self._pruner, self._backend)
        locked = {id(c.dropdown) for c in choices if c.object is not None}
        return locked | ({id(self.storage)} if self._storage_object is not None else set())

    def _show_options(self) -> None:
        self.directions.layout.display = None if self.direction.value == MULTI else "none"
        self._sampler.show()
        self._pruner.show()
        if self.pruner.value == DEFAULT:  # say what it means here
            n = len(self.directions_list())
            chosen = PRUNER_LABELS[default_pruner_for(n)].lower()
            objectives = "one objective" if n <= 1 else "several objectives"
            self.pruner_note.value = note_html(f"= {chosen} with {objectives}")
            self._pruner.box.children = (self.pruner_note,)
        backend = self.backend.value
        self.workers.description = "slots" if backend == "spark" else "workers"
        box = self._backend_boxes.get(backend)
        self._backend.box.children = (box,) if box is not None else ()
        self._on_change(None)

    def on_change(self, callback: Callable[[Settings], None]) -> None:
        self._callbacks.append(callback)

    def _on_change(self, _change: Any) -> None:
        if self._quiet:
            return
        self._reported = []
        for callback in list(self._callbacks):
            callback(self)

    # -- setters --------------------------------------------------------------------------
    def _load(self, config: RunConfig) -> None:
        self.study_name.value = config.study_name or ""
        self.set_direction(config.directions)
        self._sampler.load(config.sampler, config.sampler_options)
        self._pruner.load(
            DEFAULT if config.pruner is None else config.pruner, config.pruner_options
        )
        backend_options = dict(config.backend_options)
        if (box := self._backend_boxes.get(str(config.backend))) is not None:
            box.value = str(backend_options.pop(_BACKEND_BOXES[str(config.backend)], "") or "")
        self._backend.load(config.backend, backend_options)
        # The budget boxes hold numbers only (0: no limit); a value of another type is lost.
        self.n_trials.value = config.n_trials if isinstance(config.n_trials, int) else 0
        timeout = config.timeout
        self.timeout.value = float(timeout) if isinstance(timeout, int | float) else 0.0
        self.seed.value, self.workers.value = fmt_number(config.seed), fmt_number(config.n_workers)
        for name, box in self.stop_boxes.items():
            box.value = fmt_number(getattr(config.stop, name))
        self.set_storage(config.storage)

    def set_direction(self, directions: Sequence[str] | None) -> None:
        """Show ``directions``; one the dropdown lacks goes in the text box, under which its
        problem shows."""
        if not directions:
            return
        if len(directions) == 1 and directions[0] in self.direction.options:
            self.direction.value = directions[0]
        else:
            self.direction.value = MULTI
            self.directions.value = ", ".join(map(str, directions))

    def set_storage(self, storage: str | BaseStorage | None) -> None:
        """Show ``storage`` masked; the real value is kept for the runner only."""
        if isinstance(storage, BaseStorage):
            self._storage_object = storage
            self.storage_url = None
            self.storage.value = describe_storage(storage)
        else:
            self._storage_object = None
            self.storage_url = None if storage is None else str(storage)
            self.storage.value = mask_password(self.storage_url or "")
        self.storage.disabled = self._storage_object is not None
        self._describe_storage()

    def _on_storage(self, change: dict[str, Any]) -> None:
        text = change["new"]
        if self._storage_object is not None:
            return
        if self.storage_url is not None and text == mask_password(self.storage_url):
            return  # our own masked echo
        self.storage_url = text.strip() or None
        masked = mask_password(text)
        if masked != text:
            self.storage.value = masked  # take the password out of the widget at once
        self._describe_storage()
        self._on_change(None)

    def _describe_storage(self) -> None:
        if self._storage_object is not None:
            note = f"Storage object: {describe_storage(self._storage_object)}."
        else:
            try:
                note = "Studies are kept in " + describe_storage(resolve_storage(self.storage_url))
            except (ValueError, TypeError):
                note = ""  # the config's storage problem shows under the box
            else:
                if self.storage_url is None:
                    note += " (the embedded default; it survives kernel restarts)."
        self.storage_note.value = note_html(note)

    # -- reading --------------------------------------------------------------------------
    def directions_list(self) -> list[str]:
        if self.direction.value != MULTI:
            return [self.direction.value]
        return [d.strip().lower() for d in self.directions.value.split(",") if d.strip()]

    def storage_value(self) -> str | BaseStorage | None:
        return self._storage_object if self._storage_object is not None else self.storage_url

    def config(self) -> RunConfig:
        """The :class:`RunConfig` the widgets say; it may have problems (see :meth:`check`)."""
        backend_options = self._backend.option_values()
        box = self._backend_boxes.get(self.backend.value)
        if box is not None and box.value.strip():
            backend_options[_BACKEND_BOXES[self.backend.value]] = box.value.strip()
        pruner = self._pruner.value
        return RunConfig.from_options(
            self._base,
            study_name=self.study_name.value.strip() or None,
            storage=self.storage_value(),
            directions=self.directions_list(),
            sampler=self._sampler.value,
            sampler_options=self._sampler.option_values(),
            pruner=None if pruner == DEFAULT else pruner,
            pruner_options=self._pruner.option_values(),
            seed=parse_number(self.seed.value, "int"),
            backend=self._backend.value,
            backend_options=backend_options,
            n_workers=parse_number(self.workers.value, "int"),
            n_trials=self.n_trials.value or None,
            timeout=self.timeout.value or None,
            stop=StopRules(
                **{
                    name: parse_number(box.value, StopRules.kind_of(name))
                    for name, box in self.stop_boxes.items()
                }
            ),
        )

    # -- problems -------------------------------------------------------------------------
    def check(
        self, space: SearchSpace | None, *, define_by_run: bool = False
    ) -> list[ConfigProblem]:
        """The config's problems (:meth:`RunConfig.problems`), shown and returned."""
        problems = self.config().problems(space=space, define_by_run=define_by_run)
        self.show(problems)
        return problems

    def targets(self, problem: ConfigProblem) -> list[widgets.DOMWidget]:
        """The inputs that set ``problem``'s field (an option's own box when it has one)."""
        for choice in (self._sampler, self._pruner):
            if problem.root == f"{choice.dropdown.description}_options":
                return [choice.target(problem.field.partition(".")[2])]
        return self._bound.get(problem.field) or self._bound.get(problem.root, [])

    def report(self, problems: Iterable[ConfigProblem]) -> None:
        """Show errors found when the run started (e.g. the database refused the connection)
        next to their fields, until the settings are edited; they do not block Run, so a
        transient failure can simply be retried."""
        self._reported = list(problems)
        self.show([])

    def show(self, problems: Iterable[ConfigProblem]) -> None:
        shown = list(problems)
        shown += [p for p in self._reported if p not in shown]
        bad: set[int] = set()
        messages: dict[int, list[str]] = {}
        for p in shown:
            targets = self.targets(p)
            bad.update(id(w) for w in targets)
            box = self.error_of(targets[0]) if targets else self.error
            messages.setdefault(id(box), []).append(str(p))
        for w in self._inputs():
            mark(w, id(w) in bad)
        for box in self.errors:
            html = error_html(messages.get(id(box), []))
            if box.value != html:
                box.value = html

    def set_disabled(self, disabled: bool) -> None:
        """Lock the inputs that define the study while a run is going."""
        locked = self._locked()
        for w in self._inputs():
            w.disabled = disabled or id(w) in locked

    def close(self) -> None:
        close_tree(self.widget, self.master, self.address, self.pruner_note)
        for choice in (self._sampler, self._pruner, self._backend):
            choice.close()
