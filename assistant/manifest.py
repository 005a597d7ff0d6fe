"""The corpus manifest (corpus/manifest.toml): title, kind, identifier and text version of every document."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from .models import KINDS, DocumentInfo

MANIFEST_NAME = "manifest.toml"
SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".docx")
# Folders that hold data the assistant uses directly, not documents to index.
NOT_INDEXED_DIRS = ("glossario", "requisiti")
FOLDER_KINDS = {
    "norme": "norma",
    "linee-guida": "linee_guida",
    "giurisprudenza": "giurisprudenza",
    "prassi": "prassi",
    "avvisi": "avviso",
    "formazione": "formazione",
    "uploads": "formazione",
}


class ManifestError(ValueError):
    """The manifest cannot be read; the message is Italian and names the file."""


@dataclass(frozen=True)
class Manifest:
    root: Path
    documents: dict[str, DocumentInfo]  # by doc_id

    @property
    def companions(self) -> set[str]:
        """Relative paths of PDFs used only to number the pages of a .txt copy."""
        return {d.page_source for d in self.documents.values() if d.page_source}

    def by_path(self) -> dict[str, DocumentInfo]:
        return {d.path: d for d in self.documents.values()}

    def info_for(self, path: Path) -> DocumentInfo:
        """The manifest entry for a corpus file, or one inferred from its folder and name."""
        rel = _relative(path, self.root)
        known = self.by_path().get(rel)
        if known:
            return known
        return infer_info(path, self.root)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def infer_info(path: Path, root: Path | None = None, kind: str | None = None) -> DocumentInfo:
    """Defaults for a file that the manifest does not list (a user's own document)."""
    folder = path.parent.name
    resolved_kind = kind or FOLDER_KINDS.get(folder, "formazione")
    modified = datetime.fromtimestamp(path.stat().st_mtime).date().isoformat() if path.exists() else ""
    return DocumentInfo(
        doc_id=path.stem,
        path=_relative(path, root) if root else str(path),
        title=path.stem.replace("-", " ").replace("_", " ").strip().capitalize(),
        kind=resolved_kind,
        short_ref=path.name,
        version_date=modified,
        version_label=f"file del {_italian_date(modified)}" if modified else "",
        source="documento aggiunto dall'utente",
        in_manifest=False,
    )


def _italian_date(iso: str) -> str:
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{d.day}-{d.month}-{d.year}"


def load_manifest(root: Path) -> Manifest:
    """Read corpus/manifest.toml; a missing manifest yields an empty one (every file inferred)."""
    path = root / MANIFEST_NAME
    if not path.is_file():
        return Manifest(root=root, documents={})
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"Il manifest {path} non è un file TOML valido: {exc}") from None
    documents: dict[str, DocumentInfo] = {}
    for number, entry in enumerate(data.get("documents", []), start=1):
        missing = [key for key in ("doc_id", "path", "title", "kind") if not entry.get(key)]
        if missing:
            raise ManifestError(f"{path}: la voce n. {number} non ha i campi obbligatori: {', '.join(missing)}.")
        if entry["kind"] not in KINDS:
            raise ManifestError(
                f"{path}: il documento {entry['doc_id']} ha un tipo sconosciuto {entry['kind']!r} "
                f"(ammessi: {', '.join(KINDS)})."
            )
        if entry["doc_id"] in documents:
            raise ManifestError(f"{path}: doc_id duplicato {entry['doc_id']!r}.")
        fields = {k: str(v) for k, v in entry.items() if k in DocumentInfo.__dataclass_fields__}
        documents[entry["doc_id"]] = DocumentInfo(**fields)  # type: ignore[arg-type]
    return Manifest(root=root, documents=documents)


def corpus_files(root: Path, manifest: Manifest) -> list[Path]:
    """Every file under the corpus root that ingest considers (companion PDFs and data folders excluded)."""
    companions = manifest.companions
    files = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name == MANIFEST_NAME or path.name.startswith("."):
            continue
        rel = path.relative_to(root)
        if rel.parts[0] in NOT_INDEXED_DIRS or rel.as_posix() in companions:
            continue
        if path.name.lower() in ("readme.md", "license", "license.md"):
            continue
        files.append(path)
    return files


def with_kind(info: DocumentInfo, kind: str) -> DocumentInfo:
    return replace(info, kind=kind)
