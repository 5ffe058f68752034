"""Storage under faults: racing claims, torn journal writes, PostgreSQL URLs and errors,
passwords in every form, and processes that create a new SQLite file at the same moment.

Everything runs against real processes: loky workers, a real PostgreSQL server on 127.0.0.1,
``hpo-widget`` console processes.
"""

from __future__ import annotations

import collections
import glob
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import StudyRunner
from hpo_widget import _optuna_compat as compat
from hpo_widget._tickets import Tickets, budget
from hpo_widget._worker import claim_ticket
from hpo_widget.cli import main
from hpo_widget.config import RunConfig
from hpo_widget.spec import RunSpec
from hpo_widget.storage import describe_storage, mask_password, open_storage, resolve_storage
from tests._postgres import PASSWORD, PostgresServer
from tests.test_cli import write_spec

SECRET = "s3cr3t-pa55"


# -- 0: no trial is evaluated twice, every record is one evaluation ---------------------------
@dataclass(frozen=True)
class RecordingIdentity:
    """Returns its own parameter and notes each evaluation (one short ``O_APPEND`` write each,
    so lines of two processes never interleave)."""

    log: str

    def __call__(self, trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        with open(self.log, "a") as f:
            f.write(f"{trial.number}\n")
        return x


#: Trials per storage: enough that the SQLite claim race shows (before the fix, two loky
#: workers claimed the same trial 6-9 times per 100 trials here), few enough to stay fast.
_RACE_TRIALS = {"sqlite": 120, "journal": 150, "postgres": 60}


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgres"])
def test_no_trial_is_evaluated_twice_by_two_worker_processes(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'race.db'}",
        "journal": str(tmp_path / "race.journal"),
    }.get(kind) or str(request.getfixturevalue("postgres_url"))
    n = _RACE_TRIALS[kind]
    log = tmp_path / "evaluations.log"
    runner = StudyRunner(
        RecordingIdentity(str(log)),
        storage=url,
        backend="loky",
        n_workers=2,
        study_name="race",
        sampler="random",  # cheap trials: claims come back to back and race most often
        seed=0,
    )
    try:
        study = runner.start(n_trials=n).wait(timeout=600)
    finally:
        runner.close()
    evaluated = collections.Counter(int(line) for line in log.read_text().split())
    twice = sorted(number for number, times in evaluated.items() if times > 1)
    assert not twice, f"trials {twice[:10]} were run by two workers ({len(twice)} in all)"
    trials = study.get_trials(deepcopy=False)
    mixed = [
        t.number for t in trials if t.state == TrialState.COMPLETE and t.value != t.params["x"]
    ]
    assert not mixed, f"trials {mixed[:10]} store one run's value with another run's parameter"
    assert [t.state for t in trials] == [TrialState.COMPLETE] * n
    assert sum(evaluated.values()) == n
    workers = {t.system_attrs["hpo_widget:worker"] for t in trials}
    assert len(workers) == 2, "both worker processes should have claimed trials"


def test_a_ticket_finished_before_the_driver_cached_it_is_not_seen_waiting_for_good(
    tmp_path: Path,
) -> None:
    """The SQLite run above hung (2 CI runs in ~15, 3 loaded local runs in 30): the driver's
    view kept one finished ticket WAITING, so the run stayed one trial short of its budget
    while its workers, who saw it finished, left at every relaunch.

    Optuna's cached RDB storage commits a new trial, then caches the copy the commit returned.
    Here, in between (the refiller thread preempted on a loaded machine), a worker with its own
    connection claims and finishes the ticket and the driver's poll (another thread) reads it
    finished; the stale copy must not stay in the driver's view."""
    ref = resolve_storage(f"sqlite:///{tmp_path / 'stale.db'}")
    driver = optuna.create_study(storage=open_storage(ref), study_name="stale")
    worker = optuna.load_study(study_name="stale", storage=open_storage(ref))
    backend = compat.storage_of(driver)._backend  # type: ignore[attr-defined]
    create = backend._create_new_trial

    def committed_then_overtaken(study_id: int, template_trial: object = None) -> object:
        created = create(study_id, template_trial)
        claimed = claim_ticket(worker)
        assert claimed is not None
        worker.tell(claimed, 1.0)
        assert driver.get_trials()[0].state == TrialState.COMPLETE  # the poll reads it
        return created

    backend._create_new_trial = committed_then_overtaken
    tickets = Tickets(driver, retries=0)
    try:
        tickets.add()
    finally:
        del backend._create_new_trial
    assert [t.state for t in driver.get_trials()] == [TrialState.COMPLETE]
    assert budget(driver.get_trials(deepcopy=False)) == (1, 0)
    assert tickets.top_up(1, Tickets.initial_pool(2)) == 0


# -- 2: a torn journal tail is cut (and kept), the study stays readable and resumes -----------
def _journal(path: Path) -> optuna.storages.JournalStorage:
    """Plain Optuna, as optuna-dashboard or another kernel would open the file."""
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def _records(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _tear(path: Path, how: str) -> tuple[bytes, bytes]:
    """Leave the journal as a writer killed mid-append would: (whole records kept, torn bytes)."""
    data = path.read_bytes()
    if how == "truncated":  # the last record lost its end (and its newline)
        last = _records(path)[-1]
        kept, torn = data[: len(data) - len(last)], last[: len(last) // 2]
    else:  # half of a new record was appended after the last whole one
        record = json.dumps({"op_code": 4, "worker_id": "w", "trial_id": 0, "param_name": "y"})
        kept, torn = data, record[: len(record) // 2].encode()
    path.write_bytes(kept + torn)
    return kept, torn


def _params_objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


@pytest.mark.parametrize("how", ["truncated", "half-appended"])
def test_torn_journal_tail_is_cut_kept_and_the_study_resumes(
    how: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "studies.journal"
    runner = StudyRunner(_params_objective, storage=str(path), study_name="torn", seed=0)
    runner.start(n_trials=6).wait(timeout=60)
    runner.close()
    kept, torn = _tear(path, how)

    caplog.set_level(logging.WARNING, logger="hpo_widget.storage")
    resumed = StudyRunner(_params_objective, storage=str(path), study_name="torn", seed=0)
    study = resumed.start(n_trials=10).wait(timeout=60)
    resumed.close()

    sidecars = glob.glob(f"{path}.torn-*")
    assert len(sidecars) == 1
    assert Path(sidecars[0]).read_bytes() == torn
    assert f"cut a torn last record ({len(torn)} bytes" in caplog.text
    assert sidecars[0] in caplog.text
    # At most the torn record is lost: every whole record before it is still there, unchanged.
    assert path.read_bytes().startswith(kept)
    assert path.read_bytes().endswith(b"\n")
    plain = optuna.load_study(study_name="torn", storage=_journal(path))
    states = [t.state for t in plain.trials]
    assert states.count(TrialState.COMPLETE) == 10, states
    assert [t.state for t in study.trials] == states


def test_torn_tail_left_mid_run_is_sealed_before_the_next_append(tmp_path: Path) -> None:
    # The journal is already open (a live driver) when another writer dies mid-append.
    path = tmp_path / "live.journal"
    storage = open_storage(resolve_storage(str(path)))
    study = optuna.create_study(study_name="live", storage=storage)
    study.optimize(_params_objective, n_trials=3)
    _, torn = _tear(path, "half-appended")
    study.optimize(_params_objective, n_trials=3)  # appends through the open storage
    assert glob.glob(f"{path}.torn-*") and Path(glob.glob(f"{path}.torn-*")[0]).read_bytes() == torn
    plain = optuna.load_study(study_name="live", storage=_journal(path))
    assert [t.state for t in plain.trials] == [TrialState.COMPLETE] * 6


def test_a_lock_left_by_a_killed_writer_is_taken_over_long_before_optunas_30_s(
    tmp_path: Path,
) -> None:
    """Stop kills worker processes; one killed mid-append leaves the journal's lock behind."""
    import threading

    from hpo_widget.storage import JOURNAL_LOCK_GRACE

    path = tmp_path / "locked.journal"
    study = optuna.create_study(study_name="l", storage=open_storage(resolve_storage(str(path))))
    holder = textwrap.dedent(
        f"""
        import os, signal
        from hpo_widget.storage import open_storage, resolve_storage
        storage = open_storage(resolve_storage({str(path)!r}))
        storage._backend._journal_lock.acquire()
        os.kill(os.getpid(), signal.SIGKILL)  # dies holding the lock, as a killed worker
        """
    )
    subprocess.run([sys.executable, "-c", holder], check=False, timeout=120)
    assert os.path.lexists(f"{path}.lock"), "the killed writer left its lock"
    done = threading.Event()

    def write() -> None:
        study.optimize(_params_objective, n_trials=1)
        done.set()

    threading.Thread(target=write, daemon=True).start()
    # Bounded only to catch the hang: Optuna's own grace would hold the write for 30 s.
    assert JOURNAL_LOCK_GRACE < 10
    assert done.wait(20), "the write waited for the dead writer's lock"
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]


def _writes_until_killed(trial: optuna.Trial) -> float:
    """Appends to the journal without pause, so a kill lands mid-append more often than not."""
    for i in range(10**7):
        trial.set_user_attr("i", i)
    return 0.0


def test_stop_kills_no_loky_worker_while_it_holds_the_journal_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop kills the workers while it holds their writer queue: no lock is left behind for
    the next writer to wait out (Stop's own writes, the resumed run's) and then break, with
    Optuna's warning in the notebook's output."""
    from tests._waiting import wait_for

    monkeypatch.setattr(optuna.logging.get_logger("optuna"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="optuna")
    path = tmp_path / "stop.journal"
    for attempt in range(8):
        runner = StudyRunner(
            _writes_until_killed,
            study_name="s",
            storage=str(path),
            backend="loky",
            n_workers=2,
            sampler="random",
            seed=attempt,
        )
        runner.start(n_trials=8)

        def both_writing() -> bool:
            trials = runner.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            return sum(1 for t in trials if t.user_attrs.get("i", 0) > 5) == 2

        wait_for(both_writing, 120, "two workers appending")
        runner.stop()
        assert not os.path.lexists(f"{path}.lock"), f"stop {attempt}: a killed writer's lock"
        broken = [r.getMessage() for r in caplog.records if "lock" in r.getMessage()]
        assert not broken, f"stop {attempt} waited out a killed writer's lock: {broken}"
    study = optuna.load_study(study_name="s", storage=_journal(path))
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_writers_queue_in_the_kernel_and_still_respect_optunas_lock(tmp_path: Path) -> None:
    """Our writers wait their turn on ``flock`` (no polling sleeps), then take Optuna's lock,
    so a plain Optuna writer of the same file (or optuna-dashboard) is still excluded."""
    import threading

    from hpo_widget.storage import JOURNAL_QUEUE_SUFFIX

    path = tmp_path / "shared.journal"
    study = optuna.create_study(study_name="q", storage=open_storage(resolve_storage(str(path))))
    study.optimize(_params_objective, n_trials=1)
    assert os.path.exists(f"{path}{JOURNAL_QUEUE_SUFFIX}")
    optunas = optuna.storages.journal.JournalFileSymlinkLock(str(path))
    assert optunas.acquire()  # an Optuna writer in the middle of its append
    done = threading.Event()

    def write() -> None:
        study.optimize(_params_objective, n_trials=1)
        done.set()

    threading.Thread(target=write, daemon=True).start()
    try:
        assert not done.wait(1.0), "our writer appended while Optuna's writer held the lock"
    finally:
        optunas.release()
    assert done.wait(60), "our writer did not go on once Optuna's lock was free"
    plain = optuna.load_study(study_name="q", storage=_journal(path))
    assert [t.state for t in plain.trials] == [TrialState.COMPLETE] * 2


def test_writers_from_many_processes_queue_without_losing_a_record(tmp_path: Path) -> None:
    path = tmp_path / "many.journal"
    optuna.create_study(study_name="m", storage=open_storage(resolve_storage(str(path))))
    writer = textwrap.dedent(
        f"""
        import optuna
        from hpo_widget.storage import open_storage, resolve_storage
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study = optuna.load_study(study_name="m", storage=open_storage(resolve_storage({str(path)!r})))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=60)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer]) for _ in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    plain = optuna.load_study(study_name="m", storage=_journal(path))
    assert [t.state for t in plain.trials] == [TrialState.COMPLETE] * 180
    assert sorted(t.number for t in plain.trials) == list(range(180))


def test_without_flock_writers_fall_back_to_optunas_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(37, "No locks available")  # ENOLCK, as some NFS mounts answer

    monkeypatch.setattr(fcntl, "flock", no_flock)
    path = tmp_path / "nfs.journal"
    study = optuna.create_study(study_name="n", storage=open_storage(resolve_storage(str(path))))
    study.optimize(_params_objective, n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_whole_journal_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "whole.journal"
    optuna.create_study(study_name="w", storage=_journal(path)).optimize(_params_objective, 3)
    data = path.read_bytes()
    open_storage(resolve_storage(str(path)))
    assert path.read_bytes() == data
    assert not glob.glob(f"{path}.torn-*")


# -- 4: postgresql:// as the README writes it, with the package's own driver -------------------
def test_postgresql_url_in_the_readme_form_uses_the_postgres_extra(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://postgres:")  # no +driver: the README's form
    storage = open_storage(resolve_storage(postgres_url))
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.engine.dialect.driver == "psycopg"  # psycopg 3, the `postgres` extra
    runner = StudyRunner(_params_objective, storage=postgres_url, study_name="pg")
    assert len(runner.start(n_trials=3).wait(timeout=60).trials) == 3


def test_postgresql_url_falls_back_to_psycopg2(postgres_url: str, tmp_path: Path) -> None:
    pytest.importorskip("psycopg2")
    # A process where only psycopg2 can be imported (what the extra installed before).
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["psycopg"] = None  # import psycopg now raises ImportError
        from hpo_widget.storage import open_storage, resolve_storage
        storage = open_storage(resolve_storage({postgres_url!r}))
        print(storage.engine.dialect.driver)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "psycopg2"


@pytest.mark.parametrize("fault", ["password", "database", "port"])
def test_postgres_connection_errors_say_what_failed(
    fault: str, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = postgres_server
    url, expected = {
        "password": (
            server.url("postgres", password=SECRET),
            f"the server at 127.0.0.1:{server.port} refused user 'postgres': check the user "
            "and password",
        ),
        "database": (
            server.url("no_such_db"),
            f"database 'no_such_db' does not exist on 127.0.0.1:{server.port}",
        ),
        "port": (
            server.url("postgres").replace(f":{server.port}/", ":1/"),
            "cannot reach a database server at 127.0.0.1:1: is it running and listening there?",
        ),
    }[fault]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RuntimeError) as err:
        open_storage(resolve_storage(url))
    message = str(err.value)
    assert message.startswith("storage: could not open postgresql://postgres:***@127.0.0.1:")
    assert expected in message
    assert "Failed to import DB access module" not in message
    assert SECRET not in message and PASSWORD not in message
    assert SECRET not in caplog.text and PASSWORD not in caplog.text


# -- 8: passwords masked in every form and every place ----------------------------------------
@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u@h/db?password=pw&sslmode=x", "postgresql://u@h/db?password=***&sslmode=x"),
        ("postgresql://u@h/db?sslmode=x&password=pw", "postgresql://u@h/db?sslmode=x&password=***"),
        ("host=h port=5432 password=pw dbname=d", "host=h port=5432 password=*** dbname=d"),
        ("host=h password = 'a b\\' c' dbname=d", "host=h password = '***' dbname=d"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:a/b@h/db", "postgresql://u:***@h/db"),
        ("DRIVER={x};UID=u;PWD=pw;", "DRIVER={x};UID=u;PWD=***;"),
        ("grpc://127.0.0.1:50051", "grpc://127.0.0.1:50051"),
        ("password=***", "password=***"),
    ],
)
def test_mask_password_forms(text: str, masked: str) -> None:
    assert mask_password(text) == masked


def test_run_spec_repr_masks_the_storage_password() -> None:
    url = f"postgresql://u:{SECRET}@h/db?password={SECRET}"
    spec = RunSpec(objective="m:f", config=RunConfig(storage=url))
    assert SECRET not in repr(spec)
    assert "storage='postgresql://u:***@h/db?password=***'" in repr(spec)
    assert SECRET in spec.storage  # only the display is masked


def test_query_string_password_is_masked_in_runner_and_cli(
    postgres_server: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI adds the spec's directory
    db = postgres_server.create_database("query_pw")
    url = db.replace(f":{PASSWORD}@", "@") + f"?password={PASSWORD}"  # libpq's query form
    ref = resolve_storage(url)
    assert PASSWORD not in repr(ref) and PASSWORD not in describe_storage(ref)
    runner = StudyRunner(_params_objective, storage=url, study_name="q")
    assert PASSWORD not in repr(runner)
    assert PASSWORD not in runner.storage_description
    assert "password=***" in runner.storage_description
    runner.close()

    spec = write_spec(tmp_path, "qpw", storage=url, n_trials=2)
    assert main(["run", str(spec), "-q"]) == 0  # the password in the query string logs in
    out, err = capsys.readouterr()
    assert "storage  postgresql://postgres@127.0.0.1:" in out and "password=***" in out
    assert PASSWORD not in out + err


# -- 10 (first half): a driver and workers creating a new SQLite file together ----------------
_BARRIER = """\
import glob
import os
import time


def objective(params):
    # The first trial of each worker waits (bounded) until both workers have one, so neither
    # can finish the run before the other has joined it.
    open(f"seen-{os.getpid()}", "w").close()
    deadline = time.monotonic() + 60
    while len(glob.glob("seen-*")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return params["x"] ** 2
"""


#: Runs ``hpo-widget ARGS`` once the imports are done and the test says go, so that the three
#: processes open the new file within a millisecond of each other, not an import time apart.
_LAUNCH = """\
import os
import sys
import time

import hpo_widget.cli

open(f"ready-{os.getpid()}", "w").close()
deadline = time.monotonic() + 60
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.001)
sys.exit(hpo_widget.cli.main(sys.argv[1:]))
"""


def _wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def _start_together(cwd: Path, env: dict[str, str]) -> tuple[list[int | None], list[str]]:
    """One round: a driver (``run --workers 0``) and two ``worker`` processes open a new
    SQLite file at the same moment; their exit codes and the tails of their output."""
    (cwd / "racebarrier.py").write_text(_BARRIER)
    (cwd / "launch.py").write_text(_LAUNCH)
    spec = write_spec(
        cwd, "race", objective="racebarrier:objective", storage=f"sqlite:///{cwd / 's.db'}"
    )
    commands = [["run", str(spec), "--workers", "0", "-q"]] + [
        ["worker", "--spec", str(spec), "--wait", "60", "--index", str(i)] for i in range(2)
    ]
    logs = [cwd / f"proc{i}.log" for i in range(len(commands))]
    procs = []
    for command, log in zip(commands, logs, strict=True):
        with open(log, "wb") as out:
            argv = [sys.executable, "launch.py", *command]
            procs.append(
                subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    try:
        _wait_for(lambda: len(glob.glob(str(cwd / "ready-*"))) == len(procs))
        (cwd / "go").touch()
        # Until all are done or one failed: the others would then wait for it in vain (the
        # driver for workers, a worker for a run).
        _wait_for(
            lambda: all(p.poll() is not None for p in procs) or any(p.poll() for p in procs),
            timeout=180,
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    return [p.returncode for p in procs], [log.read_text()[-300:] for log in logs]


def test_driver_and_workers_start_together_on_a_new_sqlite_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HPO_WIDGET_STORAGE"}
    failures = []
    for round_ in range(4):
        cwd = tmp_path / f"round{round_}"
        cwd.mkdir()
        codes, tails = _start_together(cwd, env)
        if codes != [0, 0, 0]:
            failures.append((round_, codes, tails))
    assert not failures, failures
