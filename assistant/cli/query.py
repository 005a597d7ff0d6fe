"""`assistant search` and `assistant ask`: one question as arguments, or one per line of standard input."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ..answer import Assistant, CuratedSource, QuestionError
from ..catalog import Catalog
from ..citations import quote, reference
from ..config import Settings
from ..errors import CliError
from ..models import AUDIENCES, Answer, Hit
from ..prompts import text
from ..text import plain_text, printable
from ..writers import make_writer
from .support import print_json, queries

log = logging.getLogger(__name__)


def hit_json(hit: Hit, catalog: Catalog) -> dict[str, Any]:
    """One hit of the `search --json` contract."""
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
    assistant = Assistant.load(settings)
    catalog = assistant.retriever.catalog
    status = 0
    for question in queries(args.query):
        try:
            hits = assistant.search(question, args.k)
        except QuestionError as exc:
            if args.query:
                raise CliError(str(exc)) from None
            print_json({"query": question, "hits": [], "error": str(exc)}) if args.json else print(f"Errore: {exc}")
            status = 1
            continue
        if args.json:
            print_json({"query": question, "hits": [hit_json(h, catalog) for h in hits]})
        else:
            print(f"Domanda: {question}")
            for rank, hit in enumerate(hits, start=1):
                info = catalog.document(hit.chunk.doc_id)
                ref = reference(hit.chunk, info) if info else hit.chunk.id
                print(printable(f"{rank:2}. [{hit.score:.3f}] {ref}\n    {hit.chunk.text[:200]}"))
            print()
    return status


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    assistant = Assistant.load(settings, writer=make_writer(settings))
    assistant.curated = curated_matcher(settings, assistant)
    status = 0
    for question in queries(args.query):
        try:
            answer = assistant.ask(question, args.audience, args.previous)
        except QuestionError as exc:
            if args.query:
                raise CliError(str(exc)) from None
            print_json({"query": question, "error": str(exc)}) if args.json else print(f"Errore: {exc}")
            status = 1
            continue
        if args.json:
            print_json(answer.to_json())
        else:
            # The answer is Markdown with a document's words inert (assistant.text): shown here as plain text.
            for note in answer.notes:
                print(printable(f"Nota: {note}"))
            print(printable(plain_text(answer.answer)))
            amendments = amendment_lines(answer)
            if amendments:
                print()
                print(printable("\n".join(amendments)))
            print()
    return status


def amendment_lines(answer: Answer) -> list[str]:
    """After the answer: the citations of amended articles with their marks, then each amending provision quoted."""
    marks: list[str] = []
    passages: dict[str, str] = {}
    for number, cited in enumerate(answer.citations, start=1):
        if cited.amended_by:
            marks.append(f"[{number}] {cited.label}: " + "; ".join(a.note for a in cited.amended_by))
        for amended in cited.amended_by:
            passages.setdefault(amended.ref, f"    {amended.ref}: {quote('', amended.text)}")
    return [text("amendments_heading"), *marks, *passages.values()] if marks else []


def curated_matcher(settings: Settings, assistant: Assistant) -> CuratedSource | None:
    """Approved curated answers served first; without a usable database the pipeline answers alone."""
    try:
        from ..curated.match import CuratedMatcher

        return CuratedMatcher.open(settings, assistant.retriever.catalog, assistant.glossary)
    except Exception as exc:
        log.warning("curated answers unavailable: %s", exc)
        return None


def register(sub: Any) -> None:
    p = sub.add_parser("search", help="cerca i passaggi più pertinenti")
    p.add_argument("query", nargs="*", help="domanda (senza: una per riga da stdin)")
    p.add_argument("--json", action="store_true")
    p.add_argument("-k", type=int, default=None, help="numero di risultati")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="risposta citata a una domanda")
    p.add_argument("query", nargs="*", help="domanda (senza: una per riga da stdin)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--audience", choices=list(AUDIENCES), default="operatore")
    p.add_argument("--previous", help="la domanda precedente della conversazione (per le domande di seguito)")
    p.set_defaults(func=cmd_ask)
