"""``%hpo``: open the tuning panel from a notebook line.

Loaded by ``%load_ext hpo_widget``.  Names are looked up in the notebook's namespace.  The run
options are read into a :class:`~hpo_widget.config.RunConfig` (the flags' ``dest`` are its
option names) and checked by it alone; every mistake (unknown variable or flag, and each of the
config's problems: backend, sampler, storage URL, ...) is reported as a ``UsageError`` naming
the flag and the fix, never as a traceback.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

if TYPE_CHECKING:
    from .config import ConfigProblem

__all__ = ["HpoMagics", "register"]


def _hint(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


#: Arguments that are not run options (every other ``dest`` is a RunConfig option name).
_NOT_RUN_OPTIONS = frozenset({"objective", "space", "resume", "run", "help", "master"})


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
    @argument("-h", "--help", action="store_true", help="show this help")
    @argument("--space", help="SearchSpace / dict variable, or a .json/.yaml file")
    @argument("--backend", help="threading (default), loky, spark or dask")
    @argument(
        "--n-trials",
        type=int,
        dest="n_trials",
        metavar="N",
        help="total trials of the study (0: no limit)",
    )
    @argument("--timeout", type=float, help="seconds for this run")
    @argument("--study", dest="study_name", metavar="NAME", help="study name")
    @argument("--storage", help="storage URL (default: embedded journal file)")
    @argument(
        "--direction",
        action="append",
        dest="directions",
        metavar="DIRECTION",
        help="minimize or maximize; repeat it (or comma-separate) for several objectives",
    )
    @argument("--sampler", help="tpe, random, grid, cmaes, qmc, gp or nsgaii")
    @argument("--pruner", help="default, none, median, successive_halving or hyperband")
    @argument(
        "--workers",
        type=int,
        dest="n_workers",
        metavar="N",
        help="concurrent workers (Spark: task slots)",
    )
    @argument("--seed", type=int, help="sampler seed")
    @argument("--master", help="Spark master URL (with --backend spark)")
    @argument("--goal", type=float, help="stop once the best value is this good or better")
    @argument("--patience", type=int, help="stop after this many trials without a new best")
    @argument(
        "--max-failed",
        type=int,
        dest="max_failed",
        metavar="N",
        help="stop once this many trials failed",
    )
    @argument("--resume", action="store_true", help="continue an existing study of this name")
    @argument("--run", action="store_true", help="start at once instead of waiting for Run")
    @line_magic
    def hpo(self, line: str = "") -> None:
        """Open the hyperparameter tuning panel.

        ``%hpo`` alone opens an empty form with the scikit-learn presets.  The panel is
        displayed and also bound to ``hpo_panel`` in the notebook namespace.

        Example::

            %hpo objective --space space --backend spark --n-trials 100 --study demo --patience 20
        """
        from .config import ConfigError, RunConfig
        from .storage import mask_password

        # As in any command line, -h/--help wins over the other arguments, even wrong ones
        # (the magic's parser has no exit: print what `%hpo?` shows).
        if {"-h", "--help"} & set(line.split()):
            print("usage: " + (self.hpo.__doc__ or "").removeprefix("::\n\n").lstrip())
            return
        args = parse_argstring(self.hpo, line)
        objective = self._objective(args.objective) if args.objective else None
        space = self._space(args.space) if args.space else None
        options = {
            k: v for k, v in vars(args).items() if k not in _NOT_RUN_OPTIONS and v is not None
        }
        if args.directions:
            options["directions"] = [
                d.strip().lower() for arg in args.directions for d in arg.split(",") if d.strip()
            ]
        if args.master:
            options["backend_options"] = {"master": args.master}
        if options.get("pruner") == "default":
            options["pruner"] = None
        options["n_trials"] = options.get("n_trials", 50) or None  # 0: no limit
        try:
            RunConfig.from_options(**options).checked(space=space)
        except ConfigError as exc:
            raise UsageError(
                mask_password("\n".join(f"{self._flag(p)}: {p.message}" for p in exc.problems))
            ) from None

        from .ui import Panel

        try:
            panel = Panel(objective, space=space, resume=args.resume, **options)
        except (ValueError, TypeError) as exc:
            raise UsageError(mask_password(str(exc))) from None
        if self.shell is not None:
            self.shell.user_ns["hpo_panel"] = panel
        from IPython.display import display

        display(panel)
        if args.run and panel.run() is None:
            raise UsageError(f"--run: could not start: {panel.last_error or 'see the panel'}")

    def _flag(self, problem: ConfigProblem) -> str:
        """The flag that sets a problem's field (``stop.goal``: ``--goal``; ``direction``:
        ``--direction``), else the field itself."""
        flags = {a.dest: a.option_strings[-1] for a in self.hpo.parser._actions if a.option_strings}
        for name in (problem.field.rsplit(".", 1)[-1], problem.root, f"{problem.root}s"):
            if name in flags:
                return str(flags[name])
        return problem.field


def register(ipython: Any) -> None:
    """Register ``%hpo`` on ``ipython`` (called by ``%load_ext hpo_widget``)."""
    ipython.register_magics(HpoMagics)
