"""What the law asks of a call (avviso): elements and red flags from `corpus/requisiti/avviso.yaml`.

Each element and red flag carries its legal basis as structured citations that resolve to indexed chunks;
`load_requirements` validates the file and `citations_for` turns the bases into citations.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .catalog import Catalog
from .citations import citation as make_citation
from .errors import UserError
from .models import Citation
from .references import Ref
from .text import fold

log = logging.getLogger(__name__)


CALL_TYPES: tuple[str, ...] = ("co-progettazione", "co-programmazione", "convenzione")
UNKNOWN_TYPE = "sconosciuto"
SEVERITIES = ("obbligatorio", "raccomandato")
REQUIREMENTS_FILE = Path("requisiti") / "avviso.yaml"
MARKER = "DA COMPLETARE"
NOTE_PREFIX = "Nota di redazione"  # editorial notes of our drafts: not part of the call, skipped by the checker
EVIDENCE_MAX = 300
CITATION_KEYS = ("doc_id", "article", "comma", "section", "page", "version", "label")


class RequirementsError(UserError, ValueError):
    """The requirements file cannot be used; the message is Italian and names the file."""


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
        return tuple(
            Basis(Ref.from_mapping(item), str(item.get("quote", "")), tuple(item.get("types") or ())) for item in raw
        )
    except (KeyError, AttributeError, TypeError):
        raise RequirementsError(
            f"{where}: legal_basis deve essere un elenco di {{doc_id, article, comma}} o {{doc_id, section}}."
        ) from None


def _types(raw: Any, where: str) -> tuple[str, ...]:
    values = tuple(raw or ())
    unknown = [v for v in values if v not in CALL_TYPES]
    if not values or unknown:
        raise RequirementsError(
            f"{where}: applies_to deve elencare tipi tra {', '.join(CALL_TYPES)} (trovato {list(values)})."
        )
    return values


def _detector(raw: Mapping[str, Any], where: str) -> Detector:
    strong = tuple(
        tuple(_compile(p, where) for p in (g if isinstance(g, list) else [g])) for g in raw.get("strong") or ()
    )
    if not strong:
        raise RequirementsError(f"{where}: detect.strong deve contenere almeno un'espressione.")
    weak = tuple(_compile(p, where) for p in raw.get("weak") or ())
    heading = _compile(raw["heading"], where) if raw.get("heading") else None
    return Detector(
        strong,
        weak,
        heading,
        bool(raw.get("section_is_enough", False)),
        tuple(raw.get("contradicted_by") or ()),
        bool(raw.get("first_mention", False)),
    )


def _element(raw: Mapping[str, Any], source: str) -> Element:
    where = f"{source}, elemento {raw.get('id', '?')}"
    missing = [
        k
        for k in (
            "id",
            "label",
            "description",
            "applies_to",
            "severity",
            "legal_basis",
            "guidance",
            "common_mistake",
            "detect",
            "draft",
        )
        if not raw.get(k)
    ]
    if missing:
        raise RequirementsError(f"{where}: mancano i campi {', '.join(missing)}.")
    severities = {"*": raw["severity"], **dict(raw.get("severity_by_type") or {})}
    if any(s not in SEVERITIES for s in severities.values()):
        raise RequirementsError(f"{where}: severity deve essere obbligatorio o raccomandato.")
    draft = raw["draft"]
    text = draft.get("text", "")
    return Element(
        id=str(raw["id"]),
        label=str(raw["label"]),
        description=" ".join(str(raw["description"]).split()),
        applies_to=_types(raw["applies_to"], where),
        severity=str(raw["severity"]),
        legal_basis=_bases(raw["legal_basis"], where),
        guidance=" ".join(str(raw["guidance"]).split()),
        common_mistake=" ".join(str(raw["common_mistake"]).split()),
        detector=_detector(raw["detect"], where),
        draft_title=str(draft.get("title") or raw["label"]),
        draft_text=dict(text) if isinstance(text, Mapping) else {"*": str(text)},
        missing={str(k): str(v) for k, v in (draft.get("missing") or {}).items()},
        severity_by_type=dict(raw.get("severity_by_type") or {}),
    )


def _red_flag(raw: Mapping[str, Any], source: str) -> RedFlag:
    where = f"{source}, segnale {raw.get('id', '?')}"
    missing = [k for k in ("id", "label", "description", "applies_to", "legal_basis", "guidance") if not raw.get(k)]
    if missing or not (raw.get("patterns") or raw.get("when_absent")):
        raise RequirementsError(
            f"{where}: servono id, label, description, applies_to, legal_basis, guidance e patterns oppure when_absent."
        )
    return RedFlag(
        id=str(raw["id"]),
        label=str(raw["label"]),
        description=" ".join(str(raw["description"]).split()),
        applies_to=_types(raw["applies_to"], where),
        legal_basis=_bases(raw["legal_basis"], where),
        guidance=" ".join(str(raw["guidance"]).split()),
        patterns=tuple(_compile(p, where) for p in raw.get("patterns") or ()),
        when_absent=tuple(raw.get("when_absent") or ()),
        doubtful=bool(raw.get("doubtful", False)),
    )


def load_requirements(corpus_dir: Path) -> Requirements:
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
