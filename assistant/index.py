"""Opening a built index for reading: the chunk catalogue, the lexical index and the documents' information.

Retrieval, the checks, curated answers and call drafting all read the index through here. In server mode a
new instance may start without local files: the catalogue and BM25 are rebuilt from the shared store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .catalog import Catalog, LexicalIndex, embed_text
from .config import Settings
from .legal import chunk_file
from .loaders import LoadError
from .manifest import corpus_files, document_info, load_manifest
from .models import DocumentInfo
from .store import IndexMissingError, VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalIndex:
    """The catalogue of every indexed chunk and the BM25 index over them."""

    catalog: Catalog
    lexical: LexicalIndex


def read_index(settings: Settings, store: VectorStore) -> LocalIndex:
    """The catalogue and BM25 written by `assistant ingest`, or rebuilt from `store` when they are missing."""
    catalog = Catalog.load(settings.index_dir)
    lexical = LexicalIndex.load(settings.index_dir)
    if catalog is None or lexical is None:
        return rebuild_local_index(settings, store)
    return LocalIndex(catalog, lexical)


def indexed_catalog(settings: Settings) -> Catalog:
    """The catalogue of the built index; without an index, the corpus parsed now (same chunker, no vectors)."""
    catalog = Catalog.load(settings.index_dir)
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
    """Rebuild and save the catalogue and BM25 from the chunks held by the (shared) store."""
    chunks = store.all_chunks()
    if not chunks:
        raise IndexMissingError("L'indice è vuoto. Crealo con: assistant ingest")
    manifest = load_manifest(settings.corpus_dir)
    documents = {}
    for doc_id in {c.doc_id for c in chunks}:
        info = manifest.documents.get(doc_id)
        if info is None:
            matches = list(settings.corpus_dir.rglob(f"{doc_id}.*"))
            info = document_info(matches[0], manifest) if matches else _unknown(doc_id)
        documents[doc_id] = info
    catalog = Catalog(chunks, documents)
    lexical = LexicalIndex.build(
        [c.id for c in catalog.chunks], [embed_text(c, documents[c.doc_id]) for c in catalog.chunks]
    )
    catalog.save(settings.index_dir)
    lexical.save(settings.index_dir)
    log.info("rebuilt local catalogue and BM25 from the store: %d chunks", len(chunks))
    return LocalIndex(catalog, lexical)


def _unknown(doc_id: str) -> DocumentInfo:
    return DocumentInfo(doc_id=doc_id, path="", title=doc_id, kind="formazione", in_manifest=False)
