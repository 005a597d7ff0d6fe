"""`assistant ingest [PATH] [--rebuild] [--kind KIND] [--replace] [--json]`: bring the index up to date."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import CliError
from ..ingest import ingest
from ..manifest import infer_info
from ..models import KINDS, SUPPORTED_SUFFIXES
from ..uploads import UploadError, check_extra, generate_bank_questions
from ..writers import make_writer
from .support import print_json


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path) if args.path else None
    if path is not None and not path.exists():
        raise CliError(f"Il percorso {path} non esiste.")
    files: list[Path] = []
    if path is not None and not path.resolve().is_relative_to(settings.corpus_dir.resolve()):
        # A document from outside the corpus never takes a corpus document's id, nor silently an earlier one's.
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES]
        for file in files:
            try:
                check_extra(settings, file, args.replace)
            except UploadError as exc:
                raise CliError(f"{file.name}: {exc} Nessun documento è stato indicizzato.") from None
    report = ingest(settings, path=path, rebuild=args.rebuild, progress=not args.quiet, kind=args.kind)
    generated = 0
    if files and settings.llm != "extractive" and settings.llm_bank_questions > 0 and not report.failed:
        writer = make_writer(settings)  # bank questions a model proposes for documents from outside the corpus
        skipped = {s.path for s in report.skipped}
        for file in files:
            if str(file) not in skipped:
                doc_id = infer_info(file, kind=args.kind).doc_id
                generated += generate_bank_questions(settings, doc_id, file, args.kind, writer)
    if args.json:
        print_json(
            {
                "documents": report.documents,
                "chunks": report.chunks,
                "added": report.added,
                "updated": report.updated,
                "removed": report.removed,
                "unchanged": report.unchanged,
                "embedded": report.embedded,
                "seconds": round(report.seconds, 3),
                "skipped": [{"file": s.path, "reason": s.reason} for s in report.skipped],
                "bank": {"questions": report.bank_questions, "embedded": report.bank_embedded, "generated": generated},
            }
        )
    else:
        print(report.summary())
        if generated:
            print(f"Domande della banca proposte dal modello e accettate: {generated} (data/domande-generate).")
    return 1 if report.failed else 0


def cmd_vectors_export(args: argparse.Namespace, settings: Settings) -> int:
    """Ship the corpus's vectors: the passages of the built index; as questions, the question bank, the evaluation
    questions and the prontuario's phrasings (texts the cache lacks are embedded first)."""
    from ..bank import BANK_DIR, load_bank
    from ..catalog import embed_text
    from ..corpus_check import eval_questions
    from ..embeddings import cache_key, cache_path, get_embedder, open_cache, seed_path, write_seed
    from ..index import current_catalog, from_corpus
    from ..prontuario import curated_records, load_prontuario

    catalog = current_catalog(settings)
    if catalog is None:
        raise CliError("L'indice non esiste ancora: esegui prima assistant ingest.")
    documents = {doc_id: info for doc_id, info in catalog.documents.items() if from_corpus(settings, info)}
    passages = [embed_text(c, documents[c.doc_id]) for c in catalog.chunks if c.doc_id in documents]
    questions = [q.text for q in load_bank(settings.corpus_dir / BANK_DIR)[0]] + eval_questions(settings.evals_dir)
    for entry in load_prontuario(settings.corpus_dir / "prontuario")[0]:  # the curated matcher's phrasings
        questions += [text for record in curated_records(entry) for text in (record.question, *record.phrasings)]
    embedder = get_embedder(settings.embedder, settings.embed_threads)
    for texts, as_queries in ((passages, False), (questions, True)):
        cache = open_cache(settings, embedder, as_queries)
        try:
            cache.encode(texts)
        finally:
            cache.close()
    keys = [cache_key(embedder.name, t) for t in passages] + [cache_key(embedder.name, t, True) for t in questions]
    target = seed_path(settings.corpus_dir, embedder.name)
    written = write_seed(target, [cache_path(settings, embedder.name)], keys)
    wanted, size = len(set(keys)), target.stat().st_size
    if args.json:
        print_json({"file": str(target), "vectors": written, "wanted": wanted, "bytes": size})
    else:
        print(f"Vettori scritti in {target}: {written} su {wanted} ({size / 1e6:.1f} MB).")
    return 0 if written == wanted else 1


def register(sub: Any) -> None:
    v = sub.add_parser("vectors", help="vettori distribuiti con il corpus")
    vsub = v.add_subparsers(dest="vectors_command", required=True)
    e = vsub.add_parser("export", help="scrive corpus/.vectors/<embedder>.npz dalla cache dell'indice costruito")
    e.add_argument("--json", action="store_true", help="riepilogo in JSON")
    e.set_defaults(func=cmd_vectors_export)

    p = sub.add_parser("ingest", help="indicizza il corpus (incrementale)")
    p.add_argument("path", nargs="?", help="cartella o file da indicizzare (predefinito: il corpus)")
    p.add_argument("--rebuild", action="store_true", help="ricostruisce l'indice da zero")
    p.add_argument("--kind", choices=list(KINDS), help="tipo dei documenti non elencati nel manifest")
    p.add_argument("--json", action="store_true", help="riepilogo in JSON")
    p.add_argument(
        "--replace", action="store_true", help="sostituisce un documento aggiunto in precedenza con lo stesso nome"
    )
    p.add_argument("--quiet", action="store_true", help="senza barra di avanzamento")
    p.set_defaults(func=cmd_ingest)
