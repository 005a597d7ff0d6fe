"""What D.Lgs. 186/2025 changes in the Codice del Terzo settore, article by article (`corpus/emendamenti.yaml`).

The Codice is indexed in an older version; a later act amends a few of its articles. The table of those amendments
is proposed from the act's indexed text (`assistant corpus amendments`), reviewed by hand, checked by
`assistant corpus check` (references resolve, excerpts are verbatim, nothing the parser finds is missing) and read
at answer time: a citation of an amended article carries the amending provision, the other citations nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from .catalog import Catalog
from .models import AmendedBy, Chunk, Citation
from .prompts import text

log = logging.getLogger(__name__)

AMENDMENTS_FILE = "emendamenti.yaml"
CODE_DOC = "dlgs-117-2017-codice-terzo-settore"  # the law indexed in an older version
AMENDING_DOC = "dlgs-186-2025-terzo-settore-iva-modifiche-cts"  # the act whose changes the table lists
CHANGE_KINDS = ("modifica", "inserimento")

_ART = r"\d+(?:-[a-z]+)?"
_APOS = "['’]"
# How the amending act names the Codice.
_CODE = r"(?:codice del Terzo settore|decreto legislativo (?:3 luglio 2017, )?n\. 117(?: del 2017)?)"
# "All'articolo 86, comma 1, [primo periodo,] del codice del Terzo settore": an article of the Codice as object.
TARGET = re.compile(
    rf"\b(?:all|l|dell){_APOS}articolo (?P<article>{_ART})(?:, comma (?P<comma>{_ART}))?"
    rf"(?:, \w+ periodo)?(?:, lettera \w+\))?,? del {_CODE}",
    re.IGNORECASE,
)
WHOLE_CODE = re.compile(rf"^(?:al|nel) {_CODE}", re.IGNORECASE)
APPOSITION = re.compile(rf"^,?\s*di cui al {_CODE}", re.IGNORECASE)
# Any other act or article named between the Codice and the verb makes that other act the amended one.
OTHER_ACT = re.compile(r"\b(?:articol|decret|legge|codice|testo unico|tabella|allegat)", re.IGNORECASE)
VERB = re.compile(
    r"\b(?:sono apportate le seguenti modificazioni|(?:è|sono) (?:inserit|aggiunt|soppress|abrogat|sostituit)[oaie]"
    r"(?: (?:il|la|i|le) seguent[ei]| dal(?:la|le)? seguent[ei])?)",
    re.IGNORECASE,
)
INSERTION = re.compile(r"^(?:è|sono) (?:inserit|aggiunt)", re.IGNORECASE)
ANCHOR = re.compile(rf"\bdopo l{_APOS}articolo (?P<article>{_ART})\b", re.IGNORECASE)
NEW_ARTICLE = re.compile(rf"^[\s:]*«\s*Art\.\s*(?P<article>{_ART})\b")
LETTER = re.compile(r"(?:^|[:;]\s+)[a-z]\)\s+")
LETTER_TARGET = re.compile(rf"^(?:all|l){_APOS}articolo (?P<article>{_ART})(?:, comma (?P<comma>{_ART}))?\b")
OWN_NUMBER = re.compile(rf"^\s*{_ART}\.\s+")

HEADER = """\
# Modifiche al Codice del Terzo settore (documento dlgs-117-2017-codice-terzo-settore, indicizzato nella versione
# indicata nel manifest) disposte dall'atto indicizzato come dlgs-186-2025-terzo-settore-iva-modifiche-cts.
# Una voce per articolo (e comma, quando la disposizione lo indica) del Codice modificato o inserito:
#   articolo / comma: l'articolo del Codice; tipo: modifica | inserimento (con `dopo`: l'articolo che lo precede);
#   fonte: la disposizione che modifica (articolo e comma dell'atto, un passaggio indicizzato);
#   testo: le parole della disposizione, alla lettera (verificate da `assistant corpus check`).
# Proposta da `assistant corpus amendments` sul testo indicizzato, poi rivista a mano sul testo.
"""


@dataclass(frozen=True)
class Amendment:
    """One change of an article of the Codice: what changes, where the amending act says so, in its words."""

    article: str
    comma: str | None
    kind: str  # "modifica" | "inserimento"
    source_article: str
    source_comma: str
    excerpt: str
    after: str | None = None  # an inserted article: the one it follows

    @property
    def key(self) -> tuple[str, str | None, str, str]:
        return (self.article.lower(), (self.comma or "").lower() or None, self.source_article, self.source_comma)

    @property
    def source(self) -> str:
        return f"art. {self.source_article}, comma {self.source_comma}"

    @property
    def target(self) -> str:
        return f"art. {self.article}" + (f", comma {self.comma}" if self.comma else "")

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"articolo": self.article}
        if self.comma:
            data["comma"] = self.comma
        data["tipo"] = self.kind
        if self.after:
            data["dopo"] = self.after
        data["fonte"] = {"articolo": self.source_article, "comma": self.source_comma}
        data["testo"] = self.excerpt
        return data


@dataclass(frozen=True)
class Change:
    """What the parser reads in one provision: the article (and comma) of the Codice it changes."""

    article: str
    comma: str | None
    kind: str
    excerpt: str
    after: str | None = None


def flat(value: str) -> str:
    return " ".join(value.split())


def mask_quotes(value: str) -> str:
    """The text with every «quoted» span blanked (same length): quoted new wording never names the amended act."""
    out: list[str] = []
    depth = 0
    for char in value:
        if char == "«":
            depth += 1
            out.append(char)
        elif char == "»":
            depth = max(0, depth - 1)
            out.append(char)
        else:
            out.append("_" if depth else char)
    return "".join(out)


def changes_in(passage: str) -> list[Change]:
    """The articles of the Codice that one provision (a comma of the amending act) amends or inserts."""
    words = OWN_NUMBER.sub("", flat(passage), count=1)
    masked = mask_quotes(words)
    verb = VERB.search(masked)
    if verb is None:
        return []
    opening = masked[: verb.start()]
    excerpt = words[: verb.end()].strip()
    if WHOLE_CODE.match(opening):
        anchor = ANCHOR.search(opening)
        new = NEW_ARTICLE.match(words[verb.end() :])
        if anchor and new and INSERTION.match(verb.group(0)):
            return [Change(new["article"], None, "inserimento", excerpt, anchor["article"])]
        if verb.group(0).lower().startswith("sono apportate"):
            return letter_changes(words, masked, verb.end())
        return []
    for target in TARGET.finditer(opening):
        if not OTHER_ACT.search(APPOSITION.sub("", opening[target.end() :])):
            return [Change(target["article"], target["comma"], "modifica", excerpt)]
    return []


def letter_changes(words: str, masked: str, start: int) -> list[Change]:
    """ "Al codice ... sono apportate le seguenti modificazioni: a) all'articolo 5 ...; b) ...": one per letter."""
    found: list[Change] = []
    marks = [m.end() for m in LETTER.finditer(masked, start)]
    for begin, end in zip(marks, [*marks[1:], len(masked)], strict=True):
        verb = VERB.search(masked, begin, end)
        if verb is None:
            continue
        opening = masked[begin : verb.start()]
        excerpt = words[begin : verb.end()].strip()
        anchor = ANCHOR.search(opening)
        new = NEW_ARTICLE.match(words[verb.end() : end])
        target = LETTER_TARGET.match(opening)
        if anchor and new and INSERTION.match(verb.group(0)):
            found.append(Change(new["article"], None, "inserimento", excerpt, anchor["article"]))
        elif target and not OTHER_ACT.search(opening[target.end() :]):
            found.append(Change(target["article"], target["comma"], "modifica", excerpt))
    return found


def provisions(catalog: Catalog) -> dict[tuple[str, str], list[Chunk]]:
    """The amending act's passages grouped by provision (article, comma), in order."""
    grouped: dict[tuple[str, str], list[Chunk]] = {}
    for chunk in catalog.by_doc.get(AMENDING_DOC, []):
        if chunk.article and chunk.comma and chunk.section != "aggiornamento":
            grouped.setdefault((chunk.article, chunk.comma), []).append(chunk)
    return grouped


def propose(catalog: Catalog) -> list[Amendment]:
    """The table as the parser reads it in the indexed text of the amending act, in the Codice's order."""
    found: list[Amendment] = []
    for (article, comma), chunks in provisions(catalog).items():
        for change in changes_in("\n".join(c.text for c in chunks)):
            found.append(
                Amendment(change.article, change.comma, change.kind, article, comma, change.excerpt, change.after)
            )
    return sorted(found, key=lambda a: (_order(a.article), _order(a.comma or "")))


def _order(number: str) -> tuple[int, str]:
    """ "86" < "86-bis" < "89": the number, then its suffix."""
    digits = re.match(r"\d+", number)
    return (int(digits.group(0)) if digits else 0, number[digits.end() :] if digits else number)


def table_yaml(amendments: Sequence[Amendment]) -> str:
    """The table file's text: the header comment and one entry per amendment."""
    body = yaml.safe_dump(
        {"modifiche": [a.to_yaml() for a in amendments]}, allow_unicode=True, sort_keys=False, width=10_000
    )
    return HEADER + body


def read_table(path: Path) -> tuple[list[Amendment], list[str]]:
    """The entries of a table file and its Italian problems (an entry with a problem is left out)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [], [f"{path.name}: il file non si legge come YAML ({exc}). Correggilo o rigeneralo."]
    items = data.get("modifiche") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return [], [f"{path.name}: manca l'elenco `modifiche` (una voce per articolo modificato)."]
    amendments: list[Amendment] = []
    problems: list[str] = []
    for number, item in enumerate(items, start=1):
        amendment, problem = parse_entry(item)
        if amendment is None:
            problems.append(f"{path.name}, voce {number}: {problem}")
        else:
            amendments.append(amendment)
    return amendments, problems


def parse_entry(item: object) -> tuple[Amendment | None, str]:
    """One entry of the table, or None and what is wrong with it (Italian)."""
    if not isinstance(item, dict):
        return None, "la voce non è un elenco di campi (articolo, tipo, fonte, testo)."

    def field(data: dict[str, Any], name: str) -> str:
        value = data.get(name)
        return "" if value is None else str(value).strip()

    given = item.get("fonte")
    source: dict[str, Any] = given if isinstance(given, dict) else {}
    missing = [name for name in ("articolo", "tipo", "testo") if not field(item, name)]
    if not field(source, "articolo") or not field(source, "comma"):
        missing.append("fonte (articolo e comma)")
    if missing:
        return None, f"mancano i campi {', '.join(missing)}."
    kind = field(item, "tipo")
    if kind not in CHANGE_KINDS:
        return None, f"tipo {kind!r} non valido (usa {' oppure '.join(CHANGE_KINDS)})."
    if kind == "inserimento" and not field(item, "dopo"):
        return None, "un articolo inserito indica `dopo`: l'articolo del Codice che lo precede."
    amendment = Amendment(
        article=field(item, "articolo"),
        comma=field(item, "comma") or None,
        kind=kind,
        source_article=field(source, "articolo"),
        source_comma=field(source, "comma"),
        excerpt=field(item, "testo"),
        after=field(item, "dopo") or None,
    )
    return amendment, ""


def provision_text(catalog: Catalog, article: str, comma: str) -> tuple[list[Chunk], str]:
    """The indexed passages of one provision of the amending act and their whole text."""
    chunks = [c for c in catalog.resolve(AMENDING_DOC, article, comma) if c.section != "aggiornamento"]
    return chunks, "\n".join(c.text for c in chunks)


def entry_problems(amendment: Amendment, catalog: Catalog, name: str) -> list[str]:
    """What is wrong with one entry against the index: its source, its excerpt, the article of the Codice."""
    where = f"{name}, voce {amendment.target} del Codice"
    chunks, passage = provision_text(catalog, amendment.source_article, amendment.source_comma)
    problems: list[str] = []
    if not chunks:
        problems.append(
            f"{where}: la fonte {amendment.source} di {AMENDING_DOC} non corrisponde a nessun passaggio indicizzato."
        )
    elif flat(amendment.excerpt) not in flat(passage):
        problems.append(f"{where}: il testo «{amendment.excerpt}» non compare alla lettera in {amendment.source}.")
    if amendment.kind == "inserimento":
        if not catalog.article_chunks(CODE_DOC, amendment.after or ""):
            problems.append(f"{where}: l'articolo {amendment.after} (indicato in `dopo`) non è nel Codice indicizzato.")
        if catalog.article_chunks(CODE_DOC, amendment.article):
            problems.append(
                f"{where}: l'articolo inserito è già nel Codice indicizzato: la versione del Codice è cambiata, "
                "aggiorna la tabella."
            )
    elif not catalog.article_chunks(CODE_DOC, amendment.article):
        problems.append(f"{where}: l'articolo {amendment.article} non è nel Codice indicizzato.")
    elif amendment.comma and not catalog.resolve(CODE_DOC, amendment.article, amendment.comma):
        problems.append(
            f"{where}: il comma {amendment.comma} non è nell'art. {amendment.article} del Codice indicizzato."
        )
    return problems


def table_problems(corpus_dir: Path, catalog: Catalog) -> list[str]:
    """The corpus check of the table: entries valid and grounded, and every amendment the parser finds listed."""
    path = corpus_dir / AMENDMENTS_FILE
    indexed = AMENDING_DOC in catalog.documents and CODE_DOC in catalog.documents
    if not path.is_file():
        if not indexed:
            return []
        return [
            f"Manca {AMENDMENTS_FILE}: il corpus indicizza {AMENDING_DOC}, che modifica il Codice. "
            f"Proponila con `assistant corpus amendments --write` e rivedila sul testo."
        ]
    if not indexed:
        return [f"{AMENDMENTS_FILE}: {CODE_DOC} e {AMENDING_DOC} devono essere entrambi nel corpus indicizzato."]
    amendments, problems = read_table(path)
    for amendment in amendments:
        problems += entry_problems(amendment, catalog, AMENDMENTS_FILE)
    listed = {a.key for a in amendments}
    for found in propose(catalog):
        if found.key not in listed:
            problems.append(
                f"{AMENDMENTS_FILE}: la disposizione {found.source} di {AMENDING_DOC} modifica l'{found.target} "
                f"del Codice («{found.excerpt}»), ma la tabella non la riporta. Aggiungila "
                "(`assistant corpus amendments` la propone)."
            )
    return problems


class AmendmentTable:
    """The reviewed table, bound to an index: marks the citations of amended articles with the amending passage."""

    def __init__(self, amendments: Sequence[Amendment], catalog: Catalog) -> None:
        self.amendments = tuple(amendments)
        self.catalog = catalog

    def __len__(self) -> int:
        return len(self.amendments)

    def notes_for(self, cited: Citation) -> tuple[AmendedBy, ...]:
        """The amendments of the cited article (insertions after it included); none for any other citation."""
        if cited.doc_id != CODE_DOC or not cited.article:
            return ()
        article = cited.article.lower()
        return tuple(
            note
            for amendment in self.amendments
            if article in (amendment.article.lower(), (amendment.after or "").lower())
            and (note := self.note(amendment, cited)) is not None
        )

    def note(self, amendment: Amendment, cited: Citation) -> AmendedBy | None:
        chunks, passage = provision_text(self.catalog, amendment.source_article, amendment.source_comma)
        info = self.catalog.document(AMENDING_DOC)
        if not chunks or info is None:
            return None
        act, where = info.ref, amendment.source
        if amendment.kind == "inserimento":
            if (cited.article or "").lower() == amendment.article.lower():
                return None  # an inserted article is not in the older text: nothing cites it there
            note = text("inserted_after", act=act, where=where, article=amendment.article)
        elif amendment.comma is None or (cited.comma or "").lower() == amendment.comma.lower():
            note = text("amended_by", act=act, where=where)
        else:
            note = text("amended_comma", comma=amendment.comma, act=act, where=where)
        holding = next((c for c in chunks if flat(amendment.excerpt) in flat(c.text)), chunks[0])
        return AmendedBy(note, f"{where}, {act}", holding.id, passage, amendment.article, amendment.comma)

    def annotate(self, citations: Sequence[Citation]) -> tuple[Citation, ...]:
        """The citations, each carrying the amendments of its article (`amended_by`)."""
        return tuple(replace(c, amended_by=self.notes_for(c)) for c in citations)


def load_amendments(corpus_dir: Path, catalog: Catalog) -> AmendmentTable:
    """The table of `corpus/emendamenti.yaml` bound to `catalog`; empty when absent (bad entries left out)."""
    path = corpus_dir / AMENDMENTS_FILE
    if not path.is_file():
        return AmendmentTable((), catalog)
    amendments, problems = read_table(path)
    if problems:
        log.warning(
            "amendments table %s: %d invalid entries left out (run assistant corpus check)", path, len(problems)
        )
    return AmendmentTable(amendments, catalog)
