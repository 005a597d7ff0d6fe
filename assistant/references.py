"""Structured citations written inside authored files: `[art. 55, c. 3, CTS](cit:doc_id?article=55&comma=3)`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

CIT_LINK = re.compile(r"\[([^\]]+)\]\(cit:([A-Za-z0-9._-]+)(?:\?([^)\s]*))?\)")


@dataclass(frozen=True)
class Ref:
    """A citation to a passage: a document, optionally an article and comma, or a section."""

    doc_id: str
    article: str | None = None
    comma: str | None = None
    section: str | None = None

    @property
    def key(self) -> str:
        parts = [f"{k}={v}" for k, v in (("article", self.article), ("comma", self.comma),
                                         ("section", self.section)) if v]
        return self.doc_id + ("?" + "&".join(parts) if parts else "")

    @classmethod
    def from_key(cls, key: str) -> Ref:
        doc_id, _, query = key.partition("?")
        values = {k: v[0] for k, v in parse_qs(query).items()}
        return cls(doc_id, values.get("article"), values.get("comma"), values.get("section"))

    @classmethod
    def from_mapping(cls, data: dict[str, object]) -> Ref:
        def get(name: str) -> str | None:
            value = data.get(name)
            return str(value) if value not in (None, "") else None

        return cls(str(data["doc_id"]), get("article"), get("comma"), get("section"))

    def describe(self) -> str:
        where = []
        if self.article:
            where.append(f"art. {self.article}")
        if self.comma:
            where.append(f"comma {self.comma}")
        if self.section:
            where.append(f"sezione {self.section!r}")
        return f"{self.doc_id}" + (f" ({', '.join(where)})" if where else "")


# How texts and questions name the norms of the corpus, in folded form ("d lgs 117 2017", "cts", "dm 72").
DOC_ALIASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(d ?lgs|decreto legislativo|dlgs)\s*(n\s*)?117(\s*(del\s*)?(2017|3 luglio 2017))?\b|\bcts\b|"
                r"codice del terzo settore"), "dlgs-117-2017-codice-terzo-settore"),
    (re.compile(r"\b(l|legge)\s*(n\s*)?241(\s*(del\s*)?1990)?\b|\b241 ?(del )?1990\b|legge 7 agosto 1990|legge sul procedimento"),
     "l-241-1990-procedimento-amministrativo"),
    (re.compile(r"\b(d ?lgs|dlgs|decreto legislativo)\s*(n\s*)?36(\s*(del\s*)?2023)?\b|codice dei contratti"
                r"(?! pubblici di cui al d ?lgs (n )?50)|\bccp\b"), "dlgs-36-2023-art-6-codice-contratti-terzo-settore"),
    (re.compile(r"\b(d ?lgs|dlgs|decreto legislativo)\s*(n\s*)?186(\s*(del\s*)?2025)?\b"),
     "dlgs-186-2025-terzo-settore-iva-modifiche-cts"),
    (re.compile(r"\b(dm|d m|decreto ministeriale)\s*(n\s*)?72\b|linee guida (ministeriali )?(del )?2021"),
     "dm-72-2021-linee-guida"),
]
_ARTICLE = re.compile(
    r"\b(?:art|artt|articolo|articoli)\s+(\d{1,3}(?:\s?(?:bis|ter|quater|quinquies|sexies|septies|octies|novies|"
    r"decies))?)(?:\s*(?:comma|c|co)\s+(\d{1,2}(?:\s?(?:bis|ter|quater|quinquies))?))?"
)
_OTHER_ACT = re.compile(r"^\s*(?:\w+\s+){0,3}?(?:del|della|dello|dell)\s+(?:decreto|legge|d\s?lgs|dlgs|dpr|d p r|"
                        r"testo unico|regolamento|codice civile|costituzione|regio|dl|trattato|direttiva)")


def _suffix(value: str) -> str:
    return re.sub(r"(\d)\s*([a-z])", r"\1-\2", value.strip())


def legal_citations(text: str, own_doc_id: str | None = None, own_article: str | None = None) -> list[Ref]:
    """Articles of the corpus's norms that a passage cites: "art. 55, comma 4, del d.lgs. 117/2017", "art. 56 CTS".

    Inside a norm, "di cui all'articolo 5" with no other act named refers to the same norm.
    """
    from .text import fold

    folded = fold(text)
    out: list[Ref] = []
    for match in _ARTICLE.finditer(folded):
        article = _suffix(match.group(1))
        comma = _suffix(match.group(2)) if match.group(2) else None
        after = folded[match.end() : match.end() + 90]
        doc_id = next((doc for pattern, doc in DOC_ALIASES if (m := pattern.search(after)) and m.start() < 45), None)
        if doc_id is None and own_doc_id and not _OTHER_ACT.match(after):
            doc_id = own_doc_id
        if doc_id is None or (doc_id == own_doc_id and article == own_article):
            continue
        ref = Ref(doc_id, article, comma)
        if ref not in out:
            out.append(ref)
    return out


def find_links(text: str) -> list[tuple[str, Ref]]:
    """Every `[label](cit:...)` link in a text, with its parsed reference."""
    return [(m.group(1), Ref.from_key(m.group(2) + ("?" + m.group(3) if m.group(3) else "")))
            for m in CIT_LINK.finditer(text)]


def strip_links(text: str) -> str:
    """Keep the visible label of each citation link: what a reader sees."""
    return CIT_LINK.sub(lambda m: m.group(1), text)
