"""Server side of the JupyterLab extension: a ``jupyter_server`` extension serving studies.

Enable it with ``jupyter server extension enable hpo_widget.server`` (the wheel ships the
config that does it).  Routes, under the server's base_url::

    GET    /hpo-widget/api/storages
    POST   /hpo-widget/api/storages                                 {"url": ...}
    DELETE /hpo-widget/api/storages/{id}
    GET    /hpo-widget/api/storages/{id}/studies                    ETag / If-None-Match
    GET    /hpo-widget/api/storages/{id}/studies/{name}             ?since=cursor
    DELETE /hpo-widget/api/storages/{id}/studies/{name}
    GET    /hpo-widget/api/storages/{id}/studies/{name}/figures     ?kinds=history,...
    POST   /hpo-widget/api/storages/{id}/studies/{name}/stop
    POST   /hpo-widget/api/storages/{id}/studies/{name}/report
    GET    /hpo-widget/api/storages/{id}/studies/{name}/code        ?kind=load|resume
    GET    /hpo-widget/api/storages/{id}/studies/{name}/best

Payload shapes are in :mod:`hpo_widget.server._protocol`.
"""

from __future__ import annotations

from typing import Any

from .app import HpoWidgetApp

__all__ = ["HpoWidgetApp"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Found by ``jupyter_server`` when ``hpo_widget.server`` is in ``jpserver_extensions``."""
    return [{"module": "hpo_widget.server", "app": HpoWidgetApp}]
