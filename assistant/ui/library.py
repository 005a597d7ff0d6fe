"""Handlers of the Glossario, Documenti and export features: plain functions returning values."""

from __future__ import annotations

import html
import logging
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..citations import kind_label
from ..glossary import Entry, Glossary
from ..models import Answer
from ..prompts import text
from ..text import fold, italian_datetime, plain_text
from ..uploads import UploadError, remove_extra
from .services import Services

log = logging.getLogger(__name__)


# --- Glossario ------------------------------------------------------------------------------------


def glossary_search(glossary: Glossary, query: str) -> list[Entry]:
    """Entries whose term, alias or definition contains the query (accents and hyphens ignored)."""
    entries = sorted(glossary.entries.values(), key=lambda e: fold(e.term))
    wanted = fold(query or "")
    if not wanted:
        return entries
    exact = glossary.lookup(query)
    found = [e for e in entries if wanted in fold(" ".join([e.term, *e.aliases]))]
    found += [e for e in entries if e not in found and wanted in fold(e.definition)]
    if exact and exact in found:
        found.remove(exact)
        found.insert(0, exact)
    return found


def glossary_entry_html(services: Services, entry: Entry) -> str:
    """One entry: canonical definition, both wordings, legal basis with the text of each cited passage."""
    assistant = services.assistant
    parts = [f"<article class='lc-term' id='lc-term-{entry.id}'><h3>{html.escape(entry.term)}</h3>"]
    if entry.aliases:
        parts.append(f"<p class='lc-meta'>Anche: {html.escape(', '.join(entry.aliases))}</p>")
    parts.append(f"<p><strong>Definizione:</strong> {html.escape(entry.definition)}</p>")
    parts.append(f"<p><strong>Per i funzionari:</strong> {html.escape(entry.per_funzionari)}</p>")
    parts.append(f"<p><strong>Per gli operatori:</strong> {html.escape(entry.per_operatori)}</p>")
    parts.append("<h4>Base normativa</h4>")
    for ref in entry.legal_basis:
        chunks = (
            assistant.retriever.catalog.resolve(ref.doc_id, ref.article, ref.comma, ref.section) if assistant else []
        )
        info = assistant.retriever.catalog.document(ref.doc_id) if assistant else None
        if not chunks or info is None:
            parts.append(f"<p>{html.escape(ref.describe())}</p>")
            continue
        from ..citations import reference

        text = html.escape(chunks[0].text[:1500])
        parts.append(
            f"<details><summary>{html.escape(kind_label(info.kind))} - "
            f"{html.escape(reference(chunks[0], info))}</summary><p>{text}</p></details>"
        )
    if entry.non_confondere_con:
        parts.append("<h4>Da non confondere con</h4><ul>")
        parts.extend(
            f"<li><strong>{html.escape(t)}</strong>: {html.escape(d)}</li>" for t, d in entry.non_confondere_con
        )
        parts.append("</ul>")
    if entry.related:
        names = [
            services.assistant.glossary.entries[r].term
            for r in entry.related
            if services.assistant and r in services.assistant.glossary.entries
        ]
        parts.append(f"<p class='lc-meta'>Voci collegate: {html.escape(', '.join(names))}</p>")
    parts.append("</article>")
    return "".join(parts)


def answer_terms_html(answer: Answer | None) -> str:
    """The glossary terms an answer touches, each opening its definition on click."""
    if answer is None or not answer.glossary_terms:
        return ""
    items = "".join(
        f"<details class='lc-gloss'><summary>{html.escape(g.term)}</summary>"
        f"<p>{html.escape(g.definition)}</p></details>"
        for g in answer.glossary_terms
    )
    return f"<div class='lc-terms'><h4>Termini del glossario in questa risposta</h4>{items}</div>"


# --- Documenti ------------------------------------------------------------------------------------


def documents_table(services: Services) -> list[list[Any]]:
    """Indexed documents: title, kind, version, passages, origin."""
    assistant = services.assistant
    if assistant is None:
        return []
    catalog = assistant.retriever.catalog
    uploaded = _shared_uploads(services)
    rows = []
    for doc_id, info in sorted(catalog.documents.items(), key=lambda kv: (kv[1].kind, kv[1].title)):
        origin = "corpus" if info.in_manifest else ("caricato" if "uploads" in info.path else "corpus (senza manifest)")
        if doc_id in uploaded:  # several instances: who uploaded it, on whichever instance
            upload = uploaded[doc_id]
            moment = datetime.fromtimestamp(upload.uploaded_at, tz=UTC)
            origin = f"caricato da {upload.uploaded_by} il {italian_datetime(moment)}"
        rows.append(
            [info.title, kind_label(info.kind), info.version_text, len(catalog.by_doc.get(doc_id, [])), origin, doc_id]
        )
    return rows


def _shared_uploads(services: Services) -> dict[str, Any]:
    """The uploads recorded in the shared database (store=server), by document; empty otherwise or on error."""
    if getattr(services, "shared", None) is None:
        return {}
    try:
        return {upload.doc_id: upload for upload in services.shared.uploads()}
    except Exception as exc:  # the table still lists the documents, without who uploaded them
        log.warning("uploads metadata unavailable: %s", exc)
        return {}


UPLOAD_TRAINERS_ONLY = (
    "Solo i formatori possono caricare o rimuovere documenti nell'indice condiviso: accedi con le tue credenziali."
)


def submit_upload(
    services: Services, trainer: str | None, paths: list[str] | None, kind: str, replace: bool = False
) -> tuple[str | None, str]:
    """Queue a trainer's files for indexing (outside the request); the job id and a message for the page."""
    if not trainer:
        log.warning("upload refused: no trainer session")
        return None, UPLOAD_TRAINERS_ONLY
    if not paths:
        return None, "Scegli almeno un file da caricare."
    if services.uploads is None:
        return None, "Il caricamento non è disponibile: l'indice non è stato aperto."
    job = services.uploads.submit(trainer, [Path(p) for p in paths], kind, replace)
    return job.id, job.progress


def upload_status(services: Services, job_id: str | None) -> tuple[list[list[str]], str, bool]:
    """The rows (file, outcome, reason), a progress line, and whether the job is over."""
    job = services.uploads.job(job_id) if services.uploads is not None else None
    if job is None:
        return [], "", True
    return job.rows(), job.progress, job.done


def remove_upload(services: Services, trainer: str | None, doc_id: str) -> str:
    """Delete an uploaded document (file and passages). Corpus documents are managed in git, not here."""
    if not trainer:
        log.warning("removal of %r refused: no trainer session", doc_id)
        return UPLOAD_TRAINERS_ONLY
    assistant = services.assistant
    info = assistant.retriever.catalog.document(doc_id) if assistant else None
    if info is None:
        return f"Il documento {doc_id!r} non è nell'indice."
    try:
        remove_extra(services.settings, info, trainer)
    except UploadError as exc:
        return str(exc)
    services.reload()
    log.info("upload %s removed by %s", doc_id, trainer)
    return f"Documento {info.title!r} rimosso dall'indice."


# --- Export of a conversation ---------------------------------------------------------------------


def conversation_markdown(history: list[dict[str, Any]]) -> str:
    lines = [
        "# Conversazione con Lingua Comune",
        "",
        f"_{text('origin_export')} {text('notice')}_",
        "",
    ]
    for message in history or []:
        who = "Domanda" if message.get("role") == "user" else "Risposta"
        lines += [f"## {who}", "", str(message.get("content", "")), ""]
    return "\n".join(lines)


def export_conversation(history: list[dict[str, Any]], fmt: str) -> str | None:
    """Write the conversation to a temporary .md or .docx file and return its path (None if empty)."""
    if not history:
        return None
    folder = Path(tempfile.mkdtemp(prefix="lingua-comune-"))
    text = conversation_markdown(history)
    if fmt == "md":
        path = folder / "conversazione.md"
        path.write_text(text, encoding="utf-8")
        return str(path)
    import docx

    document = docx.Document()
    document.core_properties.language = "it-IT"
    for block in text.split("\n\n"):
        block = block.strip()
        if block.startswith("# "):
            document.add_heading(block[2:], level=1)
        elif block.startswith("## "):
            document.add_heading(block[3:], level=2)
        elif block:
            document.add_paragraph(plain_text(re.sub(r"\*\*|_", "", block)))
    path = folder / "conversazione.docx"
    document.save(str(path))
    return str(path)
