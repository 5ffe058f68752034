"""Storage values as JSON payload values: strict JSON, timestamps, finite floats, directions."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Sequence
from typing import Any

from optuna.study import StudyDirection

__all__ = ["direction_names", "dumps", "finite", "ts"]


def ts(value: datetime.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def dumps(payload: Any) -> str:
    """Strict JSON (browsers reject NaN): non-finite floats anywhere become ``null``."""
    try:
        return json.dumps(payload, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_sanitize(payload), allow_nan=False, separators=(",", ":"))


def _sanitize(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitize(v) for v in value]
    return value


def direction_names(directions: Sequence[StudyDirection]) -> list[Any]:
    return [d.name.lower() for d in directions]
