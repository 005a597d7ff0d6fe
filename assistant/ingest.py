"""Incremental ingest: files -> chunks -> vectors (Chroma) + catalogue + BM25, by content hash.

Unchanged files embed nothing; a changed file replaces its chunks; a removed file's chunks are deleted.
A bad file is skipped with an Italian reason and one English log line; the rest is indexed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .bank import sync_bank
from .catalog import Catalog, LexicalIndex, embed_text, write_json_atomic
from .config import Settings
from .embeddings import EmbeddingCache, get_embedder
from .legal import CHUNKER_VERSION, chunk_file
from .loaders import LoadError
from .manifest import corpus_files, document_info, load_manifest
from .models import Chunk, DocumentInfo
from .store import IndexIdentity, IndexMismatchError, open_store, store_exists
from .text import slug

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
    """Bring the index up to date with the corpus (or with one extra file or folder)."""
    started = time.perf_counter()
    root = settings.corpus_dir
    target = path or root
    with _lock(settings.index_dir):
        report = _ingest_locked(settings, root, target, rebuild, progress, kind)
        if target.resolve() == root.resolve() and not report.failed:
            _sync_bank(settings, report, rebuild)
    report.seconds = time.perf_counter() - started
    return report


def _ingest_locked(
    settings: Settings, root: Path, target: Path, rebuild: bool, progress: bool, kind: str | None
) -> IngestReport:
    report = IngestReport()
    manifest = load_manifest(root)
    state_path = settings.index_dir / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.is_file() and not rebuild else {}
    files_state: dict[str, dict[str, Any]] = state.get("files", {})
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
    if not changed and not removed and store is not None and Catalog.load(settings.index_dir) is not None:
        catalog = Catalog.load(settings.index_dir)
        assert catalog is not None
        report.documents, report.chunks = len(catalog.documents), len(catalog.chunks)
        return report

    embedder = get_embedder(settings.embedder, settings.embed_threads)
    identity = IndexIdentity(embedder.name, embedder.dim, CHUNKER_VERSION)
    if store is None:
        store = open_store(settings, identity, create=True)
    store.set_identity(identity)

    catalog = Catalog.load(settings.index_dir) if not rebuild else None
    chunks_by_doc: dict[str, list[Chunk]] = dict(catalog.by_doc) if catalog else {}
    documents: dict[str, DocumentInfo] = dict(catalog.documents) if catalog else {}

    todo = [(info, c) for info, chunks, _, _ in changed.values() for c in chunks]
    bar = _Progress(progress)
    cache = EmbeddingCache(
        settings.data_dir / "cache" / f"embeddings-{slug(embedder.name, 80)}.sqlite3", embedder, settings.ingest_workers
    )
    before = embedder.texts_embedded
    try:
        vectors = cache.encode([embed_text(c, info) for info, c in todo], bar.start(len(todo)))
    finally:
        bar.close()
        cache.close()
    report.embedded = embedder.texts_embedded - before
    if todo:
        store.upsert([c for _, c in todo], vectors)

    for doc_id, (info, chunks, digest, file_path) in changed.items():
        old_ids = set(files_state.get(doc_id, {}).get("ids", [])) | {c.id for c in chunks_by_doc.get(doc_id, [])}
        stale = sorted(old_ids - {c.id for c in chunks})
        if stale:
            store.delete(stale)
        (report.updated if doc_id in files_state else report.added).append(doc_id)
        files_state[doc_id] = {"hash": digest, "path": file_path, "ids": [c.id for c in chunks]}
        chunks_by_doc[doc_id] = chunks
        documents[doc_id] = info
    for doc_id in removed:
        ids = list(files_state.pop(doc_id, {}).get("ids", [])) or [c.id for c in chunks_by_doc.get(doc_id, [])]
        if ids:
            store.delete(ids)
        chunks_by_doc.pop(doc_id, None)
        documents.pop(doc_id, None)
        report.removed.append(doc_id)

    catalog = Catalog([c for chunks in chunks_by_doc.values() for c in chunks], documents)
    lexical = LexicalIndex.build(
        [c.id for c in catalog.chunks], [embed_text(c, documents[c.doc_id]) for c in catalog.chunks]
    )
    catalog.save(settings.index_dir)
    lexical.save(settings.index_dir)
    write_json_atomic(
        state_path,
        {"chunker": chunker, "embedder": embedder.name, "files": files_state, "bank": state.get("bank")},
    )
    report.documents, report.chunks = len(documents), len(catalog.chunks)
    return report


def _sync_bank(settings: Settings, report: IngestReport, rebuild: bool) -> None:
    """The question bank follows the corpus: re-embedded only when its files (or the embedder) change."""
    state_path = settings.index_dir / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    synced = sync_bank(settings, state.get("bank"), rebuild)
    report.bank_questions, report.bank_embedded = synced.questions, synced.embedded
    if state.get("bank") != synced.digest:
        write_json_atomic(state_path, {**state, "bank": synced.digest})


def _folder_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _skip(report: IngestReport, path: Path, reason: str, detail: str) -> None:
    log.warning("ingest skipped %s: %s", path, detail)
    report.skipped.append(Skipped(path.name, reason))
