"""Notebook cells that load or resume a study, never holding the storage's password."""

from __future__ import annotations

import os
import pprint
from typing import Any

import optuna
from optuna.trial import TrialState

from .. import _optuna_compat as compat
from .. import run_record
from ..storage import mask_password
from ._protocol import CodeKind
from ._registry import StorageEntry
from ._summaries import load_study

__all__ = ["code_cell"]


def _storage_expression(entry: StorageEntry, env_value: str | None) -> tuple[str, list[str]]:
    """A Python expression for the storage in a notebook, and the imports it needs.

    Never the password: the env var's name when the server got the URL from
    ``$HPO_WIDGET_STORAGE`` (kernels inherit the server's environment), else the masked URL
    with the password asked for by ``getpass`` when the cell runs.
    """
    location = entry.ref.location
    masked = mask_password(location)
    if masked == location:
        return repr(location), []
    if "env" in entry.sources and env_value is not None:
        return 'os.environ["HPO_WIDGET_STORAGE"]', ["import os"]
    prompt = f"Password for {masked}: "
    if "://" in masked and "***@" in masked:
        secret = f"quote(getpass({prompt!r}), safe='')"
        imports = ["from getpass import getpass", "from urllib.parse import quote"]
    else:
        secret = f"getpass({prompt!r})"
        imports = ["from getpass import getpass"]
    return f"{masked!r}.replace('***', {secret}, 1)", imports


def _space_literal(study: optuna.Study) -> str | None:
    """The search space the study's trials sampled from, as a ``from_dict`` literal."""
    from ..space import SearchSpace

    distributions: dict[str, Any] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        for k, d in t.distributions.items():
            distributions.setdefault(k, d)
    if not distributions:
        return None
    try:
        space = SearchSpace.from_distributions(distributions)
    except (ValueError, TypeError):
        return None
    return pprint.pformat(space.to_dict(), indent=4, width=88, sort_dicts=False)


def code_cell(entry: StorageEntry, name: str, kind: CodeKind) -> str:
    """The text of a notebook cell that loads (``load``) or resumes (``resume``) the study."""
    study = load_study(entry, name)
    expr, imports = _storage_expression(entry, os.environ.get("HPO_WIDGET_STORAGE"))
    if kind == "load":
        lines = [
            "import optuna",
            *imports,
            "",
            "from hpo_widget.storage import open_storage, resolve_storage",
            "",
            "study = optuna.load_study(",
            f"    study_name={name!r},",
            f"    storage=open_storage(resolve_storage({expr})),",
            ")",
            "# The last trials; study.trials_dataframe() gives the whole table (needs pandas).",
            "[(t.number, t.state.name, t.values, t.params) for t in study.trials[-5:]]",
        ]
        return "\n".join(lines) + "\n"
    record = run_record.read(compat.storage_of(study), compat.study_id(study))
    space = _space_literal(study)
    lines = ["import hpo_widget", *imports, ""]
    if space is not None:
        lines += [
            "# The parameters this study's trials sampled; drop `space=` if your",
            "# objective(trial) suggests its own.",
            f"space = hpo_widget.SearchSpace.from_dict({space})",
            "",
        ]
    lines += [
        "# `objective` must be the function the study was created with: define it above.",
        "panel = hpo_widget.Panel(",
        "    objective,",
    ]
    if space is not None:
        lines.append("    space=space,")
    lines += [
        f"    study_name={name!r},",
        f"    storage={expr},",
        f"    n_trials={record.n_trials if record is not None else None!r},",
        "    resume=True,",
        ")",
        "panel",
    ]
    return "\n".join(lines) + "\n"
