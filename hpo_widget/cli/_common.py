"""What every ``hpo-widget`` command shares: exit codes, errors, output that masks passwords,
formatting and opening a storage."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..storage import mask_password

PROG = "hpo-widget"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_RUN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class CliError(Exception):
    """Ends a command with ``message`` on stderr and exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _err(message: str) -> None:
    print(mask_password(message), file=sys.stderr, flush=True)


def _out(message: str = "") -> None:
    print(mask_password(message), file=sys.stdout, flush=True)


def _invalid_spec(path: str, problems: Sequence[str]) -> CliError:
    lines = [f"{PROG}: invalid spec {path}:"] + [f"  {p}" for p in problems]
    return CliError("\n".join(lines), EXIT_USAGE)


# -- formatting ------------------------------------------------------------------------------
def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _best_text(study: Any) -> str | None:
    """ "0.973 (trial 12)" or "pareto front: 3 trials"; None before the first complete trial."""
    try:
        if len(study.directions) > 1:
            front = study.best_trials
            return f"pareto front: {len(front)} trials" if front else None
        best = study.best_trial
        return f"{_num(best.value)} (trial {best.number})"
    except ValueError:
        return None


# -- storage helpers -------------------------------------------------------------------------
def _open(url: str | None) -> tuple[Any, Any | None, str]:
    """(ref, storage or None when an embedded/journal file does not exist yet, description)."""
    from ..storage import describe_storage, open_storage, resolve_storage

    try:
        ref = resolve_storage(url)
    except ValueError as exc:
        raise CliError(f"{PROG}: {exc}", EXIT_USAGE) from None
    description = describe_storage(ref)
    if ref.kind == "journal" and not os.path.exists(ref.location):
        return ref, None, description  # do not create an empty file just to list nothing
    try:
        return ref, open_storage(ref), description
    except RuntimeError as exc:
        raise CliError(f"{PROG}: {exc}", EXIT_FAILED) from None


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
