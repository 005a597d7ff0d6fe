"""Hybrid retrieval: BM25 + dense fusion, article-reference routing, and an evidence score for refusal."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .bank import BankIndex, resolve_ref
from .catalog import Catalog, LexicalIndex
from .config import Settings
from .embeddings import Embedder, get_embedder
from .glossary import Glossary, is_definitional, load_glossary
from .index import read_index
from .legal import CHUNKER_VERSION
from .manifest import load_manifest
from .models import Chunk, Hit
from .references import DocAliases, Ref
from .spelling import Speller
from .store import IndexIdentity, VectorStore, open_store
from .text import fold, tokens

log = logging.getLogger(__name__)

ARTICLE_REF = re.compile(
    r"\b(?:art|artt|articolo|articoli)\s*(\d{1,3}(?:\s?(?:bis|ter|quater|quinquies|sexies|septies|octies|novies|decies))?)"
    r"(?:\s*(?:comma|c|co)\s*(\d{1,2}(?:\s?(?:bis|ter|quater|quinquies))?))?"
)
SECTION_REF = re.compile(r"\b(?:paragrafo|par|sezione|punto)\s*(\d(?:\s\d)?)\b")


@dataclass(frozen=True)
class Reference:
    doc_id: str | None
    article: str | None
    comma: str | None
    section: str | None = None


def parse_references(question: str, aliases: DocAliases) -> list[Reference]:
    """Article, comma and norm named in a question: "art. 55, comma 3, del CTS" -> (CTS, 55, 3)."""
    folded = fold(question)
    docs = aliases.named_in(folded)
    refs: list[Reference] = []
    for match in ARTICLE_REF.finditer(folded):
        article = _latin_suffix(match.group(1))
        comma = _latin_suffix(match.group(2)) if match.group(2) else None
        refs.append(Reference(docs[0] if docs else None, article, comma))
    numbered = [doc for doc in docs if doc in aliases.numbered_sections]
    if not refs and numbered:
        for match in SECTION_REF.finditer(folded):
            refs.append(Reference(numbered[0], None, None, match.group(1).replace(" ", ".")))
    return refs


def _latin_suffix(value: str) -> str:
    """Latin suffixes as the texts print them: "3bis" and "3 bis" -> "3-bis"."""
    return re.sub(r"(\d)\s*([a-z])", r"\1-\2", value.strip())


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    bank_similarity: float  # best cosine with a question of the bank: a signal of the domain


class Retriever:
    """Loaded once per process: catalogue, BM25, vector store and embedder; thread-safe for queries."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        lexical: LexicalIndex,
        store: VectorStore,
        embedder: Embedder,
        glossary: Glossary | None = None,
        aliases: DocAliases | None = None,
        bank: BankIndex | None = None,
    ) -> None:
        self.settings = settings
        self.bank = bank
        self.aliases = aliases or DocAliases()
        self.glossary = glossary or Glossary({})
        self.catalog = catalog
        self.lexical = lexical
        self.store = store
        self.embedder = embedder
        self.speller = Speller.from_texts(c.text for c in catalog.chunks)

    @classmethod
    def load(cls, settings: Settings) -> Retriever:
        """Open the index built by `assistant ingest`; raise StoreError (Italian) if it is missing or stale."""
        embedder = get_embedder(settings.embedder, settings.embed_threads)
        identity = IndexIdentity(embedder.name, embedder.dim, CHUNKER_VERSION)
        store = open_store(settings, identity)
        local = read_index(settings, store)
        retriever = cls(
            settings,
            local.catalog,
            local.lexical,
            store,
            embedder,
            load_glossary(settings.corpus_dir / "glossario"),
            load_manifest(settings.corpus_dir).aliases,
            BankIndex.load(settings, identity, local.directory) if settings.bank_weight else None,
        )
        if settings.dense_search == "exact":  # now, while this generation's vectors are all in the store
            retriever._matrix  # noqa: B018
        return retriever

    def search(self, question: str, k: int | None = None, expansions: list[str] | None = None) -> list[Hit]:
        """Top-k hits for a question: named documents and articles first, then the fused rankings."""
        return self.retrieve(question, k, expansions).hits

    def retrieve(self, question: str, k: int | None = None, expansions: list[str] | None = None) -> Retrieval:
        """The hits and the domain signal of the bank (how close the question is to what people ask)."""
        k = k or self.settings.top_k
        n = max(self.settings.candidates, k)
        expansions = list(expansions or [])
        if self.settings.glossary_expansion:
            expansions += [term for term, _ in self.glossary.aliases_used(question)]
        lexical = self.lexical.search(tokens(" ".join([question, *expansions])), n)
        dense_query = self.speller.respell(question) if self.settings.respell else question
        if expansions and self.settings.glossary_expansion_dense:
            dense_query = f"{dense_query} ({', '.join(expansions)})"
        vector = self.embedder.encode_query(dense_query)
        dense = self.dense_search(vector, n)
        bank = self.bank_ranking(question, vector)
        fused = self._fuse(lexical, dense, bank)
        routed = self._routed(question, fused, vector)
        hits: list[Hit] = []
        seen: set[str] = set()
        best = fused[0].score if fused else 1.0
        for rank, chunk in enumerate(routed):
            hits.append(
                Hit(
                    chunk,
                    score=best + 1.0 - rank * 1e-3,
                    routed=True,
                    dense=self._dense_of(chunk.id, dense),
                    lexical=self._lexical_of(chunk.id, lexical),
                )
            )
            seen.add(chunk.id)
        hits.extend(h for h in fused if h.chunk.id not in seen)
        similarity = self.bank.best_similarity(vector) if self.bank is not None else 0.0
        return Retrieval(hits[:k], similarity)

    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Exact cosine over the vectors held in memory (default), or the store's HNSW index."""
        if self.settings.dense_search == "hnsw":  # keys of other generations are left out
            chunk_of = self.catalog.chunk_of_key
            found = [(chunk_of[key], score) for key, score in self.store.query(vector, 2 * n) if key in chunk_of]
            return found[:n]
        ids, matrix = self._matrix
        if not ids:
            return []
        scores = matrix @ vector
        n = min(n, len(ids))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(ids[i], float(scores[i])) for i in top]

    @cached_property
    def _matrix(self) -> tuple[list[str], np.ndarray]:
        """The vectors of this catalogue's chunks (the store may also hold another generation's)."""
        keys, matrix = self.store.all_vectors()
        chunk_of = self.catalog.chunk_of_key
        rows = [i for i, key in enumerate(keys) if key in chunk_of]
        if len(rows) < len(keys):
            matrix = matrix[rows]
        return [chunk_of[keys[i]] for i in rows], matrix

    @cached_property
    def _row_of(self) -> dict[str, int]:
        return {cid: i for i, cid in enumerate(self._matrix[0])}

    def bank_ranking(self, question: str, vector: np.ndarray) -> list[tuple[str, float]]:
        """Passages whose bank questions resemble the user's, best first, with that question's similarity.

        A reference to several passages (a whole article, a section) lifts the one closest to the question.
        """
        if self.bank is None or not self.settings.bank_weight:
            return []
        out: dict[str, float] = {}
        s = self.settings
        matches = self.bank.matches(vector, question, s.bank_candidates, s.rrf_k, s.bank_match)
        for rank, (asked, similarity) in enumerate(matches):
            if similarity < s.bank_floor:  # not a question this one resembles
                continue
            for ref in asked.refs:
                targets = resolve_ref(ref, self.catalog)
                if len(targets) > 1:
                    closest = self._similarities(vector, [c.id for c in targets])
                    targets = [max(targets, key=lambda c: closest.get(c.id, 0.0))]
                # Rank-based, plus a share for a close paraphrase of a bank question (the similarity above a floor).
                close = max(0.0, similarity - s.bank_close_floor) / (1.0 - s.bank_close_floor)
                score = (1.0 + s.bank_close_weight * close) / (s.rrf_k + rank + 1)
                for chunk in targets:
                    if s.bank_sum:  # a passage that several close bank questions point to is lifted more
                        out[chunk.id] = out.get(chunk.id, 0.0) + score
                    else:
                        out.setdefault(chunk.id, score)
        return sorted(out.items(), key=lambda kv: -kv[1])

    def _similarities(self, vector: np.ndarray, ids: list[str]) -> dict[str, float]:
        if self.settings.dense_search == "exact":
            _, matrix = self._matrix
            return {i: float(matrix[self._row_of[i]] @ vector) for i in ids if i in self._row_of}
        chunk_of = self.catalog.chunk_of_key
        found = self.store.vectors([self.catalog.key(i) for i in ids])
        return {chunk_of[key]: float(np.dot(v, vector)) for key, v in found.items() if key in chunk_of}

    def _fuse(
        self,
        lexical: list[tuple[str, float]],
        dense: list[tuple[str, float]],
        bank: list[tuple[str, float]] | None = None,
    ) -> list[Hit]:
        """Weighted reciprocal-rank fusion of BM25, dense, bank and cited-passage rankings, then the kind prior."""
        s = self.settings
        scores: dict[str, float] = {}
        for ranking, weight in ((lexical, s.lexical_weight), (dense, s.dense_weight)):
            for rank, (cid, _) in enumerate(ranking):
                scores[cid] = scores.get(cid, 0.0) + weight / (s.rrf_k + rank + 1)
        for cid, value in bank or []:
            # The bank's score already holds its rank (1/(k+rank+1)) and how close the bank question is.
            scores[cid] = scores.get(cid, 0.0) + s.bank_weight * value
        if s.lexical_score_weight and lexical:
            # RRF sees only ranks; a passage that BM25 scores far above the rest (a rare name, a unique word)
            # also gets a share of its normalised score, on the scale of a first rank.
            top = lexical[0][1]
            for cid, value in lexical:
                scores[cid] = scores.get(cid, 0.0) + s.lexical_score_weight * (value / top) ** 2 / (s.rrf_k + 1)
        if s.refs_weight:
            provisional = sorted(scores, key=lambda c: -scores[c])[:10]
            for rank, cid in enumerate(self._cited(provisional, lexical, dense)):
                scores[cid] = scores.get(cid, 0.0) + s.refs_weight / (s.rrf_k + rank + 1)
        lex = dict(lexical)
        den = dict(dense)
        top_lex = lexical[0][1] if lexical else 1.0
        hits = []
        for cid, score in scores.items():
            chunk = self.catalog.by_id.get(cid)
            if chunk is None:
                continue
            info = self.catalog.document(chunk.doc_id)
            prior = s.kind_weights.get(info.kind if info else "", 1.0)
            hits.append(Hit(chunk, score=score * prior, dense=den.get(cid, 0.0), lexical=lex.get(cid, 0.0) / top_lex))
        hits.sort(key=lambda h: -h.score)
        return hits

    def _cited(self, top_ids: list[str], lexical: list[tuple[str, float]], dense: list[tuple[str, float]]) -> list[str]:
        """Passages cited by the top hits, in the order of the hits that cite them.

        A reference to a whole section resolves to the section's passage that ranks best for this question.
        """
        order = {cid: i for i, (cid, _) in enumerate(dense)}
        for i, (cid, _) in enumerate(lexical):
            order[cid] = min(order.get(cid, i), i)
        out: list[str] = []
        for cid in top_ids:
            chunk = self.catalog.by_id.get(cid)
            info = self.catalog.document(chunk.doc_id) if chunk else None
            if chunk is None or info is None or info.kind not in self.settings.refs_from:
                continue
            for key in chunk.refs:
                ref = Ref.from_key(key)
                targets = self.catalog.resolve(ref.doc_id, ref.article, ref.comma, ref.section)
                if not targets:
                    continue
                target = min(targets, key=lambda c: order.get(c.id, 10_000 + c.position))
                if target.id not in out:
                    out.append(target.id)
        return out

    @staticmethod
    def _dense_of(cid: str, dense: list[tuple[str, float]]) -> float:
        return next((s for i, s in dense if i == cid), 0.0)

    @staticmethod
    def _lexical_of(cid: str, lexical: list[tuple[str, float]]) -> float:
        top = lexical[0][1] if lexical else 1.0
        return next((s / top for i, s in lexical if i == cid), 0.0)

    def _routed(self, question: str, fused: list[Hit], vector: np.ndarray) -> list[Chunk]:
        """Passages put first because the question names them.

        A judgment, guideline or practice document it names comes first (its passages closest to the question),
        then the articles it names (the named comma, or the article's two passages that rank best), then the law
        defining the term of a "che cos'è X?" question.
        """
        rank = {h.chunk.id: i for i, h in enumerate(fused)}
        out: list[Chunk] = []
        folded = fold(question)
        named = [*self.aliases.judgments_named(folded), *self.aliases.named_in(folded)]
        sources = [d for d in dict.fromkeys(named) if (info := self.catalog.document(d)) and info.kind != "norma"]
        for doc_id in sources:
            out.extend(self._closest_of(doc_id, rank, vector, 3 if len(sources) == 1 else 2))
        for ref in parse_references(question, self.aliases):
            if ref.section:
                out.extend(self.catalog.resolve(ref.doc_id or "", section=ref.section)[:3])
                continue
            docs = [ref.doc_id] if ref.doc_id else [self.aliases.default_law] if self.aliases.default_law else []
            for doc_id in docs:
                chunks = [
                    c for c in self.catalog.article_chunks(doc_id, ref.article or "") if c.section != "aggiornamento"
                ]
                wanted = (ref.comma or "").lower()
                named_comma = [c for c in chunks if wanted and (c.comma or "").lower() == wanted]
                best = sorted(chunks, key=lambda c: rank.get(c.id, 10_000 + c.position))
                out.extend(named_comma or best[:2])
        if self.settings.glossary_routing and is_definitional(question):
            for entry in self.glossary.detect(question)[:1]:
                for basis in entry.legal_basis:
                    info = self.catalog.document(basis.doc_id)
                    if info is None or info.kind != "norma":
                        continue
                    out.extend(self.catalog.resolve(basis.doc_id, basis.article, basis.comma, basis.section)[:2])
        unique: dict[str, Chunk] = {}
        for c in out:
            unique.setdefault(c.id, c)
        return list(unique.values())[:8]

    def _closest_of(self, doc_id: str, rank: dict[str, int], vector: np.ndarray, n: int) -> list[Chunk]:
        """A document's n passages that rank best for the question (by dense similarity when none ranked)."""
        chunks = [c for c in self.catalog.by_doc.get(doc_id, []) if c.section not in ("intestazione", "aggiornamento")]
        ranked = sorted((c for c in chunks if c.id in rank), key=lambda c: rank[c.id])
        if len(ranked) < n:
            similarity = self._similarities(vector, [c.id for c in chunks])
            ranked += sorted((c for c in chunks if c.id not in rank), key=lambda c: -similarity.get(c.id, 0.0))
        return ranked[:n]

    def dense_scores(self, question: str, ids: list[str]) -> dict[str, float]:
        """Cosine similarity of a question with given chunks."""
        return self._similarities(self.embedder.encode_query(question), ids)
