"""The REST handlers, one module per resource; :data:`ROUTES` is the whole API."""

from __future__ import annotations

from typing import Any

from ._base import API_PREFIX, BaseHandler, ServerState
from .actions import ReportHandler, StopHandler
from .code import BestHandler, CodeHandler
from .figures import FiguresHandler
from .storages import StorageHandler, StoragesHandler
from .studies import StudiesHandler
from .study import StudyHandler

__all__ = ["API_PREFIX", "ROUTES", "BaseHandler", "ServerState", "routes"]

_STORAGE = r"storages/(?P<storage_id>[^/]+)"
_STUDY = _STORAGE + r"/studies/(?P<name>[^/]+)"

#: (path under the prefix, handler, methods it serves): tests check every one needs a login.
ROUTES: list[tuple[str, type[BaseHandler], tuple[str, ...]]] = [
    (r"storages", StoragesHandler, ("GET", "POST")),
    (_STORAGE, StorageHandler, ("DELETE",)),
    (_STORAGE + r"/studies", StudiesHandler, ("GET",)),
    (_STUDY, StudyHandler, ("GET", "DELETE")),
    (_STUDY + r"/figures", FiguresHandler, ("GET",)),
    (_STUDY + r"/stop", StopHandler, ("POST",)),
    (_STUDY + r"/report", ReportHandler, ("POST",)),
    (_STUDY + r"/code", CodeHandler, ("GET",)),
    (_STUDY + r"/best", BestHandler, ("GET",)),
]


def routes(state: ServerState) -> list[tuple[str, type[BaseHandler], dict[str, Any]]]:
    """Tornado handler specs (without the base_url: ``ExtensionApp`` prepends it)."""
    return [(f"/{API_PREFIX}/{path}", handler, {"state": state}) for path, handler, _ in ROUTES]
