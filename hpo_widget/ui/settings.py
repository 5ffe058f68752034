"""Run settings: study, direction(s), sampler and pruner with their main options, budget, seed,
storage, backend and resume.

:meth:`Settings.check` explains combinations that cannot work *before* a run starts (a pruner
with several objectives, the grid sampler with a continuous float, a sampler whose optional
package is missing), each message attached to the field that has to change.

Storage URLs often carry a database password and notebooks get shared, so the storage box never
holds a password: the real URL stays in :attr:`Settings.storage_url` (Python only) and the box
shows it masked, also when the user types or pastes one.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from optuna.storages import BaseStorage

from ..backends import BACKENDS, Backend
from ..samplers import PRUNERS, SAMPLERS, _grid_from_space
from ..space import SearchSpace
from ..storage import DEFAULT_STORAGE_FILE, describe_storage, mask_password, resolve_storage
from ._common import error_html, mark, note_html

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
_NEEDS = {"gp": ("torch", "pip install torch"), "cmaes": ("cmaes", "pip install cmaes")}
_NEEDS.update(qmc=("scipy", "pip install scipy"))


def _int_box(description: str, value: int, tooltip: str = "") -> widgets.IntText:
    return widgets.IntText(
        value=value,
        description=description,
        tooltip=tooltip or description,
        style={"description_width": "initial"},
        layout={"width": "190px"},
    )


def _check(description: str, value: bool, tooltip: str = "") -> widgets.Checkbox:
    return widgets.Checkbox(
        value=value,
        description=description,
        tooltip=tooltip or description,
        indent=False,
        layout={"width": "auto", "margin": "0 12px 0 8px"},
    )


class _Options:
    """Option widgets of one sampler or pruner; only values that differ from Optuna's
    defaults are passed on, so the defaults stay Optuna's (and specs stay small)."""

    def __init__(self, items: dict[str, tuple[widgets.ValueWidget, Any]]) -> None:
        self.items = items
        self.box = widgets.HBox([w for w, _ in items.values()])

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (w, default) in self.items.items():
            value = w.value
            if isinstance(default, str) and isinstance(value, str):
                value = value.strip()
                if value != default:
                    out[key] = int(value) if value.isdigit() else value
            elif value != default:
                out[key] = value
        return out

    def load(self, options: dict[str, Any]) -> None:
        for key, value in options.items():
            if key in self.items:
                w, default = self.items[key]
                w.value = str(value) if isinstance(default, str) else value


def _sampler_options() -> dict[str, _Options]:
    return {
        "tpe": _Options(
            {
                "n_startup_trials": (_int_box("startup trials", 10, "random trials first"), 10),
                "multivariate": (_check("multivariate", False, "model parameters jointly"), False),
                "constant_liar": (
                    _check("constant liar", True, "avoid parallel workers sampling alike"),
                    True,
                ),
            }
        ),
        "random": _Options({}),
        "grid": _Options({}),
        "cmaes": _Options({"n_startup_trials": (_int_box("startup trials", 1), 1)}),
        "qmc": _Options(
            {
                "qmc_type": (
                    widgets.Dropdown(options=["sobol", "halton"], value="sobol", description=""),
                    "sobol",
                ),
                "scramble": (_check("scramble", False), False),
            }
        ),
        "gp": _Options(
            {
                "n_startup_trials": (_int_box("startup trials", 10), 10),
                "deterministic_objective": (_check("deterministic objective", False), False),
            }
        ),
        "nsgaii": _Options({"population_size": (_int_box("population", 50), 50)}),
    }


def _pruner_options() -> dict[str, _Options]:
    def text(description: str, value: str) -> widgets.Text:
        return widgets.Text(
            value=value,
            description=description,
            style={"description_width": "initial"},
            layout={"width": "190px"},
        )

    return {
        "none": _Options({}),
        "median": _Options(
            {
                "n_startup_trials": (_int_box("startup trials", 5), 5),
                "n_warmup_steps": (_int_box("warm-up steps", 0), 0),
            }
        ),
        "successive_halving": _Options(
            {
                "min_resource": (text("min resource", "auto"), "auto"),
                "reduction_factor": (_int_box("reduction factor", 4), 4),
            }
        ),
        "hyperband": _Options(
            {
                "min_resource": (_int_box("min resource", 1), 1),
                "max_resource": (text("max resource", "auto"), "auto"),
                "reduction_factor": (_int_box("reduction factor", 3), 3),
            }
        ),
    }


class Settings:
    """The settings part of the panel; :meth:`runner_options` feeds :class:`StudyRunner`.

    Example::

        s = Settings(study_name="demo", storage="postgresql://me:secret@db/optuna")
        s.storage.value            # 'postgresql://me:***@db/optuna' (the password never shows)
        s.runner_options()["storage"]   # the real URL, for the runner only
    """

    def __init__(
        self,
        *,
        study_name: str = "",
        direction: str | None = None,
        directions: list[str] | None = None,
        sampler: str = "tpe",
        sampler_options: dict[str, Any] | None = None,
        pruner: str | None = None,
        pruner_options: dict[str, Any] | None = None,
        n_trials: int | None = 50,
        timeout: float | None = None,
        seed: int | None = None,
        storage: str | BaseStorage | None = None,
        backend: str | Backend = "threading",
        n_workers: int | None = None,
        backend_options: dict[str, Any] | None = None,
        resume: bool = False,
    ) -> None:
        self._callbacks: list[Callable[[Settings], None]] = []
        self._reported: list[tuple[str, str]] = []
        self._quiet = True
        style = {"description_width": "110px"}
        wide = {"width": "420px"}
        self.study_name = widgets.Text(
            value=study_name, description="study", style=style, layout=wide
        )
        self.direction = widgets.Dropdown(
            options=["minimize", "maximize", MULTI],
            value="minimize",
            description="direction",
            style=style,
        )
        self.directions = widgets.Text(
            value="minimize, minimize",
            placeholder="minimize, maximize",
            tooltip="one direction per objective the function returns",
            layout={"width": "220px"},
        )
        self.sampler = widgets.Dropdown(
            options=[(SAMPLER_LABELS.get(k, k), k) for k in SAMPLERS],
            value="tpe",
            description="sampler",
            style=style,
        )
        self.sampler_options = _sampler_options()
        self.sampler_box = widgets.HBox()
        self.pruner = widgets.Dropdown(
            options=[(PRUNER_LABELS.get(k, k), k) for k in PRUNERS],
            value="none",
            description="pruner",
            style=style,
        )
        self.pruner_options = _pruner_options()
        self.pruner_box = widgets.HBox()
        self.n_trials = widgets.IntText(
            value=n_trials or 0,
            description="trials",
            tooltip="total finished trials of the study (0: no limit)",
            style=style,
            layout={"width": "220px"},
        )
        self.timeout = widgets.FloatText(
            value=timeout or 0.0,
            description="timeout (s)",
            tooltip="seconds for this run (0: none)",
            style={"description_width": "initial"},
            layout={"width": "170px"},
        )
        self.seed = widgets.Text(
            value="" if seed is None else str(seed),
            description="seed",
            placeholder="none",
            style=style,
            layout={"width": "220px"},
        )
        # Storage: the widget only ever holds the masked text.
        self._storage_object: BaseStorage | None = None
        self.storage_url: str | None = None
        self.storage = widgets.Text(
            description="storage",
            placeholder=f"embedded: ./{DEFAULT_STORAGE_FILE}  (or memory, sqlite:///…, "
            "postgresql://…)",
            style=style,
            layout={"width": "560px"},
            continuous_update=False,
        )
        self.storage_note = widgets.HTML()
        self.backend = widgets.Dropdown(
            options=list(BACKENDS), value="threading", description="backend", style=style
        )
        self._backend_object: Backend | None = None
        self.workers = widgets.Text(
            value="" if n_workers is None else str(n_workers),
            description="workers",
            placeholder="auto",
            tooltip="concurrent workers (Spark: task slots); empty: one per core/slot",
            style={"description_width": "initial"},
            layout={"width": "160px"},
        )
        self.master = widgets.Text(
            description="master",
            placeholder="local[*] or spark://host:7077 (empty: active session)",
            style={"description_width": "initial"},
            layout={"width": "380px"},
        )
        self.address = widgets.Text(
            description="scheduler",
            placeholder="tcp://host:8786 (empty: a local cluster)",
            style={"description_width": "initial"},
            layout={"width": "380px"},
        )
        self.backend_box = widgets.HBox()
        self.resume = widgets.Checkbox(
            value=resume,
            description="resume an existing study of this name",
            indent=False,
            tooltip="off: a study that already has trials is kept and a new one is started",
        )
        self.error = widgets.HTML()
        self.error.add_class("hpo-settings-error")

        self.widget = widgets.VBox(
            [
                self.study_name,
                widgets.HBox([self.direction, self.directions]),
                widgets.HBox([self.sampler, self.sampler_box]),
                widgets.HBox([self.pruner, self.pruner_box]),
                widgets.HBox([self.n_trials, self.timeout]),
                self.seed,
                self.storage,
                self.storage_note,
                widgets.HBox([self.backend, self.workers, self.backend_box]),
                self.resume,
                self.error,
            ]
        )
        self.widget.add_class("hpo-settings")
        self._extra_backend_options: dict[str, Any] = {}

        # Fill from arguments.
        self.set_direction(direction, directions)
        sampler_name = sampler.lower().replace("-", "_")
        if sampler_name in SAMPLERS:
            self.sampler.value = sampler_name
            self.sampler_options[sampler_name].load(dict(sampler_options or {}))
        pruner_name = (pruner or "none").lower().replace("-", "_")
        pruner_name = "none" if pruner_name in ("nop", "no") else pruner_name
        if pruner_name in PRUNERS:
            self.pruner.value = pruner_name
            self.pruner_options[pruner_name].load(dict(pruner_options or {}))
        self.set_storage(storage)
        self.set_backend(backend, dict(backend_options or {}))
        self._show_options()
        self._quiet = False

        self.storage.observe(self._on_storage, "value")
        for w in self._inputs():
            if w is not self.storage:
                w.observe(self._on_change, "value")
        self.sampler.observe(lambda _: self._show_options(), "value")
        self.pruner.observe(lambda _: self._show_options(), "value")
        self.backend.observe(lambda _: self._show_options(), "value")
        self.direction.observe(lambda _: self._show_options(), "value")

    # -- widgets --------------------------------------------------------------------------
    def _inputs(self) -> list[widgets.ValueWidget]:
        option_widgets = [
            w
            for group in (self.sampler_options, self.pruner_options)
            for opts in group.values()
            for w, _ in opts.items.values()
        ]
        return [
            self.study_name,
            self.direction,
            self.directions,
            self.sampler,
            self.pruner,
            self.n_trials,
            self.timeout,
            self.seed,
            self.storage,
            self.backend,
            self.workers,
            self.master,
            self.address,
            self.resume,
            *option_widgets,
        ]

    def _show_options(self) -> None:
        self.directions.layout.display = None if self.direction.value == MULTI else "none"
        self.sampler_box.children = (self.sampler_options[self.sampler.value].box,)
        self.pruner_box.children = (self.pruner_options[self.pruner.value].box,)
        backend = self.backend.value
        self.workers.description = "slots" if backend == "spark" else "workers"
        extra: tuple[widgets.Widget, ...] = ()
        if backend == "spark":
            extra = (self.master,)
        elif backend == "dask":
            extra = (self.address,)
        self.backend_box.children = extra
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
    def set_direction(self, direction: str | None, directions: list[str] | None = None) -> None:
        if directions is not None and len(directions) > 1:
            self.direction.value = MULTI
            self.directions.value = ", ".join(directions)
        elif directions:
            self.direction.value = str(directions[0])
        elif direction in ("minimize", "maximize"):
            self.direction.value = direction

    def set_storage(self, storage: str | BaseStorage | None) -> None:
        """Show ``storage`` masked; the real value is kept for the runner only."""
        if isinstance(storage, BaseStorage):
            self._storage_object = storage
            self.storage_url = None
            self.storage.value = describe_storage(storage)
            self.storage.disabled = True
        else:
            self._storage_object = None
            self.storage_url = None if storage is None else str(storage)
            self.storage.value = mask_password(self.storage_url or "")
            self.storage.disabled = False
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
                if self.storage_url is None:
                    note += " (the embedded default; it survives kernel restarts)."
            except (ValueError, TypeError) as exc:
                note = ""
                self.storage_note.value = error_html([str(exc)])
                return
        self.storage_note.value = note_html(note)

    def set_backend(self, backend: str | Backend, options: dict[str, Any]) -> None:
        if isinstance(backend, Backend):
            self._backend_object = backend
            name = backend.name if backend.name in BACKENDS else "threading"
            self.backend.value = name
            self.backend.disabled = True
            return
        if backend.lower() in BACKENDS:
            self.backend.value = backend.lower()
        self.master.value = str(options.pop("master", "") or "")
        self.address.value = str(options.pop("address", "") or "")
        self._extra_backend_options = options

    # -- reading --------------------------------------------------------------------------
    def directions_list(self) -> list[str]:
        if self.direction.value != MULTI:
            return [self.direction.value]
        return [d.strip().lower() for d in self.directions.value.split(",") if d.strip()]

    def _seed(self) -> int | None:
        text = self.seed.value.strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def _workers(self) -> int | None:
        text = self.workers.value.strip()
        return int(text) if text.isdigit() else None

    def storage_value(self) -> str | BaseStorage | None:
        return self._storage_object if self._storage_object is not None else self.storage_url

    def runner_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~hpo_widget.StudyRunner` (not the budget)."""
        dirs = self.directions_list()
        options: dict[str, Any] = {
            "study_name": self.study_name.value.strip() or None,
            "storage": self.storage_value(),
            "sampler": self.sampler.value,
            "sampler_options": self.sampler_options[self.sampler.value].values(),
            "pruner": self.pruner.value,
            "pruner_options": self.pruner_options[self.pruner.value].values(),
            "seed": self._seed(),
            "n_workers": self._workers(),
        }
        if len(dirs) == 1:
            options["direction"] = dirs[0]
        else:
            options["directions"] = dirs
        if self._backend_object is not None:
            options["backend"] = self._backend_object
        else:
            options["backend"] = self.backend.value
            backend_options = dict(self._extra_backend_options)
            if self.backend.value == "spark" and self.master.value.strip():
                backend_options["master"] = self.master.value.strip()
            if self.backend.value == "dask" and self.address.value.strip():
                backend_options["address"] = self.address.value.strip()
            options["backend_options"] = backend_options
        return options

    @property
    def n_trials_value(self) -> int | None:
        return self.n_trials.value if self.n_trials.value > 0 else None

    @property
    def timeout_value(self) -> float | None:
        return float(self.timeout.value) if self.timeout.value > 0 else None

    # -- checks ---------------------------------------------------------------------------
    def field_widgets(self) -> dict[str, list[widgets.DOMWidget]]:
        return {
            "study": [self.study_name],
            "direction": [self.direction, self.directions],
            "sampler": [self.sampler],
            "pruner": [self.pruner],
            "n_trials": [self.n_trials],
            "timeout": [self.timeout],
            "seed": [self.seed],
            "storage": [self.storage],
            "backend": [self.backend],
            "workers": [self.workers],
        }

    def check(
        self, space: SearchSpace | None, *, define_by_run: bool = False
    ) -> list[tuple[str, str]]:
        """Problems as ``(field, message)``; shown next to the fields and returned."""
        problems: list[tuple[str, str]] = []
        add = lambda fld, msg: problems.append((fld, msg))  # noqa: E731
        dirs = self.directions_list()
        bad = [d for d in dirs if d not in ("minimize", "maximize")]
        if bad or not dirs:
            add("direction", "give one of minimize/maximize per objective, comma separated")
        multi = len(dirs) > 1
        if multi and self.pruner.value != "none":
            add(
                "pruner",
                "Optuna cannot prune a study with several objectives; choose 'no pruning' "
                "or optimise a single objective",
            )
        sampler = self.sampler.value
        if sampler == "grid":
            if space is None or len(space) == 0:
                why = "the objective samples its own parameters" if define_by_run else "it"
                add("sampler", f"the grid sampler needs a declared search space ({why} has none)")
            else:
                try:
                    _grid_from_space(space)
                except ValueError as exc:
                    add("sampler", str(exc).removeprefix("sampler: "))
        needed = _NEEDS.get(sampler)
        if needed and importlib.util.find_spec(needed[0]) is None:
            add("sampler", f"the {SAMPLER_LABELS[sampler]} sampler needs {needed[0]}: {needed[1]}")
        if self.n_trials.value < 0:
            add("n_trials", "must be >= 0 (0 runs until Stop or the timeout)")
        if self.timeout.value < 0:
            add("timeout", "must be >= 0 seconds (0: no timeout)")
        seed = self.seed.value.strip()
        if seed and not seed.lstrip("-").isdigit():
            add("seed", f"must be a whole number or empty, got {seed!r}")
        workers = self.workers.value.strip()
        if workers and not workers.isdigit():
            add("workers", f"must be a whole number >= 0 or empty (auto), got {workers!r}")
        if self._storage_object is None:
            try:
                resolve_storage(self.storage_url)
            except (ValueError, TypeError) as exc:
                add("storage", str(exc).removeprefix("storage: "))
        backend = self.backend.value
        if self._backend_object is None:
            if backend == "spark":
                if importlib.util.find_spec("pyspark") is None:
                    add("backend", "the spark backend needs pyspark: pip install pyspark")
                elif shutil.which("java") is None and not _java_home():
                    add("backend", "the spark backend needs Java 17+ (java not found on PATH)")
            if backend == "dask" and importlib.util.find_spec("distributed") is None:
                add(
                    "backend",
                    "the dask backend needs dask.distributed: pip install 'dask[distributed]'",
                )
        self.show(problems)
        return problems

    def report(self, fld: str, message: str) -> None:
        """Show an error found when the run started (e.g. the database refused the
        connection) next to its field, until the settings are edited; it does not block Run,
        so a transient failure can simply be retried."""
        self._reported = [(fld, message)]
        self.show([])

    def show(self, problems: list[tuple[str, str]]) -> None:
        problems = problems + [p for p in self._reported if p not in problems]
        bad = {fld for fld, _ in problems}
        for fld, ws in self.field_widgets().items():
            for w in ws:
                mark(w, fld in bad)
        messages = [f"{fld}: {msg}" for fld, msg in problems]
        html = error_html(messages)
        if self.error.value != html:
            self.error.value = html

    def set_disabled(self, disabled: bool) -> None:
        """Lock the inputs that define the study while a run is going."""
        for w in self._inputs():
            if w is self.storage and self._storage_object is not None:
                continue
            if w is self.backend and self._backend_object is not None:
                continue
            w.disabled = disabled

    def close(self) -> None:
        for w in self._inputs():
            w.close()
        for group in (self.sampler_options, self.pruner_options):
            for opts in group.values():
                opts.box.close()
        for w in (self.sampler_box, self.pruner_box, self.backend_box, self.error):
            w.close()
        self.storage_note.close()
        for child in self.widget.children:
            child.close()
        self.widget.close()


def _java_home() -> bool:
    import os

    home = os.environ.get("JAVA_HOME")
    return bool(home) and os.path.exists(os.path.join(home or "", "bin", "java"))
