"""How a new study is named, and which storage a front end's "memory" means.

A front end (the notebook panel, a script) starts studies from what a person typed, and two
rules keep that from losing work:

* **Never append to someone's study by accident.**  Starting a study under a name that already
  has trials, without asking to resume, starts a *sibling* (``demo`` -> ``demo-2``, the first
  free ``-N``) instead of mixing a new search into old results.  :func:`choose_study_name`
  makes that decision; the caller shows :attr:`StudyNameChoice.renamed` as it likes.
* **"memory" is one storage per owner.**  Optuna's in-memory storage is a Python object, so
  every runner that opens ``"memory"`` itself would see an empty store and a re-created runner
  (settings changed between two runs) would lose the studies of the first.
  :class:`MemoryStorage` keeps one store for as long as its owner lives.

Plain Python (no widgets), so the CLI and scripts can use the same rules as the panel.

Example::

    from hpo_widget.study_names import choose_study_name, default_study_name
    name = default_study_name(objective)          # "objective"
    choice = choose_study_name(runner.study, resume=False)
    if choice.renamed:
        ...                                       # start choice.name instead
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import optuna
from optuna.storages import BaseStorage

from ._optuna_compat import storage_of
from .presets import SklearnPreset
from .storage import resolve_storage

__all__ = [
    "FALLBACK_STUDY_NAME",
    "MemoryStorage",
    "StudyNameChoice",
    "choose_study_name",
    "default_study_name",
    "is_memory_storage",
    "preset_study_name",
    "sibling_name",
]

#: The name of a study whose objective has no usable name (a lambda, a callable object).
FALLBACK_STUDY_NAME = "study"


def default_study_name(objective: object) -> str:
    """The name a study gets when none was given: the preset's or the function's name.

    A name that says what is tuned reads better in a storage shared by many studies than
    Optuna's generated ``no-name-<uuid>``; a lambda has no such name, so it gets
    :data:`FALLBACK_STUDY_NAME`.
    """
    if isinstance(objective, SklearnPreset):
        return objective.name
    name = getattr(objective, "__name__", None)
    if name and name != "<lambda>":
        return str(name)
    return FALLBACK_STUDY_NAME


def preset_study_name(preset: SklearnPreset, dataset: str) -> str:
    """``RandomForest-iris``: a preset's study is named after the estimators and the dataset,
    so tuning the same estimators on two datasets does not share (and mix) one study."""
    return f"{preset.name}-{dataset}"


def sibling_name(name: str, taken: Iterable[str]) -> str:
    """The first of ``name-2``, ``name-3``, ... that is not in ``taken``.

    Numbered from 2 because ``name`` itself is the first; the suffix is added to ``name`` as
    given (a sibling of ``demo-2`` is ``demo-2-2``), so a name never changes meaning by being
    parsed.
    """
    used = set(taken)
    k = 2
    while f"{name}-{k}" in used:
        k += 1
    return f"{name}-{k}"


@dataclass(frozen=True)
class StudyNameChoice:
    """The name to run under: ``requested`` itself, or a sibling when that study has trials."""

    #: The name that was asked for (the study that exists under it, if any, is left alone).
    requested: str
    #: The name to use.
    name: str
    #: Trials the requested study already had (0 when it is new or empty).
    existing_trials: int = 0

    @property
    def renamed(self) -> bool:
        """True when :attr:`name` is a sibling because :attr:`requested` already had trials."""
        return self.name != self.requested


def choose_study_name(study: optuna.Study, *, resume: bool) -> StudyNameChoice:
    """Decide whether a run continues ``study`` or starts a sibling of it.

    ``study`` is the one just created or loaded under the requested name.  With ``resume`` the
    run continues it whatever it holds; otherwise a study that already has trials is someone's
    earlier work, so the run gets :func:`sibling_name` among the names in the same storage.
    """
    name = study.study_name
    if resume:
        return StudyNameChoice(name, name)
    existing = len(study.get_trials(deepcopy=False))
    if not existing:
        return StudyNameChoice(name, name)
    taken = optuna.get_all_study_names(storage_of(study))
    return StudyNameChoice(name, sibling_name(name, taken), existing)


def is_memory_storage(storage: str | os.PathLike[str] | BaseStorage | None) -> bool:
    """Whether a storage value means Optuna's in-memory storage (``"memory"`` and its aliases).

    Resolved by :func:`hpo_widget.storage.resolve_storage`, the one place that knows the
    aliases (an empty value means the embedded default file, or ``$HPO_WIDGET_STORAGE``); a
    value it cannot use is not memory, and is left for the runner to report.
    """
    if isinstance(storage, BaseStorage):
        return False
    try:
        return resolve_storage(storage).kind == "memory"
    except (ValueError, TypeError):
        return False


class MemoryStorage:
    """One in-memory Optuna storage for an owner (a panel), created when first needed.

    :meth:`bind` swaps a ``"memory"`` storage value for this store, so runners created one
    after the other by the same owner see the same studies (and :func:`choose_study_name` sees
    their trials); any other value passes through unchanged.
    """

    def __init__(self) -> None:
        self._storage: BaseStorage | None = None

    @property
    def storage(self) -> BaseStorage | None:
        """The store, or ``None`` while no ``"memory"`` value was bound yet."""
        return self._storage

    def bind(
        self, storage: str | os.PathLike[str] | BaseStorage | None
    ) -> str | os.PathLike[str] | BaseStorage | None:
        """``storage``, or this owner's in-memory store when ``storage`` means memory."""
        if not is_memory_storage(storage):
            return storage
        if self._storage is None:
            self._storage = optuna.storages.InMemoryStorage()
        return self._storage
