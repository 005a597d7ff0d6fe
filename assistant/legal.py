"""Italian legal structure -> citable chunks.

Norms (Normattiva style): Titolo > Capo > Art. > comma (lettere kept inside their comma).
Guidelines (DM 72/2021): numbered sections "3.IL PROCEDIMENTO ..." and "1.1)".
Judgments: intestazione, fatto, diritto, dispositivo (P.Q.M.), with paragraph numbers.
Everything else: headings (Markdown, "Art. N - Titolo", short standalone lines), then paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from .loaders import Line, SourceText
from .models import Chunk, DocumentInfo
from .references import find_links, legal_citations, strip_links
from .text import fix_accents, fold, join_lines, sentence_case, sentences

CHUNKER_VERSION = "legal-8"
MAX_CHARS = 1400  # split longer units (a comma with many lettere, a long paragraph)
TARGET_CHARS = 900  # group short paragraphs of prose up to about this size

_SUFFIX = r"(?:bis|ter|quater|quinquies|sexies|septies|octies|novies|nonies|decies|undecies|duodecies|terdecies)"
ART_HEADING = re.compile(rf"^\s{{0,6}}Art\.\s*(\d+(?:-?{_SUFFIX})?)\s*\.?\s*$", re.IGNORECASE)
COMMA_START = re.compile(rf"^\s{{0,4}}(\(\()?\s*(\d+(?:-{_SUFFIX})?)\.\s*(?=\S)")
LETTERA_START = re.compile(rf"^\s{{0,8}}(?:\(\()?\s*([a-z]{{1,2}}(?:-{_SUFFIX})?)\)\s")
TITOLO = re.compile(
    r"^\s*(TITOLO|Titolo|CAPO|Capo|LIBRO|Libro|PARTE|Parte)\s+([IVXLC]+(?:-?(?:bis|ter|quater|BIS|TER|QUATER))?)"
    r"\s*(?:[-–]\s+(.*))?$"
)
AGGIORNAMENTO = re.compile(r"^\s*AGGIORNAMENTO\s*\((\d+)\)\s*$")

DM_SECTION = re.compile(r"^\s{0,4}(\d)\.\s*([A-ZÀ-Ý][A-ZÀ-Ý’'`,\- –]{3,})\s*$")
DM_SUBSECTION = re.compile(r"^\s{0,6}(\d\.\d)\)\s+(\S.*)$")

JUDGMENT_PARTS = [
    ("fatto", re.compile(r"^\s*(FATTO|Fatto|Ritenuto in fatto|RITENUTO IN FATTO)\s*\.?\s*$")),
    ("diritto", re.compile(r"^\s*(DIRITTO|Diritto|Considerato in diritto|CONSIDERATO IN DIRITTO)\s*\.?\s*$")),
    ("diritto", re.compile(r"^\s*(FATTO|Fatto)\s+(e|E)\s+(DIRITTO|diritto)\s*\.?\s*$")),
    ("dispositivo", re.compile(r"^\s*(P\.\s?Q\.\s?M\.?|PER QUESTI MOTIVI|Per questi motivi)\s*$")),
]
PARAGRAPH_NUMBER = re.compile(r"^\s*(\d{1,2}(?:\.\d{1,2}){0,3})\s*\.?\s*[–—-]?\s+(?=[A-ZÀ-Ý«\"(])")

GENERIC_ART = re.compile(
    rf"^\s{{0,6}}(?:Art\.|ART\.|Articolo|ARTICOLO)\s*(\d+(?:-?{_SUFFIX})?)\s*(?:[-–—:.]\s*(.*))?$"
)
MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass
class _Unit:
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


def parse(source: SourceText, info: DocumentInfo) -> list[Chunk]:
    """Chunks for one document, by the structure its text shows."""
    lines = source.lines
    if info.path.lower().endswith(".md"):
        lines = _strip_front_matter(lines)
        chunks = parse_markdown(lines, info)
    elif info.kind == "norma" and _count(ART_HEADING, lines) >= 1:
        chunks = parse_norm(lines, info)
    elif info.kind == "giurisprudenza" and any(p.match(ln.text) for _, p in JUDGMENT_PARTS for ln in lines):
        chunks = parse_judgment(lines, info)
    elif _count(DM_SECTION, lines) >= 3:
        chunks = parse_guidelines(lines, info)
    else:
        chunks = parse_generic(lines, info)
    if not chunks and source.text.strip():  # no structure found at all: keep the text as one passage
        chunks = [
            _chunk(info, f"testo:{n}", text, None, None, None, None, None, page, None, None)
            for n, (text, page) in enumerate(_group(_paragraphs(lines)), start=1)
        ]
    own = info.doc_id if info.kind == "norma" else None
    return [
        replace(c, id=cid, position=i, amended="((" in c.text, refs=_with_citations(c, own))
        for i, (c, cid) in enumerate(_unique_ids(chunks))
    ]


def _with_citations(chunk: Chunk, own_doc_id: str | None) -> tuple[str, ...]:
    """Links written by authors plus the articles of the corpus's norms that the text cites."""
    found = [ref.key for ref in legal_citations(chunk.text, own_doc_id, chunk.article)]
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


def _count(pattern: re.Pattern[str], lines: list[Line]) -> int:
    return sum(1 for ln in lines if pattern.match(ln.text))


def _strip_front_matter(lines: list[Line]) -> list[Line]:
    if lines and lines[0].text.strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].text.strip() == "---":
                return lines[i + 1 :]
    return lines


# --- Norms ------------------------------------------------------------------------------------


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
    unit = _Unit()
    preamble = _Unit()
    note: str | None = None
    last_number = 0
    carry_open = False

    def flush() -> None:
        nonlocal unit
        if not unit:
            unit = _Unit()
            return
        if note is not None:
            chunks.append(
                _chunk(info, f"{article}:agg{note}", unit.text(), article, article_title, None,
                       "aggiornamento", f"Nota di aggiornamento ({note})", unit.page, titolo, capo)
            )
        else:
            chunks.extend(_split_comma(info, unit, article, article_title, comma, titolo, capo))
        unit = _Unit()

    for i, line in enumerate(lines):
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
        if heading and (article is None or not unit or _ends_sentence(unit)):
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
                article_title = _clean_title(" ".join(title_lines))
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
            article_title = _clean_title(" ".join(title_lines)) if title_lines else None
        if not stripped and not unit:
            continue
        unit.add(line)
    flush()
    if in_title and title_lines and article_title is None:
        article_title = _clean_title(" ".join(title_lines))
    return _preamble_chunks(preamble, info) + _fill_titles(chunks)


def _fill_titles(chunks: list[Chunk]) -> list[Chunk]:
    """An article's title is known only after its heading lines; give it to every chunk of the article."""
    titles: dict[str, str] = {}
    for c in chunks:
        if c.article and c.article_title:
            titles.setdefault(c.article, c.article_title)
    return [replace(c, article_title=titles.get(c.article or "", c.article_title)) for c in chunks]


def _plausible_comma(number: str, last: int, unit: _Unit) -> bool:
    """Guard against a wrapped line that happens to start with "2. ": commi go up, and never inside quotes."""
    value = int(re.match(r"\d+", number).group(0))  # type: ignore[union-attr]
    if unit:
        body = unit.text()
        if body.count("«") > body.count("»") or body.count("“") > body.count("”"):
            return False
    if "-" in number:
        return value == last or value == last + 1
    return value == last + 1 or (last == 0 and value == 1)


def _ends_sentence(unit: _Unit) -> bool:
    return unit.text().rstrip().endswith((".", ")", "»", ";"))


def _clean_title(title: str) -> str:
    title = fix_accents(title.strip())
    title = re.sub(r"^\(\(\s*", "", title)
    title = re.sub(r"\s*\)\)$", "", title)
    title = title.strip()
    if title.startswith("(") and title.rstrip(".").endswith(")"):
        title = title.rstrip(".")
        title = title[1:-1].strip()
    return re.sub(r"\s+", " ", title)


def _split_comma(
    info: DocumentInfo, unit: _Unit, article: str | None, title: str | None, comma: str | None,
    titolo: str | None, capo: str | None,
) -> list[Chunk]:
    """A comma is one chunk; a very long one is split at its lettere into parts sharing the comma."""
    base = f"{article}:{comma}" if comma else f"{article}"
    text = unit.text()
    if len(text) <= MAX_CHARS:
        return [_chunk(info, base, text, article, title, comma, None, None, unit.page, titolo, capo)]
    groups: list[_Unit] = [_Unit()]
    for line in unit.lines:
        if LETTERA_START.match(line.text) and len(groups[-1].text()) > TARGET_CHARS // 2:
            groups.append(_Unit())
        groups[-1].add(line)
    merged: list[_Unit] = []
    for group in groups:
        if merged and len(merged[-1].text()) + len(group.text()) <= TARGET_CHARS:
            merged[-1].lines.extend(group.lines)
        else:
            merged.append(group)
    pieces: list[tuple[str, int | None]] = []
    for group in merged:
        pieces.extend((piece, group.page) for piece in _split_long(group.text()))
    return [
        _chunk(info, base if n == 1 else f"{base}:p{n}", piece, article, title, comma, None,
               None if n == 1 else f"parte {n}", page, titolo, capo)
        for n, (piece, page) in enumerate(pieces, start=1)
    ]


def _split_long(text: str, limit: int = MAX_CHARS) -> list[str]:
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


def _preamble_chunks(preamble: _Unit, info: DocumentInfo) -> list[Chunk]:
    paragraphs = _paragraphs(preamble.lines)
    groups = _group(paragraphs)
    return [
        _chunk(info, f"preambolo:{n}", text, None, None, None, "preambolo", "Preambolo", page, None, None)
        for n, (text, page) in enumerate(groups, start=1)
    ]


# --- Guidelines (DM 72/2021) --------------------------------------------------------------------


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
            while index + 1 < len(lines) and lines[index + 1].text.strip() and len(heading) < 3 \
                    and not heading[-1].rstrip().endswith((".", ":")):
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
        for n, (text, page) in enumerate(_group(_paragraphs(block)), start=1):
            chunks.append(_chunk(info, f"s{section}:{n}", text, None, None, None, section, label, page, None, None))
    return chunks


# --- Judgments ----------------------------------------------------------------------------------


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
        for text, page in _group(_paragraphs(block), split_at_number=True):
            seen[name] = seen.get(name, 0) + 1
            match = PARAGRAPH_NUMBER.match(text)
            if match:
                number = match.group(1)
            label = part_label + (f", § {number}" if number and name != "intestazione" else "")
            chunks.append(_chunk(info, f"{name}:{seen[name]}", text, None, None, None, name, label, page, None, None))
    return chunks


# --- Markdown and everything else ---------------------------------------------------------------


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
        for text, page in _group(_paragraphs(current)):
            key = _section_key(section)
            counters[key] = counters.get(key, 0) + 1
            refs = tuple(dict.fromkeys(ref.key for _, ref in find_links(text)))
            chunk = _chunk(info, f"{key}:{counters[key]}", strip_links(text), None, None, None, section, label,
                           page, None, None)
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
            path.append(_clean_md(match.group(2)))
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
        for text, page in _group(_paragraphs(current)):
            key = f"art{article}" if article else _section_key(section or "testo")
            counters[key] = counters.get(key, 0) + 1
            label = section if not article else (f"Art. {article}" + (f" - {section}" if section else ""))
            chunks.append(_chunk(info, f"{key}:{counters[key]}", text, article, article_title, None,
                                 section, label, page, None, None))
        current.clear()

    for i, line in enumerate(lines):
        text = line.text
        art = GENERIC_ART.match(text)
        md = MD_HEADING.match(text)
        if art and (not art.group(2) or len(art.group(2)) < 120):
            flush()
            article = art.group(1).lower()
            article_title = _clean_title(art.group(2)) if art.group(2) else None
            if article_title and article_title.isupper():
                article_title = sentence_case(article_title)
            section = None
            continue
        if md or _standalone_heading(lines, i):
            heading = _clean_md(md.group(2)) if md else fix_accents(text.strip().rstrip("."))
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


def _clean_md(text: str) -> str:
    return fix_accents(re.sub(r"[*_`]", "", text)).strip()


def _section_key(section: str) -> str:
    from .text import slug

    return slug(section, 40)


# --- Shared helpers -----------------------------------------------------------------------------


def _paragraphs(lines: list[Line]) -> list[tuple[str, int | None]]:
    """Paragraphs from wrapped lines: a blank line or an indented line starts a new one.

    A blank line inside a sentence (a page break in the source PDF) does not end the paragraph.
    """
    out: list[_Unit] = []
    current = _Unit()
    for line in lines:
        raw = line.text
        if not raw.strip():
            if current and _ends_sentence(current):
                out.append(current)
                current = _Unit()
            continue
        indented = raw.startswith("  ") and not raw.startswith("        ")
        starts_item = bool(re.match(r"^\s*(?:[-•*]|\d+[.)]|[a-z]\))\s", raw))
        if current and (indented or starts_item) and _ends_sentence_or_colon(current):
            out.append(current)
            current = _Unit()
        current.add(line)
    if current:
        out.append(current)
    return [(u.text(), u.page) for u in out if u.text().strip()]


def _ends_sentence_or_colon(unit: _Unit) -> bool:
    return unit.text().rstrip().endswith((".", ")", "»", ";", ":", "”", "\""))


def _group(
    paragraphs: list[tuple[str, int | None]], split_at_number: bool = False
) -> Iterator[tuple[str, int | None]]:
    """Merge short paragraphs up to TARGET_CHARS; split long ones; a numbered paragraph starts a new group."""
    current, page = "", None
    for text, par_page in paragraphs:
        starts_numbered = split_at_number and PARAGRAPH_NUMBER.match(text) is not None
        if current and (len(current) + len(text) > TARGET_CHARS or starts_numbered):
            yield from ((piece, page) for piece in _split_long(current))
            current, page = "", None
        current = f"{current}\n{text}".strip() if current else text
        page = page or par_page
    if current:
        yield from ((piece, page) for piece in _split_long(current))


def _chunk(
    info: DocumentInfo, local_id: str, text: str, article: str | None, article_title: str | None,
    comma: str | None, section: str | None, label: str | None, page: int | None,
    titolo: str | None, capo: str | None,
) -> Chunk:
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


def embed_text(chunk: Chunk, info: DocumentInfo) -> str:
    """What the embedder and BM25 see: the chunk with its document, article title and path."""
    head = [info.ref] if info.kind == "norma" or info.ref == info.title else [info.title]
    if chunk.article:
        head.append(f"art. {chunk.article}" + (f" {chunk.article_title}" if chunk.article_title else ""))
        if chunk.comma:
            head.append(f"comma {chunk.comma}")
    elif chunk.label:
        head.append(chunk.label)
    return " - ".join(head) + ": " + chunk.text
