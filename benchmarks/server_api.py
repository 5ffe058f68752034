"""Cost of the JupyterLab extension's REST API on a big study, through a real Jupyter server.

Run: ``python benchmarks/server_api.py ROOT_DIR [STORAGE_URL ...]``.  Starts ``jupyter server``
on 127.0.0.1 with a token, the ``hpo_widget.server`` extension enabled, ``ROOT_DIR`` as its root
(its ``*.journal`` files are listed) and the extra storages configured; then, per storage and
study, times (client side, HTTP included) the first ``studies`` and ``study`` responses (the
first pays for opening the storage: a journal is replayed once), the idle poll (304 with
``If-None-Match``, median and max of 200) and a figures request.  Prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, **params: str
    ) -> tuple[int, dict[str, str], bytes, float]:
        url = f"{self.base}hpo-widget/api/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(
            url, method=method, data=b"{}" if method == "POST" else None
        )
        request.add_header("Authorization", f"token {self.token}")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=600) as r:
                body, code, hdrs = r.read(), r.status, dict(r.headers)
        except urllib.error.HTTPError as exc:
            body, code, hdrs = exc.read(), exc.code, dict(exc.headers)
        return code, hdrs, body, time.perf_counter() - start


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main(root: str, storages: list[str]) -> None:
    port, token = _free_port(), secrets.token_hex(16)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump(
            {
                "ServerApp": {"jpserver_extensions": {"hpo_widget.server": True}},
                "HpoWidgetApp": {"storages": storages},
            },
            config,
        )
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--config={config.name}", "--no-browser",
         "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = Client(f"http://127.0.0.1:{port}/", token)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.call("GET", "storages")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("jupyter server did not start")
            time.sleep(0.2)
        _, _, body, _ = client.call("GET", "storages")
        print(
            "| storage | study | trials | first studies (ms) | first study (ms, KB) |"
            " idle 304 median / max (ms) | study since=cursor (ms) | figures (ms, KB) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for info in json.loads(body)["storages"]:
            sid = info["id"]
            _, hdrs, body, first = client.call("GET", f"storages/{sid}/studies")
            studies = json.loads(body)["studies"]
            etag = hdrs["Etag"]
            idle = [
                client.call("GET", f"storages/{sid}/studies", {"If-None-Match": etag})
                for _ in range(200)
            ]
            assert all(c == 304 for c, *_ in idle), {c for c, *_ in idle}
            idle_times = [t for *_, t in idle]
            for row in studies:
                name = urllib.parse.quote(row["name"], safe="")
                _, _, body, detail_t = client.call("GET", f"storages/{sid}/studies/{name}")
                detail = json.loads(body)
                _, _, _, since_t = client.call(
                    "GET", f"storages/{sid}/studies/{name}", since=detail["cursor"]
                )
                _, _, fig_body, fig_t = client.call(
                    "GET", f"storages/{sid}/studies/{name}/figures", kinds="history,timeline"
                )
                print(
                    f"| {info['label']} | {row['name']} | {len(detail['trials'])} | {_ms(first)} "
                    f"| {_ms(detail_t)}, {len(body) / 1024:.0f} "
                    f"| {_ms(statistics.median(idle_times))} / {_ms(max(idle_times))} "
                    f"| {_ms(since_t)} | {_ms(fig_t)}, {len(fig_body) / 1024:.0f} |"
                )
    finally:
        server.terminate()
        server.wait(30)
        os.unlink(config.name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
