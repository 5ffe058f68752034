"""``/storages/{id}/studies/{name}/stop`` and ``/report``: acting on a study."""

from __future__ import annotations

from tornado import web

from ... import run_record
from .._actions import write_study_report
from .._protocol import ReportResponse, StopResponse
from .._registry import StorageEntry
from .._summaries import StudyNotFound
from ._base import BaseHandler


def _stop(entry: StorageEntry, name: str, reason: str) -> StopResponse:
    try:
        asked = run_record.stop_study(entry.open(), name, reason)
    except KeyError:
        raise StudyNotFound(name) from None
    if asked is None:
        return {
            "requested": False,
            "run_id": None,
            "driver": None,
            "message": f"study {name} has no running run; nothing to stop",
        }
    return {
        "requested": True,
        "run_id": asked.id,
        "driver": asked.driver,
        "message": f"asked run {asked.id} (driver {asked.driver}) to stop",
    }


class StopHandler(BaseHandler):
    @web.authenticated
    async def post(self, storage_id: str, name: str) -> None:
        """``StopResponse``: a stop written to the run record; the driver, wherever it runs
        (a kernel, ``hpo-widget run``), ends the run at its next poll."""
        entry = self.entry(storage_id)
        user = getattr(self.current_user, "username", None) or "a JupyterLab user"
        reason = f"stopped from JupyterLab by {user}"
        self.send(await self.blocking(_stop, entry, name, reason))


class ReportHandler(BaseHandler):
    @web.authenticated
    async def post(self, storage_id: str, name: str) -> None:
        """``ReportResponse``: the HTML report (``hpo-widget report``'s) written under the
        server root; the path is relative to it."""
        entry = self.entry(storage_id)
        path = await self.blocking(
            write_study_report, entry, name, self.state.report_dir, self.state.root_dir
        )
        payload: ReportResponse = {"path": path}
        self.send(payload)
