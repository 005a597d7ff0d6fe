"""The call checker: report, per element a call must contain, `presente` / `assente` / `dubbio` with the passage
found and its page, plus the red flags with the passage that triggered them (reading the call: `call_text`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .call_text import QUOTED, Block, CallCheckError, document_blocks, excerpt, law_quotations, read_call
from .catalog import Catalog
from .models import Citation
from .requirements import (
    CALL_TYPES,
    UNKNOWN_TYPE,
    Element,
    RedFlag,
    Requirements,
    citation_json,
    citations_for,
)
from .text import fold_phrase, sentences

log = logging.getLogger(__name__)


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
        return {
            "id": self.id,
            "label": self.label,
            "severity": self.severity,
            "status": self.status,
            "evidence": self.evidence,
            "page": self.page,
            "citations": [citation_json(c) for c in self.citations],
        }


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
        return {
            "id": self.id,
            "label": self.label,
            "evidence": self.evidence,
            "page": self.page,
            "citations": [citation_json(c) for c in self.citations],
        }


@dataclass(frozen=True)
class CallReport:
    file: str
    type: str
    elements: tuple[ElementResult, ...]
    red_flags: tuple[FlagResult, ...]

    def to_json(self) -> dict[str, Any]:
        """The `assistant check-call --json` contract."""
        return {
            "file": self.file,
            "type": self.type,
            "elements": [e.to_json() for e in self.elements],
            "red_flags": [f.to_json() for f in self.red_flags],
        }

    def status(self, element_id: str) -> str | None:
        return next((e.status for e in self.elements if e.id == element_id), None)


_TYPE_WORDS = {
    "co-progettazione": re.compile(r"\bcoprogettazion\w*"),
    "co-programmazione": re.compile(r"\bcoprogrammazion\w*"),
    "convenzione": re.compile(
        r"\bart(?:icolo)? 56\b|\bconvenzion\w*\b(?: \w+){0,8} (?:odv|aps|organizzazion\w* di "
        r"volontariato|associazion\w* di promozione sociale)\b|\b(?:odv|aps|organizzazion\w* di "
        r"volontariato|associazion\w* di promozione sociale)\b(?: \w+){0,8} convenzion\w*"
    ),
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
    return next(
        (b for b in blocks if all(p.search(b.norm) for p in group)),
        next((b for b in blocks if group[-1].search(b.norm)), blocks[0]),
    )


_COMMENTARY = re.compile(
    r"\bsentenz\w*|\bcorte costituzionale\b|\bconsiglio di stato\b|\brelazione illustrativa\b|"
    r"\blinee guida anac\b"
)


def assess(
    element: Element, blocks: list[Block], law: set[int] | frozenset[int] = frozenset()
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
            rank = (
                (
                    index in law,
                    block.incomplete,
                    bool(_COMMENTARY.search(block.norm)),
                    own_group is None,
                    False,
                    0,
                    index,
                )
                if detector.first_mention
                else (
                    index in law,
                    block.incomplete,
                    bool(_COMMENTARY.search(block.norm)),
                    own_group is None,
                    block.heading,
                    -min(strength, 3),
                    index,
                )
            )
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
_NOT_VERB = re.compile(
    r"\b(?:non|ne) (?:e|sono|sara|saranno|si|consiste|costituisc\w*|configura\w*|rappresenta\w*|"
    r"preved\w*|previst\w*|comporta\w*|ammess\w*|ammett\w*|rientra\w*|ha|hanno|trattasi)\b"
)


def _negated(norm: str, start: int) -> bool:
    """Whether the clause denies the match: "non consiste in un appalto", "estranea al codice", "senza ribasso";
    a negation elsewhere in the clause ("trasporto non effettuato ... penale") does not count."""
    words = norm[:start].split()[-15:]
    if _CLAUSE_WORD in words:
        words = words[len(words) - words[::-1].index(_CLAUSE_WORD) :]
    window = " ".join(words)
    return bool(_NEGATION.search(window) or _NOT_VERB.search(window) or "senza" in words[-3:])


def find_flag(
    flag: RedFlag, blocks: list[Block], law: set[int] | frozenset[int] = frozenset()
) -> tuple[str, Block] | None:
    """The first passage, outside quotations and not negated in its clause, that raises a red flag."""
    for index, block in enumerate(blocks):
        if index in law or not any(p.search(block.own) for p in flag.patterns):
            continue
        for sentence in sentences(QUOTED.sub(" … ", block.text)):
            norm = fold_phrase(_CLAUSE_BREAK.sub(f" {_CLAUSE_WORD} ", sentence))
            for pattern in flag.patterns:
                if any(not _negated(norm, m.start()) for m in pattern.finditer(norm)):
                    return excerpt(sentence, (pattern,)), block
    return None


def _mentioned(element: Element, blocks: list[Block]) -> bool:
    """Whether the call says anything about an element (a section title alone does not count)."""
    detector = element.detector
    return any(detector.strong_group(b.norm) or detector.weak_match(b.norm) for b in blocks if not b.heading)


def check_blocks(
    blocks: list[Block], catalog: Catalog, requirements: Requirements, file: str, call_type: str | None = None
) -> CallReport:
    """The report on a call already split into blocks."""
    kind = call_type or detect_type(blocks)
    law = law_quotations(blocks, catalog)
    results = []
    for element in requirements.elements_for(kind):
        status, block, patterns = assess(element, blocks, law)
        results.append(
            ElementResult(
                element.id,
                element.label,
                element.severity_for(kind),
                status,
                excerpt(block.text, patterns) if block else None,
                block.page if block else None,
                citations_for(element.legal_basis, catalog, kind),
            )
        )
    elements = {e.id: e for e in requirements.elements}
    unmentioned = {
        r.id
        for r in results
        if r.status == "assente" or (r.status == "dubbio" and not _mentioned(elements[r.id], blocks))
    }
    flags = []
    for flag in requirements.flags_for(kind):
        found = find_flag(flag, blocks, law) if flag.patterns else None
        if found or unmentioned.intersection(flag.when_absent):
            flags.append(
                FlagResult(
                    flag.id,
                    flag.label,
                    found[0] if found else None,
                    found[1].page if found else None,
                    citations_for(flag.legal_basis, catalog, kind),
                    flag.doubtful,
                    flag.guidance,
                )
            )
    raised = {f.id for f in flags}
    results = [
        replace(r, status="dubbio")
        if r.status == "presente" and raised.intersection(elements[r.id].detector.contradicted_by)
        else r
        for r in results
    ]
    return CallReport(file, kind, tuple(results), tuple(flags))


def check_call(
    path: Path,
    catalog: Catalog,
    requirements: Requirements,
    *,
    max_upload_mb: int | None = None,
    call_type: str | None = None,
    display_name: str | None = None,
) -> CallReport:
    """Check a call (PDF, DOCX, TXT, MD) against the requirements; unreadable files raise CallCheckError.

    `max_upload_mb` (the app's and the CLI's `Settings.max_upload_mb`) refuses larger files before reading them.
    """
    if call_type is not None and call_type not in CALL_TYPES:
        raise CallCheckError(f"Tipo di procedura sconosciuto: {call_type!r} (usa {', '.join(CALL_TYPES)}).")
    source = read_call(Path(path), max_upload_mb)
    blocks = document_blocks(source)
    if not blocks:
        raise CallCheckError(f"Impossibile verificare l'avviso: {Path(path).name} non contiene testo.")
    return check_blocks(blocks, catalog, requirements, display_name or str(path), call_type)
