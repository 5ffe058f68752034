"""What every handler shares: authentication, the executor, errors that never leak a password,
and ETags computed from a storage's change token before any storage work.

Storage reads block (file I/O, SQL), so every one runs in the extension's thread pool; the
event loop only parses requests and writes responses.  A handler that can answer 304 asks for
the storage's change token first (a ``stat`` for a journal, one aggregate query for an RDB)
and stops there when it matches the client's ``If-None-Match``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ...storage import mask_password
from .._payload import dumps
from .._registry import StorageEntry, StorageRegistry, StorageUnavailable
from .._summaries import StudyNotFound, drivers_alive, study_summaries

T = TypeVar("T")

#: Every route lives under this prefix, joined with the server's base_url (JupyterHub).
API_PREFIX = "hpo-widget/api"


@dataclass
class ServerState:
    """What the extension hands every handler (tornado passes it to ``initialize``)."""

    registry: StorageRegistry
    executor: Executor
    root_dir: str
    #: Where reports are written (absolute).
    report_dir: str


class BaseHandler(APIHandler):
    """An authenticated JSON handler of the hpo_widget API."""

    state: ServerState

    def initialize(self, state: ServerState) -> None:
        self.state = state

    # -- blocking work -------------------------------------------------------------------
    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the executor, its failures turned into HTTP errors."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.state.executor, lambda: fn(*args, **kwargs))
        except web.HTTPError:
            raise
        except StudyNotFound as exc:
            raise web.HTTPError(404, "no study named %s", exc.args[0]) from None
        except StorageUnavailable as exc:
            raise web.HTTPError(502, "%s", mask_password(str(exc))) from None
        except (ValueError, TypeError) as exc:
            raise web.HTTPError(400, "%s", mask_password(str(exc))) from None
        except Exception as exc:
            message = mask_password(f"{type(exc).__name__}: {exc}")
            self.log.warning("hpo_widget: %s", message)
            raise web.HTTPError(500, "%s", message) from None

    def entry(self, storage_id: str) -> StorageEntry:
        entry = self.state.registry.get(storage_id)
        if entry is None:
            raise web.HTTPError(404, "no storage with id %s", storage_id)
        return entry

    async def change_token(self, entry: StorageEntry) -> Any:
        """The storage's change token plus the liveness of the local drivers it lists.

        The drivers are those of the rows last summarized, so the rows are brought up to date
        first (free when nothing changed): an ETag made from rows read while a run was still
        going would change at the next request although nothing did.
        """
        token = await self.blocking(entry.change_token)
        if token == ("missing",):
            return token
        full = (token, drivers_alive(entry))
        await self.blocking(study_summaries, entry, full)
        settled = (token, drivers_alive(entry))
        if settled != full:  # the refresh ended runs: cache the rows under the settled token
            await self.blocking(study_summaries, entry, settled)
        return settled

    # -- conditional responses -----------------------------------------------------------
    def not_modified(self, *parts: Any) -> bool:
        """Set an ETag from ``parts`` (a change token and what shapes the response); True,
        with the 304 sent, when the client already has that representation."""
        digest = hashlib.sha1(repr(parts).encode()).hexdigest()[:20]
        self.set_header("Etag", f'"{digest}"')
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return True
        return False

    # -- output ----------------------------------------------------------------------------
    def send(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(dumps(payload))

    def send_text(self, text: str) -> None:
        """Send JSON text built elsewhere (figures are spliced in as serialized)."""
        self.set_header("Content-Type", "application/json")
        self.finish(text)

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        return body

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """jupyter_server's JSON error shape, with any password masked."""
        exc_info = kwargs.get("exc_info")
        reply: dict[str, Any] = {"message": self._reason, "reason": None}
        if exc_info and isinstance(exc_info[1], web.HTTPError):
            exc = exc_info[1]
            message = (
                exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            )
            reply = {"message": message or self._reason, "reason": exc.reason}
        elif exc_info:
            reply = {"message": "Unhandled error", "reason": None}
        reply["message"] = mask_password(str(reply["message"]))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reply))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Tornado logs unexpected errors with their text: mask it (tracebacks get pasted)."""
        if isinstance(value, web.HTTPError):
            return super().log_exception(typ, value, tb)
        self.log.error("hpo_widget: %s", mask_password(f"{typ.__name__}: {value}"))
        return None
