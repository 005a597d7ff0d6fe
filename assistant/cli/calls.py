"""`assistant check-call FILE [--json] [--tipo TIPO]`: check a call against what the law asks of it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..call_check import CallReport, check_call
from ..config import Settings
from ..index import indexed_catalog
from ..requirements import CALL_TYPES, load_requirements

STATUS_MARKS = {"presente": "presente", "dubbio": "DUBBIO  ", "assente": "ASSENTE "}


def report_text(report: CallReport) -> str:
    """The readable Italian report: elements by severity, then red flags, then a summary."""
    lines = [f"Verifica dell'avviso: {report.file}", f"Tipo di procedura riconosciuto: {report.type}"]
    if report.type == "sconosciuto":
        lines.append("  (tipo non riconosciuto: verificati solo gli elementi comuni; indica il tipo con --tipo)")
    for severity, title in (("obbligatorio", "Elementi obbligatori"), ("raccomandato", "Elementi raccomandati")):
        chosen = [e for e in report.elements if e.severity == severity]
        if not chosen:
            continue
        lines += ["", f"{title}:"]
        for element in chosen:
            lines.append(f"  [{STATUS_MARKS[element.status]}] {element.label}")
            if element.evidence:
                page = f" (pag. {element.page})" if element.page else ""
                lines.append(f"      «{element.evidence}»{page}")
            if element.status != "presente" and element.citations:
                lines.append(f"      Lo chiede: {'; '.join(c.label for c in element.citations)}")
    lines += ["", "Segnali di allarme:" if report.red_flags else "Segnali di allarme: nessuno."]
    for flag in report.red_flags:
        doubt = " (sospetto da verificare)" if flag.doubtful and "verificare" not in flag.label else ""
        lines.append(f"  ! {flag.label}{doubt}")
        if flag.evidence:
            page = f" (pag. {flag.page})" if flag.page else ""
            lines.append(f"      «{flag.evidence}»{page}")
        lines.append(f"      Fonti: {'; '.join(c.label for c in flag.citations)}")
        if flag.guidance:
            lines.append(f"      Che cosa fare: {flag.guidance}")
    counts = {s: sum(e.status == s for e in report.elements) for s in ("presente", "dubbio", "assente")}
    lines += [
        "",
        f"Riepilogo: {counts['presente']} elementi presenti, {counts['dubbio']} dubbi, "
        f"{counts['assente']} assenti; {len(report.red_flags)} segnali di allarme.",
        "Il controllo è automatico e segnala indizi testuali: non sostituisce la verifica del funzionario.",
    ]
    return "\n".join(lines)


def cmd_check_call(args: argparse.Namespace, settings: Settings) -> int:
    requirements = load_requirements(settings.corpus_dir)
    report = check_call(
        Path(args.file),
        indexed_catalog(settings),
        requirements,
        max_upload_mb=settings.max_upload_mb,
        call_type=args.tipo,
    )
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
    else:
        print(report_text(report))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("check-call", help="verifica un avviso (PDF, DOCX, TXT, MD) rispetto a ciò che chiede la legge")
    p.add_argument("file", help="file dell'avviso da verificare")
    p.add_argument("--json", action="store_true", help="risultato in JSON")
    p.add_argument("--tipo", choices=CALL_TYPES, help="tipo di procedura, invece di riconoscerlo dal testo")
    p.set_defaults(func=cmd_check_call)
