"""Curated answers in a versioned SQL store (SQLite file or PostgreSQL): schema, migrations, reads and writes.

Every write is one transaction that bumps the answer's revision with a compare-and-set on the revision it was
based on (optimistic concurrency) and appends the full snapshot to `curated_revisions`, so nothing a trainer
saved is ever overwritten silently and every earlier version stays readable and restorable.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError, OperationalError

from ..catalog import Catalog
from ..text import fold, italian_datetime
from .db import make_engine, write_transaction
from .record import (
    CONTENT_FIELDS,
    FIELD_LABELS,
    ConflictError,
    CuratedAnswer,
    CuratedError,
    NotFoundError,
    Revision,
    cited_hashes,
    new_id,
    normalise,
    now,
    parse_time,
    validate,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
COMPONENT = "curated"
_PG_MIGRATION_LOCK = 5_502_017  # any constant: serialises concurrent migrations of several app instances

# --- schema and migrations -------------------------------------------------------------------------

metadata = MetaData()
schema_version = Table(
    "schema_version",
    metadata,
    Column("component", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
)
answers_table = Table(
    "curated_answers",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("question", Text, nullable=False),
    Column("phrasings", JSON, nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", JSON, nullable=False),
    Column("glossary_terms", JSON, nullable=False),
    Column("audience", String(20), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("author", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(120), nullable=False),
    Column("approved_by", String(120)),
    Column("approved_at", DateTime(timezone=True)),
    Column("revision", Integer, nullable=False),
    Column("cited_hashes", JSON, nullable=False),
)
revisions_table = Table(
    "curated_revisions",
    metadata,
    Column("answer_id", String(80), ForeignKey("curated_answers.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("snapshot", JSON, nullable=False),
    Column("saved_by", String(120), nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
    Column("change", Text, nullable=False),
)


def _v1(conn: Connection) -> None:
    for table in (answers_table, revisions_table):
        table.create(conn, checkfirst=True)


MIGRATIONS = ((1, _v1),)  # (version reached, step); every step must be idempotent


def migrate(engine: Engine) -> int:
    """Bring the schema to SCHEMA_VERSION in one transaction; running it again changes nothing."""
    with engine.connect() as conn, write_transaction(conn):
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        schema_version.create(conn, checkfirst=True)
        current = conn.execute(select(schema_version.c.version).where(schema_version.c.component == COMPONENT)).scalar()
        if current is None:
            conn.execute(insert(schema_version).values(component=COMPONENT, version=0))
            current = 0
        if current > SCHEMA_VERSION:
            raise CuratedError(
                f"Il database delle risposte curate ha lo schema versione {current}, più recente di "
                f"quello di questo programma ({SCHEMA_VERSION}): aggiorna Lingua Comune."
            )
        for version, step in MIGRATIONS:
            if version > current:
                step(conn)
                log.info("curated schema migrated to version %d", version)
        conn.execute(
            update(schema_version).where(schema_version.c.component == COMPONENT).values(version=SCHEMA_VERSION)
        )
    return SCHEMA_VERSION


def _row_answer(row: Row[Any]) -> CuratedAnswer:
    data = dict(row._mapping)
    data["cited_hashes"] = data.get("cited_hashes") or {}
    return CuratedAnswer.from_dict(data)


class CuratedStore:
    """Curated answers and their revisions in one SQL database; citations checked against `catalog` if given."""

    def __init__(
        self, engine: Engine, catalog: Catalog | None = None, glossary_ids: Collection[str] | None = None
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.glossary_ids = glossary_ids

    @classmethod
    def open(
        cls, url: str, catalog: Catalog | None = None, glossary_ids: Collection[str] | None = None
    ) -> CuratedStore:
        """Connect (`Settings.sqlalchemy_url`), create or migrate the schema.

        An unreachable database is a CuratedError with the Italian reason. To serve answers in the chat, plug in
        `curated_match.CuratedMatcher` (the CuratedSource), not the store.
        """
        engine = make_engine(url)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            where = make_url(url).render_as_string(hide_password=True)
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise CuratedError(
                f"Impossibile aprire il database delle risposte curate {where}: {detail}. "
                "Controlla LC_DATABASE_URL (o la cartella dei dati)."
            ) from None
        except CuratedError:
            engine.dispose()
            raise
        return cls(engine, catalog, glossary_ids)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, write_transaction(conn):
            yield conn

    # --- reading ------------------------------------------------------------------------------------

    def get(self, answer_id: str) -> CuratedAnswer | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(answers_table).where(answers_table.c.id == answer_id)).first()
        return _row_answer(row) if row else None

    def require(self, answer_id: str) -> CuratedAnswer:
        found = self.get(answer_id)
        if found is None:
            raise NotFoundError(f"Nessuna risposta curata con id {answer_id!r} (elencale con: assistant curated list).")
        return found

    def find(
        self, status: str | None = None, tag: str | None = None, audience: str | None = None, query: str | None = None
    ) -> list[CuratedAnswer]:
        """Answers by question; audience "operatore" or "funzionario" includes those for both."""
        stmt = select(answers_table).order_by(answers_table.c.question, answers_table.c.id)
        if status:
            stmt = stmt.where(answers_table.c.status == status)
        with self.engine.connect() as conn:
            found = [_row_answer(r) for r in conn.execute(stmt)]
        if tag:
            wanted = fold(tag)
            found = [a for a in found if any(fold(t) == wanted for t in a.tags)]
        if audience:
            found = [a for a in found if (a.serves(audience) if audience != "entrambi" else a.audience == audience)]
        if query:
            needle = fold(query)
            found = [a for a in found if needle in fold(" ".join((a.id, a.question, *a.phrasings, a.answer)))]
        return found

    def fingerprint(self) -> tuple[int, int]:
        """Changes whenever any answer is saved (revisions only grow): cheap cache invalidation."""
        with self.engine.connect() as conn:
            count, total = conn.execute(
                select(func.count(), func.coalesce(func.sum(answers_table.c.revision), 0)).select_from(answers_table)
            ).one()
        return int(count), int(total)

    def revisions(self, answer_id: str) -> list[Revision]:
        """The full history, oldest first."""
        stmt = (
            select(revisions_table).where(revisions_table.c.answer_id == answer_id).order_by(revisions_table.c.number)
        )
        with self.engine.connect() as conn:
            return [self._revision(r) for r in conn.execute(stmt)]

    def revision(self, answer_id: str, number: int) -> Revision:
        stmt = select(revisions_table).where(
            revisions_table.c.answer_id == answer_id, revisions_table.c.number == number
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            self.require(answer_id)
            raise NotFoundError(f"La risposta curata {answer_id!r} non ha una revisione {number}.")
        return self._revision(row)

    @staticmethod
    def _revision(row: Row[Any]) -> Revision:
        return Revision(
            row.answer_id,
            row.number,
            CuratedAnswer.from_dict(row.snapshot),
            row.saved_by,
            parse_time(row.saved_at) or now(),
            row.change,
        )

    # --- writing ------------------------------------------------------------------------------------

    def new_id(self, question: str) -> str:
        base = new_id(question)
        candidate, n = base, 2
        while self.get(candidate) is not None:
            candidate, n = f"{base[:56]}-{n}", n + 1
        return candidate

    def create(self, answer: CuratedAnswer, user: str) -> CuratedAnswer:
        """Save a new answer as revision 1 (a draft unless its status says otherwise); id from the question."""
        if not answer.id:
            answer = replace(answer, id=self.new_id(answer.question))
        return self.save(replace(answer, author=answer.author or user), user, None, "creata")

    def update(self, answer: CuratedAnswer, user: str, base_revision: int) -> CuratedAnswer:
        """Save edited content; an approved answer whose content changes goes back to draft for re-approval."""
        current = self.require(answer.id)
        edited = replace(current, **{name: getattr(answer, name) for name in CONTENT_FIELDS if name != "status"})
        edited = normalise(edited)
        changed = edited.changed_fields(current)
        if not changed and current.revision == base_revision:
            return current  # nothing to record: no empty revision
        note = "modificati: " + ", ".join(FIELD_LABELS[f] for f in changed) if changed else "salvata senza modifiche"
        if changed and current.status == "approvata":
            edited = replace(edited, status="bozza", approved_by=None, approved_at=None, cited_hashes=())
            note += "; torna in bozza e va riapprovata"
        return self.save(edited, user, base_revision, note)

    def content_author(self, answer_id: str, up_to: int | None = None) -> str:
        """Who saved the latest change of the answer's content (any field but the status), up to revision `up_to`."""
        author, previous = "", None
        for rev in self.revisions(answer_id):
            if up_to is not None and rev.number > up_to:
                break
            content = tuple(getattr(rev.snapshot, name) for name in CONTENT_FIELDS if name != "status")
            if content != previous:
                author, previous = rev.saved_by, content
        return author

    def approve(
        self, answer_id: str, user: str, base_revision: int, *, forbid_self_approval: bool = True
    ) -> CuratedAnswer:
        """Approve: the answer is served from now on; the cited text is fingerprinted for `curated check`.

        With `forbid_self_approval` (LC_FORBID_SELF_APPROVAL, on by default) whoever saved the latest content
        revision cannot approve it: every approved text has been read by a second trainer. The editors' import
        (`prontuario`) does not approve through here.
        """
        current = self.require(answer_id)
        if current.revision != base_revision:
            with self.engine.connect() as conn:
                raise self._conflict(conn, answer_id, base_revision)
        if forbid_self_approval:
            author = self.content_author(answer_id, current.revision)
            if author.casefold() == user.casefold():
                log.info("self-approval refused: %s on curated answer %s", user, answer_id)
                raise CuratedError(
                    f"Non puoi approvare la risposta curata {answer_id!r}: l'ultima modifica del contenuto è tua "
                    f"({author}). Deve approvarla un altro formatore (regola LC_FORBID_SELF_APPROVAL)."
                )
        approved = replace(current, status="approvata", approved_by=user, approved_at=now(), cited_hashes=())
        return self.save(approved, user, base_revision, "approvata")

    def archive(self, answer_id: str, user: str, base_revision: int) -> CuratedAnswer:
        current = self.require(answer_id)
        return self.save(replace(current, status="archiviata"), user, base_revision, "archiviata")

    def restore(self, answer_id: str, number: int, user: str, base_revision: int) -> CuratedAnswer:
        """Bring back revision `number` as it was (content, status, approval) as a new revision."""
        old = self.revision(answer_id, number).snapshot
        kept = ("id", "author", "created_at", "updated_at", "updated_by", "revision")
        current = self.require(answer_id)
        restored = replace(old, **{name: getattr(current, name) for name in kept})
        return self.save(restored, user, base_revision, f"ripristinata la revisione {number}")

    def save(self, answer: CuratedAnswer, user: str, base_revision: int | None, change: str) -> CuratedAnswer:
        """Validate and write `answer` as the next revision after `base_revision` (None: a new answer).

        Raises ConflictError when the stored revision is not `base_revision`: someone saved in between.
        """
        answer = normalise(answer)
        problems = validate(answer, self.catalog, self.glossary_ids)
        if problems:
            raise CuratedError(" ".join(problems))
        moment = now()
        if answer.status == "approvata" and not answer.cited_hashes:
            answer = replace(answer, cited_hashes=cited_hashes(answer, self.catalog))
        if answer.status != "approvata":
            answer = replace(answer, approved_by=None, approved_at=None, cited_hashes=())
        number = (base_revision or 0) + 1
        created = moment if base_revision is None else (answer.created_at or moment)
        answer = replace(answer, revision=number, updated_at=moment, updated_by=user, created_at=created)
        row = answer.to_dict()
        for key in ("created_at", "updated_at", "approved_at"):
            row[key] = getattr(answer, key)
        with self._writing() as conn:
            if base_revision is None:
                try:
                    conn.execute(insert(answers_table).values(**row))
                except IntegrityError:
                    raise CuratedError(
                        f"Esiste già una risposta curata con id {answer.id!r}: scegli un altro "
                        "identificativo oppure modifica quella esistente."
                    ) from None
            else:
                done = conn.execute(
                    update(answers_table)
                    .where(answers_table.c.id == answer.id, answers_table.c.revision == base_revision)
                    .values(**row)
                )
                if done.rowcount != 1:
                    raise self._conflict(conn, answer.id, base_revision)
            conn.execute(
                insert(revisions_table).values(
                    answer_id=answer.id,
                    number=number,
                    snapshot=answer.to_dict(),
                    saved_by=user,
                    saved_at=moment,
                    change=change,
                )
            )
        log.info("curated answer %s saved as revision %d by %s (%s)", answer.id, number, user, change)
        return answer

    def _conflict(self, conn: Connection, answer_id: str, base_revision: int) -> CuratedError:
        row = conn.execute(select(answers_table).where(answers_table.c.id == answer_id)).first()
        if row is None:
            return NotFoundError(f"Nessuna risposta curata con id {answer_id!r}: non posso salvarne una modifica.")
        current = _row_answer(row)
        return ConflictError(
            f"Conflitto: la risposta curata {answer_id!r} è stata salvata da {current.updated_by} il "
            f"{italian_datetime(current.updated_at)} (revisione {current.revision}), dopo la revisione "
            f"{base_revision} da cui parte la tua modifica. Le tue modifiche non sono state salvate: ricarica la "
            "risposta, riapplicale e salva di nuovo.",
            current,
            base_revision,
        )
