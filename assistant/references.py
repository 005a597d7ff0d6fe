"""Structured citations written inside authored files: `[art. 55, c. 3, CTS](cit:doc_id?article=55&comma=3)`."""

from __future__ import annotations

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

    @property
    def key(self) -> str:
        parts = [
            f"{k}={v}" for k, v in (("article", self.article), ("comma", self.comma), ("section", self.section)) if v
        ]
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


@dataclass(frozen=True)
class DocAliases:
    """How texts and questions name the corpus's documents (patterns over folded text, from the manifest).

    `default_law` is the norm meant when a question names an article alone ("art. 55"); documents in
    `numbered_sections` are cited by section number ("paragrafo 3.1 delle linee guida").
    """

    patterns: tuple[tuple[re.Pattern[str], str], ...] = ()
    default_law: str | None = None
    numbered_sections: frozenset[str] = frozenset()

    def named_in(self, folded: str) -> list[str]:
        """The documents a folded text names, in manifest order."""
        return [doc_id for pattern, doc_id in self.patterns if pattern.search(folded)]

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
