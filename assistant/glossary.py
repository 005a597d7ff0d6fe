"""The shared glossary (corpus/glossario/*.yaml): one definition per term, the same for every audience.

Loading, validation (`assistant glossary check`), term detection with aliases, accents and hyphens
normalised, and the definitional-question test used by the answer pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from .references import Ref
from .text import fold, fold_phrase

REQUIRED = ("id", "term", "definition", "per_funzionari", "per_operatori", "legal_basis")
KEYS = (*REQUIRED, "aliases", "related", "non_confondere_con")
DEFINITIONAL = re.compile(
    r"^\s*(?:(?:ma|allora|scusa|senti)\s+)?(?:"
    r"che\s+cos\s*[eè]|cos\s*[eè]|(?:che\s+)?cosa\s+sono|chi\s+sono|cosa\s+(?:e|significa|vuol\s+dire|si\s+intende|intendiamo|si\s+intenda)|"
    r"che\s+(?:significa|vuol\s+dire|si\s+intende)|chi\s+e|qual\s+e\s+la\s+definizione|definizione\s+d|"
    r"definisci|mi\s+(?:spieghi|spiega|spiegate|puoi\s+spiegare|dici\s+cos)|spiegami|in\s+parole\s+semplici|"
    r"a\s+cosa\s+serve|che\s+cosa\s+(?:e|significa|si\s+intende)|significato\s+d|cosa\s+vuol\s+dire"
    r")\b"
)


class GlossaryError(ValueError):
    """A glossary file that cannot be read; the message is Italian and names the file."""


@dataclass(frozen=True)
class Entry:
    id: str
    term: str
    definition: str
    per_funzionari: str
    per_operatori: str
    legal_basis: tuple[Ref, ...]
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    non_confondere_con: tuple[tuple[str, str], ...] = ()
    source: str = ""

    def wording(self, audience: str) -> str:
        return self.per_funzionari if audience == "funzionario" else self.per_operatori


def _clean(value: object) -> str:
    return " ".join(str(value or "").split())


_ARTICLES = re.compile(r"\b(?:il|lo|la|i|gli|le|un|uno|una|l)\s+")
_BEFORE_ARTICLE = re.compile(r"\b(?:ex|dell|del|della|di cui all|all|dall)\s+(?=art\b)")


def _term_key(text: str) -> str:
    """Matching key of a term: folded, "co progettazione" = "coprogettazione", articles dropped,
    "ex art." = "dell'art." = "articolo" = "art"."""
    value = fold_phrase(text)
    value = re.sub(r"\barticol[oi]\b", "art", value)
    value = _BEFORE_ARTICLE.sub("", value)
    return _ARTICLES.sub("", value + " ").strip()


@dataclass
class Glossary:
    entries: dict[str, Entry]
    problems: list[str] = field(default_factory=list)  # found while loading; reported by `check`

    @cached_property
    def _keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        for entry in self.entries.values():
            for name in (entry.term, *entry.aliases):
                keys.setdefault(_term_key(name), entry.id)
        return keys

    @cached_property
    def _max_words(self) -> int:
        return max((len(k.split()) for k in self._keys), default=1)

    def lookup(self, name: str) -> Entry | None:
        """An entry by id, term or alias (accents, case and hyphens ignored)."""
        if name in self.entries:
            return self.entries[name]
        entry_id = self._keys.get(_term_key(name))
        return self.entries.get(entry_id) if entry_id else None

    def detect(self, text: str) -> list[Entry]:
        """Glossary terms mentioned in a text, longest match first, in order of appearance."""
        words = _term_key(text).split()
        found: list[str] = []
        i = 0
        while i < len(words):
            for size in range(min(self._max_words, len(words) - i), 0, -1):
                entry_id = self._keys.get(" ".join(words[i : i + size]))
                if entry_id:
                    if entry_id not in found:
                        found.append(entry_id)
                    i += size
                    break
            else:
                i += 1
        return [self.entries[e] for e in found]

    def aliases_used(self, text: str) -> list[tuple[str, Entry]]:
        """Aliases (not the canonical term) written in a text, with their entry: to expand a query."""
        folded = f" {_term_key(text)} "
        out = []
        for entry in self.detect(text):
            if f" {_term_key(entry.term)} " not in folded:
                out.append((entry.term, entry))
        return out


def is_definitional(question: str) -> bool:
    """Whether the user asks what a term means: "Che cos'è ...?", "cosa vuol dire ...", "mi spieghi ..."."""
    return DEFINITIONAL.search(fold(question)) is not None


def load_glossary(directory: Path) -> Glossary:
    """Read every YAML file; structural problems are collected (and raised only for unreadable files)."""
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    if not directory.is_dir():
        return Glossary({}, [f"La cartella del glossario {directory} non esiste."])
    for path in sorted(directory.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: YAML non valido ({str(exc).splitlines()[0]}).")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path.name}: il file deve contenere una voce (chiave: valore).")
            continue
        missing = [k for k in REQUIRED if not data.get(k)]
        if missing:
            problems.append(f"{path.name}: mancano i campi obbligatori: {', '.join(missing)}.")
            continue
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            problems.append(f"{path.name}: campi sconosciuti: {', '.join(unknown)}.")
        entry_id = str(data["id"])
        if entry_id != path.stem:
            problems.append(f"{path.name}: l'id {entry_id!r} deve coincidere con il nome del file ({path.stem!r}).")
        if entry_id in entries:
            problems.append(f"{path.name}: id duplicato {entry_id!r} (già in {entries[entry_id].source}).")
            continue
        try:
            basis = tuple(Ref.from_mapping(item) for item in data["legal_basis"])
        except (KeyError, TypeError, AttributeError):
            problems.append(
                f"{path.name}: legal_basis deve essere una lista di {{doc_id, article, comma}} o {{doc_id, section}}."
            )
            continue
        entries[entry_id] = Entry(
            id=entry_id,
            term=_clean(data["term"]),
            definition=_clean(data["definition"]),
            per_funzionari=_clean(data["per_funzionari"]),
            per_operatori=_clean(data["per_operatori"]),
            legal_basis=basis,
            aliases=tuple(_clean(a) for a in data.get("aliases") or ()),
            related=tuple(str(r) for r in data.get("related") or ()),
            non_confondere_con=tuple(
                (_clean(i.get("term")), _clean(i.get("differenza")))
                for i in data.get("non_confondere_con") or ()
                if isinstance(i, dict)
            ),
            source=path.name,
        )
    return Glossary(entries, problems)


def check(glossary: Glossary, resolver: Callable[[Ref], bool] | None = None) -> list[str]:
    """Every problem of the glossary, in Italian: structure, unique aliases, related terms, legal basis."""
    problems = list(glossary.problems)
    owners: dict[str, str] = {}
    for entry in glossary.entries.values():
        for name in (entry.term, *entry.aliases):
            key = _term_key(name)
            other = owners.get(key)
            if other and other != entry.id:
                problems.append(f"{entry.source}: l'alias o termine {name!r} è già usato dalla voce {other!r}.")
            owners.setdefault(key, entry.id)
        for related in entry.related:
            if related not in glossary.entries:
                problems.append(f"{entry.source}: la voce collegata {related!r} non esiste nel glossario.")
        if resolver is not None:
            for ref in entry.legal_basis:
                if not resolver(ref):
                    problems.append(
                        f"{entry.source}: la base normativa {ref.describe()} non corrisponde a "
                        "nessun passaggio indicizzato."
                    )
    return problems
