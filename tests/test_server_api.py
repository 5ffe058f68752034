"""The jupyter_server extension's REST API (hpo_widget.server) against real storages.

Runs a real Jupyter server in-process with pytest-jupyter (``jp_fetch`` goes through its HTTP
stack, base_url ``/a%40b/`` included), real ``StudyRunner`` runs on the threading backend, and
journal, SQLite and the suite's PostgreSQL storages.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import optuna
import pytest
from traitlets.config import Config

from hpo_widget import StudyRunner, _attrs, run_record
from hpo_widget.server._rdb import change_token
from hpo_widget.server.handlers import API_PREFIX, ROUTES
from hpo_widget.storage import open_storage, resolve_storage

pytest_plugins = ["pytest_jupyter.jupyter_server"]

BOUND = 60.0  # seconds: only turns a hang into a failure
SECRET = "pw-Never-Shown-42"
Fetch = Callable[..., Awaitable[Any]]


def objective(trial: optuna.Trial) -> float:
    """Deterministic mix of outcomes by ticket number: complete, pruned, failed, complete."""
    x = trial.suggest_float("x", -10, 10)
    if trial.number % 4 == 1:
        raise optuna.TrialPruned()
    if trial.number % 4 == 2:
        raise ValueError("boom")
    return (x - 2) ** 2


def slow_objective(trial: optuna.Trial) -> float:
    time.sleep(0.05)
    return trial.suggest_float("x", 0, 1)


@pytest.fixture(autouse=True)
def _no_env_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPO_WIDGET_STORAGE", raising=False)


@pytest.fixture
def configured() -> list[str]:
    """Storage URLs the test puts into ``c.HpoWidgetApp.storages`` (override per test)."""
    return []


@pytest.fixture
def jp_server_config(configured: list[str]) -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"hpo_widget.server": True}},
            "HpoWidgetApp": {"storages": configured},
        }
    )


@pytest.fixture
def api(jp_fetch: Fetch) -> Fetch:
    """``await api("GET", "storages", ...)`` -> (status, headers, JSON body or None)."""

    async def call(method: str, *parts: str, **kw: Any) -> tuple[int, Any, Any]:
        if method in ("POST",) and "body" not in kw:
            kw["body"] = b"{}"
        r = await jp_fetch(
            API_PREFIX, *parts, method=method, raise_error=False, request_timeout=BOUND, **kw
        )
        body = r.body.decode() if r.body else ""
        return r.code, r.headers, json.loads(body) if body else None

    return call


async def storage_id(api: Fetch, label: str) -> str:
    code, _, body = await api("GET", "storages")
    assert code == 200
    ids = [s["id"] for s in body["storages"] if s["label"] == label]
    assert ids, body
    return str(ids[0])


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def run(storage: str, n: int = 8, name: str = "demo") -> StudyRunner:
    runner = StudyRunner(
        objective, study_name=name, storage=storage, backend="threading", n_workers=2, seed=1
    )
    return runner.start(n_trials=n)


async def finish(runner: StudyRunner) -> None:
    await wait_for(lambda: not runner.running, "the run to end")
    runner.wait(0)
    runner.close()


# -- storages ------------------------------------------------------------------------------------
async def test_listing_creates_nothing_and_finds_root_journals(
    api: Fetch, jp_root_dir: Path
) -> None:
    before = sorted(os.listdir(jp_root_dir))
    code, _, body = await api("GET", "storages")
    assert code == 200 and body == {"storages": []}
    assert sorted(os.listdir(jp_root_dir)) == before  # no journal, no lock file created

    # A configured or UI-added journal that does not exist is listed, never created.
    code, _, added = await api("POST", "storages", body=json.dumps({"url": "later.journal"}))
    assert code == 201 and added["exists"] is False and added["removable"] is True
    code, _, body = await api("GET", "storages", added["id"], "studies")
    assert code == 200 and body["studies"] == []
    assert not (jp_root_dir / "later.journal").exists()

    await finish(run(str(jp_root_dir / "found.journal"), n=2))
    sid = await storage_id(api, "found.journal")
    code, _, body = await api("GET", "storages")
    found = next(s for s in body["storages"] if s["id"] == sid)
    assert found["sources"] == ["root"] and found["exists"] and found["kind"] == "journal"
    code, _, body = await api("GET", "storages", sid, "studies")
    assert [s["name"] for s in body["studies"]] == ["demo"]

    assert (await api("DELETE", "storages", added["id"]))[0] == 204
    assert (await api("DELETE", "storages", sid))[0] == 409  # the root's: not removable
    code, _, body = await api("POST", "storages", body=json.dumps({"url": "memory"}))
    assert code == 400 and "one process" in body["message"]


@pytest.fixture
def journal_before_start(jp_root_dir: Path) -> Path:
    """A finished study in the root before the server starts (request it before ``api``)."""
    path = jp_root_dir / "before.journal"
    runner = run(str(path), n=3)
    runner.wait(BOUND)
    runner.close()
    return path


async def test_server_reads_its_storages_when_it_starts(
    journal_before_start: Path, jp_serverapp: Any, api: Fetch
) -> None:
    """Preload: the journal is replayed in the storage threads at start, not by the first
    request (a 10,000-trial journal costs about a second: benchmarks/dashboard_open.py)."""
    app = next(
        ext.app
        for ext in jp_serverapp.extension_manager.extension_points.values()
        if type(ext.app).__name__ == "HpoWidgetApp"
    )
    entries = app.registry.entries()
    assert [e.label for e in entries] == ["before.journal"]
    await wait_for(lambda: entries[0].cache.get("studies") is not None, "the preload")
    sid = await storage_id(api, "before.journal")
    code, _, body = await api("GET", "storages", sid, "studies")
    assert code == 200 and [(s["name"], s["done"]) for s in body["studies"]] == [("demo", 3)]


# -- studies, trials, figures across storages ------------------------------------------------------
@pytest.fixture(params=["journal", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str, jp_root_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "journal":
        return str(jp_root_dir / "runs.journal")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return str(request.getfixturevalue("postgres_url"))


async def _sid(api: Fetch, kind: str, url: str) -> str:
    _, _, body = await api("GET", "storages")
    for s in body["storages"]:
        if (kind == "journal" and s["label"] == "runs.journal") or (
            kind != "journal" and s["sources"] == ["config"]
        ):
            return str(s["id"])
    raise AssertionError(body)


class TestAcrossStorages:
    """One study run on each storage kind, read through every study endpoint."""

    @pytest.fixture
    def configured(self, kind: str, url: str) -> list[str]:
        return [] if kind == "journal" else [url]

    async def test_rows_counts_etag_trials_figures(self, api: Fetch, kind: str, url: str) -> None:
        await _study_endpoints(api, kind, url)


async def _study_endpoints(api: Fetch, kind: str, url: str) -> None:
    started = time.time()
    await finish(run(url))
    sid = await _sid(api, kind, url)
    code, headers, body = await api("GET", "storages", sid, "studies")
    assert code == 200
    (row,) = body["studies"]
    assert row["name"] == "demo" and row["state"] == "finished"
    assert (row["done"], row["target"]) == (8, 8)
    assert (row["complete"], row["pruned"], row["failed"], row["lost"]) == (4, 2, 2, 0)
    assert row["directions"] == ["minimize"] and row["running"] == 0
    study = optuna.load_study(study_name="demo", storage=open_storage(resolve_storage(url)))
    assert row["best_value"] == pytest.approx(study.best_value)
    assert row["best_trial"] == study.best_trial.number
    # This run's last write (1 s of slack for the storage's timestamp rounding, not speed).
    assert row["last_update"] and started - 1.0 <= row["last_update"] <= time.time() + 1.0

    # Idle poll: 304, and again 304 (no storage work beyond the change token).
    etag = headers["Etag"]
    for _ in range(2):
        code, _, body = await api(
            "GET", "storages", sid, "studies", headers={"If-None-Match": etag}
        )
        assert code == 304 and body is None

    # Trials table: full, then nothing new for the cursor, then only the new rows.
    code, headers, detail = await api("GET", "storages", sid, "studies", "demo")
    assert code == 200 and detail["full"] is True
    assert [t["number"] for t in detail["trials"]] == list(range(8))
    assert {t["state"] for t in detail["trials"]} == {"complete", "pruned", "fail"}
    first = detail["trials"][0]
    assert first["worker"] and first["duration"] is not None and "x" in first["params"]
    assert detail["param_names"] == ["x"]
    assert "history" in [f["name"] for f in detail["figures"]]
    cursor = detail["cursor"]
    code, _, same = await api("GET", "storages", sid, "studies", "demo", params={"since": cursor})
    assert code == 200 and same["full"] is False and same["trials"] == []
    await finish(run(url, n=10))  # the same study to a total of 10
    code, _, newer = await api("GET", "storages", sid, "studies", "demo", params={"since": cursor})
    assert newer["full"] is False and [t["number"] for t in newer["trials"]] == [8, 9]
    assert newer["study"]["done"] == 10 and newer["cursor"] != cursor
    code, _, tail = await api(
        "GET", "storages", sid, "studies", "demo", params={"since_trial": "9"}
    )
    assert [t["number"] for t in tail["trials"]] == [9]
    code, _, body = await api("GET", "storages", sid, "studies", headers={"If-None-Match": etag})
    assert code == 200 and body["studies"][0]["done"] == 10

    # Figures: Plotly JSON per kind; a kind that does not apply is skipped, unknown is 400.
    code, headers, figs = await api(
        "GET", "storages", sid, "studies", "demo", "figures",
        params={"kinds": "history,timeline,pareto"},
    )  # fmt: skip
    assert code == 200 and list(figs["figures"]) == ["history", "timeline"]
    assert figs["figures"]["history"]["data"] and "layout" in figs["figures"]["timeline"]
    assert "pareto" in figs["skipped"]
    code, _, _ = await api(
        "GET", "storages", sid, "studies", "demo", "figures",
        params={"kinds": "history,timeline,pareto"}, headers={"If-None-Match": headers["Etag"]},
    )  # fmt: skip
    assert code == 304
    code, _, err = await api(
        "GET", "storages", sid, "studies", "demo", "figures", params={"kinds": "nope"}
    )
    assert code == 400 and "history" in err["message"]
    # The dark template on request; an unknown theme or objective is a 400 naming the choices.
    code, _, dark = await api(
        "GET", "storages", sid, "studies", "demo", "figures",
        params={"kinds": "history", "theme": "dark"},
    )  # fmt: skip
    assert code == 200 and dark["figures"]["history"]["layout"]["meta"]["theme"] == "dark"
    for bad, says in (({"theme": "blue"}, "dark"), ({"objective": "3"}, "objective")):
        code, _, err = await api(
            "GET", "storages", sid, "studies", "demo", "figures",
            params={"kinds": "history", **bad},
        )  # fmt: skip
        assert code == 400 and says in err["message"], err

    # Best params, code cells, report, delete.
    code, _, best = await api("GET", "storages", sid, "studies", "demo", "best")
    assert best["best"][0]["params"] == study.best_params
    code, _, cell = await api("GET", "storages", sid, "studies", "demo", "code")
    namespace: dict[str, Any] = {}
    from tests._postgres import PASSWORD

    assert PASSWORD not in cell["code"]
    with mock.patch("getpass.getpass", return_value=PASSWORD):  # the cell asks for it
        exec(cell["code"].replace("study.trials_dataframe().tail()", ""), namespace)
    assert len(namespace["study"].trials) == 10
    code, _, cell = await api(
        "GET", "storages", sid, "studies", "demo", "code", params={"kind": "resume"}
    )
    assert "resume=True" in cell["code"] and "n_trials=10" in cell["code"]
    compile(cell["code"], "<resume>", "exec")
    assert (await api("GET", "storages", sid, "studies", "nope"))[0] == 404

    code, _, body = await api("DELETE", "storages", sid, "studies", "demo")
    assert code == 204
    code, _, body = await api("GET", "storages", sid, "studies")
    assert body["studies"] == []
    assert (await api("GET", "storages", sid, "studies", "demo"))[0] == 404


async def test_report_is_written_into_the_root(api: Fetch, jp_root_dir: Path) -> None:
    await finish(run(str(jp_root_dir / "runs.journal"), n=4, name="my study"))
    sid = await storage_id(api, "runs.journal")
    code, _, body = await api("POST", "storages", sid, "studies", "my study", "report")
    assert code == 200 and body == {"path": "my_study.html"}
    text = (jp_root_dir / "my_study.html").read_text(encoding="utf-8")
    assert "<html" in text.lower() and "my study" in text


async def test_etag_after_a_run_ends_holds_for_the_next_poll(api: Fetch, jp_root_dir: Path) -> None:
    """Rows read while a run was going hold its live driver; the ETag sent once it ended must
    be the one the next idle poll computes (seen: a 200 instead of a 304 after every run)."""
    journal = str(jp_root_dir / "runs.journal")
    runner = StudyRunner(
        slow_objective, study_name="short", storage=journal, backend="threading", n_workers=2
    )
    runner.start(n_trials=6)
    await wait_for(lambda: runner.progress.complete >= 1, "a first trial")
    sid = await storage_id(api, "runs.journal")
    code, _, body = await api("GET", "storages", sid, "studies")
    assert code == 200 and body["studies"][0]["state"] == "running"
    await finish(runner)
    code, headers, body = await api("GET", "storages", sid, "studies")
    assert code == 200 and body["studies"][0]["state"] == "finished"
    code, _, _ = await api(
        "GET", "storages", sid, "studies", headers={"If-None-Match": headers["Etag"]}
    )
    assert code == 304


async def test_stop_reaches_a_running_study(api: Fetch, jp_root_dir: Path) -> None:
    journal = str(jp_root_dir / "runs.journal")
    runner = StudyRunner(
        slow_objective, study_name="long", storage=journal, backend="threading", n_workers=2
    )
    runner.start()  # no budget: runs until stopped
    try:
        await wait_for(lambda: runner.progress.complete >= 2, "trials to finish")
        sid = await storage_id(api, "runs.journal")
        code, _, body = await api("GET", "storages", sid, "studies")
        assert body["studies"][0]["state"] == "running"
        code, _, stop = await api("POST", "storages", sid, "studies", "long", "stop")
        assert code == 200 and stop["requested"] is True and stop["driver"]
        storage = open_storage(resolve_storage(journal))
        record = run_record.read(storage, storage.get_study_id_from_name("long"))
        assert record is not None and record.stop and "JupyterLab" in (record.stop_reason or "")
        await wait_for(lambda: not runner.running, "the runner to honour the stop")
        assert "JupyterLab" in (runner.stop_reason or "")
        code, _, body = await api("GET", "storages", sid, "studies")
        (row,) = body["studies"]
        assert row["state"] == "stopped" and "JupyterLab" in row["state_reason"]
        assert row["running"] == 0
        code, _, again = await api("POST", "storages", sid, "studies", "long", "stop")
        assert again["requested"] is False
    finally:
        runner.close()


async def test_a_driver_that_died_shows_failed(api: Fetch, jp_root_dir: Path) -> None:
    """A killed kernel writes nothing: the sidebar learns from the driver's PID, and the idle
    poll's ETag changes with it."""
    journal = str(jp_root_dir / "runs.journal")
    storage = open_storage(resolve_storage(journal))
    study = optuna.create_study(study_name="orphan", storage=storage)
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = run_record.RunRecord(
            id="r1", n_trials=5, driver=f"{socket.gethostname()}:{driver.pid}"
        )
        storage.set_study_system_attr(study._study_id, _attrs.RUN, record.to_attr())
        sid = await storage_id(api, "runs.journal")
        code, headers, body = await api("GET", "storages", sid, "studies")
        assert body["studies"][0]["state"] == "running"
    finally:
        driver.kill()
        driver.wait(BOUND)
    code, _, body = await api(
        "GET", "storages", sid, "studies", headers={"If-None-Match": headers["Etag"]}
    )
    assert code == 200
    (row,) = body["studies"]
    assert row["state"] == "failed" and str(driver.pid) in row["state_reason"]


# -- authentication and secrets ------------------------------------------------------------------
def _concrete(path: str) -> str:
    return path.replace("(?P<storage_id>[^/]+)", "sid").replace("(?P<name>[^/]+)", "demo")


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, _concrete(p)) for p, _, methods in ROUTES for m in methods],
)
async def test_every_endpoint_refuses_unauthenticated(api: Fetch, method: str, path: str) -> None:
    code, _, _ = await api(method, *path.split("/"), headers={"Authorization": ""})
    assert code in (401, 403)
    code, _, _ = await api(method, *path.split("/"))  # the same request, logged in
    assert code not in (401, 403)


def test_every_route_is_in_the_auth_test() -> None:
    # The parametrization above is built from ROUTES; every handler method must be listed.
    for _, handler, methods in ROUTES:
        served = {
            m for m in ("GET", "POST", "DELETE", "PUT", "PATCH") if m.lower() in vars(handler)
        }
        assert served == set(methods), handler


@pytest.fixture
def secret_urls(tmp_path: Path) -> list[str]:
    return [
        f"postgresql://alice:{SECRET}@127.0.0.1:9/nodb",  # nothing listens on port 9
        f"sqlite:///{tmp_path / 'with-secret.db'}?password={SECRET}",
    ]


class TestSecrets:
    @pytest.fixture
    def configured(self, secret_urls: list[str]) -> list[str]:
        return secret_urls

    async def test_no_password_in_any_response(self, api: Fetch, secret_urls: list[str]) -> None:
        await _no_password_anywhere(api)


async def _no_password_anywhere(api: Fetch) -> None:
    bodies: list[str] = []

    async def record(method: str, *parts: str, **kw: Any) -> tuple[int, Any, Any]:
        code, headers, body = await api(method, *parts, **kw)
        bodies.append(json.dumps(body) + json.dumps(dict(headers)))
        return code, headers, body

    code, _, listing = await record("GET", "storages")
    assert len(listing["storages"]) == 2
    assert all("***" in s["url"] for s in listing["storages"])
    for s in listing["storages"]:
        for parts in [("studies",), ("studies", "demo"), ("studies", "demo", "figures")]:
            code, _, _ = await record("GET", "storages", s["id"], *parts)
            assert code >= 400 or parts == ("studies",)
        await record("GET", "storages", s["id"], "studies", "demo", "code")
        await record("POST", "storages", s["id"], "studies", "demo", "stop")
    code, _, added = await record(
        "POST", "storages", body=json.dumps({"url": f"postgresql://bob:{SECRET}@127.0.0.1:9/x"})
    )
    assert code == 201 and added["error"] and "***" in added["error"]
    await record("POST", "storages", body=json.dumps({"url": f"nope://u:{SECRET}@h/x"}))
    text = "\n".join(bodies)
    assert SECRET not in text and "***" in text


@pytest.mark.postgres
async def test_code_cell_asks_for_the_password(api: Fetch, postgres_url: str) -> None:
    """A PostgreSQL storage with a password: the code cell has getpass, not the password."""
    pytest.importorskip("psycopg")
    await finish(run(postgres_url, n=2))
    code, _, added = await api("POST", "storages", body=json.dumps({"url": postgres_url}))
    assert code == 201 and added["error"] is None
    code, _, cell = await api("GET", "storages", added["id"], "studies", "demo", "code")
    from tests._postgres import PASSWORD

    assert PASSWORD not in json.dumps(cell) and "getpass(" in cell["code"]
    code, _, body = await api("GET", "storages", added["id"], "studies")
    assert body["studies"][0]["done"] == 2


# -- the RDB change token --------------------------------------------------------------------
def test_rdb_change_token_sees_every_write(tmp_path: Path) -> None:
    """Fences the Optuna schema the token names: each write a view shows changes it."""
    storage = open_storage(resolve_storage(f"sqlite:///{tmp_path / 't.db'}"))
    assert isinstance(storage, optuna.storages.RDBStorage)
    tokens = [change_token(storage.engine)]

    def changed() -> None:
        tokens.append(change_token(storage.engine))
        assert tokens[-1] != tokens[-2]

    study = optuna.create_study(study_name="t", storage=storage)
    changed()
    sid = study._study_id
    run_record.open_run(storage, sid, "r", n_trials=3, heartbeat_interval=1.0)
    changed()
    study.enqueue_trial({"x": 0.5})  # a WAITING trial
    changed()
    trial = study.ask()  # WAITING -> RUNNING
    changed()
    trial.suggest_float("x", 0, 1)
    changed()
    trial.report(0.1, step=1)
    changed()
    storage.set_trial_system_attr(trial._trial_id, "hpo_widget:worker", "h:1:0")
    changed()
    study.tell(trial, 0.3)
    changed()
    run_record.request_stop(storage, sid, "test")
    changed()
    assert change_token(storage.engine) == tokens[-1]  # reading alone changes nothing
    optuna.delete_study(study_name="t", storage=storage)
    changed()
