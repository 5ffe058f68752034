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
        applies but the slow ones), ``?objective=`` (index or metric name: what the
        per-objective kinds show in a multi-objective study, default 0) and ``?theme=light|dark``
        (the Plotly template); 304 while the storage is unchanged."""
        entry = self.entry(storage_id)
        arg = self.get_query_argument("kinds", "")
        kinds = [k.strip() for k in arg.split(",") if k.strip()]
        if not kinds:
            kinds = [k for k, kind in FIGURES.items() if not kind.slow]
        objective: int | str | None = self.get_query_argument("objective", "") or None
        if isinstance(objective, str) and objective.isdigit():
            objective = int(objective)
        theme = self.get_query_argument("theme", "light")
        token = await self.change_token(entry)
        if self.not_modified("figures", entry.id, name, token, kinds, objective, theme):
            return
        if token == ("missing",):
            raise web.HTTPError(404, "no study named %s", name)
        # An unknown kind, objective or theme is a ValueError naming the choices: a 400.
        figures, skipped = await self.blocking(
            figures_json, entry, name, kinds, token, objective=objective, theme=theme
        )
        # The figures are JSON text already: splice them in rather than parse and re-dump.
        body = ",".join(f"{dumps(k)}:{text}" for k, text in figures.items())
        self.send_text(f'{{"figures":{{{body}}},"skipped":{dumps(skipped)}}}')
