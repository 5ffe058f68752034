"""Sampling on the driver: tickets that carry their parameters when the search space is known.

A worker on an executor that samples for itself reads the whole study through the storage proxy
for every trial (TPE: all finished trials; CMA-ES and multivariate TPE already when the trial is
built), writes each parameter back one round trip at a time, and spends its executor's CPU on
the sampler.  The driver has the study in memory (or an incrementally read replica), so when the
parameters are known up front -- a :class:`~hpo_widget.SearchSpace` from the form, a spec or a
preset, not a define-by-run objective -- it samples each ticket as it issues it, and the worker
finds the values already there: ``trial.suggest_*`` returns a parameter the trial already has
without asking the sampler or storage.

The pool of tickets is small (a few per worker), so the sampler runs at most that far ahead of
the results, like Optuna's own parallel workers with ``n_jobs``.  Retries keep their parameters
as before (``fixed_params``); budgets, pruning (on the worker) and the trials' rows are as when
workers sample.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from . import _optuna_compat as compat
from .objectives import ParamsObjective
from .space import SearchSpace

__all__ = ["presample", "samples_on_driver", "sampling_space"]

#: Samplers whose whole effect is what they return: their ``before_trial``/``after_trial`` only
#: pass through to an inner random sampler (no-ops) or handle constraints, which runs exclude
#: below.  Grid and brute-force samplers pick work in ``before_trial`` from what others run, and
#: custom samplers may keep state anywhere: those keep sampling on the worker.
_STATELESS_SAMPLERS: tuple[type[optuna.samplers.BaseSampler], ...] = (
    optuna.samplers.TPESampler,
    optuna.samplers.RandomSampler,
    optuna.samplers.CmaEsSampler,
    optuna.samplers.QMCSampler,
    optuna.samplers.GPSampler,
    optuna.samplers.NSGAIISampler,
)


def samples_on_driver(sampler: optuna.samplers.BaseSampler) -> bool:
    """Whether ``sampler`` may run on the driver for workers elsewhere.

    Only Optuna's own samplers listed above, and only without a ``constraints_func``: the
    constraints are computed in ``after_trial``, which runs where the trial is told (the worker).
    """
    return type(sampler) in _STATELESS_SAMPLERS and compat.sampler_constraints(sampler) is None


def sampling_space(objective: object) -> SearchSpace | None:
    """The space an objective samples all of its parameters from, or None (define-by-run)."""
    from .presets import SklearnPreset

    if isinstance(objective, (ParamsObjective, SklearnPreset)):
        return objective.space
    return None


def presample(study: optuna.Study, trial_id: int, space: SearchSpace) -> None:
    """Sample the WAITING ticket ``trial_id`` of ``study`` with the study's sampler.

    Does what ``Study.ask()`` and the objective's ``suggest`` calls would do on a worker: the
    sampler's ``before_trial``, relative sampling (in building the trial), then every
    parameter, written on the still-WAITING trial.  A sampler that raises leaves no half-sampled
    ticket behind for a worker to run: the ticket fails, the error propagates and the run
    reports it.
    """
    storage = compat.storage_of(study)
    try:
        study.sampler.before_trial(study, storage.get_trial(trial_id))
        space.suggest(compat.trial_for(study, trial_id))
    except BaseException:
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        raise
