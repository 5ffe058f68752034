"""The spark backend's session on Kubernetes: this pod as the client-mode driver.

:class:`KubernetesDriver` is what :class:`~hpo_widget.backends.spark.SparkBackend` calls when
``master="k8s"``: the session's conf (from the pod's environment,
:func:`~hpo_widget.backends.spark_kubernetes.kubernetes_settings`), the checks before the JVM
starts (the Role's verbs, an earlier kernel's leftovers: :mod:`._k8s_driver`), and the start
itself, with an :class:`ExecutorWatch` reporting why executors are missing while it blocks.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from . import _k8s_driver as k8s
from ._kubernetes_api import KubeApiError, KubernetesApi
from .spark_kubernetes import kubernetes_settings

__all__ = ["ExecutorWatch", "KubernetesDriver"]

_log = logging.getLogger("hpo_widget.backends.spark")


class ExecutorWatch:
    """A thread that, every ~2 s from before the JVM starts until the session ends, reports
    registered executors against the requested ones and, while short, what their pods are doing
    (``report("waiting for executors: 0 of 2 registered; 2 pods Pending (...)")``, "" at the end).

    It starts before ``getOrCreate`` because that call itself can take long on a busy node, and
    the pods are found by the application id the backend chose (``spark.app.id`` is Spark's
    ``spark-app-selector`` label), so the user learns at once why nothing moves.
    """

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, conf: Mapping[str, str], api: KubernetesApi | None, starting: str) -> None:
        """Watch the executors of the session ``conf`` starts; ``starting`` is reported until
        the JVM is up or pods show."""
        instances = conf.get("spark.executor.instances")
        wanted = int(instances) if instances else 1
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch,
            args=(conf["spark.app.id"], api, wanted, starting),
            name="hpo-spark-executors",
            daemon=True,
        )
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Tell the thread to end; with ``wait``, also wait for it (up to 5 s)."""
        self._stop.set()
        if not wait:
            return
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)

    def _watch(self, app_id: str, api: KubernetesApi | None, wanted: int, starting: str) -> None:
        from pyspark import SparkContext

        selector = f"spark-app-selector={app_id},spark-role=executor"
        alive = False
        while not self._stop.is_set():
            sc = SparkContext._active_spark_context
            jsc = getattr(sc, "_jsc", None)
            registered = 0
            if jsc is not None:
                try:
                    # Executor infos include the driver's own block manager.
                    registered = max(0, len(jsc.sc().statusTracker().getExecutorInfos()) - 1)
                    alive = True
                except Exception:  # the context is stopping
                    break
            elif alive:
                break  # the session was stopped
            pods = None
            if registered < wanted and api is not None:
                try:
                    pods = api.list("pods", selector)
                except (KubeApiError, OSError) as exc:
                    _log.debug("spark backend: listing executor pods failed: %s", exc)
            if jsc is None and not pods:
                text = starting  # the JVM is still coming up
            else:
                text = k8s.executor_status(registered, wanted, pods)
            self._report(text)
            self._stop.wait(2.0)
        self._report("")


class KubernetesDriver:
    """Builds SparkSessions with this pod as the driver; ``report`` gets the executor watch's
    status texts (the backend's ``status_text``)."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.watch = ExecutorWatch(report)

    @staticmethod
    def session_conf(options: Mapping[str, Any]) -> dict[str, str]:
        """The conf of a session built from the spark backend's ``options``."""
        conf = {"spark.ui.showConsoleProgress": "false", **kubernetes_settings(options)}
        # Spark's spark-app-selector label: knowing it before the JVM starts lets the
        # executor watch find this session's pods while getOrCreate still blocks.
        conf.setdefault("spark.app.id", f"spark-{uuid.uuid4().hex}")
        return conf

    @staticmethod
    def prepare(settings: Mapping[str, str]) -> KubernetesApi:
        """Check the Role and remove this pod's leftovers before Spark starts; returns the
        API client the executor watch uses."""
        namespace = settings["spark.kubernetes.namespace"]
        pod_name = settings.get("spark.kubernetes.driver.pod.name")
        api = KubernetesApi.for_master(settings["spark.master"], namespace)
        driver: dict[str, Any] | None = None
        try:
            if pod_name:
                driver = api.get_pod(pod_name)
            account = k8s.account_of(driver, namespace, api.token())
            for warning in k8s.preflight(api, account):
                _log.warning("spark backend: %s", warning)
            if driver is not None:
                removed = k8s.remove_leftovers(api, driver)
                if removed:
                    _log.warning(
                        "spark backend: removed %d object(s) an earlier kernel of pod %s left "
                        "behind: %s",
                        len(removed),
                        pod_name,
                        ", ".join(removed),
                    )
        except KubeApiError as exc:
            if exc.status == 403:
                verb = {"GET": "get", "POST": "create", "DELETE": "delete"}.get(exc.method, "get")
                resource = "pods" if "/pods" in exc.path else "configmaps"
                raise k8s.KubernetesAccessError(
                    verb, resource, namespace, k8s.account_of(driver, namespace, api.token())
                ) from None
            if exc.status == 404 and driver is None:
                raise RuntimeError(
                    f"spark backend: the driver pod {pod_name!r} does not exist in namespace "
                    f"{namespace!r} (Spark needs it for owner references): POD_NAME and "
                    "POD_NAMESPACE must come from the downward API"
                ) from None
            _log.warning("spark backend: Kubernetes API: %s", exc)
        except OSError as exc:  # URLError, TLS: Spark would fail the same way, later
            raise RuntimeError(
                f"spark backend: cannot reach the Kubernetes API at {api.server}: {exc}"
            ) from None
        return api

    def get_or_create(
        self, builder: Any, conf: Mapping[str, str], api: KubernetesApi | None, starting: str
    ) -> Any:
        """``builder.getOrCreate()`` (``builder`` holds ``conf``) under the executor watch; a
        Kubernetes 403 deep in Spark's error is raised as a
        :class:`~hpo_widget.backends._k8s_driver.KubernetesAccessError`."""
        self.watch.start(conf, api, starting)
        try:
            return builder.getOrCreate()
        except Exception as exc:
            self.watch.stop()
            forbidden = k8s.forbidden_from_spark(exc, conf["spark.kubernetes.namespace"])
            if forbidden is not None:
                raise forbidden from None
            raise

    def stop(self, spark: Any | None) -> None:
        """Stop ``spark`` (None: nothing to stop) and the executor watch; the watch is told
        first, so it ends quietly instead of reading a stopping context."""
        self.watch.stop(wait=False)
        if spark is not None:
            spark.stop()
        self.watch.stop()
