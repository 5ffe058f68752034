"""hpo_widget: tune hyperparameters with Optuna from a notebook panel, locally or on Spark.

The engine (:class:`SearchSpace`, :class:`StudyRunner`, backends, storage, plots) is plain Python;
the notebook panel lives in :mod:`hpo_widget.ui` and is imported only when used, so
``import hpo_widget`` stays light and works without a browser or a JVM.

Example::

    import hpo_widget
    space = hpo_widget.SearchSpace.from_dict({"x": {"type": "float", "low": -10, "high": 10}})
    runner = hpo_widget.StudyRunner(lambda params: (params["x"] - 2) ** 2, space=space)
    study = runner.start(n_trials=20).wait()
"""

from __future__ import annotations

from typing import Any

from . import _pickling  # noqa: F401  (objectives using optuna.integration pickle by value)
from ._version import __version__
from .events import RunStatus, StatusChanged, TrialFinished, WorkerSeen
from .objectives import with_data
from .presets import SklearnPreset
from .runner import Progress, RunError, StudyRunner
from .space import SearchSpace, SearchSpaceError

__all__ = [
    "Panel",
    "Progress",
    "RunError",
    "RunStatus",
    "SearchSpace",
    "SearchSpaceError",
    "SklearnPreset",
    "StatusChanged",
    "StudyRunner",
    "TrialFinished",
    "WorkerSeen",
    "__version__",
    "load_ipython_extension",
    "with_data",
]


def __getattr__(name: str) -> Any:
    """``hpo_widget.Panel`` imports the widget layer (ipywidgets, plotly) only when asked for."""
    if name == "Panel":
        from .ui import Panel

        return Panel
    raise AttributeError(f"module 'hpo_widget' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hpo_widget``: registers the ``%hpo`` magic (imports widgets only now)."""
    from ._magics import register

    register(ipython)
