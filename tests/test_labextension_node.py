"""The front end's pure modules (labextension/src/core: formatting, merging, poll intervals,
status text, notebook text, themed layouts) under ``node --test``, on their tsc output.

Needs Node.js and the extension's node_modules (scripts/setup.sh installs both); tsc compiles
src/core to CommonJS in labextension/build-test/ first.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

LABEXT = Path(__file__).resolve().parents[1] / "labextension"


def test_pure_modules_pass_node_test() -> None:
    node = shutil.which("node")
    tsc = LABEXT / "node_modules" / "typescript" / "bin" / "tsc"
    if node is None or not tsc.exists():
        pytest.fail(
            "node or labextension/node_modules is missing: run scripts/setup.sh "
            "(or `cd labextension && npm ci`)"
        )
    started = time.monotonic()
    subprocess.run(
        [node, str(tsc), "-p", "tsconfig.test.json"], cwd=LABEXT, check=True, timeout=120
    )
    tests = sorted(str(p.relative_to(LABEXT)) for p in (LABEXT / "test").glob("*.test.cjs"))
    assert tests, "no labextension/test/*.test.cjs"
    proc = subprocess.run(
        [node, "--test", *tests],
        cwd=LABEXT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout, proc.stdout[-2000:]
    print(f"node --test: {proc.stdout.count('ok ')} ok in {time.monotonic() - started:.1f} s")
