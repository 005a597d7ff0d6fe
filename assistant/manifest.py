"""The corpus manifest (corpus/manifest.toml): title, kind, identifier and text version of every document."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .models import FOLDER_KINDS, KINDS, DocumentInfo
from .references import DocAliases, JudgmentName
from .text import italian_date

MANIFEST_NAME = "manifest.toml"
# Folders that hold data the assistant uses directly, not documents to index.
NOT_INDEXED_DIRS = ("glossario", "requisiti", "domande", "prontuario")
# Files at the corpus root that describe the corpus rather than being documents.
DATA_FILES = (MANIFEST_NAME, "ambito.yaml", "emendamenti.yaml")


class ManifestError(UserError, ValueError):
    """The manifest cannot be read; the message is Italian and names the file."""


@dataclass(frozen=True)
class Manifest:
    root: Path
    documents: dict[str, DocumentInfo]  # by doc_id
    aliases: DocAliases = field(default_factory=DocAliases)

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
        version_label=f"file del {italian_date(modified)}" if modified else "",
        source="documento aggiunto dall'utente",
        in_manifest=False,
    )


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
    return Manifest(root=root, documents=documents, aliases=_aliases(data, path, documents))


def _aliases(data: dict[str, Any], path: Path, documents: dict[str, DocumentInfo]) -> DocAliases:
    """The `[[aliases]]` patterns (in order) and the `[defaults]` of the manifest."""
    patterns = []
    for number, entry in enumerate(data.get("aliases", []), start=1):
        if not entry.get("doc_id") or not entry.get("pattern"):
            raise ManifestError(f"{path}: l'alias n. {number} deve avere doc_id e pattern.")
        try:
            patterns.append((re.compile(entry["pattern"]), str(entry["doc_id"])))
        except re.error as exc:
            raise ManifestError(
                f"{path}: l'alias n. {number} ({entry['doc_id']}) non è un'espressione regolare valida: {exc}."
            ) from None
    defaults = data.get("defaults", {})
    judgments = [JudgmentName.parse(d.doc_id, d.short_ref) for d in documents.values() if d.kind == "giurisprudenza"]
    return DocAliases(
        tuple(patterns),
        defaults.get("law"),
        frozenset(defaults.get("numbered_sections", ())),
        tuple(j for j in judgments if j is not None),
    )


def corpus_files(root: Path, manifest: Manifest) -> list[Path]:
    """Every file under the corpus root that ingest considers (companion PDFs and data folders excluded)."""
    companions = manifest.companions
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or path.name in DATA_FILES or any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and folders (corpus/.vectors: the shipped vectors) are not documents
        if rel.parts[0] in NOT_INDEXED_DIRS or rel.as_posix() in companions:
            continue
        if path.name.lower() in ("readme.md", "license", "license.md"):
            continue
        files.append(path)
    return files


def document_info(path: Path, manifest: Manifest, kind: str | None = None) -> DocumentInfo:
    """Manifest entry, or an inferred one enriched by Markdown front matter."""
    info = manifest.info_for(path) if path.resolve().is_relative_to(manifest.root.resolve()) else infer_info(path)
    if kind and not info.in_manifest:
        info = replace(info, kind=kind)
    if path.suffix.lower() == ".md":
        meta = front_matter(path)
        if meta.get("title") and not info.in_manifest:
            info = replace(info, title=str(meta["title"]), short_ref=str(meta["title"]))
        if meta.get("version_date") and not info.version_date:
            info = replace(info, version_date=str(meta["version_date"]))
        if meta.get("version_date") and not info.in_manifest:
            info = replace(info, version_label=f"versione del {meta['version_date']}")
    return info


def front_matter(path: Path) -> dict[str, object]:
    """The YAML block between the first two `---` lines of a Markdown file; {} when absent or unreadable."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}
