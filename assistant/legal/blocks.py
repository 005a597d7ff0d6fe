"""Building blocks shared by the chunkers: units of lines, paragraphs, grouping and splitting, chunk construction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..loaders import Line
from ..models import Chunk, DocumentInfo
from ..text import fix_accents, join_lines, sentences, slug
from .grammar import PARAGRAPH_NUMBER

MAX_CHARS = 1400  # split longer units (a comma with many lettere, a long paragraph)
TARGET_CHARS = 900  # group short paragraphs of prose up to about this size


@dataclass
class Unit:
    """A unit of text under construction (a comma, a paragraph group)."""

    lines: list[Line] = field(default_factory=list)

    def add(self, line: Line) -> None:
        self.lines.append(line)

    @property
    def page(self) -> int | None:
        return next((ln.page for ln in self.lines if ln.text.strip() and ln.page), None)

    def text(self) -> str:
        return fix_accents(join_lines([ln.text for ln in self.lines]))

    def __bool__(self) -> bool:
        return any(ln.text.strip() for ln in self.lines)


def count(pattern: re.Pattern[str], lines: list[Line]) -> int:
    return sum(1 for ln in lines if pattern.match(ln.text))


def strip_front_matter(lines: list[Line]) -> list[Line]:
    if lines and lines[0].text.strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].text.strip() == "---":
                return lines[i + 1 :]
    return lines


def ends_sentence(unit: Unit) -> bool:
    return unit.text().rstrip().endswith((".", ")", "»", ";"))


def ends_sentence_or_colon(unit: Unit) -> bool:
    return unit.text().rstrip().endswith((".", ")", "»", ";", ":", "”", '"'))


def clean_title(title: str) -> str:
    title = fix_accents(title.strip())
    title = re.sub(r"^\(\(\s*", "", title)
    title = re.sub(r"\s*\)\)$", "", title)
    title = title.strip()
    if title.startswith("(") and title.rstrip(".").endswith(")"):
        title = title.rstrip(".")
        title = title[1:-1].strip()
    return re.sub(r"\s+", " ", title)


def clean_md(text: str) -> str:
    return fix_accents(re.sub(r"[*_`]", "", text)).strip()


def section_key(section: str) -> str:
    """The id part of a heading: "Il tavolo di co-progettazione" -> "il-tavolo-di-co-progettazione"."""
    return slug(section, 40)


def split_long(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Split text longer than the limit at sentence boundaries."""
    if len(text) <= limit:
        return [text]
    out: list[str] = []
    current = ""
    for sentence in sentences(text):
        if current and len(current) + len(sentence) + 1 > TARGET_CHARS:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    final: list[str] = []
    for piece in out:  # a single sentence longer than the limit: hard split on words
        while len(piece) > limit:
            cut = piece.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            final.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        final.append(piece)
    return [p for p in final if p]


def paragraphs(lines: list[Line]) -> list[tuple[str, int | None]]:
    """Paragraphs from wrapped lines: a blank line or an indented line starts a new one.

    A blank line inside a sentence (a page break in the source PDF) does not end the paragraph.
    """
    out: list[Unit] = []
    current = Unit()
    for line in lines:
        raw = line.text
        if not raw.strip():
            if current and ends_sentence(current):
                out.append(current)
                current = Unit()
            continue
        indented = raw.startswith("  ") and not raw.startswith("        ")
        starts_item = bool(re.match(r"^\s*(?:[-•*]|\d+[.)]|[a-z]\))\s", raw))
        if current and (indented or starts_item) and ends_sentence_or_colon(current):
            out.append(current)
            current = Unit()
        current.add(line)
    if current:
        out.append(current)
    return [(u.text(), u.page) for u in out if u.text().strip()]


def group(paragraphs: list[tuple[str, int | None]], split_at_number: bool = False) -> Iterator[tuple[str, int | None]]:
    """Merge short paragraphs up to TARGET_CHARS; split long ones; a numbered paragraph starts a new group."""
    current, page = "", None
    for text, par_page in paragraphs:
        starts_numbered = split_at_number and PARAGRAPH_NUMBER.match(text) is not None
        if current and (len(current) + len(text) > TARGET_CHARS or starts_numbered):
            yield from ((piece, page) for piece in split_long(current))
            current, page = "", None
        current = f"{current}\n{text}".strip() if current else text
        page = page or par_page
    if current:
        yield from ((piece, page) for piece in split_long(current))


def make_chunk(
    info: DocumentInfo,
    local_id: str,
    text: str,
    *,
    article: str | None = None,
    article_title: str | None = None,
    comma: str | None = None,
    section: str | None = None,
    label: str | None = None,
    page: int | None = None,
    titolo: str | None = None,
    capo: str | None = None,
) -> Chunk:
    """A chunk of `info`'s document with the stable id `doc_id:local_id`; every location field by keyword."""
    return Chunk(
        id=f"{info.doc_id}:{local_id}",
        doc_id=info.doc_id,
        text=text.strip(),
        article=article,
        article_title=article_title,
        comma=comma,
        section=section,
        label=label,
        page=page,
        titolo=titolo,
        capo=capo,
    )
