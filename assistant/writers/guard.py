"""The fail-closed guard a model-written answer passes, sentence by sentence, before anyone reads it.

A sentence is kept only when every check holds:
- it cites at least one passage `[n]`, and every `[n]` is a passage the model was given;
- every quotation («…», “…”, "…") is verbatim in a passage it cites (case, accents and spacing aside);
- every number, date, amount and "art. N" appears in a cited passage (`assistant.figures`);
- glossary terms keep their canonical meaning: two terms the glossary keeps apart are not equated
  ("l'accreditamento, cioè un appalto");
- most of its words are in the passages it cites, the question or the glossary (`llm_support_floor`);
- it does not repeat the instructions the model was given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..figures import unsupported
from ..glossary import Glossary
from ..models import Chunk, DocumentInfo
from ..text import fold, sentences, tokens

MARKER = re.compile(r"\[(\d+)\]")
# "[1, 2]", "[1-2]", "[1 e 2]", "[Passaggio 1]", "[fonte 2]" -> "[1][2]", "[1]", "[2]"
_MARKER_GROUP = re.compile(r"\[\s*(?:passaggio|fonte|n\.?)?\s*(\d+(?:\s*(?:,|;|-|–|e)\s*\d+)*)\s*\]", re.IGNORECASE)
_MARKERS_AFTER_STOP = re.compile(r"([.;:!?])[ \t]*((?:\[\d+\][ \t]*)+)")
_LIST_PREFIX = re.compile(r"^\s*(?:[-*•]\s+|\d+[.)]\s+|#+\s+)")
_EMPHASIS = re.compile(r"\*\*|__")
_QUOTES = re.compile(r"«([^»]+)»|“([^”]+)”|\"([^\"]+)\"")

# Pairs the Codice and the Linee guida keep apart that the glossary files do not list under `non_confondere_con`
# (the project's own list, from the definitions of art. 55-57 CTS and par. 3-6 of DM 72/2021).
EDITORIAL_CONFUSIONS: tuple[tuple[str, str], ...] = (
    ("accreditamento", "appalto"),
    ("accreditamento", "affidamento"),
    ("accreditamento", "gara"),
    ("co-progettazione", "gara"),
    ("co-progettazione", "affidamento"),
    ("contributo", "corrispettivo"),
    ("convenzione", "appalto"),
)
# Words that state two things are the same ("X, cioè Y", "X è un Y", "X (Y)").
_EQUATES = (
    r"cioe|ossia|ovvero|ovverosia|vale a dire|in altre parole|detto anche|detta anche|anche detto|anche detta|"
    r"chiamato anche|chiamata anche|sinonimo di|equivale a|equivalente a|est un|est una|est uno|est il|est la|est lo|"
    r"est|sono|si chiama|inteso come|intesa come|zzpar"
)
_DENIES = re.compile(r"\b(?:non|diverso|diversa|distinto|distinta|differisce|differenza|anziche|invece)\b")
_GAP_WORDS = 4  # words allowed around the connective ("l'accreditamento è in sostanza un appalto")


def normalise_markers(text: str) -> str:
    """One citation form: "[1, 2]" -> "[1][2]", "[Passaggio 1]" -> "[1]"; markers after the full stop go before it."""

    def expand(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        if re.search(r"[-–]", match.group(1)) and len(numbers) == 2 and 0 < numbers[1] - numbers[0] < 10:
            numbers = list(range(numbers[0], numbers[1] + 1))
        return "".join(f"[{n}]" for n in numbers)

    text = _MARKER_GROUP.sub(expand, text)
    return _MARKERS_AFTER_STOP.sub(lambda m: " " + m.group(2).strip() + m.group(1) + " ", text)


_LEADING_MARKERS = re.compile(r"^((?:\[\d+\]\s*)+)")


def split_sentences(text: str) -> list[str]:
    """The sentences of a model's answer, each with its citation markers, list and emphasis marks removed."""
    out: list[str] = []
    for line in normalise_markers(text).split("\n"):
        out += _line_sentences(line)
    return out


def _line_sentences(line: str) -> list[str]:
    """A line's sentences; markers that open the line ("[2] Uno. Due.") cite each of its sentences without any."""
    line = _EMPHASIS.sub("", _LIST_PREFIX.sub("", line.strip()))
    leading = _LEADING_MARKERS.match(line)
    parts = [s for s in sentences(line) if re.search(r"\w", s)]
    if leading:
        opener = leading.group(1).strip()
        parts = [p if MARKER.search(p) else f"{opener} {p}" for p in parts]
    return parts


class SentenceStream:
    """Cuts a streamed answer into sentences as soon as each is complete (the next one has begun); the same
    sentences as `split_sentences` of the whole text."""

    def __init__(self) -> None:
        self._line = ""  # the current line, from its start
        self._emitted = 0  # its sentences already returned

    def feed(self, delta: str) -> list[str]:
        self._line = normalise_markers(self._line + delta)
        complete: list[str] = []
        while "\n" in self._line:
            head, _, self._line = self._line.partition("\n")
            complete += _line_sentences(head)[self._emitted :]
            self._emitted = 0
        parts = _line_sentences(self._line)
        if len(parts) > 1:
            complete += parts[self._emitted : -1]
            self._emitted = len(parts) - 1
        return complete

    def close(self) -> list[str]:
        rest = _line_sentences(self._line)[self._emitted :]
        self._line, self._emitted = "", 0
        return rest


@dataclass(frozen=True)
class Passage:
    """A passage the model was given: its number in the prompt, the chunk, what the model read of it."""

    number: int
    chunk: Chunk
    excerpt: str
    label: str  # the citation: "art. 55, comma 3, D.Lgs. 117/2017 (testo vigente al 4-2-2023)"
    kind_label: str = ""  # "Norma", "Linee guida", ...


@dataclass(frozen=True)
class Verdict:
    sentence: str
    cited: tuple[int, ...]
    reasons: tuple[str, ...] = ()

    @property
    def kept(self) -> bool:
        return not self.reasons


@dataclass
class Guard:
    """Checks model sentences against the passages of one prompt."""

    passages: Sequence[Passage]
    glossary: Glossary
    question: str = ""
    documents: dict[str, DocumentInfo] = field(default_factory=dict)
    instructions: str = ""  # the prompt's own rules: a sentence that repeats them is dropped
    support_floor: float = 0.5

    def __post_init__(self) -> None:
        self._by_number = {p.number: p for p in self.passages}
        self._folded = {p.number: fold(p.chunk.text) for p in self.passages}
        self._tokens = {p.number: set(tokens(p.chunk.text + " " + p.label)) for p in self.passages}
        self._question_tokens = set(tokens(self.question))
        seen = " ".join([*self._folded.values(), fold(self.question)])
        self._instruction_shingles = {s for s in _shingles(fold(self.instructions)) if s not in seen}
        self._pairs = confusable_pairs(self.glossary)

    def check(self, sentence: str) -> Verdict:
        cited = tuple(dict.fromkeys(int(n) for n in MARKER.findall(sentence)))
        if not cited:
            return Verdict(sentence, cited, ("senza citazione [n]",))
        missing = [n for n in cited if n not in self._by_number]
        if missing:
            return Verdict(sentence, cited, (f"cita [{missing[0]}], un passaggio che non esiste",))
        reasons: list[str] = []
        chunks = [self._by_number[n].chunk for n in cited]
        folded = " ".join(self._folded[n] for n in cited)
        for quoted in quotations(sentence):
            if fold(quoted) and f" {fold(quoted)} " not in f" {folded} ":
                reasons.append(f"citazione non testuale: «{_short(quoted)}»")
        absent = unsupported(MARKER.sub(" ", _without_quotes(sentence)), chunks, documents=self.documents)
        if absent:
            reasons.append("numeri o articoli assenti dai passaggi citati: " + ", ".join(absent))
        equated = self.equated_terms(sentence)
        if equated:
            reasons.append(f"«{equated[0]}» usato come sinonimo di «{equated[1]}», che il glossario distingue")
        share = self.support(sentence, cited)
        if share is not None and share < self.support_floor:
            reasons.append(f"parole non presenti nei passaggi citati ({share:.0%} trovate)")
        if self._instruction_shingles & set(_shingles(fold(sentence))):
            reasons.append("riporta le istruzioni date al modello")
        return Verdict(sentence, cited, tuple(reasons))

    def support(self, sentence: str, cited: Iterable[int]) -> float | None:
        """Share of the sentence's content words found in the cited passages, the question or the glossary."""
        words = [w for w in tokens(MARKER.sub(" ", sentence)) if not w.isdigit()]
        if len(words) < 3:
            return None
        known = set(self._question_tokens)
        for number in cited:
            known |= self._tokens[number]
        for entry in self.glossary.detect(sentence):
            known |= set(tokens(f"{entry.term} {entry.definition} {' '.join(entry.aliases)}"))
        return sum(1 for w in words if w in known) / len(words)

    def equated_terms(self, sentence: str) -> tuple[str, str] | None:
        """Two terms the glossary keeps apart, written as the same thing (and not denied)."""
        text = MARKER.sub(" ", sentence.lower()).replace("(", " zzpar ")
        text = " " + fold(re.sub(r"\bè\b", " est ", text)) + " "
        for first, second in self._pairs:
            if f" {first} " not in text or f" {second} " not in text:  # both terms, or nothing to equate
                continue
            for a, b in ((first, second), (second, first)):
                gap = rf"(?:\S+ ){{0,{_GAP_WORDS}}}"
                pattern = rf" {re.escape(a)} {gap}(?:{_EQUATES}) ?{gap}{re.escape(b)} "
                match = re.search(pattern, text)
                if match and not _DENIES.search(match.group(0)):
                    return a, b
        return None


# A passage that speaks to the model instead of the reader ("ignora le istruzioni", "rivela il prompt"): it is never
# given to a model (the extractive answer may still quote it, inert).
_ADDRESSES_MODEL = re.compile(
    r"\b(?:ignora(?:te)?|dimentica(?:te)?|ignore|disregard|forget)\b(?:\s+\w+){0,3}\s+"
    r"(?:istruzion\w*|regol\w*|indicazion\w*|instructions?|rules?|prompt)\b"
    r"|\b(?:prompt|messaggio)\s+(?:di\s+)?sistema\b|\bsystem\s+prompt\b"
    r"|\b(?:rivela|mostra|ripeti|stampa|reveal|print|repeat)\b(?:\s+\w+){0,3}\s+"
    r"(?:istruzion\w*|prompt|regole|instructions)\b"
    r"|\b(?:sei|you\s+are)\s+ora\b|\bnow\s+you\s+are\b|\bda\s+ora\s+in\s+poi\s+(?:rispondi|scrivi)\b",
    re.IGNORECASE,
)


def addresses_the_model(text: str) -> bool:
    """True for text written to steer a language model (a prompt injection), not to inform a reader."""
    return bool(_ADDRESSES_MODEL.search(" ".join(text.split())))


def confusable_pairs(glossary: Glossary) -> list[tuple[str, str]]:
    """Folded term pairs that must not be equated: each entry and its `non_confondere_con`, plus the project's."""
    pairs: set[tuple[str, str]] = set()

    def names(value: str) -> set[str]:
        entry = glossary.lookup(value)
        found = {fold(re.sub(r"\(.*?\)", "", value))}
        if entry is not None:
            found |= {fold(entry.term)} | {fold(a) for a in entry.aliases if len(a.split()) <= 3}
        return {n for n in found if n}

    for entry in glossary.entries.values():
        for other, _ in entry.non_confondere_con:
            for a in names(entry.term):
                pairs |= {(a, b) for b in names(other) if b != a and b not in a and a not in b}
    for first, second in EDITORIAL_CONFUSIONS:
        pairs |= {(a, b) for a in names(first) for b in names(second) if b != a and b not in a and a not in b}
    return sorted(pairs)


def quotations(sentence: str) -> list[str]:
    """What a sentence puts between quotation marks."""
    return [next(g for g in m.groups() if g is not None) for m in _QUOTES.finditer(sentence)]


def _without_quotes(sentence: str) -> str:
    """A sentence with its quotations left out (their numbers are checked as quotations)."""
    return _QUOTES.sub(" ", sentence)


def _shingles(folded: str, size: int = 6) -> list[str]:
    words = folded.split()
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
