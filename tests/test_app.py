"""The Gradio app builds without launching; every handler is a plain function tested here."""

from __future__ import annotations

from pathlib import Path

import docx
import gradio as gr

import app
from assistant.ui import chat as chat_ui
from assistant.ui import handlers, library
from assistant.ui.info import about_markdown
from assistant.ui.services import Services


def test_build_app_without_launch(mini_index, mini_assistant) -> None:  # type: ignore[no-untyped-def]
    blocks = app.build_app(mini_index, mini_assistant)
    assert isinstance(blocks, gr.Blocks)
    assert "Lingua Comune" in blocks.title


def test_chat_handler_answers_with_sources_panel(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    result = handlers.chat(mini_assistant, "Qual è la finalità della co-programmazione?", [], "operatore")
    assert result.warning is None
    assert [m["role"] for m in result.history] == ["user", "assistant"]
    assert "[1]" in result.history[1]["content"]
    # The panel shows the whole article with the cited comma marked, its kind, version and identifier.
    assert "<mark id='lc-cited-1'>2. La co-programmazione" in result.sources_html
    assert "4. Ai fini di cui al comma 3" in result.sources_html
    assert "Norma" in result.sources_html and "testo vigente al 4-2-2023" in result.sources_html
    assert "urn:nir:stato:decreto.legislativo:2017-07-03;117" in result.sources_html


def test_chat_handler_turns_errors_into_italian_warnings(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    result = handlers.chat(mini_assistant, "", [], "operatore")
    assert result.warning == "Scrivi una domanda: il campo è vuoto." and result.history == []
    result = handlers.chat(None, "ciao", [], "operatore", unavailable="L'indice non esiste ancora.")
    assert result.warning == "L'indice non esiste ancora."


def services_for(settings, assistant) -> Services:  # type: ignore[no-untyped-def]
    return Services.start(settings, assistant)


def test_turn_offers_each_citation_and_glossary_terms(mini_index, mini_assistant) -> None:  # type: ignore[no-untyped-def]
    services = services_for(mini_index, mini_assistant)
    turn = chat_ui.ask(services, "Che cos'è la co-progettazione?", [], [], "funzionario")
    assert turn.warning is None and len(turn.answers) == 1
    labels = [label for label, _ in turn.source_choices]
    assert labels[0].startswith("[1] art. 55, comma 3, D.Lgs. 117/2017")
    second = chat_ui.show_source(services, turn.answers[-1], 2)
    assert "<mark id='lc-cited-2'>" in second
    assert "<summary>co-progettazione</summary>" in turn.terms_html


def test_the_session_keeps_one_answer_per_message_of_the_conversation(mini_index, mini_assistant) -> None:  # type: ignore[no-untyped-def]
    """A client that starts over (or sends no history, as an API caller) leaves no old answers in the session."""
    services = services_for(mini_index, mini_assistant)
    first = chat_ui.ask(services, "Che cos'è la co-progettazione?", [], [], "funzionario")
    second = chat_ui.ask(services, "E la co-programmazione?", first.history, first.answers, "funzionario")
    assert len(second.answers) == 2 and second.answers[0] is first.answers[0]
    feedback_id, _ = chat_ui.record_feedback(services, second.answers, 3, True, "funzionario")
    assert services.feedback.get(feedback_id).question == "E la co-programmazione?"
    again = chat_ui.ask(services, "Chi è il volontario?", [], second.answers * 50, "operatore")
    assert [a.query for a in again.answers] == ["Chi è il volontario?"]


def test_feedback_is_stored_with_question_answer_and_citations(mini_index, mini_assistant) -> None:  # type: ignore[no-untyped-def]
    services = services_for(mini_index, mini_assistant)
    turn = chat_ui.ask(services, "Le convenzioni con le ODV possono prevedere compensi?", [], [], "operatore")
    feedback_id, message = chat_ui.record_feedback(services, turn.answers, 1, False, "operatore")
    assert message.startswith("Grazie: giudizio negativo registrato.")
    assert (
        chat_ui.add_comment(services, feedback_id, "Manca il riferimento al comma 2") == "Commento registrato: grazie."
    )
    stored = services.feedback.get(feedback_id)
    assert stored.question == turn.answers[0].query and not stored.positive
    assert stored.comment == "Manca il riferimento al comma 2" and stored.citations
    assert feedback_id in [f.id for f in services.feedback.negative_queue()]


def test_glossary_search_and_entry(mini_index, mini_assistant) -> None:  # type: ignore[no-untyped-def]
    services = services_for(mini_index, mini_assistant)
    found = library.glossary_search(mini_assistant.glossary, "odv")
    assert found[0].id == "organizzazione-di-volontariato"
    view = library.glossary_entry_html(services, found[0])
    assert "Per i funzionari:" in view and "Per gli operatori:" in view
    assert "art. 32, comma 1, D.Lgs. 117/2017" in view  # legal basis linked to the article text


def test_information_lists_sources_and_versions(mini_index, mini_assistant) -> None:  # type: ignore[no-untyped-def]
    text = about_markdown(services_for(mini_index, mini_assistant))
    assert "Non è una consulenza legale" in text and "art. 50" in text
    assert "testo vigente al 4-2-2023" in text


def test_conversation_export(tmp_path: Path) -> None:
    history = [
        {"role": "user", "content": "Che cos'è la co-programmazione?"},
        {"role": "assistant", "content": "**co-programmazione** - definizione\n\nTesto [1]"},
    ]
    md = Path(library.export_conversation(history, "md"))
    assert "## Domanda" in md.read_text(encoding="utf-8")
    document = docx.Document(library.export_conversation(history, "docx"))
    assert "Che cos'è la co-programmazione?" in [p.text for p in document.paragraphs]
    assert library.export_conversation([], "md") is None


def test_readme_settings_table_is_current() -> None:
    from assistant.settings_doc import settings_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "run: python -m assistant.settings_doc --write-readme"
    assert "make run" in readme.split("\n\n")[2] and "make test" in readme.split("\n\n")[2]
