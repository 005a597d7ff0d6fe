"""Page numbers for a .txt copy, taken from the original PDF: each chunk gets the page where its text begins."""

from __future__ import annotations

from dataclasses import replace

from ..models import Chunk
from ..text import fold


def assign_pages(chunks: list[Chunk], page_texts: list[str]) -> list[Chunk]:
    """Give each chunk of a .txt copy the page of the original PDF where its text begins."""
    squashed: list[str] = []
    starts: list[int] = []
    offset = 0
    for text in page_texts:
        folded = fold(text).replace(" ", "")
        starts.append(offset)
        squashed.append(folded)
        offset += len(folded)
    whole = "".join(squashed)
    cursor = 0
    out: list[Chunk] = []
    last_page: int | None = None
    page: int | None
    for chunk in chunks:
        probe_source = fold(chunk.text).replace(" ", "")
        found = -1
        for size in (60, 35, 20):
            probe = probe_source[:size]
            if len(probe) < 12:
                break
            found = whole.find(probe, cursor)
            if found < 0:
                found = whole.find(probe)
            if found >= 0:
                break
        if found >= 0:
            cursor = found
            page = max(i for i, start in enumerate(starts) if start <= found) + 1
            last_page = page
        else:
            page = last_page
        out.append(replace(chunk, page=page))
    return out
