"""How a chunk is cited: "art. 55, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)"."""

from __future__ import annotations

from .models import Chunk, Citation, DocumentInfo, KIND_LABELS


def location(chunk: Chunk, info: DocumentInfo) -> str:
    """Where in the document: article and comma for norms, section or paragraph otherwise, then the page."""
    parts: list[str] = []
    if chunk.article:
        parts.append(f"art. {chunk.article}")
        if chunk.comma:
            parts.append(f"comma {chunk.comma}")
        elif chunk.section == "aggiornamento" and chunk.label:
            parts.append(chunk.label.lower())
    elif info.kind == "linee_guida" and chunk.section and chunk.section[0].isdigit():
        parts.append(f"par. {chunk.label or chunk.section}")
    elif chunk.label:
        parts.append(chunk.label)
    elif chunk.section:
        parts.append(chunk.section)
    if chunk.page:
        parts.append(f"pag. {chunk.page}")
    return ", ".join(parts)


def reference(chunk: Chunk, info: DocumentInfo) -> str:
    """Location, document and version: the text of a numbered citation."""
    where = location(chunk, info)
    head = f"{where}, {info.ref}" if chunk.article else (f"{info.ref}, {where}" if where else info.ref)
    # «» in an answer mark verbatim quotations only: a heading's own guillemets become curly quotes here.
    return f"{head} ({info.version_text})".replace("«", "“").replace("»", "”")


def citation(chunk: Chunk, info: DocumentInfo) -> Citation:
    return Citation(
        doc_id=chunk.doc_id,
        article=chunk.article,
        comma=chunk.comma,
        section=chunk.section,
        page=chunk.page,
        version=info.version_text,
        title=info.title,
        kind=info.kind,
        label=reference(chunk, info),
        chunk_id=chunk.id,
    )


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)
