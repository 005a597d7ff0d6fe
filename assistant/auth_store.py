"""Where trainer logins keep their state: in the process (one instance) or in the shared database (store=server).

`MemoryFailures`/`DbFailures` hold `LoginGuard`'s failure counters, `MemorySessions`/`DbSessions` the open
`Session`s (auth.py); the tables are declared in shared.py.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, text

from .database import write_transaction
from .shared import failures_table, sessions_table

BUSY_SECONDS = 30.0  # longer than a password check may wait for a slot (auth.HASHING_WAIT_SECONDS)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0
    # Until when an attempt is being checked (a parallel one must not slip past the backoff); a time, not a flag,
    # so an instance killed mid-check cannot leave the name locked for ever.
    busy_until: float = 0.0


class MemoryFailures:
    """The failure counters of one process (the single-instance default)."""

    def __init__(self) -> None:
        self.records: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    @contextmanager
    def editing(self, keys: tuple[str, ...]) -> Iterator[dict[str, _Failures]]:
        with self._lock:
            yield self.records


class DbFailures:
    """The failure counters in the shared database, so a lockout holds on every instance (store=server).

    Each attempt reads and writes its two rows in one transaction; on PostgreSQL, advisory transaction locks on
    the keys serialise two instances checking the same name or client.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.records: dict[str, _Failures] = {}  # unused: the rows are the records

    @contextmanager
    def editing(self, keys: tuple[str, ...]) -> Iterator[dict[str, _Failures]]:
        table = failures_table
        with self.engine.connect() as conn, write_transaction(conn):
            if self.engine.dialect.name == "postgresql":
                for key in sorted(keys):
                    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
            if secrets.randbelow(100) == 0:  # now and then, forget counters untouched for a day (a flood of names)
                conn.execute(delete(table).where(table.c.last < time.time() - 86_400))
            rows = conn.execute(select(table).where(table.c.key.in_(keys))).all()
            records = {
                row.key: _Failures(row._mapping["count"], row.last, row.blocked_until, row.busy_until) for row in rows
            }
            yield records
            conn.execute(delete(table).where(table.c.key.in_(keys)))
            for key in keys:
                record = records.get(key)
                if record is not None:
                    conn.execute(
                        insert(table).values(
                            key=key,
                            count=record.count,
                            last=record.last,
                            blocked_until=record.blocked_until,
                            busy_until=record.busy_until,
                        )
                    )


@dataclass(frozen=True)
class Session:
    """A trainer's session, kept server-side; the browser's state holds only `token`."""

    token: str
    user: str
    expires_at: float  # on the `Sessions` clock


class MemorySessions:
    """The open sessions of one process (the single-instance default)."""

    def __init__(self) -> None:
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Session | None:
        with self._lock:
            return self._open.get(token)

    def add(self, session: Session, horizon: float) -> None:
        """Store `session`; forget those that expired before `horizon`."""
        with self._lock:
            self._open = {t: s for t, s in self._open.items() if s.expires_at > horizon}
            self._open[session.token] = session

    def pop(self, token: str) -> Session | None:
        with self._lock:
            return self._open.pop(token, None)


class DbSessions:
    """The open sessions in the shared database (store=server): a trainer who logged in on one instance writes
    through any other. Only a digest of each token is stored; expiry times are wall-clock seconds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> Session | None:
        table = sessions_table
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.token_hash == self._digest(token))).first()
        return Session(token, row.user, row.expires_at) if row else None

    def add(self, session: Session, horizon: float) -> None:
        table = sessions_table
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.expires_at <= horizon))
            conn.execute(
                insert(table).values(
                    token_hash=self._digest(session.token), user=session.user, expires_at=session.expires_at
                )
            )

    def pop(self, token: str) -> Session | None:
        found = self.get(token)
        if found is not None:
            with self.engine.begin() as conn:
                conn.execute(delete(sessions_table).where(sessions_table.c.token_hash == self._digest(token)))
        return found
