"""A JupyterLab server and the system Chromium for the browser tests.

One server on 127.0.0.1 (a free port, a random token, the given root), its settings, workspaces and
runtime directories under a tmp directory, and no news toast.  The server runs in its own session
and is ended by its PID (its kernels with it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_settings(settings_dir: Path) -> None:
    """No news toast over the screenshots."""
    target = settings_dir / "@jupyterlab" / "apputils-extension"
    target.mkdir(parents=True, exist_ok=True)
    (target / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')


def lab_env(tmp: Path) -> dict[str, str]:
    """This environment, with its interpreter first on PATH (the kernelspec runs `python`) and
    JupyterLab's settings, workspaces and runtime directories under ``tmp``."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp / "settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp / "workspaces")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
    write_settings(tmp / "settings")
    return env


@dataclass
class Lab:
    base: str
    token: str
    log: Path


@contextlib.contextmanager
def run_lab(root: Path, env: dict[str, str], log_path: Path) -> Iterator[Lab]:
    """``jupyter lab`` serving ``root`` until it answers /api/status (at most 60 s)."""
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited early:\n{log_path.read_text()}")
            try:
                url = f"http://127.0.0.1:{port}/api/status?token={token}"
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("jupyter lab did not answer within 60 s")
            time.sleep(0.3)
        yield Lab(base=f"http://127.0.0.1:{port}", token=token, log=log_path)
    finally:
        server.terminate()  # by PID: the server shuts its kernels down on SIGTERM
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        # Anything the server left behind in its own session (a stuck kernel) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def write_finished_study(path: Path, name: str, n: int) -> None:
    """A finished study of ``n`` trials (seeded) in a journal file, written without running."""
    import random

    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution

    from hpo_widget.storage import open_storage, resolve_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(resolve_storage(str(path)))
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
    rng = random.Random(0)
    dists = {"x": FloatDistribution(-10, 10), "n": IntDistribution(1, 5)}
    trials = []
    for _ in range(n):
        params = {"x": rng.uniform(-10, 10), "n": rng.randint(1, 5)}
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=(params["x"] - 2) ** 2 + params["n"] / 10,
            )
        )
    study.add_trials(trials)
