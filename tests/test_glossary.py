"""The shared glossary: loader and validator messages, alias matching, same definition for everyone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS

from assistant.glossary import check, is_definitional, load_glossary
from assistant.references import Ref

GOOD = """id: co-progettazione
term: co-progettazione
aliases: [coprogettazione, co-design]
definition: Istituto dell'art. 55, comma 3.
per_funzionari: Indite il procedimento.
per_operatori: Presentate una proposta.
legal_basis:
  - {doc_id: dlgs-117-2017-codice-terzo-settore, article: "55", comma: "3"}
related: [co-programmazione]
"""
OTHER = """id: co-programmazione
term: co-programmazione
aliases: [coprogrammazione]
definition: Istituto dell'art. 55, comma 2.
per_funzionari: Convocate il tavolo.
per_operatori: Partecipate al tavolo.
legal_basis:
  - {doc_id: dlgs-117-2017-codice-terzo-settore, article: "55", comma: "2"}
"""


def write(tmp: Path, **files: str) -> Path:
    folder = tmp / "glossario"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def resolver(ref: Ref) -> bool:
    return (ref.doc_id, ref.article, ref.comma) in {
        ("dlgs-117-2017-codice-terzo-settore", "55", "3"),
        ("dlgs-117-2017-codice-terzo-settore", "55", "2"),
    }


def test_good_files_pass(tmp_path: Path) -> None:
    glossary = load_glossary(write(tmp_path, **{"co-progettazione": GOOD, "co-programmazione": OTHER}))
    assert check(glossary, resolver) == []


def test_duplicate_alias_is_reported(tmp_path: Path) -> None:
    clash = OTHER.replace("aliases: [coprogrammazione]", "aliases: [Co-Design]")
    glossary = load_glossary(write(tmp_path, **{"co-progettazione": GOOD, "co-programmazione": clash}))
    assert check(glossary, resolver) == [
        "co-programmazione.yaml: l'alias o termine 'Co-Design' è già usato dalla voce 'co-progettazione'."
    ]


def test_dangling_citation_is_reported(tmp_path: Path) -> None:
    dangling = OTHER.replace('comma: "2"', 'comma: "9"')
    glossary = load_glossary(write(tmp_path, **{"co-progettazione": GOOD, "co-programmazione": dangling}))
    assert check(glossary, resolver) == [
        "co-programmazione.yaml: la base normativa dlgs-117-2017-codice-terzo-settore (art. 55, comma 9) non "
        "corrisponde a nessun passaggio indicizzato."
    ]


def test_missing_wording_and_related_are_reported(tmp_path: Path) -> None:
    no_wording = OTHER.replace("per_operatori: Partecipate al tavolo.\n", "")
    glossary = load_glossary(write(tmp_path, **{"co-progettazione": GOOD, "co-programmazione": no_wording}))
    assert check(glossary, resolver) == [
        "co-programmazione.yaml: mancano i campi obbligatori: per_operatori.",
        "co-progettazione.yaml: la voce collegata 'co-programmazione' non esiste nel glossario.",
    ]


def test_alias_accent_and_hyphen_matching() -> None:
    glossary = load_glossary(CORPUS / "glossario")
    for text in ("la CO-PROGETTAZIONE", "coprogettazione", "co progettazione", "il co-design"):
        assert [e.id for e in glossary.detect(text)] == ["co-progettazione"], text
    assert (
        glossary.lookup("OdV").id == glossary.lookup("odv").id == glossary.lookup("Organizzazioni di volontariato").id
    )
    assert [e.id for e in glossary.detect("sussidiarieta orizzontale e attivita di interesse generale")] == [
        "sussidiarieta-orizzontale",
        "attivita-di-interesse-generale",
    ]


def test_definitional_questions() -> None:
    assert is_definitional("Che cos'è la co-programmazione?")
    assert is_definitional("cosa vuol dire coprogettazione")
    assert is_definitional("Mi spieghi il RUNTS?")
    assert not is_definitional("Come partecipo a una co-progettazione?")


def test_shipped_glossary_passes_the_check(full_settings) -> None:  # type: ignore[no-untyped-def]
    exe = Path(sys.executable).with_name("assistant")
    result = subprocess.run([str(exe), "glossary", "check"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    glossary = load_glossary(CORPUS / "glossario")
    assert len(glossary.entries) >= 60


@pytest.mark.parametrize("term", ["co-progettazione", "organizzazione-di-volontariato", "rimborso-spese", "runts"])
def test_same_definition_whatever_the_phrasing_or_audience(mini_assistant, term: str) -> None:  # type: ignore[no-untyped-def]
    entry = mini_assistant.glossary.entries[term]
    questions = [
        f"Che cos'è {entry.term}?",
        f"cosa vuol dire {entry.aliases[0] if entry.aliases else entry.term}",
        f"Mi spieghi {entry.term.upper()}?",
    ]
    seen = set()
    for question in questions:
        for audience in ("funzionario", "operatore"):
            answer = mini_assistant.ask(question, audience)
            match = [g for g in answer.glossary_terms if g.id == term]
            assert match, (question, audience)
            seen.add(match[0].definition)
            if answer.source == "glossary":
                assert answer.answer.split("\n\n")[1] == entry.definition
                assert entry.wording(audience) in answer.answer
    assert seen == {entry.definition}


def test_glossary_cli_json(full_settings) -> None:  # type: ignore[no-untyped-def]
    exe = Path(sys.executable).with_name("assistant")
    result = subprocess.run([str(exe), "glossary", "--json", "OdV"], capture_output=True, text=True, timeout=120)
    data = json.loads(result.stdout)
    assert data["id"] == "organizzazione-di-volontariato" and data["legal_basis"][0]["article"] == "32"
    listing = json.loads(
        subprocess.run([str(exe), "glossary", "--json"], capture_output=True, text=True, timeout=120).stdout
    )
    assert len(listing) >= 60
    missing = subprocess.run([str(exe), "glossary", "tiramisù"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.startswith("Errore: Il termine 'tiramisù' non è nel glossario.")
