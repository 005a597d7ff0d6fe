"""Curated answers: the record, its validation, and a versioned SQLAlchemy store (SQLite file or PostgreSQL).

Every write is one transaction that bumps the answer's revision with a compare-and-set on the revision it was
based on (optimistic concurrency) and appends the full snapshot to `curated_revisions`, so nothing a trainer
saved is ever overwritten silently and every earlier version stays readable and restorable.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (JSON, Column, DateTime, Engine, ForeignKey, Integer, MetaData, String, Table, Text,
                        create_engine, event, func, insert, make_url, select, text, update)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError, OperationalError

from .catalog import Catalog
from .references import Ref
from .text import fold

log = logging.getLogger(__name__)

AUDIENCES = ("funzionario", "operatore", "entrambi")
STATUSES = ("bozza", "approvata", "archiviata")
# The Milan co-design threads, offered as tags; any other tag is accepted too.
MILAN_THREADS = ("accoglienza", "marginalità", "povertà educativa", "lavoro", "abitare", "famiglie",
                 "contrasto alle discriminazioni")
CONTENT_FIELDS = ("question", "phrasings", "answer", "citations", "glossary_terms", "audience", "tags", "status")
FIELD_LABELS = {"question": "domanda", "phrasings": "formulazioni alternative", "answer": "testo della risposta",
                "citations": "citazioni", "glossary_terms": "termini del glossario", "audience": "pubblico",
                "tags": "temi", "status": "stato"}
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,78}[a-z0-9]")
MAX_QUESTION_CHARS = 1000
SCHEMA_VERSION = 1
COMPONENT = "curated"
_PG_MIGRATION_LOCK = 5_502_017  # any constant: serialises concurrent migrations of several app instances


class CuratedError(ValueError):
    """A curated-answer operation that cannot be done; the message is Italian and says what to do."""


class NotFoundError(CuratedError):
    """No curated answer (or revision) with that id."""


class ConflictError(CuratedError):
    """The answer was saved by someone else after the revision this change was based on."""

    def __init__(self, message: str, current: CuratedAnswer, base_revision: int) -> None:
        super().__init__(message)
        self.current = current
        self.base_revision = base_revision


@dataclass(frozen=True)
class CuratedAnswer:
    """One trainer-written answer; `revision` is the number of its latest saved revision (0 before saving)."""

    id: str
    question: str
    answer: str
    phrasings: tuple[str, ...] = ()
    citations: tuple[Ref, ...] = ()
    glossary_terms: tuple[str, ...] = ()
    audience: str = "entrambi"
    tags: tuple[str, ...] = ()
    status: str = "bozza"
    author: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    updated_by: str = ""
    approved_by: str | None = None
    approved_at: datetime | None = None
    revision: int = 0
    cited_hashes: tuple[tuple[str, str], ...] = ()  # (Ref.key, sha256 of the cited text) at approval

    def content(self) -> tuple[Any, ...]:
        """What a trainer edits: equal content means an import or a save changes nothing."""
        return tuple(getattr(self, name) for name in CONTENT_FIELDS)

    def changed_fields(self, other: CuratedAnswer) -> list[str]:
        return [name for name in CONTENT_FIELDS if getattr(self, name) != getattr(other, name)]

    def serves(self, audience: str) -> bool:
        return self.audience in (audience, "entrambi")

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of snapshots and exports."""
        return {
            "id": self.id, "question": self.question, "phrasings": list(self.phrasings), "answer": self.answer,
            "citations": [ref_dict(r) for r in self.citations], "glossary_terms": list(self.glossary_terms),
            "audience": self.audience, "tags": list(self.tags), "status": self.status, "author": self.author,
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at), "updated_by": self.updated_by,
            "approved_by": self.approved_by, "approved_at": _iso(self.approved_at), "revision": self.revision,
            "cited_hashes": dict(self.cited_hashes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CuratedAnswer:
        """Inverse of to_dict (trusted input: snapshots written by this module)."""
        return cls(
            id=data["id"], question=data["question"], answer=data["answer"],
            phrasings=tuple(data.get("phrasings") or ()),
            citations=tuple(Ref.from_mapping(c) for c in data.get("citations") or ()),
            glossary_terms=tuple(data.get("glossary_terms") or ()), audience=data.get("audience", "entrambi"),
            tags=tuple(data.get("tags") or ()), status=data.get("status", "bozza"), author=data.get("author") or "",
            created_at=parse_time(data.get("created_at")), updated_at=parse_time(data.get("updated_at")),
            updated_by=data.get("updated_by") or "", approved_by=data.get("approved_by"),
            approved_at=parse_time(data.get("approved_at")), revision=int(data.get("revision") or 0),
            cited_hashes=tuple(sorted((data.get("cited_hashes") or {}).items())),
        )


@dataclass(frozen=True)
class Revision:
    """One saved version: the full snapshot, who saved it, when, and what changed."""

    answer_id: str
    number: int
    snapshot: CuratedAnswer
    saved_by: str
    saved_at: datetime
    change: str


def ref_dict(ref: Ref) -> dict[str, str | None]:
    return {"doc_id": ref.doc_id, "article": ref.article, "comma": ref.comma, "section": ref.section}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO string or a datetime (SQLite hands back naive UTC values)."""
    if value in (None, ""):
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _local(moment: datetime) -> datetime:
    try:
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo("Europe/Rome"))
    except Exception:  # no tz database on this machine: UTC is still a correct, if less friendly, time
        return moment


def italian_date(moment: datetime | None) -> str:
    """"3-11-2026", in Italian time."""
    if moment is None:
        return "data non indicata"
    local = _local(moment)
    return f"{local.day}-{local.month}-{local.year}"


def italian_datetime(moment: datetime | None) -> str:
    """"3-11-2026 alle 14:05", in Italian time."""
    if moment is None:
        return "data non indicata"
    return f"{italian_date(moment)} alle {_local(moment):%H:%M}"


def now() -> datetime:
    return datetime.now(UTC)


def slugify(value: str, limit: int = 60) -> str:
    """A stable id from a question, cut at a word: "Una ODV può avere compensi?" -> "una-odv-puo-avere-compensi"."""
    slug = re.sub(r"[^a-z0-9]+", "-", fold(value)).strip("-")
    if len(slug) > limit:
        cut = slug[: limit + 1].rsplit("-", 1)[0]
        slug = cut if limit // 2 <= len(cut) <= limit else slug[:limit]
    slug = slug.strip("-")
    return slug if len(slug) >= 3 else f"risposta-{slug}".strip("-")


def _unique(values: Collection[str], drop: Collection[str] = ()) -> tuple[str, ...]:
    seen = {fold(d) for d in drop}
    out = []
    for value in values:
        key = fold(value)
        if value and key not in seen:
            seen.add(key)
            out.append(value)
    return tuple(out)


def normalise(answer: CuratedAnswer) -> CuratedAnswer:
    """Trim texts, drop empty and duplicate phrasings, tags and terms; tags in lower case."""
    question = " ".join(answer.question.split())
    phrasings = _unique([" ".join(p.split()) for p in answer.phrasings], drop=[question])
    tags = _unique([" ".join(t.split()).lower() for t in answer.tags])
    terms = _unique([t.strip() for t in answer.glossary_terms])
    citations = tuple(dict.fromkeys(answer.citations))
    return replace(answer, id=answer.id.strip(), question=question, answer=answer.answer.strip(),
                   phrasings=phrasings, tags=tags, glossary_terms=terms, citations=citations)


def validate(answer: CuratedAnswer, catalog: Catalog | None = None,
             glossary_ids: Collection[str] | None = None) -> list[str]:
    """Every problem of a (normalised) answer, in Italian; citations are resolved when a catalogue is given."""
    problems = []
    if not ID_PATTERN.fullmatch(answer.id):
        problems.append(f"L'identificativo {answer.id!r} non è valido: usa da 3 a 80 caratteri tra lettere "
                        "minuscole, cifre e trattini (es. compensi-odv-convenzioni).")
    if not answer.question:
        problems.append("La domanda è vuota.")
    elif len(answer.question) > MAX_QUESTION_CHARS:
        problems.append(f"La domanda supera i {MAX_QUESTION_CHARS} caratteri.")
    if not answer.answer:
        problems.append("Il testo della risposta è vuoto.")
    if answer.audience not in AUDIENCES:
        problems.append(f"Pubblico non valido: {answer.audience!r} (usa funzionario, operatore oppure entrambi).")
    if answer.status not in STATUSES:
        problems.append(f"Stato non valido: {answer.status!r} (usa bozza, approvata oppure archiviata).")
    for tag in answer.tags:
        if not 2 <= len(tag) <= 60:
            problems.append(f"Tema non valido: {tag!r} (da 2 a 60 caratteri).")
    if not answer.author.strip():
        problems.append("Manca l'autore della risposta.")
    if glossary_ids is not None:
        problems += [f"Il termine {t!r} non è nel glossario (elenca le voci con: assistant glossary)."
                     for t in answer.glossary_terms if t not in glossary_ids]
    if answer.status == "approvata" and not answer.citations:
        problems.append("Una risposta approvata deve citare almeno una fonte (documento, articolo, comma).")
    if catalog is not None:
        problems += [citation_problem(ref, catalog) for ref in answer.citations if not resolve(ref, catalog)]
    return problems


def resolve(ref: Ref, catalog: Catalog) -> list[Any]:
    """The chunks a citation points to (the "aggiornamento" notes of an amended article are not the text)."""
    chunks = catalog.resolve(ref.doc_id, ref.article, ref.comma, ref.section)
    return [c for c in chunks if c.section != "aggiornamento"] or chunks


def citation_problem(ref: Ref, catalog: Catalog) -> str:
    if ref.doc_id not in catalog.documents:
        return f"La citazione {ref.describe()} rimanda a un documento che non è nel corpus indicizzato."
    return (f"La citazione {ref.describe()} non corrisponde a nessun passaggio indicizzato: controlla articolo, "
            "comma o sezione.")


def text_hash(ref: Ref, catalog: Catalog) -> str | None:
    """sha256 of the cited text as indexed now; None when the citation no longer resolves."""
    chunks = resolve(ref, catalog)
    if not chunks:
        return None
    return hashlib.sha256("\n".join(c.text for c in chunks).encode("utf-8")).hexdigest()


def cited_hashes(answer: CuratedAnswer, catalog: Catalog | None) -> tuple[tuple[str, str], ...]:
    if catalog is None:
        return ()
    pairs = ((ref.key, text_hash(ref, catalog)) for ref in answer.citations)
    return tuple(sorted((key, digest) for key, digest in pairs if digest))


# --- schema and migrations -------------------------------------------------------------------------

metadata = MetaData()
schema_version = Table(
    "schema_version", metadata,
    Column("component", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
)
answers_table = Table(
    "curated_answers", metadata,
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
    "curated_revisions", metadata,
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
    with engine.connect() as conn, _write_transaction(conn):
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        schema_version.create(conn, checkfirst=True)
        current = conn.execute(select(schema_version.c.version)
                               .where(schema_version.c.component == COMPONENT)).scalar()
        if current is None:
            conn.execute(insert(schema_version).values(component=COMPONENT, version=0))
            current = 0
        if current > SCHEMA_VERSION:
            raise CuratedError(f"Il database delle risposte curate ha lo schema versione {current}, più recente di "
                               f"quello di questo programma ({SCHEMA_VERSION}): aggiorna Lingua Comune.")
        for version, step in MIGRATIONS:
            if version > current:
                step(conn)
                log.info("curated schema migrated to version %d", version)
        conn.execute(update(schema_version).where(schema_version.c.component == COMPONENT)
                     .values(version=SCHEMA_VERSION))
    return SCHEMA_VERSION


@contextmanager
def _write_transaction(conn: Connection) -> Iterator[None]:
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
        from pathlib import Path

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


def _row_answer(row: Row[Any]) -> CuratedAnswer:
    data = dict(row._mapping)
    data["cited_hashes"] = data.get("cited_hashes") or {}
    return CuratedAnswer.from_dict(data)


class CuratedStore:
    """Curated answers and their revisions in one SQL database; citations checked against `catalog` if given."""

    def __init__(self, engine: Engine, catalog: Catalog | None = None,
                 glossary_ids: Collection[str] | None = None) -> None:
        self.engine = engine
        self.catalog = catalog
        self.glossary_ids = glossary_ids

    @classmethod
    def open(cls, url: str, catalog: Catalog | None = None,
             glossary_ids: Collection[str] | None = None) -> CuratedStore:
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
            raise CuratedError(f"Impossibile aprire il database delle risposte curate {where}: {detail}. "
                               "Controlla LC_DATABASE_URL (o la cartella dei dati).") from None
        except CuratedError:
            engine.dispose()
            raise
        return cls(engine, catalog, glossary_ids)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, _write_transaction(conn):
            yield conn

    # --- reading ------------------------------------------------------------------------------------

    def get(self, answer_id: str) -> CuratedAnswer | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(answers_table).where(answers_table.c.id == answer_id)).first()
        return _row_answer(row) if row else None

    def require(self, answer_id: str) -> CuratedAnswer:
        found = self.get(answer_id)
        if found is None:
            raise NotFoundError(f"Nessuna risposta curata con id {answer_id!r} (elencale con: assistant curated "
                                "list).")
        return found

    def find(self, status: str | None = None, tag: str | None = None, audience: str | None = None,
             query: str | None = None) -> list[CuratedAnswer]:
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
            count, total = conn.execute(select(func.count(), func.coalesce(func.sum(answers_table.c.revision), 0))
                                        .select_from(answers_table)).one()
        return int(count), int(total)

    def revisions(self, answer_id: str) -> list[Revision]:
        """The full history, oldest first."""
        stmt = select(revisions_table).where(revisions_table.c.answer_id == answer_id) \
            .order_by(revisions_table.c.number)
        with self.engine.connect() as conn:
            return [self._revision(r) for r in conn.execute(stmt)]

    def revision(self, answer_id: str, number: int) -> Revision:
        stmt = select(revisions_table).where(revisions_table.c.answer_id == answer_id,
                                             revisions_table.c.number == number)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            self.require(answer_id)
            raise NotFoundError(f"La risposta curata {answer_id!r} non ha una revisione {number}.")
        return self._revision(row)

    @staticmethod
    def _revision(row: Row[Any]) -> Revision:
        return Revision(row.answer_id, row.number, CuratedAnswer.from_dict(row.snapshot), row.saved_by,
                        parse_time(row.saved_at) or now(), row.change)

    # --- writing ------------------------------------------------------------------------------------

    def new_id(self, question: str) -> str:
        base = slugify(question)
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

    def approve(self, answer_id: str, user: str, base_revision: int) -> CuratedAnswer:
        """Approve: the answer is served from now on; the cited text is fingerprinted for `curated check`."""
        current = self.require(answer_id)
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
                    raise CuratedError(f"Esiste già una risposta curata con id {answer.id!r}: scegli un altro "
                                       "identificativo oppure modifica quella esistente.") from None
            else:
                done = conn.execute(update(answers_table).where(answers_table.c.id == answer.id,
                                                                answers_table.c.revision == base_revision)
                                    .values(**row))
                if done.rowcount != 1:
                    raise self._conflict(conn, answer.id, base_revision)
            conn.execute(insert(revisions_table).values(
                answer_id=answer.id, number=number, snapshot=answer.to_dict(), saved_by=user, saved_at=moment,
                change=change))
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
            "risposta, riapplicale e salva di nuovo.", current, base_revision)

