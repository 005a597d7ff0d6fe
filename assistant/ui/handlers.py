"""UI handlers as plain functions: they take values and return values, never raise into the browser."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..answer import Assistant, QuestionError
from ..models import Answer
from ..prompts import text
from .views import EMPTY_SOURCES, sources_panel

log = logging.getLogger(__name__)

GENERIC_ERROR = (
    "Si è verificato un errore imprevisto: la domanda non ha avuto risposta. Riprova; se il problema "
    "continua, segnalalo agli amministratori."
)


@dataclass
class ChatResult:
    history: list[dict[str, Any]]
    sources_html: str
    warning: str | None = None
    answer: Answer | None = None
    partial: bool = False  # a model's answer still being written: only the history changed


def chat(
    assistant: Assistant | None,
    message: str,
    history: list[dict[str, Any]] | None,
    audience: str,
    unavailable: str = "",
) -> ChatResult:
    """Answer one chat message (the last result of `chat_stream`)."""
    *_, result = chat_stream(assistant, message, history, audience, unavailable)
    return result


def chat_stream(
    assistant: Assistant | None,
    message: str,
    history: list[dict[str, Any]] | None,
    audience: str,
    unavailable: str = "",
) -> Iterator[ChatResult]:
    """Answer one chat message, read with the previous question of the conversation (follow-ups): a model writer's
    checked sentences as they come (`partial`), then the answer. Problems become an Italian warning, never a
    traceback."""
    history = list(history or [])
    if assistant is None:
        yield ChatResult(history, sources_panel_empty(), unavailable or "L'indice non è disponibile.")
        return
    previous = previous_question(history)
    answer: Answer | None = None
    shown: list[str] = []
    try:
        for piece in assistant.ask_stream(message, audience, previous):
            if isinstance(piece, Answer):
                answer = piece
                continue
            shown.append(piece)
            writing = " ".join(shown) + "\n\n" + text("llm_writing")
            partial = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": writing}]
            yield ChatResult(partial, "", None, None, partial=True)
    except QuestionError as exc:
        yield ChatResult(history, sources_panel(assistant.retriever.catalog, None), str(exc))
        return
    except Exception as exc:  # one log line for operators, a plain message for the user
        log.error("chat failed for %r: %s: %s", message[:80], type(exc).__name__, exc)
        yield ChatResult(history, sources_panel(assistant.retriever.catalog, None), GENERIC_ERROR)
        return
    assert answer is not None
    content = answer.answer
    if answer.notes:
        content = "\n".join(f"_{n}_" for n in answer.notes) + "\n\n" + content
    history.append({"role": "user", "content": answer.query})
    history.append({"role": "assistant", "content": content})
    yield ChatResult(history, sources_panel(assistant.retriever.catalog, answer), None, answer)


def previous_question(history: list[dict[str, Any]]) -> str | None:
    """The last question the user asked in this conversation."""
    return next((str(m.get("content", "")) for m in reversed(history) if m.get("role") == "user"), None)


def sources_panel_empty() -> str:
    return EMPTY_SOURCES
