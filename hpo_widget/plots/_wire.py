"""Figures as a live view sends them: compact arrays and cheap equality for patching.

Kept out of the widget module because nothing here needs a widget: any view that patches an
existing Plotly figure with a rebuilt one (the panel's ``FigureWidget``, a dashboard) wants
the traces as plain dicts whose integer arrays travel as binary typed arrays, and a test of
whether a layout entry changed at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

__all__ = ["compact", "trace_dicts", "values_equal"]

_INT32 = np.iinfo(np.int32)


def compact(value: Any) -> Any:
    """int64 arrays as int32 (or float) so plotly sends them as binary typed arrays, not as
    JSON lists (its serializer only packs 1-D non-int64 numeric arrays)."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.dtype.itemsize == 8:
        if value.ndim == 1 and (
            value.size == 0 or (value.min() >= _INT32.min and value.max() <= _INT32.max)
        ):
            return value.astype(np.int32)
        return value.astype(np.float64)
    return value


def trace_dicts(fig: go.Figure) -> list[dict[str, Any]]:
    """``fig``'s traces as plain dicts, arrays compacted (see :func:`compact`)."""
    return [compact(t.to_plotly_json()) for t in fig.data]


def values_equal(a: Any, b: Any) -> bool:
    """Plotly's own equality for property values (arrays included); unequal when it fails."""
    try:
        return bool(go.Figure._vals_equal(a, b))
    except Exception:
        return False
