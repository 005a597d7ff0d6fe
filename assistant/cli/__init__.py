"""The `assistant` command: one file per group of commands, all sharing `support`.

`assistant ingest | search | ask | glossary | corpus check | curated ... | check-call | trainer hash`.
Errors print `Errore: ...` on stderr and exit 1, without a traceback (set LC_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..config import Settings, load_settings
from ..errors import UserError
from . import calls, corpus, curated, glossary, index, llm, query, trainer

log = logging.getLogger("assistant")

DEBUG_ENV = "LC_DEBUG"
GROUPS = (index, query, glossary, corpus, curated, calls, trainer, llm)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Lingua Comune: risposte citate sull'amministrazione condivisa."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Run one command; `settings` replaces the environment's (tests)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, settings or load_settings()) or 0)
    except UserError as exc:
        print(f"Errore: {exc}", file=sys.stderr)
    except Exception as exc:  # every other failure: one Italian line, the traceback only on request
        if os.environ.get(DEBUG_ENV):
            raise
        if isinstance(exc, ValueError | OSError | PermissionError):
            print(f"Errore: {exc}", file=sys.stderr)
        else:
            log.error("unexpected %s: %s", type(exc).__name__, exc)
            print(
                f"Errore: operazione non riuscita ({type(exc).__name__}: {exc}). "
                f"Per i dettagli riesegui con {DEBUG_ENV}=1.",
                file=sys.stderr,
            )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
