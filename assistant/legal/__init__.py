"""Italian legal structure -> citable chunks, one chunker per family of documents.

- `norms`: Normattiva style, Titolo > Capo > Art. > comma (lettere kept inside their comma);
- `guidelines`: DM 72/2021 numbered sections "3.IL PROCEDIMENTO ..." and "1.1)";
- `judgments`: intestazione, fatto, diritto, dispositivo (P.Q.M.), with paragraph numbers;
- `headings`: everything else (Markdown, "Art. N - Titolo", short standalone headings, then paragraphs);
- `pages`: page numbers of a .txt copy from its original PDF.
Chunk ids are stable (`doc:art:comma`), so re-ingest overwrites instead of duplicating.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..loaders import SourceText, load, pdf_page_texts
from ..models import Chunk, DocumentInfo
from ..references import DocAliases, legal_citations
from .blocks import count, group, make_chunk, paragraphs, strip_front_matter
from .grammar import ART_HEADING, DM_SECTION, JUDGMENT_PARTS
from .guidelines import parse_guidelines
from .headings import parse_generic, parse_markdown
from .judgments import parse_judgment
from .norms import parse_norm
from .pages import assign_pages

CHUNKER_VERSION = "legal-9"

__all__ = ["CHUNKER_VERSION", "assign_pages", "chunk_file", "parse"]


def parse(source: SourceText, info: DocumentInfo, aliases: DocAliases) -> list[Chunk]:
    """Chunks for one document, by the structure its text shows; `aliases` name the corpus's norms in citations."""
    lines = source.lines
    if info.path.lower().endswith(".md"):
        lines = strip_front_matter(lines)
        chunks = parse_markdown(lines, info)
    elif info.kind == "norma" and count(ART_HEADING, lines) >= 1:
        chunks = parse_norm(lines, info)
    elif info.kind == "giurisprudenza" and any(p.match(ln.text) for _, p in JUDGMENT_PARTS for ln in lines):
        chunks = parse_judgment(lines, info)
    elif count(DM_SECTION, lines) >= 3:
        chunks = parse_guidelines(lines, info)
    else:
        chunks = parse_generic(lines, info)
    if not chunks and source.text.strip():  # no structure found at all: keep the text as one passage
        chunks = [
            make_chunk(info, f"testo:{n}", text, page=page)
            for n, (text, page) in enumerate(group(paragraphs(lines)), start=1)
        ]
    own = info.doc_id if info.kind == "norma" else None
    return [
        replace(c, id=cid, position=i, amended="((" in c.text, refs=_with_citations(c, own, aliases))
        for i, (c, cid) in enumerate(_unique_ids(chunks))
    ]


def _with_citations(chunk: Chunk, own_doc_id: str | None, aliases: DocAliases) -> tuple[str, ...]:
    """Links written by authors plus the articles of the corpus's norms that the text cites."""
    found = [ref.key for ref in legal_citations(chunk.text, aliases, own_doc_id, chunk.article)]
    return tuple(dict.fromkeys([*chunk.refs, *found]))


def _unique_ids(chunks: list[Chunk]) -> list[tuple[Chunk, str]]:
    """A number printed twice (a text error, a repealed comma reinserted) must not merge two passages."""
    seen: dict[str, int] = {}
    out = []
    for chunk in chunks:
        count = seen.get(chunk.id, 0) + 1
        seen[chunk.id] = count
        out.append((chunk, chunk.id if count == 1 else f"{chunk.id}~{count}"))
    return out


def chunk_file(path: Path, info: DocumentInfo, root: Path, aliases: DocAliases) -> list[Chunk]:
    """Parse one file into chunks, numbering pages from a companion PDF when the manifest names one."""
    chunks = parse(load(path), info, aliases)
    if info.page_source and (root / info.page_source).is_file():
        chunks = assign_pages(chunks, pdf_page_texts(root / info.page_source))
    return chunks
