"""Follow-up questions, read against the previous question of the conversation.

"E se siamo una cooperativa sociale?", "E il Comune cosa deve fare?", "Entro quanto tempo?" lack the topic they
continue. When a question looks like a follow-up (it opens like one, or it is too short to stand alone), the
topic terms and the articles named by the previous question are carried over if the new question lacks them.
"""

from __future__ import annotations

import re

from .glossary import Glossary
from .text import fold, tokens

_OPENS_LIKE_FOLLOW_UP = re.compile(
    r"^(?:e|ed|ma|invece|anche|allora|quindi|pero|mentre|oppure|nel caso|se invece|e se|e per|e nel|e in|e chi|"
    r"e quando|e come|e cosa|e dove|e il|e la|e lo|e i|e gli|e le|e un|e una|e l|e questo|e questa)\b"
)
_NAMED_ARTICLE = re.compile(
    r"\b(?:art|artt|articolo|articoli)\s*\d{1,3}(?:\s?(?:bis|ter|quater))?(?:\s*(?:comma|c)\s*\d+)?"
)
STANDALONE_WORDS = 5  # content words from which a question stands on its own


def is_follow_up(question: str) -> bool:
    """Whether a question continues the previous one ("E se ...?", "Entro quando?")."""
    folded = fold(question)
    return bool(_OPENS_LIKE_FOLLOW_UP.match(folded)) or len(tokens(question)) < STANDALONE_WORDS


def contextualise(question: str, previous: str | None, glossary: Glossary) -> str:
    """The question as the pipeline should read it: a follow-up gets the previous question's topic carried over."""
    if not previous or not previous.strip() or not is_follow_up(question):
        return question
    present = {e.id for e in glossary.detect(question)}
    carried = [e.term for e in glossary.detect(previous) if e.id not in present]
    folded_question = fold(question)
    carried += [m.group(0) for m in _NAMED_ARTICLE.finditer(fold(previous)) if m.group(0) not in folded_question]
    context = "; ".join(dict.fromkeys(carried))
    if len(carried) < 2:  # the previous question names too little of its topic: carry its own words too
        context = f"{context} {previous.strip()}".strip()
    return f"{question} ({context})"
