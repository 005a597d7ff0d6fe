"""The prontuario: its number and reference check, its idempotent import, serving and suggesting, follow-ups."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.answer import Assistant
from assistant.catalog import Catalog
from assistant.cli import main as cli_main
from assistant.config import Settings
from assistant.curated.match import CuratedMatcher, check_curated
from assistant.curated.record import EDITORS
from assistant.curated.store import CuratedStore
from assistant.figures import unsupported
from assistant.index import indexed_catalog
from assistant.prontuario import authored_problems, check_entry, load_prontuario, sync_prontuario
from assistant.references import Ref

CTS = "dlgs-117-2017-codice-terzo-settore"


def entry_yaml(
    text: str, sources: str = '[{doc_id: dlgs-117-2017-codice-terzo-settore, article: "17", comma: "3"}]'
) -> str:
    phrasings = "\n".join(f'        - "Domanda {i}?"' for i in range(3))
    return f"""tema: prova
risposte:
  - id: prova-volontari
    domanda: "Il volontario può essere pagato?"
    tags: [volontari]
    fonti: {sources}
    entrambi: >-
      {text}
    formulazioni:
      legale:
{phrasings}
      operatore:
{phrasings.replace("Domanda", "Operatore")}
      funzionario:
{phrasings.replace("Domanda", "Funzionario")}
"""


@pytest.fixture(scope="module")
def catalog(mini_index: Settings) -> Catalog:
    return indexed_catalog(mini_index)


def problems_of(tmp_path: Path, body: str, catalog: Catalog) -> list[str]:
    (tmp_path / "prova.yaml").write_text(body, encoding="utf-8")
    entries, problems = load_prontuario(tmp_path)
    return problems + [p for e in entries for p in check_entry(e, catalog)]


def test_a_well_written_answer_passes_the_check(tmp_path: Path, catalog: Catalog) -> None:
    text = (
        "No, l'attività del volontario non può essere retribuita [1]. Gli si rimborsano solo le spese sostenute "
        "e documentate [1]. I rimborsi forfetari sono vietati [1]."
    )
    assert problems_of(tmp_path, entry_yaml(text), catalog) == []


def test_the_check_finds_an_invented_number_an_uncited_sentence_and_a_missing_source(
    tmp_path: Path, catalog: Catalog
) -> None:
    text = (
        "No, l'attività del volontario non può essere retribuita [1]. Gli si rimborsano fino a 150 euro al mese "
        "secondo l'art. 99 [1]. I rimborsi forfetari sono vietati. Lo dice anche la legge [2]."
    )
    problems = "\n".join(problems_of(tmp_path, entry_yaml(text), catalog))
    assert "99, 150, art. 99 non compare nei passaggi citati dalla frase «Gli si rimborsano fino a 150 euro" in problems
    assert "la frase «I rimborsi forfetari sono vietati.» non cita nessuna fonte [n]" in problems
    assert "cita una fonte che non esiste" in problems
    bad = entry_yaml("Sì, sempre [1]. Davvero [1]. Proprio così [1].", '[{doc_id: nessuno, article: "1"}]')
    assert "la fonte nessuno (art. 1) non corrisponde a nessun passaggio indicizzato" in "\n".join(
        problems_of(tmp_path, bad, catalog)
    )


def test_numbers_are_compared_as_the_law_writes_them() -> None:
    from assistant.models import Chunk

    chunk = Chunk(id="d:1", doc_id="d", text="entro sessanta giorni, per almeno € 60.000,00 annui", article="23")
    assert unsupported("Entro 60 giorni e con 60.000 euro (art. 23) [1].", [chunk]) == []
    assert unsupported("Entro 90 giorni, art. 24 [1].", [chunk]) == ["24", "90", "art. 24"]


def test_the_shipped_prontuario_modules_and_glossary_pass_the_check(full_settings: Settings) -> None:
    assert authored_problems(full_settings.corpus_dir, indexed_catalog(full_settings)) == []
    entries, _ = load_prontuario(full_settings.corpus_dir / "prontuario")
    assert len(entries) >= 150


def test_import_is_idempotent_and_leaves_trainers_edits_alone(
    mini_index: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    store = CuratedStore.open(f"sqlite:///{tmp_path / 'c.sqlite3'}", catalog)
    entries, _ = load_prontuario(mini_index.corpus_dir / "prontuario")
    first = sync_prontuario(store, entries)
    assert first.created >= len(entries) and first.updated == 0
    again = sync_prontuario(store, entries)
    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)
    record = store.find(tag="prontuario")[0]
    assert record.author == EDITORS and record.status == "approvata" and record.approved_by == EDITORS
    store.update(replace(record, answer=record.answer + " Nota del corso."), "formatrice", record.revision)
    changed = [replace(e, question=e.question + " (rivista)") for e in entries]
    third = sync_prontuario(store, changed)
    assert record.id in third.kept and third.updated == first.created - 1
    assert store.require(record.id).answer.endswith("Nota del corso.")


def test_curated_check_flags_an_editors_answer_whose_cited_text_changed(
    mini_index: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    store = CuratedStore.open(f"sqlite:///{tmp_path / 'c.sqlite3'}", catalog)
    entries, _ = load_prontuario(mini_index.corpus_dir / "prontuario")
    sync_prontuario(store, entries)
    assert check_curated(store, catalog, None) == []
    amended = Catalog(
        [replace(c, text=c.text + " ((MODIFICATO))") if c.id == f"{CTS}:17:3" else c for c in catalog.chunks],
        catalog.documents,
    )
    problems = check_curated(store, amended, None)
    assert problems and all("è cambiato dopo l'approvazione" in p for p in problems)
    assert any("volontario-nessun-compenso" in p for p in problems)


@pytest.fixture(scope="module")
def consulting(mini_index: Settings) -> Assistant:
    from conftest import import_prontuario

    import_prontuario(mini_index)
    assistant = Assistant.load(mini_index)
    assistant.curated = CuratedMatcher.open(mini_index, assistant.retriever.catalog, assistant.glossary)
    return assistant


def test_a_close_question_is_served_as_the_editors_answer(consulting: Assistant) -> None:
    answer = consulting.ask("Quante persone servono per fondare una ODV?", "operatore")
    assert answer.source == "curated" and answer.curated_id == "odv-requisiti-costituzione"
    assert answer.answer.startswith("**Risposta della redazione**") and "formatori" not in answer.answer.split("\n")[0]
    assert [c.doc_id for c in answer.citations] == [CTS] * len(answer.citations)


def test_a_less_close_question_is_answered_with_suggestions_and_a_brief(consulting: Assistant) -> None:
    answer = consulting.ask("Al volontario possiamo dare un gettone o un compenso?", "operatore")
    assert answer.source == "extractive"
    assert answer.suggestions[0].curated_id == "volontario-nessun-compenso--operatore"
    assert "**In breve** (risposta della redazione alla domanda “Un volontario può ricevere" in answer.answer
    assert answer.answer.index("**In breve**") < answer.answer.index("**Cosa dice la norma**")


def test_a_follow_up_is_read_with_the_previous_question(consulting: Assistant) -> None:
    alone = consulting.ask("E che nome deve usare?", "operatore")
    follow = consulting.ask("E che nome deve usare?", "operatore", "Quante persone servono per fondare una ODV?")
    assert follow.notes[-1] == "Domanda letta insieme alla precedente: “Quante persone servono per fondare una ODV?”."
    assert any(c.article == "32" for c in follow.citations)
    assert not alone.notes


def test_ask_json_has_suggestions_and_takes_the_previous_question(
    mini_index: Settings, consulting: Assistant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["ask", "--json", "Al volontario possiamo dare un gettone o un compenso?"], mini_index) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["suggestions"] and set(data["suggestions"][0]) == {"curated_id", "question", "score"}
    argv = ["ask", "--json", "--previous", "Quante persone servono per fondare una ODV?", "E che nome deve usare?"]
    assert cli_main(argv, mini_index) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["notes"] and data["notes"][-1].startswith("Domanda letta insieme alla precedente")
    assert Ref.from_key(f"{CTS}?chunk=17:3").chunk == "17:3"
