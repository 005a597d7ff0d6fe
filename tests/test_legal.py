"""Parsing and chunking on the real texts of the corpus and on PDFs the tests make."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from conftest import CORPUS
from pdfmaker import write_pdf

from assistant.legal import parse
from assistant.loaders import load
from assistant.manifest import infer_info, load_manifest
from assistant.references import DocAliases


def chunks_of(relative: str):  # type: ignore[no-untyped-def]
    path = CORPUS / relative
    manifest = load_manifest(CORPUS)
    return parse(load(path), manifest.info_for(path), manifest.aliases)


def test_cts_has_104_articles_with_titles() -> None:
    chunks = chunks_of("norme/dlgs-117-2017-codice-terzo-settore.txt")
    articles = [c.article for c in chunks if c.article]
    assert sorted(set(articles), key=int) == [str(n) for n in range(1, 105)]
    assert all(c.article_title for c in chunks if c.article)
    art55 = [c for c in chunks if c.article == "55"]
    assert [c.comma for c in art55] == ["1", "2", "3", "4"]
    assert art55[0].article_title == "Coinvolgimento degli enti del Terzo settore"
    assert art55[0].titolo == "Titolo VII - Dei rapporti con gli enti pubblici"
    assert art55[1].text.startswith("2. La co-programmazione è finalizzata all'individuazione")


def test_art_56_has_comma_3_bis_flagged_as_amended() -> None:
    chunks = chunks_of("norme/dlgs-117-2017-codice-terzo-settore.txt")
    art56 = {c.comma: c for c in chunks if c.article == "56"}
    assert list(art56) == ["1", "2", "3", "3-bis", "4"]
    assert art56["3-bis"].amended and art56["3-bis"].text.startswith("((3-bis. Le amministrazioni procedenti")
    assert not art56["1"].amended
    assert art56["3-bis"].id == "dlgs-117-2017-codice-terzo-settore:56:3-bis"


def test_chunk_ids_are_unique_and_stable() -> None:
    first = chunks_of("norme/dlgs-117-2017-codice-terzo-settore.txt")
    again = chunks_of("norme/dlgs-117-2017-codice-terzo-settore.txt")
    ids = [c.id for c in first]
    assert len(ids) == len(set(ids))
    assert ids == [c.id for c in again]


def test_long_comma_split_at_lettere_keeps_its_comma() -> None:
    chunks = chunks_of("norme/dlgs-117-2017-codice-terzo-settore.txt")
    art5 = [c for c in chunks if c.article == "5" and c.comma == "1"]
    assert len(art5) > 1
    assert all(len(c.text) <= 1400 for c in art5)
    assert "a) interventi e servizi sociali" in art5[0].text


def test_l241_bis_articles_and_commi() -> None:
    chunks = chunks_of("norme/l-241-1990-procedimento-amministrativo.txt")
    art11 = [c.comma for c in chunks if c.article == "11"]
    assert art11 == ["1", "1-bis", "2", "3", "4", "4-bis", "5"]
    assert any(c.article == "21-decies" for c in chunks)
    assert {c.article_title for c in chunks if c.article == "12"} == {"Provvedimenti attributivi di vantaggi economici"}


def test_dm72_sections_and_pages_from_the_original_pdf() -> None:
    from assistant.legal import chunk_file

    manifest = load_manifest(CORPUS)
    path = CORPUS / "linee-guida" / "dm-72-2021-linee-guida.txt"
    chunks = chunk_file(path, manifest.info_for(path), CORPUS, manifest.aliases)
    sections = [c.section for c in chunks]
    for expected in ("decreto", "introduzione", "1", "1.1", "2", "3", "4", "5", "6"):
        assert expected in sections
    section3 = [c for c in chunks if c.section == "3"]
    assert section3[0].label == "3. Il procedimento di co-progettazione"
    pages = [c.page for c in chunks]
    assert all(p is not None for p in pages)
    assert pages == sorted(pages)  # pages follow the text
    assert 1 < section3[0].page < 27


def test_judgment_parts_and_paragraph_numbers() -> None:
    chunks = chunks_of("giurisprudenza/cds-3082-2026.txt")
    parts = Counter(c.section for c in chunks)
    assert set(parts) == {"intestazione", "fatto", "diritto", "dispositivo"}
    assert any(c.label == "Diritto, § 5" for c in chunks)
    court = chunks_of("giurisprudenza/corte-cost-sentenza-131-2020.txt")
    assert any(c.label and c.label.startswith("Considerato in diritto, § 2.1") for c in court)


def test_call_articles_become_article_chunks() -> None:
    chunks = chunks_of("avvisi/comune-gorgonzola-2024-avviso-coprogettazione-fragilita-longevita.txt")
    titles = {c.article: c.article_title for c in chunks if c.article}
    assert titles["4"] == "Durata"
    assert titles["10"].startswith("Selezione del soggetto")


def test_markdown_sections(tmp_path: Path) -> None:
    path = tmp_path / "modulo.md"
    path.write_text(
        "---\ntitle: x\n---\n# Modulo\n\n## Primo tema\n\nTesto uno.\n\n### Dettaglio\n\nTesto due.\n\n"
        "## Secondo tema\n\nTesto tre.\n",
        encoding="utf-8",
    )
    chunks = parse(load(path), replace(infer_info(path), kind="formazione"), DocAliases())
    assert [(c.section, c.label, c.text) for c in chunks] == [
        ("Primo tema", "Primo tema", "Testo uno."),
        ("Primo tema", "Primo tema > Dettaglio", "Testo due."),
        ("Secondo tema", "Secondo tema", "Testo tre."),
    ]


def test_pdf_made_by_the_test_keeps_page_numbers(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "delibera.pdf",
        [
            ["Art. 1 - Oggetto", "", "Il Comune promuove la co-progettazione con gli enti del Terzo settore."],
            ["Art. 2 - Risorse", "", "Le risorse sono messe a disposizione per tutta la durata del progetto."],
        ],
    )
    chunks = parse(load(pdf), infer_info(pdf), DocAliases())
    assert [(c.article, c.article_title, c.page) for c in chunks] == [("1", "Oggetto", 1), ("2", "Risorse", 2)]
    assert "co-progettazione" in chunks[0].text
