"""Read a corpus file (TXT, MD, PDF, DOCX) into lines with page numbers; bad files raise LoadError."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from .models import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)
logging.getLogger("pypdf").setLevel(logging.ERROR)  # our LoadError carries the one log line

SOURCE_NOTE_START = "[FONTE / SOURCE NOTE"
MIN_PDF_TEXT_CHARS = 20


class LoadError(Exception):
    """A file that cannot be read. `reason` is the Italian text for the user; `detail` is for the log."""

    def __init__(self, path: Path, reason: str, detail: str = "") -> None:
        super().__init__(f"{path.name}: {reason}")
        self.path = path
        self.reason = reason
        self.detail = detail or reason

    @property
    def message(self) -> str:
        return f"{self.path.name}: {self.reason}"


@dataclass(frozen=True)
class Line:
    text: str
    page: int | None = None


@dataclass(frozen=True)
class SourceText:
    lines: list[Line]
    source_note: str = ""  # the provenance block at the top of the shared copies, not indexed
    paged: bool = False

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


def clean_text(text: str) -> str:
    """Unify line ends and replace symbol-font bullets (private-use code points) with a dash."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\u00a0", " ")
    return _PRIVATE_USE.sub("-", text)


def load(path: Path) -> SourceText:
    """Read one file; raises LoadError with an Italian reason for anything unusable."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(
            path,
            f"formato non supportato ({suffix or 'senza estensione'}): sono accettati PDF, DOCX, TXT e MD.",
            f"unsupported suffix {suffix!r}",
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(path, "il file non è leggibile.", f"stat failed: {exc}") from None
    if size == 0:
        raise LoadError(path, "il file è vuoto.", "empty file (0 bytes)")
    if suffix == ".pdf":
        return _load_pdf(path)
    if suffix == ".docx":
        return _load_docx(path)
    return _load_text(path)


def _load_text(path: Path) -> SourceText:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            path,
            f"il file di testo non è in codifica UTF-8 (byte non valido alla posizione {exc.start}): "
            "salvalo in UTF-8 e riprova.",
            f"not UTF-8: invalid byte 0x{raw[exc.start]:02x} at offset {exc.start}",
        ) from None
    text = clean_text(text)
    note = ""
    if text.startswith(SOURCE_NOTE_START):
        match = re.search(r"^={10,}\s*$", text, flags=re.MULTILINE)
        if match:
            note, text = text[: match.start()], text[match.end() :]
    if not text.strip():
        raise LoadError(path, "il file non contiene testo.", "no text after stripping")
    return SourceText(lines=[Line(t) for t in text.split("\n")], source_note=note.strip())


def _load_pdf(path: Path) -> SourceText:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported encryption
                raise LoadError(
                    path, "il PDF è protetto da password e non può essere letto.", f"encrypted PDF: {exc}"
                ) from None
            if not opened:
                raise LoadError(path, "il PDF è protetto da password e non può essere letto.", "encrypted PDF")
        lines: list[Line] = []
        for number, page in enumerate(reader.pages, start=1):
            page_text = clean_text(page.extract_text() or "")
            lines.extend(Line(t, number) for t in page_text.replace("\r", "\n").split("\n"))
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError) as exc:
        raise LoadError(path, "il PDF è danneggiato o non è un PDF valido.", f"pypdf failed: {exc!r}") from None
    total = sum(len(line.text.strip()) for line in lines)
    if total < MIN_PDF_TEXT_CHARS:
        raise LoadError(
            path,
            "il PDF non contiene testo estraibile (probabilmente è una scansione o contiene solo immagini): "
            "serve una versione con testo o un passaggio di OCR.",
            f"image-only PDF: {total} text characters on {len(reader.pages)} pages",
        )
    return SourceText(lines=lines, paged=True)


def _load_docx(path: Path) -> SourceText:
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError
    except ImportError:  # pragma: no cover - python-docx is a dependency
        raise LoadError(path, "il supporto DOCX non è installato.", "python-docx missing") from None
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise LoadError(path, "il file DOCX è danneggiato o non valido.", f"python-docx failed: {exc!r}") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise LoadError(path, "il file DOCX è danneggiato o non valido.", f"python-docx failed: {exc!r}") from None
    lines: list[Line] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        match = re.match(r"(?:Heading|Titolo)\s*(\d)", style)
        if text and match:
            lines.extend([Line(""), Line("#" * int(match.group(1)) + " " + text), Line("")])
        elif text and style == "Title":
            lines.extend([Line(""), Line("# " + text), Line("")])
        else:
            lines.extend([Line(text), Line("")] if text else [Line("")])
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                lines.extend([Line(" | ".join(dict.fromkeys(cells))), Line("")])
    if not any(line.text.strip() for line in lines):
        raise LoadError(path, "il file DOCX non contiene testo.", "empty DOCX")
    return SourceText(lines=lines)


def pdf_page_texts(path: Path) -> list[str]:
    """Plain text of each page of a companion PDF (used to number the pages of a .txt copy)."""
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return [(page.extract_text() or "") for page in reader.pages]
