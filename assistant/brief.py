""" "In breve": the short direct answer that opens an answer, taken from authored text that people wrote and checked.

The source must cite the same article as the answer's first law passage: an approved answer of the prontuario or
of the trainers (through the CuratedSource), the glossary definition of a term the question names, or a training
module section. It is labelled with what it is. When no authored text fits, there is no "In breve": nothing is
invented, and the law follows as always.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .catalog import Catalog
from .glossary import Glossary
from .models import Brief, Chunk
from .prompts import text
from .references import Ref
from .text import inert_markdown

BRIEF_CHARS = 360  # about two sentences
_MARKERS = re.compile(r"\s*\[\d+\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý«\"(])")


def first_sentences(value: str, limit: int = BRIEF_CHARS) -> str:
    """The opening sentences of a text, up to about `limit` characters, without citation markers.

    Its guillemets become curly quotes: in an answer «» mark only verbatim quotations of the passages it cites.
    """
    flat = _MARKERS.sub("", " ".join(value.split())).replace("«", "“").replace("»", "”")
    flat = re.sub(r"\*\*|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)", "", flat)  # Markdown emphasis of modules
    parts = _SENTENCE_END.split(flat)
    out = parts[0] if parts else ""
    for part in parts[1:]:
        if len(out) + len(part) + 1 > limit:
            break
        out = f"{out} {part}"
    return out.strip()


def same_article(ref: Ref, chunk: Chunk, catalog: Catalog) -> bool:
    """Whether a citation points to the article (and comma, if it names one) of a passage."""
    if chunk.article is None:
        return any(c.id == chunk.id for c in catalog.resolve_ref(ref))
    if ref.doc_id != chunk.doc_id or (ref.article or "").lower() != chunk.article.lower():
        return False
    return not ref.comma or ref.comma.lower() == (chunk.comma or "").lower()


def glossary_brief(question: str, chunk: Chunk, glossary: Glossary, catalog: Catalog) -> Brief | None:
    """The definition of a term the question names, when the term's legal basis is the passage's article."""
    for entry in glossary.detect(question):
        if any(same_article(ref, chunk, catalog) for ref in entry.legal_basis):
            return Brief(text("brief_glossary", term=entry.term), first_sentences(entry.definition), entry.term)
    return None


def module_brief(
    chunk: Chunk,
    retrieved: list[Chunk],
    catalog: Catalog,
    similarity: Callable[[list[str]], dict[str, float]],
    floor: float,
) -> Brief | None:
    """The retrieved training-module passage closest to the question among those citing the passage's article."""
    candidates = [
        c
        for c in retrieved
        if (info := catalog.document(c.doc_id)) is not None
        and info.kind == "formazione"
        and any(same_article(Ref.from_key(key), chunk, catalog) for key in c.refs)
    ]
    if not candidates:
        return None
    scores = similarity([c.id for c in candidates])
    best = max(candidates, key=lambda c: scores.get(c.id, 0.0))
    if scores.get(best.id, 0.0) < floor:
        return None
    info = catalog.document(best.doc_id)
    title = info.title if info else best.doc_id
    # A module is a document: its title and words are shown as text (see assistant.text.inert_markdown).
    label = text("brief_module", title=inert_markdown(title))
    return Brief(label, inert_markdown(first_sentences(best.text)), best.label or title)
