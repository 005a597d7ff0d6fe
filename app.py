"""Gradio entry point: `build_app(settings)` builds the UI; launching happens only under __main__."""

from __future__ import annotations

import logging
import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from assistant.answer import Assistant  # noqa: E402
from assistant.config import Settings, load_settings  # noqa: E402
from assistant.store import StoreError  # noqa: E402
from assistant.ui import handlers  # noqa: E402

log = logging.getLogger("assistant.app")

TITLE = "Lingua Comune - assistente per l'amministrazione condivisa"
NOTICE = (
    "**Sistema automatico, non consulenza legale.** Le risposte sono composte da un programma che cita "
    "alla lettera i documenti indicizzati (norme, linee guida, sentenze, prassi, avvisi). Verifica sempre il "
    "testo vigente e, nei casi dubbi, chiedi a un esperto."
)
EXAMPLES = [
    "Che cos'è la co-programmazione?",
    "Come partecipo a una co-progettazione con il Comune?",
    "Cosa devo predeterminare nell'avviso prima dell'istruttoria?",
    "Una convenzione con una ODV può prevedere un compenso?",
]
CSS = """
.lc-source { border-left: 4px solid #1f4e79; padding: 0.4em 0.8em; margin-bottom: 0.8em; }
.lc-source mark { background: #fff3b0; color: #1a1a1a; }
.lc-meta { font-size: 0.9em; color: #333; }
.lc-caveat { font-size: 0.9em; color: #7a2e00; }
.lc-kind { font-weight: 600; }
"""
HEAD = "<script>document.documentElement.lang = 'it';</script>"


def load_assistant(settings: Settings) -> tuple[Assistant | None, str]:
    """The assistant, or None with the Italian reason (the app still starts and says what to do)."""
    try:
        return Assistant.load(settings), ""
    except StoreError as exc:
        log.error("index unavailable: %s", exc)
        return None, str(exc)


def build_app(settings: Settings, assistant: Assistant | None = None) -> gr.Blocks:
    """The whole UI, without launching it."""
    unavailable = ""
    if assistant is None:
        assistant, unavailable = load_assistant(settings)

    def on_submit(message: str, history: list[dict[str, Any]], audience: str) -> tuple[Any, ...]:
        result = handlers.chat(assistant, message, history, audience, unavailable)
        if result.warning:
            gr.Warning(result.warning)
            return result.history, result.sources_html, message
        return result.history, result.sources_html, ""

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(NOTICE, elem_id="lc-notice")
        audience = gr.Radio(
            choices=[("Funzionario pubblico", "funzionario"), ("Operatore del Terzo settore", "operatore")],
            value="operatore", label="Chi sei?", elem_id="lc-audience",
        )
        with gr.Tab("Chiedi", id="chiedi"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Conversazione", height=520, elem_id="lc-chat")
                    question = gr.Textbox(label="La tua domanda", placeholder="Scrivi qui la tua domanda…",
                                          lines=2, max_lines=8, elem_id="lc-question")
                    with gr.Row():
                        send = gr.Button("Invia", variant="primary", elem_id="lc-send")
                        clear = gr.Button("Nuova conversazione", elem_id="lc-new")
                    gr.Examples(EXAMPLES, inputs=question, label="Domande di esempio")
                with gr.Column(scale=2):
                    gr.Markdown("### Fonti citate")
                    sources = gr.HTML(handlers.sources_panel_empty(), elem_id="lc-sources")
        if unavailable:
            gr.Markdown(f"⚠️ {unavailable}")
        outputs = [chatbot, sources, question]
        send.click(on_submit, [question, chatbot, audience], outputs, api_name="ask")
        question.submit(on_submit, [question, chatbot, audience], outputs, api_name=False)
        clear.click(lambda: ([], handlers.sources_panel_empty(), ""), None, outputs, api_name=False)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    app = build_app(settings)
    app.queue(default_concurrency_limit=4).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        css=CSS, head=HEAD, max_file_size=f"{settings.max_upload_mb}mb",
    )


if __name__ == "__main__":
    main()
