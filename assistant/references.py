"""Structured citations written inside authored files: `[art. 55, c. 3, CTS](cit:doc_id?article=55&comma=3)`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from .text import fold

CIT_LINK = re.compile(r"\[([^\]]+)\]\(cit:([A-Za-z0-9._-]+)(?:\?([^)\s]*))?\)")


@dataclass(frozen=True)
class Ref:
    """A citation to a passage: a document, optionally an article and comma, or a section."""

    doc_id: str
    article: str | None = None
    comma: str | None = None
    section: str | None = None
    chunk: str | None = None  # one passage by its local id ("diritto:9", "s3:10"): judgments and guidelines

    @property
    def key(self) -> str:
        fields = (("article", self.article), ("comma", self.comma), ("section", self.section), ("chunk", self.chunk))
        parts = [f"{k}={v}" for k, v in fields if v]
        return self.doc_id + ("?" + "&".join(parts) if parts else "")

    @classmethod
    def from_key(cls, key: str) -> Ref:
        doc_id, _, query = key.partition("?")
        values = {k: v[0] for k, v in parse_qs(query).items()}
        return cls(doc_id, values.get("article"), values.get("comma"), values.get("section"), values.get("chunk"))

    @classmethod
    def from_mapping(cls, data: dict[str, object]) -> Ref:
        def get(name: str) -> str | None:
            value = data.get(name)
            return str(value) if value not in (None, "") else None

        return cls(str(data["doc_id"]), get("article"), get("comma"), get("section"), get("chunk"))

    def describe(self) -> str:
        where = []
        if self.article:
            where.append(f"art. {self.article}")
        if self.comma:
            where.append(f"comma {self.comma}")
        if self.section:
            where.append(f"sezione {self.section!r}")
        if self.chunk:
            where.append(f"passaggio {self.chunk!r}")
        return f"{self.doc_id}" + (f" ({', '.join(where)})" if where else "")


_COURTS = {
    "corte": re.compile(r"\b(?:corte costituzionale|corte cost|consulta)\b"),
    "cds": re.compile(r"\b(?:consiglio di stato|cds|c d s|palazzo spada)\b"),
    "tar": re.compile(r"\b(?:tar|t a r|tribunale amministrativo(?: regionale)?)\b"),
}
_REF_NUMBER = re.compile(r"\bn\s*(\d{1,6})\s+(\d{4})\b")


@dataclass(frozen=True)
class JudgmentName:
    """How people name a judgment: the court, the places of a TAR, the number and the year."""

    doc_id: str
    court: str  # corte | cds | tar
    places: frozenset[str]
    number: str
    year: str

    @classmethod
    def parse(cls, doc_id: str, short_ref: str) -> JudgmentName | None:
        """From the manifest's short reference: "TAR Lombardia-Milano, sez. II, n. 2533/2024"."""
        folded = fold(short_ref)
        court = next((name for name, pattern in _COURTS.items() if pattern.search(folded)), None)
        number = _REF_NUMBER.search(folded)
        if court is None or number is None:
            return None
        words = set(folded.split()) | set(doc_id.split("-"))
        places = frozenset(w for w in words if w.isalpha() and len(w) > 3 and w not in {"corte", "cost", "sentenza"})
        return cls(doc_id, court, places if court == "tar" else frozenset(), number.group(1), number.group(2))

    def score(self, folded: str, words: set[str]) -> int:
        """3: number and year; 2: court, place (for a TAR) and year; 1: court and place or year; 0: not named."""
        if self.number in words and self.year in words and len(self.number) >= 2:
            return 3
        if not _COURTS[self.court].search(folded):
            return 0
        place = bool(self.places & words) if self.court == "tar" else True
        if place and self.year in words:
            return 2
        return 1 if place and (self.places or self.year in words) else 0


@dataclass(frozen=True)
class DocAliases:
    """How texts and questions name the corpus's documents (patterns over folded text, from the manifest).

    `default_law` is the norm meant when a question names an article alone ("art. 55"); documents in
    `numbered_sections` are cited by section number ("paragrafo 3.1 delle linee guida").
    """

    patterns: tuple[tuple[re.Pattern[str], str], ...] = ()
    default_law: str | None = None
    numbered_sections: frozenset[str] = frozenset()
    judgments: tuple[JudgmentName, ...] = ()

    def digest(self) -> str:
        """Changes with the patterns: chunks record the citations these patterns resolve."""
        payload = "\n".join(f"{doc}\t{pattern.pattern}" for pattern, doc in self.patterns)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def named_in(self, folded: str) -> list[str]:
        """The documents a folded text names, in manifest order."""
        return [doc_id for pattern, doc_id in self.patterns if pattern.search(folded)]

    def judgments_named(self, folded: str) -> list[str]:
        """The judgments a question names ("il TAR Milano nel 2024", "Consiglio di Stato n. 4540/2024"), best first.

        Only a clear naming counts: the best score must be shared by at most two judgments.
        """
        words = set(folded.split())
        scored = [(j.score(folded, words), j.doc_id) for j in self.judgments]
        best = max((s for s, _ in scored), default=0)
        found = [doc for s, doc in scored if s == best and best > 0]
        if not found:  # "la Corte costituzionale": a court with one judgment in the corpus names it
            for court, pattern in _COURTS.items():
                of_court = [j.doc_id for j in self.judgments if j.court == court]
                if len(of_court) == 1 and pattern.search(folded):
                    found = of_court
        return found if len(found) <= 2 else []

    def named_near(self, folded: str, within: int) -> str | None:
        """The document named in the first `within` characters of a folded text, if any."""
        return next(
            (doc for pattern, doc in self.patterns if (m := pattern.search(folded)) and m.start() < within), None
        )


_ARTICLE = re.compile(
    r"\b(?:art|artt|articolo|articoli)\s+(\d{1,3}(?:\s?(?:bis|ter|quater|quinquies|sexies|septies|octies|novies|"
    r"decies))?)(?:\s*(?:comma|c|co)\s+(\d{1,2}(?:\s?(?:bis|ter|quater|quinquies))?))?"
)
_OTHER_ACT = re.compile(
    r"^\s*(?:\w+\s+){0,3}?(?:del|della|dello|dell)\s+(?:decreto|legge|d\s?lgs|dlgs|dpr|d p r|"
    r"testo unico|regolamento|codice civile|costituzione|regio|dl|trattato|direttiva)"
)


def _suffix(value: str) -> str:
    return re.sub(r"(\d)\s*([a-z])", r"\1-\2", value.strip())


def legal_citations(
    text: str, aliases: DocAliases, own_doc_id: str | None = None, own_article: str | None = None
) -> list[Ref]:
    """Articles of the corpus's norms that a passage cites: "art. 55, comma 4, del d.lgs. 117/2017", "art. 56 CTS".

    Inside a norm, "di cui all'articolo 5" with no other act named refers to the same norm.
    """
    folded = fold(text)
    out: list[Ref] = []
    for match in _ARTICLE.finditer(folded):
        article = _suffix(match.group(1))
        comma = _suffix(match.group(2)) if match.group(2) else None
        after = folded[match.end() : match.end() + 90]
        doc_id = aliases.named_near(after, 45)
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
    return [
        (m.group(1), Ref.from_key(m.group(2) + ("?" + m.group(3) if m.group(3) else "")))
        for m in CIT_LINK.finditer(text)
    ]


def strip_links(text: str) -> str:
    """Keep the visible label of each citation link: what a reader sees."""
    return CIT_LINK.sub(lambda m: m.group(1), text)
