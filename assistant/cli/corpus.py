"""`assistant corpus check`: the manifest is complete and every citation in authored files resolves."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Settings
from ..corpus_check import corpus_report
from .support import report


def cmd_corpus(args: argparse.Namespace, settings: Settings) -> int:
    return report(corpus_report(settings))


def register(sub: Any) -> None:
    p = sub.add_parser("corpus", help="verifica il corpus: `assistant corpus check`")
    p.add_argument("action", choices=["check"])
    p.set_defaults(func=cmd_corpus)
