"""Finding RUNNING trials nobody works on any more, so a dead worker never loses a trial.

A trial is live while its worker's heartbeat (or, before the first beat, its start) is younger
than the grace.  A worker process on this host that has exited is known sooner, from its PID.
Reaped trials are failed as lost (they do not count) and re-queued (:mod:`hpo_widget._tickets`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from optuna.trial import FrozenTrial, TrialState

from . import _attrs
from ._tickets import Tickets

__all__ = ["Reaper"]

_log = logging.getLogger("hpo_widget.runner")
#: Seconds a local worker's death is confirmed while the backend runs (see exit_reason).
EXIT_CONFIRM = 2.0


def local_pid(worker: str) -> int | None:
    """The PID in a worker id ``host:pid:slot`` when that worker runs on this host."""
    parts = worker.split(":")
    if len(parts) < 3 or not parts[-2].isdigit() or ":".join(parts[:-2]) != socket.gethostname():
        return None
    return int(parts[-2])


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an exited child not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): existence is all we can tell


class _ByNumber(Mapping[int, FrozenTrial]):
    """Trials by number, indexed only when a reaped trial's retry chain is first followed:
    polls that reap nothing stay O(trials in flight)."""

    def __init__(self, trials: Sequence[FrozenTrial]) -> None:
        self._trials = trials
        self._index: dict[int, FrozenTrial] | None = None

    def _built(self) -> dict[int, FrozenTrial]:
        if self._index is None:
            self._index = {t.number: t for t in self._trials}
        return self._index

    def __getitem__(self, number: int) -> FrozenTrial:
        return self._built()[number]

    def __iter__(self) -> Iterator[int]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


class Reaper:
    """Reaps the lost trials of one run.

    ``backend_alive`` says whether the backend's call still runs (a death is then confirmed
    for :data:`EXIT_CONFIRM` seconds, so the backend's own report, e.g. a loky exit code, can
    name the cause); ``backend_error`` gives the telling line of the latest worker failure.
    """

    def __init__(
        self,
        tickets: Tickets,
        grace: float,
        *,
        backend_alive: Callable[[], bool],
        backend_error: Callable[[], str | None],
    ) -> None:
        self.tickets = tickets
        self.grace = grace
        self._backend_alive = backend_alive
        self._backend_error = backend_error
        #: Workers (host:pid:slot) of this host seen dead, with when: see exit_reason.
        self._exited_since: dict[str, float] = {}

    def reap_lost(
        self,
        trials: Sequence[FrozenTrial],
        target: int | None,
        history: Sequence[FrozenTrial] | None = None,
    ) -> None:
        """Fail and re-queue RUNNING trials nobody is working on any more.

        ``trials``: those that may be RUNNING (at least); ``history``: the whole study (for
        the retry chains of the trials reaped), when ``trials`` is not all of it.

        That holds for every RUNNING trial, whoever created it: one a plain
        ``study.optimize`` left behind when it crashed, or a ``study.ask()`` in user code, has
        no hpo_widget heartbeat and is taken as abandoned ``grace`` after it started
        (otherwise it would hold the run one short of its total forever).
        """
        now = time.time()
        by_number = _ByNumber(history if history is not None else trials)
        for t in trials:
            if t.state != TrialState.RUNNING or t.datetime_start is None:
                continue
            who = t.system_attrs.get(_attrs.WORKER)
            reason = self.exit_reason(who, now) if isinstance(who, str) else None
            if reason is None:
                beat = float(t.system_attrs.get(_attrs.HEARTBEAT, 0))
                silent = now - max(t.datetime_start.timestamp(), beat)
                if silent <= self.grace:
                    continue
                if who is None:
                    reason = (
                        f"abandoned: RUNNING for {silent:.0f} s without a heartbeat and not "
                        "started by an hpo_widget worker (a crashed study.optimize or an "
                        "unfinished study.ask())"
                    )
                else:
                    reason = f"worker {who} lost: no heartbeat for {silent:.0f} s"
            if self.tickets.lost_and_requeued(t, reason, by_number, target):
                _log.warning("trial %d %s; re-queued", t.number, reason)

    def reap_unnamed(self, trials: Sequence[FrozenTrial], target: int | None) -> None:
        """After the backend's call died, fail the tickets its workers claimed but had not yet
        signed with their id (a worker killed between the claim and the next write): no PID
        or heartbeat will ever name them."""
        cause = self._backend_error() or "the backend's workers died"
        by_number = _ByNumber(trials)
        for t in trials:
            attrs = t.system_attrs
            unnamed = _attrs.TICKET in attrs and _attrs.WORKER not in attrs
            if t.state != TrialState.RUNNING or not unnamed:
                continue
            reason = f"worker exited right after claiming ({cause})"
            self.tickets.lost_and_requeued(t, reason, by_number, target)

    def exit_reason(self, worker: str, now: float) -> str | None:
        """Why ``worker`` (``host:pid:slot``) is known to be gone, or None if it may be alive."""
        pid = local_pid(worker)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            return None
        first = self._exited_since.setdefault(worker, now)
        if self._backend_alive() and now - first < EXIT_CONFIRM:
            return None
        cause = self._backend_error()
        return f"worker {worker} exited mid-trial" + (f" ({cause})" if cause else "")
