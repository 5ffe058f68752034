"""What the spark backend does on Kubernetes besides Spark: check the Role before starting,
remove what a killed kernel left, explain pending executors, and translate Spark's 403s.

Each answers one of the problems people hit most with a notebook driver on Kubernetes
(``../shared/K8S.md``): a missing verb found only as a Py4J stack trace (or, for
``deletecollection``, never: ``stop()`` silently leaves pods behind), executor pods orphaned when
kernel and JVM die together, and executors stuck Pending while the notebook waits silently.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._kubernetes_api import KubeApiError, KubernetesApi, service_account_name
from .spark_kubernetes import RBAC_FILE

__all__ = [
    "KubernetesAccessError",
    "executor_status",
    "forbidden_from_spark",
    "preflight",
    "remove_leftovers",
]

_log = logging.getLogger("hpo_widget.backends.spark")

#: Verbs without which Spark cannot start or run executors.
REQUIRED: tuple[tuple[str, str], ...] = (
    ("get", "pods"),
    ("list", "pods"),
    ("watch", "pods"),
    ("create", "pods"),
    ("delete", "pods"),
    ("create", "configmaps"),
)
#: Verbs whose absence only leaves objects behind: (verb, resource) -> the consequence.
WANTED: dict[tuple[str, str], str] = {
    ("deletecollection", "pods"): "stop() will leave the executor pods behind",
    ("deletecollection", "configmaps"): (
        "stop() will leave the executor ConfigMap behind (and a second SparkSession in the "
        "same kernel then fails with 409 Conflict)"
    ),
    ("list", "configmaps"): "ConfigMaps left by a killed kernel cannot be found and removed",
    ("delete", "configmaps"): "ConfigMaps left by a killed kernel cannot be removed",
}

_FORBIDDEN = re.compile(
    r'forbidden: User "(?P<user>[^"]*)" cannot (?P<verb>\w+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "[^"]*")?(?: in the namespace "(?P<namespace>[^"]+)")?'
)


class KubernetesAccessError(PermissionError):
    """The driver's service account lacks a verb Spark needs (message: verb, resource,
    namespace, account and where the Role is)."""

    def __init__(self, verb: str, resource: str, namespace: str, account: str | None) -> None:
        self.verb, self.resource, self.namespace, self.account = verb, resource, namespace, account
        who = account or "the driver's service account"
        super().__init__(
            f"Kubernetes refuses {who} to {verb} {resource} in namespace {namespace!r}; Spark "
            f"needs that to run executor pods. Grant it in the driver's Role (verbs "
            f'"{verb}" on "{resource}"; see {RBAC_FILE}) or run the notebook with the '
            "hpo-widget-driver service account"
        )


def account_of(
    driver_pod: Mapping[str, Any] | None, namespace: str, token: str | None
) -> str | None:
    """``system:serviceaccount:NS:NAME`` of the driver: from its pod spec, else its token."""
    spec = (driver_pod or {}).get("spec") or {}
    name = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if name:
        return f"system:serviceaccount:{namespace}:{name}"
    return service_account_name(token)


def preflight(api: KubernetesApi, account: str | None) -> list[str]:
    """Ask the API server (SelfSubjectAccessReview) for every verb Spark will use.

    Raises :class:`KubernetesAccessError` for the first missing required verb; returns a
    warning per missing optional one.  A server that does not answer reviews skips the check.
    """
    warnings: list[str] = []
    for verb, resource in (*REQUIRED, *WANTED):
        allowed = api.can_i(verb, resource)
        if allowed is None:
            _log.debug("the API server answers no SelfSubjectAccessReview: no preflight")
            return []
        if allowed:
            continue
        if (verb, resource) in REQUIRED:
            raise KubernetesAccessError(verb, resource, api.namespace, account)
        who = account or "the driver's service account"
        warnings.append(
            f"{who} may not {verb} {resource} in namespace {api.namespace!r}: "
            f"{WANTED[(verb, resource)]}. Add the verb to the driver's Role ({RBAC_FILE})"
        )
    return warnings


def forbidden_from_spark(
    error: BaseException | str, namespace: str
) -> KubernetesAccessError | None:
    """Spark's start failing with a Kubernetes 403 (``... is forbidden: User "..." cannot
    create resource "configmaps" ...``, deep in a Py4J error) as the same clear error."""
    found = _FORBIDDEN.search(str(error))
    if found is None:
        return None
    return KubernetesAccessError(
        found["verb"], found["resource"], found["namespace"] or namespace, found["user"] or None
    )


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return any(ref.get("uid") == uid for ref in refs)


def remove_leftovers(api: KubernetesApi, driver_pod: Mapping[str, Any]) -> list[str]:
    """Delete executor pods and ConfigMaps owned by this driver pod, left by an earlier kernel
    whose JVM died with it (a JVM that exits runs Spark's shutdown hook, which deletes them).

    Only objects whose ownerReferences name this pod's uid are touched, never another
    driver's.  Returns ``kind/name`` of what was removed.
    """
    uid = (driver_pod.get("metadata") or {}).get("uid")
    if not uid:
        return []
    removed: list[str] = []
    for resource, kind in (("pods", "pod"), ("configmaps", "configmap")):
        try:
            objects = api.list(resource, "spark-role=executor")
        except KubeApiError as exc:
            _log.warning("cannot look for leftover executor %s: %s", resource, exc.message)
            continue
        for obj in objects:
            name = (obj.get("metadata") or {}).get("name")
            if not name or not _owned_by(obj, uid):
                continue
            try:
                api.delete(resource, name)
                removed.append(f"{kind}/{name}")
            except KubeApiError as exc:
                _log.warning("cannot remove leftover %s/%s: %s", kind, name, exc.message)
    return removed


def _pod_reason(pod: Mapping[str, Any]) -> str | None:
    """Why a pod is not running yet: an unschedulable condition or a waiting container."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or ():
        if cond.get("status") == "False" and cond.get("reason"):
            message = cond.get("message")
            return f"{cond['reason']}: {message}" if message else str(cond["reason"])
    for container in status.get("containerStatuses") or ():
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            message = waiting.get("message")
            return f"{waiting['reason']}: {message}" if message else str(waiting["reason"])
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summarize_pods(pods: Iterable[Mapping[str, Any]]) -> str:
    """``2 pods Pending (Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.)``."""
    by_phase: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            phase = "Terminating"
        else:
            phase = str((pod.get("status") or {}).get("phase") or "Unknown")
        by_phase.setdefault(phase, []).append(pod)
    if not by_phase:
        return "no executor pod yet"
    parts = []
    for phase in sorted(by_phase, key=lambda p: (p != "Pending", p)):
        group = by_phase[phase]
        reasons = sorted({r for r in map(_pod_reason, group) if r})
        text = f"{_plural(len(group), 'pod')} {phase}"
        if reasons and phase in ("Pending", "Failed", "Unknown"):
            text += f" ({'; '.join(reasons)})"
        parts.append(text)
    return ", ".join(parts)


def executor_status(registered: int, wanted: int, pods: Iterable[Mapping[str, Any]] | None) -> str:
    """``waiting for executors: 0 of 2 registered; 2 pods Pending (...)``; "" when enough."""
    if registered >= wanted:
        return ""
    text = f"waiting for executors: {registered} of {wanted} registered"
    if pods is not None:
        text += "; " + summarize_pods(pods)
    return text
