"""The ``jupyter_server`` extension: the REST API the JupyterLab sidebar and dashboard read.

An :class:`~jupyter_server.extension.application.ExtensionApp` (jupyter-scheduler's model), so
its settings are ordinary Jupyter config (``c.HpoWidgetApp.storages = [...]`` in
``jupyter_server_config.py``) and its routes get the server's base_url (JupyterHub).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, List, Unicode

from ._registry import StorageRegistry, StorageUnavailable
from .handlers import API_PREFIX, ServerState, routes

__all__ = ["HpoWidgetApp"]

_log = logging.getLogger(__name__)


def _import_plotting() -> None:
    import plotly.io  # noqa: F401

    from ..plots import registry  # noqa: F401


def _preload(registry: StorageRegistry) -> None:
    """Open every storage and summarize its studies, so the first listing answers from memory.

    A journal is replayed once when its storage opens (a 10,000-trial one takes about a second
    here); doing it at start moves that second out of the first sidebar listing and dashboard.
    """
    from ._summaries import study_summaries

    for entry in registry.entries():
        if not entry.exists():
            continue
        try:
            study_summaries(entry, entry.change_token())
        except StorageUnavailable as exc:  # shown in the sidebar at its first listing
            _log.info("hpo_widget: %s", exc)
        except Exception:  # never a reason for the server not to serve
            _log.warning("hpo_widget: preloading %s failed", entry.description, exc_info=True)


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

    preload = Bool(
        True,
        help=(
            "Open and read every storage when the server starts (in the storage threads), so "
            "the first sidebar listing and dashboard answer from memory. False: a storage is "
            "read at its first request."
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
        # Importing plotly and the figure builders takes a second or two, and a big journal is
        # replayed when opened: both now, in the pool, rather than in the first requests.
        self.executor.submit(_import_plotting)
        if self.preload:
            self.executor.submit(_preload, self.registry)
        self.log.info("hpo_widget: serving /%s for storages under %s", API_PREFIX, root_dir)

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes(self.state))

    async def stop_extension(self) -> None:
        """Let reads in flight finish in their threads; take no new ones."""
        self.executor.shutdown(wait=False, cancel_futures=True)
