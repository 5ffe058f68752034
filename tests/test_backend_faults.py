"""Regression tests for Stop and for a dead driver on every local backend (issue 8, items 1 and 3).

* Stop with a hung objective (``time.sleep(3600)``) returns, leaves nothing RUNNING, kills the
  objective's process where there is one, and the driver process exits after ``close()``
  (before: loky's stop() took 30 s, left the trials RUNNING and the process never exited).
  That a resume then runs although the stopped objectives would still hang (before: a hung
  Dask task held its worker, so a resume never ran a trial) is part of the contract every
  backend keeps, with Spark's: tests/test_backend_contract.py.
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
from pathlib import Path
from typing import Any

import optuna
import psutil
import pytest

from hpo_widget import StudyRunner, _attrs
from hpo_widget.backends._base import WorkerProcessExited
from hpo_widget.backends.local import LokyBackend
from tests._spark_fixtures import (
    all_running,
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


def _work(mode: str, pid_file: str, sibling: str | None = None) -> int:
    """A worker function for LokyBackend.run: records its PID, then hangs, or dies once the
    ``sibling`` worker has recorded its own PID."""
    Path(pid_file).write_text(str(os.getpid()))
    deadline = time.monotonic() + HANG_BOUND
    while sibling is not None and not os.path.exists(sibling) and time.monotonic() < deadline:
        time.sleep(0.02)
    if mode == "exit":
        os._exit(3)
    if mode == "kill":
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


def _run_script(script: str, *args: str) -> Any:
    """Run ``script`` in a fresh interpreter (a hang of it or of its exit fails the test);
    returns the JSON of its last output line."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True, text=True, timeout=HANG_BOUND, env=_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _finished(path: Path) -> int:
    return sum(t.state.is_finished() for t in load(path).get_trials(deepcopy=False))


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
    out = _run_script(_STOP_AND_EXIT, str(path), backend)
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
    pids = _run_script(_ENDS_MID_RUN, str(tmp_path / "s.journal"), backend)
    print(f"\n{backend}: a script ending mid-run exited after {time.monotonic() - start:.1f} s")
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
        LokyBackend().run(_work, [(mode, files[0], files[1]), ("hang", files[1])])
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
    out = _run_script(_NOTEBOOK_OBJECTIVE, str(tmp_path / "s.journal"))
    assert out["states"] == ["COMPLETE", "COMPLETE"]
    assert out["driver"] not in out["pids"]


# -- workers of a SIGKILLed driver exit ------------------------------------------------------------
_KILLED_DRIVER = textwrap.dedent(
    """
    import sys, time
    import tests.test_backend_faults as objectives
    from hpo_widget import StudyRunner

    path, backend, options = sys.argv[1], sys.argv[2], {}
    if backend == "spark":
        from pyspark import cloudpickle

        cloudpickle.register_pickle_by_value(objectives)  # executors do not have the tests
        options = {"master": "local[2]"}
    runner = StudyRunner(objectives.steady, storage=path, backend=backend, n_workers=2,
                         backend_options=options)
    runner.start(n_trials=40)
    time.sleep(3600)
    """
)


def _running_in(path: Path) -> list[int]:
    """PIDs of two running trials' workers in the journal at ``path`` (once there are two)."""
    try:
        study = load(path)
    except (KeyError, ValueError):  # not created yet
        return []
    return [worker_pid(t) for t in all_running(study, 2)]


@pytest.mark.parametrize(
    "backend", ["loky", "dask", pytest.param("spark", marks=pytest.mark.spark)]
)
def test_workers_exit_when_their_driver_is_killed(tmp_path: Path, backend: str) -> None:
    # Spark local[2]: the JVM (a child of the driver) exits on EOF of its stdin, and Spark's
    # Python daemon kills its workers when the JVM goes.
    path = tmp_path / "s.journal"
    driver = subprocess.Popen(
        [sys.executable, "-c", _KILLED_DRIVER, str(path), backend], env=_env()
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
