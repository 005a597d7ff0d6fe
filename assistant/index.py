"""Opening a built index for reading: the chunk catalogue, the lexical index and the documents' information.

Retrieval, the checks, curated answers and call drafting all read the index through here. In server mode a
new instance may start without local files: the catalogue and BM25 are rebuilt from the shared store.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from . import generations
from .catalog import Catalog, LexicalIndex, embed_text, write_json_atomic
from .config import Settings
from .legal import chunk_file
from .loaders import LoadError
from .manifest import Manifest, corpus_files, document_info, load_manifest
from .models import FOLDER_KINDS, SUPPORTED_SUFFIXES, Chunk, DocumentInfo
from .store import IndexMissingError, VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalIndex:
    """The catalogue of every indexed chunk and the BM25 index over them, from one index generation."""

    catalog: Catalog
    lexical: LexicalIndex
    directory: Path  # the generation they were read from (the question bank's files are read from there too)


def read_index(settings: Settings, store: VectorStore) -> LocalIndex:
    """The catalogue and BM25 of the current generation; in server mode, rebuilt from the shared store when this
    instance has none."""
    with generations.reading(settings.index_dir):
        directory = generations.current(settings.index_dir)
        catalog = Catalog.load(directory)
        lexical = LexicalIndex.load(directory)
    if catalog is None or lexical is None:
        if settings.store != "server":  # the local files are the index: without them there is none
            raise IndexMissingError("L'indice non esiste ancora (o è stato azzerato). Crealo con: assistant ingest")
        return rebuild_local_index(settings, store)
    return LocalIndex(catalog, lexical, directory)


def document_file(settings: Settings, info: DocumentInfo) -> Path:
    """The file a document was read from (corpus paths are relative to the corpus folder)."""
    path = Path(info.path)
    return path if path.is_absolute() else settings.corpus_dir / path


def from_corpus(settings: Settings, info: DocumentInfo) -> bool:
    """Whether a document is one the corpus ships (not an upload, nor a file added from elsewhere)."""
    return document_file(settings, info).resolve().is_relative_to(settings.corpus_dir.resolve())


def current_catalog(settings: Settings) -> Catalog | None:
    """The catalogue of the current generation; None before the first ingest."""
    with generations.reading(settings.index_dir):
        return Catalog.load(generations.current(settings.index_dir))


def indexed_catalog(settings: Settings) -> Catalog:
    """The catalogue of the built index; without an index, the corpus parsed now (same chunker, no vectors)."""
    catalog = current_catalog(settings)
    if catalog is not None:
        return catalog
    root = settings.corpus_dir
    manifest = load_manifest(root)
    chunks, documents = [], {}
    for path in corpus_files(root, manifest):
        info = document_info(path, manifest)
        try:
            chunks.extend(chunk_file(path, info, root, manifest.aliases))
        except LoadError:
            continue
        documents[info.doc_id] = info
    return Catalog(chunks, documents)


def rebuild_local_index(settings: Settings, store: VectorStore, known_only: bool = False) -> LocalIndex:
    """Rebuild the catalogue and BM25 from the chunks held by the (shared) store, as a new generation.

    A document is described from the corpus, else from the uploaded files in the data folder. With `known_only`
    (instances sharing the store: every indexed upload is in the shared database) a document found in neither
    is left out, as what an ingest killed before publishing left behind; otherwise it gets a bare description.
    A store left with two versions of a chunk (an ingest killed before it deleted the old vectors) keeps
    the one written last; the next ingest deletes the other.
    """
    keyed = store.keyed_chunks()
    if not keyed:
        raise IndexMissingError("L'indice è vuoto. Crealo con: assistant ingest")
    manifest = load_manifest(settings.corpus_dir)
    documents: dict[str, DocumentInfo] = {}
    unknown: set[str] = set()
    for doc_id in sorted({chunk.doc_id for _, chunk in keyed}):
        info = _describe(settings, manifest, doc_id)
        if info is None and known_only:
            unknown.add(doc_id)
        else:
            documents[doc_id] = info or _unknown(doc_id)
    if unknown:
        log.warning("store chunks of %d documents no instance published, left out: %s", len(unknown), sorted(unknown))
    latest: dict[str, tuple[str, Chunk]] = {}
    for key, chunk in keyed:
        if chunk.doc_id in unknown:
            continue
        if chunk.id in latest:
            log.warning("store holds two versions of %s: %s and %s", chunk.id, latest[chunk.id][0], key)
        latest[chunk.id] = (key, chunk)
    chunks = [chunk for _, chunk in latest.values()]
    keys = {cid: key for cid, (key, _) in latest.items()}
    catalog = Catalog(chunks, documents, keys)
    lexical = LexicalIndex.build(
        [c.id for c in catalog.chunks], [embed_text(c, documents[c.doc_id]) for c in catalog.chunks]
    )
    directory = generations.begin(settings.index_dir)
    catalog.save(directory)
    lexical.save(directory)
    # The ingest state (the corpus files are the same on every instance: the next ingest re-reads only what
    # differs). The bank's local files too, unless catching up with other instances: then they are rebuilt from
    # the shared bank collection when the bank loads (another instance may have changed it).
    entries = ("state.json",) if known_only else ("state.json", *generations.BANK_ENTRIES)
    generations.carry_over(generations.current(settings.index_dir), directory, entries)
    if known_only:
        _match_state(directory / "state.json", catalog, settings)
    generations.commit(settings.index_dir, directory)
    generations.prune(settings.index_dir)
    log.info("rebuilt local catalogue and BM25 from the store: %d chunks", len(chunks))
    return LocalIndex(catalog, lexical, directory)


def _match_state(path: Path, catalog: Catalog, settings: Settings) -> None:
    """The ingest state of a caught-up instance: documents another instance removed are forgotten, and uploaded
    files it wrote are recorded (with no hash: the next ingest that sees them re-reads them), so this instance's
    next ingest of the uploads folder notices when one of them is removed here."""
    state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    files = {doc_id: entry for doc_id, entry in state.get("files", {}).items() if doc_id in catalog.documents}
    uploads = settings.uploads_dir.resolve()
    for doc_id, info in catalog.documents.items():
        file = Path(info.path)
        if doc_id not in files and file.is_absolute() and file.resolve().is_relative_to(uploads):
            files[doc_id] = {"hash": "", "path": str(file.resolve()), "ids": [c.id for c in catalog.by_doc[doc_id]]}
    state["files"] = files
    write_json_atomic(path, state)


def _describe(settings: Settings, manifest: Manifest, doc_id: str) -> DocumentInfo | None:
    """A document of the store described from the corpus or from an uploaded file; None when neither has it."""
    info = manifest.documents.get(doc_id)
    if info is not None:
        return info
    matches = [p for p in settings.corpus_dir.rglob(f"{doc_id}.*") if p.suffix.lower() in SUPPORTED_SUFFIXES]
    if matches:
        return document_info(matches[0], manifest)
    uploads = settings.uploads_dir
    if uploads.is_dir():
        for path in sorted(uploads.rglob(f"{doc_id}.*")):
            rel = path.relative_to(uploads)
            if path.suffix.lower() in SUPPORTED_SUFFIXES and not any(p.startswith(".") for p in rel.parts):
                kind = FOLDER_KINDS.get(rel.parts[0]) if len(rel.parts) > 1 else None
                return document_info(path.resolve(), manifest, kind=kind)
    return None


def _unknown(doc_id: str) -> DocumentInfo:
    return DocumentInfo(doc_id=doc_id, path="", title=doc_id, kind="formazione", in_manifest=False)
