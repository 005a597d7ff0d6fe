"""Curated answers served first, and `assistant curated check`.

`CuratedMatcher` implements `answer.CuratedSource`: the question is matched against the question and the
phrasings of every APPROVED answer for that audience (dense and BM25, fused); a safe match is served with its
author (the editors' prontuario or the trainers), approval date and the cited law, others are suggested.
The vectors are cached in memory and refreshed when the store's fingerprint changes (any save, any process).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from ..brief import first_sentences, same_article
from ..catalog import Catalog, LexicalIndex
from ..citations import quoted_passages, source_lines
from ..config import Settings
from ..embeddings import Embedder, get_embedder, open_cache
from ..glossary import Glossary, load_glossary
from ..index import indexed_catalog
from ..models import Answer, Brief, Chunk, Suggestion
from ..prompts import text
from ..text import italian_date, tokens
from .record import EDITORS, CuratedAnswer, citation_problem, resolve, text_hash
from .store import CuratedStore

log = logging.getLogger(__name__)

MAX_CITED_CHUNKS = 12
MAX_PER_CITATION = 3  # passages quoted for one citation of a whole article or section
SUGGESTIONS = 3
EXACT = 0.99  # similarity of a question to itself, give or take punctuation
PLURAL = {"funzionario": "funzionari", "operatore": "operatori"}


@dataclass(frozen=True)
class Match:
    """An approved answer ranked for a question: the fused score, the best phrasing similarity, the ranks."""

    answer: CuratedAnswer
    score: float  # reciprocal-rank fusion of the dense and the BM25 ranking of the phrasings
    similarity: float  # cosine of the question with the closest phrasing (or the question) of the answer
    matched: str  # that phrasing
    dense_first: bool  # first by dense similarity among the answers for this audience
    lexical_first: bool  # first by BM25 over the phrasings


class CuratedMatcher:
    """The CuratedSource of the assistant: approved answers served first, or suggested.

    Each approved answer is found by its question and phrasings, with dense similarity (both sides encoded as
    questions) and BM25, fused by rank. An answer is served only when it is first for both, its closest phrasing
    reaches `curated_threshold` and it leads the next answer by `curated_margin`: calibrated on the dev paraphrases
    for zero wrong serves (`python -m evals.prontuario`). Otherwise the best ones are suggested.
    """

    def __init__(
        self,
        store: CuratedStore,
        catalog: Catalog,
        embedder: Embedder,
        settings: Settings,
        glossary: Glossary | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.embedder = embedder
        self.threshold = settings.curated_threshold
        self.margin = settings.curated_margin
        self.lexical_weight = settings.curated_lexical_weight
        self.suggestion_floor = settings.suggestion_floor
        self.brief_floor = settings.brief_floor
        self.rrf_k = settings.rrf_k
        self.glossary = glossary
        self._settings = settings
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] = {}
        self._fingerprint: tuple[int, int] | None = None
        self._answers: list[CuratedAnswer] = []
        self._matrix = np.zeros((0, embedder.dim), dtype=np.float32)
        self._owners: list[int] = []
        self._texts: list[str] = []
        self._lexical = LexicalIndex.build([], [])

    @classmethod
    def from_settings(
        cls, settings: Settings, store: CuratedStore, catalog: Catalog, glossary: Glossary | None = None
    ) -> CuratedMatcher:
        embedder = get_embedder(settings.embedder, settings.embed_threads)
        return cls(store, catalog, embedder, settings, glossary)

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

    def _embed_all(self, texts: list[str]) -> None:
        """Question against question is a symmetric task: phrasings get the query encoding, cached on disk."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if not missing:
            return
        cache = open_cache(self._settings, self.embedder, as_queries=True)  # the prontuario's phrasings are shipped
        try:
            vectors = cache.encode(missing)
        finally:
            cache.close()
        self._vectors.update(zip(missing, vectors, strict=True))

    def refresh(self) -> None:
        """Reload the approved answers and embed texts never seen, when the store changed since last time."""
        with self._lock:
            fingerprint = self.store.fingerprint()
            if fingerprint == self._fingerprint:
                return
            answers = self.store.find(status="approvata")
            owners, texts = [], []
            for index, answer in enumerate(answers):
                for value in (answer.question, *answer.phrasings):
                    owners.append(index)
                    texts.append(value)
            self._embed_all(texts)
            rows = [self._vectors[t] for t in texts]
            self._answers, self._owners, self._texts = answers, owners, texts
            self._matrix = np.vstack(rows) if rows else np.zeros((0, self.embedder.dim), dtype=np.float32)
            self._lexical = LexicalIndex.build(
                [a.id for a in answers], [" ".join((a.question, *a.phrasings)) for a in answers]
            )
            self._fingerprint = fingerprint
            log.info("curated matcher: %d approved answers, %d texts", len(answers), len(texts))

    def ranked(self, question: str, audience: str) -> list[Match]:
        """Every approved answer for the audience, best first by the fusion of dense and BM25 rankings."""
        self.refresh()
        serving = [i for i, a in enumerate(self._answers) if a.serves(audience)]
        if not serving:
            return []
        scores = self._matrix @ self.embedder.encode_query(question)
        best = np.full(len(self._answers), -1.0)
        matched = [""] * len(self._answers)
        for row, owner in enumerate(self._owners):
            if scores[row] > best[owner]:
                best[owner], matched[owner] = float(scores[row]), self._texts[row]
        lexical = dict(self._lexical.search(tokens(question), len(self._answers)))
        dense_order = sorted(serving, key=lambda i: (-best[i], self._answers[i].id))
        words = sorted(
            (i for i in serving if lexical.get(self._answers[i].id)), key=lambda i: -lexical[self._answers[i].id]
        )
        dense_rank = {i: r for r, i in enumerate(dense_order)}
        lexical_rank = {i: r for r, i in enumerate(words)}
        fused = {
            i: 1.0 / (self.rrf_k + dense_rank[i] + 1)
            + (self.lexical_weight / (self.rrf_k + lexical_rank[i] + 1) if i in lexical_rank else 0.0)
            for i in serving
        }
        order = sorted(serving, key=lambda i: (-fused[i], self._answers[i].id))
        return [
            Match(self._answers[i], fused[i], float(best[i]), matched[i], dense_rank[i] == 0, lexical_rank.get(i) == 0)
            for i in order
        ]

    def best(self, question: str, audience: str) -> Match | None:
        found = self.ranked(question, audience)
        return found[0] if found else None

    def servable(self, ranked: list[Match]) -> Match | None:
        """The first answer, when it is safe to serve it in place of the pipeline's answer."""
        if not ranked:
            return None
        top = ranked[0]
        if top.similarity >= EXACT and top.dense_first:  # the stored question or phrasing itself
            return top
        lead = top.score - (ranked[1].score if len(ranked) > 1 else 0.0)
        if top.similarity >= self.threshold and top.dense_first and top.lexical_first and lead >= self.margin:
            return top
        return None

    def consult(self, question: str, audience: str) -> tuple[Answer | None, tuple[Suggestion, ...]]:
        """The answer to serve (or None) and up to three similar answered questions to suggest.

        A database that cannot be read must not stop the chat: the question then goes to the usual pipeline.
        """
        try:
            ranked = self.ranked(question, audience)
        except SQLAlchemyError as exc:
            log.error("curated answers unavailable, answering without them: %s", str(exc).splitlines()[0])
            return None, ()
        served = self.servable(ranked)
        others = [m for m in ranked if served is None or m.answer.id != served.answer.id]
        suggestions = tuple(
            Suggestion(m.answer.id, m.answer.question, round(m.similarity, 4))
            for m in others[:SUGGESTIONS]
            if m.similarity >= self.suggestion_floor
        )
        if served is None:
            return None, suggestions
        log.info("curated answer %s served (similarity %.3f)", served.answer.id, served.similarity)
        return replace(self.render(served.answer, question), suggestions=suggestions), suggestions

    def brief_for(self, question: str, audience: str, chunk: Chunk) -> Brief | None:
        """The opening of the approved answer closest to the question among those citing the passage's article.

        Only an answer whose phrasings are close to the question (`brief_floor`) speaks for it.
        """
        try:
            ranked = self.ranked(question, audience)
        except SQLAlchemyError:
            return None
        for match in sorted(ranked, key=lambda m: -m.similarity):
            if match.similarity < self.brief_floor:
                return None
            if any(same_article(ref, chunk, self.catalog) for ref in match.answer.citations):
                key = "brief_editors" if match.answer.approved_by == EDITORS else "brief_curated"
                label = text(key, question=match.answer.question)
                return Brief(label, first_sentences(match.answer.answer), match.answer.question)
        return None

    def serve(self, question: str, audience: str) -> Answer | None:
        """The curated answer when it is safe to serve; None lets the pipeline go on."""
        return self.consult(question, audience)[0]

    def render(self, curated: CuratedAnswer, question: str) -> Answer:
        """Header (the editors' or the trainers'), the answer's text, then its sources quoted, numbered as cited."""
        chunks: list[Chunk] = []
        numbers: list[int] = []
        for number, ref in enumerate(curated.citations, start=1):
            for chunk in resolve(ref, self.catalog)[:MAX_PER_CITATION]:
                if chunk not in chunks:
                    chunks.append(chunk)
                    numbers.append(number)
        passages, citations = quoted_passages(question, chunks[:MAX_CITED_CHUNKS], self.catalog, numbers)
        editors = curated.approved_by == EDITORS
        if editors:
            header = text("editors_header", date=italian_date(curated.approved_at))
        else:
            header = text("curated_header", author=curated.author, date=italian_date(curated.approved_at))
        parts = [header, text("curated_answers", question=curated.question), curated.answer]
        terms = [
            self.glossary.entries[t].term
            for t in curated.glossary_terms
            if self.glossary is not None and t in self.glossary.entries
        ]
        if terms:
            parts.append(text("curated_terms", terms=", ".join(terms)))
        if passages:
            labels = source_lines(citations, numbers)
            heading = text("law_heading") if all(c.kind == "norma" for c in citations) else text("glossary_law")
            parts += [heading, *passages, "\n".join([text("sources_heading"), *labels])]
        origin = text("origin_editors") if editors else text("origin_curated")
        parts.append(f"_{origin} {text('notice')}_")
        return Answer(
            query=question,
            answer="\n\n".join(parts),
            refused=False,
            source="curated",
            citations=tuple(citations),
            curated_id=curated.id,
            confidence="alta",
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
        ranked = matcher.ranked(answer.question, audience)
        match = matcher.servable(ranked)
        if match is None:
            top = ranked[0] if ranked else None
            detail = (
                f"la più vicina è {top.answer.id!r}, similarità {top.similarity:.3f}" if top else "nessuna risposta"
            )
            problems.append(
                f"{name}: la sua domanda non viene servita ai {PLURAL[audience]} ({detail}; soglia "
                f"{matcher.threshold:.3f}, con distacco di almeno {matcher.margin} sulla seconda)."
            )
        elif match.answer.id != answer.id:
            problems.append(
                f"{name}: alla sua domanda, per i {PLURAL[audience]}, viene servita invece la risposta "
                f"{match.answer.id!r} (similarità {match.similarity:.3f} con “{match.matched}”): unisci le "
                "due risposte o differenzia le domande."
            )
    return problems
