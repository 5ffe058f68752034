"""Scheduler + kubelet: pods become local process groups, each on its own loopback address.

A pod's first container runs as its image would: its ``command`` if it has one, else the image's
entrypoint (``bash k8s-spark/image/entrypoint.sh <args>``), with the container's env (field refs
resolved) and volume mount paths rewritten to per-pod directories.  Other containers are ignored,
and a pod is never restarted whatever its restartPolicy (Spark's executors use Never)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyspark

from .store import ApiError, Obj, Store, now

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "k8s-spark" / "image" / "entrypoint.sh"
SPARK_HOME = str(Path(pyspark.__file__).parent)
NODE = "standin-node"
UNSCHEDULABLE = "0/1 nodes are available: 1 Insufficient cpu."


@dataclass
class PodProcess:
    name: str
    namespace: str
    uid: str
    ip: str
    popen: subprocess.Popen
    log_path: Path
    exited: threading.Event = field(default_factory=threading.Event)
    kill_timer: threading.Timer | None = None


def _cond(ctype: str, status: str, **extra: str) -> dict[str, Any]:
    return {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": now(),
        **extra,
    }


class Kubelet:
    def __init__(self, store: Store, workdir: Path, api_port: int, entrypoint: Path | None = None):
        self.store = store
        self.workdir = workdir
        self.api_port = api_port
        self.entrypoint = Path(entrypoint) if entrypoint else ENTRYPOINT
        self._capacity: int | None = None
        self._procs: dict[tuple[str, str], PodProcess] = {}
        self._logs: dict[tuple[str, str], Path] = {}
        self._next_ip = int(ipaddress.IPv4Address("127.0.0.2"))
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="standin-kubelet", daemon=True)
        self._thread.start()

    # -- capacity / scheduling
    @property
    def capacity(self) -> int | None:
        return self._capacity

    @capacity.setter
    def capacity(self, value: int | None) -> None:
        self._capacity = value
        self.kick()

    def kick(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(0.5)
            self._wake.clear()
            if self._closed:
                break
            try:
                self._reconcile()
            except Exception as e:  # keep the kubelet alive; the test sees the pod stay Pending
                print(f"[k8s-standin kubelet] {type(e).__name__}: {e}", flush=True)

    def _scheduled(self) -> int:
        with self._lock:
            return sum(1 for p in self._procs.values() if not p.exited.is_set())

    def _reconcile(self) -> None:
        for pod in self.store.list("pods", None):
            meta, spec, st = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
            key = (meta["namespace"], meta["name"])
            if st.get("phase") != "Pending" or meta.get("deletionTimestamp"):
                continue
            with self._lock:
                if key in self._procs:
                    continue
                full = self._capacity is not None and self._scheduled() >= self._capacity
                if not spec.get("nodeName") and full:
                    self._mark_unschedulable(pod)
                    continue
                self._start(pod)

    def _mark_unschedulable(self, pod: Obj) -> None:
        def mutate(p: Obj) -> None:
            conds = [c for c in p["status"].get("conditions", []) if c["type"] != "PodScheduled"]
            old = [c for c in p["status"].get("conditions", []) if c["type"] == "PodScheduled"]
            if old and old[0].get("reason") == "Unschedulable":
                conds.append(old[0])
            else:
                conds.append(
                    _cond("PodScheduled", "False", reason="Unschedulable", message=UNSCHEDULABLE)
                )
            p["status"]["conditions"] = conds

        self.store.update("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], mutate)

    def _alloc_ip(self) -> str:
        ip = str(ipaddress.IPv4Address(self._next_ip))
        self._next_ip += 1
        if ip.endswith(".255") or ip.endswith(".0"):
            return self._alloc_ip()
        return ip

    # -- starting a pod
    def _start(self, pod: Obj) -> bool:
        meta, spec = pod["metadata"], pod["spec"]
        ns, name = meta["namespace"], meta["name"]
        poddir = self.workdir / "pods" / f"{name}-{meta['uid'][:8]}"
        mounts = self._volumes(pod, poddir)
        if mounts is None:
            return False  # a ConfigMap it mounts does not exist yet: stays ContainerCreating
        ip = self._alloc_ip()
        pod_for_refs = {
            **pod,
            "status": {**pod.get("status", {}), "podIP": ip, "hostIP": "127.0.0.1"},
        }
        container = spec["containers"][0]
        env = self._env(pod_for_refs, container, poddir, mounts)
        rewrite = _rewriter(mounts)
        args = [_expand(rewrite(a), env) for a in container.get("args") or []]
        if container.get("command"):
            argv = [_expand(rewrite(c), env) for c in container["command"]] + args
        else:
            argv = ["bash", str(self.entrypoint), *args]
        log_path = poddir / "log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = now()
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                argv,
                env=env,
                cwd=poddir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = PodProcess(name, ns, meta["uid"], ip, popen, log_path)
        self._procs[(ns, name)] = proc
        self._logs[(ns, name)] = log_path
        cname = container.get("name", "main")

        def mutate(p: Obj) -> None:
            p["spec"]["nodeName"] = NODE
            p["status"].update(
                {
                    "phase": "Running",
                    "hostIP": "127.0.0.1",
                    "hostIPs": [{"ip": "127.0.0.1"}],
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "startTime": started,
                    "conditions": [
                        _cond("PodReadyToStartContainers", "True"),
                        _cond("Initialized", "True"),
                        _cond("Ready", "True"),
                        _cond("ContainersReady", "True"),
                        _cond("PodScheduled", "True"),
                    ],
                    "containerStatuses": [
                        {
                            "name": cname,
                            "ready": True,
                            "started": True,
                            "restartCount": 0,
                            "image": container.get("image", ""),
                            "imageID": "",
                            "containerID": f"standin://{popen.pid}",
                            "state": {"running": {"startedAt": started}},
                            "lastState": {},
                        }
                    ],
                }
            )

        threading.Thread(target=self._reap, args=(proc,), name=f"reap-{name}", daemon=True).start()
        try:
            self.store.update("pods", ns, name, mutate)
        except ApiError:  # deleted while it was being started
            _signal(proc, signal.SIGKILL)
        return True

    def _volumes(self, pod: Obj, poddir: Path) -> list[tuple[str, str]] | None:
        ns = pod["metadata"]["namespace"]
        vols: dict[str, Path] = {}
        for v in pod["spec"].get("volumes") or []:
            d = poddir / "volumes" / v["name"]
            src = v.get("configMap") or v.get("secret")
            if src is not None:
                res = "configmaps" if "configMap" in v else "secrets"
                ref = src.get("name") or src.get("secretName")
                obj = self.store.find(res, ns, ref)
                if obj is None:
                    if not src.get("optional"):
                        return None
                    obj = {}
                data = dict(obj.get("data") or {})
                if res == "secrets":
                    import base64

                    data = {k: base64.b64decode(x).decode() for k, x in data.items()}
                items = src.get("items") or [{"key": k, "path": k} for k in data]
                d.mkdir(parents=True, exist_ok=True)
                for it in items:
                    f = d / it["path"]
                    f.parent.mkdir(parents=True, exist_ok=True)
                    f.write_text(data.get(it["key"], ""))
            elif "hostPath" in v:
                d = Path(v["hostPath"]["path"])
            else:  # emptyDir and anything else: an empty directory
                d.mkdir(parents=True, exist_ok=True)
            vols[v["name"]] = d
        mounts = []
        for m in pod["spec"]["containers"][0].get("volumeMounts") or []:
            d = vols.get(m["name"])
            if d is None:
                continue
            if m.get("subPath"):
                d = d / m["subPath"]
            mounts.append((m["mountPath"].rstrip("/") or "/", str(d)))
        return mounts

    def _env(self, pod: Obj, container: dict, poddir: Path, mounts: list[tuple[str, str]]) -> dict:
        home = poddir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {  # what the image and the kubelet put there
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SPARK_HOME": SPARK_HOME,
            "HOME": str(home),
            "HOSTNAME": pod["metadata"]["name"],
            "LANG": "C.UTF-8",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.api_port),
        }
        if os.environ.get("JAVA_HOME"):
            env["JAVA_HOME"] = os.environ["JAVA_HOME"]
        ns = pod["metadata"]["namespace"]
        rewrite = _rewriter(mounts)
        for src in container.get("envFrom") or []:
            ref = src.get("configMapRef") or src.get("secretRef") or {}
            res = "configmaps" if "configMapRef" in src else "secrets"
            obj = self.store.find(res, ns, ref.get("name", "")) or {}
            for k, v in (obj.get("data") or {}).items():
                env[src.get("prefix", "") + k] = _decode(res, v)
        for e in container.get("env") or []:
            if "value" in e:
                env[e["name"]] = _expand(rewrite(str(e["value"])), env)
                continue
            vf = e.get("valueFrom") or {}
            if "fieldRef" in vf:
                env[e["name"]] = _field(pod, vf["fieldRef"]["fieldPath"])
            elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
                res = "configmaps" if "configMapKeyRef" in vf else "secrets"
                ref = vf.get("configMapKeyRef") or vf.get("secretKeyRef")
                obj = self.store.find(res, ns, ref["name"]) or {}
                if ref["key"] in (obj.get("data") or {}):
                    env[e["name"]] = _decode(res, obj["data"][ref["key"]])
            else:
                env[e["name"]] = ""
        return env

    # -- exit, delete
    def _reap(self, proc: PodProcess) -> None:
        code = proc.popen.wait()
        # the container's PID 1 ended: nothing else in it survives
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        if proc.kill_timer:
            proc.kill_timer.cancel()
        exit_code = code if code >= 0 else 128 - code
        finished = now()

        def mutate(p: Obj) -> None:
            st = p["status"]
            st["phase"] = "Succeeded" if exit_code == 0 else "Failed"
            for c in st.get("conditions", []):
                if c["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
                    c["status"], c["lastTransitionTime"] = "False", finished
                    if c["type"] != "PodReadyToStartContainers":
                        c["reason"] = "PodCompleted" if exit_code == 0 else "PodFailed"
            for cs in st.get("containerStatuses", []):
                started = cs["state"].get("running", {}).get("startedAt", finished)
                cs.update(
                    ready=False,
                    started=False,
                    state={
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": "Completed" if exit_code == 0 else "Error",
                            "startedAt": started,
                            "finishedAt": finished,
                            "containerID": cs.get("containerID", ""),
                        }
                    },
                )

        try:
            pod = self.store.update("pods", proc.namespace, proc.name, mutate)
        except Exception:
            pod = None
        proc.exited.set()
        if pod is not None and pod["metadata"].get("deletionTimestamp"):
            self.store.remove("pods", proc.namespace, proc.name)
        self.kick()

    def process(self, namespace: str, name: str) -> PodProcess | None:
        with self._lock:
            p = self._procs.get((namespace, name))
            return p if p is not None and not p.exited.is_set() else None

    def log(self, namespace: str, name: str) -> str:
        path = self._logs.get((namespace, name))
        if path is None or not path.exists():
            return ""
        return path.read_text(errors="replace")

    def terminate(self, proc: PodProcess, grace: int) -> None:
        """SIGTERM to the pod's process group, SIGKILL after ``grace`` seconds."""
        if grace <= 0:
            _signal(proc, signal.SIGKILL)
            return
        _signal(proc, signal.SIGTERM)
        if proc.kill_timer is None or proc.kill_timer.interval > grace:
            if proc.kill_timer:
                proc.kill_timer.cancel()
            proc.kill_timer = threading.Timer(grace, _signal, (proc, signal.SIGKILL))
            proc.kill_timer.daemon = True
            proc.kill_timer.start()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(5)
        with self._lock:
            procs = list(self._procs.values())
        for p in procs:
            _signal(p, signal.SIGKILL)
        deadline = time.monotonic() + 20
        for p in procs:
            if p.kill_timer:
                p.kill_timer.cancel()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            p.exited.wait(max(0.1, deadline - time.monotonic()))

    def cleanup_dirs(self) -> None:
        shutil.rmtree(self.workdir / "pods", ignore_errors=True)


def _signal(proc: PodProcess, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.popen.pid, sig)


def _decode(resource: str, value: str) -> str:
    if resource == "secrets":
        import base64

        return base64.b64decode(value).decode()
    return value


def _field(pod: Obj, path: str) -> str:
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((pod["metadata"].get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"]["namespace"],
        "metadata.uid": pod["metadata"]["uid"],
        "spec.nodeName": NODE,
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        "status.podIP": pod["status"]["podIP"],
        "status.podIPs": pod["status"]["podIP"],
        "status.hostIP": pod["status"]["hostIP"],
        "status.hostIPs": pod["status"]["hostIP"],
    }
    return str(simple.get(path, ""))


def _rewriter(mounts: list[tuple[str, str]]):
    """Replace a volumeMount's mountPath where a value is, or starts with, it (also inside
    comma/colon separated lists)."""
    pats = [
        (re.compile(r"(?<![\w./-])" + re.escape(mp) + r"(?=$|[/,:])"), d)
        for mp, d in sorted(mounts, key=lambda m: -len(m[0]))
    ]

    def rewrite(value: str) -> str:
        for pat, d in pats:
            value = pat.sub(lambda _m, d=d: d, value)
        return value

    return rewrite


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command, args and env values ($$ escapes)."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        value,
    )
