"""Gradio entry point: `build_app(settings)` builds the UI; launching happens only under __main__.

Tabs by task: Chiedi, Glossario, Risposte curate, Redazione avviso, Verifica avviso, Documenti, Informazioni.
Every handler is a plain function in assistant/ui/ (tested without a browser); this file only wires them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from assistant.answer import Assistant
from assistant.auth import Sessions
from assistant.config import Settings, load_settings
from assistant.errors import UserError
from assistant.models import AUDIENCE_LABELS, AUDIENCES, SUPPORTED_SUFFIXES
from assistant.prompts import text
from assistant.ui import auth_handlers as auth_ui
from assistant.ui import chat as chat_ui
from assistant.ui import library
from assistant.ui.curated_tab import build_curated_tab
from assistant.ui.drafting_tab import build_drafting_tabs
from assistant.ui.info import about_markdown
from assistant.ui.services import Services

log = logging.getLogger("assistant.app")

TITLE = "Lingua Comune - assistente per l'amministrazione condivisa"
EXAMPLES = [
    "Che cos'è la co-programmazione?",
    "Come partecipo a una co-progettazione con il Comune?",
    "Cosa devo predeterminare nell'avviso prima dell'istruttoria?",
    "Una convenzione con una ODV può prevedere un compenso?",
]
KINDS = [
    ("Materiale formativo", "formazione"),
    ("Norma", "norma"),
    ("Linee guida", "linee_guida"),
    ("Giurisprudenza", "giurisprudenza"),
    ("Prassi", "prassi"),
    ("Avviso (atto locale)", "avviso"),
]
CSS = """
.lc-source { border-left: 4px solid #1f4e79; padding: 0.4em 0.8em; margin-bottom: 0.8em; }
.lc-source mark { background: #fff3b0; color: #1a1a1a; }
.lc-meta { font-size: 0.92em; color: #333333; }
.lc-caveat { font-size: 0.92em; color: #7a2e00; }
.lc-kind { font-weight: 600; }
.lc-terms details, .lc-term details { margin: 0.3em 0; }
a:focus, button:focus, input:focus, textarea:focus, [tabindex]:focus { outline: 3px solid #1f4e79; outline-offset: 2px; }
"""
# Italian page; in the question box Enter sends and Shift+Enter starts a new line (Gradio's multi-line textbox
# does the opposite).
HEAD = """<script>
document.documentElement.lang = 'it';
document.addEventListener('keydown', function (event) {
  const box = event.target.closest && event.target.closest('#lc-question');
  if (!box || event.key !== 'Enter' || event.isComposing) return;
  event.stopPropagation();  // Gradio's own multi-line textbox would submit on Shift+Enter
  if (event.shiftKey) return;  // the browser inserts the new line
  event.preventDefault();
  const send = document.querySelector('#lc-send');
  if (send) send.click();
}, true);
document.addEventListener('keypress', function (event) {
  const box = event.target.closest && event.target.closest('#lc-question');
  if (box && event.key === 'Enter') event.stopPropagation();
}, true);
</script>"""


def theme() -> gr.themes.Base:
    """Default theme with dark blue primary buttons: white text on them meets WCAG 2.1 AA contrast (6.7:1)."""
    return gr.themes.Default(primary_hue="blue").set(
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_text_color="white",
        checkbox_label_background_fill_selected="*primary_50",
    )


def banner(services: Services) -> str:
    """The disclosure above the chat: who writes the answers (AI Act art. 50)."""
    writer = services.writer
    if writer is None or writer.name == "extractive":
        return text("banner", notice=text("notice"))
    return text("banner_llm", model=getattr(writer, "model_label", writer.name), notice=text("notice"))


def build_app(settings: Settings, assistant: Assistant | None = None) -> gr.Blocks:
    """The whole UI, without launching it."""
    services = Services.start(settings, assistant)
    sessions = Sessions.from_settings(settings)  # trainer sessions, server-side, shared by every browser tab

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        answers = gr.State([])
        user = gr.State(None)  # this tab's session token (sessions.trainer(token) says who), never a user name
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(banner(services), elem_id="lc-notice")
        with gr.Row():
            audience = gr.Radio(
                choices=[(AUDIENCE_LABELS[a], a) for a in AUDIENCES],
                value="operatore",
                label="Chi sei? (le risposte si adattano)",
                elem_id="lc-audience",
                scale=3,
            )
            with gr.Accordion("Accesso formatori", open=False, elem_id="lc-login"):
                login_user = gr.Textbox(label="Utente", elem_id="lc-login-user")
                login_password = gr.Textbox(label="Password", type="password", elem_id="lc-login-password")
                with gr.Row():
                    login_button = gr.Button("Accedi", elem_id="lc-login-button")
                    logout_button = gr.Button("Esci", elem_id="lc-logout-button")
                login_status = gr.Markdown(
                    "Non hai effettuato l'accesso: puoi consultare, non modificare.", elem_id="lc-login-status"
                )
        if services.unavailable:
            gr.Markdown(f"⚠️ {services.unavailable}")

        with gr.Tabs():
            with gr.Tab("Chiedi", id="chiedi"), gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversazione",
                        height=520,
                        elem_id="lc-chat",
                        buttons=["copy", "copy_all"],
                        feedback_options=("Like", "Dislike"),
                        sanitize_html=True,  # defence in depth: document text is already escaped (text.inert_markdown)
                        latex_delimiters=[],  # no answer uses LaTeX; "$$" in a document stays text
                    )
                    question = gr.Textbox(
                        label="La tua domanda (Invio per inviare, Maiusc+Invio per andare a capo)",
                        placeholder="Scrivi qui la tua domanda…",
                        lines=2,
                        max_lines=8,
                        elem_id="lc-question",
                    )
                    with gr.Row():
                        send = gr.Button("Invia", variant="primary", elem_id="lc-send")
                        clear = gr.Button("Nuova conversazione", elem_id="lc-new")
                    suggestions = gr.Radio(
                        choices=[],
                        label="Domande simili già risposte (clicca per aprirla)",
                        elem_id="lc-suggestions",
                        visible=False,
                    )
                    gr.Examples(EXAMPLES, inputs=question, label="Domande di esempio")
                    feedback_status = gr.Markdown("", elem_id="lc-feedback-status")
                    with gr.Row():
                        comment = gr.Textbox(
                            label="Commento sulla risposta (facoltativo)", scale=4, elem_id="lc-comment"
                        )
                        comment_send = gr.Button("Invia commento", scale=1, elem_id="lc-comment-send")
                    feedback_id = gr.State(None)
                    with gr.Row():
                        export_md = gr.Button("Esporta conversazione (Markdown)", elem_id="lc-export-md")
                        export_docx = gr.Button("Esporta conversazione (DOCX)", elem_id="lc-export-docx")
                        save_curated = gr.Button("Salva come risposta curata (formatori)", elem_id="lc-save-curated")
                    export_file = gr.File(label="File esportato", interactive=False, elem_id="lc-export-file")
                with gr.Column(scale=2):
                    gr.Markdown("### Fonti citate")
                    source_pick = gr.Radio(choices=[], label="Apri una fonte citata", elem_id="lc-source-pick")
                    source_panel = gr.HTML(chat_ui.EMPTY_SOURCES, elem_id="lc-sources")
                    terms_panel = gr.HTML("", elem_id="lc-answer-terms")

            with gr.Tab("Glossario", id="glossario"):
                glossary_query = gr.Textbox(
                    label="Cerca un termine (anche sigle e varianti: ODV, coprogettazione)", elem_id="lc-glossary-query"
                )
                glossary_pick = gr.Radio(
                    choices=_glossary_choices(services, ""), label="Termini", elem_id="lc-glossary-list"
                )
                glossary_view = gr.HTML("", elem_id="lc-glossary-entry")

            wire_save_button = build_curated_tab(services, sessions, user)
            build_drafting_tabs(services)

            with gr.Tab("Documenti", id="documenti"):
                documents = gr.Dataframe(
                    value=library.documents_table(services),
                    headers=["Titolo", "Tipo", "Versione", "Passaggi", "Origine", "Identificativo"],
                    label="Documenti indicizzati",
                    interactive=False,
                    wrap=True,
                    elem_id="lc-documents",
                )
                with gr.Row():
                    upload = gr.File(
                        label=f"Carica documenti (PDF, DOCX, TXT, MD; massimo {settings.max_upload_mb} MB ciascuno)",
                        file_count="multiple",
                        file_types=list(SUPPORTED_SUFFIXES),
                        elem_id="lc-upload",
                    )
                    upload_kind = gr.Dropdown(
                        choices=KINDS, value="formazione", label="Tipo dei documenti caricati", elem_id="lc-upload-kind"
                    )
                upload_replace = gr.Checkbox(
                    label="Sostituisci i documenti già caricati con lo stesso nome",
                    value=False,
                    elem_id="lc-upload-replace",
                )
                upload_button = gr.Button(
                    "Carica e indicizza (solo formatori)", variant="primary", elem_id="lc-upload-button"
                )
                upload_status = gr.Markdown("", elem_id="lc-upload-status")
                upload_job = gr.State(None)
                upload_timer = gr.Timer(1.0, active=False)
                upload_result = gr.Dataframe(
                    headers=["File", "Esito", "Motivo"],
                    label="Esito del caricamento",
                    interactive=False,
                    elem_id="lc-upload-result",
                )
                with gr.Row():
                    remove_id = gr.Textbox(
                        label="Identificativo del documento caricato da rimuovere (solo formatori)",
                        elem_id="lc-remove-id",
                    )
                    remove_button = gr.Button("Rimuovi documento", variant="stop", elem_id="lc-remove-button")
                remove_status = gr.Markdown("")

            with gr.Tab("Informazioni", id="informazioni"):
                gr.Markdown(about_markdown(services), elem_id="lc-about")

        # --- events -----------------------------------------------------------------------------------
        def on_submit(
            message: str, history: list[dict[str, Any]], past: list[Any], who: str
        ) -> Iterator[tuple[Any, ...]]:
            for turn in chat_ui.ask_stream(services, message, history, past, who):
                if turn.partial:  # a model's checked sentences as they come; the rest waits for the answer
                    skip = gr.skip()
                    yield (turn.history, skip, skip, skip, skip, "", skip)
                    continue
                if turn.warning:
                    gr.Warning(turn.warning)
                yield on_turn(turn, message)

        def on_turn(turn: chat_ui.Turn, message: str) -> tuple[Any, ...]:
            return (
                turn.history,
                turn.answers,
                gr.update(
                    choices=turn.source_choices, value=turn.source_choices[0][1] if turn.source_choices else None
                ),
                turn.source_html,
                turn.terms_html,
                message if turn.warning else "",
                gr.update(choices=turn.suggestions, value=None, visible=bool(turn.suggestions)),
            )

        chat_outputs = [chatbot, answers, source_pick, source_panel, terms_panel, question, suggestions]
        send.click(on_submit, [question, chatbot, answers, audience], chat_outputs, api_name="ask")

        def on_suggestion(
            picked: str | None, history: list[dict[str, Any]], past: list[Any], who: str
        ) -> Iterator[tuple[Any, ...]]:
            if picked:
                yield from on_submit(picked, history, past, who)
            else:
                yield tuple(gr.skip() for _ in chat_outputs)

        suggestions.select(
            on_suggestion,
            [suggestions, chatbot, answers, audience],
            chat_outputs,
            api_visibility="private",
        )
        clear.click(
            lambda: (
                [],
                [],
                gr.update(choices=[], value=None),
                chat_ui.EMPTY_SOURCES,
                "",
                "",
                gr.update(choices=[], value=None, visible=False),
            ),
            None,
            chat_outputs,
            api_visibility="private",
        )
        source_pick.change(
            lambda past, n: chat_ui.show_source(services, past[-1] if past else None, n),
            [answers, source_pick],
            source_panel,
            api_visibility="private",
        )

        def on_like(past: list[Any], who: str, data: gr.LikeData) -> tuple[Any, str]:
            index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            new_id, message = chat_ui.record_feedback(services, past, int(index), data.liked, who)
            return new_id, message

        chatbot.like(on_like, [answers, audience], [feedback_id, feedback_status], api_visibility="private")
        comment_send.click(
            lambda fid, comment: chat_ui.add_comment(services, fid, comment),
            [feedback_id, comment],
            feedback_status,
            api_visibility="private",
        )
        export_md.click(lambda h: library.export_conversation(h, "md"), chatbot, export_file, api_visibility="private")
        export_docx.click(
            lambda h: library.export_conversation(h, "docx"), chatbot, export_file, api_visibility="private"
        )

        glossary_query.change(
            lambda q: gr.update(choices=_glossary_choices(services, q), value=None),
            glossary_query,
            glossary_pick,
            api_visibility="private",
        )
        glossary_pick.change(
            lambda term_id: _glossary_view(services, term_id), glossary_pick, glossary_view, api_visibility="private"
        )

        def on_upload(paths: list[str] | None, kind: str, replace: bool, token: str | None) -> tuple[Any, ...]:
            """Queue the files (trainers only, checked here on the server); the timer shows the progress."""
            job_id, message = library.submit_upload(
                services, sessions.trainer(token), [str(p) for p in paths or []], kind, replace
            )
            if job_id is None:
                return message, None, gr.Timer(active=False), gr.update(), gr.update()
            return message, job_id, gr.Timer(active=True), [], None  # the picker is emptied for the next files

        upload_button.click(
            on_upload,
            [upload, upload_kind, upload_replace, user],
            [upload_status, upload_job, upload_timer, upload_result, upload],
            api_visibility="private",
        )

        def on_upload_tick(job_id: str | None) -> tuple[Any, ...]:
            rows, message, done = library.upload_status(services, job_id)
            if not done:
                return rows, message, gr.update(), gr.Timer(active=True)
            return rows, message, library.documents_table(services), gr.Timer(active=False)

        upload_timer.tick(
            on_upload_tick,
            [upload_job],
            [upload_result, upload_status, documents, upload_timer],
            api_visibility="private",
        )

        def on_remove(doc_id: str, token: str | None) -> tuple[str, Any]:
            message = library.remove_upload(services, sessions.trainer(token), doc_id.strip())
            return message, library.documents_table(services)

        remove_button.click(on_remove, [remove_id, user], [remove_status, documents], api_visibility="private")

        def on_login(name: str, password: str, token: str | None, request: gr.Request) -> tuple[Any, str, str]:
            result = auth_ui.login(
                sessions, name, password, auth_ui.client_address(request, settings.trusted_proxies), token
            )
            if result.user is None:
                gr.Warning(result.message)
            return result.token, result.message, ""

        login_button.click(
            on_login,
            [login_user, login_password, user],
            [user, login_status, login_password],
            api_visibility="private",
        )

        def on_logout(token: str | None) -> tuple[Any, str]:
            result = auth_ui.logout(sessions, token)
            return result.token, result.message

        logout_button.click(on_logout, user, [user, login_status], api_visibility="private")
        if wire_save_button is not None:
            wire_save_button(answers, audience, save_curated)
    app.lc_services = services  # type: ignore[attr-defined]  # for /health (main)
    return app


def _glossary_choices(services: Services, query: str) -> list[tuple[str, str]]:
    if services.assistant is None:
        return []
    return [(e.term, e.id) for e in library.glossary_search(services.assistant.glossary, query)]


def _glossary_view(services: Services, term_id: str | None) -> str:
    if not term_id or services.assistant is None or term_id not in services.assistant.glossary.entries:
        return ""
    return library.glossary_entry_html(services, services.assistant.glossary.entries[term_id])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        app = build_app(settings)
    except UserError as exc:  # invalid settings, a writer without its packages: one Italian line, no traceback
        print(f"Errore: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    app.queue(default_concurrency_limit=4).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        css=CSS,
        head=HEAD,
        theme=theme(),
        max_file_size=f"{settings.max_upload_mb}mb",
        prevent_thread_lock=True,
    )
    add_health_route(app)
    app.block_thread()


def add_health_route(app: gr.Blocks) -> None:
    """GET /health: 200 with this instance's index generation (local, and shared when the store is a server),
    503 while it has no index. For load balancers and `deploy/compose.yaml`'s health checks."""
    from fastapi.responses import JSONResponse

    services: Services = app.lc_services  # type: ignore[attr-defined]

    def health() -> JSONResponse:
        status, body = services.health()
        return JSONResponse(body, status_code=status)

    app.app.add_api_route("/health", health, methods=["GET"])


if __name__ == "__main__":
    main()
