"""Opening a built index for reading: the chunk catalogue, the lexical index and the documents' information.

Retrieval, the checks, curated answers and call drafting all read the index through here. In server mode a
new instance may start without local files: the catalogue and BM25 are rebuilt from the shared store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from . import generations
from .catalog import Catalog, LexicalIndex, embed_text
from .config import Settings
from .legal import chunk_file
from .loaders import LoadError
from .manifest import corpus_files, document_info, load_manifest
from .models import Chunk, DocumentInfo
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


def rebuild_local_index(settings: Settings, store: VectorStore) -> LocalIndex:
    """Rebuild the catalogue and BM25 from the chunks held by the (shared) store, as a new generation.

    A store left with two versions of a chunk (an ingest killed before it deleted the old vectors) keeps
    the one written last; the next ingest deletes the other.
    """
    keyed = store.keyed_chunks()
    if not keyed:
        raise IndexMissingError("L'indice è vuoto. Crealo con: assistant ingest")
    latest: dict[str, tuple[str, Chunk]] = {}
    for key, chunk in keyed:
        if chunk.id in latest:
            log.warning("store holds two versions of %s: %s and %s", chunk.id, latest[chunk.id][0], key)
        latest[chunk.id] = (key, chunk)
    chunks = [chunk for _, chunk in latest.values()]
    keys = {cid: key for cid, (key, _) in latest.items()}
    manifest = load_manifest(settings.corpus_dir)
    documents = {}
    for doc_id in {c.doc_id for c in chunks}:
        info = manifest.documents.get(doc_id)
        if info is None:
            matches = list(settings.corpus_dir.rglob(f"{doc_id}.*"))
            info = document_info(matches[0], manifest) if matches else _unknown(doc_id)
        documents[doc_id] = info
    catalog = Catalog(chunks, documents, keys)
    lexical = LexicalIndex.build(
        [c.id for c in catalog.chunks], [embed_text(c, documents[c.doc_id]) for c in catalog.chunks]
    )
    directory = generations.begin(settings.index_dir)
    catalog.save(directory)
    lexical.save(directory)
    generations.carry_over(generations.current(settings.index_dir), directory, generations.BANK_ENTRIES)
    generations.commit(settings.index_dir, directory)
    log.info("rebuilt local catalogue and BM25 from the store: %d chunks", len(chunks))
    return LocalIndex(catalog, lexical, directory)


def _unknown(doc_id: str) -> DocumentInfo:
    return DocumentInfo(doc_id=doc_id, path="", title=doc_id, kind="formazione", in_manifest=False)
