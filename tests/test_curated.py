"""Curated answers on SQLite and on a real PostgreSQL: store, revisions, conflicts, durability, serving first,
exports and imports, `curated check`, and the trainer-only writes of the UI handlers and the CLI."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docx
import pytest
from conftest import REPO
from conftest_postgres import postgres_server, reset_postgres  # noqa: F401  (session fixture)
from sqlalchemy import text

from assistant.answer import Assistant
from assistant.auth import Trainers, hash_password
from assistant.catalog import Catalog
from assistant.citations import quoted_spans
from assistant.config import Settings, load_settings
from assistant.curated import ConflictError, CuratedAnswer, CuratedError, CuratedStore
from assistant.curated.io import Selection, export_docx, export_json, export_markdown, import_item, import_json
from assistant.curated.match import CuratedMatcher, check_curated
from assistant.curated.record import resolve
from assistant.curated.store import SCHEMA_VERSION, migrate
from assistant.glossary import load_glossary
from assistant.index import current_catalog
from assistant.references import Ref
from assistant.text import italian_date, italian_datetime
from assistant.ui import curated_handlers as ui

CTS = "dlgs-117-2017-codice-terzo-settore"
COMPENSO = Ref(CTS, "56", "2")
QUESTION = "Una convenzione con un'organizzazione di volontariato può prevedere un compenso?"
PHRASING = "Il Comune può pagare un compenso a una ODV convenzionata?"
PARAPHRASE = "Il Comune può dare un compenso a una ODV con cui ha una convenzione?"  # never stored
TEXT = "No. La convenzione prevede solo il **rimborso delle spese** effettivamente sostenute e documentate."
PASSWORD = "formatrice-sicura"
SELF_APPROVAL = (
    "Non puoi approvare la risposta curata 'compenso-odv': l'ultima modifica del contenuto è tua (maria). "
    "Deve approvarla un altro formatore (regola LC_FORBID_SELF_APPROVAL)."
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'curated.sqlite3'}"
    return reset_postgres(request.getfixturevalue("postgres_server"))


@pytest.fixture(scope="session")
def catalog(mini_index: Settings) -> Catalog:
    loaded = current_catalog(mini_index)
    assert loaded is not None
    return loaded


@pytest.fixture(scope="session")
def glossary_ids(mini_index: Settings) -> frozenset[str]:
    return frozenset(load_glossary(mini_index.corpus_dir / "glossario").entries)


@pytest.fixture
def store(store_url: str, catalog: Catalog, glossary_ids: frozenset[str]) -> Iterator[CuratedStore]:
    opened = CuratedStore.open(store_url, catalog, glossary_ids)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def trainers_setting() -> str:
    return f"maria:{hash_password(PASSWORD)},luca:{hash_password('luca-password')}"


def draft(**changes: object) -> CuratedAnswer:
    base = CuratedAnswer(
        id="compenso-odv",
        question=QUESTION,
        answer=TEXT,
        phrasings=(PHRASING,),
        citations=(COMPENSO,),
        glossary_terms=("convenzione-art-56",),
        audience="entrambi",
        tags=("Lavoro", "povertà educativa", "progetti di quartiere"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def approved(store: CuratedStore, **changes: object) -> CuratedAnswer:
    created = store.create(draft(**changes), "maria")
    return store.approve(created.id, "luca", created.revision)


# --- store: revisions, validation, schema ---------------------------------------------------------------


def test_create_revise_approve_restore(store: CuratedStore) -> None:
    created = store.create(draft(), "maria")
    assert (created.revision, created.status, created.author) == (1, "bozza", "maria")
    assert created.tags == ("lavoro", "povertà educativa", "progetti di quartiere")
    revised = store.update(replace(created, answer=TEXT + " Vale per ODV e APS."), "luca", 1)
    assert (revised.revision, revised.updated_by, revised.author) == (2, "luca", "maria")
    assert store.update(revised, "maria", 2) == revised  # saving without changes adds no revision
    ok = store.approve(revised.id, "maria", 2)  # luca saved the latest content: maria reviews it
    assert (ok.status, ok.approved_by, ok.revision) == ("approvata", "maria", 3)
    assert dict(ok.cited_hashes).keys() == {COMPENSO.key}
    edited = store.update(replace(ok, question="Le ODV convenzionate possono ricevere compensi?"), "maria", 3)
    assert (edited.status, edited.approved_at, edited.revision) == ("bozza", None, 4)
    restored = store.restore(ok.id, 3, "maria", 4)
    assert (restored.revision, restored.status, restored.question, restored.approved_by) == (
        5,
        "approvata",
        QUESTION,
        "maria",
    )
    history = store.revisions(ok.id)
    assert [(r.number, r.saved_by, r.change) for r in history] == [
        (1, "maria", "creata"),
        (2, "luca", "modificati: testo della risposta"),
        (3, "maria", "approvata"),
        (4, "maria", "modificati: domanda; torna in bozza e va riapprovata"),
        (5, "maria", "ripristinata la revisione 3"),
    ]
    assert store.revision(ok.id, 1).snapshot.answer == TEXT  # earlier versions stay readable
    assert store.get(ok.id) == history[-1].snapshot


def test_invalid_answers_are_refused_with_reasons(store: CuratedStore) -> None:
    with pytest.raises(CuratedError) as info:
        store.create(draft(citations=(Ref(CTS, "56", "9"),), audience="tutti", glossary_terms=("boh",)), "maria")
    assert str(info.value) == (
        "Pubblico non valido: 'tutti' (usa funzionario, operatore oppure entrambi). "
        "Il termine 'boh' non è nel glossario (elenca le voci con: assistant glossary). "
        "La citazione dlgs-117-2017-codice-terzo-settore (art. 56, comma 9) non corrisponde a nessun passaggio "
        "indicizzato: controlla articolo, comma o sezione."
    )
    with pytest.raises(CuratedError, match="Una risposta approvata deve citare almeno una fonte"):
        store.create(draft(citations=(), status="approvata"), "maria")
    with pytest.raises(CuratedError, match="Esiste già una risposta curata con id 'compenso-odv'"):
        store.create(draft(), "maria")
        store.create(draft(), "luca")
    assert [r.number for r in store.revisions("compenso-odv")] == [1]


def test_schema_is_migrated_idempotently(store: CuratedStore) -> None:
    store.create(draft(), "maria")
    assert migrate(store.engine) == SCHEMA_VERSION == migrate(store.engine)
    with store.engine.begin() as conn:
        assert conn.execute(text("SELECT version FROM schema_version WHERE component = 'curated'")).scalar() == 1
        if store.engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        conn.execute(text("UPDATE schema_version SET version = 7 WHERE component = 'curated'"))
    assert store.get("compenso-odv") is not None
    with pytest.raises(CuratedError) as info:
        migrate(store.engine)
    assert str(info.value) == (
        "Il database delle risposte curate ha lo schema versione 7, più recente di quello di "
        "questo programma (1): aggiorna Lingua Comune."
    )


# --- concurrency and durability ------------------------------------------------------------------------------


def test_stale_edit_gets_a_conflict_naming_who_saved(store: CuratedStore) -> None:
    seen_by_maria = seen_by_luca = store.create(draft(), "maria")
    saved = store.update(replace(seen_by_maria, answer="Testo di Maria."), "maria", seen_by_maria.revision)
    with pytest.raises(ConflictError) as info:
        store.update(replace(seen_by_luca, answer="Testo di Luca."), "luca", seen_by_luca.revision)
    assert str(info.value) == (
        f"Conflitto: la risposta curata 'compenso-odv' è stata salvata da maria il "
        f"{italian_datetime(saved.updated_at)} (revisione 2), dopo la revisione 1 da cui parte la tua modifica. "
        "Le tue modifiche non sono state salvate: ricarica la risposta, riapplicale e salva di nuovo."
    )
    assert info.value.current.answer == "Testo di Maria."
    assert store.require("compenso-odv").answer == "Testo di Maria."
    with pytest.raises(ConflictError):
        store.approve("compenso-odv", "luca", 1)


def test_simultaneous_saves_from_two_connections_never_both_win(store_url: str, catalog: Catalog) -> None:
    first, second = CuratedStore.open(store_url, catalog), CuratedStore.open(store_url, catalog)
    base = first.create(draft(), "maria")
    barrier, outcomes = threading.Barrier(2), []

    def save(store: CuratedStore, user: str) -> None:
        barrier.wait()
        try:
            outcomes.append(store.update(replace(base, answer=f"Testo di {user}."), user, base.revision).updated_by)
        except ConflictError as exc:
            outcomes.append(f"conflitto: {exc.current.updated_by}")

    threads = [threading.Thread(target=save, args=(s, u)) for s, u in ((first, "maria"), (second, "luca"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winner = first.require("compenso-odv").updated_by
    assert sorted(outcomes) == sorted([winner, f"conflitto: {winner}"])
    assert [r.number for r in first.revisions("compenso-odv")] == [1, 2]
    first.close()
    second.close()


WRITER = """
import sys
from dataclasses import replace
from assistant.curated import CuratedAnswer, CuratedStore
store = CuratedStore.open(sys.argv[1])
answer = store.create(CuratedAnswer(id="durevole", question="Domanda di prova?", answer="versione 1",
                                    author="maria"), "maria")
print(answer.revision, flush=True)
while True:
    body = f"versione {answer.revision + 1} " + "x" * 4000
    answer = store.update(replace(answer, answer=body), "maria", answer.revision)
    print(answer.revision, flush=True)
"""


def test_sigkill_during_saves_keeps_every_committed_revision(store_url: str, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), store_url], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    committed = 0
    try:
        while committed < 40:
            line = proc.stdout.readline()
            assert line, "the writer stopped before being killed"
            committed = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # in the middle of the next save
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    store = CuratedStore.open(store_url)
    current = store.require("durevole")
    history = store.revisions("durevole")
    assert current.revision >= committed
    assert [r.number for r in history] == list(range(1, current.revision + 1))
    assert all(r.snapshot.revision == r.number for r in history)
    assert all(r.snapshot.answer.startswith(f"versione {r.number}") for r in history)
    assert history[-1].snapshot == current
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert (
        store.update(replace(current, answer="dopo il crash"), "luca", current.revision).revision
        == current.revision + 1
    )
    store.close()


# --- served first -----------------------------------------------------------------------------------------


@pytest.fixture
def curated_assistant(store: CuratedStore, mini_index: Settings, mini_assistant: Assistant) -> Assistant:
    matcher = CuratedMatcher.from_settings(mini_index, store, mini_assistant.retriever.catalog, mini_assistant.glossary)
    return Assistant(mini_index, mini_assistant.retriever, curated=matcher)


def test_paraphrase_is_served_the_curated_answer(store: CuratedStore, curated_assistant: Assistant) -> None:
    saved = approved(store)
    answer = curated_assistant.ask(PARAPHRASE, "operatore")
    assert (answer.source, answer.curated_id, answer.refused) == ("curated", "compenso-odv", False)
    lines = answer.answer.split("\n\n")
    assert lines[0] == (
        f"**Risposta curata dai formatori** - autore: maria, approvata il {italian_date(saved.approved_at)}"
    )
    assert lines[1] == f"_Risponde alla domanda: “{QUESTION}”_"
    assert lines[2] == TEXT
    assert answer.citations[0].label == "art. 56, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)"
    assert "[1] art. 56, comma 2, D.Lgs. 117/2017 (testo vigente al 4-2-2023)" in answer.answer
    cited = curated_assistant.retriever.catalog.by_id[answer.citations[0].chunk_id].text
    assert quoted_spans(answer.answer) and all(span in " ".join(cited.split()) for span in quoted_spans(answer.answer))
    assert "convenzione-art-56" in [g.id for g in answer.glossary_terms]
    assert answer.to_json()["curated_id"] == "compenso-odv" and answer.query == PARAPHRASE


def test_unrelated_and_near_questions_are_not_served(
    store: CuratedStore, curated_assistant: Assistant, mini_index: Settings
) -> None:
    approved(store)
    assert curated_assistant.ask("Qual è la ricetta della pasta alla carbonara?").source == "extractive"
    assert curated_assistant.ask("Che cos'è la co-programmazione?").source == "glossary"
    calibrated = CuratedMatcher.from_settings(
        mini_index.model_copy(update={"curated_threshold": 0.962}), store, curated_assistant.retriever.catalog
    )
    near = "Quali spese possono essere rimborsate a una ODV in convenzione?"
    match = calibrated.best(near, "operatore")
    assert match is not None and match.score < 0.962 and calibrated.serve(near, "operatore") is None


def test_drafts_archived_and_other_audiences_are_never_served(
    store: CuratedStore, curated_assistant: Assistant
) -> None:
    created = store.create(draft(audience="funzionario"), "maria")
    assert curated_assistant.ask(QUESTION, "funzionario").source != "curated"  # a draft
    store.approve(created.id, "luca", 1)
    assert curated_assistant.ask(QUESTION, "funzionario").curated_id == "compenso-odv"
    assert curated_assistant.ask(QUESTION, "operatore").source != "curated"  # written for funzionari
    store.archive(created.id, "luca", 2)
    assert curated_assistant.ask(QUESTION, "funzionario").source != "curated"


def test_an_unreadable_store_does_not_stop_the_chat(store: CuratedStore, curated_assistant: Assistant) -> None:
    approved(store)
    assert curated_assistant.ask(PARAPHRASE).source == "curated"
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE curated_revisions"))
        conn.execute(text("DROP TABLE curated_answers"))
    answer = curated_assistant.ask(PARAPHRASE)
    assert answer.source == "extractive" and answer.curated_id is None


# --- curated check -------------------------------------------------------------------------------------


def amended(catalog: Catalog, chunk_id: str, new_text: str) -> Catalog:
    chunks = [replace(c, text=new_text) if c.id == chunk_id else c for c in catalog.chunks]
    return Catalog(chunks, catalog.documents)


def test_check_flags_changed_cited_text_and_dangling_citations(
    store: CuratedStore, catalog: Catalog, mini_index: Settings
) -> None:
    saved = approved(store)
    matcher = CuratedMatcher.from_settings(mini_index, store, catalog)
    assert check_curated(store, catalog, matcher) == []
    changed = amended(catalog, f"{CTS}:56:2", "Testo modificato da una legge successiva.")
    name = "Risposta curata 'compenso-odv' (revisione 2, approvata)"
    assert check_curated(store, changed, None) == [
        f"{name}: il testo citato di {CTS} (art. 56, comma 2) è cambiato dopo l'approvazione del "
        f"{italian_date(saved.approved_at)} (per esempio un articolo modificato). Un formatore deve rileggere la "
        "risposta e riapprovarla con: assistant curated approve compenso-odv --user <formatore>."
    ]
    without: Catalog = Catalog([c for c in catalog.chunks if c.article != "56"], catalog.documents)
    assert check_curated(store, without, None) == [
        f"{name}: La citazione {CTS} (art. 56, comma 2) non corrisponde a nessun passaggio indicizzato: controlla "
        "articolo, comma o sezione."
    ]
    approved(store, id="compenso-odv-copia")  # the same question twice: only one of them can be served
    assert check_curated(store, catalog, matcher) == [
        f"Risposta curata 'compenso-odv-copia' (revisione 2, approvata): alla sua domanda, per i {who}, viene "
        f"servita invece la risposta 'compenso-odv' (similarità 1.000 con “{QUESTION}”): unisci le due risposte "
        "o differenzia le domande."
        for who in ("funzionari", "operatori")
    ]


# --- exports and imports -------------------------------------------------------------------------------


def test_json_export_import_round_trip(store: CuratedStore, catalog: Catalog, tmp_path: Path) -> None:
    approved(store)
    store.create(
        draft(
            id="bozza-abitare",
            question="Si può co-progettare sull'abitare?",
            tags=("abitare",),
            phrasings=(),
            glossary_terms=(),
        ),
        "luca",
    )
    exported = json.loads(export_json(store.find()))
    assert {"id", "question", "phrasings", "answer", "citations", "audience", "tags", "status", "author"} <= set(
        exported[0]
    )
    assert exported[0]["citations"][0] == {"doc_id": CTS, "article": "56", "comma": "2", "section": None}
    assert [r.outcome for r in import_json(store, exported, "maria")] == ["unchanged", "unchanged"]
    other = CuratedStore.open(f"sqlite:///{tmp_path / 'altra-installazione.sqlite3'}", catalog)
    first = import_json(other, exported, "maria")
    assert [(r.id, r.outcome) for r in first] == [("bozza-abitare", "created"), ("compenso-odv", "created")]
    assert [r.outcome for r in import_json(other, exported + exported, "maria")] == ["unchanged"] * 4
    copy = other.require("compenso-odv")
    assert (copy.status, copy.approved_by, copy.author, copy.answer) == ("approvata", "luca", "maria", TEXT)
    newer = dict(exported[1], answer="Testo aggiornato.", updated_at=copy.updated_at.isoformat())  # type: ignore
    result = import_item(other, newer, "luca")
    assert (result.outcome, result.message) == ("updated", "revisione 2")
    older = dict(exported[1], answer="Testo vecchio.", updated_at="2020-01-01T10:00:00+00:00")
    result = import_item(other, older, "luca")
    stored = other.require("compenso-odv")
    assert result.outcome == "conflict" and result.message == (
        "la copia importata è del 1-1-2020 alle 11:00, ma qui la risposta è alla revisione 2, salvata da luca il "
        f"{italian_datetime(stored.updated_at)}: non la sovrascrivo. Esporta la versione di qui, unisci le "
        "modifiche e reimporta."
    )
    undated = {k: v for k, v in exported[1].items() if k not in ("updated_at", "revision")}
    assert import_item(other, dict(undated, answer="Altro."), "luca").outcome == "conflict"
    assert stored.answer == "Testo aggiornato."
    bad = import_json(
        other, [{"id": "x"}, dict(exported[1], id="nuova", citations=[{"doc_id": CTS, "article": "99"}])], "luca"
    )
    assert [(r.outcome, r.message) for r in bad] == [
        (
            "invalid",
            "mancano i campi obbligatori: question, phrasings, answer, citations, audience, tags, status, author.",
        ),
        (
            "invalid",
            f"La citazione {CTS} (art. 99) non corrisponde a nessun passaggio indicizzato: controlla "
            "articolo, comma o sezione.",
        ),
    ]
    other.close()


def test_handouts_in_markdown_and_docx(store: CuratedStore, catalog: Catalog) -> None:
    approved(store)
    store.create(draft(id="bozza", question="Domanda in bozza?", tags=("abitare",)), "luca")
    selection = Selection(tag="lavoro", audience="operatore", status="approvata")
    answers = selection.pick(store)
    assert [a.id for a in answers] == ["compenso-odv"]
    cited = catalog.by_id[f"{CTS}:56:2"].text
    markdown = export_markdown(answers, catalog, selection)
    assert f"## 1. {QUESTION}" in markdown and TEXT in markdown
    assert "1. art. 56, comma 2, D.Lgs. 117/2017 - versione della norma: testo vigente al 4-2-2023" in markdown
    assert f"   > «{' '.join(cited.split())}»" in markdown
    assert "_Selezione: tema «lavoro»; pubblico: operatori del Terzo settore; stato: approvata · 1 risposte" in markdown
    buffer = io.BytesIO()
    export_docx(answers, catalog, buffer, selection)
    document = docx.Document(io.BytesIO(buffer.getvalue()))
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == "Risposte curate - dispensa del corso"
    assert f"1. {QUESTION}" in paragraphs and "Domanda in bozza?" not in " ".join(paragraphs)
    assert "[1] art. 56, comma 2, D.Lgs. 117/2017 - versione della norma: testo vigente al 4-2-2023" in paragraphs
    body = next(p for p in document.paragraphs if p.text.startswith("No. La convenzione"))
    assert [r.text for r in body.runs if r.bold] == ["rimborso delle spese"]


# --- permissions: UI handlers and CLI ------------------------------------------------------------------


@pytest.fixture
def desk(store: CuratedStore, catalog: Catalog, trainers_setting: str) -> ui.Desk:
    return ui.Desk(store, catalog, Trainers.from_settings(load_settings(trainer_users=trainers_setting)))


def test_handlers_refuse_non_trainers(desk: ui.Desk) -> None:
    form = ui.to_form(draft())
    outcome = ui.create(desk, "ospite", form)
    assert outcome == ui.Outcome(
        False,
        "Solo i formatori possono modificare le risposte curate: l'utente 'ospite' "
        "non è tra i formatori configurati (LC_TRAINER_USERS).",
    )
    assert ui.create(desk, None, form).message.startswith("Per modificare le risposte curate accedi come formatore")
    assert desk.store.find() == []
    created = ui.create(desk, "maria", form)
    assert created.ok and created.message == "Bozza 'compenso-odv' salvata (revisione 1)."
    for refused in (
        ui.approve(desk, "ospite", "compenso-odv", 1),
        ui.archive(desk, None, "compenso-odv", 1),
        ui.restore(desk, "ospite", "compenso-odv", 1, 1),
        ui.edit(desk, "ospite", "compenso-odv", 1, form),
    ):
        assert not refused.ok and "formator" in refused.message
    assert desk.store.require("compenso-odv").revision == 1
    assert ui.search(desk, "ODV", viewer="maria")[0][:3] == ["compenso-odv", QUESTION, "bozza"]


def test_handlers_edit_conflict_approve_restore_export(desk: ui.Desk, tmp_path: Path) -> None:
    created = ui.create(desk, "maria", ui.to_form(draft()))
    assert created.answer is not None
    first = ui.edit(desk, "luca", "compenso-odv", 1, replace(ui.to_form(created.answer), answer="Versione di Luca."))
    stale = ui.edit(desk, "maria", "compenso-odv", 1, replace(ui.to_form(created.answer), answer="Di Maria."))
    assert (
        first.ok
        and not stale.ok
        and stale.message.startswith("Conflitto: la risposta curata 'compenso-odv' è stata salvata da luca il ")
    )
    assert stale.form is not None and stale.form.answer == "Versione di Luca."  # reload what luca saved
    assert ui.approve(desk, "maria", "compenso-odv", 2).message == (
        "Risposta 'compenso-odv' approvata (revisione 3): da ora è servita in chat."
    )
    assert ui.restore(desk, "maria", "compenso-odv", 1, 3).message == "Ripristinata come revisione 4 (bozza)."
    assert [row[2] for row in ui.history(desk, "compenso-odv", "maria")] == ["maria", "luca", "maria", "maria"]
    assert ui.export(desk, "docx", tmp_path).message == "Nessuna risposta curata da esportare (stato: approvata)."
    exported = ui.export(desk, "docx", tmp_path, status=None, viewer="luca")
    assert exported.ok and exported.path == tmp_path / "risposte-curate.docx" and exported.path.stat().st_size


def test_chat_answer_saved_as_curated_draft(desk: ui.Desk, mini_assistant: Assistant) -> None:
    answer = mini_assistant.ask("Come vengono scelti gli enti partner della co-progettazione?", "funzionario")
    form = ui.draft_from_answer(answer, "funzionario", desk.catalog)
    assert form.question == answer.query and "**Fonti**" not in form.answer and form.answer
    assert not ui.save_chat_answer(desk, "ospite", answer, "funzionario").ok
    saved = ui.save_chat_answer(desk, "maria", answer, "funzionario")
    assert saved.ok and saved.answer is not None and saved.answer.status == "bozza"
    resolved = {chunk.id for ref in saved.answer.citations for chunk in resolve(ref, desk.catalog)}
    assert answer.citations and {c.chunk_id for c in answer.citations} <= resolved


def cli_settings(mini_index: Settings, store_url: str, trainers_setting: str) -> Settings:
    return mini_index.model_copy(update={"database_url": store_url, "trainer_users": trainers_setting})


def test_cli_writes_need_a_trainer_password(
    store_url: str,
    mini_index: Settings,
    trainers_setting: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from assistant import cli

    settings = cli_settings(mini_index, store_url, trainers_setting)
    create = [
        "curated",
        "create",
        "--id",
        "compenso-odv",
        "--question",
        QUESTION,
        "--answer",
        TEXT,
        "--cite",
        f"{CTS}:56:2",
        "--tag",
        "lavoro",
    ]
    monkeypatch.setenv("LC_TRAINER_PASSWORD", PASSWORD)
    assert cli.main([*create, "--user", "ospite"], settings) == 1
    assert capsys.readouterr().err == (
        "Errore: Solo i formatori possono modificare le risposte curate: l'utente "
        "'ospite' non è tra i formatori configurati (LC_TRAINER_USERS).\n"
    )
    monkeypatch.setenv("LC_TRAINER_PASSWORD", "sbagliata")
    assert cli.main([*create, "--user", "maria"], settings) == 1
    assert capsys.readouterr().err == "Errore: Password errata per il formatore 'maria'.\n"
    monkeypatch.delenv("LC_TRAINER_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main([*create, "--user", "maria", "--password-stdin"], settings) == 0
    assert capsys.readouterr().out == "Creata la risposta curata 'compenso-odv' (revisione 1, bozza).\n"
    monkeypatch.setenv("LC_TRAINER_PASSWORD", PASSWORD)
    assert cli.main(["curated", "approve", "compenso-odv", "--user", "maria"], settings) == 1  # her own answer
    assert capsys.readouterr().err == f"Errore: {SELF_APPROVAL}\n"
    monkeypatch.setenv("LC_TRAINER_PASSWORD", "luca-password")
    assert cli.main(["curated", "approve", "compenso-odv", "--user", "luca"], settings) == 0
    assert capsys.readouterr().out == "Risposta curata 'compenso-odv': salvata la revisione 2 (approvata).\n"
    monkeypatch.setenv("LC_TRAINER_PASSWORD", PASSWORD)
    assert cli.main(["curated", "list", "--json", "--tag", "lavoro"], settings) == 0
    assert [a["id"] for a in json.loads(capsys.readouterr().out)] == ["compenso-odv"]
    assert cli.main(["curated", "check"], settings) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("Risposte curate valide: 1 risposte (1 approvate)")
    path = tmp_path / "risposte.json"
    assert cli.main(["curated", "export", "--format", "json", "--output", str(path)], settings) == 0
    assert cli.main(["curated", "import", str(path), "--user", "luca"], settings) == 1  # luca's password
    assert capsys.readouterr().err.endswith("Errore: Password errata per il formatore 'luca'.\n")
    assert cli.main(["curated", "import", str(path), "--user", "maria"], settings) == 0
    assert capsys.readouterr().out == "compenso-odv: invariata\n"
    handout = tmp_path / "dispensa.docx"
    assert cli.main(["curated", "export", "--format", "docx", "--output", str(handout)], settings) == 0
    assert "1. " + QUESTION in [p.text for p in docx.Document(str(handout)).paragraphs]


def test_cli_errors_are_one_italian_line(store_url: str, mini_index: Settings, trainers_setting: str) -> None:
    env = dict(
        os.environ,
        LC_CORPUS_DIR=str(mini_index.corpus_dir),
        LC_DATA_DIR=str(mini_index.data_dir),
        LC_DATABASE_URL=store_url,
        LC_TRAINER_USERS=trainers_setting,
        LC_TRAINER_PASSWORD=PASSWORD,
    )
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "curated", "archive", "nessuna", "--user", "maria"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "Errore: Nessuna risposta curata con id 'nessuna' (elencale con: assistant curated list).\n"
    )


# --- roles: self-approval, what visitors see, sessions behind every write ---------------------------------


def test_whoever_wrote_the_latest_content_cannot_approve_it(store: CuratedStore) -> None:
    created = store.create(draft(), "maria")
    with pytest.raises(CuratedError) as info:
        store.approve(created.id, "maria", 1)
    assert str(info.value) == SELF_APPROVAL
    assert (store.require(created.id).status, store.require(created.id).revision) == ("bozza", 1)
    archived = store.archive(created.id, "luca", 1)  # a change of status is not a change of content
    with pytest.raises(CuratedError, match="l'ultima modifica del contenuto è tua"):
        store.approve(created.id, "maria", archived.revision)
    edited = store.update(replace(archived, answer=TEXT + " Vale anche per le APS."), "luca", archived.revision)
    with pytest.raises(CuratedError, match=r"è tua \(luca\)"):
        store.approve(created.id, "luca", edited.revision)
    assert store.content_author(created.id) == "luca" and store.content_author(created.id, up_to=2) == "maria"
    ok = store.approve(created.id, "maria", edited.revision)  # maria reads luca's change and approves it
    assert (ok.status, ok.approved_by) == ("approvata", "maria")
    other = store.create(draft(id="compenso-odv-bis"), "luca")
    assert store.approve(other.id, "luca", 1, forbid_self_approval=False).approved_by == "luca"  # setting off


def test_handlers_refuse_self_approval_unless_the_setting_is_off(
    desk: ui.Desk, trainers_setting: str, store: CuratedStore
) -> None:
    assert ui.create(desk, "maria", ui.to_form(draft())).ok
    assert ui.approve(desk, "maria", "compenso-odv", 1) == ui.Outcome(False, SELF_APPROVAL)
    assert store.require("compenso-odv").status == "bozza"
    lenient = replace(
        desk, trainers=Trainers.from_settings(load_settings(trainer_users=trainers_setting, forbid_self_approval=False))
    )
    assert ui.approve(lenient, "maria", "compenso-odv", 1).ok
    assert ui.approve(desk, "luca", "compenso-odv", 1).message.startswith("Conflitto:")  # already approved


def test_visitors_see_approved_answers_only(desk: ui.Desk, tmp_path: Path) -> None:
    store = desk.store
    served = store.approve(store.create(draft(), "maria").id, "luca", 1)
    store.create(draft(id="bozza-abitare", question="Si può co-progettare sull'abitare?"), "maria")
    gone = store.create(draft(id="archiviata-vecchia", question="Domanda superata sulle ODV?"), "maria")
    store.archive(gone.id, "luca", 1)
    everything = {row[0] for row in ui.search(desk, viewer="luca")}
    assert everything == {"compenso-odv", "bozza-abitare", "archiviata-vecchia"}
    for visitor in (None, "ospite"):  # nobody logged in, or a name that is no trainer
        assert [row[0] for row in ui.search(desk, viewer=visitor)] == ["compenso-odv"]
        assert ui.search(desk, status="bozza", viewer=visitor) == []
        assert ui.search(desk, status="archiviata", viewer=visitor) == []
        hidden = ui.open_answer(desk, "bozza-abitare", visitor)
        assert hidden == ui.Outcome(
            False,
            "Nessuna risposta approvata con id 'bozza-abitare': bozze, risposte archiviate e revisioni sono "
            "visibili solo ai formatori (accedi con le tue credenziali).",
        )
        assert ui.open_answer(desk, "nessuna", visitor).message.startswith("Nessuna risposta approvata con id")
        assert ui.open_answer(desk, "compenso-odv", visitor).ok
        assert ui.history(desk, "compenso-odv", visitor) == []
        assert not ui.revision_form(desk, "compenso-odv", 1, visitor).ok
        assert not ui.export(desk, "json", tmp_path, status=None, viewer=visitor).ok
        assert ui.export(desk, "json", tmp_path, viewer=visitor).ok  # approved answers: everyone
    assert ui.open_answer(desk, "bozza-abitare", "maria").ok
    assert len(ui.history(desk, "compenso-odv", "maria")) == served.revision
    assert ui.revision_form(desk, "compenso-odv", 1, "maria").ok
    exported = ui.export(desk, "json", tmp_path, status=None, viewer="maria")
    assert exported.ok and exported.path is not None
    assert {a["id"] for a in json.loads(exported.path.read_text(encoding="utf-8"))} == everything


def test_feedback_queue_and_its_drafts_are_for_trainers_only(
    desk: ui.Desk, mini_index: Settings, store_url: str, mini_assistant: Assistant
) -> None:
    from assistant.curated.feedback import FeedbackStore
    from assistant.ui.curated_tab import draft_from_feedback, feedback_rows
    from assistant.ui.services import Services

    settings = mini_index.model_copy(update={"database_url": store_url})
    services = Services(settings, assistant=mini_assistant, feedback=FeedbackStore(settings), desk=desk)
    answer = mini_assistant.ask("Le convenzioni con le ODV possono prevedere compensi?", "operatore")
    item = services.feedback.record(answer, "operatore", False, "Manca il comma 2")  # type: ignore[union-attr]
    assert feedback_rows(services, None) == [] and feedback_rows(services, "ospite") == []
    rows = feedback_rows(services, "maria")
    assert [(r[0], r[3], r[4]) for r in rows] == [(item, answer.query, "Manca il comma 2")]
    refused = draft_from_feedback(services, None, item)
    assert not refused.ok and refused.message.startswith("Per modificare le risposte curate accedi come formatore")
    assert desk.store.find() == [] and feedback_rows(services, "maria")  # nothing drafted, still queued
    made = draft_from_feedback(services, "maria", item)
    assert made.ok and made.answer is not None and made.answer.status == "bozza"
    assert feedback_rows(services, "maria") == []
    assert ui.search(desk, viewer=None) == []  # the draft made from the feedback stays hidden from visitors


def test_every_write_needs_a_live_session(desk: ui.Desk) -> None:
    from assistant.auth import LoginGuard, Sessions

    now = [0.0]
    clock = lambda: now[0]
    sessions = Sessions(desk.trainers, LoginGuard(clock=clock), minutes=480, clock=clock)
    form = ui.to_form(draft())
    maria = sessions.login("maria", PASSWORD, "127.0.0.1").token
    assert ui.as_trainer(sessions, maria, lambda who: ui.create(desk, who, form)).ok
    assert ui.as_trainer(sessions, None, lambda who: ui.archive(desk, who, "compenso-odv", 1)) == ui.Outcome(
        False,
        "Per modificare le risposte curate accedi come formatore: chi non ha un account da formatore può solo "
        "consultarle.",
    )
    luca = sessions.login("luca", "luca-password", "127.0.0.1").token
    now[0] += 480 * 60  # eight hours later both sessions have expired
    expired = ui.as_trainer(sessions, luca, lambda who: ui.approve(desk, who, "compenso-odv", 1))
    assert expired == ui.Outcome(False, "Sessione scaduta: accedi di nuovo.")
    luca = sessions.login("luca", "luca-password", "127.0.0.1").token
    sessions.logout(luca)  # "Esci": the same token no longer writes
    assert not ui.as_trainer(sessions, luca, lambda who: ui.approve(desk, who, "compenso-odv", 1)).ok
    assert desk.store.require("compenso-odv").status == "bozza"
    luca = sessions.login("luca", "luca-password", "127.0.0.1").token
    approved_now = ui.as_trainer(sessions, luca, lambda who: ui.approve(desk, who, "compenso-odv", 1))
    assert approved_now.ok and desk.store.require("compenso-odv").approved_by == "luca"
