"""Bad input: every unusable file gets one precise Italian reason, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdfmaker import write_encrypted_pdf, write_pdf

from assistant.loaders import LoadError, load


def reason(path: Path) -> str:
    with pytest.raises(LoadError) as info:
        load(path)
    return info.value.message


def test_encrypted_pdf(tmp_path: Path) -> None:
    assert reason(write_encrypted_pdf(tmp_path / "riservato.pdf")) == (
        "riservato.pdf: il PDF è protetto da password e non può essere letto."
    )


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = tmp_path / "rotto.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    assert reason(path) == "rotto.pdf: il PDF è danneggiato o non è un PDF valido."


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "vuoto.pdf"
    path.write_bytes(b"")
    assert reason(path) == "vuoto.pdf: il file è vuoto."


def test_image_only_pdf(tmp_path: Path) -> None:
    assert reason(write_pdf(tmp_path / "scansione.pdf", image_only_pages=2)) == (
        "scansione.pdf: il PDF non contiene testo estraibile (probabilmente è una scansione o contiene solo "
        "immagini): serve una versione con testo o un passaggio di OCR."
    )


def test_non_utf8_text(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Attività di interesse generale".encode("latin-1"))
    assert reason(path) == (
        "latin1.txt: il file di testo non è in codifica UTF-8 (byte non valido alla "
        "posizione 7): salvalo in UTF-8 e riprova."
    )


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "tabella.xlsx"
    path.write_bytes(b"PK\x03\x04")
    assert reason(path) == "tabella.xlsx: formato non supportato (.xlsx): sono accettati PDF, DOCX, TXT e MD."


def test_source_note_is_not_indexed(tmp_path: Path) -> None:
    path = tmp_path / "norma.txt"
    path.write_text(
        "[FONTE / SOURCE NOTE - not part of the official text]\nProvenienza: x\n"
        + "=" * 40
        + "\n\nArt. 1\n\nOggetto\n\n  1. Testo.\n",
        encoding="utf-8",
    )
    source = load(path)
    assert "Provenienza" in source.source_note
    assert "Provenienza" not in source.text


def test_docx_headings_and_paragraphs(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Avviso di co-progettazione", level=1)
    document.add_paragraph("Il Comune avvia una co-progettazione.")
    path = tmp_path / "avviso.docx"
    document.save(str(path))
    lines = [line.text for line in load(path).lines if line.text]
    assert lines == ["# Avviso di co-progettazione", "Il Comune avvia una co-progettazione."]
