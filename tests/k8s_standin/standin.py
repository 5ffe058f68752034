"""KubeStandIn: API server (server.py) + store + RBAC + scheduler/kubelet + garbage collector,
for tests that run Spark's real Kubernetes backend against it."""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests._waiting import wait_for

from . import rbac as rbac_mod
from .kubelet import NODE, Kubelet
from .server import start_server
from .store import KINDS, ApiError, Obj, Store, now, parse_field_selector, parse_label_selector

T = TypeVar("T")


@dataclass
class Request:
    """One API request as the stand-in saw and answered it."""

    method: str
    path: str
    query: dict[str, str]
    user: str
    verb: str
    resource: str | None  # "pods", "pods/log", ...; None for non-resource paths
    name: str | None
    namespace: str | None
    api_group: str
    status: int
    allowed: bool
    content_type: str = ""
    body: Any = None
    time: float = field(default_factory=time.time)

    @property
    def code(self) -> int:
        return self.status

    def __str__(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in self.query.items())
        return (
            f"{self.method} {self.path}{'?' + q if q else ''} -> {self.status} "
            f"[{self.user} {self.verb} {self.resource}]"
        )


class KubeStandIn:
    """A Kubernetes API server and kubelet for tests: see the package docstring."""

    def __init__(
        self,
        workdir: Path | str | None = None,
        namespace: str = "hpo",
        rbac: Path | str | list[dict[str, Any]] | None = None,
        capacity: int | None = None,
        entrypoint: Path | str | None = None,
        verbose: bool = False,
    ):
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="k8s-standin-")
            workdir = self._tmp.name
        self.workdir = Path(workdir) / "k8s-standin"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self.verbose = verbose
        self.rbac = rbac_mod.Rbac(namespace, rbac)
        self.store = Store()
        self.store.on_removed.append(self._collect_garbage)
        self._requests: list[Request] = []
        self._req_lock = threading.Lock()
        self.unknown_paths: list[str] = []
        self._orphaned: set[str] = set()
        self._server, self.port = start_server(self)
        self.url = f"http://127.0.0.1:{self.port}"
        self.kubelet = Kubelet(self.store, self.workdir, self.port, entrypoint)
        self.kubelet.capacity = capacity
        for sa in sorted(self.rbac.service_accounts):
            self.store.create("serviceaccounts", namespace, {"metadata": {"name": sa}})
        self.kubeconfig = self.workdir / "kubeconfig"
        self.write_kubeconfig(self.kubeconfig, rbac_mod.DRIVER_SA)
        self._closed = False

    # -- context management
    def __enter__(self) -> KubeStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill every pod process group, wait for them, stop watches and the server."""
        if self._closed:
            return
        self._closed = True
        self.kubelet.close()
        self.store.close_watches()
        self._server.stop()

    # -- auth helpers
    def token(self, service_account: str = rbac_mod.DRIVER_SA) -> str:
        return self.rbac.token(service_account)

    def write_kubeconfig(self, path: Path, service_account: str | None) -> Path:
        user: dict[str, Any] = {"token": self.token(service_account)} if service_account else {}
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": service_account or "anonymous", "user": user}],
            "contexts": [
                {
                    "name": "standin",
                    "context": {
                        "cluster": "standin",
                        "user": service_account or "anonymous",
                        "namespace": self.namespace,
                    },
                }
            ],
            "current-context": "standin",
        }
        path.write_text(yaml.safe_dump(cfg))
        return path

    # -- test-side views (as an admin: not recorded, not authorized)
    @property
    def capacity(self) -> int | None:
        return self.kubelet.capacity

    @capacity.setter
    def capacity(self, value: int | None) -> None:
        self.kubelet.capacity = value

    def pods(self, label_selector: str | None = None) -> list[Obj]:
        return self.store.list("pods", self.namespace, parse_label_selector(label_selector))

    def configmaps(self, label_selector: str | None = None) -> list[Obj]:
        return self.store.list("configmaps", self.namespace, parse_label_selector(label_selector))

    def pod(self, name: str) -> Obj | None:
        return self.store.find("pods", self.namespace, name)

    def pod_log(self, name: str) -> str:
        return self.kubelet.log(self.namespace, name)

    def add_driver_pod(
        self,
        name: str,
        ip: str = "127.0.0.1",
        labels: dict[str, str] | None = None,
        service_account: str = rbac_mod.DRIVER_SA,
    ) -> Obj:
        """A Running+Ready pod standing for the notebook pod (no process: it is this machine)."""
        t = now()
        pod = {
            "metadata": {"name": name, "labels": labels or {"app": "jupyterlab"}},
            "spec": {
                "containers": [{"name": "notebook", "image": "hpo-widget:test"}],
                "serviceAccountName": service_account,
                "serviceAccount": service_account,
                "nodeName": NODE,
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
            },
            "status": {
                "phase": "Running",
                "hostIP": "127.0.0.1",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": t,
                "qosClass": "BestEffort",
                "conditions": [
                    {"type": c, "status": "True", "lastProbeTime": None, "lastTransitionTime": t}
                    for c in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
                ],
                "containerStatuses": [
                    {
                        "name": "notebook",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "image": "hpo-widget:test",
                        "imageID": "",
                        "state": {"running": {"startedAt": t}},
                    }
                ],
            },
        }
        return self.store.create("pods", self.namespace, pod)

    def delete_pod(self, name: str, grace_seconds: int | None = None) -> Obj:
        """As `kubectl delete pod NAME [--grace-period=N]` (same path as an API DELETE)."""
        return self.delete(
            "pods",
            self.namespace,
            name,
            {} if grace_seconds is None else {"gracePeriodSeconds": grace_seconds},
        )

    @property
    def requests(self) -> list[Request]:
        with self._req_lock:
            return list(self._requests)

    def record(self, r: Request) -> None:
        with self._req_lock:
            self._requests.append(r)
        if self.verbose:
            print(f"[k8s-standin] {r}", flush=True)

    def denied(self) -> list[Request]:
        return [r for r in self.requests if not r.allowed]

    def verbs_used(self, user: str | None = None) -> dict[str, set[str]]:
        if user and not user.startswith("system:"):
            user = f"system:serviceaccount:{self.namespace}:{user}"
        out: dict[str, set[str]] = {}
        for r in self.requests:
            if r.resource and (user is None or r.user == user):
                out.setdefault(r.resource, set()).add(r.verb)
        return out

    @staticmethod
    def wait_for(
        predicate: Callable[[], T], timeout: float, what: str = "a condition", interval: float = 0.1
    ) -> T:
        return wait_for(predicate, timeout, what, interval)

    # -- API operations (called by server.py after authorization)
    def create(self, resource: str, ns: str, body: Obj) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        body = copy.deepcopy(body)
        if resource == "pods":
            self._admit_pod(ns, body)
        out = self.store.create(resource, ns, body)
        if resource == "pods":
            self.kubelet.kick()
        return out

    def _admit_pod(self, ns: str, pod: Obj) -> None:
        meta = pod.setdefault("metadata", {})
        spec = pod.setdefault("spec", {})
        name = meta.get("name") or meta.get("generateName", "") + "*"
        containers = spec.get("containers") or []
        if not containers:
            raise ApiError(
                422,
                "Invalid",
                f'Pod "{name}" is invalid: spec.containers: Required value',
                {"name": name, "kind": "Pod"},
            )
        sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        if sa not in self.rbac.service_accounts:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{name}" is forbidden: error looking up '
                f'service account {ns}/{sa}: serviceaccount "{sa}" not found',
                {"name": name, "kind": "pods"},
            )
        for i, c in enumerate(containers):
            for e in c.get("env") or []:
                if e.get("name") == "SPARK_DRIVER_URL" and "value" in e:
                    why = self._unreachable(str(e["value"]))
                    if why:
                        msg = (
                            f"SPARK_DRIVER_URL {e['value']}: executors cannot reach {why}; "
                            "set spark.driver.host and spark.driver.bindAddress to the "
                            "driver pod's IP (k8s stand-in strictness: a real cluster would "
                            "start the pod and the executor would fail to connect)"
                        )
                        field_path = f"spec.containers[{i}].env[SPARK_DRIVER_URL]"
                        raise ApiError(
                            422,
                            "Invalid",
                            f'Pod "{name}" is invalid: {field_path}: Invalid value: {msg}',
                            {
                                "name": name,
                                "kind": "Pod",
                                "causes": [
                                    {
                                        "reason": "FieldValueInvalid",
                                        "message": msg,
                                        "field": field_path,
                                    }
                                ],
                            },
                        )
        spec.setdefault("serviceAccountName", sa)
        spec.setdefault("serviceAccount", sa)
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        if not spec.get("nodeName"):
            spec.pop("nodeName", None)
        pod["status"] = {"phase": "Pending", "qosClass": "Burstable"}

    def _unreachable(self, url: str) -> str | None:
        m = re.match(r"^[a-z]+://(?:[^@/]*@)?(\[[^\]]*\]|[^:/]*)", url)
        host = (m.group(1) if m else "").strip("[]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host or "an empty host"  # a name: no DNS in the stand-in
        if ip.is_unspecified:
            return host
        if ip.version == 4 and ip in ipaddress.ip_network("127.0.0.0/8"):
            return None
        running = {
            p.get("status", {}).get("podIP")
            for p in self.store.list("pods", None)
            if p.get("status", {}).get("phase") == "Running"
        }
        return None if host in running else host

    def update(self, resource: str, ns: str, name: str, body: Obj) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        cur = self.store.get(resource, ns, name)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != cur["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource} "{name}":'
                " the object has been modified; please apply your changes to the "
                "latest version and try again",
                {"name": name, "kind": resource},
            )

        def mutate(obj: Obj) -> None:
            keep = obj.get("status")
            meta = obj["metadata"]
            obj.clear()
            obj.update(copy.deepcopy(body))
            for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                if k in meta:
                    obj["metadata"][k] = meta[k]
            if resource == "pods":
                obj["status"] = keep
            obj["kind"], obj["apiVersion"] = KINDS.get(resource), "v1"

        return self.store.update(resource, ns, name, mutate)

    def patch(self, resource: str, ns: str, name: str, content_type: str, body: Any) -> Obj:
        ct = content_type.split(";")[0].strip()
        if ct not in (
            "application/strategic-merge-patch+json",
            "application/merge-patch+json",
            "application/json-patch+json",
            "application/apply-patch+yaml",
        ):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media "
                "types include: application/json-patch+json, "
                "application/merge-patch+json, application/strategic-merge-patch+json",
            )

        def mutate(obj: Obj) -> None:
            status = copy.deepcopy(obj.get("status"))
            new = (
                json_patch(obj, body)
                if ct == "application/json-patch+json"
                else merge_patch(obj, body)
            )
            obj.clear()
            obj.update(new)
            if resource == "pods":
                obj["status"] = status

        try:
            return self.store.update(resource, ns, name, mutate)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise ApiError(422, "Invalid", f"the patch could not be applied: {e}") from None

    def delete(self, resource: str, ns: str, name: str, options: Obj) -> Obj:
        cur = self.store.get(resource, ns, name)
        orphan = options.get("propagationPolicy") == "Orphan" or options.get("orphanDependents")
        if orphan:
            self._orphaned.add(cur["metadata"]["uid"])
        if resource != "pods":
            self.store.remove(resource, ns, name)
            return cur
        proc = self.kubelet.process(ns, name)
        if proc is None:  # never started or already finished: gone at once
            return self.store.remove(resource, ns, name) or cur
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = cur["metadata"].get(
                "deletionGracePeriodSeconds", cur["spec"].get("terminationGracePeriodSeconds", 30)
            )
        grace = int(grace)
        if grace <= 0:
            self.kubelet.terminate(proc, 0)
            return self.store.remove(resource, ns, name) or cur
        old = cur["metadata"].get("deletionGracePeriodSeconds")
        if old is not None and old <= grace:
            return cur

        def mark(p: Obj) -> None:
            p["metadata"].setdefault("deletionTimestamp", now())
            p["metadata"]["deletionGracePeriodSeconds"] = grace

        out = self.store.update("pods", ns, name, mark)
        self.kubelet.terminate(proc, grace)
        return out

    def delete_collection(
        self, resource: str, ns: str, label: str | None, fields: str | None, options: Obj
    ) -> list[Obj]:
        items = self.store.list(
            resource, ns, parse_label_selector(label), parse_field_selector(fields, resource)
        )
        out = []
        for obj in items:
            with contextlib.suppress(ApiError):
                out.append(self.delete(resource, ns, obj["metadata"]["name"], options))
        return out

    # -- garbage collector (background propagation)
    def _collect_garbage(self, resource: str, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        if uid in self._orphaned:
            return
        threading.Thread(
            target=self._gc_dependents,
            args=(uid,),
            daemon=True,
            name=f"gc-{owner['metadata']['name']}",
        ).start()

    def _gc_dependents(self, uid: str) -> None:
        if self._closed:
            return
        live = {o["metadata"]["uid"] for _, o in self.store.all_objects()}
        for res, obj in self.store.all_objects():
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs) and not any(
                r.get("uid") in live for r in refs
            ):
                with contextlib.suppress(ApiError):
                    self.delete(
                        res,
                        obj["metadata"]["namespace"],
                        obj["metadata"]["name"],
                        {"propagationPolicy": "Background"},
                    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 (strategic merge patch behaves the same for maps, which is all Spark patches)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue  # strategic-merge directives ($patch, $retainKeys, ...)
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add/remove/replace/test/copy/move."""
    doc = copy.deepcopy(target)

    def parts(path: str) -> list[str]:
        return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]

    def walk(path: str) -> tuple[Any, str]:
        ps = parts(path)
        cur = doc
        for p in ps[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, ps[-1]

    def get(path: str) -> Any:
        parent, last = walk(path)
        return parent[int(last)] if isinstance(parent, list) else parent[last]

    for op in ops:
        kind, path = op["op"], op["path"]
        if kind == "test":
            if get(path) != op["value"]:
                raise ValueError(f"test failed at {path}")
            continue
        if kind in ("copy", "move"):
            value = copy.deepcopy(get(op["from"]))
            if kind == "move":
                p, last = walk(op["from"])
                p.pop(int(last)) if isinstance(p, list) else p.pop(last)
            kind, op = "add", {"op": "add", "path": path, "value": value}
        parent, last = walk(path)
        if kind == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif kind == "replace":
            if isinstance(parent, list):
                parent[int(last)] = op["value"]
            else:
                if last not in parent:
                    raise KeyError(path)
                parent[last] = op["value"]
        elif kind == "remove":
            parent.pop(int(last)) if isinstance(parent, list) else parent.pop(last)
        else:
            raise ValueError(f"unknown op {kind}")
    return doc
