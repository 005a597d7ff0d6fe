"""Query spelling as the corpus writes it: "coprogettazione" -> "co-progettazione", "attivita" -> "attività".

BM25 already folds accents and hyphens; the dense encoder does not, so the question it sees is respelled
with the corpus's own most frequent form of each word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from .text import fix_accents, strip_accents

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


class Speller:
    def __init__(self, variants: dict[str, str]) -> None:
        self.variants = variants

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Speller:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w.lower() for w in _WORD.findall(text))
        variants: dict[str, str] = {}
        best: dict[str, int] = {}
        for word, count in counts.items():
            plain = strip_accents(word).replace("-", "")
            if plain == word or "'" in word or "’" in word:
                continue
            if counts.get(plain, 0) >= count or count < 2:
                continue
            if count > best.get(plain, 0):
                variants[plain], best[plain] = word, count
        return cls(variants)

    def respell(self, question: str) -> str:
        question = fix_accents(question)

        def repl(match: re.Match[str]) -> str:
            word = match.group(0)
            key = strip_accents(word.lower()).replace("-", "")
            found = self.variants.get(key)
            if found is None or found == word.lower():
                return word
            return found.capitalize() if word[:1].isupper() else found

        return _WORD.sub(repl, question)
