"""Regression tests for Stop and for a dead driver on every local backend (issue 8, items 1 and 3).

* Stop with a hung objective (``time.sleep(3600)``) returns, leaves nothing RUNNING, kills the
  objective's process where there is one, and the driver process exits after ``close()``
  (before: loky's stop() took 30 s, left the trials RUNNING and the process never exited; a
  hung Dask task held its worker, so a resume never ran a trial).
* Worker processes of a SIGKILLed driver exit by themselves (before: loky orphans ran every
  remaining trial and lived 390 s, until loky's idle timeout).
* loky never runs the objective in the driver, also with one worker, and names the exit code
  of a worker process that died.

Every test drives real processes (loky, a Dask LocalCluster, Spark local[2]); waits are bounded
generously to catch a hang, never to time a path: the seconds are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import psutil
import pytest
from optuna.trial import TrialState

from hpo_widget import RunStatus, StudyRunner, _attrs
from hpo_widget.backends._base import WorkerProcessExited
from hpo_widget.backends.dask import DaskBackend
from hpo_widget.backends.local import LokyBackend
from tests._spark_fixtures import (
    all_running,
    assert_lost_trials_rerun,
    counts,
    lost,
    pid_alive,
    wait_for,
    worker_pid,
)

HANG_BOUND = 120.0  # seconds: only to turn a hang into a failure
ROOT = Path(__file__).resolve().parent.parent


# -- objectives and worker functions (module level: loky and Dask import them by name) ---------
def hung(trial: optuna.Trial) -> float:
    trial.suggest_float("x", 0, 1)
    time.sleep(3600)
    return 0.0


def hung_first_two(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0, 1)
    if trial.number < 2:
        time.sleep(3600)
    return x


def steady(trial: optuna.Trial) -> float:
    """Long enough that a worker finishes at most its current trial while noticing a dead
    driver, short enough that orphans would finish many more."""
    x = trial.suggest_float("x", 0, 1)
    time.sleep(4)
    return x


def whose(trial: optuna.Trial) -> float:
    trial.set_user_attr("pid", os.getpid())
    return trial.suggest_float("x", 0, 1)


def _pid() -> int:
    return os.getpid()


def _work(mode: str, pid_file: str) -> int:
    """A worker function for LokyBackend.run: records its PID, then hangs or dies."""
    Path(pid_file).write_text(str(os.getpid()))
    if mode == "exit":
        time.sleep(0.5)  # let the sibling start and record its PID
        os._exit(3)
    if mode == "kill":
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(3600)
    return os.getpid()


# -- helpers -----------------------------------------------------------------------------------
def journal(path: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def load(path: Path, name: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=journal(path))


def running_pids(study: optuna.Study, n: int = 2) -> list[int]:
    """PIDs of the processes running ``n`` trials (once there are ``n``)."""
    running = wait_for(lambda: all_running(study, n), HANG_BOUND, f"{n} running trials")
    return [worker_pid(t) for t in running]


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PYSPARK_PYTHON": sys.executable}


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _finished(path: Path, name: str | None = None) -> int:
    return sum(t.state.is_finished() for t in load(path, name).get_trials(deepcopy=False))


def _kill_driver_and_wait_for_its_processes(
    driver: subprocess.Popen[str], worker_pids: list[int], what: str
) -> list[psutil.Process]:
    """SIGKILL ``driver`` and wait until every process it had started is gone."""
    descendants = psutil.Process(driver.pid).children(recursive=True)
    assert set(worker_pids) <= {p.pid for p in descendants}, (worker_pids, descendants)
    assert driver.pid not in worker_pids
    driver.kill()
    driver.wait(timeout=HANG_BOUND)
    killed = time.monotonic()
    wait_for(lambda: not any(_alive(p) for p in descendants), HANG_BOUND, f"{what} to exit")
    print(
        f"\n{what}: {len(descendants)} processes of the killed driver gone after "
        f"{time.monotonic() - killed:.1f} s"
    )
    return descendants


# -- Stop with a hung objective; the driver process exits ----------------------------------------
_STOP_AND_EXIT = textwrap.dedent(
    """
    import json, sys, time
    from hpo_widget import StudyRunner
    from tests.test_backend_faults import hung, running_pids

    runner = StudyRunner(hung, storage=sys.argv[1], backend=sys.argv[2], n_workers=2)
    runner.start(n_trials=4)
    pids = running_pids(runner.study)
    start = time.monotonic()
    runner.stop()
    stop = time.monotonic() - start
    status, running = runner.status.value, runner.progress.running
    start = time.monotonic()
    runner.close()
    close = time.monotonic() - start
    print(json.dumps(dict(status=status, running=running, stop=stop, close=close, pids=pids)))
    """
)


@pytest.mark.parametrize("backend", ["threading", "loky", "dask"])
def test_stop_with_a_hung_objective_returns_and_the_driver_exits(
    tmp_path: Path, backend: str
) -> None:
    path = tmp_path / "s.journal"
    # A hang of stop(), close() or of the interpreter's exit fails here (TimeoutExpired).
    proc = subprocess.run(
        [sys.executable, "-c", _STOP_AND_EXIT, str(path), backend],
        capture_output=True, text=True, timeout=HANG_BOUND, env=_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{backend}, hung objective: stop() {out['stop']:.2f} s, close() {out['close']:.2f} s")
    assert (out["status"], out["running"]) == ("stopped", 0)
    study = load(path)
    assert "RUNNING" not in counts(study)
    stopped = lost(study)
    assert len(stopped) == 2
    assert all("stopped" in t.system_attrs[_attrs.FAIL_REASON] for t in stopped)
    # The hung objectives' processes (the driver itself for threads) are gone too.
    wait_for(lambda: not any(pid_alive(p) for p in out["pids"]), HANG_BOUND, "the objectives")


_ENDS_MID_RUN = textwrap.dedent(
    """
    import json, sys
    from hpo_widget import StudyRunner
    from tests.test_backend_faults import hung, running_pids

    runner = StudyRunner(hung, storage=sys.argv[1], backend=sys.argv[2], n_workers=2)
    runner.start(n_trials=4)
    print(json.dumps(running_pids(runner.study)))
    # The script ends here, with both trials hung: no stop(), no close().
    """
)


@pytest.mark.parametrize("backend", ["threading", "loky", "dask"])
def test_a_script_that_ends_mid_run_exits(tmp_path: Path, backend: str) -> None:
    # Before: loky's exit hook waited for the hung trials, so the interpreter never exited.
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _ENDS_MID_RUN, str(tmp_path / "s.journal"), backend],
        capture_output=True, text=True, timeout=HANG_BOUND, env=_env(),
    )  # fmt: skip
    print(f"\n{backend}: a script ending mid-run exited after {time.monotonic() - start:.1f} s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    pids = json.loads(proc.stdout.strip().splitlines()[-1])
    wait_for(lambda: not any(pid_alive(p) for p in pids), HANG_BOUND, "the objectives")


# -- loky: cancel kills, one worker is a process of its own, deaths name their exit code -------
def test_loky_cancel_kills_the_running_worker_processes(tmp_path: Path) -> None:
    backend = LokyBackend()
    files = [str(tmp_path / f"pid{i}") for i in range(2)]
    returned: list[list[Any]] = []
    thread = threading.Thread(
        target=lambda: returned.append(backend.run(_work, [("hang", f) for f in files]))
    )
    thread.start()
    wait_for(lambda: all(os.path.exists(f) for f in files), HANG_BOUND, "two hung workers")
    pids = [int(Path(f).read_text()) for f in files]
    backend.cancel()
    thread.join(HANG_BOUND)
    assert not thread.is_alive() and returned == [[]]
    wait_for(lambda: not any(pid_alive(p) for p in pids), HANG_BOUND, "the worker processes")


@pytest.mark.parametrize(
    ("mode", "code", "text"), [("exit", 3, "code 3"), ("kill", -9, "code -9 (SIGKILL)")]
)
def test_a_dead_loky_worker_is_reported_with_its_exit_code(
    tmp_path: Path, mode: str, code: int, text: str
) -> None:
    files = [str(tmp_path / "dies"), str(tmp_path / "sibling")]
    with pytest.raises(
        WorkerProcessExited, match=re.escape(f"loky worker process exited with {text}")
    ) as e:
        LokyBackend().run(_work, [(mode, files[0]), ("hang", files[1])])
    assert e.value.exit_codes == (code,)
    # The sibling of the dead worker does not hang on: loky stops the whole pool.
    sibling = int(Path(files[1]).read_text())
    wait_for(lambda: not pid_alive(sibling), HANG_BOUND, "the sibling worker process")


def test_one_loky_worker_is_a_process_of_its_own(tmp_path: Path) -> None:
    assert LokyBackend().run(_pid, [()]) != [os.getpid()]
    runner = StudyRunner(whose, storage=str(tmp_path / "s.journal"), backend="loky", n_workers=1)
    study = runner.start(n_trials=2).wait(timeout=HANG_BOUND)
    assert counts(study) == {"COMPLETE": 2}
    assert os.getpid() not in {t.user_attrs["pid"] for t in study.trials}


_NOTEBOOK_OBJECTIVE = textwrap.dedent(
    """
    import json, os, sys
    from hpo_widget import StudyRunner

    def objective(trial):  # defined in __main__, as in a notebook: travels by value
        trial.set_user_attr("pid", os.getpid())
        return trial.suggest_float("x", 0, 1)

    runner = StudyRunner(objective, storage=sys.argv[1], backend="loky", n_workers=1)
    study = runner.start(n_trials=2).wait(timeout=60)
    runner.close()
    pids = [t.user_attrs["pid"] for t in study.trials]
    print(json.dumps(dict(driver=os.getpid(), pids=pids, states=[t.state.name for t in study.trials])))
    """
)


def test_a_notebook_objective_runs_in_a_loky_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _NOTEBOOK_OBJECTIVE, str(tmp_path / "s.journal")],
        capture_output=True, text=True, timeout=HANG_BOUND, env=_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["states"] == ["COMPLETE", "COMPLETE"]
    assert out["driver"] not in out["pids"]


# -- workers of a SIGKILLed driver exit ------------------------------------------------------------
_KILLED_DRIVER = textwrap.dedent(
    """
    import sys, time
    from hpo_widget import StudyRunner
    from tests.test_backend_faults import steady

    StudyRunner(steady, storage=sys.argv[1], backend=sys.argv[2], n_workers=2).start(n_trials=40)
    time.sleep(3600)
    """
)


def _running_in(path: Path, name: str | None = None) -> list[int]:
    """PIDs of two running trials' workers in the journal at ``path`` (once there are two)."""
    try:
        study = load(path, name)
    except (KeyError, ValueError):  # not created yet
        return []
    return [worker_pid(t) for t in all_running(study, 2)]


@pytest.mark.parametrize("backend", ["loky", "dask"])
def test_workers_exit_when_their_driver_is_killed(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "s.journal"
    driver = subprocess.Popen(
        [sys.executable, "-c", _KILLED_DRIVER, str(path), backend], env=_env(), text=True
    )
    try:
        pids = wait_for(lambda: path.exists() and _running_in(path), HANG_BOUND, "two trials")
        finished = _finished(path)
        _kill_driver_and_wait_for_its_processes(driver, pids, f"{backend} workers")
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    # Nothing ran on: at most the trial each worker held when the driver died can have ended.
    assert _finished(path) <= finished + 2


# -- Dask: a hung trial does not hold its worker after Stop -----------------------------------
@pytest.fixture(scope="module")
def dask_backend() -> Iterator[DaskBackend]:
    backend = DaskBackend(n_workers=2)  # a LocalCluster of two worker processes
    try:
        yield backend
    finally:
        backend.close()


def test_dask_stop_kills_a_hung_trial_so_a_resume_runs(
    dask_backend: DaskBackend, tmp_path: Path
) -> None:
    # Before: the hung tasks kept both worker threads, so the resume never ran a trial.
    runner = StudyRunner(
        hung_first_two, storage=str(tmp_path / "s.journal"), backend=dask_backend, n_workers=2
    )
    runner.start(n_trials=4)
    try:
        pids = running_pids(runner.study)
        runner.stop()
        assert runner.status is RunStatus.STOPPED
        assert not runner.study.get_trials(states=(TrialState.RUNNING,))
        wait_for(lambda: not any(pid_alive(p) for p in pids), HANG_BOUND, "the hung workers")
        study = runner.start(n_trials=4).wait(timeout=HANG_BOUND)
    finally:
        runner.stop()
    assert counts(study) == {"COMPLETE": 4, "FAIL": 2}
    assert_lost_trials_rerun(study)
    assert dask_backend.default_workers() == 2


# -- Spark local[2]: Stop with a hung objective, then a second run whose driver is killed ------
_SPARK_DRIVER = textwrap.dedent(
    """
    import json, sys, time
    from pyspark import cloudpickle
    import tests.test_backend_faults as objectives
    from hpo_widget import StudyRunner

    cloudpickle.register_pickle_by_value(objectives)  # executors do not have the tests
    path = sys.argv[1]
    options = {"master": "local[2]"}
    runner = StudyRunner(objectives.hung, study_name="hung", storage=path, backend="spark",
                         n_workers=2, backend_options=options)
    runner.start(n_trials=4)
    pids = objectives.running_pids(runner.study)
    start = time.monotonic()
    runner.stop()
    stop = time.monotonic() - start
    print(json.dumps(dict(status=runner.status.value, running=runner.progress.running,
                          stop=stop, pids=pids)), flush=True)
    second = StudyRunner(objectives.steady, study_name="steady", storage=path, backend="spark",
                         n_workers=2)
    second.start(n_trials=40)
    time.sleep(3600)
    """
)


@pytest.mark.spark
def test_spark_stop_with_a_hung_objective_and_workers_of_a_killed_driver(tmp_path: Path) -> None:
    path = tmp_path / "s.journal"
    driver = subprocess.Popen(
        [sys.executable, "-c", _SPARK_DRIVER, str(path)],
        env=_env(), text=True, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert driver.stdout is not None
        line = driver.stdout.readline()
        assert line, "the Spark driver died before stopping its first run"
        out = json.loads(line)
        print(f"\nspark local[2], hung objective: stop() {out['stop']:.2f} s")
        assert (out["status"], out["running"]) == ("stopped", 0)
        hung_study = load(path, "hung")
        assert "RUNNING" not in counts(hung_study) and len(lost(hung_study)) == 2
        # interruptOnCancel: Spark kills the cancelled tasks' Python workers.
        wait_for(lambda: not any(pid_alive(p) for p in out["pids"]), HANG_BOUND, "hung workers")

        pids = wait_for(lambda: _running_in(path, "steady"), HANG_BOUND, "two steady trials")
        finished = _finished(path, "steady")
        # The JVM (a child of the driver) exits on EOF of its stdin, and Spark's Python daemon
        # kills its workers when the JVM goes.
        _kill_driver_and_wait_for_its_processes(driver, pids, "spark JVM and Python workers")
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert _finished(path, "steady") <= finished + 2
