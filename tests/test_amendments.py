"""What D.Lgs. 186/2025 changes in the Codice: the table built from its text, checked, and shown on citations.

Runs on the real corpus and its index (`full_settings`); the expected amendments below were read by hand in
corpus/norme/dlgs-186-2025-terzo-settore-iva-modifiche-cts.txt, not produced by the parser under test.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.amendments import (
    AMENDING_DOC,
    AMENDMENTS_FILE,
    CODE_DOC,
    changes_in,
    load_amendments,
    propose,
    read_table,
    table_problems,
)
from assistant.answer import Assistant
from assistant.catalog import Catalog
from assistant.citations import citation
from assistant.cli.query import amendment_lines
from assistant.config import Settings
from assistant.index import indexed_catalog
from assistant.models import Citation
from assistant.ui.views import source_card

REPO = Path(__file__).resolve().parent.parent
ACT_FILE = REPO / "corpus" / "norme" / f"{AMENDING_DOC}.txt"
# Read in the act: art. 1 c. 1 inserts art. 79-bis after art. 79; art. 2 c. 2 amends art. 86 c. 1; art. 3 c. 1
# suppresses a period of art. 89 c. 7; art. 5 c. 1 amends art. 86 c. 8. Its other provisions amend other acts.
BY_HAND = {
    ("79-bis", None, "1", "1"),
    ("86", "1", "2", "2"),
    ("89", "7", "3", "1"),
    ("86", "8", "5", "1"),
}


def flat(value: str) -> str:
    return " ".join(value.split())


@pytest.fixture(scope="module")
def catalog(full_settings: Settings) -> Catalog:
    return indexed_catalog(full_settings)


def cite(catalog: Catalog, article: str, comma: str) -> Citation:
    chunk = catalog.resolve(CODE_DOC, article, comma)[0]
    info = catalog.document(CODE_DOC)
    assert info is not None
    return citation(chunk, info)


def act_provision(number: str, comma: str) -> str:
    """One comma of the amending act, cut from its source file (not from the index)."""
    body = ACT_FILE.read_text(encoding="utf-8").split(f"\nArt. {number}\n", 1)[1]
    start = body.index(f"\n{comma}. ")
    end = min(i for i in (body.find(f"\n{int(comma) + 1}. ", start), body.find("\nArt. ", start)) if i > 0)
    return flat(body[start:end])


# --- the table, built from the text ------------------------------------------------------------------


def test_the_parser_finds_the_amendments_read_by_hand(catalog: Catalog) -> None:
    found = propose(catalog)
    assert {(a.article, a.comma, a.source_article, a.source_comma) for a in found} == BY_HAND
    inserted = next(a for a in found if a.kind == "inserimento")
    assert (inserted.article, inserted.after) == ("79-bis", "79")


def test_regenerating_the_table_gives_the_shipped_one(full_settings: Settings, catalog: Catalog) -> None:
    shipped, problems = read_table(full_settings.corpus_dir / AMENDMENTS_FILE)
    assert problems == []
    assert {a.key for a in shipped} == {a.key for a in propose(catalog)}
    assert {(a.article, a.comma, a.source_article, a.source_comma) for a in shipped} == BY_HAND
    for amendment in shipped:  # each excerpt is the act's own words, in the provision it names
        assert flat(amendment.excerpt) in act_provision(amendment.source_article, amendment.source_comma)


def test_provisions_that_only_name_the_codice_amend_nothing_in_it() -> None:
    # Art. 3 c. 2 amends DPR 633/1972 "nel testo vigente prima delle modifiche introdotte dall'articolo 89";
    # art. 3 c. 3 and art. 5 c. 2 refer to art. 104 of the Codice; art. 2 c. 1 amends another decree.
    for number, comma in (("3", "2"), ("3", "3"), ("5", "2"), ("2", "1")):
        assert changes_in(act_provision(number, comma)) == [], (number, comma)


def test_the_parser_reads_lettered_amendments_of_the_whole_codice() -> None:
    passage = (
        "1. Al codice del Terzo settore, di cui al decreto legislativo 3 luglio 2017, n. 117, sono apportate le "
        "seguenti modificazioni: a) all'articolo 5, comma 1, le parole: «all'articolo 9» sono sostituite dalle "
        "seguenti: «all'articolo 10»; b) dopo l'articolo 6 è inserito il seguente: «Art. 6-bis (Prova). - 1. Testo.»"
    )
    found = [(c.article, c.comma, c.kind, c.after) for c in changes_in(passage)]
    assert found == [("5", "1", "modifica", None), ("6-bis", None, "inserimento", "6")]


# --- corpus check --------------------------------------------------------------------------------------


def test_the_shipped_table_passes_the_check(full_settings: Settings, catalog: Catalog) -> None:
    assert table_problems(full_settings.corpus_dir, catalog) == []


def test_the_check_fails_on_a_broken_table(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / AMENDMENTS_FILE).write_text(
        """modifiche:
- articolo: '86'
  comma: '1'
  tipo: modifica
  fonte: {articolo: '2', comma: '9'}
  testo: All'articolo 86, comma 1
- articolo: '86'
  comma: '8'
  tipo: modifica
  fonte: {articolo: '5', comma: '1'}
  testo: le parole sono sostituite
- articolo: '999'
  tipo: modifica
  fonte: {articolo: '3', comma: '1'}
  testo: è soppresso
- articolo: '79-bis'
  tipo: inserimento
  fonte: {articolo: '1', comma: '1'}
  testo: dopo l'articolo 79
""",
        encoding="utf-8",
    )
    problems = table_problems(tmp_path, catalog)
    assert problems[:3] == [
        f"{AMENDMENTS_FILE}, voce 4: un articolo inserito indica `dopo`: l'articolo del Codice che lo precede.",
        f"{AMENDMENTS_FILE}, voce art. 86, comma 1 del Codice: la fonte art. 2, comma 9 di {AMENDING_DOC} non "
        "corrisponde a nessun passaggio indicizzato.",
        f"{AMENDMENTS_FILE}, voce art. 86, comma 8 del Codice: il testo «le parole sono sostituite» non compare alla "
        "lettera in art. 5, comma 1.",
    ]
    assert f"{AMENDMENTS_FILE}, voce art. 999 del Codice: l'articolo 999 non è nel Codice indicizzato." in problems
    missing = [p for p in problems if "ma la tabella non la riporta" in p]
    # Nothing valid lists art. 2 c. 2, art. 3 c. 1 (it names art. 999) or the insertion: the parser's finds are missing.
    assert [p.split(" modifica l'")[1].split(" del Codice")[0] for p in missing] == [
        "art. 79-bis",
        "art. 86, comma 1",
        "art. 89, comma 7",
    ]


def test_the_check_reports_an_unreadable_table_and_a_missing_one(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / AMENDMENTS_FILE).write_text("modifiche: [\n", encoding="utf-8")
    problems = table_problems(tmp_path, catalog)
    assert problems[0].startswith(f"{AMENDMENTS_FILE}: il file non si legge come YAML")
    (tmp_path / AMENDMENTS_FILE).unlink()
    assert table_problems(tmp_path, catalog) == [
        f"Manca {AMENDMENTS_FILE}: il corpus indicizza {AMENDING_DOC}, che modifica il Codice. Proponila con "
        "`assistant corpus amendments --write` e rivedila sul testo."
    ]


def test_corpus_amendments_cli_prints_the_table(full_settings: Settings) -> None:
    exe = Path(sys.executable).with_name("assistant")
    result = subprocess.run([str(exe), "corpus", "amendments"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (full_settings.corpus_dir / AMENDMENTS_FILE).read_text(encoding="utf-8")


# --- citations -----------------------------------------------------------------------------------------


def test_an_amended_article_carries_the_mark_and_the_amending_passage(
    full_settings: Settings, catalog: Catalog
) -> None:
    table = load_amendments(full_settings.corpus_dir, catalog)
    (cited,) = table.annotate([cite(catalog, "86", "1")])
    assert [a.note for a in cited.amended_by] == [
        "modificato dal D.Lgs. 186/2025, art. 2, comma 2",
        "comma 8 modificato dal D.Lgs. 186/2025, art. 5, comma 1",
    ]
    first = cited.amended_by[0]
    assert (first.ref, first.chunk, first.article, first.comma) == (
        "art. 2, comma 2, D.Lgs. 186/2025",
        f"{AMENDING_DOC}:2:2",
        "86",
        "1",
    )
    assert flat(first.text) == act_provision("2", "2")
    assert "«85.000 euro o alla diversa soglia" in first.text
    (other,) = table.annotate([cite(catalog, "89", "7")])
    assert [a.note for a in other.amended_by] == ["modificato dal D.Lgs. 186/2025, art. 3, comma 1"]
    assert flat(other.amended_by[0].text) == act_provision("3", "1")


def test_the_article_before_an_inserted_one_says_so(full_settings: Settings, catalog: Catalog) -> None:
    (cited,) = load_amendments(full_settings.corpus_dir, catalog).annotate([cite(catalog, "79", "5-ter")])
    (note,) = cited.amended_by
    assert note.note == "dopo questo articolo il D.Lgs. 186/2025, art. 1, comma 1, inserisce l'art. 79-bis"
    assert "«Art. 79-bis (Passaggio di beni strumentali" in note.text and "6. Per gli enti di cui" in note.text


def test_other_citations_have_no_mark_and_no_generic_warning(full_settings: Settings, catalog: Catalog) -> None:
    table = load_amendments(full_settings.corpus_dir, catalog)
    (cited,) = table.annotate([cite(catalog, "55", "2")])
    assert cited.amended_by == ()
    card = source_card(catalog, 1, cited)
    assert "versione: testo vigente al 4-2-2023" in card
    assert "Attenzione" not in card and "186/2025" not in card and "lc-amending" not in card
    # Another document keeps its caveat.
    chunk = catalog.resolve(AMENDING_DOC, "2", "2")[0]
    info = catalog.document(AMENDING_DOC)
    assert info is not None and info.caveats
    (act,) = table.annotate([citation(chunk, info)])
    assert act.amended_by == ()
    assert f"<p class='lc-caveat'>Attenzione: {html.escape(info.caveats)}</p>" in source_card(catalog, 1, act)


def test_the_source_card_of_an_amended_article_opens_the_amending_passage(
    full_settings: Settings, catalog: Catalog
) -> None:
    (cited,) = load_amendments(full_settings.corpus_dir, catalog).annotate([cite(catalog, "86", "8")])
    card = source_card(catalog, 2, cited)
    assert "<p class='lc-caveat lc-amended'>modificato dal D.Lgs. 186/2025, art. 5, comma 1</p>" in card
    assert (
        "<details class='lc-amending'><summary>Testo della modifica: art. 5, comma 1, D.Lgs. 186/2025</summary>" in card
    )
    passage = catalog.by_id[f"{AMENDING_DOC}:5:1"].text
    assert f"<p>{html.escape(passage)}</p></details>" in card
    assert "comma 1 modificato dal D.Lgs. 186/2025, art. 2, comma 2" in card
    assert "Attenzione" not in card


@pytest.fixture(scope="module")
def assistant(full_settings: Settings) -> Assistant:
    return Assistant.load(full_settings)


def test_answers_mark_amended_citations_in_json_and_text(assistant: Assistant) -> None:
    answer = assistant.ask("Cosa prevede l'art. 86, comma 1, del Codice del Terzo settore?")
    data = json.loads(json.dumps(answer.to_json()))
    by_article = {(c["doc_id"], c["article"]): c for c in data["citations"]}
    amended = by_article[(CODE_DOC, "86")]
    assert {"doc_id", "article", "comma", "version", "label", "chunk_id"} <= set(amended)
    assert amended["amended_by"][0]["ref"] in ("art. 2, comma 2, D.Lgs. 186/2025", "art. 5, comma 1, D.Lgs. 186/2025")
    assert {a["chunk"] for a in amended["amended_by"]} == {f"{AMENDING_DOC}:2:2", f"{AMENDING_DOC}:5:1"}
    assert all(c["amended_by"] == [] for c in data["citations"] if c["doc_id"] != CODE_DOC)
    lines = amendment_lines(answer)
    assert lines[0] == "Modifiche successive alla versione citata:"
    assert any("modificato dal D.Lgs. 186/2025, art. 2, comma 2" in line for line in lines)
    assert any(line.startswith("    art. 2, comma 2, D.Lgs. 186/2025: «2. All'articolo 86, comma 1") for line in lines)
