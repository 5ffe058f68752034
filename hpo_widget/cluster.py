"""A real Spark standalone cluster (one master, N workers) on this machine, for notebooks and tests.

The pyspark wheel ships ``bin/spark-class`` but not ``sbin/start-master.sh``, so this starts the
master and worker JVMs itself, bound to 127.0.0.1 on free ports, and ends exactly the processes it
started (and the executors those spawned), by PID, never by name.

Example::

    from hpo_widget.cluster import LocalSparkCluster

    with LocalSparkCluster(n_workers=2) as cluster:
        runner = StudyRunner(objective, backend="spark",
                             backend_options={"master": cluster.master_url, "conf": cluster.conf})
        runner.start(n_trials=20).wait()
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["LocalSparkCluster", "spark_home"]


def spark_home() -> str:
    """``$SPARK_HOME`` if set, else the pyspark package directory (it holds ``bin/spark-class``)."""
    env = os.environ.get("SPARK_HOME")
    if env and (Path(env) / "bin" / "spark-class").exists():
        return env
    import pyspark

    return str(Path(pyspark.__file__).resolve().parent)


def _mib(memory: str) -> int:
    """Spark memory string ("1g", "512m", "2048") in MiB."""
    text = memory.strip().lower().removesuffix("b")
    units = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
    if text and text[-1] in units:
        return max(1, int(float(text[:-1]) * units[text[-1]]))
    return max(1, int(text))


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], start time is [19])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time): tells a process apart from a later one that reuses its PID."""
    fields = _stat(pid)
    return (pid, fields[19]) if fields is not None and len(fields) > 19 else None


def _alive(ident: tuple[int, str]) -> bool:
    """True while the process ``ident`` names still runs (not a zombie, PID not reused)."""
    fields = _stat(ident[0])
    return fields is not None and fields[0] != "Z" and fields[19] == ident[1]


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; elsewhere none are known)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def _descendants(pid: int) -> set[tuple[int, str]]:
    """Identities of every process below ``pid``."""
    seen: set[tuple[int, str]] = set()
    todo = _children(pid)
    while todo:
        child = todo.pop()
        ident = _identity(child)
        if ident is not None and ident not in seen:
            seen.add(ident)
            todo.extend(_children(child))
    return seen


def _signal(ident: tuple[int, str], sig: int) -> None:
    if _alive(ident):
        with contextlib.suppress(ProcessLookupError):
            os.kill(ident[0], sig)


def _die_with_this_process() -> list[str]:
    """Command prefix that sends the JVM SIGTERM if this process dies without stopping it.

    ``atexit`` covers a normal exit or a kernel shutdown request; a SIGKILLed kernel (a
    restart that timed out, the OOM killer) would otherwise leave the master and workers
    running.  util-linux's ``setpriv --pdeathsig`` sets this in the child itself, so nothing
    runs between fork and exec here.  Linux delivers the signal when the *thread* that started
    the child ends, so it is used only from the main thread; elsewhere, atexit alone.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "TERM", "--"]


class LocalSparkCluster:
    """Spark standalone master + ``n_workers`` workers on 127.0.0.1, started and owned by this object.

    Use as a context manager (or call :meth:`start` / :meth:`stop`); an ``atexit`` hook stops it if
    the interpreter exits first.  ``conf`` holds the settings a driver on this machine should use
    (driver bound to 127.0.0.1, executors running this interpreter).

    Example::

        with LocalSparkCluster(n_workers=2, cores_per_worker=1, memory="1g") as cluster:
            print(cluster.master_url)        # spark://127.0.0.1:PORT
            cluster.kill_worker(0)           # SIGKILL the first worker JVM (fault-injection)
    """

    def __init__(
        self,
        n_workers: int = 2,
        cores_per_worker: int = 1,
        memory: str = "1g",
        *,
        host: str = "127.0.0.1",
        start_timeout: float = 90.0,
        work_dir: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if n_workers < 1:
            raise ValueError(f"n_workers: must be >= 1, got {n_workers}")
        if cores_per_worker < 1:
            raise ValueError(f"cores_per_worker: must be >= 1, got {cores_per_worker}")
        self.n_workers = n_workers
        self.cores_per_worker = cores_per_worker
        self.memory = memory
        self.host = host
        self.start_timeout = start_timeout
        self._user_work_dir = Path(work_dir) if work_dir is not None else None
        self._extra_env = dict(env or {})
        self.work_dir: Path | None = None
        self.master_port: int | None = None
        self.webui_port: int | None = None
        self._master: subprocess.Popen[bytes] | None = None
        self._workers: list[subprocess.Popen[bytes]] = []
        self._extra: set[tuple[int, str]] = set()  # executors etc. spawned by our JVMs
        self._logs: list[Any] = []
        self._atexit_registered = False

    # -- addresses ------------------------------------------------------------------------------
    @property
    def master_url(self) -> str:
        if self.master_port is None:
            raise RuntimeError("LocalSparkCluster: not started; call start() or use `with`")
        return f"spark://{self.host}:{self.master_port}"

    @property
    def webui_url(self) -> str:
        if self.webui_port is None:
            raise RuntimeError("LocalSparkCluster: not started; call start() or use `with`")
        return f"http://{self.host}:{self.webui_port}"

    @property
    def master_pid(self) -> int | None:
        return self._master.pid if self._master is not None else None

    @property
    def worker_pids(self) -> list[int]:
        """PIDs of the worker JVMs, in start order (a killed worker keeps its slot)."""
        return [p.pid for p in self._workers]

    @property
    def conf(self) -> dict[str, str]:
        """Spark settings for a driver in this process talking to this cluster."""
        return {
            "spark.driver.host": self.host,
            "spark.driver.bindAddress": self.host,
            "spark.pyspark.python": sys.executable,
            # An executor must fit in its worker's memory; small is plenty on one machine.
            "spark.executor.memory": f"{min(512, _mib(self.memory))}m",
            # One executor per worker, all of its cores; the spark backend waits for them all
            # before counting task slots.
            "spark.executor.cores": str(self.cores_per_worker),
            "spark.executor.instances": str(self.n_workers),
            "spark.cores.max": str(self.n_workers * self.cores_per_worker),
        }

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> LocalSparkCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.master_url if self.master_port is not None else "not started"
        return f"LocalSparkCluster({where}, workers={self.n_workers})"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        home = spark_home()
        env.update(
            SPARK_HOME=home,
            SPARK_LOCAL_IP=self.host,
            SPARK_LOCAL_HOSTNAME=self.host,
            PYSPARK_PYTHON=env.get("PYSPARK_PYTHON", sys.executable),
            SPARK_NO_DAEMONIZE="1",
        )
        if not env.get("JAVA_HOME") and shutil.which("java") is None:
            raise RuntimeError(
                "LocalSparkCluster: no Java found; install Java 17+ or set JAVA_HOME"
            )
        env.update(self._extra_env)
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        assert self.work_dir is not None
        log = open(self.work_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        spark_class = str(Path(spark_home()) / "bin" / "spark-class")
        # spark-class ends in `exec java ...` (as does setpriv), so the PID we get is the JVM's.
        # A new session keeps Ctrl-C in a notebook from reaching the JVMs; we stop them ourselves.
        return subprocess.Popen(
            [*_die_with_this_process(), spark_class, *args],
            env=env,
            cwd=self.work_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self) -> LocalSparkCluster:
        """Start the master, then the workers; return once all workers registered."""
        if self._master is not None:
            return self
        if self._user_work_dir is not None:
            self._user_work_dir.mkdir(parents=True, exist_ok=True)
            self.work_dir = self._user_work_dir
        else:
            self.work_dir = Path(tempfile.mkdtemp(prefix="hpo-spark-cluster-"))
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        env = self._env()
        try:
            self.master_port = _free_port(self.host)
            self.webui_port = _free_port(self.host)
            self._master = self._spawn(
                "master",
                [
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    self.host,
                    "--port",
                    str(self.master_port),
                    "--webui-port",
                    str(self.webui_port),
                ],
                env,
            )
            deadline = time.monotonic() + self.start_timeout
            self._wait(lambda: self._master_status() is not None, deadline, "the master to listen")
            for i in range(self.n_workers):
                worker_dir = self.work_dir / f"worker-{i}"
                worker_dir.mkdir(exist_ok=True)
                self._workers.append(
                    self._spawn(
                        f"worker-{i}",
                        [
                            "org.apache.spark.deploy.worker.Worker",
                            "--host",
                            self.host,
                            "--cores",
                            str(self.cores_per_worker),
                            "--memory",
                            self.memory,
                            "--webui-port",
                            str(_free_port(self.host)),
                            "--work-dir",
                            str(worker_dir),
                            self.master_url,
                        ],
                        env,
                    )
                )
            self.wait_for_workers(self.n_workers, timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, ready: Any, deadline: float, what: str) -> None:
        while True:
            if self._master is not None and self._master.poll() is not None:
                raise RuntimeError(
                    f"LocalSparkCluster: the master exited while waiting for {what}:\n"
                    + self.log_tail("master")
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"LocalSparkCluster: timed out waiting for {what}; master log:\n"
                    + self.log_tail("master")
                )
            time.sleep(0.25)

    def _master_status(self) -> dict[str, Any] | None:
        """The master's JSON status page, or None while it is not up."""
        if self.webui_port is None:
            return None
        try:
            with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=2) as response:
                data: dict[str, Any] = json.loads(response.read().decode())
                return data
        except (OSError, ValueError):
            return None

    def alive_workers(self) -> int:
        """Workers the master currently counts as ALIVE (0 if it cannot be reached)."""
        status = self._master_status()
        return int(status.get("aliveworkers", 0)) if status else 0

    def wait_for_workers(self, n: int | None = None, timeout: float = 60.0) -> None:
        """Block until the master counts ``n`` (default: all) alive workers."""
        want = self.n_workers if n is None else n
        self._wait(
            lambda: self.alive_workers() >= want,
            time.monotonic() + timeout,
            f"{want} worker(s) to register",
        )

    def log_tail(self, name: str, n_chars: int = 3000) -> str:
        """Last characters of ``master`` or ``worker-I``'s log (for error messages)."""
        if self.work_dir is None:
            return ""
        try:
            return (self.work_dir / f"{name}.log").read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def executor_pids(self, i: int | None = None) -> list[int]:
        """PIDs of executor JVMs launched by worker ``i`` (all workers if None); Linux only."""
        workers = self._workers if i is None else [self._workers[i]]
        out: list[int] = []
        for w in workers:
            for pid in _children(w.pid):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"CoarseGrainedExecutorBackend" in cmdline:
                    out.append(pid)
        return out

    def worker_of(self, pid: int) -> int | None:
        """Index of the worker whose process tree holds ``pid`` (e.g. a trial's Python worker)."""
        for i, w in enumerate(self._workers):
            if w.poll() is None and any(p == pid for p, _ in _descendants(w.pid)):
                return i
        return None

    def kill_worker(self, i: int, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to worker ``i``'s JVM (fault injection) and return its PID.

        Its executors are remembered so :meth:`stop` ends them even if they outlive the worker.
        """
        proc = self._workers[i]
        self._extra.update(_descendants(proc.pid))
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        return proc.pid

    def stop(self, timeout: float = 10.0) -> None:
        """End every process this cluster started (workers, their executors, master), by PID."""
        procs = [p for p in (*self._workers, self._master) if p is not None]
        # Executors and their Python workers are our JVMs' children: note them before the JVMs
        # go, or they would be orphaned and impossible to tell apart from other processes.
        extra = set(self._extra)
        for p in procs:
            if p.poll() is None:
                extra.update(_descendants(p.pid))
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.terminate()
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for ident in extra:
            _signal(ident, signal.SIGTERM)
        end = time.monotonic() + 5
        while any(_alive(ident) for ident in extra) and time.monotonic() < end:
            time.sleep(0.1)
        for ident in extra:
            _signal(ident, signal.SIGKILL)
        for log in self._logs:
            log.close()
        self._logs = []
        self._workers = []
        self._master = None
        self._extra = set()
        self.master_port = self.webui_port = None
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False
        if self._user_work_dir is None and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir = None
