"""Command line: `assistant ingest | search | ask | ...`. Errors print `Errore: ...` and exit 1, no traceback."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .config import ConfigError, Settings, load_settings

log = logging.getLogger("assistant")

DEBUG_ENV = "LC_DEBUG"


class CliError(Exception):
    """A user-facing error: printed as `Errore: <message>` with exit status 1."""


def _queries(query: list[str] | None) -> Iterable[str]:
    if query:
        yield " ".join(query)
        return
    for line in sys.stdin:
        if line.strip():
            yield line.rstrip("\n")


def report_check(problems: list[str], failure: str, success: str) -> int:
    """The `... check` commands: one `Errore:` line per problem and a summary on stderr (exit 1), or `success`."""
    if problems:
        for problem in problems:
            print(f"Errore: {problem}", file=sys.stderr)
        print(failure, file=sys.stderr)
        return 1
    print(success)
    return 0


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# --- ingest ---------------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest import ingest

    path = Path(args.path) if args.path else None
    if path is not None and not path.exists():
        raise CliError(f"Il percorso {path} non esiste.")
    report = ingest(settings, path=path, rebuild=args.rebuild, progress=not args.quiet, kind=args.kind)
    if args.json:
        _print_json({
            "documents": report.documents, "chunks": report.chunks, "added": report.added,
            "updated": report.updated, "removed": report.removed, "unchanged": report.unchanged,
            "embedded": report.embedded, "seconds": round(report.seconds, 3),
            "skipped": [{"file": s.path, "reason": s.reason} for s in report.skipped],
        })
    else:
        print(report.summary())
    return 1 if report.failed else 0


# --- search and ask -------------------------------------------------------------------------------


def hit_json(hit: Any, catalog: Any) -> dict[str, Any]:
    chunk = hit.chunk
    info = catalog.document(chunk.doc_id)
    return {
        "doc_id": chunk.doc_id,
        "title": info.title if info else chunk.doc_id,
        "kind": info.kind if info else "",
        "article": chunk.article,
        "comma": chunk.comma,
        "section": chunk.section,
        "page": chunk.page,
        "score": round(float(hit.score), 6),
        "text": chunk.text,
        "id": chunk.id,
        "label": chunk.label,
        "version": info.version_text if info else "",
    }


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from .answer import Assistant, QuestionError
    from .citations import reference

    assistant = Assistant.load(settings)
    status = 0
    for query in _queries(args.query):
        try:
            hits = assistant.search(query, args.k)
        except QuestionError as exc:
            if args.query:
                raise CliError(str(exc)) from None
            _print_json({"query": query, "hits": [], "error": str(exc)}) if args.json else print(f"Errore: {exc}")
            status = 1
            continue
        if args.json:
            _print_json({"query": query, "hits": [hit_json(h, assistant.retriever.catalog) for h in hits]})
        else:
            print(f"Domanda: {query}")
            for rank, hit in enumerate(hits, start=1):
                info = assistant.retriever.catalog.document(hit.chunk.doc_id)
                ref = reference(hit.chunk, info) if info else hit.chunk.id
                print(f"{rank:2}. [{hit.score:.3f}] {ref}\n    {hit.chunk.text[:200]}")
            print()
    return status


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .answer import Assistant, QuestionError

    assistant = Assistant.load(settings)
    assistant.curated = _curated_matcher(settings, assistant)
    status = 0
    for query in _queries(args.query):
        try:
            answer = assistant.ask(query, args.audience)
        except QuestionError as exc:
            if args.query:
                raise CliError(str(exc)) from None
            _print_json({"query": query, "error": str(exc)}) if args.json else print(f"Errore: {exc}")
            status = 1
            continue
        if args.json:
            _print_json(answer.to_json())
        else:
            for note in answer.notes:
                print(f"Nota: {note}")
            print(answer.answer)
            print()
    return status


def _curated_matcher(settings: Settings, assistant: Any) -> Any:
    """Approved curated answers served first; without a usable database the pipeline answers alone."""
    try:
        from .curated_match import CuratedMatcher

        return CuratedMatcher.open(settings, assistant.retriever.catalog, assistant.glossary)
    except Exception as exc:
        log.warning("curated answers unavailable: %s", exc)
        return None


# --- parser and entry point -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Lingua Comune: risposte citate sull'amministrazione condivisa."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="indicizza il corpus (incrementale)")
    p.add_argument("path", nargs="?", help="cartella o file da indicizzare (predefinito: il corpus)")
    p.add_argument("--rebuild", action="store_true", help="ricostruisce l'indice da zero")
    p.add_argument("--kind", choices=["norma", "linee_guida", "giurisprudenza", "prassi", "avviso", "formazione"],
                   help="tipo dei documenti non elencati nel manifest")
    p.add_argument("--json", action="store_true", help="riepilogo in JSON")
    p.add_argument("--quiet", action="store_true", help="senza barra di avanzamento")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="cerca i passaggi più pertinenti")
    p.add_argument("query", nargs="*", help="domanda (senza: una per riga da stdin)")
    p.add_argument("--json", action="store_true")
    p.add_argument("-k", type=int, default=None, help="numero di risultati")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="risposta citata a una domanda")
    p.add_argument("query", nargs="*", help="domanda (senza: una per riga da stdin)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--audience", choices=["funzionario", "operatore"], default="operatore")
    p.set_defaults(func=cmd_ask)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[Any], None]]:
    from . import auth, cli_curated, cli_glossary, corpus_check

    commands = [cli_glossary.register, corpus_check.register, cli_curated.register, auth.register]
    try:
        from . import cli_drafting
    except ImportError:  # the call checker is optional in a partial checkout
        return commands
    return [*commands, cli_drafting.register]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return int(args.func(args, settings) or 0)
    except (CliError, ConfigError) as exc:
        print(f"Errore: {exc}", file=sys.stderr)
    except Exception as exc:  # every other failure: one Italian line, the traceback only on request
        if os.environ.get(DEBUG_ENV):
            raise
        from .store import StoreError

        if isinstance(exc, StoreError | ValueError | OSError):
            print(f"Errore: {exc}", file=sys.stderr)
        else:
            log.error("unexpected %s: %s", type(exc).__name__, exc)
            print(f"Errore: operazione non riuscita ({type(exc).__name__}: {exc}). "
                  f"Per i dettagli riesegui con {DEBUG_ENV}=1.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
