"""Handlers of the Glossario, Documenti and export features: plain functions returning values."""

from __future__ import annotations

import html
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..citations import kind_label
from ..glossary import Entry, Glossary
from ..ingest import ingest
from ..models import KIND_FOLDERS, SUPPORTED_SUFFIXES, Answer
from ..prompts import text
from ..text import fold, safe_filename
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
    rows = []
    for doc_id, info in sorted(catalog.documents.items(), key=lambda kv: (kv[1].kind, kv[1].title)):
        origin = "corpus" if info.in_manifest else ("caricato" if "uploads" in info.path else "corpus (senza manifest)")
        rows.append(
            [info.title, kind_label(info.kind), info.version_text, len(catalog.by_doc.get(doc_id, [])), origin, doc_id]
        )
    return rows


@dataclass(frozen=True)
class UploadResult:
    file: str
    status: str  # "indicizzato" | "scartato"
    reason: str


def upload_documents(services: Services, paths: list[str], kind: str, progress: Any = None) -> list[UploadResult]:
    """Store uploaded files under data/uploads/<kind>/ and index them one by one; a bad file is reported."""
    settings = services.settings
    folder = settings.uploads_dir / KIND_FOLDERS.get(kind, "formazione")
    folder.mkdir(parents=True, exist_ok=True)
    results: list[UploadResult] = []
    limit = settings.max_upload_mb * 1024 * 1024
    for index, raw in enumerate(paths or []):
        source = Path(raw)
        name = safe_filename(source.name)
        if progress is not None:
            progress((index, len(paths)), desc=f"Indicizzazione di {name}")
        if source.suffix.lower() not in SUPPORTED_SUFFIXES:
            suffix = source.suffix or "senza estensione"
            results.append(
                UploadResult(
                    name, "scartato", f"formato non supportato ({suffix}): sono accettati PDF, DOCX, TXT e MD."
                )
            )
            continue
        size = source.stat().st_size if source.exists() else 0
        if size > limit:
            results.append(
                UploadResult(
                    name,
                    "scartato",
                    f"il file supera il limite di {settings.max_upload_mb} MB ({size / 1024 / 1024:.1f} MB).",
                )
            )
            continue
        target = folder / name
        shutil.copyfile(source, target)
        try:
            report = ingest(settings, path=target, kind=kind)
        except Exception as exc:  # keep the file out of the library if the index refused it
            log.error("upload ingest failed for %s: %s", target, exc)
            target.unlink(missing_ok=True)
            results.append(UploadResult(name, "scartato", f"errore durante l'indicizzazione: {exc}"))
            continue
        if report.skipped:
            target.unlink(missing_ok=True)
            results.append(UploadResult(name, "scartato", report.skipped[0].reason))
        else:
            results.append(UploadResult(name, "indicizzato", ""))
    if progress is not None:
        progress((len(paths or []), len(paths or [])), desc="Completato")
    if any(r.status == "indicizzato" for r in results):
        services.reload()
    return results


def remove_upload(services: Services, doc_id: str) -> str:
    """Delete an uploaded document (file and passages). Corpus documents are managed in git, not here."""
    assistant = services.assistant
    info = assistant.retriever.catalog.document(doc_id) if assistant else None
    if info is None:
        return f"Il documento {doc_id!r} non è nell'indice."
    path = Path(info.path)
    uploads = services.settings.uploads_dir.resolve()
    if not path.is_absolute() or not path.resolve().is_relative_to(uploads):
        return f"Il documento {info.title!r} fa parte del corpus: si rimuove dal repository, non dall'app."
    path.unlink(missing_ok=True)
    ingest(services.settings, path=services.settings.uploads_dir)
    services.reload()
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
            document.add_paragraph(re.sub(r"\*\*|_", "", block))
    path = folder / "conversazione.docx"
    document.save(str(path))
    return str(path)
