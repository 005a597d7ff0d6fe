"""How a chunk is cited ("art. 55, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)") and quoted («...»).

What a document says reaches the answer's Markdown through `inert_markdown` (assistant.text): shown as text.
"""

from __future__ import annotations

import re

from .catalog import Catalog
from .models import KIND_LABELS, Chunk, Citation, DocumentInfo
from .prompts import render, text
from .text import inert_markdown, plain_text, sentences, tokens

QUOTE_WHOLE_CHARS = 700
OMITTED = "[…]"  # what a quotation leaves out of the passage


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


def source_lines(citations: list[Citation], numbers: list[int] | None = None) -> list[str]:
    """The numbered lines of an answer's sources ("[1] art. 55, comma 2, ..."), each label inert in Markdown.

    `numbers` gives each citation its number (several passages of one cited article share it); by default 1, 2, ...
    """
    return [f"[{numbers[i] if numbers else i + 1}] {inert_markdown(cited.label)}" for i, cited in enumerate(citations)]


def quoted_passages(
    question: str, chunks: list[Chunk], catalog: Catalog, numbers: list[int] | None = None
) -> tuple[list[str], list[Citation]]:
    """Numbered passages quoting each chunk (kind, reference, version) and their citations.

    `numbers` gives each chunk its number (several passages of one cited article share it); by default 1, 2, ...
    """
    passages: list[str] = []
    citations: list[Citation] = []
    for index, chunk in enumerate(chunks):
        info = catalog.document(chunk.doc_id)
        if info is None:
            continue
        label = kind_label(info.kind) + (" " + text("training_note") if info.kind == "formazione" else "")
        passages.append(
            render(
                "passage.md",
                number=numbers[index] if numbers else len(passages) + 1,
                kind_label=inert_markdown(label),
                reference=inert_markdown(reference(chunk, info)),
                quote=markdown_quote(question, chunk.text),
            )
        )
        citations.append(citation(chunk, info))
    return passages, citations


def quote(question: str, passage: str) -> str:
    """The whole comma when short; otherwise its best sentences, in order, with "[…]" for what is left out."""
    return "«" + " ".join(OMITTED if p is None else p for p in _quote_pieces(question, passage)) + "»"


def markdown_quote(question: str, passage: str) -> str:
    """`quote` for Markdown: the document's words inert (shown as text, never as HTML or a link), "[…]" ours."""
    pieces = _quote_pieces(question, passage)
    return "«" + " ".join(OMITTED if p is None else inert_markdown(p) for p in pieces) + "»"


def _quote_pieces(question: str, passage: str) -> list[str | None]:
    """The quoted sentences of a passage in order, None where sentences are left out."""
    # Inner guillemets become curly quotes so that «…» delimits exactly what is quoted.
    flat = " ".join(passage.split()).replace("«", "“").replace("»", "”")
    if len(flat) <= QUOTE_WHOLE_CHARS:
        return [flat]
    parts = sentences(flat)
    wanted = set(tokens(question))
    scored = []
    for index, sentence in enumerate(parts):
        overlap = len(wanted & set(tokens(sentence)))
        scored.append((overlap - index * 0.01, index))
    keep: list[int] = []
    budget = QUOTE_WHOLE_CHARS
    for _, index in sorted(scored, reverse=True):
        if len(parts[index]) <= budget or not keep:
            keep.append(index)
            budget -= len(parts[index])
        if budget <= 120:
            break
    keep.sort()
    pieces: list[str | None] = []
    previous = -1
    for index in keep:
        if index != previous + 1:
            pieces.append(None)
        pieces.append(parts[index])
        previous = index
    if previous != len(parts) - 1:
        pieces.append(None)
    return pieces


def quoted_spans(answer_text: str) -> list[str]:
    """The literal quotations of an answer (for the citation-validity check), as the document wrote them."""
    spans: list[str] = []
    for match in re.finditer(r"«(.*?)»", answer_text, flags=re.DOTALL):
        spans.extend(plain_text(p.strip()) for p in match.group(1).split(OMITTED) if p.strip())
    return spans
