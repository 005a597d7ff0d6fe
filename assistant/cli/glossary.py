"""`assistant glossary [TERM] [--json]` and `assistant glossary check`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from ..config import Settings
from ..errors import CheckReport, CliError
from ..glossary import Entry, check, load_glossary
from ..index import indexed_catalog
from .support import report


def entry_json(entry: Entry) -> dict[str, Any]:
    data = asdict(entry)
    data["legal_basis"] = [{k: v for k, v in asdict(r).items() if v} for r in entry.legal_basis]
    data["non_confondere_con"] = [{"term": t, "differenza": d} for t, d in entry.non_confondere_con]
    data.pop("source", None)
    return data


def entry_text(entry: Entry) -> str:
    lines = [
        f"{entry.term}" + (f" (anche: {', '.join(entry.aliases)})" if entry.aliases else ""),
        f"  Definizione: {entry.definition}",
        f"  Per i funzionari: {entry.per_funzionari}",
        f"  Per gli operatori: {entry.per_operatori}",
        "  Base normativa: " + "; ".join(r.describe() for r in entry.legal_basis),
    ]
    if entry.related:
        lines.append(f"  Voci collegate: {', '.join(entry.related)}")
    for term, difference in entry.non_confondere_con:
        lines.append(f"  Da non confondere con {term}: {difference}")
    return "\n".join(lines)


def cmd_glossary(args: argparse.Namespace, settings: Settings) -> int:
    glossary = load_glossary(settings.corpus_dir / "glossario")
    if args.term == ["check"]:
        return run_check(settings)
    if args.term:
        name = " ".join(args.term)
        entry = glossary.lookup(name)
        if entry is None:
            raise CliError(f"Il termine {name!r} non è nel glossario. Elenca le voci con: assistant glossary")
        print(json.dumps(entry_json(entry), ensure_ascii=False) if args.json else entry_text(entry))
        return 0
    entries = sorted(glossary.entries.values(), key=lambda e: e.term.lower())
    if args.json:
        print(json.dumps([entry_json(e) for e in entries], ensure_ascii=False))
    else:
        for entry in entries:
            print(f"{entry.term}: {entry.definition}")
    return 0


def run_check(settings: Settings) -> int:
    glossary = load_glossary(settings.corpus_dir / "glossario")
    catalog = indexed_catalog(settings)
    problems = check(glossary, lambda ref: bool(catalog.resolve(ref.doc_id, ref.article, ref.comma, ref.section)))
    return report(
        CheckReport.of(
            problems,
            f"Glossario non valido: {len(problems)} problemi in {len(glossary.entries)} voci.",
            f"Glossario valido: {len(glossary.entries)} voci, tutte le basi normative corrispondono a passaggi "
            "indicizzati.",
        )
    )


def register(sub: Any) -> None:
    p = sub.add_parser("glossary", help="glossario condiviso: consulta un termine o verifica i file (check)")
    p.add_argument("term", nargs="*", help="termine o alias; `check` verifica il glossario")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_glossary)
