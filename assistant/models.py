"""The few frozen records that modules exchange: documents, chunks, hits, citations, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["norma", "linee_guida", "giurisprudenza", "prassi", "avviso", "formazione"]
KINDS: tuple[str, ...] = ("norma", "linee_guida", "giurisprudenza", "prassi", "avviso", "formazione")

# How each kind is named to the user; law first when several kinds answer.
KIND_LABELS: dict[str, str] = {
    "norma": "Norma",
    "linee_guida": "Linee guida",
    "giurisprudenza": "Giurisprudenza",
    "prassi": "Prassi",
    "avviso": "Avviso (atto locale)",
    "formazione": "Materiale formativo",
}
KIND_PRIORITY: dict[str, int] = {kind: rank for rank, kind in enumerate(KINDS)}
# Corpus folder of each kind (uploads go to data/uploads/<folder>/); a file in an unknown folder is training material.
KIND_FOLDERS: dict[str, str] = {
    "norma": "norme",
    "linee_guida": "linee-guida",
    "giurisprudenza": "giurisprudenza",
    "prassi": "prassi",
    "avviso": "avvisi",
    "formazione": "formazione",
}
FOLDER_KINDS: dict[str, str] = {folder: kind for kind, folder in KIND_FOLDERS.items()} | {"uploads": "formazione"}
SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".pdf", ".docx")

# Who asks: answers adapt their wording to the audience.
AUDIENCES: tuple[str, ...] = ("funzionario", "operatore")
AUDIENCE_LABELS: dict[str, str] = {"funzionario": "Funzionario pubblico", "operatore": "Operatore del Terzo settore"}
# How a question is worded (evaluation sets, question bank): citing the law, in plain words, in procedural words.
REGISTERS: tuple[str, ...] = ("legale", "operatore", "funzionario")

# Curated answers: for whom (one audience or both) and their life cycle.
CURATED_AUDIENCES: tuple[str, ...] = (*AUDIENCES, "entrambi")
CURATED_STATUSES: tuple[str, ...] = ("bozza", "approvata", "archiviata")
# What the call checker says of each element a call must contain.
ELEMENT_STATUSES: tuple[str, ...] = ("presente", "assente", "dubbio")


@dataclass(frozen=True)
class DocumentInfo:
    """One corpus document as described by the manifest (or inferred for user files)."""

    doc_id: str
    path: str  # relative to the corpus root (or absolute for files outside it)
    title: str
    kind: str
    identifier: str = ""
    short_ref: str = ""  # used in citations: "D.Lgs. 117/2017"
    urn: str = ""
    version_date: str = ""  # ISO date of the text version ("vigente al")
    version_label: str = ""  # "testo vigente al 4-2-2023"
    source: str = ""
    caveats: str = ""
    page_source: str = ""  # companion PDF giving page numbers for a .txt copy
    in_manifest: bool = True

    @property
    def ref(self) -> str:
        return self.short_ref or self.title

    @property
    def version_text(self) -> str:
        if self.version_label:
            return self.version_label
        if self.version_date:
            return f"versione del {self.version_date}"
        return "versione non indicata"


@dataclass(frozen=True)
class Chunk:
    """One citable unit: a comma of an article, a guidelines paragraph, a judgment paragraph."""

    id: str
    doc_id: str
    text: str  # the text shown and quoted (accents normalised, "(( ))" markers kept)
    article: str | None = None
    article_title: str | None = None
    comma: str | None = None
    section: str | None = None
    label: str | None = None  # human-readable location: "Considerato in diritto, § 2.1"
    page: int | None = None
    titolo: str | None = None
    capo: str | None = None
    amended: bool = False
    position: int = 0  # order inside the document
    refs: tuple[str, ...] = ()  # passages this one cites (Ref keys), e.g. a training section citing the law

    @property
    def path(self) -> str:
        """Full path for display: "Titolo VII > Art. 55 (Coinvolgimento ...) > comma 3"."""
        parts = [p for p in (self.titolo, self.capo) if p]
        if self.article:
            parts.append(f"Art. {self.article}" + (f" ({self.article_title})" if self.article_title else ""))
        if self.comma:
            parts.append(f"comma {self.comma}")
        if self.label and not self.article:
            parts.append(self.label)
        elif self.section and not self.article:
            parts.append(self.section)
        if self.page:
            parts.append(f"pag. {self.page}")
        return " > ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        values: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__ if k in data}
        values["refs"] = tuple(values.get("refs") or ())
        return cls(**values)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the evidence behind it."""

    chunk: Chunk
    score: float
    dense: float = 0.0
    lexical: float = 0.0
    routed: bool = False


@dataclass(frozen=True)
class AmendedBy:
    """A later provision changing a cited article of a law indexed in an older version (assistant.amendments)."""

    note: str  # "modificato dal D.Lgs. 186/2025, art. 2, comma 2"
    ref: str  # "art. 2, comma 2, D.Lgs. 186/2025"
    chunk: str  # the indexed passage of the amending provision that holds its amending words
    text: str  # the amending provision's whole text (all its indexed passages)
    article: str  # the article of the cited law that is changed or inserted ("86", "79-bis")
    comma: str | None = None  # its comma, when the amending provision names one


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer."""

    doc_id: str
    article: str | None
    comma: str | None
    section: str | None
    page: int | None
    version: str
    title: str = ""
    kind: str = ""
    label: str = ""  # "art. 55, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)"
    chunk_id: str = ""
    amended_by: tuple[AmendedBy, ...] = ()  # later amendments of the cited article (ask --json: "amended_by")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GlossaryRef:
    id: str
    term: str
    definition: str


@dataclass(frozen=True)
class Brief:
    """The short direct answer that opens an answer: authored text, labelled with what it is."""

    label: str  # "Risposta della redazione", "Glossario: co-progettazione", "Materiale formativo: ..."
    text: str
    about: str  # the question, term or module section it comes from


@dataclass(frozen=True)
class Suggestion:
    """A similar question that a curated or editors' answer already answers (the user can open it)."""

    curated_id: str
    question: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GuardReport:
    """What the citation guard did to a model-written answer (`ask --json`: "guard")."""

    writer: str  # openai, ollama, local
    model: str
    kept: int = 0
    dropped: int = 0
    reasons: tuple[str, ...] = ()  # one per dropped sentence: "frase 2: senza citazione [n]"
    fallback: str | None = None  # why the extractive answer was shown instead (None: the model's answer was shown)
    first_token_seconds: float | None = None  # from the request to the model's first token
    seconds: float = 0.0  # from the request to the end of the model's answer (or the fallback)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Answer:
    query: str
    answer: str
    refused: bool
    source: Literal["extractive", "curated", "glossary", "llm"]
    citations: tuple[Citation, ...] = ()
    glossary_terms: tuple[GlossaryRef, ...] = ()
    curated_id: str | None = None
    notes: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = field(default=(), compare=False)
    confidence: Literal["alta", "media", "bassa"] = "alta"  # bassa: shown as uncertain; refusals are bassa
    suggestions: tuple[Suggestion, ...] = ()
    guard: GuardReport | None = None  # set when a language model was asked (source "llm" only when it passed)

    def to_json(self) -> dict[str, Any]:
        """The `assistant ask --json` contract."""
        return {
            "query": self.query,
            "answer": self.answer,
            "refused": self.refused,
            "source": self.source,
            "citations": [c.to_dict() for c in self.citations],
            "glossary_terms": [asdict(g) for g in self.glossary_terms],
            "curated_id": self.curated_id,
            "notes": list(self.notes),
            "confidence": self.confidence,
            "suggestions": [s.to_dict() for s in self.suggestions],
            "guard": self.guard.to_dict() if self.guard else None,
        }
