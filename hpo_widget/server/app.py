"""The ``jupyter_server`` extension: the REST API the JupyterLab sidebar and dashboard read.

An :class:`~jupyter_server.extension.application.ExtensionApp` (jupyter-scheduler's model), so
its settings are ordinary Jupyter config (``c.HpoWidgetApp.storages = [...]`` in
``jupyter_server_config.py``) and its routes get the server's base_url (JupyterHub).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from jupyter_server.extension.application import ExtensionApp
from traitlets import Int, List, Unicode

from ._registry import StorageRegistry
from .handlers import API_PREFIX, ServerState, routes

__all__ = ["HpoWidgetApp"]


def _warm_up() -> None:
    import plotly.io  # noqa: F401

    from ..plots import registry  # noqa: F401


class HpoWidgetApp(ExtensionApp):
    """Serves ``/hpo-widget/api/...``: studies in every storage the server knows, live."""

    name = "hpo_widget"
    description = "REST API of the hpo_widget JupyterLab extension"
    #: No page of its own: JupyterLab is the front end.
    load_other_extensions = True

    storages = List(
        Unicode(),
        help=(
            "Storage URLs to list besides the server root's *.journal files and "
            "$HPO_WIDGET_STORAGE: journal paths, sqlite:///..., postgresql://user:pw@host/db. "
            "Relative file paths are taken from the server root. Passwords never reach the "
            "browser."
        ),
    ).tag(config=True)

    max_workers = Int(
        4,
        help=(
            "Threads reading storage. Every storage read runs in this pool, never on the "
            "server's event loop."
        ),
    ).tag(config=True)

    report_dir = Unicode(
        "",
        help="Where study reports are written, relative to the server root (default: the root).",
    ).tag(config=True)

    def initialize_settings(self) -> None:
        assert self.serverapp is not None  # set before extensions initialize
        root_dir = os.path.abspath(os.path.expanduser(self.serverapp.root_dir))
        self.executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="hpo-widget")
        self.registry = StorageRegistry(
            root_dir, self.storages, env=os.environ.get("HPO_WIDGET_STORAGE") or None
        )
        self.state = ServerState(
            registry=self.registry,
            executor=self.executor,
            root_dir=root_dir,
            report_dir=os.path.join(root_dir, self.report_dir),
        )
        # Importing plotly and the figure builders takes a second or two: do it now, in the
        # pool, rather than in the first dashboard's figures request.
        self.executor.submit(_warm_up)
        self.log.info("hpo_widget: serving /%s for storages under %s", API_PREFIX, root_dir)

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes(self.state))

    async def stop_extension(self) -> None:
        """Let reads in flight finish in their threads; take no new ones."""
        self.executor.shutdown(wait=False, cancel_futures=True)
