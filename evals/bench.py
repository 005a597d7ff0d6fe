"""`make bench`: ingest, search, ask, scale and memory figures, each beside a baseline run in the same process.

- cold ingest of the full corpus into a scratch data dir (empty embedding cache), then an unchanged re-ingest;
- search and ask p50/p95 over the dev questions, beside the naive LangChain similarity search on the same index
  size (same embedder) as the in-process baseline;
- search p95 with 100k chunks (synthetic filler added to a scratch copy of the index) against the corpus size;
- serving RSS of `python app.py` after answering questions through gradio_client.
Writes evals/bench.json and prints a Markdown table (quoted in the README and evals/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer import Assistant
from assistant.catalog import Catalog, LexicalIndex, embed_text
from assistant.config import Settings, load_settings
from assistant.index import current_catalog
from assistant.ingest import ingest
from assistant.legal import CHUNKER_VERSION
from assistant.models import Chunk
from assistant.retrieve import Retriever
from assistant.store import IndexIdentity, open_store
from evals.appserver import serving_app
from evals.harness import DATASETS, load_items
from evals.metrics import percentile

REPO = Path(__file__).resolve().parent.parent


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, value


def latencies(questions: list[str], fn: Any) -> dict[str, float]:
    from assistant.embeddings import clear_query_caches

    fn("domanda di riscaldamento sul Terzo settore")  # warm-up
    clear_query_caches()  # every question is embedded, as in production
    values = [timed(fn, q)[0] for q in questions]
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95), "n": len(values)}


def bench_ingest(settings: Settings, workdir: Path) -> dict[str, float]:
    """Cold ingest with an empty cache and without the shipped vectors (every text embedded), then unchanged; and
    what a fresh machine does: a cold ingest that takes the vectors shipped in corpus/.vectors."""
    scratch = replace_settings(settings, data_dir=workdir / "cold", vector_seed=False)
    cold = ingest(scratch)
    again = ingest(scratch)
    seeded = ingest(replace_settings(settings, data_dir=workdir / "seeded"))
    return {
        "seeded_s": seeded.seconds,
        "seeded_embedded": seeded.embedded + seeded.bank_embedded,
        "cold_s": cold.seconds,
        "chunks": cold.chunks,
        "documents": cold.documents,
        "bank_questions": cold.bank_questions,
        "unchanged_s": again.seconds,
        "unchanged_embedded": again.embedded,
    }


def replace_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def naive_baseline(settings: Settings, workdir: Path, questions: list[str]) -> dict[str, float]:
    from evals.harness import NaiveLangChain

    catalog = current_catalog(settings)
    assert catalog is not None
    naive = NaiveLangChain(settings, catalog, workdir)
    return latencies(questions, lambda q: naive.store.similarity_search(q, k=5))


def filler_chunks(catalog: Catalog, count: int, seed: int = 7) -> list[Chunk]:
    """Synthetic passages made of the corpus's own words (so BM25 has realistic posting lists)."""
    rng = random.Random(seed)
    words = [w for c in catalog.chunks[:800] for w in c.text.split() if w.isalpha()]
    return [
        Chunk(id=f"filler:{i}", doc_id="filler", text=" ".join(rng.choices(words, k=90)), section="filler", position=i)
        for i in range(count)
    ]


def bench_scale(settings: Settings, workdir: Path, questions: list[str], total: int) -> dict[str, Any]:
    """Search latency on the corpus and on a scratch index padded to `total` chunks."""
    base = Retriever.load(settings)
    corpus_latency = latencies(questions, lambda q: base.search(q, 5))
    filler = filler_chunks(base.catalog, max(0, total - len(base.catalog.chunks)))
    scratch = replace_settings(settings, data_dir=workdir / "scale", store="embedded", collection="scale_test")
    identity = IndexIdentity(base.embedder.name, base.embedder.dim, CHUNKER_VERSION)
    store = open_store(scratch, identity, create=True)
    ids = [c.id for c in base.catalog.chunks]
    vectors = base.store.vectors([base.catalog.key(i) for i in ids])
    store.upsert(base.catalog.chunks, np.vstack([vectors[base.catalog.key(i)] for i in ids]))
    rng = np.random.default_rng(7)
    for start in range(0, len(filler), 5000):
        part = filler[start : start + 5000]
        noise = rng.normal(size=(len(part), base.embedder.dim)).astype(np.float32)
        store.upsert(part, noise / np.linalg.norm(noise, axis=1, keepdims=True))
    documents = dict(base.catalog.documents)
    documents["filler"] = replace(next(iter(documents.values())), doc_id="filler", title="filler", kind="prassi")
    catalog = Catalog([*base.catalog.chunks, *filler], documents)
    lexical = LexicalIndex.build(
        [c.id for c in catalog.chunks], [embed_text(c, documents[c.doc_id]) for c in catalog.chunks]
    )
    big = Retriever(scratch, catalog, lexical, store, base.embedder, base.glossary)
    return {
        "corpus_chunks": len(base.catalog.chunks),
        "corpus": corpus_latency,
        "scaled_chunks": store.count(),
        "scaled": latencies(questions, lambda q: big.search(q, 5)),
    }


def bench_serving(questions: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start the app, ask through gradio_client, read the server's resident memory."""
    from gradio_client import Client

    with serving_app(env) as (proc, url):
        client = Client(url, verbose=False)
        values = []
        for question in questions:
            ms, _ = timed(client.predict, question, [], "operatore", api_name="/ask")
            values.append(ms)
        rss_kb = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS")
            )
        )
    return {
        "rss_mb": rss_kb / 1024,
        "http_p50_ms": percentile(values, 50),
        "http_p95_ms": percentile(values, 95),
        "n": len(values),
    }


def table(report: dict[str, Any]) -> str:
    rows = ["| misura | valore | riferimento nello stesso processo | obiettivo |", "|---|---|---|---|"]
    ing = report.get("ingest")
    if ing:
        rows.append(
            f"| ingest completo a freddo ({ing['documents']} documenti, {ing['chunks']} passaggi, "
            f"{ing.get('bank_questions', 0)} domande della banca) | {ing['cold_s'] / 60:.1f} min | - | <= 9 min |"
        )
        if "seeded_s" in ing:
            rows.append(
                f"| primo ingest su una macchina nuova (vettori distribuiti in corpus/.vectors) | "
                f"{ing['seeded_s']:.0f} s ({ing['seeded_embedded']} testi calcolati) | - | - |"
            )
        rows.append(
            f"| re-ingest senza modifiche | {ing['unchanged_s']:.1f} s ({ing['unchanged_embedded']} testi "
            "ricalcolati) | - | <= 5 s |"
        )
    q = report["queries"]
    naive = report.get("naive_search")
    ref = f"LangChain ingenua: p50 {naive['p50_ms']:.1f} / p95 {naive['p95_ms']:.1f} ms" if naive else "-"
    rows.append(
        f"| search p50 / p95 | {q['search']['p50_ms']:.1f} / {q['search']['p95_ms']:.1f} ms | {ref} | p95 <= 100 ms |"
    )
    rows.append(f"| ask p50 / p95 | {q['ask']['p50_ms']:.1f} / {q['ask']['p95_ms']:.1f} ms | - | p95 <= 150 ms |")
    scale = report.get("scale")
    if scale:
        rows.append(
            f"| search p95 a {scale['scaled_chunks']:,} passaggi | {scale['scaled']['p95_ms']:.1f} ms | "
            f"{scale['corpus_chunks']:,} passaggi: {scale['corpus']['p95_ms']:.1f} ms | <= 150 ms |"
        )
    serving = report.get("serving")
    if serving:
        rows.append(f"| RSS del server (python app.py) | {serving['rss_mb']:.0f} MB | - | <= 1.5 GB |")
        without = report.get("serving_without_bank")
        if without:
            rows.append(
                f"| RSS aggiunta dalla banca delle domande | {serving['rss_mb'] - without['rss_mb']:.0f} MB | "
                f"senza banca (LC_BANK_WEIGHT=0): {without['rss_mb']:.0f} MB | <= 30 MB |"
            )
        rows.append(
            f"| domanda via HTTP (gradio_client) p50 / p95 | {serving['http_p50_ms']:.0f} / "
            f"{serving['http_p95_ms']:.0f} ms | - | - |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark (make bench).")
    parser.add_argument("--skip-ingest", action="store_true", help="skip the cold ingest (about 7 minutes)")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--write", default=str(REPO / "evals" / "bench.json"))
    args = parser.parse_args(argv)
    settings = load_settings()
    questions = [i.question for i in load_items(DATASETS / "retrieval_dev.jsonl")]
    report: dict[str, Any] = {"machine": f"{os.cpu_count()} CPU", "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.skip_ingest:
            report["ingest"] = bench_ingest(settings, workdir)
        assistant = Assistant.load(settings)
        report["queries"] = {
            "search": latencies(questions, lambda q: assistant.search(q, 5)),
            "ask": latencies(questions, lambda q: assistant.ask(q, "operatore")),
        }
        report["naive_search"] = naive_baseline(settings, workdir, questions)
        if not args.skip_scale:
            report["scale"] = bench_scale(settings, workdir, questions, args.scale)
    if not args.skip_serving:
        report["serving"] = bench_serving(questions[:40])
        report["serving_without_bank"] = bench_serving(questions[:40], {"LC_BANK_WEIGHT": "0"})
    print(table(report))
    Path(args.write).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    header = (
        f"`make bench` (`python -m evals.bench`) on {report['date']}, {report['machine']}; questions: the "
        f"{len(questions)} dev questions. The naive LangChain similarity search over the same corpus and "
        "embedder is measured in the same process as the baseline."
    )
    (REPO / "evals" / "SPEED_RESULTS.md").write_text(f"# Speed\n\n{header}\n\n{table(report)}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
