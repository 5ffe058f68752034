"""``/storages/{id}/studies/{name}/figures``: Plotly JSON built by ``hpo_widget.plots``."""

from __future__ import annotations

from tornado import web

from ...plots.registry import FIGURES
from .._figures import figures_json
from .._payload import dumps
from ._base import BaseHandler


class FiguresHandler(BaseHandler):
    @web.authenticated
    async def get(self, storage_id: str, name: str) -> None:
        """``FiguresResponse`` for ``?kinds=history,timeline`` (default: every kind that
        applies but the slow ones); 304 while the storage is unchanged."""
        entry = self.entry(storage_id)
        arg = self.get_query_argument("kinds", "")
        kinds = [k.strip() for k in arg.split(",") if k.strip()]
        if not kinds:
            kinds = [k for k, kind in FIGURES.items() if not kind.slow]
        token = await self.change_token(entry)
        if self.not_modified("figures", entry.id, name, token, kinds):
            return
        if token == ("missing",):
            raise web.HTTPError(404, "no study named %s", name)
        figures, skipped = await self.blocking(figures_json, entry, name, kinds, token)
        # The figures are JSON text already: splice them in rather than parse and re-dump.
        body = ",".join(f"{dumps(k)}:{text}" for k, text in figures.items())
        self.send_text(f'{{"figures":{{{body}}},"skipped":{dumps(skipped)}}}')
