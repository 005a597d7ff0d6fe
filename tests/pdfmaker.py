"""Write small but real PDF files for tests (text pages, image-only pages), with no extra dependency."""

from __future__ import annotations

import zlib
from pathlib import Path


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _text_stream(lines: list[str]) -> bytes:
    out = [b"BT /F1 11 Tf 14 TL 56 780 Td"]
    for line in lines:
        out.append(b"(" + _escape(line) + b") Tj T*")
    out.append(b"ET")
    return b"\n".join(out)


def _image_stream() -> bytes:
    # A filled grey rectangle: marks on the page but no text layer (like a scan).
    return b"0.5 g 56 400 480 300 re f"


def write_pdf(path: Path, pages: list[list[str]] | None = None, image_only_pages: int = 0) -> Path:
    """One page per list of lines; or `image_only_pages` pages with only graphics."""
    streams = [_text_stream(lines) for lines in (pages or [])] + [_image_stream()] * image_only_pages
    objects: list[bytes] = []
    n_pages = len(streams)
    font_id = 3
    first_page = 4
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, stream in enumerate(streams):
        content_id = first_page + 2 * i + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 {font_id} 0 R >> >> "
            f"/Contents {content_id} 0 R >>".encode()
        )
        data = zlib.compress(stream)
        objects.append(f"<< /Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode() + data + b"\nendstream")
    body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(body)
    return path


def write_encrypted_pdf(path: Path, password: str = "segreto") -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = write_pdf(path.with_suffix(".plain.pdf"), [["Documento riservato del Comune."]])
    writer = PdfWriter(clone_from=PdfReader(str(plain)))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)
    plain.unlink()
    return path
