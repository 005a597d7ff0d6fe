"""Incremental ingest: files -> chunks -> vectors (Chroma) + catalogue + BM25, by content hash.

Unchanged files embed nothing; a changed file replaces its chunks; a removed file's chunks are deleted.
A bad file is skipped with an Italian reason and one English log line; the rest is indexed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import generations
from .bank import BankSync, collect_bank, sync_bank
from .catalog import BM25_DIR, CATALOG_FILE, Catalog, LexicalIndex, embed_text, write_json_atomic
from .config import Settings
from .embeddings import get_embedder, open_cache
from .generations import vector_key
from .legal import CHUNKER_VERSION, chunk_file
from .loaders import LoadError
from .manifest import corpus_files, document_info, load_manifest
from .models import Chunk, DocumentInfo
from .shared import ingest_job
from .store import IndexIdentity, IndexMismatchError, open_store, store_exists

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


@dataclass
class Skipped:
    path: str
    reason: str  # Italian, for the user


@dataclass
class IngestReport:
    documents: int = 0  # documents in the index after the run
    chunks: int = 0  # chunks in the index after the run
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    embedded: int = 0  # texts actually sent to the embedder (cache misses)
    bank_questions: int = 0  # questions of the question bank in the index
    bank_embedded: int = 0  # bank questions sent to the embedder (cache misses)
    seconds: float = 0.0

    @property
    def processed(self) -> int:
        return len(self.added) + len(self.updated) + self.unchanged

    @property
    def failed(self) -> bool:
        """Nothing could be indexed although files were offered."""
        return bool(self.skipped) and self.processed == 0

    def summary(self) -> str:
        lines = [
            f"Documenti indicizzati: {self.documents} ({self.chunks} passaggi).",
            f"Nuovi: {len(self.added)}, aggiornati: {len(self.updated)}, invariati: {self.unchanged}, "
            f"rimossi: {len(self.removed)}. Testi calcolati dall'embedder: {self.embedded}. "
            f"Tempo: {self.seconds:.1f} s.",
        ]
        if self.bank_questions:
            lines.append(f"Banca delle domande: {self.bank_questions} domande ({self.bank_embedded} calcolate).")
        if self.skipped:
            lines.append(f"File scartati: {len(self.skipped)}")
            lines.extend(f"  - {s.path}: {s.reason}" for s in self.skipped)
        return "\n".join(lines)


@contextmanager
def _lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".ingest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _file_hash(path: Path, info: DocumentInfo, root: Path) -> str:
    digest = hashlib.sha256(path.read_bytes())
    digest.update(json.dumps(asdict(replace(info, version_label=info.version_label)), sort_keys=True).encode())
    if info.page_source and (root / info.page_source).is_file():
        digest.update((root / info.page_source).read_bytes())
    return digest.hexdigest()


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None  # a tqdm bar while running
        self._enabled = enabled

    def start(self, total: int) -> Callable[[int], None]:
        if self._enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc="Indicizzazione", unit="passaggi", file=sys.stderr)
            return self._bar.update
        return lambda n: None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def ingest(
    settings: Settings,
    path: Path | None = None,
    rebuild: bool = False,
    progress: bool = False,
    kind: str | None = None,
) -> IngestReport:
    """Bring the index up to date with the corpus (or with one extra file or folder), as a new generation.

    Nothing a reader sees changes until the new generation is switched in (see generations.py): a run killed
    at any point leaves the previous index, and the next run completes. With the store on a server, the run holds
    the instances' shared lock and publishes its generation to the others (shared.py).
    """
    started = time.perf_counter()
    root = settings.corpus_dir
    target = path or root
    index_dir = settings.index_dir
    with ingest_job(settings), _lock(index_dir):
        if rebuild:  # from here a crash leaves no index (the next ingest builds one), never a half one
            generations.reset(index_dir)
        current = generations.current(index_dir)
        state = _read_state(current) if not rebuild else {}
        report, staged = _index_files(settings, root, target, rebuild, progress, kind, state)
        with_bank = target.resolve() == root.resolve() and not report.failed
        if staged is not None or with_bank:
            _switch(settings, report, staged, state, current, with_bank, rebuild)
        _collect(settings)
        generations.prune(index_dir)
    report.seconds = time.perf_counter() - started
    return report


def _switch(
    settings: Settings,
    report: IngestReport,
    staged: _Staged | None,
    state: dict[str, Any],
    current: Path,
    with_bank: bool,
    rebuild: bool,
) -> None:
    """Write the new generation aside and make it current; nothing changes when nothing did."""
    directory = generations.begin(settings.index_dir)
    try:
        bank = _write_generation(settings, report, staged, state, current, directory, with_bank, rebuild)
        if staged is None and (bank is None or bank.carried):
            shutil.rmtree(directory)  # nothing changed at all: the current generation stays
            return
        generations.checkpoint("before-switch")
        generations.commit(settings.index_dir, directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    generations.checkpoint("after-switch")


@dataclass
class _Staged:
    """What a run changed, ready to be written as a generation: the catalogue, its BM25 and the file state."""

    catalog: Catalog
    lexical: LexicalIndex
    state: dict[str, Any]


def _read_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _write_generation(
    settings: Settings,
    report: IngestReport,
    staged: _Staged | None,
    state: dict[str, Any],
    current: Path,
    directory: Path,
    with_bank: bool,
    rebuild: bool,
) -> BankSync | None:
    """Fill the new generation directory: the changed catalogue and BM25 (or the current ones), the bank, the state."""
    if staged is not None:
        staged.catalog.save(directory)
        generations.checkpoint("catalogue")
        staged.lexical.save(directory)
        new_state = staged.state
    else:
        generations.carry_over(current, directory, (CATALOG_FILE, BM25_DIR))
        new_state = dict(state)
    bank: BankSync | None = None
    if with_bank:
        bank = sync_bank(settings, state.get("bank"), directory, current, rebuild)
        report.bank_questions, report.bank_embedded = bank.questions, bank.embedded
        new_state["bank"] = bank.digest
    else:
        generations.carry_over(current, directory, generations.BANK_ENTRIES)
        new_state["bank"] = state.get("bank")
    write_json_atomic(directory / STATE_FILE, new_state)
    return bank


def _collect(settings: Settings) -> None:
    """Delete the vectors the current generation does not use: the versions it replaced, or what a run killed
    after its switch (or before it) left behind."""
    current = generations.current(settings.index_dir)
    if current == settings.index_dir:  # the first layout stored vectors under bare chunk ids
        return
    catalog = Catalog.load(current)
    if catalog is not None and store_exists(settings):
        store = open_store(settings, None)
        stale = sorted(store.ids() - set(catalog.keys.values()))
        if stale:
            store.delete(stale)
            log.info("deleted %d vectors no index generation uses", len(stale))
    collect_bank(settings, current)


def _index_files(
    settings: Settings,
    root: Path,
    target: Path,
    rebuild: bool,
    progress: bool,
    kind: str | None,
    state: dict[str, Any],
) -> tuple[IngestReport, _Staged | None]:
    report = IngestReport()
    manifest = load_manifest(root)
    files_state: dict[str, dict[str, Any]] = {k: dict(v) for k, v in state.get("files", {}).items()}
    wanted_embedder = settings.embedder

    store = open_store(settings, None, create=False) if store_exists(settings) else None
    if store is not None and rebuild:
        store.drop()
        store = None
        files_state = {}
    if store is not None:
        found = store.identity()
        if found is not None and found.embedder != wanted_embedder:
            raise IndexMismatchError(
                f"L'indice è stato costruito con l'embedder {found.embedder!r}, ma la configurazione usa "
                f"{wanted_embedder!r}. Ricostruisci l'indice con: assistant ingest --rebuild"
            )
    # Chunks record the citations the manifest's aliases resolve: new aliases re-chunk every file.
    chunker = f"{CHUNKER_VERSION}+{manifest.aliases.digest()}"
    chunker_changed = state.get("chunker") != chunker
    if store is None:
        files_state = {}

    scopes: list[str] = []
    if target.is_file():
        files = [target]
    elif target.resolve() == root.resolve():
        # The corpus and the documents users uploaded through the app (data/uploads/<kind folder>/...).
        files = corpus_files(root, manifest) + _folder_files(settings.uploads_dir)
        scopes = [str(root.resolve()), str(settings.uploads_dir.resolve())]
    else:
        files = _folder_files(target)
        scopes = [str(target.resolve())]

    changed: dict[str, tuple[DocumentInfo, list[Chunk], str, str]] = {}
    seen_ids: set[str] = set()
    for file in files:
        try:
            info = document_info(file, manifest, kind)
        except OSError as exc:
            _skip(report, file, "il file non è leggibile.", str(exc))
            continue
        if info.doc_id in seen_ids:
            _skip(report, file, f"un altro file ha già lo stesso nome ({info.doc_id}): rinominalo.", "duplicate doc_id")
            continue
        seen_ids.add(info.doc_id)
        digest = _file_hash(file, info, root)
        previous = files_state.get(info.doc_id)
        if previous and previous.get("hash") == digest and not chunker_changed:
            report.unchanged += 1
            continue
        try:
            chunks = chunk_file(file, info, root, manifest.aliases)
        except LoadError as exc:
            _skip(report, file, exc.reason, exc.detail)
            continue
        if not chunks:
            _skip(report, file, "nessun testo utilizzabile dopo l'analisi.", "parser produced no chunks")
            continue
        changed[info.doc_id] = (info, chunks, digest, str(file.resolve()))

    # Removals only when a folder was synchronised: documents recorded under it whose file is gone.
    removed = [
        doc_id
        for doc_id, entry in files_state.items()
        if doc_id not in seen_ids
        and any(str(entry.get("path", "")).startswith(scope.rstrip("/") + "/") for scope in scopes)
    ]
    previous_catalog = Catalog.load(generations.current(settings.index_dir)) if not rebuild else None
    if not changed and not removed and store is not None and previous_catalog is not None:
        report.documents, report.chunks = len(previous_catalog.documents), len(previous_catalog.chunks)
        return report, None

    embedder = get_embedder(settings.embedder, settings.embed_threads)
    identity = IndexIdentity(embedder.name, embedder.dim, CHUNKER_VERSION)
    if store is None:
        store = open_store(settings, identity, create=True)
    store.set_identity(identity)

    catalog = previous_catalog
    chunks_by_doc: dict[str, list[Chunk]] = dict(catalog.by_doc) if catalog else {}
    documents: dict[str, DocumentInfo] = dict(catalog.documents) if catalog else {}
    keys: dict[str, str] = dict(catalog.keys) if catalog else {}

    todo = [(info, c) for info, chunks, _, _ in changed.values() for c in chunks]
    texts = [embed_text(c, info) for info, c in todo]
    todo_keys = [vector_key(c.id, text) for (_, c), text in zip(todo, texts, strict=True)]
    bar = _Progress(progress)
    cache = open_cache(settings, embedder)
    before = embedder.texts_embedded
    advance = bar.start(len(todo))

    def on_batch(n: int) -> None:
        advance(n)
        if embedder.texts_embedded > before:  # some texts embedded, others still to come
            generations.checkpoint("embedding")

    try:
        vectors = cache.encode(texts, on_batch)
    finally:
        bar.close()
        cache.close()
    report.embedded = embedder.texts_embedded - before
    # New versions go in beside the old ones (other keys): the current generation keeps its vectors.
    half = len(todo) // 2
    if todo:
        store.upsert([c for _, c in todo[:half]], vectors[:half], todo_keys[:half])
        generations.checkpoint("store")
        store.upsert([c for _, c in todo[half:]], vectors[half:], todo_keys[half:])

    new_keys = dict(zip((c.id for _, c in todo), todo_keys, strict=True))
    for doc_id, (info, chunks, digest, file_path) in changed.items():
        for old in chunks_by_doc.get(doc_id, []):
            keys.pop(old.id, None)
        (report.updated if doc_id in files_state else report.added).append(doc_id)
        files_state[doc_id] = {"hash": digest, "path": file_path, "ids": [c.id for c in chunks]}
        chunks_by_doc[doc_id] = chunks
        documents[doc_id] = info
        keys.update((c.id, new_keys[c.id]) for c in chunks)
    for doc_id in removed:
        files_state.pop(doc_id, None)
        for old in chunks_by_doc.pop(doc_id, []):
            keys.pop(old.id, None)
        documents.pop(doc_id, None)
        report.removed.append(doc_id)

    catalog = Catalog([c for chunks in chunks_by_doc.values() for c in chunks], documents, keys)
    lexical = LexicalIndex.build(
        [c.id for c in catalog.chunks], [embed_text(c, documents[c.doc_id]) for c in catalog.chunks]
    )
    report.documents, report.chunks = len(documents), len(catalog.chunks)
    new_state = {"chunker": chunker, "embedder": embedder.name, "files": files_state, "bank": state.get("bank")}
    return report, _Staged(catalog, lexical, new_state)


def _folder_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    # Hidden files and folders (the uploads' .staging and .backup among them) are never indexed.
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _skip(report: IngestReport, path: Path, reason: str, detail: str) -> None:
    log.warning("ingest skipped %s: %s", path, detail)
    report.skipped.append(Skipped(path.name, reason))
