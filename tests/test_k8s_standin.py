"""The Kubernetes API stand-in (tests/k8s_standin) speaks the protocol Spark's fabric8 client
needs: selectors, Status bodies, RBAC, deletecollection, watches, garbage collection, graceful
deletion, and the driver-URL check.  Plain HTTP here; one real Spark driver at the end."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s_standin import KubeStandIn
from tests.k8s_standin.store import matches, parse_field_selector, parse_label_selector

NS = "/api/v1/namespaces/hpo"
DRIVER_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["get", "list", "watch", "create", "delete", "deletecollection", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["create", "delete", "deletecollection", "list", "get"],
    },
]
PY = sys.executable


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeStandIn]:
    with KubeStandIn(tmp_path, namespace="hpo", rbac=DRIVER_RULES) as k:
        yield k


def call(
    kube: KubeStandIn,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = "",
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """One API request as the driver's service account (token=None: anonymous)."""
    headers = {"Content-Type": content_type}
    if token == "":
        token = kube.token("hpo-widget-driver")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(kube.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw, code, ctype = r.read(), r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        raw, code, ctype = e.read(), e.code, e.headers.get("Content-Type", "")
    return code, json.loads(raw) if "json" in ctype else raw.decode()


def pod(
    name: str, script: str = "import time; time.sleep(60)", labels: dict | None = None, **spec: Any
) -> dict[str, Any]:
    """A pod whose container runs ``python -c script`` (a container command overrides the image
    entrypoint, as in Kubernetes)."""
    container = {"name": "main", "image": "any", "command": [PY, "-c", script]}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def phase(kube: KubeStandIn, name: str) -> str | None:
    p = kube.pod(name)
    return p["status"]["phase"] if p else None


# --------------------------------------------------------------------------------------------
# Selectors


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=a", {"p1", "p2"}),
        ("app==a", {"p1", "p2"}),
        ("app=a,tier!=web", {"p2"}),
        ("app!=a", {"p3", "p4"}),  # != matches objects without the key too
        ("app in (a,b)", {"p1", "p2", "p3"}),
        ("app notin (a, b)", {"p4"}),
        ("tier", {"p1", "p3"}),
        ("!tier", {"p2", "p4"}),
        ("spark-role=executor,spark-exec-inactive!=true,spark-exec-id in (1,2)", {"p1", "p2"}),
        ("", {"p1", "p2", "p3", "p4"}),
    ],
)
def test_label_selectors(selector: str, expected: set[str]) -> None:
    labels = {
        "p1": {"app": "a", "tier": "web", "spark-role": "executor", "spark-exec-id": "1"},
        "p2": {"app": "a", "spark-role": "executor", "spark-exec-id": "2"},
        "p3": {
            "app": "b",
            "tier": "db",
            "spark-role": "executor",
            "spark-exec-inactive": "true",
            "spark-exec-id": "3",
        },
        "p4": {},
    }
    reqs = parse_label_selector(selector)
    got = {n for n, lab in labels.items() if matches({"metadata": {"labels": lab}}, reqs, [])}
    assert got == expected


def test_selectors_over_http_incl_field_selectors(kube: KubeStandIn) -> None:
    kube.capacity = 0  # nothing runs: phases stay Pending
    for name, labels in [
        ("a", {"app": "x", "n": "1"}),
        ("b", {"app": "x", "n": "2"}),
        ("c", {"app": "y"}),
    ]:
        assert call(kube, "POST", f"{NS}/pods", pod(name, labels=labels))[0] == 201
    kube.add_driver_pod("drv")

    def names(query: str) -> set[str]:
        code, body = call(kube, "GET", f"{NS}/pods?{query}")
        assert code == 200, body
        assert body["kind"] == "PodList" and body["metadata"]["resourceVersion"]
        return {i["metadata"]["name"] for i in body["items"]}

    assert names("labelSelector=app%3Dx%2Cn%21%3D2") == {"a"}
    assert names("labelSelector=app%20in%20(x%2Cy)%2C!n") == {"c"}
    assert names("labelSelector=app%20notin%20(x)") == {"c", "drv"}
    assert names("fieldSelector=metadata.name%3Db") == {"b"}
    assert names("fieldSelector=status.phase%3DRunning") == {"drv"}
    assert names("fieldSelector=status.phase!%3DRunning&labelSelector=app") == {"a", "b", "c"}
    code, body = call(kube, "GET", f"{NS}/pods?fieldSelector=spec.bogus%3D1")
    assert code == 400 and body["reason"] == "BadRequest"
    code, body = call(kube, "GET", f"{NS}/pods?labelSelector=a%20in%20b")
    assert code == 400
    assert parse_field_selector("metadata.name=x,status.phase!=Running", "pods") == [
        ("metadata.name", "=", "x"),
        ("status.phase", "!=", "Running"),
    ]


# --------------------------------------------------------------------------------------------
# Authentication, authorization, Status bodies


def test_forbidden_is_a_faithful_403_status(tmp_path: Path) -> None:
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    with KubeStandIn(tmp_path, rbac=rules) as kube:
        code, body = call(kube, "POST", f"{NS}/pods", pod("p"))
        assert code == 403
        assert body == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'pods is forbidden: User "system:serviceaccount:hpo:hpo-widget-driver" '
            'cannot create resource "pods" in API group "" in the namespace "hpo"',
            "reason": "Forbidden",
            "details": {"kind": "pods"},
            "code": 403,
        }
        code, body = call(kube, "DELETE", f"{NS}/pods/p")
        assert code == 403 and body["details"] == {"name": "p", "kind": "pods"}
        assert 'pods "p" is forbidden' in body["message"] and "cannot delete" in body["message"]
        code, body = call(kube, "GET", f"{NS}/pods?watch=true", token=None)
        assert code == 403
        assert 'User "system:anonymous" cannot watch resource "pods"' in body["message"]
        code, body = call(kube, "GET", f"{NS}/pods", token="not-a-token")
        assert code == 401 and body["reason"] == "Unauthorized"
        code, _ = call(kube, "GET", f"{NS}/pods")
        assert code == 200
        denied = kube.denied()
        assert [(r.verb, r.resource, r.status) for r in denied] == [
            ("create", "pods", 403),
            ("delete", "pods", 403),
            ("watch", "pods", 403),
        ]
        assert denied[0].user == "system:serviceaccount:hpo:hpo-widget-driver"
        assert kube.verbs_used("hpo-widget-driver") == {"pods": {"create", "delete", "list"}}


def test_selfsubjectaccessreview_answers_from_the_role(kube: KubeStandIn) -> None:
    def review(verb: str, resource: str, token: str | None = "") -> Any:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": "hpo",
                    "verb": verb,
                    "group": "",
                    "resource": resource,
                }
            },
        }
        return call(
            kube,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body,
            token=token,
        )

    code, body = review("deletecollection", "pods")
    assert code == 201 and body["status"]["allowed"] is True
    assert review("create", "services")[1]["status"]["allowed"] is False
    executor = review("create", "pods", token=kube.token("hpo-widget-executor"))[1]
    assert executor["status"]["allowed"] is False
    assert review("create", "pods", token=None)[0] == 403


def test_default_rbac_is_rendered_from_k8s_spark_base(tmp_path: Path) -> None:
    base = Path(__file__).resolve().parents[1] / "k8s-spark" / "base"
    if not (base / "rbac.yaml").exists():
        pytest.fail("k8s-spark/base/rbac.yaml is missing")
    with KubeStandIn(tmp_path) as kube:
        assert "hpo-widget-executor" in kube.rbac.service_accounts
        assert call(kube, "GET", f"{NS}/pods")[0] == 200
        assert call(kube, "DELETE", f"{NS}/configmaps?labelSelector=x")[0] == 200
        exec_token = kube.token("hpo-widget-executor")
        assert call(kube, "GET", f"{NS}/pods", token=exec_token)[0] == 403


def test_conflict_not_found_and_unknown_paths(kube: KubeStandIn) -> None:
    cm = {"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}}
    code, created = call(kube, "POST", f"{NS}/configmaps", cm)
    assert code == 201 and created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    code, body = call(kube, "POST", f"{NS}/configmaps", cm)
    assert (code, body["reason"], body["message"]) == (
        409,
        "AlreadyExists",
        'configmaps "c" already exists',
    )
    code, body = call(kube, "GET", f"{NS}/pods/nope")
    assert (code, body["reason"], body["details"]) == (
        404,
        "NotFound",
        {"name": "nope", "kind": "pods"},
    )
    code, body = call(kube, "GET", "/apis/apps/v1/namespaces/hpo/deployments")
    assert code == 404 and body["kind"] == "Status"
    assert kube.unknown_paths == ["GET /apis/apps/v1/namespaces/hpo/deployments"]


# --------------------------------------------------------------------------------------------
# Writes: patch, deletecollection


def test_patch_kinds(kube: KubeStandIn) -> None:
    kube.capacity = 0
    call(kube, "POST", f"{NS}/pods", pod("p", labels={"a": "1", "b": "2"}))
    code, body = call(
        kube,
        "PATCH",
        f"{NS}/pods/p",
        {"metadata": {"labels": {"c": "3", "b": None}}},
        content_type="application/strategic-merge-patch+json",
    )
    assert code == 200 and body["metadata"]["labels"] == {"a": "1", "c": "3"}
    code, body = call(
        kube,
        "PATCH",
        f"{NS}/pods/p",
        [{"op": "add", "path": "/metadata/labels/spark-exec-inactive", "value": "true"}],
        content_type="application/json-patch+json",
    )
    assert code == 200 and body["metadata"]["labels"]["spark-exec-inactive"] == "true"
    assert body["status"]["phase"] == "Pending"  # status is not patchable through the pod
    code, _ = call(kube, "PATCH", f"{NS}/pods/p", {"x": 1}, content_type="application/json")
    assert code == 415


def test_deletecollection_by_label_and_field(kube: KubeStandIn) -> None:
    kube.capacity = 0
    for name, labels in [
        ("e1", {"app": "s", "spark-exec-id": "1"}),
        ("e2", {"app": "s", "spark-exec-id": "2"}),
        ("other", {"app": "t"}),
    ]:
        call(kube, "POST", f"{NS}/pods", pod(name, labels=labels))
    call(kube, "POST", f"{NS}/configmaps", {"metadata": {"name": "cm", "labels": {"app": "s"}}})
    code, body = call(
        kube,
        "DELETE",
        f"{NS}/pods?labelSelector=app%3Ds%2Cspark-exec-id%20in%20(2)",
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
    )
    assert code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["e2"]
    code, body = call(
        kube, "DELETE", f"{NS}/pods?labelSelector=app%3Ds&fieldSelector=status.phase%3DRunning"
    )
    assert code == 200 and body["items"] == []
    assert call(kube, "DELETE", f"{NS}/configmaps?labelSelector=app%3Ds")[0] == 200
    assert {p["metadata"]["name"] for p in kube.pods()} == {"e1", "other"}
    assert kube.configmaps() == []
    assert kube.verbs_used()["pods"] >= {"create", "deletecollection"}


def test_no_deletecollection_verb_leaves_objects(tmp_path: Path) -> None:
    rules = [
        {
            "apiGroups": [""],
            "resources": ["pods", "configmaps"],
            "verbs": ["create", "delete", "list"],
        }
    ]
    with KubeStandIn(tmp_path, rbac=rules, capacity=0) as kube:
        call(kube, "POST", f"{NS}/pods", pod("e1", labels={"app": "s"}))
        code, body = call(kube, "DELETE", f"{NS}/pods?labelSelector=app%3Ds")
        assert code == 403 and 'cannot deletecollection resource "pods"' in body["message"]
        assert len(kube.pods("app=s")) == 1


# --------------------------------------------------------------------------------------------
# Watches


class WatchStream:
    """A chunked watch response read line by line."""

    def __init__(self, kube: KubeStandIn, query: str, headers: dict | None = None):
        port = int(kube.url.rsplit(":", 1)[1])
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request(
            "GET",
            f"{NS}/pods?watch=true&{query}",
            headers={"Authorization": f"Bearer {kube.token()}", **(headers or {})},
        )
        self.resp = self.conn.getresponse()

    def next(self) -> tuple[str, dict]:
        line = self.resp.readline()
        assert line, "watch stream ended"
        ev = json.loads(line)
        return ev["type"], ev["object"]

    def close(self) -> None:
        self.conn.close()


def test_watch_streams_events_with_selector_semantics(kube: KubeStandIn) -> None:
    kube.capacity = 0
    call(kube, "POST", f"{NS}/pods", pod("old", labels={"spark-role": "executor"}))
    # fabric8's first try is a WebSocket upgrade: answered without upgrading, so it falls back
    ws = WatchStream(
        kube, "labelSelector=spark-role", {"Connection": "Upgrade", "Upgrade": "websocket"}
    )
    assert ws.resp.status == 200 and ws.resp.getheader("Upgrade") is None
    ws.close()
    w = WatchStream(
        kube,
        "allowWatchBookmarks=true&labelSelector=spark-role%3Dexecutor%2C"
        "spark-exec-inactive!%3Dtrue",
    )
    assert w.resp.status == 200 and w.resp.getheader("Transfer-Encoding") == "chunked"
    assert w.next()[0] == "ADDED"  # no resourceVersion: the current state first
    call(kube, "POST", f"{NS}/pods", pod("new", labels={"spark-role": "executor"}))
    etype, obj = w.next()
    assert (etype, obj["metadata"]["name"], obj["status"]["phase"]) == ("ADDED", "new", "Pending")
    assert obj["kind"] == "Pod"
    kube.capacity = 5  # scheduling + start of both pods: MODIFIED until each one is Running
    phases = {"old": "Pending", "new": "Pending"}
    while set(phases.values()) != {"Running"}:
        etype, obj = w.next()
        assert etype == "MODIFIED"
        phases[obj["metadata"]["name"]] = obj["status"]["phase"]
    # a label change that stops matching the selector is a DELETED for this watch
    call(
        kube,
        "PATCH",
        f"{NS}/pods/old",
        {"metadata": {"labels": {"spark-exec-inactive": "true"}}},
        content_type="application/merge-patch+json",
    )
    etype, obj = w.next()
    assert (etype, obj["metadata"]["name"]) == ("DELETED", "old")
    rv = obj["metadata"]["resourceVersion"]
    call(kube, "DELETE", f"{NS}/pods/new", {"gracePeriodSeconds": 0})
    etype, obj = w.next()
    assert (etype, obj["metadata"]["name"]) == ("DELETED", "new")
    w.close()
    # with a resourceVersion: replay of what happened after it
    w2 = WatchStream(kube, f"resourceVersion={rv}&labelSelector=spark-role")
    etype, obj = w2.next()
    assert (etype, obj["metadata"]["name"]) == ("DELETED", "new")
    w2.close()
    assert {r.verb for r in kube.requests if r.resource == "pods"} >= {"watch", "create"}


# --------------------------------------------------------------------------------------------
# Kubelet: processes, env, volumes, phases, deletion, GC


def test_pod_runs_as_process_with_env_volumes_and_exit_code(kube: KubeStandIn) -> None:
    call(
        kube,
        "POST",
        f"{NS}/configmaps",
        {"metadata": {"name": "conf"}, "data": {"spark.properties": "a=b\n"}},
    )
    script = (
        "import os,sys; d=os.environ['SPARK_CONF_DIR']; "
        "print(os.environ['MY_IP'], os.environ['MY_NAME'], os.environ['MY_NS'], "
        "open(os.path.join(d,'spark.properties')).read().strip(), sys.argv[1:], "
        "os.path.isdir(os.environ['LOCAL']), 'PYSPARK_PYTHON' in os.environ, flush=True);"
        " sys.exit(3)"
    )
    spec = pod(
        "p1",
        script,
        container={
            "args": ["/opt/spark/conf/x", "--flag"],
            "env": [
                {"name": "SPARK_CONF_DIR", "value": "/opt/spark/conf"},
                {"name": "LOCAL", "value": "/var/data/spark-1"},
                {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            ],
            "volumeMounts": [
                {"name": "conf-vol", "mountPath": "/opt/spark/conf"},
                {"name": "local", "mountPath": "/var/data/spark-1"},
            ],
        },
        volumes=[
            {"name": "conf-vol", "configMap": {"name": "conf"}},
            {"name": "local", "emptyDir": {}},
        ],
    )
    code, created = call(kube, "POST", f"{NS}/pods", spec)
    assert code == 201 and created["status"]["phase"] == "Pending"
    call(kube, "POST", f"{NS}/pods", pod("p2"))
    kube.wait_for(lambda: phase(kube, "p1") == "Failed", 20, "p1 to fail")
    p1 = kube.pod("p1")
    term = p1["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    ip = p1["status"]["podIP"]
    log = kube.pod_log("p1")
    assert log.startswith(f"{ip} p1 hpo a=b ['") and "x', '--flag'] True False" in log
    assert "/opt/spark" not in log  # args and env were rewritten to the pod's volume dirs
    code, text = call(kube, "GET", f"{NS}/pods/p1/log")
    assert code == 200 and text == log
    kube.wait_for(lambda: phase(kube, "p2") == "Running", 20, "p2 to run")
    ip2 = kube.pod("p2")["status"]["podIP"]
    assert ip != ip2 and ip.startswith("127.0.0.") and ip not in ("127.0.0.1", "127.0.0.0")


def test_capacity_keeps_pods_pending_unschedulable(kube: KubeStandIn) -> None:
    kube.capacity = 0
    call(kube, "POST", f"{NS}/pods", pod("p"))

    def unschedulable() -> bool:
        conds = (kube.pod("p") or {}).get("status", {}).get("conditions", [])
        return any(
            c["type"] == "PodScheduled"
            and c["status"] == "False"
            and c["reason"] == "Unschedulable"
            and c["message"] == "0/1 nodes are available: 1 Insufficient cpu."
            for c in conds
        )

    kube.wait_for(unschedulable, 5, "an Unschedulable condition")
    assert phase(kube, "p") == "Pending"
    kube.capacity = 1
    kube.wait_for(lambda: phase(kube, "p") == "Running", 10, "the pod to run")
    call(kube, "POST", f"{NS}/pods", pod("q"))
    time.sleep(1.0)
    assert phase(kube, "q") == "Pending"  # one slot, taken


TRAP = (
    "import signal,subprocess,sys,time;"
    "child=subprocess.Popen([sys.executable,'-c','import time; time.sleep(120)']);"
    "print('child', child.pid, flush=True);"
    "signal.signal(signal.SIGTERM, lambda *a: print('got SIGTERM', flush=True));"
    "time.sleep(120)"
)


def test_delete_sigterm_then_sigkill_after_grace_kills_the_group(kube: KubeStandIn) -> None:
    call(kube, "POST", f"{NS}/pods", pod("stubborn", TRAP))
    kube.wait_for(lambda: "child" in kube.pod_log("stubborn"), 20, "the pod's child")
    child = int(kube.pod_log("stubborn").split()[1])
    w = WatchStream(
        kube,
        "fieldSelector=metadata.name%3Dstubborn&resourceVersion="
        + kube.pod("stubborn")["metadata"]["resourceVersion"],
    )
    t0 = time.monotonic()
    code, body = call(kube, "DELETE", f"{NS}/pods/stubborn", {"gracePeriodSeconds": 2})
    assert code == 200
    assert (
        body["metadata"]["deletionTimestamp"]
        and body["metadata"]["deletionGracePeriodSeconds"] == 2
    )
    kube.wait_for(lambda: kube.pod("stubborn") is None, 10, "the pod to go")
    assert time.monotonic() - t0 >= 1.9  # it ignored SIGTERM: killed after the grace period
    assert "got SIGTERM" in kube.pod_log("stubborn")
    events = [w.next() for _ in range(3)]
    w.close()
    assert [e[0] for e in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    term = events[2][1]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 137
    kube.wait_for(lambda: not _alive(child), 5, "the pod's child process to be killed too")

    # a pod that exits on SIGTERM goes at once; kube.delete_pod takes the same path
    call(kube, "POST", f"{NS}/pods", pod("polite", "import time; time.sleep(60)"))
    kube.wait_for(lambda: phase(kube, "polite") == "Running", 20, "polite to run")
    kube.delete_pod("polite")
    # Gone well before the 30 s default grace period: SIGTERM ended it, no SIGKILL needed.
    kube.wait_for(lambda: kube.pod("polite") is None, 20, "polite to go on SIGTERM")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not reaped yet by whoever inherited it) counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_owner_reference_garbage_collection(kube: KubeStandIn) -> None:
    driver = kube.add_driver_pod("jupyterlab-0")
    owner = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "jupyterlab-0",
            "uid": driver["metadata"]["uid"],
            "controller": True,
        }
    ]
    call(
        kube,
        "POST",
        f"{NS}/configmaps",
        {"metadata": {"name": "spark-exec-conf", "ownerReferences": owner}},
    )
    exec_pod = pod("exec-1")
    exec_pod["metadata"]["ownerReferences"] = owner
    call(kube, "POST", f"{NS}/pods", exec_pod)
    call(kube, "POST", f"{NS}/configmaps", {"metadata": {"name": "unrelated"}})
    kube.wait_for(lambda: phase(kube, "exec-1") == "Running", 20, "the executor to run")
    kube.delete_pod("jupyterlab-0")
    kube.wait_for(
        lambda: [p["metadata"]["name"] for p in kube.pods()] == [],
        15,
        "the dependents to be collected",
    )
    assert [c["metadata"]["name"] for c in kube.configmaps()] == ["unrelated"]


def test_driver_url_executors_cannot_reach_is_rejected(kube: KubeStandIn) -> None:
    kube.add_driver_pod("jupyterlab-0", ip="127.0.0.1")

    def with_url(url: str) -> tuple[int, Any]:
        p = pod("exec", container={"env": [{"name": "SPARK_DRIVER_URL", "value": url}]})
        code, body = call(kube, "POST", f"{NS}/pods", p)
        if code == 201:
            call(kube, "DELETE", f"{NS}/pods/exec", {"gracePeriodSeconds": 0})
        return code, body

    code, body = with_url("spark://CoarseGrainedScheduler@0.0.0.0:7078")
    assert (code, body["reason"]) == (422, "Invalid")
    assert (
        "SPARK_DRIVER_URL spark://CoarseGrainedScheduler@0.0.0.0:7078: executors cannot "
        "reach 0.0.0.0; set spark.driver.host and spark.driver.bindAddress to the driver "
        "pod's IP"
    ) in body["message"]
    assert with_url("spark://CoarseGrainedScheduler@[::]:7078")[0] == 422
    assert with_url("spark://CoarseGrainedScheduler@jupyterlab-0.hpo.svc:7078")[0] == 422
    assert with_url("spark://CoarseGrainedScheduler@10.1.2.3:7078")[0] == 422
    assert with_url("spark://CoarseGrainedScheduler@127.0.0.1:7078")[0] == 201
    assert kube.pods("app") != [] and kube.pod("exec") is None


def test_unknown_service_account_is_refused_like_admission(kube: KubeStandIn) -> None:
    code, body = call(kube, "POST", f"{NS}/pods", pod("p", serviceAccountName="ghost"))
    assert code == 403 and 'serviceaccount "ghost" not found' in body["message"]


def test_close_leaves_no_process(tmp_path: Path) -> None:
    with KubeStandIn(tmp_path, rbac=DRIVER_RULES) as kube:
        call(kube, "POST", f"{NS}/pods", pod("p", TRAP))
        kube.wait_for(
            lambda: "got" in kube.pod_log("p") or "child" in kube.pod_log("p"),
            20,
            "the pod's child",
        )
        child = int(kube.pod_log("p").split()[1])
        leader = int(kube.pod("p")["status"]["containerStatuses"][0]["containerID"].split("/")[-1])
    assert not _alive(leader) and not _alive(child)


# --------------------------------------------------------------------------------------------
# One real Spark driver (own process, own JVM)


@pytest.mark.k8s
@pytest.mark.timeout(240)
def test_real_spark_driver_runs_an_executor_pod_and_cleans_up(tmp_path: Path) -> None:
    with KubeStandIn(tmp_path) as kube:  # the Role rendered from k8s-spark/base
        kube.add_driver_pod("jupyterlab-0", ip="127.0.0.1")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_"))}
        env["KUBECONFIG"] = str(kube.kubeconfig)
        out = tmp_path / "out.json"
        repo = Path(__file__).resolve().parents[1]
        proc = subprocess.Popen(
            [PY, "-m", "tests.k8s_standin.smoke_driver", kube.url, str(out)],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            log, _ = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
            pytest.fail(f"the driver did not finish in 180 s:\n{log[-4000:]}")
        executors = [r.body for r in kube.requests if (r.method, r.resource) == ("POST", "pods")]
        assert proc.returncode == 0, log[-4000:] + "\n".join(
            kube.pod_log(p["metadata"]["name"])[-2000:] for p in kube.pods()
        )
        result = json.loads(out.read_text())
        assert result["result"] == [0, 1, 4, 9]
        assert kube.denied() == []
        assert all(r.user == "system:serviceaccount:hpo:hpo-widget-driver" for r in kube.requests)
        assert len(executors) == 1
        env_names = {e["name"] for e in executors[0]["spec"]["containers"][0]["env"]}
        assert "_SPARK_AUTH_SECRET" in env_names  # spark.authenticate reached the executor
        kube.wait_for(
            lambda: [p["metadata"]["name"] for p in kube.pods()] == ["jupyterlab-0"],
            30,
            "the executor pod to be gone after stop()",
        )
        assert kube.configmaps() == []
        used = kube.verbs_used("hpo-widget-driver")
        assert used["pods"] >= {"get", "list", "watch", "create", "deletecollection"}
        assert used["configmaps"] >= {"create", "deletecollection"}
        print(f"seconds to result: {result['seconds_to_result']:.1f}")
        for r in kube.requests:
            print(r.method, r.path, r.verb, r.resource)
