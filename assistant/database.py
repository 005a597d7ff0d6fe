"""The one database engine factory (SQLite file or PostgreSQL): curated answers, feedback and the state that
several app instances share (assistant/shared.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection


@contextmanager
def write_transaction(conn: Connection) -> Iterator[None]:
    """A transaction that will write: on SQLite it takes the write lock at BEGIN (see make_engine)."""
    conn.execution_options(lc_write=True)
    with conn.begin():
        yield


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, foreign keys, real BEGIN) or PostgreSQL (psycopg 3)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling starts transactions late; we emit BEGIN ourselves (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front, so a read-then-write never fails halfway with SQLITE_BUSY.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("lc_write") else "BEGIN")

    return engine
