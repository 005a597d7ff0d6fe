"""The "Informazioni" tab: what the assistant is and is not, its sources and versions, how to report errors."""

from __future__ import annotations

from ..citations import kind_label
from ..prompts import render, text
from .services import Services


def about_markdown(services: Services) -> str:
    """The fixed text plus the list of sources actually indexed, with their versions and caveats."""
    lines = [render("about.md", notice=text("notice"))]
    if services.writer is not None and services.writer.name != "extractive":
        lines += ["", text("about_llm", model=services.writer.describe())]
    lines += ["", "## Fonti indicizzate e versioni", ""]
    assistant = services.assistant
    if assistant is None:
        lines.append(services.unavailable or "L'indice non è disponibile.")
        return "\n".join(lines)
    documents = sorted(assistant.retriever.catalog.documents.values(), key=lambda d: (d.kind, d.title))
    lines += ["| Tipo | Documento | Riferimento ufficiale | Versione |", "|---|---|---|---|"]
    for info in documents:
        reference = (info.urn or info.identifier or "").replace("|", "/")
        lines.append(
            f"| {kind_label(info.kind)} | {info.title.replace('|', '/')} | {reference} | {info.version_text} |"
        )
    caveats = [d for d in documents if d.caveats]
    if caveats:
        lines += ["", "### Avvertenze sulle versioni", ""]
        lines += [f"- **{d.ref}**: {d.caveats}" for d in caveats]
    return "\n".join(lines)
