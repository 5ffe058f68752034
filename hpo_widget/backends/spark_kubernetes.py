"""The Spark conf of a driver running in a Kubernetes pod (client mode), computed from the pod.

A notebook kernel in a pod is the Spark driver and executors are pods it asks the API server
for.  Spark 4.3 needs a dozen settings for that to work, and several have traps (see
``k8s-spark/README.md``): executors dial ``spark.driver.host`` but 4.3 overwrites it with the
bind address (``spark.kubernetes.executor.useDriverPodIP`` defaults to true), so binding
``0.0.0.0`` hands them ``spark://…@0.0.0.0``; random ports cannot be named by a
NetworkPolicy; without the driver pod's name executors get no owner reference and outlive a
deleted notebook.  :func:`kubernetes_settings` derives all of them from the environment the
manifests give the pod (the downward API's ``POD_NAME``, ``POD_NAMESPACE``, ``POD_IP`` and the
``HPO_WIDGET_EXECUTOR_*`` variables) and returns them, so users can see and override each one.

Example::

    >>> from hpo_widget.backends.spark_kubernetes import kubernetes_settings
    >>> env = {"POD_NAME": "jupyterlab-0", "POD_NAMESPACE": "hpo", "POD_IP": "10.1.2.3",
    ...        "HPO_WIDGET_EXECUTOR_IMAGE": "hpo-widget:1.0"}
    >>> kubernetes_settings({"executors": 4}, environ=env)["spark.executor.instances"]
    '4'

From a shell: ``hpo-widget spark-conf --master k8s --conf spark.executor.memory=4g``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "BLOCK_MANAGER_PORT",
    "DRIVER_PORT",
    "KUBERNETES_OPTIONS",
    "STORAGE_PROXY_PORT",
    "UI_PORT",
    "is_kubernetes_master",
    "kubernetes_master",
    "kubernetes_problems",
    "kubernetes_settings",
    "storage_proxy_defaults",
]

#: The ports the manifests (Service, NetworkPolicies, container ports) name.
DRIVER_PORT = 7078
BLOCK_MANAGER_PORT = 7079
STORAGE_PROXY_PORT = 7080
UI_PORT = 4040

#: backend_options of the spark backend that only mean something on Kubernetes.
KUBERNETES_OPTIONS = (
    "image",
    "executors",
    "executor_cores",
    "executor_memory",
    "python",
    "namespace",
    "service_account",
    "pod_template",
)

DEFAULT_EXECUTORS = 2
DEFAULT_EXECUTOR_CORES = 1
DEFAULT_EXECUTOR_MEMORY = "2g"
DEFAULT_EXECUTOR_SERVICE_ACCOUNT = "hpo-widget-executor"
IN_CLUSTER_API = "https://kubernetes.default.svc"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
RBAC_FILE = "k8s-spark/base/rbac.yaml"
_POD_MANIFEST = "k8s-spark/base/jupyterlab.yaml"

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_MEMORY = re.compile(r"^\d+[kmgtp]?b?$", re.IGNORECASE)
_WILDCARDS = ("0.0.0.0", "::", "[::]")

# The downward-API variables: (env var, fieldRef, the Spark key that replaces it).
_POD_ENV = {
    "POD_IP": ("status.podIP", "spark.driver.host"),
    "POD_NAME": ("metadata.name", "spark.kubernetes.driver.pod.name"),
    "POD_NAMESPACE": ("metadata.namespace", "spark.kubernetes.namespace"),
}


def is_kubernetes_master(master: Any) -> bool:
    """``k8s`` (this pod's cluster) or ``k8s://https://…``."""
    return isinstance(master, str) and (master == "k8s" or master.startswith("k8s://"))


def kubernetes_master(master: str = "k8s", environ: Mapping[str, str] = os.environ) -> str:
    """``k8s`` → the API server of the cluster this pod runs in, as client-go finds it
    (``$KUBERNETES_SERVICE_HOST``/``PORT``, else ``kubernetes.default.svc``); ``k8s://…`` as is."""
    if master != "k8s":
        return master
    host = environ.get("KUBERNETES_SERVICE_HOST")
    if not host:
        return f"k8s://{IN_CLUSTER_API}"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = environ.get("KUBERNETES_SERVICE_PORT", "443")
    return f"k8s://https://{host}:{port}"


def api_server(master: str) -> str:
    """The API server URL inside a ``k8s://`` master (Spark's rule: no scheme means https)."""
    url = master.removeprefix("k8s://")
    return url if url.startswith(("http://", "https://")) else f"https://{url}"


def _conf(options: Mapping[str, Any]) -> dict[str, str]:
    conf = options.get("conf") or {}
    return {str(k): str(v) for k, v in conf.items()} if isinstance(conf, Mapping) else {}


def _namespace(options: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    given = options.get("namespace") or environ.get("POD_NAMESPACE")
    if given:
        return str(given)
    try:  # in a pod the service account's namespace is the pod's (Spark does not read it)
        with open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace"), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _downward(var: str, option: str | None = None) -> str:
    field, key = _POD_ENV[var]
    instead = f"backend_options['{option}'] or " if option else ""
    return (
        f"${var} is not set: set {var} from the downward API (fieldRef {field}) — see "
        f"{_POD_MANIFEST}, or pass {instead}backend_options['conf'] = {{'{key}': ...}}"
    )


def kubernetes_problems(
    options: Mapping[str, Any] = _EMPTY, environ: Mapping[str, str] = os.environ
) -> list[tuple[str, str]]:
    """What keeps :func:`kubernetes_settings` from working, as ``(field path, message)``.

    :meth:`hpo_widget.RunConfig.problems` reports these with the rest of a configuration.
    Nothing is opened or started.
    """
    out: list[tuple[str, str]] = []
    conf = _conf(options)
    if options.get("conf") is not None and not isinstance(options.get("conf"), Mapping):
        out.append(("backend_options.conf", "must be a mapping of Spark settings"))
    if "spark.driver.host" not in conf and not environ.get("POD_IP"):
        out.append(("backend_options.master", _downward("POD_IP")))
    if "spark.kubernetes.driver.pod.name" not in conf and not environ.get("POD_NAME"):
        out.append(("backend_options.master", _downward("POD_NAME")))
    if "spark.kubernetes.namespace" not in conf and not _namespace(options, environ):
        out.append(("backend_options.namespace", _downward("POD_NAMESPACE", "namespace")))
    image_keys = ("spark.kubernetes.container.image", "spark.kubernetes.executor.container.image")
    if not any(k in conf for k in image_keys) and not (
        options.get("image") or environ.get("HPO_WIDGET_EXECUTOR_IMAGE")
    ):
        out.append(
            (
                "backend_options.image",
                "no executor image: set $HPO_WIDGET_EXECUTOR_IMAGE (the k8s-spark manifests "
                "do) or backend_options['image'] to an image with the same Python, pyspark and "
                "hpo_widget as this driver",
            )
        )
    executors = options.get("executors")
    if executors is not None and executors != "auto" and not _positive_int(executors):
        out.append(
            (
                "backend_options.executors",
                f"must be a whole number >= 1 or 'auto' (dynamic allocation), got {executors!r}",
            )
        )
    cores = options.get("executor_cores")
    if cores is not None and not _positive_int(cores):
        out.append(
            ("backend_options.executor_cores", f"must be a whole number >= 1, got {cores!r}")
        )
    memory = options.get("executor_memory")
    if memory is not None and not (isinstance(memory, str) and _MEMORY.match(memory.strip())):
        out.append(
            (
                "backend_options.executor_memory",
                f"must be a JVM memory size like '2g' or '512m', got {memory!r}",
            )
        )
    for key in ("python", "image", "namespace", "service_account", "pod_template"):
        value = options.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            out.append((f"backend_options.{key}", f"must be a non-empty string, got {value!r}"))
    template = options.get("pod_template") or environ.get("HPO_WIDGET_EXECUTOR_TEMPLATE")
    if (
        isinstance(template, str)
        and template
        and "spark.kubernetes.executor.podTemplateFile" not in conf
        and not os.path.isfile(template)
    ):
        origin = "pod_template" if options.get("pod_template") else "$HPO_WIDGET_EXECUTOR_TEMPLATE"
        out.append(
            (
                "backend_options.pod_template",
                f"no file {template!r} ({origin}): mount the executor pod template ConfigMap "
                "there (see k8s-spark/base/jupyterlab.yaml) or unset it",
            )
        )
    bind = conf.get("spark.driver.bindAddress", "")
    use_pod_ip = conf.get("spark.kubernetes.executor.useDriverPodIP", "true").strip().lower()
    if bind.strip() in _WILDCARDS and use_pod_ip != "false":
        out.append(
            (
                "backend_options.conf",
                f"spark.driver.bindAddress={bind} with spark.kubernetes.executor.useDriverPodIP "
                "at Spark 4.3's default (true) hands executors spark://…@"
                f"{bind.strip('[]')}:{DRIVER_PORT}, which they cannot reach; bind to the pod "
                "IP (leave spark.driver.bindAddress unset: it defaults to $POD_IP), or set "
                "spark.driver.host to a headless Service name and "
                "spark.kubernetes.executor.useDriverPodIP=false",
            )
        )
    return out


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def kubernetes_settings(
    options: Mapping[str, Any] = _EMPTY, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The full client-mode Spark conf for a driver in this pod, user ``conf`` applied last.

    ``options`` are the spark backend's ``backend_options`` (``master``: ``k8s`` or
    ``k8s://…``, default ``k8s``; ``conf``; ``image``, ``executors`` (default 2, or ``"auto"``
    for dynamic allocation), ``executor_cores`` (1), ``executor_memory`` (``"2g"``),
    ``python``, ``namespace``, ``service_account``, ``pod_template``).  An option beats the
    environment variable the manifests set; an entry of ``conf`` beats everything.

    Security: ``spark.authenticate`` and ``spark.network.crypto.enabled`` are on, so Spark's
    RPC (tasks carrying the pickled objective and the storage proxy's token) is authenticated
    and AES-encrypted.  On Kubernetes the driver generates the shared secret itself and hands
    it to each executor in its pod's environment (``SPARK_AUTH_SECRET``): anyone allowed to
    read pods in the namespace can read it, so grant that only to the driver's account.

    Raises :class:`hpo_widget.config.ConfigError` with every problem (field path + fix).
    """
    from ..config import ConfigError, ConfigProblem

    problems = kubernetes_problems(options, environ)
    if problems:
        raise ConfigError(ConfigProblem(path, message) for path, message in problems)
    conf = _conf(options)
    pod_ip = environ.get("POD_IP") or conf.get("spark.driver.host", "")
    executors = options.get("executors", DEFAULT_EXECUTORS)
    python = options.get("python") or environ.get("PYSPARK_PYTHON") or "python3"
    settings: dict[str, str] = {
        "spark.master": kubernetes_master(str(options.get("master") or "k8s"), environ),
        "spark.submit.deployMode": "client",
        "spark.kubernetes.namespace": _namespace(options, environ) or "",
        "spark.kubernetes.container.image": str(
            options.get("image") or environ.get("HPO_WIDGET_EXECUTOR_IMAGE") or ""
        ),
        "spark.kubernetes.driver.pod.name": environ.get("POD_NAME", ""),
        "spark.driver.host": pod_ip,
        "spark.driver.bindAddress": pod_ip,
        "spark.driver.port": str(DRIVER_PORT),
        "spark.driver.blockManager.port": str(BLOCK_MANAGER_PORT),
        "spark.blockManager.port": str(BLOCK_MANAGER_PORT),
        "spark.ui.port": str(UI_PORT),
        "spark.kubernetes.authenticate.executor.serviceAccountName": str(
            options.get("service_account")
            or environ.get("HPO_WIDGET_EXECUTOR_SERVICE_ACCOUNT")
            or DEFAULT_EXECUTOR_SERVICE_ACCOUNT
        ),
        # Client mode creates no driver Service, but stop() would still delete services by
        # label (one more verb in the Role for nothing).
        "spark.kubernetes.driver.service.deleteOnTermination": "false",
        # Default true: Spark lists PVCs before every allocation batch (another verb).
        "spark.kubernetes.driver.ownPersistentVolumeClaim": "false",
        "spark.executor.cores": str(options.get("executor_cores", DEFAULT_EXECUTOR_CORES)),
        "spark.executor.memory": str(options.get("executor_memory", DEFAULT_EXECUTOR_MEMORY)),
        "spark.pyspark.python": str(python),
        "spark.authenticate": "true",
        "spark.network.crypto.enabled": "true",
        # Kubernetes' default (0.8) makes the SparkContext wait silently, up to 30 s, for its
        # executors; the backend waits itself (default_workers) and says why they are pending.
        "spark.scheduler.minRegisteredResourcesRatio": "0",
        "spark.kubernetes.executor.label.app.kubernetes.io/part-of": "hpo-widget",
    }
    if executors == "auto":
        settings.update(
            {
                "spark.dynamicAllocation.enabled": "true",
                "spark.dynamicAllocation.shuffleTracking.enabled": "true",
                "spark.dynamicAllocation.minExecutors": "0",
                "spark.dynamicAllocation.initialExecutors": "1",
            }
        )
    else:
        settings["spark.executor.instances"] = str(executors)
    template = options.get("pod_template") or environ.get("HPO_WIDGET_EXECUTOR_TEMPLATE")
    if template:
        settings["spark.kubernetes.executor.podTemplateFile"] = str(template)
        settings["spark.kubernetes.executor.podTemplateContainerName"] = "spark-kubernetes-executor"
    settings.update(conf)
    return settings


def storage_proxy_defaults(settings: Mapping[str, str]) -> dict[str, Any]:
    """Where the driver's storage proxy listens so executor pods reach it: the driver's bind
    address, port 7080, advertised as the host executors already dial for the driver."""
    bind = settings.get("spark.driver.bindAddress") or settings.get("spark.driver.host", "")
    host = "0.0.0.0" if bind.strip() in _WILDCARDS else bind
    advertise = settings.get("spark.driver.host") or bind
    return {"host": host, "port": STORAGE_PROXY_PORT, "advertise": advertise}


def format_settings(settings: Mapping[str, str], *, sort: bool = True) -> list[str]:
    """``key=value`` lines, for ``hpo-widget spark-conf`` and ``spark-defaults.conf``."""
    keys = sorted(settings) if sort else list(settings)
    return [f"{k}={settings[k]}" for k in keys]
