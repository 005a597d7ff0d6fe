"""The prontuario (corpus/prontuario/*.yaml): reviewed answers written from the sources by the project's editors.

Each answer opens with one direct sentence and continues in a few plain ones, one version for operators and one
for officials where their needs differ; every sentence cites its sources `[n]` (the entry's `fonti`) and every
number, date, amount and "art. N" it states appears in the passages that sentence cites (`figures.unsupported`).
`sync_prontuario` imports the answers into the curated store, idempotently, as approved answers whose author is
"Redazione Lingua Comune": trainers may then edit, archive or replace them, and an answer a trainer touched is
never overwritten by a later import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from .catalog import Catalog
from .curated.record import EDITORS, CuratedAnswer, normalise, now
from .curated.store import CuratedStore
from .figures import unsupported
from .models import REGISTERS
from .references import Ref

PRONTUARIO_DIR = "prontuario"
TEXT_KEYS = ("entrambi", "operatore", "funzionario")
MIN_PHRASINGS = 8
_MARKERS = re.compile(r"\[(\d+)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý«\"(])")


@dataclass(frozen=True)
class Entry:
    """One answer of the prontuario."""

    id: str
    theme: str
    question: str
    tags: tuple[str, ...]
    sources: tuple[Ref, ...]  # the `fonti`, cited as [1], [2], ... in the texts
    texts: dict[str, str]  # "entrambi", or "operatore" and "funzionario"
    phrasings: dict[str, tuple[str, ...]]  # by register

    def record_id(self, audience: str) -> str:
        return self.id if audience == "entrambi" else f"{self.id}--{audience}"


def load_prontuario(folder: Path) -> tuple[list[Entry], list[str]]:
    """Every answer of the prontuario files, and the Italian problems of the items that cannot be read."""
    entries: list[Entry] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            items = data["risposte"]
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            problems.append(f"{path.name}: file non leggibile ({exc}).")
            continue
        for index, raw in enumerate(items, start=1):
            try:
                entries.append(_entry(raw, str(data.get("tema") or path.stem)))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"{path.name}, risposta {index}: {exc}.")
    return entries, problems


def _entry(raw: dict[str, Any], theme: str) -> Entry:
    texts = {k: " ".join(str(raw[k]).split()) for k in TEXT_KEYS if raw.get(k)}
    phrasings = {
        r: tuple(" ".join(str(p).split()) for p in (raw.get("formulazioni") or {}).get(r) or ()) for r in REGISTERS
    }
    return Entry(
        id=str(raw["id"]),
        theme=theme,
        question=" ".join(str(raw["domanda"]).split()),
        tags=tuple(str(t) for t in raw.get("tags") or ()),
        sources=tuple(Ref.from_mapping(f) for f in raw.get("fonti") or ()),
        texts=texts,
        phrasings=phrasings,
    )


def sentences(text: str) -> list[str]:
    """The sentences of an answer, each with the citation markers that close it."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text):
        if out and re.fullmatch(r"(?:\[\d+\]\s*)+\.?", part):
            out[-1] += " " + part
        elif part.strip():
            out.append(part.strip())
    return out


def check_entry(entry: Entry, catalog: Catalog) -> list[str]:
    """Italian problems of one answer: structure, citations of every sentence, numbers of every sentence."""
    name = f"Prontuario, risposta {entry.id!r}"
    problems: list[str] = []
    resolved = [catalog.resolve_ref(ref) for ref in entry.sources]
    for ref, chunks in zip(entry.sources, resolved, strict=True):
        if not chunks:
            problems.append(f"{name}: la fonte {ref.describe()} non corrisponde a nessun passaggio indicizzato.")
    if set(entry.texts) not in ({"entrambi"}, {"operatore", "funzionario"}):
        problems.append(f"{name}: serve il testo `entrambi`, oppure `operatore` e `funzionario`.")
    total = sum(len(p) for p in entry.phrasings.values())
    if total < MIN_PHRASINGS or not all(entry.phrasings.get(r) for r in REGISTERS):
        problems.append(f"{name}: servono almeno {MIN_PHRASINGS} formulazioni, in tutti e tre i registri.")
    for audience, text in entry.texts.items():
        parts = sentences(text)
        if not 3 <= len(parts) <= 6:
            problems.append(f"{name} ({audience}): {len(parts)} frasi; servono una frase diretta e da 2 a 5 frasi.")
        for sentence in parts:
            marks = [int(m) for m in _MARKERS.findall(sentence)]
            if not marks:
                problems.append(f"{name} ({audience}): la frase «{sentence[:80]}» non cita nessuna fonte [n].")
                continue
            if any(not 1 <= m <= len(entry.sources) for m in marks):
                problems.append(f"{name} ({audience}): la frase «{sentence[:80]}» cita una fonte che non esiste.")
                continue
            chunks = [c for m in marks for c in resolved[m - 1]]
            missing = unsupported(sentence, chunks, [entry.sources[m - 1] for m in marks], catalog.documents)
            if missing:
                problems.append(
                    f"{name} ({audience}): {', '.join(missing)} non compare nei passaggi citati dalla frase "
                    f"«{sentence[:80]}»."
                )
    return problems


def curated_records(entry: Entry) -> list[CuratedAnswer]:
    """The curated answers an entry becomes: one for both audiences, or one per audience."""
    phrasings = tuple(p for register in REGISTERS for p in entry.phrasings.get(register, ()))
    moment = now()
    return [
        normalise(
            CuratedAnswer(
                id=entry.record_id(audience),
                question=entry.question,
                answer=text,
                phrasings=phrasings,
                citations=entry.sources,
                audience=audience,
                tags=("prontuario", entry.theme, *entry.tags),
                status="approvata",
                author=EDITORS,
                approved_by=EDITORS,
                approved_at=moment,
            )
        )
        for audience, text in entry.texts.items()
    ]


@dataclass(frozen=True)
class SyncReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: tuple[str, ...] = ()  # touched by trainers: never overwritten
    archived: int = 0  # no longer in the prontuario

    def summary(self) -> str:
        line = (
            f"Prontuario: {self.created} risposte create, {self.updated} aggiornate, {self.unchanged} invariate, "
            f"{self.archived} archiviate"
        )
        if self.kept:
            line += f"; {len(self.kept)} modificate dai formatori e lasciate come sono ({', '.join(self.kept[:5])}"
            line += ", ...)" if len(self.kept) > 5 else ")"
        return line + "."


def sync_prontuario(store: CuratedStore, entries: list[Entry]) -> SyncReport:
    """Import the prontuario into the curated store; running it again changes nothing."""
    created = updated = unchanged = archived = 0
    kept: list[str] = []
    wanted: set[str] = set()
    for entry in entries:
        for record in curated_records(entry):
            wanted.add(record.id)
            current = store.get(record.id)
            if current is None:
                store.save(record, EDITORS, None, "importata dal prontuario della redazione")
                created += 1
            elif current.updated_by != EDITORS:
                kept.append(record.id)
            elif current.content() == record.content():
                unchanged += 1
            else:
                fields = {
                    name: getattr(record, name)
                    for name in ("question", "phrasings", "answer", "citations", "audience", "tags", "status")
                }
                fresh = replace(current, **fields, approved_by=EDITORS, approved_at=now(), cited_hashes=())
                store.save(fresh, EDITORS, current.revision, "aggiornata dal prontuario della redazione")
                updated += 1
    for answer in store.find(tag="prontuario"):
        if answer.id not in wanted and answer.updated_by == EDITORS and answer.status != "archiviata":
            store.archive(answer.id, EDITORS, answer.revision)
            archived += 1
    return SyncReport(created, updated, unchanged, tuple(kept), archived)


# --- the number and reference check of every authored text ---------------------------------------------------

_ORDINAL = re.compile(r"(?m)^\s*(?:[-*]\s*)?(?:\*\*)?\d{1,2}[.)]\s")
_SECTION = re.compile(r"(?m)^##\s+(.*)$")
_EXERCISE = ("esercitazione",)  # classroom logistics (minutes, group sizes), not statements about the sources


def module_problems(path: Path, catalog: Catalog) -> list[str]:
    """A training module, section by section: its numbers must appear in the passages the section cites."""
    from .references import find_links, strip_links

    text = path.read_text(encoding="utf-8")
    if text.startswith("---"):
        text = text[text.find("\n---", 3) + 4 :]
    problems: list[str] = []
    heads = list(_SECTION.finditer(text))
    for index, head in enumerate(heads):
        if head.group(1).strip().lower().startswith(_EXERCISE):
            continue
        body = text[head.end() : heads[index + 1].start() if index + 1 < len(heads) else len(text)]
        links = [ref for _, ref in find_links(body)]
        if any(not catalog.resolve_ref(ref) for ref in links):
            continue  # a citation that does not resolve is `corpus check`'s to report
        chunks = [c for ref in links for c in catalog.resolve_ref(ref)]
        missing = unsupported(_ORDINAL.sub(" ", strip_links(body)), chunks, links, catalog.documents)
        if missing:
            problems.append(
                f"{path.name}, sezione «{head.group(1).strip()}»: {', '.join(missing)} non compare nei passaggi "
                "che la sezione cita."
            )
    return problems


def glossary_problems(glossary: Any, catalog: Catalog) -> list[str]:
    """Every glossary wording: its numbers must appear in the entry's legal basis."""
    problems: list[str] = []
    for entry in glossary.entries.values():
        if any(not catalog.resolve_ref(ref) for ref in entry.legal_basis):
            continue  # a basis that does not resolve is `glossary check`'s to report
        chunks = [c for ref in entry.legal_basis for c in catalog.resolve_ref(ref)]
        for name in ("definition", "per_funzionari", "per_operatori"):
            missing = unsupported(getattr(entry, name), chunks, entry.legal_basis, catalog.documents)
            if missing:
                problems.append(
                    f"Glossario, voce {entry.id!r} ({name}): {', '.join(missing)} non compare nella base normativa."
                )
    return problems


def authored_problems(corpus_dir: Path, catalog: Catalog) -> list[str]:
    """The number and reference check of the prontuario, the training modules and the glossary."""
    from .glossary import load_glossary

    entries, problems = load_prontuario(corpus_dir / PRONTUARIO_DIR)
    for entry in entries:
        problems += check_entry(entry, catalog)
    for path in sorted((corpus_dir / "formazione").glob("*.md")):
        problems += module_problems(path, catalog)
    if (corpus_dir / "glossario").is_dir():
        problems += glossary_problems(load_glossary(corpus_dir / "glossario"), catalog)
    return problems
