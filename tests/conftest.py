from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from tests._postgres import PostgresServer, start_server, stop_server

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Executors and loky workers must use this interpreter (the one with the packages).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for the whole session (stopped at the end)."""
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh database per test, so studies never leak between tests."""
    # Truncated names of parametrized tests collide: a digest of the full name keeps them apart.
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:40].lower()
    return postgres_server.create_database(f"{name}_{digest}_{os.getpid()}")


@pytest.fixture(
    params=["memory", "journal", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Contract fixture: every storage kind the runner supports (Optuna's pytest_storages idea),
    fresh for each test; tests/test_backend_contract.py parametrizes it with the cases it runs."""
    kind = request.param
    if kind == "memory":
        return "memory"
    if kind == "journal":
        return str(tmp_path / "studies.journal")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default storage lands in the working directory: keep it per test."""
    monkeypatch.chdir(tmp_path)


# Two test processes (pytest-xdist, `--dist loadgroup` in scripts/test.sh): each module stays in
# one process so its module-scoped JVMs, clusters and servers start once, and everything that
# binds Spark's fixed Kubernetes driver ports (7078-7080) shares one group so no two drivers race
# for them.  Modules that take longest are handed out first, so the two processes finish together.
_FIXED_PORTS_GROUP = "k8s-fixed-driver-ports"
_LONGEST_FIRST = (
    _FIXED_PORTS_GROUP,
    "tests/test_browser.py",
    "tests/test_backend_contract.py",
    "tests/test_optuna_examples.py",
    "tests/test_backend_faults.py",
    "tests/test_cluster.py",
    "tests/test_storage_faults.py",
    "tests/test_ui_spark.py",
    "tests/test_spark.py",
    "tests/test_cli.py",
    "tests/test_ui.py",
    "tests/test_runner.py",
)


#: Modules whose tests start a driver or storage proxy on the Kubernetes defaults (7078-7080).
_FIXED_PORT_MODULES = ("tests/test_spark_kubernetes.py",)


def _xdist_group(item: pytest.Item) -> str:
    module = item.nodeid.split("::", 1)[0]
    if item.get_closest_marker("k8s") is not None or module in _FIXED_PORT_MODULES:
        return _FIXED_PORTS_GROUP
    return module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))
    if getattr(config.option, "numprocesses", None):
        rank = {group: i for i, group in enumerate(_LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(_xdist_group(item), len(rank)))
