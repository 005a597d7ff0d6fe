"""Grounded extractive answers: quotes, numbered citations with version, refusal, bad questions."""

from __future__ import annotations

import html
import re
import unicodedata

import pytest
import yaml
from conftest import CORPUS

from assistant.answer import REFUSAL, QuestionError
from assistant.citations import quoted_spans
from assistant.text import fold


def same_quotes(text: str) -> str:
    """Compare quotations regardless of the quote marks (inner «» are shown as “”)."""
    return " ".join(text.translate(str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"'})).split())


# What the user is told each kind of source is, and the order the answer must follow (law first).
SHOWN_KIND = {
    "norma": "Norma",
    "linee_guida": "Linee guida",
    "giurisprudenza": "Giurisprudenza",
    "formazione": "Materiale",
}
ORDER = ["norma", "linee_guida", "giurisprudenza", "prassi", "avviso", "formazione"]
PASSAGE = re.compile(r"^\*\*\[(\d+)\] ([^\n]+?) - ([^\n]+)\*\*\n> «(.*?)»$", re.MULTILINE | re.DOTALL)


def rendered_passages(answer_text: str) -> list[tuple[int, str, str, list[str]]]:
    """(number, kind label, reference, quoted spans) of each numbered passage, read from the answer's Markdown as
    the user sees it (character references shown as their characters)."""
    return [
        (
            int(m.group(1)),
            html.unescape(m.group(2)),
            html.unescape(m.group(3)),
            [html.unescape(p).strip() for p in m.group(4).split("[…]") if p.strip()],
        )
        for m in PASSAGE.finditer(answer_text)
    ]


def rendered_sources(answer_text: str) -> list[tuple[int, str]]:
    """The numbered lines of the answer's **Fonti** list."""
    block = answer_text.split("**Fonti**\n", 1)[1].split("\n\n", 1)[0]
    return [(int(m[1]), html.unescape(m[2])) for m in re.finditer(r"^\[(\d+)\] (.+)$", block, re.MULTILINE)]


def source_text(settings, doc_id: str, catalog) -> str:  # type: ignore[no-untyped-def]
    """The cited document as written in the corpus folder: the truth the quotes are checked against."""
    return (settings.corpus_dir / catalog.document(doc_id).path).read_text(encoding="utf-8")


def loose(text: str) -> str:
    """Text with accents, apostrophes, quote marks and spacing set aside: Normattiva writes "sussidiarieta'" where
    the index restores "sussidiarietà"; the words and their order must still be the same."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"['’‘«»“”\"]", "", bare).lower().split())


def test_answer_quotes_the_law_with_numbered_citations(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = mini_assistant.ask("Qual è la finalità della co-programmazione?", "funzionario")
    assert not answer.refused and answer.source == "extractive"
    assert len(answer.citations) >= 2, answer.citations
    first = answer.citations[0]
    assert (first.doc_id, first.article, first.comma) == ("dlgs-117-2017-codice-terzo-settore", "55", "2")
    assert first.label == "art. 55, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)"
    passages = rendered_passages(answer.answer)
    # Every citation is quoted once, numbered 1..n in order, and listed under the same number in **Fonti**.
    assert [n for n, *_ in passages] == list(range(1, len(answer.citations) + 1))
    assert rendered_sources(answer.answer) == [(n, c.label) for n, c in enumerate(answer.citations, start=1)]
    for (number, kind, reference, spans), cited in zip(passages, answer.citations, strict=True):
        assert reference == cited.label and kind.startswith(SHOWN_KIND[cited.kind]), number
        assert spans, f"[{number}] senza citazione testuale"
    assert passages[0][1:3] == ("Norma", "art. 55, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)")
    assert same_quotes(passages[0][3][0]).startswith("2. La co-programmazione è finalizzata all'individuazione")


def test_every_quote_is_verbatim_from_a_cited_chunk(mini_index, mini_assistant) -> None:  # type: ignore[no-untyped-def]
    catalog = mini_assistant.retriever.catalog
    for question in (
        "Come vengono scelti gli enti partner della co-progettazione?",
        "Le convenzioni con le ODV possono prevedere compensi?",
        "Cosa ha deciso il Consiglio di Stato sul ricorso contro il Comune di Milano?",
    ):
        answer = mini_assistant.ask(question)
        passages = rendered_passages(answer.answer)
        assert not answer.refused and passages, question
        assert len(passages) == len(answer.citations), question
        assert sum(len(spans) for *_, spans in passages) == len(quoted_spans(answer.answer)), question
        for number, _, _, spans in passages:
            assert spans, (question, number)
            cited = answer.citations[number - 1]
            chunk = same_quotes(catalog.by_id[cited.chunk_id].text)
            document = loose(source_text(mini_index, cited.doc_id, catalog))
            for span in spans:
                # In the cited passage itself (not any passage of the answer) and in the document's own text.
                assert same_quotes(span) in chunk, (question, number, span)
                assert loose(span) in document, (question, number, span)


@pytest.mark.parametrize(
    "question",
    [
        "Qual è la finalità della co-programmazione?",
        "Come si svolge la co-progettazione tra amministrazione ed enti selezionati?",
    ],
)
def test_law_is_cited_before_training_material(mini_assistant, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = mini_assistant.ask(question)
    kinds = [c.kind for c in answer.citations]
    assert len(set(kinds)) >= 2 and kinds[0] == "norma", kinds  # an order needs two kinds to be checked
    assert kinds == sorted(kinds, key=ORDER.index), kinds
    law = answer.answer.index("**Cosa dice la norma**")
    for number, kind, _, _ in rendered_passages(answer.answer):
        if answer.citations[number - 1].kind != "norma":
            assert answer.answer.index(f"**[{number}] {kind}") > answer.answer.index("**Per approfondire**") > law


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
    # The entry as written in the YAML file, read here and not through the Glossary being tested.
    entry = yaml.safe_load((CORPUS / "glossario" / "co-programmazione.yaml").read_text(encoding="utf-8"))
    assert answer.source == "glossary" and not answer.refused
    paragraphs = answer.answer.split("\n\n")
    assert paragraphs[0].startswith(f"**{entry['term']}** - definizione del glossario condiviso")
    assert paragraphs[1] == entry["definition"].strip()  # the canonical definition, verbatim, first
    assert paragraphs[2] == f"**Per gli operatori:** {entry['per_operatori'].strip()}"
    assert (answer.citations[0].article, answer.citations[0].comma) == ("55", "2")  # then the law
    assert answer.glossary_terms[0].id == "co-programmazione"
