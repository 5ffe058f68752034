"""``%hpo``: open the tuning panel from a notebook line.

Loaded by ``%load_ext hpo_widget``.  Names are looked up in the notebook's namespace; every
mistake (unknown variable, flag, backend, sampler, storage URL) is reported as a one-line
``UsageError`` naming the flag and the fix, never as a traceback.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

__all__ = ["HpoMagics", "register"]


def _hint(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _choice(flag: str, value: str | None, options: list[str]) -> str | None:
    if value is None:
        return None
    key = value.lower().replace("-", "_")
    if key not in options:
        raise UsageError(
            f"{flag}: unknown {value!r}; choose one of {', '.join(options)}{_hint(key, options)}"
        )
    return key


@magics_class
class HpoMagics(Magics):
    """The ``%hpo`` line magic."""

    def _lookup(self, flag: str, name: str) -> Any:
        ns = self.shell.user_ns if self.shell is not None else {}
        if name in ns:
            return ns[name]
        visible = [k for k in ns if not k.startswith("_")]
        raise UsageError(
            f"{flag}: no variable named {name!r} in the notebook{_hint(name, visible)} "
            "(define it in a cell first)"
        )

    def _objective(self, name: str) -> Any:
        if ":" in name and name not in (self.shell.user_ns if self.shell else {}):
            from .objectives import load_callable

            try:
                return load_callable(name, field="objective")
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        value = self._lookup("objective", name)
        if not callable(value):
            raise UsageError(
                f"objective: {name!r} is a {type(value).__name__}, not a function "
                "(pass def objective(trial) / def objective(params) or a SklearnPreset)"
            )
        return value

    def _space(self, name: str) -> Any:
        from .space import SearchSpace, SearchSpaceError

        ns = self.shell.user_ns if self.shell is not None else {}
        if name not in ns and os.path.isfile(name):
            with open(name, encoding="utf-8") as fh:
                text = fh.read()
            reader = SearchSpace.from_json if name.endswith(".json") else SearchSpace.from_yaml
            try:
                return reader(text)
            except SearchSpaceError as exc:
                raise UsageError(f"--space: {name} is not a valid search space:\n{exc}") from None
        value = self._lookup("--space", name)
        try:
            if isinstance(value, SearchSpace):
                return value
            if isinstance(value, Mapping):
                return SearchSpace.from_dict(value)
            if isinstance(value, str):
                text = value.strip()
                return (
                    SearchSpace.from_json(text)
                    if text.startswith("{")
                    else (SearchSpace.from_yaml(text))
                )
        except SearchSpaceError as exc:
            raise UsageError(f"--space: {name!r} is not a valid search space:\n{exc}") from None
        raise UsageError(
            f"--space: {name!r} is a {type(value).__name__}; give a SearchSpace, a dict, "
            "JSON/YAML text or a .json/.yaml file"
        )

    @magic_arguments()
    @argument("objective", nargs="?", help="objective function or SklearnPreset (a variable)")
    @argument("--space", help="SearchSpace / dict variable, or a .json/.yaml file")
    @argument("--backend", help="threading (default), loky, spark or dask")
    @argument("--n-trials", type=int, dest="n_trials", help="total trials of the study")
    @argument("--timeout", type=float, help="seconds for this run")
    @argument("--study", help="study name")
    @argument("--storage", help="storage URL (default: embedded journal file)")
    @argument(
        "--direction",
        action="append",
        help="minimize or maximize; repeat it (or comma-separate) for several objectives",
    )
    @argument("--sampler", help="tpe, random, grid, cmaes, qmc, gp or nsgaii")
    @argument("--pruner", help="none, median, successive_halving or hyperband")
    @argument("--workers", type=int, help="concurrent workers (Spark: task slots)")
    @argument("--seed", type=int, help="sampler seed")
    @argument("--master", help="Spark master URL (with --backend spark)")
    @argument("--resume", action="store_true", help="continue an existing study of this name")
    @argument("--run", action="store_true", help="start at once instead of waiting for Run")
    @line_magic
    def hpo(self, line: str = "") -> None:
        """Open the hyperparameter tuning panel.

        ``%hpo`` alone opens an empty form with the scikit-learn presets.  The panel is
        displayed and also bound to ``hpo_panel`` in the notebook namespace.

        Example::

            %hpo objective --space space --backend spark --n-trials 100 --study demo
        """
        from .backends import BACKENDS
        from .samplers import PRUNERS, SAMPLERS
        from .storage import mask_password, resolve_storage

        args = parse_argstring(self.hpo, line)
        options: dict[str, Any] = {}
        objective = self._objective(args.objective) if args.objective else None
        space = self._space(args.space) if args.space else None
        if args.backend is not None:
            options["backend"] = _choice("--backend", args.backend, list(BACKENDS))
        if args.master:
            if options.get("backend", "threading") != "spark":
                raise UsageError("--master: only used with --backend spark")
            options["backend_options"] = {"master": args.master}
        sampler = _choice("--sampler", args.sampler, list(SAMPLERS))
        if sampler:
            options["sampler"] = sampler
        pruner = _choice("--pruner", args.pruner, list(PRUNERS))
        if pruner:
            options["pruner"] = pruner
        if args.direction:
            dirs = [
                d.strip().lower() for arg in args.direction for d in arg.split(",") if d.strip()
            ]
            for d in dirs:
                if d not in ("minimize", "maximize"):
                    hint = _hint(d, ["minimize", "maximize"])
                    raise UsageError(f"--direction: {d!r} must be minimize or maximize{hint}")
            if len(dirs) == 1:
                options["direction"] = dirs[0]
            else:
                options["directions"] = dirs
        if args.storage is not None:
            try:
                resolve_storage(args.storage)
            except (ValueError, TypeError) as exc:
                text = mask_password(str(exc)).removeprefix("storage: ")
                raise UsageError(f"--storage: {text}") from None
            options["storage"] = args.storage
        if args.study:
            options["study_name"] = args.study
        if args.workers is not None:
            if args.workers < 0:
                raise UsageError("--workers: must be >= 0")
            options["n_workers"] = args.workers
        if args.seed is not None:
            options["seed"] = args.seed
        if args.n_trials is not None and args.n_trials < 0:
            raise UsageError("--n-trials: must be a positive number (0: no limit)")
        if args.timeout is not None and args.timeout < 0:
            raise UsageError("--timeout: must be a positive number of seconds")

        from .ui import Panel

        try:
            panel = Panel(
                objective,
                space=space,
                n_trials=args.n_trials if args.n_trials is not None else 50,
                timeout=args.timeout,
                resume=args.resume,
                **options,
            )
        except (ValueError, TypeError) as exc:
            raise UsageError(mask_password(str(exc))) from None
        if self.shell is not None:
            self.shell.user_ns["hpo_panel"] = panel
        from IPython.display import display

        display(panel)
        if args.run and panel.run() is None:
            raise UsageError(f"--run: could not start: {panel.last_error or 'see the panel'}")


def register(ipython: Any) -> None:
    """Register ``%hpo`` on ``ipython`` (called by ``%load_ext hpo_widget``)."""
    ipython.register_magics(HpoMagics)
