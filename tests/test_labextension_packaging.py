"""The wheel carries the prebuilt JupyterLab extension and the server extension's config: installed
into a fresh venv with no ``node`` on PATH, JupyterLab lists both as enabled and OK.

The wheel is built from this checkout (``pip wheel .``); the hatch hook reuses an extension that
scripts/setup.sh already built (``skip-if-exists``), so this takes seconds, not a Node build.  The
fresh venv gets the wheel with ``--no-deps`` and sees this environment's packages through a
``.pth`` line (no download), so its ``hpo_widget`` and Jupyter data/config paths are its own.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NAME = "hpo-widget-labextension"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / "hpo_widget" / "labextension" / "static" / "style.js").exists():
        pytest.fail("the extension is not built: run scripts/setup.sh first")
    out = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out)],
        check=True,
        timeout=600,
    )
    (whl,) = out.glob("hpo_widget-*.whl")
    print(
        f"\nwheel {whl.name}: {whl.stat().st_size / 1e6:.2f} MB,"
        f" built in {time.monotonic() - started:.1f} s"
    )
    return whl


def test_wheel_carries_the_prebuilt_extension(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = f"hpo_widget-{wheel.name.split('-')[1]}.data/data/"
    share = f"{data}share/jupyter/labextensions/{NAME}/"
    assert f"{share}package.json" in names
    assert f"{share}install.json" in names
    assert f"{share}static/style.js" in names
    assert any(n.startswith(f"{share}static/remoteEntry.") for n in names)
    assert f"{share}schemas/{NAME}/plugin.json" in names
    assert f"{data}etc/jupyter/jupyter_server_config.d/hpo_widget.json" in names
    # The build output is shipped once, as data, not again inside the package.
    assert not any(n.startswith("hpo_widget/labextension/") for n in names)


def test_fresh_venv_without_node_lists_both_extensions(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    fresh_site = Path(
        subprocess.check_output([str(py), "-c", "import site; print(site.getsitepackages()[0])"])
        .decode()
        .strip()
    )
    # Dependencies from this environment, without its (editable) hpo_widget or Jupyter paths.
    (fresh_site / "zz_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON"))}
    env["PATH"] = str(env_dir / "bin")  # no node here
    env["HOME"] = str(tmp_path / "home")  # no user-level Jupyter config or extensions
    assert shutil.which("node", path=env["PATH"]) is None
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        env=env,
        timeout=300,
    )
    where = subprocess.check_output(
        [str(py), "-c", "import hpo_widget, sys; print(hpo_widget.__file__, sys.prefix)"],
        env=env,
        text=True,
    )
    assert str(env_dir) in where and str(REPO) not in where.split()[0], where

    labext = subprocess.run(
        [str(py), "-m", "jupyterlab.labextensions", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = _plain(labext.stdout + labext.stderr)
    line = next((ln for ln in text.splitlines() if NAME in ln), "")
    assert "enabled" in line and "OK" in line and "(python, hpo_widget)" in line, text
    assert str(env_dir / "share" / "jupyter" / "labextensions") in text, text

    server = subprocess.run(
        [str(py), "-m", "jupyter_server.extension.serverextension", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = _plain(server.stdout + server.stderr)
    assert "hpo_widget.server enabled" in text, text
    assert "hpo_widget.server" in text and "OK" in text, text


def _plain(text: str) -> str:
    """Without the ANSI colours JupyterLab prints."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)
