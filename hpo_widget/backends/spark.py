"""Spark backend: N long-lived worker tasks through joblibspark, one per task slot.

Each worker is one Spark task running :func:`hpo_widget._worker.run_worker`, which claims trials
until the budget is spent, so a study costs N Spark jobs (joblibspark runs one job per joblib
task), never one job per trial.  What Spark adds, and how the backend deals with it:

* **Placement**: the active SparkSession is reused; otherwise one is built from
  ``backend_options`` (``master`` default ``local[*]``, ``conf``, ``app_name``).
* **Kubernetes** (``master="k8s"`` or ``k8s://…``, the notebook pod as client-mode driver):
  the whole conf comes from the pod's environment
  (:func:`~hpo_widget.backends.spark_kubernetes.kubernetes_settings`).  Before the session
  starts the backend checks the service account's verbs (SelfSubjectAccessReview) and removes
  executor pods and ConfigMaps this pod's previous kernel left; while fewer executors are
  registered than requested it reports why (``status_text``: pods Pending, Unschedulable ...);
  the storage proxy listens on the pod IP (:meth:`SparkBackend.default_storage_proxy`).
* **Interpreter**: pyspark tells executors which Python to run from ``$PYSPARK_PYTHON`` as it was
  when the SparkContext started (the ``spark.pyspark.python`` setting only matters to
  spark-submit).  For local and standalone masters the backend points both at this interpreter
  unless the user set them; Kubernetes and YARN executors keep their image's Python.
* **Cancellation**: every job of a run carries a Spark *job tag* set in the launching thread
  (joblibspark copies the thread's local properties into its own threads, and overrides the job
  group but not the tags), with ``interruptOnCancel`` so Spark kills the Python workers of
  cancelled tasks.  :meth:`SparkBackend.cancel` cancels exactly those jobs.
* **n = 1**: ``joblib.Parallel(n_jobs=1)`` runs the call in the driver, so the backend asks joblib
  for at least two jobs; with one task that is still one Spark job.
* **Failures**: joblibspark loses a failed task's exception and aborts the other workers.  Spark
  itself retries a task whose executor died (cluster masters, ``local[N,F]``), and the runner
  re-queues the trial the dead worker held once its heartbeat stops.  When the whole Spark call
  fails anyway (``local[N]`` never retries a task), the runner relaunches the workers while
  they make progress; a probe task tells it apart from a setup problem (the objective's module
  or hpo_widget missing on executors), reported with the executor's own error.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import joblib

from . import BACKEND_OPTIONS
from ._base import Backend, check_options
from ._spark_broadcast import ship_shared
from .spark_kubernetes import (
    KUBERNETES_OPTIONS,
    is_kubernetes_master,
    kubernetes_master,
    kubernetes_settings,
    storage_proxy_defaults,
)

if TYPE_CHECKING:
    from ._spark_on_kubernetes import KubernetesDriver

__all__ = ["SparkBackend", "is_local_master"]

_log = logging.getLogger(__name__)

# joblibspark and pyspark warn on every call or task about things we handle on purpose (the
# deprecated joblib API joblibspark still uses, local mode without stage scheduling, pyspark's
# SQL session tags that Spark job tags do not need).  Silence exactly those messages.
_NOISE: tuple[tuple[str, type[Warning], str], ...] = (
    (r"Spark local mode doesn't support stage-level scheduling", UserWarning, r"joblibspark"),
    (r"Spark version does not support stage-level scheduling", UserWarning, r"joblibspark"),
    (r"User-specified n_jobs \(\d+\) is greater than", UserWarning, r"joblibspark"),
    (r"Spark session is not provided\. Tags will not be inherited", UserWarning, r"pyspark"),
    (r"`apply_async` is deprecated", DeprecationWarning, r"joblib"),
)


def _silence_known_warnings() -> None:
    """Idempotent (``filterwarnings`` drops an identical filter before adding it); called again
    per run because test runners and ``catch_warnings`` blocks reset the filters."""
    for message, category, module in _NOISE:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


_silence_known_warnings()

_PYTHON_ERROR = re.compile(r"^(?!org\.|java\.|py4j\.|scala\.)[A-Za-z_][\w.]*(Error|Exception): ")
_KNOWN_OPTIONS = BACKEND_OPTIONS["spark"]


def is_local_master(master: str) -> bool:
    """True for masters whose executors run on this machine (``local``, ``local[...]``, ...)."""
    return master == "local" or master.startswith(("local[", "local-cluster["))


def _sets_own_python(master: str) -> bool:
    """Whether executors of ``master`` can run this very interpreter (same host or same paths)."""
    return is_local_master(master) or master.startswith("spark://")


def _same_interpreter(python: str) -> bool:
    import shutil

    found = shutil.which(python) or python
    return os.path.realpath(found) == os.path.realpath(sys.executable)


_JOBLIB_BACKEND = "hpo_widget_spark"
_registered = False


def _register_joblib_backend() -> None:
    """Register joblibspark's backend (as ``spark``, for the user) and our variant of it."""
    global _registered
    if _registered:
        return
    import joblibspark
    from joblibspark.backend import SparkDistributedBackend

    class _ClosingSparkBackend(SparkDistributedBackend):
        """joblibspark's backend, closing its thread pool when joblib terminates it: joblibspark
        keeps each call's pool (n + 3 idle threads) alive until the interpreter exits."""

        def terminate(self) -> None:
            super().terminate()
            pool, self._pool = getattr(self, "_pool", None), None
            if pool is not None:
                pool.close()

    joblibspark.register_spark()
    joblib.register_parallel_backend(_JOBLIB_BACKEND, _ClosingSparkBackend)
    _registered = True


def _warm_worker(index: int) -> int:
    """Runs in a Spark task: import what a trial worker needs, so the Python worker is ready."""
    import hpo_widget._worker  # noqa: F401

    return index


def _probe(payload: bytes) -> str:
    """Runs in a Spark task: can the executor unpickle a worker's function and arguments (the
    objective's module, hpo_widget, the storage recipe)?  Nothing is run."""
    import pickle

    pickle.loads(payload)
    return sys.executable


class SparkBackend(Backend):
    """Run the workers as long-lived Spark tasks (joblibspark), one per task slot by default.

    Options (``StudyRunner(..., backend="spark", backend_options={...})``):

    ``spark``
        A SparkSession to use (default: the active one, else one built from the options below).
    ``master``
        Master URL when a session is built: ``local[*]`` (default), ``local[N,F]`` (F task
        attempts), ``spark://host:port``, ``k8s://https://...``.
    ``conf``
        Extra Spark settings for a built session, e.g. ``{"spark.executor.memory": "2g"}``.
    ``app_name``
        Application name of a built session (default ``hpo_widget``).
    ``executor_timeout``
        Seconds to wait for a cluster's executors before counting slots (default 60).
    ``image``, ``executors``, ``executor_cores``, ``executor_memory``, ``python``,
    ``namespace``, ``service_account``, ``pod_template``
        Kubernetes only (``master="k8s"``); see
        :func:`~hpo_widget.backends.spark_kubernetes.kubernetes_settings`.

    A session the backend built is stopped by :meth:`close`; a session it found is left alone.

    Example::

        runner = StudyRunner(objective, backend="spark",
                             backend_options={"master": "spark://10.0.0.5:7077"})
        runner.start(n_trials=200)
    """

    name: ClassVar[str] = "spark"
    in_process: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        check_options("spark", options, _KNOWN_OPTIONS)
        super().__init__(**options)
        self._spark: Any = options.get("spark")
        self._conf: dict[str, str] = {k: str(v) for k, v in (options.get("conf") or {}).items()}
        given = options.get("master") or self._conf.get("spark.master")
        self.kubernetes = is_kubernetes_master(given)
        k8s_only = sorted(k for k in KUBERNETES_OPTIONS if k in options)
        if k8s_only and not self.kubernetes:
            raise ValueError(
                f"backend_options: {', '.join(map(repr, k8s_only))} only apply to "
                "master='k8s' (or 'k8s://...')"
            )
        self._master: str | None = (
            kubernetes_master(given) if self.kubernetes and given else options.get("master")
        )
        self._on_kubernetes: KubernetesDriver | None = None
        if self.kubernetes:
            from ._spark_on_kubernetes import KubernetesDriver

            self._on_kubernetes = KubernetesDriver(self._report_status)
        self._app_name: str = options.get("app_name") or "hpo_widget"
        self._executor_timeout = float(options.get("executor_timeout", 60.0))
        self._owns_session = False
        self._lock = threading.RLock()
        #: Set by close(): a prepare() whose thread had not started building builds nothing.
        self._closed = False
        self._runs: dict[str, bool] = {}  # job tag of each running call -> cancel requested
        #: Spark job tag of the latest run (find its jobs in the Spark UI or status tracker).
        self.last_job_tag: str | None = None
        #: Pickled size of what the last run sent once as a broadcast (0: sent with each task).
        self.last_broadcast_bytes = 0
        self.remote = not is_local_master(self._expected_master())

    # -- session ------------------------------------------------------------------------------
    def _expected_master(self) -> str:
        """The master a run will use, without starting a JVM."""
        if self._spark is not None:
            return str(self._spark.sparkContext.master)
        if self._master:
            return self._master
        from pyspark import SparkContext

        active = SparkContext._active_spark_context
        if active is not None:
            return str(active.master)
        return self._conf.get("spark.master") or "local[*]"

    @property
    def master(self) -> str:
        """Master URL of the session runs go to (resolved without starting Spark)."""
        return self._expected_master()

    def session(self) -> Any:
        """The SparkSession runs use: the given one, the active one, or one built on demand."""
        with self._lock:
            if self._spark is not None and self._spark.sparkContext._jsc is not None:
                return self._spark
            from pyspark import SparkContext
            from pyspark.sql import SparkSession

            active = SparkContext._active_spark_context
            if active is not None:
                if self._master and active.master != self._master:
                    raise RuntimeError(
                        f"spark backend: this process already runs a SparkSession on "
                        f"{active.master!r}, so it cannot connect to {self._master!r}; stop it "
                        "(spark.stop()) or leave backend_options['master'] unset to use it"
                    )
                self._spark, self._owns_session = SparkSession.builder.getOrCreate(), False
                self._warn_if_foreign_python(active)
            else:
                self._spark, self._owns_session = self._build(), True
                if self._on_kubernetes is None:
                    self._start_warm_up(self._spark.sparkContext)
            self.remote = not is_local_master(str(self._spark.sparkContext.master))
            return self._spark

    prepares: ClassVar[bool] = True

    def prepare(self) -> None:
        """Build the session (and start its Python workers) in a daemon thread: a panel whose
        backend is spark calls this when it opens or when spark is chosen, so Run finds it
        up (benchmarks/first_point.py: 2.2 s to the first trial instead of 9.8 s)."""

        def build() -> None:
            try:
                with self._lock:
                    if self._closed:
                        return
                    self.session()
            except Exception:  # the run that needs the session reports why it cannot start
                _log.debug("spark backend: preparing the session failed", exc_info=True)

        threading.Thread(target=build, name="hpo-spark-prepare", daemon=True).start()

    def _start_warm_up(self, sc: Any) -> None:
        """Start every slot's Python worker in the background (a job of one tiny task per slot
        that imports the trial worker): the first run's workers then find them running instead
        of starting them, which is most of a cold run's wait for its first trial."""
        slots = max(1, self._slots(sc))

        def warm() -> None:
            try:
                sc.setLocalProperty("spark.job.description", "hpo_widget: starting Python workers")
                sc.parallelize(range(slots), slots).map(_warm_worker).collect()
            except Exception:  # a session stopped meanwhile; the run starts its own workers
                _log.debug("spark backend: warming the Python workers failed", exc_info=True)

        threading.Thread(target=warm, name="hpo-spark-warm-up", daemon=True).start()

    def default_storage_proxy(self) -> dict[str, Any]:
        """On Kubernetes: the pod IP and port 7080 (what the manifests open to executor pods),
        advertised as the driver host; elsewhere the loopback default."""
        if not self.kubernetes:
            return {}
        return storage_proxy_defaults(kubernetes_settings(self._k8s_options()))

    def _k8s_options(self) -> dict[str, Any]:
        options = {k: v for k, v in self.options.items() if k != "spark"}
        if self._master:
            options["master"] = self._master
        return options

    def _build(self) -> Any:
        from pyspark.sql import SparkSession

        on_k8s = self._on_kubernetes
        api = None
        if on_k8s is not None:
            conf = on_k8s.session_conf(self._k8s_options())
            master = conf["spark.master"]
            api = on_k8s.prepare(conf)
        else:
            master = self._master or self._conf.get("spark.master") or "local[*]"
            conf = {"spark.ui.showConsoleProgress": "false", **self._conf, "spark.master": master}
        builder = SparkSession.builder.appName(self._app_name)
        python = conf.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON")
        if python is None and _sets_own_python(master):
            python = sys.executable
        if python is not None:
            conf.setdefault("spark.pyspark.python", python)
        env: dict[str, str] = {}
        if python is not None:
            env["PYSPARK_PYTHON"] = python
        if on_k8s is None and python is not None and _same_interpreter(python):
            # Workers forked with hpo_widget and Optuna imported: no import time per worker.
            conf.setdefault("spark.python.daemon.module", "hpo_widget._spark_daemon")
        if is_local_master(master):
            # Local executors live in the driver's JVM: nothing outside this machine needs to
            # reach it, so the driver's ports stay on loopback unless the user said otherwise.
            conf.setdefault("spark.driver.host", "127.0.0.1")
            conf.setdefault("spark.driver.bindAddress", "127.0.0.1")
        bind = conf.get("spark.driver.bindAddress", "")
        if bind.startswith("127.") and "SPARK_LOCAL_IP" not in os.environ:
            # The web UI binds to $SPARK_LOCAL_IP (else every interface), read when the JVM
            # starts; keep it beside the driver's own ports.
            env["SPARK_LOCAL_IP"] = bind
        for key, value in conf.items():
            builder = builder.config(key, value)
        # pyspark reads these once, when it launches the JVM; set them only for that.
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            _log.info("starting a SparkSession on %s", master)
            if on_k8s is not None:
                return on_k8s.get_or_create(
                    builder, conf, api, f"starting a Spark session on {master}"
                )
            return builder.getOrCreate()
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old

    @staticmethod
    def _warn_if_foreign_python(sc: Any) -> None:
        import shutil

        exe = shutil.which(sc.pythonExec) or sc.pythonExec
        if is_local_master(str(sc.master)) and os.path.realpath(exe) != os.path.realpath(
            sys.executable
        ):
            _log.warning(
                "spark backend: the running SparkSession starts Python workers with %r, not this "
                "kernel's %r; if they lack hpo_widget, set PYSPARK_PYTHON before creating the "
                "session",
                sc.pythonExec,
                sys.executable,
            )

    def _slots(self, sc: Any) -> int:
        """Tasks the cluster can run at once now (respects spark.task.cpus)."""
        try:
            jsc = sc._jsc.sc()
            profile = jsc.resourceProfileManager().resourceProfileFromId(0)
            return int(jsc.maxNumConcurrentTasks(profile))
        except Exception:  # private JVM API (the one joblibspark uses); fall back to the public one
            return int(sc.defaultParallelism)

    def default_workers(self) -> int:
        """One worker per task slot.

        On a cluster this waits (up to ``executor_timeout``) for the first executors, or for all
        of ``spark.executor.instances`` when that is set; executors that register later still
        help (Spark queues the extra workers) but are not counted.  Pass ``n_workers`` to the
        runner to choose the number yourself.
        """
        sc = self.session().sparkContext
        slots = self._slots(sc)
        if is_local_master(str(sc.master)):
            return max(1, slots)
        conf = sc.getConf()
        want = 1
        if conf.get("spark.executor.instances"):
            cores = int(conf.get("spark.executor.cores", "1"))
            want = int(conf.get("spark.executor.instances")) * cores
            want //= max(1, int(conf.get("spark.task.cpus", "1")))
        deadline = time.monotonic() + self._executor_timeout
        while slots < want and time.monotonic() < deadline:
            time.sleep(0.25)
            slots = self._slots(sc)
        return max(1, slots or int(sc.defaultParallelism))

    # -- running ------------------------------------------------------------------------------
    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        if not args:
            return []
        sc = self.session().sparkContext
        _register_joblib_backend()
        _silence_known_warnings()
        tag = f"hpo-widget-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._runs[tag] = False
            self.last_job_tag = tag
        # Local properties of this thread; joblibspark's threads inherit them per task.
        sc.addJobTag(tag)
        sc.setInterruptOnCancel(True)
        sc.setLocalProperty("spark.job.description", f"hpo_widget: {len(args)} trial worker(s)")
        shipment = None
        try:
            if self._cancelled(tag):
                return []
            shipment = ship_shared(sc, function, args)
            self.last_broadcast_bytes = shipment.nbytes
            # n_jobs >= 2: joblib runs n_jobs=1 in this process instead of on Spark.
            parallel = joblib.Parallel(
                n_jobs=max(2, len(args)), backend=_JOBLIB_BACKEND, batch_size=1, pre_dispatch="all"
            )
            call = shipment.function
            return list(parallel(joblib.delayed(call)(*a) for a in shipment.args))
        except Exception as exc:
            if self._cancelled(tag):
                return []
            problem = self._setup_problem(sc, function, args[0])
            if problem is not None:
                raise RuntimeError(
                    f"spark backend: executors cannot run the workers: {problem}. Make the "
                    "objective importable there (define it in the notebook or install its "
                    "module) and run a Python that has hpo_widget (PYSPARK_PYTHON / "
                    "spark.pyspark.python)."
                ) from None
            raise RuntimeError(
                f"spark backend: the Spark job of the workers failed ({type(exc).__name__}; "
                "joblibspark hides Spark's error, see the Spark logs). A worker process or "
                "executor probably died; local[N] masters never retry a task (local[N,4] do)."
            ) from None
        finally:
            if shipment is not None:
                shipment.done()
            with self._lock:
                self._runs.pop(tag, None)
            try:
                sc.removeJobTag(tag)
                sc.setInterruptOnCancel(False)
                sc.setLocalProperty("spark.job.description", None)
            except Exception:  # the session may have been stopped meanwhile
                pass

    def _cancelled(self, tag: str) -> bool:
        with self._lock:
            return self._runs.get(tag, False)

    @staticmethod
    def _setup_problem(sc: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
        """joblibspark hides why a task failed: run one probe task that unpickles what a worker
        gets.  Returns the executor's error line, or None when the setup is fine."""
        from pyspark import cloudpickle

        try:
            payload = cloudpickle.dumps((function, args))
            sc.parallelize([0], 1).map(lambda _: _probe(payload)).collect()
        except Exception as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            # The Python exception line of the executor's traceback, not the JVM's wrappers.
            python = [ln for ln in lines if _PYTHON_ERROR.match(ln)]
            return python[0] if python else (lines[-1] if lines else repr(exc))
        return None

    def cancel(self) -> None:
        """Cancel the Spark jobs of the running call(s), killing their Python workers."""
        with self._lock:
            tags = list(self._runs)
            for tag in tags:
                self._runs[tag] = True
        if not tags or self._spark is None:
            return
        sc = self._spark.sparkContext
        for tag in tags:
            try:
                sc.cancelJobsWithTag(tag)
            except Exception:  # a stopped context has nothing left to cancel
                _log.debug("spark backend: cancelling %s failed", tag, exc_info=True)

    def close(self) -> None:
        """Stop the SparkSession if this backend built it."""
        with self._lock:
            self._closed = True
            spark, owned = self._spark, self._owns_session
            if owned:
                self._spark, self._owns_session = None, False
        if self._on_kubernetes is not None:
            self._on_kubernetes.stop(spark if owned else None)
        elif spark is not None and owned:
            spark.stop()

    def describe(self) -> str:
        return f"spark ({self.master})"
