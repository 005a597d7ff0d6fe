"""A call (avviso) as the checker reads it: paragraphs, list items and headings with their page and section,
the passages that quote the law (not the call's own words), and excerpts for the report.

Matching runs on folded text (`assistant.text.fold_phrase`), so accents, case and hyphens never matter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .errors import UserError
from .legal.grammar import CALL_ART_HEADING, CALL_NUMBERED_HEADING, MD_HEADING
from .loaders import LoadError, SourceText, load
from .requirements import EVIDENCE_MAX, NOTE_PREFIX
from .text import fold, fold_phrase, join_lines, sentences

log = logging.getLogger(__name__)


class CallCheckError(UserError, ValueError):
    """A call that cannot be checked (missing, too large, unreadable); the message is Italian."""


# --- the call as blocks ---------------------------------------------------------------------------

_PARAGRAPH_START = re.compile(r"^[A-ZÀ-Ý0-9•\-–*»«“\"(]")
_MARKER_RE = re.compile(r"\bda completare\b")
QUOTED = re.compile(r"“[^”]*”|«[^»]*»|\"[^\"]*\"|^[^“«]*[”»]|[“«][^”»]*$", re.DOTALL)
_BULLET = re.compile(r"^(?:[-•➢▪*–]\s|[a-z0-9]{1,2}[.)]\s)")
_LAW_KINDS = ("norma", "linee_guida", "giurisprudenza", "prassi")
_SHINGLE = 6


@dataclass(frozen=True)
class Block:
    """A paragraph (or heading) of the call, with its page and the heading of its section."""

    text: str
    norm: str
    page: int | None
    section: str  # normalized heading of the enclosing section ("" before the first heading)
    heading: bool = False
    own: str = ""  # normalized text without quotations: the call's own words

    @property
    def incomplete(self) -> bool:
        return bool(_MARKER_RE.search(self.norm))


def make_block(text: str, page: int | None, section: str, heading: bool = False) -> Block:
    return Block(text, fold_phrase(text), page, section, heading, fold_phrase(QUOTED.sub(" … ", text)))


def _caps_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if len(letters) >= 4 else 0.0


def heading_text(line: str) -> str | None:
    """The heading a line is (Markdown, "Art. 4 - Durata", a short line in capitals), or None."""
    if match := MD_HEADING.match(line):
        return match.group(2).strip("*_ ")
    if len(line) > 100 or line.endswith((",", ";")):
        return None
    if CALL_ART_HEADING.match(line) and (len(line) <= 70 or _caps_ratio(line) >= 0.6):
        return line
    if line.endswith((".", ":", "!", "?")) or line.startswith(("“", "«", '"')):
        return None  # a sentence or a quoted title, not a heading
    if len(line) <= 90 and _caps_ratio(line) >= 0.85:
        return line
    if CALL_NUMBERED_HEADING.match(line) and len(line) <= 60:
        return line  # "2. Finalità", "3) Durata e risorse"
    return line if len(line) <= 40 and len(line.split()) <= 5 and line[:1].isupper() else None  # "Oggetto"


def document_blocks(source: SourceText) -> list[Block]:
    """Paragraphs, list items and headings; editorial notes of our drafts are left out."""
    blocks: list[Block] = []
    buffer: list[str] = []
    state: dict[str, Any] = {"page": None, "section": "", "caps_heading": False}

    def flush() -> None:
        text = join_lines(buffer)
        buffer.clear()
        block = make_block(text, state["page"], state["section"])
        if block.norm and not block.norm.startswith(fold(NOTE_PREFIX)):
            blocks.append(block)

    for line in source.lines:
        raw = line.text.strip().lstrip(">").strip()
        if line.page != state["page"]:
            flush()
            state["page"] = line.page
        head = heading_text(raw) if raw else None
        if head is not None:
            flush()
            caps = not raw.startswith("#") and not CALL_ART_HEADING.match(raw)
            if caps and state["caps_heading"] and blocks and blocks[-1].heading:
                head = blocks.pop().text + " " + head  # a title spread over several lines
            state["section"], state["caps_heading"] = fold_phrase(head), caps
            blocks.append(make_block(head, state["page"], state["section"], True))
            continue
        state["caps_heading"] = False
        if not raw:
            flush()
            continue
        if (
            buffer
            and buffer[-1].endswith((".", ";", ":", "!", "?"))
            and (_BULLET.match(raw) or (source.paged and _PARAGRAPH_START.match(raw)))
        ):
            flush()  # a new list item; PDFs have no blank lines between paragraphs
        buffer.append(raw)
    flush()
    return blocks


@lru_cache(maxsize=2)
def _law_shingles(catalog: Catalog) -> frozenset[int]:
    """Word 6-grams of the indexed law, guidelines, judgments and practice (not of calls or training)."""
    out: set[int] = set()
    for chunk in catalog.chunks:
        info = catalog.documents.get(chunk.doc_id)
        if info is not None and info.kind in _LAW_KINDS:
            words = fold_phrase(chunk.text).split()
            out.update(hash(tuple(words[i : i + _SHINGLE])) for i in range(len(words) - _SHINGLE + 1))
    return frozenset(out)


_CITING = re.compile(
    r"\b(?:stabilisce|stabiliscono|prevede|prevedono|dispone|dispongono|recita|recitano|"
    r"secondo cui|a mente del quale|chiarisce|afferma|testualmente)\b"
)


def law_quotations(blocks: list[Block], catalog: Catalog) -> set[int]:
    """Indexes of blocks that quote indexed law (art. 55 reproduced in the premises), not the call's own rules:
    mostly the law's words, framed as a quotation ("stabilisce:", quotation marks) or continuing one."""
    shingles = _law_shingles(catalog)
    out: set[int] = set()
    for index, block in enumerate(blocks):
        words = block.norm.split()
        grams = [hash(tuple(words[i : i + _SHINGLE])) for i in range(len(words) - _SHINGLE + 1)]
        previous = blocks[index - 1] if index else None
        introduced = previous is not None and previous.text.rstrip().endswith(":") and _CITING.search(previous.norm)
        framed = (
            _CITING.search(block.norm) or any(mark in block.text for mark in '“«"') or introduced or (index - 1) in out
        )
        if framed and len(grams) >= 4 and sum(g in shingles for g in grams) >= 0.5 * len(grams):
            out.add(index)
    return out


def excerpt(text: str, patterns: Iterable[re.Pattern[str]] = ()) -> str:
    """A quote of at most EVIDENCE_MAX characters: the block, else the sentence matching most patterns,
    else a window around the match."""
    text = " ".join(text.split())
    if len(text) <= EVIDENCE_MAX:
        return text
    patterns = tuple(patterns)
    parts = sentences(text) or [text]
    chosen = max(parts, key=lambda s: sum(bool(p.search(fold_phrase(s))) for p in patterns))
    if len(chosen) <= EVIDENCE_MAX:
        return chosen
    norm = fold_phrase(chosen)
    match = next((m for p in reversed(patterns) if (m := p.search(norm))), None)
    centre = int(len(chosen) * (match.start() / max(len(norm), 1))) if match else 0
    start = max(0, min(centre - EVIDENCE_MAX // 3, len(chosen) - EVIDENCE_MAX + 2))
    window = chosen[start : start + EVIDENCE_MAX - 2].strip()
    return ("…" if start > 0 else "") + window + ("…" if start + EVIDENCE_MAX - 2 < len(chosen) else "")


def read_call(path: Path, max_upload_mb: int | None = None) -> SourceText:
    """Load a call with its size checked first (no limit for None); every problem is a CallCheckError in Italian."""
    if not path.is_file():
        raise CallCheckError(f"Impossibile verificare l'avviso: il file {path} non esiste.")
    size = path.stat().st_size
    if max_upload_mb is not None and size > max_upload_mb * 1024 * 1024:
        raise CallCheckError(
            f"Impossibile verificare l'avviso: {path.name} pesa {size / 1024 / 1024:.1f} MB, oltre il limite di "
            f"{max_upload_mb} MB (impostazione max_upload_mb, variabile LC_MAX_UPLOAD_MB)."
        )
    try:
        return load(path)
    except LoadError as exc:
        log.warning("call not readable: %s: %s", path.name, exc.detail)
        raise CallCheckError(f"Impossibile verificare l'avviso: {exc.message}") from None
