"""The messages a model receives (prompts/llm_answer.md, llm_question.md, llm_passage.md).

The passages are numbered, delimited by <passaggio> tags and declared as data; a passage cannot close its own tag.
The glossary definitions the question touches keep the model's wording the shared one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..glossary import Entry
from ..models import AUDIENCE_LABELS
from ..prompts import render, text
from .guard import Passage

_TAG = re.compile(r"</?\s*passagg[io]", re.IGNORECASE)


def instructions(audience: str) -> str:
    """The system message: the rules of the answer."""
    return render(
        "llm_answer.md",
        audience_label=AUDIENCE_LABELS.get(audience, audience).lower(),
        no_answer=text("llm_no_answer"),
    )


def question_message(question: str, passages: Sequence[Passage], terms: Sequence[Entry]) -> str:
    """The user message: glossary, passages (data), question."""
    glossary = ""
    if terms:
        lines = [f"- {entry.term}: {entry.definition}" for entry in terms]
        glossary = text("llm_glossary_heading") + "\n" + "\n".join(lines) + "\n\n"
    blocks = [
        render(
            "llm_passage.md",
            number=p.number,
            kind_label=_attribute(p.kind_label),
            reference=_attribute(p.label),
            text=_TAG.sub(lambda m: m.group(0).replace("<", "‹"), p.excerpt),
        )
        for p in passages
    ]
    return render("llm_question.md", glossary=glossary, passages="\n".join(blocks), question=question.strip())


def messages(
    question: str, audience: str, passages: Sequence[Passage], terms: Sequence[Entry]
) -> list[tuple[str, str]]:
    """LangChain (role, content) messages."""
    return [("system", instructions(audience)), ("human", question_message(question, passages, terms))]


def _attribute(value: str) -> str:
    return value.replace('"', "'").replace("<", "‹").replace(">", "›")
