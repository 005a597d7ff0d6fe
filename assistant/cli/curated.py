"""`assistant curated list|show|history|import|export|check|create|approve|archive|restore`.

Reading is open to everyone; writing needs `--user` to be a trainer (LC_TRAINER_USERS) whose password comes
from LC_TRAINER_PASSWORD or, with --password-stdin, from the first line of standard input. `approve` obeys
LC_FORBID_SELF_APPROVAL: whoever saved the latest content of an answer cannot approve it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..config import Settings
from ..curated import CuratedAnswer, CuratedStore
from ..curated.io import Selection, export_docx, export_json, export_markdown, import_json, read_json_file
from ..curated.match import CuratedMatcher, check_curated
from ..errors import CheckReport, CliError
from ..glossary import Glossary, load_glossary
from ..index import indexed_catalog
from ..models import CURATED_AUDIENCES, CURATED_STATUSES
from ..prontuario import PRONTUARIO_DIR, authored_problems, check_entry, load_prontuario, sync_prontuario
from ..references import Ref
from ..text import italian_datetime
from .support import add_trainer_options, report, trainer


@dataclass
class Context:
    store: CuratedStore
    catalog: Catalog
    glossary: Glossary | None


def open_context(settings: Settings) -> Context:
    """The store with citations checked against the indexed catalogue (or the corpus parsed now)."""
    folder = settings.corpus_dir / "glossario"
    glossary = load_glossary(folder) if folder.is_dir() else None
    catalog = indexed_catalog(settings)
    ids = frozenset(glossary.entries) if glossary else None
    return Context(CuratedStore.open(settings.sqlalchemy_url, catalog, ids), catalog, glossary)


def describe(answer: CuratedAnswer) -> str:
    lines = [f"{answer.id} [{answer.status}] revisione {answer.revision}", f"Domanda: {answer.question}"]
    if answer.phrasings:
        lines.append("Formulazioni alternative: " + " | ".join(answer.phrasings))
    lines.append(f"Pubblico: {answer.audience}" + (f" · Temi: {', '.join(answer.tags)}" if answer.tags else ""))
    lines.append(
        f"Autore: {answer.author} · ultima modifica di {answer.updated_by} il {italian_datetime(answer.updated_at)}"
    )
    if answer.status == "approvata":
        lines.append(f"Approvata da {answer.approved_by} il {italian_datetime(answer.approved_at)}")
    if answer.citations:
        lines.append("Citazioni: " + "; ".join(r.describe() for r in answer.citations))
    if answer.glossary_terms:
        lines.append("Termini del glossario: " + ", ".join(answer.glossary_terms))
    return "\n".join(lines) + "\n\n" + answer.answer


# --- reading -----------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    store = CuratedStore.open(settings.sqlalchemy_url)
    answers = store.find(status=args.status, tag=args.tag, audience=args.audience)
    if args.json:
        print(json.dumps([a.to_dict() for a in answers], ensure_ascii=False))
    elif not answers:
        print("Nessuna risposta curata corrisponde alla selezione.")
    for answer in [] if args.json else answers:
        tags = f" - temi: {', '.join(answer.tags)}" if answer.tags else ""
        print(f"{answer.id} [{answer.status}, {answer.audience}] {answer.question}{tags}")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    store = CuratedStore.open(settings.sqlalchemy_url)
    answer = store.revision(args.id, args.revision).snapshot if args.revision else store.require(args.id)
    print(json.dumps(answer.to_dict(), ensure_ascii=False) if args.json else describe(answer))
    return 0


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    store = CuratedStore.open(settings.sqlalchemy_url)
    store.require(args.id)
    for rev in store.revisions(args.id):
        if args.json:
            print(
                json.dumps(
                    {
                        "number": rev.number,
                        "saved_by": rev.saved_by,
                        "saved_at": rev.saved_at.isoformat(),
                        "change": rev.change,
                        "snapshot": rev.snapshot.to_dict(),
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(f"{rev.number:3}. {italian_datetime(rev.saved_at)} - {rev.saved_by}: {rev.change}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    status = args.status or (None if args.format == "json" else "approvata")
    selection = Selection(args.tag, args.audience, status)
    output = Path(args.output) if args.output else None
    if args.format == "docx" and output is None:
        raise CliError("Per il formato docx indica il file da scrivere con --output (es. dispensa.docx).")
    answers = selection.pick(CuratedStore.open(settings.sqlalchemy_url))
    catalog: Catalog | None = None if args.format == "json" else indexed_catalog(settings)
    if args.format == "docx" and catalog is not None and output is not None:
        export_docx(answers, catalog, output, selection)
    else:
        body = export_markdown(answers, catalog, selection) if catalog is not None else export_json(answers)
        if output is None:
            print(body.rstrip("\n"))
        else:
            output.write_text(body.rstrip("\n") + "\n", encoding="utf-8")
    if output is not None:
        print(f"Esportate {len(answers)} risposte curate ({selection.describe()}) in {output}.", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    context = open_context(settings)
    matcher = CuratedMatcher.from_settings(settings, context.store, context.catalog, context.glossary)
    authored = authored_problems(settings.corpus_dir, context.catalog)
    problems = authored + ([] if args.authored_only else check_curated(context.store, context.catalog, matcher))
    answers = context.store.find()
    approved = sum(a.status == "approvata" for a in answers)
    notes = [
        "Controllo di numeri e riferimenti (prontuario, moduli, glossario): "
        + (f"{len(authored)} problemi." if authored else "ogni numero e articolo compare nei passaggi citati.")
    ]
    return report(
        CheckReport.of(
            problems,
            f"Risposte curate da rivedere: {len(problems)} problemi su {len(answers)} risposte.",
            f"Risposte curate valide: {len(answers)} risposte ({approved} approvate), tutte le citazioni risolte, "
            "nessun testo citato cambiato dopo l'approvazione, ogni risposta approvata servita per la sua domanda.",
            notes,
        )
    )


def cmd_prontuario(args: argparse.Namespace, settings: Settings) -> int:
    """Import the editors' prontuario into the curated store (idempotent; run by `make run` and `make test`)."""
    context = open_context(settings)
    entries, problems = load_prontuario(settings.corpus_dir / PRONTUARIO_DIR)
    for entry in entries:
        problems += check_entry(entry, context.catalog)
    if problems:
        return report(CheckReport.of(problems, f"Prontuario non importato: {len(problems)} problemi.", ""))
    print(sync_prontuario(context.store, entries).summary())
    # Embed every phrasing now (cached on disk), so that the app starts without doing it.
    CuratedMatcher.from_settings(settings, context.store, context.catalog, context.glossary).refresh()
    return 0


# --- writing -----------------------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    user = trainer(args, settings)
    context = open_context(settings)
    results = import_json(context.store, read_json_file(Path(args.file)), user)
    for result in results:
        print(result.line())
    bad = [r for r in results if r.outcome in ("conflict", "invalid")]
    counts = {o: sum(r.outcome == o for r in results) for o in ("created", "updated", "unchanged")}
    print(
        f"Importazione: {counts['created']} create, {counts['updated']} aggiornate, {counts['unchanged']} "
        f"invariate, {len(bad)} non importate.",
        file=sys.stderr,
    )
    return 1 if bad else 0


def parse_cite(value: str) -> Ref:
    """`doc_id?article=55&comma=3` (the key of a corpus citation link) or `doc_id:55:3`."""
    if "?" in value or ":" not in value:
        return Ref.from_key(value)
    doc_id, article, comma = (value.split(":") + ["", ""])[:3]
    return Ref(doc_id, article or None, comma or None)


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    user = trainer(args, settings)
    if bool(args.answer) == bool(args.answer_file):
        raise CliError("Indica il testo della risposta con --answer oppure con --answer-file (uno dei due).")
    body = args.answer or Path(args.answer_file).read_text(encoding="utf-8")
    draft = CuratedAnswer(
        id=args.id or "",
        question=args.question,
        answer=body,
        phrasings=tuple(args.phrasing),
        citations=tuple(parse_cite(c) for c in args.cite),
        glossary_terms=tuple(args.term),
        audience=args.audience,
        tags=tuple(args.tag),
        author=user,
    )
    saved = open_context(settings).store.create(draft, user)
    print(f"Creata la risposta curata {saved.id!r} (revisione {saved.revision}, {saved.status}).")
    return 0


def _status_change(action: str) -> Callable[[argparse.Namespace, Settings], int]:
    def command(args: argparse.Namespace, settings: Settings) -> int:
        user = trainer(args, settings)
        store = open_context(settings).store
        current = store.require(args.id)
        base = args.based_on if args.based_on is not None else current.revision
        if action == "approve":
            saved = store.approve(args.id, user, base, forbid_self_approval=settings.forbid_self_approval)
        elif action == "archive":
            saved = store.archive(args.id, user, base)
        else:
            saved = store.restore(args.id, args.number, user, base)
        print(f"Risposta curata {saved.id!r}: salvata la revisione {saved.revision} ({saved.status}).")
        return 0

    return command


# --- parser -------------------------------------------------------------------------------------------


def register(sub: Any) -> None:
    curated = sub.add_parser("curated", help="risposte curate dai formatori: consulta, verifica, esporta, modifica")
    verbs = curated.add_subparsers(dest="curated_command", required=True)

    p = verbs.add_parser("list", help="elenca le risposte curate")
    p.add_argument("--status", choices=list(CURATED_STATUSES))
    p.add_argument("--tag", help="tema, per esempio: lavoro, abitare, povertà educativa")
    p.add_argument("--audience", choices=list(CURATED_AUDIENCES))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = verbs.add_parser("show", help="mostra una risposta curata (o una sua revisione)")
    p.add_argument("id")
    p.add_argument("--revision", type=int, help="numero di una revisione precedente")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = verbs.add_parser("history", help="le revisioni di una risposta: chi, quando, che cosa")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)

    p = verbs.add_parser("export", help="esporta in JSON, Markdown o DOCX (dispensa per i corsi)")
    p.add_argument("--format", choices=["json", "md", "docx"], required=True)
    p.add_argument("--tag")
    p.add_argument("--audience", choices=list(CURATED_AUDIENCES))
    p.add_argument(
        "--status", choices=list(CURATED_STATUSES), help="predefinito: tutte per json, approvata per md e docx"
    )
    p.add_argument("--output", help="file da scrivere (obbligatorio per docx; altrimenti stdout)")
    p.set_defaults(func=cmd_export)

    p = verbs.add_parser("check", help="citazioni risolte, testi citati invariati, risposte approvate servite")
    p.add_argument(
        "--authored-only",
        action="store_true",
        help="solo il controllo di numeri e riferimenti di prontuario, moduli e glossario",
    )
    p.set_defaults(func=cmd_check)

    p = verbs.add_parser("prontuario", help="importa il prontuario della redazione (idempotente)")
    p.set_defaults(func=cmd_prontuario)

    p = verbs.add_parser("import", help="importa un file JSON (esito per ogni risposta)")
    p.add_argument("file")
    add_trainer_options(p)
    p.set_defaults(func=cmd_import)

    p = verbs.add_parser("create", help="crea una bozza")
    p.add_argument("--id", help="identificativo (predefinito: dalla domanda)")
    p.add_argument("--question", required=True)
    p.add_argument("--answer", help="testo della risposta (Markdown)")
    p.add_argument("--answer-file", help="file con il testo della risposta (Markdown)")
    p.add_argument("--phrasing", action="append", default=[], help="formulazione alternativa (ripetibile)")
    p.add_argument(
        "--cite",
        action="append",
        default=[],
        help="citazione: doc_id?article=55&comma=3 oppure doc_id:55:3 (ripetibile)",
    )
    p.add_argument("--term", action="append", default=[], help="id di una voce del glossario (ripetibile)")
    p.add_argument("--tag", action="append", default=[], help="tema (ripetibile)")
    p.add_argument("--audience", choices=list(CURATED_AUDIENCES), default="entrambi")
    add_trainer_options(p)
    p.set_defaults(func=cmd_create)

    for action, help_text in (
        ("approve", "approva: da ora la risposta è servita in chat"),
        ("archive", "archivia: la risposta non è più servita"),
        ("restore", "ripristina una revisione precedente come nuova revisione"),
    ):
        p = verbs.add_parser(action, help=help_text)
        p.add_argument("id")
        if action == "restore":
            p.add_argument("number", type=int, help="numero della revisione da ripristinare")
        p.add_argument("--based-on", type=int, help="revisione che hai letto (predefinito: l'ultima salvata)")
        add_trainer_options(p)
        p.set_defaults(func=_status_change(action))
