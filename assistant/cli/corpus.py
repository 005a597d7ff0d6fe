"""`assistant corpus check`: the manifest is complete and every citation in authored files resolves.

`assistant corpus amendments [--write]`: the table of what D.Lgs. 186/2025 changes in the Codice, proposed from
its indexed text (printed, or written to `corpus/emendamenti.yaml` for review).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..amendments import AMENDMENTS_FILE, propose, table_yaml
from ..config import Settings
from ..corpus_check import corpus_report
from ..errors import CliError
from ..index import indexed_catalog
from .support import report


def cmd_corpus(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "amendments":
        return cmd_amendments(args, settings)
    return report(corpus_report(settings))


def cmd_amendments(args: argparse.Namespace, settings: Settings) -> int:
    """Print the proposed table, or write it (to be reviewed by hand against the text)."""
    found = propose(indexed_catalog(settings))
    if not found:
        raise CliError("Nessuna modifica del Codice trovata nel testo indicizzato di D.Lgs. 186/2025: è indicizzato?")
    content = table_yaml(found)
    if not args.write:
        print(content, end="")
        return 0
    path = settings.corpus_dir / AMENDMENTS_FILE
    path.write_text(content, encoding="utf-8")
    print(f"Scritte {len(found)} modifiche in {path}: rivedile sul testo, poi esegui `assistant corpus check`.")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "corpus", help="verifica il corpus: `assistant corpus check`; tabella delle modifiche: `corpus amendments`"
    )
    p.add_argument("action", choices=["check", "amendments"])
    p.add_argument("--write", action="store_true", help=f"amendments: scrive la tabella in corpus/{AMENDMENTS_FILE}")
    p.set_defaults(func=cmd_corpus)
