"""The run record in storage, and `hpo-widget stop` ending a run that another process drives."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import _attrs, run_record
from hpo_widget.cli import main
from hpo_widget.run_record import RunRecord
from hpo_widget.storage import open_storage, resolve_storage
from tests._spark_fixtures import wait_for

BOUND = 120.0  # seconds: only turns a hang into a failure


def _open(path: Path) -> optuna.storages.BaseStorage:
    return open_storage(resolve_storage(str(path)))


@pytest.fixture
def storage_and_id(tmp_path: Path) -> tuple[optuna.storages.BaseStorage, int]:
    storage = open_storage(resolve_storage(str(tmp_path / "s.journal")))
    study = optuna.create_study(study_name="s", storage=storage)
    return storage, study._study_id


def test_open_read_stop_close(storage_and_id: tuple) -> None:
    storage, sid = storage_and_id
    assert run_record.read(storage, sid) is None
    opened = run_record.open_run(storage, sid, "r1", n_trials=10, heartbeat_interval=2.0)
    assert run_record.read(storage, sid) == opened
    assert opened.active and opened.driver and opened.started
    asked = run_record.request_stop(storage, sid, "from a test")
    assert asked == opened
    stopped = run_record.read(storage, sid)
    assert stopped is not None and stopped.stop and stopped.stop_reason == "from a test"
    assert run_record.request_stop(storage, sid) is None  # nothing left to stop
    # A newer run retires the old one; closing the old run leaves the new one alone.
    run_record.open_run(storage, sid, "r2", n_trials=None, heartbeat_interval=1.0)
    run_record.close_run(storage, sid, "r1")
    current = run_record.read(storage, sid)
    assert current is not None and current.id == "r2" and current.active
    run_record.close_run(storage, sid, "r2")
    assert run_record.read(storage, sid).stop  # type: ignore[union-attr]


def test_records_of_other_versions_are_read_leniently(storage_and_id: tuple) -> None:
    storage, sid = storage_and_id
    storage.set_study_system_attr(sid, _attrs.RUN, {"id": "old", "n_trials": 5.0, "extra": 1})
    assert run_record.read(storage, sid) == RunRecord(id="old", n_trials=5)
    storage.set_study_system_attr(sid, _attrs.RUN, "garbage")
    assert run_record.read(storage, sid) is None


def test_the_driver_reads_the_record_once_a_poll_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starved polls come ten a poll interval; the record (a storage read) is not re-read."""
    from hpo_widget import StudyRunner
    from hpo_widget._run_loop import Run

    runner = StudyRunner(lambda t: t.suggest_float("x", 0, 1), storage="memory", poll_interval=60)
    run = Run(runner, 10, None)
    run._open_record()
    reads: list[int] = []
    real_read = run_record.read
    monkeypatch.setattr(run_record, "read", lambda *a: reads.append(1) or real_read(*a))
    assert run.ended_elsewhere() is None and run.ended_elsewhere() is None
    assert len(reads) == 1
    monkeypatch.undo()
    run_record.request_stop(runner.study._storage, runner.study._study_id, reason="a test")
    run._record_due = 0.0  # a poll interval later
    assert run.ended_elsewhere() == "stopped through the study's storage (a test)"


def test_stop_without_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "s.journal")
    optuna.create_study(study_name="idle", storage=open_storage(resolve_storage(path)))
    assert main(["stop", "idle", "--storage", path]) == 3
    assert "has no running run" in capsys.readouterr().out
    assert main(["stop", "nope", "--storage", path]) == 2
    assert "no study named nope" in capsys.readouterr().err


_SPEC = """\
objective: slow_objective:objective
space: {x: {type: float, low: -1, high: 1}}
storage: %s
backend: {name: %s, n_workers: 2}
# no n_trials: the run goes on until it is stopped
"""
_OBJECTIVE = textwrap.dedent(
    """\
    import time

    def objective(params):
        time.sleep(0.1)
        return params["x"] ** 2
    """
)


def _run_and_stop(tmp_path: Path, backend: str, round_: int) -> float:
    """Start `hpo-widget run` in a process, stop it with `hpo-widget stop` from this one;
    seconds from the stop request until nothing runs and the driver process has exited."""
    where = tmp_path / f"r{round_}"
    where.mkdir()
    (where / "slow_objective.py").write_text(_OBJECTIVE)
    journal = where / "s.journal"
    spec = where / "slow.yaml"
    spec.write_text(_SPEC % (journal, backend))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "hpo_widget", "run", str(spec), "-q"],
        cwd=where,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def two_finished() -> bool:
            if not journal.exists():
                return False
            try:
                study = optuna.load_study(study_name="slow", storage=_open(journal))
            except KeyError:
                return False
            return len(study.get_trials(states=(TrialState.COMPLETE,))) >= 2

        wait_for(two_finished, BOUND, "the driver's first finished trials")
        asked = time.monotonic()
        assert main(["stop", "slow", "--storage", str(journal), "--wait", str(BOUND)]) == 0
        nothing_runs = time.monotonic() - asked
        _, err = driver.communicate(timeout=BOUND)
        exited = time.monotonic() - asked
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 0, err
    study = optuna.load_study(study_name="slow", storage=_open(journal))
    assert not study.get_trials(states=(TrialState.RUNNING,))
    # A trial that finished while the driver was failing it keeps its result (and a stray
    # LOST mark, as Optuna cannot write attrs of a finished trial): only FAILs were stopped.
    stopped = [
        t for t in study.trials if t.state == TrialState.FAIL and t.system_attrs.get(_attrs.LOST)
    ]
    assert all("hpo-widget stop" in t.system_attrs[_attrs.FAIL_REASON] for t in stopped)
    print(f"\n{backend}: nothing RUNNING {nothing_runs:.2f} s, driver exited {exited:.2f} s")
    return nothing_runs


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_hpo_widget_stop_ends_a_run_driven_by_another_process(tmp_path: Path, backend: str) -> None:
    seconds = [_run_and_stop(tmp_path, backend, i) for i in range(3 if backend == "loky" else 1)]
    print(f"{backend}: stop to nothing RUNNING, median of {len(seconds)}: "
          f"{statistics.median(seconds):.2f} s")  # fmt: skip
