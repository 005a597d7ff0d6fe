"""Chat-side handlers: answer a message, choose the source shown in the side panel, record feedback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..models import Answer
from .handlers import chat_stream
from .library import answer_terms_html
from .services import Services
from .views import EMPTY_SOURCES, source_card

log = logging.getLogger(__name__)


@dataclass
class Turn:
    """What the UI shows after one question."""

    history: list[dict[str, Any]]
    answers: list[Answer]
    source_choices: list[tuple[str, int]]
    source_html: str
    terms_html: str
    warning: str | None
    suggestions: list[tuple[str, str]]  # (question shown, question asked when clicked)
    partial: bool = False  # a model's answer still being written: only `history` is meaningful


def suggestion_choices(answer: Answer | None) -> list[tuple[str, str]]:
    """ "Domande simili già risposte": each can be clicked to ask it."""
    if answer is None:
        return []
    return [(s.question, s.question) for s in answer.suggestions]


def source_choices(answer: Answer | None) -> list[tuple[str, int]]:
    """The radio of cited sources. Gradio shows radio labels as text, never as HTML or Markdown: the labels stay
    as the documents wrote them (escaping them would show "&lt;" to the reader); the chat's Markdown and the
    sources panel's HTML escape the same labels themselves."""
    if answer is None:
        return []
    return [(f"[{n}] {c.label}", n) for n, c in enumerate(answer.citations, start=1)]


def show_source(services: Services, answer: Answer | None, number: int | None) -> str:
    """The card of citation `number` (1-based) of an answer: the article's text with the cited part marked."""
    if answer is None or not answer.citations or services.assistant is None:
        return EMPTY_SOURCES
    index = (number or 1) - 1
    if not 0 <= index < len(answer.citations):
        return EMPTY_SOURCES
    return source_card(services.assistant.retriever.catalog, index + 1, answer.citations[index])


def ask(
    services: Services, message: str, history: list[dict[str, Any]] | None, answers: list[Answer] | None, audience: str
) -> Turn:
    """One question, answered (the last turn of `ask_stream`)."""
    *_, turn = ask_stream(services, message, history, answers, audience)
    return turn


def ask_stream(
    services: Services, message: str, history: list[dict[str, Any]] | None, answers: list[Answer] | None, audience: str
) -> Iterator[Turn]:
    """The turns of one question: partial ones while a model writes (only `history` is meaningful), then the last."""
    # One answer per assistant message of the conversation the page sends: a client that starts over (a new
    # conversation, an API caller sending no history) does not leave the old answers in the server's memory.
    shown = sum(1 for m in history or [] if m.get("role") == "assistant")
    answers = list(answers or [])[-shown:] if shown else []
    for result in chat_stream(services.assistant, message, history, audience, services.unavailable):
        if result.partial:
            yield Turn(result.history, answers, [], "", "", None, [], partial=True)
            continue
        if result.warning or result.answer is None:
            last = answers[-1] if answers else None
            yield Turn(
                result.history,
                answers,
                source_choices(last),
                show_source(services, last, 1),
                answer_terms_html(last),
                result.warning,
                suggestion_choices(last),
            )
            return
        answer = result.answer
        answers.append(answer)
        yield Turn(
            result.history,
            answers,
            source_choices(answer),
            show_source(services, answer, 1),
            answer_terms_html(answer),
            None,
            suggestion_choices(answer),
        )


def answer_for_message(answers: list[Answer], message_index: int) -> Answer | None:
    """The answer behind the chatbot message at `message_index` (user and assistant messages alternate)."""
    position = message_index // 2
    return answers[position] if 0 <= position < len(answers) else None


def record_feedback(
    services: Services, answers: list[Answer], message_index: int, liked: bool | None, audience: str, comment: str = ""
) -> tuple[int | None, str]:
    """Store a thumbs up/down for one answer; returns (feedback id, Italian confirmation)."""
    answer = answer_for_message(answers, message_index)
    if answer is None or services.feedback is None or liked is None:
        return None, "Non è stato possibile registrare il giudizio."
    feedback_id = services.feedback.record(answer, audience, bool(liked), comment)
    if liked:
        return feedback_id, "Grazie: giudizio positivo registrato."
    return feedback_id, "Grazie: giudizio negativo registrato. Se vuoi, spiega cosa non va qui sotto."


def add_comment(services: Services, feedback_id: int | None, comment: str) -> str:
    if services.feedback is None or feedback_id is None:
        return "Prima indica se la risposta è utile (pollice su o giù)."
    if not comment.strip():
        return "Scrivi un commento prima di inviarlo."
    services.feedback.add_comment(feedback_id, comment)
    return "Commento registrato: grazie."
