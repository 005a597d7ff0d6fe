"""Calls (avvisi): the requirements file, the guided draft and its exports, the checker on real and defective
calls, the `check-call` CLI contract, the UI handlers, and bad files with their Italian messages."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pytest
from pdfmaker import write_encrypted_pdf, write_pdf

from assistant.call_check import CallCheckError, check_call
from assistant.catalog import Catalog
from assistant.cli import calls as cli_calls
from assistant.config import load_settings
from assistant.drafting import DraftError, DraftForm, draft_call, draft_docx, draft_markdown, export_draft
from assistant.index import indexed_catalog
from assistant.requirements import (
    CALL_TYPES,
    EVIDENCE_MAX,
    MARKER,
    Requirements,
    RequirementsError,
    citations_for,
    load_requirements,
    resolve_basis,
)
from assistant.text import fold
from assistant.ui.drafting_handlers import check_uploaded_call, draft_from_form, theme_choices

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # evals/ is a top-level folder of the repository
    sys.path.insert(0, str(REPO))

from evals.checker import HELDOUT_FLOOR, evaluate, load_truth, materialize  # noqa: E402

GORGONZOLA = REPO / "corpus" / "avvisi" / "comune-gorgonzola-2024-avviso-coprogettazione-fragilita-longevita.txt"
DEV = [f for f in load_truth() if f.get("split", "dev") == "dev"]

COMPLETE_FORM = dict(
    authority="Comune di Esempio, Direzione Welfare e Salute",
    theme="abitare",
    subject="servizi di accompagnamento all'abitare per nuclei in emergenza abitativa",
    needs="Nel 2025 i servizi sociali hanno seguito 140 nuclei in emergenza abitativa, 60 con minori.",
    objectives="Generale: ridurre l'emergenza abitativa. Specifici: accompagnare 80 nuclei all'autonomia.",
    recipients="nuclei familiari in carico ai servizi sociali in emergenza abitativa",
    duration="24 mesi dalla sottoscrizione della convenzione",
    resources="€ 300.000,00 per l'intero periodo e 10 alloggi comunali in comodato d'uso",
    requirements="assenza delle cause di esclusione indicate nel modello di domanda",
    criteria="qualità della proposta (max 50 punti); rete (max 20 punti); risorse aggiuntive (max 30 punti)",
    timeline="pubblicazione 1 marzo 2026; scadenza 31 marzo 2026; tavolo entro maggio 2026",
    procedure_manager="dott.ssa Maria Rossi, Direzione Welfare e Salute",
    planning_act="Piano di zona 2025-2027 approvato dall'Assemblea dei sindaci",
    rationale="gli enti del territorio portano alloggi, volontari e reti di prossimità",
    submission="entro le ore 12:00 del 31 marzo 2026 via PEC a welfare@pec.comune.esempio.it",
)


@pytest.fixture(scope="module")
def settings():  # type: ignore[no-untyped-def]
    return load_settings(corpus_dir=REPO / "corpus", data_dir=REPO / "data")


@pytest.fixture(scope="module")
def catalog(settings) -> Catalog:  # type: ignore[no-untyped-def]
    return indexed_catalog(settings)


@pytest.fixture(scope="module")
def requirements(settings) -> Requirements:  # type: ignore[no-untyped-def]
    return load_requirements(settings.corpus_dir)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture call on disk (PDFs and the DOCX built from their sources)."""
    directory = tmp_path_factory.mktemp("calls")
    return {f["file"]: materialize(f, directory) for f in load_truth()}


# --- requirements ---------------------------------------------------------------------------------


def test_every_legal_basis_resolves_to_an_indexed_passage(requirements: Requirements, catalog: Catalog) -> None:
    unresolved = [
        f"{owner}: {basis.ref.describe()} «{basis.quote}»"
        for owner, basis in requirements.bases()
        if resolve_basis(basis, catalog) is None
    ]
    assert not unresolved, "citazioni che non corrispondono a passaggi indicizzati:\n" + "\n".join(unresolved)


def test_every_element_and_flag_cites_a_source_for_each_type(requirements: Requirements, catalog: Catalog) -> None:
    missing = [
        f"{item.id} ({kind})"
        for item in (*requirements.elements, *requirements.red_flags)
        for kind in item.applies_to
        if not citations_for(item.legal_basis, catalog, kind)
    ]
    assert not missing


def test_requirements_model_is_complete(requirements: Requirements) -> None:
    for element in requirements.elements:
        assert element.severity in ("obbligatorio", "raccomandato")
        assert element.label and element.description and element.guidance and element.common_mistake
    ids = {e.id for e in requirements.elements}
    for kind in CALL_TYPES:
        required = {e.id for e in requirements.elements_for(kind) if e.severity_for(kind) == "obbligatorio"}
        assert {
            "amministrazione-procedente",
            "oggetto",
            "responsabile-procedimento",
            "pubblicita-trasparenza",
        } <= required
    assert {"tavolo-coprogettazione", "criteri-valutazione", "durata", "risorse", "rimborso-spese"} <= {
        e.id for e in requirements.elements_for("co-progettazione") if e.severity == "obbligatorio"
    }
    assert {"requisiti-odv-aps", "favore-mercato", "procedura-comparativa"} <= ids
    flags = {f.id for f in requirements.red_flags}
    assert {
        "lessico-appalto",
        "criterio-prezzo",
        "bando-fotografia",
        "manca-tavolo",
        "manca-ets-runts",
        "mancano-risorse",
        "manca-durata",
    } <= flags
    assert next(f for f in requirements.red_flags if f.id == "bando-fotografia").doubtful


def test_nine_thematic_threads_and_other(requirements: Requirements) -> None:
    labels = [t.label for t in requirements.themes]
    assert len(labels) == 10 and labels[-1] == "Altro"
    for name in ("Accoglienza", "Marginalità", "Povertà educativa", "Lavoro", "Abitare", "famiglie", "discriminazioni"):
        assert any(name.lower() in label.lower() for label in labels), name


def test_each_draft_title_is_recognised_as_its_own_section_only(requirements: Requirements) -> None:
    for kind in CALL_TYPES:
        elements = requirements.elements_for(kind)
        for element in elements:
            title = fold(element.draft_title)
            owners = [e.id for e in elements if e.detector.heading and e.detector.heading.search(title)]
            assert owners == [element.id], (kind, element.draft_title, owners)


def test_invalid_requirements_file_gives_an_italian_error(tmp_path: Path) -> None:
    (tmp_path / "requisiti").mkdir()
    (tmp_path / "requisiti" / "avviso.yaml").write_text("elements:\n  - id: x\n    label: X\n", encoding="utf-8")
    with pytest.raises(RequirementsError, match=r"avviso\.yaml, elemento x: mancano i campi description"):
        load_requirements(tmp_path)
    with pytest.raises(RequirementsError, match="Manca il file dei requisiti degli avvisi"):
        load_requirements(tmp_path / "nessuno")


# --- guided draft ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CALL_TYPES)
def test_complete_draft_passes_its_own_checker(
    kind: str, catalog: Catalog, requirements: Requirements, tmp_path: Path
) -> None:
    draft = draft_call(DraftForm(call_type=kind, **COMPLETE_FORM), catalog, requirements)
    sections = {s.element_id: s for s in draft.sections if s.element_id}
    assert set(sections) == {e.id for e in requirements.elements_for(kind)}
    for path in export_draft(draft, tmp_path):
        report = check_call(path, catalog, requirements)
        assert report.type == kind
        assert not report.red_flags, [f.id for f in report.red_flags]
        for element in report.elements:
            if element.severity == "obbligatorio":
                assert element.status == "presente", (path.suffix, element.id, element.evidence)
            # `dubbio` exactly where a [DA COMPLETARE] is left (recommended sections with no form field)
            assert (element.status == "dubbio") == bool(sections[element.id].missing), (path.suffix, element.id)


def test_incomplete_draft_is_dubbio_exactly_where_marked(
    catalog: Catalog, requirements: Requirements, tmp_path: Path
) -> None:
    form = DraftForm(
        call_type="co-progettazione", authority="Comune di Esempio", duration="12 mesi", subject="un emporio solidale"
    )
    draft = draft_call(form, catalog, requirements)
    marked = {s.element_id for s in draft.sections if s.element_id and s.missing}
    assert {"bisogni", "risorse", "criteri-valutazione", "responsabile-procedimento"} <= marked
    assert "durata" not in marked and "amministrazione-procedente" not in marked
    md_path, docx_path = export_draft(draft, tmp_path)
    for path in (md_path, docx_path):
        report = check_call(path, catalog, requirements)
        not_present = {e.id for e in report.elements if e.status != "presente"}
        assert not_present == marked, path.suffix
        assert all(e.status == "dubbio" for e in report.elements if e.id in marked)
        assert all(MARKER in (e.evidence or "") for e in report.elements if e.id in marked)


def test_draft_adds_no_numbers_or_claims_the_official_did_not_give(
    catalog: Catalog, requirements: Requirements
) -> None:
    """With only the type given, every figure left in the draft belongs to a legal reference or a list number."""
    dates = re.compile(r"\b\d{1,2} (marzo|luglio|agosto) \d{4}")  # dates of the acts: D.Lgs. 3 luglio 2017
    legal = re.compile(
        r"(art\.|artt\.|comma|commi|n\.|D\.Lgs\.|d\.lgs\.|legge|L\.|DM|D\.M\.|par\.)\s*\d+(/\d{4})?"
        r"(-bis)?|\b\d+/\d{4}\b|\b\d\)|\b\d{1,2}-bis\b"
    )
    for kind in CALL_TYPES:
        draft = draft_call(DraftForm(call_type=kind), catalog, requirements)
        for section in draft.sections:
            leftover = re.findall(r"\d+", legal.sub(" ", dates.sub(" ", section.text)))
            assert not leftover, (kind, section.title, leftover, section.text)
        assert draft.missing, "un modulo vuoto deve lasciare punti da completare"


def test_draft_sections_carry_guidance_and_resolved_sources(catalog: Catalog, requirements: Requirements) -> None:
    draft = draft_call(DraftForm(call_type="convenzione", **COMPLETE_FORM), catalog, requirements)
    for section in draft.sections[1:]:
        assert section.guidance and section.common_mistake and section.sources, section.title
    sources = next(s for s in draft.sections if s.element_id == "rimborso-spese").sources
    assert any(s.startswith("art. 56, comma 2") and "D.Lgs. 117/2017" in s for s in sources), sources
    markdown = draft_markdown(draft)
    assert markdown.startswith("# Avviso pubblico per la stipula di convenzioni")
    assert "> **Nota di redazione** (obbligatorio)." in markdown
    assert MARKER in draft_markdown(draft_call(DraftForm(call_type="convenzione"), catalog, requirements))


def test_invalid_call_type_is_refused_in_italian(catalog: Catalog, requirements: Requirements) -> None:
    with pytest.raises(DraftError, match=r"Tipo di procedura non valido: 'appalto'\. Scegli tra co-progettazione"):
        draft_call(DraftForm(call_type="appalto"), catalog, requirements)


def test_docx_export_opens_and_contains_every_section(
    catalog: Catalog, requirements: Requirements, tmp_path: Path
) -> None:
    import docx

    draft = draft_call(DraftForm(call_type="co-progettazione", theme="lavoro"), catalog, requirements)
    document = docx.Document(str(draft_docx(draft, tmp_path / "bozza.docx")))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert headings[0] == draft.title
    for section in draft.sections:
        assert any(h.endswith(section.title) for h in headings), section.title
    body = "\n".join(p.text for p in document.paragraphs)
    assert "[DA COMPLETARE: bisogni da soddisfare" in body and "Nota di redazione" in body


# --- checker on real and defective calls ----------------------------------------------------------


def test_gorgonzola_call_has_every_element_with_evidence(catalog: Catalog, requirements: Requirements) -> None:
    report = check_call(GORGONZOLA, catalog, requirements)
    assert report.type == "co-progettazione"
    for element in report.elements:
        assert element.status == "presente", (element.id, element.evidence)
        assert element.evidence and len(element.evidence) <= EVIDENCE_MAX and element.page is None
        assert element.citations
    evidence = {e.id: e.evidence or "" for e in report.elements}
    assert "24 mesi" in evidence["durata"] and "60.000,00" in evidence["risorse"]
    assert "Raffaella Sirtori" in evidence["responsabile-procedimento"]
    assert [f.id for f in report.red_flags] == ["lessico-appalto"]
    assert "libera concorrenza" in (report.red_flags[0].evidence or "")


@pytest.mark.parametrize("fixture", DEV, ids=[f["file"].rsplit("/", 1)[-1] for f in DEV])
def test_each_known_defect_is_detected_with_its_evidence(
    fixture: dict, built: dict[str, Path], catalog: Catalog, requirements: Requirements
) -> None:
    report = check_call(built[fixture["file"]], catalog, requirements)
    assert report.type == fixture["type"]
    statuses = {e.id: e for e in report.elements}
    assert set(statuses) == set(fixture["elements"])
    for element_id, expected in fixture["elements"].items():
        found = statuses[element_id]
        if expected != "presente":
            assert found.status != "presente", (element_id, found.evidence)
        if found.status != "assente":
            assert found.evidence and len(found.evidence) <= EVIDENCE_MAX, element_id
    flags = {f.id: f for f in report.red_flags}
    assert set(flags) == set(fixture["red_flags"])
    patterned = {f.id for f in requirements.red_flags if f.patterns}
    for flag_id, flag in flags.items():
        assert flag.citations
        assert (flag.evidence is not None) == (flag_id in patterned), flag_id
    found_items = {
        **{k: (v.evidence, v.page) for k, v in statuses.items()},
        **{k: (v.evidence, v.page) for k, v in flags.items()},
    }
    for key, text in (fixture.get("evidence") or {}).items():
        assert text.lower() in (found_items[key][0] or "").lower(), key
    for key, page in (fixture.get("pages") or {}).items():
        assert found_items[key][1] == page, key


def test_checker_precision_and_recall_reach_the_target(
    catalog: Catalog, requirements: Requirements, tmp_path: Path
) -> None:
    """Gated on held-out calls only (labelled with the patterns frozen, never used to tune them), at what they
    reach: precision 0.76, recall 0.94 on 8 calls; the dev calls tuned the rules and would say 1.00."""
    heldout = [f for f in load_truth() if f.get("split") == "heldout"]
    assert len(heldout) >= 6, [f["file"] for f in heldout]
    results = evaluate(catalog, requirements, truth=heldout, work_dir=tmp_path)
    assert len(results["heldout"].fixtures) == len(heldout) and not results["dev"].fixtures
    total = results["heldout"].total("all")
    assert (total.precision or 0) >= HELDOUT_FLOOR["precision"], (total.precision, total.tp, total.fp)
    assert (total.recall or 0) >= HELDOUT_FLOOR["recall"], (total.recall, total.tp, total.fn)


def test_negations_and_quotations_are_not_red_flags(
    catalog: Catalog, requirements: Requirements, tmp_path: Path
) -> None:
    path = tmp_path / "avviso.txt"
    path.write_text(
        "Avviso di co-progettazione del Comune di Prova.\n\n"
        "La procedura non consiste in un appalto e le somme non costituiscono corrispettivo.\n\n"
        "Secondo la Corte costituzionale il modello «non si basa sulla corresponsione di prezzi e corrispettivi».\n\n"
        "Non sono ammessi rimborsi forfettari.\n\n"
        "Per ogni giorno di ritardo non giustificato si applica una penale di 50 euro.\n",
        encoding="utf-8",
    )
    flags = {f.id: f for f in check_call(path, catalog, requirements).red_flags}
    assert "pagamento-corrispettivo" not in flags and "rimborso-forfettario" not in flags
    assert "criterio-prezzo" not in flags and "lessico-appalto" not in flags
    assert "penale di 50 euro" in (flags["penali-capitolato"].evidence or "")


def test_unknown_document_type_and_forced_type(catalog: Catalog, requirements: Requirements, tmp_path: Path) -> None:
    path = tmp_path / "lettera.md"
    path.write_text(
        "# Lettera\n\nGentile direttrice, le scrivo per la festa di quartiere di sabato.\n", encoding="utf-8"
    )
    report = check_call(path, catalog, requirements)
    assert report.type == "sconosciuto"
    assert {e.id for e in report.elements} == {e.id for e in requirements.elements_for("sconosciuto")}
    forced = check_call(path, catalog, requirements, call_type="convenzione")
    assert forced.type == "convenzione" and forced.status("favore-mercato") == "assente"


# --- bad files ------------------------------------------------------------------------------------


def test_bad_files_get_an_italian_message(catalog: Catalog, requirements: Requirements, tmp_path: Path) -> None:
    def message(path: Path, **kwargs: object) -> str:
        with pytest.raises(CallCheckError) as info:
            check_call(path, catalog, requirements, **kwargs)  # type: ignore[arg-type]
        return str(info.value)

    assert message(write_encrypted_pdf(tmp_path / "cifrato.pdf")) == (
        "Impossibile verificare l'avviso: cifrato.pdf: il PDF è protetto da password e non può essere letto."
    )
    (tmp_path / "vuoto.txt").write_bytes(b"")
    assert message(tmp_path / "vuoto.txt") == "Impossibile verificare l'avviso: vuoto.txt: il file è vuoto."
    assert message(write_pdf(tmp_path / "scansione.pdf", image_only_pages=2)).startswith(
        "Impossibile verificare l'avviso: scansione.pdf: il PDF non contiene testo estraibile (probabilmente è una "
        "scansione"
    )
    huge = tmp_path / "enorme.txt"
    huge.write_text("Avviso di co-progettazione. " * 60000, encoding="utf-8")
    assert message(huge, max_upload_mb=1) == (
        "Impossibile verificare l'avviso: enorme.txt pesa 1.6 MB, oltre il limite di 1 MB (impostazione "
        "max_upload_mb, variabile LC_MAX_UPLOAD_MB)."
    )
    (tmp_path / "rotto.pdf").write_bytes(b"%PDF-1.4 questo non e' un pdf")
    assert message(tmp_path / "rotto.pdf") == (
        "Impossibile verificare l'avviso: rotto.pdf: il PDF è danneggiato o non è un PDF valido."
    )
    (tmp_path / "rotto.docx").write_bytes(b"non e' uno zip")
    assert message(tmp_path / "rotto.docx") == (
        "Impossibile verificare l'avviso: rotto.docx: il file DOCX è danneggiato o non valido."
    )
    (tmp_path / "avviso.doc").write_bytes(b"vecchio formato")
    assert "formato non supportato (.doc): sono accettati PDF, DOCX, TXT e MD." in message(tmp_path / "avviso.doc")
    assert (
        message(tmp_path / "manca.pdf")
        == f"Impossibile verificare l'avviso: il file {tmp_path / 'manca.pdf'} non esiste."
    )


# --- CLI ------------------------------------------------------------------------------------------


def _cli(argv: list[str], settings) -> int:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser(prog="assistant")
    cli_calls.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args, settings))


def test_check_call_json_contract(settings, built: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = built["cp-fotografia.pdf"]
    assert _cli(["check-call", str(path), "--json"], settings) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["file", "type", "elements", "red_flags"]
    expected_type = next(f["type"] for f in load_truth() if f["file"] == "cp-fotografia.pdf")
    assert data["file"] == str(path) and data["type"] == expected_type == "co-progettazione"
    citation_keys = ["doc_id", "article", "comma", "section", "page", "version", "label"]
    for element in data["elements"]:
        assert list(element) == ["id", "label", "severity", "status", "evidence", "page", "citations"]
        assert element["status"] in ("presente", "assente", "dubbio")
        assert element["severity"] in ("obbligatorio", "raccomandato")
        assert element["evidence"] is None or (isinstance(element["evidence"], str) and len(element["evidence"]) <= 300)
        assert element["page"] is None or isinstance(element["page"], int)
        assert element["citations"] and all(list(c) == citation_keys for c in element["citations"])
    assert data["red_flags"]
    for flag in data["red_flags"]:
        assert list(flag) == ["id", "label", "evidence", "page", "citations"]
        assert all(list(c) == citation_keys for c in flag["citations"])
    photo = next(f for f in data["red_flags"] if f["id"] == "bando-fotografia")
    assert photo["page"] == 2 and "sede operativa" in photo["evidence"]


def test_check_call_readable_report_and_errors(
    settings,
    built: dict[str, Path],
    tmp_path: Path,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _cli(["check-call", str(built["cp-appalto-mascherato.txt"])], settings) == 0
    out = capsys.readouterr().out
    assert out.startswith("Verifica dell'avviso: ") and "Tipo di procedura riconosciuto: co-progettazione" in out
    assert "[ASSENTE ] Tavolo di co-progettazione" in out and "! Prezzo o ribasso tra i criteri di scelta" in out
    assert "Riepilogo: " in out
    (tmp_path / "vuoto.md").write_bytes(b"")
    with pytest.raises(CallCheckError, match=r"^Impossibile verificare l'avviso: vuoto\.md: il file è vuoto\.$"):
        _cli(["check-call", str(tmp_path / "vuoto.md")], settings)


# --- UI handlers ----------------------------------------------------------------------------------


def test_draft_from_form_returns_preview_and_files(settings, catalog: Catalog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = draft_from_form(
        COMPLETE_FORM["authority"],
        "co-progettazione",
        "abitare",
        COMPLETE_FORM["subject"],
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        catalog=catalog,
        out_dir=tmp_path,
        settings=settings,
    )
    assert result.markdown.startswith("# Avviso pubblico") and result.md_path and result.docx_path
    assert Path(result.md_path).read_text(encoding="utf-8") == result.markdown
    assert Path(result.docx_path).stat().st_size > 0
    assert result.warning and "punti da completare" in result.warning and result.missing
    bad = draft_from_form(
        "", "gara", "", "", "", "", "", "", "", "", "", "", catalog=catalog, out_dir=tmp_path, settings=settings
    )
    assert bad.markdown == "" and bad.warning and bad.warning.startswith("Tipo di procedura non valido")


def test_check_uploaded_call_returns_report_or_warning(settings, catalog: Catalog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = check_uploaded_call(GORGONZOLA, catalog=catalog, display_name="avviso.txt", settings=settings)
    assert result.warning is None and result.data and result.data["file"] == "avviso.txt"
    assert "| Durata | obbligatorio | ✅ presente |" in result.markdown and "Lessico da appalto" in result.markdown
    encrypted = check_uploaded_call(write_encrypted_pdf(tmp_path / "x.pdf"), catalog=catalog, settings=settings)
    assert encrypted.data is None and encrypted.warning == (
        "Impossibile verificare l'avviso: x.pdf: il PDF è protetto da password e non può essere letto."
    )
    assert check_uploaded_call(None, settings=settings).warning == "Carica un avviso in formato PDF, DOCX, TXT o MD."
    assert ("Abitare", "abitare") in theme_choices(settings)
