"""Grounded extractive answers: quotes, numbered citations with version, refusal, bad questions."""

from __future__ import annotations

import pytest

from assistant.answer import REFUSAL, QuestionError
from assistant.citations import quoted_spans
from assistant.text import fold


def same_quotes(text: str) -> str:
    """Compare quotations regardless of the quote marks (inner «» are shown as “”)."""
    return " ".join(text.translate(str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"'})).split())


def test_answer_quotes_the_law_with_numbered_citations(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = mini_assistant.ask("Qual è la finalità della co-programmazione?", "funzionario")
    assert not answer.refused and answer.source == "extractive"
    first = answer.citations[0]
    assert (first.doc_id, first.article, first.comma) == ("dlgs-117-2017-codice-terzo-settore", "55", "2")
    assert first.label == "art. 55, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)"
    assert "[1] art. 55, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)" in answer.answer
    assert "**[1] Norma - art. 55, comma 2" in answer.answer


def test_every_quote_is_verbatim_from_a_cited_chunk(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    for question in (
        "Come vengono scelti gli enti partner della co-progettazione?",
        "Le convenzioni con le ODV possono prevedere compensi?",
        "Cosa ha deciso il Consiglio di Stato sul ricorso contro il Comune di Milano?",
    ):
        answer = mini_assistant.ask(question)
        cited = [mini_assistant.retriever.catalog.by_id[c.chunk_id].text for c in answer.citations]
        for span in quoted_spans(answer.answer):
            assert any(same_quotes(span) in same_quotes(text) for text in cited), span


def test_law_is_cited_before_training_material(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = mini_assistant.ask("Come si individuano gli enti con cui attivare il partenariato nella co-progettazione?")
    kinds = [c.kind for c in answer.citations]
    assert kinds == sorted(
        kinds, key=["norma", "linee_guida", "giurisprudenza", "prassi", "avviso", "formazione"].index
    )


def test_unrelated_question_is_refused(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = mini_assistant.ask("Qual è la ricetta della pasta alla carbonara?")
    assert answer.refused and answer.citations == ()
    assert answer.answer.startswith(REFUSAL)
    assert "D.Lgs. 117/2017" in answer.answer  # says what the corpus does cover


def test_empty_question_gets_a_message(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QuestionError) as info:
        mini_assistant.ask("   ")
    assert str(info.value) == "Scrivi una domanda: il campo è vuoto."


def test_very_long_question_is_cut_with_a_note(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = mini_assistant.ask("Che cos'è la co-programmazione? " + "x" * 10_000)
    assert answer.notes == ("La domanda superava i 1000 caratteri ed è stata troncata.",)


def test_refusal_sentence_is_shared() -> None:
    assert fold(REFUSAL) == fold("Non trovo nei documenti indicizzati una risposta a questa domanda.")


def test_definition_questions_start_from_the_glossary(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = mini_assistant.ask("Che cos'è la co-programmazione?", "operatore")
    entry = mini_assistant.glossary.entries["co-programmazione"]
    assert answer.source == "glossary" and not answer.refused
    paragraphs = answer.answer.split("\n\n")
    assert paragraphs[1] == entry.definition  # the canonical definition, verbatim, first
    assert paragraphs[2] == f"**Per gli operatori:** {entry.per_operatori}"
    assert (answer.citations[0].article, answer.citations[0].comma) == ("55", "2")  # then the law
    assert answer.glossary_terms[0].id == "co-programmazione"
