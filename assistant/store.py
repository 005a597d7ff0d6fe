"""Vector store seam and its Chroma implementation (embedded PersistentClient or HttpClient server).

We always pass our own vectors: Chroma's default embedding function would download a model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .config import Settings
from .errors import UserError
from .models import Chunk

log = logging.getLogger(__name__)

REBUILD_COMMAND = "assistant ingest --rebuild"


class StoreError(UserError, RuntimeError):
    """The store cannot be used as configured; the message is Italian and names the fix."""


class IndexMissingError(StoreError):
    """No index has been built yet (the collection does not exist)."""


class IndexMismatchError(StoreError):
    """The index was built with another embedder or chunker."""


@dataclass(frozen=True)
class IndexIdentity:
    embedder: str
    dim: int
    chunker: str

    def as_metadata(self) -> dict[str, Any]:
        return {"embedder": self.embedder, "dim": self.dim, "chunker": self.chunker, "hnsw:space": "cosine"}


@runtime_checkable
class VectorStore(Protocol):
    """What ingest, retrieval and the evaluations need from a vector index (contract: tests/test_store_contract.py).

    Vectors are L2-normalised; similarities are cosine (1 = same direction).
    """

    def identity(self) -> IndexIdentity | None:
        """The embedder, dimension and chunker the vectors were made with; None for a new, empty index."""
        ...

    def set_identity(self, identity: IndexIdentity) -> None: ...
    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        """Store chunks with their vectors, under `keys` when given (else under the chunk ids)."""
        ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k nearest chunk ids with their cosine similarity, best first (approximate search)."""
        ...

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...

    def all_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every id with its vector, for exact search held in memory."""
        ...

    def all_chunks(self) -> list[Chunk]: ...
    def keyed_chunks(self) -> list[tuple[str, Chunk]]:
        """Every chunk with the key its vector is stored under."""
        ...

    def ids(self) -> set[str]: ...
    def count(self) -> int: ...
    def drop(self) -> None: ...


_META_FIELDS = (
    "doc_id",
    "article",
    "article_title",
    "comma",
    "section",
    "label",
    "page",
    "titolo",
    "capo",
    "amended",
    "position",
)


def _metadata(chunk: Chunk, key: str) -> dict[str, Any]:
    data = chunk.to_dict()
    meta = {k: data[k] for k in _META_FIELDS if data.get(k) is not None}
    if key != chunk.id:
        meta["chunk_id"] = chunk.id
    if chunk.refs:
        meta["refs"] = "|".join(chunk.refs)  # Chroma metadata values are scalars
    return meta


def _chunk_from(id_: str, text: str, meta: dict[str, Any]) -> Chunk:
    refs = tuple(str(meta["refs"]).split("|")) if meta.get("refs") else ()
    fields: dict[str, Any] = {k: meta.get(k) for k in _META_FIELDS if k != "doc_id"}
    return Chunk(
        id=str(meta.get("chunk_id", id_)),
        text=text,
        **fields,
        doc_id=str(meta.get("doc_id", id_.split(":")[0])),
        refs=refs,
    )


class ChromaStore:
    """One Chroma collection holding our chunks, their vectors and the index identity."""

    def __init__(
        self,
        settings: Settings,
        identity: IndexIdentity | None = None,
        create: bool = False,
        check_chunker: bool = True,
    ) -> None:
        import chromadb

        chroma_settings = chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
        if settings.store == "server":
            try:
                self._client = chromadb.HttpClient(
                    host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
                )
                self._client.heartbeat()
            except Exception as exc:
                raise StoreError(
                    f"Il server Chroma {settings.chroma_host}:{settings.chroma_port} non risponde ({exc}). "
                    "Avvialo con `chroma run --path <cartella> --host 127.0.0.1 --port "
                    f"{settings.chroma_port}` oppure usa LC_STORE=embedded."
                ) from None
        else:
            path = settings.index_dir / "chroma"
            path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        self._name = settings.collection
        self._check_chunker = check_chunker
        self._collection = self._open(identity, create)

    def _open(self, identity: IndexIdentity | None, create: bool) -> Any:
        try:
            collection = self._client.get_collection(self._name, embedding_function=None)
        except Exception:  # NotFoundError (embedded) or a ValueError/HTTP error (server)
            if not create or identity is None:
                raise IndexMissingError(
                    f"L'indice non esiste ancora (collezione {self._name!r}). Crealo con: assistant ingest"
                ) from None
            return self._client.create_collection(self._name, embedding_function=None, metadata=identity.as_metadata())
        if identity is not None:
            check_identity(self._identity_of(collection), identity, self._check_chunker)
        return collection

    @staticmethod
    def _identity_of(collection: Any) -> IndexIdentity | None:
        meta = collection.metadata or {}
        if "embedder" not in meta:
            return None
        return IndexIdentity(str(meta["embedder"]), int(meta.get("dim", 0)), str(meta.get("chunker", "")))

    def identity(self) -> IndexIdentity | None:
        return self._identity_of(self._collection)

    def set_identity(self, identity: IndexIdentity) -> None:
        if self.identity() != identity:  # Chroma refuses to "modify" the distance function, even unchanged
            meta = {k: v for k, v in identity.as_metadata().items() if not k.startswith("hnsw:")}
            self._collection.modify(metadata=meta)

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        names = list(keys) if keys is not None else [c.id for c in chunks]
        for start in range(0, len(chunks), 1000):
            part = chunks[start : start + 1000]
            part_keys = names[start : start + 1000]
            self._collection.upsert(
                ids=part_keys,
                embeddings=vectors[start : start + len(part)].tolist(),
                documents=[c.text for c in part],
                metadatas=[_metadata(c, k) for c, k in zip(part, part_keys, strict=True)],
            )

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 1000):
            self._collection.delete(ids=list(ids[start : start + 1000]))

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        result = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()], n_results=k, include=["distances"]
        )
        ids = result["ids"][0]
        distances = result["distances"][0] if result.get("distances") else [1.0] * len(ids)
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        result = self._collection.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(result["ids"], result["embeddings"], strict=True)}

    def all_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every id with its vector (for exact search held in memory)."""
        ids: list[str] = []
        rows: list[np.ndarray] = []
        total = self.count()
        for offset in range(0, total, 5000):
            got = self._collection.get(include=["embeddings"], limit=5000, offset=offset)
            ids.extend(got["ids"])
            rows.append(np.asarray(got["embeddings"], dtype=np.float32))
        matrix = np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        return ids, matrix

    def all_chunks(self) -> list[Chunk]:
        return [chunk for _, chunk in self.keyed_chunks()]

    def keyed_chunks(self) -> list[tuple[str, Chunk]]:
        out: list[tuple[str, Chunk]] = []
        total = self.count()
        for offset in range(0, total, 2000):
            got = self._collection.get(include=["documents", "metadatas"], limit=2000, offset=offset)
            out.extend(
                (i, _chunk_from(i, d or "", m or {}))
                for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            )
        return out

    def ids(self) -> set[str]:
        out: set[str] = set()
        total = self.count()
        for offset in range(0, total, 5000):
            out.update(self._collection.get(include=[], limit=5000, offset=offset)["ids"])
        return out

    def count(self) -> int:
        return int(self._collection.count())

    def drop(self) -> None:
        try:
            self._client.delete_collection(self._name)
        except Exception as exc:  # already gone
            log.info("delete_collection %s: %s", self._name, exc)


def check_identity(found: IndexIdentity | None, wanted: IndexIdentity, check_chunker: bool = True) -> None:
    """Refuse to mix vectors of different embedders; name the command that rebuilds the index."""
    if found is None:
        return
    if found.embedder != wanted.embedder or (found.dim and found.dim != wanted.dim):
        raise IndexMismatchError(
            f"L'indice è stato costruito con l'embedder {found.embedder!r} (dimensione {found.dim}), ma la "
            f"configurazione usa {wanted.embedder!r} (dimensione {wanted.dim}). Ricostruisci l'indice con: "
            f"{REBUILD_COMMAND}"
        )
    if check_chunker and found.chunker != wanted.chunker:
        raise IndexMismatchError(
            f"L'indice è stato costruito con il chunker {found.chunker!r}, questa versione usa "
            f"{wanted.chunker!r}. Aggiorna l'indice con: assistant ingest"
        )


def open_store(
    settings: Settings, identity: IndexIdentity | None = None, create: bool = False, check_chunker: bool = True
) -> VectorStore:
    """The configured store; IndexMissingError before the first ingest; with `identity`, a mismatch raises
    IndexMismatchError."""
    return ChromaStore(settings, identity, create, check_chunker)


def store_exists(settings: Settings) -> bool:
    """Whether an index has been built in the configured store (a server that does not answer is an error)."""
    try:
        open_store(settings, None, create=False)
    except IndexMissingError:
        return False
    return True
