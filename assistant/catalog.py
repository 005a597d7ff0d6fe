"""The chunk catalogue and the BM25 lexical index, both built at ingest and persisted beside the vectors."""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict
from functools import cached_property
from pathlib import Path

import numpy as np

from .models import Chunk, DocumentInfo
from .references import Ref
from .text import fold, tokens

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
BM25_DIR = "bm25"


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)
    os.replace(tmp, path)


class Catalog:
    """Every indexed chunk with its document, in document order; lookups by id, document and article."""

    def __init__(
        self, chunks: Iterable[Chunk], documents: dict[str, DocumentInfo], keys: dict[str, str] | None = None
    ) -> None:
        self.chunks: list[Chunk] = sorted(chunks, key=lambda c: (c.doc_id, c.position))
        self.documents = documents
        self.by_id: dict[str, Chunk] = {c.id: c for c in self.chunks}
        self.row: dict[str, int] = {c.id: i for i, c in enumerate(self.chunks)}
        # The store key of each chunk's vector (see generations.vector_key); the chunk id when absent.
        self.keys: dict[str, str] = {c.id: (keys or {}).get(c.id, c.id) for c in self.chunks}

    def key(self, chunk_id: str) -> str:
        return self.keys.get(chunk_id, chunk_id)

    @cached_property
    def chunk_of_key(self) -> dict[str, str]:
        """Store key -> chunk id, for the vectors this catalogue uses (others belong to other generations)."""
        return {key: cid for cid, key in self.keys.items()}

    @cached_property
    def by_article(self) -> dict[tuple[str, str], list[Chunk]]:
        out: dict[tuple[str, str], list[Chunk]] = defaultdict(list)
        for c in self.chunks:
            if c.article:
                out[(c.doc_id, c.article)].append(c)
        return dict(out)

    @cached_property
    def by_doc(self) -> dict[str, list[Chunk]]:
        out: dict[str, list[Chunk]] = defaultdict(list)
        for c in self.chunks:
            out[c.doc_id].append(c)
        return dict(out)

    def document(self, doc_id: str) -> DocumentInfo | None:
        return self.documents.get(doc_id)

    def article_chunks(self, doc_id: str, article: str) -> list[Chunk]:
        return self.by_article.get((doc_id, article.lower()), [])

    def resolve(
        self,
        doc_id: str,
        article: str | None = None,
        comma: str | None = None,
        section: str | None = None,
        chunk: str | None = None,
    ) -> list[Chunk]:
        """Chunks matching a structured citation; empty when it does not resolve."""
        if chunk:
            found = self.by_id.get(f"{doc_id}:{chunk}")
            return [found] if found else []
        candidates = self.by_doc.get(doc_id, [])
        if article:
            candidates = [c for c in candidates if (c.article or "").lower() == str(article).lower()]
        if comma:
            candidates = [c for c in candidates if (c.comma or "").lower() == str(comma).lower()]
        if section:
            wanted = fold(str(section))
            folded = self._folded_sections
            candidates = [c for c in candidates if _section_matches(folded[c.id], wanted)]
        return candidates

    def resolve_ref(self, ref: Ref) -> list[Chunk]:
        """The passages a citation points to; an article's amendment notes only when nothing else matches."""
        chunks = self.resolve(ref.doc_id, ref.article, ref.comma, ref.section, ref.chunk)
        return [c for c in chunks if c.section != "aggiornamento"] or chunks

    @cached_property
    def _folded_sections(self) -> dict[str, tuple[str, ...]]:
        return {c.id: tuple(fold(v) for v in (c.section, c.label) if v) for c in self.chunks}

    def save(self, directory: Path) -> None:
        write_json_atomic(
            directory / CATALOG_FILE,
            {
                "documents": {k: asdict(v) for k, v in self.documents.items()},
                "chunks": [c.to_dict() for c in self.chunks],
                "keys": {cid: key for cid, key in self.keys.items() if key != cid},
            },
        )

    @classmethod
    def load(cls, directory: Path) -> Catalog | None:
        path = directory / CATALOG_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        documents = {k: DocumentInfo(**v) for k, v in data["documents"].items()}
        return cls((Chunk.from_dict(c) for c in data["chunks"]), documents, data.get("keys"))


def _section_matches(folded_values: tuple[str, ...], wanted: str) -> bool:
    """A cited section matches a passage's section or label, or their start ("diritto" ~ "diritto 2 1")."""
    return any(have == wanted or have.startswith(wanted + " ") for have in folded_values)


def section_matches(chunk: Chunk, section: str) -> bool:
    return _section_matches(tuple(fold(v) for v in (chunk.section, chunk.label) if v), fold(section))


def embed_text(chunk: Chunk, info: DocumentInfo) -> str:
    """What the embedder and BM25 see: the chunk with its document, article title and path."""
    head = [info.ref] if info.kind == "norma" or info.ref == info.title else [info.title]
    if chunk.article:
        head.append(f"art. {chunk.article}" + (f" {chunk.article_title}" if chunk.article_title else ""))
        if chunk.comma:
            head.append(f"comma {chunk.comma}")
    elif chunk.label:
        head.append(chunk.label)
    return " - ".join(head) + ": " + chunk.text


class LexicalIndex:
    """BM25 (bm25s) over Italian-normalised, stemmed tokens of each chunk and its path."""

    def __init__(self, model: object | None, ids: list[str], df: dict[str, int] | None = None) -> None:
        self._model = model
        self.ids = ids
        vocab = getattr(model, "vocab_dict", {}) or {}
        self._vocab = set(vocab)
        self.df = df or {}

    def idf(self, token: str) -> float:
        """Inverse document frequency; a word the corpus never uses weighs the most."""
        return math.log(1 + len(self.ids) / (self.df.get(token, 0) + 1))

    @classmethod
    def build(cls, ids: list[str], texts: list[str]) -> LexicalIndex:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import and logs every build

        if not ids:
            return cls(None, [])
        model = bm25s.BM25(k1=1.2, b=0.75)
        corpus = [tokens(t) or ["_vuoto_"] for t in texts]
        model.index(corpus, show_progress=False)
        df: Counter[str] = Counter()
        for doc in corpus:
            df.update(set(doc))
        return cls(model, ids, dict(df))

    def save(self, directory: Path) -> None:
        target = directory / BM25_DIR
        target.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(str(target), show_progress=False)  # type: ignore[attr-defined]
        write_json_atomic(target / "ids.json", self.ids)
        write_json_atomic(target / "df.json", self.df)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex | None:
        import bm25s

        target = directory / BM25_DIR
        if not (target / "ids.json").is_file():
            return None
        ids = json.loads((target / "ids.json").read_text(encoding="utf-8"))
        if not ids:
            return cls(None, [])
        model = bm25s.BM25.load(str(target), show_progress=False)
        df_path = target / "df.json"
        df = json.loads(df_path.read_text(encoding="utf-8")) if df_path.is_file() else {}
        return cls(model, ids, df)

    def search(self, query_tokens: list[str], k: int) -> list[tuple[str, float]]:
        known = [t for t in query_tokens if t in self._vocab]
        if not known or not self.ids:
            return []
        scores = np.asarray(self._model.get_scores(known))  # type: ignore[union-attr]
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]
