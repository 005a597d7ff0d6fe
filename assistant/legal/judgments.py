"""Judgments: intestazione, fatto, diritto, dispositivo (P.Q.M.), with their paragraph numbers."""

from __future__ import annotations

from ..loaders import Line
from ..models import Chunk, DocumentInfo
from ..text import sentence_case
from .blocks import group, make_chunk, paragraphs
from .grammar import JUDGMENT_PARTS, PARAGRAPH_NUMBER


def parse_judgment(lines: list[Line], info: DocumentInfo) -> list[Chunk]:
    """Parts of a judgment, then its numbered paragraphs grouped to a readable size."""
    parts: list[tuple[str, str, list[Line]]] = [("intestazione", "Intestazione", [])]
    for line in lines:
        part = next((name for name, pattern in JUDGMENT_PARTS if pattern.match(line.text)), None)
        if part:
            heading = line.text.strip()
            label = "P.Q.M. (dispositivo)" if part == "dispositivo" else sentence_case(heading)
            parts.append((part, label, []))
        else:
            parts[-1][2].append(line)
    if not any(name in ("fatto", "diritto") for name, _, _ in parts):
        # No "Fatto"/"Diritto" headings: the reasoning is everything before P.Q.M.
        parts[0] = ("diritto", "Motivazione", parts[0][2])
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for name, part_label, block in parts:
        number: str | None = None
        for text, page in group(paragraphs(block), split_at_number=True):
            seen[name] = seen.get(name, 0) + 1
            match = PARAGRAPH_NUMBER.match(text)
            if match:
                number = match.group(1)
            label = part_label + (f", § {number}" if number and name != "intestazione" else "")
            chunks.append(make_chunk(info, f"{name}:{seen[name]}", text, section=name, label=label, page=page))
    return chunks
