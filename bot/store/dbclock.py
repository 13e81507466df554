"""The database server's clock, as a SQL expression: seconds since the epoch, as a float.

Leases, claims and pacing compare times written by different processes, possibly on
different hosts whose clocks disagree. Every such time is therefore read from and compared on
the one clock they all share: the database's. ``db_now()`` renders as the dialect's own
expression, so ``expires_at = db_now() + 30`` and ``expires_at <= db_now()`` are evaluated by
the server, never by Python.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class db_now(FunctionElement[float]):
    type = Float()
    inherit_cache = True
    name = "db_now"


@compiles(db_now, "postgresql")
def _postgresql(_element: db_now, _compiler: Any, **_kw: Any) -> str:
    # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(db_now, "sqlite")
def _sqlite(_element: db_now, _compiler: Any, **_kw: Any) -> str:
    # julianday('now') has millisecond resolution; unixepoch('subsec') needs SQLite 3.42.
    return "((julianday('now') - 2440587.5) * 86400.0)"
