"""Joblib backends by name, imported lazily so that ``import hpo_widget`` never starts a JVM.

Every backend runs the same worker function (:func:`hpo_widget._worker.run_worker`) N times
concurrently through ``joblib.Parallel``; only how the N copies are placed differs.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from ._base import Backend, WorkerProcessExited
from .spark_kubernetes import KUBERNETES_OPTIONS

__all__ = [
    "BACKENDS",
    "BACKEND_OPTIONS",
    "Backend",
    "WorkerProcessExited",
    "backend_to_prepare",
    "make_backend",
]

#: name -> (module, class, pip extra that provides it)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "threading": ("hpo_widget.backends.local", "ThreadingBackend", ""),
    "loky": ("hpo_widget.backends.local", "LokyBackend", ""),
    "spark": ("hpo_widget.backends.spark", "SparkBackend", ""),
    "dask": ("hpo_widget.backends.dask", "DaskBackend", "dask"),
}
#: name -> the keyword options its class takes (``backend_options``), checked by the run config
#: before anything starts, so a Spark ``master`` given to the loky backend is not ignored.
BACKEND_OPTIONS: dict[str, tuple[str, ...]] = {
    "threading": (),
    "loky": (),
    "spark": (
        "spark",
        "master",
        "conf",
        "app_name",
        "executor_timeout",
        *KUBERNETES_OPTIONS,  # master="k8s" / "k8s://..." only
    ),
    "dask": (
        "address",
        "client",
        "n_workers",
        "threads_per_worker",
        "processes",
        "cluster_options",
        "remote",
    ),
}


def backend_to_prepare(name: str, **options: Any) -> Backend | None:
    """A backend worth starting ahead of its first run (:meth:`Backend.prepare`, not called
    yet), or None when ``name`` has nothing to start early (every backend but spark) or
    cannot be made with these options (Run then says why)."""
    entry = BACKENDS.get(name.lower())
    if entry is None:
        return None
    try:
        cls = getattr(importlib.import_module(entry[0]), entry[1])
        if not cls.prepares:
            return None
        backend: Backend = cls(**options)
    except Exception:  # a bad option or a missing package: Run says what is wrong
        return None
    return backend


def make_backend(name: str, **options: Any) -> Backend:
    """Instantiate a backend; unknown names and missing packages get a message saying what to do."""
    key = name.lower()
    if key not in BACKENDS:
        close = difflib.get_close_matches(key, list(BACKENDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"backend: unknown {name!r}; choose one of {', '.join(BACKENDS)}{hint}")
    module_name, cls_name, extra = BACKENDS[key]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        install = f"pip install 'hpo_widget[{extra}]'" if extra else "pip install hpo_widget"
        raise ImportError(
            f"backend {key!r} needs a package that is missing ({exc}); {install}"
        ) from exc
    cls: type[Backend] = getattr(module, cls_name)
    return cls(**options)
