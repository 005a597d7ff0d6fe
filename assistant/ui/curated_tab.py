"""The "Risposte curate" tab: search, edit, approve, archive, restore, export; the negative-feedback queue.

Layout and event wiring only; the work is done by the plain functions of ui/curated_handlers.py and the two
below. The tab holds a session token (`assistant.auth.Sessions`), never a user name: every write goes through
`curated_handlers.as_trainer`, every read is filtered server-side for whoever is behind the token, so a visitor
sees approved answers only, never drafts, archived answers or the feedback queue.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from ..auth import Sessions, require_trainer
from ..curated.record import MILAN_THREADS
from ..models import CURATED_AUDIENCES, CURATED_STATUSES
from . import curated_handlers as ch
from .services import Services

FORM_FIELDS = ("question", "answer", "phrasings", "citations", "glossary_terms", "tags", "audience", "id")


def feedback_rows(services: Services, viewer: str | None) -> list[list[Any]]:
    """The negative-feedback queue, for a trainer only: users' questions and comments are not for visitors."""
    if services.feedback is None or services.desk is None or not ch.may_see_all(services.desk, viewer):
        return []
    return [
        [f.id, f.created_at.strftime("%d-%m-%Y %H:%M"), f.audience, f.question, f.comment]
        for f in services.feedback.negative_queue()
    ]


def draft_from_feedback(services: Services, user: str | None, feedback_id: Any) -> ch.Outcome:
    """One click: a negative feedback item becomes a curated-answer draft (question, answer, citations)."""
    if services.desk is None or services.feedback is None:
        return ch.Outcome(False, "Le risposte curate non sono disponibili.")
    try:
        require_trainer(user, services.desk.trainers)  # refused before reading any feedback
    except PermissionError as exc:
        return ch.Outcome(False, str(exc))
    try:
        item = services.feedback.get(int(feedback_id))
    except (TypeError, ValueError):
        item = None
    if item is None:
        return ch.Outcome(False, "Scegli una segnalazione dall'elenco (numero).")
    citations = "\n".join(item_ref(c) for c in item.citations if c.get("doc_id"))
    form = ch.CuratedForm(
        question=item.question,
        answer=item.answer,
        citations=citations,
        audience=item.audience if item.audience in CURATED_AUDIENCES else "entrambi",
    )
    outcome = ch.create(services.desk, user, form)
    if outcome.ok:
        services.feedback.mark_handled(item.id)
    return outcome


def item_ref(citation: dict[str, Any]) -> str:
    from ..references import Ref

    return Ref(
        str(citation["doc_id"]),
        citation.get("article"),
        citation.get("comma"),
        None if citation.get("article") else citation.get("section"),
    ).key


def build_curated_tab(services: Services, sessions: Sessions, user: gr.State) -> Any:
    """Build the tab inside the current Blocks; returns a function that wires the chat's save button.

    `user` is the State holding the session token of this browser tab (None when nobody is logged in).
    """
    with gr.Tab("Risposte curate", id="curate"):
        if services.desk is None:
            gr.Markdown("Le risposte curate non sono disponibili: il database non è raggiungibile.")
            return None
        gr.Markdown(
            "Le risposte curate sono scritte e approvate dai formatori e vengono servite per prime in chat. "
            "Tutti possono consultare ed esportare quelle approvate; bozze, risposte archiviate e segnalazioni "
            "sono visibili solo ai formatori, e per modificarle serve l'accesso formatori."
        )
        with gr.Row():
            query = gr.Textbox(label="Cerca nelle risposte curate", elem_id="lc-cur-query", scale=3)
            status = gr.Dropdown(
                choices=[("tutti", "")] + [(s, s) for s in CURATED_STATUSES],
                value="",
                label="Stato",
                elem_id="lc-cur-status",
            )
            tag = gr.Dropdown(
                choices=[""] + list(MILAN_THREADS),
                value="",
                allow_custom_value=True,
                label="Tema",
                elem_id="lc-cur-tag",
            )
            search_button = gr.Button("Cerca", elem_id="lc-cur-search")
        results = gr.Dataframe(
            headers=["id", "domanda", "stato", "pubblico", "temi", "autore", "ultima modifica", "revisione"],
            value=ch.search(services.desk),
            interactive=False,
            label="Risposte curate",
            elem_id="lc-cur-results",
        )
        with gr.Row():
            pick = gr.Textbox(label="Identificativo della risposta", elem_id="lc-cur-id", scale=3)
            open_button = gr.Button("Apri", elem_id="lc-cur-open")
        revision = gr.State(0)
        question = gr.Textbox(label="Domanda", elem_id="lc-cur-question")
        answer = gr.Textbox(label="Risposta (Markdown)", lines=8, elem_id="lc-cur-answer")
        phrasings = gr.Textbox(
            label="Altre formulazioni della domanda (una per riga)", lines=3, elem_id="lc-cur-phrasings"
        )
        citations = gr.Textbox(
            label="Citazioni (una per riga, es. dlgs-117-2017-codice-terzo-settore?article=55&comma=3)",
            lines=3,
            elem_id="lc-cur-citations",
        )
        with gr.Row():
            terms = gr.Textbox(label="Termini del glossario (id separati da virgole)", elem_id="lc-cur-terms")
            tags = gr.Textbox(label="Temi (separati da virgole)", elem_id="lc-cur-tags")
            audience = gr.Dropdown(
                choices=list(CURATED_AUDIENCES), value="entrambi", label="Pubblico", elem_id="lc-cur-audience"
            )
        status_line = gr.Markdown("", elem_id="lc-cur-message")
        with gr.Row():
            create_button = gr.Button("Crea bozza", elem_id="lc-cur-create")
            save_button = gr.Button("Salva modifiche", elem_id="lc-cur-save")
            approve_button = gr.Button("Approva", variant="primary", elem_id="lc-cur-approve")
            archive_button = gr.Button("Archivia", variant="stop", elem_id="lc-cur-archive")
        with gr.Accordion("Cronologia delle revisioni", open=False):
            history = gr.Dataframe(
                headers=["revisione", "data", "chi", "modifica"], interactive=False, elem_id="lc-cur-history"
            )
            with gr.Row():
                restore_number = gr.Number(label="Revisione da ripristinare", precision=0, elem_id="lc-cur-rev")
                restore_button = gr.Button("Ripristina revisione", elem_id="lc-cur-restore")
        with gr.Accordion("Esporta per un corso", open=False):
            with gr.Row():
                export_format = gr.Radio(
                    choices=[("DOCX (dispensa)", "docx"), ("Markdown", "md"), ("JSON (trasferimento)", "json")],
                    value="docx",
                    label="Formato",
                    elem_id="lc-cur-export-format",
                )
                export_tag = gr.Dropdown(
                    choices=[""] + list(MILAN_THREADS),
                    value="",
                    allow_custom_value=True,
                    label="Tema",
                    elem_id="lc-cur-export-tag",
                )
                export_audience = gr.Dropdown(
                    choices=[""] + list(CURATED_AUDIENCES), value="", label="Pubblico", elem_id="lc-cur-export-audience"
                )
            export_button = gr.Button("Esporta", elem_id="lc-cur-export")
            export_file = gr.File(label="File esportato", interactive=False, elem_id="lc-cur-export-file")
        with gr.Accordion("Segnalazioni negative dalla chat (formatori)", open=False):
            queue = gr.Dataframe(
                headers=["n.", "data", "pubblico", "domanda", "commento"], interactive=False, elem_id="lc-cur-queue"
            )
            with gr.Row():
                refresh_queue = gr.Button("Aggiorna elenco", elem_id="lc-cur-queue-refresh")
                feedback_pick = gr.Number(label="Segnalazione n.", precision=0, elem_id="lc-cur-queue-id")
                to_draft = gr.Button("Crea bozza dalla segnalazione", elem_id="lc-cur-queue-draft")

    form_components = [question, answer, phrasings, citations, terms, tags, audience, pick]
    desk = services.desk

    def form_values(outcome: ch.Outcome) -> list[Any]:
        form = outcome.form or ch.CuratedForm()
        return [getattr(form, name) for name in FORM_FIELDS]

    def notify(outcome: ch.Outcome) -> str:
        (gr.Info if outcome.ok else gr.Warning)(outcome.message)
        return outcome.message

    def table(token: str | None, query_text: str, status_value: str, tag_value: str) -> list[list[str]]:
        viewer = sessions.trainer(token)
        if status_value and status_value != "approvata" and viewer is None:
            gr.Warning(f"Solo risposte approvate: {ch.HIDDEN}")
        return ch.search(desk, query_text, status_value or None, tag_value or None, viewer=viewer)

    def current(token: str | None, answer_id: str) -> tuple[Any, ...]:
        viewer = sessions.trainer(token)
        outcome = ch.open_answer(desk, answer_id.strip(), viewer)
        rows = ch.history(desk, answer_id.strip(), viewer) if outcome.ok else []
        base = outcome.answer.revision if outcome.answer else 0
        return (*form_values(outcome), base, rows, outcome.message if not outcome.ok else "")

    def after_write(token: str | None, outcome: ch.Outcome, *filter_values: str) -> tuple[Any, ...]:
        message = notify(outcome)
        rows = table(token, *filter_values)
        if outcome.ok and outcome.answer is not None:
            values = current(token, outcome.answer.id)
            return (*values[:-1], message, rows)
        return (*[gr.update()] * len(form_components), gr.update(), gr.update(), message, rows)

    def write(token: str | None, action: Any, *filter_values: str) -> tuple[Any, ...]:
        """A write as the trainer of `token` (refused for a missing, ended or expired session)."""
        return after_write(token, ch.as_trainer(sessions, token, action), *filter_values)

    write_outputs = [*form_components, revision, history, status_line, results]
    filters = [query, status, tag]

    def form_from(*values: Any) -> ch.CuratedForm:
        return ch.CuratedForm(**dict(zip(FORM_FIELDS, values, strict=True)))

    search_button.click(table, [user, *filters], results, api_visibility="private")
    open_button.click(
        current, [user, pick], [*form_components, revision, history, status_line], api_visibility="private"
    )
    create_button.click(
        lambda token, *v: write(token, lambda who: ch.create(desk, who, form_from(*v[:8])), *v[8:]),
        [user, *form_components, *filters],
        write_outputs,
        api_visibility="private",
    )
    save_button.click(
        lambda token, base, *v: write(
            token, lambda who: ch.edit(desk, who, v[7].strip(), int(base or 0), form_from(*v[:8])), *v[8:]
        ),
        [user, revision, *form_components, *filters],
        write_outputs,
        api_visibility="private",
    )
    approve_button.click(
        lambda token, base, ident, *f: write(
            token, lambda who: ch.approve(desk, who, ident.strip(), int(base or 0)), *f
        ),
        [user, revision, pick, *filters],
        write_outputs,
        api_visibility="private",
    )
    archive_button.click(
        lambda token, base, ident, *f: write(
            token, lambda who: ch.archive(desk, who, ident.strip(), int(base or 0)), *f
        ),
        [user, revision, pick, *filters],
        write_outputs,
        api_visibility="private",
    )
    restore_button.click(
        lambda token, base, ident, number, *f: write(
            token, lambda who: ch.restore(desk, who, ident.strip(), int(number or 0), int(base or 0)), *f
        ),
        [user, revision, pick, restore_number, *filters],
        write_outputs,
        api_visibility="private",
    )

    def on_export(token: str | None, fmt: str, tag_value: str, audience_value: str) -> Any:
        outcome = ch.export(
            desk,
            fmt,
            Path(tempfile.mkdtemp(prefix="lc-curate-")),
            tag_value or None,
            audience_value or None,
            viewer=sessions.trainer(token),
        )
        notify(outcome)
        return str(outcome.path) if outcome.path else None

    export_button.click(
        on_export, [user, export_format, export_tag, export_audience], export_file, api_visibility="private"
    )

    def on_queue(token: str | None) -> Any:
        viewer = sessions.trainer(token)
        if viewer is None:
            gr.Warning("Solo i formatori vedono le segnalazioni: accedi con le tue credenziali.")
            return []
        return feedback_rows(services, viewer)

    refresh_queue.click(on_queue, user, queue, api_visibility="private")
    to_draft.click(
        lambda token, fid, *f: write(token, lambda who: draft_from_feedback(services, who, fid), *f),
        [user, feedback_pick, *filters],
        write_outputs,
        api_visibility="private",
    )

    def on_session(token: str | None, *filter_values: str) -> tuple[Any, ...]:
        """Login or logout: the table shows what the new viewer may see; a visitor's form and queue are emptied."""
        rows = ch.search(
            desk, filter_values[0], filter_values[1] or None, filter_values[2] or None, viewer=sessions.trainer(token)
        )
        if sessions.trainer(token) is not None:
            return (rows, gr.update(), *[gr.update()] * len(form_components), gr.update(), gr.update())
        return (rows, [], *form_values(ch.Outcome(False, "")), 0, [])

    user.change(
        on_session,
        [user, *filters],
        [results, queue, *form_components, revision, history],
        api_visibility="private",
    )

    def wire_chat(answers: gr.State, audience_radio: gr.Radio, save_button_chat: gr.Button) -> None:
        """The chat's "Salva come risposta curata": a draft pre-filled from the last answer."""

        def on_save(token: str | None, past: list[Any], who_audience: str, *f: Any) -> tuple[Any, ...]:
            if not past:
                return after_write(token, ch.Outcome(False, "Non c'è ancora una risposta da salvare."), *f)
            return write(token, lambda who: ch.save_chat_answer(desk, who, past[-1], "entrambi"), *f)

        save_button_chat.click(
            on_save, [user, answers, audience_radio, *filters], write_outputs, api_visibility="private"
        )

    return wire_chat
