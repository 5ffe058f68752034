"""Checks every run option shares, so each rule reads the same wherever it is broken (the
API, a YAML spec, the panel, the CLI).  ``add(path, message)`` collects a problem."""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Iterable
from typing import Any

__all__ = ["is_integer", "normalize_direction", "normalize_name"]

_DIRECTION_ALIASES = {"min": "minimize", "max": "maximize"}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: Any, options: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word.lower(), list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown_name(value: Any, valid: Iterable[str], obj: str) -> str:
    names = list(valid)
    return f"unknown {_show(value)}; choose one of {', '.join(names)} or {obj}{_did_you_mean(value, names)}"


def is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _integer(
    add: Any,
    path: str,
    value: Any,
    *,
    minimum: int | None = None,
    hint: str = "",
    required: bool = False,
) -> None:
    if value is None and not required:
        return
    if not is_integer(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        empty = "" if required else " or empty"
        add(path, f"must be a whole number{bound}{empty}, got {_show(value)}{hint}")


def _number(
    add: Any,
    path: str,
    value: Any,
    *,
    positive: bool = False,
    unit: str = "",
    required: bool = False,
) -> None:
    if value is None and not required:
        return
    bad = (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
    )
    if bad or (positive and value <= 0):
        what = "a positive number" if positive else "a finite number"
        empty = "" if required else " or empty"
        add(path, f"must be {what}{unit}{empty}, got {_show(value)}")


def normalize_name(name: str) -> str:
    """``Successive-Halving`` -> ``successive_halving``; ``null``/``nop``/``no`` -> ``none``."""
    key = name.strip().lower().replace("-", "_")
    return "none" if key in ("nop", "no", "null") else key


def normalize_direction(value: Any) -> Any:
    if isinstance(value, str):
        key = value.strip().lower()
        return _DIRECTION_ALIASES.get(key, key)
    return value


def _java_home() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(home) and os.path.exists(os.path.join(home or "", "bin", "java"))
