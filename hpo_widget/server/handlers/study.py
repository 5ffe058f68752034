"""``/storages/{id}/studies/{name}``: one study's dashboard data; delete it."""

from __future__ import annotations

from tornado import web

from .._actions import delete_study
from .._trials_table import study_detail
from ._base import BaseHandler


class StudyHandler(BaseHandler):
    @web.authenticated
    async def get(self, storage_id: str, name: str) -> None:
        """``StudyDetail``.  ``?since=<cursor>``: only the rows changed since that cursor
        (``full`` False); ``?since_trial=N``: only rows numbered N or more.  304 when
        ``If-None-Match`` matches (nothing changed for this cursor)."""
        entry = self.entry(storage_id)
        since = self.get_query_argument("since", None)
        since_trial_arg = self.get_query_argument("since_trial", None)
        since_trial = None
        if since_trial_arg is not None:
            if not since_trial_arg.isdigit():
                raise web.HTTPError(400, "since_trial must be a trial number")
            since_trial = int(since_trial_arg)
        token = await self.change_token(entry)
        if self.not_modified("study", entry.id, name, token, since, since_trial):
            return
        if token == ("missing",):
            raise web.HTTPError(404, "no study named %s", name)
        detail = await self.blocking(
            study_detail, entry, name, token, since=since, since_trial=since_trial
        )
        self.send(detail)

    @web.authenticated
    async def delete(self, storage_id: str, name: str) -> None:
        """Delete the study and all its trials (the UI confirms first): 204."""
        entry = self.entry(storage_id)
        await self.blocking(delete_study, entry, name)
        self.log.info("hpo_widget: deleted study %s in %s", name, entry.description)
        self.set_status(204)
        self.finish()
