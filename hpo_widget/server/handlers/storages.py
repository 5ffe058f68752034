"""``/storages``: the storages the server knows; add and remove ones from the UI."""

from __future__ import annotations

import contextlib

from tornado import web

from .._protocol import StorageInfo, StoragesResponse
from ._base import BaseHandler


class StoragesHandler(BaseHandler):
    @web.authenticated
    async def get(self) -> None:
        """``StoragesResponse``; never opens a storage (a listing must not create files)."""
        entries = await self.blocking(self.state.registry.entries)
        payload: StoragesResponse = {"storages": [e.info() for e in entries]}
        self.send(payload)

    @web.authenticated
    async def post(self) -> None:
        """Body ``AddStorageRequest``; 201 with the ``StorageInfo`` (masked)."""
        url = self.json_body().get("url")
        if not isinstance(url, str) or not url.strip():
            raise web.HTTPError(400, 'give the storage as {"url": "..."}')
        entry = await self.blocking(self.state.registry.add, url)
        if entry.exists():
            # Try it now, so a wrong host or password shows at once (masked) in ``error``.
            with contextlib.suppress(web.HTTPError):
                await self.blocking(entry.open)
        info: StorageInfo = entry.info()
        self.send(info, status=201)


class StorageHandler(BaseHandler):
    @web.authenticated
    async def delete(self, storage_id: str) -> None:
        """Forget a storage added through the UI (204); others are configuration (409)."""
        self.entry(storage_id)
        if not self.state.registry.remove(storage_id):
            raise web.HTTPError(409, "only storages added in the UI can be removed")
        self.set_status(204)
        self.finish()
