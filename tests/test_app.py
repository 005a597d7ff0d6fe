"""The Gradio app builds without launching; its chat handler is a plain function."""

from __future__ import annotations

import gradio as gr

import app
from assistant.ui import handlers


def test_build_app_without_launch(mini_index, mini_assistant) -> None:  # type: ignore[no-untyped-def]
    blocks = app.build_app(mini_index, mini_assistant)
    assert isinstance(blocks, gr.Blocks)
    assert "Lingua Comune" in blocks.title


def test_chat_handler_answers_with_sources_panel(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    result = handlers.chat(mini_assistant, "Che cos'è la co-programmazione?", [], "operatore")
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
