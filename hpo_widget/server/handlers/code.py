"""``/storages/{id}/studies/{name}/code`` and ``/best``: what a row puts into a notebook or the
clipboard."""

from __future__ import annotations

from typing import cast

from tornado import web

from .._actions import best_trials
from .._code_cells import code_cell
from .._protocol import CodeKind, CodeResponse
from ._base import BaseHandler


class CodeHandler(BaseHandler):
    @web.authenticated
    async def get(self, storage_id: str, name: str) -> None:
        """``CodeResponse`` for ``?kind=load`` (default) or ``?kind=resume``; the storage
        URL's password is never in it (the cell asks for it or reads the env var)."""
        entry = self.entry(storage_id)
        kind = self.get_query_argument("kind", "load")
        if kind not in ("load", "resume"):
            raise web.HTTPError(400, "kind must be load or resume")
        code = await self.blocking(code_cell, entry, name, cast(CodeKind, kind))
        payload: CodeResponse = {"kind": cast(CodeKind, kind), "code": code}
        self.send(payload)


class BestHandler(BaseHandler):
    @web.authenticated
    async def get(self, storage_id: str, name: str) -> None:
        """``BestResponse``: the best trial's params (the Pareto front for several
        objectives); ``best`` is empty before the first complete trial."""
        entry = self.entry(storage_id)
        self.send(await self.blocking(best_trials, entry, name))
