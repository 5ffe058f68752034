"""``/storages/{id}/studies``: the sidebar's rows for one storage."""

from __future__ import annotations

from tornado import web

from .._protocol import StudiesResponse
from .._summaries import study_summaries
from ._base import BaseHandler


class StudiesHandler(BaseHandler):
    @web.authenticated
    async def get(self, storage_id: str) -> None:
        """``StudiesResponse``; 304 when ``If-None-Match`` holds the storage's current ETag.

        A missing journal or SQLite file has no studies (and is not created).
        """
        entry = self.entry(storage_id)
        token = await self.change_token(entry)
        if self.not_modified("studies", entry.id, token):
            return
        if token == ("missing",):
            studies = []
        else:
            studies = await self.blocking(study_summaries, entry, token)
        payload: StudiesResponse = {"storage": entry.id, "studies": studies}
        self.send(payload)
