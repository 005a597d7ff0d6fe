"""The number and reference check of authored text: every number, date, amount, threshold and "art. N" that a
sentence states must appear in the passages it cites.

Used on the prontuario, the training modules and the glossary (`assistant curated check`, `assistant corpus
check`) and by the answer composer. Digits are compared as digits ("10.000" = "10000"), number words as digits
("sessanta" = 60); an article number is supported by a cited article or by a cited passage that names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .models import Chunk, DocumentInfo
from .references import Ref
from .text import fold

NUMBER_WORDS = {
    "due": 2, "tre": 3, "quattro": 4, "cinque": 5, "sei": 6, "sette": 7, "otto": 8, "nove": 9, "dieci": 10,
    "undici": 11, "dodici": 12, "tredici": 13, "quattordici": 14, "quindici": 15, "sedici": 16,
    "diciassette": 17, "diciotto": 18, "diciannove": 19, "venti": 20, "trenta": 30, "quaranta": 40,
    "cinquanta": 50, "sessanta": 60, "settanta": 70, "ottanta": 80, "novanta": 90, "cento": 100,
    "duecento": 200, "trecento": 300, "mille": 1000, "diecimila": 10000, "centomila": 100000,
}  # fmt: skip
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+")
_MARKER = re.compile(r"\[\d+\]")
_ARTICLE_LIST = re.compile(
    r"\b(?:artt?|articol[oi])\b\.?\s*((?:\d+(?:\s*-?\s*(?:bis|ter|quater|quinquies|sexies|septies|octies))?"
    r"(?:\s*(?:,|e|ed|-|–|nonché)\s*)?)+)",
    re.IGNORECASE,
)


def _plain(raw: str) -> str:
    """One written form per number: "60.000,00" = "60.000" = "60000"; "00158" = "158"."""
    raw = re.sub(r",0+$", "", raw.rstrip(".,"))
    raw = raw.replace(".", "") if _THOUSANDS.fullmatch(raw) else raw
    return raw.lstrip("0") or "0"


def numbers_in(text: str) -> set[str]:
    """Every number a text contains: as written, without thousand separators, by its parts, and number words."""
    out: set[str] = set()
    for match in _NUMBER.finditer(text):
        out.add(_plain(match.group(0)))
        out.update(_plain(part) for part in re.split(r"[.,]", match.group(0)) if part)
    out.update(str(NUMBER_WORDS[w]) for w in fold(text).split() if w in NUMBER_WORDS)
    return out


def stated_numbers(text: str) -> list[str]:
    """The numbers an authored sentence states (citation markers [n] left out)."""
    text = _MARKER.sub(" ", text)
    found = [_plain(m.group(0)) for m in _NUMBER.finditer(text)]
    return found + [str(NUMBER_WORDS[w]) for w in fold(text).split() if w in NUMBER_WORDS]


def stated_articles(text: str) -> list[str]:
    """The article numbers an authored sentence names ("art. 55", "artt. 55, 56 e 57")."""
    found: list[str] = []
    for match in _ARTICLE_LIST.finditer(_MARKER.sub(" ", text)):
        found += re.findall(r"\d+", match.group(1))
    return found


def unsupported(
    text: str, chunks: Iterable[Chunk], refs: Iterable[Ref] = (), documents: dict[str, DocumentInfo] | None = None
) -> list[str]:
    """The numbers and "art. N" of `text` that neither the cited passages nor the citations themselves contain.

    The citations count: the article and comma cited, and the cited document's reference ("D.Lgs. 117/2017").
    """
    have: set[str] = set()
    articles: set[str] = set()
    for chunk in chunks:
        have |= numbers_in(chunk.text)
        for match in _ARTICLE_LIST.finditer(chunk.text):
            articles |= set(re.findall(r"\d+", match.group(1)))
        for value in (chunk.article, chunk.comma, chunk.section, chunk.label):
            if value:
                have |= numbers_in(value)
        if chunk.article:
            articles |= set(re.findall(r"\d+", chunk.article))
        info = (documents or {}).get(chunk.doc_id)
        if info is not None:
            for value in (info.short_ref, info.title, info.identifier):
                have |= numbers_in(value)
    for ref in refs:
        for value in (ref.article, ref.comma, ref.section):
            if value:
                have |= numbers_in(value)
        if ref.article:
            articles |= set(re.findall(r"\d+", ref.article))
    missing = [n for n in stated_numbers(text) if n not in have]
    missing += [f"art. {a}" for a in stated_articles(text) if a not in articles]
    return sorted(set(missing), key=lambda v: (len(v), v))
