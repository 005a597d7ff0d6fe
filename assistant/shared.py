"""What several app instances share through the database, when the index lives on a Chroma server (`LC_STORE=server`).

The database is `LC_DATABASE_URL` (PostgreSQL in a deployment; the SQLite file in the data folder otherwise):
- the **index generation**: a version number every successful ingest increments, with the name of the local
  generation it wrote. An instance whose last seen version is older catches up: it writes the uploaded files it
  lacks, then rebuilds its catalogue and BM25 from the store (`catch_up`); `Services` polls it every
  `LC_SYNC_SECONDS`;
- the **uploaded files** and their metadata (name, kind, who, when, sha256), recorded in the same transaction
  that publishes the generation, so an instance never sees a generation whose documents it cannot describe;
- the **ingest lock**: one ingest at a time across instances (a PostgreSQL advisory lock held on its own
  connection, so a crashed ingest releases it; a file lock on SQLite). A crashed ingest publishes nothing: the
  previous generation stays current everywhere;
- the **audit log** of logins, logouts, lockouts, uploads and removals; login lockouts and trainer sessions
  (auth.py) use tables of this module too.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from . import generations
from .config import Settings
from .database import make_engine, write_transaction
from .errors import UserError
from .models import KIND_FOLDERS

log = logging.getLogger(__name__)

metadata = MetaData()
generation_table = Table(
    "lc_index_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("changed_at", Float, nullable=False),
    Column("changed_by", String(200), nullable=False),
)
uploads_table = Table(
    "lc_uploads",
    metadata,
    Column("doc_id", String(300), primary_key=True),
    Column("rel_path", String(500), nullable=False),  # under the uploads folder: <kind folder>/<file name>
    Column("kind", String(40), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("uploaded_by", String(200), nullable=False),
    Column("uploaded_at", Float, nullable=False),
)
audit_table = Table(
    "lc_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("instance", String(200), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("target", String(500), nullable=False),
    Column("detail", Text, nullable=False),
)
failures_table = Table(
    "lc_login_failures",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("last", Float, nullable=False),
    Column("blocked_until", Float, nullable=False),
    Column("busy_until", Float, nullable=False),
)
sessions_table = Table(
    "lc_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),
)

SEEN_FILE = "SHARED_VERSION"  # in the index folder: the shared version this instance's local files match
_PG_INGEST_LOCK = 5_502_018  # the advisory lock key of ingests (any constant shared by every instance)
_PROCESS_LOCK = threading.RLock()  # the ingest lock within one process (uploads worker, watcher, CLI)
_held = 0  # how deep this process holds the shared lock (re-entrant: an upload's ingest runs inside its job)
_OPEN: dict[tuple[str, str], SharedState] = {}
_OPEN_LOCK = threading.Lock()


class IngestBusy(UserError, TimeoutError):
    """Another instance kept the ingest lock longer than we could wait; the message is Italian."""


@dataclass(frozen=True)
class Upload:
    """An uploaded document as every instance knows it (the file's bytes are read separately)."""

    doc_id: str
    rel_path: str
    kind: str
    sha256: str
    size: int
    uploaded_by: str
    uploaded_at: float


def instance_name(settings: Settings) -> str:
    """This instance's name in the audit log and /health: LC_INSTANCE, else host and port."""
    return settings.instance or f"{socket.gethostname()}:{os.environ.get('GRADIO_SERVER_PORT', '7860')}"


class SharedState:
    """The shared tables of one database; one object per (database, instance) per process (`open`)."""

    def __init__(self, engine: Engine, instance: str) -> None:
        self.engine = engine
        self.instance = instance
        self.postgres = engine.dialect.name == "postgresql"
        self._lock_file = None if self.postgres else Path(str(engine.url.database or "lc")).with_suffix(".ingest.lock")

    @classmethod
    def open(cls, settings: Settings) -> SharedState:
        url = settings.sqlalchemy_url
        key = (url, instance_name(settings))
        with _OPEN_LOCK:
            found = _OPEN.get(key)
            if found is None:
                engine = make_engine(url)
                _create(engine)
                found = _OPEN[key] = cls(engine, key[1])
            return found

    @classmethod
    def forget(cls) -> None:
        """Close every opened database (tests that drop the tables)."""
        with _OPEN_LOCK:
            for state in _OPEN.values():
                state.engine.dispose()
            _OPEN.clear()

    # --- the index generation -----------------------------------------------------------------------

    def version(self) -> tuple[int, str]:
        """(version, generation name) last published; (0, "") before the first ingest."""
        with self.engine.connect() as conn:
            row = conn.execute(select(generation_table.c.version, generation_table.c.name)).first()
        return (int(row.version), str(row.name)) if row else (0, "")

    def publish(self, generation: str, uploads: dict[str, tuple[Path, str, str]], actor: str) -> int:
        """Record a new generation and, in the same transaction, the uploaded documents it indexes
        ({doc_id: (file, rel_path, kind)}; those no longer indexed are deleted); the new version."""
        now = time.time()
        with self.engine.connect() as conn, write_transaction(conn):
            known = {
                row.doc_id: row.sha256 for row in conn.execute(select(uploads_table.c.doc_id, uploads_table.c.sha256))
            }
            removed = sorted(set(known) - set(uploads))
            for doc_id in removed:
                conn.execute(delete(uploads_table).where(uploads_table.c.doc_id == doc_id))
            stored = []
            for doc_id, (path, rel_path, kind) in sorted(uploads.items()):
                content = path.read_bytes()
                digest = hashlib.sha256(content).hexdigest()
                if known.get(doc_id) == digest:
                    continue
                stored.append(doc_id)
                conn.execute(delete(uploads_table).where(uploads_table.c.doc_id == doc_id))
                conn.execute(
                    insert(uploads_table).values(
                        doc_id=doc_id,
                        rel_path=rel_path,
                        kind=kind,
                        sha256=digest,
                        size=len(content),
                        content=content,
                        uploaded_by=actor,
                        uploaded_at=now,
                    )
                )
            row = conn.execute(select(generation_table.c.version)).first()
            version = (int(row.version) if row else 0) + 1
            values = {"version": version, "name": generation, "changed_at": now, "changed_by": self.instance}
            if row:
                conn.execute(update(generation_table).values(**values))
            else:
                conn.execute(insert(generation_table).values(id=1, **values))
            detail = f"versione {version}; caricati: {', '.join(stored) or '-'}; rimossi: {', '.join(removed) or '-'}"
            conn.execute(
                insert(audit_table).values(
                    at=now, instance=self.instance, actor=actor[:200], action="indice", target=generation, detail=detail
                )
            )
        log.info("index generation %s published as version %d by %s", generation, version, self.instance)
        return version

    # --- uploaded files -----------------------------------------------------------------------------

    def uploads(self) -> list[Upload]:
        columns = [c for c in uploads_table.c if c.name != "content"]
        with self.engine.connect() as conn:
            return [Upload(**row._mapping) for row in conn.execute(select(*columns).order_by(uploads_table.c.doc_id))]

    def content(self, doc_id: str) -> bytes:
        with self.engine.connect() as conn:
            row = conn.execute(select(uploads_table.c.content).where(uploads_table.c.doc_id == doc_id)).first()
        return bytes(row.content) if row else b""

    # --- the ingest lock ----------------------------------------------------------------------------

    @contextmanager
    def ingest_lock(self, wait: float) -> Iterator[None]:
        """Held by one ingest at a time across every instance; re-entrant within a process. IngestBusy after
        `wait` seconds."""
        global _held
        deadline = time.monotonic() + wait
        if not _PROCESS_LOCK.acquire(timeout=max(wait, 0.01)):
            raise IngestBusy(_busy_text(wait))
        try:
            if _held:
                _held += 1
                try:
                    yield
                finally:
                    _held -= 1
                return
            with self._database_lock(deadline, wait):
                _held = 1
                try:
                    yield
                finally:
                    _held = 0
        finally:
            _PROCESS_LOCK.release()

    @contextmanager
    def _database_lock(self, deadline: float, wait: float) -> Iterator[None]:
        if not self.postgres:
            assert self._lock_file is not None
            self._lock_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self._lock_file, "a") as handle:
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise IngestBusy(_busy_text(wait)) from None
                        time.sleep(0.2)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            return
        # Its own connection in autocommit: the lock lives as long as the session, so a killed ingest frees it.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_PG_INGEST_LOCK})").scalar():
                if time.monotonic() >= deadline:
                    raise IngestBusy(_busy_text(wait))
                time.sleep(0.2)
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_INGEST_LOCK})")

    # --- audit --------------------------------------------------------------------------------------

    def record(self, actor: str, action: str, target: str = "", detail: str = "") -> None:
        """One audit line; a database failure is logged, never raised (the action itself already happened)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(audit_table).values(
                        at=time.time(),
                        instance=self.instance,
                        actor=actor[:200],
                        action=action[:60],
                        target=target[:500],
                        detail=detail[:2000],
                    )
                )
        except Exception as exc:  # the audit must never take an action down with it
            log.error("audit line not written (%s %s %s): %s", actor, action, target, exc)

    def audit(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest audit lines first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_table).order_by(audit_table.c.id.desc()).limit(limit))
            return [dict(row._mapping) for row in rows]


def _busy_text(wait: float) -> str:
    return (
        f"Un'altra istanza sta aggiornando l'indice da oltre {wait:.0f} secondi: riprova tra qualche minuto "
        "(nessun documento è stato modificato)."
    )


def _create(engine: Engine) -> None:
    """Create the shared tables; two instances starting at once may race on it: the loser retries once."""
    try:
        metadata.create_all(engine)
    except (IntegrityError, ProgrammingError, OperationalError):
        time.sleep(0.5)
        metadata.create_all(engine)


# --- this instance's side ---------------------------------------------------------------------------------


def seen_version(settings: Settings) -> int:
    """The shared version this instance's local files match; -1 when unknown (a new data folder)."""
    path = settings.index_dir / SEEN_FILE
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return -1


def _write_seen(settings: Settings, version: int) -> None:
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    tmp = settings.index_dir / f".{SEEN_FILE}.{os.getpid()}.tmp"
    tmp.write_text(f"{version}\n", encoding="utf-8")
    os.replace(tmp, settings.index_dir / SEEN_FILE)


def materialise(settings: Settings, shared: SharedState) -> int:
    """Write the uploaded files this instance lacks (or holds in another version), delete those no instance
    indexes any more; how many files changed."""
    root = settings.uploads_dir
    wanted = {Path(u.rel_path): u for u in shared.uploads()}
    changed = 0
    for rel, upload in wanted.items():
        path = root / rel
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == upload.sha256:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
        tmp.write_bytes(shared.content(upload.doc_id))
        os.replace(tmp, path)
        changed += 1
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not any(p.startswith(".") for p in rel.parts) and rel not in wanted:
                path.unlink()
                log.info("uploaded file %s deleted here: removed on another instance", rel)
                changed += 1
    return changed


def catch_up(settings: Settings, shared: SharedState) -> bool:
    """Under the ingest lock: bring this instance's local files to the shared generation (uploaded files, then the
    catalogue and BM25 rebuilt from the store). True when they changed."""
    from .index import rebuild_local_index
    from .store import IndexMissingError, open_store

    version, name = shared.version()
    seen = seen_version(settings)
    if version == seen:
        return False
    started = time.perf_counter()
    if version > 0:  # before the first publish the database knows no upload: local files are left alone
        files = materialise(settings, shared)
        try:
            rebuilt = rebuild_local_index(settings, open_store(settings), known_only=True)
        except IndexMissingError:
            log.warning("shared generation %d (%s) names an empty store: nothing to catch up with", version, name)
        else:
            log.info(
                "caught up with shared generation %d (%s): %d uploaded files written, %d passages, %.1f s",
                version,
                name,
                files,
                len(rebuilt.catalog.chunks),
                time.perf_counter() - started,
            )
    _write_seen(settings, version)
    return True


@contextmanager
def ingest_job(settings: Settings, actor: str = "") -> Iterator[SharedState | None]:
    """Around anything that changes the index. With the store on a server: the shared lock, this instance brought
    up to date first, and on success the new generation published with the uploads it indexes. Embedded: nothing
    (the data folder's own lock in ingest.py is enough). Re-entrant."""
    if settings.store != "server":
        yield None
        return
    shared = SharedState.open(settings)
    with shared.ingest_lock(settings.ingest_lock_wait_seconds):
        outermost = _held == 1
        if outermost:
            catch_up(settings, shared)
        before = generations.current(settings.index_dir)
        yield shared
        after = generations.current(settings.index_dir)
        if outermost and after != before and after != settings.index_dir:
            version = shared.publish(after.name, indexed_uploads(settings), actor or shared.instance)
            _write_seen(settings, version)


def indexed_uploads(settings: Settings) -> dict[str, tuple[Path, str, str]]:
    """The documents from outside the corpus the current generation indexes: {doc_id: (file, rel_path, kind)}."""
    from .catalog import Catalog
    from .index import document_file, from_corpus

    catalog = Catalog.load(generations.current(settings.index_dir))
    if catalog is None:
        return {}
    uploads = settings.uploads_dir.resolve()
    found: dict[str, tuple[Path, str, str]] = {}
    for doc_id, info in catalog.documents.items():
        full = document_file(settings, info)
        if from_corpus(settings, info) or not full.is_file():
            continue
        resolved = full.resolve()
        rel = resolved.relative_to(uploads).as_posix() if resolved.is_relative_to(uploads) else None
        found[doc_id] = (full, rel or f"{KIND_FOLDERS.get(info.kind, 'formazione')}/{full.name}", info.kind)
    return found
