"""Curated answers served first, and `assistant curated check`.

`CuratedMatcher` implements `answer.CuratedSource`: the question is embedded with the configured embedder and
compared (cosine) with the question and the phrasings of every APPROVED answer for that audience; the best
answer at or above `settings.curated_threshold` is served with its author, approval date and the cited law.
The vectors are cached in memory and refreshed when the store's fingerprint changes (any save, any process).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from ..catalog import Catalog
from ..citations import quoted_passages
from ..config import Settings
from ..embeddings import Embedder, get_embedder
from ..glossary import Glossary, load_glossary
from ..index import indexed_catalog
from ..models import Answer, Chunk
from ..prompts import text
from ..text import italian_date
from .record import CuratedAnswer, citation_problem, resolve, text_hash
from .store import CuratedStore

log = logging.getLogger(__name__)

MAX_CITED_CHUNKS = 12
PLURAL = {"funzionario": "funzionari", "operatore": "operatori"}


@dataclass(frozen=True)
class Match:
    """An approved answer and its best similarity to a question (over its question and phrasings)."""

    answer: CuratedAnswer
    score: float
    matched: str


class CuratedMatcher:
    """The CuratedSource of the assistant: approved answers only, by embedding similarity."""

    def __init__(
        self,
        store: CuratedStore,
        catalog: Catalog,
        embedder: Embedder,
        threshold: float,
        glossary: Glossary | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.embedder = embedder
        self.threshold = threshold
        self.glossary = glossary
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] = {}
        self._fingerprint: tuple[int, int] | None = None
        self._answers: list[CuratedAnswer] = []
        self._matrix = np.zeros((0, embedder.dim), dtype=np.float32)
        self._owners: list[int] = []
        self._texts: list[str] = []

    @classmethod
    def from_settings(
        cls, settings: Settings, store: CuratedStore, catalog: Catalog, glossary: Glossary | None = None
    ) -> CuratedMatcher:
        embedder = get_embedder(settings.embedder, settings.embed_threads)
        return cls(store, catalog, embedder, settings.curated_threshold, glossary)

    @classmethod
    def open(
        cls, settings: Settings, catalog: Catalog | None = None, glossary: Glossary | None = None
    ) -> CuratedMatcher:
        """The matcher over the configured database (`Settings.sqlalchemy_url`), created or migrated if needed.

        Without a catalogue, the built index's is loaded (or the corpus parsed); without a glossary, the corpus's.
        Wiring: `assistant.curated = CuratedMatcher.open(settings, assistant.retriever.catalog, assistant.glossary)`;
        after the index is rebuilt, assign the new catalogue to `matcher.catalog` (and `matcher.store.catalog`).
        """
        if catalog is None:
            catalog = indexed_catalog(settings)
        if glossary is None and (settings.corpus_dir / "glossario").is_dir():
            glossary = load_glossary(settings.corpus_dir / "glossario")
        ids = frozenset(glossary.entries) if glossary is not None else None
        store = CuratedStore.open(settings.sqlalchemy_url, catalog, ids)
        return cls.from_settings(settings, store, catalog, glossary)

    def _embed(self, value: str) -> np.ndarray:
        # Question against question is a symmetric task: both sides get the query encoding.
        vector = self._vectors.get(value)
        if vector is None:
            vector = self._vectors[value] = self.embedder.encode_query(value)
        return vector

    def refresh(self) -> None:
        """Reload the approved answers and embed texts never seen, when the store changed since last time."""
        with self._lock:
            fingerprint = self.store.fingerprint()
            if fingerprint == self._fingerprint:
                return
            answers = self.store.find(status="approvata")
            rows, owners, texts = [], [], []
            for index, answer in enumerate(answers):
                for value in (answer.question, *answer.phrasings):
                    rows.append(self._embed(value))
                    owners.append(index)
                    texts.append(value)
            self._answers, self._owners, self._texts = answers, owners, texts
            self._matrix = np.vstack(rows) if rows else np.zeros((0, self.embedder.dim), dtype=np.float32)
            self._fingerprint = fingerprint
            log.info("curated matcher: %d approved answers, %d texts", len(answers), len(texts))

    def ranked(self, question: str, audience: str) -> list[Match]:
        """Every approved answer for the audience with its best similarity, best first."""
        self.refresh()
        if not self._texts:
            return []
        scores = self._matrix @ self.embedder.encode_query(question)
        best: dict[int, tuple[float, str]] = {}
        for row, owner in enumerate(self._owners):
            score = float(scores[row])
            if owner not in best or score > best[owner][0]:
                best[owner] = (score, self._texts[row])
        matches = [Match(self._answers[i], s, t) for i, (s, t) in best.items() if self._answers[i].serves(audience)]
        return sorted(matches, key=lambda m: (-m.score, m.answer.id))

    def best(self, question: str, audience: str) -> Match | None:
        found = self.ranked(question, audience)
        return found[0] if found else None

    def serve(self, question: str, audience: str) -> Answer | None:
        """The curated answer when the best match reaches the threshold; None lets the pipeline go on.

        A database that cannot be read must not stop the chat: the question then goes to the usual pipeline.
        """
        try:
            match = self.best(question, audience)
        except SQLAlchemyError as exc:
            log.error("curated answers unavailable, answering without them: %s", str(exc).splitlines()[0])
            return None
        if match is None or match.score < self.threshold:
            return None
        log.info("curated answer %s served (similarity %.3f)", match.answer.id, match.score)
        return self.render(match.answer, question)

    def render(self, curated: CuratedAnswer, question: str) -> Answer:
        """Header with author and approval date, the trainers' text, then the cited law quoted and numbered."""
        chunks: list[Chunk] = []
        for ref in curated.citations:
            chunks.extend(c for c in resolve(ref, self.catalog) if c not in chunks)
        passages, citations = quoted_passages(question, chunks[:MAX_CITED_CHUNKS], self.catalog)
        parts = [
            text("curated_header", author=curated.author, date=italian_date(curated.approved_at)),
            text("curated_answers", question=curated.question),
            curated.answer,
        ]
        terms = [
            self.glossary.entries[t].term
            for t in curated.glossary_terms
            if self.glossary is not None and t in self.glossary.entries
        ]
        if terms:
            parts.append(text("curated_terms", terms=", ".join(terms)))
        if passages:
            parts += [
                text("glossary_law"),
                *passages,
                text("sources_heading")
                + "\n"
                + "\n".join(f"[{i}] {c.label}" for i, c in enumerate(citations, start=1)),
            ]
        parts.append(f"_{text('origin_curated')} {text('notice')}_")
        return Answer(
            query=question,
            answer="\n\n".join(parts),
            refused=False,
            source="curated",
            citations=tuple(citations),
            curated_id=curated.id,
        )


def check_curated(store: CuratedStore, catalog: Catalog, matcher: CuratedMatcher | None) -> list[str]:
    """Italian problems: unresolved citations, cited text changed since approval, approved answers not served."""
    problems: list[str] = []
    for answer in store.find():
        if answer.status == "archiviata":
            continue
        name = f"Risposta curata {answer.id!r} (revisione {answer.revision}, {answer.status})"
        problems += [
            f"{name}: {citation_problem(ref, catalog)}" for ref in answer.citations if not resolve(ref, catalog)
        ]
        if answer.status != "approvata":
            continue
        stored = dict(answer.cited_hashes)
        for ref in answer.citations:
            digest = text_hash(ref, catalog)
            if digest is None:
                continue
            if ref.key not in stored:
                problems.append(
                    f"{name}: manca l'impronta del testo di {ref.describe()} al momento "
                    f"dell'approvazione; riapprovala con: assistant curated approve {answer.id} --user "
                    "<formatore>."
                )
            elif stored[ref.key] != digest:
                problems.append(
                    f"{name}: il testo citato di {ref.describe()} è cambiato dopo l'approvazione del "
                    f"{italian_date(answer.approved_at)} (per esempio un articolo modificato). Un "
                    f"formatore deve rileggere la risposta e riapprovarla con: assistant curated approve "
                    f"{answer.id} --user <formatore>."
                )
        if matcher is not None:
            problems += _serving_problems(name, answer, matcher)
    return problems


def _serving_problems(name: str, answer: CuratedAnswer, matcher: CuratedMatcher) -> list[str]:
    problems = []
    for audience in ("funzionario", "operatore"):
        if not answer.serves(audience):
            continue
        match = matcher.best(answer.question, audience)
        if match is None or match.score < matcher.threshold:
            score = f"{match.score:.3f}" if match else "nessuna"
            problems.append(
                f"{name}: la sua domanda non viene servita ai {PLURAL[audience]} (similarità {score}, "
                f"soglia {matcher.threshold:.3f})."
            )
        elif match.answer.id != answer.id:
            problems.append(
                f"{name}: alla sua domanda, per i {PLURAL[audience]}, viene servita invece la risposta "
                f"{match.answer.id!r} (similarità {match.score:.3f} con “{match.matched}”): unisci le "
                "due risposte o differenzia le domande."
            )
    return problems
