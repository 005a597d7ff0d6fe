"""Hybrid retrieval: BM25 + dense fusion, article-reference routing, and an evidence score for refusal."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

import numpy as np

from .catalog import Catalog, LexicalIndex
from .config import Settings
from .embeddings import Embedder, get_embedder
from .legal import CHUNKER_VERSION
from .models import Chunk, Hit
from .store import ChromaStore, IndexIdentity, StoreError, open_store
from .spelling import Speller
from .text import fold, tokens

log = logging.getLogger(__name__)

# Names of the norms a question may cite, as they fold ("d lgs 117 2017", "cts", "dm 72").
DOC_ALIASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(d ?lgs|decreto legislativo|dlgs)\s*(n\s*)?117(\s*(del\s*)?2017)?\b|\bcts\b|codice del terzo settore"),
     "dlgs-117-2017-codice-terzo-settore"),
    (re.compile(r"\b(l|legge)\s*(n\s*)?241(\s*(del\s*)?1990)?\b|\b241 ?1990\b|procedimento amministrativo"),
     "l-241-1990-procedimento-amministrativo"),
    (re.compile(r"\b(d ?lgs|dlgs|decreto legislativo)\s*(n\s*)?36(\s*(del\s*)?2023)?\b|codice dei contratti|\bccp\b"),
     "dlgs-36-2023-art-6-codice-contratti-terzo-settore"),
    (re.compile(r"\b(d ?lgs|dlgs|decreto legislativo)\s*(n\s*)?186(\s*(del\s*)?2025)?\b"),
     "dlgs-186-2025-terzo-settore-iva-modifiche-cts"),
    (re.compile(r"\b(dm|d m|decreto ministeriale)\s*(n\s*)?72\b|linee guida (ministeriali )?(del )?2021"),
     "dm-72-2021-linee-guida"),
]
ARTICLE_REF = re.compile(
    r"\b(?:art|artt|articolo|articoli)\s*(\d{1,3}(?:\s?(?:bis|ter|quater|quinquies|sexies|septies|octies|novies|decies))?)"
    r"(?:\s*(?:comma|c|co)\s*(\d{1,2}(?:\s?(?:bis|ter|quater|quinquies))?))?"
)
SECTION_REF = re.compile(r"\b(?:paragrafo|par|sezione|punto)\s*(\d(?:\s\d)?)\b")
DEFAULT_LAW = "dlgs-117-2017-codice-terzo-settore"


@dataclass(frozen=True)
class Reference:
    doc_id: str | None
    article: str | None
    comma: str | None
    section: str | None = None


def parse_references(question: str) -> list[Reference]:
    """Article, comma and norm named in a question: "art. 55, comma 3, del CTS" -> (CTS, 55, 3)."""
    folded = fold(question)
    docs = [doc for pattern, doc in DOC_ALIASES if pattern.search(folded)]
    refs: list[Reference] = []
    for match in ARTICLE_REF.finditer(folded):
        article = _latin_suffix(match.group(1))
        comma = _latin_suffix(match.group(2)) if match.group(2) else None
        refs.append(Reference(docs[0] if docs else None, article, comma))
    if not refs and "dm-72-2021-linee-guida" in docs:
        for match in SECTION_REF.finditer(folded):
            refs.append(Reference("dm-72-2021-linee-guida", None, None, match.group(1).replace(" ", ".")))
    return refs


def _latin_suffix(value: str) -> str:
    """"3bis" / "3 bis" -> "3-bis", as the texts print it."""
    return re.sub(r"(\d)\s*([a-z])", r"\1-\2", value.strip())


class Retriever:
    """Loaded once per process: catalogue, BM25, vector store and embedder; thread-safe for queries."""

    def __init__(self, settings: Settings, catalog: Catalog, lexical: LexicalIndex, store: ChromaStore,
                 embedder: Embedder) -> None:
        self.settings = settings
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
        catalog = Catalog.load(settings.index_dir)
        lexical = LexicalIndex.load(settings.index_dir)
        if catalog is None or lexical is None:
            catalog, lexical = rebuild_local_indexes(settings, store)
        return cls(settings, catalog, lexical, store, embedder)

    def search(self, question: str, k: int | None = None, expansions: list[str] | None = None) -> list[Hit]:
        """Top-k hits for a question: routed articles first, then the fusion of BM25 and dense rankings."""
        k = k or self.settings.top_k
        n = max(self.settings.candidates, k)
        lexical_query = " ".join([question, *(expansions or [])])
        lexical = self.lexical.search(tokens(lexical_query), n)
        vector = self.embedder.encode_query(self.speller.respell(question))
        dense = self.store.query(vector, n)
        fused = self._fuse(lexical, dense)
        routed = self._routed(question)
        hits: list[Hit] = []
        seen: set[str] = set()
        best = fused[0].score if fused else 1.0
        for rank, chunk in enumerate(routed):
            hits.append(Hit(chunk, score=best + 1.0 - rank * 1e-3, routed=True,
                            dense=self._dense_of(chunk.id, dense), lexical=self._lexical_of(chunk.id, lexical)))
            seen.add(chunk.id)
        hits.extend(h for h in fused if h.chunk.id not in seen)
        return hits[:k]

    def _fuse(self, lexical: list[tuple[str, float]], dense: list[tuple[str, float]]) -> list[Hit]:
        s = self.settings
        scores: dict[str, float] = {}
        for rank, (cid, _) in enumerate(lexical):
            scores[cid] = scores.get(cid, 0.0) + s.lexical_weight / (s.rrf_k + rank + 1)
        for rank, (cid, _) in enumerate(dense):
            scores[cid] = scores.get(cid, 0.0) + s.dense_weight / (s.rrf_k + rank + 1)
        lex = dict(lexical)
        den = dict(dense)
        top_lex = lexical[0][1] if lexical else 1.0
        hits = [
            Hit(self.catalog.by_id[cid], score=score, dense=den.get(cid, 0.0), lexical=lex.get(cid, 0.0) / top_lex)
            for cid, score in scores.items() if cid in self.catalog.by_id
        ]
        hits.sort(key=lambda h: -h.score)
        return hits

    @staticmethod
    def _dense_of(cid: str, dense: list[tuple[str, float]]) -> float:
        return next((s for i, s in dense if i == cid), 0.0)

    @staticmethod
    def _lexical_of(cid: str, lexical: list[tuple[str, float]]) -> float:
        top = lexical[0][1] if lexical else 1.0
        return next((s / top for i, s in lexical if i == cid), 0.0)

    def _routed(self, question: str) -> list[Chunk]:
        """Chunks of the articles a question names, the named comma first."""
        out: list[Chunk] = []
        for ref in parse_references(question):
            if ref.section:
                out.extend(self.catalog.resolve(ref.doc_id or "", section=ref.section)[:3])
                continue
            docs = [ref.doc_id] if ref.doc_id else [DEFAULT_LAW]
            for doc_id in docs:
                chunks = self.catalog.article_chunks(doc_id, ref.article or "")
                if ref.comma:
                    chunks = sorted(chunks, key=lambda c: (c.comma or "").lower() != ref.comma.lower())
                out.extend(c for c in chunks if c.section != "aggiornamento")
        unique: dict[str, Chunk] = {}
        for c in out:
            unique.setdefault(c.id, c)
        return list(unique.values())[:8]

    def dense_scores(self, question: str, ids: list[str]) -> dict[str, float]:
        """Cosine similarity of a question with given chunks (for sentence selection and refusal)."""
        vectors = self.store.vectors(ids)
        q = self.embedder.encode_query(question)
        return {i: float(np.dot(v, q)) for i, v in vectors.items()}


def rebuild_local_indexes(settings: Settings, store: ChromaStore) -> tuple[Catalog, LexicalIndex]:
    """In server mode a new instance may start without local files: rebuild them from the shared store."""
    from .ingest import document_info
    from .legal import embed_text
    from .manifest import load_manifest

    chunks = store.all_chunks()
    if not chunks:
        raise StoreError("L'indice è vuoto. Crealo con: assistant ingest")
    manifest = load_manifest(settings.corpus_dir)
    documents = {}
    for doc_id in {c.doc_id for c in chunks}:
        info = manifest.documents.get(doc_id)
        if info is None:
            matches = list(settings.corpus_dir.rglob(f"{doc_id}.*"))
            info = document_info(matches[0], manifest) if matches else _unknown(doc_id)
        documents[doc_id] = info
    catalog = Catalog(chunks, documents)
    lexical = LexicalIndex.build([c.id for c in catalog.chunks],
                                 [embed_text(c, documents[c.doc_id]) for c in catalog.chunks])
    catalog.save(settings.index_dir)
    lexical.save(settings.index_dir)
    log.info("rebuilt local catalogue and BM25 from the store: %d chunks", len(chunks))
    return catalog, lexical


def _unknown(doc_id: str):  # type: ignore[no-untyped-def]
    from .models import DocumentInfo

    return DocumentInfo(doc_id=doc_id, path="", title=doc_id, kind="formazione", in_manifest=False)


def with_score(hit: Hit, score: float) -> Hit:
    return replace(hit, score=score)
