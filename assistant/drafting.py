"""The guided draft of a call: an official's form becomes a structured draft with every required section,
guidance and citations, marking `[DA COMPLETARE: ...]` whatever the official did not decide.

The requirements model lives in `requirements.py` and the checker in `call_check.py`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from pathlib import Path

from .catalog import Catalog
from .errors import UserError
from .requirements import CALL_TYPES, MARKER, NOTE_PREFIX, Element, Requirements, citations_for
from .text import slug

log = logging.getLogger(__name__)


# --- the guided draft -----------------------------------------------------------------------------


class DraftError(UserError, ValueError):
    """A form that cannot produce a draft; the message is Italian."""


@dataclass(frozen=True)
class DraftForm:
    """What the official decides. Empty fields stay `[DA COMPLETARE: ...]` in the draft."""

    authority: str = ""  # amministrazione procedente
    call_type: str = "co-progettazione"
    theme: str = ""  # filone tematico: id or label of a theme, or free text
    subject: str = ""  # oggetto
    needs: str = ""  # bisogni
    objectives: str = ""  # obiettivi generali e specifici
    recipients: str = ""  # destinatari
    duration: str = ""  # durata
    resources: str = ""  # risorse messe a disposizione
    requirements: str = ""  # requisiti ulteriori
    criteria: str = ""  # criteri di valutazione e punteggi
    timeline: str = ""  # fasi e cronoprogramma
    procedure_manager: str = ""  # responsabile del procedimento
    planning_act: str = ""  # atto di programmazione o esito della co-programmazione
    rationale: str = ""  # ragioni della scelta dello strumento
    submission: str = ""  # termine e modalità di presentazione delle domande

    def value(self, name: str) -> str:
        return str(getattr(self, name, "") or "").strip()


FORM_FIELDS = tuple(f.name for f in fields(DraftForm) if f.name != "call_type")


@dataclass(frozen=True)
class DraftSection:
    element_id: str | None
    title: str
    text: str
    severity: str | None = None
    guidance: str = ""
    common_mistake: str = ""
    sources: tuple[str, ...] = ()  # formatted citations (`assistant.citations.reference`)
    missing: tuple[str, ...] = ()  # what is still `[DA COMPLETARE]`


@dataclass(frozen=True)
class Draft:
    title: str
    call_type: str
    theme: str
    sections: tuple[DraftSection, ...]

    @property
    def missing(self) -> list[tuple[str, str]]:
        return [(s.title, m) for s in self.sections for m in s.missing]


def _marker(what: str) -> str:
    return f"[{MARKER}: {what}]"


def _clean_value(value: str) -> str:
    """The official's words, kept as written (leading '#' removed so they never become headings)."""
    return "\n".join(line.lstrip("#").rstrip() for line in value.strip().splitlines()).strip()


def _fill(template: str, form: DraftForm, element: Element, theme: str) -> tuple[str, tuple[str, ...]]:
    values: dict[str, str] = {"theme": theme}
    missing: list[str] = []
    for name in FORM_FIELDS:
        if name == "theme":
            continue
        value = _clean_value(form.value(name))
        if not value:
            what = element.missing.get(name, name)
            if "{" + name + "}" in template:
                missing.append(what)
            value = _marker(what)
        values[name] = value
    if "{theme}" in template and not form.value("theme"):
        missing.append("filone tematico")
    text = template.format_map(values).strip()
    static = [m.group(1).strip() for m in re.finditer(rf"\[{MARKER}:\s*([^\]]+)\]", template)]
    return text, tuple(missing + static)


def _theme_label(form: DraftForm, requirements: Requirements) -> str:
    value = form.value("theme")
    if not value:
        return _marker("filone tematico")
    theme = requirements.theme(value)
    return theme.label if theme else value


def draft_call(form: DraftForm, catalog: Catalog, requirements: Requirements) -> Draft:
    """A structured draft with every section the call type needs, built only from what the form says."""
    if form.call_type not in CALL_TYPES:
        raise DraftError(f"Tipo di procedura non valido: {form.call_type!r}. Scegli tra {', '.join(CALL_TYPES)}.")
    theme = _theme_label(form, requirements)
    title = requirements.preamble.get(f"title_{form.call_type}", "Avviso pubblico").format(theme=theme)
    preamble = requirements.preamble.get(form.call_type, "").format(theme=theme).strip()
    sections = [DraftSection(None, "Premessa", preamble, missing=() if form.value("theme") else ("filone tematico",))]
    for element in requirements.elements_for(form.call_type):
        text, missing = _fill(element.text_for(form.call_type), form, element, theme)
        sources = tuple(c.label for c in citations_for(element.legal_basis, catalog, form.call_type))
        sections.append(
            DraftSection(
                element.id,
                element.draft_title,
                text,
                element.severity_for(form.call_type),
                element.guidance,
                element.common_mistake,
                sources,
                missing,
            )
        )
    return Draft(title, form.call_type, theme, tuple(sections))


def draft_markdown(draft: Draft, notes: bool = True) -> str:
    """The draft as Markdown; with `notes`, each section carries its editorial note (guidance and sources)."""
    out = [f"# {draft.title}", ""]
    number = 0
    for section in draft.sections:
        number += section.element_id is not None
        heading = f"{number}. {section.title}" if section.element_id else section.title
        out += [f"## {heading}", "", section.text, ""]
        if notes and section.element_id:
            note = (
                f"> **{NOTE_PREFIX}** ({section.severity}). {section.guidance} Errore frequente: "
                f"{section.common_mistake}"
            )
            out += [note + "  ", "> Fonti: " + "; ".join(section.sources), ""]  # one quoted paragraph
    return "\n".join(out).rstrip() + "\n"


def draft_docx(draft: Draft, path: Path, notes: bool = True) -> Path:
    """The draft as a Word document (python-docx): one heading per section, notes in italics."""
    import docx

    document = docx.Document()
    document.add_heading(draft.title, level=1)
    number = 0
    for section in draft.sections:
        number += section.element_id is not None
        document.add_heading(f"{number}. {section.title}" if section.element_id else section.title, level=2)
        for paragraph in section.text.split("\n"):
            if paragraph.strip():
                document.add_paragraph(paragraph.strip())
        if notes and section.element_id:
            note = document.add_paragraph()
            note.add_run(
                f"{NOTE_PREFIX} ({section.severity}). {section.guidance} Errore frequente: "
                f"{section.common_mistake} Fonti: {'; '.join(section.sources)}"
            ).italic = True
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def export_draft(draft: Draft, directory: Path, notes: bool = True) -> tuple[Path, Path]:
    """Write `<name>.md` and `<name>.docx` in a directory; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"avviso-{draft.call_type}-{slug(draft.theme, 40)}"
    md_path = directory / f"{name}.md"
    md_path.write_text(draft_markdown(draft, notes), encoding="utf-8")
    return md_path, draft_docx(draft, directory / f"{name}.docx", notes)
