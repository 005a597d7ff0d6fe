"""The question bank (corpus/domande): loading, the corpus check, the third retriever, refusal by domain.

The misses that motivated the bank run on the real corpus and its index (`full_settings`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.answer import Assistant
from assistant.bank import load_bank
from assistant.cli import main as cli_main
from assistant.config import Settings
from assistant.corpus_check import check_bank, corpus_report
from assistant.index import indexed_catalog
from assistant.retrieve import Retriever

CTS = "dlgs-117-2017-codice-terzo-settore"


def test_load_bank_reads_every_kind_of_reference_and_reports_bad_items(tmp_path: Path) -> None:
    (tmp_path / "doc.yaml").write_text(
        """doc_id: doc
passages:
  - refs: [{article: "5", comma: "1"}, {doc_id: altro, section: "3.1"}, {chunk: "diritto:4"}]
    questions:
      operatore: ["Prima domanda?", "Seconda domanda?"]
      legale: ["Terza domanda?"]
  - refs: [{pagina: 3}]
    questions: {operatore: ["Riferimento sbagliato?"]}
  - refs: [{article: "6"}]
    questions: {cittadino: ["Registro sconosciuto?"]}
""",
        encoding="utf-8",
    )
    (tmp_path / "rotto.yaml").write_text("doc_id: [\n", encoding="utf-8")
    questions, problems = load_bank(tmp_path)
    assert [q.text for q in questions] == ["Terza domanda?", "Prima domanda?", "Seconda domanda?"]
    assert [q.register for q in questions] == ["legale", "operatore", "operatore"]
    assert [r.key for r in questions[0].refs] == ["doc?article=5&comma=1", "altro?section=3.1", "doc?chunk=diritto:4"]
    assert len(problems) == 3
    assert any(p.startswith("doc.yaml, voce 2: riferimento non valido") for p in problems)
    assert any(p.startswith("doc.yaml, voce 3: questions deve avere le chiavi") for p in problems)
    assert any(p.startswith("rotto.yaml: file non leggibile") for p in problems)


@pytest.fixture
def checked_corpus(mini_index: Settings, tmp_path: Path) -> Settings:
    """The mini corpus with a bank that points nowhere and copies an evaluation question."""
    corpus = tmp_path / "corpus"
    shutil.copytree(mini_index.corpus_dir, corpus)
    (corpus / "domande" / "extra.yaml").write_text(
        f"""doc_id: {CTS}
passages:
  - refs: [{{article: "99", comma: "1"}}]
    questions: {{operatore: ["Che cosa succede all'articolo che non c'è?"]}}
  - refs: [{{article: "56", comma: "1"}}]
    questions:
      funzionario: ["Con quali enti il Comune può firmare le convenzioni dell'art. 56?"]
      operatore: ["Quali enti del Terzo settore possono firmare una convenzione con il Comune secondo l'articolo 56?"]
""",
        encoding="utf-8",
    )
    evals = tmp_path / "evals"
    evals.mkdir()
    lines = [
        {"id": "x1", "question": "Con quali enti il Comune può firmare le convenzioni dell'art. 56?"},
        {"id": "x2", "question": "Con quali enti del Terzo settore il Comune può firmare le convenzioni dell'art. 56?"},
    ]
    (evals / "set.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    return mini_index.model_copy(update={"corpus_dir": corpus, "evals_dir": evals})


def test_corpus_check_fails_on_an_unresolved_reference_and_on_copied_questions(checked_corpus: Settings) -> None:
    report = corpus_report(checked_corpus)
    assert not report.ok
    problems = "\n".join(report.problems)
    assert f"il riferimento {CTS} (art. 99, comma 1) non corrisponde a nessun passaggio indicizzato" in problems
    assert "«Con quali enti il Comune può firmare le convenzioni dell'art. 56?» " in problems
    assert "ha le stesse parole della domanda di valutazione «Con quali enti il Comune" in problems
    assert "è quasi identica (similarità" in problems  # the reworded copy, caught by the dense check
    assert report.failure == f"Corpus non valido: {len(report.problems)} problemi."


def test_the_bank_check_passes_and_reports_coverage_on_the_mini_corpus(
    mini_index: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = mini_index.model_copy(update={"evals_dir": tmp_path / "nessuno"})
    problems, notes = check_bank(settings, indexed_catalog(settings))
    assert problems == []
    assert notes == [
        "Banca delle domande: 4 domande su 1 documenti.",
        f"Articoli di {CTS} senza domande: 4, 5, 32, 57.",
    ]
    cli_main(["corpus", "check"], settings)  # the CLI prints the notes whatever the outcome
    assert notes[1] in capsys.readouterr().out


def test_the_bank_lifts_the_passage_a_plain_question_means(mini_index: Settings) -> None:
    retriever = Retriever.load(mini_index)
    question = "Possiamo dare ai nostri volontari una cifra fissa al mese per il loro impegno?"
    with_bank = [h.chunk.id for h in retriever.search(question, 5)]
    retriever.settings = mini_index.model_copy(update={"bank_weight": 0.0})
    without = [h.chunk.id for h in retriever.search(question, 5)]
    assert with_bank[0] == f"{CTS}:17:3"
    assert f"{CTS}:17:3" not in without


# --- the misses of the issue, on the real corpus ----------------------------------------------------


@pytest.fixture(scope="module")
def assistant(full_settings: Settings) -> Assistant:
    return Assistant.load(full_settings)


def ids(assistant: Assistant, question: str, k: int = 5) -> list[str]:
    return [h.chunk.id for h in assistant.search(question, k)]


def test_a_plain_question_about_joining_a_project_is_answered(assistant: Assistant) -> None:
    answer = assistant.ask("Come faccio a partecipare a un progetto col Comune come associazione di volontariato?")
    assert not answer.refused and answer.citations
    assert any(c.doc_id in (CTS, "dm-72-2021-linee-guida") for c in answer.citations)


def test_what_the_call_must_predetermine_reaches_the_guidelines_on_the_call(assistant: Assistant) -> None:
    answer = assistant.ask("Cosa devo predeterminare nell'avviso prima dell'istruttoria di co-progettazione?")
    assert any(c.doc_id == "dm-72-2021-linee-guida" and c.section == "3" for c in answer.citations)


def test_pay_limits_of_an_ets_manager_reach_article_16(assistant: Assistant) -> None:
    assert f"{CTS}:16:1" in ids(assistant, "Quanto può guadagnare al massimo un dirigente di un ETS?", 3)


def test_assets_after_losing_the_qualification_reach_article_50(assistant: Assistant) -> None:
    answer = assistant.ask("Cosa succede ai beni dell'ente quando perde la qualifica di ETS?")
    assert f"{CTS}:50:2" in [c.chunk_id for c in answer.citations]


def test_revoking_an_accreditation_reaches_the_accreditation_of_article_55(assistant: Assistant) -> None:
    top = ids(assistant, "Il Comune può revocare l'accreditamento?", 3)
    assert "dm-72-2021-linee-guida:s3:36" in top  # "accreditamento a tempo indeterminato, salvo revoca"


def test_a_question_naming_the_constitutional_court_reaches_the_judgment(assistant: Assistant) -> None:
    top = ids(assistant, "Cosa dice la sentenza 131 del 2020 della Corte costituzionale sull'articolo 55?", 3)
    assert all(i.startswith("corte-cost-sentenza-131-2020:") for i in top)


def test_a_question_naming_a_tar_and_a_year_reaches_the_judgment(assistant: Assistant) -> None:
    top = ids(assistant, "Il TAR Milano nel 2024 come ha interpretato l'art. 55?", 3)
    assert all(i.startswith("tar-lombardia-milano-2533-2024:") for i in top)


# --- refusal by domain, confidence --------------------------------------------------------------------


def test_an_out_of_scope_question_is_refused_naming_the_topic(assistant: Assistant) -> None:
    answer = assistant.ask("Quanto pago di TARI per un appartamento di 90 metri quadri?")
    assert answer.refused and answer.confidence == "bassa"
    assert "La domanda riguarda i tributi e le tariffe locali" in answer.answer
    assert "I documenti indicizzati coprono:" in answer.answer


def test_a_weakly_supported_question_in_the_domain_is_answered_as_uncertain(assistant: Assistant) -> None:
    answer = assistant.ask("Il circolo del sindacato pensionati del mio quartiere può diventare un ente non profit?")
    assert not answer.refused
    if answer.confidence == "bassa":
        assert answer.answer.startswith("**Risposta incerta: verifica le fonti.**")
    else:
        assert "Risposta incerta" not in answer.answer


def test_ask_json_reports_the_confidence(mini_index: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["ask", "--json", "Cosa prevede l'art. 56, comma 2, del CTS?"], mini_index) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["confidence"] == "alta" and data["refused"] is False
    assert cli_main(["ask", "--json", "Mi dai la ricetta del risotto alla milanese?"], mini_index) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["refused"] is True and data["confidence"] == "bassa"
