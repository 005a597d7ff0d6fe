"""UI handlers as plain functions: they take values and return values, never raise into the browser."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..answer import Assistant, QuestionError
from ..models import Answer
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


def chat(
    assistant: Assistant | None,
    message: str,
    history: list[dict[str, Any]] | None,
    audience: str,
    unavailable: str = "",
) -> ChatResult:
    """Answer one chat message, read with the previous question of the conversation (follow-ups); problems become
    an Italian warning, never a traceback."""
    history = list(history or [])
    if assistant is None:
        return ChatResult(history, sources_panel_empty(), unavailable or "L'indice non è disponibile.")
    previous = previous_question(history)
    try:
        answer = assistant.ask(message, audience, previous)
    except QuestionError as exc:
        return ChatResult(history, sources_panel(assistant.retriever.catalog, None), str(exc))
    except Exception as exc:  # one log line for operators, a plain message for the user
        log.error("chat failed for %r: %s: %s", message[:80], type(exc).__name__, exc)
        return ChatResult(history, sources_panel(assistant.retriever.catalog, None), GENERIC_ERROR)
    content = answer.answer
    if answer.notes:
        content = "\n".join(f"_{n}_" for n in answer.notes) + "\n\n" + content
    history.append({"role": "user", "content": answer.query})
    history.append({"role": "assistant", "content": content})
    return ChatResult(history, sources_panel(assistant.retriever.catalog, answer), None, answer)


def previous_question(history: list[dict[str, Any]]) -> str | None:
    """The last question the user asked in this conversation."""
    return next((str(m.get("content", "")) for m in reversed(history) if m.get("role") == "user"), None)


def sources_panel_empty() -> str:
    return EMPTY_SOURCES
