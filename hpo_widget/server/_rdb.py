"""A change token for an RDB storage: one small query instead of re-reading trials.

An idle sidebar polls every few seconds.  Optuna's cached RDB storage still re-reads every
unfinished trial on each access, and a run issues its whole budget as WAITING tickets up front
when workers share the driver's storage, so "nothing changed" would cost thousands of rows.
This query reads aggregates only: every write the views show either inserts a row (a study, a
trial, a param, a value, an intermediate value, a trial or study system attr; ids only grow),
deletes a study (its count drops), starts or finishes a trial (``datetime_start`` /
``datetime_complete`` get set), or rewrites the run record (read as is, one row per study).

The SQL names Optuna's tables and columns, which are not API, so it lives in the fence,
:mod:`hpo_widget._optuna_compat` (checked by ``tests/test_optuna_compat.py``);
``tests/test_server_api.py`` checks that the token changes on each of those writes.
"""

from __future__ import annotations

from typing import Any

from .. import _attrs
from .._optuna_compat import RDB_CHANGE_AGGREGATES, RDB_STUDY_ATTR_ROWS


def change_token(engine: Any) -> tuple[Any, ...]:
    """Aggregates that change whenever a study, trial or run record the views show changes.

    ``engine`` is the SQLAlchemy engine of an ``optuna.storages.RDBStorage`` (its public
    ``engine`` attribute).  One connection, two statements, no trial rows read.
    """
    from sqlalchemy import text

    with engine.connect() as conn:
        aggregates = tuple(conn.execute(text(RDB_CHANGE_AGGREGATES)).one())
        records = tuple(
            (int(row[0]), str(row[1]))
            for row in conn.execute(text(RDB_STUDY_ATTR_ROWS), {"key": _attrs.RUN})
        )
        conn.rollback()
    return (*aggregates, records)
