"""Training modules: chunked by headings, labelled as training material, checked like code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import CORPUS, make_settings

from assistant.corpus_check import check_corpus
from assistant.legal import chunk_file
from assistant.manifest import document_info, load_manifest

MODULE = CORPUS / "formazione" / "modulo-04-co-progettazione.md"


def test_modules_are_chunked_by_their_headings() -> None:
    manifest = load_manifest(CORPUS)
    info = document_info(MODULE, manifest)
    chunks = chunk_file(MODULE, info, CORPUS, manifest.aliases)
    assert info.kind == "formazione" and info.in_manifest
    sections = {c.section for c in chunks}
    assert "Come si svolge il tavolo di co-progettazione" in sections
    assert "Punti chiave" in sections and "Esercitazione per un gruppo misto di funzionari e operatori" in sections
    assert all("](cit:" not in c.text for c in chunks)  # links become their visible label
    tavolo = [c for c in chunks if c.section == "Come si svolge il tavolo di co-progettazione"]
    assert any(ref.startswith("dm-72-2021-linee-guida?section=3") for c in tavolo for ref in c.refs)


def copy_corpus(tmp: Path) -> Path:
    root = tmp / "corpus"
    shutil.copytree(CORPUS, root, ignore=shutil.ignore_patterns("*.pdf", "giurisprudenza", "prassi"))
    (root / "giurisprudenza").mkdir()
    for name in (
        "cds-3082-2026.txt",
        "cds-4540-2024.txt",
        "tar-lombardia-milano-2533-2024.txt",
        "corte-cost-sentenza-131-2020.txt",
        "cds-6232-2021.txt",
        "cds-5217-2023.txt",
        "tar-toscana-840-2026.txt",
        "tar-lecce-2049-2019.txt",
        "tar-liguria-310-2024.txt",
        "tar-toscana-1260-2021.txt",
        "cds-5199-2020.txt",
        "tar-lombardia-milano-2533-2024.txt",
    ):
        shutil.copy(CORPUS / "giurisprudenza" / name, root / "giurisprudenza" / name)
    shutil.copytree(CORPUS / "prassi", root / "prassi")
    manifest = (root / "manifest.toml").read_text(encoding="utf-8")
    blocks = manifest.split("\n[[documents]]")
    kept = [b for b in blocks[1:] if (root / _path(b)).is_file()]
    text = blocks[0] + "".join(
        "[[documents]]" + "\n".join(ln for ln in b.splitlines() if not ln.startswith("page_source")) + "\n"
        for b in kept
    )
    (root / "manifest.toml").write_text(text, encoding="utf-8")
    return root


def _path(block: str) -> str:
    return next(line.split('"')[1] for line in block.splitlines() if line.startswith("path = "))


def test_check_passes_on_the_shipped_corpus(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, copy_corpus(tmp_path))
    assert check_corpus(settings) == []


def test_check_reports_dangling_citation_and_unlisted_file(tmp_path: Path) -> None:
    root = copy_corpus(tmp_path)
    module = root / "formazione" / "modulo-04-co-progettazione.md"
    text = module.read_text(encoding="utf-8")
    module.write_text(
        text.replace(
            "(cit:dlgs-117-2017-codice-terzo-settore?article=55&comma=3)",
            "(cit:dlgs-117-2017-codice-terzo-settore?article=55&comma=7)",
            1,
        ),
        encoding="utf-8",
    )
    line = next(i for i, ln in enumerate(module.read_text(encoding="utf-8").splitlines(), start=1) if "comma=7" in ln)
    (root / "formazione" / "slide-comune.md").write_text("# Slide\n\n## Tavolo\n\nTesto.\n", encoding="utf-8")
    problems = check_corpus(make_settings(tmp_path, root))
    assert problems == [
        "formazione/slide-comune.md: il file non è elencato in manifest.toml (aggiungi una voce [[documents]] con "
        "doc_id, title, kind e version_date).",
        f"formazione/modulo-04-co-progettazione.md:{line}: la citazione [art. 55, c. 3, CTS] "
        "(dlgs-117-2017-codice-terzo-settore (art. 55, comma 7)) non corrisponde a nessun passaggio indicizzato.",
    ]


def test_corpus_check_cli_on_the_shipped_corpus(full_settings) -> None:  # type: ignore[no-untyped-def]
    exe = Path(sys.executable).with_name("assistant")
    result = subprocess.run([str(exe), "corpus", "check"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("Corpus valido:")
    assert "Banca delle domande:" in result.stdout


def test_tavolo_question_finds_the_module_and_cites_law_first(full_settings) -> None:  # type: ignore[no-untyped-def]
    from assistant.answer import Assistant

    assistant = Assistant.load(full_settings)
    question = "Come si svolge in concreto un tavolo di co-progettazione?"
    hits = assistant.search(question, 12)  # the passages an answer considers
    kinds = [assistant.retriever.catalog.document(h.chunk.doc_id).kind for h in hits]
    assert "formazione" in kinds
    answer = assistant.ask(question, "operatore")
    answer_kinds = [c.kind for c in answer.citations]
    assert "formazione" in answer_kinds and answer_kinds[-1] == "formazione"
    assert answer_kinds[0] in ("norma", "linee_guida")  # the law (or the guidelines) first
    assert "Materiale formativo (spiega le fonti, non è una fonte normativa)" in answer.answer
