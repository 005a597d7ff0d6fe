"""Precision and recall of the call checker (`assistant check-call`) on calls with known defects.

`python -m evals.checker` checks every call listed in tests/fixtures/calls/truth.yaml (the real Gorgonzola call
and fictional calls written with known defects; PDFs and the DOCX are built from their sources first), compares
the result with the ground truth and prints a Markdown table, also saved to evals/CHECKER_RESULTS.md.

A positive is a defect: an element `assente` or `dubbio`, or a red flag raised. Precision is the share of
reported defects that are real, recall the share of real defects that are reported. Exact agreement on the
three statuses, the recognised type, the expected evidence and the PDF pages are reported beside them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.call_check import CallReport, check_call
from assistant.catalog import Catalog
from assistant.requirements import Requirements, load_requirements

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "calls"
TRUTH = FIXTURES / "truth.yaml"
RESULTS = Path(__file__).resolve().parent / "CHECKER_RESULTS.md"
PAGE_BREAK = "<<<PAGINA>>>"
# The gate (tests/test_drafting.py and this script's exit code): held-out calls only, whose labels were written with
# the patterns frozen, a little below what they reach (8 calls, ho4-* and ho5-*: precision 0.76, recall 0.94).
HELDOUT_FLOOR = {"precision": 0.70, "recall": 0.90}
# Earlier held-out rounds, measured before the patterns were widened on their errors (then moved to dev).
HISTORY = (
    "Prima tornata di avvisi tenuti da parte (3 avvisi: ho-cp-domiciliarita, ho-conv-trasporto, ho-cg-giovani), "
    "misurata a regole congelate: elementi P 0.68 / R 0.95, segnali P 0.33 / R 0.50, complessivo P 0.65 / R 0.92. "
    "Gli errori (lessico più vario, titoli numerati in minuscolo, una negazione troppo larga) hanno portato a "
    "correggere le regole; quegli avvisi sono poi passati tra quelli di sviluppo.",
    "Seconda tornata (4 avvisi: ho2-cp-accoglienza, ho2-conv-odv, ho2-cg-mobilita, ho2-cp-lessico), a regole "
    "congelate: elementi P 0.79 / R 1.00, segnali P 1.00 / R 0.50, complessivo P 0.80 / R 0.95. L'errore principale "
    "(tipo non riconosciuto con l'ordine «organizzazioni di volontariato ... convenzione») e altri due sono stati "
    "corretti; anche questi avvisi sono passati tra quelli di sviluppo.",
    "Terza tornata (4 avvisi: ho3-cp-quartieri, ho3-conv-aps, ho3-cp-sintetico, ho3-cg-sanita), a regole congelate: "
    "elementi P 0.89 / R 1.00, segnali P 0.67 / R 0.80, complessivo P 0.86 / R 0.98. Errori: un segnale di assenza "
    "sollevato per un elemento presente (corretto), nomi di enti non riconosciuti («Municipio», «Città di», «ASST»), "
    "«laboratori di co-progettazione», «commissione giudicatrice»; poi passati tra quelli di sviluppo.",
)


# --- fixtures -------------------------------------------------------------------------------------


def load_truth(path: Path = TRUTH) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["fixtures"])


def render_pdf(source: Path, target: Path) -> Path:
    """A real PDF (tests/pdfmaker.py) with one page per block of the source separated by PAGE_BREAK."""
    if str(REPO / "tests") not in sys.path:  # tests/pdfmaker.py writes real PDFs with no extra dependency
        sys.path.insert(0, str(REPO / "tests"))
    from pdfmaker import write_pdf

    pages = [part.strip("\n").splitlines() for part in source.read_text(encoding="utf-8").split(PAGE_BREAK)]
    return write_pdf(target, pages)


def render_docx(source: Path, target: Path) -> Path:
    """A Word file from a small Markdown source: '#' headings, paragraphs, '- ' list items."""
    import docx

    document = docx.Document()
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            document.add_paragraph(" ".join(paragraph))
            paragraph.clear()

    for line in source.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            flush()
            level = len(stripped) - len(stripped.lstrip("#"))
            document.add_heading(stripped.lstrip("#").strip(), level=min(level, 3))
        elif stripped.startswith("- "):
            flush()
            document.add_paragraph(stripped[2:], style="List Bullet")
        elif stripped:
            paragraph.append(stripped)
        else:
            flush()
    flush()
    document.save(str(target))
    return target


def materialize(fixture: dict[str, Any], work_dir: Path) -> Path:
    """The path of the call to check, building PDFs and DOCX from their sources into `work_dir`."""
    if fixture.get("root") == "repo":
        return REPO / fixture["file"]
    render = fixture.get("render")
    if not render:
        return FIXTURES / fixture["file"]
    work_dir.mkdir(parents=True, exist_ok=True)
    builder = render_pdf if render == "pdf" else render_docx
    return builder(FIXTURES / fixture["source"], work_dir / fixture["file"])


# --- scoring --------------------------------------------------------------------------------------


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, expected: bool, predicted: bool) -> None:
        if expected and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif expected:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p is not None and r is not None and p + r else None


@dataclass
class FixtureScore:
    file: str
    kind: str
    type_ok: bool
    expected_defects: int = 0
    found: int = 0
    false_alarms: int = 0
    missed: list[str] = field(default_factory=list)
    spurious: list[str] = field(default_factory=list)


@dataclass
class Evaluation:
    elements: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    flags: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    exact: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    fixtures: list[FixtureScore] = field(default_factory=list)

    def total(self, which: str) -> Tally:
        tallies = (
            list(self.elements.values())
            if which == "elements"
            else (list(self.flags.values()) if which == "flags" else [*self.elements.values(), *self.flags.values()])
        )
        return Tally(
            sum(t.tp for t in tallies),
            sum(t.fp for t in tallies),
            sum(t.fn for t in tallies),
            sum(t.tn for t in tallies),
        )


def score(report: CallReport, fixture: dict[str, Any], evaluation: Evaluation, requirements: Requirements) -> None:
    """Add one checked call to the evaluation."""
    statuses = {e.id: e.status for e in report.elements}
    item = FixtureScore(
        fixture["file"].rsplit("/", 1)[-1], Path(fixture["file"]).suffix.lstrip("."), report.type == fixture["type"]
    )
    evaluation.checks["type_ok" if item.type_ok else "type_ko"] += 1
    for element_id, expected in fixture["elements"].items():
        predicted = statuses.get(element_id, "assente")
        evaluation.exact["agree" if predicted == expected else "disagree"] += 1
        is_defect, flagged = expected != "presente", predicted != "presente"
        evaluation.elements[element_id].add(is_defect, flagged)
        _count(item, element_id, is_defect, flagged, f"{element_id}: atteso {expected}, trovato {predicted}")
    raised = {f.id for f in report.red_flags}
    for flag in requirements.flags_for(fixture["type"]):
        is_flag, flagged = flag.id in fixture.get("red_flags", []), flag.id in raised
        evaluation.flags[flag.id].add(is_flag, flagged)
        _count(item, flag.id, is_flag, flagged, f"segnale {flag.id}: {'atteso' if is_flag else 'non atteso'}")
    _check_details(report, fixture, evaluation)
    evaluation.fixtures.append(item)


def _count(item: FixtureScore, key: str, expected: bool, predicted: bool, note: str) -> None:
    item.expected_defects += expected
    item.found += expected and predicted
    item.false_alarms += predicted and not expected
    if expected and not predicted:
        item.missed.append(note)
    elif predicted and not expected:
        item.spurious.append(note)


def _check_details(report: CallReport, fixture: dict[str, Any], evaluation: Evaluation) -> None:
    found = {e.id: (e.evidence, e.page) for e in report.elements}
    found.update({f.id: (f.evidence, f.page) for f in report.red_flags})
    for key, text in (fixture.get("evidence") or {}).items():
        evidence = (found.get(key) or (None, None))[0] or ""
        evaluation.checks["evidence_ok" if text.lower() in evidence.lower() else "evidence_ko"] += 1
    for key, page in (fixture.get("pages") or {}).items():
        evaluation.checks["page_ok" if (found.get(key) or (None, None))[1] == page else "page_ko"] += 1


def evaluate(
    catalog: Catalog,
    requirements: Requirements,
    truth: list[dict[str, Any]] | None = None,
    work_dir: Path | None = None,
) -> dict[str, Evaluation]:
    """Check every fixture and score it against the ground truth, by split ("dev", "heldout") and "all"."""
    results = {"all": Evaluation(), "dev": Evaluation(), "heldout": Evaluation()}
    with tempfile.TemporaryDirectory(prefix="lc-avvisi-") as tmp:
        directory = work_dir or Path(tmp)
        for fixture in truth if truth is not None else load_truth():
            report = check_call(materialize(fixture, directory), catalog, requirements)
            for split in ("all", fixture.get("split", "dev")):
                score(report, fixture, results[split], requirements)
    return results


# --- report ---------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ratio(counter: Counter[str], key: str) -> str:
    ok, ko = counter[f"{key}_ok"], counter[f"{key}_ko"]
    return f"{ok}/{ok + ko}"


SPLITS = (("all", "Tutti gli avvisi"), ("dev", "Avvisi di sviluppo"), ("heldout", "Avvisi tenuti da parte"))


def summary_rows(results: dict[str, Evaluation]) -> list[str]:
    lines = [
        "| Avvisi | N | Misura | Precisione | Richiamo | F1 | VP | FP | FN |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split, name in SPLITS:
        evaluation = results[split]
        for label, which in (
            ("elementi mancanti o dubbi", "elements"),
            ("segnali di allarme", "flags"),
            ("complessivo", "all"),
        ):
            t = evaluation.total(which)
            lines.append(
                f"| {name} | {len(evaluation.fixtures)} | {label} | {_pct(t.precision)} | {_pct(t.recall)} | "
                f"{_pct(t.f1)} | {t.tp} | {t.fp} | {t.fn} |"
            )
    return lines


def markdown(results: dict[str, Evaluation]) -> str:
    """The results as Markdown: summary by split, then per element, per red flag, per call, and disagreements."""
    evaluation = results["all"]
    n = len(evaluation.fixtures)
    lines = [
        "# Verifica degli avvisi: precisione e richiamo del controllo",
        "",
        f"Generato da `python -m evals.checker` su {n} avvisi (`tests/fixtures/calls/truth.yaml`): l'avviso "
        "reale di Gorgonzola e avvisi di prova scritti con difetti noti, in TXT, MD, PDF e DOCX. "
        "Positivo = un difetto: elemento `assente` o `dubbio`, oppure segnale di allarme sollevato. "
        "Gli avvisi «di sviluppo» sono stati scritti mentre si mettevano a punto le regole di riconoscimento "
        "(i loro numeri sono quindi ottimistici); quelli «tenuti da parte» sono stati scritti ed etichettati "
        "dopo, senza più modificare le regole.",
        "",
    ]
    lines += summary_rows(results)
    lines += [
        "",
        "Sugli avvisi mai visti prima il richiamo resta alto (i difetti veri vengono segnalati), la precisione "
        "no: quando il lessico è insolito il controllo segnala come mancante o dubbio un elemento che c'è. "
        "Il controllo va quindi usato come lista di verifica, non come giudizio.",
        "",
        "La soglia verificata dai test (`tests/test_drafting.py`) e dal codice di uscita di questo comando vale "
        "solo per gli avvisi tenuti da parte, poco sotto i valori raggiunti: precisione complessiva >= "
        f"{HELDOUT_FLOOR['precision']:.2f}, richiamo >= {HELDOUT_FLOOR['recall']:.2f}. Gli avvisi tenuti da parte "
        "sono la quarta tornata (ho4-*) e la quinta (ho5-*: cinque avvisi etichettati dalle descrizioni dei "
        "requisiti, senza leggere le regole di riconoscimento, e registrati prima di eseguire il controllo).",
        "",
        "### Tornate precedenti di avvisi tenuti da parte",
        "",
    ]
    for note in HISTORY:
        lines += [f"- {note}"]
    agree, disagree = evaluation.exact["agree"], evaluation.exact["disagree"]
    lines += [
        "",
        f"Tutti gli avvisi: accordo esatto sullo stato (presente / dubbio / assente) "
        f"{agree}/{agree + disagree}; tipo di procedura riconosciuto {_ratio(evaluation.checks, 'type')}; "
        f"evidenze attese trovate nella citazione {_ratio(evaluation.checks, 'evidence')}; "
        f"pagine PDF corrette {_ratio(evaluation.checks, 'page')}.",
        "",
        "## Per elemento (tutti gli avvisi)",
        "",
        "| Elemento | Difetti attesi | VP | FP | FN | Precisione | Richiamo |",
        "|---|---|---|---|---|---|---|",
    ]
    for element_id, t in sorted(evaluation.elements.items()):
        lines.append(
            f"| {element_id} | {t.tp + t.fn} | {t.tp} | {t.fp} | {t.fn} | {_pct(t.precision)} | {_pct(t.recall)} |"
        )
    lines += [
        "",
        "## Per segnale di allarme (tutti gli avvisi)",
        "",
        "| Segnale | Attesi | VP | FP | FN | Precisione | Richiamo |",
        "|---|---|---|---|---|---|---|",
    ]
    for flag_id, t in sorted(evaluation.flags.items()):
        lines.append(
            f"| {flag_id} | {t.tp + t.fn} | {t.tp} | {t.fp} | {t.fn} | {_pct(t.precision)} | {_pct(t.recall)} |"
        )
    lines += [
        "",
        "## Per avviso",
        "",
        "| Avviso | Formato | Tipo ok | Difetti attesi | Trovati | Falsi allarmi |",
        "|---|---|---|---|---|---|",
    ]
    for item in evaluation.fixtures:
        lines.append(
            f"| {item.file} | {item.kind} | {'sì' if item.type_ok else 'no'} | {item.expected_defects} | "
            f"{item.found} | {item.false_alarms} |"
        )
    errors = [(item.file, note) for item in evaluation.fixtures for note in (*item.missed, *item.spurious)]
    lines += ["", "## Disaccordi", ""] + ([f"- {file}: {note}" for file, note in errors] or ["Nessuno."])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Precisione e richiamo del controllo degli avvisi.")
    parser.add_argument("--truth", default=str(TRUTH), help="file della verità di riferimento")
    parser.add_argument("--out", default=str(RESULTS), help="dove salvare la tabella Markdown")
    args = parser.parse_args(argv)
    from assistant.config import load_settings
    from assistant.index import indexed_catalog

    settings = load_settings()
    evaluation = evaluate(
        indexed_catalog(settings), load_requirements(settings.corpus_dir), load_truth(Path(args.truth))
    )
    text = markdown(evaluation)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0 if meets_floor(evaluation["heldout"]) else 1


def meets_floor(heldout: Evaluation) -> bool:
    """Whether the held-out calls reach the gate's precision and recall."""
    total = heldout.total("all")
    return (total.precision or 0) >= HELDOUT_FLOOR["precision"] and (total.recall or 0) >= HELDOUT_FLOOR["recall"]


if __name__ == "__main__":
    raise SystemExit(main())
