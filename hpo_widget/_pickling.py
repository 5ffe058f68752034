"""Let objectives written in a notebook cell use ``optuna.integration.*`` and still pickle.

A function defined in ``__main__`` (a notebook cell, a ``python -c`` script) is pickled *by
value* by cloudpickle, which loky, joblibspark/pyspark (its bundled copy) and Dask all use.  With
the function, cloudpickle saves every already-imported submodule its code names as an attribute
(``optuna.integration.LightGBMPruningCallback`` names ``integration``), so that the submodule is
imported again where the function is loaded.  ``import optuna`` imports ``optuna.integration``,
and that module is an instance of ``optuna.integration._IntegrationModule``, a
:class:`types.ModuleType` *subclass* that imports the integrations lazily.  cloudpickle pickles
modules by name through a reducer keyed on the exact type ``ModuleType``, so the subclass misses
it, falls through to plain object pickling and fails with ``TypeError: cannot pickle
'_IntegrationModule' object``; under loky every task then fails to be sent ("workers keep
failing").

The fix registers a reducer for that subclass in :mod:`copyreg`'s dispatch table, which the
standard pickler and every cloudpickle version (its ``dispatch_table`` chains
``copyreg.dispatch_table``) consult: the module is pickled by its name and unpickled by importing
it, like any other module.  Unpickling needs only :func:`importlib.import_module`, not
hpo_widget, and the registration happens when this module is imported (``import hpo_widget``).
"""

from __future__ import annotations

import copyreg
import importlib
import sys
import types
from typing import Any

__all__ = ["LAZY_MODULES", "register_lazy_module"]

#: Modules that replace themselves in ``sys.modules`` with a ModuleType subclass instance.
LAZY_MODULES = ("optuna.integration",)


def _reduce_module(module: types.ModuleType) -> tuple[Any, tuple[str]]:
    return importlib.import_module, (module.__name__,)


def register_lazy_module(name: str) -> bool:
    """Make module ``name`` pickle by name if it is a ModuleType subclass instance; ``False``
    when it cannot be imported or is a plain module (which every pickler handles already)."""
    try:
        module = sys.modules.get(name) or importlib.import_module(name)
    except ImportError:
        return False
    cls = type(module)
    if cls is types.ModuleType or not isinstance(module, types.ModuleType):
        return False
    copyreg.pickle(cls, _reduce_module)
    return True


for _name in LAZY_MODULES:
    register_lazy_module(_name)
