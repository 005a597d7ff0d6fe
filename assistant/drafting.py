"""Calls (avvisi) for shared administration: what the law asks of them, a guided draft, and a checker.

The requirements live in `corpus/requisiti/avviso.yaml`: elements a call must or should contain (with the
norm asking for each, as structured citations that resolve to indexed chunks) and red flags (with the
norm or judgment that sanctions them). `draft_call` turns an official's form into a structured draft that
only says what the official wrote, marking `[DA COMPLETARE: ...]` everything else; `check_call` reads a
call (PDF, DOCX, TXT, MD) and reports, per element, `presente` / `assente` / `dubbio` with the passage found.
Matching runs on folded text (`assistant.text.fold`), so accents, case and hyphens never matter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .catalog import Catalog
from .citations import citation as make_citation
from .loaders import LoadError, SourceText, load
from .models import Citation
from .references import Ref
from .text import fold, join_lines, sentences, slug

log = logging.getLogger(__name__)

CALL_TYPES: tuple[str, ...] = ("co-progettazione", "co-programmazione", "convenzione")
UNKNOWN_TYPE = "sconosciuto"
SEVERITIES = ("obbligatorio", "raccomandato")
STATUSES = ("presente", "assente", "dubbio")
REQUIREMENTS_FILE = Path("requisiti") / "avviso.yaml"
MARKER = "DA COMPLETARE"
NOTE_PREFIX = "Nota di redazione"  # editorial notes of our drafts: not part of the call, skipped by the checker
EVIDENCE_MAX = 300
CITATION_KEYS = ("doc_id", "article", "comma", "section", "page", "version", "label")


class RequirementsError(ValueError):
    """The requirements file cannot be used; the message is Italian and names the file."""


class CallCheckError(ValueError):
    """A call that cannot be checked (missing, too large, unreadable); the message is Italian."""


# --- requirements model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Basis:
    """A legal basis: a structured citation, with a few words of the passage to pick the exact chunk,
    and the call types it concerns (empty: all the element's types)."""

    ref: Ref
    quote: str = ""
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Detector:
    """Regexes on folded text. A strong group matches when all its patterns match the same block (or the
    element's own section); its last pattern is the most specific and locates the evidence."""

    strong: tuple[tuple[re.Pattern[str], ...], ...]
    weak: tuple[re.Pattern[str], ...] = ()
    heading: re.Pattern[str] | None = None
    section_is_enough: bool = False  # a section devoted to the element, with text, makes it `presente`
    contradicted_by: tuple[str, ...] = ()  # red flags that make a `presente` element `dubbio`
    first_mention: bool = False  # quote the first mention (titles included), not the richest paragraph

    def strong_group(self, norm: str) -> tuple[re.Pattern[str], ...] | None:
        return next((g for g in self.strong if all(p.search(norm) for p in g)), None)

    def weak_match(self, norm: str) -> bool:
        return any(p.search(norm) for p in self.weak)


@dataclass(frozen=True)
class Element:
    id: str
    label: str
    description: str
    applies_to: tuple[str, ...]
    severity: str
    legal_basis: tuple[Basis, ...]
    guidance: str
    common_mistake: str
    detector: Detector
    draft_title: str
    draft_text: Mapping[str, str]  # by call type ("*" for all); `{field}` placeholders from DraftForm
    missing: Mapping[str, str]  # DraftForm field -> what the official must write there
    severity_by_type: Mapping[str, str]

    def severity_for(self, call_type: str) -> str:
        return self.severity_by_type.get(call_type, self.severity)

    def text_for(self, call_type: str) -> str:
        return self.draft_text.get(call_type) or self.draft_text.get("*", "")


@dataclass(frozen=True)
class RedFlag:
    id: str
    label: str
    description: str
    applies_to: tuple[str, ...]
    legal_basis: tuple[Basis, ...]
    guidance: str
    patterns: tuple[re.Pattern[str], ...] = ()
    when_absent: tuple[str, ...] = ()  # raised when one of these elements is `assente`
    doubtful: bool = False  # a suspicion to verify, not a finding


@dataclass(frozen=True)
class Theme:
    id: str
    label: str
    source: str


@dataclass(frozen=True)
class Requirements:
    elements: tuple[Element, ...]
    red_flags: tuple[RedFlag, ...]
    themes: tuple[Theme, ...]
    preamble: Mapping[str, str]
    path: str = ""

    def elements_for(self, call_type: str) -> list[Element]:
        """Elements of a call type; for an unknown type, those every type needs."""
        if call_type in CALL_TYPES:
            return [e for e in self.elements if call_type in e.applies_to]
        return [e for e in self.elements if set(CALL_TYPES) <= set(e.applies_to)]

    def flags_for(self, call_type: str) -> list[RedFlag]:
        if call_type in CALL_TYPES:
            return [f for f in self.red_flags if call_type in f.applies_to]
        return [f for f in self.red_flags if set(CALL_TYPES) <= set(f.applies_to)]

    def theme(self, value: str) -> Theme | None:
        wanted = fold(value)
        return next((t for t in self.themes if wanted in (fold(t.id), fold(t.label))), None)

    def bases(self) -> list[tuple[str, Basis]]:
        """Every legal basis with the id of the element or flag that cites it."""
        items: list[Element | RedFlag] = [*self.elements, *self.red_flags]
        return [(item.id, basis) for item in items for basis in item.legal_basis]


def _compile(value: Any, where: str) -> re.Pattern[str]:
    try:
        return re.compile(str(value))
    except re.error as exc:
        raise RequirementsError(f"{where}: espressione regolare non valida {value!r} ({exc}).") from None


def _bases(raw: Any, where: str) -> tuple[Basis, ...]:
    if not raw:
        raise RequirementsError(f"{where}: manca legal_basis (almeno una citazione {{doc_id, article, comma}}).")
    try:
        return tuple(Basis(Ref.from_mapping(item), str(item.get("quote", "")), tuple(item.get("types") or ()))
                     for item in raw)
    except (KeyError, AttributeError, TypeError):
        raise RequirementsError(f"{where}: legal_basis deve essere un elenco di {{doc_id, article, comma}} "
                                "o {doc_id, section}.") from None


def _types(raw: Any, where: str) -> tuple[str, ...]:
    values = tuple(raw or ())
    unknown = [v for v in values if v not in CALL_TYPES]
    if not values or unknown:
        raise RequirementsError(f"{where}: applies_to deve elencare tipi tra {', '.join(CALL_TYPES)} "
                                f"(trovato {list(values)}).")
    return values


def _detector(raw: Mapping[str, Any], where: str) -> Detector:
    strong = tuple(tuple(_compile(p, where) for p in (g if isinstance(g, list) else [g]))
                   for g in raw.get("strong") or ())
    if not strong:
        raise RequirementsError(f"{where}: detect.strong deve contenere almeno un'espressione.")
    weak = tuple(_compile(p, where) for p in raw.get("weak") or ())
    heading = _compile(raw["heading"], where) if raw.get("heading") else None
    return Detector(strong, weak, heading, bool(raw.get("section_is_enough", False)),
                    tuple(raw.get("contradicted_by") or ()), bool(raw.get("first_mention", False)))


def _element(raw: Mapping[str, Any], source: str) -> Element:
    where = f"{source}, elemento {raw.get('id', '?')}"
    missing = [k for k in ("id", "label", "description", "applies_to", "severity", "legal_basis", "guidance",
                           "common_mistake", "detect", "draft") if not raw.get(k)]
    if missing:
        raise RequirementsError(f"{where}: mancano i campi {', '.join(missing)}.")
    severities = {"*": raw["severity"], **dict(raw.get("severity_by_type") or {})}
    if any(s not in SEVERITIES for s in severities.values()):
        raise RequirementsError(f"{where}: severity deve essere obbligatorio o raccomandato.")
    draft = raw["draft"]
    text = draft.get("text", "")
    return Element(
        id=str(raw["id"]), label=str(raw["label"]), description=" ".join(str(raw["description"]).split()),
        applies_to=_types(raw["applies_to"], where), severity=str(raw["severity"]),
        legal_basis=_bases(raw["legal_basis"], where), guidance=" ".join(str(raw["guidance"]).split()),
        common_mistake=" ".join(str(raw["common_mistake"]).split()), detector=_detector(raw["detect"], where),
        draft_title=str(draft.get("title") or raw["label"]),
        draft_text=dict(text) if isinstance(text, Mapping) else {"*": str(text)},
        missing={str(k): str(v) for k, v in (draft.get("missing") or {}).items()},
        severity_by_type=dict(raw.get("severity_by_type") or {}),
    )


def _red_flag(raw: Mapping[str, Any], source: str) -> RedFlag:
    where = f"{source}, segnale {raw.get('id', '?')}"
    missing = [k for k in ("id", "label", "description", "applies_to", "legal_basis", "guidance") if not raw.get(k)]
    if missing or not (raw.get("patterns") or raw.get("when_absent")):
        raise RequirementsError(f"{where}: servono id, label, description, applies_to, legal_basis, guidance "
                                "e patterns oppure when_absent.")
    return RedFlag(
        id=str(raw["id"]), label=str(raw["label"]), description=" ".join(str(raw["description"]).split()),
        applies_to=_types(raw["applies_to"], where), legal_basis=_bases(raw["legal_basis"], where),
        guidance=" ".join(str(raw["guidance"]).split()),
        patterns=tuple(_compile(p, where) for p in raw.get("patterns") or ()),
        when_absent=tuple(raw.get("when_absent") or ()), doubtful=bool(raw.get("doubtful", False)),
    )


def load_requirements(corpus_dir: Path | str = "corpus") -> Requirements:
    """Read and validate `<corpus>/requisiti/avviso.yaml`; problems raise RequirementsError in Italian."""
    path = Path(corpus_dir) / REQUIREMENTS_FILE
    return _load_requirements_file(str(path.resolve()))


@lru_cache(maxsize=4)
def _load_requirements_file(path_text: str) -> Requirements:
    path = Path(path_text)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise RequirementsError(f"Manca il file dei requisiti degli avvisi: {path}.") from None
    except yaml.YAMLError as exc:
        raise RequirementsError(f"{path.name}: YAML non valido ({exc}).") from None
    if not isinstance(data, dict):
        raise RequirementsError(f"{path.name}: il file deve contenere elements, red_flags e themes.")
    elements = tuple(_element(e, path.name) for e in data.get("elements") or ())
    flags = tuple(_red_flag(f, path.name) for f in data.get("red_flags") or ())
    ids = [e.id for e in elements] + [f.id for f in flags]
    if len(ids) != len(set(ids)):
        raise RequirementsError(f"{path.name}: identificativi duplicati tra elementi e segnali.")
    for flag in flags:
        if unknown := [i for i in flag.when_absent if i not in ids]:
            raise RequirementsError(f"{path.name}, segnale {flag.id}: when_absent cita elementi inesistenti {unknown}.")
    themes = tuple(Theme(str(t["id"]), str(t["label"]), str(t.get("source", ""))) for t in data.get("themes") or ())
    return Requirements(elements, flags, themes, dict(data.get("preamble") or {}), str(path))


# --- citations ------------------------------------------------------------------------------------


def resolve_basis(basis: Basis, catalog: Catalog) -> Citation | None:
    """The indexed chunk a legal basis points to (the one holding `quote`, if given), as a Citation."""
    ref = basis.ref
    chunks = catalog.resolve(ref.doc_id, ref.article, ref.comma, ref.section)
    info = catalog.document(ref.doc_id)
    if basis.quote:
        wanted = fold(basis.quote)
        chunks = [c for c in chunks if wanted in fold(c.text)]
    if not chunks or info is None:
        return None
    return make_citation(chunks[0], info)


def citations_for(bases: Iterable[Basis], catalog: Catalog, call_type: str | None = None) -> tuple[Citation, ...]:
    """The resolved citations of some legal bases (those concerning `call_type`, when given)."""
    out: list[Citation] = []
    for basis in bases:
        if call_type and basis.types and call_type not in basis.types:
            continue
        cited = resolve_basis(basis, catalog)
        if cited is None:
            log.warning("legal basis does not resolve in this index: %s", basis.ref.key)
        elif cited not in out:
            out.append(cited)
    return tuple(out)


def citation_json(cited: Citation) -> dict[str, Any]:
    data = cited.to_dict()
    return {key: data[key] for key in CITATION_KEYS}


# --- the call as blocks ---------------------------------------------------------------------------

_CO_JOIN = re.compile(r"\bco (?=progett|programm)")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
_ART_HEADING = re.compile(r"^art(?:icolo)?\.?\s*\d+[\w-]*\s*[-–—.:)]\s*\S", re.IGNORECASE)
_NUM_HEADING = re.compile(r"^\d{1,2}(?:\.\d{1,2})*[.)]?\s+[A-ZÀ-Ý]")
_PARAGRAPH_START = re.compile(r"^[A-ZÀ-Ý0-9•\-–*»«“\"(]")
_MARKER_RE = re.compile(r"\bda completare\b")
_QUOTED = re.compile(r"“[^”]*”|«[^»]*»|\"[^\"]*\"|^[^“«]*[”»]|[“«][^”»]*$", re.DOTALL)
_BULLET = re.compile(r"^(?:[-•➢▪*–]\s|[a-z0-9]{1,2}[.)]\s)")
_LAW_KINDS = ("norma", "linee_guida", "giurisprudenza", "prassi")
_SHINGLE = 6


def normalize(text: str) -> str:
    """Matching form: folded, "co progettazione" joined, euro and percent signs kept as words."""
    return _CO_JOIN.sub("co", fold(text.replace("€", " euro ").replace("%", " percento ")))


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
    return Block(text, normalize(text), page, section, heading, normalize(_QUOTED.sub(" … ", text)))


def _caps_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if len(letters) >= 4 else 0.0


def heading_text(line: str) -> str | None:
    """The heading a line is (Markdown, "Art. 4 - Durata", a short line in capitals), or None."""
    if match := _MD_HEADING.match(line):
        return match.group(1).strip("*_ ")
    if len(line) > 100 or line.endswith((",", ";")):
        return None
    if _ART_HEADING.match(line) and (len(line) <= 70 or _caps_ratio(line) >= 0.6):
        return line
    if line.endswith((".", ":", "!", "?")) or line.startswith(("“", "«", '"')):
        return None  # a sentence or a quoted title, not a heading
    if len(line) <= 90 and _caps_ratio(line) >= 0.85:
        return line
    if _NUM_HEADING.match(line) and len(line) <= 60:
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
            caps = not raw.startswith("#") and not _ART_HEADING.match(raw)
            if caps and state["caps_heading"] and blocks and blocks[-1].heading:
                head = blocks.pop().text + " " + head  # a title spread over several lines
            state["section"], state["caps_heading"] = normalize(head), caps
            blocks.append(make_block(head, state["page"], state["section"], True))
            continue
        state["caps_heading"] = False
        if not raw:
            flush()
            continue
        if buffer and buffer[-1].endswith((".", ";", ":", "!", "?")) and (
                _BULLET.match(raw) or (source.paged and _PARAGRAPH_START.match(raw))):
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
            words = normalize(chunk.text).split()
            out.update(hash(tuple(words[i : i + _SHINGLE])) for i in range(len(words) - _SHINGLE + 1))
    return frozenset(out)


_CITING = re.compile(r"\b(?:stabilisce|stabiliscono|prevede|prevedono|dispone|dispongono|recita|recitano|"
                     r"secondo cui|a mente del quale|chiarisce|afferma|testualmente)\b")


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
        framed = (_CITING.search(block.norm) or any(mark in block.text for mark in "“«\"") or introduced
                  or (index - 1) in out)
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
    chosen = max(parts, key=lambda s: sum(bool(p.search(normalize(s))) for p in patterns))
    if len(chosen) <= EVIDENCE_MAX:
        return chosen
    norm = normalize(chosen)
    match = next((m for p in reversed(patterns) if (m := p.search(norm))), None)
    centre = int(len(chosen) * (match.start() / max(len(norm), 1))) if match else 0
    start = max(0, min(centre - EVIDENCE_MAX // 3, len(chosen) - EVIDENCE_MAX + 2))
    window = chosen[start : start + EVIDENCE_MAX - 2].strip()
    return ("…" if start > 0 else "") + window + ("…" if start + EVIDENCE_MAX - 2 < len(chosen) else "")


# --- the checker ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementResult:
    id: str
    label: str
    severity: str
    status: str
    evidence: str | None
    page: int | None
    citations: tuple[Citation, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "severity": self.severity, "status": self.status,
                "evidence": self.evidence, "page": self.page, "citations": [citation_json(c) for c in self.citations]}


@dataclass(frozen=True)
class FlagResult:
    id: str
    label: str
    evidence: str | None
    page: int | None
    citations: tuple[Citation, ...]
    doubtful: bool = False
    guidance: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "evidence": self.evidence, "page": self.page,
                "citations": [citation_json(c) for c in self.citations]}


@dataclass(frozen=True)
class CallReport:
    file: str
    type: str
    elements: tuple[ElementResult, ...]
    red_flags: tuple[FlagResult, ...]

    def to_json(self) -> dict[str, Any]:
        """The `assistant check-call --json` contract."""
        return {"file": self.file, "type": self.type, "elements": [e.to_json() for e in self.elements],
                "red_flags": [f.to_json() for f in self.red_flags]}

    def status(self, element_id: str) -> str | None:
        return next((e.status for e in self.elements if e.id == element_id), None)


_TYPE_WORDS = {
    "co-progettazione": re.compile(r"\bcoprogettazion\w*"),
    "co-programmazione": re.compile(r"\bcoprogrammazion\w*"),
    "convenzione": re.compile(r"\bart(?:icolo)? 56\b|\bconvenzion\w*\b(?: \w+){0,8} (?:odv|aps|organizzazion\w* di "
                              r"volontariato|associazion\w* di promozione sociale)\b|\b(?:odv|aps|organizzazion\w* di "
                              r"volontariato|associazion\w* di promozione sociale)\b(?: \w+){0,8} convenzion\w*"),
}


def detect_type(blocks: list[Block]) -> str:
    """co-progettazione, co-programmazione or convenzione: the title decides, else the most mentioned."""
    title = " ".join(b.norm for b in blocks[:8])[:700]
    in_title = [t for t, p in _TYPE_WORDS.items() if p.search(title)]
    if len(in_title) == 1:
        return in_title[0]
    text = " ".join(b.norm for b in blocks)
    counts = {t: len(p.findall(text)) for t, p in _TYPE_WORDS.items()}
    candidates = in_title or [t for t in CALL_TYPES if counts[t]]
    if not candidates:
        return UNKNOWN_TYPE
    return max(candidates, key=lambda t: (counts[t], -CALL_TYPES.index(t)))


def _evidence_block(blocks: list[Block], group: tuple[re.Pattern[str], ...]) -> Block:
    """The block holding the whole group, else the one holding its most specific pattern."""
    return next((b for b in blocks if all(p.search(b.norm) for p in group)),
                next((b for b in blocks if group[-1].search(b.norm)), blocks[0]))


_COMMENTARY = re.compile(r"\bsentenz\w*|\bcorte costituzionale\b|\bconsiglio di stato\b|\brelazione illustrativa\b|"
                         r"\blinee guida anac\b")


def assess(element: Element, blocks: list[Block], law: set[int] | frozenset[int] = frozenset()
           ) -> tuple[str, Block | None, tuple[re.Pattern[str], ...]]:
    """Status of one element. Its own section decides first (a `[DA COMPLETARE]` there makes it `dubbio`);
    elsewhere the call's own words count before quotations, and quoted law alone is only `dubbio`."""
    detector = element.detector
    own = [b for b in blocks if not b.heading and detector.heading and detector.heading.search(b.section)]
    if own:
        if marked := [b for b in own if b.incomplete]:
            return "dubbio", marked[0], ()
        titles = list(dict.fromkeys(b.section for b in own))  # the section titles belong to the section's text
        if group := detector.strong_group(" | ".join([*titles, *(b.norm for b in own)])):
            return "presente", _evidence_block(own, group), group
        if detector.section_is_enough:
            return "presente", own[0], ()
    ranked = []
    for index, block in enumerate(blocks):
        own_group = detector.strong_group(block.own)
        group = own_group or detector.strong_group(block.norm)
        if group:
            strength = sum(len(p.findall(block.norm)) for p in group)
            rank = (index in law, block.incomplete, bool(_COMMENTARY.search(block.norm)), own_group is None,
                     False, 0, index) if detector.first_mention else (
                    index in law, block.incomplete, bool(_COMMENTARY.search(block.norm)), own_group is None,
                    block.heading, -min(strength, 3), index)
            ranked.append((rank, block, group))
    if ranked:
        rank, block, group = min(ranked, key=lambda item: item[0])
        return ("dubbio" if rank[0] or rank[1] else "presente"), block, group
    weak = next((b for b in blocks if detector.weak_match(b.norm)), None)
    if weak is not None:
        return "dubbio", weak, detector.weak
    return ("dubbio", own[0], ()) if own else ("assente", None, ())


_CLAUSE_BREAK = re.compile(r"[,;:()\[\]]|\s[-–—]\s")
_CLAUSE_WORD = "zzclausola"  # stands for a comma or a colon in folded text, to scope negations
_NEGATION = re.compile(r"\b(?:anziche|invece|in luogo|esclu\w*|estrane\w*|vieta\w*|divers\w*|alternativ\w*)\b")
_NOT_VERB = re.compile(r"\b(?:non|ne) (?:e|sono|sara|saranno|si|consiste|costituisc\w*|configura\w*|rappresenta\w*|"
                       r"preved\w*|previst\w*|comporta\w*|ammess\w*|ammett\w*|rientra\w*|ha|hanno|trattasi)\b")


def _negated(norm: str, start: int) -> bool:
    """Whether the clause denies the match: "non consiste in un appalto", "estranea al codice", "senza ribasso";
    a negation elsewhere in the clause ("trasporto non effettuato ... penale") does not count."""
    words = norm[:start].split()[-15:]
    if _CLAUSE_WORD in words:
        words = words[len(words) - words[::-1].index(_CLAUSE_WORD):]
    window = " ".join(words)
    return bool(_NEGATION.search(window) or _NOT_VERB.search(window) or "senza" in words[-3:])


def find_flag(flag: RedFlag, blocks: list[Block], law: set[int] | frozenset[int] = frozenset()
              ) -> tuple[str, Block] | None:
    """The first passage, outside quotations and not negated in its clause, that raises a red flag."""
    for index, block in enumerate(blocks):
        if index in law or not any(p.search(block.own) for p in flag.patterns):
            continue
        for sentence in sentences(_QUOTED.sub(" … ", block.text)):
            norm = normalize(_CLAUSE_BREAK.sub(f" {_CLAUSE_WORD} ", sentence))
            for pattern in flag.patterns:
                if any(not _negated(norm, m.start()) for m in pattern.finditer(norm)):
                    return excerpt(sentence, (pattern,)), block
    return None


def _mentioned(element: Element, blocks: list[Block]) -> bool:
    """Whether the call says anything about an element (a section title alone does not count)."""
    detector = element.detector
    return any(detector.strong_group(b.norm) or detector.weak_match(b.norm) for b in blocks if not b.heading)


def check_blocks(blocks: list[Block], catalog: Catalog, requirements: Requirements, file: str,
                 call_type: str | None = None) -> CallReport:
    """The report on a call already split into blocks."""
    kind = call_type or detect_type(blocks)
    law = law_quotations(blocks, catalog)
    results = []
    for element in requirements.elements_for(kind):
        status, block, patterns = assess(element, blocks, law)
        results.append(ElementResult(
            element.id, element.label, element.severity_for(kind), status,
            excerpt(block.text, patterns) if block else None, block.page if block else None,
            citations_for(element.legal_basis, catalog, kind)))
    elements = {e.id: e for e in requirements.elements}
    unmentioned = {r.id for r in results if r.status == "assente"
                   or (r.status == "dubbio" and not _mentioned(elements[r.id], blocks))}
    flags = []
    for flag in requirements.flags_for(kind):
        found = find_flag(flag, blocks, law) if flag.patterns else None
        if found or unmentioned.intersection(flag.when_absent):
            flags.append(FlagResult(flag.id, flag.label, found[0] if found else None,
                                    found[1].page if found else None, citations_for(flag.legal_basis, catalog, kind),
                                    flag.doubtful, flag.guidance))
    raised = {f.id for f in flags}
    results = [replace(r, status="dubbio") if r.status == "presente" and raised.intersection(
        elements[r.id].detector.contradicted_by) else r for r in results]
    return CallReport(file, kind, tuple(results), tuple(flags))


def read_call(path: Path, max_upload_mb: int = 20) -> SourceText:
    """Load a call with its size checked first; every problem is a CallCheckError in Italian."""
    if not path.is_file():
        raise CallCheckError(f"Impossibile verificare l'avviso: il file {path} non esiste.")
    size = path.stat().st_size
    if size > max_upload_mb * 1024 * 1024:
        raise CallCheckError(
            f"Impossibile verificare l'avviso: {path.name} pesa {size / 1024 / 1024:.1f} MB, oltre il limite di "
            f"{max_upload_mb} MB (impostazione max_upload_mb, variabile LC_MAX_UPLOAD_MB).")
    try:
        return load(path)
    except LoadError as exc:
        log.warning("call not readable: %s: %s", path.name, exc.detail)
        raise CallCheckError(f"Impossibile verificare l'avviso: {exc.message}") from None


def check_call(path: Path, catalog: Catalog, requirements: Requirements | None = None, *,
               max_upload_mb: int = 20, call_type: str | None = None, display_name: str | None = None) -> CallReport:
    """Check a call (PDF, DOCX, TXT, MD) against the requirements; unreadable files raise CallCheckError."""
    if call_type is not None and call_type not in CALL_TYPES:
        raise CallCheckError(f"Tipo di procedura sconosciuto: {call_type!r} (usa {', '.join(CALL_TYPES)}).")
    source = read_call(Path(path), max_upload_mb)
    requirements = requirements or load_requirements()
    blocks = document_blocks(source)
    if not blocks:
        raise CallCheckError(f"Impossibile verificare l'avviso: {Path(path).name} non contiene testo.")
    return check_blocks(blocks, catalog, requirements, display_name or str(path), call_type)


# --- the guided draft -----------------------------------------------------------------------------


class DraftError(ValueError):
    """A form that cannot produce a draft; the message is Italian."""


@dataclass(frozen=True)
class DraftForm:
    """What the official decides. Empty fields stay `[DA COMPLETARE: ...]` in the draft."""

    authority: str = ""  # amministrazione procedente
    call_type: str = "co-progettazione"
    theme: str = ""  # filone tematico: id or label of a theme, or free text
    subject: str = ""  # oggetto
    needs: str = ""  # bisogni
    objectives: str = ""  # obiettivi generali e specifici
    recipients: str = ""  # destinatari
    duration: str = ""  # durata
    resources: str = ""  # risorse messe a disposizione
    requirements: str = ""  # requisiti ulteriori
    criteria: str = ""  # criteri di valutazione e punteggi
    timeline: str = ""  # fasi e cronoprogramma
    procedure_manager: str = ""  # responsabile del procedimento
    planning_act: str = ""  # atto di programmazione o esito della co-programmazione
    rationale: str = ""  # ragioni della scelta dello strumento
    submission: str = ""  # termine e modalità di presentazione delle domande

    def value(self, name: str) -> str:
        return str(getattr(self, name, "") or "").strip()


FORM_FIELDS = tuple(f.name for f in fields(DraftForm) if f.name != "call_type")


@dataclass(frozen=True)
class DraftSection:
    element_id: str | None
    title: str
    text: str
    severity: str | None = None
    guidance: str = ""
    common_mistake: str = ""
    sources: tuple[str, ...] = ()  # formatted citations (`assistant.citations.reference`)
    missing: tuple[str, ...] = ()  # what is still `[DA COMPLETARE]`


@dataclass(frozen=True)
class Draft:
    title: str
    call_type: str
    theme: str
    sections: tuple[DraftSection, ...]

    @property
    def missing(self) -> list[tuple[str, str]]:
        return [(s.title, m) for s in self.sections for m in s.missing]


def _marker(what: str) -> str:
    return f"[{MARKER}: {what}]"


def _clean_value(value: str) -> str:
    """The official's words, kept as written (leading '#' removed so they never become headings)."""
    return "\n".join(line.lstrip("#").rstrip() for line in value.strip().splitlines()).strip()


def _fill(template: str, form: DraftForm, element: Element, theme: str) -> tuple[str, tuple[str, ...]]:
    values: dict[str, str] = {"theme": theme}
    missing: list[str] = []
    for name in FORM_FIELDS:
        if name == "theme":
            continue
        value = _clean_value(form.value(name))
        if not value:
            what = element.missing.get(name, name)
            if "{" + name + "}" in template:
                missing.append(what)
            value = _marker(what)
        values[name] = value
    if "{theme}" in template and not form.value("theme"):
        missing.append("filone tematico")
    text = template.format_map(values).strip()
    static = [m.group(1).strip() for m in re.finditer(rf"\[{MARKER}:\s*([^\]]+)\]", template)]
    return text, tuple(missing + static)


def _theme_label(form: DraftForm, requirements: Requirements) -> str:
    value = form.value("theme")
    if not value:
        return _marker("filone tematico")
    theme = requirements.theme(value)
    return theme.label if theme else value


@lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    from .config import load_settings
    from .corpus_check import indexed_catalog

    return indexed_catalog(load_settings())


def draft_call(form: DraftForm, catalog: Catalog | None = None, requirements: Requirements | None = None) -> Draft:
    """A structured draft with every section the call type needs, built only from what the form says."""
    if form.call_type not in CALL_TYPES:
        raise DraftError(f"Tipo di procedura non valido: {form.call_type!r}. Scegli tra {', '.join(CALL_TYPES)}.")
    catalog = catalog or _default_catalog()
    requirements = requirements or load_requirements()
    theme = _theme_label(form, requirements)
    title = requirements.preamble.get(f"title_{form.call_type}", "Avviso pubblico").format(theme=theme)
    preamble = requirements.preamble.get(form.call_type, "").format(theme=theme).strip()
    sections = [DraftSection(None, "Premessa", preamble, missing=() if form.value("theme") else ("filone tematico",))]
    for element in requirements.elements_for(form.call_type):
        text, missing = _fill(element.text_for(form.call_type), form, element, theme)
        sources = tuple(c.label for c in citations_for(element.legal_basis, catalog, form.call_type))
        sections.append(DraftSection(element.id, element.draft_title, text, element.severity_for(form.call_type),
                                     element.guidance, element.common_mistake, sources, missing))
    return Draft(title, form.call_type, theme, tuple(sections))


def draft_markdown(draft: Draft, notes: bool = True) -> str:
    """The draft as Markdown; with `notes`, each section carries its editorial note (guidance and sources)."""
    out = [f"# {draft.title}", ""]
    number = 0
    for section in draft.sections:
        number += section.element_id is not None
        heading = f"{number}. {section.title}" if section.element_id else section.title
        out += [f"## {heading}", "", section.text, ""]
        if notes and section.element_id:
            note = f"> **{NOTE_PREFIX}** ({section.severity}). {section.guidance} Errore frequente: " \
                   f"{section.common_mistake}"
            out += [note + "  ", "> Fonti: " + "; ".join(section.sources), ""]  # one quoted paragraph
    return "\n".join(out).rstrip() + "\n"


def draft_docx(draft: Draft, path: Path, notes: bool = True) -> Path:
    """The draft as a Word document (python-docx): one heading per section, notes in italics."""
    import docx

    document = docx.Document()
    document.add_heading(draft.title, level=1)
    number = 0
    for section in draft.sections:
        number += section.element_id is not None
        document.add_heading(f"{number}. {section.title}" if section.element_id else section.title, level=2)
        for paragraph in section.text.split("\n"):
            if paragraph.strip():
                document.add_paragraph(paragraph.strip())
        if notes and section.element_id:
            note = document.add_paragraph()
            note.add_run(f"{NOTE_PREFIX} ({section.severity}). {section.guidance} Errore frequente: "
                         f"{section.common_mistake} Fonti: {'; '.join(section.sources)}").italic = True
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def export_draft(draft: Draft, directory: Path, notes: bool = True) -> tuple[Path, Path]:
    """Write `<name>.md` and `<name>.docx` in a directory; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"avviso-{draft.call_type}-{slug(draft.theme, 40)}"
    md_path = directory / f"{name}.md"
    md_path.write_text(draft_markdown(draft, notes), encoding="utf-8")
    return md_path, draft_docx(draft, directory / f"{name}.docx", notes)
