"""Who writes an answer from the retrieved passages: one Protocol, four writers (`LC_LLM`).

- `extractive` (the default): the quoted passages, as `Assistant.compose` lays them out; no model.
- `openai`: any OpenAI-compatible server (vLLM, llama.cpp, Ollama's /v1, a cloud endpoint) through `ChatOpenAI`.
- `ollama`: an Ollama server through `ChatOllama`.
- `local`: a GGUF file served in process by xllamacpp, then spoken to as `openai`.

A model's answer never reaches the user unchecked: `assistant.writers.chat` streams it through the guard
(`assistant.writers.guard`) sentence by sentence and falls back to the extractive answer when it fails.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..catalog import Catalog
from ..config import Settings
from ..errors import UserError
from ..glossary import Entry, Glossary
from ..models import Answer
from .guard import Passage

# The packages each model writer needs (the `[llm]` extra), checked when the writer is made (at start-up).
PACKAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "openai": (("langchain-openai", "langchain_openai"),),
    "ollama": (("langchain-ollama", "langchain_ollama"),),
    "local": (("langchain-openai", "langchain_openai"), ("xllamacpp", "xllamacpp")),
}


class WriterError(UserError, RuntimeError):
    """A writer that cannot be built (a missing package); the message is Italian."""


@dataclass(frozen=True)
class Draft:
    """Everything a writer needs for one answer; `fallback` is the extractive answer, shown when a model fails."""

    question: str  # as read (a follow-up carries the previous question's terms)
    audience: str
    passages: Sequence[Passage]
    terms: Sequence[Entry]  # glossary entries the question and the passages touch
    glossary: Glossary
    catalog: Catalog
    fallback: Answer


Piece = str | Answer  # a sentence that passed the guard (Markdown, shown as it streams), then the final answer


class Writer(Protocol):
    """Writes the answer of a Draft: zero or more guarded sentences as they are ready, then the final Answer."""

    name: str

    def describe(self) -> str:
        """Which writer and model, in Italian, for `assistant llm check` and the logs (no secret)."""
        ...

    def write(self, draft: Draft) -> Iterator[Piece]: ...

    def probe(self) -> str:
        """One short real request; returns what the model said, raises on any failure."""
        ...


class ExtractiveWriter:
    """Today's answer: the passages quoted verbatim with numbered citations (no model, nothing to check)."""

    name = "extractive"

    def describe(self) -> str:
        return "extractive: nessun modello linguistico; le risposte citano i passaggi alla lettera"

    def write(self, draft: Draft) -> Iterator[Piece]:
        yield draft.fallback

    def probe(self) -> str:
        return "ok"


def make_writer(settings: Settings) -> Writer:
    """The writer `LC_LLM` names. A model writer connects lazily: a server that is down only makes answers fall
    back to extractive (with a note), it never stops the app from starting."""
    if settings.llm == "extractive":
        return ExtractiveWriter()
    for package, module in PACKAGES[settings.llm]:
        if importlib.util.find_spec(module) is None:
            raise WriterError(
                f"LC_LLM={settings.llm} richiede il pacchetto {package}: installalo con `make llm-deps` "
                "(oppure `.venv/bin/pip install -e '.[llm]'`), o usa LC_LLM=extractive."
            )
    from .chat import ChatWriter

    return ChatWriter(settings)


def last_answer(pieces: Iterator[Piece]) -> Answer:
    """The final Answer of a writer's stream."""
    final: Answer | None = None
    for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
    if final is None:
        raise RuntimeError("the writer ended without an answer")
    return final
