"""Norms (Normattiva style): Titolo > Capo > Art. > comma, lettere kept inside their comma, AGGIORNAMENTO
notes apart."""

from __future__ import annotations

import re
from dataclasses import replace

from ..loaders import Line
from ..models import Chunk, DocumentInfo
from ..text import fix_accents, sentence_case
from .blocks import MAX_CHARS, TARGET_CHARS, Unit, clean_title, ends_sentence, group, make_chunk, paragraphs, split_long
from .grammar import AGGIORNAMENTO, ART_HEADING, COMMA_START, LETTERA_START, TITOLO


def parse_norm(lines: list[Line], info: DocumentInfo) -> list[Chunk]:
    """One chunk per comma; long commi split at lettere; AGGIORNAMENTO notes kept apart."""
    chunks: list[Chunk] = []
    titolo = capo = None
    pending_heading: str | None = None  # "TITOLO" or "CAPO" waiting for its name line
    article: str | None = None
    article_title: str | None = None
    title_lines: list[str] = []
    in_title = False
    comma: str | None = None
    unit = Unit()
    preamble = Unit()
    note: str | None = None
    last_number = 0
    carry_open = False

    def flush() -> None:
        nonlocal unit
        if not unit:
            unit = Unit()
            return
        if note is not None:
            chunks.append(
                make_chunk(
                    info,
                    f"{article}:agg{note}",
                    unit.text(),
                    article=article,
                    article_title=article_title,
                    section="aggiornamento",
                    label=f"Nota di aggiornamento ({note})",
                    page=unit.page,
                    titolo=titolo,
                    capo=capo,
                )
            )
        else:
            chunks.extend(_split_comma(info, unit, article, article_title, comma, titolo, capo))
        unit = Unit()

    for line in lines:
        text = line.text
        stripped = text.strip()
        if pending_heading and stripped and not ART_HEADING.match(text) and not TITOLO.match(text):
            name = fix_accents(sentence_case(stripped) if stripped.isupper() else stripped)
            if pending_heading.lower().startswith("titolo"):
                titolo = f"{pending_heading} - {name}"
            else:
                capo = f"{pending_heading} - {name}"
            pending_heading = None
            continue
        match = ART_HEADING.match(text)
        if match:
            flush()
            pending_heading = None
            article, comma, note = match.group(1).lower(), None, None
            article_title, title_lines, in_title, last_number = None, [], True, 0
            continue
        heading = TITOLO.match(text)
        if heading and (article is None or not unit or ends_sentence(unit)):
            flush()
            label = f"{heading.group(1).capitalize()} {heading.group(2)}"
            rest = (heading.group(3) or "").strip()
            if heading.group(1).lower() == "titolo" or heading.group(1).lower() in ("libro", "parte"):
                titolo, capo = (f"{label} - {fix_accents(rest)}" if rest else label), None
            else:
                capo = f"{label} - {fix_accents(rest)}" if rest else label
            if not rest:
                pending_heading = label
            note = None
            continue
        agg = AGGIORNAMENTO.match(text)
        if agg and article is not None:
            flush()
            note = agg.group(1)
            continue
        if article is None:
            preamble.add(line)
            continue
        if stripped == "((" and not unit:
            carry_open = True
            continue
        comma_match = COMMA_START.match(text) if note is None else None
        if comma_match and _plausible_comma(comma_match.group(2), last_number, unit):
            flush()
            in_title = False
            if title_lines:
                article_title = clean_title(" ".join(title_lines))
            comma = comma_match.group(2)
            last_number = int(re.match(r"\d+", comma).group(0))  # type: ignore[union-attr]
            unit.add(Line("((" + text.lstrip(), line.page) if carry_open else line)
            carry_open = False
            continue
        if in_title:
            if not stripped:
                continue
            continues_title = not title_lines or (stripped[:1].islower() and len(title_lines) < 3)
            if continues_title and not LETTERA_START.match(text) and len(stripped) < 160:
                title_lines.append(stripped)
                continue
            in_title = False
            article_title = clean_title(" ".join(title_lines)) if title_lines else None
        if not stripped and not unit:
            continue
        unit.add(line)
    flush()
    if in_title and title_lines and article_title is None:
        article_title = clean_title(" ".join(title_lines))
    return _preamble_chunks(preamble, info) + _fill_titles(chunks)


def _fill_titles(chunks: list[Chunk]) -> list[Chunk]:
    """An article's title is known only after its heading lines; give it to every chunk of the article."""
    titles: dict[str, str] = {}
    for c in chunks:
        if c.article and c.article_title:
            titles.setdefault(c.article, c.article_title)
    return [replace(c, article_title=titles.get(c.article or "", c.article_title)) for c in chunks]


def _plausible_comma(number: str, last: int, unit: Unit) -> bool:
    """Guard against a wrapped line that happens to start with "2. ": commi go up, and never inside quotes."""
    value = int(re.match(r"\d+", number).group(0))  # type: ignore[union-attr]
    if unit:
        body = unit.text()
        if body.count("«") > body.count("»") or body.count("“") > body.count("”"):
            return False
    if "-" in number:
        return value == last or value == last + 1
    return value == last + 1 or (last == 0 and value == 1)


def _split_comma(
    info: DocumentInfo,
    unit: Unit,
    article: str | None,
    title: str | None,
    comma: str | None,
    titolo: str | None,
    capo: str | None,
) -> list[Chunk]:
    """A comma is one chunk; a very long one is split at its lettere into parts sharing the comma."""
    base = f"{article}:{comma}" if comma else f"{article}"
    text = unit.text()
    if len(text) <= MAX_CHARS:
        return [
            make_chunk(
                info,
                base,
                text,
                article=article,
                article_title=title,
                comma=comma,
                page=unit.page,
                titolo=titolo,
                capo=capo,
            )
        ]
    groups: list[Unit] = [Unit()]
    for line in unit.lines:
        if LETTERA_START.match(line.text) and len(groups[-1].text()) > TARGET_CHARS // 2:
            groups.append(Unit())
        groups[-1].add(line)
    merged: list[Unit] = []
    for part in groups:
        if merged and len(merged[-1].text()) + len(part.text()) <= TARGET_CHARS:
            merged[-1].lines.extend(part.lines)
        else:
            merged.append(part)
    pieces: list[tuple[str, int | None]] = []
    for part in merged:
        pieces.extend((piece, part.page) for piece in split_long(part.text()))
    return [
        make_chunk(
            info,
            base if n == 1 else f"{base}:p{n}",
            piece,
            article=article,
            article_title=title,
            comma=comma,
            label=None if n == 1 else f"parte {n}",
            page=page,
            titolo=titolo,
            capo=capo,
        )
        for n, (piece, page) in enumerate(pieces, start=1)
    ]


def _preamble_chunks(preamble: Unit, info: DocumentInfo) -> list[Chunk]:
    return [
        make_chunk(info, f"preambolo:{n}", text, section="preambolo", label="Preambolo", page=page)
        for n, (text, page) in enumerate(group(paragraphs(preamble.lines)), start=1)
    ]
