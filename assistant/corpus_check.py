"""The corpus check: manifest complete, every authored citation resolves, the amendments table grounded and whole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .amendments import AMENDMENTS_FILE, read_table, table_problems
from .bank import BANK_DIR, bank_problems, coverage_gaps, eval_overlaps, load_bank
from .catalog import Catalog
from .config import Settings
from .embeddings import get_embedder, open_cache
from .errors import CheckReport
from .index import indexed_catalog
from .manifest import MANIFEST_NAME, ManifestError, corpus_files, load_manifest
from .references import find_links


def check_corpus(settings: Settings) -> list[str]:
    """Italian problems: files missing from the manifest, entries without kind/version, dangling citations."""
    root = settings.corpus_dir
    problems: list[str] = []
    try:
        manifest = load_manifest(root)
    except ManifestError as exc:
        return [str(exc)]
    if not (root / MANIFEST_NAME).is_file():
        problems.append(f"Manca il manifest {root / MANIFEST_NAME}.")
    listed = {d.path for d in manifest.documents.values()}
    for path in corpus_files(root, manifest):
        rel = path.relative_to(root).as_posix()
        if rel not in listed:
            problems.append(
                f"{rel}: il file non è elencato in {MANIFEST_NAME} (aggiungi una voce [[documents]] "
                "con doc_id, title, kind e version_date)."
            )
    for info in manifest.documents.values():
        if not (root / info.path).is_file():
            problems.append(f"{MANIFEST_NAME}: il documento {info.doc_id} indica il file {info.path}, che non esiste.")
        if not info.version_date and not info.version_label:
            problems.append(f"{MANIFEST_NAME}: il documento {info.doc_id} non ha la data di versione (version_date).")
        if info.page_source and not (root / info.page_source).is_file():
            problems.append(
                f"{MANIFEST_NAME}: il documento {info.doc_id} indica page_source {info.page_source}, che non esiste."
            )
    catalog = indexed_catalog(settings)
    for path in sorted(root.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            for label, ref in find_links(line):
                if ref.doc_id not in catalog.documents:
                    problems.append(
                        f"{path.relative_to(root)}:{number}: la citazione [{label}] rimanda al "
                        f"documento {ref.doc_id!r}, che non è nel corpus."
                    )
                elif not catalog.resolve(ref.doc_id, ref.article, ref.comma, ref.section):
                    problems.append(
                        f"{path.relative_to(root)}:{number}: la citazione [{label}] "
                        f"({ref.describe()}) non corrisponde a nessun passaggio indicizzato."
                    )
    problems += table_problems(root, catalog)
    return problems


def eval_questions(folder: Path) -> list[str]:
    """Every question of the evaluation sets (questions, previous questions of follow-ups, paraphrases)."""
    found: list[str] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                found += [item[k] for k in ("question", "previous") if isinstance(item.get(k), str)]
                found += [p for p in item.get("paraphrases") or [] if isinstance(p, str)]
    return found


def encode_questions(settings: Settings, texts: list[str]) -> np.ndarray:
    """Questions encoded as questions, through the embedding cache (a second check embeds nothing)."""
    embedder = get_embedder(settings.embedder, settings.embed_threads)
    cache = open_cache(settings, embedder, as_queries=True)
    try:
        return cache.encode(texts)
    finally:
        cache.close()


def check_bank(settings: Settings, catalog: Catalog) -> tuple[list[str], list[str]]:
    """Problems of the question bank (references, repetitions, copies of evaluation questions) and its coverage."""
    questions, problems = load_bank(settings.corpus_dir / BANK_DIR)
    if not questions:
        return problems, []
    problems += bank_problems(questions, catalog)
    evaluation = eval_questions(settings.evals_dir)
    if evaluation:
        vectors = encode_questions(settings, [q.text for q in questions])
        problems += eval_overlaps(
            questions, evaluation, vectors, encode_questions(settings, evaluation), settings.eval_copy_similarity
        )
    notes = [f"Banca delle domande: {len(questions)} domande su {len({q.doc_id for q in questions})} documenti."]
    law = load_manifest(settings.corpus_dir).aliases.default_law
    if law:
        gaps = coverage_gaps(questions, catalog, law)
        notes.append(f"Articoli di {law} senza domande: {', '.join(gaps) if gaps else 'nessuno'}.")
    return problems, notes


def corpus_report(settings: Settings) -> CheckReport:
    """The outcome of `assistant corpus check`."""
    problems = check_corpus(settings)
    bank, notes = check_bank(settings, indexed_catalog(settings))
    problems += bank
    documents = len(load_manifest(settings.corpus_dir).documents) if not problems else 0
    table = settings.corpus_dir / AMENDMENTS_FILE
    if table.is_file():
        notes.append(f"Modifiche del Codice ({AMENDMENTS_FILE}): {len(read_table(table)[0])} voci.")
    return CheckReport.of(
        problems,
        f"Corpus non valido: {len(problems)} problemi.",
        f"Corpus valido: {documents} documenti nel manifest, tutte le citazioni risolte.",
        notes,
    )
