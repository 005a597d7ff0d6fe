"""HTML/Markdown views shared by the UI tabs: the sources panel with the cited article's full text."""

from __future__ import annotations

import html

from ..amendments import CODE_DOC
from ..catalog import Catalog
from ..citations import kind_label
from ..models import AmendedBy, Answer, Chunk, Citation
from ..prompts import text as sentence

EMPTY_SOURCES = "<p class='lc-empty'>Le fonti citate nella risposta compariranno qui, con il testo completo.</p>"


def article_context(catalog: Catalog, chunk: Chunk) -> list[Chunk]:
    """The whole article for a comma of a norm; the neighbouring passages for anything else."""
    if chunk.article:
        return [c for c in catalog.article_chunks(chunk.doc_id, chunk.article) if c.section != "aggiornamento"] or [
            chunk
        ]
    siblings = catalog.by_doc.get(chunk.doc_id, [])
    index = next((i for i, c in enumerate(siblings) if c.id == chunk.id), None)
    if index is None:
        return [chunk]
    return siblings[max(0, index - 1) : index + 2]


def source_card(catalog: Catalog, number: int, cited: Citation) -> str:
    """One cited source: kind, reference, version, official identifier and the full text, cited part marked."""
    chunk = catalog.by_id.get(cited.chunk_id)
    info = catalog.document(cited.doc_id)
    if chunk is None or info is None:
        return f"<div class='lc-source'><p>[{number}] {html.escape(cited.label)}</p></div>"
    body = []
    for part in article_context(catalog, chunk):
        text = html.escape(part.text).replace("\n", "<br>")
        if part.id == chunk.id:
            body.append(f"<p><mark id='lc-cited-{number}'>{text}</mark></p>")
        else:
            body.append(f"<p>{text}</p>")
    title = (
        f"Art. {chunk.article}" + (f" - {chunk.article_title}" if chunk.article_title else "")
        if chunk.article
        else (chunk.label or chunk.section or "")
    )
    identifier = info.urn or info.identifier
    return (
        f"<details class='lc-source' id='lc-source-{number}' open><summary><strong>[{number}]</strong> "
        f"{html.escape(cited.label)}</summary>"
        f"<p class='lc-meta'><span class='lc-kind'>{html.escape(kind_label(info.kind))}</span> · "
        f"{html.escape(info.title)} · versione: {html.escape(info.version_text)}"
        + (f" · riferimento ufficiale: <code>{html.escape(identifier)}</code>" if identifier else "")
        + "</p>"
        + "".join(amendment_html(a) for a in cited.amended_by)
        # The Codice's amendments are marked article by article above: no generic warning on each of its citations.
        + (
            f"<p class='lc-caveat'>Attenzione: {html.escape(info.caveats)}</p>"
            if info.caveats and info.doc_id != CODE_DOC
            else ""
        )
        + f"<h4>{html.escape(title)}</h4>"
        + "".join(body)
        + "</details>"
    )


def amendment_html(amended: AmendedBy) -> str:
    """The mark of an amended article and, one click away, the amending provision's text."""
    passage = html.escape(amended.text).replace("\n", "<br>")
    return (
        f"<p class='lc-caveat lc-amended'>{html.escape(amended.note)}</p>"
        f"<details class='lc-amending'><summary>{html.escape(sentence('amending_text', ref=amended.ref))}</summary>"
        f"<p>{passage}</p></details>"
    )


def sources_panel(catalog: Catalog, answer: Answer | None) -> str:
    if answer is None or not answer.citations:
        return EMPTY_SOURCES
    return "".join(source_card(catalog, n, c) for n, c in enumerate(answer.citations, start=1))
