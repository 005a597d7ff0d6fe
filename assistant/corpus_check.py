"""The corpus check: the manifest lists every file with kind and version; every authored citation resolves."""

from __future__ import annotations

from .config import Settings
from .errors import CheckReport
from .index import indexed_catalog
from .manifest import MANIFEST_NAME, ManifestError, corpus_files, load_manifest
from .references import find_links


def check_corpus(settings: Settings) -> list[str]:
    """Italian problems: files missing from the manifest, entries without kind/version, dangling citations."""
    root = settings.corpus_dir
    problems: list[str] = []
    try:
        manifest = load_manifest(root)
    except ManifestError as exc:
        return [str(exc)]
    if not (root / MANIFEST_NAME).is_file():
        problems.append(f"Manca il manifest {root / MANIFEST_NAME}.")
    listed = {d.path for d in manifest.documents.values()}
    for path in corpus_files(root, manifest):
        rel = path.relative_to(root).as_posix()
        if rel not in listed:
            problems.append(
                f"{rel}: il file non è elencato in {MANIFEST_NAME} (aggiungi una voce [[documents]] "
                "con doc_id, title, kind e version_date)."
            )
    for info in manifest.documents.values():
        if not (root / info.path).is_file():
            problems.append(f"{MANIFEST_NAME}: il documento {info.doc_id} indica il file {info.path}, che non esiste.")
        if not info.version_date and not info.version_label:
            problems.append(f"{MANIFEST_NAME}: il documento {info.doc_id} non ha la data di versione (version_date).")
        if info.page_source and not (root / info.page_source).is_file():
            problems.append(
                f"{MANIFEST_NAME}: il documento {info.doc_id} indica page_source {info.page_source}, che non esiste."
            )
    catalog = indexed_catalog(settings)
    for path in sorted(root.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            for label, ref in find_links(line):
                if ref.doc_id not in catalog.documents:
                    problems.append(
                        f"{path.relative_to(root)}:{number}: la citazione [{label}] rimanda al "
                        f"documento {ref.doc_id!r}, che non è nel corpus."
                    )
                elif not catalog.resolve(ref.doc_id, ref.article, ref.comma, ref.section):
                    problems.append(
                        f"{path.relative_to(root)}:{number}: la citazione [{label}] "
                        f"({ref.describe()}) non corrisponde a nessun passaggio indicizzato."
                    )
    return problems


def corpus_report(settings: Settings) -> CheckReport:
    """The outcome of `assistant corpus check`."""
    problems = check_corpus(settings)
    documents = len(load_manifest(settings.corpus_dir).documents) if not problems else 0
    return CheckReport.of(
        problems,
        f"Corpus non valido: {len(problems)} problemi.",
        f"Corpus valido: {documents} documenti nel manifest, tutte le citazioni risolte.",
    )
