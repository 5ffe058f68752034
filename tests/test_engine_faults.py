"""Regression tests for faults of the run loop found by the fault battery (issue 8): the exit
code of a dead worker, relaunch churn, RUNNING trials the runner did not create, stops written
to storage by another process, heartbeats of ``hpo-widget worker`` and the order of claims.
(Interrupts raised by objectives fail only their trial on every backend: that is part of the
contract in tests/test_backend_contract.py.)

Each test reproduces the original symptom against real processes; waits are bounded generously
to catch a hang, never to time a path (the figures are in the issue's closing note).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import StudyRunner, _attrs
from hpo_widget.backends.local import LokyBackend, ThreadingBackend
from hpo_widget.events import RunStatus
from tests._spark_fixtures import counts, wait_for

HANG_BOUND = 120.0  # seconds: only to turn a hang into a failure


def journal(path: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def run_record(study: optuna.Study) -> dict[str, Any]:
    return study._storage.get_study_system_attrs(study._study_id)[_attrs.RUN]


# -- objectives (module level: loky pickles them by reference) --------------------------------
def _exits_once(trial: optuna.Trial, marker: str) -> float:
    x = trial.suggest_float("x", 0, 1)
    if trial.number == 1 and not os.path.exists(marker):
        Path(marker).write_text("exited")
        os._exit(3)
    return x


def _steady(trial: optuna.Trial) -> float:
    time.sleep(0.3)
    return trial.suggest_float("x", 0, 1)


def _identity(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


# -- 5: a worker exit is named (interrupts raised by objectives: test_backend_contract.py) ------
def test_a_worker_process_exit_is_reported_with_its_code_before_the_grace(tmp_path: Path) -> None:
    # heartbeat_grace is far longer than the bound: the trial can only be reaped from the PID.
    runner = StudyRunner(
        _exits_once_partial(tmp_path),
        storage=str(tmp_path / "s.journal"),
        backend="loky",
        n_workers=2,
        heartbeat_grace=3600,
    )
    study = runner.start(n_trials=5).wait(timeout=HANG_BOUND)
    lost = [t for t in study.trials if t.system_attrs.get(_attrs.LOST)]
    assert 1 in [t.number for t in lost]
    reason = next(t for t in lost if t.number == 1).system_attrs[_attrs.FAIL_REASON]
    assert "exited mid-trial" in reason and "3" in reason.partition("(")[2], reason
    assert counts(study).get("COMPLETE") == 5 and "RUNNING" not in counts(study)
    runner.close()


def _exits_once_partial(tmp_path: Path) -> Any:
    import functools

    return functools.partial(_exits_once, marker=str(tmp_path / "marker"))


# -- 9: RUNNING trials the runner did not create ------------------------------------------------
_CRASHING_OPTIMIZE = textwrap.dedent(
    """
    import os, sys, optuna
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(sys.argv[1]))
    study = optuna.create_study(study_name="foreign", storage=storage)

    def objective(trial):
        trial.suggest_float("x", 0, 1)
        if trial.number == 2:
            os._exit(1)  # a crashed study.optimize: its trial stays RUNNING
        return 1.0

    study.optimize(objective, n_trials=10)
    """
)


def test_a_trial_left_running_by_a_crashed_optimize_is_reaped(tmp_path: Path) -> None:
    path = tmp_path / "foreign.journal"
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHING_OPTIMIZE, str(path)], timeout=HANG_BOUND, check=False
    )
    assert proc.returncode == 1
    left = optuna.load_study(study_name="foreign", storage=journal(path))
    assert counts(left) == {"COMPLETE": 2, "RUNNING": 1}
    # The user's own ask() in the kernel, never told: also nobody's heartbeat.
    left.ask()

    runner = StudyRunner(
        _identity, study_name="foreign", storage=str(path), n_workers=2, heartbeat_grace=1.0
    )
    study = runner.start(n_trials=8).wait(timeout=HANG_BOUND)
    assert "RUNNING" not in counts(study)
    abandoned = [t for t in study.trials if t.number in (2, 3)]
    for t in abandoned:
        assert t.state == TrialState.FAIL and t.system_attrs[_attrs.LOST]
        assert t.system_attrs[_attrs.FAIL_REASON].startswith("abandoned"), t.system_attrs
    counted = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(counted) == 8
    # The crashed trial had sampled x: its retry runs the same parameters.
    (retry,) = [t for t in study.trials if t.system_attrs.get(_attrs.RETRY_OF) == 2]
    assert retry.params == study.trials[2].params


# -- 6: no relaunch loop while a lost trial waits for its grace --------------------------------
class _CountingLoky(LokyBackend):
    """The real loky backend, counting how often the runner launches workers."""

    def __init__(self) -> None:
        super().__init__()
        self.launches = 0

    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        self.launches += 1
        return super().run(function, args)


def test_workers_wait_for_a_lost_trial_instead_of_being_relaunched(tmp_path: Path) -> None:
    path = tmp_path / "s.journal"
    study = optuna.create_study(study_name="churn", storage=journal(path))
    # A trial held by a worker on another host that died: only its heartbeat can tell, so it
    # is reaped after the grace, and the budget needs its retry.
    held = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study._storage.set_trial_system_attr(held._trial_id, _attrs.WORKER, "elsewhere:1:0")
    study._storage.set_trial_system_attr(held._trial_id, _attrs.TICKET, True)

    backend = _CountingLoky()
    runner = StudyRunner(
        _steady, study_name="churn", storage=str(path), backend=backend, n_workers=2,
        heartbeat_grace=4.0,
    )  # fmt: skip
    study = runner.start(n_trials=4).wait(timeout=HANG_BOUND)
    assert counts(study) == {"COMPLETE": 4, "FAIL": 1}
    (retry,) = [t for t in study.trials if t.system_attrs.get(_attrs.RETRY_OF) == held.number]
    assert retry.state == TrialState.COMPLETE and retry.params == study.trials[0].params
    assert backend.launches == 1, f"workers were relaunched {backend.launches - 1} times"
    runner.close()


class _IdleFirstLaunches(ThreadingBackend):
    """Real threads, but the first launches end at once without doing any work (as workers
    that found no ticket and left would)."""

    def __init__(self, idle: int) -> None:
        super().__init__()
        self.idle = idle
        self.launches = 0

    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        self.launches += 1
        if self.launches <= self.idle:
            return []
        return super().run(function, args)


def test_idle_launches_back_off_once_per_launch_not_per_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loaded CI run counted every poll while waiting to relaunch as an idle launch, until
    # 2**count overflowed: "RunError: int too large to convert to float".
    from hpo_widget import _run_loop

    asked: list[int] = []

    def delay(idle_launches: int) -> float:
        asked.append(idle_launches)
        return 0.05 if idle_launches < 3 else 0.0

    monkeypatch.setattr(_run_loop, "relaunch_delay", delay)
    backend = _IdleFirstLaunches(idle=3)
    runner = StudyRunner(
        _steady, study_name="idle", storage=str(tmp_path / "s.journal"), backend=backend,
        n_workers=2, poll_interval=0.005,
    )  # fmt: skip
    study = runner.start(n_trials=4).wait(timeout=HANG_BOUND)
    assert counts(study) == {"COMPLETE": 4}
    assert backend.launches == 4
    assert asked == [1, 2, 3], asked  # one count per launch that ended idle
    runner.close()


def test_the_relaunch_delay_is_bounded_for_any_count() -> None:
    from hpo_widget._run_loop import relaunch_delay

    assert [relaunch_delay(n) for n in (0, 1, 2, 3)] == [0.0, 0.5, 1.5, 3.5]
    assert relaunch_delay(5000) == relaunch_delay(10**9) == 10.0


def test_a_retry_ticket_is_claimed_before_plain_tickets(tmp_path: Path) -> None:
    from hpo_widget._worker import claim_ticket

    study = optuna.create_study(storage=journal(tmp_path / "s.journal"))
    for _ in range(3):
        study.add_trial(
            optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={_attrs.TICKET: True})
        )
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            system_attrs={_attrs.TICKET: True, _attrs.RETRY_OF: 0, "fixed_params": {"x": 0.5}},
        )
    )
    claimed = claim_ticket(study)
    assert claimed is not None and claimed.number == 3
    nxt = claim_ticket(study)
    assert nxt is not None and nxt.number == 0


# -- a stop written to storage by anyone ends the run ------------------------------------------
_EXTERNAL_STOP = textwrap.dedent(
    """
    import sys, optuna
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(sys.argv[1]))
    study_id = storage.get_study_id_from_name(sys.argv[2])
    run = storage.get_study_system_attrs(study_id)["hpo_widget:run"]
    storage.set_study_system_attr(study_id, "hpo_widget:run", {**run, "stop": True})
    """
)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_a_stop_written_by_another_process_ends_the_run(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "s.journal"
    runner = StudyRunner(_steady, study_name="ext", storage=str(path), backend=backend, n_workers=2)
    runner.start()  # no budget: until stopped
    wait_for(lambda: runner.progress.complete >= 2, HANG_BOUND, "two finished trials")
    subprocess.run(
        [sys.executable, "-c", _EXTERNAL_STOP, str(path), "ext"], timeout=HANG_BOUND, check=True
    )
    wait_for(lambda: not runner.running, HANG_BOUND, "the run to end after the external stop")
    assert runner.status == RunStatus.STOPPED
    study = optuna.load_study(study_name="ext", storage=journal(path))
    assert "RUNNING" not in counts(study)
    assert run_record(study)["stop"] is True
    stopped = [t for t in study.trials if t.system_attrs.get(_attrs.LOST)]
    assert all("stopped through the study's storage" in t.system_attrs[_attrs.FAIL_REASON]
               for t in stopped)  # fmt: skip
    runner.close()


def test_a_second_driver_on_the_same_study_takes_over(tmp_path: Path) -> None:
    path = tmp_path / "s.journal"
    first = StudyRunner(_steady, study_name="two", storage=str(path), n_workers=1)
    first.start()  # no budget: until stopped
    wait_for(lambda: first.progress.complete >= 1, HANG_BOUND, "a finished trial")
    second = StudyRunner(_steady, study_name="two", storage=str(path), n_workers=1)
    second.start(n_trials=first.progress.finished + 3)
    wait_for(lambda: not first.running, HANG_BOUND, "the first run to end")
    assert first.status == RunStatus.STOPPED
    study = second.wait(timeout=HANG_BOUND)
    # The first run's last trial is finished by its worker, not failed by either driver.
    wait_for(
        lambda: "RUNNING" not in counts(study), HANG_BOUND, "the first run's last trial to finish"
    )
    assert "FAIL" not in counts(study)
    assert run_record(study)["stop"] is True


# -- 10: `hpo-widget worker` heartbeats follow the driver's grace -------------------------------
def test_cli_workers_beat_as_often_as_the_drivers_grace_needs(tmp_path: Path) -> None:
    (tmp_path / "slow_objective.py").write_text(
        "import time\n\ndef objective(trial):\n"
        "    time.sleep(3.0)\n    return trial.suggest_float('x', 0, 1)\n"
    )
    path = tmp_path / "s.journal"
    # A grace shorter than the CLI worker's default 5 s beat: it must beat faster, or its
    # live 3 s trials are reaped and re-run (4 trials ran for a budget of 2 before the fix).
    runner = StudyRunner(
        _identity, study_name="beat", storage=str(path), n_workers=0, heartbeat_grace=2.0
    )
    runner.start(n_trials=2)
    env = {k: v for k, v in os.environ.items() if k != "HPO_WIDGET_STORAGE"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "hpo_widget", "worker", "--objective", "slow_objective:objective",
         "--study", "beat", "--storage", str(path), "--threads", "1", "--wait", "60"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        study = runner.wait(timeout=HANG_BOUND)
        _, err = worker.communicate(timeout=HANG_BOUND)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, err
    assert counts(study) == {"COMPLETE": 2}, [t.system_attrs for t in study.trials]
    assert run_record(study)["heartbeat_interval"] < 2.0


# 1, 3 (loky stops at once, never runs in the driver, dies with its driver): test_backend_faults.py
