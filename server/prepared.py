"""Prepared statements for the hottest writes: a Core statement compiled once per dialect.

On the SQLite writer (the plain `sqlite3` driver) a prepared statement runs straight on
the DB-API cursor: its SQL string, its parameter order and its type conversions are worked
out once, where SQLAlchemy's execution path would rebuild an execution context for every
call (measured: ~45 µs of Python a statement, five times what SQLite spends running it).
Anywhere else (PostgreSQL, the aiosqlite sessions) it is plain `conn.execute`, so a unit
of work written with these runs unchanged on both backends.

Only what SQLAlchemy would add nothing to takes the short path: no Python-side column
defaults to compute, no expanding IN lists. Anything else falls back to `conn.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql import Executable

_REQUIRED = object()


@dataclass(frozen=True)
class _Plan:
    sql: str | None  # None: this statement with these keys takes the ordinary path
    binds: tuple[tuple[str, Any, Callable | None], ...]  # (name, default, processor)
    results: tuple[Callable | None, ...]


class Prepared:
    """A statement to run many times with different parameters: `run(conn, params)`."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[frozenset, _Plan] = {}

    def run(self, conn: Connection, params: dict[str, Any]) -> Rows | Any:
        if conn.dialect.driver != "pysqlite":
            return conn.execute(self.statement, params)
        keys = frozenset(params)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plans[keys] = self._plan(conn, keys)
        if plan.sql is None:
            return conn.execute(self.statement, params)
        values = []
        for name, default, process in plan.binds:
            value = params.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"a value is required for bind parameter {name!r}")
            values.append(process(value) if process is not None else value)
        if not conn.in_transaction():
            conn.begin()  # what conn.execute would do (autobegin): the caller commits
        cursor = conn.connection.driver_connection.execute(plan.sql, values)
        if cursor.description is None:
            return Rows((), ())
        return Rows(cursor.fetchall(), plan.results)

    def _plan(self, conn: Connection, keys: frozenset) -> _Plan:
        dialect = conn.dialect
        compiled = self.statement.compile(dialect=dialect, column_keys=sorted(keys))
        binds = [compiled.binds[name] for name in compiled.positiontup or ()]
        if (compiled.insert_prefetch or compiled.update_prefetch
                or any(b.expanding for b in binds)):
            return _Plan(None, (), ())
        return _Plan(
            sql=compiled.string,
            binds=tuple((name, _REQUIRED if bind.required else bind.effective_value,
                         bind.type._cached_bind_processor(dialect))
                        for name, bind in zip(compiled.positiontup or (), binds, strict=True)),
            results=tuple(column.type._cached_result_processor(dialect, None)
                          for column in _result_columns(self.statement)),
        )


def _result_columns(statement: Executable) -> Sequence:
    columns = getattr(statement, "exported_columns", None)
    return list(columns) if columns is not None else []


class Rows:
    """The rows of one run, converted to Python types: the part of Result the units use."""

    def __init__(self, raw: Sequence[tuple], processors: tuple[Callable | None, ...]) -> None:
        if any(processors) and raw and len(raw[0]) == len(processors):
            raw = [tuple(p(v) if p is not None else v for p, v in zip(processors, row,
                                                                     strict=True))
                   for row in raw]
        self._rows = raw

    def first(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def all(self) -> list[tuple]:
        return list(self._rows)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0][0]
