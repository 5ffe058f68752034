"""A Kubernetes API server + kubelet stand-in for tests that run Spark's real Kubernetes backend.

Served on 127.0.0.1 over plain HTTP (HTTP/1.1 keep-alive, chunked watch streams): core/v1 pods
(incl. ``pods/{name}/log``), configmaps, persistentvolumeclaims, services, secrets,
serviceaccounts in namespaces; label selectors (``k=v``, ``k!=v``, ``k in (..)``,
``k notin (..)``, ``k``, ``!k``) and field selectors (``metadata.name``, ``status.phase``, ...);
resourceVersions, watches (ADDED/MODIFIED/DELETED, one JSON event per line; a WebSocket upgrade
is answered 200 without upgrading, so fabric8 falls back to a chunked HTTP watch at once; 503
would work too, after fabric8's retries with backoff), deletecollection, DeleteOptions, PATCH (JSON,
merge, strategic-merge for maps), SelfSubjectAccessReview.  Every request is authenticated
(bearer token of a ServiceAccount, else ``system:anonymous``) and authorized against the
RoleBindings/Roles rendered from ``k8s-spark/base`` with ``kubectl kustomize``.

Pods run as local process groups, each on its own loopback address (127.0.0.2, .3, ... never
reused), as their image's entrypoint would run them.  Deletion is graceful (SIGTERM, SIGKILL
after the grace period), dependents are garbage-collected by ownerReference.

Strictness a real cluster does not have: a pod whose ``SPARK_DRIVER_URL`` names a host executors
could not reach (0.0.0.0, ``::``, a name, an IP that is neither loopback nor a Running pod's)
is refused with 422 at creation (a real cluster would start it and the executor would fail to
connect).  Not modelled: cluster-scoped RBAC grants, container restarts, multiple containers,
admission beyond ServiceAccount existence, bookmarks.
"""

from .standin import KubeStandIn, Request
from .store import ApiError

__all__ = ["ApiError", "KubeStandIn", "Request"]
