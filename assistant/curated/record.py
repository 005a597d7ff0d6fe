"""A curated answer: the record, its normalisation and validation, and the fingerprint of the text it cites."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..catalog import Catalog
from ..errors import UserError
from ..models import CURATED_AUDIENCES, CURATED_STATUSES, Chunk
from ..references import Ref
from ..text import fold, slug

log = logging.getLogger(__name__)

# The Milan co-design threads, offered as tags; any other tag is accepted too.
MILAN_THREADS = (
    "accoglienza",
    "marginalità",
    "povertà educativa",
    "lavoro",
    "abitare",
    "famiglie",
    "contrasto alle discriminazioni",
)
CONTENT_FIELDS = ("question", "phrasings", "answer", "citations", "glossary_terms", "audience", "tags", "status")
FIELD_LABELS = {
    "question": "domanda",
    "phrasings": "formulazioni alternative",
    "answer": "testo della risposta",
    "citations": "citazioni",
    "glossary_terms": "termini del glossario",
    "audience": "pubblico",
    "tags": "temi",
    "status": "stato",
}
# The author of the prontuario (corpus/prontuario): the project's editors, never the trainers.
EDITORS = "Redazione Lingua Comune"
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,78}[a-z0-9]")
MAX_QUESTION_CHARS = 1000


class CuratedError(UserError, ValueError):
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
            "id": self.id,
            "question": self.question,
            "phrasings": list(self.phrasings),
            "answer": self.answer,
            "citations": [ref_dict(r) for r in self.citations],
            "glossary_terms": list(self.glossary_terms),
            "audience": self.audience,
            "tags": list(self.tags),
            "status": self.status,
            "author": self.author,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "updated_by": self.updated_by,
            "approved_by": self.approved_by,
            "approved_at": _iso(self.approved_at),
            "revision": self.revision,
            "cited_hashes": dict(self.cited_hashes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CuratedAnswer:
        """Inverse of to_dict (trusted input: snapshots written by this module)."""
        return cls(
            id=data["id"],
            question=data["question"],
            answer=data["answer"],
            phrasings=tuple(data.get("phrasings") or ()),
            citations=tuple(Ref.from_mapping(c) for c in data.get("citations") or ()),
            glossary_terms=tuple(data.get("glossary_terms") or ()),
            audience=data.get("audience", "entrambi"),
            tags=tuple(data.get("tags") or ()),
            status=data.get("status", "bozza"),
            author=data.get("author") or "",
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
            updated_by=data.get("updated_by") or "",
            approved_by=data.get("approved_by"),
            approved_at=parse_time(data.get("approved_at")),
            revision=int(data.get("revision") or 0),
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
    data = {"doc_id": ref.doc_id, "article": ref.article, "comma": ref.comma, "section": ref.section}
    return data | ({"chunk": ref.chunk} if ref.chunk else {})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO string or a datetime (SQLite hands back naive UTC values)."""
    if value in (None, ""):
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def new_id(question: str) -> str:
    """A stable id from a question, cut at a word: "Una ODV può avere compensi?" -> "una-odv-puo-avere-compensi"."""
    base = slug(question, 60, whole_words=True)
    return base if len(base) >= 3 else f"risposta-{base}"


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
    return replace(
        answer,
        id=answer.id.strip(),
        question=question,
        answer=answer.answer.strip(),
        phrasings=phrasings,
        tags=tags,
        glossary_terms=terms,
        citations=citations,
    )


def validate(
    answer: CuratedAnswer, catalog: Catalog | None = None, glossary_ids: Collection[str] | None = None
) -> list[str]:
    """Every problem of a (normalised) answer, in Italian; citations are resolved when a catalogue is given."""
    problems = []
    if not ID_PATTERN.fullmatch(answer.id):
        problems.append(
            f"L'identificativo {answer.id!r} non è valido: usa da 3 a 80 caratteri tra lettere "
            "minuscole, cifre e trattini (es. compensi-odv-convenzioni)."
        )
    if not answer.question:
        problems.append("La domanda è vuota.")
    elif len(answer.question) > MAX_QUESTION_CHARS:
        problems.append(f"La domanda supera i {MAX_QUESTION_CHARS} caratteri.")
    if not answer.answer:
        problems.append("Il testo della risposta è vuoto.")
    if answer.audience not in CURATED_AUDIENCES:
        problems.append(f"Pubblico non valido: {answer.audience!r} (usa funzionario, operatore oppure entrambi).")
    if answer.status not in CURATED_STATUSES:
        problems.append(f"Stato non valido: {answer.status!r} (usa bozza, approvata oppure archiviata).")
    for tag in answer.tags:
        if not 2 <= len(tag) <= 60:
            problems.append(f"Tema non valido: {tag!r} (da 2 a 60 caratteri).")
    if not answer.author.strip():
        problems.append("Manca l'autore della risposta.")
    if glossary_ids is not None:
        problems += [
            f"Il termine {t!r} non è nel glossario (elenca le voci con: assistant glossary)."
            for t in answer.glossary_terms
            if t not in glossary_ids
        ]
    if answer.status == "approvata" and not answer.citations:
        problems.append("Una risposta approvata deve citare almeno una fonte (documento, articolo, comma).")
    if catalog is not None:
        problems += [citation_problem(ref, catalog) for ref in answer.citations if not resolve(ref, catalog)]
    return problems


def resolve(ref: Ref, catalog: Catalog) -> list[Chunk]:
    """The chunks a citation points to (the "aggiornamento" notes of an amended article are not the text)."""
    return catalog.resolve_ref(ref)


def citation_problem(ref: Ref, catalog: Catalog) -> str:
    if ref.doc_id not in catalog.documents:
        return f"La citazione {ref.describe()} rimanda a un documento che non è nel corpus indicizzato."
    return (
        f"La citazione {ref.describe()} non corrisponde a nessun passaggio indicizzato: controlla articolo, "
        "comma o sezione."
    )


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
