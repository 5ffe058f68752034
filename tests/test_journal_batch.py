"""Journal files written in steps, not call by call (issue 13: fewer writes per trial).

A worker process claims and marks its trial in one append after one read, with no other writer
in between (``_optuna_compat.journal_batch``); the driver's refills write their tickets and the
board that offers them in one append; the driver hears workers by the file's growth
(``storage.JournalGrowth``).  Everything runs on real journal files, the worker test on real
loky processes.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hpo_widget import StudyRunner, _attrs
from hpo_widget import _optuna_compat as compat
from hpo_widget.storage import JournalGrowth, open_storage, resolve_storage

RUNNING, COMPLETE = int(TrialState.RUNNING), int(TrialState.COMPLETE)
SET_STATE, SET_TRIAL_ATTR, CREATE_TRIAL = 6, 9, 4  # Optuna's JournalOperation codes


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _study(path: Path) -> optuna.Study:
    storage = open_storage(resolve_storage(str(path)))
    return optuna.create_study(storage=storage, study_name="s")


def test_a_batch_is_one_append_with_the_ids_it_foretold(tmp_path: Path) -> None:
    path = tmp_path / "s.journal"
    study = _study(path)
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))  # an older ticket
    storage, sid = compat.storage_of(study), compat.study_id(study)
    before = len(_records(path))
    with compat.journal_batch(storage) as batch:
        assert batch is not None
        assert batch.trial_state(0) == TrialState.WAITING
        new = [batch.create_trial(sid, {_attrs.TICKET: True}) for _ in range(3)]
        batch.claim(0)
        batch.set_trial_system_attr(0, _attrs.WORKER, "me")
        batch.set_study_system_attr(sid, _attrs.POOL, {"run": "r", "ids": new})
        assert len(_records(path)) == before  # nothing on the file until the block ends
    assert new == [1, 2, 3]
    assert len(_records(path)) == before + 6
    # Another process (a second storage object) reads what this one wrote.
    other = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    )
    trials = other.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.RUNNING] + [TrialState.WAITING] * 3
    assert trials[0].system_attrs[_attrs.WORKER] == "me"
    assert all(trials[i].system_attrs[_attrs.TICKET] for i in new)
    attrs = compat.storage_of(other).get_study_system_attrs(compat.study_id(other))
    assert attrs[_attrs.POOL] == {"run": "r", "ids": new}
    # This process owns the claim as if Optuna's own set_trial_state_values had made it.
    assert compat.trial_for(study, 0).number == 0


def test_a_block_that_raises_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.journal"
    study = _study(path)
    before = path.read_bytes()
    with pytest.raises(ValueError), compat.journal_batch(compat.storage_of(study)) as batch:
        assert batch is not None
        batch.create_trial(compat.study_id(study), {})
        raise ValueError("no")
    assert path.read_bytes() == before
    assert study.get_trials() == []


def test_other_storages_have_no_batch() -> None:
    with compat.journal_batch(optuna.storages.InMemoryStorage()) as batch:
        assert batch is None


def fast(trial: optuna.Trial) -> float:
    time.sleep(0.002)  # both loky workers get to claim
    return trial.suggest_float("x", 0.0, 1.0)


def test_worker_processes_write_one_claim_per_trial_with_its_mark(tmp_path: Path) -> None:
    """Claims checked and written under the file's lock: each trial has exactly one RUNNING
    record, followed in the same append by the worker's mark (call by call, the mark was a
    second write, with its own lock and fsync, that other writers could come between)."""
    path = tmp_path / "s.journal"
    n = 120
    runner = StudyRunner(
        fast, storage=str(path), backend="loky", n_workers=2, sampler="random", seed=0
    )
    try:
        study = runner.start(n_trials=n).wait(timeout=300)
    finally:
        runner.close()
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * n
    records = _records(path)
    claims = collections.Counter(
        r["trial_id"] for r in records if r["op_code"] == SET_STATE and r["state"] == RUNNING
    )
    assert sorted(claims) == list(range(n)) and set(claims.values()) == {1}, claims
    for i, r in enumerate(records):
        if r["op_code"] == SET_STATE and r["state"] == RUNNING:
            mark = records[i + 1]
            assert mark["op_code"] == SET_TRIAL_ATTR and mark["trial_id"] == r["trial_id"]
            assert list(mark["system_attr"]) == [_attrs.WORKER]  # type: ignore[call-overload]
    workers = {t.system_attrs[_attrs.WORKER] for t in study.trials}
    assert len(workers) == 2
    # A trial's result rides on the same worker's next claim: every COMPLETE record but
    # each worker's last is followed, in its append, by the next claim.
    completes = [
        i for i, r in enumerate(records) if r["op_code"] == SET_STATE and r["state"] == COMPLETE
    ]
    with_claim = [
        i
        for i in completes
        if records[i + 1 : i + 2]
        and records[i + 1]["op_code"] == SET_STATE
        and records[i + 1]["state"] == RUNNING
    ]
    assert len(completes) == n and len(with_claim) >= n - 2 * len(workers)
    # The driver wrote its tickets in batches: fewer board writes than tickets.
    boards = sum(1 for r in records if r["op_code"] == 3 and _attrs.POOL in r["system_attr"])  # type: ignore[operator]
    tickets = sum(1 for r in records if r["op_code"] == CREATE_TRIAL)
    assert tickets == n and boards < tickets


class _Recording(optuna.samplers.RandomSampler):
    def __init__(self) -> None:
        super().__init__(seed=0)
        self.after: list[tuple[int, TrialState, list[float] | None]] = []

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        self.after.append((trial.number, state, values))


@pytest.mark.filterwarnings("ignore:The value nan is not acceptable:UserWarning")
@pytest.mark.parametrize(
    ("value", "state"), [(0.5, TrialState.COMPLETE), (float("nan"), TrialState.FAIL)]
)
def test_tell_held_runs_optunas_tell_but_its_last_write(
    value: float, state: TrialState, tmp_path: Path
) -> None:
    sampler = _Recording()
    study = optuna.create_study(
        sampler=sampler, storage=open_storage(resolve_storage(str(tmp_path / "t.journal")))
    )
    storage = compat.storage_of(study)
    trial = study.ask()
    held = compat.tell_held(study, trial, [value])
    assert held is not None and held[0] == state
    assert sampler.after == [(0, state, held[1])]  # the sampler heard it, as in optimize
    assert study.trials[0].state == TrialState.RUNNING  # nothing written yet
    assert compat.storage_of(study) is storage  # the study has its own storage back
    with compat.journal_batch(compat.storage_of(study)) as batch:
        assert batch is not None
        assert batch.finish(0, *held)
    assert study.trials[0].state == state
    assert study.trials[0].values == held[1]
    with compat.journal_batch(compat.storage_of(study)) as batch:
        assert batch is not None and not batch.finish(0, *held)  # finished: refused
    assert compat.tell_held(study, trial, [value]) is None  # skip_if_finished, as optimize


def test_journal_growth_hears_an_append_and_a_stop(tmp_path: Path) -> None:
    path = tmp_path / "g.journal"
    path.write_text("")
    growth = JournalGrowth(str(path), look=0.001)
    assert growth.wait(0.05) is False  # nothing appended: the wait runs out

    def append() -> None:
        time.sleep(0.05)
        with path.open("a") as f:
            f.write("{}\n")

    writer = threading.Thread(target=append)
    writer.start()
    assert growth.wait(30.0) is True
    writer.join()
    assert growth.wait(0.01) is False  # the growth was seen once
    stop = threading.Event()
    stop.set()
    assert growth.wait(30.0, stop) is True
