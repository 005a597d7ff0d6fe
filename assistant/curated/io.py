"""Curated answers in and out: JSON export/import between installations, Markdown and DOCX course handouts.

The JSON format is a list of objects with at least `id, question, phrasings, answer, citations, audience, tags,
status, author` (citations as `{"doc_id", "article", "comma", "section"}`). Import reports every item as
created, updated, unchanged, conflict or invalid; an item older than the stored answer (by `updated_at`, or
by `revision` when there is no date) is a conflict, never an overwrite.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from ..catalog import Catalog
from ..models import CURATED_AUDIENCES, CURATED_STATUSES
from ..references import Ref
from ..text import italian_date, italian_datetime
from .record import FIELD_LABELS, ConflictError, CuratedAnswer, CuratedError, normalise, now, parse_time, resolve
from .store import CuratedStore

REQUIRED = ("id", "question", "phrasings", "answer", "citations", "audience", "tags", "status", "author")
AUDIENCE_LABELS = {
    "funzionario": "funzionari",
    "operatore": "operatori del Terzo settore",
    "entrambi": "funzionari e operatori",
}
STATUS_LABELS = {"bozza": "bozza (non ancora approvata)", "approvata": "approvata", "archiviata": "archiviata"}
HANDOUT_TITLE = "Risposte curate - dispensa del corso"
MAX_QUOTED = 4  # passages quoted per citation: a whole-document citation would fill pages
Outcome = Literal["created", "updated", "unchanged", "conflict", "invalid"]
OUTCOME_LABELS = {
    "created": "creata",
    "updated": "aggiornata",
    "unchanged": "invariata",
    "conflict": "conflitto",
    "invalid": "non valida",
}


@dataclass(frozen=True)
class Selection:
    """Which answers to export: by tag, audience (operatore/funzionario include "entrambi") and status."""

    tag: str | None = None
    audience: str | None = None
    status: str | None = None

    def pick(self, store: CuratedStore) -> list[CuratedAnswer]:
        return store.find(status=self.status, tag=self.tag, audience=self.audience)

    def describe(self) -> str:
        parts = []
        if self.tag:
            parts.append(f"tema «{self.tag}»")
        if self.audience:
            parts.append(f"pubblico: {AUDIENCE_LABELS.get(self.audience, self.audience)}")
        if self.status:
            parts.append(f"stato: {self.status}")
        return "; ".join(parts) or "tutte le risposte"


@dataclass(frozen=True)
class ImportResult:
    id: str
    outcome: Outcome
    message: str
    revision: int | None = None

    def line(self) -> str:
        return f"{self.id}: {OUTCOME_LABELS[self.outcome]}" + (f" - {self.message}" if self.message else "")


# --- JSON -------------------------------------------------------------------------------------------


def export_json(answers: list[CuratedAnswer]) -> str:
    return json.dumps([a.to_dict() for a in answers], ensure_ascii=False, indent=1)


def _strings(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CuratedError(f"il campo {key!r} deve essere una lista di testi.")
    return tuple(value)


def _citations(raw: dict[str, Any]) -> tuple[Ref, ...]:
    value = raw.get("citations")
    if not isinstance(value, list):
        raise CuratedError("il campo 'citations' deve essere una lista di {doc_id, article, comma, section}.")
    refs = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("doc_id"), str) or not item["doc_id"]:
            raise CuratedError(f"citazione non valida {item!r}: serve almeno doc_id (con article, comma o section).")
        refs.append(Ref.from_mapping(item))
    return tuple(refs)


def _time(raw: dict[str, Any], key: str) -> datetime | None:
    try:
        return parse_time(raw.get(key))
    except (TypeError, ValueError):
        raise CuratedError(f"il campo {key!r} non è una data ISO 8601 valida: {raw.get(key)!r}.") from None


def parse_item(raw: Any) -> tuple[CuratedAnswer, datetime | None, int | None]:
    """An import item as (answer, its updated_at, its revision); CuratedError with the Italian reason."""
    if not isinstance(raw, dict):
        raise CuratedError("l'elemento non è un oggetto JSON.")
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise CuratedError(f"mancano i campi obbligatori: {', '.join(missing)}.")
    for key in ("id", "question", "answer", "audience", "status", "author"):
        if not isinstance(raw[key], str):
            raise CuratedError(f"il campo {key!r} deve essere un testo.")
    if raw["audience"] not in CURATED_AUDIENCES:
        raise CuratedError(f"pubblico non valido {raw['audience']!r} (usa {', '.join(CURATED_AUDIENCES)}).")
    if raw["status"] not in CURATED_STATUSES:
        raise CuratedError(f"stato non valido {raw['status']!r} (usa {', '.join(CURATED_STATUSES)}).")
    revision = raw.get("revision")
    if revision is not None and (not isinstance(revision, int) or revision < 0):
        raise CuratedError(f"il campo 'revision' deve essere un numero intero: {revision!r}.")
    hashes = raw.get("cited_hashes") or {}
    answer = CuratedAnswer(
        id=raw["id"],
        question=raw["question"],
        answer=raw["answer"],
        phrasings=_strings(raw, "phrasings"),
        citations=_citations(raw),
        glossary_terms=_strings(raw, "glossary_terms"),
        audience=raw["audience"],
        tags=_strings(raw, "tags"),
        status=raw["status"],
        author=raw["author"],
        approved_by=raw.get("approved_by") if isinstance(raw.get("approved_by"), str) else None,
        approved_at=_time(raw, "approved_at"),
        cited_hashes=tuple(sorted(hashes.items())) if isinstance(hashes, dict) else (),
    )
    return answer, _time(raw, "updated_at"), revision


def _stale(stored: CuratedAnswer, stamp: datetime | None, revision: int | None) -> str | None:
    """Why the imported copy must not replace the stored one, or None when it may."""
    here = (
        f"qui la risposta è alla revisione {stored.revision}, salvata da {stored.updated_by} il "
        f"{italian_datetime(stored.updated_at)}"
    )
    if stamp is not None:
        if stored.updated_at and stamp < stored.updated_at:
            return (
                f"la copia importata è del {italian_datetime(stamp)}, ma {here}: non la sovrascrivo. Esporta "
                "la versione di qui, unisci le modifiche e reimporta."
            )
        return None
    if revision is not None:
        if revision < stored.revision:
            return (
                f"la copia importata parte dalla revisione {revision}, ma {here}: non la sovrascrivo. Esporta "
                "la versione di qui, unisci le modifiche e reimporta."
            )
        return None
    return (
        f"la copia importata non indica updated_at né revision e {here}, con un contenuto diverso: non posso "
        "stabilire quale sia più recente, quindi non la sovrascrivo."
    )


def import_item(store: CuratedStore, raw: Any, user: str) -> ImportResult:
    """Create, update or leave one answer; never raises for a bad item."""
    answer_id = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else "?"
    try:
        candidate, stamp, revision = parse_item(raw)
        stored = store.get(candidate.id)
        if candidate.status == "approvata":
            candidate = replace(
                candidate, approved_by=candidate.approved_by or user, approved_at=candidate.approved_at or now()
            )
        keys = {ref.key for ref in candidate.citations}
        if {key for key, _ in candidate.cited_hashes} != keys:
            candidate = replace(candidate, cited_hashes=())  # recomputed from this installation's text
        if stored is None:
            saved = store.save(candidate, user, None, f"importata da {user}")
            return ImportResult(saved.id, "created", f"revisione {saved.revision}", saved.revision)
        if normalise(candidate).content() == stored.content():
            return ImportResult(stored.id, "unchanged", "", stored.revision)
        reason = _stale(stored, stamp, revision)
        if reason:
            return ImportResult(stored.id, "conflict", reason, stored.revision)
        merged = normalise(replace(candidate, author=stored.author, created_at=stored.created_at))
        changed = ", ".join(FIELD_LABELS[name] for name in stored.changed_fields(merged))
        saved = store.save(merged, user, stored.revision, f"importata da {user}; modificati: {changed}")
        return ImportResult(saved.id, "updated", f"revisione {saved.revision}", saved.revision)
    except ConflictError as exc:
        return ImportResult(answer_id, "conflict", str(exc), exc.current.revision)
    except CuratedError as exc:
        return ImportResult(answer_id, "invalid", str(exc))


def import_json(store: CuratedStore, data: Any, user: str) -> list[ImportResult]:
    """Import a parsed JSON document (a list of answers), item by item, each in its own transaction."""
    if not isinstance(data, list):
        raise CuratedError("Il file da importare deve contenere una lista JSON di risposte curate.")
    return [import_item(store, item, user) for item in data]


def read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CuratedError(f"Impossibile leggere {path}: {exc.strerror}.") from None
    except json.JSONDecodeError as exc:
        raise CuratedError(
            f"{path} non è un JSON valido (riga {exc.lineno}, colonna {exc.colno}: {exc.msg})."
        ) from None


# --- course handouts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A citation as a handout shows it: where, the norm's version, and the cited text."""

    label: str
    version: str
    texts: tuple[str, ...]


def _flat(value: str) -> str:
    """One line, inner guillemets as curly quotes, so that «…» delimits exactly the cited text."""
    return " ".join(value.split()).replace("«", "“").replace("»", "”")


def sources(answer: CuratedAnswer, catalog: Catalog) -> list[Source]:
    out = []
    for ref in answer.citations:
        info = catalog.document(ref.doc_id)
        chunks = resolve(ref, catalog)
        if info is None or not chunks:
            out.append(Source(ref.describe(), "citazione non trovata nell'indice attuale", ()))
            continue
        if ref.article:
            label = f"art. {ref.article}" + (f", comma {ref.comma}" if ref.comma else "") + f", {info.ref}"
        else:
            label = info.ref + (f", {chunks[0].label or ref.section}" if ref.section else "")
        if len(chunks) > MAX_QUOTED:
            label += f" ({len(chunks)} passaggi: riportati i primi {MAX_QUOTED})"
        out.append(Source(label, info.version_text, tuple(_flat(c.text) for c in chunks[:MAX_QUOTED])))
    return out


def meta_line(answer: CuratedAnswer) -> str:
    parts = [f"Pubblico: {AUDIENCE_LABELS.get(answer.audience, answer.audience)}"]
    if answer.tags:
        parts.append("Temi: " + ", ".join(answer.tags))
    parts.append(f"Autore: {answer.author}")
    if answer.status == "approvata":
        parts.append(f"Approvata da {answer.approved_by} il {italian_date(answer.approved_at)}")
    else:
        parts.append(f"Stato: {STATUS_LABELS.get(answer.status, answer.status)}")
    parts.append(f"Revisione {answer.revision}")
    return " · ".join(parts)


def export_markdown(answers: list[CuratedAnswer], catalog: Catalog, selection: Selection | None = None) -> str:
    """A handout: every question, its answer, the cited passages with the version of each norm."""
    selection = selection or Selection()
    lines = [
        f"# {HANDOUT_TITLE}",
        "",
        f"_Selezione: {selection.describe()} · {len(answers)} risposte · generata il {italian_date(now())}_",
        "",
    ]
    for number, answer in enumerate(answers, start=1):
        lines += [f"## {number}. {answer.question}", "", f"_{meta_line(answer)}_", "", answer.answer, ""]
        cited = sources(answer, catalog)
        if cited:
            lines += ["**Fonti citate**", ""]
            for index, source in enumerate(cited, start=1):
                lines.append(f"{index}. {source.label} - versione della norma: {source.version}")
                lines += [f"   > «{t}»" for t in source.texts]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_INLINE = re.compile(r"(\*\*[^*]+\*\*|\*[^*]+\*|_[^_]+_)")


def _runs(paragraph: Any, value: str) -> None:
    """Markdown **bold** and *italic* / _italic_ as Word runs."""
    for piece in _INLINE.split(value):
        if not piece:
            continue
        if piece.startswith("**") and piece.endswith("**") and len(piece) > 4:
            paragraph.add_run(piece[2:-2]).bold = True
        elif piece[0] in "*_" and piece[-1] == piece[0] and len(piece) > 2:
            paragraph.add_run(piece[1:-1]).italic = True
        else:
            paragraph.add_run(piece)


def _markdown_blocks(document: Any, value: str) -> None:
    """The small Markdown subset trainers write: paragraphs, bullet lists, quotes, headings."""
    for block in re.split(r"\n\s*\n", value.strip()):
        lines = block.splitlines()
        if all(re.match(r"\s*[-*] ", ln) for ln in lines):
            for ln in lines:
                _runs(document.add_paragraph(style="List Bullet"), re.sub(r"^\s*[-*] ", "", ln))
        elif all(ln.startswith(">") for ln in lines):
            _runs(document.add_paragraph(style="Quote"), " ".join(ln.lstrip("> ") for ln in lines))
        elif lines[0].startswith("#"):
            document.add_heading(lines[0].lstrip("# "), level=3)
            if lines[1:]:
                _runs(document.add_paragraph(), " ".join(lines[1:]))
        else:
            _runs(document.add_paragraph(), " ".join(ln.strip() for ln in lines))


def export_docx(
    answers: list[CuratedAnswer], catalog: Catalog, target: Path | IO[bytes], selection: Selection | None = None
) -> None:
    """The same handout as export_markdown, as a Word document."""
    from docx import Document

    selection = selection or Selection()
    document = Document()
    document.core_properties.title = HANDOUT_TITLE
    document.core_properties.language = "it-IT"
    document.add_heading(HANDOUT_TITLE, level=0)
    intro = document.add_paragraph()
    intro.add_run(
        f"Selezione: {selection.describe()} · {len(answers)} risposte · generata il {italian_date(now())}"
    ).italic = True
    for number, answer in enumerate(answers, start=1):
        document.add_heading(f"{number}. {answer.question}", level=1)
        document.add_paragraph().add_run(meta_line(answer)).italic = True
        _markdown_blocks(document, answer.answer)
        cited = sources(answer, catalog)
        if cited:
            document.add_heading("Fonti citate", level=2)
            for index, source in enumerate(cited, start=1):
                paragraph = document.add_paragraph()
                paragraph.add_run(f"[{index}] {source.label}").bold = True
                paragraph.add_run(f" - versione della norma: {source.version}")
                for value in source.texts:
                    document.add_paragraph(f"«{value}»", style="Quote")
    document.save(target if not isinstance(target, Path) else str(target))
