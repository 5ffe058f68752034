"""hpo_widget's Spark backend on ``master="k8s"`` against the Kubernetes stand-in.

Real Spark 4.3 (its Kubernetes scheduler backend and fabric8 client), real executor JVMs and
Python workers; only the API server and the kubelet are stand-ins (tests/k8s_standin), and every
request is authorized against the Role rendered from ``k8s-spark/``.  Each driver is its own
process (own JVM, like a notebook kernel), on POD_IP 127.0.0.1 with the fixed ports 7078-7080,
so these tests run one driver at a time.  Waits are bounded conditions, never sleeps asserted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s_standin import KubeStandIn

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parent.parent
DRIVER_POD = "jupyterlab-0"
DRIVER_USER = "system:serviceaccount:hpo:hpo-widget-driver"
EXECUTORS = "spark-role=executor"


#: A notebook kernel in the pod: one StudyRunner on master k8s, every event on stdout.
_DRIVER = textwrap.dedent(
    """
    import json, sys, time
    from hpo_widget import StudyRunner
    from hpo_widget.events import StatusChanged, TrialFinished

    url, storage, n_trials, sleep, executors, out = sys.argv[1:7]
    sleep = float(sleep)

    def objective(trial):
        import time
        x = trial.suggest_float("x", 0.0, 1.0)
        time.sleep(sleep)
        return x

    t0 = time.monotonic()
    runner = StudyRunner(
        objective,
        study_name="k8s",
        storage=storage,
        seed=0,
        heartbeat_grace=6.0,
        backend="spark",
        backend_options={
            "master": "k8s://" + url,
            "executors": int(executors),
            "executor_memory": "512m",
            "executor_timeout": 90,
            "conf": {"spark.ui.enabled": "false"},
        },
    )
    first = []

    def on_event(event):
        if isinstance(event, StatusChanged):
            print("STATUS", event.status.value, event.message, "|", event.detail, flush=True)
        elif isinstance(event, TrialFinished):
            if not first:
                first.append(time.monotonic() - t0)
            print("TRIAL", event.number, event.state, event.worker, flush=True)

    runner.subscribe(on_event)
    runner.start(n_trials=int(n_trials))
    study = runner.wait()
    runner.close()
    trials = [
        {
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "attrs": {k: v for k, v in t.system_attrs.items() if k.startswith("hpo_widget:")},
        }
        for t in study.get_trials(deepcopy=False)
    ]
    with open(out, "w") as f:
        json.dump({"trials": trials, "first_trial_seconds": first[0] if first else None}, f)
    print("DONE", flush=True)
    """
)


class Driver:
    """One driver process (its own process group, like a kernel and its JVM)."""

    def __init__(self, kube: Any, tmp: Path, *, n_trials: int, sleep: float, executors: int):
        self.kube = kube
        tmp.mkdir(parents=True, exist_ok=True)
        script = tmp / "driver.py"
        script.write_text(_DRIVER)
        self.out = tmp / "result.json"
        self.log = tmp / "driver.log"
        self.started = time.monotonic()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(script),
                    kube.url,
                    str(tmp / "study.journal"),
                    str(n_trials),
                    str(sleep),
                    str(executors),
                    str(self.out),
                ],
                env=driver_env(kube),
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_text(self, needle: str, timeout: float) -> str:
        def seen() -> bool:
            if self.proc.poll() is not None and needle not in self.text():
                raise AssertionError(f"driver exited {self.proc.returncode}:\n{self.text()}")
            return needle in self.text()

        self.kube.wait_for(seen, timeout, what=f"{needle!r} in the driver's output")
        return self.text()

    def finish(self, timeout: float = 180.0) -> dict[str, Any]:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"driver still running after {timeout} s:\n{self.text()}"
            ) from None
        assert self.proc.returncode == 0, self.text()
        result: dict[str, Any] = json.loads(self.out.read_text())
        return result

    def kill(self) -> None:
        """Kernel and JVM killed together (SIGKILL to the whole process group)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


def driver_env(kube: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.pop("HPO_WIDGET_PROXY_TOKEN", None)
    env.update(
        POD_NAME=DRIVER_POD,
        POD_NAMESPACE="hpo",
        POD_IP="127.0.0.1",
        HPO_WIDGET_EXECUTOR_IMAGE="hpo-widget:test",
        KUBECONFIG=str(kube.kubeconfig),
        PYSPARK_PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


def role_allows(kube: Any, resource: str, verb: str) -> bool:
    for _, rule in kube.rbac.rules_for(DRIVER_USER, "hpo"):
        if "" not in (rule.get("apiGroups") or [""]):
            continue
        resources, verbs = rule.get("resources") or [], rule.get("verbs") or []
        if (resource in resources or "*" in resources) and (verb in verbs or "*" in verbs):
            return True
    return False


def finished(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in result["trials"] if t["state"] in ("COMPLETE", "PRUNED")]


# -- a study on two executor pods, one of them deleted mid-study -------------------------------
TWO_TRIALS = 30


@pytest.fixture(scope="module")
def two_executor_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("k8s-two")
    with KubeStandIn(tmp, namespace="hpo") as kube:
        kube.add_driver_pod(DRIVER_POD, ip="127.0.0.1")
        driver = Driver(kube, tmp, n_trials=TWO_TRIALS, sleep=1.5, executors=2)
        seen: dict[str, Any] = {"driver": driver, "kube": kube}
        try:
            driver.wait_for_text("TRIAL 1 ", 150)
            pods = kube.wait_for(
                lambda: [p for p in kube.pods(EXECUTORS) if p["status"].get("phase") == "Running"],
                60,
                what="running executor pods",
            )
            seen["pods"] = kube.pods(EXECUTORS)
            seen["configmaps"] = kube.configmaps(EXECUTORS)
            seen["proxy_refused"] = proxy_refuses_strangers()
            victim = pods[0]["metadata"]["name"]
            seen["victim"] = victim
            kube.delete_pod(victim, grace_seconds=0)
            seen["replacement"] = kube.wait_for(
                lambda: [
                    p
                    for p in kube.pods(EXECUTORS)
                    if p["metadata"]["name"] not in {q["metadata"]["name"] for q in pods}
                ],
                90,
                what="a replacement executor pod",
            )
            seen["result"] = driver.finish()
            seen["left_pods"] = kube.wait_for(
                lambda: not kube.pods(EXECUTORS) or None, 30, what="executor pods gone"
            )
            seen["left_configmaps"] = kube.configmaps(EXECUTORS)
            seen["denied"] = kube.denied()
            seen["verbs"] = kube.verbs_used("hpo-widget-driver")
            seen["log"] = driver.text()
            yield seen
        finally:
            driver.kill()


def proxy_refuses_strangers() -> list[str]:
    """A client on another loopback address (the test process, 127.0.0.x) without the run's
    token, or with a wrong one, against the driver's proxy on POD_IP:7080."""
    import grpc
    import optuna

    from hpo_widget._proxy import AuthenticatedStorageProxy

    codes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        clients = [
            optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=7080),
            AuthenticatedStorageProxy(host="127.0.0.1", port=7080, token="w" * 32),
        ]
    for client in clients:
        try:
            client.get_all_studies()
            codes.append("OK")
        except grpc.RpcError as exc:
            codes.append(exc.code().name)
        finally:
            client.close()
    return codes


def test_a_study_on_two_executor_pods_reaches_its_total(two_executor_run: dict[str, Any]) -> None:
    run = two_executor_run
    result = run["result"]
    assert len(finished(result)) == TWO_TRIALS, result
    # Executors and their ConfigMap are owned by the notebook pod (garbage-collected with it).
    assert len(run["pods"]) >= 2
    for obj in [*run["pods"], *run["configmaps"]]:
        owners = obj["metadata"].get("ownerReferences") or []
        assert [o["name"] for o in owners] == [DRIVER_POD], obj["metadata"]
    # Storage went through the proxy on POD_IP, which refuses clients without the token.
    assert run["proxy_refused"] == ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    assert "worker(s) on spark (k8s://" in run["log"]
    print(
        f"\nseconds from session start to the first finished trial: "
        f"{result['first_trial_seconds']:.1f}"
    )


def test_nothing_is_left_and_nothing_was_denied(two_executor_run: dict[str, Any]) -> None:
    run = two_executor_run
    kube = run["kube"]
    assert run["left_configmaps"] == []
    assert run["denied"] == [], [str(r) for r in run["denied"]]
    verbs = run["verbs"]
    print("\nverbs the driver used:", {r: sorted(v) for r, v in sorted(verbs.items())})
    outside = {
        (res, verb) for res, vs in verbs.items() for verb in vs if not role_allows(kube, res, verb)
    }
    outside.discard(("selfsubjectaccessreviews", "create"))  # every user may ask
    assert not outside, outside


def test_a_deleted_executor_pod_is_replaced_and_its_trial_rerun(
    two_executor_run: dict[str, Any],
) -> None:
    run = two_executor_run
    assert run["replacement"]
    trials = run["result"]["trials"]
    by_number = {t["number"]: t for t in trials}
    retries = [t for t in trials if "hpo_widget:retry_of" in t["attrs"]]
    assert retries, "no trial was re-run after the executor pod was deleted"
    for retry in retries:
        lost = by_number[retry["attrs"]["hpo_widget:retry_of"]]
        assert lost["attrs"].get("hpo_widget:lost"), lost
        assert retry["params"] == lost["params"]
    assert len(finished(run["result"])) == TWO_TRIALS


# -- the Role without deletecollection -------------------------------------------------------
def _rules_without_deletecollection() -> list[dict[str, Any]]:
    return [
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["get", "list", "watch", "create", "delete", "patch"],
        },
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "delete", "list"]},
    ]


def test_without_deletecollection_stop_leaves_executors_and_says_so(tmp_path: Path) -> None:
    with KubeStandIn(tmp_path, namespace="hpo", rbac=_rules_without_deletecollection()) as kube:
        kube.add_driver_pod(DRIVER_POD, ip="127.0.0.1")
        driver = Driver(kube, tmp_path, n_trials=2, sleep=0.0, executors=1)
        try:
            result = driver.finish()
        finally:
            driver.kill()
        assert len(finished(result)) == 2
        log = driver.text()
        assert "may not deletecollection pods" in log
        assert "stop() will leave the executor pods behind" in log
        # Proof the Role is what the stand-in enforces: Spark's collection deletes were refused.
        assert kube.pods(EXECUTORS) and kube.configmaps(EXECUTORS)
        assert {r.verb for r in kube.denied()} == {"deletecollection"}


# -- kernel and JVM killed together ----------------------------------------------------------
def test_the_next_session_removes_what_a_killed_kernel_left(tmp_path: Path) -> None:
    with KubeStandIn(tmp_path, namespace="hpo") as kube:
        kube.add_driver_pod(DRIVER_POD, ip="127.0.0.1")
        other = kube.add_driver_pod("jupyterlab-1", ip="127.0.0.1")
        owner = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "jupyterlab-1",
            "uid": other["metadata"]["uid"],
        }
        kube.create(
            "configmaps",
            "hpo",
            {
                "metadata": {
                    "name": "spark-exec-other-conf-map",
                    "labels": {"spark-role": "executor", "spark-app-selector": "spark-other"},
                    "ownerReferences": [owner],
                },
                "data": {},
            },
        )
        first = Driver(kube, tmp_path / "first", n_trials=50, sleep=1.0, executors=1)
        try:
            first.wait_for_text("TRIAL", 150)
        finally:
            first.kill()
        left_pods = {p["metadata"]["name"] for p in kube.pods(EXECUTORS)}
        left_maps = {c["metadata"]["name"] for c in kube.configmaps(EXECUTORS)}
        assert left_pods and len(left_maps) == 2, (left_pods, left_maps)

        second = Driver(kube, tmp_path / "second", n_trials=1, sleep=0.0, executors=1)
        try:
            text = second.wait_for_text("removed", 60)
        finally:
            second.kill()
        assert "an earlier kernel of pod jupyterlab-0 left behind" in text
        for name in left_pods:
            assert f"pod/{name}" in text
        now = {c["metadata"]["name"] for c in kube.configmaps(EXECUTORS)}
        assert "spark-exec-other-conf-map" in now  # another driver's object is untouched
        assert not (left_maps - {"spark-exec-other-conf-map"}) & now
        assert not left_pods & {p["metadata"]["name"] for p in kube.pods(EXECUTORS)}


# -- no capacity ------------------------------------------------------------------------------
def test_pending_executors_are_reported_by_the_cli(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "k8s_objective.py").write_text(
        "def objective(params):\n    return params['x'] ** 2\n"
    )
    with KubeStandIn(tmp_path, namespace="hpo", capacity=0) as kube:
        kube.add_driver_pod(DRIVER_POD, ip="127.0.0.1")
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "objective": "k8s_objective:objective",
                    "space": {"x": {"type": "float", "low": -1.0, "high": 1.0}},
                    "storage": str(tmp_path / "study.journal"),
                    "n_trials": 4,
                    "backend": {
                        "name": "spark",
                        "options": {
                            "master": "k8s://" + kube.url,
                            "executors": 2,
                            "executor_memory": "512m",
                            "conf": {"spark.ui.enabled": "false"},
                        },
                    },
                }
            )
        )
        log = tmp_path / "cli.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hpo_widget", "run", str(spec)],
                env=driver_env(kube),
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wanted = (
                "hpo-widget: waiting for executors: 0 of 2 registered; 2 pods Pending "
                "(Unschedulable: "
            )
            kube.wait_for(
                lambda: wanted in log.read_text(errors="replace"),
                90,
                what="the CLI reporting pending executors",
            )
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(30)


# -- checks without a JVM --------------------------------------------------------------------
def test_a_wildcard_bind_is_caught_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo_widget.config import RunConfig

    for var, value in {
        "POD_NAME": DRIVER_POD,
        "POD_NAMESPACE": "hpo",
        "POD_IP": "127.0.0.1",
        "HPO_WIDGET_EXECUTOR_IMAGE": "hpo-widget:test",
    }.items():
        monkeypatch.setenv(var, value)
    config = RunConfig(
        backend="spark",
        backend_options={"master": "k8s", "conf": {"spark.driver.bindAddress": "0.0.0.0"}},
    )
    (problem,) = [p for p in config.problems() if p.field.startswith("backend_options")]
    assert problem.field == "backend_options.conf"
    assert "spark://…@0.0.0.0:7078" in problem.message


def test_the_proxy_on_the_pod_ip_refuses_clients_without_the_token() -> None:
    import grpc
    import optuna

    from hpo_widget._proxy import AuthenticatedStorageProxy, StorageProxyServer
    from hpo_widget.backends.spark_kubernetes import kubernetes_settings, storage_proxy_defaults

    env = {
        "POD_NAME": DRIVER_POD,
        "POD_NAMESPACE": "hpo",
        "POD_IP": "127.0.0.5",
        "HPO_WIDGET_EXECUTOR_IMAGE": "hpo-widget:test",
    }
    options = storage_proxy_defaults(kubernetes_settings({}, environ=env))
    options["port"] = 0  # the fixed 7080 may be a running driver's
    proxy = StorageProxyServer(optuna.storages.InMemoryStorage(), **options)
    try:
        assert proxy.ref.location.startswith("127.0.0.5:")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            clients = [
                optuna.storages.GrpcStorageProxy(host="127.0.0.5", port=proxy.port),
                AuthenticatedStorageProxy(host="127.0.0.5", port=proxy.port, token="w" * 32),
            ]
        for client in clients:  # the test process dials from 127.0.0.1
            with pytest.raises(grpc.RpcError) as info:
                client.get_all_studies()
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            client.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            good = AuthenticatedStorageProxy(host="127.0.0.5", port=proxy.port, token=proxy.token)
        assert good.get_all_studies() == []
        good.close()
    finally:
        proxy.close()
