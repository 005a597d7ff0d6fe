"""Handlers of the "Redazione avviso" and "Verifica avviso" tabs: plain functions, no Gradio import.

They take the widgets' values and return values; every problem becomes an Italian `warning`, never an
exception into the browser.

    draft_from_form(authority, call_type, theme, subject, needs, objectives, recipients, duration, resources,
                    requirements, criteria, timeline, procedure_manager="", planning_act="", rationale="",
                    submission="", *, catalog=None, out_dir=None) -> DraftResult
        DraftResult.markdown: the draft (with editorial notes) for a gr.Markdown preview;
        DraftResult.md_path / docx_path: exported files (in `out_dir`, else a new temporary directory) for
        gr.File; DraftResult.missing: "Sezione: che cosa manca" lines; DraftResult.warning: Italian text or None.

    check_uploaded_call(path, *, catalog=None, settings=None, display_name=None) -> CheckResult
        CheckResult.markdown: the report for gr.Markdown; CheckResult.data: the `check-call --json` dict (or
        None); CheckResult.warning: Italian text or None (for gr.Warning).

    theme_choices() -> list[tuple[str, str]]: (label, id) pairs of the thematic threads, for a gr.Dropdown.
    CALL_TYPE_CHOICES: the three procedure types, for a gr.Radio.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..call_check import CallCheckError, CallReport, check_call
from ..catalog import Catalog
from ..config import Settings
from ..drafting import DraftError, DraftForm, draft_call, draft_markdown, export_draft
from ..index import indexed_catalog
from ..requirements import CALL_TYPES, RequirementsError, load_requirements
from ..text import inert_markdown

log = logging.getLogger(__name__)

CALL_TYPE_CHOICES = list(CALL_TYPES)
GENERIC_ERROR = "Si è verificato un errore imprevisto: riprova; se il problema continua, segnalalo agli amministratori."
STATUS_ICONS = {"presente": "✅ presente", "dubbio": "⚠️ dubbio", "assente": "❌ assente"}


@dataclass
class DraftResult:
    markdown: str
    md_path: str | None = None
    docx_path: str | None = None
    missing: list[str] | None = None
    warning: str | None = None


@dataclass
class CheckResult:
    markdown: str
    data: dict[str, Any] | None = None
    warning: str | None = None


def _catalog(catalog: Catalog | None, settings: Settings) -> Catalog:
    return catalog if catalog is not None else indexed_catalog(settings)


def theme_choices(settings: Settings) -> list[tuple[str, str]]:
    """(label, id) of the thematic threads; empty if the requirements file cannot be read."""
    try:
        requirements = load_requirements(settings.corpus_dir)
    except RequirementsError:
        return []
    return [(t.label, t.id) for t in requirements.themes]


def draft_from_form(
    authority: str,
    call_type: str,
    theme: str,
    subject: str,
    needs: str,
    objectives: str,
    recipients: str,
    duration: str,
    resources: str,
    requirements: str,
    criteria: str,
    timeline: str,
    procedure_manager: str = "",
    planning_act: str = "",
    rationale: str = "",
    submission: str = "",
    *,
    catalog: Catalog | None = None,
    out_dir: Path | str | None = None,
    settings: Settings,
) -> DraftResult:
    """The guided draft as a Markdown preview plus exported .md and .docx files."""
    form = DraftForm(
        authority=authority or "",
        call_type=call_type or "",
        theme=theme or "",
        subject=subject or "",
        needs=needs or "",
        objectives=objectives or "",
        recipients=recipients or "",
        duration=duration or "",
        resources=resources or "",
        requirements=requirements or "",
        criteria=criteria or "",
        timeline=timeline or "",
        procedure_manager=procedure_manager or "",
        planning_act=planning_act or "",
        rationale=rationale or "",
        submission=submission or "",
    )
    try:
        draft = draft_call(form, _catalog(catalog, settings), load_requirements(settings.corpus_dir))
        directory = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="lc-bozza-"))
        md_path, docx_path = export_draft(draft, directory)
    except (DraftError, RequirementsError) as exc:
        return DraftResult("", warning=str(exc))
    except OSError as exc:
        log.error("draft export failed: %s", exc)
        return DraftResult("", warning=f"Impossibile salvare la bozza: {exc.strerror or exc}.")
    except Exception as exc:  # one log line for operators, a plain message for the user
        log.error("draft failed: %s: %s", type(exc).__name__, exc)
        return DraftResult("", warning=GENERIC_ERROR)
    missing = [f"{title}: {what}" for title, what in draft.missing]
    warning = f"La bozza ha {len(missing)} punti da completare, segnati con [DA COMPLETARE]." if missing else None
    return DraftResult(draft_markdown(draft), str(md_path), str(docx_path), missing, warning)


def report_markdown(report: CallReport) -> str:
    """The check report as Markdown: a table of elements, then the red flags with their sources."""
    lines = [
        f"### Verifica dell'avviso: {inert_markdown(report.file)}",
        "",
        f"**Tipo di procedura riconosciuto:** {report.type}",
        "",
    ]
    lines += ["| Elemento | Tipo | Esito | Passaggio trovato | Norma |", "|---|---|---|---|---|"]
    for element in report.elements:
        quote = inert_markdown(element.evidence or "—").replace("|", "/")  # the call's words, shown as text
        if element.page:
            quote += f" (pag. {element.page})"
        sources = "; ".join(c.label for c in element.citations).replace("|", "/")
        lines.append(f"| {element.label} | {element.severity} | {STATUS_ICONS[element.status]} | {quote} | {sources} |")
    lines += ["", "#### Segnali di allarme", ""]
    if not report.red_flags:
        lines.append("Nessun segnale di allarme trovato.")
    for flag in report.red_flags:
        doubt = " _(sospetto da verificare)_" if flag.doubtful and "verificare" not in flag.label else ""
        lines.append(f"- **{flag.label}**{doubt}")
        if flag.evidence:
            lines.append(
                f"  - Passaggio: «{inert_markdown(flag.evidence)}»" + (f" (pag. {flag.page})" if flag.page else "")
            )
        lines.append(f"  - Fonti: {'; '.join(c.label for c in flag.citations)}")
        if flag.guidance:
            lines.append(f"  - Che cosa fare: {flag.guidance}")
    lines += ["", "_Il controllo è automatico e segnala indizi testuali: non sostituisce la verifica del funzionario._"]
    return "\n".join(lines)


def check_uploaded_call(
    path: str | Path | None, *, settings: Settings, catalog: Catalog | None = None, display_name: str | None = None
) -> CheckResult:
    """Check an uploaded call; unreadable, huge or empty files give an Italian warning."""
    if not path:
        return CheckResult("", None, "Carica un avviso in formato PDF, DOCX, TXT o MD.")
    try:
        report = check_call(
            Path(path),
            _catalog(catalog, settings),
            load_requirements(settings.corpus_dir),
            max_upload_mb=settings.max_upload_mb,
            display_name=display_name or Path(path).name,
        )
    except (CallCheckError, RequirementsError) as exc:
        return CheckResult("", None, str(exc))
    except Exception as exc:  # one log line for operators, a plain message for the user
        log.error("call check failed for %s: %s: %s", Path(path).name, type(exc).__name__, exc)
        return CheckResult("", None, GENERIC_ERROR)
    return CheckResult(report_markdown(report), report.to_json(), None)
