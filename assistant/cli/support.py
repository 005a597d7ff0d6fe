"""What every command shares: JSON output, questions from arguments or stdin, check reports, the trainer login."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

from ..auth import AuthError, Trainers, login
from ..config import Settings
from ..errors import CheckReport, CliError

PASSWORD_ENV = "LC_TRAINER_PASSWORD"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def queries(query: list[str] | None) -> Iterable[str]:
    """The question given as arguments, or one question per non-empty line of standard input."""
    if query:
        yield " ".join(query)
        return
    for line in sys.stdin:
        if line.strip():
            yield line.rstrip("\n")


def report(result: CheckReport) -> int:
    """Print a check report: problems and summary on stderr (exit 1), or the success sentence (exit 0)."""
    for note in result.notes:
        print(note)
    if result.ok:
        print(result.success)
        return 0
    for line in result.lines():
        print(line, file=sys.stderr)
    return 1


def trainer(args: argparse.Namespace, settings: Settings) -> str:
    """The logged-in trainer of a write command (password from LC_TRAINER_PASSWORD or stdin), or CliError."""
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else os.environ.get(PASSWORD_ENV, "")
    try:
        return login(Trainers.from_settings(settings), args.user, password)
    except (PermissionError, AuthError) as exc:
        raise CliError(str(exc)) from None


def add_trainer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="formatore che salva (deve essere in LC_TRAINER_USERS)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"legge la password dalla prima riga di stdin (altrimenti da {PASSWORD_ENV})",
    )
