"""The one place hpo_widget touches Optuna's private API.

Optuna's public API has no way to claim a WAITING trial atomically, to reach a study's storage
and id, to serve its gRPC storage protocol with interceptors, to run a study callback that
calls ``study.stop()`` outside ``optimize``, or to tell cheaply whether an RDB storage changed
(the server reads Optuna's tables for that); hpo_widget needs all of these.  Every such use is
here, behind a small function with a stable meaning, and ``tests/test_optuna_compat.py`` checks
each against the installed Optuna, so a release that moves one fails loudly in one test rather
than somewhere inside a run.  Nothing else in the package may use a ``_private`` Optuna name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage, GrpcStorageProxy, JournalStorage
from optuna.storages.journal._storage import JournalOperation
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    import grpc

__all__ = [
    "RDB_CHANGE_AGGREGATES",
    "RDB_STUDY_ATTR_ROWS",
    "GrpcStorageProxyWithInterceptor",
    "JournalBatch",
    "TrialsStudy",
    "add_storage_servicer",
    "callback_scope",
    "create_trial",
    "journal_batch",
    "pareto_front",
    "probe_proxy",
    "sampler_constraints",
    "storage_of",
    "study_id",
    "tell",
    "tell_held",
    "trial_for",
    "trial_from_wire",
    "trial_id",
    "trial_to_wire",
]


# -- studies and trials -------------------------------------------------------------------------
def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage object a study reads and writes (``Study._storage``)."""
    storage: BaseStorage = study._storage
    return storage


def study_id(study: optuna.Study) -> int:
    """The storage's id of a study (``Study._study_id``), which every storage call takes."""
    return int(study._study_id)


def trial_id(trial: FrozenTrial | optuna.Trial) -> int:
    """The storage's id of a trial (``_trial_id``; ``number`` is per study, the id per storage)."""
    return int(trial._trial_id)


def create_trial(storage: BaseStorage, study_id: int, template_trial: FrozenTrial) -> int:
    """``storage.create_new_trial``, and on Optuna's cached RDB storage a new trial that the
    next read of the study fetches again.

    ``_CachedStorage.create_new_trial`` commits the trial, then caches the copy the commit
    returned, outside its lock and without marking it unfinished.  When a worker in another
    process claims and finishes the trial in between and a read in this process (the driver's
    poll, in another thread) caches the finished trial, that stale WAITING copy replaces it;
    and since its id is below the newest finished trial's, no later read looks at it again:
    this process sees it WAITING for good (a run one trial short of its budget, forever, while
    its workers, who see it finished, leave).  Marked unfinished, it is read again.
    """
    from optuna.storages._cached_storage import _CachedStorage

    tid = storage.create_new_trial(study_id, template_trial=template_trial)
    if isinstance(storage, _CachedStorage):
        with storage._lock:
            info = storage._studies.get(study_id)
            if info is not None:
                info.unfinished_trial_ids.add(tid)
    return tid


def trial_for(study: optuna.Study, claimed_trial_id: int) -> optuna.Trial:
    """A live :class:`optuna.Trial` for a trial this process just set RUNNING.

    Does the bookkeeping ``Study.ask()`` does before building a trial: the study's per-thread
    cache of all trials is dropped, so the sampler sees the claim.
    """
    local = getattr(study, "_thread_local", None)
    if local is not None:
        local.cached_all_trials = None
    return optuna.Trial(study, claimed_trial_id)


def sampler_constraints(sampler: optuna.samplers.BaseSampler) -> Any:
    """The ``constraints_func`` a sampler was built with (``_constraints_func``), or None.

    Optuna evaluates constraints in the sampler's ``after_trial``; a run that samples on the
    driver must know whether that hook does anything (:mod:`hpo_widget._driver_sampling`).
    """
    return getattr(sampler, "_constraints_func", None)


def tell(
    study: optuna.Study,
    trial: optuna.Trial,
    values: Sequence[float] | None = None,
    state: TrialState | None = None,
) -> None:
    """``study.tell(trial, values, state=state, skip_if_finished=True)`` without its result.

    ``Study.tell`` reads the trial back after writing it, to return a copy nobody here uses:
    one storage round trip per trial on the remote path.  ``optimize`` itself calls the
    function behind it (``optuna.study._tell._tell_with_warning``), so this keeps Optuna's
    exact semantics (state checks, the sampler's ``after_trial``, pruned values).
    """
    from optuna.study import _tell

    _tell._tell_with_warning(
        study, trial, value_or_values=values, state=state, skip_if_finished=True
    )


class _FinalWriteHeld:
    """A study's storage, all but the final state write of one trial, which it keeps."""

    def __init__(self, storage: BaseStorage, trial_id: int) -> None:
        self._storage, self._trial_id = storage, trial_id
        self.held: tuple[TrialState, list[float] | None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        if trial_id == self._trial_id and state.is_finished():
            self.held = (state, None if values is None else list(values))
            return True
        return bool(self._storage.set_trial_state_values(trial_id, state, values))


def tell_held(
    study: optuna.Study, trial: optuna.Trial, values: Sequence[float] | None = None
) -> tuple[TrialState, list[float] | None] | None:
    """:func:`tell` up to its last step, the write of the trial's state and values, which it
    returns instead (None: the trial had finished already; nothing to write).

    Everything before that write happens as in ``optimize`` (checks, the sampler's
    ``after_trial``); the caller writes the result with its next step (a worker's next claim
    on a journal file), one append instead of two.  The study's storage is swapped for the
    call: only for a study no other thread of the process uses (a worker's own).
    """
    from optuna.study import _tell

    storage = study._storage
    holder = _FinalWriteHeld(storage, trial_id(trial))
    study._storage = holder  # type: ignore[assignment]
    try:
        _tell._tell_with_warning(study, trial, value_or_values=values, skip_if_finished=True)
    finally:
        study._storage = storage
    return holder.held


@contextmanager
def callback_scope(study: optuna.Study) -> Iterator[list[bool]]:
    """Run Optuna study callbacks as ``optimize`` does, so ``study.stop()`` works inside them.

    Yields a one-item list that holds True afterwards if a callback called ``study.stop()``
    (``optimize`` sets ``_thread_local.in_optimize_loop`` and reads ``_stop_flag``).
    """
    local = study._thread_local
    before = local.in_optimize_loop
    study._stop_flag = False
    local.in_optimize_loop = True
    stopped = [False]
    try:
        yield stopped
    finally:
        local.in_optimize_loop = before
        stopped[0] = bool(study._stop_flag)
        study._stop_flag = False


def pareto_front(
    trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]
) -> list[FrozenTrial]:
    """The non-dominated trials among ``trials``, by Optuna's own rule (``best_trials``)."""
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    return list(_get_pareto_front_trials_by_trials(list(trials), list(directions)))


class TrialsStudy:
    """The read-only slice of :class:`optuna.study.Study` that importance evaluators use.

    ``get_param_importances`` takes a study; figures have a list of trials (a snapshot, or a
    filtered view), and building a real study would copy them into a storage.  The evaluators
    call ``_is_multi_objective`` (private), ``directions`` and ``get_trials``.
    """

    def __init__(self, trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]):
        self._trials = list(trials)
        self.directions = list(directions)

    @property
    def direction(self) -> StudyDirection:
        return self.directions[0]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._trials

    def _is_multi_objective(self) -> bool:
        return len(self.directions) > 1

    def get_trials(
        self, deepcopy: bool = True, states: Iterable[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if states is None:
            return list(self._trials)
        wanted = tuple(states)
        return [t for t in self._trials if t.state in wanted]


# -- the gRPC storage proxy ---------------------------------------------------------------------
def add_storage_servicer(server: grpc.Server, storage: BaseStorage) -> None:
    """Serve ``storage`` with Optuna's own servicer, so the wire protocol stays Optuna's."""
    from optuna.storages._grpc import servicer
    from optuna.storages._grpc.auto_generated import api_pb2_grpc

    api_pb2_grpc.add_StorageServiceServicer_to_server(
        servicer.OptunaStorageProxyService(storage), server
    )


def trial_to_wire(trial: FrozenTrial) -> bytes:
    """``trial`` in the proxy's own wire form (Optuna's ``Trial`` message), for replies of
    the proxy's extra methods."""
    from optuna.storages._grpc import servicer

    return bytes(servicer._to_proto_trial(trial).SerializeToString())


def trial_from_wire(data: bytes) -> FrozenTrial:
    from optuna.storages._grpc import servicer
    from optuna.storages._grpc.auto_generated import api_pb2

    return servicer._from_proto_trial(api_pb2.Trial.FromString(data))


def probe_proxy(proxy: GrpcStorageProxy, study_name: str, timeout: float) -> grpc.RpcError | None:
    """Look ``study_name`` up through ``proxy``'s own channel, waiting up to ``timeout`` seconds
    for the server to come up; returns the call's error (``NOT_FOUND`` for a name nobody uses).

    This replaces ``GrpcStorageProxy.wait_server_ready``, which checks a second channel with
    ``grpc.channel_ready_future`` and closes it: the close waits for gRPC's connectivity
    polling thread, 0.2 s measured here, and every Spark worker paid it before its first trial.
    A call with ``wait_for_ready`` waits for the connection the same way, on the channel the
    client keeps, and through its interceptors (the token).
    """
    import grpc
    from optuna.storages._grpc.auto_generated import api_pb2

    request = api_pb2.GetStudyIdFromNameRequest(study_name=study_name)
    try:
        proxy._stub.GetStudyIdFromName(request, wait_for_ready=True, timeout=timeout)
    except grpc.RpcError as exc:
        return exc
    return None


class GrpcStorageProxyWithInterceptor(GrpcStorageProxy):
    """Optuna's gRPC storage client on a channel wrapped by ``interceptor``.

    Optuna 5 builds only an insecure channel and takes no credentials or interceptors.
    ``_setup`` (also called on unpickling) builds ``_channel``, ``_stub`` and ``_cache`` (which
    holds the stub); the last two are rebuilt on the intercepted channel.  Pickles like the
    parent (Spark ships it to executors), the interceptor included.
    """

    def __init__(self, *, host: str, port: int, interceptor: Any) -> None:
        self._interceptor = interceptor
        super().__init__(host=host, port=port)

    def _setup(self) -> None:
        import grpc

        super()._setup()
        self._channel = grpc.intercept_channel(self._channel, self._interceptor)
        self._stub = type(self._stub)(self._channel)
        self._cache = type(self._cache)(self._stub)


# -- Optuna's RDB schema ------------------------------------------------------------------------
# Table and column names of ``optuna.storages.RDBStorage``: versioned and migrated by Optuna
# (``optuna storage upgrade``), but not API.  Nothing else in the package may name them.

#: One row of aggregates over every table whose rows a view shows: row counts, the largest id
#: (ids only grow, so any insert raises it), and how many trials have started and finished.
RDB_CHANGE_AGGREGATES = """
SELECT
  (SELECT COUNT(*) FROM studies),
  (SELECT COALESCE(MAX(study_id), 0) FROM studies),
  (SELECT COALESCE(MAX(study_system_attribute_id), 0) FROM study_system_attributes),
  (SELECT COUNT(*) FROM trials),
  (SELECT COALESCE(MAX(trial_id), 0) FROM trials),
  (SELECT COUNT(datetime_start) FROM trials),
  (SELECT COUNT(datetime_complete) FROM trials),
  (SELECT COALESCE(MAX(param_id), 0) FROM trial_params),
  (SELECT COALESCE(MAX(trial_value_id), 0) FROM trial_values),
  (SELECT COALESCE(MAX(trial_intermediate_value_id), 0) FROM trial_intermediate_values),
  (SELECT COALESCE(MAX(trial_system_attribute_id), 0) FROM trial_system_attributes)
"""

#: ``(study_id, value_json)`` of the study system attribute ``:key`` of every study, the JSON
#: text as ``set_study_system_attr`` stored it.
RDB_STUDY_ATTR_ROWS = (
    "SELECT study_id, value_json FROM study_system_attributes WHERE key = :key ORDER BY study_id"
)


# -- journal files ------------------------------------------------------------------------------
class JournalBatch:
    """Writes collected inside :func:`journal_batch`, appended as one write when it ends.

    What it reads is the storage's replay (``JournalStorage._replay_result``), synced with the
    file as the batch began: while the batch is open no other writer appends, so a trial seen
    WAITING here is still WAITING when the claim is written (no lost race to write and undo)
    and a new trial's id is known before it is written (the replay numbers trials in order).
    Log records are Optuna's own (``JournalStorage``'s ``create_new_trial``,
    ``set_trial_state_values``, ``set_trial_system_attr``, ``set_study_system_attr``).
    """

    def __init__(self, storage: Any) -> None:
        self._replay = storage._replay_result
        self._worker = self._replay.worker_id
        self.logs: list[dict[str, Any]] = []
        self._created: list[int] = []

    def _log(self, op: Any, **fields: Any) -> None:
        self.logs.append({"op_code": op, "worker_id": self._worker, **fields})

    def trial_state(self, trial_id: int) -> TrialState | None:
        trial = self._replay._trials.get(trial_id)
        return None if trial is None else trial.state

    def study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._replay._studies[study_id].system_attrs)

    def create_trial(self, study_id: int, system_attrs: dict[str, Any]) -> int:
        """A WAITING trial with ``system_attrs``; returns the id the replay will give it."""
        tid = len(self._replay._trials) + len(self._created)
        self._created.append(tid)
        self._log(
            JournalOperation.CREATE_TRIAL,
            study_id=study_id,
            datetime_start=None,
            state=TrialState.WAITING,
            value=None,
            values=None,
            distributions={},
            params={},
            user_attrs={},
            system_attrs=system_attrs,
            intermediate_values={},
        )
        return tid

    def claim(self, trial_id: int) -> None:
        """Set a trial this batch saw WAITING to RUNNING, owned by this thread."""
        self._log(
            JournalOperation.SET_TRIAL_STATE_VALUES,
            trial_id=trial_id,
            state=TrialState.RUNNING,
            values=None,
            datetime_start=datetime.now(tz=UTC).isoformat(timespec="microseconds"),
        )

    def finish(self, trial_id: int, state: TrialState, values: list[float] | None) -> bool:
        """A RUNNING trial's result; False (nothing written) when it finished already (a
        stop or the reaper failed it), as Optuna refuses the write."""
        if self.trial_state(trial_id) != TrialState.RUNNING:
            return False
        self._log(
            JournalOperation.SET_TRIAL_STATE_VALUES,
            trial_id=trial_id,
            state=state,
            values=values,
            datetime_complete=datetime.now(tz=UTC).isoformat(timespec="microseconds"),
        )
        return True

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._log(
            JournalOperation.SET_TRIAL_SYSTEM_ATTR, trial_id=trial_id, system_attr={key: value}
        )

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._log(
            JournalOperation.SET_STUDY_SYSTEM_ATTR, study_id=study_id, system_attr={key: value}
        )

    def check(self) -> None:
        """After the append and the sync: the trials were created with the ids foretold."""
        if (
            self._created
            and self._replay._last_created_trial_id_by_this_process != self._created[-1]
        ):
            raise RuntimeError(
                "journal batch: the replay numbered the new trials "
                f"up to {self._replay._last_created_trial_id_by_this_process}, "
                f"not {self._created[-1]}"
            )


@contextmanager
def journal_batch(storage: BaseStorage) -> Iterator[JournalBatch | None]:
    """Read and write an hpo_widget journal file as one step: None for any other storage.

    Several writes a step makes (a worker's claim and its mark; the driver's new tickets and
    the board that offers them) go to the file as one append and one ``fsync`` instead of one
    each, under the locks Optuna's own writes take (``JournalStorage._thread_lock``, then the
    file's), so every other writer waits its turn as it would for any write.  Nothing is
    written when the block raises.
    """
    from .storage import sealed_journal

    backend = sealed_journal(storage)
    if backend is None or not isinstance(storage, JournalStorage):
        yield None
        return
    with storage._thread_lock, backend.held():
        storage._sync_with_backend()
        batch = JournalBatch(storage)
        yield batch
        if batch.logs:
            backend.append_held(batch.logs)
            storage._sync_with_backend()
            batch.check()
