"""The "Redazione avviso" and "Verifica avviso" tabs: layout and wiring over ui/drafting_handlers.py."""

from __future__ import annotations

from typing import Any

import gradio as gr

from . import drafting_handlers as dh
from .services import Services

FIELDS = [
    ("authority", "Amministrazione procedente", 1),
    ("subject", "Oggetto del procedimento", 2),
    ("needs", "Bisogni da soddisfare", 3),
    ("objectives", "Obiettivi generali e specifici", 3),
    ("recipients", "Destinatari", 2),
    ("duration", "Durata del partenariato", 1),
    ("resources", "Risorse messe a disposizione (pubbliche e richieste agli enti)", 2),
    ("requirements", "Requisiti di partecipazione", 3),
    ("criteria", "Criteri e modalità di valutazione delle proposte", 3),
    ("timeline", "Tempi e fasi (pubblicazione, scadenza, tavolo, convenzione)", 2),
    ("procedure_manager", "Responsabile del procedimento", 1),
    ("planning_act", "Atto di programmazione di riferimento (es. piano di zona, esito della co-programmazione)", 1),
    ("rationale", "Motivazione della scelta della co-progettazione o della convenzione", 2),
    ("submission", "Termine e modalità di presentazione delle proposte", 1),
]


def build_drafting_tabs(services: Services) -> None:
    catalog = services.assistant.retriever.catalog if services.assistant else None
    with gr.Tab("Redazione avviso", id="redazione"):
        gr.Markdown(
            "Compila i campi che hai già deciso: la bozza contiene tutte le sezioni che la legge richiede, "
            "con indicazioni e citazioni. Quello che non indichi resta segnato **[DA COMPLETARE: ...]**: "
            "nessun numero o obbligo viene inventato."
        )
        with gr.Row():
            call_type = gr.Radio(
                choices=dh.CALL_TYPE_CHOICES,
                value=dh.CALL_TYPE_CHOICES[0],
                label="Tipo di procedimento",
                elem_id="lc-draft-type",
            )
            theme = gr.Dropdown(
                choices=dh.theme_choices(services.settings), label="Filone tematico", elem_id="lc-draft-theme"
            )
        inputs: dict[str, gr.Textbox] = {}
        for name, label, lines in FIELDS:
            inputs[name] = gr.Textbox(label=label, lines=lines, elem_id=f"lc-draft-{name}")
        draft_button = gr.Button("Prepara la bozza", variant="primary", elem_id="lc-draft-button")
        missing = gr.Markdown("", elem_id="lc-draft-missing")
        with gr.Row():
            draft_md = gr.File(label="Bozza (Markdown)", interactive=False, elem_id="lc-draft-md")
            draft_docx = gr.File(label="Bozza (DOCX)", interactive=False, elem_id="lc-draft-docx")
        preview = gr.Markdown("", elem_id="lc-draft-preview")

    with gr.Tab("Verifica avviso", id="verifica"):
        gr.Markdown(
            "Carica un avviso (PDF, DOCX, TXT o MD): per ogni elemento richiesto dalla legge il controllo "
            "dice se è presente, assente o dubbio, con il passaggio trovato e la norma che lo chiede, e "
            "segnala il linguaggio da appalto."
        )
        call_file = gr.File(
            label=f"Avviso da verificare (massimo {services.settings.max_upload_mb} MB)",
            file_types=[".pdf", ".docx", ".txt", ".md"],
            elem_id="lc-check-file",
        )
        check_button = gr.Button("Verifica", variant="primary", elem_id="lc-check-button")
        report = gr.Markdown("", elem_id="lc-check-report")

    names = [name for name, _, _ in FIELDS]

    def on_draft(kind: str, thread: str, *values: Any) -> tuple[Any, ...]:
        form = dict(zip(names, values, strict=True))
        result = dh.draft_from_form(
            form["authority"],
            kind,
            thread or "",
            form["subject"],
            form["needs"],
            form["objectives"],
            form["recipients"],
            form["duration"],
            form["resources"],
            form["requirements"],
            form["criteria"],
            form["timeline"],
            form["procedure_manager"],
            form["planning_act"],
            form["rationale"],
            form["submission"],
            catalog=catalog,
            settings=services.settings,
        )
        if result.warning:
            gr.Warning(result.warning)
        todo = ""
        if result.missing:
            todo = "**Da completare prima della pubblicazione:**\n" + "\n".join(f"- {m}" for m in result.missing)
        return result.markdown, todo, result.md_path, result.docx_path

    draft_button.click(
        on_draft,
        [call_type, theme, *inputs.values()],
        [preview, missing, draft_md, draft_docx],
        api_visibility="private",
    )

    def on_check(path: Any) -> str:
        if not path:
            gr.Warning("Scegli il file dell'avviso da verificare.")
            return ""
        result = dh.check_uploaded_call(str(path), catalog=catalog, settings=services.settings)
        if result.warning:
            gr.Warning(result.warning)
        return result.markdown

    check_button.click(on_check, call_file, report, api_visibility="private")
