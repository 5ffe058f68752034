"""The fence around Optuna's private API: each use checked against the installed Optuna, so a
release that moves one fails here, by name, instead of inside a run."""

from __future__ import annotations

import ast
import json
import pickle
import re
from pathlib import Path

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hpo_widget import _optuna_compat as compat

PACKAGE = Path(__file__).resolve().parent.parent / "hpo_widget"


def test_storage_study_and_trial_ids() -> None:
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    storage = compat.storage_of(study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    assert storage.get_study_id_from_name(study.study_name) == compat.study_id(study)
    frozen = study.trials[1]
    assert storage.get_trial(compat.trial_id(frozen)).number == 1


def test_trial_for_a_claimed_ticket_sees_the_claim() -> None:
    study = optuna.create_study()
    study.enqueue_trial({"x": 0.25})
    waiting = study.get_trials(states=(TrialState.WAITING,))[0]
    storage = compat.storage_of(study)
    assert storage.set_trial_state_values(compat.trial_id(waiting), state=TrialState.RUNNING)
    trial = compat.trial_for(study, compat.trial_id(waiting))
    assert trial.suggest_float("x", 0, 1) == 0.25  # the enqueued params: a real Trial
    study.tell(trial, 1.0)
    assert study.trials[0].state == TrialState.COMPLETE


def test_tell_keeps_optunas_semantics_without_reading_the_trial_back() -> None:
    class Counting(optuna.storages.InMemoryStorage):
        reads = 0

        def get_trial(self, trial_id: int) -> optuna.trial.FrozenTrial:
            Counting.reads += 1
            return super().get_trial(trial_id)

    study = optuna.create_study(storage=Counting())
    seen: list[TrialState] = []

    class Sampler(optuna.samplers.RandomSampler):
        def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
            seen.append(state)

    study.sampler = Sampler(seed=0)
    done = study.ask()
    done.suggest_float("x", 0, 1)
    before = Counting.reads
    compat.tell(study, done, [0.5])
    assert Counting.reads - before == 1  # Study.tell reads it twice
    assert study.trials[0].state == TrialState.COMPLETE and study.trials[0].value == 0.5

    pruned = study.ask()
    pruned.report(0.75, step=3)
    compat.tell(study, pruned, state=TrialState.PRUNED)
    assert study.trials[1].state == TrialState.PRUNED and study.trials[1].value == 0.75
    assert seen == [TrialState.COMPLETE, TrialState.PRUNED]  # the sampler's hook ran

    compat.tell(study, pruned, [1.0])  # finished already: skipped, as skip_if_finished does
    assert study.trials[1].state == TrialState.PRUNED


def test_callback_scope_lets_callbacks_stop() -> None:
    study = optuna.create_study()
    with pytest.raises(RuntimeError):
        study.stop()  # outside optimize: Optuna refuses, which is why the scope exists
    with compat.callback_scope(study) as stopped:
        study.stop()
    assert stopped == [True]
    with compat.callback_scope(study) as stopped:
        pass
    assert stopped == [False]


def test_pareto_front_and_trials_study_match_optuna() -> None:
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), 30)
    front = compat.pareto_front(study.trials, study.directions)
    assert {t.number for t in front} == {t.number for t in study.best_trials}
    view = compat.TrialsStudy(study.trials, study.directions)
    assert view._is_multi_objective() and view.get_trials(states=(TrialState.COMPLETE,))
    single = optuna.create_study()
    single.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), 20)
    view = compat.TrialsStudy(single.trials, [StudyDirection.MINIMIZE])
    importances = optuna.importance.get_param_importances(view)  # type: ignore[arg-type]
    assert set(importances) == {"x", "y"}


def test_create_trial_leaves_a_new_rdb_trial_to_be_read_again(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'c.db'}")
    storage = compat.storage_of(study)
    template = optuna.trial.create_trial(state=TrialState.WAITING)
    tid = compat.create_trial(storage, compat.study_id(study), template)
    assert storage.get_trial(tid).state == TrialState.WAITING
    info = storage._studies[compat.study_id(study)]  # type: ignore[attr-defined]
    assert tid in info.unfinished_trial_ids
    memory = optuna.create_study()
    tid = compat.create_trial(compat.storage_of(memory), compat.study_id(memory), template)
    assert memory.trials[0].state == TrialState.WAITING


def test_sampler_constraints_is_what_the_sampler_was_built_with() -> None:
    def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
        return [0.0]

    for cls in (optuna.samplers.TPESampler, optuna.samplers.NSGAIISampler):
        assert compat.sampler_constraints(cls()) is None
        assert compat.sampler_constraints(cls(constraints_func=constraints)) is constraints
    assert compat.sampler_constraints(optuna.samplers.RandomSampler()) is None


def test_grpc_proxy_client_pieces_are_still_there() -> None:
    assert callable(getattr(optuna.storages.GrpcStorageProxy, "_setup", None))
    from optuna.storages._grpc import servicer
    from optuna.storages._grpc.auto_generated import api_pb2_grpc

    assert hasattr(servicer, "OptunaStorageProxyService")
    assert hasattr(api_pb2_grpc, "add_StorageServiceServicer_to_server")
    from hpo_widget._proxy import _SendToken

    client = compat.GrpcStorageProxyWithInterceptor(
        host="127.0.0.1", port=1, interceptor=_SendToken("t")
    )
    for name in ("_channel", "_stub", "_cache"):
        assert hasattr(client, name), f"GrpcStorageProxy.{name} moved"
    assert client._cache.grpc_client is client._stub, "GrpcClientCache no longer holds the stub"
    again = pickle.loads(pickle.dumps(client))  # how Spark ships it to executors
    assert again._cache.grpc_client is again._stub
    client.close()
    again.close()


def test_rdb_change_queries_match_optunas_schema(tmp_path: Path) -> None:
    """The server's change-token SQL against a schema Optuna created: a renamed table or column
    fails here by name ("no such column: ..."), a column that stopped meaning what it did
    (ids, start/complete times, the attr's JSON text) fails an assertion."""
    from sqlalchemy import text

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'schema.db'}")
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.report(0.5, step=1)
    storage.set_trial_system_attr(compat.trial_id(trial), "k", "v")
    study.tell(trial, 1.0)
    sid = compat.study_id(study)
    storage.set_study_system_attr(sid, "k", {"a": [1, 2]})
    with storage.engine.connect() as conn:
        row = tuple(conn.execute(text(compat.RDB_CHANGE_AGGREGATES)).one())
        attrs = conn.execute(text(compat.RDB_STUDY_ATTR_ROWS), {"key": "k"}).all()
    assert len(row) == 11 and all(v >= 1 for v in row), row
    assert row[:2] == (1, sid) and row[3:7] == (1, compat.trial_id(trial), 1, 1), row
    assert [(a[0], json.loads(a[1])) for a in attrs] == [(sid, {"a": [1, 2]})]


#: SQL naming one of Optuna's RDB tables (only the fence may).
_OPTUNA_TABLE_SQL = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(?:studies|trials|study_\w+|trial_\w+)\b"
)


def _private_optuna_uses(path: Path) -> list[str]:
    """``x._study_id``-style attribute reads, ``optuna.*._private`` imports and SQL on Optuna's
    tables in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    private = {
        "_storage",
        "_study_id",
        "_trial_id",
        "_thread_local",
        "_stop_flag",
        "_constraints_func",
    }
    for node in ast.walk(tree):
        on_self = isinstance(node, ast.Attribute) and (
            isinstance(node.value, ast.Name) and node.value.id == "self"
        )
        if isinstance(node, ast.Attribute) and node.attr in private and not on_self:
            found.append(f"{path.name}:{node.lineno} .{node.attr}")
        module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
        if module.startswith("optuna") and any(p.startswith("_") for p in module.split(".")):
            found.append(f"{path.name}:{node.lineno} from {module}")
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and _OPTUNA_TABLE_SQL.search(text):
            found.append(f"{path.name}:{node.lineno} SQL on Optuna's tables")
    return found


def test_no_module_but_the_fence_uses_optunas_private_api() -> None:
    uses = [
        use
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_optuna_compat.py"
        for use in _private_optuna_uses(path)
    ]
    assert uses == []
