"""Guidelines (DM 72/2021): numbered sections "3.IL PROCEDIMENTO ..." and subsections "1.1) ...", after the
adopting decree."""

from __future__ import annotations

from ..loaders import Line
from ..models import Chunk, DocumentInfo
from ..text import fix_accents, join_lines, sentence_case
from .blocks import group, make_chunk, paragraphs
from .grammar import DM_SECTION, DM_SUBSECTION


def parse_guidelines(lines: list[Line], info: DocumentInfo) -> list[Chunk]:
    """Sections "1.INQUADRAMENTO ..." and subsections "1.1) ..."; the adopting decree before them."""
    blocks: list[tuple[str, str, list[Line]]] = []  # (section, label, lines)
    section, label = "decreto", "Decreto di adozione"
    current: list[Line] = []
    index = 0
    while index < len(lines):
        text = lines[index].text
        stripped = text.strip()
        top = DM_SECTION.match(text)
        sub = DM_SUBSECTION.match(text)
        if stripped.upper() == "INTRODUZIONE":
            blocks.append((section, label, current))
            section, label, current = "introduzione", "Introduzione", []
        elif top:
            blocks.append((section, label, current))
            section = top.group(1)
            label = f"{section}. {fix_accents(sentence_case(top.group(2).strip()))}"
            current = []
        elif sub:
            heading = [sub.group(2)]
            while (
                index + 1 < len(lines)
                and lines[index + 1].text.strip()
                and len(heading) < 3
                and not heading[-1].rstrip().endswith((".", ":"))
            ):
                index += 1
                heading.append(lines[index].text.strip())
            blocks.append((section, label, current))
            section = sub.group(1)
            label = f"{section}) {fix_accents(join_lines(heading))}"
            current = []
        else:
            current.append(lines[index])
        index += 1
    blocks.append((section, label, current))
    chunks: list[Chunk] = []
    for section, label, block in blocks:
        for n, (text, page) in enumerate(group(paragraphs(block)), start=1):
            chunks.append(make_chunk(info, f"s{section}:{n}", text, section=section, label=label, page=page))
    return chunks
