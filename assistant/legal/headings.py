"""Everything else: Markdown sections, "Art. N - Titolo" and short standalone headings, then grouped paragraphs."""

from __future__ import annotations

import re
from dataclasses import replace

from ..loaders import Line
from ..models import Chunk, DocumentInfo
from ..references import find_links, strip_links
from ..text import fix_accents, sentence_case
from .blocks import clean_md, clean_title, group, make_chunk, paragraphs, section_key
from .grammar import GENERIC_ART, MD_HEADING


def parse_markdown(lines: list[Line], info: DocumentInfo) -> list[Chunk]:
    """Sections by heading (H1 is the document title); paragraphs grouped inside each section."""
    chunks: list[Chunk] = []
    path: list[str] = []
    current: list[Line] = []
    counters: dict[str, int] = {}

    def flush() -> None:
        if not current:
            return
        section = path[1] if len(path) > 1 else (path[0] if path else "testo")
        label = " > ".join(path[1:]) or section
        for text, page in group(paragraphs(current)):
            key = section_key(section)
            counters[key] = counters.get(key, 0) + 1
            refs = tuple(dict.fromkeys(ref.key for _, ref in find_links(text)))
            chunk = make_chunk(
                info, f"{key}:{counters[key]}", strip_links(text), section=section, label=label, page=page
            )
            chunks.append(replace(chunk, refs=refs))
        current.clear()

    for line in lines:
        match = MD_HEADING.match(line.text)
        if match:
            flush()
            level = len(match.group(1))
            del path[level - 1 :]
            while len(path) < level - 1:
                path.append("")
            path.append(clean_md(match.group(2)))
        else:
            current.append(line)
    flush()
    return chunks


def parse_generic(lines: list[Line], info: DocumentInfo) -> list[Chunk]:
    """Headings ("Art. N - TITOLO", Markdown, standalone short lines), then grouped paragraphs."""
    chunks: list[Chunk] = []
    article: str | None = None
    article_title: str | None = None
    section: str | None = None
    current: list[Line] = []
    counters: dict[str, int] = {}

    def flush() -> None:
        for text, page in group(paragraphs(current)):
            key = f"art{article}" if article else section_key(section or "testo")
            counters[key] = counters.get(key, 0) + 1
            label = section if not article else (f"Art. {article}" + (f" - {section}" if section else ""))
            chunks.append(
                make_chunk(
                    info,
                    f"{key}:{counters[key]}",
                    text,
                    article=article,
                    article_title=article_title,
                    section=section,
                    label=label,
                    page=page,
                )
            )
        current.clear()

    for i, line in enumerate(lines):
        text = line.text
        art = GENERIC_ART.match(text)
        md = MD_HEADING.match(text)
        if art and (not art.group(2) or len(art.group(2)) < 120):
            flush()
            article = art.group(1).lower()
            article_title = clean_title(art.group(2)) if art.group(2) else None
            if article_title and article_title.isupper():
                article_title = sentence_case(article_title)
            section = None
            continue
        if md or _standalone_heading(lines, i):
            heading = clean_md(md.group(2)) if md else fix_accents(text.strip().rstrip("."))
            flush()
            if heading.isupper():
                heading = sentence_case(heading)
            if article and not article_title and not current:
                article_title = heading
            elif article and not re.match(r"(?i)(allegato|linee guida|registrato alla corte|introduzione)", heading):
                section = heading
            else:
                article, article_title, section = None, None, heading
            continue
        current.append(line)
    flush()
    return chunks


def _standalone_heading(lines: list[Line], i: int) -> bool:
    """A short line alone between blank lines, not ending like a sentence fragment."""
    text = lines[i].text.strip()
    if not text or len(text) > 90 or len(text.split()) > 12:
        return False
    before = i == 0 or not lines[i - 1].text.strip()
    after = i + 1 < len(lines) and not lines[i + 1].text.strip()
    if not (before and after):
        return False
    if not any(ln.text.strip() for ln in lines[i + 1 : i + 4]):
        return False  # nothing follows: it is the text, not a heading
    if text.endswith((",", ";", ":")) or not (text[0].isupper() or text[0].isdigit()):
        return False
    return not re.match(r"^\d+[.)]?\s*$", text) and not text.startswith(("•", "-", "*", "–"))
