"""Spark on Kubernetes without a JVM: the computed client-mode conf, its checks, the CLI command,
the REST client's credentials and the helpers behind preflight, leftovers and pending executors.

The end-to-end runs against the API-server stand-in are in tests/test_k8s.py.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from hpo_widget.backends import _k8s_driver as k8s
from hpo_widget.backends._kubernetes_api import (
    KubeApiError,
    KubernetesApi,
    bearer_token,
    service_account_name,
)
from hpo_widget.backends.spark_kubernetes import (
    kubernetes_master,
    kubernetes_problems,
    kubernetes_settings,
    storage_proxy_defaults,
)
from hpo_widget.cli import main
from hpo_widget.config import ConfigError, RunConfig
from hpo_widget.events import RunStatus, StatusChanged

POD = {
    "POD_NAME": "jupyterlab-0",
    "POD_NAMESPACE": "hpo",
    "POD_IP": "10.1.2.3",
    "HPO_WIDGET_EXECUTOR_IMAGE": "registry/hpo-widget:1.0",
}


def settings(options: dict[str, Any] | None = None, **env: str) -> dict[str, str]:
    return kubernetes_settings(options or {}, environ={**POD, **env})


def fields(problems: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in problems]


# -- the computed conf -------------------------------------------------------------------------
def test_every_computed_key_in_a_pod() -> None:
    assert settings() == {
        "spark.master": "k8s://https://kubernetes.default.svc",
        "spark.submit.deployMode": "client",
        "spark.kubernetes.namespace": "hpo",
        "spark.kubernetes.container.image": "registry/hpo-widget:1.0",
        "spark.kubernetes.driver.pod.name": "jupyterlab-0",
        "spark.driver.host": "10.1.2.3",
        "spark.driver.bindAddress": "10.1.2.3",
        "spark.driver.port": "7078",
        "spark.driver.blockManager.port": "7079",
        "spark.blockManager.port": "7079",
        "spark.ui.port": "4040",
        "spark.kubernetes.authenticate.executor.serviceAccountName": "hpo-widget-executor",
        "spark.kubernetes.driver.service.deleteOnTermination": "false",
        "spark.kubernetes.driver.ownPersistentVolumeClaim": "false",
        "spark.executor.instances": "2",
        "spark.executor.cores": "1",
        "spark.executor.memory": "2g",
        "spark.pyspark.python": "python3",
        "spark.authenticate": "true",
        "spark.network.crypto.enabled": "true",
        "spark.scheduler.minRegisteredResourcesRatio": "0",
        "spark.kubernetes.executor.label.app.kubernetes.io/part-of": "hpo-widget",
    }


def test_master_from_the_service_environment_or_as_given() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert kubernetes_master("k8s", env) == "k8s://https://10.96.0.1:443"
    assert kubernetes_master("k8s", {"KUBERNETES_SERVICE_HOST": "fd00::1"}) == (
        "k8s://https://[fd00::1]:443"
    )
    assert kubernetes_master("k8s", {}) == "k8s://https://kubernetes.default.svc"
    given = "k8s://http://127.0.0.1:6443"
    assert settings({"master": given})["spark.master"] == given


def test_options_beat_the_environment_and_conf_beats_everything(tmp_path: Path) -> None:
    template = tmp_path / "executor.yaml"
    template.write_text("apiVersion: v1\nkind: Pod\n")
    computed = settings(
        {
            "image": "mine:2",
            "executors": 5,
            "executor_cores": 2,
            "executor_memory": "6g",
            "python": "/opt/venv/bin/python",
            "namespace": "team",
            "service_account": "runner",
            "pod_template": str(template),
            "conf": {"spark.driver.port": "17078", "spark.executor.memory": "8g"},
        },
        PYSPARK_PYTHON="/usr/bin/python3.11",
        HPO_WIDGET_EXECUTOR_SERVICE_ACCOUNT="from-env",
    )
    assert computed["spark.kubernetes.container.image"] == "mine:2"
    assert computed["spark.executor.instances"] == "5"
    assert computed["spark.executor.cores"] == "2"
    assert computed["spark.executor.memory"] == "8g"  # conf wins over the option
    assert computed["spark.driver.port"] == "17078"
    assert computed["spark.pyspark.python"] == "/opt/venv/bin/python"
    assert computed["spark.kubernetes.namespace"] == "team"
    assert computed["spark.kubernetes.authenticate.executor.serviceAccountName"] == "runner"
    assert computed["spark.kubernetes.executor.podTemplateFile"] == str(template)
    assert computed["spark.kubernetes.executor.podTemplateContainerName"] == (
        "spark-kubernetes-executor"
    )


def test_environment_defaults_of_the_manifests(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text("{}")
    computed = settings(
        PYSPARK_PYTHON="/usr/local/bin/python",
        HPO_WIDGET_EXECUTOR_SERVICE_ACCOUNT="execs",
        HPO_WIDGET_EXECUTOR_TEMPLATE=str(template),
    )
    assert computed["spark.pyspark.python"] == "/usr/local/bin/python"
    assert computed["spark.kubernetes.authenticate.executor.serviceAccountName"] == "execs"
    assert computed["spark.kubernetes.executor.podTemplateFile"] == str(template)


def test_auto_executors_is_dynamic_allocation() -> None:
    computed = settings({"executors": "auto"})
    assert "spark.executor.instances" not in computed  # 0 instances is rejected by Spark
    assert computed["spark.dynamicAllocation.enabled"] == "true"
    assert computed["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    assert computed["spark.dynamicAllocation.minExecutors"] == "0"


def test_storage_proxy_listens_where_executors_dial_the_driver() -> None:
    assert storage_proxy_defaults(settings()) == {
        "host": "10.1.2.3",
        "port": 7080,
        "advertise": "10.1.2.3",
    }
    headless = settings(
        {
            "conf": {
                "spark.driver.host": "jupyterlab-0.jupyterlab",
                "spark.driver.bindAddress": "0.0.0.0",
                "spark.kubernetes.executor.useDriverPodIP": "false",
            }
        }
    )
    assert storage_proxy_defaults(headless) == {
        "host": "0.0.0.0",
        "port": 7080,
        "advertise": "jupyterlab-0.jupyterlab",
    }


# -- checks ------------------------------------------------------------------------------------
def test_outside_a_pod_every_missing_variable_is_named_with_its_fix() -> None:
    with pytest.raises(ConfigError) as info:
        kubernetes_settings({}, environ={})
    text = str(info.value)
    assert "set POD_IP from the downward API (fieldRef status.podIP)" in text
    assert "k8s-spark/base/jupyterlab.yaml, or pass backend_options['conf']" in text
    assert "set POD_NAME from the downward API (fieldRef metadata.name)" in text
    assert "POD_NAMESPACE" in text and "backend_options['namespace']" in text
    assert "$HPO_WIDGET_EXECUTOR_IMAGE" in text and "backend_options['image']" in text
    assert [p.field for p in info.value.problems] == [
        "backend_options.master",
        "backend_options.master",
        "backend_options.namespace",
        "backend_options.image",
    ]


def test_conf_can_stand_in_for_the_downward_api() -> None:
    conf = {
        "spark.driver.host": "10.0.0.9",
        "spark.kubernetes.driver.pod.name": "nb",
        "spark.kubernetes.namespace": "ns",
        "spark.kubernetes.container.image": "img",
    }
    computed = kubernetes_settings({"conf": conf}, environ={})
    assert computed["spark.driver.bindAddress"] == "10.0.0.9"
    assert computed["spark.kubernetes.namespace"] == "ns"


@pytest.mark.parametrize("bind", ["0.0.0.0", "::"])
def test_a_wildcard_bind_with_4_3_defaults_is_caught(bind: str) -> None:
    options = {"conf": {"spark.driver.bindAddress": bind}}
    problems = kubernetes_problems(options, POD)
    assert fields(problems) == ["backend_options.conf"]
    message = problems[0][1]
    assert f"spark://…@{bind}:7078" in message
    assert "spark.kubernetes.executor.useDriverPodIP=false" in message
    assert "headless Service" in message
    # The other working recipe passes.
    options["conf"]["spark.kubernetes.executor.useDriverPodIP"] = "false"
    assert kubernetes_problems(options, POD) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("executors", 0),
        ("executors", "many"),
        ("executors", True),
        ("executor_cores", 0),
        ("executor_memory", "lots"),
        ("executor_memory", 2),
        ("image", ""),
        ("python", 3),
        ("pod_template", "/no/such/template.yaml"),
    ],
)
def test_bad_options_are_reported_by_field(key: str, value: Any) -> None:
    assert fields(kubernetes_problems({key: value}, POD)) == [f"backend_options.{key}"]


def test_run_config_reports_kubernetes_problems_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in POD:
        monkeypatch.delenv(var, raising=False)
    config = RunConfig(backend="spark", backend_options={"master": "k8s", "executors": 0})
    paths = [p.field for p in config.problems()]
    assert "backend_options.master" in paths and "backend_options.executors" in paths
    for var, value in POD.items():
        monkeypatch.setenv(var, value)
    config = RunConfig(backend="spark", backend_options={"master": "k8s", "executors": 3})
    assert [p for p in config.problems() if p.field.startswith("backend_options")] == []
    local = RunConfig(backend="spark", backend_options={"master": "local[2]", "image": "x"})
    assert [p.field for p in local.problems()] == ["backend_options.image"]


def test_the_backend_on_kubernetes_is_remote_and_serves_storage_on_the_pod_ip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hpo_widget.backends.spark import SparkBackend

    for var, value in POD.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    backend = SparkBackend(master="k8s", executors=2)
    assert backend.remote and backend.kubernetes
    assert backend.master == "k8s://https://kubernetes.default.svc"
    assert backend.default_storage_proxy() == {
        "host": "10.1.2.3",
        "port": 7080,
        "advertise": "10.1.2.3",
    }
    local = SparkBackend(master="local[2]")
    assert local.default_storage_proxy() == {}
    with pytest.raises(ValueError, match="only apply to master='k8s'"):
        SparkBackend(master="local[2]", executors=2)


def test_run_proxy_options_merge_the_backends_defaults() -> None:
    from hpo_widget._run_loop import Run

    class _Backend:
        def default_storage_proxy(self) -> dict[str, Any]:
            return {"host": "10.1.2.3", "port": 7080, "advertise": "10.1.2.3"}

    def options(given: dict[str, Any]) -> dict[str, Any]:
        run = Run.__new__(Run)
        run.backend = _Backend()  # type: ignore[assignment]
        run.config = RunConfig(storage_proxy=given)
        return run._proxy_options()

    assert options({}) == {"host": "10.1.2.3", "port": 7080, "advertise": "10.1.2.3"}
    assert options({"token": "t" * 20})["advertise"] == "10.1.2.3"
    assert options({"host": "0.0.0.0"}) == {"host": "0.0.0.0", "port": 7080}


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_prints_every_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var, value in POD.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code = main(["spark-conf", "--conf", "spark.executor.memory=4g", "--executors", "3"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "spark.executor.memory=4g" in out and "spark.executor.instances=3" in out
    assert "spark.driver.bindAddress=10.1.2.3" in out
    assert out == sorted(out) and all("=" in line for line in out)


def test_cli_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in POD:
        monkeypatch.delenv(var, raising=False)
    assert main(["spark-conf", "--master", "k8s://http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hpo-widget: spark-conf: cannot compute the Spark conf:")
    assert "fieldRef status.podIP" in err
    assert main(["spark-conf", "--master", "local[2]"]) == 2


def test_cli_run_prints_what_the_run_waits_for() -> None:
    from hpo_widget.cli import _ProgressBar

    class _Runner:
        progress = type("P", (), {"finished": 0})()

    stream = io.StringIO()
    bar = _ProgressBar(_Runner(), stream=stream, tty=False, enabled=False, timeout=None)
    waiting = "waiting for executors: 0 of 2 registered; 2 pods Pending"
    bar.on_event(StatusChanged(RunStatus.STARTING, detail=waiting))
    bar.on_event(StatusChanged(RunStatus.STARTING, detail=waiting))  # no repeat
    bar.on_event(StatusChanged(RunStatus.RUNNING, "2 worker(s)", detail=""))
    assert stream.getvalue() == f"hpo-widget: {waiting}\n"


def test_status_line_shows_the_detail() -> None:
    pytest.importorskip("ipywidgets")
    from hpo_widget.ui.progress import StatusLine

    line = StatusLine()
    line.show_event(StatusChanged(RunStatus.STARTING, detail="waiting for executors: 0 of 2"))
    assert "Starting… · waiting for executors: 0 of 2" in line.widget.value
    line.show_event(StatusChanged(RunStatus.RUNNING, "2 worker(s)", detail=""))
    assert "Running: 2 worker(s)<" in line.widget.value


# -- preflight, leftovers, pending pods, 403s --------------------------------------------------
class _FakeApi:
    namespace = "hpo"

    def __init__(self, denied: set[tuple[str, str]] = frozenset(), objects: Any = None) -> None:
        self.denied = denied
        self.objects: dict[str, list[dict[str, Any]]] = objects or {}
        self.deleted: list[tuple[str, str]] = []

    def can_i(self, verb: str, resource: str) -> bool:
        return (verb, resource) not in self.denied

    def list(self, resource: str, selector: str | None = None) -> list[dict[str, Any]]:
        return self.objects.get(resource, [])

    def delete(self, resource: str, name: str) -> None:
        self.deleted.append((resource, name))


ACCOUNT = "system:serviceaccount:hpo:hpo-widget-driver"


def test_preflight_fails_on_a_verb_spark_needs() -> None:
    api = _FakeApi(denied={("create", "configmaps")})
    with pytest.raises(k8s.KubernetesAccessError) as info:
        k8s.preflight(api, ACCOUNT)  # type: ignore[arg-type]
    text = str(info.value)
    assert "create configmaps" in text and "'hpo'" in text and ACCOUNT in text
    assert "k8s-spark/base/rbac.yaml" in text


def test_preflight_warns_that_stop_leaves_pods_without_deletecollection() -> None:
    api = _FakeApi(denied={("deletecollection", "pods"), ("deletecollection", "configmaps")})
    warnings = k8s.preflight(api, ACCOUNT)  # type: ignore[arg-type]
    assert len(warnings) == 2
    assert "may not deletecollection pods" in warnings[0]
    assert "stop() will leave the executor pods behind" in warnings[0]


def test_spark_403_becomes_the_same_message() -> None:
    error = (
        "py4j.protocol.Py4JJavaError: An error occurred while calling None.org.apache.spark."
        "api.java.JavaSparkContext.\n: io.fabric8.kubernetes.client.KubernetesClientException:"
        " Failure executing: POST at: http://127.0.0.1:1/api/v1/namespaces/hpo/configmaps. "
        'Message: configmaps is forbidden: User "system:serviceaccount:hpo:hpo-widget-driver"'
        ' cannot create resource "configmaps" in API group "" in the namespace "hpo".'
    )
    found = k8s.forbidden_from_spark(error, "other")
    assert found is not None
    assert (found.verb, found.resource, found.namespace, found.account) == (
        "create",
        "configmaps",
        "hpo",
        ACCOUNT,
    )
    assert k8s.forbidden_from_spark("Connection refused", "hpo") is None


def _obj(name: str, owner_uid: str | None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner_uid:
        meta["ownerReferences"] = [{"kind": "Pod", "name": "x", "uid": owner_uid}]
    return {"metadata": meta, **extra}


def test_leftovers_of_this_driver_only_are_removed() -> None:
    api = _FakeApi(
        objects={
            "pods": [_obj("exec-1", "me"), _obj("exec-2", "other"), _obj("exec-3", None)],
            "configmaps": [_obj("spark-exec-a-conf-map", "me"), _obj("cm-b", "other")],
        }
    )
    removed = k8s.remove_leftovers(api, {"metadata": {"uid": "me"}})  # type: ignore[arg-type]
    assert removed == ["pod/exec-1", "configmap/spark-exec-a-conf-map"]
    assert api.deleted == [("pods", "exec-1"), ("configmaps", "spark-exec-a-conf-map")]


def test_pending_executors_say_why() -> None:
    unschedulable = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient cpu.",
            }
        ],
    }
    pods = [_obj("e1", None, status=unschedulable), _obj("e2", None, status=unschedulable)]
    assert k8s.executor_status(0, 2, pods) == (
        "waiting for executors: 0 of 2 registered; 2 pods Pending "
        "(Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.)"
    )
    running = [_obj("e1", None, status={"phase": "Running"})]
    assert k8s.executor_status(1, 2, running) == (
        "waiting for executors: 1 of 2 registered; 1 pod Running"
    )
    assert k8s.executor_status(0, 1, []) == (
        "waiting for executors: 0 of 1 registered; no executor pod yet"
    )
    assert k8s.executor_status(2, 2, pods) == ""


# -- REST client credentials -------------------------------------------------------------------
def _kubeconfig(tmp_path: Path, user: dict[str, Any]) -> Path:
    import yaml

    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "standin",
                "contexts": [
                    {
                        "name": "standin",
                        "context": {"cluster": "c", "user": "u", "namespace": "hpo"},
                    }
                ],
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return path


def test_token_comes_from_the_kubeconfig(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, {"token": "abc"})
    assert bearer_token({"KUBECONFIG": str(path)})() == "abc"
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    path = _kubeconfig(tmp_path, {"tokenFile": str(token_file)})
    source = bearer_token({"KUBECONFIG": str(path)})
    assert source() == "first"
    token_file.write_text("rotated")
    assert source() == "rotated"  # read per request


def test_exec_plugins_are_refused_with_a_hint(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, {"exec": {"command": "aws"}})
    with pytest.raises(RuntimeError, match="exec plugin"):
        bearer_token({"KUBECONFIG": str(path)})


def test_service_account_from_a_jwt() -> None:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    jwt = f"{part({'alg': 'RS256'})}.{part({'sub': ACCOUNT})}.sig"
    assert service_account_name(jwt) == ACCOUNT
    assert service_account_name("opaque-token") is None


def test_api_errors_carry_status_and_message(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"kind": "Status", "message": 'pods "x" is forbidden'}).encode()
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = _kubeconfig(tmp_path, {"token": "abc"})
        api = KubernetesApi.for_master(
            f"k8s://http://127.0.0.1:{server.server_port}", "hpo", {"KUBECONFIG": str(path)}
        )
        with pytest.raises(KubeApiError) as info:
            api.get_pod("x")
        assert info.value.status == 403 and "forbidden" in info.value.message
    finally:
        server.shutdown()
